//! Why a dependent waits, as a structured value ([`orco_reconciler::Blocked`]): which
//! dependency, which `require`, what its target's state says, since when, and whether its
//! timeout has passed at the moment asked for — the same answer the reconciler acts on.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::gate::run_held_by;
use orco_reconciler::{reconcile, why_blocked};
use orco_spec::Require;
use orco_state::{Event, EventKind, InstanceId, JobRunId, State};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

fn state(yaml: &str) -> State {
    let stack = match orco_spec::load_str(Path::new("t.yaml"), yaml, &std::env::temp_dir()) {
        Ok(l) => l.stack,
        Err(r) => panic!("{r}"),
    };
    let mut state = State::new();
    state.apply(&Event::new(
        t(0),
        EventKind::StackApplied {
            stack: Box::new(stack),
        },
    ));
    state
}

/// Applies the reconciler's events at `at` until it has none.
fn settle(state: &mut State, at: Timestamp) {
    for _ in 0..10 {
        let plan = reconcile(state, at);
        if plan.events.is_empty() {
            return;
        }
        for e in plan.events {
            state.apply(&Event::new(at, e));
        }
    }
    panic!("the reconciler did not converge");
}

fn apply(state: &mut State, at: i64, kind: EventKind) {
    state.apply(&Event::new(t(at), kind));
}

fn start(state: &mut State, at: i64, instance: &str) {
    apply(
        state,
        at,
        EventKind::InstanceStarting {
            instance: id(instance),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        },
    );
    apply(
        state,
        at,
        EventKind::InstanceStarted {
            instance: id(instance),
            pid: Some(100),
            container: None,
        },
    );
}

const CHAIN: &str = "version: 0.1\nstack: {name: s}\nservices:\n  db:\n    command: x\n    health: {tcp: {port: 1}}\n  api:\n    command: x\n    replicas: 2\n    health: {tcp: {port: 2}}\n    dependsOn: [{target: db, require: ready, timeout: 10s}]\n  web:\n    command: x\n    dependsOn: [{target: api, require: started}]\n";

#[test]
fn a_waiting_instance_names_the_dependency_its_require_what_it_waits_for_and_since_when() {
    let mut s = state(CHAIN);
    settle(&mut s, t(2));
    let blocked = why_blocked(&s, &id("s/api-1"), t(5)).unwrap();
    assert_eq!(blocked.instance, id("s/api-1"));
    assert_eq!(blocked.dependency, "db");
    assert_eq!(blocked.require, Require::Ready);
    assert_eq!(blocked.detail.as_deref(), Some("db not started yet"));
    assert_eq!(blocked.since, t(2), "it waits since it was created");
    assert_eq!(
        blocked.timeout.map(|d| d.to_string()).as_deref(),
        Some("10s")
    );
    assert_eq!(blocked.deadline(), Some(t(12)));
    assert!(!blocked.timed_out);
    let web = why_blocked(&s, &id("s/web-0"), t(5)).unwrap();
    assert_eq!(
        (web.dependency.as_str(), web.require),
        ("api", Require::Started)
    );
    assert_eq!(web.timeout, None);
    assert_eq!(web.deadline(), None);
}

#[test]
fn a_wait_is_judged_at_the_moment_asked_for_not_by_a_clock() {
    let mut s = state(CHAIN);
    settle(&mut s, t(0));
    let before = why_blocked(&s, &id("s/api-0"), t(9)).unwrap();
    assert!(!before.timed_out);
    assert_eq!(
        before.to_string(),
        "api blocked: dependency db not ready (timeout 10s, db not started yet)"
    );
    // The same state judged after the deadline (the reconciler has not acted on it yet).
    let after = why_blocked(&s, &id("s/api-0"), t(10)).unwrap();
    assert!(after.timed_out);
    assert_eq!(
        after.to_string(),
        "api blocked: dependency db not ready (timed out after 10s, db not started yet)"
    );
}

#[test]
fn the_structured_value_is_the_one_the_reconciler_acts_on() {
    let mut s = state(CHAIN);
    settle(&mut s, t(0));
    start(&mut s, 1, "s/db-0");
    apply(
        &mut s,
        2,
        EventKind::InstanceUnready {
            instance: id("s/db-0"),
            reason: "probe failing: tcp connect 127.0.0.1:1 refused".into(),
        },
    );
    for now in [t(3), t(10), t(11)] {
        let plan = reconcile(&s, now);
        assert!(!plan.blocked.is_empty());
        for b in &plan.blocked {
            assert_eq!(why_blocked(&s, &b.instance, now).as_ref(), Some(b));
        }
        assert_eq!(
            why_blocked(&s, &id("s/db-0"), now),
            None,
            "db waits for nothing"
        );
    }
    let api = why_blocked(&s, &id("s/api-0"), t(3)).unwrap();
    assert_eq!(
        api.detail.as_deref(),
        Some("probe failing: tcp connect 127.0.0.1:1 refused")
    );
}

#[test]
fn a_started_instance_an_unknown_one_and_a_stopped_service_wait_for_nothing() {
    let mut s = state(CHAIN);
    settle(&mut s, t(0));
    start(&mut s, 1, "s/db-0");
    apply(
        &mut s,
        1,
        EventKind::InstanceReady {
            instance: id("s/db-0"),
        },
    );
    assert_eq!(why_blocked(&s, &id("s/api-0"), t(2)), None, "db is ready");
    start(&mut s, 2, "s/api-0");
    assert_eq!(why_blocked(&s, &id("s/api-0"), t(3)), None, "it started");
    assert_eq!(why_blocked(&s, &id("s/nope-0"), t(3)), None);
    let web = "s/web".parse().unwrap();
    apply(&mut s, 3, EventKind::StopRequested { workload: web });
    assert_eq!(
        why_blocked(&s, &id("s/web-0"), t(4)),
        None,
        "stopped on purpose"
    );
}

#[test]
fn a_job_run_is_held_by_the_first_dependency_of_its_job_that_does_not_hold() {
    let mut s = state(
        "version: 0.1\nstack: {name: s}\nservices:\n  db:\n    command: x\n    health: {tcp: {port: 1}}\njobs:\n  etl:\n    dependsOn: [{target: db, require: ready}]\n    tasks:\n      load: {command: x}\n",
    );
    settle(&mut s, t(0));
    let run: JobRunId = "s/etl#1".parse().unwrap();
    apply(&mut s, 1, EventKind::JobSubmitted { run: run.clone() });
    let (dep, detail) = run_held_by(&s, &run).unwrap();
    assert_eq!((dep.target.as_str(), dep.require), ("db", Require::Ready));
    assert_eq!(detail.as_deref(), Some("db not started yet"));
    start(&mut s, 2, "s/db-0");
    apply(
        &mut s,
        2,
        EventKind::InstanceReady {
            instance: id("s/db-0"),
        },
    );
    assert!(run_held_by(&s, &run).is_none(), "db is ready");
}

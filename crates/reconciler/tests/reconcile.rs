//! The reconciler as a pure function: instances created and removed, dependency gates in
//! every `require` form, timeouts, stop requests, and convergence.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::{Desired, Plan, reconcile};
use orco_state::{Event, EventKind, ExitStatus, InstanceId, State, WorkloadId};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn stack(yaml: &str) -> orco_spec::Stack {
    let dir = std::env::temp_dir();
    match orco_spec::load_str(Path::new("t.yaml"), yaml, &dir) {
        Ok(l) => l.stack,
        Err(r) => panic!("{r}"),
    }
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

struct World {
    state: State,
    clock: i64,
}

impl World {
    fn new(yaml: &str) -> World {
        let mut w = World {
            state: State::new(),
            clock: 0,
        };
        w.apply(EventKind::StackApplied {
            stack: Box::new(stack(yaml)),
        });
        w
    }

    fn apply(&mut self, kind: EventKind) {
        self.state.apply(&Event::new(t(self.clock), kind));
    }

    /// Reconciles and applies the plan's events until there are none (what the control loop
    /// does), returning the last plan.
    fn settle(&mut self) -> Plan {
        for _ in 0..10 {
            let plan = reconcile(&self.state, t(self.clock));
            if plan.events.is_empty() {
                return plan;
            }
            for e in plan.events {
                self.apply(e);
            }
        }
        panic!("the reconciler did not converge");
    }

    fn start(&mut self, instance: &str) {
        self.apply(EventKind::InstanceStarting {
            instance: id(instance),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        });
        self.apply(EventKind::InstanceStarted {
            instance: id(instance),
            pid: Some(100),
            container: None,
        });
    }

    fn ready(&mut self, instance: &str) {
        self.apply(EventKind::InstanceReady {
            instance: id(instance),
        });
    }

    fn exit(&mut self, instance: &str, code: i32) {
        self.apply(EventKind::InstanceExited {
            instance: id(instance),
            status: ExitStatus::Code(code),
        });
    }
}

const CHAIN: &str = "version: 0.1\nstack: {name: s}\nservices:\n  db:\n    command: x\n    health: {tcp: {port: 1}}\n  api:\n    command: x\n    replicas: 2\n    health: {tcp: {port: 2}}\n    dependsOn: [{target: db, require: ready, timeout: 10s}]\n  web:\n    command: x\n    dependsOn: [{target: api, require: ready}]\n";

fn running(plan: &Plan) -> Vec<String> {
    plan.assignments
        .iter()
        .filter(|(_, a)| a.desired == Desired::Run)
        .map(|(i, _)| i.to_string())
        .collect()
}

#[test]
fn every_replica_is_created_and_only_what_has_no_unmet_dependency_runs() {
    let mut w = World::new(CHAIN);
    let plan = w.settle();
    assert_eq!(w.state.instances.len(), 4, "db-0, api-0, api-1, web-0");
    assert_eq!(running(&plan), ["s/db-0"]);
    let blocked: Vec<String> = plan.blocked.iter().map(|b| b.to_string()).collect();
    assert!(
        blocked.contains(
            &"api blocked: dependency db not ready (timeout 10s, db not started yet)".to_string()
        ),
        "{blocked:?}"
    );
    assert!(
        blocked.contains(
            &"web blocked: dependency api not ready (0/2 ready; api not started yet)".to_string()
        ),
        "{blocked:?}"
    );
}

#[test]
fn a_ready_dependency_releases_its_dependents_layer_by_layer() {
    let mut w = World::new(CHAIN);
    w.settle();
    w.start("s/db-0");
    assert_eq!(running(&w.settle()), ["s/db-0"], "started is not ready");
    w.ready("s/db-0");
    assert_eq!(running(&w.settle()), ["s/api-0", "s/api-1", "s/db-0"]);
    w.start("s/api-0");
    w.ready("s/api-0");
    w.start("s/api-1");
    let plan = w.settle();
    assert!(
        !running(&plan).contains(&"s/web-0".to_string()),
        "ready means every replica"
    );
    assert!(
        plan.blocked[0].to_string().contains("1/2 ready"),
        "{}",
        plan.blocked[0]
    );
    w.ready("s/api-1");
    assert!(running(&w.settle()).contains(&"s/web-0".to_string()));
}

#[test]
fn the_blocked_message_carries_the_probe_failure_of_the_dependency() {
    let mut w = World::new(CHAIN);
    w.settle();
    w.start("s/db-0");
    w.apply(EventKind::InstanceUnready {
        instance: id("s/db-0"),
        reason: "probe failing: tcp connect 127.0.0.1:1 refused".into(),
    });
    let plan = w.settle();
    let api = plan
        .blocked
        .iter()
        .find(|b| b.instance == id("s/api-0"))
        .unwrap();
    assert_eq!(
        api.to_string(),
        "api blocked: dependency db not ready (timeout 10s, probe failing: tcp connect 127.0.0.1:1 refused)"
    );
}

#[test]
fn a_dependency_timeout_fails_the_dependent_once_and_a_late_dependency_still_releases_it() {
    let mut w = World::new(CHAIN);
    let plan = w.settle();
    assert_eq!(
        plan.wake_at,
        Some(t(10)),
        "the reconciler asks to be woken at the timeout"
    );
    w.clock = 11;
    let plan = reconcile(&w.state, t(11));
    let failed: Vec<_> = plan
        .events
        .iter()
        .filter(|e| matches!(e, EventKind::InstanceFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 2, "api-0 and api-1 fail: {failed:?}");
    w.settle();
    assert!(
        w.state.instances[&id("s/api-0")]
            .reason
            .as_ref()
            .unwrap()
            .contains("timed out after 10s")
    );
    assert!(
        reconcile(&w.state, t(12)).events.is_empty(),
        "failed once, not again"
    );
    w.start("s/db-0");
    w.ready("s/db-0");
    assert!(running(&w.settle()).contains(&"s/api-0".to_string()));
}

#[test]
fn once_started_a_dependent_keeps_running_when_its_dependency_turns_unready() {
    let mut w = World::new(CHAIN);
    w.settle();
    w.start("s/db-0");
    w.ready("s/db-0");
    w.settle();
    w.start("s/api-0");
    w.apply(EventKind::InstanceUnready {
        instance: id("s/db-0"),
        reason: "down".into(),
    });
    w.exit("s/api-0", 1);
    assert!(
        running(&w.settle()).contains(&"s/api-0".to_string()),
        "a crashed dependent may restart"
    );
}

#[test]
fn started_succeeded_completed_and_exists_conditions() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  a: {command: x, restartPolicy: {mode: never}}\n  started: {command: x, dependsOn: [{target: a, require: started}]}\n  succeeded: {command: x, dependsOn: [{target: a, require: succeeded}]}\n  completed: {command: x, dependsOn: [{target: a, require: completed}]}\n  exists: {command: x, dependsOn: [{target: a, require: exists}]}\n";
    let mut w = World::new(yaml);
    let r = running(&w.settle());
    assert_eq!(r, ["s/a-0", "s/exists-0"]);
    w.start("s/a-0");
    assert_eq!(running(&w.settle()), ["s/a-0", "s/exists-0", "s/started-0"]);
    w.exit("s/a-0", 3);
    let r = running(&w.settle());
    assert!(
        r.contains(&"s/completed-0".to_string()) && !r.contains(&"s/succeeded-0".to_string()),
        "{r:?}"
    );
    let mut w = World::new(yaml);
    w.settle();
    w.start("s/a-0");
    w.exit("s/a-0", 0);
    let r = running(&w.settle());
    assert!(
        r.contains(&"s/succeeded-0".to_string()) && r.contains(&"s/completed-0".to_string()),
        "{r:?}"
    );
}

#[test]
fn a_job_dependency_submits_the_job_once_and_waits_for_its_run_to_succeed() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  api: {command: x, dependsOn: [{target: mig}]}\njobs:\n  mig: {tasks: {up: {command: x}}}\n";
    let mut w = World::new(yaml);
    let plan = w.settle();
    assert!(running(&plan).is_empty());
    assert_eq!(
        plan.blocked[0].to_string(),
        "api blocked: dependency mig not succeeded (job mig is running)"
    );
    let run = orco_state::JobRunId {
        job: "s/mig".parse::<WorkloadId>().unwrap(),
        run: 1,
    };
    assert!(
        w.state.jobs.contains_key(&run),
        "submitted by the reconciler"
    );
    w.apply(EventKind::JobFinished {
        run,
        outcome: orco_state::JobOutcome::Succeeded,
    });
    assert_eq!(running(&w.settle()), ["s/api-0"]);
    assert_eq!(w.state.jobs.len(), 1);
}

#[test]
fn scaling_down_stops_then_removes_the_highest_replicas() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  w: {command: x, replicas: 3}\n";
    let mut w = World::new(yaml);
    w.settle();
    w.start("s/w-2");
    w.apply(EventKind::ScaleChanged {
        workload: "s/w".parse().unwrap(),
        replicas: 1,
    });
    let plan = w.settle();
    assert!(
        !w.state.instances.contains_key(&id("s/w-1")),
        "never started: removed at once"
    );
    assert_eq!(
        plan.assignments[&id("s/w-2")].desired,
        Desired::Stop {
            reason: "scaled down".into()
        }
    );
    w.apply(EventKind::InstanceStopping {
        instance: id("s/w-2"),
        reason: "scaled down".into(),
    });
    w.exit("s/w-2", 0);
    w.settle();
    assert_eq!(
        w.state
            .instances
            .keys()
            .map(|i| i.to_string())
            .collect::<Vec<_>>(),
        ["s/w-0"]
    );
}

#[test]
fn a_stop_request_stops_a_service_until_it_is_started_again() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  w: {command: x}\n";
    let mut w = World::new(yaml);
    w.settle();
    w.start("s/w-0");
    w.apply(EventKind::StopRequested {
        workload: "s/w".parse().unwrap(),
    });
    assert_eq!(
        w.settle().assignments[&id("s/w-0")].desired,
        Desired::Stop {
            reason: "stopped by request".into()
        }
    );
    w.apply(EventKind::StartRequested {
        workload: "s/w".parse().unwrap(),
    });
    assert_eq!(w.settle().assignments[&id("s/w-0")].desired, Desired::Run);
}

#[test]
fn reconciling_a_settled_state_twice_gives_the_same_plan() {
    let mut w = World::new(CHAIN);
    w.settle();
    w.start("s/db-0");
    w.ready("s/db-0");
    let a = w.settle();
    let b = reconcile(&w.state, t(w.clock));
    assert_eq!(a, b);
    assert!(b.events.is_empty());
}

#[test]
fn stopping_a_whole_stack_stops_dependents_before_what_they_depend_on() {
    let mut w = World::new(CHAIN);
    w.settle();
    for i in ["s/db-0", "s/api-0", "s/api-1", "s/web-0"] {
        w.start(i);
        w.ready(i);
    }
    w.apply(EventKind::StackStopRequested {
        stack: "s".parse().unwrap(),
    });
    assert_eq!(running(&w.settle()), ["s/api-0", "s/api-1", "s/db-0"]);
    w.apply(EventKind::InstanceStopped {
        instance: id("s/web-0"),
    });
    assert_eq!(running(&w.settle()), ["s/db-0"]);
    w.apply(EventKind::InstanceStopped {
        instance: id("s/api-0"),
    });
    assert_eq!(running(&w.settle()), ["s/db-0"], "api-1 still runs");
    w.apply(EventKind::InstanceStopped {
        instance: id("s/api-1"),
    });
    assert!(running(&w.settle()).is_empty());
}

#[test]
fn stopping_one_service_does_not_wait_for_dependents_that_keep_running() {
    let mut w = World::new(CHAIN);
    w.settle();
    for i in ["s/db-0", "s/api-0", "s/api-1", "s/web-0"] {
        w.start(i);
        w.ready(i);
    }
    w.apply(EventKind::StopRequested {
        workload: "s/db".parse().unwrap(),
    });
    assert_eq!(
        running(&w.settle()),
        ["s/api-0", "s/api-1", "s/web-0"],
        "db is stopped at once"
    );
}

#[test]
fn a_dependent_never_starts_while_its_target_only_retries_a_start_that_fails() {
    let mut w = World::new(
        "version: 0.1\nstack: {name: s}\nservices:\n  broken:\n    command: /nonexistent\n    restartPolicy: {maxRetries: 3}\n  app:\n    command: x\n    dependsOn: [{target: broken, require: started}]\n",
    );
    w.settle();
    // Every start of `broken` fails before anything runs; the policy retries, then gives up.
    for attempt in 0..3 {
        w.apply(EventKind::InstanceStarting {
            instance: id("s/broken-0"),
            attempt,
            port: None,
            chosen: Vec::new(),
        });
        assert_eq!(running(&w.settle()), ["s/broken-0"], "attempt {attempt}");
        w.apply(EventKind::InstanceFailed {
            instance: id("s/broken-0"),
            reason: "no such file or directory".into(),
        });
        assert_eq!(running(&w.settle()), ["s/broken-0"], "attempt {attempt}");
    }
    w.apply(EventKind::InstanceFailed {
        instance: id("s/broken-0"),
        reason: "gave up after 3 consecutive failed runs (last: no such file or directory)".into(),
    });
    let plan = w.settle();
    assert_eq!(running(&plan), ["s/broken-0"]);
    let blocked: Vec<String> = plan.blocked.iter().map(|b| b.to_string()).collect();
    assert_eq!(
        blocked,
        [
            "app blocked: dependency broken not started (gave up after 3 consecutive failed runs (last: no such file or directory))"
        ],
        "the dependent stays pending and says why"
    );
    assert_eq!(
        w.state.instances[&id("s/app-0")].phase,
        orco_state::Phase::Pending
    );
}

#[test]
fn a_target_restarting_after_a_run_still_counts_as_started() {
    let mut w = World::new(
        "version: 0.1\nstack: {name: s}\nservices:\n  db:\n    command: x\n  app:\n    command: x\n    dependsOn: [{target: db, require: started}]\n",
    );
    w.settle();
    w.start("s/db-0");
    w.exit("s/db-0", 1);
    w.apply(EventKind::InstanceStarting {
        instance: id("s/db-0"),
        attempt: 1,
        port: None,
        chosen: Vec::new(),
    });
    assert_eq!(running(&w.settle()), ["s/app-0", "s/db-0"]);
}

#[test]
fn after_a_whole_stack_stop_the_next_up_starts_services_in_dependency_order_again() {
    let mut w = World::new(CHAIN);
    w.settle();
    for i in ["s/db-0", "s/api-0", "s/api-1", "s/web-0"] {
        w.start(i);
        w.ready(i);
    }
    w.apply(EventKind::StackStopRequested {
        stack: "s".parse().unwrap(),
    });
    for i in ["s/web-0", "s/api-0", "s/api-1", "s/db-0"] {
        w.settle();
        w.apply(EventKind::InstanceStopping {
            instance: id(i),
            reason: "stopped by request".into(),
        });
        w.exit(i, 0);
    }
    assert!(running(&w.settle()).is_empty());
    // `orco up` again: the same stack applied once more.
    w.clock = 100;
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(CHAIN)),
    });
    let plan = w.settle();
    assert_eq!(running(&plan), ["s/db-0"], "only what depends on nothing");
    let blocked: Vec<String> = plan.blocked.iter().map(|b| b.to_string()).collect();
    assert!(
        blocked
            .iter()
            .any(|b| b.starts_with("api blocked: dependency db not ready (timeout 10s")),
        "{blocked:?}"
    );
    w.clock = 105;
    w.start("s/db-0");
    assert_eq!(running(&w.settle()), ["s/db-0"], "db runs but is not ready");
    w.ready("s/db-0");
    assert_eq!(running(&w.settle()), ["s/api-0", "s/api-1", "s/db-0"]);
    for i in ["s/api-0", "s/api-1"] {
        w.start(i);
        w.ready(i);
    }
    assert_eq!(
        running(&w.settle()),
        ["s/api-0", "s/api-1", "s/db-0", "s/web-0"]
    );
}

#[test]
fn a_dependency_timeout_after_a_start_request_counts_from_the_request() {
    let mut w = World::new(CHAIN);
    w.settle();
    for i in ["s/db-0", "s/api-0", "s/api-1"] {
        w.start(i);
        w.ready(i);
    }
    for workload in ["s/api", "s/db"] {
        w.apply(EventKind::StopRequested {
            workload: workload.parse().unwrap(),
        });
    }
    for i in ["s/api-0", "s/api-1", "s/db-0"] {
        w.settle();
        w.apply(EventKind::InstanceStopped { instance: id(i) });
    }
    w.clock = 1000;
    w.apply(EventKind::StartRequested {
        workload: "s/api".parse().unwrap(),
    });
    let plan = w.settle();
    assert!(
        !running(&plan).contains(&"s/api-0".to_string()),
        "db is stopped"
    );
    assert!(
        plan.blocked.iter().all(|b| !b.timed_out),
        "an hour-old stop is no wait: {:?}",
        plan.blocked
    );
    assert_eq!(plan.wake_at, Some(t(1010)));
    w.clock = 1010;
    let plan = w.settle();
    assert!(
        plan.blocked.iter().any(|b| b.timed_out),
        "{:?}",
        plan.blocked
    );
    assert_eq!(
        w.state.instances[&id("s/api-0")].phase,
        orco_state::Phase::Failed
    );
    // The dependency comes back: the timed-out dependent starts after all.
    w.apply(EventKind::StartRequested {
        workload: "s/db".parse().unwrap(),
    });
    w.start("s/db-0");
    w.ready("s/db-0");
    assert_eq!(running(&w.settle()), ["s/api-0", "s/api-1", "s/db-0"]);
}

#[test]
fn a_recorded_replica_count_above_the_limit_is_reported_and_not_acted_on() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  w: {command: x, replicas: 2}\n";
    let mut w = World::new(yaml);
    w.settle();
    w.start("s/w-0");
    // A count written before the limit existed (the API refuses it now).
    w.apply(EventKind::ScaleChanged {
        workload: "s/w".parse().unwrap(),
        replicas: 4_000_000_000,
    });
    let plan = w.settle();
    assert_eq!(
        plan.over_limit,
        vec![("s/w".parse::<WorkloadId>().unwrap(), 4_000_000_000)]
    );
    assert_eq!(w.state.instances.len(), 2, "no instance created or removed");
    assert_eq!(plan.assignments[&id("s/w-0")].desired, Desired::Run);
    // Lowered within the limit, it is acted on again.
    w.apply(EventKind::ScaleChanged {
        workload: "s/w".parse().unwrap(),
        replicas: 3,
    });
    let plan = w.settle();
    assert!(plan.over_limit.is_empty());
    assert_eq!(w.state.instances.len(), 3);
}

#[test]
fn a_recorded_state_above_the_daemon_wide_instance_limit_creates_no_instance() {
    // 22 services within the per-service limit, their counts recorded before the daemon-wide
    // limit existed: 22 × 1,000 = 22,000 instances asked for, above 20,000.
    let mut yaml = "version: 0.1\nstack: {name: s}\nservices:\n".to_string();
    for i in 0..22 {
        yaml.push_str(&format!("  w{i}: {{command: x}}\n"));
    }
    let mut w = World::new(&yaml);
    w.settle();
    assert_eq!(w.state.instances.len(), 22);
    w.start("s/w0-0");
    for i in 0..22 {
        w.apply(EventKind::ScaleChanged {
            workload: format!("s/w{i}").parse().unwrap(),
            replicas: 1_000,
        });
    }
    assert_eq!(orco_reconciler::instances_wanted(&w.state), 22_000);
    let plan = w.settle();
    assert_eq!(plan.over_instance_limit, Some(22_000));
    assert!(
        plan.over_limit.is_empty(),
        "every service is within its own limit"
    );
    assert_eq!(w.state.instances.len(), 22, "no instance created");
    // What exists keeps running.
    assert_eq!(plan.assignments[&id("s/w0-0")].desired, Desired::Run);
    let why = orco_reconciler::instances_over_limit(&w.state).unwrap();
    assert!(why.contains("22000 instances"), "{why}");
    assert!(why.contains("limit of 20000"), "{why}");

    // Scaling down is still acted on: w1 to 0 (21,000 asked for, still above).
    w.apply(EventKind::ScaleChanged {
        workload: "s/w1".parse().unwrap(),
        replicas: 0,
    });
    let plan = w.settle();
    assert_eq!(plan.over_instance_limit, Some(21_000));
    assert!(!plan.assignments.contains_key(&id("s/w1-0")));
    assert!(
        !w.state.instances.contains_key(&id("s/w1-0"))
            || matches!(
                plan.assignments.get(&id("s/w1-0")).map(|a| &a.desired),
                None | Some(Desired::Stop { .. })
            )
    );
    assert!(w.state.instances.len() <= 22);

    // Within the limit again (w2 to 0 as well: 20,000), instances are created again.
    w.apply(EventKind::ScaleChanged {
        workload: "s/w2".parse().unwrap(),
        replicas: 0,
    });
    let plan = w.settle();
    assert_eq!(plan.over_instance_limit, None);
    assert_eq!(orco_reconciler::instances_over_limit(&w.state), None);
    assert!(w.state.instances.len() >= 20_000);
}

#[test]
fn a_dependent_restarted_with_its_target_goes_through_its_backoff() {
    let mut w = World::new(
        "version: 0.1\nstack: {name: s}\nservices:\n  db:\n    command: x\n  api:\n    command: x\n    restartPolicy: {backoff: {min: 10s, factor: 2}, resetAfter: 5m}\n    dependsOn: [{target: db, require: started, restart: true}]\n",
    );
    w.settle();
    w.start("s/db-0");
    w.settle();
    w.clock = 1;
    w.start("s/api-0");
    let restart_of_db = |w: &mut World, attempt: u32| {
        w.exit("s/db-0", 1);
        w.apply(EventKind::InstanceStarting {
            instance: id("s/db-0"),
            attempt,
            port: None,
            chosen: Vec::new(),
        });
        w.apply(EventKind::InstanceStarted {
            instance: id("s/db-0"),
            pid: Some(101),
            container: None,
        });
    };
    w.clock = 2;
    restart_of_db(&mut w, 1);
    w.settle();
    assert_eq!(w.state.instances[&id("s/api-0")].restart_requests, 1);
    // The node restarts api; db restarts again right away.
    w.clock = 3;
    w.start("s/api-0");
    w.clock = 4;
    restart_of_db(&mut w, 2);
    let plan = w.settle();
    assert_eq!(
        w.state.instances[&id("s/api-0")].restart_requests,
        1,
        "not again before its backoff"
    );
    assert_eq!(plan.wake_at, Some(t(12)), "10 s after the first request");
    w.clock = 12;
    w.settle();
    assert_eq!(w.state.instances[&id("s/api-0")].restart_requests, 2);

    // And again: the backoff grows by its factor (2) with each restart in a row.
    w.clock = 13;
    w.start("s/api-0");
    w.clock = 14;
    restart_of_db(&mut w, 3);
    let plan = w.settle();
    assert_eq!(w.state.instances[&id("s/api-0")].restart_requests, 2);
    assert_eq!(plan.wake_at, Some(t(32)), "20 s after the second request");
    w.clock = 32;
    w.settle();
    assert_eq!(w.state.instances[&id("s/api-0")].restart_requests, 3);
    assert_eq!(w.state.instances[&id("s/api-0")].restart_streak, 3);

    // A dependent that ran for `resetAfter` since the last request starts the count again.
    w.clock = 33;
    w.start("s/api-0");
    w.clock = 32 + 300;
    restart_of_db(&mut w, 4);
    w.settle();
    assert_eq!(w.state.instances[&id("s/api-0")].restart_requests, 4);
    assert_eq!(w.state.instances[&id("s/api-0")].restart_streak, 1);
}

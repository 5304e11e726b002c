//! The durable encoding: round trips, old records still decode, newer ones are refused clearly.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use orco_state::codec::{decode_event, decode_state, encode_event, encode_state};
use orco_state::testing::{events, sample_stack};
use orco_state::*;
use proptest::prelude::*;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + second).unwrap()
}

/// One event of every kind, as pinned in `fixtures/events-v1.jsonl`.
fn every_kind() -> Vec<Event> {
    let stack = StackName::new("demo").unwrap();
    let web = WorkloadId::new(stack.clone(), "web").unwrap();
    let web0 = web.instance(0);
    let run = JobRunId {
        job: WorkloadId::new(stack.clone(), "backup").unwrap(),
        run: 1,
    };
    let task = TaskId {
        run: run.clone(),
        task: "dump".into(),
    };
    let kinds = vec![
        EventKind::StackApplied {
            stack: Box::new(sample_stack("demo", 2)),
        },
        EventKind::ScaleChanged {
            workload: web.clone(),
            replicas: 3,
        },
        EventKind::InstanceCreated {
            instance: web0.clone(),
            node: None,
        },
        EventKind::InstanceStarting {
            instance: web0.clone(),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: web0.clone(),
            pid: Some(4242),
            container: None,
        },
        EventKind::InstanceReady {
            instance: web0.clone(),
        },
        EventKind::InstanceUnready {
            instance: web0.clone(),
            reason: "http 503".into(),
        },
        EventKind::InstanceExited {
            instance: web0.clone(),
            status: ExitStatus::Signal(9),
        },
        EventKind::InstanceBackoff {
            instance: web0.clone(),
            failures: 2,
            delay_ms: 2_150,
            until: at(12),
        },
        EventKind::InstanceFailuresReset {
            instance: web0.clone(),
        },
        EventKind::InstanceStopping {
            instance: web0.clone(),
            reason: "scale down".into(),
        },
        EventKind::InstanceStopped {
            instance: web0.clone(),
        },
        EventKind::InstanceFailed {
            instance: web0.clone(),
            reason: "spawn failed".into(),
        },
        EventKind::InstanceRemoved {
            instance: web0.clone(),
        },
        EventKind::JobSubmitted { run: run.clone() },
        EventKind::TaskStarted {
            task: task.clone(),
            attempt: 0,
            pid: Some(77),
        },
        EventKind::TaskProgress {
            task: task.clone(),
            percent: Some(40),
            message: Some("checkpoint 2".into()),
        },
        EventKind::TaskSucceeded { task: task.clone() },
        EventKind::TaskFailed {
            task: task.clone(),
            status: Some(ExitStatus::Code(3)),
            reason: "exit 3".into(),
        },
        EventKind::TaskSkipped {
            task,
            reason: "dependency failed".into(),
        },
        EventKind::JobFinished {
            run,
            outcome: JobOutcome::Failed,
        },
        EventKind::StackRemoved {
            stack: stack.clone(),
            volumes: false,
        },
        EventKind::RestartRequested {
            instance: web0.clone(),
        },
        EventKind::StopRequested {
            workload: web.clone(),
        },
        EventKind::StartRequested { workload: web },
        EventKind::JobScheduled {
            run: JobRunId {
                job: WorkloadId::new(stack.clone(), "backup").unwrap(),
                run: 2,
            },
            due: at(40),
            missed: 3,
        },
        EventKind::ScheduledRunSkipped {
            job: WorkloadId::new(stack.clone(), "backup").unwrap(),
            due: at(42),
            missed: 0,
            reason: "demo/backup#2 has not finished (overlap: skip)".into(),
        },
        EventKind::InstanceRevised {
            instance: web0.clone(),
            revision: 2,
        },
        EventKind::RolloutFinished {
            workload: WorkloadId::new(stack.clone(), "web").unwrap(),
        },
        EventKind::RolloutRolledBack {
            workload: WorkloadId::new(stack.clone(), "web").unwrap(),
            reason: "instance demo/web-3 of revision 2 was not ready within 14s".into(),
        },
        EventKind::RollbackRequested {
            workload: WorkloadId::new(stack.clone(), "web").unwrap(),
            revision: 1,
        },
        // Added later in schema version 1: older lines above still decode unchanged.
        EventKind::InstancePulling {
            instance: web0.clone(),
            image: "registry.local/app:1".into(),
            progress: "1/2 layers, 0.6 of 3.0 MB".into(),
        },
        EventKind::StackRemoved {
            stack: stack.clone(),
            volumes: true,
        },
        EventKind::RolloutRestartRequested {
            workload: WorkloadId::new(stack.clone(), "web").unwrap(),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event::new(at(i as i64), kind))
        .collect()
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/events-v1.jsonl"
);

#[test]
fn version_1_records_still_decode() {
    if std::env::var_os("ORCO_WRITE_FIXTURE").is_some() {
        let lines: Vec<String> = every_kind()
            .iter()
            .map(|e| String::from_utf8(encode_event(e)).unwrap())
            .collect();
        std::fs::write(FIXTURE, lines.join("\n") + "\n").unwrap();
    }
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let decoded: Vec<Event> = text
        .lines()
        .map(|line| decode_event(line.as_bytes()).unwrap())
        .collect();
    assert_eq!(decoded, every_kind());
    assert!(text.lines().all(|line| line.starts_with("{\"v\":1,")));
}

#[test]
fn a_snapshot_without_schedules_or_due_times_decodes_as_it_did_before_they_existed() {
    // Runs submitted by hand and no schedule: the snapshot has neither field, exactly as one
    // written before periodic jobs, and it decodes to the same state.
    let kinds: Vec<Event> = every_kind()
        .into_iter()
        .filter(|e| !matches!(e.kind, EventKind::JobScheduled { .. }))
        .collect();
    let state = State::fold(&kinds);
    assert!(state.schedules.is_empty() && state.jobs.values().all(|r| r.due.is_none()));
    let bytes = encode_state(&state);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("schedules") && !text.contains("\"due\""),
        "{text}"
    );
    assert_eq!(decode_state(&bytes).unwrap(), state);
}

#[test]
fn an_event_keeps_who_asked_for_it_and_a_record_without_a_caller_decodes_as_before() {
    let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut event = Event::new(at, EventKind::ApiTokenRevoked { name: "ci".into() });
    let plain = String::from_utf8(encode_event(&event)).unwrap();
    assert!(!plain.contains("\"by\""), "{plain}");
    event.by = Some("deployer".into());
    let text = String::from_utf8(encode_event(&event)).unwrap();
    assert!(text.ends_with(",\"by\":\"deployer\"}"), "{text}");
    assert_eq!(decode_event(text.as_bytes()).unwrap(), event);
    // A token's creator is the caller of the event that created it.
    let created = Event {
        at,
        kind: EventKind::ApiTokenCreated {
            name: "ci".into(),
            id: "abcdef1234".into(),
            role: orco_state::Role::Read,
            hash: "00".repeat(32),
            expires: None,
        },
        by: Some("socket".into()),
    };
    let state = State::fold(&[created, event]);
    let token = &state.api_tokens["ci"];
    assert_eq!(token.created_by.as_deref(), Some("socket"));
    assert!(token.revoked);
}

#[test]
fn a_record_from_a_newer_schema_is_refused_with_advice() {
    let record = br#"{"v":9,"at":"2026-01-01T00:00:00Z","kind":{"future_thing":{}}}"#;
    let err = decode_event(record).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Newer {
            found: 9,
            known: SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains("upgrade orco"), "{err}");
}

#[test]
fn malformed_records_are_errors_not_panics() {
    for bad in [
        &b""[..],
        b"{",
        b"null",
        b"{\"v\":1}",
        b"{\"v\":0,\"at\":\"2026-01-01T00:00:00Z\",\"kind\":{\"instance_ready\":{\"instance\":\"a/b-0\"}}}",
        b"{\"v\":1,\"at\":\"2026-01-01T00:00:00Z\",\"kind\":{\"instance_ready\":{\"instance\":\"nope\"}}}",
        b"\xff\xfe",
    ] {
        assert!(matches!(decode_event(bad), Err(DecodeError::Malformed(_))), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn events_survive_encoding(events in events(40)) {
        for event in &events {
            prop_assert_eq!(&decode_event(&encode_event(event)).unwrap(), event);
        }
    }

    #[test]
    fn folding_from_a_snapshot_equals_folding_from_the_start(
        events in events(60),
        cut in 0usize..60,
    ) {
        let cut = cut.min(events.len());
        let whole = State::fold(&events);
        let mut resumed = decode_state(&encode_state(&State::fold(&events[..cut]))).unwrap();
        for event in &events[cut..] {
            resumed.apply(event);
        }
        prop_assert_eq!(resumed, whole);
    }
}

#[test]
fn every_kind_names_itself_as_its_encoding_does() {
    let run: JobRunId = "demo/backup#1".parse().unwrap();
    let task: TaskId = "demo/backup#1/dump".parse().unwrap();
    let later = [
        EventKind::JobCancelRequested { run: run.clone() },
        EventKind::JobRetryRequested { run },
        EventKind::StackStopRequested {
            stack: StackName::new("demo").unwrap(),
        },
        EventKind::TaskRetrying {
            task: task.clone(),
            status: None,
            reason: "exited 1".into(),
            retry_at: at(5),
        },
        EventKind::TaskStarting { task, attempt: 1 },
        EventKind::KeeperLost { pid: 4242 },
        EventKind::NodeJoined {
            node: "n1".into(),
            address: "10.0.0.2:40000".into(),
            capacity: orco_state::Capacity {
                cpu_millis: 2000,
                memory: 1 << 30,
            },
            allocatable: orco_state::Capacity {
                cpu_millis: 1500,
                memory: 1 << 29,
            },
            labels: [("disk".to_string(), "ssd".to_string())].into(),
            taints: vec!["gpu=yes:NoSchedule".into()],
        },
        EventKind::NodeUnreachable { node: "n1".into() },
        EventKind::NodeLost {
            node: "n1".into(),
            epoch: 2,
        },
        EventKind::NodeCordoned {
            node: "n1".into(),
            cordoned: true,
        },
        EventKind::NodeDrainRequested { node: "n1".into() },
        EventKind::NodeLabeled {
            node: "n1".into(),
            labels: [("disk".to_string(), "ssd".to_string())].into(),
        },
        EventKind::NodeTainted {
            node: "n1".into(),
            taints: vec!["maint=now:NoExecute".into()],
        },
        EventKind::InstanceEvicted {
            instance: "demo/web-0".parse().unwrap(),
            reason: "its node is drained".into(),
        },
        EventKind::PlacementBroken {
            instance: "demo/web-0".parse().unwrap(),
            reason: "node n1 no longer has the label disk=ssd".into(),
        },
        EventKind::PlacementRestored {
            instance: "demo/web-0".parse().unwrap(),
        },
        EventKind::NodeRemoved { node: "n1".into() },
        EventKind::NodeEventsStored {
            node: "n1".into(),
            through: 42,
        },
        EventKind::InstancePlaced {
            instance: "demo/web-0".parse().unwrap(),
            node: "n1".into(),
        },
        EventKind::JoinTokenCreated {
            id: "abc123".into(),
            hash: "00".repeat(32),
            expires: at(60),
            reusable: false,
        },
        EventKind::JoinTokenRevoked {
            id: "abc123".into(),
        },
        EventKind::JoinTokenUsed {
            id: "abc123".into(),
            node: "n1".into(),
        },
        EventKind::ApiTokenCreated {
            name: "deployer".into(),
            id: "abcdef1234".into(),
            role: orco_state::Role::Operate,
            hash: "00".repeat(32),
            expires: Some(at(60)),
        },
        EventKind::ApiTokenRevoked {
            name: "deployer".into(),
        },
    ];
    let all: Vec<Event> = every_kind()
        .into_iter()
        .chain(later.into_iter().map(|k| Event::new(at(0), k)))
        .collect();
    for event in &all {
        let json = serde_json::to_value(&event.kind).unwrap();
        let key = json
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .or_else(|| json.as_str().map(String::from))
            .unwrap();
        assert_eq!(event.kind.name(), key);
        assert!(EventKind::NAMES.contains(&event.kind.name()), "{key}");
    }
    let mut names = EventKind::NAMES.to_vec();
    names.sort_unstable();
    names.dedup();
    let covered: std::collections::BTreeSet<&str> = all.iter().map(|e| e.kind.name()).collect();
    let missing: Vec<_> = names.iter().filter(|n| !covered.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "kinds without a pinned example: {missing:?}"
    );
}

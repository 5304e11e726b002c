//! `State::apply`: the lifecycle transitions and the restart counters a re-adopting daemon needs.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use orco_state::testing::sample_stack;
use orco_state::*;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + second).unwrap()
}

fn web0() -> InstanceId {
    WorkloadId::new(StackName::new("demo").unwrap(), "web")
        .unwrap()
        .instance(0)
}

fn fold(kinds: Vec<EventKind>) -> State {
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, k)| Event::new(at(i as i64), k))
        .collect();
    State::fold(&events)
}

#[test]
fn an_instance_walks_its_lifecycle() {
    let i = web0();
    let mut kinds = vec![
        EventKind::StackApplied {
            stack: Box::new(sample_stack("demo", 1)),
        },
        EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        },
    ];
    assert_eq!(fold(kinds.clone()).instances[&i].phase, Phase::Pending);
    kinds.push(EventKind::InstanceStarting {
        instance: i.clone(),
        attempt: 0,
        port: None,
        chosen: Vec::new(),
    });
    assert_eq!(fold(kinds.clone()).instances[&i].phase, Phase::Starting);
    kinds.push(EventKind::InstanceStarted {
        instance: i.clone(),
        pid: Some(10),
        container: None,
    });
    assert_eq!(
        fold(kinds.clone()).instances[&i].phase,
        Phase::Running { ready: false }
    );
    kinds.push(EventKind::InstanceReady {
        instance: i.clone(),
    });
    let state = fold(kinds.clone());
    assert_eq!(state.instances[&i].phase, Phase::Running { ready: true });
    assert_eq!(state.instances[&i].pid, Some(10));
    assert_eq!(state.instances[&i].since, at(4));
    kinds.push(EventKind::InstanceStopping {
        instance: i.clone(),
        reason: "down".into(),
    });
    kinds.push(EventKind::InstanceExited {
        instance: i.clone(),
        status: ExitStatus::Signal(15),
    });
    let state = fold(kinds.clone());
    assert_eq!(state.instances[&i].phase, Phase::Stopped);
    assert_eq!(state.instances[&i].last_exit, Some(ExitStatus::Signal(15)));
    assert_eq!(state.revision, 7);
    kinds.push(EventKind::InstanceRemoved {
        instance: i.clone(),
    });
    assert!(!fold(kinds).instances.contains_key(&i));
}

#[test]
fn an_exit_outside_a_stop_is_success_or_failure_by_its_code() {
    let i = web0();
    let base = vec![
        EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        },
        EventKind::InstanceStarting {
            instance: i.clone(),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: i.clone(),
            pid: Some(10),
            container: None,
        },
    ];
    let mut ok = base.clone();
    ok.push(EventKind::InstanceExited {
        instance: i.clone(),
        status: ExitStatus::Code(0),
    });
    assert_eq!(fold(ok).instances[&i].phase, Phase::Succeeded);
    let mut bad = base;
    bad.push(EventKind::InstanceExited {
        instance: i.clone(),
        status: ExitStatus::Code(1),
    });
    assert_eq!(fold(bad).instances[&i].phase, Phase::Failed);
}

#[test]
fn restart_counters_and_backoff_survive_in_the_state() {
    let i = web0();
    let state = fold(vec![
        EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        },
        EventKind::InstanceStarting {
            instance: i.clone(),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: i.clone(),
            pid: Some(10),
            container: None,
        },
        EventKind::InstanceExited {
            instance: i.clone(),
            status: ExitStatus::Code(2),
        },
        EventKind::InstanceBackoff {
            instance: i.clone(),
            failures: 1,
            delay_ms: 1000,
            until: at(99),
        },
        EventKind::InstanceStarting {
            instance: i.clone(),
            attempt: 1,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: i.clone(),
            pid: Some(11),
            container: None,
        },
        EventKind::InstanceExited {
            instance: i.clone(),
            status: ExitStatus::Code(2),
        },
        EventKind::InstanceBackoff {
            instance: i.clone(),
            failures: 2,
            delay_ms: 2000,
            until: at(100),
        },
    ]);
    let restarts = &state.instances[&i].restarts;
    assert_eq!(restarts.total, 1);
    assert_eq!(restarts.failures, 2);
    assert_eq!(restarts.delay_ms, 2000);
    assert_eq!(restarts.backoff_until, Some(at(100)));
}

#[test]
fn scale_overrides_last_until_the_next_apply() {
    let web = WorkloadId::new(StackName::new("demo").unwrap(), "web").unwrap();
    let applied = EventKind::StackApplied {
        stack: Box::new(sample_stack("demo", 2)),
    };
    let scaled = EventKind::ScaleChanged {
        workload: web.clone(),
        replicas: 5,
    };
    assert_eq!(fold(vec![applied.clone()]).replicas(&web), Some(2));
    assert_eq!(
        fold(vec![applied.clone(), scaled.clone()]).replicas(&web),
        Some(5)
    );
    let state = fold(vec![applied.clone(), scaled, applied]);
    assert_eq!(state.replicas(&web), Some(2));
    assert_eq!(state.stacks[&web.stack].generation, 2);
}

#[test]
fn removing_a_stack_removes_its_instances_and_runs() {
    let i = web0();
    let run = JobRunId {
        job: WorkloadId::new(i.workload.stack.clone(), "backup").unwrap(),
        run: 1,
    };
    let state = fold(vec![
        EventKind::StackApplied {
            stack: Box::new(sample_stack("demo", 1)),
        },
        EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        },
        EventKind::JobSubmitted { run },
        EventKind::StackRemoved {
            stack: i.workload.stack.clone(),
            volumes: false,
        },
    ]);
    assert!(state.stacks.is_empty() && state.instances.is_empty() && state.jobs.is_empty());
    assert_eq!(state.revision, 4);
}

#[test]
fn events_about_unknown_objects_only_advance_the_revision() {
    let state = fold(vec![EventKind::InstanceReady { instance: web0() }]);
    assert_eq!(state.revision, 1);
    assert!(state.instances.is_empty());
}

#[test]
fn stop_and_start_requests_mark_a_service_until_the_next_apply() {
    let web = web0().workload;
    let applied = EventKind::StackApplied {
        stack: Box::new(sample_stack("demo", 1)),
    };
    let stopped = fold(vec![
        applied.clone(),
        EventKind::StopRequested {
            workload: web.clone(),
        },
    ]);
    assert!(stopped.stacks[&web.stack].stopped.contains("web"));
    let started = fold(vec![
        applied.clone(),
        EventKind::StopRequested {
            workload: web.clone(),
        },
        EventKind::StartRequested {
            workload: web.clone(),
        },
    ]);
    assert!(started.stacks[&web.stack].stopped.is_empty());
    let reapplied = fold(vec![
        applied.clone(),
        EventKind::StopRequested { workload: web },
        applied,
    ]);
    assert!(reapplied.stacks.values().all(|s| s.stopped.is_empty()));
}

#[test]
fn a_restart_request_counts_on_the_instance() {
    let i = web0();
    let state = fold(vec![
        EventKind::StackApplied {
            stack: Box::new(sample_stack("demo", 1)),
        },
        EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        },
        EventKind::RestartRequested {
            instance: i.clone(),
        },
        EventKind::RestartRequested {
            instance: i.clone(),
        },
    ]);
    assert_eq!(state.instances[&i].restart_requests, 2);
}

#[test]
fn a_scheduled_run_whose_number_was_just_taken_by_a_submit_takes_the_next_one() {
    let job = WorkloadId::new(StackName::new("demo").unwrap(), "backup").unwrap();
    let run = |n| JobRunId {
        job: job.clone(),
        run: n,
    };
    let state = fold(vec![
        EventKind::JobSubmitted { run: run(1) },
        EventKind::JobScheduled {
            run: run(1),
            due: at(5),
            missed: 0,
        },
        // A submit never resets a run that exists.
        EventKind::JobSubmitted { run: run(2) },
    ]);
    assert_eq!(state.jobs.len(), 2);
    assert_eq!(state.jobs[&run(1)].due, None);
    assert_eq!(state.jobs[&run(2)].due, Some(at(5)));
}

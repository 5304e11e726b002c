//! Proptest strategies for events (feature `testing`), shared by this crate's and the store's tests.
//!
//! Events are drawn over a small world (two stacks, a few services and replicas, one job) so
//! that generated sequences hit the same objects often and exercise real transitions.

use jiff::Timestamp;
use orco_spec::Stack;
use proptest::prelude::*;

use crate::event::{Event, EventKind, ExitStatus, JobOutcome};
use crate::id::{InstanceId, JobRunId, StackName, TaskId, WorkloadId};

/// A small stack named `name` with services `web` and `db` and a job `backup`.
pub fn sample_stack(name: &str, web_replicas: u32) -> Stack {
    let json = serde_json::json!({
        "version": "0.1",
        "stack": {"name": name},
        "services": {
            "web": {"runtime": "process", "command": ["sleep", "60"], "replicas": web_replicas},
            "db": {"runtime": "process", "command": "exec sleep 60"},
        },
        "jobs": {
            "backup": {"tasks": {"dump": {"command": ["true"]}}},
        },
    });
    match serde_json::from_value(json) {
        Ok(stack) => stack,
        Err(e) => panic!("the sample stack no longer matches the spec model: {e}"),
    }
}

fn stack_name() -> impl Strategy<Value = StackName> {
    prop_oneof![Just("demo"), Just("shop")].prop_map(|s| StackName::new(s).expect("valid name"))
}

fn workload() -> impl Strategy<Value = WorkloadId> {
    (stack_name(), prop_oneof![Just("web"), Just("db")])
        .prop_map(|(stack, name)| WorkloadId::new(stack, name).expect("valid name"))
}

fn instance() -> impl Strategy<Value = InstanceId> {
    (workload(), 0u32..3).prop_map(|(w, replica)| w.instance(replica))
}

fn run() -> impl Strategy<Value = JobRunId> {
    (stack_name(), 1u64..3).prop_map(|(stack, run)| JobRunId {
        job: WorkloadId::new(stack, "backup").expect("valid name"),
        run,
    })
}

fn task() -> impl Strategy<Value = TaskId> {
    (run(), prop_oneof![Just("dump"), Just("upload")]).prop_map(|(run, task)| TaskId {
        run,
        task: task.to_owned(),
    })
}

fn exit_status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        (0i32..3).prop_map(ExitStatus::Code),
        (1i32..16).prop_map(ExitStatus::Signal)
    ]
}

fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("probe http failed: 503".to_owned()),
        "[a-z ]{0,12}"
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 2026 and a bit, in milliseconds; not monotonic on purpose (clocks of several emitters).
    (1_767_225_600_000i64..1_767_225_600_000 + 86_400_000)
        .prop_map(|ms| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Any event kind over the small world.
pub fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (stack_name(), 0u32..4).prop_map(|(s, r)| EventKind::StackApplied {
            stack: Box::new(sample_stack(s.as_str(), r))
        }),
        (stack_name(), any::<bool>())
            .prop_map(|(stack, volumes)| EventKind::StackRemoved { stack, volumes }),
        stack_name().prop_map(|stack| EventKind::StackStopRequested { stack }),
        (workload(), 0u32..5)
            .prop_map(|(workload, replicas)| EventKind::ScaleChanged { workload, replicas }),
        (instance(), proptest::option::of(Just("node-a".to_owned())))
            .prop_map(|(instance, node)| EventKind::InstanceCreated { instance, node }),
        (instance(), 0u32..4, proptest::option::of(1024u16..)).prop_map(
            |(instance, attempt, port)| EventKind::InstanceStarting {
                instance,
                attempt,
                port,
                chosen: port.into_iter().collect(),
            }
        ),
        (instance(), proptest::option::of(1u32..100_000)).prop_map(|(instance, pid)| {
            EventKind::InstanceStarted {
                instance,
                pid,
                container: None,
            }
        }),
        instance().prop_map(|instance| EventKind::InstanceReady { instance }),
        (instance(), reason())
            .prop_map(|(instance, reason)| EventKind::InstanceUnready { instance, reason }),
        (instance(), reason())
            .prop_map(|(instance, reason)| EventKind::InstanceStopping { instance, reason }),
        (instance(), exit_status())
            .prop_map(|(instance, status)| EventKind::InstanceExited { instance, status }),
        instance().prop_map(|instance| EventKind::InstanceStopped { instance }),
        (instance(), reason())
            .prop_map(|(instance, reason)| EventKind::InstanceFailed { instance, reason }),
        (instance(), 0u32..6, 0u64..30_000, timestamp()).prop_map(
            |(instance, failures, delay_ms, until)| EventKind::InstanceBackoff {
                instance,
                failures,
                delay_ms,
                until
            }
        ),
        instance().prop_map(|instance| EventKind::InstanceFailuresReset { instance }),
        (instance(), "[a-z]{1,8}", "[a-z0-9 ]{0,12}").prop_map(|(instance, image, progress)| {
            EventKind::InstancePulling {
                instance,
                image,
                progress,
            }
        }),
        instance().prop_map(|instance| EventKind::InstanceRemoved { instance }),
        instance().prop_map(|instance| EventKind::RestartRequested { instance }),
        workload().prop_map(|workload| EventKind::StopRequested { workload }),
        workload().prop_map(|workload| EventKind::StartRequested { workload }),
        run().prop_map(|run| EventKind::JobSubmitted { run }),
        (
            run(),
            prop_oneof![
                Just(JobOutcome::Succeeded),
                Just(JobOutcome::Failed),
                Just(JobOutcome::Cancelled)
            ]
        )
            .prop_map(|(run, outcome)| EventKind::JobFinished { run, outcome }),
        (task(), 0u32..3, proptest::option::of(1u32..100_000))
            .prop_map(|(task, attempt, pid)| EventKind::TaskStarted { task, attempt, pid }),
        (
            task(),
            proptest::option::of(0u8..=120),
            proptest::option::of("[a-z]{0,8}")
        )
            .prop_map(|(task, percent, message)| EventKind::TaskProgress {
                task,
                percent,
                message
            }),
        task().prop_map(|task| EventKind::TaskSucceeded { task }),
        (task(), proptest::option::of(exit_status()), reason()).prop_map(
            |(task, status, reason)| EventKind::TaskFailed {
                task,
                status,
                reason
            }
        ),
        (task(), reason()).prop_map(|(task, reason)| EventKind::TaskSkipped { task, reason }),
        (task(), 0u32..3).prop_map(|(task, attempt)| EventKind::TaskStarting { task, attempt }),
        (
            task(),
            proptest::option::of(exit_status()),
            reason(),
            timestamp()
        )
            .prop_map(|(task, status, reason, retry_at)| EventKind::TaskRetrying {
                task,
                status,
                reason,
                retry_at
            }),
        run().prop_map(|run| EventKind::JobCancelRequested { run }),
        run().prop_map(|run| EventKind::JobRetryRequested { run }),
        (run(), timestamp(), 0u32..3).prop_map(|(run, due, missed)| EventKind::JobScheduled {
            run,
            due,
            missed
        }),
        (workload(), timestamp(), 0u32..3, reason()).prop_map(|(job, due, missed, reason)| {
            EventKind::ScheduledRunSkipped {
                job,
                due,
                missed,
                reason,
            }
        }),
        (instance(), 1u32..4)
            .prop_map(|(instance, revision)| EventKind::InstanceRevised { instance, revision }),
        workload().prop_map(|workload| EventKind::RolloutFinished { workload }),
        (workload(), reason())
            .prop_map(|(workload, reason)| EventKind::RolloutRolledBack { workload, reason }),
        (workload(), 1u32..4)
            .prop_map(|(workload, revision)| EventKind::RollbackRequested { workload, revision }),
        workload().prop_map(|workload| EventKind::RolloutRestartRequested { workload }),
    ]
}

/// Any event over the small world.
pub fn event() -> impl Strategy<Value = Event> {
    (
        timestamp(),
        event_kind(),
        proptest::option::of(Just("ops".to_owned())),
    )
        .prop_map(|(at, kind, by)| Event { at, kind, by })
}

/// A sequence of up to `max` events.
pub fn events(max: usize) -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec(event(), 0..=max)
}

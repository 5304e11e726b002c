//! Periodic jobs as a pure function on a manual clock: a run per due time, never two for one,
//! the `overlap` policies, due times missed while no daemon ran, and schedule changes.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::{Plan, reconcile};
use orco_state::{Event, EventKind, JobRunId, State, TaskId, WorkloadId};

/// A multiple of 10 seconds: `*/10` seconds falls due at t(10), t(20)…
fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

struct World {
    state: State,
}

fn stack(cron: &str, overlap: &str) -> orco_spec::Stack {
    let yaml = format!(
        "version: 0.1\nstack: {{name: s}}\njobs:\n  tick:\n    schedule: {{cron: \"{cron}\", overlap: {overlap}}}\n    tasks:\n      work: {{command: x}}\n"
    );
    match orco_spec::load_str(Path::new("t.yaml"), &yaml, &std::env::temp_dir()) {
        Ok(l) => l.stack,
        Err(r) => panic!("{r}"),
    }
}

impl World {
    fn new(cron: &str, overlap: &str) -> World {
        let mut w = World {
            state: State::new(),
        };
        w.apply(
            0,
            EventKind::StackApplied {
                stack: Box::new(stack(cron, overlap)),
            },
        );
        w
    }

    fn apply(&mut self, at: i64, kind: EventKind) {
        self.state.apply(&Event::new(t(at), kind));
    }

    /// Reconciles at `at` and applies the plan's events until there are none: every event
    /// of every plan, and the last plan.
    fn settle(&mut self, at: i64) -> (Vec<EventKind>, Plan) {
        let mut all = Vec::new();
        for _ in 0..20 {
            let plan = reconcile(&self.state, t(at));
            if plan.events.is_empty() {
                return (all, plan);
            }
            for e in plan.events {
                all.push(e.clone());
                self.apply(at, e);
            }
        }
        panic!("the reconciler did not converge");
    }

    /// The schedule's events among what settling at `at` recorded.
    fn schedule_events(&mut self, at: i64) -> Vec<EventKind> {
        let (events, _) = self.settle(at);
        events
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    EventKind::JobScheduled { .. } | EventKind::ScheduledRunSkipped { .. }
                )
            })
            .collect()
    }

    /// Starts every task the plan assigns, as the node would.
    fn start_assigned(&mut self, at: i64) -> Vec<String> {
        let (_, plan) = self.settle(at);
        let mut started = Vec::new();
        for (task, a) in &plan.tasks {
            if a.pid.is_none() {
                self.apply(
                    at,
                    EventKind::TaskStarted {
                        task: task.clone(),
                        attempt: a.attempt,
                        pid: Some(1000),
                    },
                );
                started.push(task.to_string());
            }
        }
        started
    }

    fn finish(&mut self, at: i64, run: u64) {
        let task: TaskId = format!("s/tick#{run}/work").parse().unwrap();
        self.apply(at, EventKind::TaskSucceeded { task });
        self.settle(at);
    }
}

fn scheduled(run: u64, due: i64, missed: u32) -> EventKind {
    EventKind::JobScheduled {
        run: JobRunId { job: job(), run },
        due: t(due),
        missed,
    }
}

fn job() -> WorkloadId {
    "s/tick".parse().unwrap()
}

#[test]
fn nothing_is_due_before_the_first_due_time_and_the_loop_is_woken_for_it() {
    let mut w = World::new("*/10 * * * * *", "skip");
    let (events, plan) = w.settle(5);
    assert!(events.is_empty());
    assert_eq!(plan.wake_at, Some(t(10)));
}

#[test]
fn a_due_time_submits_one_run_and_never_a_second_one() {
    let mut w = World::new("*/10 * * * * *", "skip");
    assert_eq!(w.schedule_events(10), [scheduled(1, 10, 0)]);
    assert_eq!(w.state.jobs[&"s/tick#1".parse().unwrap()].due, Some(t(10)));
    // The same facts, later: nothing new until the next due time, which wakes the loop.
    assert!(w.schedule_events(11).is_empty());
    let (_, plan) = w.settle(12);
    assert_eq!(plan.wake_at, Some(t(20)));
    assert_eq!(w.start_assigned(12), ["s/tick#1/work"]);
    w.finish(13, 1);
    assert_eq!(w.schedule_events(20), [scheduled(2, 20, 0)]);
    assert_eq!(w.state.schedules[&job()].runs, 2);
}

#[test]
fn a_due_time_while_a_run_is_unfinished_is_skipped_when_overlap_is_skip() {
    let mut w = World::new("*/10 * * * * *", "skip");
    w.schedule_events(10);
    w.start_assigned(10);
    let events = w.schedule_events(20);
    assert!(
        matches!(&events[..], [EventKind::ScheduledRunSkipped { due, reason, .. }]
            if *due == t(20) && reason == "s/tick#1 has not finished (overlap: skip)"),
        "{events:?}"
    );
    let schedule = &w.state.schedules[&job()];
    assert_eq!((schedule.skipped, schedule.last_due), (1, Some(t(20))));
    // Skipped once only; once the run has finished, the next due time runs.
    assert!(w.schedule_events(25).is_empty());
    w.finish(26, 1);
    assert_eq!(w.schedule_events(30), [scheduled(2, 30, 0)]);
}

#[test]
fn a_queued_run_starts_after_the_previous_one_and_only_one_waits() {
    let mut w = World::new("*/10 * * * * *", "queue");
    w.schedule_events(10);
    assert_eq!(w.start_assigned(10), ["s/tick#1/work"]);
    assert_eq!(w.schedule_events(20), [scheduled(2, 20, 0)]);
    assert!(w.start_assigned(20).is_empty(), "run 2 waits for run 1");
    let events = w.schedule_events(30);
    assert!(
        matches!(&events[..], [EventKind::ScheduledRunSkipped { reason, .. }]
            if reason == "s/tick#2 is already waiting (overlap: queue)"),
        "{events:?}"
    );
    w.finish(31, 1);
    assert_eq!(w.start_assigned(31), ["s/tick#2/work"]);
}

#[test]
fn runs_overlap_when_overlap_is_allow() {
    let mut w = World::new("*/10 * * * * *", "allow");
    w.schedule_events(10);
    assert_eq!(w.start_assigned(10), ["s/tick#1/work"]);
    assert_eq!(w.schedule_events(20), [scheduled(2, 20, 0)]);
    assert_eq!(w.start_assigned(20), ["s/tick#2/work"]);
}

#[test]
fn due_times_missed_while_no_daemon_ran_give_one_run_for_the_most_recent() {
    let mut w = World::new("*/10 * * * * *", "skip");
    w.schedule_events(10);
    w.start_assigned(10);
    w.finish(11, 1);
    // No reconcile from t(11) to t(55): due times 20, 30, 40 and 50 passed.
    assert_eq!(w.schedule_events(55), [scheduled(2, 50, 3)]);
    assert_eq!(w.state.schedules[&job()].missed, 3);
    let (_, plan) = w.settle(56);
    assert_eq!(plan.wake_at, Some(t(60)));
}

#[test]
fn reapplying_a_stack_keeps_its_schedule_and_changing_the_cron_restarts_it() {
    let mut w = World::new("*/10 * * * * *", "skip");
    w.schedule_events(10);
    w.start_assigned(10);
    w.finish(11, 1);
    // The same schedule, with another overlap policy: the count goes on.
    w.apply(
        12,
        EventKind::StackApplied {
            stack: Box::new(stack("*/10 * * * * *", "allow")),
        },
    );
    assert_eq!(w.state.schedules[&job()].last_due, Some(t(10)));
    // Another expression starts from its apply: 0 and 30 of each minute; t(25) passes.
    w.apply(
        25,
        EventKind::StackApplied {
            stack: Box::new(stack("0,30 * * * * *", "skip")),
        },
    );
    assert_eq!(w.state.schedules[&job()].last_due, None);
    assert!(w.schedule_events(29).is_empty());
    assert_eq!(w.schedule_events(30), [scheduled(2, 30, 0)]);
}

#[test]
fn a_job_without_a_schedule_has_no_schedule_and_is_never_submitted_by_time() {
    let mut w = World::new("*/10 * * * * *", "skip");
    let yaml =
        "version: 0.1\nstack: {name: s}\njobs:\n  tick:\n    tasks:\n      work: {command: x}\n";
    let plain = orco_spec::load_str(Path::new("t.yaml"), yaml, &std::env::temp_dir())
        .unwrap()
        .stack;
    w.apply(
        1,
        EventKind::StackApplied {
            stack: Box::new(plain),
        },
    );
    assert!(w.state.schedules.is_empty());
    assert!(w.schedule_events(100).is_empty());
}

#[test]
fn a_schedule_in_a_time_zone_falls_due_at_local_wall_clock_times() {
    // 03:00 in Berlin is 02:00 UTC in winter. t(0) is 2027-01-15T08:00:00Z.
    let yaml = "version: 0.1\nstack: {name: s}\njobs:\n  tick:\n    schedule: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n    tasks:\n      work: {command: x}\n";
    let s = orco_spec::load_str(Path::new("t.yaml"), yaml, &std::env::temp_dir())
        .unwrap()
        .stack;
    let mut w = World {
        state: State::new(),
    };
    w.apply(0, EventKind::StackApplied { stack: Box::new(s) });
    let (_, plan) = w.settle(1);
    assert_eq!(
        plan.wake_at.map(|at| at.to_string()),
        Some("2027-01-16T02:00:00Z".to_string())
    );
}

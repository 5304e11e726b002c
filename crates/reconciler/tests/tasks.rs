//! Task scheduling as a pure function: dependency order, skips with their reasons, the end of
//! a run, slot limits, priorities, parallelism, retries on a manual clock, cancel and retry.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::{Limits, Plan, TaskDesired, may_change_plan, reconcile_with};
use orco_state::{
    Event, EventKind, ExitStatus, JobOutcome, JobRunId, State, TaskId, TaskPhase, WorkloadId,
};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

struct World {
    state: State,
    clock: i64,
    limits: Limits,
}

impl World {
    fn new(jobs: &str) -> World {
        let yaml = format!("version: 0.1\nstack: {{name: s}}\njobs:\n{jobs}");
        let dir = std::env::temp_dir();
        let stack = match orco_spec::load_str(Path::new("t.yaml"), &yaml, &dir) {
            Ok(l) => l.stack,
            Err(r) => panic!("{r}"),
        };
        let mut w = World {
            state: State::new(),
            clock: 0,
            limits: Limits::default(),
        };
        w.apply(EventKind::StackApplied {
            stack: Box::new(stack),
        });
        w
    }

    fn apply(&mut self, kind: EventKind) {
        self.state.apply(&Event::new(t(self.clock), kind));
        // The phase index that `apply` keeps up to date equals the phases recomputed from
        // the records, after every event.
        for (id, run) in &self.state.jobs {
            let Some(job) = self
                .state
                .stacks
                .get(&id.job.stack)
                .and_then(|s| s.spec.jobs.get(&id.job.name))
            else {
                continue;
            };
            let indexed = run.phases(job).expect("the index follows the current job");
            assert_eq!(indexed, run.phases_now(job), "{id}");
        }
    }

    fn reapply(&mut self, jobs: &str) {
        let yaml = format!("version: 0.1\nstack: {{name: s}}\njobs:\n{jobs}");
        let stack = orco_spec::load_str(Path::new("t.yaml"), &yaml, &std::env::temp_dir())
            .unwrap()
            .stack;
        self.apply(EventKind::StackApplied {
            stack: Box::new(stack),
        });
    }

    fn submit(&mut self, job: &str) -> JobRunId {
        let job: WorkloadId = format!("s/{job}").parse().unwrap();
        let n = self.state.jobs.keys().filter(|r| r.job == job).count() as u64 + 1;
        let run = JobRunId { job, run: n };
        self.apply(EventKind::JobSubmitted { run: run.clone() });
        run
    }

    /// Reconciles and applies the plan's events until there are none; the last plan.
    fn settle(&mut self) -> Plan {
        for _ in 0..20 {
            let plan = reconcile_with(&self.state, t(self.clock), &self.limits);
            if plan.events.is_empty() {
                return plan;
            }
            for e in plan.events {
                self.apply(e);
            }
        }
        panic!("the reconciler did not converge");
    }

    /// The node's side: every assigned task still starting gets a process.
    fn start_assigned(&mut self) -> Vec<String> {
        let plan = self.settle();
        let mut started = Vec::new();
        for (task, a) in &plan.tasks {
            if a.pid.is_none() {
                self.apply(EventKind::TaskStarted {
                    task: task.clone(),
                    attempt: a.attempt,
                    pid: Some(1000),
                });
                started.push(task.to_string());
            }
        }
        started
    }

    fn succeed(&mut self, task: &str) {
        self.apply(EventKind::TaskSucceeded { task: tid(task) });
    }

    fn fail(&mut self, task: &str) {
        self.apply(EventKind::TaskFailed {
            task: tid(task),
            status: Some(ExitStatus::Code(1)),
            reason: "exited 1".into(),
        });
    }

    fn phase(&self, task: &str) -> Option<TaskPhase> {
        let id = tid(task);
        self.state.jobs[&id.run]
            .tasks
            .get(&id.task)
            .map(|r| r.phase)
    }

    fn message(&self, task: &str) -> String {
        let id = tid(task);
        self.state.jobs[&id.run].tasks[&id.task]
            .message
            .clone()
            .unwrap_or_default()
    }

    fn outcome(&self, run: &str) -> Option<JobOutcome> {
        self.state.jobs[&run.parse::<JobRunId>().unwrap()].outcome
    }
}

fn tid(s: &str) -> TaskId {
    s.parse().unwrap()
}

const DIAMOND: &str = "  d:\n    tasks:\n      a: {command: x}\n      b: {command: x, dependsOn: [{target: a}]}\n      c: {command: x, dependsOn: [{target: a}]}\n      e: {command: x, dependsOn: [{target: b}, {target: c}]}\n";

#[test]
fn a_diamond_runs_its_root_then_both_branches_then_the_join() {
    let mut w = World::new(DIAMOND);
    w.submit("d");
    assert_eq!(w.start_assigned(), ["s/d#1/a"]);
    assert_eq!(w.start_assigned(), Vec::<String>::new());
    w.succeed("s/d#1/a");
    assert_eq!(w.start_assigned(), ["s/d#1/b", "s/d#1/c"]);
    w.succeed("s/d#1/b");
    assert!(w.start_assigned().is_empty(), "e waits for c too");
    w.succeed("s/d#1/c");
    assert_eq!(w.start_assigned(), ["s/d#1/e"]);
    w.succeed("s/d#1/e");
    w.settle();
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Succeeded));
}

#[test]
fn a_job_changed_while_it_runs_is_scheduled_by_its_new_tasks() {
    let mut w = World::new(DIAMOND);
    w.submit("d");
    w.start_assigned();
    w.succeed("s/d#1/a");
    w.start_assigned();
    // A new task that sorts before the others, so that every task's index moves.
    w.reapply(&format!(
        "{DIAMOND}      '0': {{command: x, dependsOn: [{{target: e}}]}}\n"
    ));
    w.succeed("s/d#1/b");
    w.succeed("s/d#1/c");
    assert_eq!(w.start_assigned(), ["s/d#1/e"]);
    w.succeed("s/d#1/e");
    assert_eq!(w.start_assigned(), ["s/d#1/0"]);
    w.succeed("s/d#1/0");
    w.settle();
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Succeeded));
}

#[test]
fn a_start_is_on_record_before_the_task_is_assigned_to_the_node() {
    let mut w = World::new(DIAMOND);
    w.submit("d");
    let plan = reconcile_with(&w.state, t(0), &w.limits);
    assert!(plan.tasks.is_empty());
    assert_eq!(
        plan.events,
        [EventKind::TaskStarting {
            task: tid("s/d#1/a"),
            attempt: 0
        }]
    );
    w.apply(plan.events[0].clone());
    let plan = reconcile_with(&w.state, t(0), &w.limits);
    assert!(plan.events.is_empty(), "{:?}", plan.events);
    assert_eq!(plan.tasks[&tid("s/d#1/a")].desired, TaskDesired::Run);
    assert_eq!(plan.tasks[&tid("s/d#1/a")].pid, None);
}

#[test]
fn a_tasks_start_and_progress_change_nothing_the_reconciler_decides() {
    let mut w = World::new(DIAMOND);
    w.submit("d");
    w.start_assigned();
    w.succeed("s/d#1/a");
    // b and c are on record as starting; the node starts only b so far.
    let before = w.settle();
    let started = [
        EventKind::TaskStarted {
            task: tid("s/d#1/b"),
            attempt: 0,
            pid: Some(1001),
        },
        EventKind::TaskProgress {
            task: tid("s/d#1/b"),
            percent: Some(50),
            message: Some("half".into()),
        },
    ];
    for kind in started {
        assert!(!may_change_plan(&kind), "{kind:?}");
        w.apply(kind);
        let after = reconcile_with(&w.state, t(w.clock), &w.limits);
        assert_eq!(after.events, before.events);
        assert_eq!(
            after.tasks.keys().collect::<Vec<_>>(),
            before.tasks.keys().collect::<Vec<_>>()
        );
        assert_eq!(after.wake_at, before.wake_at);
    }
    // A task's end does change it: e waits for both.
    let ended = EventKind::TaskSucceeded {
        task: tid("s/d#1/b"),
    };
    assert!(may_change_plan(&ended));
}

#[test]
fn a_failed_task_skips_its_dependents_with_the_reason_and_fails_the_run() {
    let mut w = World::new(DIAMOND);
    w.submit("d");
    w.start_assigned();
    w.succeed("s/d#1/a");
    w.start_assigned();
    w.fail("s/d#1/b");
    w.succeed("s/d#1/c");
    w.settle();
    assert_eq!(w.phase("s/d#1/e"), Some(TaskPhase::Skipped));
    assert_eq!(
        w.message("s/d#1/e"),
        "dependency b failed (requires succeeded)"
    );
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Failed));
}

#[test]
fn without_continue_on_failure_a_failure_stops_independent_tasks_but_not_cleanup() {
    let jobs = "  j:\n    parallelism: 1\n    tasks:\n      a: {command: x}\n      b: {command: x}\n      z: {command: x, dependsOn: [{target: a, require: failed}]}\n";
    let mut w = World::new(jobs);
    w.submit("j");
    assert_eq!(w.start_assigned(), ["s/j#1/a"]);
    w.fail("s/j#1/a");
    assert_eq!(w.start_assigned(), ["s/j#1/z"]);
    assert_eq!(w.phase("s/j#1/b"), Some(TaskPhase::Skipped));
    assert_eq!(w.message("s/j#1/b"), "task a failed");
    w.succeed("s/j#1/z");
    w.settle();
    assert_eq!(w.outcome("s/j#1"), Some(JobOutcome::Failed));
}

#[test]
fn with_continue_on_failure_independent_tasks_run_and_the_run_succeeds() {
    let jobs = "  j:\n    continueOnFailure: true\n    tasks:\n      a: {command: x}\n      b: {command: x}\n      c: {command: x, dependsOn: [{target: a}]}\n";
    let mut w = World::new(jobs);
    w.submit("j");
    assert_eq!(w.start_assigned(), ["s/j#1/a", "s/j#1/b"]);
    w.fail("s/j#1/a");
    w.settle();
    assert_eq!(w.phase("s/j#1/c"), Some(TaskPhase::Skipped));
    assert_eq!(w.outcome("s/j#1"), None, "b still runs");
    w.succeed("s/j#1/b");
    w.settle();
    assert_eq!(w.outcome("s/j#1"), Some(JobOutcome::Succeeded));
}

#[test]
fn the_slot_limit_admits_higher_priority_jobs_first_then_the_oldest_run() {
    let jobs = "  low:\n    tasks: {t: {command: x}}\n  high:\n    priority: 10\n    tasks: {t: {command: x}}\n";
    let mut w = World::new(jobs);
    w.limits.max_concurrent_tasks = 1;
    w.submit("low");
    w.clock = 1;
    w.submit("low");
    w.clock = 2;
    w.submit("high");
    assert_eq!(w.start_assigned(), ["s/high#1/t"]);
    assert!(w.start_assigned().is_empty(), "one slot");
    w.succeed("s/high#1/t");
    assert_eq!(w.start_assigned(), ["s/low#1/t"]);
    w.succeed("s/low#1/t");
    assert_eq!(w.start_assigned(), ["s/low#2/t"]);
}

#[test]
fn parallelism_caps_the_running_tasks_of_one_job() {
    let jobs = "  w:\n    parallelism: 2\n    tasks:\n      a: {command: x}\n      b: {command: x}\n      c: {command: x}\n";
    let mut w = World::new(jobs);
    w.submit("w");
    assert_eq!(w.start_assigned(), ["s/w#1/a", "s/w#1/b"]);
    w.succeed("s/w#1/a");
    assert_eq!(w.start_assigned(), ["s/w#1/c"]);
}

#[test]
fn a_task_in_backoff_starts_its_next_attempt_only_at_its_retry_time() {
    let jobs = "  j:\n    tasks:\n      a: {command: x, retry: {maxRetries: 2}}\n";
    let mut w = World::new(jobs);
    w.submit("j");
    w.start_assigned();
    w.apply(EventKind::TaskRetrying {
        task: tid("s/j#1/a"),
        status: Some(ExitStatus::Code(3)),
        reason: "exited 3".into(),
        retry_at: t(5),
    });
    let plan = w.settle();
    assert_eq!(plan.wake_at, Some(t(5)));
    assert!(plan.tasks.is_empty());
    w.clock = 5;
    w.settle();
    let record = &w.state.jobs[&tid("s/j#1/a").run].tasks["a"];
    assert_eq!(record.phase, TaskPhase::Starting);
    assert_eq!(record.attempt, 1);
}

#[test]
fn cancelling_skips_waiting_tasks_stops_running_ones_and_ends_cancelled() {
    let mut w = World::new(DIAMOND);
    let run = w.submit("d");
    w.start_assigned();
    w.apply(EventKind::JobCancelRequested { run: run.clone() });
    let plan = w.settle();
    assert_eq!(plan.tasks[&tid("s/d#1/a")].desired, TaskDesired::Stop);
    assert_eq!(w.phase("s/d#1/b"), Some(TaskPhase::Skipped));
    assert_eq!(w.outcome("s/d#1"), None, "a still runs");
    w.apply(EventKind::TaskFailed {
        task: tid("s/d#1/a"),
        status: None,
        reason: "cancelled".into(),
    });
    let plan = w.settle();
    assert!(plan.tasks.is_empty());
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Cancelled));
}

#[test]
fn retry_runs_only_failed_and_skipped_tasks_again_with_a_new_attempt() {
    let mut w = World::new(DIAMOND);
    let run = w.submit("d");
    w.start_assigned();
    w.succeed("s/d#1/a");
    w.start_assigned();
    w.succeed("s/d#1/b");
    w.fail("s/d#1/c");
    w.settle();
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Failed));
    w.apply(EventKind::JobRetryRequested { run });
    assert_eq!(w.start_assigned(), ["s/d#1/c"]);
    let c = &w.state.jobs[&tid("s/d#1/c").run].tasks["c"];
    assert_eq!((c.attempt, c.first_attempt), (1, 1));
    assert_eq!(w.phase("s/d#1/e"), Some(TaskPhase::Pending));
    w.succeed("s/d#1/c");
    assert_eq!(w.start_assigned(), ["s/d#1/e"]);
    w.succeed("s/d#1/e");
    w.settle();
    assert_eq!(w.outcome("s/d#1"), Some(JobOutcome::Succeeded));
}

#[test]
fn a_run_of_a_job_no_longer_in_the_stack_ends_cancelled_and_nothing_of_it_runs() {
    let mut w = World::new(DIAMOND);
    w.apply(EventKind::JobSubmitted {
        run: "s/gone#1".parse().unwrap(),
    });
    let plan = w.settle();
    assert!(plan.tasks.is_empty());
    assert_eq!(w.outcome("s/gone#1"), Some(JobOutcome::Cancelled));
}

#[test]
fn a_job_a_service_waits_for_is_submitted_once_and_its_tasks_wait_for_the_jobs_own_dependencies() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  db: {command: x}\n  api: {command: x, dependsOn: [{target: mig, require: succeeded}]}\njobs:\n  mig:\n    dependsOn: [{target: db, require: started}]\n    tasks: {up: {command: x}}\n";
    let dir = std::env::temp_dir();
    let stack = orco_spec::load_str(Path::new("t.yaml"), yaml, &dir)
        .unwrap()
        .stack;
    let mut w = World {
        state: State::new(),
        clock: 0,
        limits: Limits::default(),
    };
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack),
    });
    let plan = w.settle();
    let run: JobRunId = "s/mig#1".parse().unwrap();
    assert!(w.state.jobs.contains_key(&run));
    assert_eq!(w.state.jobs.len(), 1);
    assert!(
        plan.tasks.is_empty() && w.state.jobs[&run].tasks.is_empty(),
        "db has not started"
    );
    w.apply(EventKind::InstanceStarting {
        instance: "s/db-0".parse().unwrap(),
        attempt: 0,
        port: None,
        chosen: Vec::new(),
    });
    w.apply(EventKind::InstanceStarted {
        instance: "s/db-0".parse().unwrap(),
        pid: Some(7),
        container: None,
    });
    assert_eq!(w.start_assigned(), ["s/mig#1/up"]);
    w.succeed("s/mig#1/up");
    w.settle();
    assert_eq!(w.outcome("s/mig#1"), Some(JobOutcome::Succeeded));
    assert_eq!(w.state.jobs.len(), 1, "submitted once");
}

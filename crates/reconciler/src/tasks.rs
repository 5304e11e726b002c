//! Task scheduling: for every unfinished job run, which tasks start now, which are skipped
//! and why, and when the run is over. Pure, like the rest of the reconciler.
//!
//! A task starts in two steps: the reconciler records `TaskStarting` (the intent), and only
//! once that is folded does the task appear in [`crate::Plan::tasks`] for the node to run.
//! So a start is always on record before its process exists, and a restarted daemon finds
//! every attempt it may have started.
//!
//! A job's own `dependsOn` (services or other jobs of the stack) holds back all its tasks
//! until it is met. A job that a service of its stack depends on and that has never run is
//! submitted (run 1), so that `orco up` runs migrations before the API that waits for them.
//!
//! When task slots are scarce, ready tasks of higher-`priority` jobs go first, then older
//! runs (FIFO), then tasks by name; a job's `parallelism` caps its own running tasks.

use std::collections::BTreeMap;

use jiff::Timestamp;
use orco_spec::{Job, Require};
use orco_state::{
    EventKind, JobOutcome, JobRun, JobRunId, State, TaskId, TaskPhase, TaskRecord, WorkloadId,
};

use crate::gate::condition;
use orco_interface::{TaskAssignment, TaskDesired};

/// The default of [`Limits::repair_cooldown`]: 30 s.
pub const DEFAULT_REPAIR_COOLDOWN: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

/// What bounds a plan: task slots, and the placement-repair cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most tasks starting or running at once on the node, over every job.
    pub max_concurrent_tasks: u32,
    /// How long a placement that stopped holding (a label its `nodeSelector` needs removed,
    /// its anchor gone from its node) is left before the instance moves (`--repair-cooldown`).
    pub repair_cooldown: jiff::SignedDuration,
}

impl Default for Limits {
    /// No limit beyond each job's `parallelism`.
    fn default() -> Limits {
        Limits {
            max_concurrent_tasks: u32::MAX,
            repair_cooldown: DEFAULT_REPAIR_COOLDOWN,
        }
    }
}

/// The task part of a plan.
#[derive(Debug, Default)]
pub(crate) struct TaskPlan {
    pub events: Vec<EventKind>,
    pub tasks: BTreeMap<TaskId, TaskAssignment>,
    pub wake_at: Option<Timestamp>,
}

impl TaskPlan {
    /// Asks to be reconciled again at `at` (the earliest of every such ask wins).
    pub(crate) fn wake(&mut self, at: Timestamp) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// A task that could start now.
struct Candidate<'a> {
    priority: i32,
    submitted_at: Timestamp,
    run: &'a JobRunId,
    task: &'a str,
    attempt: u32,
}

pub(crate) fn schedule(state: &State, now: Timestamp, limits: &Limits) -> TaskPlan {
    let mut plan = TaskPlan::default();
    let mut active_total: u64 = 0;
    let mut active_by_run: BTreeMap<&JobRunId, u32> = BTreeMap::new();
    let mut candidates = Vec::new();
    submit_awaited_jobs(state, &mut plan);
    crate::periodic::due(state, now, &mut plan);
    // The oldest unfinished run of each job: a scheduled run with `overlap: queue` waits
    // for it.
    let mut oldest_unfinished: BTreeMap<&WorkloadId, u64> = BTreeMap::new();
    for id in state
        .jobs
        .iter()
        .filter(|(_, r)| r.outcome.is_none())
        .map(|(id, _)| id)
    {
        oldest_unfinished.entry(&id.job).or_insert(id.run);
    }
    for (id, run) in &state.jobs {
        let job = state
            .stacks
            .get(&id.job.stack)
            .and_then(|s| s.spec.jobs.get(&id.job.name).map(|j| (s, j)));
        let records = active_records(run, job.map(|(_, j)| j));
        let active = records.len() as u32;
        active_total += u64::from(active);
        active_by_run.insert(id, active);
        let Some((stack, job)) = job else {
            // The job left the stack: its run ends, and its running tasks (no longer
            // assigned) are stopped by the node.
            if run.outcome.is_none() {
                plan.events.push(EventKind::JobFinished {
                    run: id.clone(),
                    outcome: JobOutcome::Cancelled,
                });
            }
            continue;
        };
        // What the node should own: every attempt on record as starting or running.
        for (name, record) in records {
            let Some(spec) = job.tasks.get(name) else {
                continue;
            };
            let task = TaskId {
                run: id.clone(),
                task: name.clone(),
            };
            plan.tasks.insert(
                task.clone(),
                TaskAssignment {
                    task,
                    attempt: record.attempt,
                    first_attempt: record.first_attempt,
                    spec: spec.clone(),
                    workdir: stack.spec.stack.workdir.clone(),
                    pid: record.pid,
                    started_at: record.started_at,
                    desired: if run.cancel_requested {
                        TaskDesired::Stop
                    } else {
                        TaskDesired::Run
                    },
                },
            );
        }
        if run.outcome.is_some() {
            continue;
        }
        let queued = run.due.is_some()
            && job
                .schedule
                .as_ref()
                .is_some_and(|s| s.overlap == orco_spec::Overlap::Queue)
            && oldest_unfinished
                .get(&id.job)
                .is_some_and(|first| *first < id.run);
        let held = queued
            || job
                .depends_on
                .iter()
                .any(|dep| condition(state, &id.job.stack, dep).is_err());
        decide_run(&mut plan, &mut candidates, id, run, job, now, held);
    }
    // Admit ready tasks while slots last: priority, then FIFO, then name.
    candidates.sort_by(|a: &Candidate, b: &Candidate| {
        b.priority
            .cmp(&a.priority)
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.run.cmp(b.run))
            .then(a.task.cmp(b.task))
    });
    let mut free = u64::from(limits.max_concurrent_tasks).saturating_sub(active_total);
    for c in candidates {
        if free == 0 {
            break;
        }
        let Some(job) = state
            .stacks
            .get(&c.run.job.stack)
            .and_then(|s| s.spec.jobs.get(&c.run.job.name))
        else {
            continue;
        };
        let active = active_by_run.entry(c.run).or_insert(0);
        if job.parallelism > 0 && *active >= job.parallelism {
            continue;
        }
        *active += 1;
        free -= 1;
        plan.events.push(EventKind::TaskStarting {
            task: TaskId {
                run: c.run.clone(),
                task: c.task.to_string(),
            },
            attempt: c.attempt,
        });
    }
    plan
}

/// The run's task attempts on record as starting or running: through the run's phase index
/// when it follows `job`, else by walking every record.
fn active_records<'a>(run: &'a JobRun, job: Option<&'a Job>) -> Vec<(&'a String, &'a TaskRecord)> {
    match job.and_then(|j| run.phases(j).map(|p| (j, p))) {
        Some((job, phases)) => phases
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some_and(TaskPhase::is_active))
            .filter_map(|(i, _)| run.tasks.get_key_value(&job.graph().names[i]))
            .collect(),
        None => run
            .tasks
            .iter()
            .filter(|(_, r)| r.phase.is_active())
            .collect(),
    }
}

/// Decides one unfinished run: skips, ready tasks, and its end. Linear in the job's tasks:
/// it walks the job's [`orco_spec::TaskGraph`] by index, never looking a task up by name.
fn decide_run<'a>(
    plan: &mut TaskPlan,
    candidates: &mut Vec<Candidate<'a>>,
    id: &'a JobRunId,
    run: &'a JobRun,
    job: &'a Job,
    now: Timestamp,
    held: bool,
) {
    let graph = job.graph();
    let names: &'a [String] = &graph.names;
    // Phases as this plan leaves them: skips decided here release further skips at once.
    let mut phase: Vec<Option<TaskPhase>> = run
        .phases(job)
        .map_or_else(|| run.phases_now(job), <[_]>::to_vec);
    let failed = phase.iter().position(|p| *p == Some(TaskPhase::Failed));
    let mut skipped: Vec<(usize, String)> = Vec::new();
    // Nothing can be skipped while nothing failed or was skipped, the run is not cancelled
    // and no task waits for a failure.
    let may_skip = run.cancel_requested
        || graph.awaits_failure
        || phase
            .iter()
            .any(|p| matches!(p, Some(TaskPhase::Failed | TaskPhase::Skipped)));
    // In dependency order one pass carries every skip to the end of the graph; a second
    // pass only confirms it (tasks on a cycle, which validation rejects, may need more).
    let mut changed = may_skip;
    while changed {
        changed = false;
        for &i in &graph.order {
            if !matches!(phase[i], None | Some(TaskPhase::Pending)) {
                continue;
            }
            let deps = &graph.deps[i];
            let reason = if run.cancel_requested {
                Some("the run was cancelled".to_string())
            } else {
                match gate(deps, &phase, names) {
                    Gate::Never(reason) => Some(reason),
                    Gate::Open if !job.continue_on_failure => failed
                        .filter(|_| !handles_failure(deps, &phase))
                        .map(|f| format!("task {} failed", names[f])),
                    Gate::Open | Gate::Wait => None,
                }
            };
            if let Some(reason) = reason {
                phase[i] = Some(TaskPhase::Skipped);
                skipped.push((i, reason));
                changed = true;
            }
        }
    }
    skipped.sort_by_key(|(i, _)| *i);
    for (i, reason) in skipped {
        plan.events.push(EventKind::TaskSkipped {
            task: TaskId {
                run: id.clone(),
                task: names[i].to_string(),
            },
            reason,
        });
    }
    if phase.iter().all(|p| p.is_some_and(TaskPhase::is_final)) {
        let outcome = if run.cancel_requested {
            JobOutcome::Cancelled
        } else if !job.continue_on_failure && failed.is_some() {
            JobOutcome::Failed
        } else {
            JobOutcome::Succeeded
        };
        plan.events.push(EventKind::JobFinished {
            run: id.clone(),
            outcome,
        });
        return;
    }
    for (i, name) in names.iter().enumerate() {
        let ready = match phase[i] {
            None | Some(TaskPhase::Pending) => {
                !held && matches!(gate(&graph.deps[i], &phase, names), Gate::Open)
            }
            Some(TaskPhase::Backoff) => {
                let at = run.tasks.get(name).and_then(|r| r.retry_at).unwrap_or(now);
                if at > now {
                    plan.wake(at);
                }
                at <= now && !run.cancel_requested
            }
            _ => false,
        };
        if ready {
            candidates.push(Candidate {
                priority: job.priority,
                submitted_at: run.submitted_at,
                run: id,
                task: name,
                attempt: run.tasks.get(name).map_or(0, TaskRecord::next_attempt),
            });
        }
    }
}

enum Gate {
    /// Every dependency holds.
    Open,
    /// Some dependency has not ended yet.
    Wait,
    /// Some dependency ended in a way that can never satisfy it.
    Never(String),
}

/// Whether a task with dependencies `deps` may start, given every task's phase.
fn gate(deps: &[(Option<usize>, Require)], phase: &[Option<TaskPhase>], names: &[String]) -> Gate {
    let mut gate = Gate::Open;
    for &(dep, require) in deps {
        let Some(j) = dep else {
            gate = Gate::Wait;
            continue;
        };
        let Some(p) = phase[j].filter(|p| p.is_final()) else {
            gate = Gate::Wait;
            continue;
        };
        let holds = match require {
            Require::Succeeded => p == TaskPhase::Succeeded,
            Require::Failed => p == TaskPhase::Failed,
            // Completed: it ended, whichever way (a cleanup step).
            Require::Completed | Require::Exists | Require::Started | Require::Ready => true,
        };
        if !holds {
            let word = match p {
                TaskPhase::Succeeded => "succeeded",
                TaskPhase::Failed => "failed",
                _ => "was skipped",
            };
            return Gate::Never(format!(
                "dependency {} {word} (requires {})",
                names[j],
                require.as_str()
            ));
        }
    }
    gate
}

/// Whether a task with dependencies `deps` waits on a failed task on purpose (`require:
/// failed` or `completed`): it still runs when a failure stops the rest of the job.
fn handles_failure(deps: &[(Option<usize>, Require)], phase: &[Option<TaskPhase>]) -> bool {
    deps.iter().any(|&(dep, require)| {
        matches!(require, Require::Failed | Require::Completed)
            && dep.is_some_and(|j| phase[j] == Some(TaskPhase::Failed))
    })
}

/// Submits run 1 of every job that a service of its stack depends on and that has no run.
fn submit_awaited_jobs(state: &State, plan: &mut TaskPlan) {
    for (stack_name, stack) in &state.stacks {
        for name in stack.spec.jobs.keys() {
            let awaited = stack
                .spec
                .services
                .values()
                .any(|s| s.depends_on.iter().any(|d| &d.target == name));
            let Ok(job) = WorkloadId::new(stack_name.clone(), name.clone()) else {
                continue;
            };
            if awaited && !state.jobs.keys().any(|r| r.job == job) {
                plan.events.push(EventKind::JobSubmitted {
                    run: JobRunId { job, run: 1 },
                });
            }
        }
    }
}

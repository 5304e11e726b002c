//! Dependency gates: whether a dependency's `require` condition holds, and if not, why
//! ([`Blocked`]: which dependency, which `require`, what its target's state says, since when
//! and whether its timeout has passed). Pure: the moment to judge at is an argument, so that
//! a view of a past state is explained with that past's time.

use std::fmt;

use jiff::Timestamp;
use orco_spec::{Dependency, Duration, Require, WorkloadKind};
use orco_state::{InstanceId, JobOutcome, JobRunId, Phase, StackName, State, WorkloadId};

use crate::rollout;

/// Why an instance waits: the first dependency whose condition does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The waiting instance.
    pub instance: InstanceId,
    /// The dependency it waits for.
    pub dependency: String,
    /// The condition that does not hold.
    pub require: Require,
    /// The dependency's timeout, if it has one.
    pub timeout: Option<Duration>,
    /// What the target's state says (`probe failing: tcp connect 127.0.0.1:5432 refused`).
    pub detail: Option<String>,
    /// Since when it waits: its creation, or the lifting of a stop on purpose
    /// (`Instance::gated_since`); the timeout counts from here.
    pub since: Timestamp,
    /// The timeout has passed.
    pub timed_out: bool,
}

impl Blocked {
    /// When the dependency's timeout falls due, if it has one.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.timeout.map(|t| deadline(self.since, t))
    }
}

/// The word for a `require` that does not hold: `dependency db not ready`, `not created`.
pub fn condition_words(require: Require) -> &'static str {
    match require {
        Require::Exists => "created",
        Require::Started => "started",
        Require::Ready => "ready",
        Require::Succeeded => "succeeded",
        Require::Failed => "failed",
        Require::Completed => "completed",
    }
}

/// The moment a wait that began at `since` with `timeout` times out.
pub fn deadline(since: Timestamp, timeout: Duration) -> Timestamp {
    let span = jiff::SignedDuration::try_from(timeout.get()).unwrap_or(jiff::SignedDuration::MAX);
    since.checked_add(span).unwrap_or(Timestamp::MAX)
}

/// The first of `deps` (of instance `id` of a workload in `stack`) whose condition does not
/// hold in `state`, for an instance that waits since `since`, judged at `now`.
pub fn first_unmet(
    state: &State,
    stack: &StackName,
    deps: &[Dependency],
    id: &InstanceId,
    since: Timestamp,
    now: Timestamp,
) -> Option<Blocked> {
    deps.iter()
        .find_map(|dep| match condition(state, stack, dep) {
            Ok(()) => None,
            Err(detail) => Some(Blocked {
                instance: id.clone(),
                dependency: dep.target.clone(),
                require: dep.require,
                timeout: dep.timeout,
                detail,
                since,
                timed_out: dep.timeout.is_some_and(|t| now >= deadline(since, t)),
            }),
        })
}

/// Why instance `id` waits at `now`, as [`crate::reconcile`] decides it: `None` when it does
/// not exist, is not gated (it started, or runs on its own account), its service is stopped,
/// or every dependency of the spec revision it runs holds. No clock: `now` may be any moment
/// the state is read at.
pub fn why_blocked(state: &State, id: &InstanceId, now: Timestamp) -> Option<Blocked> {
    let instance = state.instances.get(id)?;
    let stack = state.stacks.get(&id.workload.stack)?;
    if stack.stopped.contains(&id.workload.name) {
        return None;
    }
    let since = instance.gated_since()?;
    let current = stack.spec.services.get(&id.workload.name)?;
    let service = stack
        .revisions
        .get(&id.workload.name)
        .and_then(|r| r.spec(rollout::revision_of(instance, r)))
        .unwrap_or(current);
    first_unmet(
        state,
        &id.workload.stack,
        &service.depends_on,
        id,
        since,
        now,
    )
}

/// The first dependency of job run `run`'s job that does not hold, with what its target's
/// state says, while the run is unfinished: the reconciler holds back all of the run's
/// tasks until it holds. `None` when the run is finished or nothing holds it back.
pub fn run_held_by<'s>(
    state: &'s State,
    run: &JobRunId,
) -> Option<(&'s Dependency, Option<String>)> {
    let job_run = state.jobs.get(run)?;
    if job_run.outcome.is_some() {
        return None;
    }
    let job = state
        .stacks
        .get(&run.job.stack)?
        .spec
        .jobs
        .get(&run.job.name)?;
    job.depends_on.iter().find_map(|dep| {
        condition(state, &run.job.stack, dep)
            .err()
            .map(|d| (dep, d))
    })
}

impl fmt::Display for Blocked {
    /// `api blocked: dependency db not ready (timeout 60s, probe failing: tcp connect … refused)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = &self.instance.workload.name;
        let condition = condition_words(self.require);
        write!(
            f,
            "{service} blocked: dependency {} not {condition}",
            self.dependency
        )?;
        let mut notes = Vec::new();
        if let Some(t) = self.timeout {
            notes.push(if self.timed_out {
                format!("timed out after {t}")
            } else {
                format!("timeout {t}")
            });
        }
        if let Some(d) = &self.detail {
            notes.push(d.clone());
        }
        if !notes.is_empty() {
            write!(f, " ({})", notes.join(", "))?;
        }
        Ok(())
    }
}

/// Whether `dep` (of a workload in `stack`) holds in `state`; `Err` carries what the target's
/// state says when that helps (`1/2 ready`, a probe failure, an exit status).
pub fn condition(state: &State, stack: &StackName, dep: &Dependency) -> Result<(), Option<String>> {
    let Some(spec) = state.stacks.get(stack).map(|s| &s.spec) else {
        return Err(None);
    };
    let Ok(target) = WorkloadId::new(stack.clone(), dep.target.clone()) else {
        return Err(None);
    };
    match spec.workload_kind(&dep.target) {
        Some(WorkloadKind::Service) => service_condition(state, &target, dep.require),
        Some(WorkloadKind::Job) => job_condition(state, &target, dep.require),
        None => Err(Some(format!("{} is not in the stack", dep.target))),
    }
}

fn service_condition(
    state: &State,
    target: &WorkloadId,
    require: Require,
) -> Result<(), Option<String>> {
    let want = state.replicas(target).unwrap_or(0);
    if state
        .stacks
        .get(&target.stack)
        .is_some_and(|s| s.stopped.contains(&target.name))
    {
        return Err(Some(format!("{} was stopped", target.name)));
    }
    if want == 0 {
        return Err(Some(format!("{} has 0 replicas", target.name)));
    }
    let instances: Vec<_> = state
        .instances_of(target)
        .filter(|(id, _)| id.replica < want)
        .collect();
    let holds = |i: &orco_state::Instance| {
        // A run of the instance ended (it exited, or was stopped): a start that follows
        // restarts something that ran. A start that failed (a program that does not exist, an
        // image that cannot be pulled) is no run, so its retries are not "started".
        let ran = i.last_exit.is_some();
        // It was tried at least once and ended, either way (a start that failed counts).
        let ended = ran || i.restarts.total > 0 || i.restarts.failures > 0;
        match require {
            Require::Exists => true,
            Require::Started => {
                matches!(i.phase, Phase::Running { .. } | Phase::Succeeded)
                    || (ran && i.phase == Phase::Starting)
            }
            Require::Ready => i.phase == Phase::Running { ready: true },
            Require::Succeeded => i.phase == Phase::Succeeded,
            Require::Completed => matches!(i.phase, Phase::Succeeded | Phase::Failed) && ended,
            Require::Failed => i.phase == Phase::Failed && ended,
        }
    };
    let met = instances.iter().filter(|(_, i)| holds(i)).count();
    if instances.len() as u32 == want && met as u32 == want {
        return Ok(());
    }
    // The most useful words about a target instance that does not meet the condition.
    let detail = instances
        .iter()
        .find(|(_, i)| !holds(i))
        .and_then(|(_, i)| {
            i.reason.clone().or_else(|| match i.phase {
                Phase::Pending => Some(format!("{} not started yet", target.name)),
                Phase::Failed => i
                    .last_exit
                    .map(|e| format!("last run ended with {}", exit_words(e))),
                _ => None,
            })
        });
    let count = (want > 1).then(|| format!("{met}/{want} {}", require.as_str()));
    Err(match (count, detail) {
        (Some(c), Some(d)) => Some(format!("{c}; {d}")),
        (Some(c), None) => Some(c),
        (None, d) => d,
    })
}

fn exit_words(e: orco_state::ExitStatus) -> String {
    match e {
        orco_state::ExitStatus::Code(c) => format!("exit code {c}"),
        orco_state::ExitStatus::Signal(s) => format!("signal {s}"),
        orco_state::ExitStatus::Unknown => "exit status unknown".to_string(),
    }
}

fn job_condition(
    state: &State,
    target: &WorkloadId,
    require: Require,
) -> Result<(), Option<String>> {
    let latest = state
        .jobs
        .iter()
        .filter(|(id, _)| &id.job == target)
        .max_by_key(|(id, _)| id.run);
    let Some((_, run)) = latest else {
        return Err(Some(format!("job {} has not run", target.name)));
    };
    let ok = match require {
        Require::Exists | Require::Started => true,
        Require::Succeeded => run.outcome == Some(JobOutcome::Succeeded),
        Require::Completed => run.outcome.is_some(),
        Require::Failed => run.outcome == Some(JobOutcome::Failed),
        Require::Ready => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Some(match run.outcome {
            None => format!("job {} is running", target.name),
            Some(o) => format!("job {} ended {o:?}", target.name).to_lowercase(),
        }))
    }
}

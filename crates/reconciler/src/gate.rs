//! Dependency gates: whether a dependency's `require` condition holds, and if not, why.

use std::fmt;

use orco_spec::{Dependency, Duration, Require, WorkloadKind};
use orco_state::{InstanceId, JobOutcome, Phase, StackName, State, WorkloadId};

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
    /// The timeout has passed.
    pub timed_out: bool,
}

impl fmt::Display for Blocked {
    /// `api blocked: dependency db not ready (timeout 60s, probe failing: tcp connect … refused)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = &self.instance.workload.name;
        let condition = match self.require {
            Require::Exists => "created",
            Require::Started => "started",
            Require::Ready => "ready",
            Require::Succeeded => "succeeded",
            Require::Failed => "failed",
            Require::Completed => "completed",
        };
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

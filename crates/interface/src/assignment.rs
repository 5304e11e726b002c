//! What the control plane hands a node: one [`Assignment`] per instance and one
//! [`TaskAssignment`] per job task attempt, each with everything the node needs to run it.

use std::path::PathBuf;

use jiff::Timestamp;
use orco_spec::{Service, Task};
use orco_state::{Instance, InstanceId, Phase, TaskId};
use serde::{Deserialize, Serialize};

/// What the node should do with an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Desired {
    /// Run it: start it if it is not running, and keep it running per its restart policy.
    Run,
    /// Stop it (if it runs) and keep it stopped.
    Stop {
        /// Why, for people (`scaled down`, `stopped by request`).
        reason: String,
    },
}

/// One instance the node should own, with everything needed to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// Which instance.
    pub instance: InstanceId,
    /// The stack's working directory (absolute); relative paths of the service start here.
    pub workdir: PathBuf,
    /// The service as last applied.
    pub service: Service,
    /// The stack's generation the service comes from.
    pub generation: u64,
    /// The revision of the service's spec the instance runs: the node replaces the instance
    /// exactly when this changes (the reconciler records `InstanceRevised`), never because
    /// `service` differs otherwise.
    pub revision: u32,
    /// Restarts asked for by hand so far: the node restarts the instance when this grows.
    pub restart_requests: u32,
    /// Run or stop.
    pub desired: Desired,
    /// The process the state last saw running the instance, for a node that adopts it
    /// after a restart of orco.
    pub last_seen: Option<LastSeen>,
    /// The loopback port the instance's current (or last) run was given, for a node that
    /// adopts it behind the built-in proxy.
    pub port: Option<u16>,
    /// What the state holds of the instance's runs, for a node that takes it over after a
    /// restart of orco: it goes on from there and never acts on an end twice.
    pub recorded: Recorded,
}

/// What the state recorded of an instance's runs: where its lifecycle and its restart policy
/// stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// Its phase.
    pub phase: Phase,
    /// The pid of its current (or last) run.
    pub pid: Option<u32>,
    /// When its current (or last) run was started (its `InstanceStarting`), if it ever was.
    pub started_at: Option<Timestamp>,
    /// The restart policy's counters: starts, consecutive failures, the pending backoff.
    pub restarts: orco_state::Restarts,
    /// Why it last failed, became unready or was stopped.
    pub reason: Option<String>,
}

impl Recorded {
    /// What the state holds of `instance`.
    pub fn of(instance: &Instance) -> Recorded {
        Recorded {
            phase: instance.phase,
            pid: instance.pid,
            started_at: instance.started_at,
            restarts: instance.restarts.clone(),
            reason: instance.reason.clone(),
        }
    }

    /// Whether the end of a run that the runtime started at `started_at_unix_ms` under `pid`
    /// is on record already: it is the run the state last saw and the state has it ended,
    /// or a later run was started since (an end is recorded before the next start).
    pub fn holds_end_of(&self, pid: i32, started_at_unix_ms: u64) -> bool {
        let later_start = self
            .started_at
            .is_some_and(|s| u64::try_from(s.as_millisecond()).unwrap_or(0) > started_at_unix_ms);
        let ended = matches!(
            self.phase,
            Phase::Stopped | Phase::Succeeded | Phase::Failed
        );
        later_start || (ended && self.pid.is_some() && self.pid == u32::try_from(pid).ok())
    }
}

/// A process the state recorded as running an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastSeen {
    /// Its pid.
    pub pid: u32,
    /// Whether the instance was ready.
    pub ready: bool,
}

/// What the node should do with a task attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskDesired {
    /// Start it (if its process does not exist yet) and wait for its end.
    Run,
    /// Stop it: its run was cancelled.
    Stop,
}

/// One task attempt the node should own: everything needed to run it and judge its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAssignment {
    /// Which task.
    pub task: TaskId,
    /// The attempt (part of the process's runtime name).
    pub attempt: u32,
    /// The first attempt of the current try; retries left are counted from it.
    pub first_attempt: u32,
    /// The task as the stack file gives it.
    pub spec: Task,
    /// The stack's working directory (absolute).
    pub workdir: PathBuf,
    /// The pid the state recorded, when the task was seen running.
    pub pid: Option<u32>,
    /// When the attempt was seen running.
    pub started_at: Option<Timestamp>,
    /// Run or stop.
    pub desired: TaskDesired,
}

#[cfg(test)]
mod tests {
    use super::Recorded;
    use jiff::Timestamp;
    use orco_state::{Phase, Restarts};

    fn recorded(phase: Phase, pid: Option<u32>, started_ms: i64) -> Recorded {
        Recorded {
            phase,
            pid,
            started_at: Some(Timestamp::from_millisecond(started_ms).expect("a valid time")),
            restarts: Restarts::default(),
            reason: None,
        }
    }

    #[test]
    fn the_end_of_the_run_last_seen_is_on_record_only_once_the_state_has_it_ended() {
        assert!(recorded(Phase::Failed, Some(7), 1_000).holds_end_of(7, 1_000));
        assert!(recorded(Phase::Stopped, Some(7), 1_000).holds_end_of(7, 1_000));
        assert!(!recorded(Phase::Running { ready: true }, Some(7), 1_000).holds_end_of(7, 1_000));
        assert!(!recorded(Phase::Stopping, Some(7), 1_000).holds_end_of(7, 1_000));
        // Another process the state never saw ended: not on record.
        assert!(!recorded(Phase::Failed, Some(7), 1_000).holds_end_of(8, 1_500));
    }

    #[test]
    fn a_run_older_than_the_last_recorded_start_has_its_end_on_record() {
        // The last start failed before a process ran (no pid): the runtime's ended run is
        // the one before it.
        assert!(recorded(Phase::Failed, None, 2_000).holds_end_of(7, 1_000));
        assert!(recorded(Phase::Starting, None, 2_000).holds_end_of(7, 1_000));
        assert!(!recorded(Phase::Starting, None, 2_000).holds_end_of(7, 2_000));
    }
}

//! Every state, phase and kind the API names, as enums: what the daemon sends and clients
//! match on. Each serializes as the lowercase word the API has always sent (`running`,
//! `scaled-to-zero`, `rolled_back`), which [`as_str`](WorkloadState::as_str) and `Display`
//! also give.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Writes `as_str` for `Display`.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    )*};
}

display_as_str!(
    WorkloadKind,
    WorkloadState,
    InstancePhase,
    RolloutStatus,
    JobState,
    TaskState,
    NodeStatus,
    Role,
    HealthStatus,
    ClusterMode
);

/// What a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// A service: replicas that keep running.
    Service,
    /// A job: runs of a graph of tasks.
    Job,
}

impl WorkloadKind {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Service => "service",
            WorkloadKind::Job => "job",
        }
    }
}

/// A workload's one-word summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadState {
    /// Nothing of it started yet (a service waiting on a dependency, or not created yet).
    Pending,
    /// Some instance is starting, or fewer than the replicas run.
    Starting,
    /// Every replica runs (a job: its latest run is under way).
    Running,
    /// Some instance failed while others run.
    Degraded,
    /// An instance waits out its restart backoff.
    Restarting,
    /// Its instances are being stopped.
    Stopping,
    /// Stopped by `orco stop` (or the stack was stopped).
    Stopped,
    /// `replicas: 0` and no instance left.
    ScaledToZero,
    /// Every instance (a job: its latest run) succeeded.
    Succeeded,
    /// Every instance failed, or a job's latest run failed.
    Failed,
    /// A job that has never run.
    NotRun,
    /// A job whose latest run was cancelled.
    Cancelled,
}

impl WorkloadState {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadState::Pending => "pending",
            WorkloadState::Starting => "starting",
            WorkloadState::Running => "running",
            WorkloadState::Degraded => "degraded",
            WorkloadState::Restarting => "restarting",
            WorkloadState::Stopping => "stopping",
            WorkloadState::Stopped => "stopped",
            WorkloadState::ScaledToZero => "scaled-to-zero",
            WorkloadState::Succeeded => "succeeded",
            WorkloadState::Failed => "failed",
            WorkloadState::NotRun => "not-run",
            WorkloadState::Cancelled => "cancelled",
        }
    }

    /// Whether it is a failure a client should report as one (`failed`, `degraded`).
    pub fn is_failure(self) -> bool {
        matches!(self, WorkloadState::Failed | WorkloadState::Degraded)
    }
}

/// An instance's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstancePhase {
    /// Created, not started yet (waiting on a dependency, or in backoff).
    Pending,
    /// Being started.
    Starting,
    /// Its process or container runs.
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped on purpose.
    Stopped,
    /// Exited with success and is not restarted.
    Succeeded,
    /// Failed and is not restarted (or waits for its restart).
    Failed,
}

impl InstancePhase {
    /// Every phase, for metrics that list each one.
    pub const ALL: [InstancePhase; 7] = [
        InstancePhase::Pending,
        InstancePhase::Starting,
        InstancePhase::Running,
        InstancePhase::Stopping,
        InstancePhase::Stopped,
        InstancePhase::Succeeded,
        InstancePhase::Failed,
    ];

    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            InstancePhase::Pending => "pending",
            InstancePhase::Starting => "starting",
            InstancePhase::Running => "running",
            InstancePhase::Stopping => "stopping",
            InstancePhase::Stopped => "stopped",
            InstancePhase::Succeeded => "succeeded",
            InstancePhase::Failed => "failed",
        }
    }

    /// Whether a process or container may be running (`starting`, `running`, `stopping`).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            InstancePhase::Starting | InstancePhase::Running | InstancePhase::Stopping
        )
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// Instances are being replaced.
    Progressing,
    /// Every instance runs the new revision.
    Complete,
    /// It failed; the previous spec is being rolled out again.
    RollingBack,
    /// It failed and was rolled back.
    RolledBack,
}

impl RolloutStatus {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Progressing => "progressing",
            RolloutStatus::Complete => "complete",
            RolloutStatus::RollingBack => "rolling_back",
            RolloutStatus::RolledBack => "rolled_back",
        }
    }
}

/// Where a job run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Its tasks run or wait.
    Running,
    /// A scheduled run that waits for an earlier run of its job (`overlap: queue`).
    Queued,
    /// Cancelled; its running tasks are being stopped.
    Cancelling,
    /// Every task succeeded (or was allowed to fail).
    Succeeded,
    /// A task failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl JobState {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Queued => "queued",
            JobState::Cancelling => "cancelling",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Where a task of a job run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Its dependencies do not hold yet, or no slot is free.
    Waiting,
    /// Being started.
    Starting,
    /// It runs.
    Running,
    /// An attempt failed; the next waits out its backoff.
    Backoff,
    /// It succeeded.
    Succeeded,
    /// It failed (no retry left).
    Failed,
    /// It will not run (a dependency ended the wrong way, or the run was cancelled).
    Skipped,
}

impl TaskState {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Backoff => "backoff",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
        }
    }

    /// Whether the task has ended (`succeeded`, `failed`, `skipped`).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Skipped
        )
    }
}

/// What the SWIM group says of a member (a hint: a node's lease decides its loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwimState {
    /// It answers probes.
    Alive,
    /// A probe failed; it may still refute.
    Suspect,
    /// It did not refute: the group holds it down.
    Down,
}

impl SwimState {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            SwimState::Alive => "alive",
            SwimState::Suspect => "suspect",
            SwimState::Down => "down",
        }
    }
}

/// What a member of the SWIM group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// `orco server`.
    Server,
    /// `orco agent`.
    Agent,
}

impl MemberRole {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Server => "server",
            MemberRole::Agent => "agent",
        }
    }
}

/// A node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// It answers and takes instances.
    Ready,
    /// Its lease lapsed: no new instances until it is back.
    Unreachable,
    /// Its lease lapsed beyond the grace: its instances went elsewhere.
    Lost,
    /// Removed (`orco node remove`).
    Left,
}

impl NodeStatus {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Ready => "ready",
            NodeStatus::Unreachable => "unreachable",
            NodeStatus::Lost => "lost",
            NodeStatus::Left => "left",
        }
    }
}

/// What an API token may do; each role may do all the one before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every `GET`, event watches, logs, `/metrics`.
    Read,
    /// Plus apply, remove, start, stop, restart, scale, rollback, job submit/cancel/retry.
    Operate,
    /// Plus tokens, nodes and the cluster.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role: read, operate or admin"))
    }
}

/// `GET /health`'s status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The daemon answers.
    Healthy,
}

impl HealthStatus {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
        }
    }
}

/// How the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// One machine: the daemon is control plane and node at once.
    SingleNode,
    /// A cluster server: its nodes are agents that joined it.
    Server,
}

impl ClusterMode {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::SingleNode => "single-node",
            ClusterMode::Server => "server",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    #[test]
    fn every_state_serializes_as_the_word_it_displays() {
        let workload = [
            WorkloadState::Pending,
            WorkloadState::Starting,
            WorkloadState::Running,
            WorkloadState::Degraded,
            WorkloadState::Restarting,
            WorkloadState::Stopping,
            WorkloadState::Stopped,
            WorkloadState::ScaledToZero,
            WorkloadState::Succeeded,
            WorkloadState::Failed,
            WorkloadState::NotRun,
            WorkloadState::Cancelled,
        ];
        for s in workload {
            assert_eq!(json(s), s.as_str());
            let back: WorkloadState = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(back, s);
        }
        for p in InstancePhase::ALL {
            assert_eq!(json(p), p.as_str());
        }
        for r in [
            RolloutStatus::Progressing,
            RolloutStatus::Complete,
            RolloutStatus::RollingBack,
            RolloutStatus::RolledBack,
        ] {
            assert_eq!(json(r), r.as_str());
        }
        for j in [
            JobState::Running,
            JobState::Queued,
            JobState::Cancelling,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(json(j), j.as_str());
        }
        for t in [
            TaskState::Waiting,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Backoff,
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Skipped,
        ] {
            assert_eq!(json(t), t.as_str());
        }
        assert_eq!(json(WorkloadKind::Service), "service");
        assert_eq!(json(WorkloadKind::Job), "job");
        assert_eq!(json(NodeStatus::Ready), "ready");
        assert_eq!(json(HealthStatus::Healthy), "healthy");
        assert_eq!(json(ClusterMode::SingleNode), "single-node");
    }

    #[test]
    fn an_unknown_state_word_is_refused() {
        assert!(serde_json::from_str::<WorkloadState>("\"Running\"").is_err());
        assert!(serde_json::from_str::<InstancePhase>("\"crashed\"").is_err());
    }
}

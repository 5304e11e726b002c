//! [`EventType`]: the kind of an event of the log as the API names it (`instance_started`),
//! one variant per kind of the engine's event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kind of an event (`EventView::kind`), spelled as the event log spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// `stack_applied`.
    StackApplied,
    /// `instance_revised`.
    InstanceRevised,
    /// `rollout_finished`.
    RolloutFinished,
    /// `rollout_rolled_back`.
    RolloutRolledBack,
    /// `rollback_requested`.
    RollbackRequested,
    /// `rollout_restart_requested`.
    RolloutRestartRequested,
    /// `stack_removed`.
    StackRemoved,
    /// `scale_changed`.
    ScaleChanged,
    /// `instance_created`.
    InstanceCreated,
    /// `instance_starting`.
    InstanceStarting,
    /// `instance_started`.
    InstanceStarted,
    /// `instance_pulling`.
    InstancePulling,
    /// `instance_ready`.
    InstanceReady,
    /// `instance_unready`.
    InstanceUnready,
    /// `instance_stopping`.
    InstanceStopping,
    /// `instance_exited`.
    InstanceExited,
    /// `instance_stopped`.
    InstanceStopped,
    /// `instance_failed`.
    InstanceFailed,
    /// `instance_backoff`.
    InstanceBackoff,
    /// `instance_failures_reset`.
    InstanceFailuresReset,
    /// `instance_removed`.
    InstanceRemoved,
    /// `restart_requested`.
    RestartRequested,
    /// `stop_requested`.
    StopRequested,
    /// `stack_stop_requested`.
    StackStopRequested,
    /// `start_requested`.
    StartRequested,
    /// `job_submitted`.
    JobSubmitted,
    /// `job_finished`.
    JobFinished,
    /// `task_started`.
    TaskStarted,
    /// `task_progress`.
    TaskProgress,
    /// `task_succeeded`.
    TaskSucceeded,
    /// `task_failed`.
    TaskFailed,
    /// `task_skipped`.
    TaskSkipped,
    /// `task_starting`.
    TaskStarting,
    /// `task_retrying`.
    TaskRetrying,
    /// `job_cancel_requested`.
    JobCancelRequested,
    /// `job_retry_requested`.
    JobRetryRequested,
    /// `job_scheduled`.
    JobScheduled,
    /// `scheduled_run_skipped`.
    ScheduledRunSkipped,
    /// `keeper_lost`.
    KeeperLost,
    /// `node_joined`.
    NodeJoined,
    /// `node_unreachable`.
    NodeUnreachable,
    /// `node_lost`.
    NodeLost,
    /// `node_cordoned`.
    NodeCordoned,
    /// `node_drain_requested`.
    NodeDrainRequested,
    /// `node_labeled`.
    NodeLabeled,
    /// `node_tainted`.
    NodeTainted,
    /// `instance_evicted`.
    InstanceEvicted,
    /// `placement_broken`.
    PlacementBroken,
    /// `placement_restored`.
    PlacementRestored,
    /// `node_removed`.
    NodeRemoved,
    /// `node_events_stored`.
    NodeEventsStored,
    /// `instance_placed`.
    InstancePlaced,
    /// `join_token_created`.
    JoinTokenCreated,
    /// `join_token_revoked`.
    JoinTokenRevoked,
    /// `join_token_used`.
    JoinTokenUsed,
    /// `api_token_created`.
    ApiTokenCreated,
    /// `api_token_revoked`.
    ApiTokenRevoked,
}

impl EventType {
    /// Every kind.
    pub const ALL: [EventType; 57] = [
        EventType::StackApplied,
        EventType::InstanceRevised,
        EventType::RolloutFinished,
        EventType::RolloutRolledBack,
        EventType::RollbackRequested,
        EventType::RolloutRestartRequested,
        EventType::StackRemoved,
        EventType::ScaleChanged,
        EventType::InstanceCreated,
        EventType::InstanceStarting,
        EventType::InstanceStarted,
        EventType::InstancePulling,
        EventType::InstanceReady,
        EventType::InstanceUnready,
        EventType::InstanceStopping,
        EventType::InstanceExited,
        EventType::InstanceStopped,
        EventType::InstanceFailed,
        EventType::InstanceBackoff,
        EventType::InstanceFailuresReset,
        EventType::InstanceRemoved,
        EventType::RestartRequested,
        EventType::StopRequested,
        EventType::StackStopRequested,
        EventType::StartRequested,
        EventType::JobSubmitted,
        EventType::JobFinished,
        EventType::TaskStarted,
        EventType::TaskProgress,
        EventType::TaskSucceeded,
        EventType::TaskFailed,
        EventType::TaskSkipped,
        EventType::TaskStarting,
        EventType::TaskRetrying,
        EventType::JobCancelRequested,
        EventType::JobRetryRequested,
        EventType::JobScheduled,
        EventType::ScheduledRunSkipped,
        EventType::KeeperLost,
        EventType::NodeJoined,
        EventType::NodeUnreachable,
        EventType::NodeLost,
        EventType::NodeCordoned,
        EventType::NodeDrainRequested,
        EventType::NodeLabeled,
        EventType::NodeTainted,
        EventType::InstanceEvicted,
        EventType::PlacementBroken,
        EventType::PlacementRestored,
        EventType::NodeRemoved,
        EventType::NodeEventsStored,
        EventType::InstancePlaced,
        EventType::JoinTokenCreated,
        EventType::JoinTokenRevoked,
        EventType::JoinTokenUsed,
        EventType::ApiTokenCreated,
        EventType::ApiTokenRevoked,
    ];

    /// The name the log and the API spell it with.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StackApplied => "stack_applied",
            EventType::InstanceRevised => "instance_revised",
            EventType::RolloutFinished => "rollout_finished",
            EventType::RolloutRolledBack => "rollout_rolled_back",
            EventType::RollbackRequested => "rollback_requested",
            EventType::RolloutRestartRequested => "rollout_restart_requested",
            EventType::StackRemoved => "stack_removed",
            EventType::ScaleChanged => "scale_changed",
            EventType::InstanceCreated => "instance_created",
            EventType::InstanceStarting => "instance_starting",
            EventType::InstanceStarted => "instance_started",
            EventType::InstancePulling => "instance_pulling",
            EventType::InstanceReady => "instance_ready",
            EventType::InstanceUnready => "instance_unready",
            EventType::InstanceStopping => "instance_stopping",
            EventType::InstanceExited => "instance_exited",
            EventType::InstanceStopped => "instance_stopped",
            EventType::InstanceFailed => "instance_failed",
            EventType::InstanceBackoff => "instance_backoff",
            EventType::InstanceFailuresReset => "instance_failures_reset",
            EventType::InstanceRemoved => "instance_removed",
            EventType::RestartRequested => "restart_requested",
            EventType::StopRequested => "stop_requested",
            EventType::StackStopRequested => "stack_stop_requested",
            EventType::StartRequested => "start_requested",
            EventType::JobSubmitted => "job_submitted",
            EventType::JobFinished => "job_finished",
            EventType::TaskStarted => "task_started",
            EventType::TaskProgress => "task_progress",
            EventType::TaskSucceeded => "task_succeeded",
            EventType::TaskFailed => "task_failed",
            EventType::TaskSkipped => "task_skipped",
            EventType::TaskStarting => "task_starting",
            EventType::TaskRetrying => "task_retrying",
            EventType::JobCancelRequested => "job_cancel_requested",
            EventType::JobRetryRequested => "job_retry_requested",
            EventType::JobScheduled => "job_scheduled",
            EventType::ScheduledRunSkipped => "scheduled_run_skipped",
            EventType::KeeperLost => "keeper_lost",
            EventType::NodeJoined => "node_joined",
            EventType::NodeUnreachable => "node_unreachable",
            EventType::NodeLost => "node_lost",
            EventType::NodeCordoned => "node_cordoned",
            EventType::NodeDrainRequested => "node_drain_requested",
            EventType::NodeLabeled => "node_labeled",
            EventType::NodeTainted => "node_tainted",
            EventType::InstanceEvicted => "instance_evicted",
            EventType::PlacementBroken => "placement_broken",
            EventType::PlacementRestored => "placement_restored",
            EventType::NodeRemoved => "node_removed",
            EventType::NodeEventsStored => "node_events_stored",
            EventType::InstancePlaced => "instance_placed",
            EventType::JoinTokenCreated => "join_token_created",
            EventType::JoinTokenRevoked => "join_token_revoked",
            EventType::JoinTokenUsed => "join_token_used",
            EventType::ApiTokenCreated => "api_token_created",
            EventType::ApiTokenRevoked => "api_token_revoked",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is no event kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an event kind")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(text: &str) -> Result<EventType, UnknownEventType> {
        EventType::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| UnknownEventType(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_serializes_as_its_name_and_parses_back() {
        for kind in EventType::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
        }
        assert!("instance_exploded".parse::<EventType>().is_err());
    }
}

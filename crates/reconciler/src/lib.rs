//! The reconciler: a pure function from the state (desired and observed) and the time to a
//! [`Plan`]: the control-plane events to append and the assignments a node should run.
//!
//! It is idempotent and level-triggered: reconciling the same state twice gives the same plan,
//! and applying a plan's events then reconciling again converges (no events once the state
//! matches the stack files). It does no IO and reads no clock: `now` is an argument.
//!
//! - [`plan`]: [`reconcile`], [`Plan`]: the [`Assignment`]s (types of the node interface,
//!   `orco-interface`, re-exported here) a node should run.
//! - [`gate`]: dependency conditions (`require`) and why a dependent is [`Blocked`].
//! - [`rollout`]: which instances of a changed service are replaced next (rolling or
//!   recreate), and when a rollout is finished or rolled back.
//! - `moves`: instances leaving a drained or NoExecute-tainted node, through surge slots as
//!   a rolling update replaces instances.
//! - [`tasks`]: which tasks of job runs start, are skipped or end a run ([`TaskAssignment`]s).
//! - `periodic`: which due times of job schedules have come: a run, or a recorded skip.

pub mod gate;
mod moves;
mod periodic;
pub mod plan;
pub mod rollout;
pub mod tasks;

pub use gate::{Blocked, condition, why_blocked};
pub use orco_interface::{Assignment, Desired, LastSeen, Recorded, TaskAssignment, TaskDesired};
pub use plan::{Plan, instances_over_limit, instances_wanted, reconcile, reconcile_with};
pub use tasks::{DEFAULT_REPAIR_COOLDOWN, Limits};

use orco_state::EventKind;

/// Whether folding an event of this kind can change what [`reconcile`] decides. A task's
/// start and its progress cannot: they end no task, free no task slot, and no dependency
/// condition reads them. So the control loop need not reconcile after a burst of only such
/// events (a job of 10,000 tasks reports 10,000 starts).
pub fn may_change_plan(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::TaskStarted { .. } | EventKind::TaskProgress { .. }
    )
}

//! One `Event` type for every change, and `State::apply`, the deterministic fold over events.
//!
//! The event is both the engine's internal bus and the store's log (DESIGN.md §3). This crate
//! is pure: no IO, no clock, no randomness. Ids and timestamps arrive inside each event, so
//! folding the same events always yields the same [`State`].
//!
//! - [`id`]: typed ids (`StackName`, `WorkloadId`, `InstanceId`, `JobRunId`, `TaskId`) and
//!   their one-string forms (`demo/web-0`).
//! - [`event`]: [`Event`], [`EventKind`] and the values events carry.
//! - [`codec`]: the durable, versioned encoding of an event (`{"v":1,…}`) and of a state
//!   snapshot; old schema versions are upgraded on decode.
//! - [`node`]: nodes and join tokens ([`Node`], [`JoinToken`]).
//! - [`token`]: API tokens and their roles ([`ApiToken`], [`Role`]).
//! - [`state`]: [`State`], its parts and [`State::apply`].
//! - [`shared`]: [`SharedState`], a state folded by one writer and read as snapshots by many.

pub mod codec;
pub mod event;
pub mod id;
pub mod node;
pub mod shared;
pub mod state;
pub mod token;

pub use codec::{DecodeError, SCHEMA_VERSION};
pub use event::{Event, EventKind, ExitStatus, JobOutcome};
pub use id::{IdError, InstanceId, JobRunId, StackName, TaskId, WorkloadId};
pub use node::{Capacity, JoinToken, Node, NodeStatus};
pub use shared::SharedState;
pub use state::{
    Eviction, Instance, JobRun, Misplaced, Phase, Restarts, Revisions, Rollout, RolloutStatus,
    ScheduleState, StackState, State, TaskPhase, TaskRecord, spec_changed,
};
pub use token::{ApiToken, Role};

/// A position in the event log: the first event has revision 1; revision 0 is the empty log.
pub type Revision = u64;

#[cfg(feature = "testing")]
pub mod testing;

//! The node interface: everything that crosses between the control plane and a node —
//! assignments down, events up — as serializable values with a protocol version.
//!
//! On one machine (`orco daemon`, `orco up`) control plane and agent meet in one process
//! and hand these values to each other directly. In cluster mode (DESIGN.md §11) the same
//! values travel over one long-lived stream each way per node, as [`protocol`] describes:
//!
//! - down: the node's whole [`AssignmentSet`] with the node's epoch ([`Position`]), then
//!   [`Changes`]; a node refuses assignments older than the highest position it has seen;
//!   the set carries the routing mesh ([`Route`]: each proxied published port and the
//!   [`Endpoint`]s of other nodes behind it);
//! - up: a [`NodeReport`] when the stream opens, then events ([`orco_state::Event`]) in
//!   [`EventBatch`]es, each acknowledged ([`Ack`]) by the revision it was stored at,
//!   re-sent after a reconnect and stored once by [`EventId`].
//!
//! - [`assignment`]: [`Assignment`] (one instance, with [`Desired`], [`LastSeen`],
//!   [`Recorded`]) and [`TaskAssignment`] (one task attempt, with [`TaskDesired`]).
//! - [`protocol`]: the messages, their envelope ([`encode`], [`decode`],
//!   [`PROTOCOL_VERSION`]) and the node's side of taking assignments
//!   ([`AssignmentSet::accept`]).
//!
//! The reconciler computes assignments, the agent runs them; neither depends on the other.

pub mod assignment;
pub mod protocol;

pub use assignment::{Assignment, Desired, LastSeen, Recorded, TaskAssignment, TaskDesired};
pub use protocol::{
    Ack, AssignmentSet, Changes, Down, Endpoint, EndpointState, Envelope, EventBatch, EventId,
    GossipOffer, InterfaceError, Lease, LogChunk, LogRequest, LogsCancel, NodeReport,
    PROTOCOL_VERSION, Position, Renew, Route, Up, decode, encode,
};

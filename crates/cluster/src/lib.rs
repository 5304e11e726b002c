//! Cluster mode (DESIGN.md §11): the node interface carried over the network between
//! `orco server` and `orco agent`, node leases, node loss and the agent's fence.
//!
//! - [`server`]: the server's side of a node's stream ([`Streams`]) and the lease watcher
//!   that declares nodes unreachable, then lost.
//! - [`member`]: the agent's side ([`Member`]): its assignments, its events numbered and
//!   re-sent until acknowledged, renewals every second, and the fence.
//! - [`lease`]: leases on the server, purely ([`Leases`]).
//! - [`logs`]: a node's answers to the control plane's log requests (logs stay on the node).
//! - [`deadline`]: the agent's lease deadline on the boot clock, purely ([`Deadline`]).
//! - [`outbox`]: a node's events numbered, kept and re-sent until acknowledged, purely.
//! - [`dial`]: an agent's TLS connections to a server: a request, or the upgrade to its
//!   stream.
//! - [`frame`]: one JSON envelope per line on a byte stream.
//! - [`gossip`]: SWIM membership with foca over UDP, every datagram authenticated with the
//!   cluster's gossip key: a hint (faster suspicion, the peer view), never a loss.

pub mod deadline;
pub mod dial;
pub mod frame;
pub mod gossip;
pub mod lease;
pub mod logs;
pub mod member;
pub mod outbox;
pub mod server;

pub use deadline::{Deadline, boot_ms};
pub use lease::{Lapse, Leases};
pub use member::{Identity, Member};
pub use orco_interface::{LogChunk, LogRequest};
pub use server::{DEFAULT_GRACE, DEFAULT_LEASE, MembersView, Streams};

/// Why a stream or a join failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The connection failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A server could not be reached or its TLS refused.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        reason: String,
    },
    /// A message that is not one of the interface, or out of place.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A message of the interface that could not be read.
    #[error(transparent)]
    Interface(#[from] orco_interface::InterfaceError),
    /// No renewal was granted within the lease: the node fenced its instances and opens
    /// a new stream.
    #[error("the lease ended without a renewal: the instances were fenced")]
    LeaseEnded,
    /// The peer may not do this.
    #[error("refused: {0}")]
    Refused(String),
    /// The engine could not take it.
    #[error(transparent)]
    Control(#[from] orco_control::ControlError),
}

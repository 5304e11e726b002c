//! The messages of the interface, as the cluster puts them on the wire: one long-lived
//! stream each way per node.
//!
//! - Down ([`Down`]): first the node's whole [`AssignmentSet`] at a [`Position`] (the node's
//!   epoch and the store revision it was computed at), then changes to it. A node keeps the
//!   highest position it has seen and refuses anything older ([`AssignmentSet::accept`]).
//! - Up ([`Up`]): a [`NodeReport`] when the stream opens, then events in [`EventBatch`]es,
//!   each acknowledged by the revision it was stored at ([`Down::Ack`]). A node re-sends
//!   what was not acknowledged after a reconnect; the server stores an event once, by its
//!   [`EventId`].
//!
//! Every message travels in an [`Envelope`] that carries [`PROTOCOL_VERSION`]: a peer that
//! speaks another version is refused with [`InterfaceError::Version`], never misread.

use std::collections::BTreeMap;

use std::net::SocketAddr;

use orco_state::{Capacity, Event, InstanceId, Revision, TaskId, WorkloadId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Assignment, TaskAssignment};

/// The version of the interface this build speaks. Raised on any change to a message that an
/// older peer would misread.
pub const PROTOCOL_VERSION: u32 = 4;

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// The peer speaks another version of the interface.
    #[error("the peer speaks interface version {theirs}, this node speaks {ours}")]
    Version {
        /// Ours, [`PROTOCOL_VERSION`].
        ours: u32,
        /// The peer's.
        theirs: u32,
    },
    /// The bytes are not a message of the interface.
    #[error("not a message of the node interface: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Assignments older than ones the node already has: from a deposed leader, or
    /// reordered. The node keeps what it has.
    #[error("assignments at {got} are older than the {seen} this node has seen")]
    Stale {
        /// The position of the refused message.
        got: Position,
        /// The highest position the node has seen.
        seen: Position,
    },
    /// Changes that do not follow the full set they change (none was received yet, or it
    /// was of another epoch): the node asks for the whole set again.
    #[error("changes at {got} without the full assignment set of their epoch")]
    Unanchored {
        /// The position of the changes.
        got: Position,
    },
}

/// Where assignments stand in the cluster's history. Ordered by epoch, then revision: a
/// node's epoch is raised when the node is declared lost, so everything decided for it before
/// that is older than anything decided after, whatever the revisions.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    /// The node's epoch.
    pub epoch: u64,
    /// The store revision the assignments were computed at.
    pub revision: Revision,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epoch {} revision {}", self.epoch, self.revision)
    }
}

/// Everything one node should run: its instances and its task attempts. An instance or task
/// attempt the node runs that is not here is to be stopped and forgotten.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentSet {
    /// Where the set stands.
    pub at: Position,
    /// Every instance the node should own, by id.
    pub instances: BTreeMap<InstanceId, Assignment>,
    /// Every task attempt the node should own, by task.
    pub tasks: BTreeMap<TaskId, TaskAssignment>,
    /// The control plane has nothing left to create: instances the runtime ran before the
    /// node's agent started, and that nobody claimed, may now be stopped as orphans.
    pub settled: bool,
    /// The routing mesh: every proxied published port of the cluster, with the instances
    /// of other nodes behind it. The node's built-in proxy listens on each and forwards to
    /// them as to its own instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// A proxied published port of a service and its instances on other nodes (DESIGN.md §11,
/// routing mesh). The node's own instances are not listed: its agent puts them behind its
/// proxy itself, as on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The service.
    pub workload: WorkloadId,
    /// The published address the proxy listens on (the port's ip, or 127.0.0.1).
    pub addr: SocketAddr,
    /// The service's instances on other nodes, by instance id.
    pub endpoints: Vec<Endpoint>,
}

/// One instance on another node behind a [`Route`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The instance.
    pub instance: InstanceId,
    /// The node it runs on.
    pub node: String,
    /// Where it listens: its node's address and its own port.
    pub addr: SocketAddr,
    /// Whether the proxy may send it new connections.
    pub state: EndpointState,
    /// How long its open connections may go on once it drains (its stop timeout), ms.
    pub grace_ms: u64,
}

/// Where an [`Endpoint`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointState {
    /// Ready: sent new connections, round robin.
    Ready,
    /// Running but not ready (or its node is unreachable): sent no new connection; its
    /// open ones go on.
    Unready,
    /// Being stopped: sent no new connection; its open ones go on for the grace.
    Draining,
}

impl Endpoint {
    /// The id its proxy backend goes by: `NODE/STACK/SERVICE-N`, never an id of a local
    /// instance's backend (a runtime name).
    pub fn backend_id(&self) -> String {
        format!("{}/{}", self.node, self.instance)
    }
}

/// Changes to an [`AssignmentSet`]: what is new or changed, and what is gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Where the set stands once they are applied.
    pub at: Position,
    /// Instances assigned anew or changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instances: BTreeMap<InstanceId, Assignment>,
    /// Instances no longer assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<InstanceId>,
    /// Task attempts assigned anew or changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<TaskId, TaskAssignment>,
    /// Task attempts no longer assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_tasks: Vec<TaskId>,
    /// The set's new `settled`.
    pub settled: bool,
    /// The whole routing mesh again, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
}

impl AssignmentSet {
    /// What turns `self` into `next`.
    pub fn changes_to(&self, next: &AssignmentSet) -> Changes {
        Changes {
            at: next.at,
            instances: next
                .instances
                .iter()
                .filter(|(id, a)| self.instances.get(*id) != Some(*a))
                .map(|(id, a)| (id.clone(), a.clone()))
                .collect(),
            removed: self
                .instances
                .keys()
                .filter(|id| !next.instances.contains_key(*id))
                .cloned()
                .collect(),
            tasks: next
                .tasks
                .iter()
                .filter(|(id, a)| self.tasks.get(*id) != Some(*a))
                .map(|(id, a)| (id.clone(), a.clone()))
                .collect(),
            removed_tasks: self
                .tasks
                .keys()
                .filter(|id| !next.tasks.contains_key(*id))
                .cloned()
                .collect(),
            settled: next.settled,
            routes: (self.routes != next.routes).then(|| next.routes.clone()),
        }
    }

    /// Takes what came down: a full set replaces this one, changes of the same epoch apply
    /// to it. Anything older than this set is refused ([`InterfaceError::Stale`]) and
    /// changes this set cannot anchor ([`InterfaceError::Unanchored`]), leaving it as it is.
    /// An acknowledgement changes nothing.
    pub fn accept(&mut self, down: Down) -> Result<(), InterfaceError> {
        match down {
            Down::Assignments(set) => {
                if set.at < self.at {
                    return Err(InterfaceError::Stale {
                        got: set.at,
                        seen: self.at,
                    });
                }
                *self = set;
            }
            Down::Changes(changes) => {
                if changes.at < self.at {
                    return Err(InterfaceError::Stale {
                        got: changes.at,
                        seen: self.at,
                    });
                }
                if changes.at.epoch != self.at.epoch || self.at == Position::default() {
                    return Err(InterfaceError::Unanchored { got: changes.at });
                }
                self.at = changes.at;
                self.settled = changes.settled;
                for id in &changes.removed {
                    self.instances.remove(id);
                }
                for id in &changes.removed_tasks {
                    self.tasks.remove(id);
                }
                self.instances.extend(changes.instances);
                self.tasks.extend(changes.tasks);
                if let Some(routes) = changes.routes {
                    self.routes = routes;
                }
            }
            Down::Ack(_)
            | Down::Lease(_)
            | Down::Logs(_)
            | Down::LogsCancel(_)
            | Down::Gossip(_) => {}
        }
        Ok(())
    }
}

/// What the control plane sends a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Down {
    /// The node's whole assignment set: the first message, and again after a reconnect or a
    /// new epoch.
    Assignments(AssignmentSet),
    /// Changes to the set last sent.
    Changes(Changes),
    /// Events of the node stored.
    Ack(Ack),
    /// A renewal of the node's lease granted.
    Lease(Lease),
    /// Read the node's logs (they stay on the node: DESIGN.md §11).
    Logs(LogRequest),
    /// Stop answering a log request (its reader went away).
    LogsCancel(LogsCancel),
    /// Join the cluster's SWIM group (a hint of who is up; never what declares a node
    /// lost): the key that authenticates its datagrams, and where the server gossips. Sent
    /// after the first acknowledgement of every stream.
    Gossip(GossipOffer),
}

/// The cluster's gossip group, handed to a node over its mutual-TLS stream.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GossipOffer {
    /// The key every datagram is authenticated with (32 bytes, hex).
    pub key: String,
    /// The server's name in the group.
    pub server: String,
    /// The server's generation in the group.
    pub generation: u64,
    /// Where the server gossips (UDP). An unspecified IP (`0.0.0.0`) means the address the
    /// node reached the server at.
    pub address: std::net::SocketAddr,
}

impl std::fmt::Debug for GossipOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipOffer")
            .field("server", &self.server)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A reading of a node's logs, asked for by the control plane on behalf of an API client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRequest {
    /// Chosen by the control plane; every [`LogChunk`] of the answer carries it.
    pub id: u64,
    /// The stack.
    pub stack: String,
    /// Only this workload (a service or job name, or `JOB/TASK`).
    pub workload: Option<String>,
    /// Only this instance (`SERVICE-N`).
    pub instance: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only records whose message matches this regular expression.
    pub grep: Option<String>,
    /// Only records at least this severe (a level's name).
    pub level: Option<String>,
    /// At most this many records of history: the most recent ones.
    pub tail: Option<usize>,
    /// Keep sending new records after the history.
    pub follow: bool,
}

/// The end of a log request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsCancel {
    /// The request's id.
    pub id: u64,
}

/// A piece of the answer to a [`LogRequest`]: NDJSON records, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    /// The request's id.
    pub id: u64,
    /// Records, one JSON object per line (a line `{"lost":N}` counts records a slow reader
    /// missed).
    pub lines: String,
    /// The history is complete: what follows is the live tail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history_end: bool,
    /// The answer is complete (after the history when not following; on an error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
    /// Why the node could not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A node's lease renewed: the node may run its placements until `sent_ms + lease_ms` on its
/// own clock (the renewal's send time, never its receive time, so that a delay in transit
/// only shortens the lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The send time of the renewal granted, as the node wrote it (its boot clock, ms).
    pub sent_ms: u64,
    /// How long the lease lasts from then.
    pub lease_ms: u64,
}

/// Events of a node stored by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    /// Every event of the node up to this sequence number (inclusive) is stored.
    pub through: u64,
    /// The store revision the last of them was stored at.
    pub revision: Revision,
}

/// What a node sends the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Up {
    /// Who the node is and where it stands: the first message of a stream.
    Report(NodeReport),
    /// Events, in the order they happened.
    Events(EventBatch),
    /// A piece of the answer to a log request.
    Logs(LogChunk),
    /// A renewal of the node's lease, sent every second.
    Renew(Renew),
}

/// A node asks for its lease to be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renew {
    /// When the node sent it, on its boot clock (CLOCK_BOOTTIME, ms: it runs during
    /// suspend).
    pub sent_ms: u64,
}

/// A node's account of itself when its stream opens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// The highest position of assignments the node has seen (it refuses older ones).
    pub seen: Position,
    /// The sequence number of the last event the control plane acknowledged; everything
    /// after it is sent again.
    pub acknowledged: u64,
    /// What the node runs, by runtime name: instances and task attempts its agent
    /// supervises or found running when it started.
    pub running: Vec<String>,
    /// The address the node reached the control plane from.
    #[serde(default)]
    pub address: String,
    /// The machine's cores and memory.
    #[serde(default)]
    pub capacity: Capacity,
    /// The capacity minus the node's reserve.
    #[serde(default)]
    pub allocatable: Capacity,
    /// Its labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its taints, `key=value[:NoSchedule|NoExecute]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
}

/// The id of an event a node reported: the node and the event's sequence number on it.
/// Events are stored once by id, however often they are sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId {
    /// The node that reported it.
    pub node: String,
    /// Its place among the node's events, from 1, without gaps.
    pub seq: u64,
}

/// Events of one node, in order, from sequence number `first` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBatch {
    /// The node.
    pub node: String,
    /// The sequence number of the first event.
    pub first: u64,
    /// The events.
    pub events: Vec<Event>,
}

impl EventBatch {
    /// Each event with its id.
    pub fn ids(&self) -> impl Iterator<Item = (EventId, &Event)> {
        (self.first..).zip(&self.events).map(|(seq, event)| {
            (
                EventId {
                    node: self.node.clone(),
                    seq,
                },
                event,
            )
        })
    }

    /// The sequence number of the last event (`first - 1` when empty).
    pub fn last(&self) -> u64 {
        (self.first + self.events.len() as u64).saturating_sub(1)
    }
}

/// A message with the version of the interface it is written in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The interface version, [`PROTOCOL_VERSION`] when this build wrote it.
    pub version: u32,
    /// The message.
    pub message: T,
}

/// The version alone, read before the message so that a message of another version is
/// refused for its version rather than for its shape.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// `message` as bytes on the wire (JSON), in an envelope of [`PROTOCOL_VERSION`].
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, InterfaceError> {
    #[derive(Serialize)]
    struct Borrowed<'a, T> {
        version: u32,
        message: &'a T,
    }
    Ok(serde_json::to_vec(&Borrowed {
        version: PROTOCOL_VERSION,
        message,
    })?)
}

/// The message in `bytes`: refused when its envelope is of another version.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, InterfaceError> {
    let VersionOnly { version } = serde_json::from_slice(bytes)?;
    if version != PROTOCOL_VERSION {
        return Err(InterfaceError::Version {
            ours: PROTOCOL_VERSION,
            theirs: version,
        });
    }
    let envelope: Envelope<T> = serde_json::from_slice(bytes)?;
    Ok(envelope.message)
}

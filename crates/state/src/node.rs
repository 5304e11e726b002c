//! Nodes and join tokens as the log knows them (DESIGN.md §11): who joined, with what
//! capacity, labels and taints, whether its lease holds, and its epoch.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a node offers: cores in thousandths and memory in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// Thousandths of a core.
    pub cpu_millis: u64,
    /// Bytes.
    pub memory: u64,
}

/// Whether a node's placements are alive (DESIGN.md §11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Its lease holds: it takes new instances unless cordoned.
    #[default]
    Ready,
    /// Its lease lapsed; its instances stay where they are until it is declared lost.
    Unreachable,
    /// Its lease lapsed beyond the grace: its instances were placed elsewhere.
    Lost,
    /// Removed on purpose (`orco node remove`): its certificate is no longer honoured.
    Left,
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeStatus::Ready => "ready",
            NodeStatus::Unreachable => "unreachable",
            NodeStatus::Lost => "lost",
            NodeStatus::Left => "left",
        })
    }
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// The address the node's agent reached the server from.
    pub address: String,
    /// The machine's cores and memory (or `--capacity`).
    pub capacity: Capacity,
    /// What instances' requests may add up to: the capacity minus the node's reserve.
    pub allocatable: Capacity,
    /// Its labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its taints, `key=value[:NoSchedule|NoExecute]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
    /// Whether its lease holds.
    pub status: NodeStatus,
    /// Since when it has this status.
    pub since: Timestamp,
    /// When it first joined.
    pub joined_at: Timestamp,
    /// A cordoned node takes no new instance.
    #[serde(default)]
    pub cordoned: bool,
    /// Being drained (`orco node drain`): its instances move to other nodes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// Its labels were set by hand (`orco node label`): an agent's rejoin keeps them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub labels_set: bool,
    /// Its taints were set by hand (`orco node taint`): an agent's rejoin keeps them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub taints_set: bool,
    /// Raised each time the node is declared lost: assignments of an older epoch are stale.
    #[serde(default)]
    pub epoch: u64,
    /// The sequence number of the last of its events stored: a batch sent again after a
    /// reconnect is stored once.
    #[serde(default)]
    pub events_through: u64,
}

impl Node {
    /// Its NoExecute taints as (key, value): instances that do not tolerate one move off.
    pub fn no_execute(&self) -> impl Iterator<Item = (&str, &str)> {
        self.taints.iter().filter_map(|t| {
            let body = t.strip_suffix(":NoExecute")?;
            Some(body.split_once('=').unwrap_or((body, "")))
        })
    }

    /// Why an instance of a service with these `tolerations` must leave this node, if it
    /// must: the node is drained, or has a NoExecute taint it does not tolerate.
    pub fn must_leave(&self, tolerations: &[orco_spec::Toleration]) -> Option<String> {
        if self.draining {
            return Some("its node is drained".to_string());
        }
        self.no_execute()
            .find(|(k, v)| !tolerations.iter().any(|t| t.tolerates(k, v)))
            .map(|(k, v)| {
                let taint = if v.is_empty() {
                    k.to_string()
                } else {
                    format!("{k}={v}")
                };
                format!("its node is tainted {taint}:NoExecute, not tolerated")
            })
    }
}

/// A join token as the log keeps it: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinToken {
    /// The SHA-256 of its secret, hex.
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being accepted.
    pub expires: Timestamp,
    /// Whether more than one node may join with it.
    pub reusable: bool,
    /// The nodes that joined with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    /// Revoked by hand.
    #[serde(default)]
    pub revoked: bool,
}

impl JoinToken {
    /// Why a node may not join with it at `now`, if it may not.
    pub fn refusal(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked {
            Some("the join token was revoked")
        } else if now >= self.expires {
            Some("the join token has expired")
        } else if !self.reusable && !self.used_by.is_empty() {
            Some(
                "the join token was already used (create one with --reusable to join several nodes)",
            )
        } else {
            None
        }
    }
}

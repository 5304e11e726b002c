//! Placement repair: placed instances whose placement no longer holds, and anchor labels.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Snapshot, Taint};
use crate::view::View;

/// Why a placed instance must move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationReason {
    /// A `nodeSelector` label no longer matches the node's labels.
    NodeSelector {
        /// The selector, as `k=v,k=v`.
        selector: String,
    },
    /// The node gained a NoExecute taint the workload does not tolerate.
    NoExecute(Taint),
    /// No instance of the anchor is placed on the node any more.
    AnchorGone {
        /// The anchor's name.
        anchor: String,
    },
}

impl fmt::Display for ViolationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationReason::NodeSelector { selector } => {
                write!(f, "the node no longer matches nodeSelector {selector}")
            }
            ViolationReason::NoExecute(t) => write!(f, "the node is tainted {t}, not tolerated"),
            ViolationReason::AnchorGone { anchor } => {
                write!(
                    f,
                    "no instance of anchor {anchor} is placed on the node any more"
                )
            }
        }
    }
}

/// A placed instance to move, by its index in [`Snapshot::placed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index into [`Snapshot::placed`].
    pub placed: usize,
    /// Why.
    pub reason: ViolationReason,
}

/// Every placed instance whose placement no longer holds, in the order of
/// [`Snapshot::placed`]. Capacity is not re-checked (requests were admitted when placed);
/// instances on nodes that are not ready are left to node-loss handling.
pub fn violations(snapshot: &Snapshot) -> Vec<Violation> {
    let view = View::new(snapshot);
    let mut out = Vec::new();
    for (i, p) in snapshot.placed.iter().enumerate() {
        let (Some(w), Some(_)) = (
            snapshot.workloads.get(p.workload),
            snapshot.nodes.get(p.node),
        ) else {
            continue;
        };
        let reason = if !view.selector_matches(p.workload, p.node) {
            Some(ViolationReason::NodeSelector {
                selector: crate::why::selector_text(&w.placement),
            })
        } else if view.no_execute_untolerated(p.workload, p.node) {
            let tolerations = &w.placement.tolerations;
            snapshot.nodes[p.node]
                .taints
                .iter()
                .find(|t| {
                    t.effect == crate::model::Effect::NoExecute
                        && !tolerations.iter().any(|x| x.tolerates(&t.key, &t.value))
                })
                .cloned()
                .map(ViolationReason::NoExecute)
        } else {
            match view.resolved[p.workload].anchor {
                Some(anchor) if anchor.is_none_or(|a| view.count(a, p.node) == 0) => {
                    Some(ViolationReason::AnchorGone {
                        anchor: w.placement.anchor.clone().unwrap_or_default(),
                    })
                }
                _ => None,
            }
        };
        if let Some(reason) = reason {
            out.push(Violation { placed: i, reason });
        }
    }
    out
}

/// The derived labels `orco.anchor/STACK.SERVICE=true` per node index: one for every
/// workload that some other workload names as its anchor, on each node where it is placed.
pub fn anchor_labels(snapshot: &Snapshot) -> BTreeMap<usize, BTreeMap<String, String>> {
    let view = View::new(snapshot);
    let mut anchors: Vec<u32> = view
        .resolved
        .iter()
        .filter_map(|r| r.anchor.flatten())
        .collect();
    anchors.sort_unstable();
    anchors.dedup();
    let mut out: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for a in anchors {
        let id = &snapshot.workloads[a as usize].id;
        for &node in view.nodes_of[a as usize].keys() {
            out.entry(node as usize).or_default().insert(
                format!("orco.anchor/{}.{}", id.stack, id.name),
                "true".to_string(),
            );
        }
    }
    out
}

//! `schedule`: filters, then ranking, one pending instance at a time.
//!
//! Order: instances whose workload follows no anchor first (so that anchors placed in this
//! pass count for their followers), then the larger requests first (first-fit decreasing
//! packs best), then by name. For each instance the candidates come from the narrowest index
//! that applies — the nodes of its anchor, the nodes of its rarest `nodeSelector` label, or
//! the nodes by free memory (most free first for `balance`, least free that fits first for
//! `pack`) — and the first `SAMPLE` (16) nodes that pass every filter are ranked. When none
//! does, every node is checked again to count the reason per filter.

use std::cmp::Reverse;

use crate::hash::mix;
use crate::model::{Pending, Snapshot, Strategy};
use crate::view::View;
use crate::why::{Filter, Rejections, Why};

/// How many feasible nodes are ranked per instance.
pub(crate) const SAMPLE: usize = 16;

/// What became of one pending instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Placed on the node of this index in [`Snapshot::nodes`].
    Placed {
        /// The node's index.
        node: usize,
    },
    /// Stays pending, for this reason.
    Pending(Why),
}

/// Places `pending` on the nodes of `snapshot`: one decision per pending instance, in the
/// order given. Pure: the same snapshot, pending list and `seed` give the same decisions.
pub fn schedule(snapshot: &Snapshot, pending: &[Pending], seed: u64) -> Vec<Decision> {
    let mut view = View::new(snapshot);
    let mut order: Vec<usize> = (0..pending.len()).collect();
    let key = |i: &usize| {
        let p = &pending[*i];
        let w = snapshot.workloads.get(p.workload);
        let follower = w.is_some_and(|w| w.placement.anchor.is_some());
        let need = w.map(|w| w.requests).unwrap_or_default();
        (
            follower,
            Reverse(need.memory),
            Reverse(need.cpu_millis),
            p.instance.as_str(),
        )
    };
    order.sort_by(|a, b| key(a).cmp(&key(b)));
    let mut decisions = vec![Decision::Pending(Why::UnknownWorkload); pending.len()];
    for i in order {
        let p = &pending[i];
        let decision = decide(&view, p, seed);
        if let Decision::Placed { node } = decision {
            view.place(p.workload as u32, node);
        }
        decisions[i] = decision;
    }
    decisions
}

fn decide(view: &View<'_>, p: &Pending, seed: u64) -> Decision {
    let Some(w) = view.snap.workloads.get(p.workload) else {
        return Decision::Pending(Why::UnknownWorkload);
    };
    let wid = p.workload as u32;
    if let Some(anchor) = view.resolved[p.workload].anchor
        && !view.placed_any[p.workload]
        && !anchor.is_some_and(|a| view.ready_anywhere[a as usize])
    {
        return Decision::Pending(Why::AnchorNotReady {
            anchor: w.placement.anchor.clone().unwrap_or_default(),
        });
    }
    let salt = mix(seed, &p.instance, 0);
    let mut feasible: Vec<usize> = Vec::with_capacity(SAMPLE);
    let mut consider = |node: usize| {
        if view.check(wid, node, None).is_ok() {
            feasible.push(node);
        }
        feasible.len() >= SAMPLE
    };
    match candidate_list(view, p.workload) {
        Some(list) => {
            let start = if list.is_empty() {
                0
            } else {
                (salt % list.len() as u64) as usize
            };
            for k in 0..list.len() {
                if consider(list[(start + k) % list.len()] as usize) {
                    break;
                }
            }
        }
        None => match w.placement.strategy {
            Strategy::Balance => {
                for &(_, _, node) in view.by_free.iter().rev() {
                    if consider(node as usize) {
                        break;
                    }
                }
            }
            Strategy::Pack => {
                for &(_, _, node) in view.by_free.range((w.requests.memory, 0, 0)..) {
                    if consider(node as usize) {
                        break;
                    }
                }
            }
        },
    }
    let best = feasible
        .into_iter()
        .max_by_key(|&node| (score(view, wid, node), mix(seed, &p.instance, node as u64)));
    match best {
        Some(node) => Decision::Placed { node },
        None => Decision::Pending(Why::NoNodeFits(explain(view, wid))),
    }
}

/// The narrowest index of candidate nodes, when one applies: the anchor's nodes, or the
/// nodes of the rarest `nodeSelector` label.
fn candidate_list<'v>(view: &'v View<'_>, wid: usize) -> Option<std::borrow::Cow<'v, [u32]>> {
    if let Some(anchor) = view.resolved[wid].anchor {
        let nodes: Vec<u32> = anchor
            .map(|a| view.nodes_of[a as usize].keys().copied().collect())
            .unwrap_or_default();
        return Some(std::borrow::Cow::Owned(nodes));
    }
    let selector = &view.snap.workloads[wid].placement.node_selector;
    if selector.is_empty() {
        return None;
    }
    let empty: &[u32] = &[];
    let rarest = selector
        .iter()
        .map(|(k, v)| {
            view.label_index
                .get(&(k.as_str(), v.as_str()))
                .map_or(empty, |l| l.as_slice())
        })
        .min_by_key(|l| l.len())
        .unwrap_or(empty);
    Some(std::borrow::Cow::Borrowed(rarest))
}

/// Higher is better: room left (or used, for `pack`), fewer replicas of the same workload
/// on the node (`balance`), and a soft spread's skew.
fn score(view: &View<'_>, wid: u32, node: usize) -> i64 {
    let w = &view.snap.workloads[wid as usize];
    let alloc = view.snap.nodes[node].allocatable;
    let after = view.free[node].saturating_sub(&w.requests);
    let share = |left: u64, total: u64| -> i64 {
        if total == 0 {
            1000
        } else {
            (u128::from(left) * 1000 / u128::from(total)) as i64
        }
    };
    let room = (share(after.memory, alloc.memory) + share(after.cpu_millis, alloc.cpu_millis)) / 2;
    let mut score = match w.placement.strategy {
        Strategy::Balance => room - 100 * i64::from(view.count(wid, node)),
        Strategy::Pack => 1000 - room,
    };
    if w.placement.spread.as_ref().is_some_and(|s| !s.hard)
        && let Some((here, min)) = view.spread.get(&wid).and_then(|s| s.at(node))
    {
        score -= 200 * i64::from(here - min);
    }
    score
}

/// Every node checked, each counted under the first filter that rejects it.
fn explain(view: &View<'_>, wid: u32) -> Rejections {
    let w = &view.snap.workloads[wid as usize];
    let mut r = Rejections {
        nodes: view.snap.nodes.len() as u32,
        need: w.requests,
        selector: crate::why::selector_text(&w.placement),
        anchor: w.placement.anchor.clone(),
        spread: w
            .placement
            .spread
            .as_ref()
            .map(|s| format!("maxSkew {} by {}", s.max_skew, s.by)),
        ..Rejections::default()
    };
    for node in 0..view.snap.nodes.len() {
        if let Err(filter) = view.check(wid, node, Some(&mut r)) {
            r.add(filter);
        }
    }
    debug_assert!(Filter::ALL.iter().map(|f| r.count(*f)).sum::<u32>() <= r.nodes);
    r
}

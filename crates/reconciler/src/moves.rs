//! Moves: instances that must leave their node (it is drained, or has a NoExecute taint
//! their service does not tolerate) go to other nodes the way a rolling update replaces
//! instances (DESIGN.md §11). Pure, like the rest of the reconciler.
//!
//! Placement repair: an instance whose placement stopped holding (its node lost a label its
//! `nodeSelector` needs, or no instance of its anchor is placed on its node any more) is
//! marked ([`EventKind::PlacementBroken`]) and moves the same way once the repair cooldown
//! has passed, unless it holds again before ([`EventKind::PlacementRestored`]). An anchor's
//! restart or in-place rolling update keeps an anchor instance placed on the node, so its
//! followers stay; the cooldown absorbs an anchor that moves through a surge slot.
//!
//! A service with instances to move keeps up to `update.maxSurge` (at least 1) surge slots
//! above its replicas; the scheduler places them on nodes they may use. Each surge instance
//! that is ready lets one instance be evicted ([`EventKind::InstanceEvicted`]): its node
//! stops it, and once it no longer runs there it is unplaced and placed elsewhere like a new
//! instance. A slot therefore never runs on two nodes at once, and the service never has
//! fewer ready instances than before the move. When every evicted instance is ready on its
//! new node, the surge slots are removed. A service that cannot surge (a host port it
//! holds) moves one instance at a time, stopped before it starts elsewhere, as its rolling
//! updates do. Instances that do not run (pending, failed) are evicted at once: nothing of
//! them serves. Moves wait while a rollout of the service is under way.

use jiff::{SignedDuration, Timestamp};
use orco_spec::Service;
use orco_state::{EventKind, Instance, Phase, State, WorkloadId};

/// What the moves of one service do now.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Step {
    pub(crate) events: Vec<EventKind>,
    /// Slots above `replicas` kept (created when missing) while instances move.
    pub(crate) surge: u32,
    /// When a broken placement's cooldown ends, if one is waited out.
    pub(crate) wake_at: Option<Timestamp>,
}

/// Why the placement of `instance` (of a service with spec `spec` in `stack`) no longer
/// holds, if it does not: its node lacks a label of its `nodeSelector`, or no instance of
/// its anchor is placed there. An instance without a node, or on a node not on record,
/// has nothing to repair.
fn broken(
    state: &State,
    workload: &WorkloadId,
    spec: &Service,
    instance: &Instance,
) -> Option<String> {
    let name = instance.node.as_deref()?;
    let node = state.nodes.get(name)?;
    let placement = &spec.placement;
    if let Some((k, v)) = placement
        .node_selector
        .iter()
        .find(|(k, v)| node.labels.get(*k) != Some(*v))
    {
        return Some(format!("node {name} no longer has the label {k}={v}"));
    }
    let anchor = placement.anchor.as_deref()?;
    let anchor = WorkloadId::new(workload.stack.clone(), anchor.to_string()).ok()?;
    let here = state.instances_of(&anchor).any(|(_, a)| {
        a.node.as_deref() == Some(name) && !matches!(a.phase, Phase::Stopped | Phase::Succeeded)
    });
    (!here).then(|| {
        format!(
            "no instance of its anchor {} is placed on node {name}",
            anchor.name
        )
    })
}

/// The move step of one service with `replicas` slots and spec `spec`, at `now`; a broken
/// placement moves once `cooldown` has passed since it broke.
pub(crate) fn step(
    state: &State,
    workload: &WorkloadId,
    spec: &Service,
    replicas: u32,
    now: Timestamp,
    cooldown: SignedDuration,
) -> Step {
    let mut step = Step::default();
    if state.nodes.is_empty() {
        return step;
    }
    let instances: Vec<_> = state.instances_of(workload).collect();
    let tolerations = &spec.placement.tolerations;
    // Placements that broke or hold again are recorded; those broken for the cooldown move.
    let settled = |i: &Instance| i.evicted.is_none() && i.phase != Phase::Succeeded;
    let mut repairs = Vec::new();
    for (id, i) in &instances {
        if id.replica >= replicas || !settled(i) {
            continue;
        }
        match (broken(state, workload, spec, i), &i.misplaced) {
            (Some(reason), None) => step.events.push(EventKind::PlacementBroken {
                instance: (*id).clone(),
                reason,
            }),
            (None, Some(_)) => step.events.push(EventKind::PlacementRestored {
                instance: (*id).clone(),
            }),
            (Some(_), Some(m)) => {
                let due = m.since.checked_add(cooldown).unwrap_or(m.since);
                if due <= now {
                    repairs.push((*id, *i, format!("placement repair: {}", m.reason)));
                } else {
                    step.wake_at = Some(step.wake_at.map_or(due, |w: Timestamp| w.min(due)));
                }
            }
            (None, None) => {}
        }
    }
    // Slots to move: on a node they must leave, not moving yet, and not a one-shot
    // service's finished run; then those whose broken placement waited out its cooldown.
    let mut candidates: Vec<_> = instances
        .iter()
        .filter(|(id, i)| id.replica < replicas && settled(i))
        .filter_map(|(id, i)| {
            let node = state.nodes.get(i.node.as_deref()?)?;
            let reason = node.must_leave(tolerations)?;
            Some((*id, *i, reason))
        })
        .collect();
    for repair in repairs {
        if !candidates.iter().any(|(id, _, _)| *id == repair.0) {
            candidates.push(repair);
        }
    }
    let in_flight = instances
        .iter()
        .filter(|(id, i)| id.replica < replicas && i.evicted.is_some())
        .count();
    if candidates.is_empty() && in_flight == 0 {
        return step;
    }
    let max_surge = if spec.can_surge() {
        spec.update.max_surge.max(1)
    } else {
        0
    };
    let wanted = u32::try_from(candidates.len() + in_flight).unwrap_or(u32::MAX);
    step.surge = max_surge.min(wanted);
    for r in replicas..replicas.saturating_add(step.surge) {
        let id = workload.instance(r);
        if !state.instances.contains_key(&id) {
            step.events.push(EventKind::InstanceCreated {
                instance: id,
                node: None,
            });
        }
    }
    // Each ready surge instance covers one instance in flight.
    let ready_surge = instances
        .iter()
        .filter(|(id, i)| {
            id.replica >= replicas
                && id.replica < replicas.saturating_add(step.surge)
                && i.phase == (Phase::Running { ready: true })
        })
        .count();
    let mut budget = if max_surge == 0 {
        1usize.saturating_sub(in_flight)
    } else {
        ready_surge.saturating_sub(in_flight)
    };
    for (id, instance, reason) in candidates {
        let live = instance.phase.is_live();
        if live {
            if budget == 0 {
                continue;
            }
            budget -= 1;
        }
        step.events.push(EventKind::InstanceEvicted {
            instance: id.clone(),
            reason,
        });
    }
    step
}

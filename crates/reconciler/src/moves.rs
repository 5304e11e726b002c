//! Moves: instances that must leave their node (it is drained, or has a NoExecute taint
//! their service does not tolerate) go to other nodes the way a rolling update replaces
//! instances (DESIGN.md §11). Pure, like the rest of the reconciler.
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

use orco_spec::Service;
use orco_state::{EventKind, Phase, State, WorkloadId};

/// What the moves of one service do now.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Step {
    pub(crate) events: Vec<EventKind>,
    /// Slots above `replicas` kept (created when missing) while instances move.
    pub(crate) surge: u32,
}

/// The move step of one service with `replicas` slots and spec `spec`.
pub(crate) fn step(state: &State, workload: &WorkloadId, spec: &Service, replicas: u32) -> Step {
    let mut step = Step::default();
    if state.nodes.is_empty() {
        return step;
    }
    let instances: Vec<_> = state.instances_of(workload).collect();
    let tolerations = &spec.placement.tolerations;
    // Slots to move: on a node they must leave, not moving yet, and not a one-shot
    // service's finished run.
    let candidates: Vec<_> = instances
        .iter()
        .filter(|(id, i)| {
            id.replica < replicas && i.evicted.is_none() && i.phase != Phase::Succeeded
        })
        .filter_map(|(id, i)| {
            let node = state.nodes.get(i.node.as_deref()?)?;
            let reason = node.must_leave(tolerations)?;
            Some((*id, *i, reason))
        })
        .collect();
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

//! Where instances go in a cluster, purely: the scheduler's snapshot built from the state,
//! and an `InstancePlaced` event for each instance the scheduler found a node for.

use std::collections::BTreeMap;

use orco_interface::{Assignment, Desired};
use orco_scheduler::{
    Decision, Node, NodeStatus, Pending, Placed, Resources, Snapshot, Workload, WorkloadRef,
};
use orco_state::{EventKind, InstanceId, Phase, State};

/// The placements of every instance that should run and has no node, on the state's ready,
/// uncordoned nodes. Instances that fit nowhere stay unplaced (and unassigned) until a node
/// can take them.
pub fn placements(
    state: &State,
    assignments: &BTreeMap<InstanceId, Assignment>,
    seed: u64,
) -> Vec<EventKind> {
    let unplaced: Vec<&Assignment> = assignments
        .values()
        .filter(|a| a.desired == Desired::Run)
        .filter(|a| {
            state
                .instances
                .get(&a.instance)
                .is_some_and(|i| i.node.is_none())
        })
        .collect();
    if unplaced.is_empty() || state.nodes.is_empty() {
        return Vec::new();
    }
    let snapshot = snapshot(state);
    let index = |w: &WorkloadRef| snapshot.workloads.iter().position(|x| &x.id == w);
    let mut pending = Vec::new();
    for a in &unplaced {
        let w = WorkloadRef::new(
            a.instance.workload.stack.as_str(),
            a.instance.workload.name.as_str(),
        );
        pending.push(Pending {
            instance: a.instance.to_string(),
            workload: index(&w).unwrap_or(usize::MAX),
        });
    }
    orco_scheduler::schedule(&snapshot, &pending, seed)
        .into_iter()
        .zip(unplaced)
        .filter_map(|(decision, a)| match decision {
            Decision::Placed { node } => Some(EventKind::InstancePlaced {
                instance: a.instance.clone(),
                node: snapshot.nodes[node].name.clone(),
            }),
            Decision::Pending(_) => None,
        })
        .collect()
}

/// The scheduler's view of the state: nodes, every service as a workload, and the instances
/// placed on a node (but those that ended for good, which hold nothing).
pub fn snapshot(state: &State) -> Snapshot {
    let nodes: Vec<Node> = state
        .nodes
        .iter()
        .map(|(name, n)| Node {
            name: name.clone(),
            allocatable: Resources::new(n.allocatable.cpu_millis, n.allocatable.memory),
            labels: n.labels.clone(),
            taints: n.taints.iter().filter_map(|t| t.parse().ok()).collect(),
            status: match n.status {
                orco_state::NodeStatus::Ready => NodeStatus::Ready,
                orco_state::NodeStatus::Unreachable => NodeStatus::Unreachable,
                orco_state::NodeStatus::Lost => NodeStatus::Lost,
                orco_state::NodeStatus::Left => NodeStatus::Left,
            },
            cordoned: n.cordoned,
        })
        .collect();
    let mut workloads = Vec::new();
    for (stack, s) in &state.stacks {
        for (name, service) in &s.spec.services {
            let proxied = service.proxied_port();
            workloads.push(Workload {
                id: WorkloadRef::new(stack.as_str(), name.as_str()),
                requests: Resources::new(service.resources.cpu.0, service.resources.memory.0),
                placement: service.placement.clone(),
                host_ports: service
                    .ports
                    .iter()
                    .filter(|p| Some(**p) != proxied)
                    .map(|p| p.published)
                    .collect(),
            });
        }
    }
    let placed = state
        .instances
        .iter()
        .filter(|(_, i)| !matches!(i.phase, Phase::Stopped | Phase::Succeeded))
        .filter_map(|(id, i)| {
            let node = nodes
                .iter()
                .position(|n| Some(&n.name) == i.node.as_ref())?;
            let workload = workloads.iter().position(|w| {
                w.id.stack == id.workload.stack.as_str() && w.id.name == id.workload.name.as_str()
            })?;
            Some(Placed {
                instance: id.to_string(),
                workload,
                node,
                ready: matches!(i.phase, Phase::Running { ready: true }),
            })
        })
        .collect();
    Snapshot {
        nodes,
        workloads,
        placed,
    }
}

/// Why the node `name` cannot be drained, if it cannot: some instance on it (of a service
/// still applied) would fit on no other node, with the node cordoned. Pure: the scheduler
/// over the state's snapshot, nothing recorded.
pub fn drain_refusal(state: &State, name: &str) -> Option<String> {
    let mut snapshot = snapshot(state);
    let at = snapshot.nodes.iter().position(|n| n.name == name)?;
    snapshot.nodes[at].cordoned = true;
    let (leaving, staying): (Vec<Placed>, Vec<Placed>) = std::mem::take(&mut snapshot.placed)
        .into_iter()
        .partition(|p| p.node == at);
    snapshot.placed = staying;
    let pending: Vec<Pending> = leaving
        .iter()
        .map(|p| Pending {
            instance: p.instance.clone(),
            workload: p.workload,
        })
        .collect();
    let stuck: Vec<String> = orco_scheduler::schedule(&snapshot, &pending, state.revision)
        .into_iter()
        .zip(&pending)
        .filter_map(|(decision, p)| match decision {
            Decision::Placed { .. } => None,
            Decision::Pending(why) => Some(format!("{} has nowhere to go: {why}", p.instance)),
        })
        .collect();
    (!stuck.is_empty()).then(|| {
        format!(
            "cannot drain node {name}: {}; nothing was changed",
            stuck.join("; ")
        )
    })
}

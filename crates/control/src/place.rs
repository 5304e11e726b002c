//! Where instances go in a cluster, purely: the scheduler's snapshot built from the state,
//! and an `InstancePlaced` event for each instance the scheduler found a node for.

use std::collections::BTreeMap;

use jiff::Timestamp;
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
    let pending: Vec<Pending> = unplaced
        .iter()
        .map(|a| pending_of(&snapshot, &a.instance))
        .collect();
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

/// Why each instance that waits for a node has none, judged at `at`: the scheduler's
/// explanation (`0/3 nodes fit (3 lack memory: need 2Gi, most free 1Gi)`) for every pending
/// instance without a node whose dependencies let it start, decided together as one
/// placement round would. Pure; empty on a single machine (no nodes on record). An instance
/// the scheduler would place now is absent: the next plan places it.
pub fn unplaced(state: &State, at: Timestamp) -> BTreeMap<InstanceId, String> {
    if state.nodes.is_empty() {
        return BTreeMap::new();
    }
    let waiting: Vec<&InstanceId> = state
        .instances
        .iter()
        .filter(|(_, i)| i.node.is_none() && i.phase == Phase::Pending)
        .filter(|(id, _)| {
            state
                .stacks
                .get(&id.workload.stack)
                .is_some_and(|s| !s.stopped.contains(&id.workload.name))
        })
        .filter(|(id, _)| orco_reconciler::why_blocked(state, id, at).is_none())
        .map(|(id, _)| id)
        .collect();
    if waiting.is_empty() {
        return BTreeMap::new();
    }
    let snapshot = snapshot(state);
    let pending: Vec<Pending> = waiting.iter().map(|id| pending_of(&snapshot, id)).collect();
    orco_scheduler::schedule(&snapshot, &pending, state.revision)
        .into_iter()
        .zip(waiting)
        .filter_map(|(decision, id)| match decision {
            Decision::Placed { .. } => None,
            Decision::Pending(why) => Some((id.clone(), why.to_string())),
        })
        .collect()
}

/// Where each instance of `stack` would run if it were applied to `state` now, by the same
/// functions the control loop runs (the reconciler's plans, then the scheduler's
/// placements, folded until nothing more happens): `Ok(node)` or `Err(why no node fits)`,
/// by instance. Pure: `state` is not changed. Empty on a single machine (no nodes).
pub fn preview(
    state: &State,
    stack: orco_spec::Stack,
    now: Timestamp,
    limits: &orco_reconciler::Limits,
) -> BTreeMap<InstanceId, Result<String, String>> {
    if state.nodes.is_empty() {
        return BTreeMap::new();
    }
    let Ok(name) = orco_state::StackName::new(stack.stack.name.clone()) else {
        return BTreeMap::new();
    };
    let mut after = state.clone();
    let fold = |after: &mut State, kinds: Vec<EventKind>| {
        for kind in kinds {
            after.apply(&orco_state::Event::new(now, kind));
        }
    };
    fold(
        &mut after,
        vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }],
    );
    // A few rounds settle creations and placements (a rollout's later steps wait for
    // instances to become ready, which a preview does not pretend).
    for _ in 0..4 {
        let plan = orco_reconciler::reconcile_with(&after, now, limits);
        let mut kinds = plan.events;
        kinds.extend(placements(&after, &plan.assignments, after.revision));
        if kinds.is_empty() {
            break;
        }
        fold(&mut after, kinds);
    }
    let why = unplaced(&after, now);
    after
        .instances
        .iter()
        .filter(|(id, i)| {
            id.workload.stack == name && !matches!(i.phase, Phase::Stopped | Phase::Succeeded)
        })
        .filter_map(|(id, i)| {
            let place = match (&i.node, why.get(id)) {
                (Some(node), _) => Ok(node.clone()),
                (None, Some(why)) => Err(why.clone()),
                (None, None) => Err(format!(
                    "placed once it may start: {}",
                    orco_reconciler::why_blocked(&after, id, now)?
                )),
            };
            Some((id.clone(), place))
        })
        .collect()
}

/// `id` as the scheduler's pending instance of its workload in `snapshot` (an unknown
/// workload, which the scheduler reports as such, when its service is gone).
fn pending_of(snapshot: &Snapshot, id: &InstanceId) -> Pending {
    let w = WorkloadRef::new(id.workload.stack.as_str(), id.workload.name.as_str());
    Pending {
        instance: id.to_string(),
        workload: snapshot
            .workloads
            .iter()
            .position(|x| x.id == w)
            .unwrap_or(usize::MAX),
    }
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

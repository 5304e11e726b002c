//! Properties of `schedule` on random clusters: no node over its allocatable, every
//! constraint holds for every placement, the same input gives the same decisions.

use std::collections::{BTreeMap, HashMap};

use orco_scheduler::{
    Decision, Effect, Node, NodeStatus, Pending, Placed, Placement, Resources, Snapshot, Spread,
    SpreadBy, Strategy as Rank, Taint, Toleration, Workload, WorkloadRef, schedule,
};
use proptest::prelude::*;

const MI: u64 = 1 << 20;

fn arb_node(i: usize) -> impl Strategy<Value = Node> {
    (
        1u64..16,
        1u64..32,
        0usize..3,
        0usize..2,
        0usize..10,
        any::<bool>(),
    )
        .prop_map(move |(cores, gib, zone, disk, state, tainted)| Node {
            name: format!("n{i}"),
            allocatable: Resources::new(cores * 1000, gib * 1024 * MI),
            labels: BTreeMap::from([
                ("zone".to_string(), ["a", "b", "c"][zone].to_string()),
                ("disk".to_string(), ["ssd", "hdd"][disk].to_string()),
            ]),
            taints: if tainted && i.is_multiple_of(3) {
                vec![Taint {
                    key: "gpu".into(),
                    value: "true".into(),
                    effect: Effect::NoSchedule,
                }]
            } else {
                vec![]
            },
            status: if state == 0 {
                NodeStatus::Unreachable
            } else {
                NodeStatus::Ready
            },
            cordoned: state == 1,
        })
}

fn arb_workload(i: usize, count: usize) -> impl Strategy<Value = Workload> {
    (
        0u64..4000,
        0u64..8192,
        0usize..8,
        any::<bool>(),
        0usize..count.max(1),
        0u16..3,
    )
        .prop_map(move |(cpu, mem_mi, kind, pack, other, port)| {
            let mut placement = Placement {
                strategy: if pack { Rank::Pack } else { Rank::Balance },
                ..Placement::default()
            };
            match kind {
                1 => {
                    placement.node_selector =
                        BTreeMap::from([("disk".to_string(), "ssd".to_string())]);
                }
                2 => placement.anti_affinity = vec![format!("w{i}")],
                3 => placement.anti_affinity = vec![format!("w{other}")],
                4 => placement.anchor = Some(format!("w{other}")),
                5 => {
                    placement.spread = Some(Spread {
                        by: SpreadBy::Label("zone".into()),
                        max_skew: 1,
                        hard: true,
                    });
                }
                6 => {
                    placement.tolerations = vec![Toleration {
                        key: "gpu".into(),
                        value: None,
                    }];
                }
                _ => {}
            }
            Workload {
                id: WorkloadRef::new("s", format!("w{i}")),
                requests: Resources::new(cpu, mem_mi * MI),
                placement,
                host_ports: if port == 0 { vec![8000] } else { vec![] },
            }
        })
}

fn arb_case() -> impl Strategy<Value = (Snapshot, Vec<Pending>, u64)> {
    (1usize..12, 1usize..6).prop_flat_map(|(n_nodes, n_work)| {
        let nodes: Vec<_> = (0..n_nodes).map(arb_node).collect();
        let works: Vec<_> = (0..n_work).map(|i| arb_workload(i, n_work)).collect();
        let placed = proptest::collection::vec((0..n_work, 0..n_nodes, any::<bool>()), 0..6);
        let pending = proptest::collection::vec(0..n_work, 0..30);
        (nodes, works, placed, pending, any::<u64>()).prop_map(
            |(nodes, workloads, placed, pending, seed)| {
                let placed = placed
                    .into_iter()
                    .enumerate()
                    .map(|(i, (workload, node, ready))| Placed {
                        instance: format!("old-{i}"),
                        workload,
                        node,
                        ready,
                    })
                    .collect();
                let pending = pending
                    .into_iter()
                    .enumerate()
                    .map(|(i, workload)| Pending {
                        instance: format!("new-{i}"),
                        workload,
                    })
                    .collect();
                (
                    Snapshot {
                        nodes,
                        workloads,
                        placed,
                    },
                    pending,
                    seed,
                )
            },
        )
    })
}

/// Checks every placement against the snapshot plus the placements decided before it
/// (in the scheduler's own order, so each is checked against what it saw).
fn check(snap: &Snapshot, pending: &[Pending], decisions: &[Decision]) -> Result<(), String> {
    let mut all: Vec<(usize, usize)> = snap.placed.iter().map(|p| (p.workload, p.node)).collect();
    for (p, d) in pending.iter().zip(decisions) {
        if let Decision::Placed { node } = d {
            all.push((p.workload, *node));
        }
    }
    // Capacity: the requests of everything placed, old and new, within allocatable for each
    // node that received a new instance.
    let mut used: HashMap<usize, Resources> = HashMap::new();
    for (w, n) in &all {
        let e = used.entry(*n).or_default();
        *e = e.saturating_add(&snap.workloads[*w].requests);
    }
    let mut count: HashMap<(usize, usize), usize> = HashMap::new();
    for (w, n) in &all {
        *count.entry((*w, *n)).or_default() += 1;
    }
    let by_name = |name: &str| snap.workloads.iter().position(|w| w.id.name == name);
    for (p, d) in pending.iter().zip(decisions) {
        let Decision::Placed { node } = d else {
            continue;
        };
        let (w, n) = (&snap.workloads[p.workload], &snap.nodes[*node]);
        let old_used: Resources = snap
            .placed
            .iter()
            .filter(|q| q.node == *node)
            .fold(Resources::default(), |acc, q| {
                acc.saturating_add(&snap.workloads[q.workload].requests)
            });
        // Only instances placed now are bound by the scheduler; what was placed before may
        // already exceed a node (it is counted, never evicted).
        if old_used.fits(&n.allocatable) && !n.allocatable.fits(&used[node]) {
            return Err(format!("{} over allocatable", n.name));
        }
        if n.status != NodeStatus::Ready || n.cordoned {
            return Err(format!(
                "{} placed on a node that is not schedulable",
                p.instance
            ));
        }
        for (k, v) in &w.placement.node_selector {
            if n.labels.get(k) != Some(v) {
                return Err(format!("{} breaks nodeSelector", p.instance));
            }
        }
        for t in &n.taints {
            if !w
                .placement
                .tolerations
                .iter()
                .any(|x| x.tolerates(&t.key, &t.value))
            {
                return Err(format!("{} on an untolerated taint", p.instance));
            }
        }
        for a in &w.placement.anti_affinity {
            if let Some(a) = by_name(a) {
                let same = a == p.workload;
                let c = count.get(&(a, *node)).copied().unwrap_or(0);
                if (same && c > 1) || (!same && c > 0) {
                    return Err(format!("{} breaks antiAffinity", p.instance));
                }
            }
        }
        if let Some(a) = &w.placement.anchor {
            let a = by_name(a).ok_or("anchor unknown but placed")?;
            if count.get(&(a, *node)).copied().unwrap_or(0) == 0 {
                return Err(format!("{} is not beside its anchor", p.instance));
            }
        }
        for port in &w.host_ports {
            let holders = all
                .iter()
                .filter(|(x, m)| m == node && snap.workloads[*x].host_ports.contains(port))
                .count();
            if holders > 1 {
                return Err(format!("{} shares host port {port}", p.instance));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_placement_respects_capacity_and_constraints((snap, pending, seed) in arb_case()) {
        let decisions = schedule(&snap, &pending, seed);
        prop_assert_eq!(decisions.len(), pending.len());
        if let Err(e) = check(&snap, &pending, &decisions) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn the_same_input_gives_the_same_decisions((snap, pending, seed) in arb_case()) {
        prop_assert_eq!(schedule(&snap, &pending, seed), schedule(&snap, &pending, seed));
    }

    #[test]
    fn a_hard_spread_by_zone_stays_within_its_skew((snap, pending, seed) in arb_case()) {
        let decisions = schedule(&snap, &pending, seed);
        for (wid, w) in snap.workloads.iter().enumerate() {
            let Some(spread) = w.placement.spread.as_ref().filter(|s| s.hard) else { continue };
            if snap.placed.iter().any(|p| p.workload == wid) {
                continue; // old placements may already be skewed
            }
            let mut per_zone: BTreeMap<&str, u32> = BTreeMap::new();
            for n in &snap.nodes {
                let eligible = n.status == NodeStatus::Ready && !n.cordoned
                    && w.placement.node_selector.iter().all(|(k, v)| n.labels.get(k) == Some(v))
                    && n.taints.iter().all(|t| w.placement.tolerations.iter().any(|x| x.tolerates(&t.key, &t.value)));
                if eligible {
                    per_zone.entry(n.labels["zone"].as_str()).or_default();
                }
            }
            for (p, d) in pending.iter().zip(&decisions) {
                if let (true, Decision::Placed { node }) = (p.workload == wid, d) {
                    *per_zone.entry(snap.nodes[*node].labels["zone"].as_str()).or_default() += 1;
                }
            }
            let max = per_zone.values().max().copied().unwrap_or(0);
            let min = per_zone.values().min().copied().unwrap_or(0);
            prop_assert!(max - min <= spread.max_skew, "{:?}", per_zone);
        }
    }
}

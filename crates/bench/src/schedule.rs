//! `orco-bench schedule`: the pure scheduler on a simulated cluster — placements per second
//! with mixed constraints, and nodes used by `pack` against first-fit decreasing.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use orco_scheduler::{
    Decision, Effect, Node, Pending, Placement, Resources, Snapshot, Spread, SpreadBy, Strategy,
    Taint, Toleration, Workload, WorkloadRef, schedule,
};

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

/// A small deterministic generator (splitmix64), so every run builds the same cluster.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `nodes` nodes in 4 zones, a third with ssd disks, 5 % tainted `gpu=true`, 1 % cordoned,
/// 8 to 64 cores and 16 to 256 GiB; `instances` instances in workloads of 50 replicas whose
/// constraints cycle through none, nodeSelector, one per node, spread by zone, a toleration,
/// and following an anchor.
pub(crate) fn cluster(nodes: usize, instances: usize, seed: u64) -> (Snapshot, Vec<Pending>) {
    let mut rng = Rng(seed);
    let zones = ["a", "b", "c", "d"];
    let nodes: Vec<Node> = (0..nodes)
        .map(|i| {
            let mut labels = BTreeMap::from([
                ("zone".to_string(), zones[i % 4].to_string()),
                (
                    "disk".to_string(),
                    if i.is_multiple_of(3) { "ssd" } else { "hdd" }.to_string(),
                ),
            ]);
            labels.insert("rack".to_string(), format!("r{}", i / 40));
            Node {
                name: format!("node-{i}"),
                allocatable: Resources::new((8 + rng.below(57)) * 1000, (16 + rng.below(241)) * GI),
                labels,
                taints: if i % 20 == 7 {
                    vec![Taint {
                        key: "gpu".into(),
                        value: "true".into(),
                        effect: Effect::NoSchedule,
                    }]
                } else {
                    vec![]
                },
                cordoned: i % 100 == 42,
                ..Node::default()
            }
        })
        .collect();
    let replicas = 50;
    let count = instances.div_ceil(replicas);
    let mut workloads = Vec::with_capacity(count);
    for i in 0..count {
        let mut placement = Placement::default();
        match i % 6 {
            1 => {
                placement.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
            }
            2 => placement.anti_affinity = vec![format!("w{i}")],
            3 => {
                placement.spread = Some(Spread {
                    by: SpreadBy::Label("zone".into()),
                    max_skew: 1,
                    hard: true,
                });
            }
            4 => {
                placement.tolerations = vec![Toleration {
                    key: "gpu".into(),
                    value: None,
                }];
            }
            5 => placement.anchor = Some(format!("w{}", i - 5)),
            _ => {}
        }
        workloads.push(Workload {
            id: WorkloadRef::new("bench", format!("w{i}")),
            requests: Resources::new(50 + rng.below(450), (64 + rng.below(448)) * MI),
            placement,
            host_ports: vec![],
        });
    }
    // One ready instance of every anchor, so that followers can be placed.
    let mut snapshot = Snapshot {
        nodes,
        workloads,
        placed: vec![],
    };
    for i in (0..count).filter(|i| i.is_multiple_of(6) && i + 5 < count) {
        snapshot.placed.push(orco_scheduler::Placed {
            instance: format!("w{i}-anchor"),
            workload: i,
            node: (rng.below(snapshot.nodes.len() as u64)) as usize,
            ready: true,
        });
    }
    let pending = (0..instances)
        .map(|n| Pending {
            instance: format!("w{}-{}", n / replicas, n % replicas),
            workload: n / replicas,
        })
        .collect();
    (snapshot, pending)
}

/// Placements per second over `runs` runs, as JSON.
pub(crate) fn placements(nodes: usize, instances: usize, runs: usize) -> Result<()> {
    let (snapshot, pending) = cluster(nodes, instances, 7);
    let mut rates = Vec::new();
    let mut placed = 0;
    for run in 0..runs {
        let start = Instant::now();
        let decisions = schedule(&snapshot, &pending, run as u64);
        let seconds = start.elapsed().as_secs_f64();
        placed = decisions
            .iter()
            .filter(|d| matches!(d, Decision::Placed { .. }))
            .count();
        rates.push(pending.len() as f64 / seconds);
    }
    println!(
        "{}",
        serde_json::json!({
            "nodes": nodes,
            "instances": instances,
            "placed": placed,
            "per_second": rates,
        })
    );
    Ok(())
}

/// Nodes used when `pack` places `instances` single-replica workloads of random size on
/// identical nodes, against first-fit decreasing on the same requests.
pub(crate) fn packing(instances: usize) -> Result<()> {
    let mut rng = Rng(11);
    let node_size = Resources::new(16_000, 64 * GI);
    let requests: Vec<Resources> = (0..instances)
        .map(|_| Resources::new(100 + rng.below(3900), (128 + rng.below(7 * 1024)) * MI))
        .collect();
    let lower_bound = {
        let cpu: u64 = requests.iter().map(|r| r.cpu_millis).sum();
        let mem: u64 = requests.iter().map(|r| r.memory).sum();
        cpu.div_ceil(node_size.cpu_millis)
            .max(mem.div_ceil(node_size.memory))
    };
    // Enough nodes that everything fits even spread out.
    let snapshot = Snapshot {
        nodes: (0..instances)
            .map(|i| Node {
                name: format!("n{i}"),
                allocatable: node_size,
                ..Node::default()
            })
            .collect(),
        workloads: requests
            .iter()
            .enumerate()
            .map(|(i, r)| Workload {
                id: WorkloadRef::new("bench", format!("w{i}")),
                requests: *r,
                placement: Placement {
                    strategy: Strategy::Pack,
                    ..Placement::default()
                },
                host_ports: vec![],
            })
            .collect(),
        placed: vec![],
    };
    let pending: Vec<Pending> = (0..instances)
        .map(|i| Pending {
            instance: format!("w{i}-0"),
            workload: i,
        })
        .collect();
    let decisions = schedule(&snapshot, &pending, 0);
    let mut used = std::collections::BTreeSet::new();
    for d in &decisions {
        if let Decision::Placed { node } = d {
            used.insert(*node);
        }
    }
    // First-fit decreasing: largest memory first, each into the first node with room.
    let mut sorted = requests.clone();
    sorted.sort_by_key(|r| std::cmp::Reverse((r.memory, r.cpu_millis)));
    let mut bins: Vec<Resources> = Vec::new();
    for r in &sorted {
        match bins.iter_mut().find(|free| free.fits(r)) {
            Some(free) => *free = free.saturating_sub(r),
            None => bins.push(node_size.saturating_sub(r)),
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "instances": instances,
            "pack_nodes": used.len(),
            "ffd_nodes": bins.len(),
            "lower_bound": lower_bound,
        })
    );
    Ok(())
}

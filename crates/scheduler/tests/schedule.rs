//! The scheduler's filters, ranking and explanations on small hand-made clusters.

use std::collections::BTreeMap;

use orco_scheduler::{
    Decision, Effect, Node, NodeStatus, Pending, Placed, Resources, Snapshot, Spread, SpreadBy,
    Strategy, Taint, Toleration, ViolationReason, Workload, WorkloadRef, anchor_labels, schedule,
    violations,
};

const GI: u64 = 1 << 30;
const MI: u64 = 1 << 20;

fn node(name: &str, cores: u64, memory: u64) -> Node {
    Node {
        name: name.to_string(),
        allocatable: Resources::new(cores * 1000, memory),
        ..Node::default()
    }
}

fn labelled(mut n: Node, labels: &[(&str, &str)]) -> Node {
    for (k, v) in labels {
        n.labels.insert(k.to_string(), v.to_string());
    }
    n
}

fn workload(name: &str, cpu_millis: u64, memory: u64) -> Workload {
    Workload {
        id: WorkloadRef::new("shop", name),
        requests: Resources::new(cpu_millis, memory),
        ..Workload::default()
    }
}

fn pending(workload: usize, name: &str, n: usize) -> Vec<Pending> {
    (0..n)
        .map(|i| Pending {
            instance: format!("{name}-{i}"),
            workload,
        })
        .collect()
}

fn nodes_of(decisions: &[Decision]) -> Vec<Option<usize>> {
    decisions
        .iter()
        .map(|d| match d {
            Decision::Placed { node } => Some(*node),
            Decision::Pending(_) => None,
        })
        .collect()
}

fn why(decision: &Decision) -> String {
    match decision {
        Decision::Pending(why) => why.to_string(),
        Decision::Placed { node } => panic!("placed on node {node}, expected pending"),
    }
}

#[test]
fn balance_puts_an_instance_on_the_node_with_the_most_room() {
    let snap = Snapshot {
        nodes: vec![
            node("a", 4, 4 * GI),
            node("b", 4, 8 * GI),
            node("c", 4, 2 * GI),
        ],
        workloads: vec![workload("web", 500, 512 * MI)],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "web", 1), 0);
    assert_eq!(nodes_of(&d), vec![Some(1)]);
}

#[test]
fn balance_spreads_replicas_of_one_service_over_equal_nodes() {
    let snap = Snapshot {
        nodes: (0..3).map(|i| node(&format!("n{i}"), 8, 16 * GI)).collect(),
        workloads: vec![workload("web", 100, 64 * MI)],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "web", 6), 7);
    let mut per_node = [0; 3];
    for n in nodes_of(&d) {
        per_node[n.expect("placed")] += 1;
    }
    assert_eq!(per_node, [2, 2, 2]);
}

#[test]
fn pack_fills_the_fullest_node_that_still_fits() {
    let mut w = workload("batch", 1000, GI);
    w.placement.strategy = Strategy::Pack;
    let snap = Snapshot {
        nodes: vec![node("a", 4, 4 * GI), node("b", 4, 4 * GI)],
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "batch", 4), 0);
    let placed = nodes_of(&d);
    assert!(placed.iter().all(|n| *n == placed[0]), "{placed:?}");
}

#[test]
fn an_instance_that_fits_nowhere_says_why_with_the_need_and_the_most_free() {
    let snap = Snapshot {
        nodes: vec![node("a", 4, GI), node("b", 4, GI), node("c", 4, GI / 2)],
        workloads: vec![workload("huge", 100, 2 * GI)],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "huge", 1), 0);
    assert_eq!(
        why(&d[0]),
        "0/3 nodes fit (3 lack memory: need 2Gi, most free 1Gi)"
    );
}

#[test]
fn every_rejecting_filter_is_counted_once_per_node() {
    let mut w = workload("web", 500, 512 * MI);
    w.placement.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
    let mut down = node("down", 4, 4 * GI);
    down.status = NodeStatus::Unreachable;
    let mut cordoned = labelled(node("cordoned", 4, 4 * GI), &[("disk", "ssd")]);
    cordoned.cordoned = true;
    let snap = Snapshot {
        nodes: vec![
            node("small", 0, 4 * GI),
            labelled(node("hdd", 4, 4 * GI), &[("disk", "hdd")]),
            node("plain", 4, 4 * GI),
            down,
            cordoned,
        ],
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "web", 1), 0);
    assert_eq!(
        why(&d[0]),
        "0/5 nodes fit (1 not ready; 1 cordoned; 1 lack cpu: need 0.5, most free 4; \
         2 excluded by nodeSelector disk=ssd)"
    );
}

#[test]
fn requests_already_placed_count_against_allocatable() {
    let snap = Snapshot {
        nodes: vec![node("a", 2, 2 * GI)],
        workloads: vec![workload("db", 1500, GI), workload("web", 1000, 512 * MI)],
        placed: vec![Placed {
            instance: "db-0".into(),
            workload: 0,
            node: 0,
            ready: true,
        }],
    };
    let d = schedule(&snap, &pending(1, "web", 1), 0);
    assert_eq!(
        why(&d[0]),
        "0/1 nodes fit (1 lack cpu: need 1, most free 0.5)"
    );
}

#[test]
fn a_node_selector_keeps_instances_on_matching_nodes() {
    let mut w = workload("db", 100, MI);
    w.placement.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
    let snap = Snapshot {
        nodes: vec![
            labelled(node("a", 4, 4 * GI), &[("disk", "hdd")]),
            labelled(node("b", 4, 4 * GI), &[("disk", "ssd")]),
            node("c", 64, 64 * GI),
        ],
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "db", 3), 0);
    assert_eq!(nodes_of(&d), vec![Some(1); 3]);
}

#[test]
fn a_taint_keeps_away_workloads_that_do_not_tolerate_it() {
    let mut gpu = node("gpu", 64, 64 * GI);
    gpu.taints.push(Taint {
        key: "gpu".into(),
        value: "true".into(),
        effect: Effect::NoSchedule,
    });
    let mut any_value = workload("train", 100, MI);
    any_value.placement.tolerations = vec![Toleration {
        key: "gpu".into(),
        value: None,
    }];
    let mut wrong_value = workload("infer", 100, MI);
    wrong_value.placement.tolerations = vec![Toleration {
        key: "gpu".into(),
        value: Some("false".into()),
    }];
    let snap = Snapshot {
        nodes: vec![gpu],
        workloads: vec![workload("web", 100, MI), any_value, wrong_value],
        placed: vec![],
    };
    let mut p = pending(0, "web", 1);
    p.extend(pending(1, "train", 1));
    p.extend(pending(2, "infer", 1));
    let d = schedule(&snap, &p, 0);
    assert_eq!(
        why(&d[0]),
        "0/1 nodes fit (1 tainted gpu=true, not tolerated)"
    );
    assert_eq!(d[1], Decision::Placed { node: 0 });
    assert!(matches!(d[2], Decision::Pending(_)));
}

#[test]
fn anti_affinity_on_its_own_name_places_one_instance_per_node() {
    let mut w = workload("etcd", 100, MI);
    w.placement.anti_affinity = vec!["etcd".into()];
    let snap = Snapshot {
        nodes: (0..3).map(|i| node(&format!("n{i}"), 8, 8 * GI)).collect(),
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "etcd", 4), 0);
    let mut placed: Vec<usize> = nodes_of(&d).into_iter().flatten().collect();
    placed.sort_unstable();
    assert_eq!(placed, vec![0, 1, 2]);
    assert_eq!(why(&d[3]), "0/3 nodes fit (3 excluded by antiAffinity)");
}

#[test]
fn anti_affinity_holds_both_ways() {
    let mut cache = workload("cache", 100, MI);
    cache.placement.anti_affinity = vec!["db".into()];
    let snap = Snapshot {
        nodes: vec![node("a", 8, 8 * GI)],
        workloads: vec![cache, workload("db", 100, MI)],
        placed: vec![Placed {
            instance: "cache-0".into(),
            workload: 0,
            node: 0,
            ready: true,
        }],
    };
    // db names nothing, but cache refuses to share a node with db.
    let d = schedule(&snap, &pending(1, "db", 1), 0);
    assert_eq!(why(&d[0]), "0/1 nodes fit (1 excluded by antiAffinity)");
}

#[test]
fn a_follower_waits_for_a_ready_anchor_then_lands_beside_it() {
    let mut api = workload("api", 100, MI);
    api.placement.anchor = Some("db".into());
    let mut snap = Snapshot {
        nodes: (0..4).map(|i| node(&format!("n{i}"), 8, 8 * GI)).collect(),
        workloads: vec![workload("db", 100, MI), api],
        placed: vec![Placed {
            instance: "db-0".into(),
            workload: 0,
            node: 2,
            ready: false,
        }],
    };
    let d = schedule(&snap, &pending(1, "api", 2), 0);
    assert_eq!(
        why(&d[0]),
        "waiting for an instance of anchor db to be ready"
    );
    snap.placed[0].ready = true;
    let d = schedule(&snap, &pending(1, "api", 2), 0);
    assert_eq!(nodes_of(&d), vec![Some(2), Some(2)]);
}

#[test]
fn followers_balance_over_the_nodes_of_their_anchor() {
    let mut api = workload("api", 100, MI);
    api.placement.anchor = Some("db".into());
    let snap = Snapshot {
        nodes: (0..5).map(|i| node(&format!("n{i}"), 8, 8 * GI)).collect(),
        workloads: vec![workload("db", 100, MI), api],
        placed: vec![
            Placed {
                instance: "db-0".into(),
                workload: 0,
                node: 1,
                ready: true,
            },
            Placed {
                instance: "db-1".into(),
                workload: 0,
                node: 3,
                ready: false,
            },
        ],
    };
    let d = schedule(&snap, &pending(1, "api", 4), 0);
    let placed = nodes_of(&d);
    assert_eq!(placed.iter().filter(|n| **n == Some(1)).count(), 2);
    assert_eq!(placed.iter().filter(|n| **n == Some(3)).count(), 2);
}

#[test]
fn a_hard_spread_never_exceeds_its_max_skew() {
    let mut w = workload("web", 100, MI);
    w.placement.spread = Some(Spread {
        by: SpreadBy::Label("zone".into()),
        max_skew: 1,
        hard: true,
    });
    // Zone a has much more room, so balance alone would put everything there.
    let snap = Snapshot {
        nodes: vec![
            labelled(node("a1", 64, 64 * GI), &[("zone", "a")]),
            labelled(node("a2", 64, 64 * GI), &[("zone", "a")]),
            labelled(node("b1", 1, 256 * MI), &[("zone", "b")]),
            node("nozone", 64, 64 * GI),
        ],
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "web", 6), 0);
    let placed = nodes_of(&d);
    let zone_a = placed.iter().filter(|n| matches!(n, Some(0 | 1))).count();
    let zone_b = placed.iter().filter(|n| **n == Some(2)).count();
    assert!(
        !placed.contains(&Some(3)),
        "a node without the label: {placed:?}"
    );
    assert_eq!((zone_a, zone_b), (3, 3), "{placed:?}");
}

#[test]
fn a_taken_host_port_excludes_the_node() {
    let mut w = workload("dns", 100, MI);
    w.host_ports = vec![53];
    let snap = Snapshot {
        nodes: vec![node("a", 8, 8 * GI), node("b", 8, 8 * GI)],
        workloads: vec![w],
        placed: vec![],
    };
    let d = schedule(&snap, &pending(0, "dns", 3), 0);
    assert_eq!(why(&d[2]), "0/2 nodes fit (2 have host port 53 taken)");
}

#[test]
fn indices_out_of_range_leave_an_instance_pending_without_a_panic() {
    let snap = Snapshot {
        nodes: vec![node("a", 8, 8 * GI)],
        workloads: vec![workload("web", 100, MI)],
        placed: vec![Placed {
            instance: "ghost-0".into(),
            workload: 9,
            node: 9,
            ready: true,
        }],
    };
    let d = schedule(&snap, &pending(5, "nope", 1), 0);
    assert_eq!(why(&d[0]), "its workload is unknown to the scheduler");
    let empty = Snapshot {
        workloads: vec![workload("web", 100, MI)],
        ..Snapshot::default()
    };
    let d = schedule(&empty, &pending(0, "web", 1), 0);
    assert_eq!(why(&d[0]), "0 nodes: no node has joined");
}

#[test]
fn a_removed_label_a_no_execute_taint_and_a_gone_anchor_are_violations() {
    let mut db = workload("db", 100, MI);
    db.placement.node_selector = BTreeMap::from([("disk".into(), "ssd".into())]);
    let mut api = workload("api", 100, MI);
    api.placement.anchor = Some("cache".into());
    let mut tainted = node("b", 8, 8 * GI);
    tainted.taints.push(Taint {
        key: "maintenance".into(),
        value: String::new(),
        effect: Effect::NoExecute,
    });
    let snap = Snapshot {
        nodes: vec![node("a", 8, 8 * GI), tainted],
        workloads: vec![db, api, workload("cache", 100, MI), workload("web", 1, 1)],
        placed: vec![
            Placed {
                instance: "db-0".into(),
                workload: 0,
                node: 0,
                ready: true,
            },
            Placed {
                instance: "api-0".into(),
                workload: 1,
                node: 0,
                ready: true,
            },
            Placed {
                instance: "web-0".into(),
                workload: 3,
                node: 1,
                ready: true,
            },
            Placed {
                instance: "cache-0".into(),
                workload: 2,
                node: 1,
                ready: true,
            },
        ],
    };
    let v = violations(&snap);
    let found: Vec<(usize, String)> = v.iter().map(|v| (v.placed, v.reason.to_string())).collect();
    assert_eq!(
        found,
        vec![
            (
                0,
                "the node no longer matches nodeSelector disk=ssd".to_string()
            ),
            (
                1,
                "no instance of anchor cache is placed on the node any more".to_string()
            ),
            (
                2,
                "the node is tainted maintenance:NoExecute, not tolerated".to_string()
            ),
            (
                3,
                "the node is tainted maintenance:NoExecute, not tolerated".to_string()
            ),
        ]
    );
    assert!(matches!(v[1].reason, ViolationReason::AnchorGone { .. }));
    let labels = anchor_labels(&snap);
    assert_eq!(
        labels
            .get(&1)
            .and_then(|l| l.get("orco.anchor/shop.cache"))
            .map(String::as_str),
        Some("true")
    );
    assert!(!labels.contains_key(&0));
}

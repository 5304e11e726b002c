//! The server's control loop (no agent in the process) over a journal in memory: instances
//! placed on nodes, each node's assignments published, nodes' reports stored once, and a
//! lost node's instances placed elsewhere in the same write as the loss; the routing mesh
//! each node is sent.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use orco_control::{Cluster, Engine, Handle, Limits, MemoryJournal};
use orco_interface::EventBatch;
use orco_state::{Capacity, Event, EventKind, InstanceId, NodeStatus};

fn joined(node: &str) -> EventKind {
    EventKind::NodeJoined {
        node: node.into(),
        address: "127.0.0.1:1".into(),
        capacity: Capacity {
            cpu_millis: 4000,
            memory: 8 << 30,
        },
        allocatable: Capacity {
            cpu_millis: 4000,
            memory: 8 << 30,
        },
        labels: Default::default(),
        taints: Vec::new(),
    }
}

async fn server_with_two_nodes(replicas: u32) -> (Handle, Cluster) {
    let (handle, cluster) = Engine::start_server(MemoryJournal::new(), Limits::default());
    handle
        .submit(vec![joined("n1"), joined("n2")])
        .await
        .unwrap();
    let yaml = format!(
        "version: 0.1\nstack: {{name: s}}\nservices:\n  web: {{command: [sleep, '9'], replicas: {replicas}}}\n"
    );
    let stack = orco_spec::load_str(Path::new("t.yaml"), &yaml, Path::new("/srv"))
        .unwrap()
        .stack;
    handle
        .submit(vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }])
        .await
        .unwrap();
    let placed = handle.wait_for(|s| {
        s.instances.len() == replicas as usize && s.instances.values().all(|i| i.node.is_some())
    });
    tokio::time::timeout(Duration::from_secs(10), placed)
        .await
        .unwrap()
        .unwrap();
    (handle, cluster)
}

fn on(handle: &Handle, node: &str) -> Vec<InstanceId> {
    handle
        .state()
        .instances
        .iter()
        .filter(|(_, i)| i.node.as_deref() == Some(node))
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn instances_are_spread_over_the_nodes_and_each_node_gets_only_its_own() {
    let (handle, cluster) = server_with_two_nodes(4).await;
    assert_eq!((on(&handle, "n1").len(), on(&handle, "n2").len()), (2, 2));
    let mut sets = cluster.assignments();
    let sets = sets
        .wait_for(|s| s.values().map(|set| set.instances.len()).sum::<usize>() == 4)
        .await
        .unwrap()
        .clone();
    for node in ["n1", "n2"] {
        let ids: Vec<InstanceId> = sets[node].instances.keys().cloned().collect();
        assert_eq!(ids, on(&handle, node), "{node} gets what is placed on it");
    }
}

#[tokio::test]
async fn a_batch_sent_again_is_stored_once_and_events_of_instances_placed_elsewhere_are_dropped() {
    let (handle, _cluster) = server_with_two_nodes(2).await;
    let mine = on(&handle, "n1")[0].clone();
    let theirs = on(&handle, "n2")[0].clone();
    let now = Timestamp::now();
    let batch = EventBatch {
        node: "n1".into(),
        first: 1,
        events: vec![
            Event::new(
                now,
                EventKind::InstanceStarting {
                    instance: mine.clone(),
                    attempt: 1,
                    port: None,
                    chosen: Vec::new(),
                },
            ),
            Event::new(
                now,
                EventKind::InstanceStarting {
                    instance: theirs.clone(),
                    attempt: 1,
                    port: None,
                    chosen: Vec::new(),
                },
            ),
        ],
    };
    let ack = handle.report(batch.clone()).await.unwrap();
    assert_eq!(ack.through, 2);
    let revision = handle.state().revision;
    handle
        .wait_for(|s| s.revision >= ack.revision)
        .await
        .unwrap();
    let again = handle.report(batch).await.unwrap();
    assert_eq!(again.through, 2, "acknowledged again");
    let state = handle.state();
    assert!(
        state.revision <= revision.max(ack.revision),
        "nothing stored twice"
    );
    assert_eq!(state.nodes["n1"].events_through, 2);
    assert_eq!(
        state.instances[&mine].phase,
        orco_state::Phase::Starting,
        "the node's own instance took its event"
    );
    assert_eq!(
        state.instances[&theirs].phase,
        orco_state::Phase::Pending,
        "an event about another node's instance was dropped"
    );
}

#[tokio::test]
async fn a_lost_node_s_instances_are_placed_on_another_node_in_the_same_write() {
    let (handle, _cluster) = server_with_two_nodes(4).await;
    let lost = on(&handle, "n1");
    handle.lapsed("n1", false).await.unwrap();
    let state = handle
        .wait_for(|s| s.nodes["n1"].status == NodeStatus::Unreachable)
        .await
        .unwrap();
    assert_eq!(on(&handle, "n1"), lost, "unreachable: nothing moves yet");
    let before = state.revision;
    handle.lapsed("n1", true).await.unwrap();
    let state = handle
        .wait_for(|s| s.nodes["n1"].status == NodeStatus::Lost)
        .await
        .unwrap();
    assert_eq!(state.nodes["n1"].epoch, 1);
    // The loss and the replacements' placements came as one write: no state in between
    // has the lost node's instances unplaced.
    assert_eq!(
        state.revision,
        before + 1 + lost.len() as u64,
        "{:?}",
        state.revision
    );
    for id in &lost {
        assert_eq!(state.instances[id].node.as_deref(), Some("n2"), "{id}");
    }
    // Lost again: nothing more happens.
    handle.lapsed("n1", true).await.unwrap();
    assert_eq!(handle.state().revision, state.revision);
}

#[tokio::test]
async fn a_cordoned_node_takes_no_new_instance() {
    let (handle, _cluster) = server_with_two_nodes(2).await;
    handle
        .submit(vec![EventKind::NodeCordoned {
            node: "n2".into(),
            cordoned: true,
        }])
        .await
        .unwrap();
    let web = orco_state::WorkloadId::new("s".parse().unwrap(), "web").unwrap();
    handle
        .submit(vec![EventKind::ScaleChanged {
            workload: web,
            replicas: 6,
        }])
        .await
        .unwrap();
    let state = handle
        .wait_for(|s| s.instances.len() == 6 && s.instances.values().all(|i| i.node.is_some()))
        .await
        .unwrap();
    let on_n2 = state
        .instances
        .values()
        .filter(|i| i.node.as_deref() == Some("n2"))
        .count();
    assert_eq!(on_n2, 1, "only what was there before the cordon");
}

/// Nodes simulated over the assignment sets: each starts (and makes ready) what it is told
/// to run and stops what it is told to stop, reporting through [`Handle::report`]. Panics
/// when a slot would run on two nodes at once; answers the fewest ready instances seen.
struct Nodes {
    running: std::collections::BTreeMap<InstanceId, String>,
    sent: std::collections::BTreeMap<String, u64>,
    fewest_ready: usize,
}

impl Nodes {
    fn new() -> Nodes {
        Nodes {
            running: Default::default(),
            sent: Default::default(),
            fewest_ready: usize::MAX,
        }
    }

    /// Acts on the current sets once; whether anything was reported.
    async fn act(&mut self, handle: &Handle, cluster: &Cluster) -> bool {
        let sets = cluster.assignments().borrow().clone();
        let state = handle.state();
        let mut acted = false;
        for (node, set) in sets.iter() {
            let mut events = Vec::new();
            let now = Timestamp::now();
            for (id, a) in &set.instances {
                let Some(i) = state.instances.get(id) else {
                    continue;
                };
                match &a.desired {
                    orco_interface::Desired::Run if i.phase == orco_state::Phase::Pending => {
                        if let Some(other) = self.running.get(id) {
                            assert_eq!(other, node, "{id} told to run on {node} while on {other}");
                        }
                        self.running.insert(id.clone(), node.clone());
                        events.push(EventKind::InstanceStarting {
                            instance: id.clone(),
                            attempt: 1,
                            port: None,
                            chosen: Vec::new(),
                        });
                        events.push(EventKind::InstanceStarted {
                            instance: id.clone(),
                            pid: Some(100),
                            container: None,
                        });
                        events.push(EventKind::InstanceReady {
                            instance: id.clone(),
                        });
                    }
                    orco_interface::Desired::Stop { .. } if i.phase.is_live() => {
                        self.running.remove(id);
                        events.push(EventKind::InstanceStopping {
                            instance: id.clone(),
                            reason: "told to".into(),
                        });
                        events.push(EventKind::InstanceStopped {
                            instance: id.clone(),
                        });
                    }
                    _ => {}
                }
            }
            if events.is_empty() {
                continue;
            }
            let sent = self.sent.entry(node.clone()).or_insert(0);
            let batch = EventBatch {
                node: node.clone(),
                first: *sent + 1,
                events: events.into_iter().map(|k| Event::new(now, k)).collect(),
            };
            *sent += batch.events.len() as u64;
            let ack = handle.report(batch).await.unwrap();
            handle
                .wait_for(|s| s.revision >= ack.revision)
                .await
                .unwrap();
            acted = true;
        }
        let state = handle.state();
        let ready = state
            .instances
            .values()
            .filter(|i| i.phase == (orco_state::Phase::Running { ready: true }))
            .count();
        self.fewest_ready = self.fewest_ready.min(ready);
        acted
    }

    /// Acts until `done` holds for the state.
    async fn until(
        &mut self,
        handle: &Handle,
        cluster: &Cluster,
        mut done: impl FnMut(&orco_state::State) -> bool,
    ) {
        let mut sets = cluster.assignments();
        let run = async {
            loop {
                sets.borrow_and_update();
                let acted = self.act(handle, cluster).await;
                if done(&handle.state()) {
                    return;
                }
                if !acted {
                    sets.changed().await.unwrap();
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| panic!("not done: {:#?}", handle.state().instances));
    }
}

#[tokio::test]
async fn a_drained_node_s_instances_move_through_a_surge_slot_and_never_run_on_two_nodes() {
    let (handle, cluster) = server_with_two_nodes(4).await;
    let mut nodes = Nodes::new();
    nodes
        .until(&handle, &cluster, |s| {
            s.instances
                .values()
                .all(|i| i.phase == (orco_state::Phase::Running { ready: true }))
        })
        .await;
    let leaving = on(&handle, "n1");
    assert_eq!(leaving.len(), 2);
    nodes.fewest_ready = usize::MAX;
    handle
        .submit(vec![EventKind::NodeDrainRequested { node: "n1".into() }])
        .await
        .unwrap();
    nodes
        .until(&handle, &cluster, |s| {
            s.instances.len() == 4
                && s.instances.values().all(|i| {
                    i.node.as_deref() == Some("n2")
                        && i.phase == (orco_state::Phase::Running { ready: true })
                        && i.evicted.is_none()
                })
        })
        .await;
    assert!(
        nodes.fewest_ready >= 4,
        "never fewer ready than the replicas: {}",
        nodes.fewest_ready
    );
    let state = handle.state();
    assert!(state.nodes["n1"].cordoned && state.nodes["n1"].draining);
    for id in &leaving {
        assert!(state.instances.contains_key(id), "{id} kept its slot");
    }
}

#[tokio::test]
async fn a_no_execute_taint_moves_only_the_instances_that_do_not_tolerate_it() {
    let (handle, cluster) = server_with_two_nodes(2).await;
    let mut nodes = Nodes::new();
    let yaml = "version: 0.1\nstack: {name: t}\nservices:\n  ok: {command: [sleep, '9'], replicas: 2, placement: {tolerations: [maint]}}\n";
    let stack = orco_spec::load_str(Path::new("t.yaml"), yaml, Path::new("/srv"))
        .unwrap()
        .stack;
    handle
        .submit(vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }])
        .await
        .unwrap();
    nodes
        .until(&handle, &cluster, |s| {
            s.instances.len() == 4
                && s.instances
                    .values()
                    .all(|i| i.phase == (orco_state::Phase::Running { ready: true }))
        })
        .await;
    let tolerant: Vec<InstanceId> = on(&handle, "n1")
        .into_iter()
        .filter(|id| id.workload.stack.as_str() == "t")
        .collect();
    handle
        .submit(vec![EventKind::NodeTainted {
            node: "n1".into(),
            taints: vec!["maint=now:NoExecute".into()],
        }])
        .await
        .unwrap();
    nodes
        .until(&handle, &cluster, |s| {
            s.instances.len() == 4
                && s.instances.iter().all(|(id, i)| {
                    i.phase == (orco_state::Phase::Running { ready: true })
                        && (id.workload.stack.as_str() == "t" || i.node.as_deref() == Some("n2"))
                })
        })
        .await;
    for id in tolerant {
        assert_eq!(
            handle.state().instances[&id].node.as_deref(),
            Some("n1"),
            "{id} tolerates the taint and stays"
        );
    }
}

/// Node `n` joined from 10.0.0.`n`.
fn joined_from(node: &str, n: u8) -> EventKind {
    let EventKind::NodeJoined {
        node,
        capacity,
        allocatable,
        labels,
        taints,
        ..
    } = joined(node)
    else {
        unreachable!()
    };
    EventKind::NodeJoined {
        node,
        address: format!("10.0.0.{n}:5000"),
        capacity,
        allocatable,
        labels,
        taints,
    }
}

/// What `node` reports of its instances, in one batch from sequence number `first`.
async fn report(handle: &Handle, node: &str, first: u64, kinds: Vec<EventKind>) -> u64 {
    let now = Timestamp::now();
    let events: Vec<Event> = kinds.into_iter().map(|k| Event::new(now, k)).collect();
    let next = first + events.len() as u64;
    let ack = handle
        .report(EventBatch {
            node: node.into(),
            first,
            events,
        })
        .await
        .unwrap();
    handle
        .wait_for(|s| s.revision >= ack.revision)
        .await
        .unwrap();
    next
}

/// The endpoints of `s/web` on 127.0.0.1:8080 in `node`'s set, as (instance, address, state).
fn mesh_of(
    sets: &orco_control::NodeSets,
    node: &str,
) -> Option<Vec<(String, String, orco_interface::EndpointState)>> {
    let route =
        sets.get(node)?.routes.iter().find(|r| {
            r.workload.to_string() == "s/web" && r.addr.to_string() == "127.0.0.1:8080"
        })?;
    Some(
        route
            .endpoints
            .iter()
            .map(|e| (e.instance.to_string(), e.addr.to_string(), e.state))
            .collect(),
    )
}

#[tokio::test]
async fn every_node_is_sent_the_other_nodes_instances_behind_each_proxied_port() {
    use orco_interface::EndpointState::{Draining, Ready, Unready};
    let (handle, cluster) = Engine::start_server(MemoryJournal::new(), Limits::default());
    handle
        .submit(vec![
            joined_from("n1", 1),
            joined_from("n2", 2),
            joined_from("n3", 3),
        ])
        .await
        .unwrap();
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  web: {command: [sleep, '9'], replicas: 2, ports: ['8080:8080']}\n";
    let stack = orco_spec::load_str(Path::new("t.yaml"), yaml, Path::new("/srv"))
        .unwrap()
        .stack;
    handle
        .submit(vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }])
        .await
        .unwrap();
    let placed = handle
        .wait_for(|s| s.instances.len() == 2 && s.instances.values().all(|i| i.node.is_some()));
    tokio::time::timeout(Duration::from_secs(10), placed)
        .await
        .unwrap()
        .unwrap();
    let state = handle.state();
    let mut homes: Vec<(InstanceId, String)> = state
        .instances
        .iter()
        .map(|(id, i)| (id.clone(), i.node.clone().unwrap()))
        .collect();
    homes.sort_by(|a, b| a.1.cmp(&b.1));
    let [(a, na), (b, nb)] = [homes[0].clone(), homes[1].clone()];
    assert_ne!(na, nb, "spread over two nodes");
    let free = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != na && *n != nb)
        .unwrap()
        .to_string();
    let ip = |node: &str| format!("10.0.0.{}", &node[1..]);
    let mut sets = cluster.assignments();
    // Not started yet: every node is sent the route (its proxy listens), with no endpoint.
    let s = sets
        .wait_for(|s| mesh_of(s, &free).is_some_and(|m| m.is_empty()))
        .await
        .unwrap()
        .clone();
    assert_eq!(mesh_of(&s, &na), Some(vec![]));

    let mut seq = BTreeMap::new();
    for (id, node, port) in [(&a, &na, 41_000u16), (&b, &nb, 42_000)] {
        let next = report(
            &handle,
            node,
            1,
            vec![
                EventKind::InstanceStarting {
                    instance: id.clone(),
                    attempt: 0,
                    port: Some(port),
                    chosen: Vec::new(),
                },
                EventKind::InstanceStarted {
                    instance: id.clone(),
                    pid: Some(7),
                    container: None,
                },
            ],
        )
        .await;
        seq.insert(node.clone(), next);
    }
    let (ea, eb) = (
        (a.to_string(), format!("{}:41000", ip(&na))),
        (b.to_string(), format!("{}:42000", ip(&nb))),
    );
    let s = sets
        .wait_for(|s| mesh_of(s, &free).is_some_and(|m| m.len() == 2))
        .await
        .unwrap()
        .clone();
    let mut both = vec![
        (ea.0.clone(), ea.1.clone(), Unready),
        (eb.0.clone(), eb.1.clone(), Unready),
    ];
    both.sort();
    assert_eq!(
        mesh_of(&s, &free).unwrap(),
        both,
        "started, not ready: listed, sent nothing"
    );
    let next = report(
        &handle,
        &na,
        seq[&na],
        vec![EventKind::InstanceReady {
            instance: a.clone(),
        }],
    )
    .await;
    seq.insert(na.clone(), next);
    let s = sets
        .wait_for(|s| {
            mesh_of(s, &free).is_some_and(|m| m.iter().any(|e| e.0 == ea.0 && e.2 == Ready))
        })
        .await
        .unwrap()
        .clone();
    // Each node of an instance is sent the other's alone; its own it proxies itself.
    assert_eq!(
        mesh_of(&s, &nb).unwrap(),
        vec![(ea.0.clone(), ea.1.clone(), Ready)]
    );
    assert_eq!(
        mesh_of(&s, &na).unwrap(),
        vec![(eb.0.clone(), eb.1.clone(), Unready)]
    );

    // a drains on its node: draining everywhere else.
    report(
        &handle,
        &na,
        seq[&na],
        vec![EventKind::InstanceStopping {
            instance: a.clone(),
            reason: "test".into(),
        }],
    )
    .await;
    let s = sets
        .wait_for(|s| {
            mesh_of(s, &free).is_some_and(|m| m.iter().any(|e| e.0 == ea.0 && e.2 == Draining))
        })
        .await
        .unwrap()
        .clone();
    assert_eq!(
        mesh_of(&s, &nb).unwrap(),
        vec![(ea.0.clone(), ea.1.clone(), Draining)]
    );

    // b's node is out of reach: b gets no new connection, keeps its open ones.
    let next = report(
        &handle,
        &nb,
        seq[&nb],
        vec![EventKind::InstanceReady {
            instance: b.clone(),
        }],
    )
    .await;
    seq.insert(nb.clone(), next);
    sets.wait_for(|s| {
        mesh_of(s, &free).is_some_and(|m| m.iter().any(|e| e.0 == eb.0 && e.2 == Ready))
    })
    .await
    .unwrap();
    handle.lapsed(&nb, false).await.unwrap();
    let s = sets
        .wait_for(|s| {
            mesh_of(s, &free).is_some_and(|m| m.iter().any(|e| e.0 == eb.0 && e.2 == Unready))
        })
        .await
        .unwrap()
        .clone();
    assert_eq!(
        mesh_of(&s, &na).unwrap(),
        vec![(eb.0.clone(), eb.1.clone(), Unready)]
    );

    // b's node is lost: b leaves every table at once (its replacement starts elsewhere).
    handle.lapsed(&nb, true).await.unwrap();
    let s = sets
        .wait_for(|s| mesh_of(s, &free).is_some_and(|m| m.iter().all(|e| e.0 != eb.0)))
        .await
        .unwrap()
        .clone();
    assert!(
        mesh_of(&s, &na)
            .unwrap()
            .iter()
            .all(|e| !e.1.starts_with(&ip(&nb))),
        "{:?}",
        mesh_of(&s, &na)
    );
}

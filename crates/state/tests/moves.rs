//! The fold of a move off a node: an evicted instance is unplaced once its node reports it
//! no longer runs, and the move ends once it is ready on another node; a node's labels and
//! taints set by hand outlive its agent's rejoin, and an uncordon ends a drain.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use orco_state::{Capacity, Event, EventKind, InstanceId, Phase, State};

fn fold(state: &mut State, kinds: Vec<EventKind>) {
    for kind in kinds {
        state.apply(&Event::new(Timestamp::now(), kind));
    }
}

fn joined(node: &str, labels: &[(&str, &str)], taints: &[&str]) -> EventKind {
    EventKind::NodeJoined {
        node: node.into(),
        address: "127.0.0.1:1".into(),
        capacity: Capacity::default(),
        allocatable: Capacity::default(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        taints: taints.iter().map(|t| t.to_string()).collect(),
    }
}

fn ready(id: &InstanceId) -> Vec<EventKind> {
    vec![
        EventKind::InstanceStarting {
            instance: id.clone(),
            attempt: 1,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: id.clone(),
            pid: Some(7),
            container: None,
        },
        EventKind::InstanceReady {
            instance: id.clone(),
        },
    ]
}

#[test]
fn an_evicted_instance_is_unplaced_once_stopped_and_its_move_ends_when_ready_elsewhere() {
    let id: InstanceId = "s/web-0".parse().unwrap();
    let mut state = State::default();
    fold(
        &mut state,
        vec![
            joined("n1", &[], &[]),
            joined("n2", &[], &[]),
            EventKind::InstanceCreated {
                instance: id.clone(),
                node: None,
            },
            EventKind::InstancePlaced {
                instance: id.clone(),
                node: "n1".into(),
            },
        ],
    );
    fold(&mut state, ready(&id));
    fold(
        &mut state,
        vec![EventKind::InstanceEvicted {
            instance: id.clone(),
            reason: "its node is drained".into(),
        }],
    );
    let i = &state.instances[&id];
    assert!(i.leaving(), "it stays on n1 while it runs there");
    assert_eq!(i.node.as_deref(), Some("n1"));
    fold(
        &mut state,
        vec![
            EventKind::InstanceStopping {
                instance: id.clone(),
                reason: "moving".into(),
            },
            EventKind::InstanceStopped {
                instance: id.clone(),
            },
        ],
    );
    let i = &state.instances[&id];
    assert_eq!(
        (i.node.as_deref(), i.phase, i.pid),
        (None, Phase::Pending, None)
    );
    assert!(i.waiting_since.is_some(), "its next start is gated again");
    assert!(i.reason.as_deref().unwrap().contains("moving off node n1"));
    assert!(i.evicted.is_some(), "the move is not over");
    fold(
        &mut state,
        vec![EventKind::InstancePlaced {
            instance: id.clone(),
            node: "n2".into(),
        }],
    );
    fold(&mut state, ready(&id));
    let i = &state.instances[&id];
    assert_eq!(i.node.as_deref(), Some("n2"));
    assert_eq!(i.evicted, None, "ready elsewhere: the move is over");
}

#[test]
fn an_evicted_instance_that_does_not_run_is_unplaced_at_once() {
    let id: InstanceId = "s/web-0".parse().unwrap();
    let mut state = State::default();
    fold(
        &mut state,
        vec![
            joined("n1", &[], &[]),
            EventKind::InstanceCreated {
                instance: id.clone(),
                node: None,
            },
            EventKind::InstancePlaced {
                instance: id.clone(),
                node: "n1".into(),
            },
            EventKind::InstanceEvicted {
                instance: id.clone(),
                reason: "its node is drained".into(),
            },
        ],
    );
    assert_eq!(state.instances[&id].node, None);
}

#[test]
fn labels_and_taints_set_by_hand_outlive_a_rejoin_and_an_uncordon_ends_a_drain() {
    let mut state = State::default();
    fold(
        &mut state,
        vec![
            joined("n1", &[("zone", "a")], &["spot"]),
            EventKind::NodeTainted {
                node: "n1".into(),
                taints: vec!["maint=now:NoExecute".into()],
            },
            joined("n1", &[("zone", "b")], &["spot"]),
        ],
    );
    let n = &state.nodes["n1"];
    assert_eq!(
        n.labels["zone"], "b",
        "labels not set by hand follow the agent"
    );
    assert_eq!(n.taints, vec!["maint=now:NoExecute".to_string()]);
    assert_eq!(n.no_execute().collect::<Vec<_>>(), vec![("maint", "now")]);
    assert!(n.must_leave(&[]).unwrap().contains("maint=now:NoExecute"));
    assert_eq!(n.must_leave(&["maint".parse().unwrap()]), None);
    fold(
        &mut state,
        vec![
            EventKind::NodeLabeled {
                node: "n1".into(),
                labels: [("disk".to_string(), "ssd".to_string())].into(),
            },
            joined("n1", &[("zone", "c")], &[]),
            EventKind::NodeDrainRequested { node: "n1".into() },
        ],
    );
    let n = &state.nodes["n1"];
    assert_eq!(n.labels.len(), 1);
    assert_eq!(n.labels["disk"], "ssd");
    assert!(n.cordoned && n.draining);
    assert_eq!(
        n.must_leave(&["maint".parse().unwrap()]).as_deref(),
        Some("its node is drained")
    );
    fold(
        &mut state,
        vec![EventKind::NodeCordoned {
            node: "n1".into(),
            cordoned: false,
        }],
    );
    assert!(!state.nodes["n1"].cordoned && !state.nodes["n1"].draining);
}

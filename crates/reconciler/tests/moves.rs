//! Moves as pure decisions: an instance on a drained or NoExecute-tainted node is evicted
//! only while a surge instance of its service is ready, one per ready surge; what does not
//! run is evicted at once; a service that cannot surge moves one at a time.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::{Desired, reconcile};
use orco_state::{Capacity, Event, EventKind, InstanceId, State};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn fold(state: &mut State, kinds: Vec<EventKind>) {
    for kind in kinds {
        state.apply(&Event::new(t(state.revision as i64), kind));
    }
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
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

/// `web` with 3 replicas on n1 (0, 1) and n2 (2), every instance ready.
fn world(service: &str) -> State {
    world_of(
        &format!("  web:\n{service}"),
        &[],
        &[("s/web-0", "n1"), ("s/web-1", "n1"), ("s/web-2", "n2")],
    )
}

fn evicted(events: &[EventKind]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::InstanceEvicted { instance, .. } => Some(instance.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_drain_creates_a_surge_slot_and_evicts_one_instance_per_ready_surge_instance() {
    let mut state = world("    command: x\n    replicas: 3\n");
    fold(
        &mut state,
        vec![EventKind::NodeDrainRequested { node: "n1".into() }],
    );
    let plan = reconcile(&state, t(100));
    assert_eq!(
        plan.events,
        vec![EventKind::InstanceCreated {
            instance: id("s/web-3"),
            node: None,
        }],
        "a surge slot first, nothing evicted while it is not ready"
    );
    fold(&mut state, plan.events);
    fold(
        &mut state,
        vec![EventKind::InstancePlaced {
            instance: id("s/web-3"),
            node: "n2".into(),
        }],
    );
    assert!(evicted(&reconcile(&state, t(100)).events).is_empty());
    fold(&mut state, ready(&id("s/web-3")));
    let plan = reconcile(&state, t(100));
    assert_eq!(
        evicted(&plan.events),
        vec!["s/web-0"],
        "one per ready surge"
    );
    fold(&mut state, plan.events);
    let plan = reconcile(&state, t(100));
    assert!(
        evicted(&plan.events).is_empty(),
        "web-1 waits for web-0's move"
    );
    assert!(
        matches!(plan.assignments[&id("s/web-0")].desired, Desired::Stop { ref reason } if reason.contains("moving off node n1")),
        "{:?}",
        plan.assignments[&id("s/web-0")].desired
    );
    assert_eq!(plan.assignments[&id("s/web-1")].desired, Desired::Run);
    assert_eq!(plan.assignments[&id("s/web-3")].desired, Desired::Run);
}

#[test]
fn a_no_execute_taint_evicts_what_does_not_tolerate_it_and_a_stopped_instance_at_once() {
    let mut state = world("    command: x\n    replicas: 3\n");
    fold(
        &mut state,
        vec![
            EventKind::InstanceExited {
                instance: id("s/web-1"),
                status: orco_state::ExitStatus::Code(1),
            },
            EventKind::NodeTainted {
                node: "n1".into(),
                taints: vec!["maint:NoExecute".into()],
            },
        ],
    );
    let plan = reconcile(&state, t(100));
    assert_eq!(evicted(&plan.events), vec!["s/web-1"], "{:?}", plan.events);
    // Tolerated: nothing moves.
    let mut state =
        world("    command: x\n    replicas: 3\n    placement: {tolerations: [maint]}\n");
    fold(
        &mut state,
        vec![EventKind::NodeTainted {
            node: "n1".into(),
            taints: vec!["maint:NoExecute".into()],
        }],
    );
    assert!(reconcile(&state, t(100)).events.is_empty());
}

#[test]
fn a_service_that_cannot_surge_moves_one_instance_at_a_time() {
    let mut state =
        world("    command: x\n    replicas: 3\n    ports: ['8080:8080']\n    proxy: false\n");
    fold(
        &mut state,
        vec![EventKind::NodeDrainRequested { node: "n1".into() }],
    );
    let plan = reconcile(&state, t(100));
    assert_eq!(evicted(&plan.events), vec!["s/web-0"]);
    assert!(
        !plan
            .events
            .iter()
            .any(|e| matches!(e, EventKind::InstanceCreated { .. })),
        "no surge slot"
    );
    fold(&mut state, plan.events);
    assert!(evicted(&reconcile(&state, t(100)).events).is_empty());
}

/// `yaml`'s services in stack `s` on nodes n1 and n2 with `labels`, each instance of
/// `placed` ready on its node, and nothing left to do.
fn world_of(yaml: &str, labels: &[(&str, &str)], placed: &[(&str, &str)]) -> State {
    let yaml = format!("version: 0.1\nstack: {{name: s}}\nservices:\n{yaml}");
    let stack = orco_spec::load_str(Path::new("t.yaml"), &yaml, &std::env::temp_dir())
        .unwrap()
        .stack;
    let mut state = State::new();
    let mut kinds = vec![EventKind::StackApplied {
        stack: Box::new(stack),
    }];
    for node in ["n1", "n2"] {
        kinds.push(EventKind::NodeJoined {
            node: node.into(),
            address: "a".into(),
            capacity: Capacity::default(),
            allocatable: Capacity::default(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints: Vec::new(),
        });
    }
    for (instance, node) in placed {
        let i = id(instance);
        kinds.push(EventKind::InstanceCreated {
            instance: i.clone(),
            node: None,
        });
        kinds.push(EventKind::InstancePlaced {
            instance: i.clone(),
            node: (*node).into(),
        });
        kinds.extend(ready(&i));
    }
    fold(&mut state, kinds);
    assert!(reconcile(&state, t(100)).events.is_empty());
    state
}

/// `yaml`'s services on n1 and n2, both labelled `disk=ssd`, `placed` ready.
fn labelled_world(yaml: &str, placed: &[(&str, &str)]) -> State {
    world_of(yaml, &[("disk", "ssd")], placed)
}

fn broken(events: &[EventKind]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::PlacementBroken { instance, reason } => {
                Some((instance.to_string(), reason.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_removed_label_breaks_a_placement_which_moves_through_a_surge_slot_after_the_cooldown() {
    let mut state = labelled_world(
        "  web:\n    command: x\n    replicas: 2\n    placement: {nodeSelector: {disk: ssd}}\n",
        &[("s/web-0", "n1"), ("s/web-1", "n2")],
    );
    fold(
        &mut state,
        vec![EventKind::NodeLabeled {
            node: "n1".into(),
            labels: Default::default(),
        }],
    );
    let plan = reconcile(&state, t(100));
    assert_eq!(
        broken(&plan.events),
        [(
            "s/web-0".to_string(),
            "node n1 no longer has the label disk=ssd".to_string()
        )]
    );
    assert_eq!(plan.events.len(), 1, "nothing moves yet: {:?}", plan.events);
    fold(&mut state, plan.events);
    let since = state.instances[&id("s/web-0")]
        .misplaced
        .clone()
        .unwrap()
        .since;

    // Within the cooldown nothing happens, and the plan wakes when it ends.
    let plan = reconcile(&state, since + jiff::SignedDuration::from_secs(29));
    assert!(plan.events.is_empty(), "{:?}", plan.events);
    assert_eq!(
        plan.wake_at,
        Some(since + orco_reconciler::DEFAULT_REPAIR_COOLDOWN)
    );

    // Then it moves as a drain does: a surge slot, and the eviction once it is ready.
    let after = since + jiff::SignedDuration::from_secs(31);
    let plan = reconcile(&state, after);
    assert_eq!(
        plan.events,
        vec![EventKind::InstanceCreated {
            instance: id("s/web-2"),
            node: None,
        }]
    );
    fold(&mut state, plan.events);
    fold(
        &mut state,
        vec![EventKind::InstancePlaced {
            instance: id("s/web-2"),
            node: "n2".into(),
        }],
    );
    fold(&mut state, ready(&id("s/web-2")));
    let plan = reconcile(&state, after);
    let evictions: Vec<_> = plan
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::InstanceEvicted { instance, reason } => {
                Some((instance.to_string(), reason.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        evictions,
        [(
            "s/web-0".to_string(),
            "placement repair: node n1 no longer has the label disk=ssd".to_string()
        )]
    );
}

#[test]
fn a_label_put_back_within_the_cooldown_keeps_the_instance_where_it_is() {
    let mut state = labelled_world(
        "  web:\n    command: x\n    placement: {nodeSelector: {disk: ssd}}\n",
        &[("s/web-0", "n1")],
    );
    let labels = |ssd: bool| EventKind::NodeLabeled {
        node: "n1".into(),
        labels: if ssd {
            [("disk".to_string(), "ssd".to_string())].into()
        } else {
            Default::default()
        },
    };
    fold(&mut state, vec![labels(false)]);
    let plan = reconcile(&state, t(100));
    assert_eq!(broken(&plan.events).len(), 1);
    fold(&mut state, plan.events);
    fold(&mut state, vec![labels(true)]);
    let plan = reconcile(&state, t(110));
    assert_eq!(
        plan.events,
        vec![EventKind::PlacementRestored {
            instance: id("s/web-0")
        }]
    );
    fold(&mut state, plan.events);
    let plan = reconcile(&state, t(1000));
    assert!(plan.events.is_empty(), "{:?}", plan.events);
}

#[test]
fn a_follower_stays_while_its_anchor_restarts_and_breaks_once_no_anchor_instance_is_on_its_node() {
    let mut state = labelled_world(
        "  db:\n    command: x\n  app:\n    command: x\n    placement: {anchor: db}\n",
        &[("s/db-0", "n1"), ("s/app-0", "n1")],
    );
    // The anchor restarts in place: the follower's placement still holds.
    fold(
        &mut state,
        vec![EventKind::InstanceExited {
            instance: id("s/db-0"),
            status: orco_state::ExitStatus::Code(1),
        }],
    );
    let plan = reconcile(&state, t(100));
    assert!(broken(&plan.events).is_empty(), "{:?}", plan.events);
    // The anchor is placed on another node: the follower's placement breaks.
    fold(
        &mut state,
        vec![EventKind::InstancePlaced {
            instance: id("s/db-0"),
            node: "n2".into(),
        }],
    );
    let plan = reconcile(&state, t(100));
    assert_eq!(
        broken(&plan.events),
        [(
            "s/app-0".to_string(),
            "no instance of its anchor db is placed on node n1".to_string()
        )]
    );
}

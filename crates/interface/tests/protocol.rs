//! The interface's messages survive the wire, and a peer of another version is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use orco_interface::{
    Ack, Assignment, AssignmentSet, Desired, Down, Endpoint, EndpointState, EventBatch,
    InterfaceError, LastSeen, NodeReport, PROTOCOL_VERSION, Position, Recorded, Route,
    TaskAssignment, TaskDesired, Up, decode, encode,
};
use orco_state::{Event, EventKind, ExitStatus, InstanceId, Phase, Restarts, TaskId};

const STACK: &str = "version: 0.1
stack: {name: shop}
services:
  web:
    command: [\"python3\", \"-m\", \"http.server\", \"{{port}}\"]
    env: {A: \"1\"}
    ports: [\"8080:80\"]
    restartPolicy: {mode: always, maxRetries: 3, backoff: {min: 100ms, max: 5s}}
    health: {http: {url: \"http://127.0.0.1:8080/\"}, interval: 1s, onFailure: restart}
jobs:
  migrate:
    tasks:
      up: {command: \"echo up\", timeout: 30s}
";

fn stack() -> orco_spec::Stack {
    orco_spec::load_str(Path::new("stack.yaml"), STACK, Path::new("/srv/shop"))
        .expect("a valid stack")
        .stack
}

fn set() -> AssignmentSet {
    let stack = stack();
    let id: InstanceId = "shop/web-1".parse().expect("an instance id");
    let at = Timestamp::from_second(1_800_000_000).expect("a time");
    let assignment = Assignment {
        instance: id.clone(),
        workdir: PathBuf::from("/srv/shop"),
        service: stack.services["web"].clone(),
        generation: 4,
        revision: 2,
        restart_requests: 1,
        desired: Desired::Stop {
            reason: "scaled down".into(),
        },
        last_seen: Some(LastSeen {
            pid: 4242,
            ready: true,
        }),
        port: Some(40_001),
        recorded: Recorded {
            phase: Phase::Running { ready: true },
            pid: Some(4242),
            started_at: Some(at),
            restarts: Restarts {
                total: 3,
                failures: 1,
                delay_ms: 200,
                backoff_until: Some(at),
            },
            reason: Some("exit code 1".into()),
        },
    };
    let task: TaskId = "shop/migrate#1/up".parse().expect("a task id");
    let task_assignment = TaskAssignment {
        task: task.clone(),
        attempt: 2,
        first_attempt: 1,
        spec: stack.jobs["migrate"].tasks["up"].clone(),
        workdir: PathBuf::from("/srv/shop"),
        pid: Some(77),
        started_at: Some(at),
        desired: TaskDesired::Run,
    };
    AssignmentSet {
        at: Position {
            epoch: 3,
            revision: 1_234,
        },
        instances: BTreeMap::from([(id, assignment)]),
        tasks: BTreeMap::from([(task, task_assignment)]),
        settled: true,
        routes: vec![route(EndpointState::Ready)],
    }
}

/// `shop/web` on 127.0.0.1:8080 with `shop/web-0` on node n2.
fn route(state: EndpointState) -> Route {
    Route {
        workload: "shop/web".parse().expect("a workload id"),
        addr: "127.0.0.1:8080".parse().expect("an address"),
        endpoints: vec![Endpoint {
            instance: "shop/web-0".parse().expect("an instance id"),
            node: "n2".into(),
            addr: "10.0.0.2:41000".parse().expect("an address"),
            state,
            grace_ms: 10_000,
        }],
    }
}

#[test]
fn every_message_comes_back_from_the_wire_as_it_was_sent() {
    let set = set();
    let down = [
        Down::Assignments(set.clone()),
        Down::Changes(AssignmentSet::default().changes_to(&set)),
        Down::Ack(Ack {
            through: 12,
            revision: 1_240,
        }),
        Down::Lease(orco_interface::Lease {
            sent_ms: 1234,
            lease_ms: 3000,
        }),
        Down::Gossip(orco_interface::GossipOffer {
            key: "ab".repeat(32),
            server: "srv".into(),
            generation: 1_800_000_000_000,
            address: "10.0.0.2:7946".parse().expect("an address"),
        }),
    ];
    for message in down {
        let bytes = encode(&message).expect("encodes");
        assert_eq!(decode::<Down>(&bytes).expect("decodes"), message);
    }
    let at = Timestamp::from_second(1_800_000_000).expect("a time");
    let id: InstanceId = "shop/web-1".parse().expect("an instance id");
    let up = [
        Up::Report(NodeReport {
            node: "n1".into(),
            seen: set.at,
            acknowledged: 11,
            running: vec!["shop.web-1".into()],
            address: "10.0.0.2:51234".into(),
            capacity: orco_state::Capacity {
                cpu_millis: 2000,
                memory: 4 << 30,
            },
            allocatable: orco_state::Capacity {
                cpu_millis: 1500,
                memory: 3 << 30,
            },
            labels: [("disk".to_string(), "ssd".to_string())].into(),
            taints: vec!["gpu=yes:NoSchedule".into()],
        }),
        Up::Renew(orco_interface::Renew { sent_ms: 1234 }),
        Up::Events(EventBatch {
            node: "n1".into(),
            first: 12,
            events: vec![
                Event::new(
                    at,
                    EventKind::InstanceExited {
                        instance: id.clone(),
                        status: ExitStatus::Signal(9),
                    },
                ),
                Event::new(
                    at,
                    EventKind::InstanceBackoff {
                        instance: id,
                        failures: 2,
                        delay_ms: 400,
                        until: at,
                    },
                ),
            ],
        }),
    ];
    for message in up {
        let bytes = encode(&message).expect("encodes");
        assert_eq!(decode::<Up>(&bytes).expect("decodes"), message);
    }
}

#[test]
fn a_message_of_another_version_is_refused_for_its_version() {
    let bytes = encode(&Down::Assignments(set())).expect("encodes");
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(value["version"], PROTOCOL_VERSION);
    value["version"] = (PROTOCOL_VERSION + 1).into();
    // Even a message whose shape changed is refused for its version, not its shape.
    value["message"] = serde_json::json!({"type": "somethingNew"});
    let other = serde_json::to_vec(&value).expect("json");
    match decode::<Down>(&other) {
        Err(InterfaceError::Version { ours, theirs }) => {
            assert_eq!((ours, theirs), (PROTOCOL_VERSION, PROTOCOL_VERSION + 1));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    let err = decode::<Down>(b"{\"message\": {}}").expect_err("no version");
    assert!(matches!(err, InterfaceError::Malformed(_)), "{err}");
}

#[test]
fn a_node_takes_changes_of_its_epoch_and_refuses_older_assignments() {
    let full = set();
    let mut node = AssignmentSet::default();
    // Changes before any full set cannot be applied.
    assert!(matches!(
        node.accept(Down::Changes(AssignmentSet::default().changes_to(&full))),
        Err(InterfaceError::Unanchored { .. })
    ));
    node.accept(Down::Assignments(full.clone()))
        .expect("the full set");
    assert_eq!(node, full);

    // The same epoch, later: the instance goes, the task stays.
    let mut next = full.clone();
    next.at.revision += 5;
    next.instances.clear();
    let changes = full.changes_to(&next);
    assert_eq!(changes.removed.len(), 1);
    assert!(
        changes.tasks.is_empty(),
        "an unchanged task is not sent again"
    );
    node.accept(Down::Changes(changes)).expect("changes");
    assert_eq!(node, next);

    // From before (a deposed leader, a reordered message): refused, nothing changes.
    let err = node
        .accept(Down::Assignments(full.clone()))
        .expect_err("stale");
    assert!(matches!(err, InterfaceError::Stale { .. }), "{err}");
    assert_eq!(node, next);

    // A new epoch outranks any revision of the old one.
    let lost = AssignmentSet {
        at: Position {
            epoch: full.at.epoch + 1,
            revision: 1,
        },
        ..AssignmentSet::default()
    };
    node.accept(Down::Assignments(lost.clone()))
        .expect("new epoch");
    assert_eq!(node, lost);
    assert!(matches!(
        node.accept(Down::Changes(full.changes_to(&next))),
        Err(InterfaceError::Stale { .. })
    ));
}

#[test]
fn the_routing_mesh_goes_down_whole_when_it_changes_and_not_at_all_when_it_does_not() {
    let full = set();
    let mut node = AssignmentSet::default();
    node.accept(Down::Assignments(full.clone()))
        .expect("the full set");
    assert_eq!(node.routes, full.routes);

    let mut same = full.clone();
    same.at.revision += 1;
    let changes = full.changes_to(&same);
    assert_eq!(changes.routes, None, "unchanged routes are not sent again");
    let wire = encode(&Down::Changes(changes)).expect("encoded");
    assert!(!String::from_utf8_lossy(&wire).contains("routes"));
    node.accept(decode(&wire).expect("decoded"))
        .expect("changes");
    assert_eq!(node, same);

    // The instance drains on its node: every other node hears it.
    let mut draining = same.clone();
    draining.at.revision += 1;
    draining.routes = vec![route(EndpointState::Draining)];
    let changes = same.changes_to(&draining);
    assert_eq!(changes.routes.as_deref(), Some(&draining.routes[..]));
    node.accept(Down::Changes(changes)).expect("changes");
    assert_eq!(node, draining);

    // Its node is lost: the route is left with no endpoint.
    let mut gone = draining.clone();
    gone.at.revision += 1;
    gone.routes[0].endpoints.clear();
    node.accept(Down::Changes(draining.changes_to(&gone)))
        .expect("changes");
    assert_eq!(node.routes[0].endpoints, []);
    assert_eq!(
        route(EndpointState::Ready).endpoints[0].backend_id(),
        "n2/shop/web-0"
    );
}

#[test]
fn a_gossip_offer_never_shows_its_key_in_debug() {
    let offer = orco_interface::GossipOffer {
        key: "ab".repeat(32),
        server: "srv".into(),
        generation: 1,
        address: "10.0.0.2:7946".parse().expect("an address"),
    };
    let shown = format!("{offer:?}");
    assert!(!shown.contains("abab"), "{shown}");
    assert!(shown.contains("srv"), "{shown}");
}

//! Rollouts as pure decisions: which instances a changed service replaces next within
//! `maxSurge` and `maxUnavailable`, when the rollout is finished, and when it rolls back.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use jiff::Timestamp;
use orco_reconciler::{Desired, Plan, reconcile};
use orco_state::{Event, EventKind, ExitStatus, InstanceId, RolloutStatus, State, WorkloadId};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn stack(yaml: &str) -> orco_spec::Stack {
    let dir = std::env::temp_dir();
    match orco_spec::load_str(Path::new("t.yaml"), yaml, &dir) {
        Ok(l) => l.stack,
        Err(r) => panic!("{r}"),
    }
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

fn web_stack(version: &str, update: &str) -> String {
    format!(
        "version: 0.1\nstack: {{name: s}}\nservices:\n  web:\n    command: x\n    env: {{VERSION: {version}}}\n    ports: ['8080:8080']\n    replicas: 3\n    health: {{tcp: {{port: 8080}}, interval: 1s}}\n    update: {update}\n"
    )
}

struct World {
    state: State,
    clock: i64,
    /// The revision each instance's current run was started with, as the node knows it.
    runs: std::collections::BTreeMap<InstanceId, u32>,
    /// Starts of each instance, as the node made them.
    starts: std::collections::BTreeMap<InstanceId, u32>,
}

impl World {
    fn new(yaml: &str) -> World {
        let mut w = World {
            state: State::new(),
            clock: 0,
            runs: std::collections::BTreeMap::new(),
            starts: std::collections::BTreeMap::new(),
        };
        w.apply(EventKind::StackApplied {
            stack: Box::new(stack(yaml)),
        });
        w
    }

    fn apply(&mut self, kind: EventKind) {
        self.clock += 1;
        self.state.apply(&Event::new(t(self.clock), kind));
    }

    fn settle(&mut self) -> Plan {
        for _ in 0..10 {
            let plan = reconcile(&self.state, t(self.clock));
            if plan.events.is_empty() {
                return plan;
            }
            for e in plan.events {
                self.apply(e);
            }
        }
        panic!("the reconciler did not converge");
    }

    /// What the node does with the plan's run assignments: starts what does not run, and
    /// restarts (stops, then starts, not ready) what runs another revision (the agent's
    /// rule: the assignment's revision changed).
    fn node(&mut self, plan: &Plan, specs: &mut std::collections::BTreeMap<InstanceId, String>) {
        for (i, a) in &plan.assignments {
            let spec = a
                .service
                .env
                .get("VERSION")
                .and_then(|v| v.value())
                .unwrap_or_default()
                .to_string();
            let runs = self.state.instances[i].phase.is_live();
            match &a.desired {
                Desired::Run if !runs => {
                    self.start(i);
                    self.runs.insert(i.clone(), a.revision);
                    specs.insert(i.clone(), spec);
                }
                Desired::Run if self.runs.get(i) != Some(&a.revision) => {
                    self.runs.insert(i.clone(), a.revision);
                    self.apply(EventKind::InstanceStopping {
                        instance: i.clone(),
                        reason: "its spec changed".into(),
                    });
                    self.apply(EventKind::InstanceExited {
                        instance: i.clone(),
                        status: ExitStatus::Code(0),
                    });
                    self.start(i);
                    specs.insert(i.clone(), spec);
                }
                Desired::Run => {}
                Desired::Stop { .. } if runs => {
                    self.apply(EventKind::InstanceStopping {
                        instance: i.clone(),
                        reason: "stop".into(),
                    });
                    self.apply(EventKind::InstanceExited {
                        instance: i.clone(),
                        status: ExitStatus::Code(0),
                    });
                }
                Desired::Stop { .. } => {}
            }
        }
    }

    fn start(&mut self, instance: &InstanceId) {
        *self.starts.entry(instance.clone()).or_default() += 1;
        self.apply(EventKind::InstanceStarting {
            instance: instance.clone(),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        });
        self.apply(EventKind::InstanceStarted {
            instance: instance.clone(),
            pid: Some(100),
            container: None,
        });
    }

    fn ready(&mut self, instance: &str) {
        self.apply(EventKind::InstanceReady {
            instance: id(instance),
        });
    }

    fn ready_count(&self) -> usize {
        self.state
            .instances
            .values()
            .filter(|i| i.phase == orco_state::Phase::Running { ready: true })
            .count()
    }

    fn not_ready(&self) -> Vec<String> {
        self.state
            .instances
            .iter()
            .filter(|(_, i)| i.phase != orco_state::Phase::Running { ready: true })
            .map(|(i, _)| i.to_string())
            .collect()
    }

    fn status(&self) -> Option<RolloutStatus> {
        self.state.stacks.values().next().unwrap().revisions["web"]
            .rollout
            .as_ref()
            .map(|r| r.status.clone())
    }
}

/// Brings `yaml` up: three ready instances of revision 1.
fn up(yaml: &str) -> (World, std::collections::BTreeMap<InstanceId, String>) {
    let mut w = World::new(yaml);
    let mut specs = std::collections::BTreeMap::new();
    let plan = w.settle();
    w.node(&plan, &mut specs);
    for i in ["s/web-0", "s/web-1", "s/web-2"] {
        w.ready(i);
    }
    assert_eq!(w.settle().events, []);
    (w, specs)
}

/// Runs a rollout to the end: the node acts on each plan and every started instance becomes
/// ready; records the fewest ready instances and the most instances seen at once.
fn roll(
    w: &mut World,
    specs: &mut std::collections::BTreeMap<InstanceId, String>,
) -> (usize, usize) {
    let (mut fewest, mut most) = (usize::MAX, 0);
    for _ in 0..50 {
        let plan = w.settle();
        w.node(&plan, specs);
        fewest = fewest.min(w.ready_count());
        most = most.max(
            w.state
                .instances
                .values()
                .filter(|i| i.phase.is_live())
                .count(),
        );
        if w.status() == Some(RolloutStatus::Complete) && w.not_ready().is_empty() {
            return (fewest, most);
        }
        for i in w.not_ready() {
            if w.state.instances[&id(&i)].phase.is_live() {
                w.ready(&i);
            }
        }
    }
    let seen: Vec<_> = w
        .state
        .instances
        .iter()
        .map(|(i, x)| (i.to_string(), x.phase, x.revision, x.since, x.revised_at))
        .collect();
    panic!("the rollout did not finish: {:?} {seen:#?}", w.status());
}

#[test]
fn a_rolling_update_never_has_fewer_ready_than_replicas_and_at_most_one_surge_instance() {
    let (mut w, mut specs) = up(&web_stack("v1", "{}"));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", "{}"))),
    });
    // The first step starts a surge instance with the new spec and replaces nothing yet.
    let plan = w.settle();
    assert!(w.state.instances.contains_key(&id("s/web-3")));
    assert_eq!(
        plan.assignments[&id("s/web-0")].service.env["VERSION"],
        "v1"
    );
    assert_eq!(
        plan.assignments[&id("s/web-3")].service.env["VERSION"],
        "v2"
    );
    let (fewest, most) = roll(&mut w, &mut specs);
    assert_eq!(fewest, 3, "never fewer ready instances than replicas");
    assert_eq!(most, 4, "at most one surge instance");
    let versions: BTreeSet<_> = specs
        .iter()
        .filter(|(i, _)| i.replica < 3)
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(versions, BTreeSet::from(["v2".to_string()]));
    assert_eq!(w.state.instances.len(), 3, "the surge slot is removed");
}

#[test]
fn with_one_unavailable_and_no_surge_instances_are_replaced_in_place_one_at_a_time() {
    let update = "{maxUnavailable: 1, maxSurge: 0}";
    let (mut w, mut specs) = up(&web_stack("v1", update));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", update))),
    });
    let plan = w.settle();
    let revised: Vec<_> = w
        .state
        .instances
        .iter()
        .filter(|(_, i)| i.revision == 2)
        .map(|(i, _)| i.to_string())
        .collect();
    assert_eq!(revised, ["s/web-0"]);
    assert_eq!(
        plan.assignments[&id("s/web-0")].service.env["VERSION"],
        "v2"
    );
    assert_eq!(
        plan.assignments[&id("s/web-1")].service.env["VERSION"],
        "v1"
    );
    let (fewest, most) = roll(&mut w, &mut specs);
    assert_eq!(fewest, 2);
    assert_eq!(most, 3, "no surge");
}

#[test]
fn recreate_replaces_every_instance_at_once() {
    let update = "{strategy: recreate}";
    let (mut w, _) = up(&web_stack("v1", update));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", update))),
    });
    let plan = w.settle();
    assert!(w.state.instances.values().all(|i| i.revision == 2));
    assert!(
        plan.assignments
            .values()
            .all(|a| a.service.env["VERSION"] == "v2")
    );
    assert!(!w.state.instances.contains_key(&id("s/web-3")));
}

#[test]
fn a_new_instance_not_ready_within_the_deadline_rolls_the_service_back_to_its_previous_spec() {
    let (mut w, mut specs) = up(&web_stack("v1", "{}"));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", "{}"))),
    });
    let plan = w.settle();
    w.node(&plan, &mut specs);
    // web-3 (v2) runs but never becomes ready; the old instances go on serving.
    let due = reconcile(&w.state, t(w.clock)).wake_at.unwrap();
    assert_eq!(w.ready_count(), 3);
    w.clock = due.as_second() - 1_800_000_000;
    let plan = w.settle();
    let web = &w.state.stacks.values().next().unwrap();
    let status = w.status().unwrap();
    assert!(
        matches!(&status, RolloutStatus::RollingBack { reason } if reason.contains("web-3") && reason.contains("not ready within")),
        "{status:?}"
    );
    assert_eq!(web.spec.services["web"].env["VERSION"], "v1");
    assert_eq!(web.revisions["web"].current(), 3, "v1 again, as revision 3");
    // Nothing old was touched: the surge instance is stopped and the rollback finishes.
    assert!(
        ["s/web-0", "s/web-1", "s/web-2"]
            .iter()
            .all(|i| plan.assignments[&id(i)].service.env["VERSION"] == "v1")
    );
    roll_back(&mut w, &mut specs);
}

fn roll_back(w: &mut World, specs: &mut std::collections::BTreeMap<InstanceId, String>) {
    for _ in 0..20 {
        let plan = w.settle();
        w.node(&plan, specs);
        if matches!(w.status(), Some(RolloutStatus::RolledBack { .. })) {
            assert_eq!(w.ready_count(), 3);
            return;
        }
        for i in w.not_ready() {
            if w.state.instances[&id(&i)].phase.is_live() {
                w.ready(&i);
            }
        }
    }
    panic!("the rollback did not finish: {:?}", w.status());
}

#[test]
fn a_crash_looping_new_instance_rolls_the_rollout_back() {
    let (mut w, mut specs) = up(&web_stack("v1", "{}"));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", "{}"))),
    });
    let plan = w.settle();
    w.node(&plan, &mut specs);
    for failures in 1..=2 {
        w.apply(EventKind::InstanceExited {
            instance: id("s/web-3"),
            status: ExitStatus::Code(1),
        });
        w.apply(EventKind::InstanceBackoff {
            instance: id("s/web-3"),
            failures,
            delay_ms: 1000,
            until: t(w.clock + 1),
        });
    }
    w.settle();
    let status = w.status().unwrap();
    assert!(
        matches!(&status, RolloutStatus::RollingBack { reason } | RolloutStatus::RolledBack { reason } if reason.contains("crash-looping")),
        "{status:?}"
    );
}

#[test]
fn a_rollback_request_returns_to_an_earlier_spec_through_a_rollout() {
    let (mut w, mut specs) = up(&web_stack("v1", "{}"));
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&web_stack("v2", "{}"))),
    });
    roll(&mut w, &mut specs);
    w.apply(EventKind::RollbackRequested {
        workload: WorkloadId::new("s".parse().unwrap(), "web").unwrap(),
        revision: 1,
    });
    assert_eq!(w.status(), Some(RolloutStatus::Progressing));
    let (fewest, _) = roll(&mut w, &mut specs);
    assert_eq!(fewest, 3);
    assert!(
        specs
            .iter()
            .filter(|(i, _)| i.replica < 3)
            .all(|(_, v)| v == "v1")
    );
    let web = &w.state.stacks.values().next().unwrap();
    assert_eq!(web.revisions["web"].current(), 3);
    assert_eq!(web.spec.services["web"].env["VERSION"], "v1");
}

#[test]
fn a_replica_change_alone_is_no_rollout() {
    let (mut w, _) = up(&web_stack("v1", "{}"));
    let yaml = web_stack("v1", "{}").replace("replicas: 3", "replicas: 4");
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&yaml)),
    });
    assert_eq!(w.status(), None);
    w.settle();
    assert_eq!(w.state.instances.len(), 4);
}

#[test]
fn a_dependent_with_restart_true_is_restarted_once_after_its_target_was_replaced() {
    let yaml = format!(
        "{}  api:\n    command: x\n    dependsOn: [{{target: web, require: ready, restart: true}}]\n  other:\n    command: x\n    dependsOn: [{{target: web, require: ready}}]\n",
        web_stack("v1", "{}")
    );
    let mut w = World::new(&yaml);
    let mut specs = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let plan = w.settle();
        w.node(&plan, &mut specs);
        for i in w.not_ready() {
            if w.state.instances[&id(&i)].phase.is_live() {
                w.ready(&i);
            }
        }
    }
    assert!(w.not_ready().is_empty(), "{:?}", w.not_ready());
    let requests = |w: &World, i: &str| w.state.instances[&id(i)].restart_requests;
    let v2 = format!(
        "{}  api:\n    command: x\n    dependsOn: [{{target: web, require: ready, restart: true}}]\n  other:\n    command: x\n    dependsOn: [{{target: web, require: ready}}]\n",
        web_stack("v2", "{}")
    );
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&v2)),
    });
    let mut during = 0;
    for _ in 0..50 {
        let plan = w.settle();
        w.node(&plan, &mut specs);
        if w.status() != Some(RolloutStatus::Complete) {
            during = during.max(requests(&w, "s/api-0"));
        }
        for i in w.not_ready() {
            if w.state.instances[&id(&i)].phase.is_live() {
                w.ready(&i);
            }
        }
        if w.status() == Some(RolloutStatus::Complete) && w.not_ready().is_empty() {
            break;
        }
    }
    w.settle();
    assert_eq!(during, 0, "not restarted while the rollout runs");
    assert_eq!(requests(&w, "s/api-0"), 1, "restarted once after it");
    assert_eq!(
        requests(&w, "s/other-0"),
        0,
        "without restart: true, left alone"
    );
    assert_eq!(w.settle().events, []);
}

#[test]
fn a_one_shot_service_whose_new_run_succeeded_finishes_its_rollout() {
    let yaml = |v: &str| {
        format!(
            "version: 0.1\nstack: {{name: s}}\nservices:\n  web:\n    command: x\n    env: {{VERSION: {v}}}\n    restartPolicy: {{mode: never}}\n"
        )
    };
    let mut w = World::new(&yaml("v1"));
    let mut specs = std::collections::BTreeMap::new();
    let plan = w.settle();
    w.node(&plan, &mut specs);
    w.apply(EventKind::InstanceExited {
        instance: id("s/web-0"),
        status: ExitStatus::Code(0),
    });
    w.apply(EventKind::StackApplied {
        stack: Box::new(stack(&yaml("v2"))),
    });
    for _ in 0..5 {
        let plan = w.settle();
        w.node(&plan, &mut specs);
        let live: Vec<InstanceId> = w
            .state
            .instances
            .iter()
            .filter(|(_, i)| i.phase.is_live())
            .map(|(i, _)| i.clone())
            .collect();
        for instance in live {
            w.apply(EventKind::InstanceExited {
                instance,
                status: ExitStatus::Code(0),
            });
        }
    }
    w.settle();
    assert_eq!(w.status(), Some(RolloutStatus::Complete));
    assert_eq!(specs[&id("s/web-0")], "v2");
}

#[test]
fn a_rolling_restart_replaces_every_instance_one_at_a_time_with_the_same_spec() {
    let (mut w, mut specs) = up(&web_stack("v1", "{}"));
    let before = w.starts.clone();
    w.apply(EventKind::RolloutRestartRequested {
        workload: "s/web".parse().unwrap(),
    });
    assert_eq!(w.status(), Some(RolloutStatus::Progressing));
    let (fewest, most) = roll(&mut w, &mut specs);
    assert_eq!(fewest, 3, "never fewer ready instances than replicas");
    assert_eq!(most, 4, "at most one surge instance");
    for i in ["s/web-0", "s/web-1", "s/web-2"] {
        assert_eq!(w.starts[&id(i)], before[&id(i)] + 1, "{i} restarted once");
    }
    assert!(specs.values().all(|v| v == "v1"), "{specs:?}");
    let web = &w.state.stacks.values().next().unwrap().revisions["web"];
    assert_eq!(web.current(), 2);
    assert_eq!(web.specs[0], web.specs[1], "the same spec");
    assert_eq!(w.state.instances.len(), 3, "the surge slot is removed");
}

#[test]
fn scaling_a_published_service_from_one_to_two_replicas_replaces_its_instance_as_a_rollout() {
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  web:\n    command: x\n    ports: ['8080:8080']\n    health: {tcp: {port: 8080}, interval: 1s}\n";
    let mut w = World::new(yaml);
    let mut specs = std::collections::BTreeMap::new();
    let plan = w.settle();
    w.node(&plan, &mut specs);
    w.ready("s/web-0");
    assert_eq!(w.settle().events, []);
    assert!(
        plan.assignments[&id("s/web-0")]
            .service
            .proxied_port()
            .is_none(),
        "one replica listens on the port itself"
    );
    w.apply(EventKind::ScaleChanged {
        workload: "s/web".parse().unwrap(),
        replicas: 2,
    });
    assert_eq!(
        w.status(),
        Some(RolloutStatus::Progressing),
        "moving behind the proxy is a new revision"
    );
    // web-0 keeps running as it is (not behind the proxy) until the rollout replaces it,
    // once the new instances are ready.
    let plan = w.settle();
    let web0 = &plan.assignments[&id("s/web-0")];
    assert_eq!(web0.revision, 1);
    assert!(web0.service.proxied_port().is_none());
    assert!(
        plan.assignments[&id("s/web-1")]
            .service
            .proxied_port()
            .is_some()
    );
    let (fewest, _) = roll(&mut w, &mut specs);
    assert!(fewest >= 1, "never without a ready instance");
    assert_eq!(
        w.starts[&id("s/web-0")],
        2,
        "web-0 was replaced once, by the rollout"
    );
    let plan = w.settle();
    assert!(
        plan.assignments[&id("s/web-0")]
            .service
            .proxied_port()
            .is_some()
    );
    assert_eq!(w.state.instances.len(), 2);
    // A third replica changes nothing for the two that run behind the proxy already.
    w.apply(EventKind::ScaleChanged {
        workload: "s/web".parse().unwrap(),
        replicas: 3,
    });
    assert_eq!(w.status(), Some(RolloutStatus::Complete));
    roll(&mut w, &mut specs);
    assert_eq!(w.starts[&id("s/web-0")], 2);
    assert_eq!(w.starts[&id("s/web-1")], 1);
}

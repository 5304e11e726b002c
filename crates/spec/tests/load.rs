//! What the loader resolves from valid files: defaults merged key by key, inferred runtimes,
//! default conditions, absolute working directories.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::path::Path;

use orco_spec::{
    Command, Duration, ProbeKind, ProxyMode, Require, RestartMode, RuntimeKind, load_file, load_str,
};

fn load(text: &str) -> orco_spec::Stack {
    let dir = tempfile::tempdir().unwrap();
    match load_str(Path::new("t.yaml"), text, dir.path()) {
        Ok(l) => l.stack,
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn the_seed_example_resolves_its_defaults_into_every_service() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed/stack.yaml");
    let stack = load_file(&root).unwrap().stack;
    let api = &stack.services["api"];
    // api's own restartPolicy wins key by key …
    assert_eq!(api.restart_policy.max_retries, 10);
    assert_eq!(api.restart_policy.backoff.min, Duration::from_millis(500));
    assert_eq!(api.restart_policy.backoff.factor, 1.8);
    // … and the defaults' health timings are merged under its own probes.
    let health = api.health.as_ref().unwrap();
    assert_eq!(health.grace_period, Duration::from_secs(5));
    assert_eq!(health.interval, Duration::from_secs(2));
    assert_eq!(health.failure_threshold, 3);
    assert_eq!(health.probes(), vec![ProbeKind::Http, ProbeKind::Log]);
    assert_eq!(
        health.expression.as_ref().unwrap().to_string(),
        "http || log"
    );
    // web has no restartPolicy of its own: it gets the defaults'.
    assert_eq!(stack.services["web"].restart_policy.max_retries, 5);
    assert_eq!(stack.services["web"].runtime, RuntimeKind::Process);
    assert_eq!(stack.services["db"].runtime, RuntimeKind::Docker);
    assert_eq!(api.replicas, 2);
    assert!(stack.stack.workdir.is_absolute());
    assert!(stack.stack.workdir.ends_with("examples/seed"));
}

#[test]
fn the_runtime_is_docker_when_an_image_is_given_and_process_otherwise() {
    let s = load(
        "version: 0.1\nstack: {name: x}\nservices:\n  a: {image: busybox}\n  b: {command: [sleep, 1]}\n",
    );
    assert_eq!(s.services["a"].runtime, RuntimeKind::Docker);
    assert_eq!(s.services["b"].runtime, RuntimeKind::Process);
    assert_eq!(
        s.services["b"].command,
        Some(Command::Exec(vec!["sleep".into(), "1".into()]))
    );
}

#[test]
fn require_defaults_to_ready_for_services_and_succeeded_for_jobs() {
    let s = load(
        "version: 0.1\nstack: {name: x}\nservices:\n  db: {command: x, health: {tcp: {port: 5}}}\n  api:\n    command: x\n    dependsOn: [{target: db}, {target: mig}]\njobs:\n  mig: {tasks: {up: {command: x}}}\n",
    );
    let deps = &s.services["api"].depends_on;
    assert_eq!(deps[0].require, Require::Ready);
    assert_eq!(deps[1].require, Require::Succeeded);
}

#[test]
fn unset_keys_take_the_documented_defaults() {
    let s = load(
        "version: 0.1\nstack: {name: x}\nservices:\n  a: {command: x, health: {tcp: {port: 5}}}\n",
    );
    let a = &s.services["a"];
    assert_eq!(a.replicas, 1);
    assert_eq!(a.proxy, ProxyMode::Auto);
    assert_eq!(a.restart_policy.mode, RestartMode::Always);
    assert_eq!(a.restart_policy.reset_after, Duration::from_secs(10));
    assert_eq!(a.stop.signal, "SIGTERM");
    assert_eq!(a.stop.timeout, Duration::from_secs(10));
    assert_eq!((a.update.max_unavailable, a.update.max_surge), (0, 1));
    let h = a.health.as_ref().unwrap();
    assert_eq!(h.tcp.as_ref().unwrap().host, "127.0.0.1");
    assert_eq!(
        (h.interval, h.timeout, h.grace_period),
        (
            Duration::from_secs(2),
            Duration::from_secs(1),
            Duration::zero()
        )
    );
}

#[test]
fn probes_in_defaults_reach_services_and_services_without_probes_have_no_health() {
    let s = load(
        "version: 0.1\nstack: {name: x}\ndefaults:\n  health: {interval: 9s}\nservices:\n  a: {command: x}\n  b: {command: x, health: {cmd: {command: [\"true\"]}}}\n",
    );
    assert!(
        s.services["a"].health.is_none(),
        "timings alone are not a probe"
    );
    assert_eq!(
        s.services["b"].health.as_ref().unwrap().interval,
        Duration::from_secs(9)
    );
}

#[test]
fn signal_names_are_normalised() {
    let s =
        load("version: 0.1\nstack: {name: x}\nservices:\n  a: {command: x, stop: {signal: int}}\n");
    assert_eq!(s.services["a"].stop.signal, "SIGINT");
}

#[test]
fn a_problem_in_defaults_is_reported_once_not_once_per_service() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 0.1\nstack: {name: x}\ndefaults:\n  stop: {timeout: soon}\nservices:\n  a: {command: x}\n  b: {command: x}\n";
    let report = load_str(Path::new("t.yaml"), text, dir.path()).unwrap_err();
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!((errors[0].line, errors[0].column), (4, 19));
}

#[test]
fn the_stack_round_trips_through_json_for_events() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed/stack.yaml");
    let stack = load_file(&root).unwrap().stack;
    let json = serde_json::to_string(&stack).unwrap();
    let back: orco_spec::Stack = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stack);
}

#[test]
fn a_jobs_task_graph_gives_indices_by_name_and_an_order_with_dependencies_first() {
    let stack = load(
        "version: 0.1\nstack: {name: x}\njobs:\n  j:\n    tasks:\n      a: {command: x, dependsOn: [{target: c}, {target: b, require: failed}]}\n      b: {command: x, dependsOn: [{target: c}]}\n      c: {command: x}\n",
    );
    let job = &stack.jobs["j"];
    let graph = job.graph();
    // Tasks are indexed in name order: a = 0, b = 1, c = 2.
    assert_eq!(
        graph.deps,
        vec![
            vec![(Some(2), Require::Succeeded), (Some(1), Require::Failed)],
            vec![(Some(2), Require::Succeeded)],
            vec![],
        ]
    );
    assert_eq!(graph.order, vec![2, 1, 0]);
    // The graph is derived data: a clone compares equal and builds its own.
    let copy = job.clone();
    assert_eq!(&copy, job);
    assert_eq!(copy.graph().deps, graph.deps);
    assert_eq!(copy.graph().order, graph.order);
    assert_eq!(copy.graph().names, ["a", "b", "c"]);
    assert_ne!(copy.graph().id, graph.id, "a clone builds its own graph");
}

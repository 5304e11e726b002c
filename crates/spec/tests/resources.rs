//! `resources`, `placement` and `onDisconnect`: what they resolve to, and each located error.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::path::Path;

use orco_spec::{Cpu, Memory, OnDisconnect, SpreadBy, Strategy, load_str};

fn load(text: &str) -> Result<orco_spec::load::Loaded, String> {
    let dir = tempfile::tempdir().unwrap();
    load_str(Path::new("t.yaml"), text, dir.path()).map_err(|r| r.to_string())
}

fn stack(services: &str) -> String {
    format!(
        "version: 0.1\nstack: {{name: shop}}\nservices:\n  db: {{command: [sleep, '1']}}\n{services}"
    )
}

#[test]
fn resources_and_placement_resolve_to_exact_quantities_and_names() {
    let loaded = load(&stack(
        "  api:\n    command: [sleep, '1']\n    resources: {cpu: 0.5, memory: 256Mi, limits: {cpu: 1, memory: 1Gi}}\n    placement:\n      nodeSelector: {disk: ssd}\n      anchor: db\n      antiAffinity: [api]\n      spread: {by: zone, maxSkew: 2, hard: true}\n      tolerations: [gpu, zone=edge]\n      strategy: pack\n    onDisconnect: keep\n",
    ))
    .unwrap();
    let api = &loaded.stack.services["api"];
    assert_eq!(api.resources.cpu, Cpu(500));
    assert_eq!(api.resources.memory, Memory(256 << 20));
    assert_eq!(api.resources.limits.cpu, Some(Cpu(1000)));
    assert_eq!(api.resources.limits.memory, Some(Memory(1 << 30)));
    let p = &api.placement;
    assert_eq!(p.node_selector["disk"], "ssd");
    assert_eq!(p.anchor.as_deref(), Some("db"));
    assert_eq!(p.anti_affinity, vec!["api".to_string()]);
    let spread = p.spread.as_ref().unwrap();
    assert_eq!(
        (spread.by.clone(), spread.max_skew, spread.hard),
        (SpreadBy::Label("zone".into()), 2, true)
    );
    assert_eq!(p.tolerations[0].to_string(), "gpu");
    assert_eq!(p.tolerations[1].value.as_deref(), Some("edge"));
    assert_eq!(p.strategy, Strategy::Pack);
    assert_eq!(api.on_disconnect, OnDisconnect::Keep);
    // A stack without the keys is unchanged, and serializes as before.
    let db = &loaded.stack.services["db"];
    assert!(db.resources.is_empty() && db.placement.is_empty());
    let json = serde_json::to_value(db).unwrap();
    assert!(json.get("resources").is_none() && json.get("placement").is_none());
}

#[test]
fn keys_this_version_does_not_act_on_are_warned_about_at_their_line() {
    let loaded = load(&stack(
        "  api:\n    command: [sleep, '1']\n    resources: {memory: 64Mi}\n    placement: {strategy: pack}\n",
    ))
    .unwrap();
    let warnings: Vec<String> = loaded
        .warnings
        .diagnostics
        .iter()
        .map(|w| format!("{}:{} {}", w.line, w.column, w.message))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("7:16 `resources` is recorded but not acted on")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("8:16 `placement` is recorded but not acted on")),
        "{warnings:?}"
    );
}

#[test]
fn a_memory_written_as_mb_asks_whether_mi_or_m_was_meant() {
    let e = load(&stack(
        "  api:\n    command: [sleep, '1']\n    resources: {memory: 256MB}\n",
    ))
    .unwrap_err();
    assert!(e.contains("t.yaml:7:"), "{e}");
    assert!(e.contains("services.api.resources.memory"), "{e}");
    assert!(e.contains("did you mean `256Mi` or `256M`?"), "{e}");
}

#[test]
fn every_bad_resource_and_placement_value_is_reported_at_once() {
    let e = load(&stack(
        "  api:\n    command: [sleep, '1']\n    resources: {cpu: 0.0001, memory: 1Gi, limits: {memory: 512Mi}}\n    placement:\n      anchor: dbb\n      antiAffinity: [nope]\n      spread: {by: zone, maxSkew: 0}\n      tolerations: ['gpu:NoSchedule']\n      strategy: packed\n  solo:\n    command: [sleep, '1']\n    placement: {anchor: solo}\n",
    ))
    .unwrap_err();
    for expected in [
        "finer than a thousandth of a core",
        "the memory limit 512Mi is below the request 1Gi",
        "anchor `dbb` is not a service of this stack",
        "did you mean `db`",
        "`nope` is not a service or job of this stack",
        "maxSkew must be between 1",
        "`gpu:NoSchedule` is not a toleration",
        "`packed` is not one of balance, pack",
        "`solo` cannot be its own anchor",
    ] {
        assert!(e.contains(expected), "missing `{expected}` in:\n{e}");
    }
}

#[test]
fn a_cpu_and_a_memory_limit_are_each_checked_the_same_way_and_both_reported() {
    let e = load(&stack(
        "  api:\n    command: [sleep, '1']\n    resources: {cpu: 2, memory: 1Gi, limits: {cpu: 1, memory: 512Mi}}\n  zero:\n    command: [sleep, '1']\n    resources: {limits: {cpu: 0, memory: 0}}\n",
    ))
    .unwrap_err();
    for expected in [
        "the cpu limit 1 is below the request 2\n  --> t.yaml:7:52",
        "hint: raise `limits.cpu`, or lower `cpu`",
        "the memory limit 512Mi is below the request 1Gi\n  --> t.yaml:7:63",
        "hint: raise `limits.memory`, or lower `memory`",
        "a cpu limit of 0 would never let an instance run\n  --> t.yaml:10:31",
        "hint: remove `limits.cpu` for no limit",
        "a memory limit of 0 would kill every instance at once\n  --> t.yaml:10:42",
        "hint: remove `limits.memory` for no limit",
    ] {
        assert!(e.contains(expected), "missing `{expected}` in:\n{e}");
    }
}

#[test]
fn a_task_overrides_its_jobs_resources_and_placement() {
    let loaded = load(
        "version: 0.1\nstack: {name: b}\njobs:\n  build:\n    resources: {cpu: 1}\n    placement: {nodeSelector: {arch: x86}}\n    tasks:\n      compile: {command: [make], resources: {cpu: 4, memory: 2Gi}}\n      test: {command: [make, test]}\n",
    )
    .unwrap();
    let job = &loaded.stack.jobs["build"];
    assert_eq!(job.resources.cpu, Cpu(1000));
    assert_eq!(job.placement.node_selector["arch"], "x86");
    let compile = job.tasks["compile"].resources.as_ref().unwrap();
    assert_eq!((compile.cpu, compile.memory), (Cpu(4000), Memory(2 << 30)));
    assert!(job.tasks["test"].resources.is_none());
}

#[test]
fn limits_of_a_docker_service_are_enforced_so_only_those_of_processes_are_warned_about() {
    let loaded = load(&stack(
        "  box:\n    image: busybox\n    resources: {limits: {memory: 64Mi}}\n  proc:\n    command: [sleep, '1']\n    resources: {limits: {memory: 64Mi}}\n",
    ))
    .unwrap();
    let warnings: Vec<String> = loaded
        .warnings
        .diagnostics
        .iter()
        .map(|w| format!("{} {}", w.path, w.message))
        .collect();
    assert!(
        !warnings
            .iter()
            .any(|w| w.starts_with("services.box.resources")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("services.proc.resources")
                && w.contains("limits are enforced for docker services only")),
        "{warnings:?}"
    );
}

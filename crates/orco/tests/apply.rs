//! `orco apply --dry-run` and `orco apply` against an isolated daemon: the plan names exactly
//! what changed, a dry run changes nothing, and an apply replaces the changed service and
//! leaves the unchanged one alone.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

const STACK: &str = "version: 0.1
stack: {name: shop}
services:
  api: {command: [sleep, '1000']}
  web: {command: [sleep, '1000']}
  db: {command: [sleep, '1000']}
";

/// `orco ps -o json`: the revision it answers for and each instance's (phase, pid).
fn snapshot(world: &common::World) -> (u64, BTreeMap<String, (String, Option<u64>)>) {
    let out = world.ok(&["ps", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let instances = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                (i["phase"].as_str().unwrap().to_string(), i["pid"].as_u64()),
            )
        })
        .collect();
    (v["revision"].as_u64().unwrap(), instances)
}

/// Waits until `cond` holds for the instances (the test harness bounds the wait).
fn wait_until(
    world: &common::World,
    what: &str,
    cond: impl Fn(&BTreeMap<String, (String, Option<u64>)>) -> bool,
) -> (u64, BTreeMap<String, (String, Option<u64>)>) {
    for _ in 0..1200 {
        let snap = snapshot(world);
        if cond(&snap.1) {
            return snap;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("gave up waiting until {what}: {:?}", snapshot(world));
}

fn running(i: &BTreeMap<String, (String, Option<u64>)>, names: &[&str]) -> bool {
    i.len() == names.len()
        && names
            .iter()
            .all(|n| matches!(i.get(*n), Some((phase, Some(_))) if phase == "running"))
}

fn pid(i: &BTreeMap<String, (String, Option<u64>)>, name: &str) -> u64 {
    i[name].1.unwrap()
}

#[test]
fn a_dry_run_reports_exactly_the_change_and_an_apply_replaces_the_changed_service_alone() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file("stack.yaml", STACK);
    let file = file.to_str().unwrap();

    // A dry run of a stack that does not run yet adds everything and applies nothing.
    let out = world.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(out.contains("3 to add"), "{out}");
    let ps = world.orco(&["ps"]);
    assert!(
        String::from_utf8_lossy(&ps.stderr).contains("no stack is applied"),
        "{ps:?}"
    );

    let out = world.ok(&["apply", "-f", file]);
    assert!(out.contains("stack shop applied"), "{out}");
    let (_, before) = wait_until(&world, "every instance runs", |i| {
        running(i, &["api-0", "db-0", "web-0"])
    });

    // The same file again plans nothing.
    let out = world.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(out.contains("no changes"), "{out}");

    world.file(
        "stack.yaml",
        &STACK
            .replace(
                "api: {command: [sleep, '1000']}",
                "api: {command: [sleep, '2000']}",
            )
            .replace(
                "web: {command: [sleep, '1000']}",
                "web: {command: [sleep, '1000'], replicas: 2}",
            ),
    );
    let (revision, _) = snapshot(&world);
    let out = world.ok(&["apply", "-f", file, "--dry-run", "-o", "json"]);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["created"], false);
    assert_eq!(plan["unchanged"], serde_json::json!(["db"]));
    assert_eq!(
        plan["workloads"],
        serde_json::json!([
            {
                "name": "api", "kind": "service", "action": "replace",
                "changes": [{"field": "command", "old": "[\"sleep\",\"1000\"]", "new": "[\"sleep\",\"2000\"]"}],
                "replace": ["api-0"], "why": "its spec changed"
            },
            {
                "name": "web", "kind": "service", "action": "scale",
                "changes": [{"field": "replicas", "old": "1", "new": "2"}],
                "create": ["web-1"]
            }
        ])
    );
    let table = world.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(table.contains("replace api-0"), "{table}");
    assert!(table.contains("create web-1"), "{table}");
    assert!(
        table.contains("0 to add, 1 to change, 1 to scale, 0 to remove; 1 instance to replace; 1 unchanged (dry run)"),
        "{table}"
    );

    // The dry runs touched nothing: same revision, same processes, no new instance.
    let (after_revision, after) = snapshot(&world);
    assert_eq!(after_revision, revision);
    assert_eq!(after, before);

    let out = world.ok(&["apply", "-f", file]);
    assert!(out.contains("stack shop applied"), "{out}");
    assert!(out.contains("replace api-0"), "{out}");
    let (_, now) = wait_until(&world, "api-0 is replaced and web-1 runs", |i| {
        running(i, &["api-0", "db-0", "web-0", "web-1"]) && pid(i, "api-0") != pid(&before, "api-0")
    });
    assert_eq!(pid(&now, "db-0"), pid(&before, "db-0"));

    // Removing a service from the file plans its instances' removal, and still touches nothing.
    world.file(
        "stack.yaml",
        &STACK
            .replace(
                "api: {command: [sleep, '1000']}",
                "api: {command: [sleep, '2000']}",
            )
            .replace(
                "web: {command: [sleep, '1000']}",
                "web: {command: [sleep, '1000'], replicas: 2}",
            )
            .replace("  db: {command: [sleep, '1000']}\n", ""),
    );
    let (revision, now) = snapshot(&world);
    let out = world.ok(&["apply", "-f", file, "--dry-run", "-o", "yaml"]);
    assert!(out.contains("action: remove"), "{out}");
    assert!(out.contains("- db-0"), "{out}");
    let table = world.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(
        table.contains("0 to add, 0 to change, 0 to scale, 1 to remove"),
        "{table}"
    );
    assert_eq!(snapshot(&world), (revision, now));
}

#[test]
fn an_apply_that_only_scales_keeps_the_existing_instances() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file("stack.yaml", STACK);
    let file = file.to_str().unwrap();
    world.ok(&["apply", "-f", file]);
    let (_, before) = wait_until(&world, "every instance runs", |i| {
        running(i, &["api-0", "db-0", "web-0"])
    });
    world.file(
        "stack.yaml",
        &STACK.replace(
            "web: {command: [sleep, '1000']}",
            "web: {command: [sleep, '1000'], replicas: 2}",
        ),
    );
    let out = world.ok(&["apply", "-f", file]);
    assert!(out.contains("create web-1"), "{out}");
    let (_, now) = wait_until(&world, "web-1 runs", |i| {
        running(i, &["api-0", "db-0", "web-0", "web-1"])
    });
    for name in ["api-0", "db-0", "web-0"] {
        assert_eq!(pid(&now, name), pid(&before, name), "{name}");
    }
}

//! Several stacks at once: a job file (a stack of its own) beside a service stack. Bare
//! `status`, `ps` and `logs` show every stack, grouped by stack; `ls` lists them;
//! `job list --stack`, `instance list --workload` and `logs JOB/TASK` narrow down.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::time::{Duration, Instant};

use common::World;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A service stack `life` and a job stack `batch` whose run has ended.
fn two_stacks() -> World {
    let world = World::new();
    world.file(
        "stack.yaml",
        "version: 0.1\nstack:\n  name: life\nservices:\n  web:\n    command: \"echo web says hi; exec sleep 300\"\n    replicas: 2\n  db:\n    command: [\"sleep\", \"300\"]\n",
    );
    world.file(
        "batch.yaml",
        "version: 0.1\nstack:\n  name: batch\njobs:\n  once:\n    tasks:\n      hello:\n        command: \"echo hello from the task\"\n",
    );
    world.ok(&["up", "-d"]);
    world.ok(&["job", "submit", "batch.yaml", "--wait"]);
    wait_until("web's output", || {
        world
            .ok(&["logs", "web", "--stack", "life"])
            .contains("web says hi")
    });
    world
}

#[test]
fn bare_status_ps_and_ls_show_every_stack_grouped_by_stack() {
    let world = two_stacks();
    let status = world.ok(&["status"]);
    let (batch, life) = (
        status.find("stack batch").unwrap(),
        status.find("stack life").unwrap(),
    );
    assert!(batch < life, "{status}");
    assert!(status[batch..life].contains("once"), "{status}");
    assert!(status[life..].contains("web"), "{status}");
    assert!(status[life..].contains("db"), "{status}");
    let ps = world.ok(&["ps"]);
    assert!(ps.contains("stack life") && ps.contains("web-1"), "{ps}");
    let json: serde_json::Value =
        serde_json::from_str(&world.ok(&["status", "-o", "json"])).unwrap();
    let ids: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"batch/once") && ids.contains(&"life/web"),
        "{ids:?}"
    );
    let ls = world.ok(&["ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("STACK"), "{ls}");
    assert!(lines[1].starts_with("batch "), "{ls}");
    assert!(lines[2].starts_with("life "), "{ls}");
    // One stack still picks one.
    let one = world.ok(&["status", "--stack", "life"]);
    assert!(
        !one.contains("once") && !one.contains("stack batch"),
        "{one}"
    );
}

#[test]
fn bare_logs_show_every_stack_and_a_task_is_named_job_slash_task() {
    let world = two_stacks();
    let logs = world.ok(&["logs"]);
    assert!(logs.contains("hello from the task"), "{logs}");
    assert!(logs.contains("web says hi"), "{logs}");
    assert!(logs.contains("life/web-0"), "{logs}");
    let task = world.ok(&["logs", "once/hello"]);
    assert!(task.contains("hello from the task"), "{task}");
    assert!(!task.contains("web says hi"), "{task}");
    let missing = world.orco(&["logs", "once/nothing"]);
    assert!(!missing.status.success(), "{missing:?}");
}

#[test]
fn job_list_narrows_to_a_stack_and_instance_list_to_a_workload() {
    let world = two_stacks();
    let batch = world.ok(&["job", "list", "--stack", "batch"]);
    assert!(batch.contains("batch/once#1"), "{batch}");
    let life = world.ok(&["job", "list", "--stack", "life"]);
    assert!(!life.contains("once"), "{life}");
    let web = world.ok(&["instance", "list", "--workload", "life/web"]);
    assert!(
        web.contains("life/web-0") && web.contains("life/web-1"),
        "{web}"
    );
    assert!(!web.contains("db-0"), "{web}");
}

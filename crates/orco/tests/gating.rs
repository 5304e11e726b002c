//! Dependency gating through the real daemon: a dependent never starts before its target
//! meets `require` (not on the first `up`, not on the next one after a stop), `cmd` probes
//! run where the instance runs, and nothing restarts faster than its backoff. Process starts
//! are counted in files the instances append to, not only in events.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(60);

fn instance(world: &common::World, name: &str) -> Option<serde_json::Value> {
    world.instances().into_iter().find(|i| i["name"] == name)
}

/// Waits (bounded) until `cond` holds.
fn wait_until(world: &common::World, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {:#?}\ndaemon log:\n{}",
            world.instances(),
            std::fs::read_to_string(world.dir.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of a file the instances append to (none when it does not exist yet).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_dependent_of_a_target_whose_program_does_not_exist_never_starts_and_says_why() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "stack.yaml",
        "version: 0.1
stack: {name: gate}
services:
  broken:
    command: ['/nonexistent/program']
    restartPolicy: {maxRetries: 3, backoff: {min: 50ms, max: 100ms}}
  app:
    command: 'echo app >> starts.log; exec sleep 1000'
    dependsOn: [{target: broken, require: started}]
",
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until(&world, "broken gave up", || {
        instance(&world, "broken-0").is_some_and(|i| {
            i["phase"] == "failed" && i["reason"].as_str().is_some_and(|r| r.contains("gave up"))
        })
    });
    // The state no longer changes once broken gave up; a moment more for a late start.
    std::thread::sleep(Duration::from_millis(500));
    let starts = lines(&world.dir.path().join("starts.log"));
    assert!(starts.is_empty(), "app started: {starts:?}");
    let app = instance(&world, "app-0").unwrap();
    assert_eq!(app["phase"], "pending", "{app:#}");
    let status = world.ok(&["status"]);
    assert!(
        status.contains("dependency broken not started") && status.contains("gave up"),
        "the dependent says why it waits: {status}"
    );
}

/// A database that is ready only a moment after it starts (and not before: its marker is
/// removed when it stops) and an API that records, at each start, whether it was.
const ORDERED: &str = "version: 0.1
stack: {name: gate}
services:
  db:
    command: |
      trap 'rm -f ready; exit 0' TERM
      rm -f ready
      echo db >> starts.log
      sleep 1
      touch ready
      echo 'db ready'
      sleep 1000 & wait
    health:
      log: {pattern: 'db ready'}
    stop: {timeout: 5s}
  api:
    command: |
      if [ -f ready ]; then echo api-after-db >> starts.log; else echo api-before-db >> starts.log; fi
      exec sleep 1000
    dependsOn: [{target: db, require: ready}]
";

#[test]
fn a_second_up_after_stopping_the_whole_stack_starts_services_in_dependency_order() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file("stack.yaml", ORDERED);
    let starts = world.dir.path().join("starts.log");
    let up = || world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    up();
    wait_until(&world, "api runs", || lines(&starts).len() == 2);
    for round in 0..2 {
        world.ok(&["stop"]);
        wait_until(&world, "the stack stopped", || {
            world.instances().iter().all(|i| i["phase"] == "stopped")
        });
        assert!(!world.dir.path().join("ready").exists(), "db cleaned up");
        up();
        let want = 4 + 2 * round;
        wait_until(&world, "api runs again", || lines(&starts).len() == want);
        wait_until(&world, "api is ready again", || {
            instance(&world, "api-0").is_some_and(|i| i["ready"] == true)
        });
    }
    assert_eq!(
        lines(&starts),
        [
            "db",
            "api-after-db",
            "db",
            "api-after-db",
            "db",
            "api-after-db"
        ],
        "one start of each per up, the API after the database was ready"
    );
}

#[test]
fn after_ctrl_c_of_an_attached_up_the_next_up_starts_services_in_dependency_order() {
    use nix::sys::signal::{Signal, kill};
    let world = common::World::new();
    world.start_daemon();
    let file = world.file("stack.yaml", ORDERED);
    let starts = world.dir.path().join("starts.log");
    let mut attached = world
        .command(&["up", "-f", file.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&world, "api runs", || lines(&starts).len() == 2);
    kill(
        nix::unistd::Pid::from_raw(i32::try_from(attached.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let status = attached.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_until(&world, "the stack stopped", || {
        world.instances().iter().all(|i| i["phase"] == "stopped")
    });
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until(&world, "api runs again", || lines(&starts).len() == 4);
    assert_eq!(
        lines(&starts),
        ["db", "api-after-db", "db", "api-after-db"],
        "the API started after the database was ready, both times"
    );
}

#[test]
fn a_cmd_probe_runs_in_the_services_directory_with_its_environment() {
    let world = common::World::new();
    // The daemon runs from the world's directory; the stack lives in a folder of its own.
    world.start_daemon();
    let app = world.dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::create_dir(app.join("data")).unwrap();
    let file = app.join("stack.yaml");
    std::fs::write(
        &file,
        "version: 0.1
stack: {name: gate}
services:
  db:
    command: 'touch marker; exec sleep 1000'
    workdir: data
    env: {MARK: here}
    health:
      cmd: {command: 'test -f marker && test \"$MARK\" = here && test \"$ORCO_INSTANCE\" = db-0'}
      interval: 200ms
  api:
    command: 'exec sleep 1000'
    dependsOn: [{target: db, require: ready}]
",
    )
    .unwrap();
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until(&world, "db is ready and api runs", || {
        instance(&world, "db-0").is_some_and(|i| i["ready"] == true)
            && instance(&world, "api-0").is_some_and(|i| i["phase"] == "running")
    });
    assert!(app.join("data/marker").exists());
}

/// Every event as `orco events -o json` prints it.
fn events(world: &common::World) -> Vec<serde_json::Value> {
    world
        .ok(&["events", "-o", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_missing_image_is_retried_with_backoff_reported_as_not_found_and_no_dependent_storms() {
    if std::process::Command::new("docker")
        .arg("info")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        eprintln!("skipped: no docker engine answers here");
        return;
    }
    let world = common::World::new();
    world.start_daemon();
    let registry = orco_fixture::Registry::start().unwrap();
    let missing = format!("127.0.0.1:{}/orco-test/not-there:1", registry.port());
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1
stack: {{name: storm}}
services:
  ghost:
    image: {missing}
    restartPolicy: {{mode: always, backoff: {{min: 200ms, max: 1s}}}}
  needs-ghost:
    command: 'echo needs-ghost >> starts.log; exec sleep 1000'
    dependsOn: [{{target: ghost, require: started, restart: true}}]
"
        ),
    );
    // `--wait` ends early with the reason instead of waiting out its timeout.
    let started = Instant::now();
    let out = world.orco(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "600s",
        "-f",
        file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("image not found"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "not the 600 s timeout: {:?}",
        started.elapsed()
    );
    // Over a fixed window: the image is retried with backoff (200 ms growing to 1 s: at most
    // 25 tries in 5 s even without the growth), and its dependent never starts.
    let before = events(&world).len();
    std::thread::sleep(Duration::from_secs(5));
    let window: Vec<serde_json::Value> = events(&world).into_iter().skip(before).collect();
    let tries = window
        .iter()
        .filter(|e| {
            e["kind"] == "instance_starting"
                && e["summary"].as_str().is_some_and(|s| s.contains("ghost-0"))
        })
        .count();
    eprintln!(
        "in 5 s: {} events, {tries} tries of the image",
        window.len()
    );
    assert!(tries <= 25, "{tries} tries in 5 s: {window:#?}");
    assert!(window.len() <= 200, "{} events in 5 s", window.len());
    let starts = lines(&world.dir.path().join("starts.log"));
    assert!(starts.is_empty(), "the dependent started: {starts:?}");
    let status = world.ok(&["status"]);
    assert!(status.contains("image not found"), "{status}");
}

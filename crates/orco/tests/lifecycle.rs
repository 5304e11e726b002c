//! The daemon's lifecycle through the real binary: SIGTERM stops it at once when nothing
//! needs draining, `orco daemon stop [--instances]` stops it (and with the flag the stacks
//! and the node keeper), and every verb that writes starts a daemon when none answers.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::time::{Duration, Instant};

use common::World;

const PATIENCE: Duration = Duration::from_secs(60);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

const STACK: &str = "version: 0.1\nstack:\n  name: life\nservices:\n  sleeper:\n    command: [\"sleep\", \"300\"]\n";

/// Applies the stack (starting the daemon) and returns the pid of its one instance, once it runs.
fn up(world: &World) -> i64 {
    world.file("stack.yaml", STACK);
    world.ok(&["up", "-d"]);
    let mut pid = None;
    wait_until("the instance to run", || {
        pid = world
            .instances()
            .first()
            .filter(|i| i["phase"] == "running")
            .and_then(|i| i["pid"].as_i64());
        pid.is_some()
    });
    pid.unwrap()
}

fn daemon_log(world: &World) -> String {
    std::fs::read_to_string(world.data().join("daemon.log")).unwrap_or_default()
}

#[test]
fn sigterm_stops_an_idle_daemon_at_once_and_releases_the_store() {
    let world = World::new();
    let instance = up(&world);
    let daemon = world.daemon_pid().unwrap();
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("the daemon to exit", || !alive(i64::from(daemon)));
    let took = sent.elapsed();
    // Expected well under a second; the bound is ten times that.
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
    let log = daemon_log(&world);
    assert!(!log.contains("still in use"), "{log}");
    assert!(log.contains("orco daemon stopped"), "{log}");
    // The instance outlives the daemon, and the next daemon adopts it.
    assert!(alive(instance));
    let out = world.orco(&["apply"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(world.instances()[0]["pid"].as_i64(), Some(instance));
}

#[test]
fn sigterm_does_not_wait_for_clients_that_follow_events_or_logs() {
    let world = World::new();
    up(&world);
    let daemon = world.daemon_pid().unwrap();
    let spawn = |args: &[&str]| {
        world
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut events = spawn(&["events"]);
    let mut logs = spawn(&["logs", "-f"]);
    // Both are attached once the events stream has printed what is on record.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(events.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(!first.is_empty());
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("the daemon to exit", || !alive(i64::from(daemon)));
    let took = sent.elapsed();
    // Expected within a tenth of a second; the bound is ten times a generous 0.2 s, and
    // below the 3 s that open streams were once given.
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM took {took:?} with followers attached"
    );
    let log = daemon_log(&world);
    assert!(log.contains("orco daemon stopped"), "{log}");
    for child in [&mut events, &mut logs] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn daemon_stop_stops_the_daemon_and_leaves_the_instances_running() {
    let world = World::new();
    let instance = up(&world);
    let daemon = world.daemon_pid().unwrap();
    let out = world.orco(&["daemon", "stop"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("daemon stopped (pid {daemon})")),
        "{out:?}"
    );
    assert!(!alive(i64::from(daemon)), "the daemon still runs");
    assert!(alive(instance), "the instance was stopped with the daemon");
    assert_eq!(
        world.orco(&["status"]).status.code(),
        Some(3),
        "a reading verb must not start a daemon"
    );
    // Nothing to stop: says so, exits 0.
    let again = world.orco(&["daemon", "stop"]);
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to stop"));
}

#[test]
fn daemon_stop_with_instances_stops_the_stacks_and_the_keeper() {
    let world = World::new();
    let instance = up(&world);
    let daemon = world.daemon_pid().unwrap();
    let keeper_socket = world.data().join("keeper").join("keeper.sock");
    assert!(std::os::unix::net::UnixStream::connect(&keeper_socket).is_ok());
    let out = world.orco(&["daemon", "stop", "--instances"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stack life: stop requested"), "{stdout}");
    assert!(stdout.contains("node keeper stopped"), "{stdout}");
    assert!(!alive(i64::from(daemon)), "the daemon still runs");
    assert!(!alive(instance), "the instance still runs");
    assert!(
        std::os::unix::net::UnixStream::connect(&keeper_socket).is_err(),
        "the keeper still answers"
    );
}

#[test]
fn daemon_stop_with_instances_cancels_the_job_runs_under_way() {
    let world = World::new();
    world.file(
        "jobs.yaml",
        "version: 0.1\nstack:\n  name: batch\njobs:\n  long:\n    tasks:\n      wait:\n        command: [\"sleep\", \"300\"]\n",
    );
    world.ok(&["job", "submit", "jobs.yaml"]);
    let state = |world: &World| {
        let out = world.ok(&["job", "list", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["items"][0]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    wait_until("the run to be under way", || state(&world) == "running");
    let out = world.orco(&["daemon", "stop", "--instances"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cancel requested"), "{stdout}");
    // On record as cancelled, not as a task killed with the keeper.
    world.start_daemon();
    assert_eq!(state(&world), "cancelled");
}

#[test]
fn every_verb_that_writes_starts_a_daemon_when_none_answers() {
    let world = World::new();
    world.file(
        "jobs.yaml",
        "version: 0.1\nstack:\n  name: batch\njobs:\n  once:\n    tasks:\n      hello:\n        command: [\"true\"]\n",
    );
    world.file("stack.yaml", STACK);
    for args in [
        &["run", "lone", "--", "sleep", "300"][..],
        &["job", "submit", "jobs.yaml"],
        &["apply"],
        &["scale", "sleeper", "2", "--stack", "life"],
    ] {
        assert!(
            world.daemon_pid().is_none(),
            "a daemon runs before {args:?}"
        );
        let out = world.orco(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("started the daemon"), "{args:?}: {err}");
        let stop = world.orco(&["daemon", "stop"]);
        assert!(stop.status.success(), "{stop:?}");
    }
}

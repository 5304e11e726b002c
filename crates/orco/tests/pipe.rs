//! A closed stdout (`orco events | head -1`): every verb exits quietly, never with a panic
//! (exit 101), and a following verb (`events -f`, `logs -f`) stops instead of running on.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::World;

/// Runs `command` with a stdout whose reader is already gone; kills it and fails if it has
/// not ended within a minute.
fn into_closed_pipe(mut command: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = command
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{command:?} kept running with its stdout closed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_quiet(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(err.trim().is_empty(), "{what} said: {err}");
}

#[test]
fn completions_and_the_schema_into_a_closed_pipe_exit_quietly() {
    for args in [&["completions", "bash"][..], &["schema"], &["--help"]] {
        let mut command = Command::new(common::ORCO);
        command.args(args).env("NO_COLOR", "1");
        let out = into_closed_pipe(command);
        assert_quiet(&format!("orco {args:?}"), &out);
    }
}

#[test]
fn every_reading_verb_into_a_closed_pipe_exits_quietly_and_followers_stop() {
    let world = World::new();
    world.file(
        "stack.yaml",
        "version: 0.1\nstack:\n  name: piped\nservices:\n  talker:\n    command: \"while true; do echo line; sleep 0.2; done\"\n",
    );
    world.ok(&["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !world
        .ok(&["logs", "talker", "-n", "3"])
        .lines()
        .count()
        .ge(&3)
    {
        assert!(Instant::now() < deadline, "the service printed nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    for args in [
        &["events"][..],
        &["events", "-f"],
        &["events", "-o", "json"],
        &["logs", "-o", "json"],
        &["logs", "-f"],
        &["logs", "talker", "-f", "-o", "json"],
        &["history", "talker"],
        &["status"],
        &["ps", "-o", "json"],
        &["job", "list"],
    ] {
        let out = into_closed_pipe(world.command(args));
        assert_quiet(&format!("orco {args:?}"), &out);
    }
}

//! `orco job monitor ID` against a real daemon: without a terminal it appends a task's line
//! each time the task changes; in a pseudo-terminal (a tmux pane of its own tmux server) it
//! redraws its lines in place; either way it ends with the run, its outcome as exit code.
//! A task waits for a file the test creates, so that its intermediate progress is seen for
//! sure rather than by timing.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::BufRead;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(60);

const STACK: &str = "version: 0.1\nstack: {name: mon}\njobs:\n  sync:\n    tasks:\n      copy:\n        command: \"echo PROGRESS: 50 half way; while [ ! -f go ]; do sleep 0.05; done; echo PROGRESS: 100 done\"\n      after: {command: \"true\", dependsOn: [{target: copy}]}\n  bad:\n    tasks:\n      boom: {command: \"exit 3\"}\n";

fn submit(world: &common::World, job: &str) -> String {
    let file = world.file("mon.yaml", STACK);
    let out = world.ok(&["job", "submit", file.to_str().unwrap(), "--job", job]);
    out.trim().to_string()
}

#[test]
fn without_a_terminal_monitor_appends_changed_task_lines_and_exits_with_the_outcome() {
    let world = common::World::new();
    world.start_daemon();
    let run = submit(&world, "sync");
    assert_eq!(run, "mon/sync#1");
    let mut child = world
        .command(&["job", "monitor", &run])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no half-way line; saw {seen:#?}"));
        let half = line.contains("copy")
            && line.contains("running")
            && line.contains("[##########..........]  50%")
            && line.contains("half way");
        seen.push(line);
        if half {
            break;
        }
    }
    std::fs::write(world.dir.path().join("go"), "").unwrap();
    seen.extend(rx.iter());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen:#?}");
    let text = seen.join("\n");
    assert!(!text.contains('\x1b'), "no terminal, no escapes: {text}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("mon/sync#1 succeeded")
    );
    let done: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("copy") && l.contains("succeeded"))
        .collect();
    assert_eq!(done.len(), 1, "{text}");
    assert!(done[0].contains("[####################] 100%") && done[0].contains("done"));
    assert!(
        seen.iter()
            .any(|l| l.contains("after") && l.contains("succeeded")),
        "{text}"
    );
    // A line is printed again only when its task changed.
    let half = seen.iter().filter(|l| l.contains("half way")).count();
    assert_eq!(half, 1, "{text}");

    // A run that fails: exit 1.
    let bad = submit(&world, "bad");
    let out = world.orco(&["job", "monitor", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with("mon/bad#1 failed"), "{text}");
}

/// Its own tmux server, killed on drop.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.0, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "mon"]).stdout).into_owned()
    }

    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not on screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn in_a_terminal_monitor_redraws_its_lines_in_place_with_progress_bars() {
    let world = common::World::new();
    world.start_daemon();
    let run = submit(&world, "sync");
    let tmux = Tmux(format!("orco-monitor-{}", std::process::id()));
    let script = format!(
        "ORCO_HOST='unix://{}' NO_COLOR=1 '{}' job monitor '{run}'; echo exit=$?; sleep 600",
        world.socket().display(),
        common::ORCO
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "mon",
        "-x",
        "160",
        "-y",
        "20",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for("the half-way progress bar", |s| {
        s.contains("[##########..........]  50%") && s.contains("half way")
    });
    std::fs::write(world.dir.path().join("go"), "").unwrap();
    let screen = tmux.wait_for("the end of the run", |s| s.contains("exit="));
    assert!(screen.contains("exit=0"), "{screen}");
    // Redrawn in place: one heading and one line per task, however many redraws there were.
    let count = |needle: &str| screen.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("mon/sync#1"), 1, "{screen}");
    assert_eq!(count("copy"), 1, "{screen}");
    assert_eq!(count("after"), 1, "{screen}");
    assert!(
        screen.contains("mon/sync#1  succeeded  2/2 tasks done"),
        "{screen}"
    );
    let copy = screen.lines().find(|l| l.contains("copy")).unwrap();
    assert!(
        copy.contains("succeeded") && copy.contains("[####################] 100%"),
        "{screen}"
    );
}

//! Faults and abuse through the real daemon: a daemon that accepts and does not answer, huge
//! counts, connection floods under a lowered fd limit, env files with secrets in them.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::process::Output;

use common::World;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Sends SIGCONT to a stopped daemon when dropped, so that a failing test leaves nothing
/// stopped behind (the world then kills it).
struct Resume(Pid);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[test]
fn a_stopped_daemon_gives_exit_three_and_says_it_is_not_answering() {
    let world = World::new();
    world.start_daemon();
    let pid = Pid::from_raw(world.daemon_pid().unwrap());
    kill(pid, Signal::SIGSTOP).unwrap();
    let resume = Resume(pid);
    let out = world.orco(&["status", "--timeout", "1s"]);
    let ps = world.orco(&["ps", "--timeout", "500ms"]);
    drop(resume);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the daemon at unix://") && stderr.contains("is not answering"),
        "{}",
        describe(&out)
    );
    assert_eq!(ps.status.code(), Some(3), "{}", describe(&ps));
    // Resumed, it answers again.
    world.ok(&["cluster", "health", "--timeout", "30s"]);
}

#[test]
fn a_timeout_that_is_not_a_duration_is_bad_usage() {
    let world = World::new();
    let out = world.orco(&["status", "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(text(&out.stderr).contains("--timeout soon"), "{}", describe(&out));
}

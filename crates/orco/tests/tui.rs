//! The terminal UI end to end: the real `orco tui` in a tmux pane (`send-keys`,
//! `capture-pane`) against the real daemon with its engine, on a stack of 100 services, one
//! of them flooding its log. It restarts a service by key, filters the log pane, and quits
//! with `q`, leaving the terminal as it found it. Everything it starts — the daemon, the
//! keeper with its instances, its own tmux server (`tmux -L` with a unique name) — it stops
//! by pid, socket or name when done, also when it fails.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ORCO: &str = env!("CARGO_BIN_EXE_orco");
/// The generous bound on every wait.
const PATIENCE: Duration = Duration::from_secs(90);

/// What the test started; stopped when dropped, in reverse.
struct Session {
    tmux: String,
    daemon: Option<Child>,
    data: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl Session {
    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn orco(&self, args: &[&str]) -> Output {
        Command::new(ORCO)
            .args(args)
            .env("ORCO_HOST", self.host())
            .env("NO_COLOR", "1")
            .env_remove("ORCO_TOKEN")
            .output()
            .unwrap()
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.tmux, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-t", "tui"]).stdout)
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn type_text(&self, literal: &str) {
        assert!(
            self.tmux(&["send-keys", "-t", "tui", "-l", literal])
                .status
                .success()
        );
    }

    /// Waits until the screen passes `check`; the screen then.
    #[track_caller]
    fn wait_for_screen(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if started.elapsed() > PATIENCE {
                panic!(
                    "{what}: not on screen after {PATIENCE:?}:\n{screen}\n{}",
                    self.daemon_log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `orco ps -o json`'s instances.
    fn instances(&self) -> Vec<Value> {
        let out = self.orco(&["ps", "--stack", "big", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["items"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        // The keeper outlives the daemon by design: stop it and its instances.
        common::shutdown_keeper(&self.data.join("keeper"));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// 99 quiet services and `flood`, which prints bursts of lines, every 50th an error.
fn write_stack(dir: &Path) -> PathBuf {
    let mut yaml = String::from("version: 0.1\nstack: {name: big}\nservices:\n");
    yaml.push_str(
        "  flood:\n    command: \"i=0; while :; do j=0; while [ $j -lt 100 ]; do i=$((i+1)); j=$((j+1)); \
         if [ $((i % 50)) -eq 0 ]; then echo \\\"ERROR flood marker $i\\\"; \
         else echo \\\"INFO flood line $i\\\"; fi; done; sleep 0.05; done\"\n",
    );
    for i in 0..99 {
        writeln!(yaml, "  svc{i:03}:\n    command: [\"sleep\", \"100000\"]").unwrap();
    }
    let path = dir.join("stack.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn start(dir: &Path) -> Session {
    assert!(
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "this test needs tmux: `apt-get install tmux` (scripts/test.sh installs it)"
    );
    let data = dir.join("data");
    let socket = dir.join("orco.sock");
    let log = dir.join("daemon.log");
    let daemon = Command::new(ORCO)
        .args(["daemon", "--data-dir"])
        .arg(&data)
        .arg("--socket")
        .arg(&socket)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut session = Session {
        tmux: format!("orco-tui-test-{}", std::process::id()),
        daemon: Some(daemon),
        data,
        socket,
        log,
    };
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&session.socket).is_err() {
        if let Some(status) = session.daemon.as_mut().unwrap().try_wait().unwrap() {
            panic!("the daemon exited with {status}: {}", session.daemon_log());
        }
        assert!(started.elapsed() < PATIENCE, "the daemon did not answer");
        std::thread::sleep(Duration::from_millis(25));
    }
    session
}

#[test]
fn the_tui_restarts_a_service_by_key_filters_a_flooding_log_and_quits_with_q() {
    let dir = tempfile::tempdir().unwrap();
    let session = start(dir.path());
    let file = write_stack(dir.path());
    let out = session.orco(&["apply", "-f", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Every instance runs before the TUI opens (so that its pid is the one restarted).
    let started = Instant::now();
    loop {
        let instances = session.instances();
        let running = instances.iter().filter(|i| i["phase"] == "running").count();
        if running == 100 {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{running}/100 instances running after {PATIENCE:?}\n{}",
            session.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The TUI in a 200x50 pane; when it ends, the shell says how, and whether the terminal
    // is back in canonical (cooked) mode.
    let script = format!(
        "ORCO_HOST='{}' '{ORCO}' tui --stack big; echo \"tui exited $?\"; \
         stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon; exec sleep 600",
        session.host()
    );
    let out = session.tmux(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "200",
        "-y",
        "50",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let screen = session.wait_for_screen("the table of 100 workloads, live", |s| {
        s.contains("stack big") && s.contains("100 workloads") && s.contains(" live")
    });
    assert!(
        screen.contains("SERVICE") && screen.contains("RESTARTS"),
        "{screen}"
    );
    session.wait_for_screen("the flood in the log pane", |s| s.contains("flood line"));

    // Restart svc042 by key: search it, r, confirm.
    let pid_before = session
        .instances()
        .iter()
        .find(|i| i["name"] == "svc042-0")
        .and_then(|i| i["pid"].as_u64())
        .unwrap();
    session.keys(&["/"]);
    session.type_text("svc042");
    session.keys(&["Enter"]);
    session.wait_for_screen("svc042 selected", |s| {
        s.lines().any(|l| l.contains("▶") && l.contains("svc042"))
    });
    session.keys(&["r"]);
    session.wait_for_screen("the restart question", |s| {
        s.contains("restart every instance of svc042?")
    });
    session.keys(&["y"]);
    let started = Instant::now();
    loop {
        let instances = session.instances();
        let svc = instances.iter().find(|i| i["name"] == "svc042-0").unwrap();
        if svc["restarts"].as_u64().unwrap_or(0) >= 1
            && svc["phase"] == "running"
            && svc["pid"].as_u64() != Some(pid_before)
        {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "svc042 not restarted after {PATIENCE:?}: {svc}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The other services were left alone.
    let others = session.instances();
    assert!(
        others
            .iter()
            .filter(|i| i["name"] != "svc042-0" && i["name"] != "flood-0")
            .all(|i| i["restarts"] == 0),
        "only svc042 restarts"
    );

    // Filter the log pane: a regex, then errors only.
    session.keys(&["f"]);
    session.type_text("marker");
    session.keys(&["Enter"]);
    let filtered = session.wait_for_screen("only marker lines", |s| {
        s.contains("/marker/") && s.contains("flood marker") && !s.contains("flood line")
    });
    assert!(filtered.contains("ERROR"), "{filtered}");
    session.keys(&["l", "l", "l", "l"]);
    session.wait_for_screen("the error level filter", |s| {
        s.contains("level ≥ error") && s.contains("flood marker") && !s.contains("flood line")
    });

    // q quits and the terminal is restored: the shell's lines show, cooked mode is back, the
    // alternate screen is left.
    session.keys(&["q"]);
    let after = session.wait_for_screen("the shell after the TUI", |s| s.contains("tui exited"));
    assert!(after.contains("tui exited 0"), "{after}");
    let mode = session.wait_for_screen("stty's answer", |s| {
        s.lines()
            .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
    });
    assert!(
        mode.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{mode}"
    );
    assert!(
        !mode.contains("SERVICE"),
        "the TUI's screen is still shown:\n{mode}"
    );
    let alternate = session.tmux(&["display-message", "-p", "-t", "tui", "#{alternate_on}"]);
    assert_eq!(text(&alternate.stdout).trim(), "0");
}

#[test]
fn a_bare_orco_without_a_terminal_prints_the_help_and_exits_2() {
    let out = Command::new(ORCO).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: orco"), "{help}");
    assert!(help.contains("tui"), "{help}");
}

#[test]
fn orco_tui_without_a_terminal_says_it_needs_one_and_exits_2() {
    let out = Command::new(ORCO)
        .arg("tui")
        .env("ORCO_HOST", "unix:///nonexistent/orco.sock")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the TUI needs a terminal"),
        "{}",
        text(&out.stderr)
    );
}

//! `orco up` as a user runs it: attached output, Ctrl-C stopping the stack in reverse order with
//! exit 0, and instances that outlive a SIGKILLed `orco up` and are adopted by the next one.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const PATIENCE: Duration = Duration::from_secs(30);

fn fixture() -> String {
    orco_fixture::path().unwrap().display().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A running `orco up` whose stdout lines arrive on a channel; killed on drop if still running.
struct Up {
    _keeper: common::KeeperGuard,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    /// Runs `orco up -f FILE` with its runtime directory in `runtime_dir`.
    fn start(file: &Path, runtime_dir: &Path, stack: &str) -> Up {
        let keeper = common::KeeperGuard(runtime_dir.join("orco").join(format!("up-{stack}")));
        let mut child = Command::new(env!("CARGO_BIN_EXE_orco"))
            .args(["up", "-f"])
            .arg(file)
            .env("NO_COLOR", "1")
            .env("XDG_RUNTIME_DIR", runtime_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Up {
            _keeper: keeper,
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; returns it.
    fn expect(&mut self, text: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(text)) {
            return l.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
        panic!(
            "no line containing {text:?} within {PATIENCE:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits for the exit; collects the remaining output.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            assert!(Instant::now() < deadline, "orco up did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn position(&self, text: &str) -> usize {
        self.seen
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in:\n{}", self.seen.join("\n")))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn pid_in(line: &str) -> i32 {
    let at = line.find("(pid ").unwrap() + 5;
    line[at..].trim_end_matches(')').parse().unwrap()
}

#[test]
fn up_attaches_and_ctrl_c_stops_in_reverse_dependency_order_with_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (f, port) = (fixture(), free_port());
    let file = dir.path().join("stack.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 0.1\nstack: {{name: up-attach}}\nservices:\n  db: {{command: [{f}, --listen, '{port}@100', --stdout, 'db says hi'], health: {{tcp: {{port: {port}}}}}}}\n  api: {{command: [{f}, --stdout, 'api up'], dependsOn: [{{target: db}}]}}\n"
        ),
    )
    .unwrap();
    let mut up = Up::start(&file, dir.path(), "up-attach");
    up.expect("db-0     | db says hi");
    let api = up.expect("api-0 running (pid ");
    let db = up.expect("db-0 running (pid ");
    up.expect("api-0    | api up");
    assert!(up.position("db-0 ready") < up.position("api-0 starting"));
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), Some(0));
    assert!(
        up.position("api-0 stopping") < up.position("db-0 stopping"),
        "reverse order:\n{}",
        up.seen.join("\n")
    );
    up.expect("stopped (interrupted)");
    assert!(
        !alive(pid_in(&api)) && !alive(pid_in(&db)),
        "no process left"
    );
}

#[test]
fn instances_outlive_a_killed_up_and_the_next_up_adopts_them() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let file = dir.path().join("stack.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 0.1\nstack: {{name: up-survive}}\nservices:\n  long: {{command: [{f}, --stdout, 'printed while nobody watched@2500']}}\n  short: {{command: [{f}, --exit, '7@2500'], restartPolicy: {{mode: never}}}}\n"
        ),
    )
    .unwrap();
    let mut first = Up::start(&file, dir.path(), "up-survive");
    let long_pid = pid_in(&first.expect("long-0 running (pid "));
    let short_pid = pid_in(&first.expect("short-0 running (pid "));
    first.signal(Signal::SIGKILL);
    first.wait();
    assert!(alive(long_pid), "an instance outlives the engine");
    // `short` exits with 7 while no engine runs.
    let deadline = Instant::now() + PATIENCE;
    while alive(short_pid) {
        assert!(Instant::now() < deadline, "short did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut second = Up::start(&file, dir.path(), "up-survive");
    let adopted = second.expect("long-0 running (pid ");
    assert_eq!(pid_in(&adopted), long_pid, "adopted, not restarted");
    second.expect("long-0   | printed while nobody watched");
    second.expect("short-0 exited with code 7");
    assert!(
        !second.seen.iter().any(|l| l.contains("long-0 starting")),
        "never started twice"
    );
    second.signal(Signal::SIGTERM);
    assert_eq!(second.wait(), Some(0));
    second.expect("stopped (terminated)");
    assert!(!alive(long_pid));
}

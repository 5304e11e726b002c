//! The API verbs end to end: the real `orco daemon` binary on a temp data dir and socket,
//! driven by the real `orco` CLI. The daemons run with `--no-engine`: these tests are about
//! the daemon, the API and the CLI; instance events are appended to the store the way the
//! engine appends them, while no daemon holds it.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use orco_state::{Event, EventKind, InstanceId};
use orco_store::{RedbStore, Store};
use serde_json::Value;

const ORCO: &str = env!("CARGO_BIN_EXE_orco");

/// A daemon started by a test; killed (and reaped) when dropped.
struct DaemonProc {
    child: Option<Child>,
    data: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl DaemonProc {
    fn start(dir: &Path) -> DaemonProc {
        let data = dir.join("data");
        let socket = dir.join("orco.sock");
        let log = dir.join("daemon.log");
        let child = Command::new(ORCO)
            .args(["daemon", "--no-engine", "--data-dir"])
            .arg(&data)
            .arg("--socket")
            .arg(&socket)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut daemon = DaemonProc {
            child: Some(child),
            data,
            socket,
            log,
        };
        daemon.wait_until_answering();
        daemon
    }

    fn wait_until_answering(&mut self) {
        for _ in 0..400 {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the daemon exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the daemon did not answer on {}", self.socket.display());
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs `orco ARGS` against this daemon in `dir`.
    fn orco(&self, args: &[&str], dir: &Path) -> Output {
        self.orco_env(args, dir, &[])
    }

    fn orco_env(&self, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(ORCO);
        command
            .args(args)
            .current_dir(dir)
            .env("ORCO_HOST", self.host())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("ORCO_TOKEN");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    }

    /// Stops the daemon with SIGTERM and waits for it; its exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        child.wait().unwrap()
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn write_stack(dir: &Path, file: &str, name: &str, web_replicas: u32) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            r#"version: 0.1
stack: {{name: {name}}}
services:
  db:
    command: ["sleep", "1000"]
    health: {{tcp: {{host: 127.0.0.1, port: 5432}}}}
  web:
    command: "sleep 1000"
    replicas: {web_replicas}
    dependsOn: [{{target: db, require: ready}}]
"#
        ),
    )
    .unwrap();
    path
}

/// The row of `name` in a table.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
        .split_whitespace()
        .collect()
}

#[test]
fn apply_then_status_ps_and_their_json_and_yaml_forms() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    let file = write_stack(dir.path(), "stack.yaml", "demo", 2);
    let out = ok(&daemon.orco(&["apply", "-f", file.to_str().unwrap()], dir.path()));
    assert!(
        out.lines().any(|l| l == "stack demo applied (revision 1)"),
        "{out}"
    );
    assert!(
        out.contains("create web-0, web-1"),
        "the plan is shown: {out}"
    );
    let out = ok(&daemon.orco(&["apply"], dir.path()));
    assert!(
        out.lines()
            .any(|l| l == "stack demo unchanged (revision 1)"),
        "{out}"
    );

    let status = ok(&daemon.orco(&["status"], dir.path()));
    let header: Vec<_> = status.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "SERVICE", "STATE", "READY", "REPL", "RESTARTS", "AGE", "MESSAGE"
        ]
    );
    assert_eq!(
        row(&status, "web")[..5],
        ["web", "pending", "0/2", "2", "0"]
    );
    let wide = ok(&daemon.orco(&["status", "-o", "wide"], dir.path()));
    assert!(wide.lines().next().unwrap().contains("COMMAND"), "{wide}");

    let json: Value =
        serde_json::from_str(&ok(&daemon.orco(&["status", "-o", "json"], dir.path()))).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    assert_eq!(json["items"][1]["id"], "demo/web");
    let yaml: Value =
        serde_saphyr::from_str(&ok(&daemon.orco(&["status", "-o", "yaml"], dir.path()))).unwrap();
    assert_eq!(yaml["items"][1]["replicas"], 2);

    // Instances, as the engine records them, show in ps.
    let mut daemon = daemon;
    assert!(daemon.terminate().success());
    assert!(!daemon.socket.exists(), "the socket is removed on SIGTERM");
    {
        let store = RedbStore::open(daemon.data.join("store")).unwrap();
        let instance: InstanceId = "demo/web-0".parse().unwrap();
        let now = jiff::Timestamp::now();
        store
            .append(vec![
                Event::new(
                    now,
                    EventKind::InstanceCreated {
                        instance: instance.clone(),
                        node: None,
                    },
                ),
                Event::new(
                    now,
                    EventKind::InstanceStarting {
                        instance: instance.clone(),
                        attempt: 0,
                        port: None,
                        chosen: Vec::new(),
                    },
                ),
                // A pid above Linux's largest: it can never name a real process.
                Event::new(
                    now,
                    EventKind::InstanceStarted {
                        instance,
                        pid: Some(4_900_123),
                        container: None,
                    },
                ),
            ])
            .unwrap();
    }
    let daemon = DaemonProc::start(dir.path());
    let ps = ok(&daemon.orco(&["ps"], dir.path()));
    assert_eq!(
        row(&ps, "web-0")[..5],
        ["web-0", "running", "no", "4900123", "0"]
    );
    let json: Value =
        serde_json::from_str(&ok(&daemon.orco(&["ps", "-o", "json"], dir.path()))).unwrap();
    assert_eq!(json["items"][0]["id"], "demo/web-0");
    let yaml: Value =
        serde_saphyr::from_str(&ok(&daemon.orco(&["ps", "web", "-o", "yaml"], dir.path())))
            .unwrap();
    assert_eq!(yaml["items"][0]["pid"], 4_900_123);
    let status = ok(&daemon.orco(&["status"], dir.path()));
    assert_eq!(row(&status, "web")[1], "starting");
    // restart of an instance, and of a service, is recorded.
    assert!(ok(&daemon.orco(&["restart", "web-0"], dir.path())).contains("restart requested"));
    let history = ok(&daemon.orco(&["history", "web-0"], dir.path()));
    assert!(
        history.contains("demo/web-0 restart requested"),
        "{history}"
    );
}

#[test]
fn status_at_a_past_revision_shows_the_past_and_history_lists_the_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    write_stack(dir.path(), "stack.yaml", "demo", 2);
    ok(&daemon.orco(&["apply"], dir.path()));
    assert!(
        ok(&daemon.orco(&["scale", "web", "5"], dir.path())).contains("scaled to 5 (revision 2)")
    );
    ok(&daemon.orco(&["stop", "db"], dir.path()));
    ok(&daemon.orco(&["start", "db"], dir.path()));

    let now = ok(&daemon.orco(&["status"], dir.path()));
    assert_eq!(row(&now, "web")[2], "0/5");
    let past = ok(&daemon.orco(&["status", "--at", "rev:1"], dir.path()));
    assert_eq!(row(&past, "web")[2], "0/2");
    assert!(
        past.starts_with("stack demo at rev:1 (revision 1)"),
        "{past}"
    );
    let stopped = ok(&daemon.orco(&["status", "--at", "3"], dir.path()));
    assert_eq!(row(&stopped, "db")[1], "stopped");

    let history = ok(&daemon.orco(&["history", "db"], dir.path()));
    let lines: Vec<_> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].contains("stack demo applied (2 services, 0 jobs)"),
        "{history}"
    );
    assert!(lines[1].contains("demo/db stop requested"), "{history}");
    assert!(lines[2].contains("demo/db start requested"), "{history}");
    let stack_history = ok(&daemon.orco(&["history", "demo"], dir.path()));
    assert_eq!(stack_history.lines().count(), 4, "{stack_history}");
    let json: Value = serde_json::from_str(&ok(
        &daemon.orco(&["history", "web", "-o", "json"], dir.path())
    ))
    .unwrap();
    assert_eq!(json["items"][1]["kind"], "scale_changed");

    let events = ok(&daemon.orco(&["events"], dir.path()));
    assert_eq!(events.lines().count(), 4, "{events}");
    let after = ok(&daemon.orco(&["events", "--after", "3", "-o", "json"], dir.path()));
    let only: Value = serde_json::from_str(after.trim()).unwrap();
    assert_eq!(only["revision"], 4);
}

#[test]
fn two_stacks_run_side_by_side_and_a_verb_must_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    let alpha = write_stack(dir.path(), "alpha.yaml", "alpha", 1);
    let beta = write_stack(dir.path(), "beta.yaml", "beta", 3);
    ok(&daemon.orco(&["apply", "-f", alpha.to_str().unwrap()], dir.path()));
    ok(&daemon.orco(&["apply", "-f", beta.to_str().unwrap()], dir.path()));

    // Reading verbs show every stack, grouped; a verb that acts must be told which.
    let both = ok(&daemon.orco(&["status"], dir.path()));
    assert!(
        both.contains("stack alpha") && both.contains("stack beta"),
        "{both}"
    );
    let out = daemon.orco(&["scale", "web", "2"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("several stacks are applied (alpha, beta)"));
    let beta_status = ok(&daemon.orco(&["status", "--stack", "beta"], dir.path()));
    assert_eq!(row(&beta_status, "web")[2], "0/3");
    let alpha_status = ok(&daemon.orco(&["status", "-f", alpha.to_str().unwrap()], dir.path()));
    assert_eq!(row(&alpha_status, "web")[2], "0/1");
    let all = ok(&daemon.orco(&["workload", "list"], dir.path()));
    assert_eq!(all.lines().count(), 5, "{all}");

    assert!(
        ok(&daemon.orco(&["down", "--stack", "alpha"], dir.path())).contains("stack alpha removed")
    );
    let only = ok(&daemon.orco(&["status"], dir.path()));
    assert_eq!(row(&only, "web")[2], "0/3");
}

#[test]
fn no_color_turns_every_escape_code_off() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    write_stack(dir.path(), "stack.yaml", "demo", 1);
    ok(&daemon.orco(&["apply"], dir.path()));
    let forced = daemon.orco_env(&["status"], dir.path(), &[("CLICOLOR_FORCE", "1")]);
    let forced = ok(&forced);
    // The environment the helper sets has NO_COLOR: remove it to see colour at all.
    let mut command = Command::new(ORCO);
    let coloured = command
        .args(["status"])
        .current_dir(dir.path())
        .env("ORCO_HOST", daemon.host())
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    let coloured = ok(&coloured);
    assert!(coloured.contains('\u{1b}'), "colour forced: {coloured:?}");
    assert!(!forced.contains('\u{1b}'), "NO_COLOR wins: {forced:?}");
}

#[test]
fn exit_code_three_when_no_daemon_answers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("unix://{}/nobody.sock", dir.path().display());
    // Verbs that only read never start a daemon (the ones that write do: tests/lifecycle.rs).
    for args in [&["status"][..], &["cluster", "health"], &["events"]] {
        let out = Command::new(ORCO)
            .args(args)
            .current_dir(dir.path())
            .env("ORCO_HOST", &missing)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains("cannot reach the orco daemon"), "{err}");
        assert!(err.contains("orco daemon"), "{err}");
    }
    let out = Command::new(ORCO)
        .args(["status", "--host", "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = Command::new(ORCO)
        .args(["status", "--host", "ftp://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn a_second_daemon_on_the_same_data_dir_exits_one_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    let mode = std::fs::metadata(&daemon.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let out = Command::new(ORCO)
        .args(["daemon", "--no-engine", "--data-dir"])
        .arg(&daemon.data)
        .arg("--socket")
        .arg(dir.path().join("second.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("another orco daemon"), "{err}");
    assert!(err.contains(&daemon.data.display().to_string()), "{err}");
    // The first still answers.
    ok(&daemon.orco(&["cluster", "health"], dir.path()));
}

#[test]
fn a_tcp_listener_without_a_token_file_is_refused_as_bad_usage() {
    let out = Command::new(ORCO)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--token-file"));
}

#[test]
fn run_workload_node_and_cluster_verbs_go_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    let out = ok(&daemon.orco(
        &[
            "run",
            "ticker",
            "--replicas",
            "2",
            "--restart",
            "on-failure",
            "--",
            "sleep",
            "60",
        ],
        dir.path(),
    ));
    assert!(out.contains("ticker/ticker submitted"), "{out}");
    let describe = ok(&daemon.orco(&["workload", "describe", "ticker"], dir.path()));
    assert!(describe.contains("Ready:     0/2"), "{describe}");
    assert!(describe.contains("mode: on-failure"), "{describe}");
    let json: Value = serde_json::from_str(&ok(&daemon.orco(
        &["workload", "describe", "ticker/ticker", "-o", "json"],
        dir.path(),
    )))
    .unwrap();
    assert_eq!(json["spec"]["command"], serde_json::json!(["sleep", "60"]));
    ok(&daemon.orco(&["workload", "scale", "ticker", "4"], dir.path()));
    let list = ok(&daemon.orco(&["workload", "list"], dir.path()));
    assert_eq!(row(&list, "ticker/ticker")[4], "4");
    ok(&daemon.orco(&["instance", "list"], dir.path()));

    // Bad input: an unknown service is exit 2, a conflict (nothing to restart) exit 1.
    let out = daemon.orco(&["scale", "nope", "3"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no workload"));
    let out = daemon.orco(&["restart", "ticker"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = daemon.orco(&["stop", "ticker-0"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let nodes = ok(&daemon.orco(&["node", "list"], dir.path()));
    let name = nodes
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let node: Value = serde_json::from_str(&ok(
        &daemon.orco(&["node", "describe", &name, "-o", "json"], dir.path())
    ))
    .unwrap();
    assert!(node["cpus"].as_u64().unwrap() >= 1);
    let info = ok(&daemon.orco(&["cluster", "info"], dir.path()));
    assert!(
        info.contains("Engine:     not running in this daemon"),
        "{info}"
    );
    let health: Value = serde_json::from_str(&ok(
        &daemon.orco(&["cluster", "health", "-o", "json"], dir.path())
    ))
    .unwrap();
    assert_eq!(health["status"], "healthy");
    // A daemon is a cluster of one: no SWIM group to show, said plainly.
    let members = daemon.orco(&["cluster", "members"], dir.path());
    assert!(!members.status.success());
    assert!(
        text(&members.stderr).contains("orco server"),
        "{}",
        text(&members.stderr)
    );

    ok(&daemon.orco(&["workload", "delete", "ticker"], dir.path()));
    let out = daemon.orco(&["status"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no stack is applied"));
}

#[test]
fn an_invalid_stack_file_is_refused_here_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = DaemonProc::start(dir.path());
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 0.1\nstack: {name: demo}\nservices:\n  web:\n    command: x\n    dependsOn: [{target: nope}]\n",
    )
    .unwrap();
    let out = daemon.orco(&["apply", "-f", bad.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
    let info: Value = serde_json::from_str(&ok(
        &daemon.orco(&["cluster", "info", "-o", "json"], dir.path())
    ))
    .unwrap();
    assert_eq!(info["revision"], 0);
}

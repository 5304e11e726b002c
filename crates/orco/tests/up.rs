//! `orco up` as a user runs it, against a daemon it starts itself: attached output, Ctrl-C
//! stopping the stack in reverse order with exit 0; `up -d --wait` and the verbs that follow
//! (status, ps, logs, restart, scale, run, history, --at, down) with every output format.

#![allow(clippy::unwrap_used)]

mod common;

use common::free_port;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const PATIENCE: Duration = Duration::from_secs(30);

fn fixture() -> String {
    orco_fixture::path().unwrap().display().to_string()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A running `orco up` whose stdout lines arrive on a channel; killed on drop if still running.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    /// Runs `orco up -f FILE` in `world`.
    fn start(world: &common::World, file: &Path) -> Up {
        let mut child = world
            .command(&["up", "-f", file.to_str().unwrap()])
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
    let world = common::World::new();
    let (f, port) = (fixture(), free_port());
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: up-attach}}\nservices:\n  db: {{command: [{f}, --listen, '{port}@100', --stdout, 'db says hi'], health: {{tcp: {{port: {port}}}}}}}\n  api: {{command: [{f}, --stdout, 'api up'], dependsOn: [{{target: db}}]}}\n"
        ),
    );
    let mut up = Up::start(&world, &file);
    up.expect("db-0     | db says hi");
    let api = up.expect("api-0 started (pid ");
    let db = up.expect("db-0 started (pid ");
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
    // The daemon `up` started keeps running for the next command.
    assert!(world.daemon_pid().is_some());
    let ps = world.ok(&["ps"]);
    assert!(ps.contains("stopped"), "{ps}");
    // Each service says the stack was stopped, not that someone ran `orco stop` on it.
    let status = world.ok(&["status"]);
    assert!(status.contains("the stack was stopped"), "{status}");
    assert!(!status.contains("orco stop"), "{status}");
}

/// What the state says of one instance, from `orco ps -o json`.
fn instance(world: &common::World, name: &str) -> serde_json::Value {
    world
        .instances()
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_detached_with_wait_then_every_verb_through_the_daemon() {
    let world = common::World::new();
    let (f, port) = (fixture(), free_port());
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: verbs}}\nservices:\n  db: {{command: [{f}, --listen, '{port}@300', --stdout, 'INFO db listening'], health: {{tcp: {{port: {port}}}}}}}\n  api: {{command: [{f}, --stdout, 'ERROR api complains', --stdout, 'INFO api fine'], replicas: 2, dependsOn: [{{target: db}}]}}\n"
        ),
    );
    let out = world
        .command(&["up", "-d", "--wait", "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("started the daemon"), "{stderr}");
    assert!(
        stderr.contains("waiting for"),
        "progress is shown: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 services ready"));

    // The socket is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(world.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // status and ps, as a table without colour and as JSON and YAML.
    let status = world.ok(&["status"]);
    assert!(status.starts_with("SERVICE"), "{status}");
    assert!(!status.contains('\x1b'), "NO_COLOR: {status:?}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("api") && l.contains("2/2")),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&world.ok(&["status", "-o", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    let yaml = world.ok(&["ps", "-o", "yaml"]);
    let parsed: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(parsed["items"].as_array().unwrap().len(), 3);
    let before_scale: u64 = json["revision"].as_u64().unwrap();

    // logs: history with filters.
    wait_until("api output in the logs", || {
        world.ok(&["logs", "api"]).contains("api fine")
    });
    let logs = world.ok(&["logs", "api", "--grep", "complains"]);
    assert!(logs.contains("api-0") && logs.contains("api-1"), "{logs}");
    assert!(!logs.contains("api fine"), "{logs}");
    let errors = world.ok(&["logs", "--level", "error"]);
    assert!(
        errors.contains("api complains") && !errors.contains("db listening"),
        "{errors}"
    );
    let one = world.ok(&["instance", "logs", "db-0"]);
    assert!(one.contains("db listening"), "{one}");
    let records = world.ok(&["logs", "db", "-o", "json"]);
    let record: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(record["service"], "db");
    assert_eq!(record["level"], "info");

    // restart: a new pid, one restart more.
    let pid = instance(&world, "db-0")["pid"].as_u64().unwrap();
    world.ok(&["restart", "db-0"]);
    wait_until("db-0 restarted", || {
        let i = instance(&world, "db-0");
        i["pid"].as_u64().is_some_and(|p| p != pid) && i["ready"] == true
    });
    assert_eq!(instance(&world, "db-0")["restarts"], 1);

    // scale: up to 3, then --at shows the past.
    world.ok(&["scale", "api", "3"]);
    wait_until("api-2 running", || {
        world
            .instances()
            .iter()
            .any(|i| i["name"] == "api-2" && i["phase"] == "running")
    });
    let past = world.ok(&["ps", "--at", &before_scale.to_string()]);
    assert!(!past.contains("api-2"), "{past}");
    assert!(world.ok(&["ps"]).contains("api-2"));

    // history lists the transitions of one instance.
    let history = world.ok(&["history", "db-0"]);
    for word in ["created", "started", "ready", "restart requested"] {
        assert!(history.contains(word), "{word} in:\n{history}");
    }

    // a one-off workload beside the stack, then two stacks side by side.
    world.ok(&["run", "oneoff", "--", &f, "--stdout", "one-off ran"]);
    let stacks = world.ok(&["workload", "list"]);
    assert!(stacks.contains("oneoff"), "{stacks}");
    let second = world.file(
        "second.yaml",
        &format!("version: 0.1\nstack: {{name: second}}\nservices:\n  solo: {{command: [{f}, --stdout, 'solo here']}}\n"),
    );
    world.ok(&["up", "-d", "--wait", "-f", second.to_str().unwrap()]);
    let solo = world.ok(&["ps", "--stack", "second"]);
    assert!(solo.contains("solo-0"), "{solo}");
    assert!(world.ok(&["ps", "--stack", "verbs"]).contains("db-0"));

    // /metrics has the probe latency of the tcp probe that ran, and the API's own.
    let metrics = {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(world.socket()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: orco\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(
        metrics.contains("orco_probe_duration_seconds_count{kind=\"tcp\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orco_api_request_duration_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orco_instances{phase=\"running\"}"),
        "{metrics}"
    );

    // down removes one stack and stops its processes; the other runs on.
    let pids: Vec<i32> = world
        .ok(&["ps", "--stack", "verbs", "-o", "json"])
        .parse::<serde_json::Value>()
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    world.ok(&["down", "--stack", "verbs"]);
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "every process of the stack stopped"
    );
    assert!(world.ok(&["ps", "--stack", "second"]).contains("running"));
}

#[test]
fn the_demo_stack_comes_up_ready_with_wait_and_goes_down() {
    let world = common::World::new();
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/demo/stack.yaml"
    );
    let out = world.ok(&["up", "-d", "--wait", "--timeout", "60s", "-f", demo]);
    assert!(out.contains("stack demo: 4 services ready"), "{out}");
    let status = world.ok(&["status"]);
    for service in ["db", "api", "web", "worker"] {
        assert!(
            status.lines().any(|l| l.starts_with(service)),
            "{service} in:\n{status}"
        );
    }
    wait_until("web's output in the logs", || {
        world.ok(&["logs", "web"]).contains("web: serving on 18433")
    });
    let pids: Vec<u64> = world
        .instances()
        .iter()
        .filter_map(|i| i["pid"].as_u64())
        .collect();
    world.ok(&["down"]);
    let stacks = world.ok(&["workload", "list", "-o", "json"]);
    assert!(!stacks.contains("\"demo\""), "{stacks}");
    assert!(
        pids.iter().all(|p| !alive(*p as i32)),
        "nothing of the demo runs"
    );
}

#[test]
fn a_blocked_service_says_why_in_status_and_wait_gives_up_at_its_timeout() {
    let world = common::World::new();
    let (f, port) = (fixture(), free_port());
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: blocked}}\nservices:\n  db: {{command: [{f}, --sleep], health: {{tcp: {{port: {port}}}}}}}\n  api: {{command: [{f}, --sleep], dependsOn: [{{target: db}}]}}\n"
        ),
    );
    let out = world
        .command(&[
            "up",
            "-d",
            "--wait",
            "--timeout",
            "1s",
            "-f",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "not ready: exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not ready within"), "{stderr}");
    assert!(
        stderr.contains("api blocked: dependency db not ready"),
        "{stderr}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&world.ok(&["status", "-o", "json"])).unwrap();
    let api = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "api")
        .unwrap()
        .clone();
    assert!(
        api["message"]
            .as_str()
            .unwrap()
            .starts_with("api blocked: dependency db not ready"),
        "{api}"
    );
}

#[test]
fn status_at_a_past_revision_explains_a_wait_with_that_moments_time() {
    let world = common::World::new();
    let (f, port) = (fixture(), free_port());
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: past}}\nservices:\n  db: {{command: [{f}, --sleep], health: {{tcp: {{port: {port}}}}}}}\n  api: {{command: [{f}, --sleep], dependsOn: [{{target: db, timeout: 1s}}]}}\n"
        ),
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    let api_of = |json: &str| -> serde_json::Value {
        let status: serde_json::Value = serde_json::from_str(json).unwrap();
        status["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "api")
            .unwrap()
            .clone()
    };
    // Now: api waited past its dependency's timeout and failed.
    wait_until("api failed at its dependency's timeout", || {
        api_of(&world.ok(&["status", "-o", "json"]))["state"] == "failed"
    });
    let now = api_of(&world.ok(&["status", "-o", "json"]));
    assert!(
        now["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{now}"
    );
    // Then, at the revision that created it, it was waiting, and its timeout had not passed
    // at that moment (it has by the clock of this read).
    let history: serde_json::Value =
        serde_json::from_str(&world.ok(&["history", "past/api-0", "-o", "json"])).unwrap();
    let created = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "instance_created")
        .unwrap()["revision"]
        .as_u64()
        .unwrap();
    let at = format!("rev:{created}");
    let then = api_of(&world.ok(&["status", "--at", &at, "-o", "json"]));
    assert_eq!(then["state"], "pending", "{then}");
    let message = then["message"].as_str().unwrap();
    assert!(
        message.starts_with("api blocked: dependency db not ready (timeout 1s")
            && !message.contains("timed out"),
        "{then}"
    );
    let blocked = &then["blocked"];
    assert_eq!(blocked["waiting"], "api-0", "{then}");
    assert_eq!(blocked["dependency"], "db", "{then}");
    assert_eq!(blocked["require"], "ready", "{then}");
    assert_eq!(blocked["timed_out"], false, "{then}");
    let since: jiff::Timestamp = blocked["since"].as_str().unwrap().parse().unwrap();
    let deadline: jiff::Timestamp = blocked["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!(deadline.duration_since(since).as_secs(), 1, "{then}");
    let as_of: jiff::Timestamp = serde_json::from_str::<serde_json::Value>(
        &world.ok(&["status", "--at", &at, "-o", "json"]),
    )
    .unwrap()["as_of"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(as_of < deadline, "explained at {as_of}, before {deadline}");
    world.ok(&["down"]);
}

#[test]
fn a_process_service_gets_the_daemons_api_address_as_orco_host() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "hosted.yaml",
        "version: 0.1\nstack: {name: hosted}\nservices:\n  app:\n    command: 'echo \"$ORCO_HOST\" > host.tmp && mv host.tmp host && exec sleep 60'\n",
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    let host = world.dir.path().join("host");
    wait_until("the service wrote ORCO_HOST", || host.exists());
    let written = std::fs::read_to_string(&host).unwrap();
    assert_eq!(
        written.trim(),
        format!("unix://{}", world.socket().display())
    );
    world.ok(&["down", "-f", file.to_str().unwrap()]);
}

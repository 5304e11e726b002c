//! Cluster mode end to end with the real binary: `orco server` and `orco agent`s on
//! loopback, each agent with its own data dir and keeper; join with a token over mutual TLS,
//! instances spread over nodes, a node that crashes or hangs and its instances ready
//! elsewhere — never two live processes for one slot.
#![allow(clippy::unwrap_used)]

mod common;

use common::free_port;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ORCO, shutdown_keeper};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// A server and its agents in a temp dir; everything is killed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
    agents: BTreeMap<String, Option<Child>>,
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}

/// The keeper serving `dir`, by its own answer.
fn keeper_pid(dir: &Path) -> Option<i32> {
    use orco_runtime::protocol::{Op, Request, VERSION, json_frame};
    let mut stream = std::os::unix::net::UnixStream::connect(dir.join("keeper.sock")).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let frame = json_frame(&Request {
        id: 0,
        op: Op::Hello { version: VERSION },
    })
    .ok()?;
    stream.write_all(&frame).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let at = text.find("\"pid\":")? + 6;
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            server: None,
            agents: BTreeMap::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self, name: &str) -> std::fs::File {
        common::append_log(&self.path(&format!("{name}.log")))
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for name in std::iter::once("server".to_string()).chain(self.agents.keys().cloned()) {
            all += &format!(
                "--- {name}.log\n{}\n",
                std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
            );
        }
        all
    }

    /// `orco ARGS` against the server's socket.
    fn orco(&self, args: &[&str]) -> std::process::Output {
        common::orco_on(&self.path("server.sock"), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        common::ok_on(&self.path("server.sock"), args, || self.logs())
    }

    /// A server and an agent for each of `nodes`, joined with one reusable token, all ready.
    fn with_nodes(nodes: &[&str]) -> Cluster {
        let mut c = Cluster::new();
        c.start_server(&[]);
        let token = c.token_file("join-token", &["--reusable"]);
        for node in nodes {
            c.start_agent(node, &token);
        }
        c.wait_nodes_ready(nodes);
        c
    }

    fn start_server(&mut self, extra: &[&str]) {
        let token = self.path("api-token");
        std::fs::write(&token, "api-secret-for-tests").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let listen = format!("127.0.0.1:{}", self.port);
        let child = Command::new(ORCO)
            .args(["server", "--data-dir"])
            .arg(self.path("server"))
            .arg("--socket")
            .arg(self.path("server.sock"))
            .args(["--listen", &listen, "--token-file"])
            .arg(&token)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(self.log("server"))
            .stderr(self.log("server"))
            .process_group(0)
            .spawn()
            .unwrap();
        self.server = Some(child);
        for _ in 0..600 {
            if self.orco(&["cluster", "health"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not answer:\n{}", self.logs());
    }

    /// A join token in a 0600 file.
    fn token_file(&self, name: &str, extra: &[&str]) -> PathBuf {
        let mut args = vec!["cluster", "token", "create"];
        args.extend_from_slice(extra);
        let token = self.ok(&args);
        let path = self.path(name);
        std::fs::write(&path, token.trim()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn agent_command(&self, node: &str, token: &Path) -> Command {
        let mut command = Command::new(ORCO);
        command
            .args([
                "agent",
                "--join",
                &format!("https://127.0.0.1:{}", self.port),
            ])
            .arg("--token-file")
            .arg(token)
            .args(["--node", node, "--data-dir"])
            .arg(self.path(node))
            .env("ORCO_DOCKER_SCOPE", format!("orco-test-cluster-{node}"))
            .stdin(Stdio::null());
        command
    }

    fn start_agent(&mut self, node: &str, token: &Path) {
        self.start_agent_with(node, token, &[]);
    }

    /// Starts `node`'s agent with `extra` flags (a capacity of 4 cores and 8Gi unless they
    /// give one).
    fn start_agent_with(&mut self, node: &str, token: &Path, extra: &[&str]) {
        let mut command = self.agent_command(node, token);
        if !extra.contains(&"--capacity") {
            command.args(["--capacity", "cpu=4,memory=8Gi"]);
        }
        let child = command
            .args(extra)
            .stdout(self.log(node))
            .stderr(self.log(node))
            .process_group(0)
            .spawn()
            .unwrap();
        self.agents.insert(node.to_string(), Some(child));
    }

    fn agent_pid(&self, node: &str) -> i32 {
        let child = self.agents[node].as_ref().unwrap();
        i32::try_from(child.id()).unwrap()
    }

    /// `orco node list -o json` items by name.
    fn nodes(&self) -> BTreeMap<String, serde_json::Value> {
        common::items_by_name(&self.ok(&["node", "list", "-o", "json"]))
    }

    /// `orco ps -o json` items.
    fn instances(&self) -> Vec<serde_json::Value> {
        common::items(&self.ok(&["ps", "-o", "json"]))
    }

    fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // What the server says, as text: a failing read must not hide the timeout.
        let said = |args: &[&str]| common::said_on(&self.path("server.sock"), args);
        panic!(
            "{what}: not within {limit:?}\nnodes:\n{}\ninstances:\n{}\n{}",
            said(&["node", "list"]),
            said(&["ps"]),
            self.logs()
        );
    }

    /// Stops the server with `signal`, starts another on the same data and waits until every
    /// agent is back.
    fn restart_server(&mut self, signal: Signal) {
        let mut server = self.server.take().unwrap();
        kill(Pid::from_raw(i32::try_from(server.id()).unwrap()), signal).unwrap();
        server.wait().unwrap();
        self.start_server(&[]);
        let names: Vec<String> = self.agents.keys().cloned().collect();
        self.wait_nodes_ready(&names.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Stops `node`'s agent with SIGTERM (its instances run on), starts it again with the
    /// join token and waits until every node is ready.
    fn restart_agent(&mut self, node: &str) {
        let mut agent = self.agents.get_mut(node).and_then(Option::take).unwrap();
        kill(
            Pid::from_raw(i32::try_from(agent.id()).unwrap()),
            Signal::SIGTERM,
        )
        .unwrap();
        agent.wait().unwrap();
        let token = self.path("join-token");
        self.start_agent(node, &token);
        let names: Vec<String> = self.agents.keys().cloned().collect();
        self.wait_nodes_ready(&names.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn wait_nodes_ready(&self, names: &[&str]) {
        self.wait_for("nodes ready", Duration::from_secs(30), |c| {
            let nodes = c.nodes();
            names
                .iter()
                .all(|n| nodes.get(*n).is_some_and(|v| v["status"] == "ready"))
        });
    }

    fn apply(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        self.ok(&["apply", "-f", path.to_str().unwrap()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (node, child) in &mut self.agents {
            if let Some(child) = child {
                let _ = kill(
                    Pid::from_raw(i32::try_from(child.id()).unwrap()),
                    Signal::SIGCONT,
                );
                let _ = child.kill();
                let _ = child.wait();
            }
            shutdown_keeper(&self.dir.path().join(node).join("keeper"));
        }
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Running instances of the stack: (slot, node, pid).
fn running(c: &Cluster) -> Vec<(String, String, i32)> {
    c.instances()
        .iter()
        .filter(|i| i["phase"] == "running")
        .filter_map(|i| {
            Some((
                i["id"].as_str()?.to_string(),
                i["node"].as_str()?.to_string(),
                i32::try_from(i["pid"].as_u64()?).ok()?,
            ))
        })
        .collect()
}

const STACK: &str = "version: 0.1\nstack: {name: fleet}\nservices:\n  web:\n    command: [sleep, '3600']\n    replicas: 4\n";

fn two_nodes_running_the_fleet() -> Cluster {
    let c = Cluster::with_nodes(&["n1", "n2"]);
    c.apply("fleet.yaml", STACK);
    c.wait_for(
        "4 instances running on both nodes",
        Duration::from_secs(30),
        |c| {
            let run = running(c);
            run.len() == 4
                && run.iter().any(|(_, n, _)| n == "n1")
                && run.iter().any(|(_, n, _)| n == "n2")
        },
    );
    c
}

#[test]
fn agents_join_with_a_token_and_the_instances_spread_over_the_nodes() {
    let c = two_nodes_running_the_fleet();
    let nodes = c.nodes();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_eq!(nodes["n1"]["allocatable_cpu_millis"], 4000);
    let run = running(&c);
    let per_node = |n: &str| run.iter().filter(|(_, node, _)| node == n).count();
    assert_eq!((per_node("n1"), per_node("n2")), (2, 2), "{run:?}");
    for (_, node, pid) in &run {
        assert!(alive(*pid), "pid {pid} of a running instance is alive");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let wanted = format!("ORCO_NODE={node}");
        assert!(
            environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()),
            "{pid} has {wanted}"
        );
    }
    // `orco ps` shows NODE once instances run on more than one node.
    let table = c.ok(&["ps"]);
    let header = table.lines().find(|l| l.contains("INSTANCE")).unwrap_or("");
    assert!(header.contains("NODE"), "{table}");
    assert!(table.contains("n1") && table.contains("n2"), "{table}");
    let tokens = c.ok(&["cluster", "token", "list", "-o", "json"]);
    assert!(
        tokens.contains("\"n1\"") && tokens.contains("\"n2\""),
        "{tokens}"
    );
    assert!(
        !tokens.contains("orco1."),
        "a listed token shows no secret: {tokens}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&c.ok(&["cluster", "info", "-o", "json"])).unwrap();
    assert_eq!(
        (&info["mode"], &info["nodes"]),
        (&"server".into(), &2.into()),
        "{info}"
    );
    // Jobs are not placed on a cluster's nodes yet: refused, not accepted and never run.
    let jobs = c.path("jobs.yaml");
    std::fs::write(
        &jobs,
        "version: 0.1\nstack: {name: batch}\njobs:\n  j: {tasks: {t: {command: [\"true\"]}}}\n",
    )
    .unwrap();
    let out = c.orco(&["apply", "-f", jobs.to_str().unwrap()]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("runs services only"),
        "{e}"
    );
}

/// (slot, node, pid, restarts) of every instance.
fn placement(c: &Cluster) -> Vec<(String, String, u64, u64)> {
    c.instances()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["node"].as_str().unwrap_or_default().to_string(),
                i["pid"].as_u64().unwrap_or_default(),
                i["restarts"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_server_and_an_agent_restarted_twice_leave_every_instance_where_it_was() {
    let mut c = two_nodes_running_the_fleet();
    let before = placement(&c);
    for round in 0..2 {
        // The server: SIGTERM, then SIGKILL, each followed by a new server on the same data.
        c.restart_server(if round == 0 {
            Signal::SIGTERM
        } else {
            Signal::SIGKILL
        });
        // An agent: SIGTERM and back, within its lease.
        c.restart_agent("n1");
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(placement(&c), before, "round {round}\n{}", c.logs());
    }
    for (_, _, pid, _) in &before {
        assert!(alive(i32::try_from(*pid).unwrap()));
    }
}

#[test]
fn a_crashed_node_s_instances_are_ready_on_another_node_and_never_run_twice() {
    let mut c = two_nodes_running_the_fleet();
    let before = running(&c);
    let on_n1: Vec<(String, i32)> = before
        .iter()
        .filter(|(_, n, _)| n == "n1")
        .map(|(id, _, pid)| (id.clone(), *pid))
        .collect();
    // The machine dies: agent, keeper and instances at once.
    let keeper = keeper_pid(&c.path("n1").join("keeper")).expect("n1's keeper answers");
    let agent = c.agent_pid("n1");
    let _ = killpg(Pid::from_raw(agent), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(keeper), Signal::SIGKILL);
    for (_, pid) in &on_n1 {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    if let Some(mut child) = c.agents.get_mut("n1").and_then(Option::take) {
        let _ = child.wait();
    }
    c.wait_for("every slot running on n2", Duration::from_secs(30), |c| {
        let run = running(c);
        run.len() == 4 && run.iter().all(|(_, n, _)| n == "n2")
    });
    assert_eq!(c.nodes()["n1"]["status"], "lost");
    let after = running(&c);
    for (slot, _) in &on_n1 {
        let live = after
            .iter()
            .filter(|(id, _, pid)| id == slot && alive(*pid))
            .count();
        assert_eq!(live, 1, "{slot}: one live process, {after:?}");
    }
    let history = c.ok(&["events", "-o", "json"]);
    assert!(history.contains("node_lost"), "the loss is on record");
}

/// Established TCP connections whose local port is `port` (the server's side of node
/// streams on loopback).
fn established_server_sides(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local_address = fields.next().unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            local_address.ends_with(&local) && state == "01"
        })
        .count()
}

#[test]
fn a_frozen_agent_s_keeper_kills_its_instances_before_they_run_elsewhere() {
    let c = two_nodes_running_the_fleet();
    let before = running(&c);
    let old: BTreeMap<String, i32> = before
        .iter()
        .filter(|(_, n, _)| n == "n1")
        .map(|(id, _, pid)| (id.clone(), *pid))
        .collect();
    assert!(!old.is_empty());
    // The agent hangs; its keeper and instances go on, and nothing on the node answers.
    let agent = c.agent_pid("n1");
    kill(Pid::from_raw(agent), Signal::SIGSTOP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut overlap = Vec::new();
    loop {
        let run = running(&c);
        for (slot, old_pid) in &old {
            let replaced = run
                .iter()
                .any(|(id, n, pid)| id == slot && n == "n2" && alive(*pid));
            if replaced && alive(*old_pid) {
                overlap.push(slot.clone());
            }
        }
        if run.len() == 4 && run.iter().all(|(_, n, _)| n == "n2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not moved: {run:?}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        overlap.is_empty(),
        "two live processes for {overlap:?}\n{}",
        c.logs()
    );
    for (slot, pid) in &old {
        assert!(!alive(*pid), "{slot}'s old process {pid} was fenced");
    }
    // The server ends the lost node's stream itself: no half-open stream is kept for it.
    c.wait_for(
        "the lost node's stream closed by the server",
        Duration::from_secs(15),
        |c| established_server_sides(c.port) == 1,
    );
    // The agent comes back: it holds nothing it no longer owns, and the slots stay single.
    kill(Pid::from_raw(agent), Signal::SIGCONT).unwrap();
    c.wait_nodes_ready(&["n1", "n2"]);
    std::thread::sleep(Duration::from_secs(2));
    let run = running(&c);
    assert_eq!(run.len(), 4, "{run:?}");
    assert!(
        run.iter().all(|(_, n, pid)| n == "n2" && alive(*pid)),
        "{run:?}"
    );
}

#[test]
fn a_wrong_revoked_or_loose_token_and_a_foreign_ca_are_refused_with_a_reason() {
    let mut c = Cluster::new();
    c.start_server(&[]);
    let run_agent = |c: &Cluster, node: &str, token: &Path| {
        let out = c
            .agent_command(node, token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{node} joined");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A token file others may read.
    let loose = c.token_file("loose-token", &[]);
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = run_agent(&c, "n1", &loose);
    assert!(e.contains("readable by others"), "{e}");
    // A revoked token.
    let revoked = c.token_file("revoked-token", &[]);
    let text = std::fs::read_to_string(&revoked).unwrap();
    let id = text.split('.').nth(1).unwrap().to_string();
    c.ok(&["cluster", "token", "revoke", &id]);
    let e = run_agent(&c, "n2", &revoked);
    assert!(e.contains("revoked"), "{e}");
    // A wrong secret.
    let good = c.token_file("good-token", &[]);
    let text = std::fs::read_to_string(&good).unwrap();
    let mut parts: Vec<String> = text.trim().split('.').map(String::from).collect();
    parts[3] = "x".repeat(parts[3].len());
    let wrong = c.path("wrong-token");
    std::fs::write(&wrong, parts.join(".")).unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = run_agent(&c, "n3", &wrong);
    assert!(e.contains("secret"), "{e}");
    // Another CA's pin.
    let mut parts: Vec<String> = text.trim().split('.').map(String::from).collect();
    parts[2] = "0".repeat(64);
    let foreign = c.path("foreign-token");
    std::fs::write(&foreign, parts.join(".")).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = run_agent(&c, "n4", &foreign);
    assert!(e.contains("does not match the pin"), "{e}");
    // The good token joins, once.
    c.start_agent("n5", &good);
    c.wait_nodes_ready(&["n5"]);
    let e = run_agent(&c, "n6", &good);
    assert!(e.contains("already used"), "{e}");
    // A name held by a live node.
    let another = c.token_file("another-token", &[]);
    std::fs::remove_dir_all(c.path("n5-copy")).ok();
    let out = Command::new(ORCO)
        .args(["agent", "--join", &format!("https://127.0.0.1:{}", c.port)])
        .arg("--token-file")
        .arg(&another)
        .args(["--node", "n5", "--data-dir"])
        .arg(c.path("n5-copy"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("held by a live node"),
        "{e}"
    );
    // Nothing was recorded for the refused nodes.
    let nodes = c.nodes();
    assert_eq!(nodes.keys().collect::<Vec<_>>(), vec!["n5"]);
    // A plain-text client of the node routes gets no stream.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", c.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /api/v1/node/stream HTTP/1.1\r\nHost: x\r\nUpgrade: orco-interface\r\nConnection: upgrade\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("101"),
        "plain text got a stream"
    );
}

#[test]
fn logs_of_instances_on_every_node_are_read_and_followed_through_the_server() {
    let c = Cluster::with_nodes(&["n1", "n2"]);
    c.apply(
        "talk.yaml",
        "version: 0.1\nstack: {name: talk}\nservices:\n  talk:\n    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo \"line $i from $ORCO_NODE\"; sleep 0.1; done']\n    replicas: 2\n",
    );
    let from_both = |text: &str| text.contains("from n1") && text.contains("from n2");
    c.wait_for("5 lines from each node", Duration::from_secs(30), |c| {
        let text = String::from_utf8_lossy(&c.orco(&["logs"]).stdout).into_owned();
        text.contains("line 5 from n1") && text.contains("line 5 from n2")
    });
    // `--tail` counts over the merged history of every node, not per node.
    let tail = c.ok(&["logs", "--tail", "5", "-o", "json"]);
    assert_eq!(tail.lines().count(), 5, "{tail}");
    // Filters reach the nodes: one instance's lines only.
    let one = c.ok(&["logs", "--grep", "from n2", "-o", "json"]);
    assert!(!one.is_empty() && !one.contains("from n1"), "{one}");
    // Following: with no history, every line read is live, from both nodes.
    let mut follow = Command::new(ORCO)
        .args(["logs", "-f", "--tail", "0"])
        .env(
            "ORCO_HOST",
            format!("unix://{}", c.path("server.sock").display()),
        )
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = i32::try_from(follow.id()).unwrap();
    let mut out = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen += &String::from_utf8_lossy(&buf[..n]);
            if tx.send(seen.clone()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while !from_both(&seen) && Instant::now() < deadline {
        if let Ok(more) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = more;
        }
    }
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = follow.wait();
    assert!(
        from_both(&seen),
        "a follower sees new lines of both nodes: {seen}\n{}",
        c.logs()
    );
}

#[test]
fn a_dependent_on_one_node_waits_for_its_target_s_readiness_on_another() {
    let mut c = Cluster::new();
    c.start_server(&[]);
    let token = c.token_file("join-token", &["--reusable"]);
    c.start_agent_with("n1", &token, &["--label", "role=db"]);
    c.start_agent_with("n2", &token, &["--label", "role=app"]);
    c.wait_nodes_ready(&["n1", "n2"]);
    let gate = c.path("gate");
    c.apply(
        "gated.yaml",
        &format!(
            "version: 0.1\nstack: {{name: gated}}\nservices:\n  db:\n    command: [sh, -c, 'while [ ! -f {gate} ]; do sleep 0.1; done; echo db ready; exec sleep 3600']\n    health:\n      log: {{pattern: 'db ready'}}\n    placement: {{nodeSelector: {{role: db}}}}\n  app:\n    command: [sleep, '3600']\n    dependsOn: [{{target: db, require: ready}}]\n    placement: {{nodeSelector: {{role: app}}}}\n",
            gate = gate.display()
        ),
    );
    c.wait_for("db running on n1", Duration::from_secs(30), |c| {
        running(c)
            .iter()
            .any(|(id, node, _)| id.ends_with("db-0") && node == "n1")
    });
    // db runs but is not ready: app, on the other node, waits (a few renewals' worth).
    std::thread::sleep(Duration::from_secs(3));
    let app_running = |c: &Cluster| {
        running(c)
            .into_iter()
            .find(|(id, _, _)| id.ends_with("app-0"))
    };
    assert_eq!(
        app_running(&c),
        None,
        "app waits for db's readiness:\n{}",
        c.logs()
    );
    std::fs::write(&gate, "").unwrap();
    c.wait_for(
        "app running on n2 once db is ready",
        Duration::from_secs(30),
        |c| app_running(c).is_some_and(|(_, node, _)| node == "n2"),
    );
}

fn three_nodes_running_the_fleet() -> Cluster {
    let c = Cluster::with_nodes(&["n1", "n2", "n3"]);
    c.apply("fleet.yaml", STACK);
    c.wait_for(
        "4 instances running, some on n1",
        Duration::from_secs(30),
        |c| {
            let run = running(c);
            run.len() == 4 && run.iter().any(|(_, n, _)| n == "n1")
        },
    );
    c
}

/// Ready instances (slot, node, pid), from one `orco ps -o json`.
fn ready(c: &Cluster) -> Vec<(String, String, i32)> {
    c.instances()
        .iter()
        .filter(|i| i["phase"] == "running" && i["ready"] == true)
        .filter_map(|i| {
            Some((
                i["id"].as_str()?.to_string(),
                i["node"].as_str()?.to_string(),
                i32::try_from(i["pid"].as_u64()?).ok()?,
            ))
        })
        .collect()
}

/// Every process seen per slot; panics when two of one slot are alive at once.
#[derive(Default)]
struct SlotWatch {
    seen: BTreeMap<String, Vec<i32>>,
}

impl SlotWatch {
    fn look(&mut self, c: &Cluster) -> Vec<(String, String, i32)> {
        let run = running(c);
        for (slot, _, pid) in &run {
            let pids = self.seen.entry(slot.clone()).or_default();
            if !pids.contains(pid) {
                pids.push(*pid);
            }
        }
        for (slot, pids) in &self.seen {
            let live: Vec<&i32> = pids.iter().filter(|p| alive(**p)).collect();
            assert!(
                live.len() <= 1,
                "{slot} runs twice: {live:?}\n{run:?}\n{}",
                c.logs()
            );
        }
        run
    }

    /// Looks until `done` holds for what runs (and the cluster), within `limit`.
    fn until(
        &mut self,
        c: &Cluster,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&[(String, String, i32)], &Cluster) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            let run = self.look(c);
            if done(&run, c) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}: {run:?}\n{}",
                c.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_drained_node_s_instances_are_ready_elsewhere_before_they_stop_and_never_run_twice() {
    let c = three_nodes_running_the_fleet();
    let old: Vec<(String, i32)> = running(&c)
        .into_iter()
        .filter(|(_, n, _)| n == "n1")
        .map(|(id, _, pid)| (id, pid))
        .collect();
    let mut watch = SlotWatch::default();
    watch.look(&c);
    let socket = c.path("server.sock");
    let drain = std::thread::spawn(move || common::orco_on(&socket, &["node", "drain", "n1"]));
    let mut fewest_ready = usize::MAX;
    while !drain.is_finished() {
        watch.look(&c);
        fewest_ready = fewest_ready.min(ready(&c).len());
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = drain.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("node n1 drained"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.logs()
    );
    assert!(stdout.contains("left on n1"), "progress is shown: {stdout}");
    assert!(
        fewest_ready >= 4,
        "a replacement is ready before an instance stops: {fewest_ready} ready at one point"
    );
    // Once the surge slots are gone: 4 slots, none on n1, one process each.
    c.wait_for("the surge slots removed", Duration::from_secs(30), |c| {
        c.instances().len() == 4
    });
    let run = watch.look(&c);
    assert_eq!(run.len(), 4, "{run:?}");
    assert!(run.iter().all(|(_, n, _)| n != "n1"), "{run:?}");
    for (slot, pid) in &old {
        assert!(!alive(*pid), "{slot}'s process {pid} on n1 was stopped");
    }
    let n1 = &c.nodes()["n1"];
    assert_eq!(
        (&n1["cordoned"], &n1["draining"]),
        (&true.into(), &true.into())
    );
    assert_eq!(n1["instances"], 0);
    let listed = c.ok(&["node", "list"]);
    assert!(listed.contains("ready,draining"), "{listed}");
    let history = c.ok(&["events", "-o", "json"]);
    assert!(
        history.contains("node_drain_requested") && history.contains("instance_evicted"),
        "the drain is on record"
    );
    // An uncordon ends the drain: n1 takes new instances again.
    c.ok(&["node", "uncordon", "n1"]);
    let n1 = &c.nodes()["n1"];
    assert_eq!(
        (&n1["cordoned"], &n1["draining"]),
        (&false.into(), &false.into())
    );
}

#[test]
fn a_drain_with_nowhere_to_go_says_why_and_changes_nothing() {
    let c = Cluster::with_nodes(&["n1"]);
    c.apply("fleet.yaml", STACK);
    c.wait_for("4 instances running", Duration::from_secs(30), |c| {
        running(c).len() == 4
    });
    let events = c.ok(&["events", "-o", "json"]);
    let out = c.orco(&["node", "drain", "n1"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{e}");
    assert!(
        e.contains("cannot drain node n1")
            && e.contains("nowhere to go: 0/1 nodes fit (1 cordoned)"),
        "{e}"
    );
    let n1 = &c.nodes()["n1"];
    assert_eq!(
        (&n1["cordoned"], &n1["draining"]),
        (&false.into(), &false.into())
    );
    // Unknown nodes, for every verb.
    for verb in [
        vec!["node", "drain", "nope"],
        vec!["node", "label", "nope", "a=b"],
        vec!["node", "taint", "nope", "a=b"],
    ] {
        let out = c.orco(&verb);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && e.contains("no node `nope` in this cluster"),
            "{verb:?}: {e}"
        );
    }
    // Bad syntax: the edit named, exit 2, nothing recorded (not even the good edit before it).
    for (verb, says) in [
        (
            ["node", "label", "n1", "zone=a", "disk"],
            "label \"disk\": write KEY=VALUE to set a label, or KEY- to remove one",
        ),
        (
            ["node", "label", "n1", "zone=a", "disk=s s"],
            "label \"disk=s s\": the value may hold only",
        ),
        (
            ["node", "taint", "n1", "zone=a", "gpu=a:NoRun"],
            "taint \"gpu=a:NoRun\": unknown effect \"NoRun\" (NoSchedule or NoExecute)",
        ),
    ] {
        let out = c.orco(&verb);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{verb:?}: {e}");
        assert!(e.contains(says), "{verb:?}: {e}");
    }
    let n1 = &c.nodes()["n1"];
    assert!(
        n1.get("labels").is_none() && n1.get("taints").is_none(),
        "{n1}"
    );
    assert_eq!(
        c.ok(&["events", "-o", "json"]),
        events,
        "nothing was recorded"
    );
}

#[test]
fn labels_and_taints_are_kept_shown_and_a_no_execute_taint_moves_what_does_not_tolerate_it() {
    let mut c = Cluster::with_nodes(&["n1", "n2"]);
    let out = c.ok(&["node", "taint", "n1", "dedicated=db"]);
    assert!(out.contains("node n1 tainted: dedicated=db"), "{out}");
    let out = c.ok(&["node", "label", "n2", "disk=ssd", "zone=b"]);
    assert!(out.contains("node n2 labeled: disk=ssd, zone=b"), "{out}");
    let out = c.ok(&["node", "label", "n2", "zone-"]);
    assert!(out.contains("node n2 labeled: disk=ssd"), "{out}");
    let described = c.ok(&["node", "describe", "n2"]);
    assert!(described.contains("Labels:     disk=ssd"), "{described}");
    // A NoSchedule taint keeps new instances off n1; a toleration lets them on.
    let stack = "version: 0.1\nstack: {name: fleet}\nservices:\n  web:\n    command: [sleep, '3600']\n    replicas: 4\n  db:\n    command: [sleep, '3600']\n    replicas: 2\n    placement: {tolerations: [dedicated=db, maint], nodeSelector: {disk: ssd}}\n";
    c.apply("fleet.yaml", stack);
    c.wait_for("6 instances running", Duration::from_secs(30), |c| {
        running(c).len() == 6
    });
    let run = running(&c);
    assert!(run.iter().all(|(_, n, _)| n == "n2"), "{run:?}");
    // The taints survive an agent's restart with its own (empty) flags.
    c.restart_agent("n1");
    assert_eq!(
        c.nodes()["n1"]["taints"],
        serde_json::json!(["dedicated=db"])
    );
    // n1 open to all, n2 NoExecute for what does not tolerate `maint`: web moves, db (which
    // tolerates it) stays.
    c.ok(&["node", "taint", "n1", "dedicated-"]);
    let mut watch = SlotWatch::default();
    watch.look(&c);
    let out = c.ok(&["node", "taint", "n2", "maint=now:NoExecute"]);
    assert!(
        out.contains("node n2 tainted: maint=now:NoExecute"),
        "{out}"
    );
    watch.until(&c, "web moved", Duration::from_secs(60), |run, c| {
        let web_on_n1 = run
            .iter()
            .filter(|(id, n, _)| id.contains("/web-") && n == "n1")
            .count();
        web_on_n1 == 4 && c.instances().len() == 6
    });
    let run = running(&c);
    let db: Vec<_> = run
        .iter()
        .filter(|(id, _, _)| id.contains("/db-"))
        .collect();
    assert!(
        db.len() == 2 && db.iter().all(|(_, n, _)| n == "n2"),
        "{run:?}"
    );
    let json = c.nodes();
    assert_eq!(
        json["n2"]["taints"],
        serde_json::json!(["maint=now:NoExecute"])
    );
    assert_eq!(json["n2"]["labels"], serde_json::json!({"disk": "ssd"}));
}

#[test]
fn a_server_killed_during_a_drain_finishes_it_with_every_slot_once() {
    let mut c = three_nodes_running_the_fleet();
    let mut watch = SlotWatch::default();
    watch.look(&c);
    let out = c.ok(&["node", "drain", "n1", "--force"]);
    assert!(out.contains("not waiting"), "{out}");
    c.restart_server(Signal::SIGKILL);
    watch.until(&c, "drained", Duration::from_secs(60), |run, c| {
        run.len() == 4 && run.iter().all(|(_, n, _)| n != "n1") && c.instances().len() == 4
    });
    // And once more, after it is done: nothing moves back, nothing doubles.
    let before = placement(&c);
    c.restart_server(Signal::SIGTERM);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(placement(&c), before);
    watch.look(&c);
}

#[test]
fn an_instance_no_node_fits_stays_pending_with_the_reason_until_a_node_joins_that_fits() {
    let mut c = Cluster::new();
    c.start_server(&[]);
    let token = c.token_file("join-token", &["--reusable"]);
    c.start_agent_with("n1", &token, &["--capacity", "cpu=2,memory=1Gi"]);
    c.start_agent_with("n2", &token, &["--capacity", "cpu=2,memory=1Gi"]);
    c.wait_nodes_ready(&["n1", "n2"]);
    let why = "0/2 nodes fit (2 lack memory: need 2Gi, most free 1Gi)";
    let stack = "version: 0.1\nstack: {name: big}\nservices:\n  huge:\n    command: [sleep, '3600']\n    resources: {memory: 2Gi}\n  small:\n    command: [sleep, '3600']\n    resources: {memory: 512Mi}\n";
    // A dry run says where each instance would go, by the server's own scheduler, and
    // changes nothing.
    let path = c.path("huge.yaml");
    std::fs::write(&path, stack).unwrap();
    let dry = c.ok(&[
        "apply",
        "--dry-run",
        "-f",
        path.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let dry: serde_json::Value = serde_json::from_str(&dry).unwrap();
    let placements = dry["placements"].as_array().cloned().unwrap_or_default();
    let of = |instance: &str| {
        placements
            .iter()
            .find(|p| p["instance"] == instance)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(placements.len(), 2, "{dry}");
    assert_eq!(of("big/huge-0")["reason"], why, "{dry}");
    assert!(
        ["n1", "n2"].contains(&of("big/small-0")["node"].as_str().unwrap_or("")),
        "{dry}"
    );
    let table = c.ok(&["apply", "--dry-run", "-f", path.to_str().unwrap()]);
    assert!(
        table.contains("big/huge-0") && table.contains(&format!("pending: {why}")),
        "{table}"
    );
    let ps = c.orco(&["ps", "-o", "json"]);
    assert!(
        String::from_utf8_lossy(&ps.stderr).contains("no stack is applied"),
        "a dry run changes nothing: {ps:?}"
    );
    c.ok(&["apply", "-f", path.to_str().unwrap()]);
    let message = |c: &Cluster| {
        common::items(&c.ok(&["status", "-o", "json"]))
            .into_iter()
            .find(|w| w["name"] == "huge")
            .and_then(|w| w["message"].as_str().map(str::to_string))
    };
    c.wait_for(
        "huge pending with its reason",
        Duration::from_secs(30),
        |c| message(c).as_deref() == Some(&format!("huge-0 pending: {why}")),
    );
    // The instance says it too, in `ps -o json` and in `describe`; it runs nowhere.
    let huge = c
        .instances()
        .into_iter()
        .find(|i| i["name"] == "huge-0")
        .unwrap();
    assert_eq!(huge["phase"], "pending", "{huge}");
    assert_eq!(huge["reason"], why, "{huge}");
    assert!(huge["node"].is_null(), "{huge}");
    let described = c.ok(&["workload", "describe", "big/huge"]);
    assert!(described.contains(why), "{described}");

    // A node with room joins: the instance is placed there and runs, the reason is gone.
    c.start_agent_with("n3", &token, &["--capacity", "cpu=2,memory=4Gi"]);
    c.wait_for("huge running on n3", Duration::from_secs(30), |c| {
        running(c)
            .iter()
            .any(|(id, node, _)| id.ends_with("huge-0") && node == "n3")
    });
    assert_eq!(message(&c), None);
}

#[test]
fn followers_land_with_their_anchor_and_a_broken_placement_moves_after_the_cooldown() {
    let mut c = Cluster::new();
    c.start_server(&["--repair-cooldown", "2s"]);
    let token = c.token_file("join-token", &["--reusable"]);
    c.start_agent_with("n1", &token, &["--label", "role=db"]);
    c.start_agent("n2", &token);
    c.start_agent("n3", &token);
    c.wait_nodes_ready(&["n1", "n2", "n3"]);
    c.apply(
        "anchored.yaml",
        "version: 0.1\nstack: {name: anchored}\nservices:\n  db:\n    command: [sleep, '3600']\n    placement: {nodeSelector: {role: db}}\n  app:\n    command: [sleep, '3600']\n    replicas: 2\n    placement: {anchor: db}\n  spread:\n    command: [sleep, '3600']\n    replicas: 3\n    placement: {antiAffinity: [spread]}\n",
    );
    let on = |c: &Cluster, service: &str| -> Vec<String> {
        let mut nodes: Vec<String> = running(c)
            .into_iter()
            .filter(|(id, _, _)| id.contains(&format!("/{service}-")))
            .map(|(_, n, _)| n)
            .collect();
        nodes.sort();
        nodes
    };
    c.wait_for("6 instances running", Duration::from_secs(30), |c| {
        running(c).len() == 6
    });
    assert_eq!(on(&c, "db"), ["n1"]);
    assert_eq!(
        on(&c, "app"),
        ["n1", "n1"],
        "followers land with their anchor"
    );
    assert_eq!(on(&c, "spread"), ["n1", "n2", "n3"], "one per node");
    // The node shows the derived anchor label.
    assert_eq!(
        c.nodes()["n1"]["labels"]["orco.anchor/anchored.db"],
        "true",
        "{:?}",
        c.nodes()
    );

    // The db role moves to n2: db's placement breaks, and after the cooldown db moves there
    // through a surge slot; its followers, whose anchor then left n1, follow it.
    let mut watch = SlotWatch::default();
    watch.look(&c);
    c.ok(&["node", "label", "n2", "role=db"]);
    c.ok(&["node", "label", "n1", "role-"]);
    watch.until(
        &c,
        "db and its followers on n2",
        Duration::from_secs(60),
        |_, c| on(c, "db") == ["n2"] && on(c, "app") == ["n2", "n2"] && running(c).len() == 6,
    );
    assert_eq!(on(&c, "spread"), ["n1", "n2", "n3"], "spread stayed");
    let history = c.ok(&["history", "anchored/db"]);
    assert!(
        history.contains("placement no longer holds: node n1 no longer has the label role=db")
            && history.contains(
                "moves to another node: placement repair: node n1 no longer has the label role=db"
            ),
        "{history}"
    );
}

/// `orco cluster members -o json` agents by name (the server left out), and the count of
/// dropped datagrams.
fn swim_members(c: &Cluster) -> (BTreeMap<String, serde_json::Value>, u64) {
    let json = c.ok(&["cluster", "members", "-o", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let agents = common::items(&json)
        .into_iter()
        .filter(|m| m["role"] == "agent")
        .map(|m| (m["name"].as_str().unwrap().to_string(), m))
        .collect();
    (agents, value["dropped"].as_u64().unwrap())
}

fn swim_state(c: &Cluster, node: &str) -> String {
    swim_members(c).0.get(node).map_or(String::new(), |m| {
        m["swim"].as_str().unwrap_or_default().to_string()
    })
}

/// Sends `payload` to the server's gossip port (UDP, the `--listen` port number).
fn send_datagram(c: &Cluster, payload: &[u8]) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(payload, ("127.0.0.1", c.port)).unwrap();
}

#[test]
fn three_agents_are_alive_in_cluster_members_a_wrong_key_changes_nothing_and_a_killed_one_goes_down()
 {
    let mut c = Cluster::with_nodes(&["n1", "n2", "n3"]);
    c.wait_for(
        "every agent alive in the SWIM view",
        Duration::from_secs(30),
        |c| {
            let (agents, _) = swim_members(c);
            agents.len() == 3
                && agents
                    .values()
                    .all(|m| m["swim"] == "alive" && m["lease"] == "ready")
        },
    );
    let json = c.ok(&["cluster", "members", "-o", "json"]);
    let server = &common::items(&json)[0];
    assert_eq!(server["role"], "server", "{json}");
    assert_eq!(server["swim"], "alive");
    assert!(
        server.get("lease").is_none(),
        "a server holds no lease: {json}"
    );
    let table = c.ok(&["cluster", "members"]);
    assert!(table.contains("SWIM") && table.contains("LEASE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("n2") && l.contains("alive") && l.contains("ready")),
        "{table}"
    );
    let yaml = c.ok(&["cluster", "members", "-o", "yaml"]);
    assert!(yaml.contains("swim: alive"), "{yaml}");

    // Garbage, a datagram sealed with another key, an empty one: dropped and counted,
    // nothing else changes.
    let (before, dropped) = swim_members(&c);
    let stranger = orco_cluster::gossip::GossipKey::generate().unwrap();
    send_datagram(&c, b"not gossip at all");
    send_datagram(&c, &stranger.seal(b"\x00\x01\x02 a forged foca message"));
    send_datagram(&c, b"");
    c.wait_for(
        "the datagrams counted as dropped",
        Duration::from_secs(10),
        |c| swim_members(c).1 >= dropped + 3,
    );
    let (after, _) = swim_members(&c);
    let states = |m: &BTreeMap<String, serde_json::Value>| {
        m.iter()
            .map(|(n, v)| (n.clone(), v["swim"].clone(), v["address"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&before), states(&after));
    assert!(c.logs().contains("gossip datagram dropped"), "{}", c.logs());

    // n3's agent killed: the group holds it suspect, then down.
    let pid = c.agent_pid("n3");
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    c.agents
        .get_mut("n3")
        .unwrap()
        .take()
        .unwrap()
        .wait()
        .unwrap();
    c.wait_for("n3 down in the SWIM view", Duration::from_secs(30), |c| {
        swim_state(c, "n3") == "down"
    });
    assert_eq!(swim_state(&c, "n1"), "alive");
    assert_eq!(swim_state(&c, "n2"), "alive");
    // Back: a new generation, alive again.
    let token = c.path("join-token");
    c.start_agent("n3", &token);
    c.wait_for("n3 alive again", Duration::from_secs(30), |c| {
        let (agents, _) = swim_members(c);
        agents
            .get("n3")
            .is_some_and(|m| m["swim"] == "alive" && m["lease"] == "ready")
    });
}

#[test]
fn swim_marks_a_dead_node_unreachable_early_but_only_its_lease_makes_it_lost() {
    let mut c = Cluster::new();
    // A long lease: SWIM holds a dead agent down long before the lease lapses.
    c.start_server(&["--lease", "15s", "--grace", "1s"]);
    let token = c.token_file("join-token", &["--reusable"]);
    for node in ["n1", "n2"] {
        c.start_agent(node, &token);
    }
    c.wait_nodes_ready(&["n1", "n2"]);
    c.wait_for(
        "both agents alive in the SWIM view",
        Duration::from_secs(30),
        |c| {
            let (agents, _) = swim_members(c);
            agents.len() == 2 && agents.values().all(|m| m["swim"] == "alive")
        },
    );
    let pid = c.agent_pid("n2");
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    c.agents
        .get_mut("n2")
        .unwrap()
        .take()
        .unwrap()
        .wait()
        .unwrap();
    // Unreachable well within the 15 s lease: the hint.
    c.wait_for(
        "n2 unreachable by the SWIM hint",
        Duration::from_secs(10),
        |c| c.nodes()["n2"]["status"] == "unreachable",
    );
    let (agents, _) = swim_members(&c);
    assert_eq!(agents["n2"]["swim"], "down");
    assert_eq!(agents["n2"]["lease"], "unreachable");
    assert!(
        c.logs().contains("SWIM holds it down"),
        "the hint marked it: {}",
        c.logs()
    );
    assert!(
        !c.logs().contains("node lost"),
        "not lost before its lease and grace: {}",
        c.logs()
    );
    assert_eq!(c.nodes()["n1"]["status"], "ready");
    // Lost only once the lease and the grace have passed.
    c.wait_for("n2 lost by its lease", Duration::from_secs(30), |c| {
        c.nodes()["n2"]["status"] == "lost"
    });
    assert!(
        c.logs()
            .contains("node lost: its lease lapsed beyond the grace"),
        "{}",
        c.logs()
    );
}

#[test]
fn after_the_server_restarts_twice_every_agent_is_alive_in_its_swim_view_again_with_the_same_key() {
    let mut c = Cluster::with_nodes(&["n1", "n2"]);
    let key_file = c.path("server").join("gossip.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the gossip key is private");
    for signal in [Signal::SIGKILL, Signal::SIGTERM] {
        c.restart_server(signal);
        c.wait_for("both agents alive again", Duration::from_secs(30), |c| {
            let (agents, _) = swim_members(c);
            agents.len() == 2 && agents.values().all(|m| m["swim"] == "alive")
        });
    }
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "kept");
}

#[test]
fn a_taken_gossip_port_stops_a_server_given_it_and_moves_a_default_one_elsewhere() {
    // The UDP port of the server's --listen number is taken: it gossips on another and its
    // agents still see it.
    let mut c = Cluster::new();
    let taken = std::net::UdpSocket::bind(("127.0.0.1", c.port)).unwrap();
    c.start_server(&[]);
    let token = c.token_file("join-token", &["--reusable"]);
    c.start_agent("n1", &token);
    c.wait_nodes_ready(&["n1"]);
    c.wait_for("n1 alive in the SWIM view", Duration::from_secs(30), |c| {
        swim_state(c, "n1") == "alive"
    });
    let json = c.ok(&["cluster", "members", "-o", "json"]);
    let server = &common::items(&json)[0];
    assert_ne!(server["address"], format!("127.0.0.1:{}", c.port), "{json}");
    // Given with --gossip, a taken port is an error that names it, and no server runs.
    let taken_at = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(ORCO)
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--token-file",
        ])
        .arg(c.path("api-token"))
        .args(["--gossip", &taken_at])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot bind the gossip socket") && stderr.contains(&taken_at),
        "{stderr}"
    );
}

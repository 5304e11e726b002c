//! Cluster mode across network namespaces: `orco server` in one namespace and three
//! `orco agent`s each in its own, joined by a bridge (see `common/netns.rs`). A node is
//! crashed (every process in its namespace killed at once), cut off by iptables and healed,
//! or its agent frozen (SIGSTOP) and thawed; all along, a sampler counts the live processes
//! of every slot across the machine from /proc (`ORCO_STACK`/`ORCO_INSTANCE` in their
//! environment): never two at once, and every slot live again on another node.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ORCO;
use common::netns::{Host, Net, environ, processes};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The port the server listens on, in its own namespace.
const PORT: u16 = 7443;

/// A slot: (stack, instance), as its processes' environment names it.
type Slot = (String, String);

/// One sample: the live top processes of every slot, with the namespace each runs in.
type Sample = BTreeMap<Slot, Vec<(String, i32)>>;

/// Takes one sample of the slots' processes in the network's namespaces. A slot's process
/// that is the child of another of the same slot (a shell's `sleep`) is counted with it.
fn sample(namespaces: &BTreeMap<u64, String>) -> Sample {
    let mut slot_of = BTreeMap::new();
    let mut ns_of = BTreeMap::new();
    let mut parent = BTreeMap::new();
    for p in processes() {
        let Some(ns) = namespaces.get(&p.netns) else {
            continue;
        };
        let Some(env) = environ(p.pid) else {
            continue;
        };
        if let (Some(stack), Some(instance)) = (env.get("ORCO_STACK"), env.get("ORCO_INSTANCE")) {
            slot_of.insert(p.pid, (stack.clone(), instance.clone()));
            ns_of.insert(p.pid, ns.clone());
            parent.insert(p.pid, p.ppid);
        }
    }
    let mut sample = Sample::new();
    for (pid, slot) in &slot_of {
        if slot_of.get(&parent[pid]) == Some(slot) {
            continue;
        }
        sample
            .entry(slot.clone())
            .or_default()
            .push((ns_of[pid].clone(), *pid));
    }
    sample
}

/// Samples the slots continuously on a thread until dropped; keeps every sample that held
/// two live processes of one slot, and the latest sample.
struct Sampler {
    stop: Arc<AtomicBool>,
    duplicates: Arc<Mutex<Vec<Sample>>>,
    latest: Arc<Mutex<(u64, Sample)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(namespaces: BTreeMap<u64, String>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let duplicates = Arc::new(Mutex::new(Vec::new()));
        let latest = Arc::new(Mutex::new((0, Sample::new())));
        let thread = {
            let (stop, duplicates, latest) = (stop.clone(), duplicates.clone(), latest.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let s = sample(&namespaces);
                    if s.values().any(|p| p.len() > 1) {
                        duplicates.lock().unwrap().push(s.clone());
                    }
                    let mut l = latest.lock().unwrap();
                    *l = (l.0 + 1, s);
                    drop(l);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Sampler {
            stop,
            duplicates,
            latest,
            thread: Some(thread),
        }
    }

    /// A sample taken after this call.
    fn fresh(&self) -> Sample {
        let seen = self.latest.lock().unwrap().0;
        loop {
            let l = self.latest.lock().unwrap();
            if l.0 > seen + 1 {
                return l.1.clone();
            }
            drop(l);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The samples so far where one slot had two live processes.
    fn duplicates(&self) -> Vec<Sample> {
        self.duplicates.lock().unwrap().clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server and three agents, each in its namespace; everything is killed and removed on
/// drop (the processes by the namespaces they live in, then the network, then the dir).
struct Cluster {
    agents: BTreeMap<String, (Host, Option<Child>)>,
    server: (Host, Option<Child>),
    net: Net,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self, name: &str) -> std::fs::File {
        common::append_log(&self.path(&format!("{name}.log")))
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for name in std::iter::once("server".to_string()).chain(self.agents.keys().cloned()) {
            let text =
                std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default();
            // The tail: what led to the failure.
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            all += &format!("--- {name}.log (tail)\n");
            for line in tail.iter().rev() {
                all += line;
                all.push('\n');
            }
        }
        all
    }

    /// `orco ARGS` against the server's socket (a unix socket: reachable from any
    /// namespace).
    fn orco(&self, args: &[&str]) -> std::process::Output {
        common::orco_on(&self.path("server.sock"), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        common::ok_on(&self.path("server.sock"), args, || self.logs())
    }

    /// A server in its namespace, and three agents joined with one reusable token.
    fn start(agents: &[&str]) -> Cluster {
        Cluster::start_with(agents, &[])
    }

    /// [`Cluster::start`] with more flags for `orco server`.
    fn start_with(agents: &[&str], flags: &[&str]) -> Cluster {
        let mut net = Net::new();
        let server = net.host("srv");
        let mut hosts = BTreeMap::new();
        for name in agents {
            hosts.insert((*name).to_string(), (net.host(name), None));
        }
        let mut c = Cluster {
            agents: hosts,
            server: (server, None),
            net,
            dir: tempfile::tempdir().unwrap(),
        };
        c.start_server(flags);
        let token = c.ok(&["cluster", "token", "create", "--reusable"]);
        let path = c.path("join-token");
        std::fs::write(&path, token.trim()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        for name in agents {
            c.start_agent(name);
        }
        c.wait_nodes(agents, "ready");
        c
    }

    fn start_server(&mut self, extra: &[&str]) {
        let token = self.path("api-token");
        std::fs::write(&token, "api-secret-for-tests").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let listen = format!("{}:{PORT}", self.server.0.ip);
        let child = self
            .net
            .command(&self.server.0, ORCO)
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
        self.server.1 = Some(child);
        for _ in 0..600 {
            if self.orco(&["cluster", "health"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not answer:\n{}", self.logs());
    }

    fn start_agent(&mut self, node: &str) {
        let host = &self.agents[node].0;
        let child = self
            .net
            .command(host, ORCO)
            .args([
                "agent",
                "--join",
                &format!("https://{}:{PORT}", self.server.0.ip),
            ])
            .arg("--token-file")
            .arg(self.path("join-token"))
            .args(["--node", node, "--data-dir"])
            .arg(self.path(node))
            .args(["--capacity", "cpu=4,memory=8Gi"])
            .env("ORCO_DOCKER_SCOPE", format!("orco-test-netns-{node}"))
            .stdin(Stdio::null())
            .stdout(self.log(node))
            .stderr(self.log(node))
            .process_group(0)
            .spawn()
            .unwrap();
        self.agents.get_mut(node).unwrap().1 = Some(child);
    }

    fn host(&self, node: &str) -> &Host {
        &self.agents[node].0
    }

    fn agent_pid(&self, node: &str) -> Pid {
        let child = self.agents[node].1.as_ref().unwrap();
        Pid::from_raw(i32::try_from(child.id()).unwrap())
    }

    fn sampler(&self) -> Sampler {
        Sampler::start(self.net.inodes())
    }

    /// `orco node list -o json` items by name.
    fn nodes(&self) -> BTreeMap<String, serde_json::Value> {
        common::items_by_name(&self.ok(&["node", "list", "-o", "json"]))
    }

    /// `orco ps -o json` items.
    fn instances(&self) -> Vec<serde_json::Value> {
        common::items(&self.ok(&["ps", "-o", "json"]))
    }

    /// Ready instances by slot name (`web-0`) with their node, per the server.
    fn ready(&self) -> BTreeMap<String, String> {
        self.instances()
            .iter()
            .filter(|i| i["ready"] == true && i["phase"] == "running")
            .filter_map(|i| {
                Some((
                    i["name"].as_str()?.to_string(),
                    i["node"].as_str()?.to_string(),
                ))
            })
            .collect()
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

    fn wait_nodes(&self, names: &[&str], status: &str) {
        self.wait_for(
            &format!("nodes {names:?} {status}"),
            Duration::from_secs(60),
            |c| {
                let nodes = c.nodes();
                names
                    .iter()
                    .all(|n| nodes.get(*n).is_some_and(|v| v["status"] == status))
            },
        );
    }

    fn apply(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        self.ok(&["apply", "-f", path.to_str().unwrap()]);
    }

    /// Waits until the server and the machine agree: each of `slots` ready on a node
    /// outside `not_on`, with one live process, in that node's namespace.
    fn wait_slots_live(&self, sampler: &Sampler, stack: &str, slots: &[String], not_on: &[&str]) {
        let avoid: BTreeSet<String> = not_on.iter().map(|n| self.host(n).ns.clone()).collect();
        self.wait_for(
            &format!("{slots:?} ready and live off {not_on:?}"),
            Duration::from_secs(60),
            |c| {
                let ready = c.ready();
                let s = sampler.fresh();
                slots.iter().all(|slot| {
                    let Some(node) = ready.get(slot) else {
                        return false;
                    };
                    if not_on.contains(&node.as_str()) {
                        return false;
                    }
                    let live = s.get(&(stack.to_string(), slot.clone()));
                    live.is_some_and(|p| {
                        p.len() == 1 && p[0].0 == c.host(node).ns && !avoid.contains(&p[0].0)
                    })
                })
            },
        );
    }

    fn assert_no_duplicates(&self, sampler: &Sampler) {
        let dup = sampler.duplicates();
        assert!(
            dup.is_empty(),
            "two live processes of one slot in {} samples, first: {:#?}\n{}",
            dup.len(),
            dup.first(),
            self.logs()
        );
    }

    /// The namespace name of each live slot process, by slot name.
    fn live_on(&self, sampler: &Sampler, stack: &str) -> BTreeMap<String, Vec<String>> {
        sampler
            .fresh()
            .into_iter()
            .filter(|((s, _), _)| s == stack)
            .map(|((_, slot), p)| (slot, p.into_iter().map(|(ns, _)| ns).collect()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Every process in the namespaces (agents, keepers, instances, the server), then
        // the children reaped; the network and the dir go with the fields.
        for (host, _) in self.agents.values() {
            self.net.kill_all(host);
        }
        self.net.kill_all(&self.server.0);
        for (_, child) in self.agents.values_mut() {
            if let Some(child) = child {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(server) = &mut self.server.1 {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// Six replicas of a shell loop: two per node.
const FLEET: &str = "version: 0.1
stack: {name: fleet}
services:
  web:
    command: [sh, -c, 'while :; do sleep 1; done']
    replicas: 6
";

fn slots(service: &str, n: u32) -> Vec<String> {
    (0..n).map(|i| format!("{service}-{i}")).collect()
}

/// A cluster running the fleet, two replicas per node, and a sampler started before it.
fn fleet() -> (Cluster, Sampler) {
    let c = Cluster::start(&NODES);
    let sampler = c.sampler();
    c.apply("fleet.yaml", FLEET);
    c.wait_for(
        "the fleet ready on every node",
        Duration::from_secs(60),
        |c| {
            let ready = c.ready();
            ready.len() == 6 && NODES.iter().all(|n| ready.values().any(|v| v == n))
        },
    );
    (c, sampler)
}

/// The slots the server places on `node`.
fn slots_on(c: &Cluster, node: &str) -> Vec<String> {
    c.ready()
        .into_iter()
        .filter(|(_, n)| n == node)
        .map(|(s, _)| s)
        .collect()
}

#[test]
fn a_crashed_node_s_slots_come_back_on_the_others_never_twice() {
    let (mut c, sampler) = fleet();
    let lost = slots_on(&c, "n1");
    assert!(!lost.is_empty());
    // The machine dies: its agent, keeper and instances at once.
    c.net.kill_all(c.host("n1"));
    if let Some(mut child) = c.agents.get_mut("n1").and_then(|a| a.1.take()) {
        let _ = child.wait();
    }
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &["n1"]);
    assert_eq!(c.nodes()["n1"]["status"], "lost");
    c.assert_no_duplicates(&sampler);
}

#[test]
fn a_cut_off_node_fences_its_slots_and_drops_them_when_it_returns() {
    let (c, sampler) = fleet();
    let cut = slots_on(&c, "n1");
    assert!(!cut.is_empty());
    let n1 = c.host("n1").ns.clone();
    c.net.partition(c.host("n1"));
    // Its slots run elsewhere, once its keeper or agent killed them there.
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &["n1"]);
    assert_eq!(c.nodes()["n1"]["status"], "lost");
    let live = c.live_on(&sampler, "fleet");
    assert!(
        live.values().all(|ns| !ns.contains(&n1)),
        "the cut-off node runs nothing: {live:?}"
    );
    // Healed: the node comes back at its new epoch and runs nothing it no longer owns.
    c.net.heal(c.host("n1"));
    c.wait_nodes(&["n1"], "ready");
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &[]);
    // A while with the node back: the slots stay single.
    std::thread::sleep(Duration::from_secs(3));
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &[]);
    c.assert_no_duplicates(&sampler);
}

#[test]
fn a_frozen_agent_s_slots_are_fenced_and_run_elsewhere_then_it_thaws_into_nothing() {
    let (c, sampler) = fleet();
    let frozen = slots_on(&c, "n1");
    assert!(!frozen.is_empty());
    let n1 = c.host("n1").ns.clone();
    let agent = c.agent_pid("n1");
    kill(agent, Signal::SIGSTOP).unwrap();
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &["n1"]);
    let live = c.live_on(&sampler, "fleet");
    assert!(
        live.values().all(|ns| !ns.contains(&n1)),
        "the frozen node's keeper fenced its slots: {live:?}"
    );
    kill(agent, Signal::SIGCONT).unwrap();
    c.wait_nodes(&["n1"], "ready");
    std::thread::sleep(Duration::from_secs(3));
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &[]);
    c.assert_no_duplicates(&sampler);
}

#[test]
fn a_node_cut_off_past_its_lease_but_within_the_grace_runs_its_slots_again_once_healed() {
    // A long grace: the node is unreachable, never lost, while it is cut off.
    let c = Cluster::start_with(&NODES, &["--grace", "60s"]);
    let sampler = c.sampler();
    c.apply("fleet.yaml", FLEET);
    c.wait_for("the fleet on every node", Duration::from_secs(60), |c| {
        let ready = c.ready();
        ready.len() == 6 && NODES.iter().all(|n| ready.values().any(|v| v == n))
    });
    let n1 = c.host("n1").ns.clone();
    c.net.partition(c.host("n1"));
    // Past its lease, the node fences its slots by itself.
    c.wait_for("n1's slots fenced", Duration::from_secs(60), |c| {
        c.live_on(&sampler, "fleet")
            .values()
            .all(|ns| !ns.contains(&n1))
    });
    assert_eq!(c.nodes()["n1"]["status"], "unreachable");
    c.net.heal(c.host("n1"));
    c.wait_nodes(&["n1"], "ready");
    // Every slot runs again: the server knows that the fenced ones stopped.
    c.wait_slots_live(&sampler, "fleet", &slots("web", 6), &[]);
    c.assert_no_duplicates(&sampler);
}

/// One service that rides out a disconnection, one per node, beside the fleet.
const KEEP: &str = "version: 0.1
stack: {name: sticky}
services:
  db:
    command: [sh, -c, 'while :; do sleep 1; done']
    replicas: 3
    onDisconnect: keep
";

#[test]
fn a_kept_service_runs_on_through_a_partition_and_moves_only_when_its_node_is_removed() {
    let c = Cluster::start(&NODES);
    let sampler = c.sampler();
    c.apply("sticky.yaml", KEEP);
    c.wait_for("db on every node", Duration::from_secs(60), |c| {
        let ready = c.ready();
        ready.len() == 3 && NODES.iter().all(|n| ready.values().any(|v| v == n))
    });
    let on_n1 = slots_on(&c, "n1");
    assert_eq!(on_n1.len(), 1, "{:?}", c.ready());
    let slot = on_n1[0].clone();
    let n1 = c.host("n1").ns.clone();
    let pid_of = |c: &Cluster| -> Option<(String, i32)> {
        let s = sampler.fresh();
        let p = s.get(&("sticky".to_string(), slot.clone()))?;
        assert!(p.len() <= 1, "{p:?}\n{}", c.logs());
        p.first().cloned()
    };
    let before = pid_of(&c).unwrap();
    assert_eq!(before.0, n1);
    // Cut off past its lease and grace: lost, yet its kept instance runs on, there only.
    c.net.partition(c.host("n1"));
    c.wait_nodes(&["n1"], "lost");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pid_of(&c), Some(before.clone()), "{}", c.logs());
    let placed: Vec<_> = c
        .instances()
        .into_iter()
        .filter(|i| i["workload"] == "sticky/db" && i["node"] != "n1" && i["node"].is_string())
        .collect();
    assert_eq!(placed.len(), 2, "not rescheduled: {placed:#?}");
    // Healed: the node returns and keeps it.
    c.net.heal(c.host("n1"));
    c.wait_nodes(&["n1"], "ready");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pid_of(&c), Some(before.clone()), "{}", c.logs());
    assert_eq!(c.ready().get(&slot).map(String::as_str), Some("n1"));
    // The machine dies for good: the slot waits for the node ...
    c.net.kill_all(c.host("n1"));
    c.wait_nodes(&["n1"], "lost");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pid_of(&c), None);
    let node_of = |c: &Cluster| -> Vec<String> {
        c.instances()
            .iter()
            .filter(|i| i["name"] == slot.as_str())
            .map(|i| i["node"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        node_of(&c),
        vec!["n1".to_string()],
        "still placed on n1 only"
    );
    // ... until `orco node remove` gives it up: then it runs elsewhere.
    c.ok(&["node", "remove", "n1"]);
    c.wait_slots_live(&sampler, "sticky", &slots("db", 3), &["n1"]);
    c.assert_no_duplicates(&sampler);
}

/// `orco cluster members -o json` agents by name.
fn swim_members(c: &Cluster) -> BTreeMap<String, serde_json::Value> {
    common::items(&c.ok(&["cluster", "members", "-o", "json"]))
        .into_iter()
        .filter(|m| m["role"] == "agent")
        .map(|m| (m["name"].as_str().unwrap().to_string(), m))
        .collect()
}

#[test]
fn the_swim_group_sees_every_agent_at_its_address_and_holds_a_cut_off_one_down() {
    let c = Cluster::start(&["n1", "n2", "n3"]);
    c.wait_for(
        "three agents alive in the SWIM view",
        Duration::from_secs(30),
        |c| {
            let agents = swim_members(c);
            agents.len() == 3 && agents.values().all(|m| m["swim"] == "alive")
        },
    );
    // Each gossips from its own namespace's address.
    let agents = swim_members(&c);
    for node in ["n1", "n2", "n3"] {
        let address = agents[node]["address"].as_str().unwrap();
        assert!(
            address.starts_with(&format!("{}:", c.host(node).ip)),
            "{node} gossips at {address}"
        );
    }
    // n1 cut off by iptables inside its namespace: the group holds it suspect, then down,
    // while the others stay alive.
    c.net.partition(c.host("n1"));
    c.wait_for("n1 down in the SWIM view", Duration::from_secs(30), |c| {
        swim_members(c)["n1"]["swim"] == "down"
    });
    let agents = swim_members(&c);
    assert_eq!(agents["n2"]["swim"], "alive");
    assert_eq!(agents["n3"]["swim"], "alive");
    // Its lease decides: lost after the lease and the grace.
    c.wait_nodes(&["n1"], "lost");
    assert_eq!(swim_members(&c)["n1"]["lease"], "lost");
    // Healed: it rejoins the group and its node is ready again.
    c.net.heal(c.host("n1"));
    c.wait_nodes(&["n1"], "ready");
    c.wait_for("n1 alive again", Duration::from_secs(30), |c| {
        swim_members(c)["n1"]["swim"] == "alive"
    });
}

#[test]
fn a_node_swim_holds_down_while_its_lease_renews_is_ready_again_and_never_lost() {
    let c = Cluster::start(&["n1", "n2"]);
    c.wait_for(
        "both agents alive in the SWIM view",
        Duration::from_secs(30),
        |c| {
            let agents = swim_members(c);
            agents.len() == 2 && agents.values().all(|m| m["swim"] == "alive")
        },
    );
    // Only n1's gossip is cut (UDP dropped inside its namespace); its stream, and so its
    // lease, go on.
    let status = c
        .net
        .command(c.host("n1"), "iptables")
        .args(["-w", "-A", "INPUT", "-p", "udp", "-j", "DROP"])
        .status()
        .unwrap();
    assert!(status.success());
    c.wait_for("n1 down in the SWIM view", Duration::from_secs(30), |c| {
        swim_members(c)["n1"]["swim"] == "down"
    });
    // The hint may have marked it unreachable; its next renewal makes it ready again, and
    // it stays so: SWIM never makes a node lost.
    c.wait_nodes(&["n1"], "ready");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(c.nodes()["n1"]["status"], "ready", "{}", c.logs());
    assert_eq!(swim_members(&c)["n1"]["swim"], "down");
    assert!(
        c.logs().contains("SWIM holds it down"),
        "the hint was given: {}",
        c.logs()
    );
    assert!(
        c.logs().contains("ready again despite the SWIM hint"),
        "{}",
        c.logs()
    );
    assert!(!c.logs().contains("node lost"), "{}", c.logs());
}

#[test]
fn the_harness_cleans_up_its_namespaces_and_processes_even_when_a_test_panics() {
    use std::os::unix::process::ExitStatusExt;
    let mut net = Net::new();
    let host = net.host("x");
    let mut child = net
        .command(&host, "sleep")
        .arg("600")
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(net.pids(&host), vec![pid]);
    let bridge = net.bridge().to_string();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _net = net;
        panic!("a failing test");
    }));
    assert!(panicked.is_err());
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the process in the namespace was killed"
    );
    assert!(
        !Path::new("/run/netns").join(&host.ns).exists(),
        "{} removed",
        host.ns
    );
    assert!(
        !Path::new("/sys/class/net").join(&bridge).exists(),
        "{bridge} removed"
    );
}

/// The routing mesh's service: busybox httpd answering `INSTANCE vV on NODE` at once on `/`
/// and after 300 ms on `/cgi-bin/slow` (a request in flight when a stop comes), behind the
/// built-in proxy on 8080, `replicas` of them. Its pages are written in `dir` beforehand.
fn mesh_stack(dir: &Path, replicas: u32, version: u32) -> String {
    for i in 0..replicas + 1 {
        let www = dir.join(format!("www/v{version}/api-{i}"));
        std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
        std::fs::write(www.join("index.html"), format!("api-{i} v{version}\n")).unwrap();
        let slow = www.join("cgi-bin/slow");
        std::fs::write(
            &slow,
            format!(
                "#!/bin/sh\nsleep 0.3\nprintf 'Content-Type: text/plain\\r\\n\\r\\napi-{i} v{version} on %s\\n' \"$ORCO_NODE\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "version: 0.1
stack: {{name: mesh}}
services:
  api:
    command: [sh, -c, 'exec busybox httpd -f -p \"$PORT\" -h \"www/v$V/$ORCO_INSTANCE\"']
    env: {{V: '{version}'}}
    replicas: {replicas}
    proxy: true
    ports: ['8080:8080']
    health:
      http: {{url: 'http://127.0.0.1:8080/'}}
      interval: 200ms
"
    )
}

/// `curl http://127.0.0.1:8080/cgi-bin/slow` from inside `node`'s namespace: the body, or
/// why not.
fn curl_on(c: &Cluster, node: &str) -> Result<String, String> {
    let out = c
        .net
        .command(c.host(node), "curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "http://127.0.0.1:8080/cgi-bin/slow",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The routing mesh of 127.0.0.1:8080 as `node`'s agent last logged it (its proxy's table
/// of other nodes' instances), if it logged one.
fn mesh_table(c: &Cluster, node: &str) -> Option<String> {
    let log = std::fs::read_to_string(c.path(&format!("{node}.log"))).unwrap_or_default();
    log.lines()
        .rfind(|l| l.contains("routing mesh:") && l.contains("127.0.0.1:8080"))
        .map(str::to_string)
}

/// A cluster running the mesh's service, ready: (cluster, the nodes its instances run on).
fn mesh(replicas: u32) -> (Cluster, BTreeSet<String>) {
    let c = Cluster::start(&NODES);
    c.apply("mesh.yaml", &mesh_stack(c.dir.path(), replicas, 1));
    c.wait_for("api ready", Duration::from_secs(60), |c| {
        c.ready().keys().filter(|k| k.starts_with("api-")).count() == replicas as usize
    });
    let on = c.ready().into_values().collect();
    (c, on)
}

#[test]
fn a_service_on_one_node_answers_on_127_0_0_1_of_every_other_node() {
    let (c, on) = mesh(1);
    let home = on.iter().next().unwrap().clone();
    for node in NODES.iter().filter(|n| **n != home) {
        // The node's proxy learns of the instance through the server: wait for it.
        let mut last = Err(String::new());
        for _ in 0..100 {
            last = curl_on(&c, node);
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            last,
            Ok(format!("api-0 v1 on {home}")),
            "from {node}\n{}",
            c.logs()
        );
    }
    assert_eq!(curl_on(&c, &home), Ok(format!("api-0 v1 on {home}")));
}

#[test]
fn a_rolling_update_across_nodes_loses_no_request_of_another_node() {
    let (c, on) = mesh(2);
    // Load from a node that runs no instance: every request crosses to another node.
    let from = NODES
        .iter()
        .find(|n| !on.contains(**n))
        .expect("two replicas leave a node free")
        .to_string();
    c.wait_for("the mesh on the free node", Duration::from_secs(30), |c| {
        curl_on(c, &from).is_ok_and(|b| b.contains("v1"))
    });
    // Three clients at once, each request 300 ms long: some are in flight whenever an old
    // instance is stopped.
    let stop = c.path("stop");
    let mut loads = Vec::new();
    for k in 0..3 {
        let codes = c.path(&format!("codes-{k}"));
        let script = format!(
            "i=0; while [ ! -e {stop} ] && [ $i -lt 2000 ]; do \
             curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 http://127.0.0.1:8080/cgi-bin/slow >> {codes}; \
             i=$((i+1)); done",
            stop = stop.display(),
            codes = codes.display()
        );
        let load = c
            .net
            .command(c.host(&from), "sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        loads.push((load, codes));
    }
    std::thread::sleep(Duration::from_millis(500));
    // A new spec: every instance is replaced, a surge instance first; apply follows the
    // rollout to its end.
    c.apply("mesh.yaml", &mesh_stack(c.dir.path(), 2, 2));
    for _ in 0..4 {
        let body = curl_on(&c, &from);
        assert!(body.as_ref().is_ok_and(|b| b.contains("v2")), "{body:?}");
    }
    std::fs::write(&stop, "").unwrap();
    let mut all = String::new();
    for (mut load, codes) in loads {
        let status = load.wait().unwrap();
        assert!(status.success(), "{status:?}");
        all += &std::fs::read_to_string(&codes).unwrap();
    }
    let total = all.lines().count();
    let failed: Vec<&str> = all.lines().filter(|l| *l != "200").collect();
    assert!(
        total >= 20,
        "the load ran through the rollout: {total} requests"
    );
    assert!(
        failed.is_empty(),
        "{} of {total} requests failed: {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(10)],
        c.logs()
    );
    // The rollout did cross nodes: the new instances run off the loading node too.
    let after: BTreeSet<String> = c.ready().into_values().collect();
    assert!(after.iter().any(|n| *n != from), "{after:?}");
    eprintln!("rolling update across nodes: {total} requests from {from}, 0 failed");
}

#[test]
fn a_crashed_node_s_instances_leave_every_other_node_s_mesh() {
    let (mut c, on) = mesh(2);
    let crashed = on.iter().next().unwrap().clone();
    let others: Vec<&str> = NODES.iter().copied().filter(|n| *n != crashed).collect();
    let gone = format!("[{crashed}/mesh/api-");
    let listed =
        |table: &str| table.contains(&gone) || table.contains(&format!(" {crashed}/mesh/api-"));
    c.wait_for(
        "the crashed node's instance in every mesh",
        Duration::from_secs(30),
        |c| {
            others
                .iter()
                .all(|n| mesh_table(c, n).is_some_and(|t| listed(&t) && t.contains("ready")))
        },
    );
    c.net.kill_all(c.host(&crashed));
    if let Some(mut child) = c.agents.get_mut(&crashed).and_then(|a| a.1.take()) {
        let _ = child.wait();
    }
    c.wait_nodes(&[&crashed], "lost");
    c.wait_for(
        "the crashed node out of every mesh",
        Duration::from_secs(30),
        |c| {
            others
                .iter()
                .all(|n| mesh_table(c, n).is_some_and(|t| !listed(&t)))
        },
    );
    // Both replicas answer again, from every node left.
    c.wait_for(
        "api ready off the crashed node",
        Duration::from_secs(60),
        |c| {
            let ready = c.ready();
            ready.len() == 2 && ready.values().all(|n| *n != crashed)
        },
    );
    for node in &others {
        let body = curl_on(&c, node);
        assert!(
            body.as_ref().is_ok_and(|b| !b.ends_with(&crashed)),
            "{node}: {body:?}\n{}",
            c.logs()
        );
    }
}

//! A network of namespaces on one machine for multi-node tests: a bridge, and one network
//! namespace per host (`ip netns add`) joined to it by a veth pair, with an address on a
//! private /24 of its own. Processes start inside a host with `ip netns exec`; a host can be
//! cut off (iptables DROP on its link, both directions, inside its namespace) and healed.
//! Everything — processes in the namespaces, namespaces, bridge, veths, the host's FORWARD
//! rule — is removed on drop, even when the test panics. Needs root (CAP_NET_ADMIN): without
//! it, [`Net::new`] panics with the reason, so a test never passes without its network.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Networks made by this test process so far: names and subnets differ per network.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// Runs `program args`, answering its stderr on failure.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One host of the network: a namespace with one link to the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name (`ip netns`).
    pub ns: String,
    /// Its address on the bridge.
    pub ip: String,
    /// Its end of the veth pair, inside the namespace.
    link: String,
    /// The namespace's inode (`/proc/PID/ns/net` of its processes).
    inode: u64,
}

/// A bridge and the hosts on it.
#[derive(Debug)]
pub struct Net {
    tag: String,
    bridge: String,
    /// The first three octets of the /24.
    prefix: String,
    hosts: Vec<Host>,
    forward_rule: bool,
}

/// The /24s already on an interface of the machine, as `a.b.c`.
fn subnets_in_use() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let addr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            let ip = addr.split('/').next()?;
            Some(ip.rsplit_once('.')?.0.to_string())
        })
        .collect()
}

impl Net {
    /// A new bridge on a /24 of 10.128.0.0/9 chosen from this process's id and a counter
    /// (and free on the machine), so that tests running at once never share names or
    /// addresses. Panics with the reason when namespaces cannot be made (not root).
    pub fn new() -> Net {
        let n = NETWORKS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are limited to 15 bytes: "ob" + up to 6 hex digits of the pid + the
        // counter in hex, and veths add one letter and the host's index.
        let tag = format!("{:x}{n:x}", pid & 0xff_ffff);
        let used = subnets_in_use();
        let mut index = (pid.wrapping_mul(16).wrapping_add(n)) % 32768;
        let prefix = loop {
            let candidate = format!("10.{}.{}", 128 + index / 256, index % 256);
            if !used.contains(&candidate) {
                break candidate;
            }
            index = (index + 7919) % 32768;
        };
        let mut net = Net {
            bridge: format!("ob{tag}"),
            tag,
            prefix,
            hosts: Vec::new(),
            forward_rule: false,
        };
        let made = (|| {
            run("ip", &["link", "add", &net.bridge, "type", "bridge"])?;
            run(
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}.1/24", net.prefix),
                    "dev",
                    &net.bridge,
                ],
            )?;
            run("ip", &["link", "set", &net.bridge, "up"])?;
            // With br_netfilter (docker loads it), bridged frames cross the host's FORWARD
            // chain, whose policy docker sets to DROP: let this bridge's traffic through.
            run(
                "iptables",
                &[
                    "-w",
                    "-I",
                    "FORWARD",
                    "-i",
                    &net.bridge,
                    "-o",
                    &net.bridge,
                    "-j",
                    "ACCEPT",
                ],
            )?;
            net.forward_rule = true;
            Ok::<(), String>(())
        })();
        if let Err(e) = made {
            panic!(
                "cannot build the test network (network namespaces need root, CAP_NET_ADMIN, \
                 iproute2 and iptables; scripts/test.sh installs them): {e}"
            );
        }
        net
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The bridge's address, the machine's side of the network.
    pub fn gateway(&self) -> String {
        format!("{}.1", self.prefix)
    }

    /// A new host named `role` (its namespace is `orco-TAG-ROLE`), up on the bridge.
    pub fn host(&mut self, role: &str) -> Host {
        let i = self.hosts.len();
        assert!(i < 200, "at most 200 hosts on one network");
        let ns = format!("orco-{}-{role}", self.tag);
        let outside = format!("ov{}x{i}", self.tag);
        let inside = format!("ow{}x{i}", self.tag);
        let ip = format!("{}.{}", self.prefix, i + 2);
        let made = (|| {
            run("ip", &["netns", "add", &ns])?;
            run(
                "ip",
                &[
                    "link", "add", &outside, "type", "veth", "peer", "name", &inside,
                ],
            )?;
            run("ip", &["link", "set", &inside, "netns", &ns])?;
            run(
                "ip",
                &["link", "set", &outside, "master", &self.bridge, "up"],
            )?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{ip}/24"),
                    "dev",
                    &inside,
                ],
            )?;
            run("ip", &["-n", &ns, "link", "set", &inside, "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            Ok::<(), String>(())
        })();
        let inode = std::fs::metadata(format!("/run/netns/{ns}")).map_or(0, |m| m.ino());
        let host = Host {
            ns,
            ip,
            link: inside,
            inode,
        };
        // Recorded before checking, so that drop removes what was made.
        self.hosts.push(host.clone());
        if let Err(e) = made {
            panic!("cannot add host {role} to the test network: {e}");
        }
        host
    }

    /// `program` to be run inside `host`'s namespace.
    pub fn command(&self, host: &Host, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &host.ns, program]);
        command
    }

    fn drop_rules(host: &Host, action: &str) -> Result<(), String> {
        for (chain, dir) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
            run(
                "ip",
                &[
                    "netns", "exec", &host.ns, "iptables", "-w", action, chain, dir, &host.link,
                    "-j", "DROP",
                ],
            )?;
        }
        Ok(())
    }

    /// Cuts `host` off: every packet on its link dropped, both ways. Loopback inside it
    /// still works (an agent still talks to its keeper and its instances).
    pub fn partition(&self, host: &Host) {
        Net::drop_rules(host, "-A").unwrap();
    }

    /// Undoes [`Net::partition`].
    pub fn heal(&self, host: &Host) {
        Net::drop_rules(host, "-D").unwrap();
    }

    /// Processes living in `host`'s namespace (zombies left out).
    pub fn pids(&self, host: &Host) -> Vec<i32> {
        processes()
            .into_iter()
            .filter(|p| p.netns == host.inode)
            .map(|p| p.pid)
            .collect()
    }

    /// Kills every process in `host`'s namespace at once (SIGKILL, after a SIGCONT so that
    /// stopped ones die too), as when the machine dies, and waits until none is left.
    pub fn kill_all(&self, host: &Host) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = self.pids(host);
            if pids.is_empty() || Instant::now() > deadline {
                return;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The namespace inodes of the hosts, by namespace name.
    pub fn inodes(&self) -> BTreeMap<u64, String> {
        self.hosts.iter().map(|h| (h.inode, h.ns.clone())).collect()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in &self.hosts {
            if host.inode != 0 {
                self.kill_all(host);
            }
            // The host's veth goes with its namespace.
            let _ = run("ip", &["netns", "del", &host.ns]);
        }
        if self.forward_rule {
            let _ = run(
                "iptables",
                &[
                    "-w",
                    "-D",
                    "FORWARD",
                    "-i",
                    &self.bridge,
                    "-o",
                    &self.bridge,
                    "-j",
                    "ACCEPT",
                ],
            );
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

/// A live process of the machine, as /proc shows it.
#[derive(Debug, Clone)]
pub struct Process {
    /// Its id.
    pub pid: i32,
    /// Its parent's.
    pub ppid: i32,
    /// The inode of its network namespace.
    pub netns: u64,
}

/// Every live (not zombie) process of the machine.
pub fn processes() -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) S ppid ...": the command may hold spaces and parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?;
        if state == "Z" || state == "X" {
            return None;
        }
        let ppid = fields.next()?.parse().ok()?;
        let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
        let link = link.to_str()?;
        let netns = link
            .strip_prefix("net:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some(Process { pid, ppid, netns })
    })
    .collect()
}

/// The environment of `pid`, if it can be read.
pub fn environ(pid: i32) -> Option<BTreeMap<String, String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

//! Shared by the integration tests: shutting a keeper down from synchronous code (a test's
//! guard on drop), so that a failing test leaves no process behind.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod netns;
pub mod tls;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Asks the keeper serving `dir` to kill its instances and exit, and waits until it has.
pub fn shutdown_keeper(dir: &Path) {
    use orco_runtime::protocol::{Op, Request, VERSION, json_frame};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(dir.join("keeper.sock")) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    for (id, op) in [
        (0, Op::Hello { version: VERSION }),
        (1, Op::Shutdown { kill_all: true }),
    ] {
        let Ok(frame) = json_frame(&Request { id, op }) else {
            return;
        };
        if stream.write_all(&frame).is_err() {
            return;
        }
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// Shuts the keeper in `dir` down when dropped.
pub struct KeeperGuard(pub PathBuf);

impl Drop for KeeperGuard {
    fn drop(&mut self) {
        shutdown_keeper(&self.0);
    }
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The orco binary under test.
pub const ORCO: &str = env!("CARGO_BIN_EXE_orco");

/// `orco ARGS` against the API on the unix socket `socket`.
pub fn orco_on(socket: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(ORCO)
        .args(args)
        .env("ORCO_HOST", format!("unix://{}", socket.display()))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// [`orco_on`]'s stdout and stderr as text, whether it succeeded or not: what a server says,
/// for a failure message that must not fail itself.
pub fn said_on(socket: &Path, args: &[&str]) -> String {
    let out = orco_on(socket, args);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// [`orco_on`], asserting it succeeded (showing its output and `context()`, e.g. the logs
/// of the processes under test, when it did not); its stdout.
pub fn ok_on(socket: &Path, args: &[&str], context: impl FnOnce() -> String) -> String {
    let out = orco_on(socket, args);
    assert!(
        out.status.success(),
        "orco {args:?} failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        context()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `items` of a list the API printed as JSON (`orco ps -o json`, `orco node list -o json`).
pub fn items(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["items"].as_array().cloned().unwrap_or_default()
}

/// The same, by each item's `name`.
pub fn items_by_name(json: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    items(json)
        .into_iter()
        .map(|n| (n["name"].as_str().unwrap().to_string(), n))
        .collect()
}

/// `path` opened to append a process's output to.
pub fn append_log(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// An isolated orco installation in a temp dir: `ORCO_HOST` and `ORCO_DATA_DIR` point into
/// it, so `orco up` starts its own daemon there. On drop, the daemon (whoever started it) is
/// killed by the pid in its lock file and the keeper is shut down with its instances.
pub struct World {
    pub dir: tempfile::TempDir,
    /// Daemons this world started itself, reaped once they end.
    daemons: std::sync::Mutex<Vec<std::process::Child>>,
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            daemons: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The label scope of this world's containers, unique to it.
    pub fn docker_scope(&self) -> String {
        let dir = self.dir.path().file_name().unwrap().to_string_lossy();
        format!("orco-test-{}", dir.replace('.', "").to_lowercase())
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("orco.sock")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `orco ARGS` in this world (not run yet).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(ORCO);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("ORCO_HOST", format!("unix://{}", self.socket().display()))
            .env("ORCO_DATA_DIR", self.data())
            .env("ORCO_DOCKER_SCOPE", self.docker_scope())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        command
    }

    /// Runs `orco ARGS` and returns its output.
    pub fn orco(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    /// Runs `orco ARGS`, asserts it succeeded, returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.orco(args);
        assert!(
            out.status.success(),
            "orco {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes `text` as a stack file in this world's dir; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The pid of the daemon holding the data dir, if one does.
    pub fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data().join("daemon.lock")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .ok()
            .filter(|c| c.contains("daemon"))
            .map(|_| pid)
    }

    /// Starts `orco daemon` here in the background (its own process group).
    pub fn start_daemon(&self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let socket = self.socket();
        // The daemon knows its address from --socket alone (as under a service manager):
        // what instances get as ORCO_HOST must come from it, not from an inherited variable.
        let child = self
            .command(&["daemon", "--socket", socket.to_str().unwrap()])
            .env_remove("ORCO_HOST")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        self.daemons.lock().unwrap().push(child);
        self.wait_answering();
    }

    /// Waits until the API answers on the socket.
    pub fn wait_answering(&self) {
        for _ in 0..1200 {
            if self.orco(&["cluster", "health"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the daemon did not answer; its log:\n{}",
            std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
        );
    }

    /// SIGKILLs the daemon holding the data dir and waits until every thread of it is gone
    /// (its main thread can be a zombie while others still hold the data dir's lock).
    pub fn kill_daemon(&self) {
        let Some(pid) = self.daemon_pid() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        for _ in 0..400 {
            for child in self.daemons.lock().unwrap().iter_mut() {
                let _ = child.try_wait();
            }
            let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "));
            let gone = threads <= 1 && zombie;
            if gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("daemon {pid} survived SIGKILL");
    }

    /// `orco ps -o json` items.
    pub fn instances(&self) -> Vec<serde_json::Value> {
        items(&self.ok(&["ps", "-o", "json"]))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_daemon();
        for mut child in self.daemons.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        shutdown_keeper(&self.data().join("keeper"));
        remove_docker_scope(&self.docker_scope());
    }
}

/// Removes the containers, networks and volumes labelled with `scope` (a test's own), and
/// nothing else; does nothing without a docker client.
pub fn remove_docker_scope(scope: &str) {
    let filter = format!("label=orco.scope={scope}");
    let script = format!(
        "command -v docker >/dev/null || exit 0; \
         docker ps -aq --filter {filter} | xargs -r docker rm -f >/dev/null 2>&1; \
         docker network ls -q --filter {filter} | xargs -r docker network rm >/dev/null 2>&1; \
         docker volume ls -q --filter {filter} | xargs -r docker volume rm >/dev/null 2>&1"
    );
    let _ = std::process::Command::new("sh")
        .args(["-c", &script])
        .status();
}

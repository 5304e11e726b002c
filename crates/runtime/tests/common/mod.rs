//! Shared test helpers: a keeper guard that kills what the test started, and waiting helpers.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use orco_runtime::{Launch, OutputLine, ProcessRuntime, Runtime, RuntimeEvent};
use tokio::sync::mpsc;

/// Long enough never to be reached by a healthy run; only a hung test hits it.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn fixture() -> String {
    orco_fixture::path()
        .expect("the orco-fixture binary")
        .display()
        .to_string()
}

pub fn keeper_program() -> &'static str {
    env!("CARGO_BIN_EXE_orco-keeper")
}

pub fn keeper_args(dir: &Path) -> Vec<OsString> {
    vec!["--dir".into(), dir.as_os_str().to_owned()]
}

/// On drop: asks the keeper (if any) to kill and reap its instances and exit, and reaps it;
/// only if that fails, SIGKILLs every process group and pid registered.
#[derive(Debug, Default, Clone)]
pub struct Reaper {
    groups: Arc<Mutex<Vec<i32>>>,
    pids: Arc<Mutex<Vec<i32>>>,
    keeper: Arc<Mutex<Option<(PathBuf, i32)>>>,
}

/// Shuts a keeper down from synchronous code: hello, shutdown with kill_all, wait for EOF.
fn shutdown_keeper(dir: &Path) -> std::io::Result<()> {
    use orco_runtime::protocol::{Op, Request, VERSION, json_frame};
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(dir.join("keeper.sock"))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    for (id, op) in [
        (0, Op::Hello { version: VERSION }),
        (1, Op::Shutdown { kill_all: true }),
    ] {
        stream.write_all(&json_frame(&Request { id, op }).map_err(std::io::Error::other)?)?;
    }
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    Ok(())
}

impl Reaper {
    pub fn keeper(&self, dir: &Path, pid: i32) {
        *self.keeper.lock().expect("lock") = Some((dir.to_path_buf(), pid));
    }
    pub fn group(&self, pgid: i32) {
        self.groups.lock().expect("lock").push(pgid);
    }
    pub fn pid(&self, pid: i32) {
        self.pids.lock().expect("lock").push(pid);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if Arc::strong_count(&self.groups) > 1 {
            return;
        }
        if let Some((dir, pid)) = self.keeper.lock().expect("lock").take() {
            // A keeper that exits kills and reaps its instances first (shutdown with
            // kill_all); one that already exited (the test shut it down) did the same.
            if shutdown_keeper(&dir).is_ok() || !alive(pid) {
                // Our child unless another process started it; then ECHILD, harmless.
                let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
                return;
            }
        }
        for &g in self.groups.lock().expect("lock").iter() {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
        for &p in self.pids.lock().expect("lock").iter() {
            if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
                let _ = nix::sys::wait::waitpid(Pid::from_raw(p), None);
            }
        }
    }
}

/// A keeper in a temporary directory, with its instances killed when the test ends.
pub struct TestKeeper {
    // Dropped first (fields drop in order), while the directory with the socket exists.
    pub reaper: Reaper,
    pub runtime: ProcessRuntime,
    pub dir: tempfile::TempDir,
}

impl TestKeeper {
    pub async fn start() -> TestKeeper {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = ProcessRuntime::connect_or_start(
            dir.path(),
            keeper_program(),
            &keeper_args(dir.path()),
        )
        .await
        .expect("keeper starts");
        let reaper = Reaper::default();
        reaper.pid(runtime.keeper_pid());
        reaper.keeper(dir.path(), runtime.keeper_pid());
        TestKeeper {
            runtime,
            dir,
            reaper,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the fixture with these flags as `name`.
    pub async fn fixture(&self, name: &str, flags: &[&str]) -> i32 {
        let mut argv = vec![fixture()];
        argv.extend(flags.iter().map(|s| s.to_string()));
        let pid = self
            .runtime
            .start(name, &Launch::new(argv))
            .await
            .expect("fixture starts")
            .pid;
        self.reaper.group(pid);
        pid
    }
}

/// Receives events until `pick` returns something.
pub async fn until<T>(
    rx: &mut mpsc::Receiver<RuntimeEvent>,
    mut pick: impl FnMut(&RuntimeEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Ok(None) => panic!("the watch ended"),
            Err(_) => panic!("nothing matched within {PATIENCE:?}"),
        }
    }
}

/// Waits for a line of `instance` whose text is `text`.
pub async fn line(rx: &mut mpsc::Receiver<RuntimeEvent>, instance: &str, text: &str) -> OutputLine {
    until(rx, |e| match e {
        RuntimeEvent::Output(l) if l.instance == instance && l.text() == text => Some(l.clone()),
        _ => None,
    })
    .await
}

pub async fn watch_all(rt: &ProcessRuntime) -> mpsc::Receiver<RuntimeEvent> {
    rt.watch(BTreeMap::new()).await.expect("watch")
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Whether a pid is absent from /proc altogether (ended and reaped).
pub fn gone(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until a condition holds (or PATIENCE passes, which fails the test).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: still not true after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads a pid file the fixture wrote atomically.
pub async fn pids(path: &Path) -> Vec<i32> {
    eventually("the pid file appears", || path.exists()).await;
    std::fs::read_to_string(path)
        .expect("pid file")
        .lines()
        .map(|l| l.parse().expect("pid"))
        .collect()
}

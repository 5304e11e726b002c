//! The `Runtime` trait: the seam between supervisors and whatever runs instances.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::RuntimeError;
use crate::launch::Launch;
use crate::output::OutputLine;
use crate::status::ExitStatus;

/// An instance was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Its leader's pid, which is also its process group id.
    pub pid: i32,
    /// The container's id, for a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// An instance was stopped: its leader ended and no process of its group is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// How the leader ended.
    pub status: ExitStatus,
    /// The stop signal was not enough within the timeout: the group got SIGKILL.
    pub forced: bool,
}

/// What the runtime knows of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The instance's name.
    pub instance: String,
    /// Its leader's pid (and process group id).
    pub pid: i32,
    /// When it was started, in milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// How and when the leader ended; `None` while it runs.
    pub exit: Option<Exit>,
    /// Some process of its group may still run (always true while the leader runs).
    pub group_alive: bool,
    /// Length of its output log: the offset a reader that saw everything resumes from.
    pub output_len: u64,
    /// The container's id, for a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// How and when an instance's leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// How it ended.
    pub status: ExitStatus,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// What a watch delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// An instance printed a line.
    Output(OutputLine),
    /// An instance's leader ended.
    Exited {
        instance: String,
        pid: i32,
        status: ExitStatus,
    },
}

/// Runs instances. Implementations serialize nothing themselves: one supervisor owns each
/// instance, but every call must still be safe to make concurrently (a stop racing a
/// signal, a hundred stops at once) and may never wedge.
pub trait Runtime: Send + Sync {
    /// Starts an instance under a name unique among the instances the runtime knows; an
    /// ended instance of the same name is replaced.
    fn start(
        &self,
        instance: &str,
        launch: &Launch,
    ) -> impl Future<Output = Result<Started, RuntimeError>> + Send;

    /// Sends a signal to every process of the instance.
    fn signal(
        &self,
        instance: &str,
        signal: Signal,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Sends `signal` to every process of the instance, SIGKILL to those left after
    /// `timeout`, and answers once none is left. Concurrent stops share one escalation.
    fn stop(
        &self,
        instance: &str,
        signal: Signal,
        timeout: Duration,
    ) -> impl Future<Output = Result<Stopped, RuntimeError>> + Send;

    /// Every instance the runtime knows, running or ended but not yet forgotten.
    fn list(&self) -> impl Future<Output = Result<Vec<InstanceInfo>, RuntimeError>> + Send;

    /// Drops an ended instance's record and output log (after its exit is recorded).
    fn forget(&self, instance: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Arms (or moves) the node's fence: once the boot clock reaches `deadline_ms`, every
    /// process of each of `instances` is killed, whether or not the agent still runs. An
    /// empty list disarms it. Runtimes that cannot hold a fence do nothing (the agent's own
    /// deadline still applies).
    fn fence(
        &self,
        deadline_ms: u64,
        instances: Vec<String>,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let _ = (deadline_ms, instances);
        async { Ok(()) }
    }

    /// Streams output and exits: output from now on, except that for each instance in
    /// `from` it starts at that offset of its log (no gap, no repeat); the exit of every
    /// instance that ended and is not forgotten, then each new exit. A slow reader delays
    /// only itself. The stream ends only when the connection does.
    fn watch(
        &self,
        from: BTreeMap<String, u64>,
    ) -> impl Future<Output = Result<mpsc::Receiver<RuntimeEvent>, RuntimeError>> + Send;

    /// Runs `argv` inside the instance (a `cmd` probe of a container) and answers its exit
    /// code; `None` when this runtime runs such commands as local processes (the default).
    fn exec(
        &self,
        instance: &str,
        argv: &[String],
    ) -> impl Future<Output = Option<Result<i64, RuntimeError>>> + Send {
        let _ = (instance, argv);
        async { None }
    }
}

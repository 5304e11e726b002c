//! `DaemonError`: why the daemon could not start or serve, and what to do.

use std::path::PathBuf;

use orco_logs::LogError;
use orco_pki::PkiError;
use orco_runtime::RuntimeError;
use orco_store::StoreError;

/// A failure to start or run the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another daemon holds the data directory.
    #[error(
        "another orco daemon{} holds the data dir {dir}: stop it first, or give this one another --data-dir",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's pid, when it wrote one.
        pid: Option<u32>,
    },
    /// Something answers on the socket already.
    #[error(
        "another orco daemon answers on {socket}: stop it first, or give this one another --socket"
    )]
    SocketInUse {
        /// The socket.
        socket: PathBuf,
    },
    /// A file or directory could not be created or opened.
    #[error("cannot {what} {path}: {detail}")]
    Io {
        /// What was being done (`create the data dir`, `bind the socket`, …).
        what: &'static str,
        /// The path or address.
        path: String,
        /// What the system said.
        detail: String,
    },
    /// `--listen` without `--token-file`, or a token file that is unusable.
    #[error("{0}")]
    Config(String),
    /// The daemon's CA, its server certificate or the given `--tls-cert`/`--tls-key` could
    /// not be read or made.
    #[error("cannot set up TLS: {0}")]
    Pki(#[from] PkiError),
    /// The event store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node keeper could not be reached, nor started.
    #[error("cannot reach the node keeper: {0}")]
    Keeper(RuntimeError),
    /// The stack logs' directory could not be opened.
    #[error("cannot open the logs: {0}; check that the data dir is writable")]
    Logs(LogError),
    /// The state could not be folded from the event store.
    #[error("cannot recover the state: {0}")]
    Recover(StoreError),
    /// The task folding the state stopped before it finished.
    #[error("state recovery did not finish: {0}; start the daemon again")]
    RecoveryAborted(tokio::task::JoinError),
    /// The event store could not be watched from the recovered revision.
    #[error("cannot watch the store: {0}")]
    Watch(StoreError),
    /// The agent (the engine's node half) could not start.
    #[error("cannot start the agent: {0}")]
    Agent(RuntimeError),
}

impl DaemonError {
    /// An IO error while doing `what` on `path`.
    pub fn io(
        what: &'static str,
        path: impl std::fmt::Display,
        e: impl std::fmt::Display,
    ) -> DaemonError {
        DaemonError::Io {
            what,
            path: path.to_string(),
            detail: e.to_string(),
        }
    }
}

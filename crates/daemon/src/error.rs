//! `DaemonError`: why the daemon could not start or serve, and what to do.

use std::path::PathBuf;

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
    /// The event store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine (node keeper, logs, control loop) could not start.
    #[error("{0}")]
    Engine(String),
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

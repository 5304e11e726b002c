//! The runtime's errors: what failed and what to do about it.

use std::path::PathBuf;

/// Everything a runtime or the keeper can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("empty command: give the program to run")]
    EmptyCommand,
    #[error("invalid instance name `{0}`: use 1-128 letters, digits, `.`, `_` or `-`")]
    BadInstanceName(String),
    #[error("unknown signal `{0}`: use a name such as SIGTERM, TERM or a number such as 15")]
    BadSignal(String),
    #[error("cannot start `{program}`: {message}; check the command and the working directory")]
    Spawn { program: String, message: String },
    #[error("cannot read env file {}: {source}; check that the file exists", path.display())]
    EnvFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Dotenv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("unknown instance `{0}`: list the instances to see what the keeper knows")]
    UnknownInstance(String),
    #[error("instance `{0}` is still running: stop it before starting it again")]
    AlreadyRunning(String),
    #[error("the keeper still runs {0} instance(s): stop them first, or shut down with kill_all")]
    KeeperBusy(usize),
    #[error(
        "the keeper connection is lost ({0}): connect again; running instances are not affected"
    )]
    Disconnected(String),
    #[error("keeper protocol error: {0}; the keeper and this orco may be different builds")]
    Protocol(String),
    #[error(
        "the keeper speaks protocol version {theirs} and this orco version {ours}: \
         stop the instances and the keeper, then start again with one orco build"
    )]
    Version { ours: u32, theirs: u32 },
    #[error("another keeper already serves {}: connect to it instead", dir.display())]
    KeeperRunning { dir: PathBuf },
    #[error("cannot start the keeper `{program}`: {message}; see {}", log.display())]
    KeeperStart {
        program: String,
        message: String,
        log: PathBuf,
    },
    #[error("the keeper failed: {0}")]
    Keeper(String),
    /// A container runtime's failure, worded as what failed and what to do.
    #[error("{0}")]
    Container(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// Wraps an IO error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

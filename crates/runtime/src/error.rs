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
    /// A container could not be run (its image, its engine, its network).
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(
        "the process runtime cannot run the container image `{image}`: start it through the docker runtime"
    )]
    NotAProcess { image: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// Why a container could not be run, whichever engine runs it: what failed, with the
/// engine's or the registry's answer, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(
        "cannot run `{instance}` as a container: no docker engine is reachable; start dockerd and restart orco"
    )]
    NoEngine { instance: String },
    #[error(
        "cannot pull image `{image}`: {answer}; check the image name and that its registry is reachable"
    )]
    Pull { image: String, answer: String },
    #[error(
        "image not found: cannot pull image `{image}`: {answer}; check the image name and tag, or build and push it first"
    )]
    ImageNotFound { image: String, answer: String },
    #[error("image `{0}` is not available locally and pulling is off: pull or build it first")]
    NoImage(String),
    #[error("cannot create container `{name}` from image `{image}`: {answer}")]
    Create {
        name: String,
        image: String,
        answer: String,
    },
    #[error("cannot start container `{name}`: {answer}; check the command and the image")]
    Start { name: String, answer: String },
    #[error("cannot set up the network `{network}` of stack `{stack}`: {answer}")]
    Network {
        stack: String,
        network: String,
        answer: String,
    },
    #[error(
        "a container named `{name}` exists and is not orco's (it lacks the label orco.scope={scope}): remove or rename it"
    )]
    Foreign { name: String, scope: String },
    #[error("instance `{0}` has no container description: give the service an `image`")]
    NotAContainer(String),
    #[error("the docker engine refused {action} of `{name}`: {answer}")]
    Refused {
        action: &'static str,
        name: String,
        answer: String,
    },
}

impl RuntimeError {
    /// Wraps an IO error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let context = context.into();
        move |source| RuntimeError::Io { context, source }
    }
}

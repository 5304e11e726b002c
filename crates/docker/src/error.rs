//! The docker runtime's errors: what failed, with the engine's or the registry's answer.

use orco_runtime::{ContainerError, RuntimeError};

/// Everything the docker runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the docker engine ({0}): start dockerd, or set DOCKER_HOST to its socket"
    )]
    Unreachable(String),
    /// A container could not be run: the kinds every container engine shares.
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("unknown instance `{0}`: no orco container of that name")]
    UnknownInstance(String),
    #[error("instance `{0}` is still running: stop it before starting or forgetting it")]
    AlreadyRunning(String),
}

impl From<DockerError> for RuntimeError {
    fn from(e: DockerError) -> RuntimeError {
        match e {
            DockerError::Unreachable(_) => RuntimeError::Disconnected(e.to_string()),
            DockerError::UnknownInstance(name) => RuntimeError::UnknownInstance(name),
            DockerError::AlreadyRunning(name) => RuntimeError::AlreadyRunning(name),
            DockerError::Container(e) => RuntimeError::Container(e),
        }
    }
}

/// The engine's answer in words: the server's message when there is one.
pub(crate) fn answer(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error;
    match e {
        Error::DockerResponseServerError { message, .. } => message.trim().to_string(),
        Error::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

/// The engine's HTTP status for a failed request, if it answered at all.
pub(crate) fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the request failed because the engine could not be reached at all.
pub(crate) fn unreachable(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error;
    matches!(
        e,
        Error::HyperResponseError { .. } | Error::IOError { .. } | Error::SocketNotFoundError(_)
    )
}

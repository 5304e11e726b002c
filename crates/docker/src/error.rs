//! The docker runtime's errors: what failed, with the engine's or the registry's answer.

use orco_runtime::RuntimeError;

/// Everything the docker runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the docker engine ({0}): start dockerd, or set DOCKER_HOST to its socket"
    )]
    Unreachable(String),
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
    #[error("unknown instance `{0}`: no orco container of that name")]
    UnknownInstance(String),
    #[error("instance `{0}` is still running: stop it before starting or forgetting it")]
    AlreadyRunning(String),
    #[error("the docker engine refused {action} of `{name}`: {answer}")]
    Engine {
        action: &'static str,
        name: String,
        answer: String,
    },
}

impl From<DockerError> for RuntimeError {
    fn from(e: DockerError) -> RuntimeError {
        match e {
            DockerError::Unreachable(_) => RuntimeError::Disconnected(e.to_string()),
            DockerError::UnknownInstance(name) => RuntimeError::UnknownInstance(name),
            DockerError::AlreadyRunning(name) => RuntimeError::AlreadyRunning(name),
            other => RuntimeError::Container(other.to_string()),
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

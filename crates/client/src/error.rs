//! `ClientError`: what went wrong talking to the daemon; "unreachable" is its own case.

use orco_wire::ErrorDetail;
use orco_wire::version::Incompatible;

/// A failed call to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the address.
    #[error(
        "cannot reach the orco daemon at {host}: {detail}; start one with `orco daemon` (or pass --host / ORCO_HOST)"
    )]
    Unreachable {
        /// The address tried.
        host: String,
        /// What the system said.
        detail: String,
    },
    /// Something accepted the connection but no whole answer came within the time limit (a
    /// stopped or hung daemon).
    #[error(
        "the daemon at {host} is not answering (no answer within {}): it may be stopped or overloaded; give it longer with --timeout",
        orco_spec::Duration::from(*after)
    )]
    NotAnswering {
        /// The address tried.
        host: String,
        /// The time limit that ran out.
        after: std::time::Duration,
    },
    /// The daemon answered with an error.
    #[error("{}", .error.message)]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body.
        error: Box<ErrorDetail>,
    },
    /// The daemon's version cannot talk to this client's.
    #[error("{0}")]
    Incompatible(#[from] Incompatible),
    /// The TLS connection to the daemon failed: its certificate is not trusted, not for the
    /// name dialled, expired, or its CA does not match the pin.
    #[error("TLS with the daemon at {host} failed: {detail}")]
    Tls {
        /// The address tried.
        host: String,
        /// Why, and what to do.
        detail: String,
    },
    /// What the client was told to trust cannot be used (a CA file that holds no
    /// certificate).
    #[error("cannot use the CA given by {origin}: {detail}")]
    Trust {
        /// The file or variable.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The token file cannot be used: missing, empty, or readable by others.
    #[error("cannot use the token file: {0}")]
    Token(orco_pki::PkiError),
    /// The daemon's answer could not be understood.
    #[error("unexpected answer from the daemon at {host}: {detail}")]
    Protocol {
        /// The address.
        host: String,
        /// What was wrong.
        detail: String,
    },
}

impl ClientError {
    /// Whether the request was refused as bad input (a 4xx other than a version mismatch, a
    /// missing, refused or too weak token, too many failed attempts, or a conflict with the
    /// current state): the CLI exits 2 for these.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ClientError::Api { status, error } => {
                (400..500).contains(status)
                    && !matches!(status, 401 | 403 | 409 | 429)
                    && error.code != "incompatible_version"
            }
            ClientError::Unreachable { .. }
            | ClientError::NotAnswering { .. }
            | ClientError::Incompatible(_)
            | ClientError::Tls { .. }
            | ClientError::Trust { .. }
            | ClientError::Token(_)
            | ClientError::Protocol { .. } => false,
        }
    }

    /// The API error code, when the daemon answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

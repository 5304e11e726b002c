//! Errors in probe settings, found before any probe runs.

/// A probe that cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("http probe url `{url}`: {reason}; write it as http://HOST:PORT/PATH")]
    BadUrl { url: String, reason: String },
    #[error("log probe pattern `{pattern}` is not a valid regex: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("cmd probe has an empty command: give the program to run")]
    EmptyCommand,
}

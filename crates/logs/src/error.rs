//! `LogError`: what failed in the log pipeline, and what to do about it.

use std::path::PathBuf;

/// An error of the log pipeline. Feeding lines never fails (a full buffer drops and counts);
/// these come from opening, reading and subscribing.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The stack name cannot name a log directory.
    #[error(
        "invalid stack name {name:?} for logs: use letters, digits, '-', '_' or '.', not only dots"
    )]
    InvalidStack {
        /// The name given.
        name: String,
    },
    /// A log directory or file could not be created, opened or read.
    #[error("cannot access log {path}: {source}; check that the directory exists and is writable")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The stack's writer has stopped (the log was closed).
    #[error("the log of stack {stack} is closed")]
    Closed {
        /// The stack.
        stack: String,
    },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.into(),
            source,
        }
    }
}

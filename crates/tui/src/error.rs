//! `TuiError`: why the TUI could not start or had to stop.

use orco_client::ClientError;

/// A failure of the TUI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// Standard input or output is not a terminal.
    #[error(
        "the TUI needs a terminal: run it in one, or use `orco status` and `orco logs` in scripts"
    )]
    NotATerminal,
    /// The terminal could not be set up, drawn on or read.
    #[error("terminal error: {0}")]
    Terminal(#[from] std::io::Error),
    /// The daemon could not be reached or refused a read.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Several stacks are applied and none was picked.
    #[error("several stacks are applied ({0}): pick one with --stack NAME or -f FILE")]
    WhichStack(String),
}

//! How an instance ended, and signal names.

use std::str::FromStr;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// How the leader process of an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal (this number) killed it.
    Signal(i32),
    /// It ended while its keeper was not its parent (taken over after the previous keeper
    /// died), and whoever reaped it kept the status.
    Unknown,
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// From a `waitpid` status; `None` for statuses that are not an end.
    pub fn from_wait(status: nix::sys::wait::WaitStatus) -> Option<ExitStatus> {
        use nix::sys::wait::WaitStatus;
        match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus::Code(code)),
            WaitStatus::Signaled(_, sig, _) => Some(ExitStatus::Signal(sig as i32)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(n) => match Signal::try_from(n) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {n}"),
            },
            ExitStatus::Unknown => write!(f, "exit status unknown (its keeper was restarted)"),
        }
    }
}

/// Parses `SIGTERM`, `TERM`, `sigterm` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal, RuntimeError> {
    let bad = || RuntimeError::BadSignal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_full_name_short_name_or_number() {
        assert_eq!(parse_signal("SIGTERM").ok(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("int").ok(), Some(Signal::SIGINT));
        assert_eq!(parse_signal("9").ok(), Some(Signal::SIGKILL));
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn exit_statuses_read_as_words() {
        assert_eq!(ExitStatus::Code(3).to_string(), "exit code 3");
        assert_eq!(ExitStatus::Signal(9).to_string(), "killed by SIGKILL");
        assert!(ExitStatus::Code(0).success());
        assert!(!ExitStatus::Signal(15).success());
    }
}

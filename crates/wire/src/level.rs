//! [`Level`]: how severe a log record is, as the log pipeline writes it and `?level=` reads it.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How severe a record is, when it can be told. Ordered: `Trace < … < Error`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that did not fail.
    Warn,
    /// A failure (also fatal, critical, panic, alert, emergency).
    Error,
}

impl Level {
    /// Reads a level name in any case: the five names, and the usual aliases (`warning`,
    /// `err`, `fatal`, `critical`, `crit`, `panic`, `alert`, `emerg`, `notice`, …).
    pub fn from_name(name: &str) -> Option<Level> {
        let lower = name.trim().to_ascii_lowercase();
        let level = match lower.as_str() {
            "trace" | "trc" | "finest" => Level::Trace,
            "debug" | "dbg" | "fine" => Level::Debug,
            "info" | "inf" | "information" | "informational" | "notice" => Level::Info,
            "warn" | "wrn" | "warning" => Level::Warn,
            "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg"
            | "emergency" | "severe" => Level::Error,
            _ => return None,
        };
        Some(level)
    }

    /// Reads a numeric level of the bunyan/pino convention (10 trace … 50 error, 60 fatal).
    pub fn from_number(n: u64) -> Option<Level> {
        let level = match n {
            10 => Level::Trace,
            20 => Level::Debug,
            30 => Level::Info,
            40 => Level::Warn,
            50 | 60 => Level::Error,
            _ => return None,
        };
        Some(level)
    }

    /// The lowercase name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_reads_its_aliases_and_serializes_lowercase() {
        assert_eq!(Level::from_name("WARNING"), Some(Level::Warn));
        assert_eq!(Level::from_name("fatal"), Some(Level::Error));
        assert_eq!(Level::from_number(30), Some(Level::Info));
        assert_eq!(Level::from_name("loud"), None);
        assert_eq!(serde_json::to_string(&Level::Warn).unwrap(), "\"warn\"");
        assert!(Level::Trace < Level::Error);
    }
}

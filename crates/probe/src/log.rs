//! The log probe: a regex matched against each raw output line of chosen streams.

use orco_spec::LogSource;
use regex::bytes::Regex;

use crate::error::ProbeError;

/// Matches raw lines (bytes, not necessarily UTF-8) against a pattern.
#[derive(Debug, Clone)]
pub struct LogMatcher {
    regex: Regex,
    sources: Vec<LogSource>,
}

impl LogMatcher {
    pub fn new(pattern: &str, sources: &[LogSource]) -> Result<LogMatcher, ProbeError> {
        let regex = Regex::new(pattern).map_err(|e| ProbeError::BadPattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
        Ok(LogMatcher {
            regex,
            sources: sources.to_vec(),
        })
    }

    /// Whether this line of this stream matches.
    pub fn matches(&self, source: LogSource, line: &[u8]) -> bool {
        self.sources.contains(&source) && self.regex.is_match(line)
    }

    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_of_the_chosen_streams_match_even_when_not_utf8() {
        let m = LogMatcher::new("listening on \\d+", &[LogSource::Stderr]).expect("valid");
        assert!(m.matches(LogSource::Stderr, b"\xff listening on 8080"));
        assert!(!m.matches(LogSource::Stdout, b"listening on 8080"));
        assert!(!m.matches(LogSource::Stderr, b"listening soon"));
        assert!(LogMatcher::new("(", &[LogSource::Stdout]).is_err());
    }
}

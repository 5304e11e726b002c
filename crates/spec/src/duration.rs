//! Durations as the stack file writes them: `500ms`, `1s`, `1m30s`, `2h`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time, written `500ms`, `1s`, `1m30s`, `2h`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// Zero.
    pub fn zero() -> Duration {
        Duration(std::time::Duration::ZERO)
    }

    /// Whole seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }

    /// Milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// The standard-library value.
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration: write e.g. `500ms`, `1s` or `1m30s`")]
    Empty,
    /// A number had no unit.
    #[error("`{0}` has no unit: write e.g. `{0}s` or `{0}ms`")]
    MissingUnit(String),
    /// Negative durations make no sense here.
    #[error("`{0}` is negative: durations are zero or more")]
    Negative(String),
    /// Anything else.
    #[error("`{0}` is not a duration: write e.g. `500ms`, `1s`, `1m30s` or `2h`")]
    Invalid(String),
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(DurationError::Empty);
        }
        if t.starts_with('-') {
            return Err(DurationError::Negative(t.into()));
        }
        if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(DurationError::MissingUnit(t.into()));
        }
        // Only the compact form (`1m30s`, `500ms`): no spaces, no ISO 8601, no long unit names.
        let allowed =
            |c: char| c.is_ascii_digit() || matches!(c, '.' | 'h' | 'm' | 's' | 'u' | 'n');
        if !t.chars().all(allowed) {
            return Err(DurationError::Invalid(t.into()));
        }
        let signed: jiff::SignedDuration =
            t.parse().map_err(|_| DurationError::Invalid(t.into()))?;
        if signed.is_negative() {
            return Err(DurationError::Negative(t.into()));
        }
        let std =
            std::time::Duration::try_from(signed).map_err(|_| DurationError::Invalid(t.into()))?;
        Ok(Duration(std))
    }
}

impl fmt::Display for Duration {
    /// Writes the compact form the parser reads back: `1m30s`, `500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ms = self.0.as_millis();
        let sub_ms = self.0.subsec_nanos() % 1_000_000;
        if total_ms == 0 && sub_ms == 0 {
            return f.write_str("0s");
        }
        let (h, rem) = (total_ms / 3_600_000, total_ms % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, ms) = (rem / 1000, rem % 1000);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        if ms > 0 {
            write!(f, "{ms}ms")?;
        }
        if sub_ms > 0 {
            write!(f, "{}us", sub_ms / 1000)?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$",
            "description": "A duration such as `500ms`, `1s`, `1m30s` or `2h`.",
            "examples": ["500ms", "1s", "1m30s"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_parse() {
        assert_eq!(
            "500ms".parse::<Duration>().unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!("1s".parse::<Duration>().unwrap(), Duration::from_secs(1));
        assert_eq!(
            "1m30s".parse::<Duration>().unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!("2h".parse::<Duration>().unwrap(), Duration::from_secs(7200));
        assert_eq!("0s".parse::<Duration>().unwrap(), Duration::zero());
    }

    #[test]
    fn a_number_without_unit_is_rejected_with_a_hint() {
        assert_eq!(
            "5".parse::<Duration>(),
            Err(DurationError::MissingUnit("5".into()))
        );
    }

    #[test]
    fn negative_and_garbage_are_rejected() {
        assert!(matches!(
            "-1s".parse::<Duration>(),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            "1x".parse::<Duration>(),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            "1s ago".parse::<Duration>(),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            "PT1S".parse::<Duration>(),
            Err(DurationError::Invalid(_))
        ));
    }

    #[test]
    fn display_reads_back() {
        for s in ["0s", "500ms", "1s", "1m30s", "2h", "1h1m1s1ms"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }
}

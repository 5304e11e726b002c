//! `?at=`: which moment of the log a read answers for — a revision (`rev:42` or `42`), an
//! RFC 3339 time (`2026-01-02T03:04:05Z`), or a time relative to now (`10m`, `1h30m`: that
//! long ago).

use jiff::Timestamp;
use orco_store::At;

use crate::error::ApiError;

/// Parses an `at` value; `now` is the moment relative times count back from.
pub fn parse_at(text: &str, now: Timestamp) -> Result<At, ApiError> {
    let text = text.trim();
    let bad = |why: String| {
        ApiError::bad_request(
            "invalid_at",
            format!(
                "`at={text}` {why}: give a revision (`rev:42` or `42`), an RFC 3339 time (`2026-01-02T03:04:05Z`) or a duration ago (`10m`)"
            ),
        )
        .with_field("at")
    };
    if let Some(rev) = text.strip_prefix("rev:") {
        return rev
            .parse()
            .map(At::Revision)
            .map_err(|_| bad("is not a revision".into()));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(At::Revision)
            .map_err(|_| bad("is not a revision".into()));
    }
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(At::Time(time));
    }
    match text.parse::<orco_spec::Duration>() {
        Ok(ago) => {
            let ago = jiff::SignedDuration::try_from(ago.get())
                .map_err(|_| bad("is too long ago".into()))?;
            now.checked_sub(ago)
                .map(At::Time)
                .map_err(|_| bad("is too long ago".into()))
        }
        Err(e) => Err(bad(format!("is not understood ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_times_and_durations_ago_are_understood() {
        let now: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(parse_at("rev:7", now).unwrap(), At::Revision(7));
        assert_eq!(parse_at("7", now).unwrap(), At::Revision(7));
        assert_eq!(
            parse_at("2026-01-01T00:00:00Z", now).unwrap(),
            At::Time("2026-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_at("10m", now).unwrap(),
            At::Time("2026-01-02T02:54:05Z".parse().unwrap())
        );
    }

    #[test]
    fn nonsense_is_refused_naming_the_field() {
        let now = Timestamp::UNIX_EPOCH;
        let err = parse_at("yesterday-ish", now).unwrap_err();
        assert_eq!(err.detail.code, "invalid_at");
        assert_eq!(err.detail.field.as_deref(), Some("at"));
        assert!(parse_at("rev:x", now).is_err());
    }
}

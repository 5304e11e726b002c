//! `?at=`: which moment of the log a read answers for — a revision (`rev:42` or `42`), an
//! RFC 3339 time (`2026-01-02T03:04:05Z`), a time relative to now (`10m`, `1h30m`, `1d`,
//! `2d12h`: that long ago), or `today` / `yesterday` (that day's midnight, in the daemon's
//! time zone).

use jiff::Timestamp;
use orco_store::At;

use crate::error::ApiError;

/// Parses an `at` value; `now` is the moment relative times count back from.
pub fn parse_at(text: &str, now: Timestamp) -> Result<At, ApiError> {
    parse_at_in(text, now, &jiff::tz::TimeZone::system())
}

/// [`parse_at`] with `today` and `yesterday` in time zone `tz`.
fn parse_at_in(text: &str, now: Timestamp, tz: &jiff::tz::TimeZone) -> Result<At, ApiError> {
    let text = text.trim();
    let bad = |why: String| {
        ApiError::bad_request(
            "invalid_at",
            format!(
                "`at={text}` {why}: give a revision (`rev:42` or `42`), an RFC 3339 time (`2026-01-02T03:04:05Z`), a duration ago (`10m`, `1d`) or `today`/`yesterday`"
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
    let days_back = match text {
        "today" => Some(0),
        "yesterday" => Some(1),
        _ => None,
    };
    if let Some(days) = days_back {
        return now
            .to_zoned(tz.clone())
            .start_of_day()
            .and_then(|midnight| midnight.checked_sub(jiff::Span::new().days(days)))
            .map(|z| At::Time(z.timestamp()))
            .map_err(|_| bad("is out of range".into()));
    }
    // Whole days first (`1d`, `2d12h`), the rest as a duration.
    let (days, rest) = match text.split_once('d') {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: i64 = n.parse().map_err(|_| bad("is too long ago".into()))?;
            (n, rest)
        }
        _ => (0, text),
    };
    let rest = if rest.is_empty() {
        std::time::Duration::ZERO
    } else {
        rest.parse::<orco_spec::Duration>()
            .map_err(|e| bad(format!("is not understood ({e})")))?
            .get()
    };
    let ago = jiff::SignedDuration::try_from(rest)
        .ok()
        .and_then(|d| d.checked_add(jiff::SignedDuration::from_hours(days.checked_mul(24)?)))
        .ok_or_else(|| bad("is too long ago".into()))?;
    now.checked_sub(ago)
        .map(At::Time)
        .map_err(|_| bad("is too long ago".into()))
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
    fn days_ago_today_and_yesterday_are_understood() {
        let now: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        let at = |text: &str| parse_at_in(text, now, &utc).unwrap();
        let time = |text: &str| At::Time(text.parse().unwrap());
        assert_eq!(at("1d"), time("2026-01-01T03:04:05Z"));
        assert_eq!(at("2d12h"), time("2025-12-30T15:04:05Z"));
        assert_eq!(at("today"), time("2026-01-02T00:00:00Z"));
        assert_eq!(at("yesterday"), time("2026-01-01T00:00:00Z"));
        assert!(parse_at_in("d", now, &utc).is_err());
        assert!(parse_at_in("1dx", now, &utc).is_err());
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

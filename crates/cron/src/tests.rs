//! Unit tests: parsing, and evaluation against fixed instants (the clock is the argument).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::{Cron, CronError};

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a test timestamp")
}

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("a known time zone")
}

fn cron(s: &str) -> Cron {
    Cron::parse(s).expect("a valid expression")
}

/// The first `n` firing instants after `from`, in UTC, as RFC 3339 strings.
fn firings(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
    let (c, zone) = (cron(expr), tz(zone));
    let mut at = ts(from);
    let mut out = Vec::new();
    for _ in 0..n {
        at = c.next_after(&zone, at).expect("a next firing");
        out.push(at.to_string());
    }
    out
}

#[test]
fn a_five_field_expression_fires_on_the_minute() {
    assert_eq!(
        firings("*/5 * * * *", "UTC", "2026-01-01T10:02:30Z", 3),
        [
            "2026-01-01T10:05:00Z",
            "2026-01-01T10:10:00Z",
            "2026-01-01T10:15:00Z"
        ]
    );
}

#[test]
fn a_six_field_expression_has_seconds_first() {
    assert_eq!(
        firings("*/2 * * * * *", "UTC", "2026-01-01T10:00:00.5Z", 3),
        [
            "2026-01-01T10:00:02Z",
            "2026-01-01T10:00:04Z",
            "2026-01-01T10:00:06Z"
        ]
    );
    assert!(cron("*/2 * * * * *").has_seconds());
    assert!(!cron("* * * * *").has_seconds());
}

#[test]
fn the_next_firing_is_strictly_after_the_instant_given() {
    assert_eq!(
        firings("0 12 * * *", "UTC", "2026-01-01T12:00:00Z", 1),
        ["2026-01-02T12:00:00Z"]
    );
}

#[test]
fn lists_ranges_steps_and_names_combine() {
    // 08:15 and 08:45, weekdays only, in January and March.
    assert_eq!(
        firings(
            "15,45 8 * JAN,mar mon-fri",
            "UTC",
            "2026-01-30T09:00:00Z",
            3
        ),
        [
            "2026-03-02T08:15:00Z",
            "2026-03-02T08:45:00Z",
            "2026-03-03T08:15:00Z"
        ]
    );
    // `5/20` is 5, 25, 45; a range with a step.
    assert_eq!(
        firings("5/20 10-12/2 * * *", "UTC", "2026-01-01T10:30:00Z", 3),
        [
            "2026-01-01T10:45:00Z",
            "2026-01-01T12:05:00Z",
            "2026-01-01T12:25:00Z"
        ]
    );
}

#[test]
fn day_of_week_seven_is_sunday() {
    // 2026-01-04 is a Sunday.
    assert_eq!(
        firings("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T00:00:00Z"]
    );
    assert_eq!(cron("0 0 * * 7"), cron("0 0 * * sun"));
}

#[test]
fn when_both_day_fields_are_restricted_either_one_matches() {
    // The 13th, and every Friday: 2026-02-13 is a Friday, 2026-02-20 the next one,
    // 2026-03-13 a Friday too, 2026-02-27 between.
    assert_eq!(
        firings("0 0 13 * fri", "UTC", "2026-02-01T00:00:00Z", 4),
        [
            "2026-02-06T00:00:00Z",
            "2026-02-13T00:00:00Z",
            "2026-02-20T00:00:00Z",
            "2026-02-27T00:00:00Z"
        ]
    );
    // With the day of the week unrestricted, only the 13th counts.
    assert_eq!(
        firings("0 0 13 * *", "UTC", "2026-02-01T00:00:00Z", 2),
        ["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"]
    );
}

#[test]
fn the_twenty_ninth_of_february_waits_for_a_leap_year() {
    assert_eq!(
        firings("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
}

#[test]
fn shorthands_expand_to_their_expressions() {
    assert_eq!(cron("@daily"), cron("0 0 * * *"));
    assert_eq!(cron("@hourly"), cron("0 * * * *"));
    assert_eq!(cron("@weekly"), cron("0 0 * * 0"));
    assert_eq!(cron("@monthly"), cron("0 0 1 * *"));
    assert_eq!(cron("@yearly"), cron("0 0 1 1 *"));
}

#[test]
fn a_time_zone_moves_the_instants() {
    // 09:00 in New York: 14:00 UTC in winter, 13:00 in summer.
    assert_eq!(
        firings("0 9 * * *", "America/New_York", "2026-03-06T00:00:00Z", 1),
        ["2026-03-06T14:00:00Z"]
    );
    assert_eq!(
        firings("0 9 * * *", "America/New_York", "2026-03-09T00:00:00Z", 1),
        ["2026-03-09T13:00:00Z"]
    );
}

#[test]
fn a_wall_clock_time_skipped_by_spring_forward_fires_once_at_the_end_of_the_gap() {
    // Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 never is.
    assert_eq!(
        firings("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 3),
        [
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 03:00 CEST, the first instant after the gap
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
}

#[test]
fn several_skipped_wall_clock_times_fire_once_together() {
    // 02:00, 02:15, 02:30 and 02:45 are all skipped: one firing at 03:00 CEST; and 03:00
    // itself, matching too, is that same instant.
    assert_eq!(
        firings("*/15 2,3 * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", 3),
        [
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:15:00Z",
            "2026-03-29T01:30:00Z"
        ]
    );
}

#[test]
fn a_wall_clock_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() {
    // Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 is at
    // 00:30 UTC and again at 01:30 UTC.
    assert_eq!(
        firings("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    // Asked during the second pass, the repeat is not a firing either.
    assert_eq!(
        firings("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1),
        ["2026-10-26T01:30:00Z"]
    );
}

#[test]
fn an_hourly_schedule_skips_the_repeated_hour() {
    assert_eq!(
        firings("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 2),
        [
            "2026-10-25T00:00:00Z", // 02:00 CEST
            "2026-10-25T02:00:00Z", // 03:00 CET; 02:00 CET (01:00 UTC) is a repeat
        ]
    );
}

#[test]
fn the_latest_firing_at_or_before_an_instant_is_found_backwards() {
    let c = cron("*/2 * * * * *");
    let utc = tz("UTC");
    assert_eq!(
        c.latest_at_or_before(&utc, ts("2026-01-01T10:00:05.7Z")),
        Some(ts("2026-01-01T10:00:04Z"))
    );
    assert_eq!(
        c.latest_at_or_before(&utc, ts("2026-01-01T10:00:04Z")),
        Some(ts("2026-01-01T10:00:04Z"))
    );
    let daily = cron("0 3 * * *");
    assert_eq!(
        daily.latest_at_or_before(&utc, ts("2026-01-05T02:59:59Z")),
        Some(ts("2026-01-04T03:00:00Z"))
    );
}

#[test]
fn the_latest_firing_follows_the_daylight_saving_rule() {
    let berlin = tz("Europe/Berlin");
    let c = cron("30 2 * * *");
    // Spring forward: the skipped 02:30 fired at 01:00 UTC.
    assert_eq!(
        c.latest_at_or_before(&berlin, ts("2026-03-29T01:00:00Z")),
        Some(ts("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        c.latest_at_or_before(&berlin, ts("2026-03-29T00:59:59Z")),
        Some(ts("2026-03-28T01:30:00Z"))
    );
    // Fall back, during the second pass (02:45 CET): 02:30 fired on the first pass.
    assert_eq!(
        c.latest_at_or_before(&berlin, ts("2026-10-25T01:45:00Z")),
        Some(ts("2026-10-25T00:30:00Z"))
    );
    let late = cron("50 2 * * *");
    assert_eq!(
        late.latest_at_or_before(&berlin, ts("2026-10-25T01:45:00Z")),
        Some(ts("2026-10-25T00:50:00Z"))
    );
}

#[test]
fn bad_expressions_say_what_is_wrong() {
    let err = |s: &str| Cron::parse(s).expect_err(s).to_string();
    assert_eq!(
        Cron::parse("* * *"),
        Err(CronError::FieldCount { found: 3 })
    );
    assert_eq!(
        err("61 * * * *"),
        "minute field `61`: `61` is out of range 0-59"
    );
    assert_eq!(
        err("* 24 * * *"),
        "hour field `24`: `24` is out of range 0-23"
    );
    assert_eq!(
        err("*/0 * * * *"),
        "minute field `*/0`: step `0` is not a number from 1"
    );
    assert!(err("* * * * 5-1").contains("runs backwards"));
    assert!(err("* * * foo *").contains("not a number from 1 to 12 or a name"));
    assert!(err("* * * * * * *").contains("7 fields"));
    assert_eq!(err("@reboot"), "unknown shorthand `@reboot`");
    assert_eq!(
        err("0 0 30 2 *"),
        "it never fires: day 30 does not exist in feb"
    );
    assert!(err("1,,2 * * * *").contains("a value is missing"));
    // A day that exists in one of the months is fine.
    assert!(Cron::parse("0 0 31 2,3 *").is_ok());
    // With the day of the week restricted too, either day field may match.
    assert!(Cron::parse("0 0 30 2 mon").is_ok());
}

#[test]
fn a_wall_clock_time_matches_every_field() {
    let c = cron("30 5 10 6 *");
    let yes = jiff::civil::date(2026, 6, 10).at(5, 30, 0, 0);
    let no = jiff::civil::date(2026, 6, 10).at(5, 30, 1, 0);
    assert!(c.matches(yes));
    assert!(!c.matches(no));
}

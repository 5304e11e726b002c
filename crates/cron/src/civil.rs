//! Walking wall-clock (civil) time to the next or previous time a [`Cron`] matches: the
//! coarsest field that does not match moves the time to the start (or end) of its next (or
//! previous) unit, so that a search takes a few steps per unit rather than one per second.

use jiff::ToSpan;
use jiff::civil::{Date, DateTime};

use crate::Cron;

/// How many years a search may look ahead or back (a 29 February needs up to 8).
const YEARS: i16 = 9;

/// `dt` without its fraction of a second.
pub(crate) fn truncate(dt: DateTime) -> DateTime {
    dt.date().at(dt.hour(), dt.minute(), dt.second(), 0)
}

/// One second later.
pub(crate) fn next_second(dt: DateTime) -> Option<DateTime> {
    dt.checked_add(1.second()).ok()
}

fn prev_second(dt: DateTime) -> Option<DateTime> {
    dt.checked_sub(1.second()).ok()
}

fn first_of_next_month(date: Date) -> Option<DateTime> {
    let first = date.first_of_month();
    Some(first.checked_add(1.month()).ok()?.at(0, 0, 0, 0))
}

/// The first matching time at or after `from` (whole seconds).
pub(crate) fn next_match(cron: &Cron, from: DateTime) -> Option<DateTime> {
    let limit = from.year().saturating_add(YEARS);
    let mut dt = from;
    while dt.year() <= limit {
        let date = dt.date();
        dt = if !cron.months.has(dt.month()) {
            first_of_next_month(date)?
        } else if !cron.day_matches(date) {
            date.tomorrow().ok()?.at(0, 0, 0, 0)
        } else if !cron.hours.has(dt.hour()) {
            date.at(dt.hour(), 0, 0, 0).checked_add(1.hour()).ok()?
        } else if !cron.minutes.has(dt.minute()) {
            date.at(dt.hour(), dt.minute(), 0, 0)
                .checked_add(1.minute())
                .ok()?
        } else if !cron.seconds.has(dt.second()) {
            next_second(dt)?
        } else {
            return Some(dt);
        };
    }
    None
}

/// The last matching time at or before `from` (whole seconds).
pub(crate) fn prev_match(cron: &Cron, from: DateTime) -> Option<DateTime> {
    let limit = from.year().saturating_sub(YEARS);
    let mut dt = from;
    while dt.year() >= limit {
        let date = dt.date();
        dt = if !cron.months.has(dt.month()) {
            prev_second(date.first_of_month().at(0, 0, 0, 0))?
        } else if !cron.day_matches(date) {
            prev_second(date.at(0, 0, 0, 0))?
        } else if !cron.hours.has(dt.hour()) {
            prev_second(date.at(dt.hour(), 0, 0, 0))?
        } else if !cron.minutes.has(dt.minute()) {
            prev_second(date.at(dt.hour(), dt.minute(), 0, 0))?
        } else if !cron.seconds.has(dt.second()) {
            prev_second(dt)?
        } else {
            return Some(dt);
        };
    }
    None
}

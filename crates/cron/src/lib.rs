//! Cron expressions, parsed once and evaluated in a time zone: pure code, no clock.
//!
//! - [`Cron::parse`]: 5 fields (`minute hour day-of-month month day-of-week`) or 6 with
//!   seconds first (`second minute hour day-of-month month day-of-week`); `*`, lists (`1,5`),
//!   ranges (`1-5`), steps (`*/15`, `0-30/10`, `5/15`), month names (`jan`…`dec`), day names
//!   (`sun`…`sat`, and `7` for Sunday), and `@yearly`, `@monthly`, `@weekly`, `@daily`,
//!   `@midnight`, `@hourly`. When both day fields are restricted (neither starts with `*`),
//!   a day matches when either does (the usual cron rule).
//! - [`Cron::next_after`] and [`Cron::latest_at_or_before`]: the instants it fires at, in a
//!   [`jiff::tz::TimeZone`] (`parse.rs` reads the text, `civil.rs` walks wall-clock time).
//!
//! Wall-clock times that a time zone skips or repeats (daylight saving) follow one rule:
//! every matching wall-clock time fires exactly once, at its earliest instant. A time that
//! does not exist (Europe/Berlin's 02:30 on the spring-forward day) fires at the first
//! instant after the gap (03:00 summer time); several skipped times that match fire once
//! there. A time that happens twice (02:30 on the fall-back day) fires at its first
//! occurrence only.

mod civil;
mod parse;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not 5 or 6 fields.
    #[error(
        "it has {found} fields, not 5 (minute hour day-of-month month day-of-week) or 6 (second first)"
    )]
    FieldCount {
        /// How many fields there were.
        found: usize,
    },
    /// An `@` word that is not one of the known ones.
    #[error("unknown shorthand `{text}`")]
    Shorthand {
        /// The word.
        text: String,
    },
    /// One field is wrong.
    #[error("{field} field `{text}`: {why}")]
    Field {
        /// Which field (`minute`, `day-of-week`…).
        field: &'static str,
        /// The field's text.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// The fields are each valid but no date ever matches them.
    #[error("it never fires: {why}")]
    Never {
        /// Why, e.g. `day 30 does not exist in february`.
        why: String,
    },
}

/// A set of small numbers (0–63) as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bits(pub(crate) u64);

impl Bits {
    pub(crate) fn has(self, n: i8) -> bool {
        (0..64).contains(&n) && self.0 & (1u64 << n) != 0
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    pub(crate) seconds: Bits,
    pub(crate) minutes: Bits,
    pub(crate) hours: Bits,
    pub(crate) days: Bits,
    pub(crate) months: Bits,
    /// Days of the week, 0 = Sunday.
    pub(crate) weekdays: Bits,
    pub(crate) days_restricted: bool,
    pub(crate) weekdays_restricted: bool,
}

/// How many dues at most [`Cron::next_after`] looks at before it gives up (a wall-clock time
/// repeated by daylight saving is walked through one due at a time).
const STEPS: usize = 100_000;

impl Cron {
    /// Parses a 5- or 6-field expression or an `@` shorthand (see the module docs).
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        parse::parse(text)
    }

    /// Whether the expression has a seconds field that is not just `0`.
    pub fn has_seconds(&self) -> bool {
        self.seconds != Bits(1)
    }

    /// Whether the wall-clock time `dt` (to the second) matches.
    pub fn matches(&self, dt: DateTime) -> bool {
        self.months.has(dt.month())
            && self.day_matches(dt.date())
            && self.hours.has(dt.hour())
            && self.minutes.has(dt.minute())
            && self.seconds.has(dt.second())
    }

    pub(crate) fn day_matches(&self, date: jiff::civil::Date) -> bool {
        let day = self.days.has(date.day());
        let weekday = self.weekdays.has(date.weekday().to_sunday_zero_offset());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first instant strictly after `after` at which the expression fires in `tz`;
    /// `None` when there is none within the next years (or the calendar ends).
    pub fn next_after(&self, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
        let mut from = civil::next_second(civil::truncate(tz.to_datetime(after)))?;
        for _ in 0..STEPS {
            let dt = civil::next_match(self, from)?;
            let at = fire_at(tz, dt)?;
            if at > after {
                return Some(at);
            }
            // A repeated wall-clock time seen on its second pass: it fired on the first.
            from = civil::next_second(dt)?;
        }
        None
    }

    /// The last instant at or before `at` at which the expression fires in `tz`.
    pub fn latest_at_or_before(&self, tz: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        let dt = civil::prev_match(self, civil::truncate(tz.to_datetime(at)))?;
        let mut latest = fire_at(tz, dt)?;
        // On the second pass of a repeated hour, later wall-clock times fired already.
        for _ in 0..STEPS {
            match self.next_after(tz, latest) {
                Some(next) if next <= at => latest = next,
                _ => break,
            }
        }
        (latest <= at).then_some(latest)
    }
}

/// The instant a matching wall-clock time fires at in `tz`: its only instant, the first of
/// two when it is repeated, the end of the gap when it is skipped.
pub fn fire_at(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, after } => {
            let a = before.to_timestamp(dt).ok()?;
            let b = after.to_timestamp(dt).ok()?;
            Some(a.min(b))
        }
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, `dt` is an instant before the transition.
            let before_gap = after.to_timestamp(dt).ok()?;
            tz.following(before_gap).next().map(|t| t.timestamp())
        }
    }
}

#[cfg(test)]
mod tests;

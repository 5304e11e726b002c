//! Reading a cron expression's text into a [`Cron`]: fields, lists, ranges, steps, names.

use crate::{Bits, Cron, CronError};

/// One field's name, bounds and accepted names.
struct Field {
    name: &'static str,
    lo: u8,
    hi: u8,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    lo: 0,
    hi: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    lo: 0,
    hi: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    lo: 0,
    hi: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day-of-month",
    lo: 1,
    hi: 31,
    names: &[],
};
/// Month names, from 1.
const MONTH: Field = Field {
    name: "month",
    lo: 1,
    hi: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Day names, from 0 (Sunday); 7 is Sunday too.
const WEEKDAY: Field = Field {
    name: "day-of-week",
    lo: 0,
    hi: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

pub(crate) fn parse(text: &str) -> Result<Cron, CronError> {
    let text = text.trim();
    let expanded = match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
        "@monthly" => "0 0 1 * *".to_string(),
        "@weekly" => "0 0 * * 0".to_string(),
        "@daily" | "@midnight" => "0 0 * * *".to_string(),
        "@hourly" => "0 * * * *".to_string(),
        _ if text.starts_with('@') => {
            return Err(CronError::Shorthand { text: text.into() });
        }
        _ => text.to_string(),
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let (seconds, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        found => return Err(CronError::FieldCount { found }),
    };
    let mut weekdays = field(&WEEKDAY, rest[4])?;
    // 7 is Sunday, like 0.
    if weekdays.0 & (1 << 7) != 0 {
        weekdays.0 = (weekdays.0 & !(1 << 7)) | 1;
    }
    let cron = Cron {
        seconds: field(&SECOND, seconds)?,
        minutes: field(&MINUTE, rest[0])?,
        hours: field(&HOUR, rest[1])?,
        days: field(&DAY, rest[2])?,
        months: field(&MONTH, rest[3])?,
        weekdays,
        days_restricted: !rest[2].starts_with('*'),
        weekdays_restricted: !rest[4].starts_with('*'),
    };
    check_possible(&cron)?;
    Ok(cron)
}

/// A restricted day of the month alone must exist in one of the months.
fn check_possible(cron: &Cron) -> Result<(), CronError> {
    if !cron.days_restricted || cron.weekdays_restricted {
        return Ok(());
    }
    // The longest each month gets (February in a leap year).
    const LONGEST: [i8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let possible = (1..=12)
        .any(|m| cron.months.has(m) && (1..=LONGEST[(m - 1) as usize]).any(|d| cron.days.has(d)));
    if possible {
        return Ok(());
    }
    let first = (1..=31).find(|d| cron.days.has(*d)).unwrap_or(31);
    let months: Vec<&str> = (1..=12)
        .filter(|m| cron.months.has(*m))
        .map(|m| MONTH.names[(m - 1) as usize])
        .collect();
    Err(CronError::Never {
        why: format!("day {first} does not exist in {}", months.join(", ")),
    })
}

/// One field: a comma-separated list of `*`, `N`, `A-B`, each with an optional `/STEP`.
fn field(spec: &Field, text: &str) -> Result<Bits, CronError> {
    let err = |why: String| CronError::Field {
        field: spec.name,
        text: text.to_string(),
        why,
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step = match step.parse::<u8>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(err(format!("step `{step}` is not a number from 1"))),
                };
                (range, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (spec.lo, spec.hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(spec, a).map_err(err)?, value(spec, b).map_err(err)?);
            if a > b {
                return Err(err(format!(
                    "range `{range}` runs backwards: write it as two ranges, e.g. `{a}-{},{}-{b}`",
                    spec.hi, spec.lo
                )));
            }
            (a, b)
        } else {
            let a = value(spec, range).map_err(err)?;
            // `5/15` means from 5 to the end, every 15.
            (a, if step.is_some() { spec.hi } else { a })
        };
        let step = step.unwrap_or(1);
        let mut n = lo;
        while n <= hi {
            bits |= 1u64 << n;
            n = match n.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(Bits(bits))
}

/// A number in the field's bounds, or one of its names.
fn value(spec: &Field, text: &str) -> Result<u8, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = spec.names.iter().position(|n| *n == lower) {
        let first = if spec.lo == 1 { 1 } else { 0 };
        return Ok(u8::try_from(i).unwrap_or(0) + first);
    }
    match text.parse::<u8>() {
        Ok(n) if (spec.lo..=spec.hi).contains(&n) => Ok(n),
        Ok(_) => Err(format!("`{text}` is out of range {}-{}", spec.lo, spec.hi)),
        Err(_) if text.is_empty() => Err("a value is missing".into()),
        Err(_) if !spec.names.is_empty() => Err(format!(
            "`{text}` is not a number from {} to {} or a name ({}…)",
            spec.lo,
            spec.hi,
            spec.names[..3].join(", ")
        )),
        Err(_) => Err(format!(
            "`{text}` is not a number from {} to {}",
            spec.lo, spec.hi
        )),
    }
}

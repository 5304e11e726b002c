//! Periodic jobs: which due times of each job's `schedule` have come, and what becomes of
//! each. Pure: the state says which due times were dealt with, `now` says which have come.
//!
//! A due time that has come becomes one event, recorded before anything of the run starts:
//! `JobScheduled` (a new run) or `ScheduledRunSkipped` (the `overlap` policy held it back).
//! Either moves the schedule past that due time, so a due time is dealt with exactly once,
//! whatever crashes in between. When several due times have come at once (the daemon was
//! down, or too busy), only the most recent one is dealt with and the earlier ones are
//! counted as missed, as anacron does.
//!
//! `overlap`: `skip` skips a due time while any earlier run of the job is unfinished;
//! `queue` submits it, and [`crate::tasks`] holds the run's tasks back until every earlier
//! run has finished (one run at most waits: a due time that finds one waiting is skipped);
//! `allow` submits it and it runs at once.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use orco_cron::Cron;
use orco_spec::Overlap;
use orco_state::{EventKind, JobRunId, State, WorkloadId};

use crate::tasks::TaskPlan;

/// How many missed due times are counted at most (past that, the count says "at least").
const MISSED_COUNTED: u32 = 10_000;

/// Adds to `plan` what the due schedules of `state` call for at `now`, and wakes the loop at
/// the next due time.
pub(crate) fn due(state: &State, now: Timestamp, plan: &mut TaskPlan) {
    for (id, schedule) in &state.schedules {
        let Some(spec) = state
            .stacks
            .get(&id.stack)
            .and_then(|s| s.spec.jobs.get(&id.name))
            .and_then(|j| j.schedule.as_ref())
        else {
            continue;
        };
        // Parsed once per spec (when its stack file was loaded), not on every pass; the
        // spec's expression is the state's (a changed one is a new schedule state).
        let Some(when) = spec.when() else {
            continue;
        };
        let (cron, tz) = (&when.cron, &when.zone);
        let after = schedule.last_due.unwrap_or(schedule.since);
        let Some(first) = cron.next_after(tz, after) else {
            continue;
        };
        if first > now {
            plan.wake(first);
            continue;
        }
        let due = cron
            .latest_at_or_before(tz, now)
            .filter(|d| *d >= first)
            .unwrap_or(first);
        let missed = count_between(cron, tz, first, due);
        plan.events
            .push(decide(state, id, spec.overlap, due, missed));
        if let Some(next) = cron.next_after(tz, due) {
            plan.wake(next);
        }
    }
}

/// The event for a due time of `job` that has come.
fn decide(
    state: &State,
    job: &WorkloadId,
    overlap: Overlap,
    due: Timestamp,
    missed: u32,
) -> EventKind {
    let runs: Vec<(&JobRunId, &orco_state::JobRun)> =
        state.jobs.iter().filter(|(r, _)| &r.job == job).collect();
    let unfinished: Vec<&JobRunId> = runs
        .iter()
        .filter(|(_, run)| run.outcome.is_none())
        .map(|(r, _)| *r)
        .collect();
    let skip = |reason: String| EventKind::ScheduledRunSkipped {
        job: job.clone(),
        due,
        missed,
        reason,
    };
    match overlap {
        Overlap::Skip if !unfinished.is_empty() => {
            let list: Vec<String> = unfinished.iter().map(|r| r.to_string()).collect();
            return skip(format!(
                "{} has not finished (overlap: skip)",
                list.join(", ")
            ));
        }
        // The oldest unfinished run runs; any later one waits.
        Overlap::Queue if unfinished.len() >= 2 => {
            return skip(format!(
                "{} is already waiting (overlap: queue)",
                unfinished[1]
            ));
        }
        Overlap::Skip | Overlap::Queue | Overlap::Allow => {}
    }
    let last = runs.iter().map(|(r, _)| r.run).max().unwrap_or(0);
    EventKind::JobScheduled {
        run: JobRunId {
            job: job.clone(),
            run: last.saturating_add(1),
        },
        due,
        missed,
    }
}

/// How many due times there are from `first` (included) to `due` (excluded), up to a cap.
fn count_between(cron: &Cron, tz: &TimeZone, first: Timestamp, due: Timestamp) -> u32 {
    let mut n = 0;
    let mut at = first;
    while at < due && n < MISSED_COUNTED {
        n += 1;
        match cron.next_after(tz, at) {
            Some(next) => at = next,
            None => break,
        }
    }
    n
}

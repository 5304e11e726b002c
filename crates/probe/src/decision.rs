//! The pure part of probing: thresholds, the grace period and when to probe next.
//!
//! Time is the duration since the instance started, passed in by the caller: no clock,
//! no IO, so every rule is tested with plain numbers.

use std::time::Duration;

use orco_spec::{Expr, ProbeKind};

/// How often an http or tcp probe runs before its first success (a failed connect on
/// loopback costs microseconds; readiness seen 1 ms late delays every dependent by as much).
pub const FAST_NETWORK: Duration = Duration::from_millis(1);
/// How often a cmd probe runs before its first success (each run forks).
pub const FAST_CMD: Duration = Duration::from_millis(100);
/// Before the first success the delay grows by 1/`SLOWDOWN` of the time waited beyond
/// [`FAST_FOR`], so a probe that never passes settles towards `interval` instead of spinning.
pub const SLOWDOWN: u32 = 100;
/// How long after the start probing stays at its fastest: most instances become ready
/// within it.
pub const FAST_FOR: Duration = Duration::from_secs(1);

/// One probe's settings, from the stack file's `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Delay between probes before the first success.
    pub fast: Duration,
    /// Delay between probes after the first success.
    pub interval: Duration,
    /// Failures before this (since the instance started) do not count.
    pub grace: Duration,
    /// Consecutive successes to pass.
    pub success_threshold: u32,
    /// Consecutive counted failures to fail.
    pub failure_threshold: u32,
}

impl Settings {
    /// The settings of `health` for a probe kind.
    pub fn of(health: &orco_spec::Health, kind: ProbeKind) -> Settings {
        let fast = match kind {
            ProbeKind::Cmd => FAST_CMD,
            ProbeKind::Http | ProbeKind::Tcp | ProbeKind::Log => FAST_NETWORK,
        };
        Settings {
            fast,
            interval: health.interval.get(),
            grace: health.grace_period.get(),
            success_threshold: health.success_threshold.max(1),
            failure_threshold: health.failure_threshold.max(1),
        }
    }
}

/// Where a probe stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not enough results yet to say.
    Unknown,
    /// `successThreshold` consecutive successes.
    Passing,
    /// `failureThreshold` consecutive counted failures.
    Failing,
}

/// Counts one probe's results into a [`Status`].
#[derive(Debug, Clone)]
pub struct Tracker {
    settings: Settings,
    status: Status,
    successes: u32,
    failures: u32,
    ever_passed: bool,
}

impl Tracker {
    pub fn new(settings: Settings) -> Tracker {
        Tracker {
            settings,
            status: Status::Unknown,
            successes: 0,
            failures: 0,
            ever_passed: false,
        }
    }

    /// A tracker of a probe that has already passed (an instance adopted while ready):
    /// it probes at `interval` and fails only after `failureThreshold` failures.
    pub fn passed(settings: Settings) -> Tracker {
        Tracker {
            status: Status::Passing,
            successes: settings.success_threshold,
            ever_passed: true,
            ..Tracker::new(settings)
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether the probe has ever passed.
    pub fn ever_passed(&self) -> bool {
        self.ever_passed
    }

    /// Records a result obtained `at` after the instance started; returns the new status
    /// when it changed.
    pub fn record(&mut self, at: Duration, passed: bool) -> Option<Status> {
        let before = self.status;
        if passed {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if self.successes >= self.settings.success_threshold {
                self.status = Status::Passing;
                self.ever_passed = true;
            }
        } else {
            self.successes = 0;
            if at >= self.settings.grace {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.settings.failure_threshold {
                    self.status = Status::Failing;
                }
            }
        }
        (self.status != before).then_some(self.status)
    }

    /// How long to wait before the next probe, `at` after the instance started.
    pub fn next_delay(&self, at: Duration) -> Duration {
        let interval = self.settings.interval;
        if self.ever_passed {
            return interval;
        }
        let delay = self.settings.fast + at.saturating_sub(FAST_FOR) / SLOWDOWN;
        delay.min(interval).max(Duration::from_millis(1))
    }
}

/// Whether an instance is ready: its expression (or, without one, every probe) passes.
pub fn ready(
    expression: Option<&Expr>,
    kinds: &[ProbeKind],
    status: impl Fn(ProbeKind) -> Status,
) -> bool {
    let passes = |k: ProbeKind| status(k) == Status::Passing;
    match expression {
        Some(expr) => expr.eval(&passes),
        None => !kinds.is_empty() && kinds.iter().all(|&k| passes(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(grace_ms: u64, success: u32, failure: u32) -> Settings {
        Settings {
            fast: ms(1),
            interval: Duration::from_secs(2),
            grace: Duration::from_millis(grace_ms),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failures_during_the_grace_period_do_not_count() {
        let mut t = Tracker::new(settings(1000, 1, 2));
        for at in [0, 100, 500, 999] {
            assert_eq!(t.record(ms(at), false), None);
        }
        assert_eq!(t.status(), Status::Unknown);
        assert_eq!(t.record(ms(1000), false), None);
        assert_eq!(t.record(ms(1100), false), Some(Status::Failing));
    }

    #[test]
    fn a_success_during_the_grace_period_counts_at_once() {
        let mut t = Tracker::new(settings(5000, 1, 3));
        assert_eq!(t.record(ms(10), true), Some(Status::Passing));
    }

    #[test]
    fn thresholds_need_consecutive_results() {
        let mut t = Tracker::new(settings(0, 2, 3));
        assert_eq!(t.record(ms(0), true), None);
        assert_eq!(
            t.record(ms(10), false),
            None,
            "a failure resets the success streak"
        );
        assert_eq!(t.record(ms(20), true), None);
        assert_eq!(t.record(ms(30), true), Some(Status::Passing));
        assert_eq!(t.record(ms(40), false), None);
        assert_eq!(t.record(ms(50), false), None);
        assert_eq!(
            t.record(ms(60), true),
            None,
            "a success resets the failure streak"
        );
        for at in [70, 80] {
            assert_eq!(t.record(ms(at), false), None);
        }
        assert_eq!(t.record(ms(90), false), Some(Status::Failing));
        assert_eq!(t.record(ms(100), true), None);
        assert_eq!(t.record(ms(110), true), Some(Status::Passing));
    }

    #[test]
    fn a_probe_that_already_passed_follows_the_interval_and_fails_only_at_the_threshold() {
        let mut t = Tracker::passed(settings(0, 1, 2));
        assert_eq!(t.status(), Status::Passing);
        assert_eq!(t.next_delay(ms(0)), ms(2000), "the interval from the start");
        assert_eq!(t.record(ms(10), false), None);
        assert_eq!(t.record(ms(20), false), Some(Status::Failing));
    }

    #[test]
    fn probing_is_fast_before_the_first_success_then_follows_the_interval() {
        let mut t = Tracker::new(settings(0, 1, 3));
        assert_eq!(t.next_delay(ms(0)), ms(1));
        assert_eq!(t.next_delay(ms(900)), ms(1), "fastest for the first second");
        assert_eq!(
            t.next_delay(ms(1500)),
            ms(6),
            "then slows down with the time waited"
        );
        assert_eq!(
            t.next_delay(ms(300_000)),
            ms(2000),
            "never slower than the interval"
        );
        t.record(ms(600), true);
        assert_eq!(t.next_delay(ms(600)), ms(2000));
        t.record(ms(2600), false);
        assert_eq!(
            t.next_delay(ms(2600)),
            ms(2000),
            "after a success, always the interval"
        );
    }

    #[test]
    fn readiness_follows_the_expression_or_needs_every_probe() {
        use ProbeKind::*;
        let expr = Expr::parse("http || (tcp && log)").expect("valid");
        let only = |passing: &'static [ProbeKind]| {
            move |k: ProbeKind| {
                if passing.contains(&k) {
                    Status::Passing
                } else {
                    Status::Failing
                }
            }
        };
        let kinds = [Http, Tcp, Log];
        assert!(ready(Some(&expr), &kinds, only(&[Http])));
        assert!(!ready(Some(&expr), &kinds, only(&[Tcp])));
        assert!(ready(Some(&expr), &kinds, only(&[Tcp, Log])));
        assert!(!ready(None, &kinds, only(&[Http, Tcp])));
        assert!(ready(None, &kinds, only(&[Http, Tcp, Log])));
        assert!(
            !ready(None, &[], only(&[])),
            "no probe never makes an instance ready"
        );
    }
}

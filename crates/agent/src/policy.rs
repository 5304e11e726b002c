//! The restart policy as pure decisions: what follows an exit, and the backoff delay.

use std::time::Duration;

use orco_spec::{RestartMode, RestartPolicy};

/// What follows an instance's exit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterExit {
    /// Start it again after `delay`; `failures` consecutive failed runs so far.
    Restart {
        /// How long to wait.
        delay: Duration,
        /// Consecutive failed runs, including this one.
        failures: u32,
    },
    /// It failed `failures` times in a row: it is Failed for good (until restarted by hand).
    GiveUp {
        /// Consecutive failed runs.
        failures: u32,
    },
    /// Its policy does not restart it after this exit.
    Done,
}

/// Decides what follows an exit. `failed` is a non-zero exit or a signal; `failures_before`
/// counts the consecutive failed runs before this one; a run that lasted `resetAfter` or more
/// starts the count again. `jitter` is a number in `[0, 1)`.
pub fn after_exit(
    policy: &RestartPolicy,
    failed: bool,
    failures_before: u32,
    uptime: Duration,
    jitter: f64,
) -> AfterExit {
    let before = if uptime >= policy.reset_after.get() {
        0
    } else {
        failures_before
    };
    let failures = if failed {
        before.saturating_add(1)
    } else {
        before
    };
    let restart = match policy.mode {
        RestartMode::Never => false,
        RestartMode::OnFailure => failed,
        RestartMode::Always => true,
    };
    if !restart {
        return AfterExit::Done;
    }
    if failed && policy.max_retries > 0 && failures >= policy.max_retries {
        return AfterExit::GiveUp { failures };
    }
    AfterExit::Restart {
        delay: policy.backoff.delay(failures, jitter),
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orco_spec::{Backoff, Duration as D};

    fn policy(mode: RestartMode, max_retries: u32) -> RestartPolicy {
        RestartPolicy {
            mode,
            max_retries,
            backoff: Backoff {
                min: D::from_secs(1),
                max: D::from_secs(30),
                factor: 2.0,
            },
            reset_after: D::from_secs(10),
        }
    }

    const SHORT: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_grows_by_the_factor_and_stops_at_max() {
        let b = policy(RestartMode::Always, 0).backoff;
        let secs: Vec<f64> = (1..=7).map(|f| b.delay(f, 0.5).as_secs_f64()).collect();
        assert_eq!(secs, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
    }

    #[test]
    fn jitter_spreads_the_delay_but_stays_within_min_and_max() {
        let b = policy(RestartMode::Always, 0).backoff;
        assert_eq!(b.delay(3, 0.0), Duration::from_secs_f64(3.2));
        assert_eq!(b.delay(3, 0.999_999).as_millis(), 4799);
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(1), "never below min");
        assert_eq!(
            b.delay(9, 0.999),
            Duration::from_secs(30),
            "never above max"
        );
    }

    #[test]
    fn a_zero_minimum_restarts_at_once() {
        let b = Backoff {
            min: D::zero(),
            max: D::from_secs(5),
            factor: 2.0,
        };
        assert_eq!(b.delay(1, 0.7), Duration::ZERO);
        assert_eq!(b.delay(10, 0.7), Duration::ZERO);
    }

    #[test]
    fn failures_count_up_and_give_up_at_max_retries() {
        let p = policy(RestartMode::Always, 3);
        assert_eq!(
            after_exit(&p, true, 0, SHORT, 0.5),
            AfterExit::Restart {
                delay: Duration::from_secs(1),
                failures: 1
            }
        );
        assert_eq!(
            after_exit(&p, true, 1, SHORT, 0.5),
            AfterExit::Restart {
                delay: Duration::from_secs(2),
                failures: 2
            }
        );
        assert_eq!(
            after_exit(&p, true, 2, SHORT, 0.5),
            AfterExit::GiveUp { failures: 3 }
        );
    }

    #[test]
    fn zero_max_retries_means_unlimited() {
        let p = policy(RestartMode::Always, 0);
        assert!(matches!(
            after_exit(&p, true, 1000, SHORT, 0.5),
            AfterExit::Restart { failures: 1001, .. }
        ));
    }

    #[test]
    fn a_long_enough_run_resets_the_failure_count() {
        let p = policy(RestartMode::Always, 3);
        let long = Duration::from_secs(10);
        assert_eq!(
            after_exit(&p, true, 2, long, 0.5),
            AfterExit::Restart {
                delay: Duration::from_secs(1),
                failures: 1
            }
        );
    }

    #[test]
    fn modes_decide_which_exits_restart() {
        assert_eq!(
            after_exit(&policy(RestartMode::Never, 0), true, 0, SHORT, 0.5),
            AfterExit::Done
        );
        assert_eq!(
            after_exit(&policy(RestartMode::OnFailure, 0), false, 0, SHORT, 0.5),
            AfterExit::Done
        );
        assert!(matches!(
            after_exit(&policy(RestartMode::OnFailure, 0), true, 0, SHORT, 0.5),
            AfterExit::Restart { .. }
        ));
        assert_eq!(
            after_exit(&policy(RestartMode::Always, 3), false, 2, SHORT, 0.5),
            AfterExit::Restart {
                delay: Duration::from_secs(2),
                failures: 2
            },
            "a clean exit restarts without counting as a failure"
        );
    }
}

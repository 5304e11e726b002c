//! The policies of a service: `restartPolicy` (and its `backoff`, which a task's `retry`
//! shares), `stop` and `update`.

use super::{Cx, join, keys, suggest};
use crate::duration::Duration;
use crate::model::*;
use crate::node::Node;

/// Signals a stop policy may name.
pub const SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGWINCH",
    "SIGPWR", "SIGCONT", "SIGSTOP",
];

impl Cx<'_> {
    pub(super) fn restart_policy(&mut self, n: &Node, path: &str) -> Option<RestartPolicy> {
        let f = self.fields(n, path, "`restartPolicy`", keys::RESTART)?;
        let mode = match f.get("mode") {
            Some(v) => self.word(
                v,
                &join(path, "mode"),
                &[
                    ("always", RestartMode::Always),
                    ("on-failure", RestartMode::OnFailure),
                    ("never", RestartMode::Never),
                ],
            ),
            None => Some(RestartMode::Always),
        };
        let max_retries = match f.get("maxRetries") {
            Some(v) => self.u32(v, &join(path, "maxRetries"), "maxRetries"),
            None => Some(5),
        };
        let backoff = match f.get("backoff") {
            Some(v) => self.backoff(v, &join(path, "backoff")),
            None => Some(Backoff::default()),
        };
        let reset_after = match f.get("resetAfter") {
            Some(v) => self.duration(v, &join(path, "resetAfter")),
            None => Some(Duration::from_secs(10)),
        };
        Some(RestartPolicy {
            mode: mode?,
            max_retries: max_retries?,
            backoff: backoff?,
            reset_after: reset_after?,
        })
    }

    pub(super) fn backoff(&mut self, n: &Node, path: &str) -> Option<Backoff> {
        let f = self.fields(n, path, "`backoff`", keys::BACKOFF)?;
        let d = Backoff::default();
        let min = f
            .get("min")
            .map_or(Some(d.min), |v| self.duration(v, &join(path, "min")));
        let max = f
            .get("max")
            .map_or(Some(d.max), |v| self.duration(v, &join(path, "max")));
        let factor = f
            .get("factor")
            .map_or(Some(d.factor), |v| self.float(v, &join(path, "factor")));
        if let Some(fac) = factor
            && fac < 1.0
        {
            let v = f.get("factor").unwrap_or(n);
            self.error(
                v,
                &join(path, "factor"),
                format!("backoff factor {fac} is less than 1.0: delays would shrink"),
                Some("use 1.0 for a constant delay, 2.0 to double it".into()),
            );
            return None;
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            let v = f.get("max").or(f.get("min")).unwrap_or(n);
            self.error(
                v,
                &join(path, "max"),
                format!("backoff max ({hi}) is less than min ({lo})"),
                Some("raise `max` or lower `min`".into()),
            );
            return None;
        }
        Some(Backoff {
            min: min?,
            max: max?,
            factor: factor?,
        })
    }

    pub(super) fn stop(&mut self, n: &Node, path: &str) -> Option<StopPolicy> {
        let f = self.fields(n, path, "`stop`", keys::STOP)?;
        let signal = match f.get("signal") {
            Some(v) => {
                let raw = self.nonempty_string(v, &join(path, "signal"))?;
                let upper = raw.to_ascii_uppercase();
                let canonical = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                if !SIGNALS.contains(&canonical.as_str()) {
                    let hint = suggest(&canonical, SIGNALS.iter().copied())
                        .or_else(|| Some(format!("one of {}", SIGNALS.join(", "))));
                    self.error(
                        v,
                        &join(path, "signal"),
                        format!("`{raw}` is not a signal orco can send"),
                        hint,
                    );
                    return None;
                }
                canonical
            }
            None => "SIGTERM".into(),
        };
        let timeout = f.get("timeout").map_or(Some(Duration::from_secs(10)), |v| {
            self.duration(v, &join(path, "timeout"))
        });
        Some(StopPolicy {
            signal,
            timeout: timeout?,
        })
    }

    pub(super) fn update(&mut self, n: &Node, path: &str) -> Option<UpdatePolicy> {
        let f = self.fields(n, path, "`update`", keys::UPDATE)?;
        let strategy = f
            .get("strategy")
            .map_or(Some(UpdateStrategy::Rolling), |v| {
                self.word(
                    v,
                    &join(path, "strategy"),
                    &[
                        ("rolling", UpdateStrategy::Rolling),
                        ("recreate", UpdateStrategy::Recreate),
                    ],
                )
            });
        let max_unavailable = f.get("maxUnavailable").map_or(Some(0), |v| {
            self.u32(v, &join(path, "maxUnavailable"), "maxUnavailable")
        });
        let max_surge = f.get("maxSurge").map_or(Some(1), |v| {
            self.u32(v, &join(path, "maxSurge"), "maxSurge")
        });
        if strategy == Some(UpdateStrategy::Rolling)
            && max_unavailable == Some(0)
            && max_surge == Some(0)
        {
            let at = f.get("maxSurge").or(f.get("maxUnavailable")).unwrap_or(n);
            self.error(at, path, "`maxUnavailable` and `maxSurge` are both 0: a rolling update could never make progress", Some("allow one extra instance (`maxSurge: 1`) or one unavailable (`maxUnavailable: 1`)".into()));
            return None;
        }
        Some(UpdatePolicy {
            strategy: strategy?,
            max_unavailable: max_unavailable?,
            max_surge: max_surge?,
        })
    }
}

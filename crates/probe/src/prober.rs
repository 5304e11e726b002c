//! Runs an instance's probes and reports when its readiness or a probe's status changes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use orco_spec::{Expr, Health, LogSource, ProbeKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::check::{self, HttpCheck, Outcome};
use crate::decision::{self, Settings, Status, Tracker};
use crate::error::ProbeError;
use crate::log::LogMatcher;

/// One periodic probe.
#[derive(Debug, Clone)]
enum Periodic {
    Http(HttpCheck),
    Tcp {
        host: String,
        port: u16,
        /// Through the engine's port forwarder: see [`check::tcp_held`].
        held: bool,
    },
    Cmd(Vec<String>, Option<Exec>, Option<Arc<check::Context>>),
}

/// How a `cmd` probe runs when not as a local process (inside a container): the command's
/// exit code, or why it could not run.
#[derive(Clone)]
pub struct Exec(
    #[allow(clippy::type_complexity)]
    pub  Arc<
        dyn Fn(Vec<String>) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send>>
            + Send
            + Sync,
    >,
);

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exec")
    }
}

/// Runs `argv` through `exec` within `timeout`.
async fn exec_cmd(exec: &Exec, argv: &[String], timeout: Duration) -> Outcome {
    let what = format!("cmd `{}` in the container", argv.join(" "));
    match tokio::time::timeout(timeout, (exec.0)(argv.to_vec())).await {
        Ok(Ok(0)) => Outcome::pass(format!("{what} exited 0")),
        Ok(Ok(code)) => Outcome::fail(format!("{what} failed: exit {code}")),
        Ok(Err(e)) => Outcome::fail(format!("{what}: {e}")),
        Err(_) => Outcome::fail(format!("{what}: no exit within {timeout:?}")),
    }
}

impl Periodic {
    async fn run(&self, timeout: Duration) -> Outcome {
        let started = Instant::now();
        let (kind, outcome) = match self {
            Periodic::Http(c) => ("http", c.run(timeout).await),
            Periodic::Tcp {
                host,
                port,
                held: false,
            } => ("tcp", check::tcp(host, *port, timeout).await),
            Periodic::Tcp {
                host,
                port,
                held: true,
            } => ("tcp", check::tcp_held(host, *port, timeout).await),
            Periodic::Cmd(argv, None, context) => {
                ("cmd", check::cmd(argv, context.as_deref(), timeout).await)
            }
            Periodic::Cmd(argv, Some(exec), _) => ("cmd", exec_cmd(exec, argv, timeout).await),
        };
        crate::metrics::observe(kind, started.elapsed().as_secs_f64());
        outcome
    }
}

/// One probe's latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeState {
    pub status: Status,
    /// The latest attempt, in words (`tcp connect 127.0.0.1:5432 refused`).
    pub detail: String,
}

/// A change in an instance's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// The expression (or every probe) passes.
    pub ready: bool,
    /// Time since probing started.
    pub at: Duration,
    /// Every probe's state.
    pub probes: BTreeMap<ProbeKind, ProbeState>,
}

impl HealthReport {
    /// Why the instance is not ready, e.g. `probe failing: tcp connect 127.0.0.1:5432 refused`.
    pub fn why_not_ready(&self) -> Option<String> {
        if self.ready {
            return None;
        }
        let failing: Vec<&str> = self
            .probes
            .values()
            .filter(|p| p.status != Status::Passing)
            .map(|p| p.detail.as_str())
            .collect();
        Some(format!("probe failing: {}", failing.join("; ")))
    }
}

/// An instance's probes, checked and ready to run.
#[derive(Debug, Clone)]
pub struct Prober {
    periodic: Vec<(ProbeKind, Periodic, Settings)>,
    log: Option<(LogMatcher, Settings)>,
    expression: Option<Expr>,
    kinds: Vec<ProbeKind>,
    timeout: Duration,
}

impl Prober {
    /// Runs the `cmd` probe through `exec` (inside the instance's container) instead of as a
    /// local process.
    pub fn with_exec(mut self, exec: Exec) -> Prober {
        for (_, periodic, _) in &mut self.periodic {
            if let Periodic::Cmd(_, slot, _) = periodic {
                *slot = Some(exec.clone());
            }
        }
        self
    }

    /// Runs the `cmd` probe (as a local process) in `context`: the instance's working
    /// directory and environment, as the instance itself runs.
    pub fn in_context(mut self, context: check::Context) -> Prober {
        let context = Arc::new(context);
        for (_, periodic, _) in &mut self.periodic {
            if let Periodic::Cmd(_, _, slot) = periodic {
                *slot = Some(context.clone());
            }
        }
        self
    }

    /// For a container's published ports: a `tcp` probe passes only when the connection
    /// stays open a moment (see [`check::tcp_held`]), since the engine's port forwarder
    /// accepts connections before the container listens.
    pub fn through_port_forwarder(mut self) -> Prober {
        for (_, periodic, _) in &mut self.periodic {
            if let Periodic::Tcp { held, .. } = periodic {
                *held = true;
            }
        }
        self
    }

    /// Checks `health` (urls, patterns, commands) without running anything.
    pub fn new(health: &Health) -> Result<Prober, ProbeError> {
        let mut periodic = Vec::new();
        if let Some(http) = &health.http {
            let c = HttpCheck::new(&http.url, &http.expect_status, &http.headers)?;
            periodic.push((
                ProbeKind::Http,
                Periodic::Http(c),
                Settings::of(health, ProbeKind::Http),
            ));
        }
        if let Some(tcp) = &health.tcp {
            let p = Periodic::Tcp {
                host: tcp.host.clone(),
                port: tcp.port,
                held: false,
            };
            periodic.push((ProbeKind::Tcp, p, Settings::of(health, ProbeKind::Tcp)));
        }
        if let Some(cmd) = &health.cmd {
            let argv = cmd.command.argv();
            if argv.is_empty() {
                return Err(ProbeError::EmptyCommand);
            }
            periodic.push((
                ProbeKind::Cmd,
                Periodic::Cmd(argv, None, None),
                Settings::of(health, ProbeKind::Cmd),
            ));
        }
        let log = match &health.log {
            Some(log) => Some((
                LogMatcher::new(&log.pattern, &log.sources)?,
                Settings::of(health, ProbeKind::Log),
            )),
            None => None,
        };
        Ok(Prober {
            periodic,
            log,
            expression: health.expression.clone(),
            kinds: health.probes(),
            timeout: health.timeout.get(),
        })
    }

    /// Starts probing now (call it when the instance starts). Feed the instance's raw
    /// output lines to `lines` (the log probe closes it once it passed: ignore send errors);
    /// reports arrive on the returned channel whenever readiness or a probe's state changes.
    /// Dropping the receiver stops every probe.
    pub fn start(
        self,
        lines: mpsc::Receiver<(LogSource, Vec<u8>)>,
    ) -> mpsc::Receiver<HealthReport> {
        self.run(lines, false)
    }

    /// Like [`Prober::start`], for an instance that was ready before orco restarted and
    /// adopted it: every probe starts as passed (the log probe's line is in the past), so
    /// the instance stays ready unless a probe fails `failureThreshold` times.
    pub fn start_passed(
        self,
        lines: mpsc::Receiver<(LogSource, Vec<u8>)>,
    ) -> mpsc::Receiver<HealthReport> {
        self.run(lines, true)
    }

    fn run(
        self,
        lines: mpsc::Receiver<(LogSource, Vec<u8>)>,
        passed: bool,
    ) -> mpsc::Receiver<HealthReport> {
        let start = Instant::now();
        let (results_tx, mut results_rx) = mpsc::channel::<(ProbeKind, Status, String)>(64);
        for (kind, probe, settings) in self.periodic {
            let tx = results_tx.clone();
            let timeout = self.timeout;
            tokio::spawn(async move {
                let mut tracker = if passed {
                    Tracker::passed(settings)
                } else {
                    Tracker::new(settings)
                };
                if passed {
                    tokio::time::sleep(tracker.next_delay(start.elapsed())).await;
                }
                loop {
                    let outcome = probe.run(timeout).await;
                    let at = start.elapsed();
                    tracker.record(at, outcome.passed);
                    if tx
                        .send((kind, tracker.status(), outcome.detail))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(tracker.next_delay(start.elapsed())).await;
                }
            });
        }
        if let Some((matcher, settings)) = self.log {
            let tx = results_tx.clone();
            if passed {
                tokio::spawn(async move {
                    let detail = format!(
                        "log probe: `{}` matched before orco restarted",
                        matcher.pattern()
                    );
                    drop(lines);
                    if tx
                        .send((ProbeKind::Log, Status::Passing, detail))
                        .await
                        .is_ok()
                    {
                        tx.closed().await;
                    }
                });
            } else {
                tokio::spawn(watch_log(matcher, settings, lines, tx, start));
            }
        }
        drop(results_tx);
        let (report_tx, report_rx) = mpsc::channel(16);
        let expression = self.expression;
        let kinds = self.kinds;
        tokio::spawn(async move {
            let mut probes: BTreeMap<ProbeKind, ProbeState> = kinds
                .iter()
                .map(|&k| {
                    let (status, detail) = if passed {
                        (
                            Status::Passing,
                            format!("{} probe passed before orco restarted", k.as_str()),
                        )
                    } else {
                        (
                            Status::Unknown,
                            format!("{} probe has not run yet", k.as_str()),
                        )
                    };
                    (k, ProbeState { status, detail })
                })
                .collect();
            while let Some((kind, status, detail)) = results_rx.recv().await {
                let state = ProbeState { status, detail };
                if probes.get(&kind) == Some(&state) {
                    continue;
                }
                probes.insert(kind, state);
                let status_of = |k: ProbeKind| probes.get(&k).map_or(Status::Unknown, |p| p.status);
                let ready = decision::ready(expression.as_ref(), &kinds, status_of);
                let report = HealthReport {
                    ready,
                    at: start.elapsed(),
                    probes: probes.clone(),
                };
                if report_tx.send(report).await.is_err() {
                    return;
                }
            }
        });
        report_rx
    }
}

async fn watch_log(
    matcher: LogMatcher,
    settings: Settings,
    mut lines: mpsc::Receiver<(LogSource, Vec<u8>)>,
    tx: mpsc::Sender<(ProbeKind, Status, String)>,
    start: Instant,
) {
    let mut tracker = Tracker::new(settings);
    let waiting = format!("log probe: no line matched `{}` yet", matcher.pattern());
    if tx
        .send((ProbeKind::Log, Status::Unknown, waiting))
        .await
        .is_err()
    {
        return;
    }
    while let Some((source, line)) = lines.recv().await {
        if matcher.matches(source, &line) {
            tracker.record(start.elapsed(), true);
            if tracker.status() == Status::Passing {
                let detail = format!("log probe: matched `{}`", String::from_utf8_lossy(&line));
                let _ = tx.send((ProbeKind::Log, Status::Passing, detail)).await;
                // A log probe stays passed; keep the task (and its sender) alive so
                // readiness is not lost, without holding the lines channel.
                drop(lines);
                tx.closed().await;
                return;
            }
        }
    }
}

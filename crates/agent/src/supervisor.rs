//! One supervisor per instance: the only owner of its process, so that concurrent commands
//! (restart, stop, scale) are serialized and can never start it twice or wedge it.
//!
//! A supervisor is a task with a mailbox. It starts the instance when its assignment says
//! run, restarts it per the restart policy, runs its probes, stops it through its stop policy,
//! and reports every change as an [`Event`]. It never waits for its events to be stored.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orco_probe::{HealthReport, Prober};
use orco_reconciler::{Assignment, Desired};
use orco_runtime::{InstanceInfo, Launch, Runtime, Started};
use orco_spec::{LogSource, OnFailure};
use orco_state::{Event, EventKind, ExitStatus, InstanceId, Phase};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::front::{self, Front};
use crate::policy::{self, AfterExit};

/// The longest a stop waits for a proxied instance's open connections to close before it
/// signals the instance (bounded by the stop timeout too); the drain itself goes on for the
/// whole stop timeout, so a server that closes its connections gracefully on the signal
/// loses none.
const DRAIN_BEFORE_SIGNAL: Duration = Duration::from_secs(1);

/// How the reason of an instance that the restart policy gave up on begins: the record that
/// it stays failed until restarted by hand.
const GAVE_UP: &str = "gave up after";

/// What a supervisor is told.
#[derive(Debug)]
pub(crate) enum Command {
    /// The instance's current assignment (possibly unchanged), and the proxy in front of
    /// its service's published port when it is proxied.
    Assign(Box<Assignment>, Option<Arc<Front>>),
    /// The instance is no longer assigned: stop it, forget it, end.
    Remove,
}

/// Lines for the log probe of the current run, when it has one.
pub(crate) type Lines = mpsc::Receiver<(LogSource, Vec<u8>)>;

/// Everything a supervisor owns.
pub(crate) struct Supervisor<R: Runtime> {
    pub(crate) id: InstanceId,
    pub(crate) name: String,
    pub(crate) runtime: Arc<R>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) assignment: Assignment,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) exits: mpsc::UnboundedReceiver<(i32, orco_runtime::ExitStatus)>,
    pub(crate) lines: Lines,
    /// What the runtime already knew of this instance when the agent started (adoption).
    pub(crate) adopted: Option<InstanceInfo>,
    /// The proxy in front of the service's published port, when it is proxied.
    pub(crate) front: Option<Arc<Front>>,
    /// The API address the instance gets as `ORCO_HOST`.
    pub(crate) api_host: Option<String>,
}

struct Run {
    pid: i32,
    /// The instance's own port for this run (`PORT`), if it has one.
    port: Option<u16>,
    started: Instant,
    health: Option<mpsc::Receiver<HealthReport>>,
    probe_lines: Option<mpsc::Sender<(LogSource, Vec<u8>)>>,
    ready: bool,
    reason: Option<String>,
}

struct Life {
    run: Option<Run>,
    /// Runs started so far (the next start's attempt number).
    attempts: u32,
    /// Consecutive failed runs.
    failures: u32,
    /// When the pending restart is due.
    backoff: Option<Instant>,
    /// When the failure count resets, if the current run lasts.
    reset_at: Option<Instant>,
    /// The policy does not restart it (done, or gave up) until told to.
    finished: bool,
    restart_requests: u32,
}

impl<R: Runtime + 'static> Supervisor<R> {
    pub(crate) async fn run(mut self) {
        let recorded = self.assignment.recorded.clone();
        let mut life = Life {
            run: None,
            // The restart policy goes on where the state has it: a restarted agent never
            // starts counting again.
            attempts: if recorded.started_at.is_some() {
                recorded.restarts.total.saturating_add(1)
            } else {
                0
            },
            failures: recorded.restarts.failures,
            backoff: None,
            reset_at: None,
            finished: false,
            restart_requests: self.assignment.restart_requests,
        };
        // A run whose end is on record already is history, not something to adopt: acting
        // on its exit again would restart what gave up, or fail what was stopped.
        let adopted = self
            .adopted
            .take()
            .filter(|i| i.exit.is_none() || !recorded.holds_end_of(i.pid, i.started_at_unix_ms));
        match adopted {
            Some(info) => self.adopt(&mut life, info).await,
            None => self.resume(&mut life).await,
        }
        loop {
            if self.assignment.desired == Desired::Run
                && life.run.is_none()
                && !life.finished
                && life.backoff.is_none()
            {
                self.start(&mut life).await;
                continue;
            }
            let health = async {
                match life.run.as_mut().and_then(|r| r.health.as_mut()) {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let backoff = sleep_until(life.backoff);
            let reset = sleep_until(life.reset_at);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Assign(a, front)) => self.reassign(&mut life, *a, front).await,
                    Some(Command::Remove) => {
                        self.stop(&mut life, "removed").await;
                        let _ = self.runtime.forget(&self.name).await;
                        return;
                    }
                    // The agent is gone (the daemon stops): the instance keeps running for
                    // the next agent to adopt.
                    None => return,
                },
                Some((pid, status)) = self.exits.recv() => {
                    if life.run.as_ref().is_some_and(|r| r.pid == pid) {
                        self.exited(&mut life, status.into_state()).await;
                    }
                }
                report = health => match report {
                    Some(report) => self.health(&mut life, report).await,
                    None => {
                        if let Some(run) = life.run.as_mut() {
                            run.health = None;
                        }
                    }
                },
                Some(line) = self.lines.recv() => {
                    if let Some(tx) = life.run.as_ref().and_then(|r| r.probe_lines.as_ref()) {
                        // The log probe closes its channel once it passed.
                        let _ = tx.try_send(line);
                    }
                }
                () = backoff => life.backoff = None,
                () = reset => {
                    life.reset_at = None;
                    if life.failures > 0 {
                        life.failures = 0;
                        self.emit(EventKind::InstanceFailuresReset { instance: self.id.clone() }).await;
                    }
                }
            }
        }
    }

    async fn emit(&self, kind: EventKind) {
        // The control loop outlives supervisors; if it is gone, there is nobody to tell.
        let _ = self.events.send(Event::new(Timestamp::now(), kind)).await;
    }

    /// Takes up an instance that the runtime does not run (or whose last run's end is on
    /// record) where the state left it: a pending backoff goes on until it is due, an
    /// instance that gave up or is done stays so, and an exit whose consequence never made
    /// it to the record (the daemon died in between) gets it now, once.
    async fn resume(&mut self, life: &mut Life) {
        let recorded = &self.assignment.recorded;
        if self.assignment.desired != Desired::Run || recorded.started_at.is_none() {
            return;
        }
        match recorded.phase {
            Phase::Failed | Phase::Succeeded | Phase::Stopped => {}
            // Its process was lost with the runtime: it starts again.
            Phase::Pending | Phase::Starting | Phase::Running { .. } | Phase::Stopping => return,
        }
        if let Some(until) = recorded.restarts.backoff_until {
            let left = until.duration_since(Timestamp::now());
            let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
            life.backoff = Some(Instant::now() + left);
            return;
        }
        if recorded.phase == Phase::Stopped {
            // Stopped on purpose, and now wanted running (a start or restart request).
            return;
        }
        if recorded
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(GAVE_UP))
        {
            life.finished = true;
            return;
        }
        let failed = recorded.phase == Phase::Failed;
        let why = match self.assignment.recorded.reason.clone() {
            Some(reason) => reason,
            None if failed => "it failed".to_string(),
            None => "it exited".to_string(),
        };
        self.decide(life, failed, Duration::ZERO, &why).await;
    }

    /// Takes over an instance that was running (or ended) before this agent started.
    async fn adopt(&mut self, life: &mut Life, info: InstanceInfo) {
        life.attempts = life.attempts.max(1);
        let pid = u32::try_from(info.pid).ok();
        let seen = self.assignment.last_seen.filter(|s| Some(s.pid) == pid);
        let recorded = &self.assignment.recorded;
        let known = recorded.pid.is_some() && recorded.pid == pid;
        // Same process, no restart: the state learns (again) which pid runs the instance,
        // unless it knows already.
        if seen.is_none() && !(info.exit.is_some() && known) {
            self.emit(EventKind::InstanceStarted {
                instance: self.id.clone(),
                pid,
                container: info.container.clone(),
            })
            .await;
        }
        match info.exit {
            None => {
                let was_ready = seen.is_some_and(|s| s.ready);
                let port = self.assignment.port;
                if let (Some(front), Some(port)) = (&self.front, port) {
                    front.add(&self.name, port, was_ready);
                }
                let mut run = Run {
                    pid: info.pid,
                    port,
                    started: Instant::now(),
                    health: None,
                    probe_lines: None,
                    ready: was_ready,
                    reason: None,
                };
                if was_ready {
                    self.resume_probes(&mut run);
                } else {
                    self.start_probes(&mut run).await;
                }
                life.run = Some(run);
                life.reset_at =
                    Some(Instant::now() + self.assignment.service.restart_policy.reset_after.get());
            }
            Some(exit) if self.assignment.recorded.phase == Phase::Stopping && known => {
                // It was being stopped on purpose: its end is the stop's, not a failure for
                // the restart policy.
                self.emit(EventKind::InstanceExited {
                    instance: self.id.clone(),
                    status: exit.status.into_state(),
                })
                .await;
            }
            Some(exit) => {
                let uptime = exit.at_unix_ms.saturating_sub(info.started_at_unix_ms);
                let started = Instant::now()
                    .checked_sub(Duration::from_millis(uptime))
                    .unwrap_or_else(Instant::now);
                life.run = Some(Run {
                    pid: info.pid,
                    port: self.assignment.port,
                    started,
                    health: None,
                    probe_lines: None,
                    ready: false,
                    reason: None,
                });
                self.exited(life, exit.status.into_state()).await;
            }
        }
    }

    async fn reassign(&mut self, life: &mut Life, next: Assignment, front: Option<Arc<Front>>) {
        // The restart rule is the state's: a new revision of the instance's spec
        // (`InstanceRevised`), never a difference the node finds itself.
        let changed = next.revision != self.assignment.revision;
        let restart = next.restart_requests > life.restart_requests;
        life.restart_requests = life.restart_requests.max(next.restart_requests);
        let desired = next.desired.clone();
        self.assignment = next;
        match desired {
            Desired::Stop { reason } => {
                life.backoff = None;
                life.finished = false;
                self.stop(life, &reason).await;
                self.front = front;
            }
            Desired::Run if changed || restart => {
                let reason = if changed {
                    "its spec changed"
                } else {
                    "restart requested"
                };
                self.stop(life, reason).await;
                self.front = front;
                life.backoff = None;
                life.finished = false;
                life.failures = 0;
            }
            Desired::Run => {
                let same = match (&self.front, &front) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                };
                if !same
                    && let (Some(new), Some(run)) = (&front, life.run.as_ref())
                    && let Some(port) = run.port
                {
                    new.add(&self.name, port, run.ready);
                }
                self.front = front;
            }
        }
    }

    async fn start(&self, life: &mut Life) {
        let attempt = life.attempts;
        life.attempts = life.attempts.saturating_add(1);
        let port = self.port();
        self.emit(EventKind::InstanceStarting {
            instance: self.id.clone(),
            attempt,
            port: port.as_ref().ok().copied().flatten(),
        })
        .await;
        let started = match port {
            Ok(port) => match crate::launch::launch(
                &self.id,
                &self.assignment,
                port,
                self.api_host.as_deref(),
            ) {
                Ok(launch) => self.spawn(&launch).await.map(|started| (started, port)),
                Err(reason) => Err(reason),
            },
            Err(reason) => Err(reason),
        };
        match started {
            Ok((Started { pid, container }, port)) => {
                if let (Some(front), Some(port)) = (&self.front, port) {
                    front.add(&self.name, port, false);
                }
                self.emit(EventKind::InstanceStarted {
                    instance: self.id.clone(),
                    pid: u32::try_from(pid).ok(),
                    container,
                })
                .await;
                let mut run = Run {
                    pid,
                    port,
                    started: Instant::now(),
                    health: None,
                    probe_lines: None,
                    ready: false,
                    reason: None,
                };
                self.start_probes(&mut run).await;
                life.run = Some(run);
                let reset_after = self.assignment.service.restart_policy.reset_after.get();
                life.reset_at = Some(Instant::now() + reset_after);
            }
            Err(reason) => {
                self.emit(EventKind::InstanceFailed {
                    instance: self.id.clone(),
                    reason: reason.clone(),
                })
                .await;
                self.decide(life, true, Duration::ZERO, &reason).await;
            }
        }
    }

    /// The port of the next run: a free loopback port behind the proxy, else the service's
    /// first published TCP port (the instance listens on it itself), else none.
    fn port(&self) -> Result<Option<u16>, String> {
        if self.front.is_some() {
            return front::free_port()
                .map(Some)
                .map_err(|e| format!("cannot find a free loopback port for the instance: {e}"));
        }
        Ok(self
            .assignment
            .service
            .ports
            .iter()
            .find(|p| p.protocol == orco_spec::Protocol::Tcp)
            .map(|p| p.published))
    }

    /// The service's health with its probes aimed at this run's own port.
    fn health_of(&self, run: &Run) -> Option<orco_spec::Health> {
        let health = self.assignment.service.health.as_ref()?;
        Some(match run.port {
            Some(port) => {
                let published = self.front.as_ref().map(|f| f.addr().port());
                front::retarget(health, published, port)
            }
            None => health.clone(),
        })
    }

    async fn spawn(&self, launch: &Launch) -> Result<Started, String> {
        self.runtime
            .start(&self.name, launch)
            .await
            .map_err(|e| e.to_string())
    }

    /// Starts the probes of a run; without health, the instance is ready once it runs.
    async fn start_probes(&self, run: &mut Run) {
        let Some(health) = self.health_of(run) else {
            run.ready = true;
            self.set_ready(true);
            self.emit(EventKind::InstanceReady {
                instance: self.id.clone(),
            })
            .await;
            return;
        };
        let health = &health;
        match Prober::new(health).map(|p| self.placed(p, run.port)) {
            Ok(prober) => {
                let (tx, rx) = mpsc::channel(1024);
                run.health = Some(prober.start(rx));
                if health.log.is_some() {
                    run.probe_lines = Some(tx);
                }
            }
            Err(e) => {
                let reason = format!("cannot probe: {e}");
                run.reason = Some(reason.clone());
                self.emit(EventKind::InstanceUnready {
                    instance: self.id.clone(),
                    reason,
                })
                .await;
            }
        }
    }

    /// Where the `cmd` probe runs: inside a docker service's container; for a process, in
    /// the instance's working directory with its environment (as the instance runs).
    fn placed(&self, prober: Prober, port: Option<u16>) -> Prober {
        if self.assignment.service.runtime != orco_spec::RuntimeKind::Docker {
            return match crate::launch::launch(
                &self.id,
                &self.assignment,
                port,
                self.api_host.as_deref(),
            ) {
                Ok(launch) => prober.in_context(orco_probe::Context {
                    workdir: launch.workdir,
                    env: Some(launch.env),
                }),
                Err(_) => prober,
            };
        }
        let runtime = self.runtime.clone();
        let name = self.name.clone();
        let prober = prober.through_port_forwarder();
        prober.with_exec(orco_probe::Exec(Arc::new(move |argv: Vec<String>| {
            let runtime = runtime.clone();
            let name = name.clone();
            Box::pin(async move {
                match runtime.exec(&name, &argv).await {
                    Some(Ok(code)) => Ok(code),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err("the runtime cannot run commands inside this instance".into()),
                }
            })
        })))
    }

    /// Probes of an instance adopted while ready: they start as passed.
    fn resume_probes(&self, run: &mut Run) {
        let Some(health) = self.health_of(run) else {
            return;
        };
        if let Ok(prober) = Prober::new(&health).map(|p| self.placed(p, run.port)) {
            let (_, rx) = mpsc::channel(1);
            run.health = Some(prober.start_passed(rx));
        }
    }

    async fn health(&self, life: &mut Life, report: HealthReport) {
        let Some(run) = life.run.as_mut() else { return };
        if report.ready {
            run.reason = None;
            if !run.ready {
                run.ready = true;
                self.set_ready(true);
                self.emit(EventKind::InstanceReady {
                    instance: self.id.clone(),
                })
                .await;
            }
            return;
        }
        let reason = report.why_not_ready().unwrap_or_else(|| "not ready".into());
        let was_ready = run.ready;
        run.ready = false;
        self.set_ready(false);
        if was_ready || run.reason.as_deref() != Some(reason.as_str()) {
            run.reason = Some(reason.clone());
            self.emit(EventKind::InstanceUnready {
                instance: self.id.clone(),
                reason: reason.clone(),
            })
            .await;
        }
        let liveness = self
            .assignment
            .service
            .health
            .as_ref()
            .is_some_and(|h| h.on_failure == OnFailure::Restart);
        if was_ready && liveness {
            let uptime = run.started.elapsed();
            let why = format!("liveness failed: {reason}");
            self.stop(life, &why).await;
            self.decide(life, true, uptime, &why).await;
        }
    }

    /// The current run ended on its own.
    async fn exited(&self, life: &mut Life, status: ExitStatus) {
        let Some(run) = life.run.take() else { return };
        life.reset_at = None;
        self.set_ready(false);
        self.emit(EventKind::InstanceExited {
            instance: self.id.clone(),
            status,
        })
        .await;
        let why = match status {
            ExitStatus::Code(c) => format!("exit code {c}"),
            ExitStatus::Signal(s) => format!("killed by signal {s}"),
        };
        self.decide(life, !status.success(), run.started.elapsed(), &why)
            .await;
    }

    /// Applies the restart policy after a run that ended (or could not start).
    async fn decide(&self, life: &mut Life, failed: bool, uptime: Duration, why: &str) {
        let policy = &self.assignment.service.restart_policy;
        match policy::after_exit(policy, failed, life.failures, uptime, rand::random::<f64>()) {
            AfterExit::Restart { delay, failures } => {
                life.failures = failures;
                let until = Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .unwrap_or_else(|_| Timestamp::now());
                self.emit(EventKind::InstanceBackoff {
                    instance: self.id.clone(),
                    failures,
                    delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    until,
                })
                .await;
                life.backoff = Some(Instant::now() + delay);
            }
            AfterExit::GiveUp { failures } => {
                life.failures = failures;
                life.finished = true;
                let reason = format!("{GAVE_UP} {failures} consecutive failed runs (last: {why})");
                self.emit(EventKind::InstanceFailed {
                    instance: self.id.clone(),
                    reason,
                })
                .await;
            }
            AfterExit::Done => life.finished = true,
        }
    }

    /// Stops the current run through the stop policy (signal, then SIGKILL after the
    /// timeout); cancels a pending restart.
    async fn stop(&self, life: &mut Life, reason: &str) {
        life.reset_at = None;
        let Some(run) = life.run.take() else {
            if life.backoff.take().is_some() {
                self.emit(EventKind::InstanceStopped {
                    instance: self.id.clone(),
                })
                .await;
            }
            return;
        };
        drop(run);
        self.emit(EventKind::InstanceStopping {
            instance: self.id.clone(),
            reason: reason.to_string(),
        })
        .await;
        let stop = &self.assignment.service.stop;
        if let Some(drain) = self
            .front
            .as_ref()
            .and_then(|f| f.drain(&self.name, stop.timeout.get()))
        {
            // No new connections from now on; the open ones get a moment to finish before
            // the signal, and the rest of the stop timeout after it.
            let wait = DRAIN_BEFORE_SIGNAL.min(stop.timeout.get());
            let _ = tokio::time::timeout(wait, drain.wait()).await;
        }
        let signal =
            orco_runtime::parse_signal(&stop.signal).unwrap_or(orco_runtime::Signal::SIGTERM);
        match self
            .runtime
            .stop(&self.name, signal, stop.timeout.get())
            .await
        {
            Ok(stopped) => {
                let status = stopped.status.into_state();
                self.emit(EventKind::InstanceExited {
                    instance: self.id.clone(),
                    status,
                })
                .await;
            }
            Err(e) => {
                let reason = format!("stop failed: {e}");
                self.emit(EventKind::InstanceFailed {
                    instance: self.id.clone(),
                    reason,
                })
                .await;
            }
        }
    }
}

impl<R: Runtime> Supervisor<R> {
    /// Tells the proxy (when the service is proxied) whether to send this instance new
    /// connections.
    fn set_ready(&self, ready: bool) {
        if let Some(front) = &self.front {
            front.set_ready(&self.name, ready);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The runtime's exit status in the state's terms.
pub(crate) trait IntoState {
    fn into_state(self) -> ExitStatus;
}

impl IntoState for orco_runtime::ExitStatus {
    fn into_state(self) -> ExitStatus {
        match self {
            orco_runtime::ExitStatus::Code(c) => ExitStatus::Code(c),
            orco_runtime::ExitStatus::Signal(s) => ExitStatus::Signal(s),
        }
    }
}

//! An instance's lifecycle as a pure state machine: the supervisor's decisions, with no IO
//! and no clock.
//!
//! [`Lifecycle::on`] takes an [`Input`] (an exit, a probe result, a timer that fired, a new
//! assignment, a stop or removal, the answer to an action) at an explicit [`Now`] and
//! answers with a [`Step`]: the named [`Transition`]s it went through and the [`Action`]s
//! the supervisor's IO shell carries out (spawn, signal, drain, arm or cancel a timer,
//! report an event, start probes, tell the proxy). The shell answers [`Action::Spawn`] and
//! [`Action::Stop`] with [`Input::Started`]/[`Input::StartFailed`] and [`Input::Stopped`]
//! before it feeds any other input, so [`State::Starting`] and [`State::Stopping`] never
//! see one.
//!
//! ```text
//!            assigned run                 started                exit / liveness failed
//!   Idle ───────────────────▶ Starting ───────────▶ Running ────────────────────────────┐
//!    ▲  ▲                        │ start failed       │ stop / replace / remove          │
//!    │  │ backoff timer          ▼                    ▼                                  ▼
//!    │  └──────────────── BackingOff ◀─────────── (restart policy) ◀── Stopping ◀── (decide)
//!    │                           │                    │ done / gave up
//!    └── stop, new revision ─────┴──── Finished ◀─────┘
//! ```

use std::time::Duration;

use jiff::Timestamp;
use orco_interface::{Assignment, Desired};
use orco_spec::OnFailure;
use orco_state::{EventKind, ExitStatus, InstanceId, Phase};
use tokio::time::Instant;

use crate::policy::{self, AfterExit};

/// The longest a stop waits for a proxied instance's open connections to close before it
/// signals the instance (bounded by the stop timeout too); the drain itself goes on for the
/// whole stop timeout, so a server that closes its connections gracefully on the signal
/// loses none.
pub(crate) const DRAIN_BEFORE_SIGNAL: Duration = Duration::from_secs(1);

/// How the reason of an instance that the restart policy gave up on begins: the record that
/// it stays failed until restarted by hand.
pub(crate) const GAVE_UP: &str = "gave up after";

/// The time of a step: the monotonic clock (timers, uptimes), the wall clock (times in
/// events), and a number in `[0, 1)` for the backoff's jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) at: Instant,
    pub(crate) wall: Timestamp,
    pub(crate) jitter: f64,
}

/// Where an instance's lifecycle stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    /// No run and none pending: it starts at once if it is to run, else stays so.
    Idle,
    /// A start was asked for ([`Action::Spawn`]); its answer comes next.
    Starting,
    /// A run is under way.
    Running(Run),
    /// A stop was asked for ([`Action::Stop`]); its answer comes next, then `then`.
    Stopping {
        /// What follows the stop.
        then: AfterStop,
    },
    /// Waiting for the restart policy's delay ([`Timer::Backoff`]).
    BackingOff {
        /// When the restart is due.
        until: Instant,
    },
    /// The restart policy does not start it again (its run is done, or it gave up) until it
    /// is told to (a restart request, a new revision, a stop and start).
    Finished,
}

/// The run under way.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    /// Its process (group leader).
    pub(crate) pid: i32,
    /// When it started, for its uptime.
    pub(crate) started: Instant,
    /// Whether it is ready.
    pub(crate) ready: bool,
    /// Why it is not ready, as last reported.
    pub(crate) reason: Option<String>,
}

/// What follows a stop once the run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AfterStop {
    /// Nothing: it stays stopped (or starts again if it is to run).
    Idle,
    /// It was replaced (a new revision, a restart request): a fresh start, failures reset.
    Replace,
    /// It failed its liveness probe: the restart policy decides, as after a failed run.
    Decide {
        /// How long the run lasted.
        uptime: Duration,
        /// Why, for the record.
        why: String,
    },
    /// It is no longer assigned: the runtime forgets it and the supervisor ends.
    Remove,
}

/// The supervisor's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The pending restart is due.
    Backoff,
    /// The run lasted `resetAfter`: the failure count starts again.
    Reset,
}

/// What the supervisor hears.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The supervisor begins: what the runtime already had of the instance (adoption), if
    /// anything.
    Begin(Option<Adopted>),
    /// Answer to [`Action::Spawn`]: the process runs.
    Started {
        /// Its pid.
        pid: i32,
        /// The container's id, for a container.
        container: Option<String>,
    },
    /// Answer to [`Action::Spawn`]: it could not be started.
    StartFailed {
        /// Why.
        reason: String,
    },
    /// A process of the instance ended on its own.
    Exited {
        /// Which process.
        pid: i32,
        /// How.
        status: ExitStatus,
    },
    /// The probes' verdict changed (or was repeated).
    Probed {
        /// Whether it passes.
        ready: bool,
        /// Why not, when it does not.
        reason: Option<String>,
    },
    /// A timer that was armed fired.
    TimerFired(Timer),
    /// The instance's current assignment (possibly unchanged); `proxied` says whether the
    /// built-in proxy is in front of it.
    Assigned {
        /// The assignment.
        assignment: Box<Assignment>,
        /// Whether it is behind the built-in proxy.
        proxied: bool,
    },
    /// The instance is no longer assigned: stop it, forget it, end.
    Removed,
    /// Answer to [`Action::Stop`]: how the run ended, or why the stop failed.
    Stopped(Result<ExitStatus, String>),
}

/// What the runtime had of the instance when the agent started.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adopted {
    /// The process (group leader).
    pub(crate) pid: i32,
    /// When the runtime started it, in milliseconds since the Unix epoch.
    pub(crate) started_at_unix_ms: u64,
    /// How and when (milliseconds since the Unix epoch) it ended, if it did.
    pub(crate) exit: Option<(ExitStatus, u64)>,
    /// The container's id, for a container.
    pub(crate) container: Option<String>,
}

/// What the IO shell does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Records an event.
    Report(EventKind),
    /// Starts attempt `attempt`: reports `InstanceStarting` with the run's port, starts the
    /// process and answers [`Input::Started`] or [`Input::StartFailed`].
    Spawn {
        /// The attempt number.
        attempt: u32,
    },
    /// Starts the run's probes (`passed`: an instance adopted while ready, whose probes
    /// start as passing); their verdicts come back as [`Input::Probed`].
    Probe {
        /// The probes start as passed.
        passed: bool,
    },
    /// Puts the run behind the proxy (when there is one), ready or not.
    Expose {
        /// Whether the proxy sends it connections at once.
        ready: bool,
    },
    /// Tells the proxy (when there is one) whether to send the run new connections.
    SetReady(bool),
    /// Stops sending the run new connections and waits up to `wait` for the open ones to
    /// close (they may go on for the whole stop `timeout`).
    Drain {
        /// The longest to wait before the signal.
        wait: Duration,
        /// The stop timeout.
        timeout: Duration,
    },
    /// Signals the run and SIGKILLs it after `timeout`; answers [`Input::Stopped`].
    Stop {
        /// The stop signal's name.
        signal: String,
        /// How long before SIGKILL.
        timeout: Duration,
    },
    /// Arms a timer (replacing the one armed before).
    Arm(Timer, Instant),
    /// Disarms a timer.
    Cancel(Timer),
    /// The runtime forgets the instance.
    Forget,
    /// The supervisor ends.
    End,
}

/// The named transitions a step went through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// A run whose process the runtime still has was taken over.
    Adopt,
    /// A run that ended while no agent ran was taken over, to be judged now.
    AdoptEnded,
    /// The state's record (a backoff, a give-up, an end) was taken up.
    Resume,
    /// A start was asked for.
    Start,
    /// The run's process runs.
    Run,
    /// The start failed.
    StartFail,
    /// The run became ready.
    Ready,
    /// The run became (or stays) unready, for a new reason.
    Unready,
    /// A ready run failed its liveness probe: it is stopped and the restart policy decides.
    LivenessFail,
    /// The run ended on its own.
    Exit,
    /// The restart policy restarts it after a delay.
    BackOff,
    /// The backoff is over.
    BackoffOver,
    /// The restart policy gave up.
    GiveUp,
    /// The restart policy does not restart it.
    Finish,
    /// The run lasted `resetAfter`: the failure count starts again.
    ResetFailures,
    /// A stop was asked for.
    Stop,
    /// A pending restart was cancelled.
    CancelBackoff,
    /// The stop ended the run.
    Stopped,
    /// It is replaced: a new revision or a restart request.
    Replace,
    /// It is no longer assigned.
    Remove,
    /// The input changed nothing (a stale exit, a timer of another run).
    Ignore,
}

/// What a step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Step {
    /// The transitions, in order.
    pub(crate) transitions: Vec<Transition>,
    /// The actions, in the order the shell carries them out.
    pub(crate) actions: Vec<Action>,
}

impl Step {
    fn go(&mut self, t: Transition) {
        self.transitions.push(t);
    }

    fn act(&mut self, a: Action) {
        self.actions.push(a);
    }
}

/// One instance's lifecycle.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    id: InstanceId,
    assignment: Assignment,
    proxied: bool,
    state: State,
    /// Runs started so far (the next start's attempt number).
    attempts: u32,
    /// Consecutive failed runs.
    failures: u32,
    /// The restart requests already acted on.
    restart_requests: u32,
}

impl Lifecycle {
    /// The lifecycle of an instance taken up where the state left it: the restart policy
    /// goes on from the recorded counters (a restarted agent never starts counting again).
    pub(crate) fn new(assignment: Assignment, proxied: bool) -> Lifecycle {
        let recorded = &assignment.recorded;
        Lifecycle {
            id: assignment.instance.clone(),
            attempts: if recorded.started_at.is_some() {
                recorded.restarts.total.saturating_add(1)
            } else {
                0
            },
            failures: recorded.restarts.failures,
            restart_requests: assignment.restart_requests,
            proxied,
            assignment,
            state: State::Idle,
        }
    }

    /// The assignment the lifecycle follows.
    pub(crate) fn assignment(&self) -> &Assignment {
        &self.assignment
    }

    /// Where it stands.
    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// Consecutive failed runs.
    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// The transition function.
    pub(crate) fn on(&mut self, input: Input, now: Now) -> Step {
        let mut step = Step::default();
        match input {
            Input::Begin(adopted) => self.begin(adopted, now, &mut step),
            Input::Started { pid, container } => self.started(pid, container, now, &mut step),
            Input::StartFailed { reason } => {
                step.go(Transition::StartFail);
                self.state = State::Idle;
                step.act(self.report(EventKind::InstanceFailed {
                    instance: self.id.clone(),
                    reason: reason.clone(),
                }));
                self.decide(true, Duration::ZERO, &reason, now, &mut step);
            }
            Input::Exited { pid, status } => match &self.state {
                State::Running(run) if run.pid == pid => {
                    let uptime = now.at.saturating_duration_since(run.started);
                    self.exited(status, uptime, now, &mut step);
                }
                _ => step.go(Transition::Ignore),
            },
            Input::Probed { ready, reason } => self.probed(ready, reason, now, &mut step),
            Input::TimerFired(Timer::Backoff) => match self.state {
                State::BackingOff { .. } => {
                    step.go(Transition::BackoffOver);
                    self.state = State::Idle;
                }
                _ => step.go(Transition::Ignore),
            },
            Input::TimerFired(Timer::Reset) => {
                if matches!(self.state, State::Running(_)) && self.failures > 0 {
                    step.go(Transition::ResetFailures);
                    self.failures = 0;
                    step.act(self.report(EventKind::InstanceFailuresReset {
                        instance: self.id.clone(),
                    }));
                } else {
                    step.go(Transition::Ignore);
                }
            }
            Input::Assigned {
                assignment,
                proxied,
            } => self.assigned(*assignment, proxied, &mut step),
            Input::Removed => {
                step.go(Transition::Remove);
                self.stop("removed", AfterStop::Remove, &mut step);
            }
            Input::Stopped(result) => self.stopped(result, now, &mut step),
        }
        self.settle(&mut step);
        step
    }

    fn report(&self, kind: EventKind) -> Action {
        Action::Report(kind)
    }

    /// An idle instance that is to run starts now.
    fn settle(&mut self, step: &mut Step) {
        if self.state == State::Idle && self.assignment.desired == Desired::Run {
            step.go(Transition::Start);
            let attempt = self.attempts;
            self.attempts = self.attempts.saturating_add(1);
            self.state = State::Starting;
            step.act(Action::Spawn { attempt });
        }
    }

    fn begin(&mut self, adopted: Option<Adopted>, now: Now, step: &mut Step) {
        // A run whose end is on record already is history, not something to adopt: acting
        // on its exit again would restart what gave up, or fail what was stopped.
        let recorded = &self.assignment.recorded;
        let adopted = adopted
            .filter(|i| i.exit.is_none() || !recorded.holds_end_of(i.pid, i.started_at_unix_ms));
        match adopted {
            Some(info) => self.adopt(info, now, step),
            None => self.resume(now, step),
        }
    }

    /// Takes up an instance that the runtime does not run (or whose last run's end is on
    /// record) where the state left it: a pending backoff goes on until it is due, an
    /// instance that gave up or is done stays so, and an exit whose consequence never made
    /// it to the record (the daemon died in between) gets it now, once.
    fn resume(&mut self, now: Now, step: &mut Step) {
        let recorded = self.assignment.recorded.clone();
        if self.assignment.desired != Desired::Run || recorded.started_at.is_none() {
            return;
        }
        match recorded.phase {
            Phase::Failed | Phase::Succeeded | Phase::Stopped => {}
            // Its process was lost with the runtime: it starts again.
            Phase::Pending | Phase::Starting | Phase::Running { .. } | Phase::Stopping => return,
        }
        step.go(Transition::Resume);
        if let Some(until) = recorded.restarts.backoff_until {
            let left = until.duration_since(now.wall);
            let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
            let until = now.at + left;
            self.state = State::BackingOff { until };
            step.act(Action::Arm(Timer::Backoff, until));
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
            self.state = State::Finished;
            return;
        }
        let failed = recorded.phase == Phase::Failed;
        let why = match recorded.reason {
            Some(reason) => reason,
            None if failed => "it failed".to_string(),
            None => "it exited".to_string(),
        };
        self.decide(failed, Duration::ZERO, &why, now, step);
    }

    /// Takes over an instance that was running (or ended) before this agent started.
    fn adopt(&mut self, info: Adopted, now: Now, step: &mut Step) {
        self.attempts = self.attempts.max(1);
        let pid = u32::try_from(info.pid).ok();
        let seen = self.assignment.last_seen.filter(|s| Some(s.pid) == pid);
        let recorded = &self.assignment.recorded;
        let known = recorded.pid.is_some() && recorded.pid == pid;
        // Same process, no restart: the state learns (again) which pid runs the instance,
        // unless it knows already.
        if seen.is_none() && !(info.exit.is_some() && known) {
            step.act(self.report(EventKind::InstanceStarted {
                instance: self.id.clone(),
                pid,
                container: info.container.clone(),
            }));
        }
        match info.exit {
            None => {
                step.go(Transition::Adopt);
                let was_ready = seen.is_some_and(|s| s.ready);
                step.act(Action::Expose { ready: was_ready });
                self.state = State::Running(Run {
                    pid: info.pid,
                    started: now.at,
                    ready: was_ready,
                    reason: None,
                });
                if was_ready {
                    if self.assignment.service.health.is_some() {
                        step.act(Action::Probe { passed: true });
                    }
                } else {
                    self.probe(step);
                }
                self.arm_reset(now, step);
            }
            Some((status, _)) if self.assignment.recorded.phase == Phase::Stopping && known => {
                // It was being stopped on purpose: its end is the stop's, not a failure for
                // the restart policy.
                step.go(Transition::Stopped);
                step.act(self.report(EventKind::InstanceExited {
                    instance: self.id.clone(),
                    status,
                }));
            }
            Some((status, at_unix_ms)) => {
                step.go(Transition::AdoptEnded);
                let uptime =
                    Duration::from_millis(at_unix_ms.saturating_sub(info.started_at_unix_ms));
                self.exited(status, uptime, now, step);
            }
        }
    }

    fn arm_reset(&self, now: Now, step: &mut Step) {
        let reset_after = self.assignment.service.restart_policy.reset_after.get();
        step.act(Action::Arm(Timer::Reset, now.at + reset_after));
    }

    /// Starts the probes of a run; without health, the instance is ready once it runs.
    fn probe(&mut self, step: &mut Step) {
        if self.assignment.service.health.is_some() {
            step.act(Action::Probe { passed: false });
            return;
        }
        if let State::Running(run) = &mut self.state {
            run.ready = true;
        }
        step.go(Transition::Ready);
        step.act(Action::SetReady(true));
        step.act(self.report(EventKind::InstanceReady {
            instance: self.id.clone(),
        }));
    }

    fn started(&mut self, pid: i32, container: Option<String>, now: Now, step: &mut Step) {
        if self.state != State::Starting {
            step.go(Transition::Ignore);
            return;
        }
        step.go(Transition::Run);
        step.act(Action::Expose { ready: false });
        step.act(self.report(EventKind::InstanceStarted {
            instance: self.id.clone(),
            pid: u32::try_from(pid).ok(),
            container,
        }));
        self.state = State::Running(Run {
            pid,
            started: now.at,
            ready: false,
            reason: None,
        });
        self.probe(step);
        self.arm_reset(now, step);
    }

    fn probed(&mut self, ready: bool, reason: Option<String>, now: Now, step: &mut Step) {
        let State::Running(run) = &mut self.state else {
            step.go(Transition::Ignore);
            return;
        };
        if ready {
            run.reason = None;
            if !run.ready {
                run.ready = true;
                step.go(Transition::Ready);
                step.act(Action::SetReady(true));
                step.act(Action::Report(EventKind::InstanceReady {
                    instance: self.id.clone(),
                }));
            } else {
                step.go(Transition::Ignore);
            }
            return;
        }
        let reason = reason.unwrap_or_else(|| "not ready".into());
        let was_ready = run.ready;
        run.ready = false;
        step.act(Action::SetReady(false));
        if was_ready || run.reason.as_deref() != Some(reason.as_str()) {
            run.reason = Some(reason.clone());
            step.go(Transition::Unready);
            step.act(Action::Report(EventKind::InstanceUnready {
                instance: self.id.clone(),
                reason: reason.clone(),
            }));
        }
        let liveness = self
            .assignment
            .service
            .health
            .as_ref()
            .is_some_and(|h| h.on_failure == OnFailure::Restart);
        if was_ready && liveness {
            let uptime = now.at.saturating_duration_since(run.started);
            step.go(Transition::LivenessFail);
            let why = format!("liveness failed: {reason}");
            self.stop(&why.clone(), AfterStop::Decide { uptime, why }, step);
        }
    }

    /// The run ended on its own after `uptime`.
    fn exited(&mut self, status: ExitStatus, uptime: Duration, now: Now, step: &mut Step) {
        step.go(Transition::Exit);
        self.state = State::Idle;
        step.act(Action::Cancel(Timer::Reset));
        step.act(Action::SetReady(false));
        step.act(self.report(EventKind::InstanceExited {
            instance: self.id.clone(),
            status,
        }));
        let why = match status {
            ExitStatus::Code(c) => format!("exit code {c}"),
            ExitStatus::Signal(s) => format!("killed by signal {s}"),
            ExitStatus::Unknown => "exit status unknown (its keeper was restarted)".to_string(),
        };
        self.decide(!status.success(), uptime, &why, now, step);
    }

    /// Applies the restart policy after a run that ended (or could not start).
    fn decide(&mut self, failed: bool, uptime: Duration, why: &str, now: Now, step: &mut Step) {
        let policy = &self.assignment.service.restart_policy;
        match policy::after_exit(policy, failed, self.failures, uptime, now.jitter) {
            AfterExit::Restart { delay, failures } => {
                step.go(Transition::BackOff);
                self.failures = failures;
                let until = now
                    .wall
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .unwrap_or(now.wall);
                step.act(self.report(EventKind::InstanceBackoff {
                    instance: self.id.clone(),
                    failures,
                    delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    until,
                }));
                let until = now.at + delay;
                self.state = State::BackingOff { until };
                step.act(Action::Arm(Timer::Backoff, until));
            }
            AfterExit::GiveUp { failures } => {
                step.go(Transition::GiveUp);
                self.failures = failures;
                self.state = State::Finished;
                let reason = format!("{GAVE_UP} {failures} consecutive failed runs (last: {why})");
                step.act(self.report(EventKind::InstanceFailed {
                    instance: self.id.clone(),
                    reason,
                }));
            }
            AfterExit::Done => {
                step.go(Transition::Finish);
                self.state = State::Finished;
            }
        }
    }

    fn assigned(&mut self, next: Assignment, proxied: bool, step: &mut Step) {
        // The restart rule is the state's: a new revision of the instance's spec
        // (`InstanceRevised`), never a difference the node finds itself.
        let changed = next.revision != self.assignment.revision;
        let restart = next.restart_requests > self.restart_requests;
        self.restart_requests = self.restart_requests.max(next.restart_requests);
        let desired = next.desired.clone();
        self.assignment = next;
        match desired {
            Desired::Stop { reason } => {
                // A pending restart or a give-up ends quietly: it is to stay stopped, and
                // a later start starts it afresh.
                match self.state {
                    State::BackingOff { .. } => {
                        step.go(Transition::CancelBackoff);
                        step.act(Action::Cancel(Timer::Backoff));
                        self.state = State::Idle;
                    }
                    State::Finished => self.state = State::Idle,
                    _ => {}
                }
                self.stop(&reason, AfterStop::Idle, step);
            }
            Desired::Run if changed || restart => {
                step.go(Transition::Replace);
                let reason = if changed {
                    "its spec changed"
                } else {
                    "restart requested"
                };
                self.stop(reason, AfterStop::Replace, step);
            }
            Desired::Run => step.go(Transition::Ignore),
        }
        // A stop under way drains through the proxy the run was behind; what starts next
        // is behind the new one.
        self.proxied = proxied;
    }

    /// Stops the current run through the stop policy (drain, signal, then SIGKILL after the
    /// timeout); cancels a pending restart. `then` follows once the run ended.
    fn stop(&mut self, reason: &str, then: AfterStop, step: &mut Step) {
        step.act(Action::Cancel(Timer::Reset));
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Running(_) => {
                step.go(Transition::Stop);
                step.act(self.report(EventKind::InstanceStopping {
                    instance: self.id.clone(),
                    reason: reason.to_string(),
                }));
                let stop = &self.assignment.service.stop;
                let timeout = stop.timeout.get();
                if self.proxied {
                    // No new connections from now on; the open ones get a moment to finish
                    // before the signal, and the rest of the stop timeout after it.
                    step.act(Action::Drain {
                        wait: DRAIN_BEFORE_SIGNAL.min(timeout),
                        timeout,
                    });
                }
                step.act(Action::Stop {
                    signal: stop.signal.clone(),
                    timeout,
                });
                self.state = State::Stopping { then };
            }
            other => {
                if let State::BackingOff { .. } = other {
                    step.go(Transition::CancelBackoff);
                    step.act(Action::Cancel(Timer::Backoff));
                    step.act(self.report(EventKind::InstanceStopped {
                        instance: self.id.clone(),
                    }));
                }
                self.after_stop(then, step);
            }
        }
    }

    fn stopped(&mut self, result: Result<ExitStatus, String>, now: Now, step: &mut Step) {
        let State::Stopping { then } = std::mem::replace(&mut self.state, State::Idle) else {
            step.go(Transition::Ignore);
            return;
        };
        step.go(Transition::Stopped);
        step.act(self.report(match result {
            Ok(status) => EventKind::InstanceExited {
                instance: self.id.clone(),
                status,
            },
            Err(e) => EventKind::InstanceFailed {
                instance: self.id.clone(),
                reason: format!("stop failed: {e}"),
            },
        }));
        if let AfterStop::Decide { uptime, why } = &then {
            self.decide(true, *uptime, why, now, step);
            return;
        }
        self.after_stop(then, step);
    }

    fn after_stop(&mut self, then: AfterStop, step: &mut Step) {
        match then {
            AfterStop::Idle | AfterStop::Decide { .. } => {}
            AfterStop::Replace => {
                self.state = State::Idle;
                self.failures = 0;
            }
            AfterStop::Remove => {
                step.act(Action::Forget);
                step.act(Action::End);
                // Nothing starts again.
                self.assignment.desired = Desired::Stop {
                    reason: "removed".into(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The lifecycle driven input by input at explicit times: no runtime, no clock, no sleep.

    use super::*;
    use orco_interface::{LastSeen, Recorded};
    use orco_state::Restarts;

    const STACK_HEAD: &str = "version: 0.1\nstack: {name: s}\nservices:\n  web:\n";

    fn assignment(service_yaml: &str) -> Assignment {
        let text = format!("{STACK_HEAD}{service_yaml}");
        let loaded = orco_spec::load_str(
            std::path::Path::new("stack.yaml"),
            &text,
            std::path::Path::new("/srv"),
        )
        .expect("a valid stack");
        Assignment {
            instance: "s/web-0".parse().expect("an instance id"),
            workdir: "/srv".into(),
            service: loaded.stack.services["web"].clone(),
            generation: 1,
            revision: 0,
            restart_requests: 0,
            desired: Desired::Run,
            last_seen: None,
            port: None,
            recorded: Recorded {
                phase: Phase::Pending,
                pid: None,
                started_at: None,
                restarts: Restarts::default(),
                reason: None,
            },
        }
    }

    /// Backoff 100ms ×2 up to 1s, reset after 10s, three failures allowed.
    const POLICY: &str = "    command: serve\n    restartPolicy: {mode: always, maxRetries: 3, backoff: {min: 100ms, max: 1s, factor: 2}, resetAfter: 10s}\n";

    /// A clock that only moves when told to.
    struct Clock {
        origin: Instant,
        wall: Timestamp,
        elapsed: Duration,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                origin: Instant::now(),
                wall: Timestamp::from_second(1_800_000_000).expect("a time"),
                elapsed: Duration::ZERO,
            }
        }

        fn advance(&mut self, by: Duration) -> Now {
            self.elapsed += by;
            self.now()
        }

        fn now(&self) -> Now {
            Now {
                at: self.origin + self.elapsed,
                wall: self
                    .wall
                    .checked_add(jiff::SignedDuration::try_from(self.elapsed).expect("fits"))
                    .expect("a time"),
                // The middle of the jitter: the delay is exactly the policy's.
                jitter: 0.5,
            }
        }

        fn at(&self, after: Duration) -> Instant {
            self.origin + self.elapsed + after
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn reports(step: &Step) -> Vec<&EventKind> {
        step.actions
            .iter()
            .filter_map(|a| match a {
                Action::Report(kind) => Some(kind),
                _ => None,
            })
            .collect()
    }

    fn spawns(step: &Step) -> Vec<u32> {
        step.actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn { attempt } => Some(*attempt),
                _ => None,
            })
            .collect()
    }

    fn backoff_delay(step: &Step) -> Option<u64> {
        reports(step).into_iter().find_map(|k| match k {
            EventKind::InstanceBackoff { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
    }

    /// Starts a fresh instance and answers its spawn with `pid`.
    fn running(life: &mut Lifecycle, clock: &Clock, pid: i32) -> Step {
        let step = life.on(Input::Begin(None), clock.now());
        assert_eq!(spawns(&step).len(), 1, "{step:?}");
        let step = life.on(
            Input::Started {
                pid,
                container: None,
            },
            clock.now(),
        );
        assert!(matches!(life.state(), State::Running(r) if r.pid == pid));
        step
    }

    #[test]
    fn failed_runs_back_off_by_the_factor_and_a_run_that_lasts_resets_the_count() {
        let mut clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        let step = running(&mut life, &clock, 10);
        assert!(step.actions.contains(&Action::Arm(
            Timer::Reset,
            clock.at(Duration::from_secs(10))
        )));

        let mut delays = Vec::new();
        for pid in [11, 12] {
            let step = life.on(
                Input::Exited {
                    pid: pid - 1,
                    status: ExitStatus::Code(1),
                },
                clock.advance(ms(50)),
            );
            assert_eq!(
                step.transitions,
                [Transition::Exit, Transition::BackOff],
                "{step:?}"
            );
            delays.push(backoff_delay(&step).expect("a backoff"));
            let State::BackingOff { until } = *life.state() else {
                panic!("backing off: {:?}", life.state());
            };
            assert!(step.actions.contains(&Action::Arm(Timer::Backoff, until)));
            // Nothing starts before the timer fires.
            assert!(spawns(&step).is_empty());
            let step = life.on(
                Input::TimerFired(Timer::Backoff),
                clock.advance(until - clock.now().at),
            );
            assert_eq!(
                step.transitions,
                [Transition::BackoffOver, Transition::Start]
            );
            life.on(
                Input::Started {
                    pid,
                    container: None,
                },
                clock.now(),
            );
        }
        assert_eq!(delays, [100, 200], "×2 per consecutive failure");
        assert_eq!(life.failures(), 2);

        // This run lasts resetAfter: the count starts again, and the next failure waits the
        // minimum again.
        let step = life.on(
            Input::TimerFired(Timer::Reset),
            clock.advance(Duration::from_secs(10)),
        );
        assert_eq!(step.transitions, [Transition::ResetFailures]);
        assert!(matches!(
            reports(&step)[..],
            [EventKind::InstanceFailuresReset { .. }]
        ));
        assert_eq!(life.failures(), 0);
        let step = life.on(
            Input::Exited {
                pid: 12,
                status: ExitStatus::Code(1),
            },
            clock.advance(ms(1)),
        );
        assert_eq!(backoff_delay(&step), Some(100));
    }

    #[test]
    fn the_restart_policy_gives_up_after_max_retries_and_the_instance_stays_failed() {
        let mut clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        running(&mut life, &clock, 1);
        for pid in 1..=3 {
            let step = life.on(
                Input::Exited {
                    pid,
                    status: ExitStatus::Signal(9),
                },
                clock.advance(ms(10)),
            );
            if pid < 3 {
                assert_eq!(step.transitions.last(), Some(&Transition::BackOff));
                life.on(
                    Input::TimerFired(Timer::Backoff),
                    clock.advance(Duration::from_secs(1)),
                );
                life.on(
                    Input::Started {
                        pid: pid + 1,
                        container: None,
                    },
                    clock.now(),
                );
            } else {
                assert_eq!(step.transitions, [Transition::Exit, Transition::GiveUp]);
                let EventKind::InstanceFailed { reason, .. } = reports(&step)[1] else {
                    panic!("{step:?}");
                };
                assert_eq!(
                    reason,
                    "gave up after 3 consecutive failed runs (last: killed by signal 9)"
                );
            }
        }
        assert_eq!(*life.state(), State::Finished);
        // Nothing brings it back but a request: not a stale timer, not the same assignment.
        let step = life.on(
            Input::TimerFired(Timer::Backoff),
            clock.advance(Duration::from_secs(60)),
        );
        assert!(spawns(&step).is_empty());
        let same = life.assignment().clone();
        let step = life.on(
            Input::Assigned {
                assignment: Box::new(same.clone()),
                proxied: false,
            },
            clock.now(),
        );
        assert!(spawns(&step).is_empty());
        let mut asked = same;
        asked.restart_requests += 1;
        let step = life.on(
            Input::Assigned {
                assignment: Box::new(asked),
                proxied: false,
            },
            clock.now(),
        );
        assert_eq!(step.transitions, [Transition::Replace, Transition::Start]);
        assert_eq!(spawns(&step), [3]);
        assert_eq!(
            life.failures(),
            0,
            "a restart by hand starts the count again"
        );
    }

    #[test]
    fn a_ready_run_failing_its_liveness_probe_is_stopped_then_backs_off() {
        let mut clock = Clock::new();
        let yaml = format!("{POLICY}    health: {{tcp: {{port: 8080}}, onFailure: restart}}\n");
        let mut life = Lifecycle::new(assignment(&yaml), false);
        let step = running(&mut life, &clock, 7);
        assert!(step.actions.contains(&Action::Probe { passed: false }));
        assert!(
            reports(&step)
                .iter()
                .all(|k| !matches!(k, EventKind::InstanceReady { .. }))
        );

        let step = life.on(
            Input::Probed {
                ready: true,
                reason: None,
            },
            clock.advance(ms(300)),
        );
        assert_eq!(step.transitions, [Transition::Ready]);
        let step = life.on(
            Input::Probed {
                ready: false,
                reason: Some("refused".into()),
            },
            clock.advance(Duration::from_secs(2)),
        );
        assert_eq!(
            step.transitions,
            [
                Transition::Unready,
                Transition::LivenessFail,
                Transition::Stop
            ]
        );
        assert!(matches!(
            step.actions.last(),
            Some(Action::Stop { signal, .. }) if signal == "SIGTERM"
        ));
        assert!(matches!(life.state(), State::Stopping { .. }));
        let step = life.on(
            Input::Stopped(Ok(ExitStatus::Signal(15))),
            clock.advance(ms(20)),
        );
        assert_eq!(step.transitions, [Transition::Stopped, Transition::BackOff]);
        let kinds = reports(&step);
        assert!(matches!(kinds[0], EventKind::InstanceExited { .. }));
        assert!(matches!(
            kinds[1],
            EventKind::InstanceBackoff {
                failures: 1,
                delay_ms: 100,
                ..
            }
        ));
    }

    #[test]
    fn an_unready_run_without_liveness_is_only_marked_unready_once_per_reason() {
        let mut clock = Clock::new();
        let yaml = format!("{POLICY}    health: {{tcp: {{port: 8080}}}}\n");
        let mut life = Lifecycle::new(assignment(&yaml), false);
        running(&mut life, &clock, 7);
        life.on(
            Input::Probed {
                ready: true,
                reason: None,
            },
            clock.advance(ms(10)),
        );
        let unready = |life: &mut Lifecycle, now| {
            life.on(
                Input::Probed {
                    ready: false,
                    reason: Some("refused".into()),
                },
                now,
            )
        };
        let first = unready(&mut life, clock.advance(ms(10)));
        assert_eq!(first.transitions, [Transition::Unready]);
        let again = unready(&mut life, clock.advance(ms(10)));
        assert!(
            reports(&again).is_empty(),
            "the same reason is not reported twice"
        );
        assert!(matches!(life.state(), State::Running(r) if !r.ready));
    }

    #[test]
    fn a_stop_during_the_backoff_cancels_the_restart_and_nothing_starts() {
        let mut clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        running(&mut life, &clock, 3);
        life.on(
            Input::Exited {
                pid: 3,
                status: ExitStatus::Code(2),
            },
            clock.advance(ms(5)),
        );
        assert!(matches!(life.state(), State::BackingOff { .. }));
        let mut stop = life.assignment().clone();
        stop.desired = Desired::Stop {
            reason: "stopped by request".into(),
        };
        let step = life.on(
            Input::Assigned {
                assignment: Box::new(stop),
                proxied: false,
            },
            clock.advance(ms(10)),
        );
        assert_eq!(step.transitions, [Transition::CancelBackoff]);
        assert!(step.actions.contains(&Action::Cancel(Timer::Backoff)));
        assert!(spawns(&step).is_empty());
        assert!(
            !step
                .actions
                .iter()
                .any(|a| matches!(a, Action::Stop { .. }))
        );
        assert_eq!(*life.state(), State::Idle);
        // The timer of the cancelled backoff, had it fired anyway, starts nothing.
        let step = life.on(
            Input::TimerFired(Timer::Backoff),
            clock.advance(Duration::from_secs(1)),
        );
        assert_eq!(step.transitions, [Transition::Ignore]);
        assert!(spawns(&step).is_empty());
    }

    #[test]
    fn a_removal_during_the_backoff_records_the_stop_and_forgets_the_instance() {
        let mut clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        running(&mut life, &clock, 3);
        life.on(
            Input::Exited {
                pid: 3,
                status: ExitStatus::Code(2),
            },
            clock.advance(ms(5)),
        );
        let step = life.on(Input::Removed, clock.advance(ms(5)));
        assert!(matches!(
            reports(&step)[..],
            [EventKind::InstanceStopped { .. }]
        ));
        assert_eq!(
            &step.actions[step.actions.len() - 2..],
            [Action::Forget, Action::End]
        );
        assert!(spawns(&step).is_empty());
    }

    #[test]
    fn a_proxied_run_is_drained_before_it_is_signalled_and_a_direct_one_is_not() {
        for proxied in [true, false] {
            let clock = Clock::new();
            let yaml = format!("{POLICY}    stop: {{signal: SIGINT, timeout: 5s}}\n");
            let mut life = Lifecycle::new(assignment(&yaml), proxied);
            running(&mut life, &clock, 9);
            let step = life.on(Input::Removed, clock.now());
            let order: Vec<&Action> = step
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Drain { .. } | Action::Stop { .. }))
                .collect();
            let stop = Action::Stop {
                signal: "SIGINT".into(),
                timeout: Duration::from_secs(5),
            };
            if proxied {
                let drain = Action::Drain {
                    wait: DRAIN_BEFORE_SIGNAL,
                    timeout: Duration::from_secs(5),
                };
                assert_eq!(order, [&drain, &stop]);
            } else {
                assert_eq!(order, [&stop]);
            }
            // The stop's answer, then the instance is forgotten and the supervisor ends.
            let step = life.on(Input::Stopped(Ok(ExitStatus::Signal(2))), clock.now());
            assert_eq!(&step.actions[1..], [Action::Forget, Action::End]);
        }
    }

    fn recorded_running(pid: u32, ready: bool, clock: &Clock) -> Assignment {
        let mut a = assignment(POLICY);
        a.last_seen = Some(LastSeen { pid, ready });
        a.port = Some(40_000);
        a.recorded = Recorded {
            phase: Phase::Running { ready },
            pid: Some(pid),
            started_at: Some(clock.now().wall),
            restarts: Restarts {
                total: 4,
                failures: 1,
                delay_ms: 200,
                backoff_until: None,
            },
            reason: None,
        };
        a
    }

    #[test]
    fn after_a_restart_a_running_ready_instance_is_adopted_without_a_start_or_an_event() {
        let clock = Clock::new();
        let yaml = format!("{POLICY}    health: {{tcp: {{port: 8080}}}}\n");
        let mut a = recorded_running(42, true, &clock);
        a.service = assignment(&yaml).service;
        let mut life = Lifecycle::new(a, true);
        let started_ms = u64::try_from(clock.now().wall.as_millisecond()).expect("positive");
        let step = life.on(
            Input::Begin(Some(Adopted {
                pid: 42,
                started_at_unix_ms: started_ms,
                exit: None,
                container: None,
            })),
            clock.now(),
        );
        assert_eq!(step.transitions, [Transition::Adopt]);
        assert!(
            reports(&step).is_empty(),
            "the state knows this process already"
        );
        assert!(spawns(&step).is_empty());
        assert!(step.actions.contains(&Action::Expose { ready: true }));
        assert!(step.actions.contains(&Action::Probe { passed: true }));
        assert!(matches!(life.state(), State::Running(r) if r.pid == 42 && r.ready));
        // The next start goes on counting from the record.
        let step = life.on(
            Input::Exited {
                pid: 42,
                status: ExitStatus::Code(1),
            },
            clock.now(),
        );
        assert!(matches!(
            reports(&step)[..],
            [
                _,
                EventKind::InstanceBackoff {
                    failures: 2,
                    delay_ms: 200,
                    ..
                }
            ]
        ));
    }

    #[test]
    fn after_a_restart_an_exit_that_happened_while_no_agent_ran_is_judged_once_with_its_uptime() {
        let clock = Clock::new();
        let started_ms = u64::try_from(clock.now().wall.as_millisecond()).expect("positive");
        let adopted = Adopted {
            pid: 42,
            started_at_unix_ms: started_ms,
            exit: Some((ExitStatus::Code(1), started_ms + 20_000)),
            container: None,
        };
        // It ran 20 s (over resetAfter): the failure count starts again.
        let mut life = Lifecycle::new(recorded_running(42, true, &clock), false);
        let step = life.on(Input::Begin(Some(adopted.clone())), clock.now());
        assert_eq!(
            step.transitions,
            [
                Transition::AdoptEnded,
                Transition::Exit,
                Transition::BackOff
            ]
        );
        assert!(matches!(
            reports(&step)[..],
            [
                EventKind::InstanceExited { .. },
                EventKind::InstanceBackoff { failures: 1, .. }
            ]
        ));

        // The same end already on record: history, not adopted; nothing is judged again.
        let mut a = recorded_running(42, false, &clock);
        a.recorded.phase = Phase::Failed;
        a.recorded.reason =
            Some("gave up after 3 consecutive failed runs (last: exit code 1)".into());
        a.last_seen = None;
        let mut life = Lifecycle::new(a, false);
        let step = life.on(Input::Begin(Some(adopted)), clock.now());
        assert_eq!(step.transitions, [Transition::Resume]);
        assert!(step.actions.is_empty(), "{step:?}");
        assert_eq!(*life.state(), State::Finished);
    }

    #[test]
    fn after_a_restart_a_pending_backoff_goes_on_until_its_recorded_time() {
        let clock = Clock::new();
        let mut a = recorded_running(42, false, &clock);
        a.recorded.phase = Phase::Failed;
        a.recorded.restarts.backoff_until = clock
            .now()
            .wall
            .checked_add(jiff::SignedDuration::from_secs(3))
            .ok();
        let mut life = Lifecycle::new(a, false);
        let step = life.on(Input::Begin(None), clock.now());
        assert_eq!(step.transitions, [Transition::Resume]);
        assert_eq!(
            step.actions,
            [Action::Arm(
                Timer::Backoff,
                clock.at(Duration::from_secs(3))
            )]
        );
        assert!(matches!(life.state(), State::BackingOff { .. }));
    }

    #[test]
    fn a_new_revision_replaces_the_run_at_once_and_starts_the_failure_count_again() {
        let mut clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        running(&mut life, &clock, 5);
        life.on(
            Input::Probed {
                ready: true,
                reason: None,
            },
            clock.now(),
        );
        life.on(
            Input::Exited {
                pid: 5,
                status: ExitStatus::Code(1),
            },
            clock.advance(ms(1)),
        );
        life.on(
            Input::TimerFired(Timer::Backoff),
            clock.advance(Duration::from_secs(1)),
        );
        life.on(
            Input::Started {
                pid: 6,
                container: None,
            },
            clock.now(),
        );
        assert_eq!(life.failures(), 1);
        let mut next = life.assignment().clone();
        next.revision += 1;
        let step = life.on(
            Input::Assigned {
                assignment: Box::new(next),
                proxied: false,
            },
            clock.advance(ms(1)),
        );
        assert_eq!(step.transitions, [Transition::Replace, Transition::Stop]);
        let EventKind::InstanceStopping { reason, .. } = reports(&step)[0] else {
            panic!("{step:?}");
        };
        assert_eq!(reason, "its spec changed");
        let step = life.on(
            Input::Stopped(Ok(ExitStatus::Signal(15))),
            clock.advance(ms(1)),
        );
        assert_eq!(step.transitions, [Transition::Stopped, Transition::Start]);
        assert_eq!(life.failures(), 0);
    }

    #[test]
    fn a_start_that_fails_is_recorded_and_goes_through_the_backoff() {
        let clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        life.on(Input::Begin(None), clock.now());
        let step = life.on(
            Input::StartFailed {
                reason: "cannot start `serve`".into(),
            },
            clock.now(),
        );
        assert_eq!(
            step.transitions,
            [Transition::StartFail, Transition::BackOff]
        );
        assert!(matches!(
            reports(&step)[..],
            [
                EventKind::InstanceFailed { .. },
                EventKind::InstanceBackoff { failures: 1, .. }
            ]
        ));
        assert!(spawns(&step).is_empty());
    }

    #[test]
    fn an_exit_of_an_earlier_run_changes_nothing() {
        let clock = Clock::new();
        let mut life = Lifecycle::new(assignment(POLICY), false);
        running(&mut life, &clock, 5);
        let step = life.on(
            Input::Exited {
                pid: 4,
                status: ExitStatus::Code(1),
            },
            clock.now(),
        );
        assert_eq!(step.transitions, [Transition::Ignore]);
        assert!(step.actions.is_empty());
    }
}

//! One supervisor per instance: the only owner of its process, so that concurrent commands
//! (restart, stop, scale) are serialized and can never start it twice or wedge it.
//!
//! A supervisor is a task with a mailbox and the IO shell of the instance's [`Lifecycle`]:
//! it turns what it hears (commands, exits, probe verdicts, timers) into the lifecycle's
//! inputs and carries out the actions the lifecycle answers with (start the process, run its
//! probes, drain and stop it, arm timers, report events). Every decision is the lifecycle's.
//! It never waits for its events to be stored.

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::Timestamp;
use orco_interface::Assignment;
use orco_probe::{HealthReport, Prober};
use orco_runtime::{InstanceInfo, Runtime};
use orco_spec::LogSource;
use orco_state::{Event, EventKind, ExitStatus, InstanceId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::front::{self, Front};
use crate::launch::{LaunchError, RunPorts};
use crate::lifecycle::{Action, Adopted, Input, Lifecycle, Now, State, Timer};

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
    /// The node's name, which the instance gets as `ORCO_NODE`.
    pub(crate) node: Option<String>,
}

/// The IO of the current run: its port and its probes.
#[derive(Default)]
struct RunIo {
    /// The instance's own port for this run (`PORT`), if it has one.
    port: Option<u16>,
    health: Option<mpsc::Receiver<HealthReport>>,
    probe_lines: Option<mpsc::Sender<(LogSource, Vec<u8>)>>,
}

/// The shell's side of the lifecycle: the run's IO and the armed timers.
#[derive(Default)]
struct Shell {
    run: Option<RunIo>,
    backoff: Option<Instant>,
    reset: Option<Instant>,
}

/// Whether the supervisor goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

fn now() -> Now {
    Now {
        at: Instant::now(),
        wall: Timestamp::now(),
        jitter: rand::random::<f64>(),
    }
}

impl<R: Runtime + 'static> Supervisor<R> {
    pub(crate) async fn run(mut self) {
        let mut life = Lifecycle::new(self.assignment.clone(), self.front.is_some());
        let mut shell = Shell::default();
        let adopted = self.adopted.take().map(|info| Adopted {
            pid: info.pid,
            started_at_unix_ms: info.started_at_unix_ms,
            exit: info.exit.map(|e| (e.status.into_state(), e.at_unix_ms)),
            container: info.container,
        });
        let front = self.front.clone();
        if self
            .feed(&mut life, &mut shell, Input::Begin(adopted), front)
            .await
            == Flow::End
        {
            return;
        }
        loop {
            let health = async {
                match shell.run.as_mut().and_then(|r| r.health.as_mut()) {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let backoff = sleep_until(shell.backoff);
            let reset = sleep_until(shell.reset);
            let (input, drain_through) = tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Assign(a, front)) => {
                        let running = running_pid(&life);
                        // A stop drains through the proxy the run was behind; what starts
                        // next is behind the new one.
                        let old = std::mem::replace(&mut self.front, front);
                        let proxied = self.front.is_some();
                        let input = Input::Assigned { assignment: a, proxied };
                        if self.feed(&mut life, &mut shell, input, old.clone()).await == Flow::End {
                            return;
                        }
                        self.moved(&life, &shell, running, old.as_ref());
                        continue;
                    }
                    Some(Command::Remove) => (Input::Removed, self.front.clone()),
                    // The agent is gone (the daemon stops): the instance keeps running for
                    // the next agent to adopt.
                    None => return,
                },
                Some((pid, status)) = self.exits.recv() => {
                    (Input::Exited { pid, status: status.into_state() }, self.front.clone())
                }
                report = health => match report {
                    Some(report) => {
                        let reason = report.why_not_ready();
                        (Input::Probed { ready: report.ready, reason }, self.front.clone())
                    }
                    None => {
                        if let Some(run) = shell.run.as_mut() {
                            run.health = None;
                        }
                        continue;
                    }
                },
                Some(line) = self.lines.recv() => {
                    if let Some(tx) = shell.run.as_ref().and_then(|r| r.probe_lines.as_ref()) {
                        // The log probe closes its channel once it passed.
                        let _ = tx.try_send(line);
                    }
                    continue;
                }
                () = backoff => {
                    shell.backoff = None;
                    (Input::TimerFired(Timer::Backoff), self.front.clone())
                }
                () = reset => {
                    shell.reset = None;
                    (Input::TimerFired(Timer::Reset), self.front.clone())
                }
            };
            if self.feed(&mut life, &mut shell, input, drain_through).await == Flow::End {
                return;
            }
        }
    }

    /// The same run now behind another proxy (or none): the new one gets it.
    fn moved(
        &self,
        life: &Lifecycle,
        shell: &Shell,
        running: Option<i32>,
        old: Option<&Arc<Front>>,
    ) {
        let same = match (old, &self.front) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same || running.is_none() || running_pid(life) != running {
            return;
        }
        if let (Some(new), Some(port), State::Running(run)) = (
            &self.front,
            shell.run.as_ref().and_then(|r| r.port),
            life.state(),
        ) {
            new.add(&self.name, port, run.ready);
        }
    }

    /// Steps the lifecycle with `input` and carries out its actions, feeding the answers of
    /// spawns and stops back in at once. `drain_through` is the proxy a stop drains through.
    async fn feed(
        &mut self,
        life: &mut Lifecycle,
        shell: &mut Shell,
        input: Input,
        drain_through: Option<Arc<Front>>,
    ) -> Flow {
        let step = life.on(input, now());
        tracing::trace!(instance = %self.id, transitions = ?step.transitions, "lifecycle");
        let mut queue: VecDeque<Action> = step.actions.into();
        while let Some(action) = queue.pop_front() {
            if action == Action::End {
                return Flow::End;
            }
            if let Some(answer) = self
                .execute(life, shell, action, drain_through.as_ref())
                .await
            {
                let step = life.on(answer, now());
                tracing::trace!(instance = %self.id, transitions = ?step.transitions, "lifecycle");
                for action in step.actions.into_iter().rev() {
                    queue.push_front(action);
                }
            }
        }
        if !matches!(life.state(), State::Running(_)) {
            shell.run = None;
        }
        Flow::Continue
    }

    /// Carries out one action; the answer of a spawn or a stop is the next input.
    async fn execute(
        &self,
        life: &Lifecycle,
        shell: &mut Shell,
        action: Action,
        drain_through: Option<&Arc<Front>>,
    ) -> Option<Input> {
        match action {
            Action::Report(kind) => self.emit(kind).await,
            Action::Spawn { attempt } => {
                let (input, port) = self.start(life.assignment(), attempt).await;
                shell.run = Some(RunIo {
                    port,
                    ..RunIo::default()
                });
                return Some(input);
            }
            Action::Probe { passed } => {
                let run = shell.run.get_or_insert_with(|| RunIo {
                    port: life.assignment().port,
                    ..RunIo::default()
                });
                return self.probe(life.assignment(), run, passed);
            }
            Action::Expose { ready } => {
                // An adopted run's port is the one the state recorded.
                let run = shell.run.get_or_insert_with(|| RunIo {
                    port: life.assignment().port,
                    ..RunIo::default()
                });
                if let (Some(front), Some(port)) = (&self.front, run.port) {
                    front.add(&self.name, port, ready);
                }
            }
            Action::SetReady(ready) => {
                if let Some(front) = &self.front {
                    front.set_ready(&self.name, ready);
                }
            }
            Action::Drain { wait, timeout } => {
                let meshed = drain_through.is_some_and(|f| f.meshed());
                if let Some(drain) = drain_through.and_then(|f| f.drain(&self.name, timeout)) {
                    if meshed {
                        // Other nodes' proxies hold connections this node cannot count, and
                        // hear of the drain through the control plane: the whole wait is
                        // theirs to stop sending new ones and finish the open ones.
                        tokio::time::sleep(wait).await;
                    } else {
                        let _ = tokio::time::timeout(wait, drain.wait()).await;
                    }
                }
            }
            Action::Stop { signal, timeout } => {
                let signal =
                    orco_runtime::parse_signal(&signal).unwrap_or(orco_runtime::Signal::SIGTERM);
                let result = self.runtime.stop(&self.name, signal, timeout).await;
                return Some(Input::Stopped(
                    result
                        .map(|stopped| stopped.status.into_state())
                        .map_err(|e| e.to_string()),
                ));
            }
            Action::Arm(Timer::Backoff, at) => shell.backoff = Some(at),
            Action::Arm(Timer::Reset, at) => shell.reset = Some(at),
            Action::Cancel(Timer::Backoff) => shell.backoff = None,
            Action::Cancel(Timer::Reset) => shell.reset = None,
            Action::Forget => {
                let _ = self.runtime.forget(&self.name).await;
            }
            Action::End => {}
        }
        None
    }

    async fn emit(&self, kind: EventKind) {
        // The control loop outlives supervisors; if it is gone, there is nobody to tell.
        let _ = self.events.send(Event::new(Timestamp::now(), kind)).await;
    }

    /// Starts attempt `attempt`: its port, `InstanceStarting`, its launch, its process.
    async fn start(&self, assignment: &Assignment, attempt: u32) -> (Input, Option<u16>) {
        let ports = self.ports(assignment);
        let (port, chosen) = match &ports {
            Ok(p) => (p.own, p.chosen.clone()),
            Err(_) => (None, Vec::new()),
        };
        self.emit(EventKind::InstanceStarting {
            instance: self.id.clone(),
            attempt,
            port,
            chosen,
        })
        .await;
        let started = match ports {
            Ok(ports) => {
                let port = ports.own;
                match crate::launch::launch(
                    &self.id,
                    assignment,
                    &ports,
                    self.api_host.as_deref(),
                    self.node.as_deref(),
                ) {
                    Ok(launch) => self
                        .runtime
                        .start(&self.name, &launch)
                        .await
                        .map_err(LaunchError::from)
                        .map(|started| (started, port)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match started {
            Ok((started, port)) => (
                Input::Started {
                    pid: started.pid,
                    container: started.container,
                },
                port,
            ),
            Err(e) => (
                Input::StartFailed {
                    reason: e.to_string(),
                },
                None,
            ),
        }
    }

    /// The ports of the next run: a free host port for each port of the service published
    /// on a free one (`"80"`, kept in `InstanceStarting`), and the instance's own port: a
    /// free loopback port behind the proxy (in a cluster, free on every address of the node),
    /// else the service's first published TCP port (the instance listens on it itself; one
    /// chosen at start is its chosen port), else none.
    fn ports(&self, assignment: &Assignment) -> Result<RunPorts, LaunchError> {
        let ports = &assignment.service.ports;
        let wanted: Vec<_> = ports
            .iter()
            .filter(|p| p.is_ephemeral())
            .map(|p| (p.ip, p.protocol == orco_spec::Protocol::Udp))
            .collect();
        let chosen = front::free_ports_at(&wanted).map_err(LaunchError::NoFreePort)?;
        let own = if self.front.is_some() {
            // In a cluster other nodes reach the instance at its node's address: its port
            // must be free on every address, not only on loopback.
            let on = match self.node {
                Some(_) => std::net::Ipv4Addr::UNSPECIFIED,
                None => std::net::Ipv4Addr::LOCALHOST,
            };
            Some(front::free_port_on(on.into()).map_err(LaunchError::NoFreePort)?)
        } else {
            let first = ports
                .iter()
                .position(|p| p.protocol == orco_spec::Protocol::Tcp);
            first.and_then(|at| {
                if ports[at].is_ephemeral() {
                    let nth = ports[..at].iter().filter(|p| p.is_ephemeral()).count();
                    chosen.get(nth).copied()
                } else {
                    Some(ports[at].published)
                }
            })
        };
        Ok(RunPorts { own, chosen })
    }

    /// The service's health with its probes aimed at this run's own port.
    fn health_of(&self, assignment: &Assignment, port: Option<u16>) -> Option<orco_spec::Health> {
        let health = assignment.service.health.as_ref()?;
        Some(match port {
            Some(port) => {
                let published = self.front.as_ref().map(|f| f.addr().port());
                front::retarget(health, published, port)
            }
            None => health.clone(),
        })
    }

    /// Starts the probes of a run (`passed`: as passing, for a run adopted while ready). A
    /// probe that cannot run is an unready verdict.
    fn probe(&self, assignment: &Assignment, run: &mut RunIo, passed: bool) -> Option<Input> {
        let health = self.health_of(assignment, run.port)?;
        let prober = Prober::new(&health).map(|p| self.placed(assignment, p, run.port));
        match prober {
            Ok(prober) if passed => {
                let (_, rx) = mpsc::channel(1);
                run.health = Some(prober.start_passed(rx));
                None
            }
            Ok(prober) => {
                let (tx, rx) = mpsc::channel(1024);
                run.health = Some(prober.start(rx));
                if health.log.is_some() {
                    run.probe_lines = Some(tx);
                }
                None
            }
            Err(_) if passed => None,
            Err(e) => Some(Input::Probed {
                ready: false,
                reason: Some(format!("cannot probe: {e}")),
            }),
        }
    }

    /// Where the `cmd` probe runs: inside a docker service's container; for a process, in
    /// the instance's working directory with its environment (as the instance runs).
    fn placed(&self, assignment: &Assignment, prober: Prober, port: Option<u16>) -> Prober {
        if assignment.service.runtime != orco_spec::RuntimeKind::Docker {
            return match crate::launch::launch(
                &self.id,
                assignment,
                &RunPorts::own(port),
                self.api_host.as_deref(),
                self.node.as_deref(),
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
}

/// The pid of the run under way, if any.
fn running_pid(life: &Lifecycle) -> Option<i32> {
    match life.state() {
        State::Running(run) => Some(run.pid),
        _ => None,
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
            orco_runtime::ExitStatus::Unknown => ExitStatus::Unknown,
        }
    }
}

//! The node agent: runs what the control plane assigns, one supervisor per instance, and
//! reports every change as an event. Restart decisions are taken here, on the node.
//!
//! - [`Agent`]: takes assignments ([`Agent::assign`]), owns the supervisors, fans the
//!   runtime's output and exits out to them.
//! - `lifecycle`: an instance's lifecycle as a pure state machine (states, named
//!   transitions, inputs in, actions out), the supervisor's every decision.
//! - [`policy`]: the restart policy as pure decisions (backoff with jitter, resets, giving up).
//! - [`launch`]: an instance's or a task attempt's command (or container), environment and
//!   working directory; the `ORCO_*` variables are built there and nowhere else.
//! - [`front`]: the built-in proxy in front of a service's published port, the instances'
//!   own ports and probes retargeted to them.
//! - `supervisor`: one task per instance, the only owner of its process: the lifecycle's
//!   IO shell.
//! - [`task`]: one tokio task per job task attempt (start or adopt, timeout, progress,
//!   result, retry decision).

pub mod front;
pub mod launch;
mod lifecycle;
pub mod policy;
mod supervisor;
pub mod task;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use orco_interface::{Assignment, AssignmentSet, TaskAssignment};
use orco_runtime::{InstanceInfo, OutputLine, Runtime, RuntimeError, RuntimeEvent, Source};
use orco_spec::LogSource;
use orco_state::TaskId;
use orco_state::{Event, InstanceId, WorkloadId};
use tokio::sync::mpsc;

use crate::front::Front;
use crate::supervisor::{Command, Supervisor};
use crate::task::{TaskCommand, TaskRunner};

/// One line of an instance's output, for whoever prints or stores it.
#[derive(Debug, Clone)]
pub struct Output {
    /// The instance that printed it.
    pub instance: InstanceId,
    /// The line.
    pub line: OutputLine,
}

/// Where instances' output goes (a printer, the log pipeline). Called on the agent's fan-out
/// task for every line: it must never wait.
pub trait OutputSink: Send + Sync + 'static {
    /// One line an instance printed.
    fn line(&self, output: Output);

    /// Where to resume reading the output log of an instance adopted from an earlier run:
    /// the offset up to which its lines were already kept. 0 (the default) reads the whole
    /// log again.
    fn resume_offset(&self, instance: &InstanceInfo) -> u64 {
        let _ = instance;
        0
    }

    /// One line a job task printed (the default drops it).
    fn task_line(&self, task: &TaskId, line: OutputLine) {
        let _ = (task, line);
    }
}

/// A channel as a sink: lines are dropped rather than wait when it is full.
impl OutputSink for mpsc::Sender<Output> {
    fn line(&self, output: Output) {
        let _ = self.try_send(output);
    }
}

/// Where the runtime's output and exits for one instance go.
struct Inbox {
    /// The instance, for output; `None` for a task attempt (its output is read for progress).
    id: Option<InstanceId>,
    /// The task, for a task attempt's inbox.
    task: Option<TaskId>,
    exits: mpsc::UnboundedSender<(i32, orco_runtime::ExitStatus)>,
    lines: mpsc::Sender<(LogSource, Vec<u8>)>,
}

#[derive(Default)]
struct Routes {
    inboxes: HashMap<String, Inbox>,
    /// Exits of instances no supervisor owns yet (ended while no agent ran).
    unclaimed: HashMap<String, (i32, orco_runtime::ExitStatus)>,
    /// Output of instances no supervisor owns yet (printed while no agent ran), up to
    /// [`UNCLAIMED_LINES`] lines each; shown once the instance is claimed.
    unclaimed_output: HashMap<String, Vec<OutputLine>>,
}

/// Lines kept per instance that no supervisor owns yet.
const UNCLAIMED_LINES: usize = 10_000;

/// The node agent.
pub struct Agent<R: Runtime + 'static> {
    runtime: Arc<R>,
    events: mpsc::Sender<Event>,
    supervisors: HashMap<InstanceId, mpsc::UnboundedSender<Command>>,
    /// Task attempts, by runtime name.
    /// Task runners by runtime name, with the assignment each was last given.
    tasks: HashMap<String, (mpsc::UnboundedSender<TaskCommand>, TaskAssignment)>,
    routes: Arc<Mutex<Routes>>,
    /// What the runtime ran before this agent started, by runtime name, until claimed.
    adoptable: HashMap<String, InstanceInfo>,
    assigned_once: bool,
    output: Option<Arc<dyn OutputSink>>,
    /// The built-in proxy of every proxied (service, published address).
    fronts: BTreeMap<(WorkloadId, std::net::SocketAddr), Arc<Front>>,
    /// The routing mesh as last assigned: the instances of other nodes behind each proxied
    /// (service, published address) of the cluster.
    mesh: BTreeMap<(WorkloadId, std::net::SocketAddr), Vec<orco_interface::Endpoint>>,
    /// The API address instances and tasks get as `ORCO_HOST`.
    api_host: Option<String>,
    /// The node's name, which instances get as `ORCO_NODE` (a cluster's agent).
    node: Option<String>,
}

impl<R: Runtime + 'static> std::fmt::Debug for Agent<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("supervisors", &self.supervisors.len())
            .finish()
    }
}

impl<R: Runtime + 'static> Agent<R> {
    /// Starts an agent on `runtime`: events go to `events`, output lines to `output`.
    /// Instances the runtime already runs are adopted when they are assigned, and stopped
    /// after the first assignment if they are not.
    pub async fn start(
        runtime: R,
        events: mpsc::Sender<Event>,
        output: Option<Arc<dyn OutputSink>>,
    ) -> Result<Agent<R>, RuntimeError> {
        let runtime = Arc::new(runtime);
        let adoptable: HashMap<String, InstanceInfo> = runtime
            .list()
            .await?
            .into_iter()
            .map(|i| (i.instance.clone(), i))
            .collect();
        // Output of adopted instances is read from where the sink says it has kept them (by
        // default the start of their logs): what they printed while no agent ran is not lost.
        let from: BTreeMap<String, u64> = adoptable
            .values()
            .map(|i| {
                let offset = output.as_ref().map_or(0, |o| o.resume_offset(i));
                (i.instance.clone(), offset.min(i.output_len))
            })
            .collect();
        let watch = runtime.watch(from).await?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        tokio::spawn(fan_out(watch, routes.clone(), output.clone()));
        Ok(Agent {
            runtime,
            events,
            supervisors: HashMap::new(),
            tasks: HashMap::new(),
            routes,
            adoptable,
            assigned_once: false,
            output,
            fronts: BTreeMap::new(),
            mesh: BTreeMap::new(),
            api_host: None,
            node: None,
        })
    }

    /// The API address (as the CLI's `--host` takes it, e.g. `unix:///run/orco/orco.sock`)
    /// that instances and tasks started from now on get as `ORCO_HOST` (tasks report
    /// progress through it).
    pub fn set_api_host(&mut self, host: Option<String>) {
        self.api_host = host;
    }

    /// The node's name that instances started from now on get as `ORCO_NODE`.
    pub fn set_node(&mut self, node: Option<String>) {
        self.node = node;
    }

    /// The runtime the agent drives.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// Fences instances: SIGKILL to every process of each at once (no stop signal, no
    /// timeout), for a node whose lease ended. The caller then assigns the node a set
    /// without them, so that their supervisors forget them.
    pub async fn kill(&self, instances: &[InstanceId]) {
        for id in instances {
            let name = launch::runtime_name(id);
            if let Err(e) = self
                .runtime
                .signal(&name, orco_runtime::Signal::SIGKILL)
                .await
            {
                tracing::debug!(instance = %id, "fence: {e}");
            }
        }
    }

    /// Hands the runtime the node's fence (see [`Runtime::fence`]): past `deadline_ms` on the
    /// boot clock, `instances` are killed even if this agent hangs. Returns at once.
    pub fn arm_fence(&self, deadline_ms: u64, instances: &[InstanceId]) {
        let names = instances.iter().map(launch::runtime_name).collect();
        let runtime = self.runtime.clone();
        tokio::spawn(async move {
            if let Err(e) = runtime.fence(deadline_ms, names).await {
                tracing::warn!("cannot hand the node's fence to the runtime: {e}");
            }
        });
    }

    /// Makes the node match the whole assignment set of the interface: task attempts first
    /// (so that they claim their processes before unclaimed ones are swept as orphans),
    /// then instances ([`Agent::assign_tasks`], [`Agent::assign`]).
    pub fn apply(&mut self, set: &AssignmentSet) {
        self.assign_tasks(&set.tasks);
        self.mesh = set
            .routes
            .iter()
            .map(|r| ((r.workload.clone(), r.addr), r.endpoints.clone()))
            .collect();
        self.assign(&set.instances, set.settled);
    }

    /// Makes the node's instances match `assignments`: new ones get a supervisor, known ones
    /// their (possibly changed) assignment, and those no longer assigned are stopped,
    /// forgotten and their supervisors end. Returns at once; supervisors act on their own.
    ///
    /// `settled` says the assignments are complete (the control plane has nothing left to
    /// create): only then are instances the runtime ran before this agent, and that nobody
    /// claimed, stopped as orphans.
    pub fn assign(&mut self, assignments: &BTreeMap<InstanceId, Assignment>, settled: bool) {
        // One proxy per proxied (service, published address), for as long as an instance of
        // the service is assigned with a spec that proxies it, or the routing mesh has it.
        let wanted: BTreeMap<InstanceId, (WorkloadId, std::net::SocketAddr)> = assignments
            .iter()
            .filter_map(|(id, a)| {
                let port = front::proxied_port(&a.service)?;
                Some((
                    id.clone(),
                    (id.workload.clone(), front::published_addr(&port)),
                ))
            })
            .collect();
        let mesh = &self.mesh;
        self.fronts
            .retain(|key, _| wanted.values().any(|k| k == key) || mesh.contains_key(key));
        let meshed = self.node.is_some();
        for key in wanted.values().chain(self.mesh.keys()) {
            if !self.fronts.contains_key(key) {
                self.fronts.insert(key.clone(), Front::start(key.1, meshed));
            }
        }
        for (key, front) in &self.fronts {
            front.route(self.mesh.get(key).map_or(&[], Vec::as_slice));
        }
        let fronts = self.fronts.clone();
        let front_of = |id: &InstanceId| wanted.get(id).and_then(|k| fronts.get(k)).cloned();
        self.supervisors.retain(|id, tx| {
            if assignments.contains_key(id) {
                true
            } else {
                let _ = tx.send(Command::Remove);
                false
            }
        });
        for (id, assignment) in assignments {
            let front = front_of(id);
            if let Some(tx) = self.supervisors.get(id)
                && tx
                    .send(Command::Assign(Box::new(assignment.clone()), front.clone()))
                    .is_ok()
            {
                continue;
            }
            self.spawn(id, assignment, front);
        }
        if settled && !self.assigned_once {
            self.assigned_once = true;
            // Whatever the runtime ran that nobody claims is an orphan of an earlier run.
            for (name, _) in self.adoptable.drain() {
                let runtime = self.runtime.clone();
                tokio::spawn(async move {
                    let term = orco_runtime::Signal::SIGTERM;
                    let _ = runtime
                        .stop(&name, term, std::time::Duration::from_secs(10))
                        .await;
                    let _ = runtime.forget(&name).await;
                });
            }
        }
    }

    /// Makes the node's task attempts match `tasks`: a new attempt gets a runner (which
    /// adopts its process if the runtime has one, or starts it), known ones their changed
    /// assignment (a cancel), and attempts no longer assigned are stopped if they run and
    /// forgotten by the runtime. Call before [`Agent::assign`], so that attempts are claimed
    /// before unclaimed processes are swept as orphans.
    pub fn assign_tasks(&mut self, tasks: &BTreeMap<TaskId, TaskAssignment>) {
        let wanted: HashMap<String, &TaskAssignment> = tasks
            .values()
            .map(|a| (task::runtime_name(&a.task, a.attempt), a))
            .collect();
        self.tasks.retain(|name, (tx, last)| {
            if let Some(a) = wanted.get(name) {
                // A runner hears only of a change: every plan re-states every running task.
                if *a == last {
                    return !tx.is_closed();
                }
                *last = (*a).clone();
                tx.send(TaskCommand::Assign(Box::new((*a).clone()))).is_ok()
            } else {
                let _ = tx.send(TaskCommand::Remove);
                false
            }
        });
        for (name, assignment) in wanted {
            if self.tasks.contains_key(&name) {
                continue;
            }
            self.spawn_task(name, assignment.clone());
        }
    }

    fn spawn_task(&mut self, name: String, assignment: TaskAssignment) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let (line_tx, line_rx) = mpsc::channel(1024);
        {
            let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(exit) = routes.unclaimed.remove(&name) {
                let _ = exit_tx.send(exit);
            }
            // What it printed while no agent ran: into the logs, and to the runner for its
            // progress lines.
            let kept = routes.unclaimed_output.remove(&name).unwrap_or_default();
            for line in kept {
                let source = match line.source {
                    Source::Stdout => LogSource::Stdout,
                    Source::Stderr => LogSource::Stderr,
                };
                let _ = line_tx.try_send((source, line.bytes.clone()));
                if let Some(out) = &self.output {
                    out.task_line(&assignment.task, line);
                }
            }
            routes.inboxes.insert(
                name.clone(),
                Inbox {
                    id: None,
                    task: Some(assignment.task.clone()),
                    exits: exit_tx,
                    lines: line_tx,
                },
            );
        }
        let runner = TaskRunner {
            name: name.clone(),
            runtime: self.runtime.clone(),
            events: self.events.clone(),
            assignment,
            commands: cmd_rx,
            exits: exit_rx,
            lines: line_rx,
            adopted: self.adoptable.remove(&name),
            api_host: self.api_host.clone(),
        };
        let last = runner.assignment.clone();
        let routes = self.routes.clone();
        let key = name.clone();
        tokio::spawn(async move {
            runner.run().await;
            let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
            routes.inboxes.remove(&key);
        });
        self.tasks.insert(name, (cmd_tx, last));
    }

    /// How many instances the agent supervises.
    pub fn len(&self) -> usize {
        self.supervisors.len()
    }

    /// Whether the agent supervises no instance.
    pub fn is_empty(&self) -> bool {
        self.supervisors.is_empty()
    }

    fn spawn(&mut self, id: &InstanceId, assignment: &Assignment, front: Option<Arc<Front>>) {
        let name = launch::runtime_name(id);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let (line_tx, line_rx) = mpsc::channel(1024);
        {
            let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(exit) = routes.unclaimed.remove(&name) {
                let _ = exit_tx.send(exit);
            }
            let kept = routes.unclaimed_output.remove(&name).unwrap_or_default();
            if let Some(out) = &self.output {
                for line in kept {
                    out.line(Output {
                        instance: id.clone(),
                        line,
                    });
                }
            }
            routes.inboxes.insert(
                name.clone(),
                Inbox {
                    id: Some(id.clone()),
                    task: None,
                    exits: exit_tx.clone(),
                    lines: line_tx,
                },
            );
        }
        // Tells this supervisor's inbox from a later one of the same name.
        let mine = exit_tx;
        let supervisor = Supervisor {
            id: id.clone(),
            name: name.clone(),
            runtime: self.runtime.clone(),
            events: self.events.clone(),
            assignment: assignment.clone(),
            commands: cmd_rx,
            exits: exit_rx,
            lines: line_rx,
            adopted: self.adoptable.remove(&name),
            front,
            api_host: self.api_host.clone(),
            node: self.node.clone(),
        };
        let routes = self.routes.clone();
        tokio::spawn(async move {
            supervisor.run().await;
            let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
            // A new supervisor of the same name (the stack removed and applied again) may
            // have its inbox there already: that one stays.
            if routes
                .inboxes
                .get(&name)
                .is_some_and(|inbox| inbox.exits.same_channel(&mine))
            {
                routes.inboxes.remove(&name);
            }
        });
        self.supervisors.insert(id.clone(), cmd_tx);
    }
}

/// Routes the runtime's output and exits to supervisors, and output to `output`. Never waits
/// on a slow consumer: a full channel loses lines, not time.
async fn fan_out(
    mut watch: mpsc::Receiver<RuntimeEvent>,
    routes: Arc<Mutex<Routes>>,
    output: Option<Arc<dyn OutputSink>>,
) {
    while let Some(event) = watch.recv().await {
        match event {
            RuntimeEvent::Output(line) => {
                let id = {
                    let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(inbox) = routes.inboxes.get(&line.instance) else {
                        let kept = routes
                            .unclaimed_output
                            .entry(line.instance.clone())
                            .or_default();
                        if kept.len() < UNCLAIMED_LINES {
                            kept.push(line);
                        }
                        continue;
                    };
                    let source = match line.source {
                        Source::Stdout => LogSource::Stdout,
                        Source::Stderr => LogSource::Stderr,
                    };
                    let _ = inbox.lines.try_send((source, line.bytes.clone()));
                    let Some(id) = inbox.id.clone() else {
                        if let (Some(task), Some(out)) = (inbox.task.clone(), &output) {
                            drop(routes);
                            out.task_line(&task, line);
                        }
                        continue;
                    };
                    id
                };
                if let Some(out) = &output {
                    out.line(Output { instance: id, line });
                }
            }
            RuntimeEvent::Exited {
                instance,
                pid,
                status,
            } => {
                let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
                match routes.inboxes.get(&instance) {
                    Some(inbox) => {
                        let _ = inbox.exits.send((pid, status));
                    }
                    None => {
                        routes.unclaimed.insert(instance, (pid, status));
                    }
                }
            }
        }
    }
}

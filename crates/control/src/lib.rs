//! The control loop: folds the journal into [`State`], reconciles, and drives the node agent.
//! On one machine control plane and agent meet here in one process: assignments go down
//! through [`Agent::assign`], events come up through a channel and are recorded.
//!
//! - [`Engine`]: the loop and its [`Handle`] (submit desired-state events, stop everything in
//!   reverse dependency order, follow events).
//! - [`journal`]: where events are kept ([`Journal`], [`MemoryJournal`]).
//! - `cycle`: when a plan is due, as a pure state machine the loop feeds.
//! - [`place`]: in a cluster, which node each new instance goes to (the scheduler over the
//!   state's nodes).
//! - [`mesh`]: in a cluster, the routing mesh each node is sent: every proxied published
//!   port with the instances of the other nodes behind it.
//!
//! In a cluster ([`Engine::start_server`]) there is no agent in the process: each plan places
//! new instances on nodes and publishes every node's [`AssignmentSet`] ([`Cluster`]); the
//! nodes' events come back through [`Handle::report`], stored once each.

mod cycle;
pub mod journal;
pub mod mesh;
pub mod place;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orco_agent::{Agent, OutputSink};
use std::collections::{BTreeMap, HashMap};

use orco_interface::{Ack, AssignmentSet, EventBatch, Position};
use orco_reconciler::reconcile_with;
use orco_runtime::Runtime;
use orco_state::{Event, EventKind, Revision, SharedState, StackName, State, WorkloadId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::cycle::Cycle;

pub use journal::{Journal, JournalError, MemoryJournal};
pub use orco_reconciler::{DEFAULT_REPAIR_COOLDOWN, Limits};

/// Why the engine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The journal refused the events.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The loop has ended.
    #[error("the control loop has stopped")]
    Stopped,
    /// Node reports go to a server's loop, and this one runs its node in its own process.
    #[error("this engine runs its node in its own process: it takes no reports of nodes")]
    NotAServer,
}

/// The instance an event of a node is about, if it is about one.
fn instance_of(kind: &EventKind) -> Option<&orco_state::InstanceId> {
    match kind {
        EventKind::InstanceStarting { instance, .. }
        | EventKind::InstanceStarted { instance, .. }
        | EventKind::InstancePulling { instance, .. }
        | EventKind::InstanceReady { instance }
        | EventKind::InstanceUnready { instance, .. }
        | EventKind::InstanceStopping { instance, .. }
        | EventKind::InstanceExited { instance, .. }
        | EventKind::InstanceStopped { instance }
        | EventKind::InstanceFailed { instance, .. }
        | EventKind::InstanceBackoff { instance, .. }
        | EventKind::InstanceFailuresReset { instance } => Some(instance),
        _ => None,
    }
}

enum Request {
    Submit(
        Vec<EventKind>,
        oneshot::Sender<Result<Revision, ControlError>>,
    ),
    /// Events a node reported.
    Report(EventBatch, oneshot::Sender<Result<Ack, ControlError>>),
    /// A node's lease lapsed (`lost`: beyond the grace too).
    Lapsed {
        node: String,
        lost: bool,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
}

/// Every node's assignment set, as the last plan left it.
pub type NodeSets = BTreeMap<String, AssignmentSet>;

/// The cluster side of an engine started by [`Engine::start_server`]: every node's
/// assignments as they change.
#[derive(Debug, Clone)]
pub struct Cluster {
    sets: watch::Receiver<Arc<NodeSets>>,
}

impl Cluster {
    /// Every node's assignment set, updated after each plan.
    pub fn assignments(&self) -> watch::Receiver<Arc<NodeSets>> {
        self.sets.clone()
    }
}

/// Talks to a running [`Engine`].
#[derive(Debug, Clone)]
pub struct Handle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<(Revision, Event)>,
    state: Arc<SharedState>,
    folded: watch::Receiver<Revision>,
}

impl Handle {
    /// Records desired-state events (a stack applied, a scale, a restart request…); answers
    /// once they are recorded.
    pub async fn submit(&self, kinds: Vec<EventKind>) -> Result<Revision, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Submit(kinds, tx))
            .await
            .map_err(|_| ControlError::Stopped)?;
        rx.await.map_err(|_| ControlError::Stopped)?
    }

    /// Every event from now on, with its revision.
    pub fn events(&self) -> broadcast::Receiver<(Revision, Event)> {
        self.events.subscribe()
    }

    /// The state as of the latest event folded.
    pub fn state(&self) -> Arc<State> {
        self.state.snapshot()
    }

    /// Stores the events a node reported, once each: events it sent before (a batch sent
    /// again after a reconnect) are acknowledged without being stored again, and events
    /// about instances no longer placed on the node (it was declared lost meanwhile) are
    /// dropped. Answers with the acknowledgement to send the node.
    pub async fn report(&self, batch: EventBatch) -> Result<Ack, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Report(batch, tx))
            .await
            .map_err(|_| ControlError::Stopped)?;
        rx.await.map_err(|_| ControlError::Stopped)?
    }

    /// A node's lease lapsed: it is marked unreachable, or (`lost`) declared lost, its epoch
    /// raised and its instances placed elsewhere, in one write. Nothing happens to a node
    /// that is not ready (or unreachable, for `lost`) any more.
    pub async fn lapsed(&self, node: &str, lost: bool) -> Result<(), ControlError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Lapsed {
                node: node.to_string(),
                lost,
                reply: tx,
            })
            .await
            .map_err(|_| ControlError::Stopped)?;
        rx.await.map_err(|_| ControlError::Stopped)?
    }

    /// Waits until `pred` holds for the state (checked after every event).
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(&State) -> bool,
    ) -> Result<Arc<State>, ControlError> {
        let mut rx = self.folded.clone();
        loop {
            rx.borrow_and_update();
            let current = self.state.snapshot();
            if pred(&current) {
                return Ok(current);
            }
            rx.changed().await.map_err(|_| ControlError::Stopped)?;
        }
    }

    /// Stops every service of `stack` in reverse dependency order: a service stops only after
    /// everything that depends on it has stopped; services of one layer stop in parallel.
    pub async fn stop_stack(&self, stack: &StackName) -> Result<(), ControlError> {
        let state = self.state();
        let Some(spec) = state.stacks.get(stack).map(|s| s.spec.clone()) else {
            return Ok(());
        };
        let layers = orco_spec::graph(&spec).layers().unwrap_or_default();
        for layer in layers.iter().rev() {
            let services: Vec<WorkloadId> = layer
                .iter()
                .filter(|name| spec.services.contains_key(*name))
                .filter_map(|name| WorkloadId::new(stack.clone(), name.clone()).ok())
                .collect();
            if services.is_empty() {
                continue;
            }
            let kinds = services
                .iter()
                .map(|w| EventKind::StopRequested {
                    workload: w.clone(),
                })
                .collect();
            self.submit(kinds).await?;
            self.wait_for(|s| {
                s.instances
                    .iter()
                    .all(|(id, i)| !services.contains(&id.workload) || !i.phase.is_live())
            })
            .await?;
        }
        Ok(())
    }
}

/// How many events a follower of [`Handle::events`] may fall behind before it is told it
/// lagged.
pub const EVENTS_BUFFER: usize = 4096;

/// The control loop over a journal and an agent.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Starts the loop on `journal` with an agent on `runtime`. Output lines of instances go
    /// to `output` when given. The loop runs until every [`Handle`] is dropped.
    pub async fn start<R: Runtime + 'static, J: Journal>(
        journal: J,
        runtime: R,
        output: Option<Arc<dyn OutputSink>>,
    ) -> Result<Handle, orco_runtime::RuntimeError> {
        Engine::start_with(journal, runtime, output, Limits::default(), None).await
    }

    /// [`Engine::start`] with task-slot limits (`--max-concurrent-tasks`) and the API address
    /// tasks get as `ORCO_HOST`.
    pub async fn start_with<R: Runtime + 'static, J: Journal>(
        journal: J,
        runtime: R,
        output: Option<Arc<dyn OutputSink>>,
        limits: Limits,
        api_host: Option<String>,
    ) -> Result<Handle, orco_runtime::RuntimeError> {
        let (agent_tx, agent_rx) = mpsc::channel(4096);
        let mut agent = Agent::start(runtime, agent_tx, output).await?;
        agent.set_api_host(api_host);
        let (handle, run) = Loop::new(journal, Some(agent), agent_rx, limits, None);
        tokio::spawn(run.run());
        Ok(handle)
    }

    /// The loop of a server: no agent in this process; each plan places new instances on
    /// the state's nodes and publishes every node's assignments through the [`Cluster`].
    pub fn start_server<J: Journal>(journal: J, limits: Limits) -> (Handle, Cluster) {
        let (_agent_tx, agent_rx) = mpsc::channel(1);
        let (sets_tx, sets_rx) = watch::channel(Arc::new(NodeSets::new()));
        let (handle, run) = Loop::<orco_runtime::ProcessRuntime, J>::new(
            journal,
            None,
            agent_rx,
            limits,
            Some(ClusterPlane {
                sets: sets_tx,
                through: HashMap::new(),
            }),
        );
        tokio::spawn(run.run());
        (handle, Cluster { sets: sets_rx })
    }
}

/// The loop's side of a cluster.
struct ClusterPlane {
    sets: watch::Sender<Arc<NodeSets>>,
    /// Per node, the sequence number of the last event submitted for storing (ahead of the
    /// state's `events_through` while the write is under way).
    through: HashMap<String, u64>,
}

struct Loop<R: Runtime + 'static, J: Journal> {
    journal: J,
    /// The node in this process (`orco daemon`), which runs every instance.
    agent: Option<Agent<R>>,
    /// The nodes of a cluster (`orco server`).
    cluster: Option<ClusterPlane>,
    agent_rx: mpsc::Receiver<Event>,
    requests: mpsc::Receiver<Request>,
    events: broadcast::Sender<(Revision, Event)>,
    /// The revision folded so far, for [`Handle::wait_for`].
    folded: watch::Sender<Revision>,
    /// The state, folded in place; readers take snapshots of it only when they read.
    state: Arc<SharedState>,
    limits: Limits,
    /// Appends of the node's reports that failed: the loop stops, as the disk refuses.
    failed: (
        mpsc::UnboundedSender<JournalError>,
        mpsc::UnboundedReceiver<JournalError>,
    ),
}

impl<R: Runtime + 'static, J: Journal> Loop<R, J> {
    fn new(
        mut journal: J,
        agent: Option<Agent<R>>,
        agent_rx: mpsc::Receiver<Event>,
        limits: Limits,
        cluster: Option<ClusterPlane>,
    ) -> (Handle, Loop<R, J>) {
        let (req_tx, req_rx) = mpsc::channel(64);
        // A broadcast channel allocates every slot up front: this bounds memory (a slot holds
        // an event) against how far a follower of `events()` may fall behind.
        let (events_tx, _) = broadcast::channel(EVENTS_BUFFER);
        let recovered = journal.recovered();
        let (folded_tx, folded_rx) = watch::channel(recovered.revision);
        let state = Arc::new(SharedState::new(recovered));
        let handle = Handle {
            requests: req_tx,
            events: events_tx.clone(),
            state: state.clone(),
            folded: folded_rx,
        };
        let run = Loop {
            journal,
            agent,
            cluster,
            agent_rx,
            requests: req_rx,
            events: events_tx,
            folded: folded_tx,
            state,
            limits,
            failed: mpsc::unbounded_channel(),
        };
        (handle, run)
    }

    /// Hands the plan's assignments to the node in this process, or (in a cluster) publishes
    /// each node's set: the instances placed on it, at its epoch.
    fn assign(
        &mut self,
        plan_assignments: BTreeMap<orco_state::InstanceId, orco_interface::Assignment>,
        tasks: BTreeMap<orco_state::TaskId, orco_interface::TaskAssignment>,
        settled: bool,
    ) {
        let revision = self.state.revision();
        if let Some(agent) = &mut self.agent {
            // One process: epoch 0, the set handed over as it is.
            agent.apply(&AssignmentSet {
                at: Position { epoch: 0, revision },
                instances: plan_assignments,
                tasks,
                settled,
                routes: Vec::new(),
            });
            return;
        }
        let Some(cluster) = &self.cluster else {
            return;
        };
        let sets = self.state.read(|s| {
            let routes = mesh::routes(s, &plan_assignments);
            let mut sets: NodeSets = s
                .nodes
                .iter()
                .map(|(name, n)| {
                    (
                        name.clone(),
                        AssignmentSet {
                            at: Position {
                                epoch: n.epoch,
                                revision,
                            },
                            settled,
                            routes: mesh::routes_for(&routes, name),
                            ..AssignmentSet::default()
                        },
                    )
                })
                .collect();
            for (id, a) in plan_assignments {
                let node = s.instances.get(&id).and_then(|i| i.node.as_ref());
                if let Some(set) = node.and_then(|n| sets.get_mut(n)) {
                    set.instances.insert(id, a);
                }
            }
            sets
        });
        cluster.sets.send_replace(Arc::new(sets));
    }

    /// Stores a node's events once each (see [`Handle::report`]): answers the journal's
    /// future and the sequence number acknowledged, or the acknowledgement at once when
    /// nothing is new.
    #[allow(clippy::type_complexity)]
    fn report(
        &mut self,
        batch: EventBatch,
    ) -> Result<
        Result<
            (
                u64,
                impl Future<Output = Result<Revision, JournalError>> + Send + 'static,
            ),
            Ack,
        >,
        ControlError,
    > {
        let revision = self.state.revision();
        let (stored, placed): (u64, BTreeMap<orco_state::InstanceId, bool>) =
            self.state.read(|s| {
                let stored = s.nodes.get(&batch.node).map_or(0, |n| n.events_through);
                let placed = batch
                    .events
                    .iter()
                    .filter_map(|e| instance_of(&e.kind))
                    .map(|id| {
                        let here = s
                            .instances
                            .get(id)
                            .is_some_and(|i| i.node.as_deref() == Some(batch.node.as_str()));
                        (id.clone(), here)
                    })
                    .collect();
                (stored, placed)
            });
        let Some(cluster) = &mut self.cluster else {
            return Err(ControlError::NotAServer);
        };
        let through = cluster.through.entry(batch.node.clone()).or_insert(0);
        *through = (*through).max(stored);
        let last = batch.last();
        if last <= *through {
            return Ok(Err(Ack {
                through: *through,
                revision,
            }));
        }
        let skip = (*through + 1).saturating_sub(batch.first);
        let mut events: Vec<Event> = batch
            .events
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .filter(|e| instance_of(&e.kind).is_none_or(|id| placed.get(id) == Some(&true)))
            .collect();
        *through = last;
        events.push(Event::new(
            Timestamp::now(),
            EventKind::NodeEventsStored {
                node: batch.node,
                through: last,
            },
        ));
        Ok(Ok((last, self.journal.submit(events)?)))
    }

    /// A node's lease lapsed (see [`Handle::lapsed`]): the events to record, in one write.
    fn lapsed(&self, node: &str, lost: bool) -> Vec<EventKind> {
        self.state.read(|s| {
            let Some(n) = s.nodes.get(node) else {
                return Vec::new();
            };
            use orco_state::NodeStatus::{Ready, Unreachable};
            match (lost, n.status) {
                (false, Ready) => vec![EventKind::NodeUnreachable {
                    node: node.to_string(),
                }],
                (true, Ready | Unreachable) => {
                    let lost = EventKind::NodeLost {
                        node: node.to_string(),
                        epoch: n.epoch + 1,
                    };
                    // The replacements' placements go in the same write, decided on the
                    // state as it will be once the loss is folded.
                    let mut after = s.clone();
                    after.apply(&Event::new(Timestamp::now(), lost.clone()));
                    let plan = reconcile_with(&after, Timestamp::now(), &self.limits);
                    let mut kinds = vec![lost];
                    kinds.extend(place::placements(&after, &plan.assignments, after.revision));
                    kinds
                }
                _ => Vec::new(),
            }
        })
    }

    async fn run(mut self) {
        let mut cycle = Cycle::new(self.state.revision());
        let mut wake_at: Option<tokio::time::Instant> = None;
        loop {
            if cycle.due(self.state.revision()) {
                let now = Timestamp::now();
                let plan = self.state.read(|s| reconcile_with(s, now, &self.limits));
                wake_at = plan.wake_at.map(instant_of);
                let mut kinds = plan.events;
                if self.cluster.is_some() {
                    kinds.extend(
                        self.state
                            .read(|s| place::placements(s, &plan.assignments, s.revision)),
                    );
                }
                let settled = kinds.is_empty();
                let mut appended = None;
                if !settled {
                    let now = Timestamp::now();
                    let events = kinds.into_iter().map(|k| Event::new(now, k)).collect();
                    match self.journal.append(events).await {
                        Ok(rev) => appended = Some(rev),
                        Err(_) => return,
                    }
                }
                cycle.planned(appended);
                self.assign(plan.assignments, plan.tasks, settled);
            }
            let wake = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                Some(first) = self.journal.next() => {
                    let mut burst = vec![first];
                    while let Some(more) = self.journal.try_next() {
                        burst.push(more);
                    }
                    self.state.apply(burst.iter().map(|(_, event)| event));
                    let revision = self.state.revision();
                    debug_assert_eq!(burst.last().map(|(r, _)| *r), Some(revision));
                    // A burst of task starts and progress reports only changes no plan.
                    cycle.folded(burst.iter().map(|(_, e)| &e.kind));
                    for record in burst {
                        let _ = self.events.send(record);
                    }
                    // Announced once per burst of recorded events, not once per event.
                    self.folded.send_replace(revision);
                }
                Some(first) = self.agent_rx.recv() => {
                    let mut batch = vec![first];
                    while let Ok(more) = self.agent_rx.try_recv() {
                        batch.push(more);
                    }
                    // The node's reports are folded once recorded, through the journal like
                    // every event; the loop does not wait for the disk meanwhile, so reports
                    // arriving during one fsync share the next.
                    let Ok(recorded) = self.journal.submit(batch) else {
                        return;
                    };
                    let failed = self.failed.0.clone();
                    tokio::spawn(async move {
                        if let Err(e) = recorded.await {
                            let _ = failed.send(e);
                        }
                    });
                }
                Some(_) = self.failed.1.recv() => return,
                request = self.requests.recv() => match request {
                    Some(Request::Submit(kinds, reply)) => {
                        let now = Timestamp::now();
                        let events = kinds.into_iter().map(|k| Event::new(now, k)).collect();
                        match self.journal.submit(events) {
                            Ok(recorded) => {
                                tokio::spawn(async move {
                                    let _ = reply.send(recorded.await.map_err(ControlError::from));
                                });
                            }
                            Err(e) => {
                                let _ = reply.send(Err(e.into()));
                            }
                        }
                    }
                    Some(Request::Report(batch, reply)) => match self.report(batch) {
                        Ok(Ok((through, recorded))) => {
                            tokio::spawn(async move {
                                let acked = recorded
                                    .await
                                    .map(|revision| Ack { through, revision })
                                    .map_err(ControlError::from);
                                let _ = reply.send(acked);
                            });
                        }
                        Ok(Err(ack)) => {
                            let _ = reply.send(Ok(ack));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    },
                    Some(Request::Lapsed { node, lost, reply }) => {
                        let kinds = self.lapsed(&node, lost);
                        if kinds.is_empty() {
                            let _ = reply.send(Ok(()));
                        } else {
                            let now = Timestamp::now();
                            let events = kinds.into_iter().map(|k| Event::new(now, k)).collect();
                            match self.journal.submit(events) {
                                Ok(recorded) => {
                                    tokio::spawn(async move {
                                        let _ = reply.send(
                                            recorded.await.map(|_| ()).map_err(ControlError::from),
                                        );
                                    });
                                }
                                Err(e) => {
                                    let _ = reply.send(Err(e.into()));
                                }
                            }
                        }
                    }
                    None => return,
                },
                () = wake => {
                    wake_at = None;
                    cycle.woke();
                }
            }
        }
    }
}

fn instant_of(at: Timestamp) -> tokio::time::Instant {
    let wait = at.duration_since(Timestamp::now());
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + wait
}

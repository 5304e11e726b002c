//! The control loop: folds the journal into [`State`], reconciles, and drives the node agent.
//! On one machine control plane and agent meet here in one process: assignments go down
//! through [`Agent::assign`], events come up through a channel and are recorded.
//!
//! - [`Engine`]: the loop and its [`Handle`] (submit desired-state events, stop everything in
//!   reverse dependency order, follow events).
//! - [`journal`]: where events are kept ([`Journal`], [`MemoryJournal`]).
//! - `cycle`: when a plan is due, as a pure state machine the loop feeds.

mod cycle;
pub mod journal;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orco_agent::{Agent, OutputSink};
use orco_interface::{AssignmentSet, Position};
use orco_reconciler::reconcile_with;
use orco_runtime::Runtime;
use orco_state::{Event, EventKind, Revision, SharedState, StackName, State, WorkloadId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::cycle::Cycle;

pub use journal::{Journal, JournalError, MemoryJournal};
pub use orco_reconciler::Limits;

/// Why the engine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The journal refused the events.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The loop has ended.
    #[error("the control loop has stopped")]
    Stopped,
}

enum Request {
    Submit(
        Vec<EventKind>,
        oneshot::Sender<Result<Revision, ControlError>>,
    ),
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
        mut journal: J,
        runtime: R,
        output: Option<Arc<dyn OutputSink>>,
        limits: Limits,
        api_host: Option<String>,
    ) -> Result<Handle, orco_runtime::RuntimeError> {
        let (agent_tx, agent_rx) = mpsc::channel(4096);
        let mut agent = Agent::start(runtime, agent_tx, output).await?;
        agent.set_api_host(api_host);
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
            agent_rx,
            requests: req_rx,
            events: events_tx,
            folded: folded_tx,
            state,
            limits,
            failed: mpsc::unbounded_channel(),
        };
        tokio::spawn(run.run());
        Ok(handle)
    }
}

struct Loop<R: Runtime + 'static, J: Journal> {
    journal: J,
    agent: Agent<R>,
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
    async fn run(mut self) {
        let mut cycle = Cycle::new(self.state.revision());
        let mut wake_at: Option<tokio::time::Instant> = None;
        loop {
            if cycle.due(self.state.revision()) {
                let now = Timestamp::now();
                let plan = self.state.read(|s| reconcile_with(s, now, &self.limits));
                wake_at = plan.wake_at.map(instant_of);
                let settled = plan.events.is_empty();
                let mut appended = None;
                if !settled {
                    let now = Timestamp::now();
                    let events = plan
                        .events
                        .into_iter()
                        .map(|k| Event::new(now, k))
                        .collect();
                    match self.journal.append(events).await {
                        Ok(rev) => appended = Some(rev),
                        Err(_) => return,
                    }
                }
                cycle.planned(appended);
                // One process: epoch 0, the set handed over as it is.
                self.agent.apply(&AssignmentSet {
                    at: Position {
                        epoch: 0,
                        revision: self.state.revision(),
                    },
                    instances: plan.assignments,
                    tasks: plan.tasks,
                    settled,
                });
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

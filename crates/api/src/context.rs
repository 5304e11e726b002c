//! `ApiContext`: what every handler shares — the store, the local node, the metrics, the
//! lock that makes an API write's check-then-append atomic among API writes, and the current
//! state, folded live from a watch of the store so that a read of "now" costs at most one copy
//! of the state (none when nothing changed since the last read) rather than a fold from the
//! last snapshot.

use std::sync::Arc;

use jiff::Timestamp;
use orco_state::{Event, Revision, SharedState, State};
use orco_store::{At, Store};

use crate::at::parse_at;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::node::LocalNode;

/// The handlers' shared state. Cheap to clone.
#[derive(Clone)]
pub struct ApiContext {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    node: LocalNode,
    metrics: Metrics,
    writes: tokio::sync::Mutex<()>,
    started_at: Timestamp,
    engine: bool,
    logs: std::sync::OnceLock<orco_logs::Logs>,
    /// A cluster server's CA and its nodes' streams.
    cluster: std::sync::OnceLock<ClusterContext>,
    /// The current state, when a tokio runtime runs the task that keeps it.
    live: Option<Live>,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("node", &self.inner.node)
            .field("head", &self.inner.store.head())
            .finish()
    }
}

/// A cluster server places services on its nodes, not job tasks yet: a stack with jobs, or a
/// job run, is refused rather than accepted and never run.
fn refuse_jobs_on_a_cluster(events: &[Event]) -> Result<(), ApiError> {
    for event in events {
        let job = match &event.kind {
            orco_state::EventKind::StackApplied { stack } => stack.jobs.keys().next().cloned(),
            orco_state::EventKind::JobSubmitted { run } => Some(run.job.name.clone()),
            _ => None,
        };
        if let Some(job) = job {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "jobs_not_on_cluster",
                format!(
                    "job `{job}`: a cluster server runs services only; jobs do not run on a cluster's nodes yet (run them with `orco daemon`)"
                ),
            ));
        }
    }
    Ok(())
}

/// What a cluster server adds: its CA (it signs nodes' certificates and pins join tokens)
/// and its nodes' streams.
#[derive(Debug, Clone)]
pub struct ClusterContext {
    /// The cluster's CA.
    pub authority: Arc<orco_pki::Authority>,
    /// The nodes' streams into the engine.
    pub streams: Arc<orco_cluster::Streams>,
}

/// A state read for a request: the state and the moment its ages are measured to.
#[derive(Debug)]
pub struct Read {
    /// The state at the moment asked for.
    pub state: Arc<State>,
    /// That moment: the `at` time, the last event's time for an `at` revision, else now.
    pub as_of: Timestamp,
}

impl ApiContext {
    /// A context over `store`; `engine` tells clients whether the engine runs in this daemon.
    pub fn new(store: Arc<dyn Store>, node: LocalNode, engine: bool) -> ApiContext {
        let metrics = Metrics::new(store.head());
        let live = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let state = Arc::new(SharedState::default());
            let (tx, folded) = tokio::sync::watch::channel(None);
            runtime.spawn(follow(store.clone(), state.clone(), tx));
            Live { state, folded }
        });
        ApiContext {
            inner: Arc::new(Inner {
                store,
                node,
                metrics,
                writes: tokio::sync::Mutex::new(()),
                started_at: Timestamp::now(),
                engine,
                logs: std::sync::OnceLock::new(),
                cluster: std::sync::OnceLock::new(),
                live,
            }),
        }
    }

    /// The context reading instances' output from `logs` (set once; later calls are
    /// ignored). Without logs, log routes answer 503.
    pub fn with_logs(self, logs: orco_logs::Logs) -> ApiContext {
        let _ = self.inner.logs.set(logs);
        self
    }

    /// The context of a cluster server (set once; later calls are ignored): node routes
    /// (join, certificates, streams, tokens) answer only with it.
    pub fn with_cluster(self, cluster: ClusterContext) -> ApiContext {
        let _ = self.inner.cluster.set(cluster);
        self
    }

    /// The cluster server's context, when this is one.
    pub fn cluster(&self) -> Option<&ClusterContext> {
        self.inner.cluster.get()
    }

    /// The structured logs, when this daemon keeps them.
    pub fn logs(&self) -> Option<&orco_logs::Logs> {
        self.inner.logs.get()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The local node.
    pub fn node(&self) -> &LocalNode {
        &self.inner.node
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// When the daemon started.
    pub fn started_at(&self) -> Timestamp {
        self.inner.started_at
    }

    /// Whether the engine runs in this daemon.
    pub fn engine(&self) -> bool {
        self.inner.engine
    }

    /// The state at `at` (an `?at=` value; `None`: now), read off the async threads.
    pub async fn read(&self, at: Option<&str>) -> Result<Read, ApiError> {
        let now = Timestamp::now();
        let moment = match at {
            Some(text) => Some(parse_at(text, now)?),
            None => None,
        };
        if moment.is_none()
            && let Some(state) = self.live_state().await
        {
            return Ok(Read { state, as_of: now });
        }
        let store = self.inner.store.clone();
        let state = tokio::task::spawn_blocking(move || match moment {
            Some(at) => store.state_at(at),
            None => store.state(),
        })
        .await
        .map_err(|e| internal(format!("state read did not finish: {e}")))??;
        let state = Arc::new(state);
        let as_of = match moment {
            None => now,
            Some(At::Time(t)) => t,
            Some(At::Revision(_)) => state.last_event_at.unwrap_or(now),
        };
        Ok(Read { state, as_of })
    }

    /// Runs `decide` on the current state under the API write lock, checks what it returns
    /// against the daemon's limits ([`crate::limits`]) and appends it, each event naming the
    /// request's caller ([`crate::access::caller`]) as its `by`; answers once it is
    /// durable. No events: nothing is appended and the head
    /// is returned.
    pub async fn write(
        &self,
        decide: impl FnOnce(&State) -> Result<Vec<Event>, ApiError>,
    ) -> Result<crate::model::Accepted, ApiError> {
        let _guard = self.inner.writes.lock().await;
        let current = self.read(None).await?;
        let mut events = decide(&current.state)?;
        if let Some(caller) = crate::access::caller() {
            for event in &mut events {
                event.by.get_or_insert_with(|| caller.name.clone());
            }
        }
        crate::limits::check(&current.state, &events)?;
        if self.cluster().is_some() {
            refuse_jobs_on_a_cluster(&events)?;
        }
        if events.is_empty() {
            return Ok(crate::model::Accepted {
                revision: current.state.revision.max(self.inner.store.head()),
                events: 0,
            });
        }
        let n = u32::try_from(events.len()).unwrap_or(u32::MAX);
        let pending = self.inner.store.submit(events)?;
        let revision = pending.ack().await?;
        Ok(crate::model::Accepted {
            revision,
            events: n,
        })
    }
}

impl ApiContext {
    /// The live state once it has caught up with the log's head as of now (so a read after
    /// an acknowledged write sees it); `None` when there is no live state or it lags.
    async fn live_state(&self) -> Option<Arc<State>> {
        let live = self.inner.live.as_ref()?;
        let mut folded = live.folded.clone();
        let head = self.inner.store.head();
        let caught_up = folded.wait_for(|r| r.is_some_and(|r| r >= head));
        match tokio::time::timeout(LIVE_PATIENCE, caught_up).await {
            Ok(Ok(_)) => Some(live.state.snapshot()),
            _ => None,
        }
    }
}

/// The state folded live, and the revision it has reached (`None` before the first fold).
struct Live {
    state: Arc<SharedState>,
    folded: tokio::sync::watch::Receiver<Option<Revision>>,
}

/// How long a read waits for the live state to catch up before folding from the store.
const LIVE_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Keeps `live` at the current state and `tx` at its revision: a fold from the store, then
/// every event its watch delivers; folds again after a watch failure. Ends when every
/// receiver is gone.
async fn follow(
    store: Arc<dyn Store>,
    live: Arc<SharedState>,
    tx: tokio::sync::watch::Sender<Option<Revision>>,
) {
    loop {
        let folding = store.clone();
        let state = match tokio::task::spawn_blocking(move || folding.state()).await {
            Ok(Ok(state)) => state,
            _ => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(mut watch) = store.watch(state.revision) else {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        };
        let revision = state.revision;
        live.replace(state);
        tx.send_replace(Some(revision));
        loop {
            tokio::select! {
                () = tx.closed() => return,
                next = watch.next() => match next {
                    Ok(record) => {
                        let mut burst = vec![record.event];
                        while let Ok(Some(more)) = watch.try_next() {
                            burst.push(more.event);
                        }
                        live.apply(&burst);
                        tx.send_replace(Some(live.revision()));
                    }
                    Err(_) => break,
                },
            }
        }
    }
}

/// A 500 for a failure inside the daemon.
pub(crate) fn internal(message: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        message,
    )
}

//! The seam where the engine (reconciler + agent, `crates/control`) starts inside the
//! daemon. The API never calls the engine: the engine watches the same store the API
//! appends desired-state events to, and appends what it observes.
//!
//! The engine's instances run under the node keeper (`orco keeper --dir DATA/keeper`), which
//! the daemon connects to, or starts when none answers. The keeper outlives the daemon: a
//! restarted daemon connects to the same keeper and adopts every instance still running.
//! Containers of docker services run on the Docker engine, when one answers, labelled with
//! the daemon's scope; the agent drives both through one router.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use orco_control::{Engine, Handle};
use orco_docker::{DockerOptions, DockerRuntime, Router};
use orco_logs::{LogConfig, Logs};
use orco_runtime::ProcessRuntime;
use orco_store::{RedbStore, Store};

use crate::error::DaemonError;
use crate::journal::StoreJournal;
use crate::output::LogSink;

/// The keeper's directory inside the data dir.
pub const KEEPER_DIR: &str = "keeper";
/// How long the daemon waits for the Docker engine at start.
const DOCKER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The structured logs' directory inside the data dir.
pub const LOGS_DIR: &str = "logs";

/// The running engine, stopped by [`EngineHandle::stop`] on shutdown.
#[derive(Debug)]
pub struct EngineHandle {
    engine: Option<Handle>,
    logs: Option<Logs>,
    /// The daemon's own watchers of the store (pull progress, volume removal): they hold
    /// the store until aborted.
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl EngineHandle {
    /// No engine: the daemon was told to run without one.
    pub fn disabled() -> EngineHandle {
        EngineHandle {
            engine: None,
            logs: None,
            watchers: Vec::new(),
        }
    }

    /// Whether an engine runs in this daemon.
    pub fn is_running(&self) -> bool {
        self.engine.is_some()
    }

    /// The structured logs the engine writes, when it runs.
    pub fn logs(&self) -> Option<&Logs> {
        self.logs.as_ref()
    }

    /// Stops the engine: its supervisors leave instances running for the next daemon to
    /// adopt, and the logs are flushed.
    pub async fn stop(self) {
        // First, so that the keeper's going away is not taken for its death.
        for watcher in &self.watchers {
            watcher.abort();
        }
        drop(self.engine);
        for watcher in self.watchers {
            watcher.abort();
            let _ = watcher.await;
        }
        if let Some(logs) = self.logs {
            let _ = tokio::task::spawn_blocking(move || logs.shutdown()).await;
        }
    }
}

/// How long a removal of a stack's volumes waits for its containers to go.
const VOLUME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes a stack's named volumes when its removal asks for it (`orco down --volumes`), once
/// its containers are gone. Watches the log from its head: a removal recorded while no
/// daemon ran leaves the volumes (`docker volume rm` takes them).
async fn remove_volumes(docker: DockerRuntime, store: Arc<RedbStore>) {
    let mut watch = match store.watch(store.head()) {
        Ok(watch) => watch,
        Err(e) => {
            tracing::warn!("cannot watch the store for removed stacks: {e}");
            return;
        }
    };
    loop {
        let record = match watch.next().await {
            Ok(record) => record,
            Err(orco_store::StoreError::TooSlow { .. }) => {
                match store.watch(watch.last_revision()) {
                    Ok(w) => watch = w,
                    Err(e) => {
                        tracing::warn!("cannot watch the store for removed stacks: {e}");
                        return;
                    }
                }
                continue;
            }
            Err(e) => {
                tracing::warn!("the watch for removed stacks ended: {e}");
                return;
            }
        };
        if let orco_state::EventKind::StackRemoved {
            stack,
            volumes: true,
        } = record.event.kind
        {
            let docker = docker.clone();
            tokio::spawn(async move {
                match docker.remove_volumes(stack.as_str(), VOLUME_PATIENCE).await {
                    Ok(removed) => {
                        tracing::info!("stack {stack}: volumes removed: {}", removed.join(", "));
                    }
                    Err(e) => tracing::warn!("stack {stack}: cannot remove its volumes: {e}"),
                }
            });
        }
    }
}

/// The keeper died (its connection dropped) while the daemon runs: its instances lost their
/// output pipes and their parent, and nothing the engine asks of it can be done. Crash-only:
/// the daemon starts over at once (it executes itself again, same pid and arguments), which
/// starts a new keeper; that keeper stops what the dead one left running before anything
/// starts, and the agent starts every instance that should run again, once.
async fn restart_when_the_keeper_dies(keeper: ProcessRuntime, store: Arc<RedbStore>) {
    keeper.closed().await;
    let pid = keeper.keeper_pid();
    tracing::error!("the node keeper (pid {pid}) is gone: starting over with a new keeper");
    // On record before anything else happens; a store that cannot take it (a full disk)
    // does not keep the daemon from starting over.
    let lost = orco_state::Event::new(
        jiff::Timestamp::now(),
        orco_state::EventKind::KeeperLost { pid },
    );
    let recorded = match store.submit(vec![lost]) {
        Ok(pending) => pending.ack().await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        tracing::warn!("cannot record the keeper's death: {e}");
    }
    if std::env::args().nth(1).as_deref() != Some("daemon") {
        // Not `orco daemon` (a test's process): nothing to start over.
        tracing::error!("the engine cannot go on without its keeper");
        return;
    }
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            tracing::error!("cannot find the daemon's own program ({e}): exiting");
            std::process::exit(1);
        }
    };
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .exec();
    tracing::error!("cannot start the daemon again ({e}): exiting");
    std::process::exit(1);
}

/// A node's half, as `orco daemon` and `orco agent` both run it: the keeper (connected to,
/// or started as `program keeper --dir DATA/keeper`), the Docker engine when one answers
/// within [`DOCKER_PATIENCE`], and the logs with the sink that writes instances' output.
pub(crate) struct NodeParts {
    pub(crate) keeper: ProcessRuntime,
    pub(crate) docker: Option<DockerRuntime>,
    pub(crate) logs: Logs,
    pub(crate) sink: LogSink,
}

impl NodeParts {
    /// The runtime the node's agent drives: processes under the keeper, containers on Docker.
    pub(crate) fn runtime(&self) -> Router<ProcessRuntime, DockerRuntime> {
        Router::new(self.keeper.clone(), self.docker.clone())
    }
}

/// Starts a node's half in `data_dir` (see [`NodeParts`]).
pub(crate) async fn start_node(
    data_dir: &Path,
    program: &Path,
    docker_scope: &str,
    log_queue_lines: usize,
) -> Result<NodeParts, DaemonError> {
    let keeper_dir = data_dir.join(KEEPER_DIR);
    let args: [OsString; 3] = [
        "keeper".into(),
        "--dir".into(),
        keeper_dir.clone().into_os_string(),
    ];
    let keeper = ProcessRuntime::connect_or_start(&keeper_dir, program, &args)
        .await
        .map_err(DaemonError::Keeper)?;
    let options = DockerOptions {
        scope: docker_scope.to_string(),
        ..DockerOptions::default()
    };
    // A Docker engine that does not answer must not keep the node from running.
    let connect = tokio::time::timeout(DOCKER_PATIENCE, DockerRuntime::connect(options));
    let docker = match connect.await.unwrap_or_else(|_| {
        Err(orco_docker::DockerError::Unreachable(format!(
            "the Docker engine did not answer within {DOCKER_PATIENCE:?}"
        )))
    }) {
        Ok(docker) => Some(docker),
        Err(e) => {
            tracing::info!("no docker engine ({e}): docker services cannot start");
            None
        }
    };
    let log_dir = data_dir.join(LOGS_DIR);
    let config = LogConfig {
        queue_lines: log_queue_lines,
        ..LogConfig::new(&log_dir)
    };
    let logs = Logs::new(config).map_err(DaemonError::Logs)?;
    let sink = LogSink::new(logs.clone(), &log_dir).with_keeper(keeper.clone());
    sink.keep_saving();
    Ok(NodeParts {
        keeper,
        docker,
        logs,
        sink,
    })
}

/// The engine's journal over `store`: the state recovered from it (off the async threads),
/// and a watch from there.
async fn recover(store: &Arc<RedbStore>) -> Result<StoreJournal, DaemonError> {
    let recovering = store.clone();
    let recovered = tokio::task::spawn_blocking(move || recovering.state())
        .await
        .map_err(DaemonError::RecoveryAborted)?
        .map_err(DaemonError::Recover)?;
    StoreJournal::new(store.clone(), recovered).map_err(DaemonError::Watch)
}

/// `--max-concurrent-tasks`: 0 means the number of CPUs.
fn task_slots(max_concurrent_tasks: u32) -> orco_control::Limits {
    let slots = match max_concurrent_tasks {
        0 => std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        n => n,
    };
    orco_control::Limits {
        max_concurrent_tasks: slots,
        ..orco_control::Limits::default()
    }
}

/// Starts the control loop over `store` with the node's half in `data_dir` (see
/// `start_node`): recover the state, and watch the store from there.
pub async fn start_engine(
    store: &Arc<RedbStore>,
    data_dir: &Path,
    program: &Path,
    log_queue_lines: usize,
    docker_scope: &str,
    max_concurrent_tasks: u32,
    api_host: Option<String>,
) -> Result<EngineHandle, DaemonError> {
    let node = start_node(data_dir, program, docker_scope, log_queue_lines).await?;
    let mut watchers = Vec::new();
    if let Some(docker) = &node.docker {
        watchers.push(tokio::spawn(crate::pulls::report(
            docker.pull_progress(),
            store.clone(),
        )));
        watchers.push(tokio::spawn(remove_volumes(docker.clone(), store.clone())));
    }
    watchers.push(tokio::spawn(restart_when_the_keeper_dies(
        node.keeper.clone(),
        store.clone(),
    )));
    let journal = recover(store).await?;
    let runtime = node.runtime();
    let engine = Engine::start_with(
        journal,
        runtime,
        Some(Arc::new(node.sink)),
        task_slots(max_concurrent_tasks),
        api_host,
    )
    .await
    .map_err(DaemonError::Agent)?;
    Ok(EngineHandle {
        engine: Some(engine),
        logs: Some(node.logs),
        watchers,
    })
}

/// Starts a cluster server's control loop over `store`: no keeper and no agent here; the
/// nodes' agents take their assignments through [`orco_cluster::Streams`], with the
/// leases, grace and repair cooldown of `options`.
pub async fn start_server_engine(
    store: &Arc<RedbStore>,
    max_concurrent_tasks: u32,
    options: crate::config::ServerOptions,
) -> Result<(EngineHandle, Arc<orco_cluster::Streams>), DaemonError> {
    let journal = recover(store).await?;
    let limits = orco_control::Limits {
        repair_cooldown: jiff::SignedDuration::try_from(options.repair_cooldown)
            .unwrap_or(orco_control::DEFAULT_REPAIR_COOLDOWN),
        ..task_slots(max_concurrent_tasks)
    };
    let (handle, cluster) = Engine::start_server(journal, limits);
    let streams = orco_cluster::Streams::new(handle.clone(), cluster, options.lease, options.grace);
    Ok((
        EngineHandle {
            engine: Some(handle),
            logs: None,
            watchers: Vec::new(),
        },
        streams,
    ))
}

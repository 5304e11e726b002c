//! The one `Event` type: every change to desired or observed state, as a fact with its time.
//!
//! An event is written by whoever observed or decided the change (the API for desired state,
//! a supervisor for an instance, the workflow engine for jobs and tasks) and carries
//! everything [`crate::State::apply`] needs: ids, the timestamp, and values such as the pid or
//! the backoff deadline. Nothing is looked up at apply time, so replay is deterministic.
//!
//! The serde derive here gives the in-memory/API shape; the durable form adds a schema
//! version around it (see [`crate::codec`]).

use jiff::Timestamp;
use std::collections::BTreeMap;

use orco_spec::Stack;
use serde::{Deserialize, Serialize};

use crate::id::{InstanceId, JobRunId, StackName, TaskId, WorkloadId};
use crate::node::Capacity;

/// One change, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When the change happened, by the clock of whoever emitted the event.
    pub at: Timestamp,
    /// What changed.
    pub kind: EventKind,
    /// Who asked for it through the API: the name of the token (or `socket` for the unix
    /// socket). `None` for what orco observed or decided itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Event {
    /// An event of `kind` at `at`.
    pub fn new(at: Timestamp, kind: EventKind) -> Event {
        Event { at, kind, by: None }
    }

    /// The objects this event touches, as id strings, most specific first: an instance event
    /// touches the instance, its workload and its stack; a stack applied touches the stack and
    /// every workload in it. These are the keys of per-object history.
    pub fn objects(&self) -> Vec<String> {
        fn workload(w: &WorkloadId) -> Vec<String> {
            vec![w.to_string(), w.stack.to_string()]
        }
        fn instance(i: &InstanceId) -> Vec<String> {
            vec![
                i.to_string(),
                i.workload.to_string(),
                i.workload.stack.to_string(),
            ]
        }
        fn run(r: &JobRunId) -> Vec<String> {
            vec![r.to_string(), r.job.to_string(), r.job.stack.to_string()]
        }
        fn task(t: &TaskId) -> Vec<String> {
            let mut keys = vec![t.to_string()];
            keys.extend(run(&t.run));
            keys
        }
        match &self.kind {
            EventKind::StackApplied { stack } => {
                let name = &stack.stack.name;
                let mut keys = vec![name.clone()];
                for workload in stack.services.keys().chain(stack.jobs.keys()) {
                    keys.push(format!("{name}/{workload}"));
                }
                keys
            }
            EventKind::StackRemoved { stack, .. } | EventKind::StackStopRequested { stack } => {
                vec![stack.to_string()]
            }
            EventKind::ScaleChanged { workload: w, .. }
            | EventKind::RolloutFinished { workload: w }
            | EventKind::RolloutRolledBack { workload: w, .. }
            | EventKind::RollbackRequested { workload: w, .. }
            | EventKind::RolloutRestartRequested { workload: w }
            | EventKind::StopRequested { workload: w }
            | EventKind::StartRequested { workload: w } => workload(w),
            EventKind::InstanceCreated { instance: i, .. }
            | EventKind::InstanceRevised { instance: i, .. }
            | EventKind::InstanceStarting { instance: i, .. }
            | EventKind::InstanceStarted { instance: i, .. }
            | EventKind::InstancePulling { instance: i, .. }
            | EventKind::InstanceReady { instance: i }
            | EventKind::InstanceUnready { instance: i, .. }
            | EventKind::InstanceStopping { instance: i, .. }
            | EventKind::InstanceExited { instance: i, .. }
            | EventKind::InstanceStopped { instance: i }
            | EventKind::InstanceFailed { instance: i, .. }
            | EventKind::InstanceBackoff { instance: i, .. }
            | EventKind::InstanceFailuresReset { instance: i }
            | EventKind::InstanceRemoved { instance: i }
            | EventKind::InstanceEvicted { instance: i, .. }
            | EventKind::PlacementBroken { instance: i, .. }
            | EventKind::PlacementRestored { instance: i }
            | EventKind::RestartRequested { instance: i } => instance(i),
            EventKind::JobSubmitted { run: r }
            | EventKind::JobFinished { run: r, .. }
            | EventKind::JobCancelRequested { run: r }
            | EventKind::JobRetryRequested { run: r }
            | EventKind::JobScheduled { run: r, .. } => run(r),
            EventKind::ScheduledRunSkipped { job: w, .. } => workload(w),
            EventKind::TaskStarted { task: t, .. }
            | EventKind::TaskProgress { task: t, .. }
            | EventKind::TaskSucceeded { task: t }
            | EventKind::TaskFailed { task: t, .. }
            | EventKind::TaskSkipped { task: t, .. }
            | EventKind::TaskStarting { task: t, .. }
            | EventKind::TaskRetrying { task: t, .. } => task(t),
            EventKind::KeeperLost { .. }
            | EventKind::JoinTokenCreated { .. }
            | EventKind::JoinTokenRevoked { .. }
            | EventKind::JoinTokenUsed { .. } => Vec::new(),
            EventKind::ApiTokenCreated { name, .. } | EventKind::ApiTokenRevoked { name } => {
                vec![format!("token/{name}")]
            }
            EventKind::NodeJoined { node, .. }
            | EventKind::NodeUnreachable { node }
            | EventKind::NodeLost { node, .. }
            | EventKind::NodeCordoned { node, .. }
            | EventKind::NodeDrainRequested { node }
            | EventKind::NodeLabeled { node, .. }
            | EventKind::NodeTainted { node, .. }
            | EventKind::NodeRemoved { node }
            | EventKind::NodeEventsStored { node, .. } => vec![format!("node/{node}")],
            EventKind::InstancePlaced { instance: i, node } => {
                let mut keys = instance(i);
                keys.push(format!("node/{node}"));
                keys
            }
        }
    }
}

/// What changed. Named in the past tense: an event is a fact, never a request.
///
/// Adding a variant or an optional field (`#[serde(default)]`) is compatible and keeps the
/// schema version; renaming or reshaping one bumps [`crate::SCHEMA_VERSION`] and adds an
/// upgrade step in [`crate::codec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A stack file was applied (created or changed): the whole resolved stack, as desired
    /// state. Scale overrides of the stack's workloads are cleared.
    StackApplied {
        /// The resolved stack.
        stack: Box<Stack>,
    },
    /// The node replaces an instance's run with one of `revision` of its service's spec (a
    /// step of a rollout): it stops the instance and starts it again with that spec.
    InstanceRevised {
        /// Which instance.
        instance: InstanceId,
        /// The service revision it runs from now on (1 for the first spec).
        revision: u32,
    },
    /// A rollout replaced every instance of a service: each runs the rollout's revision.
    RolloutFinished {
        /// Which service.
        workload: WorkloadId,
    },
    /// A rollout failed (a new instance not ready within its deadline, or crash-looping): the
    /// service goes back to the spec it ran before, as a new revision, through the same
    /// rolling path.
    RolloutRolledBack {
        /// Which service.
        workload: WorkloadId,
        /// Why, for people.
        reason: String,
    },
    /// Returning a service to an earlier revision of its spec was asked for (`orco
    /// rollback`): that spec becomes a new revision, rolled out like any change.
    RollbackRequested {
        /// Which service.
        workload: WorkloadId,
        /// The revision whose spec to return to.
        revision: u32,
    },
    /// A rolling restart of a service was asked for (`orco restart SERVICE`): its current
    /// spec becomes a new revision, and every instance is replaced under the service's
    /// `update` bounds, as in a rollout.
    RolloutRestartRequested {
        /// Which service.
        workload: WorkloadId,
    },
    /// A stack was removed, with its instances and job runs.
    StackRemoved {
        /// Which stack.
        stack: StackName,
        /// Its named volumes go too, once its containers are gone (`orco down --volumes`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        volumes: bool,
    },
    /// A service's replica count was changed outside its stack file (`orco scale`).
    ScaleChanged {
        /// Which service.
        workload: WorkloadId,
        /// The new number of replicas.
        replicas: u32,
    },
    /// An instance (a replica slot) was created: phase `pending`.
    InstanceCreated {
        /// Which instance.
        instance: InstanceId,
        /// The node it is placed on; `None` on a single machine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// The instance's process or container is being started: phase `starting`.
    InstanceStarting {
        /// Which instance.
        instance: InstanceId,
        /// 0 for the first start, then one more for each restart.
        attempt: u32,
        /// The instance's own loopback port for this run, when orco assigns one (`PORT`,
        /// `{{port}}`): behind the built-in proxy, or the service's published port.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// The host ports chosen for this run for the service's ports published on a free
        /// port (`"80"`, `"127.0.0.1::81"`: published 0), one per such port, in their order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chosen: Vec<u16>,
    },
    /// The process or container runs: phase `running`, not ready.
    InstanceStarted {
        /// Which instance.
        instance: InstanceId,
        /// The process id (for a container, its main process as seen from the host).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// The container id, for container runtimes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
    },
    /// The image of a starting container instance is being pulled: how far the pull is, for
    /// people (a starting instance shows it as its reason until it runs). A failed pull is the
    /// start's failure, with the registry's answer, not one of these.
    InstancePulling {
        /// Which instance.
        instance: InstanceId,
        /// The image, as the stack names it.
        image: String,
        /// How far the pull is, e.g. `downloading 3 layers, 1.2 of 2.0 MB`, or `done`.
        progress: String,
    },
    /// The instance's health passes: running and ready.
    InstanceReady {
        /// Which instance.
        instance: InstanceId,
    },
    /// The instance's health stopped passing: running, not ready.
    InstanceUnready {
        /// Which instance.
        instance: InstanceId,
        /// Why, for people (the failing probe and its output).
        reason: String,
    },
    /// The instance is being stopped on purpose: phase `stopping`.
    InstanceStopping {
        /// Which instance.
        instance: InstanceId,
        /// Why, for people (`scale down`, `stack removed`, `liveness failed`…).
        reason: String,
    },
    /// The process or container exited. After `stopping` the phase becomes `stopped`;
    /// otherwise `succeeded` on exit code 0 and `failed` on anything else.
    InstanceExited {
        /// Which instance.
        instance: InstanceId,
        /// How it exited.
        status: ExitStatus,
    },
    /// The instance is stopped (after a stop, or never started before removal).
    InstanceStopped {
        /// Which instance.
        instance: InstanceId,
    },
    /// The instance failed without an exit (spawn error, image missing, gave up retrying).
    InstanceFailed {
        /// Which instance.
        instance: InstanceId,
        /// Why, for people.
        reason: String,
    },
    /// The restart policy decided to restart after a delay. Carries the policy's counters so
    /// that a re-adopting daemon continues the policy exactly where it was.
    InstanceBackoff {
        /// Which instance.
        instance: InstanceId,
        /// Consecutive failed runs so far (what `maxRetries` counts).
        failures: u32,
        /// The chosen delay (jitter included), in milliseconds.
        delay_ms: u64,
        /// When the restart is due.
        until: Timestamp,
    },
    /// The instance stayed up for `resetAfter`: its consecutive-failure count is back to 0.
    InstanceFailuresReset {
        /// Which instance.
        instance: InstanceId,
    },
    /// The instance (replica slot) no longer exists (scaled down or its stack removed).
    InstanceRemoved {
        /// Which instance.
        instance: InstanceId,
    },
    /// A restart of one instance was asked for (`orco restart`): the node restarts it once,
    /// through its stop policy, whatever its restart policy says.
    RestartRequested {
        /// Which instance.
        instance: InstanceId,
    },
    /// A service was asked to stop (`orco stop`): its instances are stopped and not
    /// restarted until a [`EventKind::StartRequested`] or the next apply of its stack.
    StopRequested {
        /// Which service.
        workload: WorkloadId,
    },
    /// Every service of a stack was asked to stop at once (`orco up` on Ctrl-C, `orco
    /// down`): as a [`EventKind::StopRequested`] for each, in one event, so that the
    /// reconciler sees them together and stops dependents first.
    StackStopRequested {
        /// Which stack.
        stack: StackName,
    },
    /// A stopped service was asked to run again (`orco start`).
    StartRequested {
        /// Which service.
        workload: WorkloadId,
    },
    /// A run of a job was submitted (by hand, or by `orco up`; a scheduled run is
    /// [`EventKind::JobScheduled`]).
    JobSubmitted {
        /// Which run.
        run: JobRunId,
    },
    /// A job run finished.
    JobFinished {
        /// Which run.
        run: JobRunId,
        /// How it ended.
        outcome: JobOutcome,
    },
    /// A task of a job run started (or restarted, after a retry backoff).
    TaskStarted {
        /// Which task.
        task: TaskId,
        /// 0 for the first run, then one more per retry.
        attempt: u32,
        /// The task's process id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// A task reported progress (through the API, `ORCO_HOST`).
    TaskProgress {
        /// Which task.
        task: TaskId,
        /// Completion in percent, 0 to 100, when the task knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<u8>,
        /// A status line, or a checkpoint name to resume from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A task exited 0.
    TaskSucceeded {
        /// Which task.
        task: TaskId,
    },
    /// A task failed for good (retries exhausted, timeout, or spawn error).
    TaskFailed {
        /// Which task.
        task: TaskId,
        /// Its exit, when it ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ExitStatus>,
        /// Why, for people.
        reason: String,
    },
    /// A task can no longer run (a dependency failed, or the run was cancelled).
    TaskSkipped {
        /// Which task.
        task: TaskId,
        /// Why, for people.
        reason: String,
    },
    /// A task is about to be started: recorded before its process starts, so that a
    /// restarted daemon adopts the process of this attempt (by its runtime name) or starts
    /// it, and never starts an attempt twice.
    TaskStarting {
        /// Which task.
        task: TaskId,
        /// The attempt: 0 for the first run, then one more per retry.
        attempt: u32,
    },
    /// A run of a task failed and the task will be tried again at `retry_at`.
    TaskRetrying {
        /// Which task.
        task: TaskId,
        /// How the failed attempt exited, when it ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ExitStatus>,
        /// Why the attempt failed, for people.
        reason: String,
        /// When the next attempt may start.
        retry_at: Timestamp,
    },
    /// Cancelling a job run was asked for: nothing of it starts any more and its running
    /// tasks are stopped.
    JobCancelRequested {
        /// Which run.
        run: JobRunId,
    },
    /// Running the failed and skipped tasks of a finished run again was asked for.
    JobRetryRequested {
        /// Which run.
        run: JobRunId,
    },
    /// A run of a job fell due on its `schedule` and was submitted: recorded before any of
    /// its tasks starts, and it moves the schedule past `due`, so that a due time is never
    /// run twice.
    JobScheduled {
        /// The run.
        run: JobRunId,
        /// The due time it runs for.
        due: Timestamp,
        /// Earlier due times that passed while no daemon ran and are not run (see
        /// `docs/stack-file.md`: only the most recent one is).
        #[serde(default, skip_serializing_if = "is_zero")]
        missed: u32,
    },
    /// A due time of a job's `schedule` passed without a run (`overlap: skip` while a run
    /// is unfinished, or `queue` while one already waits); it moves the schedule past `due`.
    ScheduledRunSkipped {
        /// The job.
        job: WorkloadId,
        /// The due time not run.
        due: Timestamp,
        /// Earlier due times missed while no daemon ran.
        #[serde(default, skip_serializing_if = "is_zero")]
        missed: u32,
        /// Why, for people.
        reason: String,
    },
    /// The node keeper died (its connection dropped under a running daemon). The daemon
    /// starts over with a new keeper, which takes the instances over (or, where it cannot,
    /// stops them before anything starts again).
    KeeperLost {
        /// The keeper that died.
        pid: i32,
    },
    /// A node's agent opened its stream: the node joined, or came back, with what it offers.
    NodeJoined {
        /// The node's name.
        node: String,
        /// The address its agent connected from.
        address: String,
        /// The machine's cores and memory.
        capacity: Capacity,
        /// The capacity minus the node's reserve.
        allocatable: Capacity,
        /// Its labels.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
        /// Its taints.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        taints: Vec<String>,
    },
    /// A node's lease lapsed: it takes no new instance; its instances stay until it is lost.
    NodeUnreachable {
        /// The node.
        node: String,
    },
    /// A node's lease lapsed beyond the grace: its epoch is raised and its instances are placed
    /// elsewhere (those with `onDisconnect: keep` stay on it). Recorded in one write with the
    /// replacements' placements.
    NodeLost {
        /// The node.
        node: String,
        /// Its new epoch.
        epoch: u64,
    },
    /// A node was cordoned (no new instance) or uncordoned.
    NodeCordoned {
        /// The node.
        node: String,
        /// Cordoned or not.
        cordoned: bool,
    },
    /// A node is to be drained (`orco node drain`): it is cordoned, and each of its
    /// instances moves to another node as a rolling update moves it (a surge instance ready
    /// elsewhere first). An uncordon ends the drain.
    NodeDrainRequested {
        /// The node.
        node: String,
    },
    /// A node's labels were set (`orco node label`): the whole set, which an agent's rejoin
    /// keeps from then on.
    NodeLabeled {
        /// The node.
        node: String,
        /// Every label of the node now.
        labels: BTreeMap<String, String>,
    },
    /// A node's taints were set (`orco node taint`): the whole list, each
    /// `key[=value][:NoExecute]`, which an agent's rejoin keeps from then on.
    NodeTainted {
        /// The node.
        node: String,
        /// Every taint of the node now.
        taints: Vec<String>,
    },
    /// An instance is to leave its node (a drain, or a NoExecute taint it does not
    /// tolerate): the node stops it, and once it is stopped it is placed elsewhere.
    InstanceEvicted {
        /// Which instance.
        instance: InstanceId,
        /// Why, for people.
        reason: String,
    },
    /// An instance's placement stopped holding: its node lost a label its `nodeSelector`
    /// needs, or no instance of its anchor is placed on its node any more. It moves (as an
    /// eviction does) once the repair cooldown has passed, unless it holds again before.
    PlacementBroken {
        /// Which instance.
        instance: InstanceId,
        /// Why, for people.
        reason: String,
    },
    /// An instance's broken placement holds again before it was moved: it stays.
    PlacementRestored {
        /// Which instance.
        instance: InstanceId,
    },
    /// A node was removed (`orco node remove`): its certificate is no longer honoured and
    /// every instance on it is placed elsewhere.
    NodeRemoved {
        /// The node.
        node: String,
    },
    /// A node's events up to a sequence number are stored (in the same write as they are).
    NodeEventsStored {
        /// The node.
        node: String,
        /// The sequence number of the last stored.
        through: u64,
    },
    /// An instance was placed on a node (by the scheduler: first placement, or again after its
    /// node was lost).
    InstancePlaced {
        /// Which instance.
        instance: InstanceId,
        /// The node.
        node: String,
    },
    /// A join token was created; its secret is kept only as a hash.
    JoinTokenCreated {
        /// Its id (the second part of the token).
        id: String,
        /// The SHA-256 of its secret, hex.
        hash: String,
        /// When it stops being accepted.
        expires: Timestamp,
        /// Whether several nodes may join with it.
        #[serde(default)]
        reusable: bool,
    },
    /// A join token was revoked.
    JoinTokenRevoked {
        /// Its id.
        id: String,
    },
    /// A node joined with a join token.
    JoinTokenUsed {
        /// The token's id.
        id: String,
        /// The node.
        node: String,
    },
    /// An API token was created; its secret is kept only as a hash.
    ApiTokenCreated {
        /// Its name (unique among the tokens ever created).
        name: String,
        /// Its id (the second part of the token).
        id: String,
        /// What it may do.
        role: crate::token::Role,
        /// The SHA-256 of its secret, hex.
        hash: String,
        /// When it stops being accepted (never when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<Timestamp>,
    },
    /// An API token was revoked.
    ApiTokenRevoked {
        /// Its name.
        name: String,
    },
}

impl EventKind {
    /// Every kind's [`EventKind::name`].
    pub const NAMES: [&'static str; 57] = [
        "stack_applied",
        "instance_revised",
        "rollout_finished",
        "rollout_rolled_back",
        "rollback_requested",
        "rollout_restart_requested",
        "stack_removed",
        "scale_changed",
        "instance_created",
        "instance_starting",
        "instance_started",
        "instance_pulling",
        "instance_ready",
        "instance_unready",
        "instance_stopping",
        "instance_exited",
        "instance_stopped",
        "instance_failed",
        "instance_backoff",
        "instance_failures_reset",
        "instance_removed",
        "restart_requested",
        "stop_requested",
        "stack_stop_requested",
        "start_requested",
        "job_submitted",
        "job_finished",
        "task_started",
        "task_progress",
        "task_succeeded",
        "task_failed",
        "task_skipped",
        "task_starting",
        "task_retrying",
        "job_cancel_requested",
        "job_retry_requested",
        "job_scheduled",
        "scheduled_run_skipped",
        "keeper_lost",
        "node_joined",
        "node_unreachable",
        "node_lost",
        "node_cordoned",
        "node_drain_requested",
        "node_labeled",
        "node_tainted",
        "instance_evicted",
        "placement_broken",
        "placement_restored",
        "node_removed",
        "node_events_stored",
        "instance_placed",
        "join_token_created",
        "join_token_revoked",
        "join_token_used",
        "api_token_created",
        "api_token_revoked",
    ];

    /// The kind's name as the log and the API spell it (`instance_started`), without
    /// serializing the event.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::StackApplied { .. } => "stack_applied",
            EventKind::InstanceRevised { .. } => "instance_revised",
            EventKind::RolloutFinished { .. } => "rollout_finished",
            EventKind::RolloutRolledBack { .. } => "rollout_rolled_back",
            EventKind::RollbackRequested { .. } => "rollback_requested",
            EventKind::RolloutRestartRequested { .. } => "rollout_restart_requested",
            EventKind::StackRemoved { .. } => "stack_removed",
            EventKind::ScaleChanged { .. } => "scale_changed",
            EventKind::InstanceCreated { .. } => "instance_created",
            EventKind::InstanceStarting { .. } => "instance_starting",
            EventKind::InstanceStarted { .. } => "instance_started",
            EventKind::InstancePulling { .. } => "instance_pulling",
            EventKind::InstanceReady { .. } => "instance_ready",
            EventKind::InstanceUnready { .. } => "instance_unready",
            EventKind::InstanceStopping { .. } => "instance_stopping",
            EventKind::InstanceExited { .. } => "instance_exited",
            EventKind::InstanceStopped { .. } => "instance_stopped",
            EventKind::InstanceFailed { .. } => "instance_failed",
            EventKind::InstanceBackoff { .. } => "instance_backoff",
            EventKind::InstanceFailuresReset { .. } => "instance_failures_reset",
            EventKind::InstanceRemoved { .. } => "instance_removed",
            EventKind::RestartRequested { .. } => "restart_requested",
            EventKind::StopRequested { .. } => "stop_requested",
            EventKind::StackStopRequested { .. } => "stack_stop_requested",
            EventKind::StartRequested { .. } => "start_requested",
            EventKind::JobSubmitted { .. } => "job_submitted",
            EventKind::JobFinished { .. } => "job_finished",
            EventKind::TaskStarted { .. } => "task_started",
            EventKind::TaskProgress { .. } => "task_progress",
            EventKind::TaskSucceeded { .. } => "task_succeeded",
            EventKind::TaskFailed { .. } => "task_failed",
            EventKind::TaskSkipped { .. } => "task_skipped",
            EventKind::TaskStarting { .. } => "task_starting",
            EventKind::TaskRetrying { .. } => "task_retrying",
            EventKind::JobCancelRequested { .. } => "job_cancel_requested",
            EventKind::JobRetryRequested { .. } => "job_retry_requested",
            EventKind::JobScheduled { .. } => "job_scheduled",
            EventKind::ScheduledRunSkipped { .. } => "scheduled_run_skipped",
            EventKind::KeeperLost { .. } => "keeper_lost",
            EventKind::NodeJoined { .. } => "node_joined",
            EventKind::NodeUnreachable { .. } => "node_unreachable",
            EventKind::NodeLost { .. } => "node_lost",
            EventKind::NodeCordoned { .. } => "node_cordoned",
            EventKind::NodeDrainRequested { .. } => "node_drain_requested",
            EventKind::NodeLabeled { .. } => "node_labeled",
            EventKind::NodeTainted { .. } => "node_tainted",
            EventKind::InstanceEvicted { .. } => "instance_evicted",
            EventKind::PlacementBroken { .. } => "placement_broken",
            EventKind::PlacementRestored { .. } => "placement_restored",
            EventKind::NodeRemoved { .. } => "node_removed",
            EventKind::NodeEventsStored { .. } => "node_events_stored",
            EventKind::InstancePlaced { .. } => "instance_placed",
            EventKind::JoinTokenCreated { .. } => "join_token_created",
            EventKind::JoinTokenRevoked { .. } => "join_token_revoked",
            EventKind::JoinTokenUsed { .. } => "join_token_used",
            EventKind::ApiTokenCreated { .. } => "api_token_created",
            EventKind::ApiTokenRevoked { .. } => "api_token_revoked",
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
    /// It ended while no keeper was its parent (taken over after its keeper died), and
    /// the status was not kept.
    Unknown,
}

impl ExitStatus {
    /// Whether this is exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// How a job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// Every task succeeded (or, with `continueOnFailure`, every task ran).
    Succeeded,
    /// A task failed and the run stopped.
    Failed,
    /// The run was cancelled.
    Cancelled,
}

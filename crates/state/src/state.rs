//! `State`: what the log says is desired and observed, and `State::apply`, the fold.
//!
//! `apply` is total and deterministic: it takes no clock, no randomness and does no IO, and
//! it accepts every event. An event about an object the state does not know (an instance
//! never created, a task of an unknown run) changes nothing but the revision: the log is a
//! record of facts and replaying it must never fail.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use orco_spec::{Job, Service, Stack};
use serde::{Deserialize, Serialize};

use crate::Revision;
use crate::event::{Event, EventKind, ExitStatus, JobOutcome};
use crate::id::{InstanceId, JobRunId, StackName, WorkloadId};

mod apply;

/// How the reason of an instance whose image is being pulled begins.
const PULLING: &str = "pulling image ";

/// The fold of the log up to [`State::revision`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// How many events were folded: the revision of the last one (0 for the empty log).
    pub revision: Revision,
    /// The timestamp of the last event folded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<Timestamp>,
    /// Applied stacks, by name.
    pub stacks: BTreeMap<StackName, StackState>,
    /// Instances, by id.
    pub instances: BTreeMap<InstanceId, Instance>,
    /// Job runs, by id.
    pub jobs: BTreeMap<JobRunId, JobRun>,
    /// Where each scheduled job's `schedule` is, by job.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schedules: BTreeMap<WorkloadId, ScheduleState>,
    /// The cluster's nodes, by name (empty on a single machine).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, crate::node::Node>,
    /// Join tokens, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub join_tokens: BTreeMap<String, crate::node::JoinToken>,
    /// API tokens, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_tokens: BTreeMap<String, crate::token::ApiToken>,
}

/// A job's `schedule` as the log knows it: the due times it has dealt with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The cron expression (as in the stack file).
    pub cron: String,
    /// Its time zone.
    pub timezone: String,
    /// When this schedule (this `cron` in this `timezone`) was applied: due times count from
    /// here.
    pub since: Timestamp,
    /// The last due time dealt with (run or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_due: Option<Timestamp>,
    /// Runs submitted by the schedule.
    #[serde(default)]
    pub runs: u64,
    /// Due times not run because of `overlap`.
    #[serde(default)]
    pub skipped: u64,
    /// Due times missed while no daemon ran.
    #[serde(default)]
    pub missed: u64,
    /// Why the last skipped due time was not run, and which it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skip: Option<(Timestamp, String)>,
}

/// One applied stack: its desired state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// The stack as last applied (shared: a state is cloned for every reader and snapshot,
    /// and a stack of thousands of tasks must not be copied each time).
    pub spec: Arc<Stack>,
    /// When it was last applied.
    pub applied_at: Timestamp,
    /// How many times it has been applied (1 after the first apply).
    pub generation: u64,
    /// Replica counts set by `orco scale` since the last apply, by service name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scale: BTreeMap<String, u32>,
    /// Services stopped by `orco stop` since the last apply.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub stopped: std::collections::BTreeSet<String>,
    /// Every revision of each service's spec and its rollout, by service name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revisions: BTreeMap<String, Revisions>,
}

/// Every spec a service has had, and its latest rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revisions {
    /// The specs, oldest first: revision N is `specs[N - 1]`; the last is the current one.
    /// A change of `replicas` alone is not a new revision.
    pub specs: Vec<Service>,
    /// The rollout under way, or the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

impl Revisions {
    /// The current revision (the last one; 0 when there is none).
    pub fn current(&self) -> u32 {
        u32::try_from(self.specs.len()).unwrap_or(u32::MAX)
    }

    /// The spec of revision `n` (1-based).
    pub fn spec(&self, n: u32) -> Option<&Service> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        self.specs.get(i)
    }

    /// Adds `spec` as a new revision and starts a rollout to it from the current one.
    fn push(&mut self, spec: Service, at: Timestamp, status: RolloutStatus) {
        let from = self.current();
        self.specs.push(spec);
        self.rollout = Some(Rollout {
            from,
            to: self.current(),
            started_at: at,
            status,
            restart: false,
        });
    }

    /// Takes `spec` (pinned: [`Service::pinned`]) as the service's spec: a new revision with
    /// a rollout to it when the restart rule says its instances must be replaced
    /// ([`Service::replaced_by`]), else the current revision takes it as it is. Returns
    /// whether it is a new revision.
    fn take(&mut self, spec: Service, at: Timestamp) -> bool {
        let spec = spec.pinned();
        match self.specs.last_mut() {
            None => {
                self.specs.push(spec);
                false
            }
            Some(last) if !last.replaced_by(&spec) => {
                *last = spec;
                false
            }
            Some(_) => {
                self.push(spec, at, RolloutStatus::Progressing);
                true
            }
        }
    }
}

/// Replacing a service's instances with those of another revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The revision the instances ran.
    pub from: u32,
    /// The revision they are replaced with.
    pub to: u32,
    /// When it began.
    pub started_at: Timestamp,
    /// Where it is.
    pub status: RolloutStatus,
    /// A rolling restart (`orco restart SERVICE`): the new revision has the old one's spec,
    /// and every instance is replaced all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RolloutStatus {
    /// Instances are being replaced.
    Progressing,
    /// Every instance runs the new revision.
    Complete,
    /// A rollout failed; this one returns to the spec that ran before it.
    RollingBack {
        /// Why the failed rollout was rolled back.
        reason: String,
    },
    /// The failed rollout was rolled back: every instance runs the earlier spec again.
    RolledBack {
        /// Why.
        reason: String,
    },
}

impl RolloutStatus {
    /// Whether instances are still being replaced.
    pub fn in_progress(&self) -> bool {
        matches!(
            self,
            RolloutStatus::Progressing | RolloutStatus::RollingBack { .. }
        )
    }
}

/// Whether an instance running `a` must be replaced to run `b`: the restart rule,
/// [`Service::replaced_by`].
pub fn spec_changed(a: &Service, b: &Service) -> bool {
    a.replaced_by(b)
}

/// An instance's lifecycle: `pending → starting → running (ready or not) → stopping →
/// stopped | succeeded | failed`; a restart goes from a final phase back to `starting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created, not started yet (or waiting for its dependencies).
    Pending,
    /// Its process or container is being started.
    Starting,
    /// Its process or container runs; `ready` when its health passes.
    Running {
        /// Whether its health passes.
        ready: bool,
    },
    /// Being stopped on purpose.
    Stopping,
    /// Stopped on purpose.
    Stopped,
    /// Exited 0 on its own.
    Succeeded,
    /// Exited non-zero, was killed, or could not run.
    Failed,
}

impl Phase {
    /// The phase after `event`, which concerns this instance. Exhaustive over the instance
    /// events: this is the lifecycle's transition table.
    fn next(self, kind: &EventKind) -> Phase {
        match kind {
            EventKind::InstanceCreated { .. } => Phase::Pending,
            EventKind::InstanceStarting { .. } => Phase::Starting,
            EventKind::InstanceStarted { .. } => Phase::Running { ready: false },
            EventKind::InstanceReady { .. } => match self {
                Phase::Running { .. } => Phase::Running { ready: true },
                other => other,
            },
            EventKind::InstanceUnready { .. } => match self {
                Phase::Running { .. } => Phase::Running { ready: false },
                other => other,
            },
            EventKind::InstanceStopping { .. } => match self {
                Phase::Stopped | Phase::Succeeded | Phase::Failed => self,
                _ => Phase::Stopping,
            },
            EventKind::InstanceExited { status, .. } => match self {
                Phase::Stopping | Phase::Stopped => Phase::Stopped,
                _ if status.success() => Phase::Succeeded,
                _ => Phase::Failed,
            },
            EventKind::InstanceStopped { .. } => Phase::Stopped,
            EventKind::InstanceFailed { .. } => Phase::Failed,
            EventKind::InstanceBackoff { .. }
            | EventKind::InstancePulling { .. }
            | EventKind::InstanceFailuresReset { .. }
            | EventKind::InstanceRemoved { .. }
            | EventKind::StackApplied { .. }
            | EventKind::StackRemoved { .. }
            | EventKind::ScaleChanged { .. }
            | EventKind::RestartRequested { .. }
            | EventKind::StopRequested { .. }
            | EventKind::StackStopRequested { .. }
            | EventKind::StartRequested { .. }
            | EventKind::JobSubmitted { .. }
            | EventKind::JobFinished { .. }
            | EventKind::TaskStarted { .. }
            | EventKind::TaskProgress { .. }
            | EventKind::TaskSucceeded { .. }
            | EventKind::TaskFailed { .. }
            | EventKind::TaskSkipped { .. }
            | EventKind::TaskStarting { .. }
            | EventKind::TaskRetrying { .. }
            | EventKind::JobCancelRequested { .. }
            | EventKind::JobRetryRequested { .. }
            | EventKind::JobScheduled { .. }
            | EventKind::ScheduledRunSkipped { .. }
            | EventKind::KeeperLost { .. }
            | EventKind::NodeJoined { .. }
            | EventKind::NodeUnreachable { .. }
            | EventKind::NodeLost { .. }
            | EventKind::NodeCordoned { .. }
            | EventKind::NodeDrainRequested { .. }
            | EventKind::NodeLabeled { .. }
            | EventKind::NodeTainted { .. }
            | EventKind::InstanceEvicted { .. }
            | EventKind::PlacementBroken { .. }
            | EventKind::PlacementRestored { .. }
            | EventKind::NodeRemoved { .. }
            | EventKind::NodeEventsStored { .. }
            | EventKind::InstancePlaced { .. }
            | EventKind::JoinTokenCreated { .. }
            | EventKind::JoinTokenRevoked { .. }
            | EventKind::JoinTokenUsed { .. }
            | EventKind::ApiTokenCreated { .. }
            | EventKind::ApiTokenRevoked { .. }
            | EventKind::InstanceRevised { .. }
            | EventKind::RolloutFinished { .. }
            | EventKind::RolloutRolledBack { .. }
            | EventKind::RollbackRequested { .. }
            | EventKind::RolloutRestartRequested { .. } => self,
        }
    }

    /// Whether the instance's process or container may be running in this phase.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Phase::Starting | Phase::Running { .. } | Phase::Stopping
        )
    }
}

/// One instance (replica slot) and what is known about its current run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Where it is in its lifecycle.
    pub phase: Phase,
    /// When it entered that phase.
    pub since: Timestamp,
    /// When it was created.
    pub created_at: Timestamp,
    /// The node it is placed on; `None` on a single machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pid of the current (or last) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The container id of the current (or last) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// How the last run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ExitStatus>,
    /// Why it last failed, became unready or was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The restart policy's counters.
    pub restarts: Restarts,
    /// How many restarts were asked for by hand (`orco restart`); the node restarts the
    /// instance each time this grows.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restart_requests: u32,
    /// How many restarts were asked for in a row, each within its service's
    /// `restartPolicy.resetAfter` of the one before: a dependent restarted by its target
    /// (`restart: true`) waits the backoff of this many before the next.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restart_streak: u32,
    /// The loopback port orco assigned to the current (or last) run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The host ports chosen for the current (or last) run for its service's ports published
    /// on a free port, in their order (see [`EventKind::InstanceStarting`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chosen_ports: Vec<u16>,
    /// The revision of its service's spec it runs (0: recorded before revisions were kept,
    /// that is the service's current one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u32,
    /// When it was created or last revised: a rollout's deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised_at: Option<Timestamp>,
    /// When its current (or last) run was started (its `InstanceStarting`; an adoption is no
    /// start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When a restart was last asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_requested_at: Option<Timestamp>,
    /// When its next start began to wait for its dependencies: set when it is created and
    /// when a stop of it is lifted (`orco up` or `orco start` after `orco stop`), cleared
    /// when it starts. While set and the instance does not run, its start is gated on its
    /// dependencies, and a dependency's `timeout` counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Timestamp>,
    /// Set while it moves off a node (a drain, a NoExecute taint): the node it leaves and
    /// why; cleared once it is ready on another node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evicted: Option<Eviction>,
    /// Set while its placement no longer holds ([`EventKind::PlacementBroken`]): it moves
    /// once the repair cooldown has passed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misplaced: Option<Misplaced>,
}

/// An instance whose placement no longer holds, waiting out the repair cooldown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Misplaced {
    /// When it stopped holding.
    pub since: Timestamp,
    /// Why, for people.
    pub reason: String,
}

/// An instance's move off a node (DESIGN.md §11: moves retire the old instance once a
/// surge instance serves, as rolling updates do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eviction {
    /// The node it leaves.
    pub from: String,
    /// Why, for people.
    pub reason: String,
}

impl Instance {
    /// Whether it still is on the node it was evicted from (the node is to stop it).
    pub fn leaving(&self) -> bool {
        self.evicted
            .as_ref()
            .is_some_and(|e| self.node.as_deref() == Some(e.from.as_str()))
    }

    /// A move's progress after an event: once an evicted instance no longer runs on the
    /// node it leaves, it is unplaced (its next start waits to be placed, and for its
    /// dependencies, as a first start does); once it is ready on another node, the move is
    /// over.
    pub(crate) fn settle_move(&mut self, at: Timestamp) {
        let Some(eviction) = &self.evicted else {
            return;
        };
        if self.leaving() {
            if !self.phase.is_live() {
                self.reason = Some(format!(
                    "moving off node {}: {}",
                    eviction.from, eviction.reason
                ));
                self.node = None;
                self.pid = None;
                self.container = None;
                self.port = None;
                self.phase = Phase::Pending;
                self.since = at;
                self.started_at = None;
                self.waiting_since = Some(at);
            }
        } else if self.node.is_some() && self.phase == (Phase::Running { ready: true }) {
            self.evicted = None;
        }
    }
}

impl Instance {
    /// A stop of it was lifted: unless it still runs, its next start waits for its
    /// dependencies from `at`.
    fn wait_again(&mut self, at: Timestamp) {
        if !self.runs() {
            self.waiting_since = Some(at);
        }
    }

    /// Whether its process or container may run or is being started (`starting`, `running`).
    fn runs(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Running { .. })
    }

    /// When the wait of its next start for its dependencies began, if that start is gated:
    /// it has never started, or it was stopped on purpose and is wanted again. A restart by
    /// its restart policy, by hand or by a rollout is not gated.
    pub fn gated_since(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Pending => Some(self.waiting_since.unwrap_or(self.created_at)),
            Phase::Stopping | Phase::Stopped | Phase::Succeeded | Phase::Failed => {
                self.waiting_since
            }
            Phase::Starting | Phase::Running { .. } => None,
        }
    }
}

/// Instances of a service recorded before revisions were kept run `current`: said so
/// before a new revision makes them old.
fn pin_revision(
    instances: &mut BTreeMap<InstanceId, Instance>,
    stack: &StackName,
    service: &str,
    current: u32,
) {
    for (id, i) in instances.iter_mut() {
        if &id.workload.stack == stack && id.workload.name.as_str() == service && i.revision == 0 {
            i.revision = current;
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The restart policy's state for one instance: enough to continue it after a daemon restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarts {
    /// Starts after the first one.
    pub total: u32,
    /// Consecutive failed runs (reset after `resetAfter` of uptime).
    pub failures: u32,
    /// The last chosen backoff delay, in milliseconds.
    pub delay_ms: u64,
    /// When the pending restart is due, while backing off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<Timestamp>,
}

/// One run of a job and its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRun {
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<JobOutcome>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Tasks that have started or been decided, by name.
    pub tasks: BTreeMap<String, TaskRecord>,
    /// Cancelling the run was asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    /// The due time of its job's `schedule` it runs for; `None` for a run submitted by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    /// `tasks`' phases by task index, derived.
    #[serde(skip)]
    pub index: PhaseIndex,
}

impl JobRun {
    fn new(at: Timestamp, due: Option<Timestamp>) -> JobRun {
        JobRun {
            submitted_at: at,
            outcome: None,
            finished_at: None,
            tasks: BTreeMap::new(),
            cancel_requested: false,
            due,
            index: PhaseIndex::default(),
        }
    }

    /// The phase of every task of `job` (the run's job as the stack now gives it), by its
    /// index in the job's [`orco_spec::TaskGraph`]; `None` for a task with no record yet.
    /// Built on the first call, then kept up to date by [`State::apply`]: reading it costs
    /// no lookup by name. `None` when the index follows another version of the job.
    pub fn phases(&self, job: &Job) -> Option<&[Option<TaskPhase>]> {
        let graph = job.graph();
        let index = self.index.0.get_or_init(|| Phases {
            graph: graph.id,
            phases: phases_by_index(&graph.names, &self.tasks),
        });
        (index.graph == graph.id).then_some(&index.phases[..])
    }

    /// [`JobRun::phases`] computed afresh, without the index.
    pub fn phases_now(&self, job: &Job) -> Vec<Option<TaskPhase>> {
        phases_by_index(&job.graph().names, &self.tasks)
    }
}

/// The phase of each of `names` in `tasks` (both in name order), in one merged walk.
fn phases_by_index(
    names: &[String],
    tasks: &BTreeMap<String, TaskRecord>,
) -> Vec<Option<TaskPhase>> {
    let mut phases = vec![None; names.len()];
    let mut recorded = tasks.iter().peekable();
    for (i, name) in names.iter().enumerate() {
        while recorded.next_if(|(k, _)| *k < name).is_some() {}
        if let Some((_, record)) = recorded.next_if(|(k, _)| *k == name) {
            phases[i] = Some(record.phase);
        }
    }
    phases
}

/// A run's task phases by task index (see [`JobRun::phases`]): derived data, never
/// serialized, equal to every other index.
#[derive(Debug, Default)]
pub struct PhaseIndex(std::sync::OnceLock<Phases>);

#[derive(Debug, Clone)]
struct Phases {
    /// The [`orco_spec::TaskGraph::id`] the indices refer to.
    graph: u64,
    phases: Vec<Option<TaskPhase>>,
}

impl Clone for PhaseIndex {
    fn clone(&self) -> PhaseIndex {
        let copy = std::sync::OnceLock::new();
        if let Some(phases) = self.0.get() {
            let _ = copy.set(phases.clone());
        }
        PhaseIndex(copy)
    }
}

impl PartialEq for PhaseIndex {
    fn eq(&self, _: &PhaseIndex) -> bool {
        true
    }
}

impl Eq for PhaseIndex {}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskPhase {
    /// Waiting to run again (after `orco job retry`).
    Pending,
    /// Its start is recorded; its process may not run yet.
    Starting,
    /// Its process runs.
    Running,
    /// An attempt failed; the next one waits until `retry_at`.
    Backoff,
    /// It exited 0.
    Succeeded,
    /// It failed for good.
    Failed,
    /// It can no longer run.
    Skipped,
}

impl TaskPhase {
    /// Whether the task has ended for this run (succeeded, failed or skipped).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskPhase::Succeeded | TaskPhase::Failed | TaskPhase::Skipped
        )
    }

    /// Whether the task holds a task slot (its process is starting or runs).
    pub fn is_active(self) -> bool {
        matches!(self, TaskPhase::Starting | TaskPhase::Running)
    }
}

/// One task of a job run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Where it is.
    pub phase: TaskPhase,
    /// When it entered that phase.
    pub since: Timestamp,
    /// The attempt number of the current (or last) run, 0 for the first.
    pub attempt: u32,
    /// The pid of the current (or last) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The last reported completion in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// The last reported status line or checkpoint, or why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How its last run exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExitStatus>,
    /// When its current (or last) attempt started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the next attempt may start (in `backoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// The first attempt of the current try: retries are counted from here, and a task
    /// that waits (`pending`) starts with this attempt. Grows with `orco job retry`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_attempt: u32,
}

impl TaskRecord {
    /// The attempt the next start of this task uses: runtime names carry it, so no two
    /// starts of a task share one.
    pub fn next_attempt(&self) -> u32 {
        match self.phase {
            TaskPhase::Pending => self.first_attempt,
            TaskPhase::Starting | TaskPhase::Running => self.attempt,
            _ => self.attempt.saturating_add(1),
        }
    }
}

impl TaskRecord {
    fn new(phase: TaskPhase, at: Timestamp) -> TaskRecord {
        TaskRecord {
            phase,
            since: at,
            attempt: 0,
            pid: None,
            percent: None,
            message: None,
            status: None,
            started_at: None,
            retry_at: None,
            first_attempt: 0,
        }
    }
}

impl State {
    /// The empty state (revision 0).
    pub fn new() -> State {
        State::default()
    }

    /// The state after folding `events` into the empty state.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut state = State::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// The desired replica count of a service: its `orco scale` override, else its stack
    /// file's `replicas`; `None` for an unknown service.
    pub fn replicas(&self, workload: &WorkloadId) -> Option<u32> {
        let stack = self.stacks.get(&workload.stack)?;
        if let Some(n) = stack.scale.get(&workload.name) {
            return Some(*n);
        }
        stack.spec.services.get(&workload.name).map(|s| s.replicas)
    }

    /// The instances of one workload, in replica order.
    pub fn instances_of<'a>(
        &'a self,
        workload: &'a WorkloadId,
    ) -> impl Iterator<Item = (&'a InstanceId, &'a Instance)> + 'a {
        self.instances
            .iter()
            .filter(move |(id, _)| &id.workload == workload)
    }
}

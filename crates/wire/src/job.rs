//! Job runs as the API shows them (`/api/v1/jobs`, also `/api/v1/workflows`): a submit,
//! the runs it created, one run with its task graph, and every schedule.

use jiff::Timestamp;
use orco_spec::{Overlap, Stack};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::{JobState, TaskState};

/// A submit: the stack that holds the jobs (applied first when it changed) and which of its
/// jobs to run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSubmit {
    /// The resolved stack (as for `POST /api/v1/stacks`).
    #[schema(value_type = Object)]
    pub stack: Stack,
    /// The jobs to run; empty: every job of the stack.
    #[serde(default)]
    pub jobs: Vec<String>,
}

/// The runs a submit created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSubmitted {
    /// Their ids, `STACK/JOB#RUN`.
    pub runs: Vec<String>,
    /// The revision of the last event appended (on disk).
    pub revision: u64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobRunView {
    /// `STACK/JOB#RUN`.
    pub id: String,
    /// `running`, `succeeded`, `failed` or `cancelled` (`cancelling` while tasks stop,
    /// `queued` while a scheduled run waits for an earlier one, `overlap: queue`).
    pub state: JobState,
    /// When it was submitted.
    #[schema(value_type = String)]
    pub submitted_at: Timestamp,
    /// When it ended.
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    /// Its job's priority.
    pub priority: i32,
    /// The due time of its job's schedule it runs for; none for a run submitted by hand.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub due: Option<Timestamp>,
    /// Its tasks, by name.
    pub tasks: Vec<TaskView>,
}

/// One task of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// Its name in the job.
    pub name: String,
    /// `waiting`, `starting`, `running`, `backoff`, `succeeded`, `failed` or `skipped`.
    pub state: TaskState,
    /// The tasks it depends on, as `TARGET` or `TARGET (require)`.
    pub depends_on: Vec<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the current (or last) attempt started running.
    #[schema(value_type = Option<String>)]
    pub started_at: Option<Timestamp>,
    /// When it entered its state.
    #[schema(value_type = Option<String>)]
    pub since: Option<Timestamp>,
    /// How long the last attempt ran (to now while it runs), in milliseconds.
    pub duration_ms: Option<u64>,
    /// Exit code of the last attempt, when it exited.
    pub exit_code: Option<i32>,
    /// Signal that killed the last attempt.
    pub signal: Option<i32>,
    /// Last reported progress in percent.
    pub percent: Option<u8>,
    /// Last progress message, or why it failed or was skipped.
    pub message: Option<String>,
    /// The pid of the current (or last) attempt.
    pub pid: Option<u32>,
}

/// Every run, oldest first, and every job schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// The revision the list was read at.
    pub revision: u64,
    /// The runs.
    pub items: Vec<JobRunView>,
    /// The scheduled jobs, by job id.
    #[serde(default)]
    pub schedules: Vec<ScheduleView>,
}

/// A job's schedule: its expression, what it has done and when it next falls due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// `STACK/JOB`.
    pub job: String,
    /// The cron expression.
    pub cron: String,
    /// Its time zone.
    pub timezone: String,
    /// `skip`, `queue` or `allow`.
    #[schema(value_type = String)]
    pub overlap: Overlap,
    /// The next due time after the last one dealt with (it may have come already).
    #[schema(value_type = Option<String>)]
    pub next_due: Option<Timestamp>,
    /// The last due time dealt with (run or skipped).
    #[schema(value_type = Option<String>)]
    pub last_due: Option<Timestamp>,
    /// Runs the schedule submitted.
    pub runs: u64,
    /// Due times skipped because of `overlap`.
    pub skipped: u64,
    /// Due times missed while no daemon ran.
    pub missed: u64,
    /// The last skipped due time.
    #[schema(value_type = Option<String>)]
    pub last_skipped_due: Option<Timestamp>,
    /// Why it was skipped.
    pub last_skip_reason: Option<String>,
}

/// Progress a task reports: a percent, a message, or both.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    /// Completion in percent (0 to 100; more counts as 100).
    #[serde(default)]
    pub percent: Option<u8>,
    /// A status line or a checkpoint name.
    #[serde(default)]
    pub message: Option<String>,
}

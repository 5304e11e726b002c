//! `/api/v1/jobs` (also `/api/v1/workflows`): submit runs of jobs, list them, one run's task
//! graph with each task's state, and cancel or retry a run.

use axum::extract::State;
use jiff::Timestamp;
use orco_state::{
    Event, EventKind, ExitStatus, JobRun, JobRunId, StackName, TaskPhase, WorkloadId,
};

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::model::Accepted;
use crate::routes::stacks::{apply_events, validate};
pub use orco_wire::job::{
    JobList, JobRunView, JobSubmit, JobSubmitted, ProgressReport, ScheduleView, TaskView,
};
use orco_wire::{JobState, TaskState};

/// Submit runs of a stack's jobs. A new stack is applied as it is; into an applied stack only
/// the submitted file's jobs are merged (its services stay as they are).
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = JobSubmit,
    responses(
        (status = 200, description = "Submitted (durable)", body = JobSubmitted),
        (status = 422, description = "Invalid stack, or no such job", body = ErrorBody),
    ))]
pub async fn submit(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody<JobSubmit>,
) -> Result<axum::Json<JobSubmitted>, ApiError> {
    let stack = validate(&body.stack)?;
    let mut runs = Vec::new();
    let accepted = ctx
        .write(|state| {
            let name = StackName::new(stack.stack.name.clone())
                .map_err(|e| ApiError::unprocessable("invalid_stack", e.to_string()))?;
            let jobs: Vec<String> = if body.jobs.is_empty() {
                stack.jobs.keys().cloned().collect()
            } else {
                body.jobs.clone()
            };
            if jobs.is_empty() {
                return Err(ApiError::unprocessable(
                    "no_jobs",
                    format!("stack `{name}` has no jobs: add one under `jobs:`"),
                ));
            }
            // A jobs file never changes the services of a stack that runs.
            let merged = match state.stacks.get(&name) {
                Some(current) => {
                    let mut spec = orco_spec::Stack::clone(&current.spec);
                    spec.jobs.extend(stack.jobs.clone());
                    validate(&spec)?
                }
                None => stack.clone(),
            };
            let mut events = if state.stacks.get(&name).is_some_and(|c| *c.spec == merged) {
                Vec::new()
            } else {
                apply_events(state, merged)?
            };
            let now = Timestamp::now();
            for job in jobs {
                if !stack.jobs.contains_key(&job) {
                    return Err(ApiError::unprocessable(
                        "unknown_job",
                        format!("stack `{name}` has no job `{job}`"),
                    )
                    .with_field("jobs"));
                }
                let job = WorkloadId::new(name.clone(), job)
                    .map_err(|e| ApiError::unprocessable("invalid_id", e.to_string()))?;
                let last = state
                    .jobs
                    .keys()
                    .filter(|r| r.job == job)
                    .map(|r| r.run)
                    .max()
                    .unwrap_or(0);
                let run = JobRunId { job, run: last + 1 };
                runs.push(run.to_string());
                events.push(Event::new(now, EventKind::JobSubmitted { run }));
            }
            Ok(events)
        })
        .await?;
    Ok(axum::Json(JobSubmitted {
        runs,
        revision: accepted.revision,
    }))
}

/// Every job run, oldest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses((status = 200, body = JobList)))]
pub async fn list(State(ctx): State<ApiContext>) -> Result<axum::Json<JobList>, ApiError> {
    let read = ctx.read(None).await?;
    let mut items: Vec<JobRunView> = read
        .state
        .jobs
        .iter()
        .map(|(id, run)| run_view(&read.state, id, run, read.as_of))
        .collect();
    items.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at).then(a.id.cmp(&b.id)));
    let schedules = read
        .state
        .schedules
        .iter()
        .map(|(job, s)| schedule_view(&read.state, job, s))
        .collect();
    Ok(axum::Json(JobList {
        revision: read.state.revision,
        items,
        schedules,
    }))
}

fn schedule_view(
    state: &orco_state::State,
    job: &WorkloadId,
    s: &orco_state::ScheduleState,
) -> ScheduleView {
    let overlap = state
        .stacks
        .get(&job.stack)
        .and_then(|st| st.spec.jobs.get(&job.name))
        .and_then(|j| j.schedule.as_ref())
        .map_or(orco_spec::Overlap::Skip, |sc| sc.overlap);
    let next_due = match (
        orco_cron::Cron::parse(&s.cron),
        jiff::tz::TimeZone::get(&s.timezone),
    ) {
        (Ok(cron), Ok(tz)) => cron.next_after(&tz, s.last_due.unwrap_or(s.since)),
        _ => None,
    };
    ScheduleView {
        job: job.to_string(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        overlap,
        next_due,
        last_due: s.last_due,
        runs: s.runs,
        skipped: s.skipped,
        missed: s.missed,
        last_skipped_due: s.last_skip.as_ref().map(|(at, _)| *at),
        last_skip_reason: s.last_skip.as_ref().map(|(_, why)| why.clone()),
    }
}

/// One run with its tasks.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "`STACK/JOB#RUN`, `JOB#RUN` or `JOB` (its latest run), percent-encoded")),
    responses((status = 200, body = JobRunView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<JobRunView>, ApiError> {
    let read = ctx.read(None).await?;
    let run = known_run(&read.state, &id)?;
    let view = run_view(&read.state, &run, &read.state.jobs[&run], read.as_of);
    Ok(axum::Json(view))
}

/// Cancel a run: nothing of it starts any more and its running tasks are stopped.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "The run")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let run = known_run(state, &id)?;
            if state.jobs[&run].outcome.is_some() {
                return Err(conflict("finished", format!("{run} has already finished")));
            }
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::JobCancelRequested { run },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// Run the failed and skipped tasks of a finished run again (succeeded ones are kept).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "The run")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let run = known_run(state, &id)?;
            if state.jobs[&run].outcome.is_none() {
                return Err(conflict(
                    "running",
                    format!("{run} is still running: wait for it or cancel it first"),
                ));
            }
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::JobRetryRequested { run },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// Record progress of a running task (what a `PROGRESS: 42 message` line does).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/tasks/{task}/progress", tag = "jobs",
    params(("id" = String, Path, description = "The run"), ("task" = String, Path, description = "The task's name")),
    request_body = ProgressReport,
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn progress(
    State(ctx): State<ApiContext>,
    ApiPath((id, task)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<ProgressReport>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let run = known_run(state, &id)?;
            let active = state.jobs[&run]
                .tasks
                .get(&task)
                .is_some_and(|t| t.phase.is_active());
            if !active {
                return Err(conflict(
                    "task_not_running",
                    format!("task `{task}` of {run} is not running"),
                ));
            }
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::TaskProgress {
                    task: orco_state::TaskId { run, task },
                    percent: body.percent.map(|p| p.min(100)),
                    message: body.message.clone(),
                },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::CONFLICT, code, message)
}

/// The run `text` names: `STACK/JOB#RUN`, `JOB#RUN` or `JOB` (the latest run), the last two
/// when only one stack has such a job.
fn known_run(state: &orco_state::State, text: &str) -> Result<JobRunId, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "job_run_not_found",
            format!("no job run `{text}`: `orco job list` shows them"),
        )
    };
    if let Ok(run) = text.parse::<JobRunId>() {
        return state
            .jobs
            .contains_key(&run)
            .then_some(run)
            .ok_or_else(not_found);
    }
    let (job, number) = match text.split_once('#') {
        Some((job, n)) => (job, Some(n.parse::<u64>().map_err(|_| not_found())?)),
        None => (text, None),
    };
    let matching: Vec<&JobRunId> = state
        .jobs
        .keys()
        .filter(|r| r.job.name == job || r.job.to_string() == job)
        .filter(|r| number.is_none_or(|n| r.run == n))
        .collect();
    let stacks: std::collections::BTreeSet<_> = matching.iter().map(|r| &r.job.stack).collect();
    if stacks.len() > 1 {
        return Err(ApiError::unprocessable(
            "ambiguous",
            format!("`{text}` names runs in several stacks: give `STACK/{text}`"),
        ));
    }
    matching
        .into_iter()
        .max_by_key(|r| r.run)
        .cloned()
        .ok_or_else(not_found)
}

/// Whether a scheduled run waits for an earlier run of its job (`overlap: queue`), as the
/// reconciler holds it.
fn queued(state: &orco_state::State, id: &JobRunId, run: &JobRun) -> bool {
    let queue = state
        .stacks
        .get(&id.job.stack)
        .and_then(|s| s.spec.jobs.get(&id.job.name))
        .and_then(|j| j.schedule.as_ref())
        .is_some_and(|s| s.overlap == orco_spec::Overlap::Queue);
    queue
        && run.due.is_some()
        && run.tasks.is_empty()
        && state
            .jobs
            .iter()
            .any(|(other, r)| other.job == id.job && other.run < id.run && r.outcome.is_none())
}

/// The view of one run at `now`.
pub fn run_view(
    state: &orco_state::State,
    id: &JobRunId,
    run: &JobRun,
    now: Timestamp,
) -> JobRunView {
    let job = state
        .stacks
        .get(&id.job.stack)
        .and_then(|s| s.spec.jobs.get(&id.job.name));
    let word = match run.outcome {
        Some(orco_state::JobOutcome::Succeeded) => JobState::Succeeded,
        Some(orco_state::JobOutcome::Failed) => JobState::Failed,
        Some(orco_state::JobOutcome::Cancelled) => JobState::Cancelled,
        None if run.cancel_requested => JobState::Cancelling,
        None if queued(state, id, run) => JobState::Queued,
        None => JobState::Running,
    };
    let mut names: Vec<&String> = run.tasks.keys().collect();
    if let Some(job) = job {
        names.extend(job.tasks.keys().filter(|n| !run.tasks.contains_key(*n)));
    }
    names.sort();
    let tasks = names
        .into_iter()
        .map(|name| {
            let spec = job.and_then(|j| j.tasks.get(name));
            let depends_on = spec
                .map(|t| {
                    t.depends_on
                        .iter()
                        .map(|d| match d.require {
                            orco_spec::Require::Succeeded => d.target.clone(),
                            other => format!("{} ({})", d.target, other.as_str()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let Some(r) = run.tasks.get(name) else {
                return TaskView {
                    name: name.clone(),
                    state: TaskState::Waiting,
                    depends_on,
                    attempts: 0,
                    started_at: None,
                    since: None,
                    duration_ms: None,
                    exit_code: None,
                    signal: None,
                    percent: None,
                    message: None,
                    pid: None,
                };
            };
            let state = match r.phase {
                TaskPhase::Pending => TaskState::Waiting,
                TaskPhase::Starting => TaskState::Starting,
                TaskPhase::Running => TaskState::Running,
                TaskPhase::Backoff => TaskState::Backoff,
                TaskPhase::Succeeded => TaskState::Succeeded,
                TaskPhase::Failed => TaskState::Failed,
                TaskPhase::Skipped => TaskState::Skipped,
            };
            let ran = r.started_at.is_some();
            let end = if r.phase == TaskPhase::Running {
                now
            } else {
                r.since
            };
            let duration_ms = r
                .started_at
                .filter(|_| r.phase != TaskPhase::Starting)
                .map(|s| u64::try_from(end.duration_since(s).as_millis()).unwrap_or(0));
            TaskView {
                name: name.clone(),
                state,
                depends_on,
                attempts: if ran || r.status.is_some() {
                    r.attempt.saturating_add(1)
                } else {
                    r.attempt
                },
                started_at: r.started_at,
                since: Some(r.since),
                duration_ms,
                exit_code: match r.status {
                    Some(ExitStatus::Code(c)) => Some(c),
                    _ => None,
                },
                signal: match r.status {
                    Some(ExitStatus::Signal(s)) => Some(s),
                    _ => None,
                },
                percent: r.percent,
                message: r.message.clone(),
                pid: r.pid,
            }
        })
        .collect();
    JobRunView {
        id: id.to_string(),
        state: word,
        submitted_at: run.submitted_at,
        finished_at: run.finished_at,
        priority: job.map_or(0, |j| j.priority),
        due: run.due,
        tasks,
    }
}

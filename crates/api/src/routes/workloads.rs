//! `/api/v1/workloads`: list, create, get, delete, scale, and restart/stop/start a workload.

use axum::extract::State;
use jiff::Timestamp;
use orco_spec::{Stack, StackMeta};
use orco_state::{Event, EventKind, StackName, StackState, WorkloadId};

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::model::{
    Accepted, RollbackRequest, RolloutInstance, RolloutState, RolloutView, ScaleRequest,
    SpecRevision, WorkloadCreate, WorkloadDetail, WorkloadList,
};
use crate::routes::stacks::validate;
use crate::routes::{AtQuery, ListQuery, known_stack, known_workload};
use crate::views::{instance_view, workload_view, workload_views};
use orco_wire::RolloutStatus;

/// Events that apply `stack` and then restore the scale and stop overrides `current` had
/// for the workloads other than `except` (an apply clears them), in one atomic append.
fn reapply(
    stack: Stack,
    current: Option<&StackState>,
    except: &str,
) -> Result<Vec<Event>, ApiError> {
    let name = StackName::new(stack.stack.name.clone())
        .map_err(|e| ApiError::unprocessable("invalid_stack", e.to_string()).with_field("stack"))?;
    let now = Timestamp::now();
    let mut events = Vec::new();
    let mut keep = Vec::new();
    if let Some(current) = current {
        for (service, replicas) in &current.scale {
            if service != except && stack.services.contains_key(service) {
                let workload = WorkloadId::new(name.clone(), service.clone())
                    .map_err(|e| ApiError::unprocessable("invalid_id", e.to_string()))?;
                keep.push(EventKind::ScaleChanged {
                    workload,
                    replicas: *replicas,
                });
            }
        }
        for service in &current.stopped {
            if service != except && stack.services.contains_key(service) {
                let workload = WorkloadId::new(name.clone(), service.clone())
                    .map_err(|e| ApiError::unprocessable("invalid_id", e.to_string()))?;
                keep.push(EventKind::StopRequested { workload });
            }
        }
    }
    events.push(Event::new(
        now,
        EventKind::StackApplied {
            stack: Box::new(stack),
        },
    ));
    events.extend(keep.into_iter().map(|kind| Event::new(now, kind)));
    Ok(events)
}

/// List workloads (services and jobs) with a summary of their instances.
#[utoipa::path(get, path = "/api/v1/workloads", tag = "workloads", params(ListQuery),
    responses((status = 200, body = WorkloadList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<WorkloadList>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let only = match q.stack.as_deref() {
        Some(s) => Some(known_stack(&read.state, s)?),
        None => None,
    };
    let items = workload_views(&read.state, only.as_ref(), read.as_of);
    Ok(axum::Json(WorkloadList {
        revision: read.state.revision,
        as_of: read.as_of,
        items,
    }))
}

/// Add (or replace) one service in a stack, creating the stack when it does not exist. The
/// other services keep their scale and stop overrides.
#[utoipa::path(post, path = "/api/v1/workloads", tag = "workloads", request_body = WorkloadCreate,
    responses(
        (status = 200, body = Accepted),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Wrong types, unknown fields or an invalid stack", body = ErrorBody),
    ))]
pub async fn create(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody<WorkloadCreate>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let existing = StackName::new(body.stack.clone())
                .ok()
                .and_then(|n| state.stacks.get(&n));
            let mut stack = match existing {
                Some(current) => Stack::clone(&current.spec),
                None => Stack {
                    version: orco_spec::VERSION.into(),
                    stack: StackMeta {
                        name: body.stack.clone(),
                        workdir: body.workdir.clone().unwrap_or_else(|| "/".into()).into(),
                    },
                    defaults: Default::default(),
                    services: Default::default(),
                    jobs: Default::default(),
                    secrets: Default::default(),
                },
            };
            if stack.jobs.contains_key(&body.name) {
                return Err(ApiError::unprocessable(
                    "name_taken",
                    format!(
                        "stack `{}` has a job named `{}`: pick another name",
                        body.stack, body.name
                    ),
                )
                .with_field("name"));
            }
            stack
                .services
                .insert(body.name.clone(), body.service.clone());
            let stack = validate(&stack)?;
            reapply(stack, existing, &body.name)
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// One workload with its spec and instances.
#[utoipa::path(get, path = "/api/v1/workloads/{id}", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME` (the slash percent-encoded), or `NAME` when unambiguous"), AtQuery),
    responses((status = 200, body = WorkloadDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<WorkloadDetail>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let id = known_workload(&read.state, &id, None)?;
    let not_found = || ApiError::not_found("workload_not_found", format!("no workload `{id}`"));
    let workload = workload_view(&read.state, &id, read.as_of).ok_or_else(not_found)?;
    let stack = read.state.stacks.get(&id.stack).ok_or_else(not_found)?;
    let spec = match stack.spec.services.get(&id.name) {
        Some(service) => serde_json::to_value(service),
        None => serde_json::to_value(stack.spec.jobs.get(&id.name)),
    }
    .unwrap_or_default();
    let unplaced = orco_control::place::unplaced(&read.state, read.as_of);
    let instances = read
        .state
        .instances_of(&id)
        .map(|(iid, i)| instance_view(&read.state, iid, i, &unplaced))
        .collect();
    Ok(axum::Json(WorkloadDetail {
        revision: read.state.revision,
        as_of: read.as_of,
        workload,
        spec,
        instances,
    }))
}

/// Remove a workload from its stack (the stack goes when its last workload does).
#[utoipa::path(delete, path = "/api/v1/workloads/{id}", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 422, description = "Other workloads depend on it", body = ErrorBody)))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let id = known_workload(state, &id, None)?;
            let Some(current) = state.stacks.get(&id.stack) else {
                return Err(ApiError::not_found("stack_not_found", format!("no stack `{}`", id.stack)));
            };
            let mut stack = Stack::clone(&current.spec);
            stack.services.remove(&id.name);
            stack.jobs.remove(&id.name);
            if stack.services.is_empty() && stack.jobs.is_empty() {
                return Ok(vec![Event::new(
                    Timestamp::now(),
                    EventKind::StackRemoved {
                        stack: id.stack,
                        volumes: false,
                    },
                )]);
            }
            let stack = validate(&stack).map_err(|mut e| {
                e.detail.message = format!(
                    "removing {id} would leave its stack invalid ({}): remove what depends on it first",
                    e.detail.message
                );
                e
            })?;
            reapply(stack, Some(current), &id.name)
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// The service `id` names, or `422 not_a_service` for a job.
fn service(state: &orco_state::State, id: &str) -> Result<WorkloadId, ApiError> {
    let id = known_workload(state, id, None)?;
    let is_service = state
        .stacks
        .get(&id.stack)
        .is_some_and(|s| s.spec.services.contains_key(&id.name));
    if is_service {
        Ok(id)
    } else {
        Err(ApiError::unprocessable(
            "not_a_service",
            format!("{id} is a job: only services have replicas and can be stopped or started"),
        ))
    }
}

/// Set a service's replica count (until the next apply of its stack).
#[utoipa::path(patch, path = "/api/v1/workloads/{id}/scale", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous")),
    request_body = ScaleRequest,
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scale(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<ScaleRequest>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let workload = service(state, &id)?;
            if state.replicas(&workload) == Some(body.replicas) {
                return Ok(Vec::new());
            }
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::ScaleChanged {
                    workload,
                    replicas: body.replicas,
                },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// `?all=`: how a restart goes.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RestartQuery {
    /// Restart every instance at once. Default: a rolling restart, replica by replica under
    /// the service's `update` bounds (a replacement is started and ready before the old
    /// instance is drained and stopped).
    pub all: Option<bool>,
}

/// Restart a service's instances once, through their stop policy: as a rolling restart
/// (the current spec becomes a new revision, rolled out like a change) or, with `all`, every
/// instance at once.
#[utoipa::path(post, path = "/api/v1/workloads/{id}/restart", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous"), RestartQuery),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, description = "It has no instance yet", body = ErrorBody)))]
pub async fn restart(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RestartQuery>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let workload = known_workload(state, &id, None)?;
            let now = Timestamp::now();
            let events: Vec<Event> = state
                .instances_of(&workload)
                .map(|(instance, _)| {
                    Event::new(
                        now,
                        EventKind::RestartRequested {
                            instance: instance.clone(),
                        },
                    )
                })
                .collect();
            if events.is_empty() {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "no_instances",
                    format!("{workload} has no instance to restart yet"),
                ));
            }
            let revisions = state
                .stacks
                .get(&workload.stack)
                .and_then(|s| s.revisions.get(workload.name.as_str()));
            if q.all == Some(true) || revisions.is_none() {
                return Ok(events);
            }
            Ok(vec![Event::new(
                now,
                EventKind::RolloutRestartRequested { workload },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// A service's spec revisions and its latest rollout.
#[utoipa::path(get, path = "/api/v1/workloads/{id}/rollout", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous"), AtQuery),
    responses((status = 200, body = RolloutView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rollout(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<RolloutView>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let state = &read.state;
    let workload = service(state, &id)?;
    let not_found =
        || ApiError::not_found("workload_not_found", format!("no service `{workload}`"));
    let stack = state.stacks.get(&workload.stack).ok_or_else(not_found)?;
    let revisions = stack
        .revisions
        .get(&workload.name)
        .cloned()
        .unwrap_or_default();
    let replicas = state.replicas(&workload).unwrap_or(0);
    let current = revisions.current();
    let of = |i: &orco_state::Instance| if i.revision == 0 { current } else { i.revision };
    let ready = |i: &orco_state::Instance| i.phase == orco_state::Phase::Running { ready: true };
    let rollout = revisions.rollout.as_ref().map(|r| {
        let (status, reason) = match &r.status {
            orco_state::RolloutStatus::Progressing => (RolloutStatus::Progressing, None),
            orco_state::RolloutStatus::Complete => (RolloutStatus::Complete, None),
            orco_state::RolloutStatus::RollingBack { reason } => {
                (RolloutStatus::RollingBack, Some(reason.clone()))
            }
            orco_state::RolloutStatus::RolledBack { reason } => {
                (RolloutStatus::RolledBack, Some(reason.clone()))
            }
        };
        let updated = state
            .instances_of(&workload)
            .filter(|(iid, i)| iid.replica < replicas && of(i) == r.to && ready(i))
            .count();
        RolloutState {
            from: r.from,
            to: r.to,
            status,
            reason,
            started_at: r.started_at,
            updated: u32::try_from(updated).unwrap_or(u32::MAX),
        }
    });
    let instances = state
        .instances_of(&workload)
        .map(|(iid, i)| RolloutInstance {
            name: format!("{}-{}", iid.workload.name, iid.replica),
            revision: of(i),
            ready: ready(i),
        })
        .collect();
    let revisions = revisions
        .specs
        .iter()
        .zip(1u32..)
        .map(|(spec, revision)| SpecRevision {
            revision,
            spec: serde_json::to_value(spec).unwrap_or_default(),
        })
        .collect();
    Ok(axum::Json(RolloutView {
        revision: state.revision,
        workload: workload.to_string(),
        current,
        revisions,
        replicas,
        rollout,
        instances,
    }))
}

/// Return a service to an earlier revision of its spec, rolled out like any change.
#[utoipa::path(post, path = "/api/v1/workloads/{id}/rollback", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous")),
    request_body = RollbackRequest,
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rollback(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<RollbackRequest>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let workload = service(state, &id)?;
            let current = state
                .stacks
                .get(&workload.stack)
                .and_then(|s| s.revisions.get(&workload.name))
                .map_or(0, orco_state::Revisions::current);
            let revision = match body.revision {
                Some(r) => r,
                None if current > 1 => current - 1,
                None => {
                    return Err(ApiError::unprocessable(
                        "no_earlier_revision",
                        format!("{workload} has only one revision of its spec: there is nothing to roll back to"),
                    ));
                }
            };
            if revision == 0 || revision >= current {
                return Err(ApiError::unprocessable(
                    "unknown_revision",
                    format!(
                        "{workload} has no earlier revision {revision}: pick one of 1..{} (`orco rollout status {}` lists them)",
                        current.saturating_sub(1).max(1),
                        workload.name
                    ),
                ));
            }
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::RollbackRequested { workload, revision },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// Stop a service: its instances are stopped and not restarted until `start` or the next
/// apply of its stack.
#[utoipa::path(post, path = "/api/v1/workloads/{id}/stop", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn stop(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let workload = service(state, &id)?;
            let stopped = state
                .stacks
                .get(&workload.stack)
                .is_some_and(|s| s.stopped.contains(&workload.name));
            Ok(if stopped {
                Vec::new()
            } else {
                vec![Event::new(
                    Timestamp::now(),
                    EventKind::StopRequested { workload },
                )]
            })
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// Start a stopped service again.
#[utoipa::path(post, path = "/api/v1/workloads/{id}/start", tag = "workloads",
    params(("id" = String, Path, description = "`STACK/NAME`, or `NAME` when unambiguous")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let workload = service(state, &id)?;
            let stopped = state
                .stacks
                .get(&workload.stack)
                .is_some_and(|s| s.stopped.contains(&workload.name));
            Ok(if stopped {
                vec![Event::new(
                    Timestamp::now(),
                    EventKind::StartRequested { workload },
                )]
            } else {
                Vec::new()
            })
        })
        .await?;
    Ok(axum::Json(accepted))
}

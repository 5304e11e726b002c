//! `/api/v1/instances`: list, get and restart instances. Stopping is per service
//! (`POST /api/v1/workloads/{id}/stop`): the log has no event that stops one replica alone.

use axum::extract::State;
use jiff::Timestamp;
use orco_state::{Event, EventKind};

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::model::{Accepted, InstanceList, InstanceView};
use crate::routes::{AtQuery, ListQuery, known_instance, known_stack, known_workload};
use crate::views::instance_view;

/// List instances, optionally of one stack or workload.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", params(ListQuery),
    responses((status = 200, body = InstanceList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<InstanceList>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let stack = match q.stack.as_deref() {
        Some(s) => Some(known_stack(&read.state, s)?),
        None => None,
    };
    let workload = match q.workload.as_deref() {
        Some(w) => Some(known_workload(&read.state, w, q.stack.as_deref())?),
        None => None,
    };
    let unplaced = orco_control::place::unplaced(&read.state, read.as_of);
    let items = read
        .state
        .instances
        .iter()
        .filter(|(id, _)| stack.as_ref().is_none_or(|s| &id.workload.stack == s))
        .filter(|(id, _)| workload.as_ref().is_none_or(|w| &id.workload == w))
        .map(|(id, i)| instance_view(&read.state, id, i, &unplaced))
        .collect();
    Ok(axum::Json(InstanceList {
        revision: read.state.revision,
        as_of: read.as_of,
        items,
    }))
}

/// One instance.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "`STACK/SERVICE-N` (the slash percent-encoded), or `SERVICE-N` when unambiguous"), AtQuery),
    responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<InstanceView>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let id = known_instance(&read.state, &id, None)?;
    let instance =
        read.state.instances.get(&id).ok_or_else(|| {
            ApiError::not_found("instance_not_found", format!("no instance `{id}`"))
        })?;
    let unplaced = orco_control::place::unplaced(&read.state, read.as_of);
    Ok(axum::Json(instance_view(
        &read.state,
        &id,
        instance,
        &unplaced,
    )))
}

/// Restart one instance, once, through its stop policy, whatever its restart policy says.
#[utoipa::path(post, path = "/api/v1/instances/{id}/restart", tag = "instances",
    params(("id" = String, Path, description = "`STACK/SERVICE-N`, or `SERVICE-N` when unambiguous")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn restart(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let instance = known_instance(state, &id, None)?;
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::RestartRequested { instance },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

//! `/health` and `/api/v1/cluster`: is the daemon up, and what it holds.

use axum::extract::State;

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::model::{ClusterInfo, Health};
use crate::routes::AtQuery;
use crate::version::{API_PREFIX, VERSION};

/// `{"status": "healthy"}` whenever the daemon answers.
#[utoipa::path(get, path = "/health", tag = "cluster", responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: orco_wire::HealthStatus::Healthy,
    })
}

/// The daemon: its version, mode, log position and how much it holds.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster", params(AtQuery),
    responses((status = 200, body = ClusterInfo), (status = 400, body = ErrorBody)))]
pub async fn info(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<ClusterInfo>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let state = &read.state;
    let workloads: usize = state
        .stacks
        .values()
        .map(|s| s.spec.services.len() + s.spec.jobs.len())
        .sum();
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    Ok(axum::Json(ClusterInfo {
        version: VERSION.into(),
        api: API_PREFIX.trim_start_matches("/api/").into(),
        mode: if ctx.cluster().is_some() {
            orco_wire::ClusterMode::Server
        } else {
            orco_wire::ClusterMode::SingleNode
        },
        revision: state.revision,
        horizon: ctx.store().horizon(),
        started_at: ctx.started_at(),
        engine: ctx.engine(),
        stacks: n(state.stacks.len()),
        workloads: n(workloads),
        instances: n(state.instances.len()),
        nodes: if ctx.cluster().is_some() {
            n(state
                .nodes
                .values()
                .filter(|node| node.status != orco_state::NodeStatus::Left)
                .count())
        } else {
            1
        },
    }))
}

//! `/api/v1/nodes`: the local node with its capacity (a cluster lists its agents later).

use axum::extract::State;

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::model::{NodeList, NodeView};
use crate::routes::AtQuery;

fn local(ctx: &ApiContext, state: &orco_state::State) -> NodeView {
    let instances = state
        .instances
        .values()
        .filter(|i| i.node.as_deref().is_none_or(|n| n == ctx.node().name))
        .count();
    ctx.node()
        .view(u32::try_from(instances).unwrap_or(u32::MAX))
}

/// List the nodes.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", params(AtQuery),
    responses((status = 200, body = NodeList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<NodeList>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    Ok(axum::Json(NodeList {
        revision: read.state.revision,
        items: vec![local(&ctx, &read.state)],
    }))
}

/// One node.
#[utoipa::path(get, path = "/api/v1/nodes/{name}", tag = "nodes",
    params(("name" = String, Path, description = "The node's name"), AtQuery),
    responses((status = 200, body = NodeView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<NodeView>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    if name != ctx.node().name {
        return Err(ApiError::not_found(
            "node_not_found",
            format!(
                "no node `{name}`: this daemon runs one node, `{}`",
                ctx.node().name
            ),
        ));
    }
    Ok(axum::Json(local(&ctx, &read.state)))
}

//! `/api/v1/nodes`: the local node with its capacity, or a cluster server's nodes; cordon,
//! uncordon, drain, label, taint and remove a node of a cluster.

use axum::extract::State;

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::model::{Accepted, NodeEdits, NodeList, NodeView};
use crate::routes::AtQuery;
use std::collections::BTreeMap;

use jiff::Timestamp;
use orco_state::{Event, EventKind};

fn local(ctx: &ApiContext, state: &orco_state::State) -> NodeView {
    let instances = state
        .instances
        .values()
        .filter(|i| i.node.as_deref().is_none_or(|n| n == ctx.node().name))
        .count();
    ctx.node()
        .view(u32::try_from(instances).unwrap_or(u32::MAX))
}

/// The labels orco derives for each node: `orco.anchor/STACK.SERVICE=true` where an
/// instance of a service that others follow (their `placement.anchor`) is placed.
fn derived_labels(state: &orco_state::State) -> BTreeMap<String, BTreeMap<String, String>> {
    let snapshot = orco_control::place::snapshot(state);
    orco_scheduler::anchor_labels(&snapshot)
        .into_iter()
        .filter_map(|(i, labels)| Some((snapshot.nodes.get(i)?.name.clone(), labels)))
        .collect()
}

/// A cluster node as the API shows it, with the labels orco derives for it.
fn member(
    name: &str,
    n: &orco_state::Node,
    state: &orco_state::State,
    derived: &BTreeMap<String, BTreeMap<String, String>>,
) -> NodeView {
    let mut labels = n.labels.clone();
    labels.extend(derived.get(name).cloned().unwrap_or_default());
    let instances = state
        .instances
        .values()
        .filter(|i| i.node.as_deref() == Some(name) && i.phase.is_live())
        .count();
    NodeView {
        name: name.to_string(),
        status: match n.status {
            orco_state::NodeStatus::Ready => orco_wire::NodeStatus::Ready,
            orco_state::NodeStatus::Unreachable => orco_wire::NodeStatus::Unreachable,
            orco_state::NodeStatus::Lost => orco_wire::NodeStatus::Lost,
            orco_state::NodeStatus::Left => orco_wire::NodeStatus::Left,
        },
        cpus: u32::try_from(n.capacity.cpu_millis.div_ceil(1000)).unwrap_or(u32::MAX),
        memory_bytes: n.capacity.memory,
        memory_available_bytes: n.allocatable.memory,
        instances: u32::try_from(instances).unwrap_or(u32::MAX),
        version: String::new(),
        os: String::new(),
        address: Some(n.address.clone()),
        allocatable_cpu_millis: Some(n.allocatable.cpu_millis),
        allocatable_memory_bytes: Some(n.allocatable.memory),
        labels,
        taints: n.taints.clone(),
        cordoned: n.cordoned,
        draining: n.draining,
        epoch: n.epoch,
    }
}

/// The nodes: a cluster server's members, or this daemon's own node.
fn nodes(ctx: &ApiContext, state: &orco_state::State) -> Vec<NodeView> {
    if ctx.cluster().is_some() {
        let derived = derived_labels(state);
        state
            .nodes
            .iter()
            .map(|(name, n)| member(name, n, state, &derived))
            .collect()
    } else {
        vec![local(ctx, state)]
    }
}

fn known_node<'s>(
    state: &'s orco_state::State,
    name: &str,
) -> Result<&'s orco_state::Node, ApiError> {
    state.nodes.get(name).ok_or_else(|| {
        ApiError::not_found(
            "node_not_found",
            format!("no node `{name}` in this cluster (see `orco node list`)"),
        )
    })
}

/// Records what `change` makes of the cluster's node `name` (nothing when it answers
/// `None`; nothing either when it refuses): 409 on a daemon that is no server, 404 for an
/// unknown node.
async fn change_node(
    ctx: &ApiContext,
    name: &str,
    change: impl FnOnce(&orco_state::State, &orco_state::Node) -> Result<Option<EventKind>, ApiError>,
) -> Result<axum::Json<Accepted>, ApiError> {
    crate::routes::members::cluster(ctx)?;
    let accepted = ctx
        .write(|state| {
            let node = known_node(state, name)?;
            Ok(change(state, node)?
                .map(|kind| Event::new(Timestamp::now(), kind))
                .into_iter()
                .collect())
        })
        .await?;
    Ok(axum::Json(accepted))
}

fn cordon_to(
    name: &str,
    cordoned: bool,
) -> impl FnOnce(&orco_state::State, &orco_state::Node) -> Result<Option<EventKind>, ApiError> {
    let name = name.to_string();
    move |_, node| {
        Ok(
            (node.cordoned != cordoned).then_some(EventKind::NodeCordoned {
                node: name,
                cordoned,
            }),
        )
    }
}

/// Cordon a node: it takes no new instance (what runs there stays).
#[utoipa::path(post, path = "/api/v1/nodes/{name}/cordon", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cordon(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, cordon_to(&name, true)).await
}

/// Uncordon a node: it takes new instances again.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/uncordon", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn uncordon(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, cordon_to(&name, false)).await
}

/// Drain a node: it is cordoned and each of its instances moves to another node, a
/// replacement ready elsewhere before it stops. Refused (409, nothing recorded) when an
/// instance would fit on no other node.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/drain", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn drain(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, |state, node| {
        let conflict = |code, why| ApiError::new(axum::http::StatusCode::CONFLICT, code, why);
        if node.status == orco_state::NodeStatus::Left {
            return Err(conflict(
                "node_left",
                format!("node `{name}` was removed: there is nothing to drain"),
            ));
        }
        if node.draining {
            return Ok(None);
        }
        if let Some(why) = orco_control::place::drain_refusal(state, &name) {
            return Err(conflict("drain_nowhere_to_go", why));
        }
        Ok(Some(EventKind::NodeDrainRequested { node: name.clone() }))
    })
    .await
}

/// Edits of a node's labels (`KEY=VALUE` sets, `KEY-` removes), all recorded in one event
/// or, on the first bad one, none (400).
#[utoipa::path(post, path = "/api/v1/nodes/{name}/labels", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")), request_body = NodeEdits,
    responses((status = 200, body = Accepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn label(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    JsonBody(body): JsonBody<NodeEdits>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, |_, node| {
        let labels = orco_scheduler::edit_labels(&node.labels, &body.edits)
            .map_err(|e| ApiError::bad_request("bad_label", e))?;
        Ok(
            (labels != node.labels || !node.labels_set).then(|| EventKind::NodeLabeled {
                node: name.clone(),
                labels,
            }),
        )
    })
    .await
}

/// Edits of a node's taints (`KEY[=VALUE][:NoSchedule|NoExecute]` adds, `KEY-` removes),
/// all recorded in one event or, on the first bad one, none (400). A NoExecute taint moves
/// the instances that do not tolerate it to other nodes.
#[utoipa::path(post, path = "/api/v1/nodes/{name}/taints", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")), request_body = NodeEdits,
    responses((status = 200, body = Accepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn taint(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    JsonBody(body): JsonBody<NodeEdits>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, |_, node| {
        let taints = orco_scheduler::edit_taints(&node.taints, &body.edits)
            .map_err(|e| ApiError::bad_request("bad_taint", e))?;
        Ok(
            (taints != node.taints || !node.taints_set).then(|| EventKind::NodeTainted {
                node: name.clone(),
                taints,
            }),
        )
    })
    .await
}

/// Remove a node: its instances (even `onDisconnect: keep` ones) are placed elsewhere and its
/// certificate is no longer honoured; it may join again with a new token.
#[utoipa::path(delete, path = "/api/v1/nodes/{name}", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    change_node(&ctx, &name, |_, node| {
        Ok((node.status != orco_state::NodeStatus::Left)
            .then(|| EventKind::NodeRemoved { node: name.clone() }))
    })
    .await
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
        items: nodes(&ctx, &read.state),
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
    if ctx.cluster().is_some() {
        let node = known_node(&read.state, &name)?;
        let derived = derived_labels(&read.state);
        return Ok(axum::Json(member(&name, node, &read.state, &derived)));
    }
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

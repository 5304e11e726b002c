//! The routes of a cluster server that nodes and their admins use: join tokens
//! (`/api/v1/cluster/tokens`), a node's join (`/api/v1/cluster/join`, by join token), its
//! certificate's rotation (`/api/v1/node/certificate`) and its stream
//! (`/api/v1/node/stream`), both by its certificate.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use orco_state::{Event, EventKind, NodeStatus, State as Fold};

use crate::context::{ApiContext, ClusterContext};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::model::{
    Accepted, CertificateRequest, JoinRequest, MemberList, MemberView, NodeCertificate,
    TokenCreated, TokenList, TokenRequest, TokenView,
};

/// How long a join token is accepted by default.
pub const DEFAULT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The cluster server's context: 409 on a daemon that is no server.
pub(crate) fn cluster(ctx: &ApiContext) -> Result<&ClusterContext, ApiError> {
    ctx.cluster().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_a_server",
            "this daemon runs its node in its own process and has no cluster: start `orco server` for nodes to join",
        )
    })
}

/// The node a request's client certificate proves: 401 without one, 403 once the node was
/// removed (it joins again with a new token).
async fn peer_node(ctx: &ApiContext, peer: Option<orco_pki::Peer>) -> Result<String, ApiError> {
    let Some(orco_pki::Peer(Some(node))) = peer else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "node_certificate_required",
            "this route is for nodes: connect over TLS with the node's certificate (`orco agent` does)",
        ));
    };
    let read = ctx.read(None).await?;
    if read
        .state
        .nodes
        .get(&node)
        .is_some_and(|n| n.status == NodeStatus::Left)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "node_removed",
            format!("node {node} was removed: join again with a new token"),
        ));
    }
    Ok(node)
}

fn token_view(id: &str, t: &orco_state::JoinToken, now: Timestamp) -> TokenView {
    let status = if t.revoked {
        "revoked"
    } else if now >= t.expires {
        "expired"
    } else if !t.reusable && !t.used_by.is_empty() {
        "used"
    } else {
        "valid"
    };
    TokenView {
        id: id.to_string(),
        created_at: t.created_at,
        expires: t.expires,
        reusable: t.reusable,
        used_by: t.used_by.clone(),
        status: status.to_string(),
    }
}

/// A node name: lowercase letters, digits, `-` and `.`, starting with a letter or digit,
/// at most 63 characters.
pub fn check_node_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_node_name",
            format!(
                "`{name}` is not a node name: lowercase letters, digits, `-` and `.`, starting with a letter or digit, at most 63"
            ),
        )
        .with_field("node"))
    }
}

/// The SWIM group as the server sees it (a hint), beside each node's lease status (what
/// decides).
#[utoipa::path(get, path = "/api/v1/cluster/members", tag = "cluster",
    responses((status = 200, body = MemberList), (status = 409, body = ErrorBody)))]
pub async fn members(State(ctx): State<ApiContext>) -> Result<axum::Json<MemberList>, ApiError> {
    let cluster = cluster(&ctx)?;
    let read = ctx.read(None).await?;
    let view = cluster.streams.members().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_gossip",
            "this server runs no SWIM group",
        )
    })?;
    Ok(axum::Json(member_list(&view, &read.state)))
}

/// The members of `view` with the lease status `state` holds for each agent.
pub(crate) fn member_list(
    view: &orco_cluster::MembersView,
    state: &orco_state::State,
) -> MemberList {
    use orco_cluster::gossip::{Role, Seen, SwimState};
    let show = |seen: &Seen| {
        let lease = match seen.peer.role {
            Role::Server => None,
            Role::Agent => state.nodes.get(&seen.peer.name).map(|n| match n.status {
                orco_state::NodeStatus::Ready => orco_wire::NodeStatus::Ready,
                orco_state::NodeStatus::Unreachable => orco_wire::NodeStatus::Unreachable,
                orco_state::NodeStatus::Lost => orco_wire::NodeStatus::Lost,
                orco_state::NodeStatus::Left => orco_wire::NodeStatus::Left,
            }),
        };
        MemberView {
            name: seen.peer.name.clone(),
            role: match seen.peer.role {
                Role::Server => orco_wire::MemberRole::Server,
                Role::Agent => orco_wire::MemberRole::Agent,
            },
            address: seen.peer.addr.to_string(),
            swim: match seen.state {
                SwimState::Alive => orco_wire::SwimState::Alive,
                SwimState::Suspect => orco_wire::SwimState::Suspect,
                SwimState::Down => orco_wire::SwimState::Down,
            },
            incarnation: seen.incarnation,
            lease,
        }
    };
    let me = Seen {
        peer: view.me.clone(),
        state: SwimState::Alive,
        incarnation: 0,
    };
    MemberList {
        items: std::iter::once(&me)
            .chain(view.members.iter())
            .map(show)
            .collect(),
        dropped: view.dropped,
    }
}

/// List join tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/cluster/tokens", tag = "cluster",
    responses((status = 200, body = TokenList), (status = 409, body = ErrorBody)))]
pub async fn list_tokens(State(ctx): State<ApiContext>) -> Result<axum::Json<TokenList>, ApiError> {
    cluster(&ctx)?;
    let read = ctx.read(None).await?;
    let now = Timestamp::now();
    Ok(axum::Json(TokenList {
        items: read
            .state
            .join_tokens
            .iter()
            .map(|(id, t)| token_view(id, t, now))
            .collect(),
    }))
}

/// Create a join token: the whole token is in this answer only; the log keeps a hash of its
/// secret.
#[utoipa::path(post, path = "/api/v1/cluster/tokens", tag = "cluster", request_body = TokenRequest,
    responses((status = 200, body = TokenCreated), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<axum::Json<TokenCreated>, ApiError> {
    let cluster = cluster(&ctx)?;
    let ttl = body
        .ttl_seconds
        .map_or(DEFAULT_TOKEN_TTL, std::time::Duration::from_secs);
    if ttl.is_zero() || ttl > std::time::Duration::from_secs(365 * 24 * 3600) {
        return Err(ApiError::unprocessable(
            "invalid_ttl",
            "a join token's ttl is between 1 second and 365 days",
        )
        .with_field("ttl_seconds"));
    }
    let token = orco_pki::JoinToken::generate(cluster.authority.pin()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "token_failed",
            e.to_string(),
        )
    })?;
    let now = Timestamp::now();
    let expires = now
        .checked_add(SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX);
    let id = token.id.clone();
    let hash = token.secret_hash();
    let reusable = body.reusable;
    ctx.write(move |state| {
        if state.join_tokens.contains_key(&id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "token_exists",
                "a join token with this id exists: try again",
            ));
        }
        Ok(vec![Event::new(
            now,
            EventKind::JoinTokenCreated {
                id,
                hash,
                expires,
                reusable,
            },
        )])
    })
    .await?;
    let record = orco_state::JoinToken {
        hash: String::new(),
        created_at: now,
        expires,
        reusable,
        used_by: Vec::new(),
        revoked: false,
    };
    Ok(axum::Json(TokenCreated {
        view: token_view(&token.id, &record, now),
        token: token.to_string(),
    }))
}

/// Revoke a join token: no node joins with it any more (nodes that joined stay).
#[utoipa::path(delete, path = "/api/v1/cluster/tokens/{id}", tag = "cluster",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    cluster(&ctx)?;
    let accepted = ctx
        .write(|state| match state.join_tokens.get(&id) {
            None => Err(ApiError::not_found(
                "token_not_found",
                format!("no join token `{id}` (see `orco cluster token list`)"),
            )),
            Some(t) if t.revoked => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::JoinTokenRevoked { id: id.clone() },
            )]),
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// Why `node` may not join now, if it may not.
fn refuse_join(state: &Fold, req: &JoinRequest, now: Timestamp) -> Result<(), ApiError> {
    let forbidden =
        |code: &str, message: String| ApiError::new(StatusCode::FORBIDDEN, code, message);
    let token = state.join_tokens.get(&req.token_id).ok_or_else(|| {
        forbidden(
            "token_refused",
            format!("join token `{}` is not known to this cluster", req.token_id),
        )
    })?;
    if !orco_pki::secret_matches(&token.hash, &req.secret) {
        return Err(forbidden(
            "token_refused",
            format!("the secret of join token `{}` is wrong", req.token_id),
        ));
    }
    if let Some(why) = token.refusal(now) {
        return Err(forbidden(
            "token_refused",
            format!("{why} (token `{}`)", req.token_id),
        ));
    }
    if let Some(node) = state.nodes.get(&req.node)
        && matches!(node.status, NodeStatus::Ready | NodeStatus::Unreachable)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "node_name_taken",
            format!(
                "node name `{}` is held by a live node: pick another `--node`, or `orco node remove {}` first",
                req.node, req.node
            ),
        ));
    }
    Ok(())
}

/// A node joins: its CSR is signed if the join token is valid and its name is not held by a
/// live node.
#[utoipa::path(post, path = "/api/v1/cluster/join", tag = "cluster", request_body = JoinRequest,
    responses((status = 200, body = NodeCertificate), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn join(
    State(ctx): State<ApiContext>,
    JsonBody(req): JsonBody<JoinRequest>,
) -> Result<axum::Json<NodeCertificate>, ApiError> {
    let cluster = cluster(&ctx)?.clone();
    check_node_name(&req.node)?;
    let mut signed = None;
    ctx.write(|state| {
        let now = Timestamp::now();
        refuse_join(state, &req, now)?;
        let certificate = cluster
            .authority
            .sign_node(&req.csr, &req.node, orco_pki::DEFAULT_NODE_TTL)
            .map_err(|e| ApiError::unprocessable("invalid_csr", e.to_string()).with_field("csr"))?;
        signed = Some(certificate);
        Ok(vec![Event::new(
            now,
            EventKind::JoinTokenUsed {
                id: req.token_id.clone(),
                node: req.node.clone(),
            },
        )])
    })
    .await?;
    let certificate = signed.ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "join_failed",
            "no certificate",
        )
    })?;
    tracing::info!(node = %req.node, token = %req.token_id, "node joined");
    Ok(axum::Json(NodeCertificate {
        certificate,
        ca: cluster.authority.cert_pem().to_string(),
    }))
}

/// A node rotates its certificate: a new one for the node its current certificate proves.
#[utoipa::path(post, path = "/api/v1/node/certificate", tag = "cluster", request_body = CertificateRequest,
    responses((status = 200, body = NodeCertificate), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn certificate(
    State(ctx): State<ApiContext>,
    req: Request,
) -> Result<axum::Json<NodeCertificate>, ApiError> {
    let cluster = cluster(&ctx)?.clone();
    let node = peer_node(&ctx, req.extensions().get::<orco_pki::Peer>().cloned()).await?;
    let JsonBody(body) =
        <JsonBody<CertificateRequest> as axum::extract::FromRequest<ApiContext>>::from_request(
            req, &ctx,
        )
        .await?;
    let certificate = cluster
        .authority
        .sign_node(&body.csr, &node, orco_pki::DEFAULT_NODE_TTL)
        .map_err(|e| ApiError::unprocessable("invalid_csr", e.to_string()).with_field("csr"))?;
    Ok(axum::Json(NodeCertificate {
        certificate,
        ca: cluster.authority.cert_pem().to_string(),
    }))
}

/// A node's stream: upgraded to the node interface (one JSON message per line each way).
#[utoipa::path(get, path = "/api/v1/node/stream", tag = "cluster",
    responses((status = 101, description = "Switched to the node interface"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn stream(State(ctx): State<ApiContext>, mut req: Request) -> Result<Response, ApiError> {
    let cluster = cluster(&ctx)?.clone();
    let node = peer_node(&ctx, req.extensions().get::<orco_pki::Peer>().cloned()).await?;
    let wants = req.headers().get(header::UPGRADE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(orco_cluster::dial::UPGRADE.as_bytes())
    });
    if !wants {
        return Err(ApiError::bad_request(
            "upgrade_required",
            format!(
                "a node's stream is an upgrade: send `Upgrade: {}`",
                orco_cluster::dial::UPGRADE
            ),
        ));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                if let Err(e) = cluster.streams.serve(io, &node).await {
                    tracing::warn!(node, "node stream ended: {e}");
                } else {
                    tracing::info!(node, "node stream closed");
                }
            }
            Err(e) => tracing::warn!(node, "node stream upgrade failed: {e}"),
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "upgrade"),
            (header::UPGRADE, orco_cluster::dial::UPGRADE),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use orco_cluster::gossip::{Peer, Role, Seen, SwimState};

    fn peer(name: &str, role: Role) -> Peer {
        Peer {
            name: name.to_string(),
            addr: "10.0.0.3:40000".parse().unwrap(),
            role,
            generation: 1,
        }
    }

    #[test]
    fn members_show_the_swim_state_beside_each_node_s_lease_and_the_server_first() {
        let mut state = orco_state::State::default();
        state.nodes.insert(
            "n1".to_string(),
            orco_state::Node {
                address: "10.0.0.3:51000".to_string(),
                capacity: orco_state::Capacity::default(),
                allocatable: orco_state::Capacity::default(),
                labels: std::collections::BTreeMap::new(),
                taints: Vec::new(),
                status: orco_state::NodeStatus::Unreachable,
                since: jiff::Timestamp::UNIX_EPOCH,
                joined_at: jiff::Timestamp::UNIX_EPOCH,
                cordoned: false,
                draining: false,
                labels_set: false,
                taints_set: false,
                epoch: 0,
                events_through: 0,
            },
        );
        let view = orco_cluster::MembersView {
            me: peer("srv", Role::Server),
            members: vec![
                Seen {
                    peer: peer("n1", Role::Agent),
                    state: SwimState::Down,
                    incarnation: 2,
                },
                Seen {
                    peer: peer("n9", Role::Agent),
                    state: SwimState::Suspect,
                    incarnation: 0,
                },
            ],
            dropped: 4,
        };
        let list = member_list(&view, &state);
        assert_eq!(list.dropped, 4);
        let rows: Vec<_> = list
            .items
            .iter()
            .map(|m| (m.name.as_str(), m.role, m.swim, m.lease))
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    "srv",
                    orco_wire::MemberRole::Server,
                    orco_wire::SwimState::Alive,
                    None
                ),
                (
                    "n1",
                    orco_wire::MemberRole::Agent,
                    orco_wire::SwimState::Down,
                    Some(orco_wire::NodeStatus::Unreachable)
                ),
                (
                    "n9",
                    orco_wire::MemberRole::Agent,
                    orco_wire::SwimState::Suspect,
                    None
                ),
            ]
        );
        assert_eq!(list.items[1].address, "10.0.0.3:40000");
        assert_eq!(list.items[1].incarnation, 2);
    }
}

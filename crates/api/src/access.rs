//! Who may call which route (DESIGN.md §12): the role every route needs ([`ROUTES`], also in
//! the OpenAPI document as `x-orco-role`), the caller a request runs as ([`Caller`], read by
//! [`ApiContext::write`](crate::ApiContext::write) to stamp each event's `by`), and the two
//! ways a listener lets requests in:
//!
//! - [`on_socket`]: the unix socket. Whoever can open it (its mode says who) is `admin`, as
//!   the caller [`SOCKET`].
//! - [`on_network`]: the TCP listener. A request carries `Authorization: Bearer TOKEN`: a
//!   token made by `orco token create` (its role), or the daemon's `--token-file` token
//!   (`admin`, as the caller [`TOKEN_FILE`]). No token: 401; a wrong, revoked or expired
//!   one: 401 (counted per client address, see [`crate::throttle`]); a role too weak: 403
//!   with the role needed. `/health` answers without a token; the node routes (join,
//!   certificate, stream) check a join token or a node certificate themselves.
//!
//! The decision is [`decide`], pure: the route's need, what was presented, the tokens the log
//! knows and the time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use orco_state::{ApiToken, Role};
use orco_wire::route;

use crate::context::ApiContext;
use crate::error::ApiError;
use crate::throttle::Throttle;

/// The caller of every request on the unix socket.
pub const SOCKET: &str = "socket";
/// The caller of a request with the daemon's `--token-file` token (an `admin`).
pub const TOKEN_FILE: &str = "token-file";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: `/health` (liveness only).
    Open,
    /// A node's proof, checked by the handler: a join token in the body or the node's
    /// certificate. No bearer token.
    Node,
    /// A token with at least this role.
    Needs(Role),
}

impl Access {
    /// The word the OpenAPI document shows (`x-orco-role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Open => "none",
            Access::Node => "node",
            Access::Needs(role) => role.as_str(),
        }
    }
}

const READ: Access = Access::Needs(Role::Read);
const OPERATE: Access = Access::Needs(Role::Operate);
const ADMIN: Access = Access::Needs(Role::Admin);

/// Every versioned route (under `/api/v1`, `/workflows` as `/jobs`) by method, and what it
/// needs. A route missing here needs `admin`.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", route::STACKS, READ),
    ("POST", route::STACKS, OPERATE),
    ("POST", route::PLACEMENTS, READ),
    ("GET", route::STACK, READ),
    ("PUT", route::STACK, OPERATE),
    ("DELETE", route::STACK, OPERATE),
    ("POST", route::STACK_STOP, OPERATE),
    ("GET", route::WORKLOADS, READ),
    ("POST", route::WORKLOADS, OPERATE),
    ("GET", route::WORKLOAD, READ),
    ("DELETE", route::WORKLOAD, OPERATE),
    ("PATCH", route::WORKLOAD_SCALE, OPERATE),
    ("POST", route::WORKLOAD_RESTART, OPERATE),
    ("GET", route::WORKLOAD_ROLLOUT, READ),
    ("POST", route::WORKLOAD_ROLLBACK, OPERATE),
    ("POST", route::WORKLOAD_STOP, OPERATE),
    ("POST", route::WORKLOAD_START, OPERATE),
    ("GET", route::INSTANCES, READ),
    ("GET", route::INSTANCE, READ),
    ("POST", route::INSTANCE_RESTART, OPERATE),
    ("GET", route::INSTANCE_LOGS, READ),
    ("GET", route::LOGS, READ),
    ("GET", route::EVENTS, READ),
    ("GET", route::HISTORY, READ),
    ("GET", route::CLUSTER, READ),
    ("GET", route::JOBS, READ),
    ("POST", route::JOBS, OPERATE),
    ("GET", route::JOB, READ),
    ("POST", route::JOB_CANCEL, OPERATE),
    ("POST", route::JOB_RETRY, OPERATE),
    ("POST", route::JOB_PROGRESS, OPERATE),
    ("GET", route::NODES, READ),
    ("GET", route::NODE, READ),
    ("DELETE", route::NODE, ADMIN),
    ("POST", route::NODE_CORDON, ADMIN),
    ("POST", route::NODE_UNCORDON, ADMIN),
    ("POST", route::NODE_DRAIN, ADMIN),
    ("POST", route::NODE_LABELS, ADMIN),
    ("POST", route::NODE_TAINTS, ADMIN),
    ("GET", route::CLUSTER_TOKENS, ADMIN),
    ("POST", route::CLUSTER_TOKENS, ADMIN),
    ("DELETE", route::CLUSTER_TOKEN, ADMIN),
    ("GET", route::CLUSTER_MEMBERS, READ),
    ("GET", route::TOKENS, ADMIN),
    ("POST", route::TOKENS, ADMIN),
    ("DELETE", route::TOKEN, ADMIN),
    ("POST", route::CLUSTER_JOIN, Access::Node),
    ("POST", route::NODE_CERTIFICATE, Access::Node),
    ("GET", route::NODE_STREAM, Access::Node),
];

/// What a request of `method` on the route template `matched` (axum's matched path, `None`
/// when no route matched) needs.
pub fn access(method: &Method, matched: Option<&str>) -> Access {
    let Some(path) = matched else {
        // Unknown routes answer 404 only to someone who may read.
        return READ;
    };
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    if path == route::HEALTH {
        return Access::Open;
    }
    if path == route::METRICS {
        return READ;
    }
    let Some(versioned) = path.strip_prefix(orco_wire::API_PREFIX) else {
        return ADMIN;
    };
    if versioned == "/openapi.json" || versioned == "/docs" || versioned.starts_with("/docs/") {
        return READ;
    }
    let versioned = match versioned.strip_prefix("/workflows") {
        Some(rest) => format!("/jobs{rest}"),
        None => versioned.to_string(),
    };
    ROUTES
        .iter()
        .find(|(m, r, _)| *m == method && *r == versioned)
        .map_or(ADMIN, |(_, _, access)| *access)
}

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name ([`SOCKET`] on the unix socket, [`TOKEN_FILE`] for `--token-file`).
    pub name: String,
    /// Its role.
    pub role: Role,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The caller of the request this task serves, if a listener named one.
pub fn caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok()
}

/// The address a TCP client connected from, put in each of its requests' extensions by the
/// listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub SocketAddr);

/// Why a request is refused: the answer, the reason counted in `/metrics`, and whether it
/// counts as a failed attempt of its address.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The answer.
    pub error: ApiError,
    /// `missing`, `invalid`, `revoked`, `expired`, `forbidden` or `throttled`.
    pub reason: &'static str,
    /// Whether a wrong credential was presented.
    pub failed_attempt: bool,
}

/// Who a request presenting `presented` (the bearer credentials, if any) may run as on a
/// route that needs `needed`: `Ok(None)` for routes that need no token, `Ok(Some(caller))`
/// when the token holds a strong enough role, else the refusal. `token_file` is the daemon's
/// `--token-file` token; `tokens` the log's API tokens by name. Every secret is compared in
/// constant time.
pub fn decide(
    needed: Access,
    what: &str,
    presented: Option<&[u8]>,
    token_file: Option<&[u8]>,
    tokens: &BTreeMap<String, ApiToken>,
    now: Timestamp,
) -> Result<Option<Caller>, Box<Refusal>> {
    let needed = match needed {
        Access::Open | Access::Node => return Ok(None),
        Access::Needs(role) => role,
    };
    let unauthorized = |code: &str, message: String, reason, failed_attempt| {
        Box::new(Refusal {
            error: ApiError::new(StatusCode::UNAUTHORIZED, code, message),
            reason,
            failed_attempt,
        })
    };
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Err(unauthorized(
            "unauthorized",
            "this listener needs `Authorization: Bearer TOKEN`: pass --token-file or set ORCO_TOKEN (a token of `orco token create`)".into(),
            "missing",
            false,
        ));
    };
    let caller = if token_file.is_some_and(|expected| same(presented, expected)) {
        Caller {
            name: TOKEN_FILE.into(),
            role: Role::Admin,
        }
    } else {
        let invalid = || {
            unauthorized(
                "unauthorized",
                "the token is not valid on this daemon: use one of `orco token create` (see `orco token list`) or the daemon's --token-file".into(),
                "invalid",
                true,
            )
        };
        let token: orco_pki::BearerToken = std::str::from_utf8(presented)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(invalid)?;
        let (name, record) = tokens
            .iter()
            .find(|(_, t)| t.id == token.id)
            .ok_or_else(invalid)?;
        if !orco_pki::secret_matches(&record.hash, &token.secret) {
            return Err(invalid());
        }
        match record.refusal(now) {
            Some("revoked") => {
                return Err(unauthorized(
                    "token_revoked",
                    format!("token `{name}` was revoked: ask an admin for a new one"),
                    "revoked",
                    true,
                ));
            }
            Some(_) => {
                let when = record.expires.map(|e| e.to_string()).unwrap_or_default();
                return Err(unauthorized(
                    "token_expired",
                    format!("token `{name}` expired at {when}: ask an admin for a new one"),
                    "expired",
                    true,
                ));
            }
            None => {}
        }
        Caller {
            name: name.clone(),
            role: record.role,
        }
    };
    if caller.role < needed {
        let mut error = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{what} needs the `{needed}` role; token `{}` has `{}`",
                caller.name, caller.role
            ),
        );
        error.detail.role = Some(wire_role(needed));
        return Err(Box::new(Refusal {
            error,
            reason: "forbidden",
            failed_attempt: false,
        }));
    }
    Ok(Some(caller))
}

/// The API's spelling of a role.
pub fn wire_role(role: Role) -> orco_wire::Role {
    match role {
        Role::Read => orco_wire::Role::Read,
        Role::Operate => orco_wire::Role::Operate,
        Role::Admin => orco_wire::Role::Admin,
    }
}

/// The log's spelling of a role.
pub fn state_role(role: orco_wire::Role) -> Role {
    match role {
        orco_wire::Role::Read => Role::Read,
        orco_wire::Role::Operate => Role::Operate,
        orco_wire::Role::Admin => Role::Admin,
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    let equal_length = a.len() == b.len();
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    equal_length && std::hint::black_box(difference) == 0
}

/// The credentials of an `Authorization` value of the `Bearer` scheme (its name in any
/// case, as RFC 9110 says), without the spaces around them.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || value.get(6) != Some(&b' ') {
        return None;
    }
    Some(value[7..].trim_ascii())
}

/// `router` for the unix socket: every request runs as the `admin` caller [`SOCKET`].
pub fn on_socket(router: Router) -> Router {
    router.layer(middleware::from_fn(|request: Request, next: Next| {
        CALLER.scope(
            Caller {
                name: SOCKET.into(),
                role: Role::Admin,
            },
            next.run(request),
        )
    }))
}

/// What the TCP listener checks requests against.
#[derive(Debug)]
pub struct Guard {
    ctx: ApiContext,
    token_file: Option<Vec<u8>>,
    throttle: Mutex<Throttle>,
}

impl Guard {
    /// A guard reading API tokens from `ctx`'s state, also accepting `token_file` (the
    /// daemon's `--token-file` token) as `admin`.
    pub fn new(ctx: ApiContext, token_file: Option<String>) -> Guard {
        Guard::with_throttle(ctx, token_file, Throttle::default())
    }

    /// The same with a given throttle.
    pub fn with_throttle(ctx: ApiContext, token_file: Option<String>, throttle: Throttle) -> Guard {
        Guard {
            ctx,
            token_file: token_file.map(String::into_bytes),
            throttle: Mutex::new(throttle),
        }
    }

    async fn check(&self, request: Request, next: Next) -> Response {
        let matched = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string());
        let needed = access(request.method(), matched.as_deref());
        if matches!(needed, Access::Open | Access::Node) {
            return next.run(request).await;
        }
        let address = request
            .extensions()
            .get::<ClientAddress>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.0.ip());
        let refused = self
            .throttle
            .lock()
            .ok()
            .and_then(|t| t.refused(address, Instant::now()));
        if let Some(wait) = refused {
            self.ctx.metrics().auth_failure("throttled");
            let seconds = wait.as_secs().max(1);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                format!("too many failed token attempts from {address}: try again in {seconds} s"),
            )
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .map(|v| bearer(v).unwrap_or_default());
        let what = format!(
            "`{} {}`",
            request.method(),
            matched.as_deref().unwrap_or(request.uri().path())
        );
        let tokens = match self.ctx.read(None).await {
            Ok(read) => read.state,
            Err(e) => return e.into_response(),
        };
        match decide(
            needed,
            &what,
            presented,
            self.token_file.as_deref(),
            &tokens.api_tokens,
            Timestamp::now(),
        ) {
            Ok(Some(caller)) => CALLER.scope(caller, next.run(request)).await,
            Ok(None) => next.run(request).await,
            Err(refusal) => {
                self.ctx.metrics().auth_failure(refusal.reason);
                if refusal.failed_attempt
                    && let Ok(mut throttle) = self.throttle.lock()
                {
                    throttle.failed(address, Instant::now());
                }
                let status = refusal.error.status;
                let mut response = refusal.error.into_response();
                if status == StatusCode::UNAUTHORIZED {
                    let headers = response.headers_mut();
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    // A stranger gets no kept-alive connection to try again on.
                    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
            }
        }
    }
}

/// `router` for the TCP listener: each request's token checked by `guard`, and run as its
/// caller.
pub fn on_network(router: Router, guard: Arc<Guard>) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let guard = guard.clone();
        async move { guard.check(request, next).await }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-04T05:06:07Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn tokens() -> (BTreeMap<String, ApiToken>, Vec<(Role, String)>) {
        let mut map = BTreeMap::new();
        let mut secrets = Vec::new();
        for role in Role::ALL {
            let token = orco_pki::BearerToken::generate().unwrap_or_else(|_| unreachable!());
            map.insert(
                format!("{role}-token"),
                ApiToken {
                    id: token.id.clone(),
                    role,
                    hash: token.secret_hash(),
                    created_at: now(),
                    expires: None,
                    created_by: None,
                    revoked: false,
                },
            );
            secrets.push((role, token.to_string()));
        }
        (map, secrets)
    }

    #[test]
    fn each_role_passes_the_routes_of_its_role_and_below_and_is_told_the_role_needed_above() {
        let (map, secrets) = tokens();
        for (role, secret) in &secrets {
            for needed in Role::ALL {
                let verdict = decide(
                    Access::Needs(needed),
                    "`POST /x`",
                    Some(secret.as_bytes()),
                    None,
                    &map,
                    now(),
                );
                if *role >= needed {
                    assert_eq!(
                        verdict.ok().flatten().map(|c| (c.name, c.role)),
                        Some((format!("{role}-token"), *role))
                    );
                } else {
                    let refusal = verdict.err().unwrap_or_else(|| unreachable!());
                    assert_eq!(refusal.error.status, StatusCode::FORBIDDEN);
                    assert_eq!(refusal.error.detail.role, Some(wire_role(needed)));
                    assert_eq!(
                        refusal.error.detail.message,
                        format!(
                            "`POST /x` needs the `{needed}` role; token `{role}-token` has `{role}`"
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn a_missing_wrong_revoked_or_expired_token_is_refused_with_its_reason() {
        let (mut map, secrets) = tokens();
        let read = &secrets[0].1;
        let needs = Access::Needs(Role::Read);
        let refusal = |presented: Option<&[u8]>, map: &BTreeMap<String, ApiToken>| {
            decide(needs, "`GET /x`", presented, None, map, now())
                .err()
                .map(|r| {
                    (
                        r.error.status.as_u16(),
                        r.error.detail.code,
                        r.reason,
                        r.failed_attempt,
                    )
                })
        };
        assert_eq!(
            refusal(None, &map),
            Some((401, "unauthorized".into(), "missing", false))
        );
        let mut wrong = read.clone();
        wrong.pop();
        wrong.push(if read.ends_with('a') { 'b' } else { 'a' });
        assert_eq!(
            refusal(Some(wrong.as_bytes()), &map),
            Some((401, "unauthorized".into(), "invalid", true))
        );
        assert_eq!(
            refusal(Some(b"not a token at all"), &map),
            Some((401, "unauthorized".into(), "invalid", true))
        );
        if let Some(t) = map.get_mut("read-token") {
            t.expires = Some(now());
        }
        assert_eq!(
            refusal(Some(read.as_bytes()), &map),
            Some((401, "token_expired".into(), "expired", true))
        );
        if let Some(t) = map.get_mut("read-token") {
            t.revoked = true;
        }
        assert_eq!(
            refusal(Some(read.as_bytes()), &map),
            Some((401, "token_revoked".into(), "revoked", true))
        );
    }

    #[test]
    fn the_token_file_token_is_an_admin_and_open_or_node_routes_need_no_token() {
        let map = BTreeMap::new();
        let verdict = decide(
            Access::Needs(Role::Admin),
            "`POST /x`",
            Some(b"a-token-from-the-token-file"),
            Some(b"a-token-from-the-token-file"),
            &map,
            now(),
        );
        assert_eq!(
            verdict.ok().flatten(),
            Some(Caller {
                name: TOKEN_FILE.into(),
                role: Role::Admin
            })
        );
        for access in [Access::Open, Access::Node] {
            assert_eq!(decide(access, "", None, None, &map, now()).ok(), Some(None));
        }
    }

    #[test]
    fn routes_map_to_their_roles_and_unknown_ones_to_admin() {
        let api = |p: &str| format!("{}{p}", orco_wire::API_PREFIX);
        let cases = [
            (Method::GET, route::HEALTH.to_string(), Access::Open),
            (Method::GET, route::METRICS.to_string(), READ),
            (Method::GET, api(route::STACKS), READ),
            (Method::HEAD, api(route::STACKS), READ),
            (Method::POST, api(route::STACKS), OPERATE),
            (Method::POST, api(route::PLACEMENTS), READ),
            (Method::PATCH, api(route::WORKLOAD_SCALE), OPERATE),
            (Method::POST, api("/workflows/{id}/cancel"), OPERATE),
            (Method::GET, api("/workflows"), READ),
            (Method::GET, api(route::TOKENS), ADMIN),
            (Method::POST, api(route::NODE_CORDON), ADMIN),
            (Method::POST, api(route::CLUSTER_JOIN), Access::Node),
            (Method::GET, api("/openapi.json"), READ),
            (Method::POST, api("/something/new"), ADMIN),
            (Method::GET, "/elsewhere".to_string(), ADMIN),
        ];
        for (method, path, want) in cases {
            assert_eq!(access(&method, Some(&path)), want, "{method} {path}");
        }
        assert_eq!(access(&Method::GET, None), READ);
    }

    #[test]
    fn secrets_compare_equal_only_when_identical_and_bearer_is_read_in_any_case() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abd", b"abc"));
        assert!(!same(b"ab", b"abc"));
        assert!(!same(b"", b"abc"));
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"BEARER  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
    }
}

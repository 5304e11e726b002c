//! The router: every route, and the layers around them — version exchange, JSON errors for
//! everything that fails outside a handler, body size limit and request latency. Who may
//! call a route is the listener's layer's business ([`crate::access`]).

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_swagger_ui::SwaggerUi;

use crate::context::ApiContext;
use crate::error::{ApiError, code_for_status};
use crate::openapi::document;
use crate::routes::{
    cluster, events, history, instances, jobs, logs, members, nodes, stacks, tokens, workloads,
};
use crate::version::{self, VERSION, VERSION_HEADER};
use orco_wire::route;

/// The largest request body accepted (the stack file loader's own input limit).
pub const BODY_LIMIT: usize = 4 << 20;

/// The whole API.
pub fn router(ctx: ApiContext) -> Router {
    let workflows = |jobs_route: &str| jobs_route.replacen("/jobs", "/workflows", 1);
    let api = Router::new()
        .route(route::STACKS, get(stacks::list).post(stacks::apply))
        .route(route::PLACEMENTS, post(stacks::placements))
        .route(
            route::STACK,
            get(stacks::get).put(stacks::put).delete(stacks::delete),
        )
        .route(route::STACK_STOP, post(stacks::stop))
        .route(
            route::WORKLOADS,
            get(workloads::list).post(workloads::create),
        )
        .route(
            route::WORKLOAD,
            get(workloads::get).delete(workloads::delete),
        )
        .route(route::WORKLOAD_SCALE, patch(workloads::scale))
        .route(route::WORKLOAD_RESTART, post(workloads::restart))
        .route(route::WORKLOAD_ROLLOUT, get(workloads::rollout))
        .route(route::WORKLOAD_ROLLBACK, post(workloads::rollback))
        .route(route::WORKLOAD_STOP, post(workloads::stop))
        .route(route::WORKLOAD_START, post(workloads::start))
        .route(route::INSTANCES, get(instances::list))
        .route(route::INSTANCE, get(instances::get))
        .route(route::INSTANCE_RESTART, post(instances::restart))
        .route(route::INSTANCE_LOGS, get(logs::instance))
        .route(route::LOGS, get(logs::read))
        .route(route::NODES, get(nodes::list))
        .route(route::NODE, get(nodes::get).delete(nodes::remove))
        .route(route::NODE_CORDON, post(nodes::cordon))
        .route(route::NODE_UNCORDON, post(nodes::uncordon))
        .route(route::NODE_DRAIN, post(nodes::drain))
        .route(route::NODE_LABELS, post(nodes::label))
        .route(route::NODE_TAINTS, post(nodes::taint))
        .route(route::NODE_CERTIFICATE, post(members::certificate))
        .route(route::NODE_STREAM, get(members::stream))
        .route(route::CLUSTER_JOIN, post(members::join))
        .route(route::CLUSTER_MEMBERS, get(members::members))
        .route(
            route::CLUSTER_TOKENS,
            get(members::list_tokens).post(members::create_token),
        )
        .route(
            route::CLUSTER_TOKEN,
            axum::routing::delete(members::revoke_token),
        )
        .route(route::TOKENS, get(tokens::list).post(tokens::create))
        .route(route::TOKEN, axum::routing::delete(tokens::revoke))
        .route(route::EVENTS, get(events::stream))
        .route(route::HISTORY, get(history::get))
        .route(route::CLUSTER, get(cluster::info))
        .route(route::JOBS, get(jobs::list).post(jobs::submit))
        .route(route::JOB, get(jobs::get))
        .route(route::JOB_CANCEL, post(jobs::cancel))
        .route(route::JOB_RETRY, post(jobs::retry))
        .route(route::JOB_PROGRESS, post(jobs::progress))
        .route(&workflows(route::JOBS), get(jobs::list).post(jobs::submit))
        .route(&workflows(route::JOB), get(jobs::get))
        .route(&workflows(route::JOB_CANCEL), post(jobs::cancel))
        .route(&workflows(route::JOB_RETRY), post(jobs::retry))
        .route(&workflows(route::JOB_PROGRESS), post(jobs::progress));
    Router::new()
        .nest(version::API_PREFIX, api)
        .route(route::HEALTH, get(cluster::health))
        .route(route::METRICS, get(metrics))
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", document()))
        .fallback(fallback)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(exchange_versions))
        .layer(middleware::from_fn_with_state(ctx.clone(), observe))
        .with_state(ctx)
}

async fn fallback() -> ApiError {
    let (code, message) = code_for_status(StatusCode::NOT_FOUND);
    ApiError::not_found(code, message)
}

/// Prometheus text of every metric.
async fn metrics(State(ctx): State<ApiContext>) -> Result<Response, ApiError> {
    let read = ctx.read(None).await?;
    let body = ctx.metrics().render(&read.state);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Refuses a client whose `Orco-Version` is incompatible, and sends ours on every response.
async fn exchange_versions(request: Request, next: Next) -> Response {
    let theirs = request
        .headers()
        .get(VERSION_HEADER)
        .map(|v| v.to_str().unwrap_or("unreadable").to_string());
    let mut response = match theirs.map(|client| version::check(&client, VERSION)) {
        Some(Err(e)) => {
            ApiError::bad_request("incompatible_version", e.to_string()).into_response()
        }
        Some(Ok(())) | None => next.run(request).await,
    };
    response
        .headers_mut()
        .insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    response
}

/// Turns every error response that is not JSON yet (unknown route, wrong method, body too
/// large from the limit layer) into the API's JSON error.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let (code, message) = code_for_status(status);
    let mut fixed = ApiError::new(status, code, message).into_response();
    for (name, value) in response.headers() {
        if name == header::ALLOW {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}

/// Records the latency of every request by method, matched route and status.
async fn observe(State(ctx): State<ApiContext>, request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    ctx.metrics().observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

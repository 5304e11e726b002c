//! `/api/v1/logs` and `/api/v1/instances/{id}/logs`: instances' output as NDJSON records,
//! history then (with `follow=true`) the live tail, without a gap or a repeat between them.
//!
//! Each line of the body is one log record (`seq`, `ts`, `stack`, `service`, `instance`,
//! `level`, `source`, `msg`, and a JSON line's fields). A follower too slow for the live
//! tail gets a line `{"lost": N}` saying how many records it missed, and the stream goes on.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use jiff::Timestamp;
use orco_logs::{Delivery, Filter, Level, Logs, Record, Subscription};
use orco_state::State as Folded;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::at::parse_at;
use crate::context::{ApiContext, internal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::{known_instance, known_stack, known_workload};

/// `?stack=&workload=&instance=&since=&grep=&level=&tail=&follow=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The stack; may be left out when only one is applied or `workload`/`instance` names it.
    pub stack: Option<String>,
    /// Only this workload (`STACK/NAME`, or `NAME`).
    pub workload: Option<String>,
    /// Only this instance (`STACK/SERVICE-N`, or `SERVICE-N`).
    pub instance: Option<String>,
    /// Only records at or after this moment: an RFC 3339 time or a duration ago (`10m`).
    pub since: Option<String>,
    /// Only records whose message matches this regular expression.
    pub grep: Option<String>,
    /// Only records at least this severe (`trace`, `debug`, `info`, `warn`, `error`, `fatal`).
    pub level: Option<String>,
    /// At most this many records of history: the most recent ones.
    pub tail: Option<usize>,
    /// Keep the stream open for new records (default false).
    pub follow: Option<bool>,
}

/// Read the logs of a stack, a workload or an instance.
#[utoipa::path(get, path = "/api/v1/logs", tag = "logs", params(LogsQuery),
    responses(
        (status = 200, description = "`application/x-ndjson`: one record per line", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn read(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let state = ctx.read(None).await?.state;
    let (stack, filter) = selection(&state, &q)?;
    serve(&ctx, stack, filter, q.follow.unwrap_or(false)).await
}

/// Read the logs of one instance.
#[utoipa::path(get, path = "/api/v1/instances/{id}/logs", tag = "instances",
    params(("id" = String, Path, description = "`STACK/SERVICE-N`, or `SERVICE-N` when unambiguous"), LogsQuery),
    responses(
        (status = 200, description = "`application/x-ndjson`: one record per line", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn instance(
    State(ctx): State<ApiContext>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(mut q): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    if q.instance.is_some() || q.workload.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "the path names the instance: leave out `instance` and `workload`",
        ));
    }
    q.instance = Some(id);
    read(State(ctx), ApiQuery(q)).await
}

/// The stack of `JOB/TASK` (among `stack`, or every stack): the one whose job `JOB` has a task
/// `TASK`, when exactly one has.
fn task_stack(state: &Folded, text: &str, stack: Option<&str>) -> Option<String> {
    let (job, task) = text.split_once('/')?;
    let mut owners = state
        .stacks
        .iter()
        .filter(|(name, _)| stack.is_none_or(|want| name.as_str() == want))
        .filter(|(_, s)| {
            s.spec
                .jobs
                .get(job)
                .is_some_and(|j| j.tasks.contains_key(task))
        })
        .map(|(name, _)| name.to_string());
    match (owners.next(), owners.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// The stack and the filter a query asks for.
fn selection(state: &Folded, q: &LogsQuery) -> Result<(String, Filter), ApiError> {
    let mut filter = Filter::default();
    let mut stack = match q.stack.as_deref() {
        Some(s) => Some(known_stack(state, s)?.to_string()),
        None => None,
    };
    if let Some(text) = q.workload.as_deref() {
        match known_workload(state, text, stack.as_deref()) {
            Ok(id) => {
                stack = Some(id.stack.to_string());
                filter.workload = Some(id.name.to_string());
            }
            // `JOB/TASK`: one task of a job, in every run.
            Err(e) => {
                let Some(owner) = task_stack(state, text, stack.as_deref()) else {
                    return Err(e);
                };
                stack = Some(owner);
                filter.workload = Some(text.to_string());
            }
        }
    }
    if let Some(text) = q.instance.as_deref() {
        let id = known_instance(state, text, stack.as_deref())?;
        stack = Some(id.workload.stack.to_string());
        filter.instance = Some(format!("{}-{}", id.workload.name, id.replica));
    }
    let stack = match stack {
        Some(stack) => stack,
        None => {
            let mut names = state.stacks.keys();
            match (names.next(), names.next()) {
                (Some(one), None) => one.to_string(),
                (None, _) => {
                    return Err(ApiError::not_found(
                        "stack_not_found",
                        "no stack is applied: there are no logs to read",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(
                        "ambiguous_name",
                        "several stacks are applied: name one with `stack`",
                    )
                    .with_field("stack"));
                }
            }
        }
    };
    if let Some(text) = q.since.as_deref() {
        filter.since = Some(since(text)?);
    }
    if let Some(text) = q.grep.as_deref() {
        let re = regex::Regex::new(text).map_err(|e| {
            ApiError::bad_request(
                "invalid_grep",
                format!("`grep` is not a regular expression: {e}"),
            )
            .with_field("grep")
        })?;
        filter.grep = Some(re);
    }
    if let Some(text) = q.level.as_deref() {
        let level = Level::from_name(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_level",
                format!("unknown level `{text}`: give trace, debug, info, warn, error or fatal"),
            )
            .with_field("level")
        })?;
        filter.level = Some(level);
    }
    filter.limit = q.tail;
    Ok((stack, filter))
}

/// `since`: a time or a duration ago (a revision means nothing to logs).
fn since(text: &str) -> Result<Timestamp, ApiError> {
    match parse_at(text, Timestamp::now()).map_err(|e| e.with_field("since"))? {
        orco_store::At::Time(t) => Ok(t),
        orco_store::At::Revision(_) => Err(ApiError::bad_request(
            "invalid_since",
            format!("`since={text}` is a revision: give a time or a duration ago (`10m`)"),
        )
        .with_field("since")),
    }
}

fn logs_of(ctx: &ApiContext) -> Result<Logs, ApiError> {
    ctx.logs().cloned().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_logs",
            "this daemon runs without an engine and keeps no logs",
        )
    })
}

/// Serializes records as NDJSON.
fn lines(records: &[Record]) -> Bytes {
    let mut out = Vec::with_capacity(records.len() * 128);
    for record in records {
        record.write_json_line(&mut out);
    }
    Bytes::from(out)
}

async fn serve(
    ctx: &ApiContext,
    stack: String,
    filter: Filter,
    follow: bool,
) -> Result<Response, ApiError> {
    if ctx.logs().is_none()
        && let Some(cluster) = ctx.cluster()
    {
        return serve_nodes(&cluster.streams, stack, &filter, follow).await;
    }
    let logs = logs_of(ctx)?;
    let ndjson = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !follow {
        let records = tokio::task::spawn_blocking(move || logs.read(&stack, &filter))
            .await
            .map_err(|e| internal(format!("log read did not finish: {e}")))?
            .map_err(|e| internal(format!("cannot read the logs: {e}")))?;
        return Ok((ndjson, lines(&records)).into_response());
    }
    let follow = tokio::task::spawn_blocking(move || logs.follow(&stack, filter))
        .await
        .map_err(|e| internal(format!("log read did not finish: {e}")))?
        .map_err(|e| internal(format!("cannot read the logs: {e}")))?;
    let history = lines(&follow.history);
    let live = stream::unfold(follow.live, next_chunk);
    let body = stream::once(async move { Ok::<Bytes, Infallible>(history) }).chain(live);
    Ok((ndjson, Body::from_stream(body)).into_response())
}

/// The next piece of the live tail: every delivery waiting, as NDJSON; an empty line (a
/// keep-alive) after [`crate::STREAM_KEEP_ALIVE`] of silence.
async fn next_chunk(mut live: Subscription) -> Option<(Result<Bytes, Infallible>, Subscription)> {
    let Ok(first) = tokio::time::timeout(crate::STREAM_KEEP_ALIVE, live.recv()).await else {
        return Some((Ok(Bytes::from_static(b"\n")), live));
    };
    let first = first?;
    let mut out = Vec::new();
    let push = |delivery: Delivery, out: &mut Vec<u8>| match delivery {
        Delivery::Record(record) => record.write_json_line(out),
        Delivery::Lost(n) => {
            out.extend_from_slice(format!("{{\"lost\":{n}}}\n").as_bytes());
        }
    };
    push(first, &mut out);
    while out.len() < 64 * 1024 {
        match live.try_recv() {
            Some(delivery) => push(delivery, &mut out),
            None => break,
        }
    }
    Some((Ok(Bytes::from(out)), live))
}

/// How long a node may take to send its history before the answer goes on without it.
const NODE_HISTORY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A cluster server keeps no logs: every node with an open stream is asked for its own, and
/// their histories are merged by time (then the live tails interleaved as they come).
async fn serve_nodes(
    streams: &std::sync::Arc<orco_cluster::Streams>,
    stack: String,
    filter: &Filter,
    follow: bool,
) -> Result<Response, ApiError> {
    let request = orco_cluster::LogRequest {
        id: 0,
        stack,
        workload: filter.workload.clone(),
        instance: filter.instance.clone(),
        since: filter.since.map(|t| t.to_string()),
        grep: filter.grep.as_ref().map(|re| re.as_str().to_string()),
        level: filter.level.map(|l| l.as_str().to_string()),
        tail: filter.limit,
        follow,
    };
    let mut answers = Vec::new();
    for node in streams.connected() {
        match streams.logs(&node, request.clone()).await {
            Ok(chunks) => answers.push((node, chunks)),
            Err(e) => tracing::warn!(node, "the node's logs are left out: {e}"),
        }
    }
    let mut history: Vec<(Option<Timestamp>, String)> = Vec::new();
    let mut live = Vec::new();
    for (node, mut chunks) in answers {
        let read = tokio::time::timeout(NODE_HISTORY_PATIENCE, async {
            let mut lines = Vec::new();
            while let Some(chunk) = chunks.recv().await {
                if let Some(error) = chunk.error {
                    return Err(error);
                }
                lines.extend(chunk.lines.lines().map(str::to_string));
                if chunk.history_end || chunk.end {
                    return Ok((lines, !chunk.end));
                }
            }
            Ok((lines, false))
        })
        .await;
        match read {
            Ok(Ok((lines, goes_on))) => {
                history.extend(lines.into_iter().map(|line| (timestamp_of(&line), line)));
                if goes_on {
                    live.push(chunks);
                }
            }
            Ok(Err(error)) => {
                return Err(internal(format!(
                    "node {node} cannot read its logs: {error}"
                )));
            }
            Err(_) => tracing::warn!(
                node,
                "the node's logs are left out: it did not answer in time"
            ),
        }
    }
    // Each node's records are in order; a stable sort by time interleaves them.
    history.sort_by_key(|a| a.0);
    if let Some(tail) = filter.limit {
        let extra = history.len().saturating_sub(tail);
        history.drain(..extra);
    }
    let mut body = Vec::new();
    for (_, line) in history {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    let ndjson = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !follow {
        return Ok((ndjson, Bytes::from(body)).into_response());
    }
    let tails = stream::select_all(live.into_iter().map(|chunks| {
        Box::pin(stream::unfold(chunks, |mut chunks| async move {
            let chunk = chunks.recv().await?;
            Some((Bytes::from(chunk.lines), chunks))
        }))
    }));
    let live = stream::unfold(tails, |mut tails| async move {
        match tokio::time::timeout(crate::STREAM_KEEP_ALIVE, tails.next()).await {
            Err(_) => Some((Ok::<Bytes, Infallible>(Bytes::from_static(b"\n")), tails)),
            Ok(Some(lines)) => Some((Ok(lines), tails)),
            Ok(None) => None,
        }
    });
    let body = stream::once(async move { Ok::<Bytes, Infallible>(Bytes::from(body)) }).chain(live);
    Ok((ndjson, Body::from_stream(body)).into_response())
}

/// The `ts` of a record's line (none for a line such as `{"lost":N}`).
fn timestamp_of(line: &str) -> Option<Timestamp> {
    #[derive(Deserialize)]
    struct Ts {
        ts: Option<Timestamp>,
    }
    serde_json::from_str::<Ts>(line).ok()?.ts
}

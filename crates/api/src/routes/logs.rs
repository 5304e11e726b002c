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
        // Read and serialized on a blocking thread: a long history holds no async thread.
        let body =
            tokio::task::spawn_blocking(move || logs.read(&stack, &filter).map(|r| lines(&r)))
                .await
                .map_err(|e| internal(format!("log read did not finish: {e}")))?
                .map_err(|e| internal(format!("cannot read the logs: {e}")))?;
        return Ok((ndjson, body).into_response());
    }
    let (history, live) = tokio::task::spawn_blocking(move || {
        logs.follow(&stack, filter)
            .map(|f| (lines(&f.history), f.live))
    })
    .await
    .map_err(|e| internal(format!("log read did not finish: {e}")))?
    .map_err(|e| internal(format!("cannot read the logs: {e}")))?;
    let live = stream::unfold(live, next_chunk);
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

/// How long a node may take to send a piece of its history before the answer goes on
/// without it. Generous: reading a long history takes time, and a node that hangs loses its
/// stream (and so its part of the answer) when its lease lapses, long before this.
const NODE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// A cluster server keeps no logs: every node with an open stream is asked for its own. The
/// answer starts at once; the nodes' histories are merged by time as they come (with
/// `tail`, over every node's last records), then the live tails are interleaved.
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
    let mut sources = Vec::new();
    for node in streams.connected() {
        match streams.logs(&node, request.clone()).await {
            Ok(chunks) => sources.push(Source {
                node,
                chunks,
                lines: std::collections::VecDeque::new(),
                history_done: false,
                ended: false,
            }),
            Err(e) => tracing::warn!(node, "the node's logs are left out: {e}"),
        }
    }
    let merge = Merge {
        sources,
        tail: filter.limit,
    };
    let body = stream::unfold(Phase::History(merge, follow), next_piece);
    let ndjson = [(header::CONTENT_TYPE, "application/x-ndjson")];
    Ok((ndjson, Body::from_stream(body)).into_response())
}

/// One node's answer.
struct Source {
    node: String,
    chunks: tokio::sync::mpsc::Receiver<orco_cluster::LogChunk>,
    /// Records received and not merged yet, with their time.
    lines: std::collections::VecDeque<(Option<Timestamp>, String)>,
    /// Its history is all received (or it is left out).
    history_done: bool,
    /// Its answer is over: nothing live follows.
    ended: bool,
}

impl Source {
    /// Receives the next chunk of the history, unless it is all received.
    async fn receive(&mut self) {
        if self.history_done {
            return;
        }
        let node = &self.node;
        match tokio::time::timeout(NODE_PATIENCE, self.chunks.recv()).await {
            Ok(Some(chunk)) => {
                if let Some(error) = chunk.error {
                    tracing::warn!(node, "the node's logs are left out: {error}");
                    (self.history_done, self.ended) = (true, true);
                    return;
                }
                self.lines.extend(
                    chunk
                        .lines
                        .lines()
                        .map(|line| (timestamp_of(line), line.to_string())),
                );
                self.history_done = chunk.history_end || chunk.end;
                self.ended = chunk.end;
            }
            Ok(None) => (self.history_done, self.ended) = (true, true),
            Err(_) => {
                tracing::warn!(
                    node,
                    "the node's logs are left out: it did not answer in time"
                );
                (self.history_done, self.ended) = (true, true);
            }
        }
    }
}

/// The nodes' histories merged by time.
struct Merge {
    sources: Vec<Source>,
    tail: Option<usize>,
}

impl Merge {
    /// The next piece of the merged history (at most 64 KiB), or `None` when it is all out.
    /// Cancel-safe (it is raced against keep-alives): it only waits while it holds nothing,
    /// and a chunk received is kept in its source.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(tail) = self.tail {
            // The last `tail` records of all: every node sent at most that many.
            for source in &mut self.sources {
                while !source.history_done {
                    source.receive().await;
                }
            }
            self.tail = None;
            let mut all: Vec<_> = self
                .sources
                .iter_mut()
                .flat_map(|s| s.lines.drain(..))
                .collect();
            // Each node's records are in order; a stable sort interleaves them.
            all.sort_by_key(|(ts, _)| *ts);
            let extra = all.len().saturating_sub(tail);
            let mut out = Vec::new();
            for (_, line) in all.into_iter().skip(extra) {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
        let mut out = Vec::new();
        while out.len() < 64 * 1024 {
            if let Some(source) = self
                .sources
                .iter_mut()
                .find(|s| s.lines.is_empty() && !s.history_done)
            {
                if !out.is_empty() {
                    break;
                }
                source.receive().await;
                continue;
            }
            let earliest = self
                .sources
                .iter_mut()
                .filter(|s| !s.lines.is_empty())
                .min_by_key(|s| s.lines.front().map(|(ts, _)| *ts));
            let Some((_, line)) = earliest.and_then(|s| s.lines.pop_front()) else {
                break;
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// The live tails of the nodes still answering, interleaved as they come.
    fn live(self) -> stream::SelectAll<Tail> {
        stream::select_all(self.sources.into_iter().filter(|s| !s.ended).map(|s| {
            Box::pin(stream::unfold(s.chunks, |mut chunks| async move {
                let chunk = chunks.recv().await?;
                Some((Bytes::from(chunk.lines), chunks))
            })) as Tail
        }))
    }
}

/// One node's live tail.
type Tail = std::pin::Pin<Box<dyn futures_util::Stream<Item = Bytes> + Send>>;

/// Where a cluster server's answer to a log read stands.
enum Phase {
    /// Sending the merged history; then the live tails when following.
    History(Merge, bool),
    /// Sending the live tails.
    Live(stream::SelectAll<Tail>),
}

/// The next piece of a cluster server's answer: history, then the live tails, with an empty
/// line (a keep-alive) after [`crate::STREAM_KEEP_ALIVE`] of silence.
async fn next_piece(mut phase: Phase) -> Option<(Result<Bytes, Infallible>, Phase)> {
    let keep_alive = || Ok(Bytes::from_static(b"\n"));
    loop {
        match phase {
            Phase::History(mut merge, follow) => {
                match tokio::time::timeout(crate::STREAM_KEEP_ALIVE, merge.next()).await {
                    Err(_) => return Some((keep_alive(), Phase::History(merge, follow))),
                    Ok(Some(piece)) => return Some((Ok(piece), Phase::History(merge, follow))),
                    Ok(None) if follow => phase = Phase::Live(merge.live()),
                    Ok(None) => return None,
                }
            }
            Phase::Live(mut tails) => {
                return match tokio::time::timeout(crate::STREAM_KEEP_ALIVE, tails.next()).await {
                    Err(_) => Some((keep_alive(), Phase::Live(tails))),
                    Ok(Some(lines)) => Some((Ok(lines), Phase::Live(tails))),
                    Ok(None) => None,
                };
            }
        }
    }
}

/// The `ts` of a record's line (none for a line such as `{"lost":N}`).
fn timestamp_of(line: &str) -> Option<Timestamp> {
    #[derive(Deserialize)]
    struct Ts {
        ts: Option<Timestamp>,
    }
    serde_json::from_str::<Ts>(line).ok()?.ts
}

//! `/api/v1/events`: the log as server-sent events from a revision, resumable.
//!
//! Each event is an SSE message with `id:` its revision, `event: event` and the
//! [`EventView`](crate::model::EventView) as `data:`. A client resumes with `?after=N` or the
//! standard `Last-Event-ID` header. A client that falls too far behind gets one
//! `event: error` message with code `too_slow` and `resume_after`, the revision to resume
//! from, and the stream ends. With `follow=false` the stream ends at the head as of the
//! request with an `event: end` message carrying that revision.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use orco_state::EventKind;
use orco_store::{StoreError, Watch};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::views::event_view;

/// `?after=&follow=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Send the events after this revision (default 0: the whole log). The `Last-Event-ID`
    /// header, when present, wins.
    pub after: Option<u64>,
    /// Keep the stream open for new events (default true); `false` ends it at the head.
    pub follow: Option<bool>,
    /// Send only events of these kinds, comma-separated (`job_finished,task_failed`);
    /// default: every kind.
    pub kinds: Option<String>,
}

/// The kinds of `?kinds=`, each checked against the kinds there are.
fn kinds(text: &str) -> Result<Vec<&'static str>, ApiError> {
    text.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            EventKind::NAMES
                .iter()
                .find(|name| **name == k)
                .copied()
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "unknown event kind `{k}`: one of {}",
                            EventKind::NAMES.join(", ")
                        ),
                    )
                    .with_field("kinds")
                })
        })
        .collect()
}

fn message(name: &str, data: &serde_json::Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

fn failure(e: &StoreError) -> SseEvent {
    let body = ApiError::from(e.clone()).body();
    message("error", &serde_json::to_value(body).unwrap_or_default())
}

struct Cursor {
    watch: Watch,
    until: Option<u64>,
    /// Only these kinds are sent; empty: every kind.
    kinds: Vec<&'static str>,
}

async fn step(mut cursor: Cursor) -> Option<(Result<SseEvent, Infallible>, Option<Cursor>)> {
    loop {
        if let Some(until) = cursor.until
            && cursor.watch.last_revision() >= until
        {
            let end = message("end", &serde_json::json!({ "revision": until }));
            return Some((Ok(end), None));
        }
        match cursor.watch.next().await {
            // Not asked for: not even rendered.
            Ok(record)
                if !cursor.kinds.is_empty()
                    && !cursor.kinds.contains(&record.event.kind.name()) => {}
            Ok(record) => {
                let view = event_view(record.revision, &record.event);
                let data = serde_json::to_string(&view).unwrap_or_default();
                let event = SseEvent::default()
                    .id(record.revision.to_string())
                    .event("event")
                    .data(data);
                return Some((Ok(event), Some(cursor)));
            }
            Err(e) => return Some((Ok(failure(&e)), None)),
        }
    }
}

/// Stream the log's events after a revision as server-sent events.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`: `event` messages (id = revision, data = EventView), then `end` (follow=false) or `error` (code `too_slow` with `resume_after`)", content_type = "text/event-stream", body = String),
        (status = 400, description = "A revision beyond the head", body = ErrorBody),
        (status = 410, description = "The revision is compacted", body = ErrorBody),
    ))]
pub async fn stream(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let from_header = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_header",
                        "Last-Event-ID must be a revision (a number)",
                    )
                    .with_field("Last-Event-ID")
                })?,
        ),
        None => None,
    };
    let after = from_header.or(q.after).unwrap_or(0);
    let head = ctx.store().head();
    if after > head {
        return Err(StoreError::Future {
            revision: after,
            head,
        }
        .into());
    }
    let horizon = ctx.store().horizon();
    if after < horizon {
        return Err(StoreError::Compacted {
            revision: after,
            horizon,
        }
        .into());
    }
    let kinds = q
        .kinds
        .as_deref()
        .map(kinds)
        .transpose()?
        .unwrap_or_default();
    let watch = ctx.store().watch(after)?;
    let until = if q.follow.unwrap_or(true) {
        None
    } else {
        Some(head)
    };
    let stream = futures_util::stream::unfold(
        Some(Cursor {
            watch,
            until,
            kinds,
        }),
        |cursor| async move { step(cursor?).await },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(crate::STREAM_KEEP_ALIVE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_watcher_gets_an_error_event_naming_the_revision_to_resume_from() {
        let body = ApiError::from(StoreError::TooSlow { resume_after: 41 }).body();
        assert_eq!(body.error.code, "too_slow");
        assert_eq!(body.error.resume_after, Some(41));
        assert!(body.error.message.contains("watch again from revision 41"));
        // The SSE message carries that body under `event: error`.
        let rendered = format!("{:?}", failure(&StoreError::TooSlow { resume_after: 41 }));
        assert!(
            rendered.contains("error") && rendered.contains("41"),
            "{rendered}"
        );
    }
}

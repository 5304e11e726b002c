//! Logs across nodes: they stay on the node that wrote them (DESIGN.md §11), and a node
//! answers the control plane's [`LogRequest`]s on its stream in [`LogChunk`]s — the history,
//! then (when following) the live tail, each chunk at most [`CHUNK_BYTES`].

use std::collections::HashMap;

use jiff::Timestamp;
use orco_interface::{LogChunk, LogRequest};
use orco_logs::{Delivery, Filter, Level, Logs, Record};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// The most bytes of records in one chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The filter a request asks for, or why it is not one.
pub fn filter(request: &LogRequest) -> Result<Filter, String> {
    let since = match request.since.as_deref() {
        Some(text) => Some(
            text.parse::<Timestamp>()
                .map_err(|e| format!("`since` {text:?} is not a time: {e}"))?,
        ),
        None => None,
    };
    let grep = match request.grep.as_deref() {
        Some(text) => Some(
            regex::Regex::new(text)
                .map_err(|e| format!("`grep` is not a regular expression: {e}"))?,
        ),
        None => None,
    };
    let level = match request.level.as_deref() {
        Some(text) => {
            Some(Level::from_name(text).ok_or_else(|| format!("unknown level `{text}`"))?)
        }
        None => None,
    };
    Ok(Filter {
        workload: request.workload.clone(),
        instance: request.instance.clone(),
        since,
        grep,
        level,
        limit: request.tail,
    })
}

/// Hands `records` to `send` as NDJSON chunks of about [`CHUNK_BYTES`] (a longer record is
/// a chunk alone), serialized one chunk at a time; false when `send` refused one.
fn send_chunks(records: &[Record], mut send: impl FnMut(String) -> bool) -> bool {
    let mut current = Vec::new();
    for record in records {
        record.write_json_line(&mut current);
        if current.len() >= CHUNK_BYTES
            && !send(String::from_utf8_lossy(&std::mem::take(&mut current)).into_owned())
        {
            return false;
        }
    }
    current.is_empty() || send(String::from_utf8_lossy(&current).into_owned())
}

/// Answers `request` from `logs` on `out` until the answer is complete, the reader cancels
/// it (the task is aborted), or the stream ends (`out` closes). The history is read and
/// serialized on a blocking thread, a chunk at a time as the stream takes them: a long
/// history never holds the node's async threads (and so its renewals) back.
pub async fn answer(logs: Logs, request: LogRequest, out: mpsc::Sender<LogChunk>) {
    let id = request.id;
    let failed = |error: String| LogChunk {
        id,
        end: true,
        error: Some(error),
        ..LogChunk::default()
    };
    let filter = match filter(&request) {
        Ok(filter) => filter,
        Err(e) => {
            let _ = out.send(failed(e)).await;
            return;
        }
    };
    let stack = request.stack.clone();
    let follow = request.follow;
    let sender = out.clone();
    let history = tokio::task::spawn_blocking(move || {
        let (records, live) = if follow {
            let f = logs.follow(&stack, filter)?;
            (f.history, Some(f.live))
        } else {
            (logs.read(&stack, &filter)?, None)
        };
        let sent = send_chunks(&records, |lines| {
            let chunk = LogChunk {
                id,
                lines,
                ..LogChunk::default()
            };
            sender.blocking_send(chunk).is_ok()
        });
        if !sent {
            return Ok(None);
        }
        let end_of_history = LogChunk {
            id,
            history_end: true,
            end: !follow,
            ..LogChunk::default()
        };
        if sender.blocking_send(end_of_history).is_err() {
            return Ok(None);
        }
        Ok::<_, orco_logs::LogError>(live)
    })
    .await;
    let mut live = match history {
        Ok(Ok(Some(live))) => live,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return drop(out.send(failed(format!("cannot read the logs: {e}"))).await),
        Err(e) => return drop(out.send(failed(format!("the log read failed: {e}"))).await),
    };
    while let Some(first) = live.recv().await {
        let mut lines = Vec::new();
        let push = |delivery: Delivery, lines: &mut Vec<u8>| match delivery {
            Delivery::Record(record) => record.write_json_line(lines),
            Delivery::Lost(n) => lines.extend_from_slice(format!("{{\"lost\":{n}}}\n").as_bytes()),
        };
        push(first, &mut lines);
        while lines.len() < CHUNK_BYTES {
            match live.try_recv() {
                Some(delivery) => push(delivery, &mut lines),
                None => break,
            }
        }
        let chunk = LogChunk {
            id,
            lines: String::from_utf8_lossy(&lines).into_owned(),
            ..LogChunk::default()
        };
        if out.send(chunk).await.is_err() {
            return;
        }
    }
}

/// The log requests a node is answering on one stream; aborted when the stream ends.
#[derive(Debug, Default)]
pub struct Answers {
    running: HashMap<u64, AbortHandle>,
}

impl Answers {
    /// Starts answering `request`.
    pub fn start(&mut self, logs: Logs, request: LogRequest, out: mpsc::Sender<LogChunk>) {
        let id = request.id;
        let task = tokio::spawn(answer(logs, request, out));
        if let Some(old) = self.running.insert(id, task.abort_handle()) {
            old.abort();
        }
    }

    /// Stops answering request `id`.
    pub fn cancel(&mut self, id: u64) {
        if let Some(task) = self.running.remove(&id) {
            task.abort();
        }
    }

    /// A chunk of request `id` was sent; the last one ends it.
    pub fn sent(&mut self, chunk: &LogChunk) {
        if chunk.end {
            self.running.remove(&chunk.id);
        }
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_bad_pattern_or_level_is_refused_with_the_reason() {
        let bad_grep = LogRequest {
            grep: Some("(".into()),
            ..LogRequest::default()
        };
        assert!(
            filter(&bad_grep)
                .unwrap_err()
                .contains("regular expression")
        );
        let bad_level = LogRequest {
            level: Some("loud".into()),
            ..LogRequest::default()
        };
        assert!(filter(&bad_level).unwrap_err().contains("loud"));
        let bad_since = LogRequest {
            since: Some("yesterday".into()),
            ..LogRequest::default()
        };
        assert!(filter(&bad_since).unwrap_err().contains("since"));
    }

    #[test]
    fn a_request_becomes_the_same_filter_on_the_node() {
        let request = LogRequest {
            workload: Some("web".into()),
            instance: Some("web-2".into()),
            since: Some("2026-01-02T03:04:05Z".into()),
            grep: Some("^GET".into()),
            level: Some("warn".into()),
            tail: Some(7),
            ..LogRequest::default()
        };
        let f = filter(&request).unwrap();
        assert_eq!(f.workload.as_deref(), Some("web"));
        assert_eq!(f.instance.as_deref(), Some("web-2"));
        assert_eq!(f.since.unwrap().to_string(), "2026-01-02T03:04:05Z");
        assert!(f.grep.unwrap().is_match("GET /"));
        assert_eq!(f.level, Some(Level::Warn));
        assert_eq!(f.limit, Some(7));
    }
}

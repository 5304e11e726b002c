//! The log pane's data: [`LogLine`]s in a bounded [`LogBuffer`], the [`LogFilter`] (minimum
//! level, regex, scope) and the [`LogSource`] seam that feeds lines from the daemon.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use regex::Regex;
use serde_json::Value;
use tokio::sync::mpsc;

pub use orco_wire::Level;

/// The next stricter minimum for the level filter key: none → debug → info → warn → error →
/// none.
pub fn next_min_level(min: Option<Level>) -> Option<Level> {
    match min {
        None | Some(Level::Trace) => Some(Level::Debug),
        Some(Level::Debug) => Some(Level::Info),
        Some(Level::Info) => Some(Level::Warn),
        Some(Level::Warn) => Some(Level::Error),
        Some(Level::Error) => None,
    }
}

/// One line of the log pane: an instance's output line, or a note of orco's own (a state
/// change from the event watch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The service, job or `JOB/TASK` it belongs to (empty for stack-level notes).
    pub workload: String,
    /// The instance (`SERVICE-N`), when known.
    pub instance: Option<String>,
    /// Its level, when it can be told.
    pub level: Option<Level>,
    /// `stdout`, `stderr` or `orco`.
    pub source: String,
    /// The text.
    pub msg: String,
}

impl LogLine {
    /// A note of orco's own about `workload`.
    pub fn note(workload: impl Into<String>, level: Level, msg: impl Into<String>) -> LogLine {
        LogLine {
            workload: workload.into(),
            instance: None,
            level: Some(level),
            source: "orco".into(),
            msg: msg.into(),
        }
    }

    /// Reads one NDJSON record of the log pipeline (`{"seq":…,"service":"api",
    /// "instance":"api-0","level":"warn","source":"stdout","msg":"…"}`); `None` when the
    /// line is not such a record.
    pub fn from_record(line: &str) -> Option<LogLine> {
        let value: Value = serde_json::from_str(line).ok()?;
        let object = value.as_object()?;
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let msg = text("msg")?;
        let workload = match (text("service"), text("job"), text("task")) {
            (Some(service), _, _) => service,
            (None, Some(job), Some(task)) => format!("{job}/{task}"),
            (None, Some(job), None) => job,
            (None, None, _) => String::new(),
        };
        Some(LogLine {
            workload,
            instance: text("instance"),
            level: text("level").as_deref().and_then(Level::from_name),
            source: text("source").unwrap_or_else(|| "stdout".into()),
            msg,
        })
    }
}

/// Which lines the pane shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only lines at or above this level (lines without a level are kept only when `None`).
    pub min_level: Option<Level>,
    /// Only lines whose text matches.
    pub regex: Option<Regex>,
    /// Only lines of this workload (`None`: every workload).
    pub workload: Option<String>,
}

impl LogFilter {
    /// Whether `line` passes every part of the filter.
    pub fn matches(&self, line: &LogLine) -> bool {
        if let Some(min) = self.min_level
            && line.level.is_none_or(|level| level < min)
        {
            return false;
        }
        if let Some(workload) = &self.workload
            && line.workload != *workload
            && line
                .workload
                .split_once('/')
                .is_none_or(|(job, _)| job != workload)
        {
            return false;
        }
        if let Some(regex) = &self.regex
            && !regex.is_match(&line.msg)
        {
            return false;
        }
        true
    }
}

/// The newest lines, at most `capacity` of them; older ones are dropped and counted.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    capacity: usize,
    dropped: u64,
    received: u64,
}

impl LogBuffer {
    /// An empty buffer keeping `capacity` lines (at least one).
    pub fn new(capacity: usize) -> LogBuffer {
        LogBuffer {
            lines: VecDeque::with_capacity(capacity.clamp(1, 4096)),
            capacity: capacity.max(1),
            dropped: 0,
            received: 0,
        }
    }

    /// Appends a line, dropping the oldest when full.
    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.received += 1;
        self.lines.push_back(line);
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> {
        self.lines.iter()
    }

    /// How many lines are held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines received in all.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The last `count` lines passing `filter`, skipping the newest `skip` of those (the
    /// pane's scroll offset), oldest first.
    pub fn tail(&self, filter: &LogFilter, skip: usize, count: usize) -> Vec<&LogLine> {
        let mut out: Vec<&LogLine> = self
            .lines
            .iter()
            .rev()
            .filter(|line| filter.matches(line))
            .skip(skip)
            .take(count)
            .collect();
        out.reverse();
        out
    }
}

/// A boxed future, for [`LogSource`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the log pane's lines come from: follows one stack's log and sends each line until
/// the receiver is gone or the stream ends. The daemon's logs route plugs in here.
pub trait LogSource: Send + Sync {
    /// Follows `stack`'s log into `lines`; `Err` says why following stopped.
    fn follow<'a>(
        &'a self,
        stack: &'a str,
        lines: mpsc::Sender<LogLine>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// A source with no lines: the pane then shows orco's own notes only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLogs;

impl LogSource for NoLogs {
    fn follow<'a>(
        &'a self,
        _stack: &'a str,
        _lines: mpsc::Sender<LogLine>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// The daemon's logs route (`GET /api/v1/logs?stack=…&follow=true`): the last lines of
/// history, then the live tail. When the pane cannot keep up, lines are dropped here and
/// the drop is told in the pane, so a flood never slows the TUI down.
#[derive(Debug, Clone)]
pub struct ApiLogs {
    client: orco_client::Client,
    tail: usize,
}

impl ApiLogs {
    /// Follows logs through `client`, starting with the last `tail` lines of history.
    pub fn new(client: orco_client::Client, tail: usize) -> ApiLogs {
        ApiLogs { client, tail }
    }
}

impl LogSource for ApiLogs {
    fn follow<'a>(
        &'a self,
        stack: &'a str,
        lines: mpsc::Sender<LogLine>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let tail = self.tail.to_string();
            let mut reader = self
                .client
                .logs(&[
                    ("stack", Some(stack)),
                    ("tail", Some(&tail)),
                    ("follow", Some("true")),
                ])
                .await
                .map_err(|e| e.to_string())?;
            let mut dropped: u64 = 0;
            while let Some(raw) = reader.next().await? {
                let text = String::from_utf8_lossy(&raw);
                let line = match LogLine::from_record(&text) {
                    Some(line) => line,
                    None => match lost(&text) {
                        Some(n) => {
                            dropped = dropped.saturating_add(n);
                            continue;
                        }
                        None => continue,
                    },
                };
                if dropped > 0 {
                    let note = LogLine::note(
                        "",
                        Level::Warn,
                        format!("{dropped} log lines dropped: the pane could not keep up"),
                    );
                    if lines.try_send(note).is_ok() {
                        dropped = 0;
                    }
                }
                match lines.try_send(line) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => dropped = dropped.saturating_add(1),
                    Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
                }
            }
            Ok(())
        })
    }
}

/// `{"lost": N}`: the daemon's note that a slow follower missed N records.
fn lost(text: &str) -> Option<u64> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("lost")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(workload: &str, level: Option<Level>, msg: &str) -> LogLine {
        LogLine {
            workload: workload.into(),
            instance: None,
            level,
            source: "stdout".into(),
            msg: msg.into(),
        }
    }

    #[test]
    fn records_of_the_log_pipeline_are_read_and_other_lines_are_not() {
        let l = LogLine::from_record(
            r#"{"seq":7,"ts":"2025-01-02T03:04:05Z","stack":"demo","service":"api","instance":"api-0","level":"warn","source":"stdout","msg":"slow"}"#,
        )
        .unwrap();
        assert_eq!(l.workload, "api");
        assert_eq!(l.instance.as_deref(), Some("api-0"));
        assert_eq!(l.level, Some(Level::Warn));
        assert_eq!(l.msg, "slow");
        let t = LogLine::from_record(r#"{"job":"j","task":"t","msg":"x"}"#).unwrap();
        assert_eq!(t.workload, "j/t");
        assert!(LogLine::from_record("not json").is_none());
        assert!(LogLine::from_record("[1]").is_none());
        assert!(LogLine::from_record(r#"{"lost":3}"#).is_none());
        assert_eq!(lost(r#"{"lost":3}"#), Some(3));
    }

    #[test]
    fn the_filter_combines_level_workload_and_regex() {
        let filter = LogFilter {
            min_level: Some(Level::Warn),
            regex: Regex::new("disk").ok(),
            workload: Some("db".into()),
        };
        assert!(filter.matches(&line("db", Some(Level::Error), "disk full")));
        assert!(!filter.matches(&line("db", Some(Level::Info), "disk full")));
        assert!(!filter.matches(&line("db", None, "disk full")));
        assert!(!filter.matches(&line("api", Some(Level::Error), "disk full")));
        assert!(!filter.matches(&line("db", Some(Level::Error), "cpu hot")));
        let job = LogFilter {
            workload: Some("etl".into()),
            ..LogFilter::default()
        };
        assert!(job.matches(&line("etl/load", None, "x")));
    }

    #[test]
    fn the_buffer_keeps_the_newest_lines_and_tails_through_the_filter() {
        let mut buffer = LogBuffer::new(3);
        for i in 0..5 {
            buffer.push(line("a", None, &format!("line {i}")));
        }
        assert_eq!(buffer.len(), 3);
        assert_eq!(buffer.received(), 5);
        let all = LogFilter::default();
        let tail: Vec<_> = buffer
            .tail(&all, 0, 2)
            .iter()
            .map(|l| l.msg.clone())
            .collect();
        assert_eq!(tail, ["line 3", "line 4"]);
        let scrolled: Vec<_> = buffer
            .tail(&all, 1, 2)
            .iter()
            .map(|l| l.msg.clone())
            .collect();
        assert_eq!(scrolled, ["line 2", "line 3"]);
    }

    #[test]
    fn the_level_key_cycles_through_every_minimum() {
        let mut seen = vec![];
        let mut level = None;
        for _ in 0..5 {
            level = next_min_level(level);
            seen.push(level);
        }
        assert_eq!(
            seen,
            [
                Some(Level::Debug),
                Some(Level::Info),
                Some(Level::Warn),
                Some(Level::Error),
                None
            ]
        );
    }
}

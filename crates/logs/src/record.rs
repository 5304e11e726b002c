//! The NDJSON record: one line of output (or one note of orco's own) with its origin.
//!
//! On disk and on the wire a record is one JSON object per line, fixed fields first:
//!
//! ```json
//! {"seq":7,"ts":"2025-01-02T03:04:05.123456789Z","stack":"demo","service":"api",
//!  "instance":"api-0","level":"warn","source":"stdout","msg":"slow request","path":"/x"}
//! ```
//!
//! A task's records carry `job` and `task` instead of `service`; orco's own records about a
//! whole job carry only `job`. The fields of a JSON line follow the fixed ones; a field whose
//! name is one of [`FIXED_FIELDS`] is kept under the same name with `_` in front (repeated
//! until the name is free).

use jiff::Timestamp;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The names orco owns in every record; a JSON line's fields never overwrite them.
pub const FIXED_FIELDS: [&str; 12] = [
    "seq",
    "ts",
    "stack",
    "service",
    "job",
    "task",
    "instance",
    "level",
    "source",
    "msg",
    "dropped",
    "truncated",
];

pub use orco_wire::Level;

/// Where a record came from: an instance's stdout or stderr, or orco itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The instance's standard output.
    Stdout,
    /// The instance's standard error.
    Stderr,
    /// orco's own record: a state change, a drop notice.
    Orco,
}

impl Source {
    /// The name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
            Source::Orco => "orco",
        }
    }

    fn from_name(name: &str) -> Option<Source> {
        match name {
            "stdout" => Some(Source::Stdout),
            "stderr" => Some(Source::Stderr),
            "orco" => Some(Source::Orco),
            _ => None,
        }
    }
}

impl From<orco_runtime::Source> for Source {
    fn from(source: orco_runtime::Source) -> Source {
        match source {
            orco_runtime::Source::Stdout => Source::Stdout,
            orco_runtime::Source::Stderr => Source::Stderr,
        }
    }
}

/// The workload a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Workload {
    /// A service (`"service"` in the record).
    Service(String),
    /// A whole job, for orco's own records about it (`"job"`).
    Job(String),
    /// One task of a job (`"job"` and `"task"`).
    Task {
        /// The job.
        job: String,
        /// The task.
        task: String,
    },
}

impl Workload {
    /// Whether `name` names this workload: a service or job by name, a task as `JOB/TASK`
    /// (a job's name also matches its tasks).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Workload::Service(s) | Workload::Job(s) => s == name,
            Workload::Task { job, task } => {
                job == name
                    || name
                        .split_once('/')
                        .is_some_and(|(j, t)| j == job && t == task)
            }
        }
    }
}

/// Who produced a stream of records: the workload and instance, either of which may be
/// absent for orco's stack-level records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The workload, if any.
    pub workload: Option<Workload>,
    /// The instance (`SERVICE-N`), if any.
    pub instance: Option<String>,
}

impl Origin {
    /// An instance of a service.
    pub fn service(service: impl Into<String>, instance: impl Into<String>) -> Origin {
        Origin {
            workload: Some(Workload::Service(service.into())),
            instance: Some(instance.into()),
        }
    }

    /// An instance of a job's task.
    pub fn task(
        job: impl Into<String>,
        task: impl Into<String>,
        instance: impl Into<String>,
    ) -> Origin {
        Origin {
            workload: Some(Workload::Task {
                job: job.into(),
                task: task.into(),
            }),
            instance: Some(instance.into()),
        }
    }

    /// The stack itself (orco's records about the whole stack).
    pub fn stack() -> Origin {
        Origin::default()
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the stack's log: starts at 1, increases by one per record, never reused.
    pub seq: u64,
    /// When the line was read (or orco noted the event).
    pub ts: Timestamp,
    /// The stack.
    pub stack: String,
    /// The workload, if any.
    pub workload: Option<Workload>,
    /// The instance, if any.
    pub instance: Option<String>,
    /// The level, when it could be told.
    pub level: Option<Level>,
    /// stdout, stderr or orco.
    pub source: Source,
    /// The message: the line's text (or a JSON line's `msg`/`message`).
    pub msg: String,
    /// For a drop notice: how many lines of this instance were dropped.
    pub dropped: Option<u64>,
    /// The line was longer than the limit and was cut (the message ends with a marker).
    pub truncated: bool,
    /// The fields of a JSON line, and any extra fields of orco's records.
    pub fields: Map<String, Value>,
}

impl Record {
    /// Parses one NDJSON line; `None` when it is not a record (a torn or corrupt line).
    pub fn from_json_line(line: &[u8]) -> Option<Record> {
        let map: Map<String, Value> = serde_json::from_slice(line).ok()?;
        Record::from_map(map).ok()
    }

    /// Appends the record as one JSON line (with its newline) to `out`.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Writing JSON into a Vec cannot fail: every key is a string and every value a
        // serializable JSON value.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }

    fn from_map(mut map: Map<String, Value>) -> Result<Record, String> {
        let seq = map
            .remove("seq")
            .and_then(|v| v.as_u64())
            .ok_or("missing or bad seq")?;
        let ts = take_str(&mut map, "ts")
            .and_then(|s| s.parse::<Timestamp>().ok())
            .ok_or("missing or bad ts")?;
        let stack = take_str(&mut map, "stack").ok_or("missing stack")?;
        let source = take_str(&mut map, "source")
            .and_then(|s| Source::from_name(&s))
            .ok_or("missing or bad source")?;
        let msg = take_str(&mut map, "msg").ok_or("missing msg")?;
        let service = take_str(&mut map, "service");
        let job = take_str(&mut map, "job");
        let task = take_str(&mut map, "task");
        let workload = match (service, job, task) {
            (Some(s), _, _) => Some(Workload::Service(s)),
            (None, Some(job), Some(task)) => Some(Workload::Task { job, task }),
            (None, Some(job), None) => Some(Workload::Job(job)),
            (None, None, _) => None,
        };
        let instance = take_str(&mut map, "instance");
        let level = take_str(&mut map, "level").and_then(|s| Level::from_name(&s));
        let dropped = map.remove("dropped").and_then(|v| v.as_u64());
        let truncated = map
            .remove("truncated")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(Record {
            seq,
            ts,
            stack,
            workload,
            instance,
            level,
            source,
            msg,
            dropped,
            truncated,
            fields: map,
        })
    }
}

fn take_str(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The timestamp with nanoseconds always written, so that records sort as text too.
struct Rfc3339(Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:.9}", self.0))
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("ts", &Rfc3339(self.ts))?;
        m.serialize_entry("stack", &self.stack)?;
        match &self.workload {
            Some(Workload::Service(service)) => m.serialize_entry("service", service)?,
            Some(Workload::Job(job)) => m.serialize_entry("job", job)?,
            Some(Workload::Task { job, task }) => {
                m.serialize_entry("job", job)?;
                m.serialize_entry("task", task)?;
            }
            None => {}
        }
        if let Some(instance) = &self.instance {
            m.serialize_entry("instance", instance)?;
        }
        if let Some(level) = self.level {
            m.serialize_entry("level", &level)?;
        }
        m.serialize_entry("source", &self.source)?;
        m.serialize_entry("msg", &self.msg)?;
        if let Some(dropped) = self.dropped {
            m.serialize_entry("dropped", &dropped)?;
        }
        if self.truncated {
            m.serialize_entry("truncated", &true)?;
        }
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Record::from_map(map).map_err(D::Error::custom)
    }
}

/// The name under which a JSON line's field `key` is kept: `key` itself, or `_key` (`__key`,
/// …) when `key` is a fixed field or already taken in `fields`.
pub(crate) fn free_name(key: &str, fields: &Map<String, Value>) -> String {
    let mut name = key.to_string();
    while FIXED_FIELDS.contains(&name.as_str()) || fields.contains_key(&name) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let mut fields = Map::new();
        fields.insert("path".into(), Value::from("/x"));
        fields.insert("_level".into(), Value::from(7));
        Record {
            seq: 7,
            ts: Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap_or_default(),
            stack: "demo".into(),
            workload: Some(Workload::Task {
                job: "etl".into(),
                task: "load".into(),
            }),
            instance: Some("etl-load-0".into()),
            level: Some(Level::Warn),
            source: Source::Stderr,
            msg: "slow \u{fffd} request".into(),
            dropped: None,
            truncated: true,
            fields,
        }
    }

    #[test]
    fn a_record_round_trips_through_its_json_line() {
        let rec = sample();
        let mut line = Vec::new();
        rec.write_json_line(&mut line);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(Record::from_json_line(&line), Some(rec));
    }

    #[test]
    fn fixed_fields_come_first_and_the_timestamp_has_nanoseconds() {
        let mut line = Vec::new();
        sample().write_json_line(&mut line);
        let text = String::from_utf8_lossy(&line);
        assert!(
            text.starts_with(
                r#"{"seq":7,"ts":"2023-11-14T22:13:20.123456789Z","stack":"demo","job":"etl","task":"load","instance":"etl-load-0","level":"warn","source":"stderr","msg":"slow"#
            ),
            "{text}"
        );
        let whole = Timestamp::from_second(1_700_000_000).unwrap_or_default();
        let rec = Record {
            ts: whole,
            ..sample()
        };
        let mut line = Vec::new();
        rec.write_json_line(&mut line);
        assert!(
            String::from_utf8_lossy(&line).contains(r#""ts":"2023-11-14T22:13:20.000000000Z""#)
        );
    }

    #[test]
    fn torn_and_foreign_lines_are_not_records() {
        let mut line = Vec::new();
        sample().write_json_line(&mut line);
        for cut in [1, line.len() / 2, line.len() - 2] {
            assert_eq!(Record::from_json_line(&line[..cut]), None, "cut at {cut}");
        }
        assert_eq!(Record::from_json_line(b"\xff\xfe{}"), None);
        assert_eq!(Record::from_json_line(br#"{"seq":"x"}"#), None);
        assert_eq!(Record::from_json_line(b"[1,2]"), None);
    }

    #[test]
    fn a_task_name_matches_its_job_and_its_full_name() {
        let w = Workload::Task {
            job: "etl".into(),
            task: "load".into(),
        };
        assert!(w.matches("etl"));
        assert!(w.matches("etl/load"));
        assert!(!w.matches("load"));
        assert!(!w.matches("etl/other"));
        assert!(Workload::Service("api".into()).matches("api"));
        assert!(!Workload::Service("api".into()).matches("api-0"));
    }

    #[test]
    fn a_colliding_field_name_gets_underscores_until_free() {
        let mut fields = Map::new();
        assert_eq!(free_name("path", &fields), "path");
        assert_eq!(free_name("msg", &fields), "_msg");
        fields.insert("_msg".into(), Value::Null);
        assert_eq!(free_name("msg", &fields), "__msg");
    }

    #[test]
    fn level_names_and_numbers_are_read() {
        assert_eq!(Level::from_name("WARNING"), Some(Level::Warn));
        assert_eq!(Level::from_name("Fatal"), Some(Level::Error));
        assert_eq!(Level::from_name("notice"), Some(Level::Info));
        assert_eq!(Level::from_name("loud"), None);
        assert_eq!(Level::from_number(40), Some(Level::Warn));
        assert_eq!(Level::from_number(3), None);
        assert!(Level::Trace < Level::Error);
    }
}

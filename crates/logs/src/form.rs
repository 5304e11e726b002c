//! Forming a record from one raw output line: text, level, JSON fields, truncation.
//!
//! Pure functions: no clock, no IO. The writer calls [`form`] for every line.
//!
//! - Bytes that are not UTF-8 are replaced with U+FFFD, never dropped; a trailing `\r` is
//!   removed.
//! - A line that is a JSON object gives its `msg` (or `message`) as the message, its
//!   `level`/`lvl`/`severity` (a name or a bunyan/pino number) as the level, and its other
//!   fields merged into the record ([`crate::record::FIXED_FIELDS`] are kept with a `_`
//!   prefix). A JSON line without a message keeps its whole text as the message.
//! - Another line's level is read from its first words: `ERROR`, `WARN`, `WARNING`, `INFO`,
//!   `DEBUG`, `TRACE`, `FATAL`, `CRITICAL` (upper case, optionally followed by `:`), a tag in
//!   brackets in any case (`[error]`, `[Warn]`), or `level=…`/`lvl=…`; leading words that
//!   start with a digit (dates and times) or are other `key=value` pairs are skipped.
//!   Otherwise the record has no level.
//! - A line longer than the limit ([`crate::config::LogConfig::max_line_bytes`]) is cut there,
//!   its message ends with [`TRUNCATED_MARKER`], `truncated` is true, and it is not parsed as
//!   JSON.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::record::{Level, Origin, Record, Source, free_name};

/// Appended to the message of a line that was cut.
pub const TRUNCATED_MARKER: &str = "…[truncated]";

/// The keys a JSON line's level is read from, in order of preference.
const LEVEL_KEYS: [&str; 3] = ["level", "lvl", "severity"];
/// The keys a JSON line's message is read from, in order of preference.
const MSG_KEYS: [&str; 2] = ["msg", "message"];
/// How many leading words are looked at for a level.
const LEVEL_WORDS: usize = 4;

/// One raw line as the writer receives it.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// stdout, stderr (or orco).
    pub source: Source,
    /// When it was read, nanoseconds since the Unix epoch.
    pub at_unix_nanos: u64,
    /// The line without its newline, already cut to the limit.
    pub bytes: &'a [u8],
    /// The line was longer than the limit.
    pub truncated: bool,
}

/// Forms the record of `line` (with `seq` 0: the writer numbers it).
pub fn form(stack: &str, origin: &Origin, line: RawLine<'_>) -> Record {
    let mut text = String::from_utf8_lossy(line.bytes).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    let mut record = Record {
        seq: 0,
        ts: timestamp(line.at_unix_nanos),
        stack: stack.to_string(),
        workload: origin.workload.clone(),
        instance: origin.instance.clone(),
        level: None,
        source: line.source,
        msg: String::new(),
        dropped: None,
        truncated: line.truncated,
        fields: Map::new(),
    };
    if line.truncated {
        record.level = text_level(&text);
        text.push_str(TRUNCATED_MARKER);
        record.msg = text;
        return record;
    }
    match json_object(&text) {
        Some(object) => merge_json(&mut record, object, text),
        None => {
            record.level = text_level(&text);
            record.msg = text;
        }
    }
    record
}

/// A Unix-nanosecond instant as a timestamp (clamped to jiff's range).
pub fn timestamp(unix_nanos: u64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(unix_nanos)).unwrap_or(Timestamp::MAX)
}

fn json_object(text: &str) -> Option<Map<String, Value>> {
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return None;
    }
    serde_json::from_str(trimmed).ok()
}

fn merge_json(record: &mut Record, mut object: Map<String, Value>, text: String) {
    for key in LEVEL_KEYS {
        let level = match object.get(key) {
            Some(Value::String(s)) => Level::from_name(s),
            Some(Value::Number(n)) => n.as_u64().and_then(Level::from_number),
            _ => None,
        };
        if level.is_some() {
            record.level = level;
            object.remove(key);
            break;
        }
    }
    let mut msg = None;
    for key in MSG_KEYS {
        if let Some(Value::String(_)) = object.get(key) {
            if let Some(Value::String(s)) = object.remove(key) {
                msg = Some(s);
            }
            break;
        }
    }
    record.msg = msg.unwrap_or(text);
    for (key, value) in object {
        let name = free_name(&key, &record.fields);
        record.fields.insert(name, value);
    }
}

/// The level of a text line, from its first words (see the module documentation).
pub fn text_level(text: &str) -> Option<Level> {
    for word in text.split_whitespace().take(LEVEL_WORDS) {
        if let Some(level) = word_level(word) {
            return Some(level);
        }
        let first_alnum = word.chars().find(|c| c.is_ascii_alphanumeric());
        let skippable = first_alnum.is_some_and(|c| c.is_ascii_digit()) || word.contains('=');
        if !skippable {
            return None;
        }
    }
    None
}

fn word_level(word: &str) -> Option<Level> {
    let word = word.trim_end_matches([':', ',']);
    if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
        return Level::from_name(inner);
    }
    if let Some(value) = word
        .strip_prefix("level=")
        .or_else(|| word.strip_prefix("lvl="))
    {
        return Level::from_name(value.trim_matches('"'));
    }
    let upper = [
        "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL",
    ];
    if upper.contains(&word) {
        return Level::from_name(word);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Workload;

    fn raw(bytes: &[u8]) -> RawLine<'_> {
        RawLine {
            source: Source::Stdout,
            at_unix_nanos: 1_700_000_000_000_000_001,
            bytes,
            truncated: false,
        }
    }

    fn formed(bytes: &[u8]) -> Record {
        form("demo", &Origin::service("api", "api-0"), raw(bytes))
    }

    #[test]
    fn a_text_line_keeps_its_text_origin_and_time() {
        let r = formed(b"listening on 8080\r");
        assert_eq!(r.msg, "listening on 8080");
        assert_eq!(r.stack, "demo");
        assert_eq!(r.workload, Some(Workload::Service("api".into())));
        assert_eq!(r.instance.as_deref(), Some("api-0"));
        assert_eq!(r.source, Source::Stdout);
        assert_eq!(r.level, None);
        assert_eq!(r.ts.as_nanosecond(), 1_700_000_000_000_000_001);
        assert!(r.fields.is_empty());
    }

    #[test]
    fn leading_level_words_and_tags_are_read() {
        let cases: [(&str, Option<Level>); 14] = [
            ("ERROR something broke", Some(Level::Error)),
            ("WARN: disk 91%", Some(Level::Warn)),
            ("WARNING low memory", Some(Level::Warn)),
            ("INFO ready", Some(Level::Info)),
            ("DEBUG x=1", Some(Level::Debug)),
            ("TRACE enter", Some(Level::Trace)),
            ("[error] boom", Some(Level::Error)),
            ("[Warn] hmm", Some(Level::Warn)),
            (
                "2025-01-02T03:04:05.1Z  INFO api: started",
                Some(Level::Info),
            ),
            ("2025-01-02 03:04:05 [debug] detail", Some(Level::Debug)),
            ("time=1 level=warn msg=x", Some(Level::Warn)),
            ("level=error msg=\"bad\"", Some(Level::Error)),
            ("Error handling is fine here", None),
            ("the ERROR is later", None),
        ];
        for (line, want) in cases {
            assert_eq!(formed(line.as_bytes()).level, want, "{line}");
        }
    }

    #[test]
    fn a_json_line_gives_message_level_and_fields() {
        let r = formed(br#"{"level":"WARN","msg":"slow","path":"/x","ms":12.5}"#);
        assert_eq!(r.msg, "slow");
        assert_eq!(r.level, Some(Level::Warn));
        assert_eq!(r.fields.get("path"), Some(&Value::from("/x")));
        assert_eq!(r.fields.get("ms"), Some(&Value::from(12.5)));
        assert!(!r.fields.contains_key("level"));
        let r = formed(br#"{"severity":"critical","message":"down"}"#);
        assert_eq!((r.msg.as_str(), r.level), ("down", Some(Level::Error)));
        let r = formed(br#"{"lvl":30,"msg":"pino"}"#);
        assert_eq!(r.level, Some(Level::Info));
    }

    #[test]
    fn json_fields_never_overwrite_fixed_fields() {
        let r = formed(
            br#"{"msg":"m","ts":"yesterday","stack":"other","instance":9,"seq":1,"source":"x","level":"loud"}"#,
        );
        assert_eq!(r.msg, "m");
        assert_eq!(r.stack, "demo");
        assert_eq!(r.instance.as_deref(), Some("api-0"));
        assert_eq!(r.level, None);
        assert_eq!(r.fields.get("_ts"), Some(&Value::from("yesterday")));
        assert_eq!(r.fields.get("_stack"), Some(&Value::from("other")));
        assert_eq!(r.fields.get("_instance"), Some(&Value::from(9)));
        assert_eq!(r.fields.get("_seq"), Some(&Value::from(1)));
        assert_eq!(r.fields.get("_source"), Some(&Value::from("x")));
        assert_eq!(r.fields.get("_level"), Some(&Value::from("loud")));
        let mut line = Vec::new();
        r.write_json_line(&mut line);
        assert_eq!(Record::from_json_line(&line), Some(r));
    }

    #[test]
    fn a_json_line_without_a_message_keeps_its_text() {
        let text = r#"{"event":"start","msg":42}"#;
        let r = formed(text.as_bytes());
        assert_eq!(r.msg, text);
        assert_eq!(r.fields.get("event"), Some(&Value::from("start")));
        assert_eq!(r.fields.get("_msg"), Some(&Value::from(42)));
    }

    #[test]
    fn a_broken_json_line_is_text() {
        let r = formed(br#"{"msg": "unterminated"#);
        assert_eq!(r.msg, r#"{"msg": "unterminated"#);
        assert!(r.fields.is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_not_dropped() {
        let r = formed(b"ok \xff\xfe done");
        assert_eq!(r.msg, "ok \u{fffd}\u{fffd} done");
        let r = formed(b"{\"msg\":\"a\xffb\"}");
        assert_eq!(r.msg, "a\u{fffd}b");
    }

    #[test]
    fn a_truncated_line_is_marked_and_not_parsed_as_json() {
        let line = RawLine {
            truncated: true,
            ..raw(br#"{"msg":"cut","x":1"#)
        };
        let r = form("demo", &Origin::stack(), line);
        assert!(r.truncated);
        assert_eq!(r.msg, format!(r#"{{"msg":"cut","x":1{TRUNCATED_MARKER}"#));
        assert!(r.fields.is_empty());
        assert_eq!(r.workload, None);
    }
}

//! Reading a stack's log: [`Filter`] and [`read_dir`], across rotated files in order.
//!
//! Files are read oldest first: the rotated files by number, then `current.ndjson`. A
//! rotation may happen while reading; the reader notices a new rotated file and reads it
//! before the current file, and drops any record whose seq it has already passed, so the
//! result is in seq order without duplicates. Lines that are not records (torn by a crash,
//! corrupt) are skipped.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;
use std::time::SystemTime;

use jiff::Timestamp;
use regex::Regex;

use crate::error::LogError;
use crate::files::{CURRENT, rotated};
use crate::record::{Level, Record};

/// Which records to read. The default reads everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this workload: a service or job name, or `JOB/TASK`.
    pub workload: Option<String>,
    /// Only this instance (`SERVICE-N`).
    pub instance: Option<String>,
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records whose message matches.
    pub grep: Option<Regex>,
    /// Only records with a level at least this severe (records without a level are left
    /// out when this is set).
    pub level: Option<Level>,
    /// At most this many records: the most recent ones (like `tail -n`). Not applied to a
    /// live stream.
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether `record` passes every condition but the limit.
    pub fn matches(&self, record: &Record) -> bool {
        if let Some(name) = &self.workload
            && !record.workload.as_ref().is_some_and(|w| w.matches(name))
        {
            return false;
        }
        if let Some(instance) = &self.instance
            && record.instance.as_ref() != Some(instance)
        {
            return false;
        }
        if let Some(since) = self.since
            && record.ts < since
        {
            return false;
        }
        if let Some(level) = self.level
            && record.level.is_none_or(|l| l < level)
        {
            return false;
        }
        if let Some(grep) = &self.grep
            && !grep.is_match(&record.msg)
        {
            return false;
        }
        true
    }
}

/// Reads the records of the stack log in `dir` that pass `filter`, oldest first. A
/// directory that does not exist holds no records.
pub fn read_dir(dir: &Path, filter: &Filter) -> Result<Vec<Record>, LogError> {
    read_before(dir, filter, None)
}

/// [`read_dir`] limited to records with a seq below `before`.
pub(crate) fn read_before(
    dir: &Path,
    filter: &Filter,
    before: Option<u64>,
) -> Result<Vec<Record>, LogError> {
    let mut out = Collector {
        filter,
        before,
        last_seq: 0,
        records: VecDeque::new(),
        done: false,
    };
    let since = filter.since.map(system_time);
    let mut last_num = 0;
    loop {
        for (num, path) in rotated(dir)? {
            if num <= last_num {
                continue;
            }
            last_num = num;
            if out.done {
                break;
            }
            let Some(file) = open(&path)? else { continue };
            if let (Some(since), Ok(meta)) = (since, file.metadata())
                && meta.modified().is_ok_and(|m| m < since)
            {
                // Every record in it was written (and so read) before `since`.
                continue;
            }
            read_file(file, &path, &mut out)?;
        }
        let path = dir.join(CURRENT);
        let current = open(&path)?;
        if rotated(dir)?.iter().any(|(num, _)| *num > last_num) {
            // Rotated since the listing: the file just opened may come after ones not read.
            continue;
        }
        if let Some(file) = current
            && !out.done
        {
            read_file(file, &path, &mut out)?;
        }
        return Ok(out.records.into());
    }
}

fn open(path: &Path) -> Result<Option<File>, LogError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(path, e)),
    }
}

fn system_time(ts: Timestamp) -> SystemTime {
    SystemTime::from(ts)
}

struct Collector<'a> {
    filter: &'a Filter,
    before: Option<u64>,
    last_seq: u64,
    records: VecDeque<Record>,
    done: bool,
}

impl Collector<'_> {
    fn push(&mut self, record: Record) {
        if record.seq <= self.last_seq {
            return;
        }
        if self.before.is_some_and(|b| record.seq >= b) {
            self.done = true;
            return;
        }
        self.last_seq = record.seq;
        if !self.filter.matches(&record) {
            return;
        }
        self.records.push_back(record);
        if self.filter.limit.is_some_and(|l| self.records.len() > l) {
            self.records.pop_front();
        }
    }
}

fn read_file(file: File, path: &Path, out: &mut Collector<'_>) -> Result<(), LogError> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(LogError::io(path, e)),
        }
        if let Some(record) = Record::from_json_line(&line) {
            out.push(record);
            if out.done {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::{RawLine, form};
    use crate::record::{Origin, Source};

    fn record(seq: u64, service: &str, instance: &str, text: &str, at: u64) -> Record {
        let mut r = form(
            "demo",
            &Origin::service(service, instance),
            RawLine {
                source: Source::Stdout,
                at_unix_nanos: at,
                bytes: text.as_bytes(),
                truncated: false,
            },
        );
        r.seq = seq;
        r
    }

    #[test]
    fn each_filter_condition_selects_records() {
        let r = record(1, "api", "api-1", "WARN slow request", 2_000);
        let yes = |f: Filter| assert!(f.matches(&r), "{f:?}");
        let no = |f: Filter| assert!(!f.matches(&r), "{f:?}");
        yes(Filter::default());
        yes(Filter {
            workload: Some("api".into()),
            ..Filter::default()
        });
        no(Filter {
            workload: Some("db".into()),
            ..Filter::default()
        });
        yes(Filter {
            instance: Some("api-1".into()),
            ..Filter::default()
        });
        no(Filter {
            instance: Some("api-0".into()),
            ..Filter::default()
        });
        yes(Filter {
            since: Some(Timestamp::from_nanosecond(2_000).unwrap_or_default()),
            ..Filter::default()
        });
        no(Filter {
            since: Some(Timestamp::from_nanosecond(2_001).unwrap_or_default()),
            ..Filter::default()
        });
        yes(Filter {
            grep: Regex::new("slow|fast").ok(),
            ..Filter::default()
        });
        no(Filter {
            grep: Regex::new("^slow").ok(),
            ..Filter::default()
        });
        yes(Filter {
            level: Some(Level::Info),
            ..Filter::default()
        });
        yes(Filter {
            level: Some(Level::Warn),
            ..Filter::default()
        });
        no(Filter {
            level: Some(Level::Error),
            ..Filter::default()
        });
        let no_level = record(2, "api", "api-1", "plain", 2_000);
        assert!(
            !Filter {
                level: Some(Level::Trace),
                ..Filter::default()
            }
            .matches(&no_level)
        );
    }

    #[test]
    fn the_collector_keeps_the_most_recent_and_skips_seen_seqs() {
        let filter = Filter {
            limit: Some(2),
            ..Filter::default()
        };
        let mut c = Collector {
            filter: &filter,
            before: Some(5),
            last_seq: 0,
            records: VecDeque::new(),
            done: false,
        };
        for seq in [1, 2, 2, 1, 3, 4, 5, 6] {
            c.push(record(seq, "api", "api-0", "x", 0));
        }
        let seqs: Vec<u64> = c.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4]);
        assert!(c.done);
    }
}

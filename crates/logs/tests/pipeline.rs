//! End to end through real files and the writer thread: record formation, permissions,
//! numbering across restarts, torn and corrupt lines.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use orco_logs::form::TRUNCATED_MARKER;
use orco_logs::{Filter, Level, LogConfig, Logs, Origin, Record, Sent, Source, StackLog, Workload};
use orco_runtime::OutputLine;
use serde_json::{Map, Value};

const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;
const STDERR: orco_runtime::Source = orco_runtime::Source::Stderr;

fn line(instance: &str, source: orco_runtime::Source, bytes: &[u8], continued: bool) -> OutputLine {
    OutputLine {
        instance: instance.to_string(),
        source,
        at_unix_nanos: 1_700_000_000_000_000_000,
        continued,
        offset: 0,
        bytes: bytes.to_vec(),
    }
}

fn all(log: &StackLog) -> Vec<Record> {
    log.sync().unwrap();
    log.read(&Filter::default()).unwrap()
}

#[test]
fn output_lines_become_records_with_origin_level_fields_and_replaced_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_line_bytes: 64,
        ..LogConfig::new(tmp.path())
    };
    let logs = Logs::new(config).unwrap();
    let log = logs.stack("demo").unwrap();
    let mut api = log.producer(Origin::service("api", "api-0"));
    let mut task = log.producer(Origin::task("etl", "load", "etl-load-0"));
    let json = br#"{"level":"error","msg":"db down","retry":3,"stack":"x"}"#;
    assert_eq!(api.send(line("api-0", STDOUT, json, false)), Sent::Queued);
    api.send(line("api-0", STDERR, b"WARN disk \xff\xfe full", false));
    api.send(line("api-0", STDOUT, &[b'y'; 100], false));
    task.send(line("etl-load-0", STDOUT, &[b'z'; 100], true));
    assert_eq!(
        task.send(line("etl-load-0", STDOUT, b"rest", false)),
        Sent::Cut
    );
    task.send(line("etl-load-0", STDOUT, b"[debug] after", false));
    let mut fields = Map::new();
    fields.insert("state".into(), Value::from("running"));
    api.note(Some(Level::Info), "api-0 is running", fields);

    let records = all(&log);
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let r = &records[0];
    assert_eq!((r.msg.as_str(), r.level), ("db down", Some(Level::Error)));
    assert_eq!(r.stack, "demo");
    assert_eq!(r.fields.get("retry"), Some(&Value::from(3)));
    assert_eq!(r.fields.get("_stack"), Some(&Value::from("x")));
    assert_eq!(r.ts.as_nanosecond(), 1_700_000_000_000_000_000);
    let r = &records[1];
    assert_eq!(r.msg, "WARN disk \u{fffd}\u{fffd} full");
    assert_eq!((r.source, r.level), (Source::Stderr, Some(Level::Warn)));
    let r = &records[2];
    assert!(r.truncated);
    assert_eq!(r.msg, format!("{}{TRUNCATED_MARKER}", "y".repeat(64)));
    let r = &records[3];
    assert_eq!(r.msg, format!("{}{TRUNCATED_MARKER}", "z".repeat(64)));
    assert_eq!(
        r.workload,
        Some(Workload::Task {
            job: "etl".into(),
            task: "load".into()
        })
    );
    assert_eq!(r.instance.as_deref(), Some("etl-load-0"));
    assert_eq!(
        (records[4].msg.as_str(), records[4].level),
        ("[debug] after", Some(Level::Debug))
    );
    let r = &records[5];
    assert_eq!(
        (r.source, r.msg.as_str()),
        (Source::Orco, "api-0 is running")
    );
    assert_eq!(r.fields.get("state"), Some(&Value::from("running")));

    let text = std::fs::read_to_string(log.dir().join("current.ndjson")).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(r#"{"seq":1,"ts":"2023-11-14T22:13:20.000000000Z","stack":"demo","service":"api","instance":"api-0","level":"error","source":"stdout","msg":"db down""#), "{first}");
    logs.shutdown();
}

#[test]
fn log_files_and_directories_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("logs");
    let config = LogConfig {
        rotate_bytes: 200,
        ..LogConfig::new(&root)
    };
    let logs = Logs::new(config).unwrap();
    let log = logs.stack("demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    for i in 0..10 {
        p.send(line("api-0", STDOUT, format!("line {i}").as_bytes(), false));
    }
    log.sync().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(log.dir()), 0o700);
    let files: Vec<_> = std::fs::read_dir(log.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() > 1, "rotated at least once: {files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn numbering_resumes_after_reopening_and_a_line_torn_by_a_crash_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig::new(tmp.path());
    let log = StackLog::open(&config, "demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    for text in ["a", "b", "c"] {
        p.send(line("api-0", STDOUT, text.as_bytes(), false));
    }
    log.close();
    assert_eq!(p.send(line("api-0", STDOUT, b"late", false)), Sent::Closed);
    let current = log.dir().join("current.ndjson");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&current)
        .unwrap();
    file.write_all(br#"{"seq":4,"ts":"2023-11-14T22:1"#)
        .unwrap();
    drop(file);

    let log = StackLog::open(&config, "demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    for text in ["d", "e"] {
        p.send(line("api-0", STDOUT, text.as_bytes(), false));
    }
    let records = all(&log);
    let got: Vec<(u64, &str)> = records.iter().map(|r| (r.seq, r.msg.as_str())).collect();
    assert_eq!(got, [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]);
    let text = std::fs::read_to_string(&current).unwrap();
    assert_eq!(
        text.lines().count(),
        6,
        "the torn line stays on a line of its own"
    );
}

#[test]
fn corrupt_lines_anywhere_in_the_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 1000,
        keep_files: 100,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    for i in 0..40 {
        p.send(line("api-0", STDOUT, format!("line {i}").as_bytes(), false));
    }
    log.close();
    let mut files: Vec<_> = std::fs::read_dir(log.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for (i, path) in files.iter().enumerate() {
        let text = std::fs::read(path).unwrap();
        let mid = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut damaged = text[..mid].to_vec();
        damaged.extend_from_slice(b"\xff\xfe not json\n{\"seq\":\n\n[1,2]\n{\"seq\":999999}\n");
        damaged.extend_from_slice(&text[mid..]);
        if i == files.len() - 1 {
            damaged.extend_from_slice(br#"{"seq":1000,"ts":"#);
        }
        std::fs::write(path, damaged).unwrap();
    }
    let records = StackLog::open(&config, "demo")
        .unwrap()
        .read(&Filter::default())
        .unwrap();
    let msgs: Vec<String> = records.iter().map(|r| r.msg.clone()).collect();
    let want: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
    assert_eq!(msgs, want);
}

#[test]
fn a_closed_log_refuses_subscriptions_and_syncs() {
    let tmp = tempfile::tempdir().unwrap();
    let log = StackLog::open(&LogConfig::new(tmp.path()), "demo").unwrap();
    log.close();
    log.close();
    assert!(log.subscribe(Filter::default()).is_err());
    assert!(log.sync().is_err());
    let err = StackLog::open(&LogConfig::new(tmp.path()), "../up").unwrap_err();
    assert!(err.to_string().contains("invalid stack name"), "{err}");
}

#[test]
fn lines_a_full_disk_lost_are_announced_once_the_disk_takes_writes_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = orco_fixture::Tmpfs::mount(&tmp.path().join("logs"), "1m").unwrap();
    let config = LogConfig::new(mount.path());
    let log = StackLog::open(&config, "demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    p.send(line("api-0", STDOUT, b"first", false));
    log.sync().unwrap();

    let filler = mount.fill().unwrap();
    // More than the page the file still has room in.
    let text = |i: usize| format!("{i:03} {}", "x".repeat(200));
    for i in 0..100 {
        p.send(line("api-0", STDOUT, text(i).as_bytes(), false));
    }
    let _ = log.sync();
    let stats = log.stats();
    assert!(stats.write_errors > 0, "{stats:?}");
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("No space left")),
        "{stats:?}"
    );

    // Space returns: what was lost is announced before the next line, and every one of the
    // hundred lines is either in the file or counted.
    std::fs::remove_file(&filler).unwrap();
    p.send(line("api-0", STDOUT, b"after", false));
    let records = all(&log);
    assert_eq!(records.first().map(|r| r.msg.as_str()), Some("first"));
    assert_eq!(records.last().map(|r| r.msg.as_str()), Some("after"));
    let kept = records.iter().filter(|r| r.msg.len() > 200).count() as u64;
    let dropped: Vec<&Record> = records.iter().filter(|r| r.dropped.is_some()).collect();
    assert_eq!(dropped.len(), 1, "{records:?}");
    let n = dropped[0].dropped.unwrap();
    assert!(n > 0 && dropped[0].msg.starts_with(&format!("dropped {n} lines")));
    assert_eq!(kept + n, 100, "kept {kept}, dropped {n}");
    log.close();
    drop(log);
}

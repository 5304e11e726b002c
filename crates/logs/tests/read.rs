//! Reading a stack's log with each filter, over real files.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use orco_logs::{Filter, Level, LogConfig, Logs, Origin, Record};
use regex::Regex;

const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;
const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * SECOND;

/// A stack with api-0, api-1, db-0 and a task, one line a second, across rotated files.
fn fixture() -> (tempfile::TempDir, Logs) {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        rotate_bytes: 600,
        keep_files: 1000,
        ..LogConfig::new(tmp.path())
    };
    let logs = Logs::new(config).unwrap();
    let log = logs.stack("demo").unwrap();
    let mut producers = [
        log.producer(Origin::service("api", "api-0")),
        log.producer(Origin::service("api", "api-1")),
        log.producer(Origin::service("db", "db-0")),
        log.producer(Origin::task("etl", "load", "etl-load-0")),
    ];
    let lines: [(usize, &str); 8] = [
        (0, "INFO api started"),
        (2, "ready to accept connections"),
        (1, "WARN slow request /users"),
        (0, "ERROR request failed /users"),
        (3, r#"{"level":"debug","msg":"loading rows","rows":10}"#),
        (1, "INFO request ok /health"),
        (2, "[error] checkpoint failed"),
        (3, "TRACE done"),
    ];
    for (i, (p, text)) in lines.into_iter().enumerate() {
        let at = T0 + i as u64 * SECOND;
        producers[p].send_bytes(STDOUT, at, text.as_bytes().to_vec(), false);
    }
    log.sync().unwrap();
    let rotated = std::fs::read_dir(log.dir()).unwrap().count();
    assert!(rotated > 2, "the records span several files");
    (tmp, logs)
}

fn msgs(logs: &Logs, filter: Filter) -> Vec<String> {
    logs.read("demo", &filter)
        .unwrap()
        .into_iter()
        .map(|r| r.msg)
        .collect()
}

#[test]
fn no_filter_reads_every_record_in_order() {
    let (_tmp, logs) = fixture();
    let records: Vec<Record> = logs.read("demo", &Filter::default()).unwrap();
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
}

#[test]
fn a_workload_filter_takes_a_service_a_job_or_a_task() {
    let (_tmp, logs) = fixture();
    let by = |w: &str| {
        msgs(
            &logs,
            Filter {
                workload: Some(w.into()),
                ..Filter::default()
            },
        )
    };
    assert_eq!(
        by("db"),
        ["ready to accept connections", "[error] checkpoint failed"]
    );
    assert_eq!(by("etl"), ["loading rows", "TRACE done"]);
    assert_eq!(by("etl/load"), ["loading rows", "TRACE done"]);
    assert!(by("etl/other").is_empty());
    assert_eq!(by("api").len(), 4);
}

#[test]
fn an_instance_filter_takes_one_instance() {
    let (_tmp, logs) = fixture();
    let got = msgs(
        &logs,
        Filter {
            instance: Some("api-1".into()),
            ..Filter::default()
        },
    );
    assert_eq!(got, ["WARN slow request /users", "INFO request ok /health"]);
}

#[test]
fn since_leaves_out_older_records() {
    let (_tmp, logs) = fixture();
    let since = Timestamp::from_nanosecond(i128::from(T0 + 6 * SECOND)).unwrap();
    let got = msgs(
        &logs,
        Filter {
            since: Some(since),
            ..Filter::default()
        },
    );
    assert_eq!(got, ["[error] checkpoint failed", "TRACE done"]);
}

#[test]
fn grep_matches_the_message() {
    let (_tmp, logs) = fixture();
    let got = msgs(
        &logs,
        Filter {
            grep: Some(Regex::new("/users$").unwrap()),
            ..Filter::default()
        },
    );
    assert_eq!(
        got,
        ["WARN slow request /users", "ERROR request failed /users"]
    );
}

#[test]
fn a_level_filter_keeps_that_level_and_more_severe() {
    let (_tmp, logs) = fixture();
    let at = |l: Level| {
        msgs(
            &logs,
            Filter {
                level: Some(l),
                ..Filter::default()
            },
        )
    };
    assert_eq!(
        at(Level::Warn),
        [
            "WARN slow request /users",
            "ERROR request failed /users",
            "[error] checkpoint failed"
        ]
    );
    assert_eq!(at(Level::Error).len(), 2);
    assert_eq!(
        at(Level::Trace).len(),
        7,
        "the one line without a level is left out"
    );
}

#[test]
fn a_limit_keeps_the_most_recent_matches() {
    let (_tmp, logs) = fixture();
    let got = msgs(
        &logs,
        Filter {
            limit: Some(2),
            ..Filter::default()
        },
    );
    assert_eq!(got, ["[error] checkpoint failed", "TRACE done"]);
    let got = msgs(
        &logs,
        Filter {
            workload: Some("api".into()),
            level: Some(Level::Info),
            limit: Some(2),
            ..Filter::default()
        },
    );
    assert_eq!(
        got,
        ["ERROR request failed /users", "INFO request ok /health"]
    );
    assert!(
        msgs(
            &logs,
            Filter {
                limit: Some(0),
                ..Filter::default()
            }
        )
        .is_empty()
    );
}

#[test]
fn a_stack_that_never_logged_reads_empty_and_a_bad_name_is_refused() {
    let (_tmp, logs) = fixture();
    assert!(logs.read("other", &Filter::default()).unwrap().is_empty());
    assert!(logs.read("../demo", &Filter::default()).is_err());
}

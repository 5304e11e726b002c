//! Live subscribers and follow: no gap or duplicate at the seam, losses told, filters.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;

use orco_logs::{Delivery, Filter, Follow, LogConfig, Logs, Origin, StackLog};
use regex::Regex;

const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;

/// Collects a follow's seqs until the record with seq `last` arrived.
fn collect(follow: Follow, last: u64) -> (usize, Vec<u64>) {
    let Follow { history, mut live } = follow;
    let mut seqs: Vec<u64> = history.iter().map(|r| r.seq).collect();
    let from_history = seqs.len();
    while seqs.last() != Some(&last) {
        match live.blocking_recv() {
            Some(Delivery::Record(r)) => seqs.push(r.seq),
            Some(Delivery::Lost(n)) => panic!("lost {n} records"),
            None => panic!("the log closed before seq {last}"),
        }
    }
    (from_history, seqs)
}

#[test]
fn follow_joins_history_and_live_without_gap_or_duplicate_across_rotations() {
    let tmp = tempfile::tempdir().unwrap();
    let total = 30_000u64;
    let config = LogConfig {
        rotate_bytes: 16 * 1024,
        keep_files: 10_000,
        queue_lines: total as usize,
        queue_bytes: 64 << 20,
        subscriber_capacity: total as usize,
        ..LogConfig::new(tmp.path())
    };
    let logs = Logs::new(config).unwrap();
    let log = logs.stack("demo").unwrap();
    let (progress, reached) = mpsc::channel();
    let writer_log = log.clone();
    let producer = std::thread::spawn(move || {
        let mut p = writer_log.producer(Origin::service("api", "api-0"));
        for i in 1..=total {
            let sent = p.send_bytes(STDOUT, i, format!("line {i}").into_bytes(), false);
            assert_eq!(sent, orco_logs::Sent::Queued);
            if i % (total / 4) == 0 {
                let _ = progress.send(i);
            }
        }
    });
    // Three followers start while lines keep coming and files keep rotating.
    let mut followers = Vec::new();
    for _ in 0..3 {
        reached.recv().unwrap();
        let follow = logs.follow("demo", Filter::default()).unwrap();
        followers.push(std::thread::spawn(move || collect(follow, total)));
    }
    producer.join().unwrap();
    for follower in followers {
        let (from_history, seqs) = follower.join().unwrap();
        assert!(from_history > 0, "each follower started after some lines");
        let first_wrong = seqs.iter().zip(1..).find(|(got, want)| **got != *want);
        assert_eq!(
            first_wrong, None,
            "a gap or duplicate (seq found, seq expected)"
        );
        assert_eq!(seqs.len() as u64, total);
    }
    let rotated = std::fs::read_dir(log.dir()).unwrap().count();
    assert!(
        rotated > 20,
        "the follows crossed rotations ({rotated} files)"
    );
}

#[test]
fn follow_history_respects_the_limit_and_live_the_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let log = StackLog::open(&LogConfig::new(tmp.path()), "demo").unwrap();
    let mut api = log.producer(Origin::service("api", "api-0"));
    let mut db = log.producer(Origin::service("db", "db-0"));
    for i in 0..5 {
        api.send_bytes(STDOUT, 1, format!("api {i}").into_bytes(), false);
        db.send_bytes(STDOUT, 1, format!("db {i}").into_bytes(), false);
    }
    let filter = Filter {
        workload: Some("api".into()),
        grep: Some(Regex::new("[02468]$").unwrap()),
        limit: Some(2),
        ..Filter::default()
    };
    let Follow { history, mut live } = log.follow(filter).unwrap();
    let msgs: Vec<&str> = history.iter().map(|r| r.msg.as_str()).collect();
    assert_eq!(msgs, ["api 2", "api 4"]);
    for i in 5..10 {
        api.send_bytes(STDOUT, 1, format!("api {i}").into_bytes(), false);
        db.send_bytes(STDOUT, 1, format!("db {i}").into_bytes(), false);
    }
    log.close();
    let mut live_msgs = Vec::new();
    while let Some(d) = live.blocking_recv() {
        match d {
            Delivery::Record(r) => live_msgs.push(r.msg.clone()),
            Delivery::Lost(n) => panic!("lost {n}"),
        }
    }
    assert_eq!(
        live_msgs,
        ["api 6", "api 8"],
        "and the stream ends when the log closes"
    );
}

#[test]
fn a_slow_subscriber_is_told_how_many_records_it_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        subscriber_capacity: 4,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    let mut slow = log.subscribe(Filter::default()).unwrap();
    let mut fast = log.subscribe(Filter::default()).unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    let (done_tx, done_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut n = 0;
        while let Some(d) = fast.blocking_recv() {
            match d {
                Delivery::Record(_) => n += 1,
                Delivery::Lost(lost) => {
                    done_tx.send(Err(lost)).unwrap();
                    return;
                }
            }
            if n == 3 {
                done_tx.send(Ok(n)).unwrap();
            }
        }
    });
    for i in 0..3 {
        p.send_bytes(STDOUT, 1, format!("{i}").into_bytes(), false);
    }
    assert_eq!(
        done_rx.recv().unwrap(),
        Ok(3),
        "a subscriber that keeps up loses nothing"
    );
    for i in 3..100 {
        p.send_bytes(STDOUT, 1, format!("{i}").into_bytes(), false);
    }
    log.sync().unwrap();
    // The slow one has 4 records waiting and lost the other 96 without slowing the writer.
    let mut got = Vec::new();
    while let Some(d) = slow.try_recv() {
        got.push(d);
    }
    assert_eq!(got.len(), 5);
    assert!(matches!(got[3], Delivery::Record(ref r) if r.seq == 4));
    assert_eq!(got[4], Delivery::Lost(96));
    assert_eq!(
        log.read(&Filter::default()).unwrap().len(),
        100,
        "the file has them all"
    );
    // Once it keeps up again it gets the next records.
    p.send_bytes(STDOUT, 1, b"after".to_vec(), false);
    log.sync().unwrap();
    assert!(matches!(slow.try_recv(), Some(Delivery::Record(r)) if r.msg == "after"));
    log.close();
    reader.join().unwrap();
}

#[test]
fn a_loss_is_told_in_band_before_the_next_record_that_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        subscriber_capacity: 2,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    let mut sub = log.subscribe(Filter::default()).unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    for i in 0..5 {
        p.send_bytes(STDOUT, 1, format!("{i}").into_bytes(), false);
    }
    log.sync().unwrap();
    let first = sub.try_recv();
    assert!(matches!(first, Some(Delivery::Record(ref r)) if r.msg == "0"));
    // Room for one again: the writer sends the loss notice in that slot.
    p.send_bytes(STDOUT, 1, b"5".to_vec(), false);
    log.sync().unwrap();
    let rest: Vec<Delivery> = std::iter::from_fn(|| sub.try_recv()).collect();
    assert_eq!(rest.len(), 3);
    assert!(matches!(rest[0], Delivery::Record(ref r) if r.msg == "1"));
    assert_eq!(rest[1], Delivery::Lost(3));
    assert!(
        matches!(rest[2], Delivery::Lost(1)),
        "then the record it also missed"
    );
}

#[tokio::test]
async fn an_async_follow_receives_live_records() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = Logs::new(LogConfig::new(tmp.path())).unwrap();
    let log = logs.stack("demo").unwrap();
    let mut p = log.producer(Origin::service("api", "api-0"));
    p.send_bytes(STDOUT, 1, b"before".to_vec(), false);
    let follow_logs = logs.clone();
    let Follow { history, mut live } =
        tokio::task::spawn_blocking(move || follow_logs.follow("demo", Filter::default()))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(live.first_seq(), 2);
    p.send_bytes(STDOUT, 1, b"after".to_vec(), false);
    match live.recv().await {
        Some(Delivery::Record(r)) => assert_eq!((r.seq, r.msg.as_str()), (2, "after")),
        other => panic!("{other:?}"),
    }
    logs.shutdown();
    assert_eq!(live.recv().await, None);
}

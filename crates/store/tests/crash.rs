//! Crash test with real processes: a child appends continuously and reports each
//! acknowledged revision; it is SIGKILLed at random moments, and after every kill the
//! reopened log holds every acknowledged event, in order, with no gap.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orco_state::{EventKind, Revision};
use orco_store::{RedbStore, Store, suite};

const CHILD_ENV: &str = "ORCO_CRASH_CHILD_DIR";
const CYCLES: usize = 200;
const APPENDERS: u32 = 3;

/// One acknowledged append as the child reports it: `last_revision appender first_seq count`.
#[derive(Debug, Clone, Copy)]
struct Ack {
    last: Revision,
    appender: u32,
    first_seq: i64,
    count: u64,
}

fn parse(line: &str) -> Option<Ack> {
    let mut parts = line.split(' ');
    Some(Ack {
        last: parts.next()?.parse().ok()?,
        appender: parts.next()?.parse().ok()?,
        first_seq: parts.next()?.parse().ok()?,
        count: parts.next()?.parse().ok()?,
    })
}

/// The child: append forever from several threads, printing each acknowledgement.
#[test]
#[ignore = "run by killed_appenders_never_lose_an_acknowledged_event as its child process"]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = std::sync::Arc::new(RedbStore::open(dir).unwrap());
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    {
        let mut out = stdout.lock().unwrap();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
    }
    let threads: Vec<_> = (0..APPENDERS)
        .map(|appender| {
            let store = store.clone();
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                let mut seq: i64 = (std::process::id() as i64) << 24;
                loop {
                    let count = 1 + (seq % 4) as u64;
                    let events = (0..count)
                        .map(|k| suite::event(seq + k as i64, appender))
                        .collect();
                    let last = store.append(events).unwrap();
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "{last} {appender} {seq} {count}").unwrap();
                    out.flush().unwrap();
                    seq += count as i64;
                }
            })
        })
        .collect();
    // The appenders never return; the parent's SIGKILL ends this process.
    drop(threads);
    loop {
        std::thread::park();
    }
}

/// A small xorshift generator: the test needs spread, not quality.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn killed_appenders_never_lose_an_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let mut head: Revision = 0;
    let mut total_acks = 0usize;
    let started = Instant::now();
    for cycle in 0..CYCLES {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "child_appends_until_killed",
                "--nocapture",
                "-q",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child has opened the store, then let it append for a random while.
        // (the test harness prints its own lines first)
        loop {
            let line = lines.recv_timeout(Duration::from_secs(20));
            assert!(line.is_ok(), "cycle {cycle}: the child did not start");
            if line.as_deref() == Ok("ready") {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        kill(pid, Signal::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "cycle {cycle}: the child was killed");
        reader.join().unwrap();
        // Lines are written whole after each acknowledgement; a torn last line (no newline)
        // is not returned by `lines()` as complete unless it parses.
        let acks: Vec<Ack> = lines.try_iter().filter_map(|l| parse(&l)).collect();
        total_acks += acks.len();

        let store = RedbStore::open(dir.path()).unwrap();
        let new_head = store.head();
        let max_acked = acks.iter().map(|a| a.last).max().unwrap_or(head);
        assert!(
            new_head >= max_acked,
            "cycle {cycle}: head {new_head} < acked {max_acked}"
        );
        assert!(
            new_head >= head,
            "cycle {cycle}: head went back from {head} to {new_head}"
        );
        // Everything written since the last cycle is there, gap-free and in order…
        let records = store.read(head, usize::MAX).unwrap();
        assert_eq!(records.len() as u64, new_head - head, "cycle {cycle}: gap");
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.revision, head + 1 + i as u64, "cycle {cycle}: order");
        }
        // …and every acknowledged append is exactly where its acknowledgement said.
        for ack in &acks {
            for k in 0..ack.count {
                let revision = ack.last + 1 - ack.count + k;
                let record = &records[(revision - head - 1) as usize];
                let EventKind::InstanceReady { instance } = &record.event.kind else {
                    panic!("cycle {cycle}: unexpected event at {revision}");
                };
                assert_eq!(
                    instance.replica, ack.appender,
                    "cycle {cycle}: revision {revision}"
                );
                let expected = suite::event(ack.first_seq + k as i64, ack.appender);
                assert_eq!(record.event, expected, "cycle {cycle}: revision {revision}");
            }
        }
        head = new_head;
        drop(store);
    }
    println!(
        "{CYCLES} kills, {total_acks} acknowledged appends, {head} events, {:?}",
        started.elapsed()
    );
    assert!(
        total_acks > 0,
        "the children never got an append acknowledged"
    );
}

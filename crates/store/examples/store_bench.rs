//! Store benchmark: durable batched appends/s, acked latency, open time and as-of latency at 1M events.
//!
//! `cargo run --release -p orco-store --example store_bench -- OUT_PREFIX [EVENTS]` writes
//! `OUT_PREFIX.json` and `OUT_PREFIX.md` (`bench/store.sh` runs it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use orco_state::testing::sample_stack;
use orco_state::{Event, EventKind, ExitStatus, StackName, WorkloadId};
use orco_store::{At, Options, RedbStore, Store};

const BATCH: usize = 128;
const APPENDERS: usize = 8;

/// A realistic mix over 50 instances: starting, started, ready, exited, backoff.
fn event(n: u64) -> Event {
    let at =
        Timestamp::from_millisecond(1_767_225_600_000 + n as i64).unwrap_or(Timestamp::UNIX_EPOCH);
    let stack = StackName::new("bench").unwrap_or_else(|_| unreachable!());
    let service = if n.is_multiple_of(2) { "web" } else { "worker" };
    let workload = WorkloadId::new(stack, service).unwrap_or_else(|_| unreachable!());
    let instance = workload.instance(((n / 2) % 25) as u32);
    let kind = match n % 5 {
        0 => EventKind::InstanceStarting {
            instance,
            attempt: (n % 7) as u32,
            port: None,
            chosen: Vec::new(),
        },
        1 => EventKind::InstanceStarted {
            instance,
            pid: Some(1000 + (n % 30_000) as u32),
            container: None,
        },
        2 => EventKind::InstanceReady { instance },
        3 => EventKind::InstanceExited {
            instance,
            status: ExitStatus::Code(1),
        },
        _ => EventKind::InstanceBackoff {
            instance,
            failures: 1,
            delay_ms: 1000,
            until: at,
        },
    };
    Event::new(at, kind)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "bench/results/store".into());
    let total: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(
        std::env::var("ORCO_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()),
    )?;

    // 1. Batched durable appends: APPENDERS threads, BATCH events per append.
    let store = Arc::new(RedbStore::open(dir.path())?);
    let stack = Event::new(
        Timestamp::UNIX_EPOCH,
        EventKind::StackApplied {
            stack: Box::new(sample_stack("bench", 25)),
        },
    );
    store.append(vec![stack])?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..APPENDERS)
        .map(|_| {
            let store = store.clone();
            let next = next.clone();
            std::thread::spawn(move || -> Result<(), orco_store::StoreError> {
                loop {
                    let first = next.fetch_add(BATCH as u64, Ordering::Relaxed);
                    if first >= total {
                        return Ok(());
                    }
                    let last = (first + BATCH as u64).min(total);
                    store.append((first..last).map(event).collect())?;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "appender thread panicked")??;
    }
    let batched_secs = started.elapsed().as_secs_f64();
    let appends_per_sec = total as f64 / batched_secs;

    // 2. Single writer, one event per append, waiting for each acknowledgement.
    let mut latencies = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        store.append(vec![event(total + i)])?;
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let head = store.head();
    drop(store);

    // 3. Open time at ~1M events, with and without the page checksum verification.
    let t = Instant::now();
    let store = RedbStore::open(dir.path())?;
    let open_verified = t.elapsed();
    drop(store);
    let t = Instant::now();
    let store = RedbStore::open_with(
        dir.path(),
        Options {
            verify_on_open: false,
            ..Options::default()
        },
    )?;
    let open_unverified = t.elapsed();

    // 4. As-of latency at random revisions, and by timestamp.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut as_of = Vec::new();
    let mut as_of_time = Vec::new();
    for _ in 0..1000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let revision = rng % head + 1;
        let t = Instant::now();
        let state = store.state_at(At::Revision(revision))?;
        as_of.push(t.elapsed());
        assert_eq!(state.revision, revision);
        let at = Timestamp::from_millisecond(1_767_225_600_000 + (rng % total) as i64)?;
        let t = Instant::now();
        store.state_at(At::Time(at))?;
        as_of_time.push(t.elapsed());
    }
    as_of.sort();
    as_of_time.sort();
    let file_bytes = std::fs::metadata(store.path())?.len();

    let json = format!(
        r#"{{
  "events": {head},
  "appenders": {APPENDERS},
  "events_per_append": {BATCH},
  "batched_appends_per_sec": {appends_per_sec:.0},
  "acked_latency_us": {{"median": {:.1}, "p90": {:.1}, "p99": {:.1}}},
  "open_ms": {{"verified": {:.1}, "unverified": {:.1}}},
  "as_of_revision_us": {{"median": {:.1}, "p90": {:.1}, "max": {:.1}}},
  "as_of_time_us": {{"median": {:.1}, "p90": {:.1}}},
  "file_bytes": {file_bytes}
}}
"#,
        micros(percentile(&latencies, 0.5)),
        micros(percentile(&latencies, 0.9)),
        micros(percentile(&latencies, 0.99)),
        open_verified.as_secs_f64() * 1e3,
        open_unverified.as_secs_f64() * 1e3,
        micros(percentile(&as_of, 0.5)),
        micros(percentile(&as_of, 0.9)),
        micros(percentile(&as_of, 1.0)),
        micros(percentile(&as_of_time, 0.5)),
        micros(percentile(&as_of_time, 0.9)),
    );
    let md = format!(
        "# Store benchmark\n\n`bench/store.sh` (release build, {} cores, data dir on the local disk).\n\n\
| measure | result | goal |\n|---|---|---|\n\
| durable appends, batched ({APPENDERS} appenders × {BATCH} events) | {appends_per_sec:.0} events/s | ≥ 100,000 events/s |\n\
| single-writer acknowledged latency (1 event, fsync) | median {:.0} µs, p90 {:.0} µs | — |\n\
| open with {head} events, page checksums verified | {:.0} ms | — |\n\
| open with {head} events, not verified | {:.0} ms | — |\n\
| as-of latency at {head} events (random revision) | median {:.0} µs, p90 {:.0} µs | ≤ 1 ms |\n\
| as-of latency by timestamp | median {:.0} µs, p90 {:.0} µs | — |\n\
| file size | {:.1} MB | — |\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        micros(percentile(&latencies, 0.5)),
        micros(percentile(&latencies, 0.9)),
        open_verified.as_secs_f64() * 1e3,
        open_unverified.as_secs_f64() * 1e3,
        micros(percentile(&as_of, 0.5)),
        micros(percentile(&as_of, 0.9)),
        micros(percentile(&as_of_time, 0.5)),
        micros(percentile(&as_of_time, 0.9)),
        file_bytes as f64 / 1e6,
    );
    std::fs::write(format!("{out}.json"), &json)?;
    std::fs::write(format!("{out}.md"), &md)?;
    print!("{md}");
    Ok(())
}

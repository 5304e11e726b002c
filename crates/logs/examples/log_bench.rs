//! Log throughput: lines/s persisted from 10 producers feeding one stack's log.
//!
//! Each producer thread sends `--lines` lines (alternately a text line with a level word and
//! a JSON line with two fields, about 100 bytes each) as fast as it can. Two runs:
//!
//! - `flood`: every line is offered once; a full queue drops it (what a service printing
//!   as fast as it can gets). Reports offered, persisted and dropped lines, and the rate at
//!   which lines reached the file.
//! - `lossless`: a producer that is told `Dropped` yields and sends the line again, so
//!   every line is persisted; the rate is the writer's sustained throughput (its `dropped`
//!   counts refusals that were retried).
//!
//! The time runs from the first send until the log is closed (everything written and
//! fsynced). Usage: `cargo run --release -p orco-logs --example log_bench -- [--lines N]
//! [--producers P] [--dir DIR] [--json]`.

use std::path::PathBuf;
use std::time::Instant;

use orco_logs::{Filter, LogConfig, Origin, Sent, Source, StackLog, read_dir};

const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;

struct Args {
    lines: u64,
    producers: u64,
    dir: Option<PathBuf>,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        lines: 200_000,
        producers: 10,
        dir: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--lines" => args.lines = value()?.parse().map_err(|e| format!("--lines: {e}"))?,
            "--producers" => {
                args.producers = value()?.parse().map_err(|e| format!("--producers: {e}"))?
            }
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--json" => args.json = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

struct Outcome {
    offered: u64,
    persisted: u64,
    dropped_noticed: u64,
    seconds: f64,
}

fn run(args: &Args, dir: PathBuf, lossless: bool) -> Result<Outcome, String> {
    // Keep every rotated file, so that the count read back is every line persisted.
    let config = LogConfig {
        keep_files: usize::MAX,
        ..LogConfig::new(dir)
    };
    let log = StackLog::open(&config, "bench").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let threads: Vec<_> = (0..args.producers)
        .map(|n| {
            let mut producer = log.producer(Origin::service("svc", format!("svc-{n}")));
            let lines = args.lines;
            std::thread::spawn(move || {
                for i in 0..lines {
                    let text = if i % 2 == 0 {
                        format!("INFO request {i} from producer {n} served in 12ms path=/api/v1/items")
                    } else {
                        format!(r#"{{"level":"debug","msg":"tick {i}","producer":{n},"queue":"default"}}"#)
                    };
                    let bytes = text.into_bytes();
                    loop {
                        match producer.send_bytes(STDOUT, 0, bytes.clone(), false) {
                            Sent::Dropped if lossless => std::thread::yield_now(),
                            _ => break,
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a producer panicked".to_string())?;
    }
    log.close();
    let seconds = start.elapsed().as_secs_f64();
    let records = read_dir(log.dir(), &Filter::default()).map_err(|e| e.to_string())?;
    let persisted = records
        .iter()
        .filter(|r| r.source == Source::Stdout)
        .count() as u64;
    let dropped_noticed = records.iter().filter_map(|r| r.dropped).sum();
    Ok(Outcome {
        offered: args.lines * args.producers,
        persisted,
        dropped_noticed,
        seconds,
    })
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    for (name, lossless) in [("flood", false), ("lossless", true)] {
        let dir = root.join(name);
        let out = run(&args, dir.clone(), lossless)?;
        // The files of a run can be large; the figures are what is kept.
        let _ = std::fs::remove_dir_all(&dir);
        let rate = out.persisted as f64 / out.seconds;
        // A lossless producer retries its dropped lines, so all of them must be in the file.
        let accounted = if lossless {
            out.persisted == out.offered
        } else {
            out.persisted + out.dropped_noticed == out.offered
        };
        if args.json {
            println!(
                r#"{{"run":"{name}","producers":{},"offered":{},"persisted":{},"dropped":{},"accounted":{accounted},"seconds":{:.3},"persisted_lines_per_sec":{:.0}}}"#,
                args.producers, out.offered, out.persisted, out.dropped_noticed, out.seconds, rate
            );
        } else {
            println!(
                "{name:>8}: {} producers, {} lines offered, {} persisted, {} dropped (accounted: {accounted}), {:.3} s, {:.0} lines/s persisted",
                args.producers, out.offered, out.persisted, out.dropped_noticed, out.seconds, rate
            );
        }
        if !accounted {
            return Err(format!("{name}: persisted + dropped != offered"));
        }
    }
    Ok(())
}

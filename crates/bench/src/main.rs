//! `orco-bench`: the helpers `bench/bench.py` drives, one subcommand each.
//!
//! - `hello --socket PATH`: a bare axum hello-world on a unix socket, the ceiling that the
//!   daemon's `GET /api/v1/workloads` is compared with.
//! - `load --socket PATH --path P --connections C --seconds S`: HTTP/1.1 keep-alive load over a
//!   unix socket; prints requests/s and latency percentiles as JSON.
//! - `seed --data-dir DIR --events N --workdir W`: appends N events to the event store of a
//!   daemon data dir that no daemon holds (one stack applied, then scale changes).
//! - `keeper-stop --dir DIR`: asks the node keeper of `DIR` for its pid and shuts it down,
//!   killing its instances; prints the pid as JSON.
//! - `schedule --nodes N --instances M --runs R`: the pure scheduler on a simulated cluster;
//!   prints placements per second of each run as JSON.
//! - `pack --instances M`: nodes used by `strategy: pack` against first-fit decreasing.

mod schedule;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((verb, rest)) = args.split_first() else {
        bail!("usage: orco-bench hello|load|seed|keeper-stop|schedule|pack [FLAGS]");
    };
    let flags = Flags::parse(rest)?;
    match verb.as_str() {
        "hello" => hello(&flags),
        "load" => load(&flags),
        "seed" => seed(&flags),
        "keeper-stop" => keeper_stop(&flags),
        "schedule" => schedule::placements(
            flags.number("nodes", 5_000)?,
            flags.number("instances", 100_000)?,
            flags.number("runs", 5)?,
        ),
        "pack" => schedule::packing(flags.number("instances", 5_000)?),
        other => {
            bail!("unknown subcommand `{other}`: hello, load, seed, keeper-stop, schedule or pack")
        }
    }
}

/// `--name value` pairs.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let Some(name) = flag.strip_prefix("--") else {
                bail!("expected a --flag, got `{flag}`");
            };
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            pairs.push((name.to_string(), value.clone()));
        }
        Ok(Flags(pairs))
    }

    fn get(&self, name: &str) -> Result<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("--{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.0.iter().find(|(n, _)| n == name) {
            None => Ok(default),
            Some((_, v)) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name}: `{v}` is not a number")),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the tokio runtime")
}

fn hello(flags: &Flags) -> Result<()> {
    let socket = PathBuf::from(flags.get("socket")?);
    let _ = std::fs::remove_file(&socket);
    runtime()?.block_on(async move {
        let listener = tokio::net::UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        let app = axum::Router::new().route(
            "/api/v1/workloads",
            axum::routing::get(|| async { "hello, world" }),
        );
        axum::serve(listener, app).await.context("serve")
    })
}

fn load(flags: &Flags) -> Result<()> {
    let socket = PathBuf::from(flags.get("socket")?);
    let path = flags.get("path")?.to_string();
    let connections: usize = flags.number("connections", 4)?;
    let seconds: f64 = flags.number("seconds", 5.0)?;
    let report = runtime()?.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let start = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client_loop(socket.clone(), path.clone(), deadline)))
            .collect();
        let mut latencies = Vec::new();
        let mut errors = 0u64;
        for worker in workers {
            let (l, e) = worker.await.context("a load worker panicked")?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies[i].as_secs_f64() * 1e6
        };
        anyhow::Ok(serde_json::json!({
            "requests": latencies.len(),
            "errors": errors,
            "seconds": elapsed,
            "rps": latencies.len() as f64 / elapsed,
            "p50_us": pct(0.5),
            "p90_us": pct(0.9),
            "p99_us": pct(0.99),
        }))
    })?;
    println!("{report}");
    Ok(())
}

/// One keep-alive connection sending GETs until the deadline; reconnects after an error.
async fn client_loop(socket: PathBuf, path: String, deadline: Instant) -> (Vec<Duration>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    while Instant::now() < deadline {
        let Ok(stream) = tokio::net::UnixStream::connect(&socket).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let request = hyper::Request::get(path.as_str())
                .header("host", "localhost")
                .body(Empty::<Bytes>::new());
            let Ok(request) = request else {
                return (latencies, errors + 1);
            };
            let sent = Instant::now();
            let ok = match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    response.into_body().collect().await.is_ok() && status.is_success()
                }
                Err(_) => false,
            };
            if ok {
                latencies.push(sent.elapsed());
            } else {
                errors += 1;
                break;
            }
        }
    }
    (latencies, errors)
}

fn seed(flags: &Flags) -> Result<()> {
    use orco_state::{Event, EventKind, StackName, WorkloadId};
    use orco_store::Store;

    let data_dir = Path::new(flags.get("data-dir")?);
    let workdir = Path::new(flags.get("workdir")?);
    let events: u64 = flags.number("events", 100_000)?;
    let services = 10;
    let mut yaml = String::from("version: 0.1\nstack: {name: seeded}\nservices:\n");
    for n in 0..services {
        yaml.push_str(&format!(
            "  s{n}:\n    command: [\"sleep\", \"1000\"]\n    replicas: 0\n"
        ));
    }
    let loaded = orco_spec::load::load_str(&workdir.join("stack.yaml"), &yaml, workdir)
        .map_err(|report| anyhow::anyhow!("the seed stack does not load: {report:?}"))?;
    let store_dir = data_dir.join("store");
    std::fs::create_dir_all(&store_dir)
        .with_context(|| format!("cannot create {}", store_dir.display()))?;
    let store = orco_store::RedbStore::open(&store_dir)
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))?;
    let stack = StackName::new("seeded").map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = Instant::now();
    store
        .append(vec![Event::new(
            jiff::Timestamp::now(),
            EventKind::StackApplied {
                stack: Box::new(loaded.stack),
            },
        )])
        .context("append")?;
    let mut written = 1u64;
    while written < events {
        let batch: Vec<Event> = (written..events.min(written + 1000))
            .map(|i| {
                let workload = WorkloadId::new(stack.clone(), format!("s{}", i % services))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(Event::new(
                    jiff::Timestamp::now(),
                    EventKind::ScaleChanged {
                        workload,
                        replicas: 0,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        written += batch.len() as u64;
        store.append(batch).context("append")?;
    }
    let head = store.head();
    store.close();
    println!(
        "{}",
        serde_json::json!({"events": head, "seconds": start.elapsed().as_secs_f64()})
    );
    Ok(())
}

fn keeper_stop(flags: &Flags) -> Result<()> {
    let dir = PathBuf::from(flags.get("dir")?);
    runtime()?.block_on(async move {
        match orco_runtime::client::ProcessRuntime::connect(&dir).await {
            Ok(keeper) => {
                let pid = keeper.keeper_pid();
                keeper.shutdown(true).await.context("keeper shutdown")?;
                println!("{}", serde_json::json!({ "pid": pid }));
            }
            Err(e) => println!(
                "{}",
                serde_json::json!({ "pid": null, "error": e.to_string() })
            ),
        }
        anyhow::Ok(())
    })
}

//! The keeper's memory with 50 sleeping instances (PSS from /proc/PID/smaps_rollup).
//! Ignored by default: run it on a release build to compare with DESIGN.md §4's 8 MB.
//! `cargo test --release -p orco-runtime --test footprint -- --ignored --nocapture`

mod common;

use common::*;
use orco_runtime::{Launch, Runtime};

fn pss_kib(pid: i32) -> u64 {
    let rollup =
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a Pss line")
}

#[tokio::test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture on a release build"]
async fn keeper_pss_with_fifty_sleeping_instances() {
    let k = TestKeeper::start().await;
    let keeper = k.runtime.keeper_pid();
    let idle = pss_kib(keeper);
    let mut rx = watch_all(&k.runtime).await;
    for i in 0..50 {
        let name = format!("sleeper-{i}");
        let launch = Launch::new(["/bin/sh", "-c", "echo up; exec sleep 1000"]);
        let pid = k.runtime.start(&name, &launch).await.expect("start").pid;
        k.reaper.group(pid);
        line(&mut rx, &name, "up").await;
    }
    let loaded = pss_kib(keeper);
    println!("keeper PSS: {idle} KiB idle, {loaded} KiB with 50 sleeping instances");
    k.runtime.shutdown(true).await.expect("shutdown");
}

/// Each cycle: the instance (`/bin/true`) exits, the keeper reaps it and tells the watcher,
/// the client asks for a new spawn. The median cycle bounds crash → respawned (exec) from
/// above, since it also includes running the process itself.
#[tokio::test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture on a release build"]
async fn respawn_cycle_latency() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let launch = Launch::new(["/bin/true"]);
    let mut cycles = Vec::new();
    for _ in 0..300 {
        let t0 = std::time::Instant::now();
        let pid = k
            .runtime
            .start("crashy-0", &launch)
            .await
            .expect("start")
            .pid;
        until(&mut rx, |e| match e {
            orco_runtime::RuntimeEvent::Exited { pid: p, .. } if *p == pid => Some(()),
            _ => None,
        })
        .await;
        cycles.push(t0.elapsed());
    }
    cycles.sort();
    println!(
        "spawn → exit → exit seen: median {:?}, p90 {:?}",
        cycles[cycles.len() / 2],
        cycles[cycles.len() * 9 / 10]
    );
    k.runtime.shutdown(true).await.expect("shutdown");
}

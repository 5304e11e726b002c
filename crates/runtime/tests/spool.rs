//! The keeper's output spool is bounded: what nobody reads stops growing at the cap and the
//! lines beyond are counted, never dropped silently; what a client has consumed is given back
//! to the file system.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;
use orco_runtime::keeper::SPOOL_CAP;
use orco_runtime::{Launch, Runtime, RuntimeEvent};

/// Bytes the spool of `instance` takes on disk (its allocated blocks, holes excluded).
fn allocated(k: &TestKeeper, instance: &str) -> u64 {
    std::fs::metadata(k.path(&format!("instances/{instance}/output.log")))
        .map_or(0, |m| m.blocks() * 512)
}

/// A shell command printing `lines` lines of 1,000 bytes as fast as it can.
fn flood(lines: u64) -> Launch {
    Launch::new(vec![
        "sh".into(),
        "-c".into(),
        format!("yes $(printf '%0999d' 0) | head -n {lines}"),
    ])
}

#[tokio::test]
async fn a_spool_nobody_reads_stops_at_its_cap_and_counts_what_it_dropped() {
    let k = TestKeeper::start().await;
    // 64 MB of output, twice the cap, while no client reads it.
    let lines = 2 * SPOOL_CAP / 1000;
    let pid = k.runtime.start("flood-0", &flood(lines)).await.unwrap().pid;
    k.reaper.group(pid);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let list = k.runtime.list().await.unwrap();
        if list
            .iter()
            .any(|i| i.instance == "flood-0" && i.exit.is_some() && !i.group_alive)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flood never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let size = allocated(&k, "flood-0");
    assert!(
        size <= SPOOL_CAP + (1 << 20),
        "the spool holds {size} bytes, over its cap of {SPOOL_CAP}"
    );

    // A client reads it all: every line is either received or counted as dropped, and the
    // consumed spool is given back.
    let from = std::collections::BTreeMap::from([("flood-0".to_string(), 0)]);
    let mut rx = k.runtime.watch(from).await.unwrap();
    let mut received = 0u64;
    let dropped = until(&mut rx, |e| match e {
        RuntimeEvent::Output(l) if l.instance == "flood-0" => {
            let text = l.text();
            if let Some(rest) = text.strip_prefix("orco: dropped ") {
                return rest.split(' ').next().and_then(|n| n.parse::<u64>().ok());
            }
            received += 1;
            None
        }
        _ => None,
    })
    .await;
    assert!(dropped > 0);
    assert_eq!(
        received + dropped,
        lines,
        "{received} received, {dropped} dropped"
    );
    eventually("the consumed spool to be given back", || {
        allocated(&k, "flood-0") < 1 << 20
    })
    .await;
}

#[tokio::test]
async fn a_spool_that_is_read_while_written_stays_bounded_and_accounts_for_every_line() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    // 3 × the cap flows through the spool while a client reads it.
    let lines = 3 * SPOOL_CAP / 1000;
    let pid = k.runtime.start("flood-0", &flood(lines)).await.unwrap().pid;
    k.reaper.group(pid);
    let (mut received, mut dropped, mut largest) = (0u64, 0u64, 0u64);
    until(&mut rx, |e| match e {
        RuntimeEvent::Output(l) if l.instance == "flood-0" => {
            let text = l.text();
            match text.strip_prefix("orco: dropped ") {
                Some(rest) => dropped += rest.split(' ').next().unwrap().parse::<u64>().unwrap(),
                None => received += 1,
            }
            if received % 4096 == 0 {
                largest = largest.max(allocated(&k, "flood-0"));
            }
            (received + dropped == lines).then_some(())
        }
        _ => None,
    })
    .await;
    assert!(
        largest <= SPOOL_CAP + (1 << 20),
        "the spool reached {largest} bytes"
    );
    eventually("the consumed spool to be given back", || {
        allocated(&k, "flood-0") < 1 << 20
    })
    .await;
}

//! Many producers into one writer through a small queue: per-instance order and accounting.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use orco_logs::{Filter, LogConfig, Origin, Sent, Source, StackLog};

const STDERR: orco_runtime::Source = orco_runtime::Source::Stderr;

#[test]
fn each_instance_keeps_its_order_and_its_losses_are_counted_on_its_own_records() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        queue_lines: 32,
        ..LogConfig::new(tmp.path())
    };
    let log = StackLog::open(&config, "demo").unwrap();
    let per_producer = 20_000u64;
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let mut p = log.producer(Origin::service("api", format!("api-{n}")));
            std::thread::spawn(move || {
                let mut refused = 0u64;
                for i in 0..per_producer {
                    match p.send_bytes(STDERR, i, format!("{i}").into_bytes(), false) {
                        Sent::Queued => {}
                        Sent::Dropped => refused += 1,
                        other => panic!("{other:?}"),
                    }
                }
                (format!("api-{n}"), refused)
            })
        })
        .collect();
    let refused: HashMap<String, u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    log.close();
    let records = log.read(&Filter::default()).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    for (instance, refused) in refused {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.instance.as_deref() == Some(instance.as_str()))
            .collect();
        let lines: Vec<u64> = mine
            .iter()
            .filter(|r| r.source == Source::Stderr)
            .map(|r| r.msg.parse().unwrap())
            .collect();
        let noticed: u64 = mine.iter().filter_map(|r| r.dropped).sum();
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "{instance} in order");
        assert_eq!(noticed, refused, "{instance}: notices count its refusals");
        assert_eq!(lines.len() as u64 + noticed, per_producer, "{instance}");
    }
}

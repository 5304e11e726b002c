//! A torn or corrupt file: truncated at many offsets, or with bytes flipped in its last
//! pages. Opening either recovers every acknowledged event or refuses with an error naming
//! the file; never a panic, never an open that silently lost acknowledged events.
#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use orco_state::{Event, Revision};
use orco_store::{RedbStore, Store, StoreError, suite};

const EVENTS: i64 = 2000;

/// The damaged file goes back into a copy of the data directory (with its marker file).
fn written() -> (tempfile::TempDir, Vec<u8>, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..EVENTS)
        .map(|i| suite::event(i, (i % 7) as u32))
        .collect();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        for chunk in events.chunks(40) {
            store.append(chunk.to_vec()).unwrap();
        }
    }
    let bytes = std::fs::read(dir.path().join("events.redb")).unwrap();
    (dir, bytes, events)
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Recovered,
    Refused,
}

/// Opens a store over `bytes` and checks the rule; returns what happened.
fn open_damaged(bytes: &[u8], events: &[Event], what: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.redb");
    std::fs::write(&file, bytes).unwrap();
    std::fs::write(dir.path().join("orco-store"), b"orco event log, layout 1\n").unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| check(dir.path(), &file, events, what)));
    match outcome {
        Ok(outcome) => outcome,
        Err(_) => panic!("{what}: the store panicked"),
    }
}

fn check(dir: &Path, file: &Path, events: &[Event], what: &str) -> Outcome {
    let store = match RedbStore::open(dir) {
        Ok(store) => store,
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.contains(&file.display().to_string()),
                "{what}: {message}"
            );
            assert!(
                matches!(err, StoreError::Corrupt { .. } | StoreError::Open { .. }),
                "{what}: {err:?}"
            );
            return Outcome::Refused;
        }
    };
    // Opened: then nothing acknowledged may be missing or different.
    assert_eq!(
        store.head(),
        events.len() as Revision,
        "{what}: acknowledged events lost"
    );
    let records = store.read(0, usize::MAX);
    let records = match records {
        Ok(records) => records,
        Err(err) => {
            // A read that finds damage must say so, never return wrong data.
            assert!(
                err.to_string().contains(&file.display().to_string()),
                "{what}: {err}"
            );
            return Outcome::Refused;
        }
    };
    assert_eq!(records.len(), events.len(), "{what}");
    for (record, event) in records.iter().zip(events) {
        assert_eq!(&record.event, event, "{what}: revision {}", record.revision);
    }
    Outcome::Recovered
}

#[test]
fn a_truncated_file_is_recovered_or_refused_never_silently_short() {
    let (_dir, bytes, events) = written();
    let len = bytes.len();
    let mut offsets: Vec<usize> = (0..len).step_by(4096).collect();
    offsets.extend((1..40).map(|k| len * k / 40 + 123));
    offsets.extend([len - 1, len - 512, 1, 17, 511]);
    let mut refused = 0;
    for offset in offsets.into_iter().filter(|&o| o < len) {
        if open_damaged(&bytes[..offset], &events, &format!("truncated at {offset}"))
            == Outcome::Refused
        {
            refused += 1;
        }
    }
    assert!(refused > 0, "no truncation was detected");
}

#[test]
fn flipped_bytes_in_the_last_pages_are_recovered_or_refused() {
    let (_dir, bytes, events) = written();
    let len = bytes.len();
    let mut refused = 0;
    let mut recovered = 0;
    // Every 97th byte of the last 8 pages, and the first bytes (header, commit slots).
    let offsets = (len.saturating_sub(8 * 4096)..len)
        .step_by(97)
        .chain((0..4096).step_by(61));
    for offset in offsets {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x5a;
        match open_damaged(&damaged, &events, &format!("byte {offset} flipped")) {
            Outcome::Refused => refused += 1,
            Outcome::Recovered => recovered += 1,
        }
    }
    println!("flips: {refused} refused, {recovered} recovered");
    assert!(refused > 0, "no flipped byte was detected");
}

//! A full disk: a small tmpfs mounted as the data directory (the test needs root, and fails
//! loudly, saying why, when it cannot mount). Appends fail with a clear error and no
//! acknowledgement, reads keep working, and appends resume once space returns.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use orco_fixture::Tmpfs;

use orco_state::State;
use orco_store::{At, Options, RedbStore, Store, StoreError, suite};

/// A tmpfs of `size` on a fresh temp dir (bound as `(_parent, tmpfs)`, the mount is dropped
/// first).
fn tmpfs(size: &str) -> (tempfile::TempDir, Tmpfs) {
    let parent = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(&parent.path().join("mnt"), size).unwrap_or_else(|e| panic!("{e}"));
    (parent, mount)
}

fn fill(tmpfs: &Tmpfs) -> PathBuf {
    tmpfs.fill().unwrap()
}

#[test]
fn a_full_disk_fails_appends_clearly_keeps_reads_and_recovers() {
    let (_parent, tmpfs) = tmpfs("8m");
    let data = tmpfs.path().join("data");
    let store = RedbStore::open(&data).unwrap();
    let events: Vec<_> = (0..200).map(|i| suite::event(i, (i % 3) as u32)).collect();
    assert_eq!(store.append(events.clone()).unwrap(), 200);

    let filler = fill(&tmpfs);
    let err = store.append(vec![suite::event(500, 0)]).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("disk full") && message.contains("free space"),
        "{message}"
    );
    assert_eq!(
        store.head(),
        200,
        "a refused append must not advance the log"
    );

    // Reads keep working while the disk is full.
    assert_eq!(store.state().unwrap(), State::fold(&events));
    assert_eq!(
        store.state_at(At::Revision(50)).unwrap(),
        State::fold(&events[..50])
    );
    assert_eq!(store.read(0, usize::MAX).unwrap().len(), 200);
    assert_eq!(
        store
            .history("demo/web-1", 0, usize::MAX)
            .unwrap()
            .records
            .len(),
        67
    );
    let mut watch = store.watch(190).unwrap();
    assert_eq!(watch.next_blocking().unwrap().revision, 191);

    // Space returns: appends resume, right after the last acknowledged revision.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(store.append(vec![suite::event(501, 0)]).unwrap(), 201);
    assert_eq!(watch.next_blocking().unwrap().revision, 192);
    drop(watch); // a watch keeps the file open
    drop(store);
    let store = RedbStore::open(&data).unwrap();
    assert_eq!(store.head(), 201);
}

#[test]
fn appends_on_an_almost_full_disk_stop_cleanly_and_lose_nothing() {
    // No free-space reserve and 256 KiB left: single-event appends until the disk is full;
    // the one that does not fit fails and every acknowledged one survives.
    let (_parent, tmpfs) = tmpfs("8m");
    let data = tmpfs.path().join("data");
    let options = Options {
        min_free_bytes: 0,
        ..Options::default()
    };
    let store = RedbStore::open_with(&data, options.clone()).unwrap();
    let mut acked: Vec<_> = (0..200).map(|i| suite::event(i, 0)).collect();
    assert_eq!(store.append(acked.clone()).unwrap(), 200);
    let filler = fill(&tmpfs);
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - 256 * 1024)
        .unwrap();
    let err = loop {
        let event = suite::event(1000 + acked.len() as i64, 1);
        match store.append(vec![event.clone()]) {
            Ok(revision) => {
                acked.push(event);
                assert_eq!(revision, acked.len() as u64);
            }
            Err(err) => break err,
        }
        assert!(acked.len() < 100_000, "the disk never filled up");
    };
    assert!(
        matches!(err, StoreError::DiskFull { .. } | StoreError::Write { .. }),
        "{err:?}"
    );
    assert_eq!(
        store.head(),
        acked.len() as u64,
        "a failed append must not advance the log"
    );
    println!(
        "enospc after {} events: {err}; a read after it: {:?}",
        acked.len(),
        store.read(0, 1).map(|r| r.len())
    );
    drop(store);
    std::fs::remove_file(filler).unwrap();
    let store = RedbStore::open_with(&data, options).unwrap();
    assert_eq!(store.head(), acked.len() as u64);
    assert_eq!(store.state().unwrap(), State::fold(&acked));
    assert_eq!(
        store.append(vec![suite::event(99_999, 0)]).unwrap(),
        acked.len() as u64 + 1
    );
}

#[test]
fn a_stop_is_recorded_on_a_full_disk_through_the_reserve_which_comes_back_with_space() {
    let (_parent, tmpfs) = tmpfs("48m");
    let data = tmpfs.path().join("data");
    let store = RedbStore::open(&data).unwrap();
    let reserve = data.join("reserve");
    assert!(
        std::fs::metadata(&reserve).is_ok_and(|m| m.len() == Options::default().reserve_bytes),
        "the reserve is allocated at open"
    );
    assert_eq!(store.append(vec![suite::event(1, 0)]).unwrap(), 1);

    let filler = fill(&tmpfs);
    // An ordinary write is refused; the reserve is not touched for it.
    let err = store.append(vec![suite::event(2, 0)]).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
    assert!(reserve.exists());

    // A stop is written, with the reserve's room.
    let stop = orco_state::Event::new(
        suite::event(3, 0).at,
        orco_state::EventKind::StopRequested {
            workload: suite::instance(0).workload,
        },
    );
    assert_eq!(store.append(vec![stop.clone()]).unwrap(), 2);
    assert!(!reserve.exists(), "the reserve was given back for the stop");
    // What follows a stop (the instance's end) fits in what the reserve freed.
    let stopped = orco_state::Event::new(
        suite::event(4, 0).at,
        orco_state::EventKind::InstanceStopped {
            instance: suite::instance(0),
        },
    );
    assert_eq!(store.append(vec![stopped]).unwrap(), 3);

    // Space returns: the next write makes the reserve again.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(store.append(vec![suite::event(5, 0)]).unwrap(), 4);
    assert!(
        reserve.exists(),
        "the reserve is made again once there is room"
    );
    drop(store);
    let store = RedbStore::open(&data).unwrap();
    assert_eq!(store.head(), 4);
    let records = store.read(0, usize::MAX).unwrap();
    assert_eq!(records[1].event, stop);
}

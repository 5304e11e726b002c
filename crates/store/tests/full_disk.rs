//! A full disk: a small tmpfs mounted as the data directory (the test needs root, and fails
//! loudly, saying why, when it cannot mount). Appends fail with a clear error and no
//! acknowledgement, reads keep working, and appends resume once space returns.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use orco_state::State;
use orco_store::{At, Options, RedbStore, Store, StoreError, suite};

/// A tmpfs mounted for the test, unmounted on drop (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match output {
            Ok(out) if out.status.success() => Tmpfs {
                dir,
                _parent: parent,
            },
            Ok(out) => panic!(
                "cannot mount a tmpfs for the full-disk test (it needs root or CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("cannot run mount for the full-disk test: {e}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Fills the filesystem of `dir` with a file until a write fails; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    let small = vec![0xa5u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[test]
fn a_full_disk_fails_appends_clearly_keeps_reads_and_recovers() {
    let tmpfs = Tmpfs::mount("8m");
    let data = tmpfs.dir.join("data");
    let store = RedbStore::open(&data).unwrap();
    let events: Vec<_> = (0..200).map(|i| suite::event(i, (i % 3) as u32)).collect();
    assert_eq!(store.append(events.clone()).unwrap(), 200);

    let filler = fill(&tmpfs.dir);
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
    let tmpfs = Tmpfs::mount("8m");
    let data = tmpfs.dir.join("data");
    let options = Options {
        min_free_bytes: 0,
        ..Options::default()
    };
    let store = RedbStore::open_with(&data, options.clone()).unwrap();
    let mut acked: Vec<_> = (0..200).map(|i| suite::event(i, 0)).collect();
    assert_eq!(store.append(acked.clone()).unwrap(), 200);
    let filler = fill(&tmpfs.dir);
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

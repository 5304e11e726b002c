//! The shared store suite, run against the redb backend on a real disk, plus what only a
//! file-backed store can show (reopening).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use orco_state::State;
use orco_state::testing::events;
use orco_store::suite;
use orco_store::{At, Options, RedbStore, Store, StoreError};
use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableTable};

fn fresh() -> (tempfile::TempDir, RedbStore) {
    fresh_with(Options::default())
}

fn fresh_with(options: Options) -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open_with(dir.path(), options).unwrap();
    (dir, store)
}

#[test]
fn concurrent_appends_get_gap_free_revisions() {
    let (_dir, store) = fresh();
    suite::concurrent_appends_get_gap_free_revisions(Arc::new(store));
}

#[test]
fn an_empty_append_is_refused() {
    let (_dir, store) = fresh();
    suite::an_empty_append_is_refused(&store);
}

#[test]
fn time_travel_by_timestamp_finds_the_longest_prefix_at_or_before() {
    let (_dir, store) = fresh();
    suite::time_travel_by_timestamp_finds_the_longest_prefix_at_or_before(&store);
}

#[test]
fn history_lists_every_event_touching_an_object() {
    let (_dir, store) = fresh();
    suite::history_lists_every_event_touching_an_object(&store);
}

#[test]
fn watches_deliver_every_event_once_in_order() {
    let (_dir, store) = fresh();
    suite::watches_deliver_every_event_once_in_order(Arc::new(store));
}

#[test]
fn a_too_slow_watcher_is_told_and_can_resume() {
    let (_dir, store) = fresh_with(Options {
        watch_buffer: 32,
        ..Options::default()
    });
    suite::a_too_slow_watcher_is_told_and_can_resume(&store, 32);
}

#[test]
fn compaction_refuses_queries_before_the_horizon() {
    let (_dir, store) = fresh_with(Options {
        snapshot_every: 16,
        ..Options::default()
    });
    suite::compaction_refuses_queries_before_the_horizon(&store);
}

#[test]
fn retention_compacts_automatically_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        retention: orco_store::Retention {
            max_events: Some(50),
            max_age: None,
        },
        compact_every: 20,
        snapshot_every: 7,
        ..Options::default()
    };
    let all: Vec<_> = (0..200).map(|i| suite::event(i, (i % 3) as u32)).collect();
    {
        let store = RedbStore::open_with(dir.path(), options.clone()).unwrap();
        for chunk in all.chunks(10) {
            store.append(chunk.to_vec()).unwrap();
        }
        // compaction runs after the acknowledgement; closing waits for it
    }
    let store = RedbStore::open_with(dir.path(), options).unwrap();
    let horizon = store.horizon();
    assert_eq!(
        horizon, 150,
        "the last compaction ran at head 200 and keeps 50 events"
    );
    assert_eq!(store.head(), 200);
    assert!(matches!(
        store.state_at(At::Revision(horizon - 1)),
        Err(StoreError::Compacted { .. })
    ));
    assert_eq!(store.state().unwrap(), State::fold(&all));
}

#[test]
fn a_reopened_store_has_every_event_and_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<_> = (0..2500).map(|i| suite::event(i, (i % 5) as u32)).collect();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        for chunk in all.chunks(100) {
            store.append(chunk.to_vec()).unwrap();
        }
        store.snapshot().unwrap();
    }
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.head(), 2500);
    assert_eq!(store.state().unwrap(), State::fold(&all));
    assert_eq!(
        store.state_at(At::Revision(1234)).unwrap(),
        State::fold(&all[..1234])
    );
    assert_eq!(store.append(vec![suite::event(9999, 0)]).unwrap(), 2501);
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let (dir, _store) = fresh();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[tokio::test]
async fn blocking_waits_on_an_async_runtime_are_errors_and_async_ones_work() {
    let (_dir, store) = fresh();
    let pending = store.submit(vec![suite::event(1, 0)]).unwrap();
    assert_eq!(pending.ack().await, Ok(1));
    let mut watch = store.watch(0).unwrap();
    assert_eq!(watch.next().await.unwrap().revision, 1);
    assert_eq!(watch.next_blocking(), Err(StoreError::BlockingInAsync));
    let pending = store.submit(vec![suite::event(2, 0)]).unwrap();
    assert_eq!(pending.wait(), Err(StoreError::BlockingInAsync));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Replay equals live: `state_at(r)` (snapshot + replay from disk) is the fold of the
    /// first r events for every r, whatever the chunking and snapshot interval; and so is the
    /// state after reopening.
    #[test]
    fn replay_equals_live_application(
        events in events(120),
        chunk in 1usize..20,
        snapshot_every in 1u64..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = Options { snapshot_every, ..Options::default() };
        {
            let store = RedbStore::open_with(dir.path(), options.clone()).unwrap();
            suite::state_at_every_revision_is_the_fold_of_its_prefix(&store, &events, chunk);
        }
        let store = RedbStore::open_with(dir.path(), options).unwrap();
        prop_assert_eq!(store.state().unwrap(), State::fold(&events));
    }
}

#[test]
fn a_big_state_is_snapshotted_only_once_the_events_since_weigh_as_much_as_it() {
    use orco_state::{Event, EventKind};
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        snapshot_every: 10,
        ..Options::default()
    };
    let at = |i: i64| jiff::Timestamp::from_second(1_767_225_600 + i).unwrap();
    // 2,000 instances make a big state; 2,000 small events follow that barely change it.
    let created: Vec<Event> = (0..2000)
        .map(|i| {
            Event::new(
                at(i),
                EventKind::InstanceCreated {
                    instance: suite::instance(i as u32),
                    node: None,
                },
            )
        })
        .collect();
    let ready: Vec<Event> = (0..2000)
        .map(|i| suite::event(2000 + i, (i % 2000) as u32))
        .collect();
    let path = {
        let store = RedbStore::open_with(dir.path(), options.clone()).unwrap();
        for chunk in created.chunks(10).chain(ready.chunks(10)) {
            store.append(chunk.to_vec()).unwrap();
        }
        assert_eq!(
            store.state().unwrap(),
            State::fold(created.iter().chain(&ready))
        );
        store.path().to_path_buf()
    };
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let snapshots = txn.open_table(orco_store::layout::SNAPSHOTS).unwrap();
    let (count, bytes) = snapshots.iter().unwrap().fold((0, 0), |(n, b), row| {
        let (_, value) = row.unwrap();
        (n + 1, b + value.value().len())
    });
    let events = txn.open_table(orco_store::layout::EVENTS).unwrap();
    let logged: usize = events
        .iter()
        .unwrap()
        .map(|row| row.unwrap().1.value().len())
        .sum();
    // One snapshot every 10 events would be 400 of them, each the whole state.
    assert!(count < 40, "{count} snapshots");
    assert!(
        bytes <= 2 * logged,
        "snapshots take {bytes} bytes for {logged} bytes of events"
    );
    drop(snapshots);
    drop(events);
    drop(txn);
    drop(db);
    // Reopened, the state is the same: replay covers what no snapshot does.
    let store = RedbStore::open_with(dir.path(), options).unwrap();
    assert_eq!(
        store.state().unwrap(),
        State::fold(created.iter().chain(&ready))
    );
}

//! The behaviour every [`Store`] backend must show, as checks generic over the trait.
//!
//! Each check takes a fresh, empty store and panics (like a test) when the backend
//! misbehaves. The redb backend's integration tests call every one of them; a later etcd
//! backend calls the same ones.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orco_state::{Event, EventKind, InstanceId, Revision, StackName, State, WorkloadId};

use crate::error::StoreError;
use crate::store::{At, Retention, Store};

/// A plain instance event at second `second` of 2026.
pub fn event(second: i64, replica: u32) -> Event {
    let at = Timestamp::from_second(1_767_225_600 + second).unwrap_or(Timestamp::UNIX_EPOCH);
    Event::new(
        at,
        EventKind::InstanceReady {
            instance: instance(replica),
        },
    )
}

/// `demo/web-N`.
pub fn instance(replica: u32) -> InstanceId {
    let stack = StackName::new("demo").expect("valid stack name");
    WorkloadId::new(stack, "web")
        .expect("valid workload name")
        .instance(replica)
}

/// Appends `events` in chunks of `chunk` and checks that `state_at` every revision equals the
/// fold of that prefix, and that the current state equals the fold of everything.
pub fn state_at_every_revision_is_the_fold_of_its_prefix(
    store: &impl Store,
    events: &[Event],
    chunk: usize,
) {
    let base = store.head();
    assert_eq!(base, 0, "the check needs an empty store");
    for part in events.chunks(chunk.max(1)) {
        store.append(part.to_vec()).expect("append");
    }
    assert_eq!(store.head(), events.len() as Revision);
    let mut live = State::new();
    assert_eq!(store.state_at(At::Revision(0)).expect("state at 0"), live);
    for (i, event) in events.iter().enumerate() {
        live.apply(event);
        let at = store
            .state_at(At::Revision(i as Revision + 1))
            .expect("state at revision");
        assert_eq!(at, live, "state at revision {}", i + 1);
    }
    assert_eq!(store.state().expect("current state"), live);
    let read = store.read(0, usize::MAX).expect("read");
    assert_eq!(read.len(), events.len());
    for (i, record) in read.iter().enumerate() {
        assert_eq!(record.revision, i as Revision + 1);
        assert_eq!(&record.event, &events[i]);
    }
}

/// Appends from several threads at once and checks that revisions are 1..N with no gap, that
/// each append's events are contiguous, and that each append got the revision of its last.
pub fn concurrent_appends_get_gap_free_revisions<S: Store + 'static>(store: Arc<S>) {
    let threads = 4;
    let appends = 50;
    let per_append = 3u32;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for a in 0..appends {
                    let events: Vec<Event> = (0..per_append)
                        .map(|k| event(i64::from(t * 1000 + a * 10) + i64::from(k), t))
                        .collect();
                    let revision = store.append(events.clone()).expect("append");
                    acked.push((revision, events));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for handle in handles {
        acked.extend(handle.join().expect("appender thread"));
    }
    let total = (threads * appends * per_append) as Revision;
    assert_eq!(store.head(), total);
    let records = store.read(0, usize::MAX).expect("read");
    let revisions: Vec<Revision> = records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, (1..=total).collect::<Vec<_>>());
    for (last, events) in acked {
        let first = last + 1 - events.len() as Revision;
        let stored: Vec<&Event> = records[(first - 1) as usize..last as usize]
            .iter()
            .map(|r| &r.event)
            .collect();
        assert_eq!(
            stored,
            events.iter().collect::<Vec<_>>(),
            "append ending at {last}"
        );
    }
}

/// Checks that an empty append is refused and stores nothing.
pub fn an_empty_append_is_refused(store: &impl Store) {
    assert_eq!(store.append(Vec::new()), Err(StoreError::Empty));
    assert_eq!(store.head(), 0);
}

/// Checks time travel by timestamp, including out-of-order timestamps and queries before the
/// first event or after the last.
pub fn time_travel_by_timestamp_finds_the_longest_prefix_at_or_before(store: &impl Store) {
    // seconds: 10, 20, 15 (a late clock), 30
    let events = vec![event(10, 0), event(20, 1), event(15, 2), event(30, 0)];
    store.append(events.clone()).expect("append");
    let at = |second: i64| {
        let t = Timestamp::from_second(1_767_225_600 + second).expect("timestamp");
        store.revision_at(At::Time(t)).expect("revision at time")
    };
    assert_eq!(at(5), 0);
    assert_eq!(at(10), 1);
    assert_eq!(at(16), 1, "revision 2 is at second 20");
    assert_eq!(at(20), 3, "revision 3 is older than revision 2");
    assert_eq!(at(29), 3);
    assert_eq!(at(30), 4);
    assert_eq!(at(99), 4);
    let t = Timestamp::from_second(1_767_225_600 + 25).expect("timestamp");
    assert_eq!(
        store.state_at(At::Time(t)).expect("state"),
        State::fold(&events[..3])
    );
    assert_eq!(
        store.state_at(At::Revision(9)),
        Err(StoreError::Future {
            revision: 9,
            head: 4
        })
    );
}

/// Checks that the history of an object lists every event touching it (an instance's events
/// also belong to its workload and stack), in order, and nothing else.
pub fn history_lists_every_event_touching_an_object(store: &impl Store) {
    let events: Vec<Event> = (0..30).map(|i| event(i, (i % 3) as u32)).collect();
    store.append(events.clone()).expect("append");
    let web1 = store.history("demo/web-1", 0, usize::MAX).expect("history");
    let revisions: Vec<Revision> = web1.records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, (0..10).map(|k| 3 * k + 2).collect::<Vec<_>>());
    assert!(
        web1.records
            .iter()
            .all(|r| r.event == events[(r.revision - 1) as usize])
    );
    assert_eq!(
        store
            .history("demo/web", 0, usize::MAX)
            .expect("history")
            .records
            .len(),
        30
    );
    assert_eq!(
        store
            .history("demo", 25, usize::MAX)
            .expect("history")
            .records
            .len(),
        5
    );
    assert_eq!(
        store
            .history("demo/web-1", 0, 3)
            .expect("history")
            .records
            .len(),
        3
    );
    assert!(
        store
            .history("demo/web-7", 0, usize::MAX)
            .expect("history")
            .records
            .is_empty()
    );
    assert!(
        store
            .history("demo/we", 0, usize::MAX)
            .expect("history")
            .records
            .is_empty()
    );
}

/// Checks that a watch from revision 0 sees events appended before and while it runs, each
/// exactly once and in order, and that a watch resumed from its last revision continues.
pub fn watches_deliver_every_event_once_in_order<S: Store + 'static>(store: Arc<S>) {
    store
        .append((0..100).map(|i| event(i, 0)).collect())
        .expect("append");
    let mut watch = store.watch(0).expect("watch");
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                store
                    .append(vec![event(100 + i, 1), event(100 + i, 2)])
                    .expect("append");
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 250 {
        seen.push(watch.next_blocking().expect("next").revision);
    }
    // resume from where it stopped, as after a disconnect
    let mut resumed = store.watch(watch.last_revision()).expect("watch");
    drop(watch);
    while seen.len() < 500 {
        seen.push(resumed.next_blocking().expect("next").revision);
    }
    writer.join().expect("writer thread");
    assert_eq!(seen, (1..=500).collect::<Vec<_>>());
    assert_eq!(resumed.try_next().expect("try_next"), None);
    store.append(vec![event(999, 0)]).expect("append");
    assert_eq!(resumed.next_blocking().expect("next").revision, 501);
}

/// Checks that a watcher that does not read while more than its buffer is committed is told
/// it is too slow, with the revision to resume from, and that resuming from there delivers
/// the rest. `buffer` is the backend's watch buffer, in records.
pub fn a_too_slow_watcher_is_told_and_can_resume<S: Store>(store: &S, buffer: usize) {
    store.append(vec![event(0, 0)]).expect("append");
    let mut watch = store.watch(0).expect("watch");
    assert_eq!(watch.next_blocking().expect("next").revision, 1);
    assert_eq!(watch.try_next().expect("caught up"), None);
    // The watcher is now live; fall behind by more than the buffer.
    for i in 0..(buffer as i64 + 10) {
        store.append(vec![event(i + 1, 0)]).expect("append");
    }
    let mut delivered = 1;
    let resume_after = loop {
        match watch.next_blocking() {
            Ok(record) => {
                delivered += 1;
                assert_eq!(record.revision, delivered);
            }
            Err(StoreError::TooSlow { resume_after }) => break resume_after,
            Err(other) => panic!("expected too slow, got {other}"),
        }
    };
    assert_eq!(resume_after, delivered);
    assert!(matches!(
        watch.next_blocking(),
        Err(StoreError::TooSlow { .. })
    ));
    let mut resumed = store.watch(resume_after).expect("watch");
    let mut next = resume_after;
    while next < store.head() {
        next += 1;
        assert_eq!(resumed.next_blocking().expect("next").revision, next);
    }
}

/// Checks compaction: queries before the horizon fail with "compacted", queries from it on
/// still answer with the same states, and history reports the horizon.
pub fn compaction_refuses_queries_before_the_horizon(store: &impl Store) {
    let events: Vec<Event> = (0..100).map(|i| event(i, (i % 4) as u32)).collect();
    store.append(events.clone()).expect("append");
    let horizon = store
        .compact(Retention {
            max_events: Some(30),
            max_age: None,
        })
        .expect("compact");
    assert_eq!(horizon, 70);
    assert_eq!(store.horizon(), 70);
    assert_eq!(
        store.state_at(At::Revision(69)),
        Err(StoreError::Compacted {
            revision: 69,
            horizon: 70
        })
    );
    let err = store.state_at(At::Revision(3)).expect_err("compacted");
    assert!(err.to_string().contains("compacted"), "{err}");
    for r in 70..=100 {
        assert_eq!(
            store.state_at(At::Revision(r)).expect("state"),
            State::fold(&events[..r as usize]),
            "state at {r}"
        );
    }
    assert!(matches!(
        store.read(10, 5),
        Err(StoreError::Compacted { .. })
    ));
    assert_eq!(store.read(70, 5).expect("read")[0].revision, 71);
    assert!(matches!(store.watch(69), Err(StoreError::Compacted { .. })));
    let history = store.history("demo/web-1", 0, usize::MAX).expect("history");
    assert_eq!(history.horizon, 70);
    assert!(history.records.iter().all(|r| r.revision > 70));
    assert_eq!(history.records.len(), 7);
    let before = Timestamp::from_second(1_767_225_600 + 5).expect("timestamp");
    assert!(matches!(
        store.state_at(At::Time(before)),
        Err(StoreError::BeforeHorizon { .. })
    ));
    // by age: keep the events younger than 10 seconds (the newest is at second 99, so the
    // event at second 89, revision 90, is the last one to go)
    let horizon = store
        .compact(Retention {
            max_events: None,
            max_age: Some(Duration::from_secs(10)),
        })
        .expect("compact");
    assert_eq!(horizon, 90);
    store
        .append(vec![event(100, 0)])
        .expect("append after compaction");
    assert_eq!(store.head(), 101);
    assert_eq!(store.read(90, usize::MAX).expect("read").len(), 11);
}

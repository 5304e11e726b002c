//! The `Store` trait: what every storage backend offers, and the values it speaks in.

use std::time::Duration;

use jiff::Timestamp;
use orco_state::{Event, Revision, State};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::watch::Watch;

/// One event of the log with its revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its position in the log (1 for the first event).
    pub revision: Revision,
    /// The event.
    pub event: Event,
}

/// A moment of the log to query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After the event with this revision (0: the empty log).
    Revision(Revision),
    /// After every event whose timestamp is at or before this time (more precisely: the
    /// longest prefix of the log whose timestamps are all at or before it; timestamps of
    /// several emitters need not be in order).
    Time(Timestamp),
}

/// Events that touched one object.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The events, oldest first.
    pub records: Vec<Record>,
    /// The compaction horizon: events at or before this revision are no longer kept, so the
    /// object may have older history that is gone.
    pub horizon: Revision,
}

/// How much of the log to keep. Older events are compacted: removed, with a snapshot of the
/// state at the new horizon so that queries from there on still answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many events (`None`: no limit).
    pub max_events: Option<u64>,
    /// Keep events younger than this, measured back from the newest event's timestamp
    /// (`None`: no limit).
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Keep everything (the default).
    pub fn keep_all() -> Retention {
        Retention::default()
    }

    /// Whether this keeps everything.
    pub fn is_keep_all(&self) -> bool {
        self.max_events.is_none() && self.max_age.is_none()
    }
}

/// An append on its way to disk: wait for it to get the revision of its last event once the
/// batch it is in is durable.
#[derive(Debug)]
pub struct Pending {
    reply: oneshot::Receiver<Result<Revision, StoreError>>,
}

impl Pending {
    /// A pending append answered through `reply`.
    pub fn new(reply: oneshot::Receiver<Result<Revision, StoreError>>) -> Pending {
        Pending { reply }
    }

    /// Blocks until the append is durable (or failed). Not on an async runtime thread: there,
    /// use [`Pending::ack`].
    pub fn wait(self) -> Result<Revision, StoreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(StoreError::BlockingInAsync);
        }
        self.reply
            .blocking_recv()
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Waits, asynchronously, until the append is durable (or failed).
    pub async fn ack(self) -> Result<Revision, StoreError> {
        self.reply.await.unwrap_or(Err(StoreError::Closed))
    }
}

/// A durable event log. Every method is safe to call from many threads at once.
///
/// Contract (checked by [`crate::suite`] for every backend):
/// - revisions are 1, 2, 3… with no gap, in append order, and events of one append are
///   contiguous;
/// - an append is acknowledged only when it is durable, and a failed append stores nothing;
/// - `state_at(At::Revision(r))` is the fold of the first `r` events;
/// - queries older than the compaction horizon fail with [`StoreError::Compacted`].
pub trait Store: Send + Sync {
    /// Queues events for the next group commit; the events get consecutive revisions.
    fn submit(&self, events: Vec<Event>) -> Result<Pending, StoreError>;

    /// Appends events and blocks until they are durable: the revision of the last one.
    fn append(&self, events: Vec<Event>) -> Result<Revision, StoreError> {
        self.submit(events)?.wait()
    }

    /// The revision of the last durable event (0 for an empty log).
    fn head(&self) -> Revision;

    /// The compaction horizon: events at or before it are gone (0: nothing compacted).
    fn horizon(&self) -> Revision;

    /// Up to `limit` records after revision `after`, in order.
    fn read(&self, after: Revision, limit: usize) -> Result<Vec<Record>, StoreError>;

    /// The revision a moment refers to (see [`At`]).
    fn revision_at(&self, at: At) -> Result<Revision, StoreError>;

    /// The state at a moment of the log.
    fn state_at(&self, at: At) -> Result<State, StoreError>;

    /// The current state (at [`Store::head`]).
    fn state(&self) -> Result<State, StoreError> {
        self.state_at(At::Revision(self.head()))
    }

    /// Up to `limit` events that touched `object` after revision `after`, oldest first.
    /// `object` is an id string: a stack (`demo`), workload (`demo/web`), instance
    /// (`demo/web-0`), job run (`demo/backup#1`) or task (`demo/backup#1/dump`).
    fn history(&self, object: &str, after: Revision, limit: usize) -> Result<History, StoreError>;

    /// Every event after revision `after`, in order, exactly once, as it is committed.
    fn watch(&self, after: Revision) -> Result<Watch, StoreError>;

    /// Writes a snapshot of the state at the head now; its revision.
    fn snapshot(&self) -> Result<Revision, StoreError>;

    /// Compacts by `retention` now; the new horizon.
    fn compact(&self, retention: Retention) -> Result<Revision, StoreError>;
}

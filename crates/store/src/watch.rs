//! `Watch`: every event after a revision, in order, exactly once, resumable.
//!
//! A watch first catches up from the log (reading chunks, holding no live subscription, so
//! it can be as far behind as it likes), then subscribes to the backend's live feed of
//! committed records and reads the log once more to close the race between the two. From
//! then on it takes records from the feed, skipping any it already delivered (by revision)
//! and filling a gap, should one appear, from the log. The feed is bounded: a watcher that
//! falls behind it by more than its capacity gets [`StoreError::TooSlow`] with the last
//! revision it received, and resumes with `store.watch(resume_after)`, which catches up from
//! the log again. The writer never waits for a watcher.

use std::collections::VecDeque;
use std::sync::Arc;

use orco_state::Revision;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::error::StoreError;
use crate::store::Record;

/// How many records a catching-up watch reads from the log at once.
const CHUNK: usize = 1024;

/// What a backend gives a watch: reads from the log and a live feed of committed records.
pub trait LogSource: Send + Sync {
    /// Up to `limit` records after revision `after`, in order.
    fn read(&self, after: Revision, limit: usize) -> Result<Vec<Record>, StoreError>;
    /// A live feed of every record committed from now on, in revision order.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>>;
}

enum Incoming {
    Record(Arc<Record>),
    Lagged,
    Closed,
}

enum Step {
    Ready(Record),
    Wait,
}

/// An in-order, exactly-once stream of the records after a revision.
pub struct Watch {
    source: Arc<dyn LogSource>,
    last: Revision,
    backlog: VecDeque<Record>,
    live: Option<broadcast::Receiver<Arc<Record>>>,
    stash: Option<Incoming>,
    failed: Option<StoreError>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("last", &self.last)
            .field("backlog", &self.backlog.len())
            .field("live", &self.live.is_some())
            .finish()
    }
}

impl Watch {
    /// A watch of `source` delivering the records after revision `after`.
    pub fn new(source: Arc<dyn LogSource>, after: Revision) -> Watch {
        Watch {
            source,
            last: after,
            backlog: VecDeque::new(),
            live: None,
            stash: None,
            failed: None,
        }
    }

    /// The revision of the last record delivered (where to resume from).
    pub fn last_revision(&self) -> Revision {
        self.last
    }

    /// The next record if one is available now, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Record>, StoreError> {
        match self.step()? {
            Step::Ready(record) => Ok(Some(record)),
            Step::Wait => Ok(None),
        }
    }

    /// The next record, waiting for it to be committed. Not on an async runtime thread:
    /// there, use [`Watch::next`].
    pub fn next_blocking(&mut self) -> Result<Record, StoreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(StoreError::BlockingInAsync);
        }
        loop {
            match self.step()? {
                Step::Ready(record) => return Ok(record),
                Step::Wait => {
                    let Some(live) = self.live.as_mut() else {
                        continue;
                    };
                    self.stash = Some(incoming(live.blocking_recv()));
                }
            }
        }
    }

    /// The next record, waiting asynchronously for it to be committed.
    pub async fn next(&mut self) -> Result<Record, StoreError> {
        loop {
            match self.step()? {
                Step::Ready(record) => return Ok(record),
                Step::Wait => {
                    let Some(live) = self.live.as_mut() else {
                        continue;
                    };
                    self.stash = Some(incoming(live.recv().await));
                }
            }
        }
    }

    fn deliver(&mut self, record: Record) -> Step {
        self.last = record.revision;
        Step::Ready(record)
    }

    fn fail(&mut self, error: StoreError) -> Result<Step, StoreError> {
        self.live = None;
        self.failed = Some(error.clone());
        Err(error)
    }

    fn step(&mut self) -> Result<Step, StoreError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            if let Some(record) = self.backlog.pop_front() {
                if record.revision <= self.last {
                    continue;
                }
                return Ok(self.deliver(record));
            }
            let Some(live) = self.live.as_mut() else {
                let chunk = match self.source.read(self.last, CHUNK) {
                    Ok(chunk) => chunk,
                    Err(e) => return self.fail(e),
                };
                if !chunk.is_empty() {
                    self.backlog.extend(chunk);
                    continue;
                }
                // Caught up: subscribe, then read once more for what was committed before
                // the subscription but after the read above.
                let live = self.source.subscribe();
                let chunk = match self.source.read(self.last, CHUNK) {
                    Ok(chunk) => chunk,
                    Err(e) => return self.fail(e),
                };
                if chunk.len() < CHUNK {
                    self.live = Some(live);
                }
                self.backlog.extend(chunk);
                continue;
            };
            let incoming = match self.stash.take() {
                Some(incoming) => incoming,
                None => match live.try_recv() {
                    Ok(record) => Incoming::Record(record),
                    Err(TryRecvError::Empty) => return Ok(Step::Wait),
                    Err(TryRecvError::Lagged(_)) => Incoming::Lagged,
                    Err(TryRecvError::Closed) => Incoming::Closed,
                },
            };
            match incoming {
                Incoming::Record(record) if record.revision <= self.last => continue,
                Incoming::Record(record) if record.revision == self.last + 1 => {
                    let record = Arc::unwrap_or_clone(record);
                    return Ok(self.deliver(record));
                }
                Incoming::Record(record) => {
                    // A gap between what was delivered and the feed: fill it from the log.
                    let missing = usize::try_from(record.revision - self.last).unwrap_or(CHUNK);
                    match self.source.read(self.last, missing.min(CHUNK)) {
                        Ok(chunk) => self.backlog.extend(chunk),
                        Err(e) => return self.fail(e),
                    }
                    if self
                        .backlog
                        .back()
                        .is_some_and(|r| r.revision + 1 == record.revision)
                    {
                        self.backlog.push_back(Arc::unwrap_or_clone(record));
                    } else {
                        // Still short: continue from the log, without the feed.
                        self.live = None;
                    }
                }
                Incoming::Lagged => {
                    return self.fail(StoreError::TooSlow {
                        resume_after: self.last,
                    });
                }
                Incoming::Closed => return self.fail(StoreError::Closed),
            }
        }
    }
}

fn incoming(received: Result<Arc<Record>, RecvError>) -> Incoming {
    match received {
        Ok(record) => Incoming::Record(record),
        Err(RecvError::Lagged(_)) => Incoming::Lagged,
        Err(RecvError::Closed) => Incoming::Closed,
    }
}

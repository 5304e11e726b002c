//! The writer thread: group commit, snapshots and compaction, in one place.
//!
//! Appenders encode their events on their own threads (`Prepared`) and queue them. The
//! writer takes the first queued append, then every append already waiting (up to
//! [`crate::Options::max_batch`] events), and writes them all in one redb transaction with
//! `Durability::Immediate` (fsync). Only after the commit returns does it publish the new
//! head, answer each append with the revision of its last event, and send the records to
//! watchers. While one commit is syncing, the next batch gathers in the queue: the more
//! concurrent appenders, the bigger the batches, with no timer.
//!
//! A failed commit stores nothing: every append of the batch gets the error, and the
//! writer's in-memory state is rebuilt from the file. Before committing, the writer checks
//! the free space of the data directory's filesystem and refuses the batch with
//! [`StoreError::DiskFull`] rather than let redb hit ENOSPC mid-commit (after which redb
//! fails every operation until the file is reopened).
//!
//! The writer keeps a reserve: a file of [`Options::reserve_bytes`] allocated blocks. A batch
//! refused for want of space that stops or removes something (a stop, a `down`, an
//! instance's end) releases the reserve and is written: orco can always stop what fills the
//! disk. The reserve is made again as soon as the disk has room for it.

use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use orco_state::codec::{encode_event, encode_state};
use orco_state::{Event, Revision, State};
use redb::{Durability, ReadableTableMetadata};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::layout::{EVENTS, META, META_HEAD, META_HORIZON, OBJECTS, SNAPSHOTS, Unit, frame};
use crate::redb_store::{Inner, Options};
use crate::store::{Record, Retention};

/// An event encoded by its appender, ready for the writer.
#[derive(Debug)]
pub(crate) struct Prepared {
    event: Event,
    json: Vec<u8>,
    ts: i128,
    objects: Vec<String>,
}

impl Prepared {
    pub(crate) fn new(event: Event) -> Prepared {
        Prepared {
            json: encode_event(&event),
            ts: event.at.as_nanosecond(),
            objects: event.objects(),
            event,
        }
    }

    fn size(&self) -> u64 {
        let objects: usize = self.objects.iter().map(|o| o.len() + 24).sum();
        (self.json.len() + 40 + objects) as u64
    }
}

type Reply = oneshot::Sender<Result<Revision, StoreError>>;

/// What the writer is asked to do.
#[derive(Debug)]
pub(crate) enum Request {
    Append { events: Vec<Prepared>, reply: Reply },
    Snapshot { reply: Reply },
    Compact { retention: Retention, reply: Reply },
}

/// The writer's own state: the live fold at the head, for snapshots.
pub(crate) struct Writer {
    inner: Arc<Inner>,
    options: Options,
    state: State,
    max_ts: i128,
    last_snapshot: Revision,
    /// Bytes of the last snapshot written, and of the events appended since.
    snapshot_bytes: u64,
    bytes_since_snapshot: u64,
    since_compaction: u64,
    broken: Option<StoreError>,
    scratch: Vec<u8>,
    reserve: Reserve,
}

/// Blocks held for the writes that stop what fills the disk.
#[derive(Debug)]
struct Reserve {
    path: std::path::PathBuf,
    bytes: u64,
    held: bool,
}

/// The name of the reserve file in the data directory.
pub(crate) const RESERVE_FILE: &str = "reserve";

impl Reserve {
    fn new(dir: &std::path::Path, bytes: u64) -> Reserve {
        let path = dir.join(RESERVE_FILE);
        let held = bytes > 0 && std::fs::metadata(&path).is_ok_and(|m| m.len() >= bytes);
        Reserve { path, bytes, held }
    }

    /// Allocates the reserve if it is not held and the disk has room for it and more.
    fn refill(&mut self, free: u64, keep_free: u64) {
        if self.held || self.bytes == 0 || free < self.bytes.saturating_mul(2) + keep_free {
            return;
        }
        let made = std::fs::File::options()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&self.path)
            .and_then(|file| {
                let len = i64::try_from(self.bytes).map_err(std::io::Error::other)?;
                nix::fcntl::fallocate(&file, nix::fcntl::FallocateFlags::empty(), 0, len)
                    .map_err(std::io::Error::from)?;
                file.sync_all()
            });
        match made {
            Ok(()) => self.held = true,
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::warn!(
                    "cannot allocate the store's reserve {}: {e}",
                    self.path.display()
                );
            }
        }
    }

    /// Gives the reserve back to the file system; whether there was one.
    fn release(&mut self) -> bool {
        if !self.held {
            return false;
        }
        self.held = false;
        match std::fs::remove_file(&self.path) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "cannot release the store's reserve {}: {e}",
                    self.path.display()
                );
                false
            }
        }
    }
}

/// Whether an event stops or removes something: such a write may use the reserve.
fn frees_space(event: &Event) -> bool {
    use orco_state::EventKind as K;
    matches!(
        event.kind,
        K::StopRequested { .. }
            | K::StackStopRequested { .. }
            | K::StackRemoved { .. }
            | K::InstanceStopping { .. }
            | K::InstanceExited { .. }
            | K::InstanceStopped { .. }
            | K::InstanceFailed { .. }
            | K::InstanceRemoved { .. }
            | K::JobCancelRequested { .. }
            | K::JobFinished { .. }
            | K::TaskFailed { .. }
    )
}

impl Writer {
    pub(crate) fn new(
        inner: Arc<Inner>,
        options: Options,
        state: State,
        max_ts: i128,
        last_snapshot: Revision,
    ) -> Writer {
        let reserve = Reserve::new(&inner.dir, options.reserve_bytes);
        let mut writer = Writer {
            inner,
            options,
            state,
            max_ts,
            last_snapshot,
            snapshot_bytes: 0,
            bytes_since_snapshot: 0,
            since_compaction: 0,
            broken: None,
            scratch: Vec::new(),
            reserve,
        };
        writer.refill_reserve();
        writer
    }

    fn free_bytes(&self) -> Option<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.inner.dir).ok()?;
        Some(stat.blocks_available().saturating_mul(stat.fragment_size()))
    }

    fn refill_reserve(&mut self) {
        if !self.reserve.held
            && let Some(free) = self.free_bytes()
        {
            self.reserve.refill(free, self.options.min_free_bytes);
        }
    }

    fn write_error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Write {
            path: self.inner.path.clone(),
            detail: e.to_string(),
        }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, queue: Receiver<Request>) {
        let mut carried = None;
        loop {
            let request = match carried.take() {
                Some(request) => request,
                None => match queue.recv() {
                    Ok(request) => request,
                    Err(_) => return,
                },
            };
            match request {
                Request::Append { events, reply } => {
                    let mut count = events.len();
                    let mut batch = vec![(events, reply)];
                    while count < self.options.max_batch {
                        match queue.try_recv() {
                            Ok(Request::Append { events, reply }) => {
                                count += events.len();
                                batch.push((events, reply));
                            }
                            Ok(other) => {
                                carried = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch, count as u64);
                    if !self.options.retention.is_keep_all()
                        && self.since_compaction >= self.options.compact_every
                    {
                        // A failed automatic compaction is retried after the next interval.
                        let _ = self.compact(self.options.retention);
                    }
                }
                Request::Snapshot { reply } => {
                    let _ = reply.send(self.snapshot());
                }
                Request::Compact { retention, reply } => {
                    let _ = reply.send(self.compact(retention));
                }
            }
        }
    }

    fn commit_batch(&mut self, batch: Vec<(Vec<Prepared>, Reply)>, count: u64) {
        let head = self.inner.head.load(Ordering::Acquire);
        match self.write(&batch, head) {
            Ok(()) => {
                self.since_compaction += count;
                self.inner.head.store(head + count, Ordering::Release);
                let watched = self.inner.feed.receiver_count() > 0;
                let mut revision = head;
                for (events, reply) in batch {
                    let first = revision;
                    revision += events.len() as u64;
                    let _ = reply.send(Ok(revision));
                    if watched {
                        for (i, prepared) in events.into_iter().enumerate() {
                            let record = Record {
                                revision: first + 1 + i as u64,
                                event: prepared.event,
                            };
                            let _ = self.inner.feed.send(Arc::new(record));
                        }
                    }
                }
            }
            Err(error) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(error.clone()));
                }
                self.rebuild(head);
            }
        }
    }

    /// Rebuilds the live state from the file after a failed commit.
    fn rebuild(&mut self, head: Revision) {
        let rebuilt = self
            .inner
            .state_at_revision(head)
            .and_then(|state| Ok((state, self.inner.max_ts_at(head)?)));
        match rebuilt {
            Ok((state, max_ts)) => {
                self.state = state;
                self.max_ts = max_ts;
            }
            Err(e) => {
                self.broken = Some(StoreError::Write {
                    path: self.inner.path.clone(),
                    detail: format!(
                        "the store cannot read its own file after a failed write ({e}); reopen it"
                    ),
                });
            }
        }
    }

    fn check_space(&self, bytes: u64) -> Result<(), StoreError> {
        let Some(free) = self.free_bytes() else {
            return Ok(()); // unknown: let the write itself tell
        };
        // Copy-on-write B-trees write new pages for what changes: allow for several times the
        // payload, plus the reserve.
        let needed = bytes
            .saturating_mul(4)
            .saturating_add(self.options.min_free_bytes);
        if free < needed {
            return Err(StoreError::DiskFull {
                path: self.inner.dir.clone(),
                free,
                needed,
            });
        }
        Ok(())
    }

    fn write(
        &mut self,
        batch: &[(Vec<Prepared>, Reply)],
        head: Revision,
    ) -> Result<(), StoreError> {
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        let bytes: u64 = batch
            .iter()
            .flat_map(|(events, _)| events)
            .map(Prepared::size)
            .sum();
        if let Err(full) = self.check_space(bytes) {
            let frees = batch
                .iter()
                .flat_map(|(events, _)| events)
                .any(|p| frees_space(&p.event));
            if !(frees && self.reserve.release()) {
                return Err(full);
            }
            tracing::warn!(
                "disk full: released the store's reserve to record a stop ({})",
                self.inner.dir.display()
            );
            self.check_space(bytes)?;
        }
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(|e| self.write_error(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.write_error(e))?;
        let mut last_snapshot = self.last_snapshot;
        let mut snapshot_bytes = self.snapshot_bytes;
        let mut bytes_since_snapshot = self.bytes_since_snapshot;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| self.write_error(e))?;
            let mut objects = txn.open_table(OBJECTS).map_err(|e| self.write_error(e))?;
            let mut snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.write_error(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.write_error(e))?;
            let mut revision = head;
            let mut scratch = std::mem::take(&mut self.scratch);
            for prepared in batch.iter().flat_map(|(events, _)| events) {
                revision += 1;
                self.max_ts = self.max_ts.max(prepared.ts);
                scratch.clear();
                scratch.extend_from_slice(&self.max_ts.to_le_bytes());
                scratch.extend_from_slice(&prepared.json);
                events
                    .insert(revision, scratch.as_slice())
                    .map_err(|e| self.write_error(e))?;
                for object in &prepared.objects {
                    objects
                        .insert((object.as_str(), revision), Unit)
                        .map_err(|e| self.write_error(e))?;
                }
                self.state.apply(&prepared.event);
                bytes_since_snapshot += scratch.len() as u64;
                // Every `snapshot_every` events, but only once the events since the last
                // snapshot weigh as much as it did: a big state (a job of 10,000 tasks) is
                // not written out whole every 1,000 small events, and each snapshot costs no
                // more than the events it covers.
                if revision - last_snapshot >= self.options.snapshot_every.max(1)
                    && bytes_since_snapshot >= snapshot_bytes
                {
                    let snapshot = frame(self.max_ts, &encode_state(&self.state));
                    snapshots
                        .insert(revision, snapshot.as_slice())
                        .map_err(|e| self.write_error(e))?;
                    last_snapshot = revision;
                    snapshot_bytes = snapshot.len() as u64;
                    bytes_since_snapshot = 0;
                }
            }
            self.scratch = scratch;
            meta.insert(META_HEAD, revision)
                .map_err(|e| self.write_error(e))?;
        }
        txn.commit().map_err(|e| self.write_error(e))?;
        self.last_snapshot = last_snapshot;
        self.snapshot_bytes = snapshot_bytes;
        self.bytes_since_snapshot = bytes_since_snapshot;
        self.refill_reserve();
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Revision, StoreError> {
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        let head = self.inner.head.load(Ordering::Acquire);
        if self.last_snapshot == head {
            return Ok(head);
        }
        let encoded = frame(self.max_ts, &encode_state(&self.state));
        self.check_space(encoded.len() as u64)?;
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(|e| self.write_error(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.write_error(e))?;
        {
            let mut snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.write_error(e))?;
            snapshots
                .insert(head, encoded.as_slice())
                .map_err(|e| self.write_error(e))?;
        }
        txn.commit().map_err(|e| self.write_error(e))?;
        self.last_snapshot = head;
        self.snapshot_bytes = encoded.len() as u64;
        self.bytes_since_snapshot = 0;
        Ok(head)
    }

    fn compact(&mut self, retention: Retention) -> Result<Revision, StoreError> {
        self.since_compaction = 0;
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        let head = self.inner.head.load(Ordering::Acquire);
        let horizon = self.inner.horizon.load(Ordering::Acquire);
        let mut target = horizon;
        if let Some(max) = retention.max_events {
            target = target.max(head.saturating_sub(max));
        }
        if let Some(age) = retention.max_age
            && head > 0
        {
            let cutoff = self
                .max_ts
                .saturating_sub(age.as_nanos().try_into().unwrap_or(i128::MAX));
            // Events at or before the cutoff are older than `age`.
            if let Some(revision) = self.inner.revision_at_nanos(cutoff)? {
                target = target.max(revision);
            }
        }
        if target <= horizon {
            return Ok(horizon);
        }
        let state = self.inner.state_at_revision(target)?;
        let snapshot = frame(self.inner.max_ts_at(target)?, &encode_state(&state));
        self.check_space(snapshot.len() as u64)?;
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(|e| self.write_error(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.write_error(e))?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| self.write_error(e))?;
            let mut objects = txn.open_table(OBJECTS).map_err(|e| self.write_error(e))?;
            let mut snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.write_error(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.write_error(e))?;
            snapshots
                .insert(target, snapshot.as_slice())
                .map_err(|e| self.write_error(e))?;
            snapshots
                .retain_in(..target, |_, _| false)
                .map_err(|e| self.write_error(e))?;
            events
                .retain_in(..=target, |_, _| false)
                .map_err(|e| self.write_error(e))?;
            objects
                .retain(|(_, revision), _| revision > target)
                .map_err(|e| self.write_error(e))?;
            meta.insert(META_HORIZON, target)
                .map_err(|e| self.write_error(e))?;
            let left = events.len().map_err(|e| self.write_error(e))?;
            if left != head - target {
                return Err(self.write_error(format!(
                    "compaction to revision {target} would leave {left} events, not {}",
                    head - target
                )));
            }
        }
        txn.commit().map_err(|e| self.write_error(e))?;
        self.inner.horizon.store(target, Ordering::Release);
        if self.last_snapshot < target {
            self.last_snapshot = target;
        }
        Ok(target)
    }
}

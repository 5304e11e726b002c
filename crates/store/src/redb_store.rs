//! `RedbStore`: the embedded backend, one redb file in the data directory.
//!
//! Reads run in their own redb read transactions (MVCC: they never wait for the writer and
//! see one committed revision each). Writes go through one writer thread ([`crate::writer`]).
//! Opening verifies the checksum of every committed page (redb's integrity check) unless
//! [`Options::verify_on_open`] is off, so a damaged file is refused with an error instead of
//! being trusted; a torn last transaction (a crash mid-commit) is rolled back by redb to the
//! previous commit, which is never an acknowledged one lost, since acknowledgement follows
//! the fsync.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use orco_state::codec::{decode_event, decode_state};
use orco_state::{Event, Revision, State};
use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageError,
};
use tokio::sync::{broadcast, oneshot};

use crate::error::StoreError;
use crate::layout::{
    EVENTS, FILE_NAME, LAYOUT_VERSION, MARKER_NAME, META, META_HEAD, META_HORIZON, META_LAYOUT,
    OBJECTS, SNAPSHOTS, next, unframe,
};
use crate::store::{At, History, Pending, Record, Retention, Store};
use crate::watch::{LogSource, Watch};
use crate::writer::{Prepared, Request, Writer};

/// Settings of a [`RedbStore`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Write a snapshot of the state every this many events (default 1,000), but no sooner
    /// than the events since the last snapshot take as many bytes as it did: bounds the
    /// replay behind every time-travel query and behind open, while each snapshot costs no
    /// more than the events it covers.
    pub snapshot_every: u64,
    /// How much history to keep (default: everything).
    pub retention: Retention,
    /// Apply the retention every this many events (default 10,000).
    pub compact_every: u64,
    /// At most this many events in one group commit (default 16,384).
    pub max_batch: usize,
    /// How many records a watcher may fall behind the writer before it is told it is too
    /// slow (default 16,384).
    pub watch_buffer: usize,
    /// Verify every page's checksum when opening (default true).
    pub verify_on_open: bool,
    /// Refuse appends when the data directory's filesystem would have less than this many
    /// bytes free after them (default 1 MiB), so the disk fills up before redb hits ENOSPC.
    pub min_free_bytes: u64,
    /// Bytes kept allocated in `DIR/reserve` (default 8 MiB) and given back to the file
    /// system only for a write that stops or removes something, so that what fills the disk
    /// can always be stopped. Made again once the disk has room. 0: no reserve.
    pub reserve_bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            snapshot_every: 1000,
            retention: Retention::keep_all(),
            compact_every: 10_000,
            max_batch: 16_384,
            watch_buffer: 16_384,
            verify_on_open: true,
            min_free_bytes: 1 << 20,
            reserve_bytes: 8 << 20,
        }
    }
}

/// What readers and the writer share.
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) path: PathBuf,
    pub(crate) db: Database,
    pub(crate) head: AtomicU64,
    pub(crate) horizon: AtomicU64,
    pub(crate) feed: broadcast::Sender<Arc<Record>>,
}

/// The embedded event store.
pub struct RedbStore {
    inner: Arc<Inner>,
    requests: Mutex<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .field("head", &self.inner.head.load(Ordering::Acquire))
            .finish()
    }
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_owned(),
        },
        DatabaseError::Storage(StorageError::Corrupted(detail)) => {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            StoreError::Corrupt {
                path: path.to_owned(),
                offset: format!("a page within its {len} bytes"),
                detail,
            }
        }
        other => StoreError::Open {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

impl RedbStore {
    /// Opens (or creates) the store in directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        RedbStore::open_with(dir, Options::default())
    }

    /// Opens (or creates) the store in directory `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<RedbStore, StoreError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Open {
            path: dir.clone(),
            detail: e.to_string(),
        })?;
        let path = dir.join(FILE_NAME);
        let marker = dir.join(MARKER_NAME);
        let file_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if marker.exists() && file_len == 0 {
            return Err(StoreError::Corrupt {
                path: path.clone(),
                offset: "byte 0".into(),
                detail: format!(
                    "the file is empty or missing, but {} says this directory held a log",
                    marker.display()
                ),
            });
        }
        let mut builder = redb::Builder::new();
        builder.set_check_integrity_on_open(options.verify_on_open);
        // redb may panic on some damaged files when they are not verified first; a panic
        // here is turned into an error naming the file rather than taking the process down.
        let opened = catch_unwind(AssertUnwindSafe(|| builder.create(&path)));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(open_error(&path, e)),
            Err(_) => {
                return Err(StoreError::Corrupt {
                    path: path.clone(),
                    offset: "its header or a committed page".into(),
                    detail: "redb could not read it".into(),
                });
            }
        };
        let (feed, _) = broadcast::channel(options.watch_buffer.max(16));
        let inner = Inner {
            dir,
            path: path.clone(),
            db,
            head: AtomicU64::new(0),
            horizon: AtomicU64::new(0),
            feed,
        };
        let (head, horizon) = inner.initialize()?;
        if !marker.exists() {
            write_marker(&marker).map_err(|e| StoreError::Open {
                path: marker.clone(),
                detail: e.to_string(),
            })?;
        }
        inner.head.store(head, Ordering::Release);
        inner.horizon.store(horizon, Ordering::Release);
        let state = inner.state_at_revision(head)?;
        let max_ts = inner.max_ts_at(head)?;
        let last_snapshot = inner.last_snapshot()?;
        let inner = Arc::new(inner);
        let (requests, queue) = sync_channel(4096);
        let writer = Writer::new(inner.clone(), options, state, max_ts, last_snapshot);
        let handle = std::thread::Builder::new()
            .name("orco-store-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        Ok(RedbStore {
            inner,
            requests: Mutex::new(Some(requests)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// The redb file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops the writer (after the appends already queued) and closes the file.
    pub fn close(self) {
        drop(self);
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let guard = self.requests.lock().map_err(|_| StoreError::Closed)?;
        let sender = guard.as_ref().ok_or(StoreError::Closed)?.clone();
        drop(guard);
        sender.send(request).map_err(|_| StoreError::Closed)
    }

    fn control<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(StoreError::BlockingInAsync);
        }
        answer.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }
}

/// Records, durably, that this directory holds a log: from then on an empty or missing
/// log file is damage, not a fresh start.
fn write_marker(marker: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(marker)?;
    std::io::Write::write_all(
        &mut file,
        format!("orco event log, layout {LAYOUT_VERSION}\n").as_bytes(),
    )?;
    file.sync_all()?;
    if let Some(dir) = marker.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl Inner {
    fn read_error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Read {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(|e| self.read_error(e))
    }

    /// Creates the tables of a new file, or checks an existing one: layout version and the
    /// agreement of `head` and `horizon` with the events table. Returns (head, horizon).
    fn initialize(&self) -> Result<(Revision, Revision), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.read_error(e))?;
        let (head, horizon) = {
            let mut meta = txn.open_table(META).map_err(|e| self.read_error(e))?;
            let events = txn.open_table(EVENTS).map_err(|e| self.read_error(e))?;
            txn.open_table(SNAPSHOTS).map_err(|e| self.read_error(e))?;
            txn.open_table(OBJECTS).map_err(|e| self.read_error(e))?;
            let get = |meta: &redb::Table<&str, u64>, key: &str| {
                meta.get(key)
                    .map(|v| v.map(|v| v.value()))
                    .map_err(|e| self.read_error(e))
            };
            let layout = get(&meta, META_LAYOUT)?;
            match layout {
                None => {
                    if events.len().map_err(|e| self.read_error(e))? > 0 {
                        return Err(self.corrupt("meta table", "events without a layout version"));
                    }
                    meta.insert(META_LAYOUT, LAYOUT_VERSION)
                        .map_err(|e| self.read_error(e))?;
                    meta.insert(META_HEAD, 0).map_err(|e| self.read_error(e))?;
                    meta.insert(META_HORIZON, 0)
                        .map_err(|e| self.read_error(e))?;
                }
                Some(found) if found > LAYOUT_VERSION => {
                    return Err(StoreError::NewerLayout {
                        path: self.path.clone(),
                        found,
                        known: LAYOUT_VERSION,
                    });
                }
                Some(_) => {}
            }
            let head = get(&meta, META_HEAD)?.unwrap_or(0);
            let horizon = get(&meta, META_HORIZON)?.unwrap_or(0);
            let first = events
                .first()
                .map_err(|e| self.read_error(e))?
                .map(|(k, _)| k.value());
            let last = events
                .last()
                .map_err(|e| self.read_error(e))?
                .map(|(k, _)| k.value());
            let count = events.len().map_err(|e| self.read_error(e))?;
            let consistent = match (first, last) {
                (None, None) => head == horizon,
                (Some(first), Some(last)) => {
                    first == horizon + 1 && last == head && count == head - horizon
                }
                _ => false,
            };
            if !consistent {
                return Err(self.corrupt(
                    &format!("revisions {first:?}..{last:?}"),
                    &format!(
                        "the events table ({count} events) disagrees with head {head} and horizon {horizon}"
                    ),
                ));
            }
            (head, horizon)
        };
        if txn.commit().is_err() {
            // Opening read-only media or a full disk: fine for an existing, complete file.
        }
        Ok((head, horizon))
    }

    pub(crate) fn corrupt(&self, offset: &str, detail: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            offset: offset.to_owned(),
            detail: detail.to_owned(),
        }
    }

    fn meta(&self, txn: &ReadTransaction) -> Result<(Revision, Revision), StoreError> {
        let meta = txn.open_table(META).map_err(|e| self.read_error(e))?;
        let get = |key: &str| -> Result<u64, StoreError> {
            Ok(meta
                .get(key)
                .map_err(|e| self.read_error(e))?
                .map(|v| v.value())
                .unwrap_or(0))
        };
        Ok((get(META_HEAD)?, get(META_HORIZON)?))
    }

    fn event_at(
        &self,
        table: &redb::ReadOnlyTable<u64, &[u8]>,
        revision: Revision,
    ) -> Result<(i128, Event), StoreError> {
        let value = table
            .get(revision)
            .map_err(|e| self.read_error(e))?
            .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "the event is missing"))?;
        let (max_ts, payload) = unframe(value.value())
            .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "truncated record"))?;
        let event = decode_event(payload).map_err(|source| StoreError::Decode {
            path: self.path.clone(),
            revision,
            source,
        })?;
        Ok((max_ts, event))
    }

    /// The running maximum timestamp at `revision` (from its event, or its snapshot at the
    /// horizon); `i128::MIN` for revision 0.
    pub(crate) fn max_ts_at(&self, revision: Revision) -> Result<i128, StoreError> {
        if revision == 0 {
            return Ok(i128::MIN);
        }
        let txn = self.begin_read()?;
        let events = txn.open_table(EVENTS).map_err(|e| self.read_error(e))?;
        if let Some(value) = events.get(revision).map_err(|e| self.read_error(e))? {
            return unframe(value.value())
                .map(|(ts, _)| ts)
                .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "truncated record"));
        }
        let snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.read_error(e))?;
        let value = snapshots
            .get(revision)
            .map_err(|e| self.read_error(e))?
            .ok_or_else(|| {
                self.corrupt(
                    &format!("revision {revision}"),
                    "neither event nor snapshot",
                )
            })?;
        unframe(value.value())
            .map(|(ts, _)| ts)
            .ok_or_else(|| self.corrupt(&format!("snapshot {revision}"), "truncated record"))
    }

    fn last_snapshot(&self) -> Result<Revision, StoreError> {
        let txn = self.begin_read()?;
        let snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.read_error(e))?;
        Ok(snapshots
            .last()
            .map_err(|e| self.read_error(e))?
            .map(|(k, _)| k.value())
            .unwrap_or(0))
    }

    /// The fold of the first `revision` events: the nearest snapshot at or before it, then
    /// the events after the snapshot.
    pub(crate) fn state_at_revision(&self, revision: Revision) -> Result<State, StoreError> {
        let txn = self.begin_read()?;
        let (head, horizon) = self.meta(&txn)?;
        if revision > head {
            return Err(StoreError::Future { revision, head });
        }
        if revision < horizon {
            return Err(StoreError::Compacted { revision, horizon });
        }
        let snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.read_error(e))?;
        let mut base = None;
        for entry in snapshots
            .range(..=revision)
            .map_err(|e| self.read_error(e))?
            .rev()
        {
            let (key, value) = entry.map_err(|e| self.read_error(e))?;
            let decoded = unframe(value.value()).and_then(|(_, json)| decode_state(json).ok());
            if let Some(state) = decoded
                && state.revision == key.value()
            {
                base = Some(state);
                break;
            }
            // A snapshot of another version is a cache miss: use an older one or replay.
        }
        let mut state = match base {
            Some(state) => state,
            None if horizon == 0 => State::new(),
            None => {
                return Err(self.corrupt(
                    &format!("snapshot {horizon}"),
                    "the snapshot at the compaction horizon cannot be read",
                ));
            }
        };
        let events = txn.open_table(EVENTS).map_err(|e| self.read_error(e))?;
        for entry in events
            .range(next(state.revision)..=revision)
            .map_err(|e| self.read_error(e))?
        {
            let (key, value) = entry.map_err(|e| self.read_error(e))?;
            let revision = key.value();
            let payload = unframe(value.value())
                .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "truncated record"))?
                .1;
            let event = decode_event(payload).map_err(|source| StoreError::Decode {
                path: self.path.clone(),
                revision,
                source,
            })?;
            if state.revision + 1 != revision {
                return Err(self.corrupt(&format!("revision {revision}"), "a gap in the log"));
            }
            state.apply(&event);
        }
        if state.revision != revision {
            return Err(self.corrupt(&format!("revision {revision}"), "the log ends early"));
        }
        Ok(state)
    }

    fn revision_at_time(&self, at: jiff::Timestamp) -> Result<Revision, StoreError> {
        match self.revision_at_nanos(at.as_nanosecond())? {
            Some(revision) => Ok(revision),
            None => Err(StoreError::BeforeHorizon {
                at: at.to_string(),
                horizon: self.horizon.load(Ordering::Acquire),
            }),
        }
    }

    /// The largest revision whose running maximum timestamp is at or before `t` (nanoseconds):
    /// a binary search, since that maximum is monotonic. `None` when the log is compacted
    /// past every such revision.
    pub(crate) fn revision_at_nanos(&self, t: i128) -> Result<Option<Revision>, StoreError> {
        let txn = self.begin_read()?;
        let (head, horizon) = self.meta(&txn)?;
        let events = txn.open_table(EVENTS).map_err(|e| self.read_error(e))?;
        let ts = |revision: Revision| -> Result<i128, StoreError> {
            let value = events
                .get(revision)
                .map_err(|e| self.read_error(e))?
                .ok_or_else(|| {
                    self.corrupt(&format!("revision {revision}"), "the event is missing")
                })?;
            unframe(value.value())
                .map(|(ts, _)| ts)
                .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "truncated record"))
        };
        if head == horizon || ts(horizon + 1)? > t {
            if horizon == 0 {
                return Ok(Some(0));
            }
            let snapshots = txn.open_table(SNAPSHOTS).map_err(|e| self.read_error(e))?;
            let horizon_ts = snapshots
                .get(horizon)
                .map_err(|e| self.read_error(e))?
                .and_then(|v| unframe(v.value()).map(|(ts, _)| ts));
            return Ok(match horizon_ts {
                Some(ts) if ts <= t => Some(horizon),
                _ => None,
            });
        }
        let (mut lo, mut hi) = (horizon + 1, head);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if ts(mid)? <= t {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(Some(lo))
    }

    fn read_records(&self, after: Revision, limit: usize) -> Result<Vec<Record>, StoreError> {
        let txn = self.begin_read()?;
        let (_, horizon) = self.meta(&txn)?;
        if after < horizon {
            return Err(StoreError::Compacted {
                revision: after,
                horizon,
            });
        }
        let events = txn.open_table(EVENTS).map_err(|e| self.read_error(e))?;
        let mut out = Vec::new();
        for entry in events
            .range(next(after)..)
            .map_err(|e| self.read_error(e))?
            .take(limit)
        {
            let (key, value) = entry.map_err(|e| self.read_error(e))?;
            let revision = key.value();
            let payload = unframe(value.value())
                .ok_or_else(|| self.corrupt(&format!("revision {revision}"), "truncated record"))?
                .1;
            let event = decode_event(payload).map_err(|source| StoreError::Decode {
                path: self.path.clone(),
                revision,
                source,
            })?;
            out.push(Record { revision, event });
        }
        Ok(out)
    }
}

impl LogSource for Inner {
    fn read(&self, after: Revision, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.read_records(after, limit)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.feed.subscribe()
    }
}

impl Store for RedbStore {
    fn submit(&self, events: Vec<Event>) -> Result<Pending, StoreError> {
        if events.is_empty() {
            return Err(StoreError::Empty);
        }
        let prepared = events.into_iter().map(Prepared::new).collect();
        let (reply, answer) = oneshot::channel();
        self.send(Request::Append {
            events: prepared,
            reply,
        })?;
        Ok(Pending::new(answer))
    }

    fn head(&self) -> Revision {
        self.inner.head.load(Ordering::Acquire)
    }

    fn horizon(&self) -> Revision {
        self.inner.horizon.load(Ordering::Acquire)
    }

    fn read(&self, after: Revision, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.inner.read_records(after, limit)
    }

    fn revision_at(&self, at: At) -> Result<Revision, StoreError> {
        match at {
            At::Revision(revision) => {
                let (head, horizon) = (self.head(), self.horizon());
                if revision > head {
                    Err(StoreError::Future { revision, head })
                } else if revision < horizon {
                    Err(StoreError::Compacted { revision, horizon })
                } else {
                    Ok(revision)
                }
            }
            At::Time(t) => self.inner.revision_at_time(t),
        }
    }

    fn state_at(&self, at: At) -> Result<State, StoreError> {
        let revision = match at {
            At::Revision(revision) => revision,
            At::Time(t) => self.inner.revision_at_time(t)?,
        };
        self.inner.state_at_revision(revision)
    }

    fn history(&self, object: &str, after: Revision, limit: usize) -> Result<History, StoreError> {
        let inner = &self.inner;
        let txn = inner.begin_read()?;
        let (_, horizon) = inner.meta(&txn)?;
        let objects = txn.open_table(OBJECTS).map_err(|e| inner.read_error(e))?;
        let events = txn.open_table(EVENTS).map_err(|e| inner.read_error(e))?;
        let mut records = Vec::new();
        let range = objects
            .range((object, next(after.max(horizon)))..=(object, u64::MAX))
            .map_err(|e| inner.read_error(e))?;
        for entry in range.take(limit) {
            let (key, _) = entry.map_err(|e| inner.read_error(e))?;
            let revision = key.value().1;
            let (_, event) = inner.event_at(&events, revision)?;
            records.push(Record { revision, event });
        }
        Ok(History { records, horizon })
    }

    fn watch(&self, after: Revision) -> Result<Watch, StoreError> {
        let (head, horizon) = (self.head(), self.horizon());
        if after < horizon {
            return Err(StoreError::Compacted {
                revision: after,
                horizon,
            });
        }
        if after > head {
            return Err(StoreError::Future {
                revision: after,
                head,
            });
        }
        Ok(Watch::new(self.inner.clone(), after))
    }

    fn snapshot(&self) -> Result<Revision, StoreError> {
        self.control(|reply| Request::Snapshot { reply })
    }

    fn compact(&self, retention: Retention) -> Result<Revision, StoreError> {
        self.control(|reply| Request::Compact { retention, reply })
    }
}

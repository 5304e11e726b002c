//! `StoreError`: what failed in the store, and what to do about it.

use std::path::PathBuf;

use orco_state::{DecodeError, Revision};

/// An error of the event store. Cloneable, because one failed group commit answers every
/// append that was in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The data directory or file could not be opened or created.
    #[error("cannot open event store {path}: {detail}")]
    Open {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        detail: String,
    },
    /// Another process holds the store.
    #[error(
        "event store {path} is in use by another process: stop the other orco daemon or use another data dir"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file is damaged and cannot be trusted; nothing was changed.
    #[error(
        "event store {path} is corrupt at {offset}: {detail}; restore it from a backup, or move it away to start an empty log"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where: a byte offset, page or revision, as precise as known.
        offset: String,
        /// What is wrong.
        detail: String,
    },
    /// The file was written by a newer orco.
    #[error(
        "event store {path} has layout version {found}, newer than this orco knows ({known}): upgrade orco"
    )]
    NewerLayout {
        /// The file.
        path: PathBuf,
        /// The file's layout version.
        found: u64,
        /// The newest this build knows.
        known: u64,
    },
    /// Not enough free space to write; nothing was written.
    #[error(
        "disk full: {path} has {free} bytes free and this write needs about {needed}; the events were not stored: free space and retry"
    )]
    DiskFull {
        /// The data directory.
        path: PathBuf,
        /// Free bytes available.
        free: u64,
        /// Bytes this write needs, with the safety reserve.
        needed: u64,
    },
    /// The write failed; nothing of it was stored.
    #[error("write to event store {path} failed: {detail}; the events were not stored: retry")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A read failed.
    #[error("read from event store {path} failed: {detail}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A stored event could not be decoded.
    #[error("event at revision {revision} in {path} cannot be decoded: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The event's revision.
        revision: Revision,
        /// Why.
        source: DecodeError,
    },
    /// The revision asked for is older than the compaction horizon.
    #[error(
        "revision {revision} is compacted: the log keeps history from revision {horizon} on; ask for revision {horizon} or later"
    )]
    Compacted {
        /// The revision asked for.
        revision: Revision,
        /// The oldest revision whose state can still be queried.
        horizon: Revision,
    },
    /// The moment asked for is older than every state the compacted log still has.
    #[error(
        "no state at {at}: the log was compacted at revision {horizon}, which is newer; ask for a later time"
    )]
    BeforeHorizon {
        /// The moment asked for.
        at: String,
        /// The compaction horizon.
        horizon: Revision,
    },
    /// The revision asked for is not written yet.
    #[error("revision {revision} does not exist yet: the log ends at revision {head}")]
    Future {
        /// The revision asked for.
        revision: Revision,
        /// The last revision written.
        head: Revision,
    },
    /// An append of no events.
    #[error("nothing to append: an append needs at least one event")]
    Empty,
    /// The store was shut down (or its writer stopped).
    #[error("the event store is closed: reopen it")]
    Closed,
    /// A blocking wait was called on an async runtime thread.
    #[error("blocking wait called on an async runtime thread: await the async form instead")]
    BlockingInAsync,
    /// A watcher fell behind by more than its buffer; events after `resume_after` were not
    /// delivered to it.
    #[error(
        "watcher too slow: it fell behind by more than its buffer; watch again from revision {resume_after}"
    )]
    TooSlow {
        /// The last revision the watcher received; resume from here.
        resume_after: Revision,
    },
}

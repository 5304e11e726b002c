//! The on-disk layout of the redb backend: tables, keys and record framing.
//!
//! One redb file, `events.redb`, in the data directory (beside a marker file, `orco-store`,
//! written once the log exists), with four tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `events` | revision `u64` | `[max_ts: i128 LE][event JSON]` |
//! | `snapshots` | revision `u64` | `[max_ts: i128 LE][state JSON]` |
//! | `objects` | `(object id, revision)` | `()`: the per-object history index |
//! | `meta` | name | `u64`: `layout`, `head`, `horizon` |
//!
//! `max_ts` is the running maximum of event timestamps (nanoseconds since the Unix epoch) up
//! to and including that revision: it is monotonic even when emitters' clocks are not, so
//! the revision of a moment is a binary search over `events`. The JSON is the versioned
//! codec of `orco_state::codec` (schema version inside every record). [`LAYOUT_VERSION`]
//! versions this table layout itself; a file with a newer one is refused.

use orco_state::Revision;
use redb::{TableDefinition, TypeName, Value};

/// The version of this table layout.
pub const LAYOUT_VERSION: u64 = 1;

/// The file name of the log inside the data directory.
pub const FILE_NAME: &str = "events.redb";

/// A marker file written once the log exists: an empty or missing log file beside it is
/// damage to refuse, not a new log to create.
pub const MARKER_NAME: &str = "orco-store";

/// Revision → framed event.
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Revision → framed state snapshot (the state after that revision).
pub const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
/// (object id, revision) → nothing: the history index.
pub const OBJECTS: TableDefinition<(&str, u64), Unit> = TableDefinition::new("objects");
/// Name → number.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// `meta` key: the layout version.
pub const META_LAYOUT: &str = "layout";
/// `meta` key: the last revision written.
pub const META_HEAD: &str = "head";
/// `meta` key: the compaction horizon.
pub const META_HORIZON: &str = "horizon";

/// The empty value of the `objects` table (one byte wide on disk is avoided: zero bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit;

impl Value for Unit {
    type SelfType<'a> = Unit;
    type AsBytes<'a> = [u8; 0];

    fn fixed_width() -> Option<usize> {
        Some(0)
    }

    fn from_bytes<'a>(_data: &'a [u8]) -> Unit
    where
        Self: 'a,
    {
        Unit
    }

    fn as_bytes<'a, 'b: 'a>(_value: &'a Unit) -> [u8; 0]
    where
        Self: 'b,
    {
        []
    }

    fn type_name() -> TypeName {
        TypeName::new("orco::Unit")
    }
}

/// Frames a record: the running maximum timestamp, then the payload.
pub fn frame(max_ts: i128, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(&max_ts.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a framed record into its running maximum timestamp and payload; `None` if it is
/// too short to be one.
pub fn unframe(bytes: &[u8]) -> Option<(i128, &[u8])> {
    let (head, payload) = bytes.split_first_chunk::<16>()?;
    Some((i128::from_le_bytes(*head), payload))
}

/// A revision range helper: the first revision after `after`, saturating.
pub fn next(after: Revision) -> Revision {
    after.saturating_add(1)
}

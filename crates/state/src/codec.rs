//! The durable form of events and state snapshots: JSON with a schema version.
//!
//! An event is stored as `{"v":1,"at":"2026-01-02T03:04:05Z","kind":{"instance_started":{…}}}`,
//! with `"by":"NAME"` when a caller of the API asked for it.
//! JSON because it is self-describing: the stack model uses untagged enums and custom serde
//! (commands, durations, probe expressions) that non-self-describing binary formats cannot
//! decode, an old record can be upgraded as a `serde_json::Value` before it is typed, and a
//! log can be read with `jq` when something goes wrong. Event records are small (100–200
//! bytes for instance events) and decode in about a microsecond.
//!
//! Versioning: [`SCHEMA_VERSION`] is written into every record. Compatible changes (a new
//! variant, a new optional field) keep it. An incompatible change bumps it and adds a step to
//! `upgrade`, which rewrites a record of version N into version N+1 as JSON; decoding runs
//! the steps from the record's version to the current one. A record of a newer version than
//! this build knows is refused with a message saying to upgrade orco.
//! `tests/fixtures/events-v1.jsonl` pins version 1: every later build must still decode it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Event, EventKind};
use crate::state::State;

/// The event schema version this build writes.
pub const SCHEMA_VERSION: u16 = 1;

/// The state snapshot schema version this build writes. Snapshots are a cache of the fold:
/// a snapshot of another version is not upgraded but rebuilt from the log.
pub const SNAPSHOT_VERSION: u16 = 1;

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record was written by a newer orco.
    #[error(
        "record has schema version {found}, newer than this orco knows ({known}): upgrade orco to read this log"
    )]
    Newer {
        /// The record's version.
        found: u16,
        /// The newest version this build knows.
        known: u16,
    },
    /// The record is not valid JSON of any known schema version.
    #[error("malformed record: {0}")]
    Malformed(String),
}

#[derive(Serialize)]
struct EventRef<'a> {
    v: u16,
    at: &'a jiff::Timestamp,
    kind: &'a EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
}

#[derive(Deserialize)]
struct EventOwned {
    v: u16,
    at: jiff::Timestamp,
    kind: EventKind,
    #[serde(default)]
    by: Option<String>,
}

#[derive(Serialize)]
struct StateRef<'a> {
    v: u16,
    state: &'a State,
}

#[derive(Deserialize)]
struct StateOwned {
    v: u16,
    state: State,
}

/// Encodes an event in the current schema version.
pub fn encode_event(event: &Event) -> Vec<u8> {
    let record = EventRef {
        v: SCHEMA_VERSION,
        at: &event.at,
        kind: &event.kind,
        by: event.by.as_deref(),
    };
    // Serializing these types cannot fail: every map key is a string and no custom
    // serializer returns an error; fall back to an empty object rather than panic.
    serde_json::to_vec(&record).unwrap_or_else(|_| b"{}".to_vec())
}

/// Decodes an event of any known schema version, upgrading it to the current one.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    if let Ok(record) = serde_json::from_slice::<EventOwned>(bytes)
        && record.v == SCHEMA_VERSION
    {
        return Ok(Event {
            at: record.at,
            kind: record.kind,
            by: record.by,
        });
    }
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let version = value
        .get("v")
        .and_then(Value::as_u64)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| DecodeError::Malformed("no schema version (\"v\")".into()))?;
    if version > SCHEMA_VERSION {
        return Err(DecodeError::Newer {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    for from in version..SCHEMA_VERSION {
        value = upgrade(from, value)?;
    }
    let record: EventOwned =
        serde_json::from_value(value).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    Ok(Event {
        at: record.at,
        kind: record.kind,
        by: record.by,
    })
}

/// Rewrites a record of schema version `from` into version `from + 1`.
///
/// Version 1 is the first schema, so there is no step yet; the first incompatible change
/// adds `1 => …` here (and the fixture of version 1 keeps proving it).
fn upgrade(from: u16, _value: Value) -> Result<Value, DecodeError> {
    Err(DecodeError::Malformed(format!(
        "no upgrade from schema version {from} (unknown version)"
    )))
}

/// Encodes a state snapshot.
pub fn encode_state(state: &State) -> Vec<u8> {
    serde_json::to_vec(&StateRef {
        v: SNAPSHOT_VERSION,
        state,
    })
    .unwrap_or_else(|_| b"{}".to_vec())
}

/// Decodes a state snapshot of the current snapshot version (other versions are an error:
/// rebuild the state from the log instead).
pub fn decode_state(bytes: &[u8]) -> Result<State, DecodeError> {
    let record: StateOwned =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if record.v != SNAPSHOT_VERSION {
        return Err(DecodeError::Malformed(format!(
            "snapshot version {} is not {SNAPSHOT_VERSION}",
            record.v
        )));
    }
    Ok(record.state)
}

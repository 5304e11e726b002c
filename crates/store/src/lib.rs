//! The event store: a durable, gap-free log of events with snapshots, time travel and watches.
//!
//! - [`Store`] ([`store`]): the storage trait every backend implements, with the values it
//!   speaks in ([`Record`], [`At`], [`History`], [`Retention`], [`Pending`]).
//! - [`RedbStore`] ([`redb_store`]): the embedded backend, a redb file with group commit
//!   ([`writer`]) and the on-disk layout of [`layout`].
//! - [`Watch`] ([`watch`]): an in-order, exactly-once, resumable stream of records.
//! - [`suite`]: the behaviour every backend must show, as functions generic over [`Store`],
//!   so that a later etcd backend runs the same checks.
//! - [`StoreError`] ([`error`]).

pub mod error;
pub mod layout;
pub mod redb_store;
pub mod store;
pub mod suite;
pub mod watch;
pub mod writer;

pub use error::StoreError;
pub use orco_state::Revision;
pub use redb_store::{Options, RedbStore};
pub use store::{At, History, Pending, Record, Retention, Store};
pub use watch::Watch;

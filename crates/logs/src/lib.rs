//! Structured logs: every output line becomes an NDJSON record, fanned in through bounded
//! buffers, persisted per stack with rotation, read back with filters and followed live.
//!
//! How the pieces meet:
//!
//! ```text
//!  Producer (one per instance) ─┐  bounded queue, never waits   ┌─► <dir>/<stack>/current.ndjson
//!  Producer ────────────────────┼──────────────► writer thread ─┤    (rotated to 00000001.ndjson …)
//!  Producer ────────────────────┘   (one per stack, numbers     └─► Subscription (bounded, lossy,
//!                                    records with `seq`)             tells its losses)
//! ```
//!
//! - [`Logs`] ([`logs`]): the daemon's entry point — one [`StackLog`] per stack, reading and
//!   following by stack name.
//! - [`StackLog`], [`Follow`], [`Stats`] ([`stack`]): one stack's log: hands out producers,
//!   subscriptions, reads, follows, syncs and closes.
//! - [`Producer`], [`Sent`] ([`queue`]): feeding lines and orco's own notes; a full queue
//!   drops and counts, and a `dropped N lines` record follows.
//! - [`Record`], [`Level`], [`Source`], [`Workload`], [`Origin`] ([`record`]): the NDJSON
//!   record and its fixed fields.
//! - [`form`]: how a raw line becomes a record (level, JSON fields, non-UTF-8, truncation).
//! - [`Filter`], [`read_dir`] ([`read`]): reading across rotated files with filters.
//! - [`Subscription`], [`Delivery`] ([`subscribe`]): live records and loss notices.
//! - [`LogConfig`] ([`config`]): directory, rotation and buffer sizes, with defaults.
//! - [`files`]: the on-disk layout. [`writer`]: the writer thread.
//! - [`LogError`] ([`error`]).

pub mod config;
pub mod error;
pub mod files;
pub mod form;
pub mod logs;
pub mod queue;
pub mod read;
pub mod record;
pub mod stack;
pub mod subscribe;
pub mod writer;

pub use config::LogConfig;
pub use error::LogError;
pub use logs::Logs;
pub use queue::{Producer, Sent};
pub use read::{Filter, read_dir};
pub use record::{Level, Origin, Record, Source, Workload};
pub use stack::{Follow, StackLog, Stats};
pub use subscribe::{Delivery, Subscription};

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
//!
//! In the daemon: the engine asks [`Logs::stack`] for the stack's log and one
//! [`StackLog::producer`] per instance, and hands it every [`orco_runtime::OutputLine`]
//! (and its own notes); the API reads with [`Logs::read`] and follows with [`Logs::follow`]
//! (both block on file IO: call them from `spawn_blocking`); [`Logs::shutdown`] on exit.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! use orco_logs::{Delivery, Filter, LogConfig, Logs, Origin};
//!
//! let logs = Logs::new(LogConfig::new(tmp.path().join("logs")))?;
//! let log = logs.stack("demo")?;
//! let mut api0 = log.producer(Origin::service("api", "api-0"));
//! api0.send_bytes(orco_runtime::Source::Stdout, 0, b"INFO listening".to_vec(), false);
//!
//! let mut follow = logs.follow("demo", Filter::default())?;
//! assert_eq!(follow.history[0].msg, "INFO listening");
//! api0.send_bytes(orco_runtime::Source::Stderr, 0, br#"{"level":"warn","msg":"slow"}"#.to_vec(), false);
//! match follow.live.blocking_recv() {
//!     Some(Delivery::Record(r)) => assert_eq!((r.seq, r.msg.as_str()), (2, "slow")),
//!     other => panic!("{other:?}"),
//! }
//! logs.shutdown();
//! # Ok(())
//! # }
//! ```

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

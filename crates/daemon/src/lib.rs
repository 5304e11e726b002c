//! `orco daemon`: the data dir and its lock, the event store, the API on the unix socket
//! (and optionally TCP with a token), and the engine, in one process.
//!
//! - [`daemon`]: [`Daemon`], start-up, serving and graceful shutdown.
//! - [`engine`]: [`start_engine`](engine::start_engine), the one place the control loop
//!   starts (with the node keeper and the logs).
//! - [`journal`]: [`StoreJournal`](journal::StoreJournal), the engine's journal over the store.
//! - [`output`]: [`LogSink`](output::LogSink), instances' output into the structured logs.
//! - `pulls`: image pull progress as `InstancePulling` events.
//! - [`config`]: [`Config`], the daemon's settings and their defaults.
//! - [`member`]: `orco agent`, one node of a cluster ([`run_agent`](member::run_agent)).
//! - [`lock`]: the exclusive lock on the data dir.
//! - [`listen`]: the socket (0600) and the token-checked TCP listener.
//! - [`serve`]: serving a listener within its connection cap and head deadline.
//! - [`error`]: the [`DaemonError`] type.

pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod journal;
pub mod listen;
pub mod lock;
pub mod member;
pub mod output;
mod pulls;
pub mod serve;

pub use config::{Config, ServerOptions};
pub use daemon::Daemon;
pub use error::DaemonError;

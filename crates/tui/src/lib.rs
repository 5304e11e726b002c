//! The terminal UI: live status, logs and actions on a stack, as a client of the API.
//!
//! The state and its update are pure; IO stays at the edges:
//!
//! - [`model`]: [`Model`], [`Msg`] and [`Command`]: a message (a key, a snapshot, an event,
//!   a log line, a tick) updates the model and yields the commands to carry out.
//! - [`view`]: draws the model into a ratatui frame (tested with `TestBackend`).
//! - [`graph`]: dependencies from the applied stack, why a workload is blocked, the
//!   dependency graph as lines.
//! - [`logs`]: log lines, the bounded buffer, filters, and the [`LogSource`] seam.
//! - [`feed`]: the API side: the first snapshot, the event watch, re-reading only the
//!   workloads events touch, actions, resource use.
//! - [`terminal`]: raw mode, alternate screen and mouse capture, restored on drop.
//! - [`app`]: [`run`], the event loop joining them.
//! - [`error`]: [`TuiError`], why the TUI could not start or stopped.

pub mod app;
pub mod error;
pub mod feed;
pub mod graph;
pub mod logs;
pub mod model;
pub mod terminal;
pub mod view;

pub use app::{Options, run};
pub use error::TuiError;
pub use logs::{ApiLogs, LogLine, LogSource, NoLogs};
pub use model::{Command, Model, Msg};

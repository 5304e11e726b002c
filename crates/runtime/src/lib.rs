//! Runtimes run instances: the [`Runtime`] trait, the process runtime and the node keeper.
//!
//! - [`runtime`]: the `Runtime` trait and what it answers ([`Started`], [`Stopped`],
//!   [`InstanceInfo`], [`RuntimeEvent`]).
//! - [`launch`]: what to start ([`Launch`]): argv, complete environment, workdir, and for a
//!   container its image, ports and volumes ([`Container`]).
//! - [`dotenv`]: env files.
//! - [`output`]: line splitting and the output log's record format ([`OutputLine`]).
//! - [`status`]: [`ExitStatus`] and signal names.
//! - [`own_log`]: the keeper's and the daemon's own log files kept under a size.
//! - [`keeper`]: the node keeper process that owns instances across engine restarts
//!   ([`keeper::run`]).
//! - [`protocol`]: the keeper's wire protocol.
//! - [`client`]: [`ProcessRuntime`], the `Runtime` backed by the keeper.
//! - [`error`]: the [`RuntimeError`] type.

pub mod client;
pub mod dotenv;
pub mod error;
pub mod keeper;
pub mod launch;
pub mod output;
pub mod own_log;
pub mod protocol;
pub mod runtime;
pub mod status;

pub use client::ProcessRuntime;
pub use error::{ContainerError, RuntimeError};
pub use launch::{Container, Launch, Volume};
pub use nix::sys::signal::Signal;
pub use output::{OutputLine, Source};
pub use runtime::{Exit, InstanceInfo, Runtime, RuntimeEvent, Started, Stopped};
pub use status::{ExitStatus, parse_signal};

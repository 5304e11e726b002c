//! Health probes: http, tcp, cmd and log checks, combined by an expression, counted with
//! thresholds and a grace period. Nothing here depends on the store.
//!
//! - [`decision`]: the pure rules ([`Tracker`]: thresholds, grace, next delay; [`ready`]).
//! - [`check`]: one attempt of each kind ([`HttpCheck`], [`check::tcp`], [`check::cmd`]).
//! - [`log`]: the log probe's matcher ([`LogMatcher`]).
//! - [`prober`]: runs an instance's probes and reports changes ([`Prober`], [`HealthReport`]).
//! - [`metrics`]: probe run times by kind, for the daemon's `/metrics`.
//! - [`error`]: the [`ProbeError`] type.

pub mod check;
pub mod decision;
pub mod error;
pub mod log;
pub mod metrics;
pub mod prober;

pub use check::{Context, HttpCheck, Outcome};
pub use decision::{Settings, Status, Tracker, ready};
pub use error::ProbeError;
pub use log::LogMatcher;
pub use prober::{Exec, HealthReport, ProbeState, Prober};

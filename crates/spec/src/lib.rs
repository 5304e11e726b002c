//! The stack file: its model, loader, validation and JSON Schema (DESIGN.md §8).
//!
//! - [`model`]: the types every part of orco shares, with their defaults.
//! - [`duration`], [`expr`]: durations (`1m30s`) and probe expressions (`http || log`).
//! - [`resources`]: `resources`, `placement` and `onDisconnect` (cores, memory sizes,
//!   tolerations).
//! - [`dotenv`]: env files (`envFromFile`), read at validation and when an instance starts.
//! - [`secret`]: a secret's value read from its source (`{file: PATH}`, `{env: VAR}`).

pub mod duration;
pub mod expr;
pub mod model;
pub mod resources;

pub use duration::Duration;
pub use expr::Expr;
pub use model::*;
pub mod diag;
pub mod dotenv;
pub mod limits;
pub mod load;
pub mod node;

pub use load::{Loaded, did_you_mean, graph, load_file, load_jobs_file, load_str, load_submitted};
pub mod schema;
pub mod secret;

//! The docker runtime: orco instances as Docker containers, and a router that runs each
//! instance on the process or the docker runtime.
//!
//! - [`runtime`]: [`DockerRuntime`], the `Runtime` trait over the Docker Engine API
//!   (bollard, version negotiated: Debian's engine speaks API 1.41).
//! - [`config`]: a `Launch` as the engine's container description (pure).
//! - `logs`: container logs cut into orco output records with exact offsets.
//! - [`names`]: container, network and label names.
//! - [`pull`]: image pull progress ([`PullProgress`]).
//! - [`router`]: [`Router`], one `Runtime` over a process runtime and a docker runtime.
//! - [`error`]: the [`DockerError`] type.

pub mod config;
pub mod error;
mod logs;
pub mod names;
pub mod pull;
pub mod router;
pub mod runtime;

pub use error::DockerError;
pub use pull::{PullProgress, PullStage};
pub use router::Router;
pub use runtime::{DockerOptions, DockerRuntime, local_image_exists};

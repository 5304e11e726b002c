//! orco's REST API under `/api/v1`: writes append validated desired-state events to the
//! store and answer once they are on disk; reads answer from the store's state at any moment.
//!
//! The API never calls the engine: the engine watches the same store.
//!
//! - [`mod@router`] ([`router()`](router::router)): every route and the layers around them
//!   (version exchange, JSON errors, body limit, latency).
//! - [`access`]: the role each route needs, the caller a request runs as, and the checks
//!   of the unix socket ([`access::on_socket`]) and the TCP listener
//!   ([`access::on_network`]); [`throttle`]: failed token attempts per client address.
//! - [`context`]: [`ApiContext`], what handlers share (store, node, metrics, write lock).
//! - [`routes`]: the handlers, one module per resource (stacks, workloads, instances, nodes,
//!   events, history, cluster, API tokens).
//! - [`model`] (from `orco-wire`): request and response bodies; [`views`]: computing them
//!   from a `State`.
//! - [`error`]: [`ApiError`] and the JSON error body; [`extract`]: extractors that reject
//!   with it.
//! - [`at`]: the `?at=` moment; [`version`] (from `orco-wire`): the `Orco-Version` exchange.
//! - [`check`]: validating a submitted stack by the stack file's rules.
//! - [`limits`]: the per-daemon bounds a write is checked against (replicas, instances).
//! - [`paths`] (from `orco-wire`): the default data dir and socket.
//! - [`metrics`]: `/metrics`; [`node`]: the local node's capacity; [`openapi`]: the document.

pub mod access;
pub mod at;
pub mod check;
pub mod context;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod openapi;
pub mod router;
pub mod routes;
#[cfg(test)]
mod testing;
pub mod throttle;
pub mod views;

/// The wire types this API serves, from `orco-wire` (shared with its clients).
pub use orco_wire::{model, paths, version};

pub use context::{ApiContext, ClusterContext};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use node::LocalNode;
pub use router::router;
pub use version::{API_PREFIX, VERSION, VERSION_HEADER};

pub use orco_wire::STREAM_KEEP_ALIVE;

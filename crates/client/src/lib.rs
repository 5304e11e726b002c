//! The API client the CLI uses: HTTP/1.1 over the daemon's unix socket or TCP.
//!
//! Built on hyper's connection-level client rather than reqwest: the unix socket is the
//! default transport, every request is one short connection, and there is no TLS yet (TCP is
//! token-authenticated on a trusted network; TLS comes with the security work), so neither a
//! connection pool nor a TLS stack would earn their build time.
//!
//! - [`host`]: [`Host`], the daemon's address (`unix:///path`, `tcp://addr`).
//! - [`client`]: [`Client`], typed calls for every route, version exchange, bearer token.
//! - [`sse`]: reading the `/api/v1/events` stream.
//! - [`lines`]: reading the `/api/v1/logs` stream (NDJSON).
//! - [`error`]: [`ClientError`]; [`ClientError::Unreachable`] is what the CLI exits 3 on.

pub mod client;
pub mod error;
pub mod host;
pub mod lines;
pub mod sse;
mod stream;

pub use client::{Client, DEFAULT_TIMEOUT, read_token, segment};
pub use error::ClientError;
pub use host::Host;
pub use lines::LineReader;

//! The API client the CLI uses: HTTP/1.1 over the daemon's unix socket or over TLS on TCP.
//!
//! Built on hyper's connection-level client rather than reqwest: the unix socket is the
//! default transport and every request is one short connection, so a connection pool would
//! not earn its build time. TLS is rustls (through `orco-pki`), trusting the daemon's CA
//! file or its pin ([`Trust`]).
//!
//! - [`host`]: [`Host`], the daemon's address (`unix:///path`, `tcp://addr`).
//! - [`client`]: [`Client`], typed calls for every route, version exchange, bearer token.
//! - [`tls`]: [`Trust`], what the client trusts a TLS daemon by, and what a failed handshake
//!   means.
//! - [`sse`]: reading the `/api/v1/events` stream.
//! - [`lines`]: reading the `/api/v1/logs` stream (NDJSON).
//! - [`error`]: [`ClientError`]; [`ClientError::Unreachable`] is what the CLI exits 3 on.

pub mod client;
pub mod error;
pub mod host;
pub mod lines;
pub mod sse;
mod stream;
pub mod tls;

pub use client::{Client, DEFAULT_TIMEOUT, read_token, segment};
pub use error::ClientError;
pub use host::Host;
pub use lines::LineReader;
pub use orco_pki::Pin;
pub use tls::Trust;

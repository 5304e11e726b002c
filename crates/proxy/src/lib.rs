//! The built-in TCP proxy: one published address in front of a service's instances.
//!
//! A [`Proxy`] listens on a published TCP address and sends every new connection, round
//! robin, to one of its *ready* backends (an instance id and the loopback address of that
//! instance's own port), copying bytes both ways until either side closes. Backends can be
//! added, marked ready or unready, drained and removed at any moment while connections flow:
//! a draining backend gets no new connection, and its open ones go on until they close or
//! the drain's deadline passes, when they are cut. A connection that finds no ready backend
//! (or none that accepts within [`CONNECT_TIMEOUT`]) is closed and counted. UDP is never
//! proxied: the type only handles TCP.
//!
//! - `table.rs`: the backend set and the round-robin choice, without IO.
//! - `proxy.rs`: the listener, the per-connection copy, drains and [`Proxy`] itself.
//! - `error.rs`: [`ProxyError`].

mod error;
mod proxy;
mod table;

pub use error::ProxyError;
pub use proxy::{CONNECT_TIMEOUT, Drain, Proxy, Stats};
pub use table::{BackendState, BackendStatus, Desired};

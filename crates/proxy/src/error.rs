//! `ProxyError`: why a proxy could not start.

use std::net::SocketAddr;

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The published address could not be bound.
    #[error("cannot listen on {addr}: {source}; is another process using the port?")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The proxy was started outside a tokio runtime.
    #[error("the proxy needs a tokio runtime: start it from async code running on tokio")]
    NoRuntime,
}

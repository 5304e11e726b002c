//! Serving the API on a listener so that connections cannot exhaust the daemon: a cap on
//! connections open at once (each listener its own, so a flood on TCP leaves the unix socket
//! its room), kept below the open-file limit; a deadline for a request's head, which is also
//! how long a kept-alive connection may stay idle; and `RLIMIT_NOFILE` raised to its hard
//! limit at start.
//!
//! On the TCP listener every connection is TLS ([`TlsListener`]): its handshake runs in the
//! connection's own task within the head deadline, and each request it carries gets the
//! [`Peer`] (the node name of a verified client certificate, if one was presented) and the
//! client's address in its extensions.
//!
//! A connection over the cap is accepted and closed at once (so the listen backlog never
//! fills with connections nobody will serve). Streams (event watches, log follows) are not
//! cut: the head deadline applies only while a request's head is awaited. When the daemon
//! stops, a connection that is following a stream is closed at once (a follow never ends by
//! itself), while every other request in flight is let finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use orco_pki::Peer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tower::ServiceExt;

/// Most connections one listener serves at once, whatever the open-file limit.
pub const MAX_CONNECTIONS: usize = 1_024;

/// Open files kept free of connections, as a share of the limit: the store, the keeper's
/// socket, log files and instances' pipes need them (a quarter, at least 64).
fn reserved(limit: usize) -> usize {
    (limit / 4).max(64)
}

/// How long a unix-socket client may take to send a request's head, and how long a
/// kept-alive connection may stay idle between requests.
pub const UNIX_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The same on TCP, shorter: a TCP client is a stranger until its token is checked (a
/// request without the right token is answered 401 and its connection closed).
pub const TCP_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; the limit in force.
pub fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// How many connections one of `listeners` may hold now: half of what the open-file limit
/// leaves after the reserve, at most [`MAX_CONNECTIONS`], at least 4. Read at every accept,
/// so a limit lowered while the daemon runs (`prlimit`) is honoured.
pub fn connection_cap(listeners: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX)
    });
    cap_for(limit, listeners)
}

/// The cap of [`connection_cap`] for an open-file `limit`.
fn cap_for(limit: usize, listeners: usize) -> usize {
    let free = limit.saturating_sub(reserved(limit));
    (free / listeners.max(1)).clamp(4, MAX_CONNECTIONS)
}

/// Who is at the other end of a connection: the address it came from (TCP) and, on TLS, the
/// [`Peer`] of its client certificate. Each of its requests carries both in its extensions
/// (the address as [`orco_api::access::ClientAddress`]).
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// The client's address.
    pub address: Option<std::net::SocketAddr>,
    /// Its certificate's node, on TLS.
    pub peer: Option<Peer>,
}

/// What a listener gives: a connection, or the error of one accept; and how an accepted
/// connection is made ready to serve (TLS: its handshake, which runs in the connection's own
/// task, within the head deadline, never in the accept loop).
pub trait Accept: Send + 'static {
    /// A connection as accepted.
    type Raw: Send + 'static;
    /// The connection, ready to serve.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Raw>> + Send;
    /// Makes an accepted connection ready, and says who is at the other end (inserted into
    /// each of its requests' extensions).
    fn open(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Remote)>> + Send + 'static;
}

impl Accept for tokio::net::UnixListener {
    type Raw = tokio::net::UnixStream;
    type Io = tokio::net::UnixStream;
    async fn accept(&self) -> std::io::Result<Self::Raw> {
        tokio::net::UnixListener::accept(self).await.map(|(s, _)| s)
    }
    fn open(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Remote)>> + Send + 'static {
        std::future::ready(Ok((raw, Remote::default())))
    }
}

impl Accept for tokio::net::TcpListener {
    type Raw = tokio::net::TcpStream;
    type Io = tokio::net::TcpStream;
    async fn accept(&self) -> std::io::Result<Self::Raw> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
    fn open(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Remote)>> + Send + 'static {
        let remote = Remote {
            address: raw.peer_addr().ok(),
            peer: None,
        };
        std::future::ready(Ok((raw, remote)))
    }
}

/// A TCP listener that serves TLS only: each connection's handshake, then HTTP inside it. A
/// client that does not speak TLS fails the handshake and gets no HTTP answer.
pub struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Serves TLS by `config` on `tcp`.
    pub fn new(
        tcp: tokio::net::TcpListener,
        config: Arc<orco_pki::rustls::ServerConfig>,
    ) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        }
    }
}

impl Accept for TlsListener {
    type Raw = tokio::net::TcpStream;
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    async fn accept(&self) -> std::io::Result<Self::Raw> {
        Accept::accept(&self.tcp).await
    }
    fn open(
        &self,
        raw: Self::Raw,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Remote)>> + Send + 'static {
        let acceptor = self.acceptor.clone();
        async move {
            let address = raw.peer_addr().ok();
            let tls = acceptor.accept(raw).await?;
            let peer = orco_pki::peer_of(tls.get_ref().1);
            Ok((
                tls,
                Remote {
                    address,
                    peer: Some(peer),
                },
            ))
        }
    }
}

/// One listener's settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request's head may take (and a connection may idle).
    pub head_timeout: Duration,
    /// How many listeners share the open-file budget.
    pub listeners: usize,
}

/// Counts a listener's open connections; a guard gives its place back on drop.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `router` on `listener` until `stopped` turns true, then lets open connections
/// finish (the caller bounds how long).
pub async fn serve<L: Accept>(
    listener: L,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let refused = AtomicUsize::new(0);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192));
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let raw = match accepted {
            Ok(raw) => raw,
            Err(e) => {
                // Out of file descriptors or a connection reset before it was accepted: wait
                // a moment rather than spin, and go on.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let cap = connection_cap(limits.listeners);
        if open.load(Ordering::Acquire) >= cap {
            // Closed at once: the client sees the connection end, not a hang.
            drop(raw);
            if refused.fetch_add(1, Ordering::Relaxed).is_multiple_of(100) {
                tracing::warn!(
                    "{cap} connections are open on one listener (the cap for this open-file limit): closing new ones until some end"
                );
            }
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let place = Open(open.clone());
        let opening = listener.open(raw);
        let router = router.clone();
        let builder = builder.clone();
        let mut stop = stopped.clone();
        let head_timeout = limits.head_timeout;
        tokio::spawn(async move {
            // The TLS handshake counts against the head deadline, and a stop ends it.
            let opened = tokio::select! {
                opened = tokio::time::timeout(head_timeout, opening) => opened,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            let (io, remote) = match opened {
                Ok(Ok(opened)) => opened,
                Ok(Err(e)) => {
                    tracing::debug!("a connection failed before its first request: {e}");
                    return;
                }
                Err(_) => return,
            };
            let following = Arc::new(AtomicBool::new(false));
            let service = hyper::service::service_fn({
                let following = following.clone();
                move |mut request: hyper::Request<Incoming>| {
                    let router = router.clone();
                    let following = following.clone();
                    let follow = follows(request.uri().query());
                    if let Some(peer) = &remote.peer {
                        request.extensions_mut().insert(peer.clone());
                    }
                    if let Some(address) = remote.address {
                        request
                            .extensions_mut()
                            .insert(orco_api::access::ClientAddress(address));
                    }
                    async move {
                        let response = router.oneshot(request).await;
                        if let Ok(response) = &response
                            && endless(response.headers(), follow)
                        {
                            following.store(true, Ordering::Release);
                        }
                        response
                    }
                }
            });
            // With upgrades: a node's stream leaves HTTP for the node interface.
            let connection = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    _ = stop.wait_for(|stop| *stop), if !stopping => {
                        stopping = true;
                        // A stream that never ends by itself is cut; anything else finishes
                        // the request under way and closes.
                        if following.load(Ordering::Acquire) {
                            break;
                        }
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(place);
        });
    }
    // Requests under way finish (the caller bounds how long).
    while open.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `follow` parameter of a request's query, if given.
fn follows(query: Option<&str>) -> Option<bool> {
    query?
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some(("follow", value)) => Some(matches!(value, "true" | "1")),
            _ => None,
        })
}

/// Whether a response is a stream that never ends by itself: an event stream unless asked
/// not to follow, NDJSON (log records) when asked to follow.
fn endless(headers: &hyper::HeaderMap, follow: Option<bool>) -> bool {
    let kind = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("text/event-stream") {
        follow.unwrap_or(true)
    } else if kind.starts_with("application/x-ndjson") {
        follow.unwrap_or(false)
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_followed_stream_counts_as_endless() {
        let headers = |kind: &'static str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(kind),
            );
            h
        };
        let events = headers("text/event-stream");
        let ndjson = headers("application/x-ndjson");
        let json = headers("application/json");
        assert!(endless(&events, follows(None)));
        assert!(endless(&events, follows(Some("after=3&follow=true"))));
        assert!(!endless(&events, follows(Some("follow=false"))));
        assert!(endless(&ndjson, follows(Some("stack=a&follow=true"))));
        assert!(!endless(&ndjson, follows(Some("stack=a"))));
        assert!(!endless(&json, follows(Some("follow=true"))));
    }

    #[test]
    fn the_connection_cap_leaves_a_reserve_and_splits_the_rest_between_listeners() {
        // 256 files: 64 kept free, 96 for each of two listeners.
        assert_eq!(cap_for(256, 2), 96);
        assert_eq!(cap_for(256, 1), 192);
        // 1,024 files: 256 kept free.
        assert_eq!(cap_for(1024, 2), 384);
        // A huge limit is still capped; a tiny one still serves a few.
        assert_eq!(cap_for(1 << 20, 2), MAX_CONNECTIONS);
        assert_eq!(cap_for(16, 2), 4);
    }
}

//! [`Proxy`]: the listener, one task per connection copying bytes both ways, and drains.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ProxyError;
use crate::table::{BackendStatus, Desired, Shared, Table};

/// How long the accept loop pauses after a failed accept (out of file descriptors, say),
/// so that a persistent failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long a backend has to accept a connection before the next one is tried: a backend on
/// another node that was cut off answers nothing at all.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Counters over the proxy's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted on the published address.
    pub accepted: u64,
    /// Connections closed at once because no ready backend accepted them.
    pub refused: u64,
}

#[derive(Debug)]
struct Inner {
    table: Mutex<Table>,
    accepted: AtomicU64,
    refused: AtomicU64,
    shutdown: watch::Receiver<bool>,
    runtime: Handle,
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent through every method, so a panic elsewhere while the
        // lock was held leaves nothing half done.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A TCP proxy on one published address. Dropping it (or [`Proxy::stop`]) stops the
/// listener and cuts every connection.
#[derive(Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

/// A drain under way; it goes on whether or not it is awaited.
#[derive(Debug)]
pub struct Drain {
    id: String,
    task: JoinHandle<usize>,
}

impl Drain {
    /// The instance id being drained.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits until the backend has no open connection: every one closed by itself, or the
    /// deadline passed and the rest were cut. How many were cut.
    pub async fn wait(self) -> usize {
        self.task.await.unwrap_or(0)
    }
}

impl Proxy {
    /// Listens on `addr` (port 0 picks a free port; see [`Proxy::local_addr`]) with no
    /// backend yet: until one is ready, connections are accepted and closed.
    pub async fn bind(addr: SocketAddr) -> Result<Proxy, ProxyError> {
        Handle::try_current().map_err(|_| ProxyError::NoRuntime)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Bind { addr, source })?;
        Proxy::serve(listener, addr)
    }

    /// Serves on a listener bound elsewhere (one a node keeper held across a restart, say).
    /// Outside a tokio runtime it fails with [`ProxyError::NoRuntime`].
    pub fn from_std(listener: std::net::TcpListener) -> Result<Proxy, ProxyError> {
        Handle::try_current().map_err(|_| ProxyError::NoRuntime)?;
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let addr = listener.local_addr().unwrap_or(unknown);
        let listener = listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map_err(|source| ProxyError::Bind { addr, source })?;
        Proxy::serve(listener, addr)
    }

    fn serve(listener: TcpListener, addr: SocketAddr) -> Result<Proxy, ProxyError> {
        let runtime = Handle::try_current().map_err(|_| ProxyError::NoRuntime)?;
        let local = listener
            .local_addr()
            .map_err(|source| ProxyError::Bind { addr, source })?;
        let (shutdown, stop) = watch::channel(false);
        let inner = Arc::new(Inner {
            table: Mutex::new(Table::default()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            shutdown: stop,
            runtime: runtime.clone(),
        });
        let accept = runtime.spawn(accept_loop(Arc::clone(&inner), listener));
        Ok(Proxy {
            inner,
            addr: local,
            shutdown,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds backend `id` at `addr`, unready: it gets connections once [`Proxy::set_ready`]
    /// says so. Adding a known id at the same address changes nothing; at another address
    /// the old backend's connections are cut (drain it first to let them finish).
    pub fn add(&self, id: &str, addr: SocketAddr) {
        let old = self.inner.table().add(id, addr, false);
        if let Some(old) = old {
            self.spawn_drain(id, old, Duration::ZERO);
        }
    }

    /// Marks a backend ready (sent new connections) or unready (sent none; its open
    /// connections go on). `false` when no live backend has that id.
    pub fn set_ready(&self, id: &str, ready: bool) -> bool {
        self.inner.table().set_ready(id, ready)
    }

    /// Drains backend `id`: no new connection from now on; its open ones go on until they
    /// close or `grace` passes, when they are cut; then it is forgotten. `None` when no
    /// live backend has that id.
    pub fn drain(&self, id: &str, grace: Duration) -> Option<Drain> {
        let shared = self.inner.table().take(id)?;
        Some(self.spawn_drain(id, shared, grace))
    }

    /// Removes backend `id` and cuts its connections now. `false` when it was not live.
    pub fn remove(&self, id: &str) -> bool {
        self.drain(id, Duration::ZERO).is_some()
    }

    /// Makes the live backends exactly `backends`: new ids are added, known ones take the
    /// given readiness (one whose address changed is replaced and the old one drained), and
    /// every other live backend is drained with `grace`. The drains started.
    pub fn update(&self, backends: &[Desired], grace: Duration) -> Vec<Drain> {
        let mut taken = Vec::new();
        {
            let mut table = self.inner.table();
            for id in table.others(backends) {
                if let Some(shared) = table.take(&id) {
                    taken.push((id, shared));
                }
            }
            for d in backends {
                if let Some(old) = table.add(&d.id, d.addr, d.ready) {
                    taken.push((d.id.clone(), old));
                }
            }
        }
        taken
            .into_iter()
            .map(|(id, shared)| self.spawn_drain(&id, shared, grace))
            .collect()
    }

    /// Connections open now to the backends with this id (live or draining).
    pub fn connections(&self, id: &str) -> usize {
        self.backends()
            .iter()
            .filter(|b| b.id == id)
            .map(|b| b.open)
            .sum()
    }

    /// Every backend: live ones by id, then those draining.
    pub fn backends(&self) -> Vec<BackendStatus> {
        self.inner.table().status()
    }

    /// Connections accepted and refused so far.
    pub fn stats(&self) -> Stats {
        Stats {
            accepted: self.inner.accepted.load(Ordering::SeqCst),
            refused: self.inner.refused.load(Ordering::SeqCst),
        }
    }

    /// Stops listening (the port is free when this returns) and cuts every connection.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for shared in self.inner.table().all() {
            shared.cut();
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    fn spawn_drain(&self, id: &str, shared: Arc<Shared>, grace: Duration) -> Drain {
        let inner = Arc::clone(&self.inner);
        let task = self.inner.runtime.spawn(async move {
            let cut = tokio::select! {
                () = shared.idle() => 0,
                () = tokio::time::sleep(grace) => {
                    let open = shared.open();
                    shared.cut();
                    open
                }
            };
            shared.idle().await;
            inner.table().forget(&shared);
            cut
        });
        Drain {
            id: id.to_string(),
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut stop = inner.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    inner.accepted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(Arc::clone(&inner), client));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proxy: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = fired(&mut stop) => return,
        }
    }
}

/// One client connection: to the next ready backend that accepts, then bytes both ways
/// until both sides are done, the backend's drain deadline cuts it, or the proxy stops.
async fn serve(inner: Arc<Inner>, mut client: TcpStream) {
    let _ = client.set_nodelay(true);
    let mut stop = inner.shutdown.clone();
    let mut tried = Vec::new();
    loop {
        let lease = inner.table().pick(&tried);
        let Some(lease) = lease else {
            // No ready backend (or none accepted): close the client's connection.
            inner.refused.fetch_add(1, Ordering::SeqCst);
            return;
        };
        tried.push(lease.addr);
        let mut cut = lease.shared.cut_signal();
        let connected = tokio::select! {
            c = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(lease.addr)) => {
                c.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
            }
            () = fired(&mut cut) => continue,
            () = fired(&mut stop) => return,
        };
        let mut upstream = match connected {
            Ok(upstream) => upstream,
            Err(e) => {
                tracing::debug!(backend = %lease.id, error = %e, "proxy: backend refused");
                continue;
            }
        };
        let _ = upstream.set_nodelay(true);
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            () = fired(&mut cut) => {}
            () = fired(&mut stop) => {}
        }
        return;
    }
}

/// Waits until the switch is on, or its sender is gone (the proxy or backend was dropped).
async fn fired(switch: &mut watch::Receiver<bool>) {
    let _ = switch.wait_for(|on| *on).await;
}

//! The backend set: live backends by instance id, backends being drained, and the
//! round-robin choice among the ready ones. No sockets here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// Where a backend is in its life behind the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendState {
    /// Known but not sent new connections (not ready yet, or its probe fails).
    Unready,
    /// Sent new connections, round robin.
    Ready,
    /// Sent no new connections; its open ones run until they close or the deadline cuts them.
    Draining,
}

/// A backend as [`crate::Proxy::backends`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    /// The instance id it was added under.
    pub id: String,
    /// Where connections go.
    pub addr: SocketAddr,
    /// Its state.
    pub state: BackendState,
    /// Connections open to it now.
    pub open: usize,
}

/// One backend of the set [`crate::Proxy::update`] makes the proxy hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The instance id (`web-0`).
    pub id: String,
    /// The instance's own address (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    /// Whether it may be sent new connections.
    pub ready: bool,
}

/// What the connections of one backend share: their count and the switch that cuts them.
#[derive(Debug)]
pub(crate) struct Shared {
    open: AtomicUsize,
    idle: Notify,
    cut: watch::Sender<bool>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            open: AtomicUsize::new(0),
            idle: Notify::new(),
            cut: watch::Sender::new(false),
        })
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Cuts every open connection (and any that is being set up).
    pub(crate) fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub(crate) fn cut_signal(&self) -> watch::Receiver<bool> {
        self.cut.subscribe()
    }

    /// Waits until no connection is open.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One open connection's share of its backend's count: dropping it closes the count.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) id: String,
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
}

impl Lease {
    fn new(id: &str, addr: SocketAddr, shared: &Arc<Shared>) -> Lease {
        shared.open.fetch_add(1, Ordering::SeqCst);
        Lease {
            id: id.to_string(),
            addr,
            shared: Arc::clone(shared),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.shared.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.idle.notify_waiters();
        }
    }
}

#[derive(Debug)]
struct Live {
    addr: SocketAddr,
    ready: bool,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Draining {
    id: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Live backends by id, backends being drained, and the round-robin position.
#[derive(Debug, Default)]
pub(crate) struct Table {
    live: BTreeMap<String, Live>,
    draining: Vec<Draining>,
    next: usize,
}

impl Table {
    /// Adds a backend (unready) or, when `id` is known at another address, replaces it: the
    /// old one is returned to be drained. An id known at the same address is left as it is.
    pub(crate) fn add(&mut self, id: &str, addr: SocketAddr, ready: bool) -> Option<Arc<Shared>> {
        if let Some(live) = self.live.get_mut(id)
            && live.addr == addr
        {
            live.ready = ready;
            return None;
        }
        let old = self.take(id);
        self.live.insert(
            id.to_string(),
            Live {
                addr,
                ready,
                shared: Shared::new(),
            },
        );
        old
    }

    /// Marks a live backend ready or unready; `false` when `id` is not live.
    pub(crate) fn set_ready(&mut self, id: &str, ready: bool) -> bool {
        match self.live.get_mut(id) {
            Some(live) => {
                live.ready = ready;
                true
            }
            None => false,
        }
    }

    /// Moves a live backend to the draining list; what its connections share, to wait on.
    pub(crate) fn take(&mut self, id: &str) -> Option<Arc<Shared>> {
        let live = self.live.remove(id)?;
        self.draining.push(Draining {
            id: id.to_string(),
            addr: live.addr,
            shared: Arc::clone(&live.shared),
        });
        Some(live.shared)
    }

    /// Forgets a drained backend.
    pub(crate) fn forget(&mut self, shared: &Arc<Shared>) {
        self.draining.retain(|d| !Arc::ptr_eq(&d.shared, shared));
    }

    /// The live ids not in `keep`.
    pub(crate) fn others(&self, keep: &[Desired]) -> Vec<String> {
        self.live
            .keys()
            .filter(|id| !keep.iter().any(|d| &d.id == *id))
            .cloned()
            .collect()
    }

    /// The next ready backend in round-robin order that is not in `tried`, with a lease on
    /// it; `None` when there is none.
    pub(crate) fn pick(&mut self, tried: &[SocketAddr]) -> Option<Lease> {
        let ready: Vec<(&String, &Live)> = self
            .live
            .iter()
            .filter(|(_, l)| l.ready && !tried.contains(&l.addr))
            .collect();
        if ready.is_empty() {
            return None;
        }
        let (id, live) = ready[self.next % ready.len()];
        let lease = Lease::new(id, live.addr, &live.shared);
        self.next = self.next.wrapping_add(1);
        Some(lease)
    }

    /// Every backend, live ones by id, then the draining ones.
    pub(crate) fn status(&self) -> Vec<BackendStatus> {
        let live = self.live.iter().map(|(id, l)| BackendStatus {
            id: id.clone(),
            addr: l.addr,
            state: if l.ready {
                BackendState::Ready
            } else {
                BackendState::Unready
            },
            open: l.shared.open(),
        });
        let draining = self.draining.iter().map(|d| BackendStatus {
            id: d.id.clone(),
            addr: d.addr,
            state: BackendState::Draining,
            open: d.shared.open(),
        });
        live.chain(draining).collect()
    }

    /// Every backend's shared part, to cut them all.
    pub(crate) fn all(&self) -> Vec<Arc<Shared>> {
        self.live
            .values()
            .map(|l| Arc::clone(&l.shared))
            .chain(self.draining.iter().map(|d| Arc::clone(&d.shared)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn picks(table: &mut Table, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| table.pick(&[]).map(|l| l.id.clone()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn ready_backends_are_picked_in_turn() {
        let mut t = Table::default();
        t.add("a", addr(1), true);
        t.add("b", addr(2), true);
        t.add("c", addr(3), false);
        assert_eq!(picks(&mut t, 4), ["a", "b", "a", "b"]);
    }

    #[test]
    fn no_ready_backend_picks_nothing() {
        let mut t = Table::default();
        assert!(t.pick(&[]).is_none());
        t.add("a", addr(1), false);
        assert!(t.pick(&[]).is_none());
    }

    #[test]
    fn a_tried_address_is_skipped() {
        let mut t = Table::default();
        t.add("a", addr(1), true);
        t.add("b", addr(2), true);
        assert_eq!(t.pick(&[addr(1)]).unwrap().id, "b");
        assert!(t.pick(&[addr(1), addr(2)]).is_none());
    }

    #[test]
    fn a_lease_counts_an_open_connection_until_dropped() {
        let mut t = Table::default();
        t.add("a", addr(1), true);
        let lease = t.pick(&[]).unwrap();
        assert_eq!(t.status()[0].open, 1);
        drop(lease);
        assert_eq!(t.status()[0].open, 0);
    }

    #[test]
    fn a_taken_backend_is_draining_and_never_picked() {
        let mut t = Table::default();
        t.add("a", addr(1), true);
        let shared = t.take("a").unwrap();
        assert!(t.pick(&[]).is_none());
        assert_eq!(t.status()[0].state, BackendState::Draining);
        t.forget(&shared);
        assert!(t.status().is_empty());
    }

    #[test]
    fn an_id_added_again_at_a_new_address_drains_the_old_one() {
        let mut t = Table::default();
        t.add("a", addr(1), true);
        assert!(t.add("a", addr(1), true).is_none());
        assert!(t.add("a", addr(9), true).is_some());
        let states: Vec<(SocketAddr, BackendState)> =
            t.status().iter().map(|s| (s.addr, s.state)).collect();
        assert_eq!(
            states,
            [
                (addr(9), BackendState::Ready),
                (addr(1), BackendState::Draining)
            ]
        );
    }
}

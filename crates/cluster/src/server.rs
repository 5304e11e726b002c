//! The server's side of the node interface: one stream per node (its report, then events
//! up and renewals; its assignments, acknowledgements and leases down), and the watcher that
//! declares nodes unreachable and lost when their leases lapse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orco_control::{Cluster, Handle};
use orco_interface::{AssignmentSet, Down, Lease, Position, Up};
use orco_state::{EventKind, NodeStatus};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ClusterError;
use crate::frame::{Reader, write};
use crate::lease::{Lapse, Leases};

/// The lease and grace of DESIGN.md §11's defaults.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);
/// See [`DEFAULT_LEASE`].
pub const DEFAULT_GRACE: Duration = Duration::from_secs(1);

/// What the server knows of its nodes' streams.
#[derive(Debug)]
pub struct Streams {
    handle: Handle,
    cluster: Cluster,
    leases: Mutex<Leases>,
    /// The current stream of each node: a newer stream of a node ends the
    /// older one at the older one's next renewal.
    current: Mutex<HashMap<String, u64>>,
    next_stream: std::sync::atomic::AtomicU64,
    woken: Arc<tokio::sync::Notify>,
    /// Set when the server stops: every stream ends at once.
    closed: tokio::sync::watch::Sender<bool>,
}

impl Streams {
    /// Streams into the engine of `handle`, with leases of `lease` and a grace of `grace`.
    /// Nodes the state knows as ready or unreachable are given a lease from now: a node that
    /// does not come back to a restarted server is lost after the lease and the grace.
    pub fn new(handle: Handle, cluster: Cluster, lease: Duration, grace: Duration) -> Arc<Streams> {
        let mut leases = Leases::new(lease, grace);
        let now = Instant::now();
        for (name, node) in &handle.state().nodes {
            if matches!(node.status, NodeStatus::Ready | NodeStatus::Unreachable) {
                leases.track(name, now);
            }
        }
        let streams = Arc::new(Streams {
            handle,
            cluster,
            leases: Mutex::new(leases),
            current: Mutex::new(HashMap::new()),
            next_stream: std::sync::atomic::AtomicU64::new(1),
            woken: Arc::new(tokio::sync::Notify::new()),
            closed: tokio::sync::watch::channel(false).0,
        });
        tokio::spawn(watch_leases(
            Arc::downgrade(&streams),
            streams.woken.clone(),
        ));
        streams
    }

    /// Ends every stream (the server stops): the nodes reconnect to the next server, or to
    /// this one once it is back.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_current(&self, node: &str, stream: u64) -> bool {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            == Some(&stream)
    }

    /// Serves the stream of `node` (the name its client certificate proves, of a node not
    /// removed: the API's route checks both) until it ends.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self: &Arc<Streams>,
        io: S,
        node: &str,
    ) -> Result<(), ClusterError> {
        let (read, mut out) = tokio::io::split(io);
        let mut reader = Reader::new(read);
        let report = match reader.next::<Up>().await? {
            Some(Up::Report(report)) => report,
            Some(_) => {
                return Err(ClusterError::Protocol(
                    "a node's stream opens with its report".into(),
                ));
            }
            None => return Ok(()),
        };
        if report.node != node {
            return Err(ClusterError::Refused(format!(
                "the stream reports node {:?} but its certificate is node {node:?}",
                report.node
            )));
        }
        let stream = self
            .next_stream
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.to_string(), stream);
        let revision = self
            .handle
            .submit(vec![EventKind::NodeJoined {
                node: node.to_string(),
                address: report.address.clone(),
                capacity: report.capacity,
                allocatable: report.allocatable,
                labels: report.labels.clone(),
                taints: report.taints.clone(),
            }])
            .await?;
        let state = self.handle.wait_for(|s| s.revision >= revision).await?;
        self.leases().renew(node, Instant::now());
        self.woken.notify_one();
        let through = state.nodes.get(node).map_or(0, |n| n.events_through);
        write(
            &mut out,
            &Down::Ack(orco_interface::Ack {
                through,
                revision: state.revision,
            }),
        )
        .await?;
        tracing::info!(node, address = %report.address, "node stream open");
        let mut sets = self.cluster.assignments();
        let mut closed = self.closed.subscribe();
        let mut sent: Option<AssignmentSet> = None;
        let lease_ms = u64::try_from(self.leases().lease().as_millis()).unwrap_or(u64::MAX);
        loop {
            let next = {
                let all = sets.borrow_and_update().clone();
                all.get(node).cloned()
            };
            if let Some(next) = next {
                let message = match &sent {
                    Some(old) if old.at.epoch == next.at.epoch && old != &next => {
                        Some(Down::Changes(old.changes_to(&next)))
                    }
                    Some(old) if old == &next => None,
                    _ => Some(Down::Assignments(next.clone())),
                };
                if let Some(message) = message {
                    write(&mut out, &message).await?;
                    sent = Some(next);
                }
            } else if sent.is_none() {
                // Known to no plan yet: an empty set at the node's epoch, so that a returning
                // node drops what it no longer owns.
                let epoch = self.handle.state().nodes.get(node).map_or(0, |n| n.epoch);
                let empty = AssignmentSet {
                    at: Position {
                        epoch,
                        revision: self.handle.state().revision,
                    },
                    ..AssignmentSet::default()
                };
                write(&mut out, &Down::Assignments(empty.clone())).await?;
                sent = Some(empty);
            }
            tokio::select! {
                _ = closed.changed() => return Ok(()),
                changed = sets.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                up = reader.next::<Up>() => match up? {
                    None => return Ok(()),
                    Some(Up::Renew(renew)) => {
                        if !self.is_current(node, stream) {
                            return Err(ClusterError::Refused(format!(
                                "a newer stream of node {node} took over"
                            )));
                        }
                        let status = self.handle.state().nodes.get(node).map(|n| n.status);
                        if matches!(status, Some(NodeStatus::Lost | NodeStatus::Left)) {
                            // Declared lost meanwhile: it comes back through a new stream,
                            // at its new epoch, after dropping what it no longer owns.
                            return Err(ClusterError::Refused(format!(
                                "node {node} was declared lost: reconnect"
                            )));
                        }
                        self.leases().renew(node, Instant::now());
                        write(&mut out, &Down::Lease(Lease { sent_ms: renew.sent_ms, lease_ms })).await?;
                    }
                    Some(Up::Events(batch)) => {
                        if batch.node != node {
                            return Err(ClusterError::Refused(format!(
                                "node {node} sent events of node {:?}", batch.node
                            )));
                        }
                        let ack = self.handle.report(batch).await?;
                        write(&mut out, &Down::Ack(ack)).await?;
                    }
                    Some(Up::Report(_)) => {
                        return Err(ClusterError::Protocol("a second report on one stream".into()));
                    }
                },
            }
        }
    }
}

/// Declares nodes unreachable, then lost, as their leases lapse.
async fn watch_leases(streams: std::sync::Weak<Streams>, woken: Arc<tokio::sync::Notify>) {
    loop {
        let Some(s) = streams.upgrade() else {
            return;
        };
        let due = s.leases().due(Instant::now());
        for (node, lapse) in due {
            let lost = lapse == Lapse::Lost;
            if lost {
                tracing::warn!(node, "node lost: its lease lapsed beyond the grace");
            } else {
                tracing::warn!(node, "node unreachable: its lease lapsed");
            }
            if let Err(e) = s.handle.lapsed(&node, lost).await {
                tracing::warn!(node, "cannot record the node's lapse: {e}");
                return;
            }
        }
        let next = s.leases().next_due();
        drop(s);
        let woken = woken.notified();
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(
                tokio::time::Instant::from_std(at) + Duration::from_millis(5),
            ),
            None => tokio::time::sleep(Duration::from_secs(1)),
        };
        tokio::select! {
            () = sleep => {}
            () = woken => {}
        }
    }
}

//! The server's side of the node interface: one stream per node (its report, then events
//! up and renewals; its assignments, acknowledgements and leases down), and the watcher that
//! declares nodes unreachable and lost when their leases lapse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orco_control::{Cluster, Handle};
use orco_interface::{
    AssignmentSet, Down, GossipOffer, Lease, LogChunk, LogRequest, LogsCancel, NodeReport,
    Position, Up,
};
use orco_state::{EventKind, NodeStatus};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::ClusterError;
use crate::frame::{Reader, write};
use crate::gossip::{Gossip, GossipKey, Peer, Seen};
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
    /// The current stream of each node, and where to send it log requests: a newer stream
    /// of a node ends the older one at the older one's next renewal.
    current: Mutex<HashMap<String, (u64, mpsc::Sender<LogCall>)>>,
    next_stream: std::sync::atomic::AtomicU64,
    next_request: std::sync::atomic::AtomicU64,
    woken: Arc<tokio::sync::Notify>,
    /// Set when the server stops: every stream ends at once.
    closed: tokio::sync::watch::Sender<bool>,
    /// The server's member of the SWIM group, and what each node's stream is handed to
    /// join it.
    gossip: std::sync::OnceLock<(Gossip, GossipOffer)>,
    /// Nodes marked unreachable because SWIM held them down while their lease still ran: a
    /// renewal on their stream makes them ready again (the lease decides, not the hint).
    hinted: Mutex<std::collections::HashSet<String>>,
}

/// The server's SWIM view, for `orco cluster members`.
#[derive(Debug, Clone)]
pub struct MembersView {
    /// The server itself.
    pub me: Peer,
    /// Every other member, its newest generation.
    pub members: Vec<Seen>,
    /// Datagrams dropped: a wrong key, garbage, or unreadable.
    pub dropped: u64,
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
            next_request: std::sync::atomic::AtomicU64::new(1),
            woken: Arc::new(tokio::sync::Notify::new()),
            closed: tokio::sync::watch::channel(false).0,
            gossip: std::sync::OnceLock::new(),
            hinted: Mutex::new(std::collections::HashSet::new()),
        });
        tokio::spawn(watch_leases(
            Arc::downgrade(&streams),
            streams.woken.clone(),
        ));
        streams
    }

    /// Runs the server's member of the SWIM group: every node's stream is handed `key` and
    /// the member's address, and a node the group holds down while the state has it ready
    /// is marked unreachable at once — a hint: only its lease and the grace make it lost.
    pub fn set_gossip(self: &Arc<Streams>, gossip: Gossip, key: &GossipKey) {
        let offer = GossipOffer {
            key: key.to_hex(),
            server: gossip.me().name.clone(),
            generation: gossip.me().generation,
            address: gossip.me().addr,
        };
        let view = gossip.watch();
        if self.gossip.set((gossip, offer)).is_ok() {
            tokio::spawn(hint_downs(Arc::downgrade(self), view));
        }
    }

    /// The server's SWIM view; `None` without gossip.
    pub fn members(&self) -> Option<MembersView> {
        self.gossip.get().map(|(gossip, _)| MembersView {
            me: gossip.me().clone(),
            members: gossip.members(),
            dropped: gossip.dropped(),
        })
    }

    fn hinted(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.hinted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// SWIM holds `node` down: a ready node is marked unreachable now (it takes no new
    /// instance); its loss still waits for its lease and the grace.
    async fn hint_down(&self, node: &str) {
        let status = self.handle.state().nodes.get(node).map(|n| n.status);
        if status != Some(NodeStatus::Ready) {
            return;
        }
        tracing::warn!(
            node,
            "node unreachable: SWIM holds it down (a hint; its lease decides whether it is lost)"
        );
        self.hinted().insert(node.to_string());
        if let Err(e) = self.handle.lapsed(node, false).await {
            tracing::warn!(node, "cannot record the node as unreachable: {e}");
        }
    }

    /// Ends every stream (the server stops): the nodes reconnect to the next server, or to
    /// this one once it is back.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, mpsc::Sender<LogCall>)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_current(&self, node: &str, stream: u64) -> bool {
        self.current().get(node).is_some_and(|(s, _)| *s == stream)
    }

    /// The nodes whose stream is open, by name.
    pub fn connected(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .current()
            .iter()
            .filter(|(_, (_, calls))| !calls.is_closed())
            .map(|(node, _)| node.clone())
            .collect();
        nodes.sort();
        nodes
    }

    /// Asks `node` for its logs (`request.id` is chosen here): the answer's chunks come on
    /// the receiver, which closes when the answer is complete or the node's stream ends.
    /// Dropping the receiver cancels the request on the node.
    pub async fn logs(
        &self,
        node: &str,
        mut request: LogRequest,
    ) -> Result<mpsc::Receiver<LogChunk>, ClusterError> {
        let calls = self.current().get(node).map(|(_, calls)| calls.clone());
        let Some(calls) = calls else {
            return Err(ClusterError::Refused(format!(
                "node {node} has no open stream"
            )));
        };
        request.id = self
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, chunks) = mpsc::channel(LOG_CHUNKS_QUEUED);
        calls
            .send(LogCall { request, reply })
            .await
            .map_err(|_| ClusterError::Refused(format!("node {node}'s stream ended")))?;
        Ok(chunks)
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
        let (calls, mut called) = mpsc::channel::<LogCall>(16);
        self.current().insert(node.to_string(), (stream, calls));
        let mut pending = Pending::default();
        let revision = self.handle.submit(vec![joined(node, &report)]).await?;
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
        if let Some((_, offer)) = self.gossip.get() {
            write(&mut out, &Down::Gossip(offer.clone())).await?;
        }
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
                Some(call) = called.recv() => {
                    let id = call.request.id;
                    pending.calls.insert(id, (call.reply, 0));
                    write(&mut out, &Down::Logs(call.request)).await?;
                }
                changed = sets.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    // Declared lost or removed while this stream stayed open (a frozen or
                    // cut-off agent sends nothing that would end it): end it now rather than
                    // hold a half-open stream; the node comes back through a new one.
                    let status = self.handle.state().nodes.get(node).map(|n| n.status);
                    if matches!(status, Some(NodeStatus::Lost | NodeStatus::Left)) {
                        return Err(ClusterError::Refused(format!(
                            "node {node} was declared lost: its stream ends"
                        )));
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
                        // The hint is taken back only once it is on record: a renewal that
                        // comes while the hint's write is in flight leaves it for the next
                        // renewal, or the node would stay unreachable while it renews.
                        if status == Some(NodeStatus::Unreachable) && self.hinted().remove(node) {
                            // SWIM held it down, yet it renews: the lease decides, so it is
                            // ready again.
                            tracing::info!(node, "node renews its lease: ready again despite the SWIM hint");
                            self.handle
                                .submit(vec![joined(node, &report)])
                                .await?;
                        }
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
                    Some(Up::Logs(chunk)) => {
                        if let Some(id) = pending.deliver(chunk) {
                            write(&mut out, &Down::LogsCancel(LogsCancel { id })).await?;
                        }
                    }
                    Some(Up::Report(_)) => {
                        return Err(ClusterError::Protocol("a second report on one stream".into()));
                    }
                },
            }
        }
    }
}

/// How many chunks of one log answer wait for their reader before chunks are dropped (and
/// counted as lost): a slow reader never holds a node's stream back.
const LOG_CHUNKS_QUEUED: usize = 64;

/// A log request for a node's stream, and where its answer goes.
#[derive(Debug)]
struct LogCall {
    request: LogRequest,
    reply: mpsc::Sender<LogChunk>,
}

/// The log requests a stream sent and has not seen answered: where each answer goes, and
/// how many records its reader missed.
#[derive(Debug, Default)]
struct Pending {
    calls: HashMap<u64, (mpsc::Sender<LogChunk>, u64)>,
}

/// `NodeJoined` for `node` as its `report` describes it: at its join, and again when it
/// renews while SWIM held it down.
fn joined(node: &str, report: &NodeReport) -> EventKind {
    EventKind::NodeJoined {
        node: node.to_string(),
        address: report.address.clone(),
        capacity: report.capacity,
        allocatable: report.allocatable,
        labels: report.labels.clone(),
        taints: report.taints.clone(),
    }
}

impl Pending {
    /// Hands `chunk` to its reader without waiting: a full queue drops it and counts its
    /// records, reported in the next chunk that fits. Returns the id of a request whose
    /// reader went away (to cancel on the node).
    fn deliver(&mut self, mut chunk: LogChunk) -> Option<u64> {
        let id = chunk.id;
        let (reply, lost) = self.calls.get_mut(&id)?;
        let records = chunk.lines.lines().count() as u64;
        if *lost > 0 {
            chunk.lines = format!("{{\"lost\":{lost}}}\n{}", chunk.lines);
        }
        let end = chunk.end;
        match reply.try_send(chunk) {
            Ok(()) => *lost = 0,
            Err(mpsc::error::TrySendError::Full(_)) => *lost += records,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.calls.remove(&id);
                return Some(id);
            }
        }
        if end {
            self.calls.remove(&id);
        }
        None
    }
}

/// Hints every agent the SWIM view newly holds down (see [`Streams::set_gossip`]).
async fn hint_downs(
    streams: std::sync::Weak<Streams>,
    mut view: tokio::sync::watch::Receiver<Vec<Seen>>,
) {
    let mut before = view.borrow_and_update().clone();
    while view.changed().await.is_ok() {
        let after = view.borrow_and_update().clone();
        let down = crate::gossip::newly_down(&before, &after);
        before = after;
        let Some(streams) = streams.upgrade() else {
            return;
        };
        for node in down {
            streams.hint_down(&node).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: u64, lines: &str, end: bool) -> LogChunk {
        LogChunk {
            id,
            lines: lines.to_string(),
            end,
            ..LogChunk::default()
        }
    }

    #[test]
    fn a_slow_reader_loses_chunks_counted_and_never_holds_the_stream() {
        let (reply, mut chunks) = mpsc::channel(1);
        let mut pending = Pending::default();
        pending.calls.insert(7, (reply, 0));
        assert_eq!(pending.deliver(chunk(7, "a\n", false)), None);
        // The queue is full: two records dropped at once, counted.
        assert_eq!(pending.deliver(chunk(7, "b\nc\n", false)), None);
        assert_eq!(chunks.try_recv().unwrap().lines, "a\n");
        assert_eq!(pending.deliver(chunk(7, "d\n", true)), None);
        assert_eq!(chunks.try_recv().unwrap().lines, "{\"lost\":2}\nd\n");
        assert!(pending.calls.is_empty(), "the last chunk ends the request");
    }

    #[test]
    fn a_reader_that_went_away_has_its_request_cancelled() {
        let (reply, chunks) = mpsc::channel(4);
        let mut pending = Pending::default();
        pending.calls.insert(3, (reply, 0));
        drop(chunks);
        assert_eq!(pending.deliver(chunk(3, "a\n", false)), Some(3));
        assert_eq!(pending.deliver(chunk(3, "b\n", false)), None, "once");
        assert_eq!(
            pending.deliver(chunk(9, "x\n", false)),
            None,
            "unknown ids ignored"
        );
    }
}

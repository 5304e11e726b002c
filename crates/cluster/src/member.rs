//! The agent's side of the node interface: what a node keeps across its streams (its
//! assignment set and the highest position seen, its events not yet acknowledged, its lease
//! deadline), and one stream's session: report, re-send, then assignments down and events up
//! until the stream ends. The fence runs whether a stream is open or not.

use std::collections::BTreeMap;
use std::time::Duration;

use orco_agent::Agent;
use orco_interface::{
    AssignmentSet, Down, GossipOffer, InterfaceError, LogChunk, NodeReport, Renew, Up,
};
use orco_logs::Logs;
use orco_runtime::Runtime;
use orco_spec::OnDisconnect;
use orco_state::{Capacity, Event, InstanceId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::ClusterError;
use crate::deadline::{Deadline, boot_ms};
use crate::frame::{Reader, write};
use crate::logs::Answers;
use crate::outbox::Outbox;

/// How often the lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often the fence deadline is checked.
const FENCE_CHECK: Duration = Duration::from_millis(100);

/// Who the node says it is.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Its name.
    pub node: String,
    /// The machine's cores and memory.
    pub capacity: Capacity,
    /// The capacity minus the reserve.
    pub allocatable: Capacity,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<String>,
}

/// A node's side of the interface, kept across streams.
#[derive(Debug)]
pub struct Member<R: Runtime + 'static> {
    identity: Identity,
    agent: Agent<R>,
    events: mpsc::Receiver<Event>,
    set: AssignmentSet,
    /// Events not acknowledged yet.
    outbox: Outbox,
    deadline: Deadline,
    /// The node's logs, read on the control plane's requests.
    logs: Option<Logs>,
    gossip: Option<tokio::sync::watch::Sender<Option<GossipOffer>>>,
}

impl<R: Runtime + 'static> Member<R> {
    /// The node `identity` around `agent`, whose events come on `events`.
    pub fn new(identity: Identity, agent: Agent<R>, events: mpsc::Receiver<Event>) -> Member<R> {
        Member {
            identity,
            agent,
            events,
            set: AssignmentSet::default(),
            outbox: Outbox::default(),
            deadline: Deadline::default(),
            logs: None,
            gossip: None,
        }
    }

    /// Answers log requests from `logs`.
    pub fn with_logs(mut self, logs: Logs) -> Member<R> {
        self.logs = Some(logs);
        self
    }

    /// Hands every [`GossipOffer`] a server sends on to `offers` (whoever runs the node's
    /// member of the SWIM group).
    pub fn with_gossip(
        mut self,
        offers: tokio::sync::watch::Sender<Option<GossipOffer>>,
    ) -> Member<R> {
        self.gossip = Some(offers);
        self
    }

    fn push(&mut self, event: Event) {
        let dropped = self.outbox.dropped;
        self.outbox.push(event);
        if self.outbox.dropped > dropped && self.outbox.dropped.is_power_of_two() {
            tracing::warn!(
                dropped = self.outbox.dropped,
                "the control plane is out of reach: the oldest events are dropped"
            );
        }
    }

    /// The instances fenced when the lease ends (`onDisconnect: stop`).
    fn fenced(&self) -> Vec<InstanceId> {
        self.set
            .instances
            .iter()
            .filter(|(_, a)| a.service.on_disconnect == OnDisconnect::Stop)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The keeper holds the same deadline over the same instances: it kills them if this
    /// agent hangs or dies before it can. Handed over on every grant and every change of
    /// the assignments.
    fn hand_fence_to_keeper(&self) {
        if let Some(at) = self.deadline.at_ms() {
            self.agent.arm_fence(at, &self.fenced());
        }
    }

    /// The lease ended: every instance that may not outlive its node's connection
    /// (`onDisconnect: stop`) is killed at once and forgotten.
    async fn fence(&mut self) {
        let doomed = self.fenced();
        self.deadline.disarm();
        if doomed.is_empty() {
            return;
        }
        tracing::warn!(
            instances = doomed.len(),
            "the node's lease ended: its instances are stopped (SIGKILL)"
        );
        self.agent.kill(&doomed).await;
        for id in &doomed {
            self.set.instances.remove(id);
        }
        self.agent.apply(&self.set);
    }

    /// Waits out `pause` while no stream is open: events are kept for the next stream and
    /// the fence still runs.
    pub async fn idle(&mut self, pause: Duration) {
        let until = tokio::time::Instant::now() + pause;
        let mut check = tokio::time::interval(FENCE_CHECK);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                Some(event) = self.events.recv() => self.push(event),
                _ = check.tick() => {
                    if self.deadline.passed(boot_ms()) {
                        self.fence().await;
                    }
                }
            }
        }
    }

    /// One stream: the node's report, the control plane's acknowledgement, events not
    /// acknowledged sent again, then assignments down and events and renewals up until the
    /// stream ends. `address` is the address the node reached the server from.
    pub async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: S,
        address: String,
    ) -> Result<(), ClusterError> {
        let (read, mut out) = tokio::io::split(io);
        let mut reader = Reader::new(read);
        let report = NodeReport {
            node: self.identity.node.clone(),
            seen: self.set.at,
            acknowledged: self.outbox.acked(),
            running: Vec::new(),
            address,
            capacity: self.identity.capacity,
            allocatable: self.identity.allocatable,
            labels: self.identity.labels.clone(),
            taints: self.identity.taints.clone(),
        };
        write(&mut out, &Up::Report(report)).await?;
        match reader.next::<Down>().await? {
            Some(Down::Ack(ack)) => self.outbox.acknowledged(ack.through),
            Some(_) => {
                return Err(ClusterError::Protocol(
                    "the control plane's first message is an acknowledgement".into(),
                ));
            }
            None => return Err(ClusterError::Protocol("the stream ended at once".into())),
        }
        // What was not acknowledged goes again; the control plane stores each event once.
        let mut sent_through = self.outbox.acked();
        while let Some(batch) = self.outbox.batch(&self.identity.node, sent_through + 1) {
            sent_through = batch.last();
            write(&mut out, &Up::Events(batch)).await?;
        }
        let mut renew = tokio::time::interval(RENEW_EVERY);
        let mut check = tokio::time::interval(FENCE_CHECK);
        // Log answers share the stream with renewals, a chunk at a time: a flood of output
        // never holds a renewal back longer than one chunk's write.
        let (chunks, mut answered) = mpsc::channel::<LogChunk>(16);
        let mut answers = Answers::default();
        loop {
            tokio::select! {
                down = reader.next::<Down>() => match down? {
                    None => return Ok(()),
                    Some(Down::Ack(ack)) => self.outbox.acknowledged(ack.through),
                    Some(Down::Logs(request)) => match &self.logs {
                        Some(logs) => answers.start(logs.clone(), request, chunks.clone()),
                        None => {
                            let refusal = LogChunk {
                                id: request.id,
                                end: true,
                                error: Some("this node keeps no logs".into()),
                                ..LogChunk::default()
                            };
                            write(&mut out, &Up::Logs(refusal)).await?;
                        }
                    },
                    Some(Down::LogsCancel(cancel)) => answers.cancel(cancel.id),
                    Some(Down::Gossip(offer)) => {
                        if let Some(offers) = &self.gossip {
                            offers.send_replace(Some(offer));
                        }
                    }
                    Some(Down::Lease(lease)) => {
                        self.deadline.granted(lease);
                        self.hand_fence_to_keeper();
                    }
                    Some(down) => match self.set.accept(down) {
                        Ok(()) => {
                            self.agent.apply(&self.set);
                            self.hand_fence_to_keeper();
                        }
                        Err(e @ InterfaceError::Stale { .. }) => {
                            tracing::warn!("assignments refused: {e}");
                        }
                        Err(e) => return Err(e.into()),
                    },
                },
                Some(event) = self.events.recv() => {
                    self.push(event);
                    while let Ok(more) = self.events.try_recv() {
                        self.push(more);
                    }
                    while let Some(batch) = self.outbox.batch(&self.identity.node, sent_through + 1) {
                        sent_through = batch.last();
                        write(&mut out, &Up::Events(batch)).await?;
                    }
                }
                _ = renew.tick() => {
                    write(&mut out, &Up::Renew(Renew { sent_ms: boot_ms() })).await?;
                }
                Some(chunk) = answered.recv() => {
                    answers.sent(&chunk);
                    write(&mut out, &Up::Logs(chunk)).await?;
                }
                _ = check.tick() => {
                    if self.deadline.passed(boot_ms()) {
                        self.fence().await;
                        // A whole lease without a grant: the stream may be half-open (a
                        // partition leaves TCP silent for minutes), and the server's set
                        // still holds the instances just fenced. A new stream brings the
                        // full set again, so that they run once more if the node was not
                        // declared lost meanwhile.
                        return Err(ClusterError::LeaseEnded);
                    }
                }
            }
        }
    }
}

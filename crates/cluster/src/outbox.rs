//! A node's events on their way to the control plane, purely: numbered without gaps, kept
//! until acknowledged, sent again after a reconnect. A node that starts afresh does not know
//! where its numbering stands: its events wait unnumbered until the control plane's first
//! acknowledgement says what it stored last.

use std::collections::VecDeque;

use orco_interface::EventBatch;
use orco_state::Event;

/// Events kept while the control plane is out of reach; beyond, the oldest go.
pub const CAP: usize = 100_000;
/// Events sent in one batch at most.
pub const BATCH: usize = 512;

/// Events not acknowledged yet.
#[derive(Debug, Default)]
pub struct Outbox {
    /// With their sequence numbers (0: not numbered yet).
    queue: VecDeque<(u64, Event)>,
    /// The number of the next event, 0 until known.
    next_seq: u64,
    acked: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

impl Outbox {
    /// Keeps `event` until it is acknowledged.
    pub fn push(&mut self, event: Event) {
        let seq = if self.next_seq == 0 {
            0
        } else {
            self.next_seq += 1;
            self.next_seq - 1
        };
        if self.queue.len() >= CAP {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back((seq, event));
    }

    /// The control plane stored everything through `through`.
    pub fn acknowledged(&mut self, through: u64) {
        if self.next_seq == 0 {
            self.next_seq = through + 1;
            for (seq, _) in &mut self.queue {
                *seq = self.next_seq;
                self.next_seq += 1;
            }
        }
        self.acked = self.acked.max(through);
        while self.queue.front().is_some_and(|(seq, _)| *seq <= through) {
            self.queue.pop_front();
        }
    }

    /// The last sequence number acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next batch of `node`'s numbered events from sequence number `from` on.
    pub fn batch(&self, node: &str, from: u64) -> Option<EventBatch> {
        let mut numbered = self
            .queue
            .iter()
            .filter(|(seq, _)| *seq >= from && *seq > 0);
        let (first, event) = numbered.next()?;
        let mut events = vec![event.clone()];
        events.extend(numbered.take(BATCH - 1).map(|(_, e)| e.clone()));
        Some(EventBatch {
            node: node.to_string(),
            first: *first,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use orco_state::EventKind;

    fn event(pid: i32) -> Event {
        Event::new(Timestamp::UNIX_EPOCH, EventKind::KeeperLost { pid })
    }

    fn pids(batch: &EventBatch) -> Vec<i32> {
        batch
            .events
            .iter()
            .map(|e| match e.kind {
                EventKind::KeeperLost { pid } => pid,
                _ => -1,
            })
            .collect()
    }

    #[test]
    fn events_wait_unnumbered_until_the_first_acknowledgement_then_go_on_from_it() {
        let mut o = Outbox::default();
        o.push(event(1));
        o.push(event(2));
        assert!(o.batch("n1", 1).is_none(), "nothing is sent unnumbered");
        o.acknowledged(41);
        let b = o.batch("n1", 42).expect("a batch");
        assert_eq!((b.first, b.last()), (42, 43));
        assert_eq!(pids(&b), vec![1, 2]);
        o.push(event(3));
        assert_eq!(o.batch("n1", 44).expect("a batch").first, 44);
    }

    #[test]
    fn acknowledged_events_are_forgotten_and_the_rest_are_sent_again() {
        let mut o = Outbox::default();
        o.acknowledged(0);
        for pid in 1..=5 {
            o.push(event(pid));
        }
        o.acknowledged(3);
        assert_eq!(o.len(), 2);
        // After a reconnect the node sends from the last acknowledgement on.
        let b = o.batch("n1", o.acked() + 1).expect("a batch");
        assert_eq!((b.first, pids(&b)), (4, vec![4, 5]));
        o.acknowledged(5);
        assert!(o.is_empty() && o.batch("n1", 1).is_none());
        // An older acknowledgement changes nothing.
        o.acknowledged(2);
        assert_eq!(o.acked(), 5);
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_events_and_counts_them() {
        let mut o = Outbox::default();
        o.acknowledged(0);
        for pid in 0..(CAP as i32 + 10) {
            o.push(event(pid));
        }
        assert_eq!((o.len(), o.dropped), (CAP, 10));
        let b = o.batch("n1", 1).expect("a batch");
        assert_eq!(b.first, 11);
        assert_eq!(b.events.len(), BATCH);
    }
}

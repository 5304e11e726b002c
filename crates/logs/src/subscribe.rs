//! Live subscribers: a bounded channel per subscriber, losses counted and told in band.
//!
//! The writer never waits for a subscriber. When a subscriber's channel is full the record
//! is not delivered and counted; the count arrives as [`Delivery::Lost`] before the next
//! record that fits, or as soon as the subscriber has emptied its channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::read::Filter;
use crate::record::Record;

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The next record (shared between subscribers).
    Record(Arc<Record>),
    /// This many records were not delivered because the subscriber was too slow.
    Lost(u64),
}

/// The writer's side of one subscriber.
#[derive(Debug)]
pub(crate) struct Subscriber {
    tx: mpsc::Sender<Delivery>,
    lost: Arc<AtomicU64>,
    filter: Filter,
}

impl Subscriber {
    /// Offers `record`; false when the subscriber is gone and should be forgotten.
    pub(crate) fn offer(&self, record: &Arc<Record>) -> bool {
        if !self.filter.matches(record) {
            return !self.tx.is_closed();
        }
        let lost = self.lost.swap(0, Ordering::Relaxed);
        if lost > 0 {
            match self.tx.try_send(Delivery::Lost(lost)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.lost.fetch_add(lost + 1, Ordering::Relaxed);
                    return true;
                }
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(Delivery::Record(Arc::clone(record))) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// A live stream of a stack's records, from [`StackLog::subscribe`] or in a [`Follow`].
///
/// [`StackLog::subscribe`]: crate::StackLog::subscribe
/// [`Follow`]: crate::Follow
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Delivery>,
    lost: Arc<AtomicU64>,
    first_seq: u64,
    skip_through: u64,
}

/// A subscription's two halves, writer side and reader side.
pub(crate) fn channel(
    filter: Filter,
    capacity: usize,
    first_seq_placeholder: u64,
) -> (Subscriber, Subscription) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let lost = Arc::new(AtomicU64::new(0));
    let sub = Subscriber {
        tx,
        lost: Arc::clone(&lost),
        filter,
    };
    let subscription = Subscription {
        rx,
        lost,
        first_seq: first_seq_placeholder,
        skip_through: 0,
    };
    (sub, subscription)
}

impl Subscription {
    /// The seq of the first record this subscription can deliver: every earlier record was
    /// on disk when it started.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub(crate) fn set_first_seq(&mut self, seq: u64) {
        self.first_seq = seq;
    }

    /// Records with a seq up to `seq` are not delivered (they were already read).
    pub(crate) fn skip_through(&mut self, seq: u64) {
        self.skip_through = seq;
    }

    /// The next delivery; `None` once the stack's log is closed and everything was received.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            let delivery = match self.rx.try_recv() {
                Ok(d) => d,
                Err(TryRecvError::Empty) => {
                    if let Some(lost) = self.take_lost() {
                        return Some(lost);
                    }
                    match self.rx.recv().await {
                        Some(d) => d,
                        None => return self.take_lost(),
                    }
                }
                Err(TryRecvError::Disconnected) => return self.take_lost(),
            };
            if self.wanted(&delivery) {
                return Some(delivery);
            }
        }
    }

    /// [`Subscription::recv`] for threads outside an async runtime (it panics inside one,
    /// as tokio's `blocking_recv` does).
    pub fn blocking_recv(&mut self) -> Option<Delivery> {
        loop {
            let delivery = match self.rx.try_recv() {
                Ok(d) => d,
                Err(TryRecvError::Empty) => {
                    if let Some(lost) = self.take_lost() {
                        return Some(lost);
                    }
                    match self.rx.blocking_recv() {
                        Some(d) => d,
                        None => return self.take_lost(),
                    }
                }
                Err(TryRecvError::Disconnected) => return self.take_lost(),
            };
            if self.wanted(&delivery) {
                return Some(delivery);
            }
        }
    }

    /// The next delivery if one is ready now.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        loop {
            let delivery = match self.rx.try_recv() {
                Ok(d) => d,
                Err(_) => return self.take_lost(),
            };
            if self.wanted(&delivery) {
                return Some(delivery);
            }
        }
    }

    fn wanted(&self, delivery: &Delivery) -> bool {
        match delivery {
            Delivery::Record(r) => r.seq > self.skip_through,
            Delivery::Lost(_) => true,
        }
    }

    fn take_lost(&self) -> Option<Delivery> {
        match self.lost.swap(0, Ordering::Relaxed) {
            0 => None,
            n => Some(Delivery::Lost(n)),
        }
    }
}

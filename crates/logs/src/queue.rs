//! The bounded fan-in queue of one stack, and [`Producer`], the handle that feeds it.
//!
//! Many producers (one per instance) push into one queue; one writer thread takes everything
//! queued at once. A push takes a mutex for the time of a `VecDeque::push_back` and never
//! waits for room: when the queue holds [`LogConfig::queue_lines`] lines or
//! [`LogConfig::queue_bytes`] bytes the line is dropped and counted on its producer. The
//! writer turns each producer's count into one `dropped N lines` record as soon as it has
//! taken the queue (that is, as soon as there is room), placed after every line queued
//! before it.
//!
//! [`LogConfig::queue_lines`]: crate::LogConfig::queue_lines
//! [`LogConfig::queue_bytes`]: crate::LogConfig::queue_bytes

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use orco_runtime::OutputLine;
use orco_runtime::output::unix_nanos;
use serde_json::{Map, Value};

use crate::record::{Level, Origin, Source};
use crate::subscribe::Subscriber;

/// What became of a line given to [`Producer::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued for the writer.
    Queued,
    /// The queue was full: the line was dropped and counted; a `dropped N lines` record
    /// will say so.
    Dropped,
    /// A later piece of a line already cut at the limit: nothing to keep.
    Cut,
    /// The stack's log is closed.
    Closed,
}

/// What the writer takes from the queue.
#[derive(Debug)]
pub(crate) enum Item {
    /// One output line, already cut to the limit.
    Line {
        origin: Arc<Origin>,
        source: Source,
        at: u64,
        bytes: Vec<u8>,
        truncated: bool,
    },
    /// One of orco's own records.
    Note {
        origin: Arc<Origin>,
        at: u64,
        level: Option<Level>,
        msg: String,
        fields: Map<String, Value>,
    },
    /// `n` lines of `origin` were dropped.
    Dropped {
        origin: Arc<Origin>,
        at: u64,
        n: u64,
    },
    /// Add a live subscriber; answer with the first seq it will get.
    Subscribe(Subscriber, SyncSender<u64>),
    /// Flush and fsync; answer when done.
    Sync(SyncSender<()>),
}

/// A producer's count of dropped lines, waiting to be reported.
#[derive(Debug)]
pub(crate) struct Pending {
    origin: Arc<Origin>,
    count: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Item>,
    lines: usize,
    bytes: usize,
    closed: bool,
    writer_waiting: bool,
    dirty: Vec<Arc<Pending>>,
}

/// One stack's queue.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    max_lines: usize,
    max_bytes: usize,
    dropped: AtomicU64,
    /// Tests hold this to keep the writer from taking the queue (a stalled disk, made
    /// deterministic).
    #[cfg(test)]
    pub(crate) gate: Mutex<()>,
}

impl Queue {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            dropped: AtomicU64::new(0),
            #[cfg(test)]
            gate: Mutex::new(()),
        }
    }

    /// How many items wait for the writer (lines, notes, announcements, control items).
    #[cfg(test)]
    pub(crate) fn queued_items(&self) -> usize {
        self.lock().items.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lines dropped so far, over all producers.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues a line or note of `pending`'s producer, or drops and counts it. Never waits
    /// for room.
    fn push_bounded(&self, item: Item, bytes: usize, pending: &Arc<Pending>) -> Sent {
        let mut st = self.lock();
        if st.closed {
            return Sent::Closed;
        }
        if st.lines >= self.max_lines || st.bytes.saturating_add(bytes) > self.max_bytes {
            if pending.count.fetch_add(1, Ordering::Relaxed) == 0 {
                st.dirty.push(Arc::clone(pending));
            }
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Sent::Dropped;
        }
        st.items.push_back(item);
        st.lines += 1;
        st.bytes += bytes;
        self.wake(st);
        Sent::Queued
    }

    /// Queues a control item regardless of room; false when closed. Lines dropped before it
    /// are announced before it: a sync returns once their `dropped N lines` record is
    /// written too.
    pub(crate) fn push_control(&self, item: Item) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        announce_drops(&mut st);
        st.items.push_back(item);
        self.wake(st);
        true
    }

    fn wake(&self, mut st: MutexGuard<'_, State>) {
        if std::mem::take(&mut st.writer_waiting) {
            drop(st);
            self.ready.notify_one();
        }
    }

    /// Waits until there is something, then moves everything queued into `into`, followed by
    /// a `Dropped` item for every producer with a count. False when the queue is closed and
    /// empty: the writer should stop.
    pub(crate) fn take(&self, into: &mut VecDeque<Item>) -> bool {
        let mut st = self.lock();
        while st.items.is_empty() && st.dirty.is_empty() && !st.closed {
            st.writer_waiting = true;
            st = self.ready.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        #[cfg(test)]
        let (_gate, mut st) = {
            // Only the writer removes items, so what it waited for is still there.
            drop(st);
            let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            (gate, self.lock())
        };
        if st.items.is_empty() && st.dirty.is_empty() {
            return false;
        }
        announce_drops(&mut st);
        std::mem::swap(&mut st.items, into);
        st.lines = 0;
        st.bytes = 0;
        true
    }

    /// Refuses new items; the writer drains what is queued and stops.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.writer_waiting = false;
        drop(st);
        self.ready.notify_all();
    }
}

/// Feeds one origin's lines (usually one instance's stdout and stderr) into its stack's log.
///
/// Every method returns at once: a full queue drops the line and counts it, it never makes
/// the caller wait. Cheap to create; one per instance.
#[derive(Debug)]
pub struct Producer {
    queue: Arc<Queue>,
    pending: Arc<Pending>,
    limit: usize,
    /// Per source (stdout, stderr): the current line was cut, skip its remaining pieces.
    cutting: [bool; 2],
}

impl Producer {
    pub(crate) fn new(queue: Arc<Queue>, origin: Origin, limit: usize) -> Producer {
        Producer {
            queue,
            pending: Arc::new(Pending {
                origin: Arc::new(origin),
                count: AtomicU64::new(0),
            }),
            limit,
            cutting: [false, false],
        }
    }

    /// Who this producer speaks for.
    pub fn origin(&self) -> &Origin {
        &self.pending.origin
    }

    /// Feeds one line the runtime read (its instance name is not consulted: the producer's
    /// origin says who printed it).
    pub fn send(&mut self, line: OutputLine) -> Sent {
        self.send_bytes(line.source, line.at_unix_nanos, line.bytes, line.continued)
    }

    /// Feeds one line given as its parts: `continued` means the next call carries more of
    /// the same line (the runtime cuts lines at 64 KiB).
    pub fn send_bytes(
        &mut self,
        source: orco_runtime::Source,
        at_unix_nanos: u64,
        mut bytes: Vec<u8>,
        continued: bool,
    ) -> Sent {
        let slot = match source {
            orco_runtime::Source::Stdout => 0,
            orco_runtime::Source::Stderr => 1,
        };
        if self.cutting[slot] {
            self.cutting[slot] = continued;
            return Sent::Cut;
        }
        let truncated = continued || bytes.len() > self.limit;
        if truncated {
            bytes.truncate(char_boundary(&bytes, self.limit));
            self.cutting[slot] = continued;
        }
        let len = bytes.len();
        let item = Item::Line {
            origin: Arc::clone(&self.pending.origin),
            source: source.into(),
            at: at_unix_nanos,
            bytes,
            truncated,
        };
        self.queue.push_bounded(item, len, &self.pending)
    }

    /// Adds one of orco's own records (`source: orco`) for this origin, e.g. a state
    /// change, timestamped now. Bounded like lines.
    pub fn note(
        &mut self,
        level: Option<Level>,
        msg: impl Into<String>,
        fields: Map<String, Value>,
    ) -> Sent {
        let msg = msg.into();
        let len = msg.len();
        let item = Item::Note {
            origin: Arc::clone(&self.pending.origin),
            at: unix_nanos(),
            level,
            msg,
            fields,
        };
        self.queue.push_bounded(item, len, &self.pending)
    }
}

/// The largest cut of `bytes` at most `limit` long that does not split a UTF-8 character
/// (when the bytes are UTF-8 there).
fn char_boundary(bytes: &[u8], limit: usize) -> usize {
    if bytes.len() <= limit {
        return bytes.len();
    }
    let mut cut = limit;
    for _ in 0..3 {
        match bytes.get(cut) {
            Some(b) if b & 0xC0 == 0x80 && cut > 0 => cut -= 1,
            _ => break,
        }
    }
    cut
}

/// Queues a `Dropped` item for every producer with a count of dropped lines, and clears
/// the counts.
fn announce_drops(st: &mut State) {
    let at = unix_nanos();
    for pending in std::mem::take(&mut st.dirty) {
        let n = pending.count.swap(0, Ordering::Relaxed);
        if n > 0 {
            st.items.push_back(Item::Dropped {
                origin: Arc::clone(&pending.origin),
                at,
                n,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(queue: &Arc<Queue>, limit: usize) -> Producer {
        Producer::new(Arc::clone(queue), Origin::service("api", "api-0"), limit)
    }

    fn take(queue: &Queue) -> Vec<Item> {
        let mut out = VecDeque::new();
        assert!(queue.take(&mut out));
        out.into_iter().collect()
    }

    fn line(bytes: &[u8]) -> (orco_runtime::Source, u64, Vec<u8>) {
        (orco_runtime::Source::Stdout, 1, bytes.to_vec())
    }

    #[test]
    fn a_full_queue_drops_and_reports_the_count_after_what_was_queued() {
        let queue = Arc::new(Queue::new(2, 1024));
        let mut p = producer(&queue, 100);
        let results: Vec<Sent> = (0..5)
            .map(|_| {
                let (s, at, b) = line(b"x");
                p.send_bytes(s, at, b, false)
            })
            .collect();
        assert_eq!(
            results,
            [
                Sent::Queued,
                Sent::Queued,
                Sent::Dropped,
                Sent::Dropped,
                Sent::Dropped
            ]
        );
        assert_eq!(queue.dropped(), 3);
        let items = take(&queue);
        assert_eq!(items.len(), 3);
        assert!(matches!(items[0], Item::Line { .. }));
        assert!(matches!(items[1], Item::Line { .. }));
        assert!(matches!(items[2], Item::Dropped { n: 3, .. }));
        let (s, at, b) = line(b"y");
        assert_eq!(p.send_bytes(s, at, b, false), Sent::Queued);
        let items = take(&queue);
        assert_eq!(items.len(), 1, "the count was reported once");
    }

    #[test]
    fn the_byte_budget_bounds_the_queue_too() {
        let queue = Arc::new(Queue::new(100, 10));
        let mut p = producer(&queue, 100);
        let (s, at, b) = line(b"123456");
        assert_eq!(p.send_bytes(s, at, b.clone(), false), Sent::Queued);
        assert_eq!(p.send_bytes(s, at, b, false), Sent::Dropped);
    }

    #[test]
    fn a_long_line_is_cut_and_its_later_pieces_are_skipped() {
        let queue = Arc::new(Queue::new(100, 1 << 20));
        let mut p = producer(&queue, 4);
        let src = orco_runtime::Source::Stdout;
        assert_eq!(
            p.send_bytes(src, 1, b"abcdefgh".to_vec(), true),
            Sent::Queued
        );
        assert_eq!(p.send_bytes(src, 1, b"more".to_vec(), true), Sent::Cut);
        assert_eq!(p.send_bytes(src, 1, b"end".to_vec(), false), Sent::Cut);
        assert_eq!(p.send_bytes(src, 1, b"next".to_vec(), false), Sent::Queued);
        let items = take(&queue);
        let kept: Vec<(Vec<u8>, bool)> = items
            .into_iter()
            .filter_map(|i| match i {
                Item::Line {
                    bytes, truncated, ..
                } => Some((bytes, truncated)),
                _ => None,
            })
            .collect();
        assert_eq!(kept, [(b"abcd".to_vec(), true), (b"next".to_vec(), false)]);
    }

    #[test]
    fn a_cut_never_splits_a_utf8_character() {
        let text = "aé€".as_bytes(); // 1 + 2 + 3 bytes
        assert_eq!(char_boundary(text, 2), 1);
        assert_eq!(char_boundary(text, 3), 3);
        assert_eq!(char_boundary(text, 5), 3);
        assert_eq!(char_boundary(text, 6), 6);
        assert_eq!(char_boundary(b"\x80\x80\x80\x80\x80", 4), 1);
    }

    #[test]
    fn a_closed_queue_refuses_and_the_writer_stops_after_draining() {
        let queue = Arc::new(Queue::new(10, 1024));
        let mut p = producer(&queue, 100);
        let (s, at, b) = line(b"x");
        assert_eq!(p.send_bytes(s, at, b.clone(), false), Sent::Queued);
        queue.close();
        assert_eq!(p.send_bytes(s, at, b, false), Sent::Closed);
        assert_eq!(take(&queue).len(), 1);
        assert!(!queue.take(&mut VecDeque::new()));
    }
}

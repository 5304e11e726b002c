//! [`StackLog`]: one stack's log — its producers, subscribers, reader and writer thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::config::LogConfig;
use crate::error::LogError;
use crate::files::stack_dir;
use crate::queue::{Item, Producer, Queue};
use crate::read::{Filter, read_before, read_dir};
use crate::record::{Origin, Record};
use crate::subscribe::{Subscription, channel};
use crate::writer::{Counters, Writer};

/// The log of one stack. Cloning gives another handle to the same log; the writer stops
/// (draining, flushing and fsyncing) on [`StackLog::close`] or when the last handle is
/// dropped.
#[derive(Debug, Clone)]
pub struct StackLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stack: String,
    dir: PathBuf,
    line_limit: usize,
    subscriber_capacity: usize,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// History and live tail, joined without a gap or a duplicate: `history` holds every
/// matching record with a seq below `live.first_seq()`, `live` every later one.
#[derive(Debug)]
pub struct Follow {
    /// Records already on disk, oldest first (the filter's limit applies here).
    pub history: Vec<Record>,
    /// Records from then on.
    pub live: Subscription,
}

/// What a stack's log has done so far (since it was opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Records written to the file (lines, notes and drop notices).
    pub persisted: u64,
    /// Lines and notes dropped because the queue was full.
    pub dropped: u64,
    /// Writes, syncs and rotations that failed.
    pub write_errors: u64,
    /// The last of those failures.
    pub last_error: Option<String>,
}

impl StackLog {
    /// Opens (creating if needed) the log of `stack` under `config.dir` and starts its
    /// writer thread. Numbering resumes after the last record on disk.
    pub fn open(config: &LogConfig, stack: &str) -> Result<StackLog, LogError> {
        let dir = stack_dir(&config.dir, stack)?;
        let counters = Arc::new(Counters::default());
        let writer = Writer::open(stack, dir.clone(), config, Arc::clone(&counters))?;
        let queue = Arc::new(Queue::new(config.queue_lines, config.queue_bytes));
        let thread_queue = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name(format!("logs-{stack}"))
            .spawn(move || writer.run(&thread_queue))
            .map_err(|e| LogError::io(&dir, e))?;
        Ok(StackLog {
            inner: Arc::new(Inner {
                stack: stack.to_string(),
                dir,
                line_limit: config.line_limit(),
                subscriber_capacity: config.subscriber_capacity,
                queue,
                counters,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The stack's name.
    pub fn stack(&self) -> &str {
        &self.inner.stack
    }

    /// The stack's log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A handle that feeds lines of `origin` (one per instance; see [`Producer`]).
    pub fn producer(&self, origin: Origin) -> Producer {
        Producer::new(Arc::clone(&self.inner.queue), origin, self.inner.line_limit)
    }

    /// A live stream of the records that pass `filter` (its limit is ignored), starting
    /// with the next record written. Waits briefly for the writer to take it in (call it
    /// from a blocking context, e.g. `spawn_blocking`).
    pub fn subscribe(&self, filter: Filter) -> Result<Subscription, LogError> {
        let (subscriber, mut subscription) = channel(filter, self.inner.subscriber_capacity, 0);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self
            .inner
            .queue
            .push_control(Item::Subscribe(subscriber, reply))
        {
            return Err(self.closed());
        }
        let first_seq = answer.recv().map_err(|_| self.closed())?;
        subscription.set_first_seq(first_seq);
        Ok(subscription)
    }

    /// The records on disk that pass `filter`, oldest first (blocking file IO).
    pub fn read(&self, filter: &Filter) -> Result<Vec<Record>, LogError> {
        read_dir(&self.inner.dir, filter)
    }

    /// History plus live tail: subscribes first (the writer flushes and says which seq the
    /// subscription starts at), then reads the files up to just before that seq. Blocking.
    pub fn follow(&self, filter: Filter) -> Result<Follow, LogError> {
        let mut live = self.subscribe(filter.clone())?;
        let history = read_before(&self.inner.dir, &filter, Some(live.first_seq()))?;
        if let Some(last) = history.last() {
            live.skip_through(last.seq);
        }
        Ok(Follow { history, live })
    }

    /// Flushes what was queued before this call to disk and fsyncs it. Blocking.
    pub fn sync(&self) -> Result<(), LogError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !self.inner.queue.push_control(Item::Sync(reply)) {
            return Err(self.closed());
        }
        answer.recv().map_err(|_| self.closed())
    }

    /// What the log has done so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            persisted: c.persisted.load(Ordering::Relaxed),
            dropped: self.inner.queue.dropped(),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Stops taking lines, writes what is queued, fsyncs and waits for the writer to end.
    /// Producers then get [`crate::Sent::Closed`]; subscriptions end. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    fn closed(&self) -> LogError {
        LogError::Closed {
            stack: self.inner.stack.clone(),
        }
    }
}

impl Inner {
    fn close(&self) {
        self.queue.close();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::queue::Sent;
    use crate::record::{Source, Workload};

    type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

    const STDOUT: orco_runtime::Source = orco_runtime::Source::Stdout;

    #[test]
    fn a_flood_into_a_stalled_writer_never_waits_and_the_loss_becomes_one_record() -> Result {
        let tmp = tempfile::tempdir()?;
        let config = LogConfig {
            queue_lines: 8,
            ..LogConfig::new(tmp.path())
        };
        let log = StackLog::open(&config, "demo")?;
        let mut producer = log.producer(Origin::service("api", "api-0"));
        // The writer cannot take the queue while the gate is held: a disk that stalls.
        let gate = log.inner.queue.gate.lock().map_err(|e| e.to_string())?;
        let mut results = Vec::new();
        for i in 0..1000u64 {
            results.push(producer.send_bytes(STDOUT, i, format!("line {i}").into_bytes(), false));
        }
        let queued = results.iter().filter(|r| **r == Sent::Queued).count();
        let dropped = results.iter().filter(|r| **r == Sent::Dropped).count();
        assert_eq!((queued, dropped), (8, 992), "every send returned at once");
        assert_eq!(log.stats().dropped, 992);
        // A sync asked for while the writer is still stalled returns only once the loss is
        // on disk too.
        let syncing = {
            let log = log.clone();
            std::thread::spawn(move || log.sync())
        };
        while log.inner.queue.queued_items() < 9 {
            std::thread::yield_now();
        }
        drop(gate);
        syncing.join().map_err(|_| "the sync panicked")??;
        let records = log.read(&Filter::default())?;
        let msgs: Vec<&str> = records.iter().map(|r| r.msg.as_str()).collect();
        assert_eq!(msgs.len(), 9);
        assert_eq!(
            msgs[..8],
            (0..8).map(|i| format!("line {i}")).collect::<Vec<_>>()
        );
        let notice = &records[8];
        assert_eq!(notice.msg, "dropped 992 lines");
        assert_eq!(notice.dropped, Some(992));
        assert_eq!(notice.source, Source::Orco);
        assert_eq!(notice.instance.as_deref(), Some("api-0"));
        assert_eq!(notice.workload, Some(Workload::Service("api".into())));
        Ok(())
    }

    #[test]
    fn a_producer_flooding_a_small_buffer_loses_exactly_what_the_drop_records_count() -> Result {
        let tmp = tempfile::tempdir()?;
        let config = LogConfig {
            queue_lines: 16,
            ..LogConfig::new(tmp.path())
        };
        let log = StackLog::open(&config, "demo")?;
        let mut producer = log.producer(Origin::service("api", "api-0"));
        let produced = 200_000u64;
        let mut refused = 0u64;
        for i in 0..produced {
            match producer.send_bytes(STDOUT, i, format!("{i}").into_bytes(), false) {
                Sent::Queued => {}
                Sent::Dropped => refused += 1,
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
        log.close();
        let records = read_dir(log.dir(), &Filter::default())?;
        let lines: Vec<u64> = records
            .iter()
            .filter(|r| r.source == Source::Stdout)
            .map(|r| r.msg.parse::<u64>())
            .collect::<std::result::Result<_, _>>()?;
        let noticed: u64 = records.iter().filter_map(|r| r.dropped).sum();
        assert!(
            refused > 0,
            "a 16-line buffer cannot keep up with a tight loop"
        );
        assert_eq!(noticed, refused);
        assert_eq!(noticed, produced - lines.len() as u64);
        assert!(
            lines.windows(2).all(|w| w[0] < w[1]),
            "kept lines stay in order"
        );
        Ok(())
    }
}

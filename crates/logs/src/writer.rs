//! The writer thread of one stack: numbers records, writes them, rotates, feeds subscribers.
//!
//! One thread per stack takes everything queued at once, forms and writes
//! each record to a buffered `current.ndjson`, offers it to the live subscribers, and flushes
//! the buffer after every batch (so that readers see what was written, without an fsync per
//! line). It fsyncs on rotation, on [`StackLog::sync`] and when it stops. A write error is
//! counted and the writer carries on (reopening the file on the next batch); the records
//! still reach live subscribers. The lines a failed write lost (a full disk) are counted,
//! and the first record written once the disk takes writes again is `dropped N lines`.
//!
//! [`StackLog::sync`]: crate::StackLog::sync

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Map;

use crate::config::LogConfig;
use crate::error::LogError;
use crate::files::{
    CURRENT, create_private_dir, end_with_newline, last_seq, open_append, rotated, rotated_name,
    sync_dir,
};
use crate::form::{RawLine, form, timestamp};
use crate::queue::{Item, Queue};
use crate::record::{Level, Origin, Record, Source};
use crate::subscribe::Subscriber;

/// Counters a [`crate::StackLog`] reports in its [`crate::Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) persisted: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, what: &str, path: &Path, e: &std::io::Error) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        let text = format!("cannot {what} {}: {e}", path.display());
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(text);
    }
}

const BUFFER: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct Writer {
    stack: String,
    dir: PathBuf,
    rotate_bytes: u64,
    keep_files: usize,
    file: Option<BufWriter<File>>,
    size: u64,
    next_seq: u64,
    next_num: u64,
    subscribers: Vec<Subscriber>,
    line: Vec<u8>,
    counters: Arc<Counters>,
    /// Lines lost to failed writes, announced by the next record that reaches the file.
    lost: u64,
}

impl Writer {
    /// Prepares the stack's directory and current file, and finds where numbering resumes.
    pub(crate) fn open(
        stack: &str,
        dir: PathBuf,
        config: &LogConfig,
        counters: Arc<Counters>,
    ) -> Result<Writer, LogError> {
        create_private_dir(&dir)?;
        let current = dir.join(CURRENT);
        end_with_newline(&current).map_err(|e| LogError::io(&current, e))?;
        let next_seq = last_seq(&dir)?.saturating_add(1);
        let next_num = rotated(&dir)?.last().map_or(1, |(n, _)| n + 1);
        let file = open_append(&current).map_err(|e| LogError::io(&current, e))?;
        let size = file
            .metadata()
            .map_err(|e| LogError::io(&current, e))?
            .len();
        Ok(Writer {
            stack: stack.to_string(),
            dir,
            rotate_bytes: config.rotate_bytes.max(1),
            keep_files: config.keep_files,
            file: Some(BufWriter::with_capacity(BUFFER, file)),
            size,
            next_seq,
            next_num,
            subscribers: Vec::new(),
            line: Vec::with_capacity(1024),
            counters,
            lost: 0,
        })
    }

    /// Runs until the queue is closed and drained; flushes and fsyncs before returning.
    pub(crate) fn run(mut self, queue: &Queue) {
        let mut batch = VecDeque::new();
        while queue.take(&mut batch) {
            for item in batch.drain(..) {
                self.handle(item);
            }
            self.flush();
        }
        self.sync();
    }

    fn handle(&mut self, item: Item) {
        match item {
            Item::Line {
                origin,
                source,
                at,
                bytes,
                truncated,
            } => {
                let line = RawLine {
                    source,
                    at_unix_nanos: at,
                    bytes: &bytes,
                    truncated,
                };
                let record = form(&self.stack, &origin, line);
                self.append(record);
            }
            Item::Note {
                origin,
                at,
                level,
                msg,
                fields,
            } => {
                let record = self.orco_record(&origin, at, level, msg, None, fields);
                self.append(record);
            }
            Item::Dropped { origin, at, n } => {
                let msg = format!("dropped {n} lines");
                let record =
                    self.orco_record(&origin, at, Some(Level::Warn), msg, Some(n), Map::new());
                self.append(record);
            }
            Item::Subscribe(subscriber, reply) => {
                // Everything numbered so far reaches the disk before the subscriber's
                // first record is decided: a reader that starts now sees all of it.
                self.flush();
                if reply.send(self.next_seq).is_ok() {
                    self.subscribers.push(subscriber);
                }
            }
            Item::Sync(reply) => {
                self.flush();
                self.sync();
                let _ = reply.send(());
            }
        }
    }

    fn orco_record(
        &self,
        origin: &Origin,
        at: u64,
        level: Option<Level>,
        msg: String,
        dropped: Option<u64>,
        fields: Map<String, serde_json::Value>,
    ) -> Record {
        Record {
            seq: 0,
            ts: timestamp(at),
            stack: self.stack.clone(),
            workload: origin.workload.clone(),
            instance: origin.instance.clone(),
            level,
            source: Source::Orco,
            msg,
            dropped,
            truncated: false,
            fields,
        }
    }

    fn append(&mut self, mut record: Record) {
        // The loss is told before the next record, in numbering as in the file.
        if self.lost > 0 && self.ensure_file() {
            self.announce_lost();
        }
        record.seq = self.next_seq;
        self.next_seq += 1;
        self.line.clear();
        record.write_json_line(&mut self.line);
        self.write_line();
        self.offer(record);
    }

    /// Hands a numbered record to the live subscribers; those that are gone are dropped.
    fn offer(&mut self, record: Record) {
        if !self.subscribers.is_empty() {
            let record = Arc::new(record);
            self.subscribers.retain(|s| s.offer(&record));
        }
    }

    fn write_line(&mut self) {
        let len = self.line.len() as u64;
        if self.size > 0 && self.size + len > self.rotate_bytes {
            self.rotate();
        }
        if !self.ensure_file() {
            self.lost += 1;
            return;
        }
        let line = std::mem::take(&mut self.line);
        if self.write_buffered(&line) {
            self.counters.persisted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.lost += 1;
        }
        self.line = line;
    }

    /// Opens `current.ndjson` again after a failed write; whether it is open.
    fn ensure_file(&mut self) -> bool {
        if self.file.is_some() {
            return true;
        }
        let current = self.dir.join(CURRENT);
        // A failed write may have left half a line: the next record starts on its own.
        match end_with_newline(&current).and_then(|()| open_append(&current)) {
            Ok(f) => {
                self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = Some(BufWriter::with_capacity(BUFFER, f));
                true
            }
            Err(e) => {
                self.counters.error("open", &current, &e);
                false
            }
        }
    }

    /// Writes `bytes` (whole lines) to the buffered file. On failure the file is dropped
    /// with what it buffered (counted as lost), to be reopened by the next write.
    fn write_buffered(&mut self, bytes: &[u8]) -> bool {
        let Some(file) = &mut self.file else {
            return false;
        };
        match file.write_all(bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                true
            }
            Err(e) => {
                self.counters.error("write", &self.dir.join(CURRENT), &e);
                self.discard_buffer();
                false
            }
        }
    }

    /// Drops the file without writing what it buffered; those lines count as lost.
    fn discard_buffer(&mut self) {
        if let Some(file) = self.file.take() {
            let (_, buffered) = file.into_parts();
            let lines = buffered.map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
            self.lost += lines as u64;
        }
    }

    /// Writes the `dropped N lines` record for the lines lost so far, if it can.
    fn announce_lost(&mut self) {
        let n = self.lost;
        let msg = format!("dropped {n} lines: the log could not be written (is the disk full?)");
        let origin = Origin {
            workload: None,
            instance: None,
        };
        let mut record = self.orco_record(
            &origin,
            orco_runtime::output::unix_nanos(),
            Some(Level::Warn),
            msg,
            Some(n),
            Map::new(),
        );
        record.seq = self.next_seq;
        let mut bytes = Vec::new();
        record.write_json_line(&mut bytes);
        if !self.write_buffered(&bytes) {
            return;
        }
        self.next_seq += 1;
        self.lost = 0;
        self.counters.persisted.fetch_add(1, Ordering::Relaxed);
        self.offer(record);
    }

    /// Closes `current.ndjson` as the next numbered file, starts a new one, and deletes the
    /// oldest files beyond the kept count.
    fn rotate(&mut self) {
        self.sync();
        self.file = None;
        let current = self.dir.join(CURRENT);
        let target = self.dir.join(rotated_name(self.next_num));
        if let Err(e) = std::fs::rename(&current, &target) {
            return self.counters.error("rotate", &current, &e);
        }
        self.next_num += 1;
        self.size = 0;
        match rotated(&self.dir) {
            Ok(files) => {
                let excess = files.len().saturating_sub(self.keep_files);
                for (_, path) in files.into_iter().take(excess) {
                    if let Err(e) = std::fs::remove_file(&path) {
                        self.counters.error("remove", &path, &e);
                    }
                }
            }
            Err(LogError::Io { path, source }) => self.counters.error("list", &path, &source),
            Err(e) => {
                let io = std::io::Error::other(e.to_string());
                self.counters.error("list", &self.dir.clone(), &io);
            }
        }
        if let Err(e) = sync_dir(&self.dir) {
            self.counters.error("sync", &self.dir.clone(), &e);
        }
    }

    fn flush(&mut self) {
        if let Some(file) = &mut self.file
            && let Err(e) = file.flush()
        {
            self.counters.error("write", &self.dir.join(CURRENT), &e);
            self.discard_buffer();
        }
    }

    fn sync(&mut self) {
        self.flush();
        if let Some(file) = &self.file
            && let Err(e) = file.get_ref().sync_data()
        {
            self.counters.error("sync", &self.dir.join(CURRENT), &e);
        }
    }
}

//! `LogConfig`: where logs live, when they rotate, and how large the buffers are.

use std::path::PathBuf;

/// Settings of the log pipeline. [`LogConfig::new`] gives the documented defaults.
///
/// Disk use per stack is bounded by about `rotate_bytes * (keep_files + 1)`; memory per stack
/// by `queue_bytes` plus, per subscriber, `subscriber_capacity` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The root directory: a stack's files are in `<dir>/<stack>/`.
    pub dir: PathBuf,
    /// `current.ndjson` is rotated before it would grow past this many bytes
    /// (default [`DEFAULT_ROTATE_BYTES`], 16 MiB).
    pub rotate_bytes: u64,
    /// How many rotated files are kept besides `current.ndjson`; older ones are deleted
    /// (default [`DEFAULT_KEEP_FILES`], 4).
    pub keep_files: usize,
    /// Lines a stack's queue holds before new lines are dropped and counted
    /// (default [`DEFAULT_QUEUE_LINES`], 8192).
    pub queue_lines: usize,
    /// Bytes of line text a stack's queue holds before new lines are dropped and counted
    /// (default [`DEFAULT_QUEUE_BYTES`], 8 MiB).
    pub queue_bytes: usize,
    /// Records a live subscriber's channel holds before it loses records
    /// (default [`DEFAULT_SUBSCRIBER_CAPACITY`], 4096).
    pub subscriber_capacity: usize,
    /// Longer lines are cut here and marked (default [`DEFAULT_MAX_LINE_BYTES`], 16 KiB; at
    /// most the runtime's own limit, 64 KiB, beyond which the rest of a line is not kept).
    pub max_line_bytes: usize,
}

/// Default rotation size: 16 MiB.
pub const DEFAULT_ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// Default number of rotated files kept: 4.
pub const DEFAULT_KEEP_FILES: usize = 4;
/// Default queue length in lines: 8192.
pub const DEFAULT_QUEUE_LINES: usize = 8192;
/// Default queue size in bytes: 8 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Default subscriber channel length: 4096 records.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 4096;
/// Default line limit: 16 KiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024;

impl LogConfig {
    /// The defaults, with logs under `dir` (the daemon uses `<data dir>/logs`).
    pub fn new(dir: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            rotate_bytes: DEFAULT_ROTATE_BYTES,
            keep_files: DEFAULT_KEEP_FILES,
            queue_lines: DEFAULT_QUEUE_LINES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            subscriber_capacity: DEFAULT_SUBSCRIBER_CAPACITY,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// The line limit actually applied: at least 1 byte, at most the runtime's 64 KiB.
    pub(crate) fn line_limit(&self) -> usize {
        self.max_line_bytes.clamp(1, orco_runtime::output::MAX_LINE)
    }
}

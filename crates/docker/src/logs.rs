//! Container output as orco output lines: the engine's log, read from its start and cut into
//! records whose offsets count exactly as a keeper output log's would.
//!
//! The engine keeps each container's output (the json-file driver); orco never stores a copy.
//! An offset is the position of a record in the sequence of records the whole log cuts into,
//! so resuming from a line's `next_offset()` reads the log again from its start and skips
//! what was delivered: no gap, no repeat.

use std::str::FromStr;

use bollard::container::LogOutput;
use orco_runtime::output::{LineSplitter, RECORD_HEADER};
use orco_runtime::{OutputLine, Source};

/// Splits the engine's log frames (each `TIMESTAMP text`) into output records and counts
/// their offsets.
#[derive(Debug)]
pub(crate) struct LogCutter {
    instance: String,
    offset: u64,
    stdout: LineSplitter,
    stderr: LineSplitter,
    last_at: u64,
}

impl LogCutter {
    /// A cutter at the start of `instance`'s log.
    pub(crate) fn new(instance: &str) -> LogCutter {
        LogCutter {
            instance: instance.to_string(),
            offset: 0,
            stdout: LineSplitter::default(),
            stderr: LineSplitter::default(),
            last_at: 0,
        }
    }

    /// The offset of the next record.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Feeds one frame of the engine's log; calls `emit` for every complete record.
    pub(crate) fn push(&mut self, frame: &LogOutput, emit: &mut impl FnMut(OutputLine)) {
        let (source, bytes) = match frame {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (Source::Stdout, message)
            }
            LogOutput::StdErr { message } => (Source::Stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        let (at, text) = split_timestamp(bytes);
        if let Some(at) = at {
            self.last_at = at;
        }
        let at = self.last_at;
        let Self {
            instance,
            offset,
            stdout,
            stderr,
            ..
        } = self;
        let splitter = match source {
            Source::Stdout => stdout,
            Source::Stderr => stderr,
        };
        splitter.push(text, &mut |line: &[u8], continued| {
            emit(record(instance, offset, source, at, line, continued));
        });
    }

    /// The log ended for good (the container stopped): emits unfinished last lines.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(OutputLine)) {
        let at = self.last_at;
        let Self {
            instance,
            offset,
            stdout,
            stderr,
            ..
        } = self;
        for (source, splitter) in [(Source::Stdout, stdout), (Source::Stderr, stderr)] {
            splitter.finish(&mut |line: &[u8], continued| {
                emit(record(instance, offset, source, at, line, continued));
            });
        }
    }
}

fn record(
    instance: &str,
    offset: &mut u64,
    source: Source,
    at: u64,
    line: &[u8],
    continued: bool,
) -> OutputLine {
    let line = OutputLine {
        instance: instance.to_string(),
        source,
        at_unix_nanos: at,
        continued,
        offset: *offset,
        bytes: line.to_vec(),
    };
    *offset += (RECORD_HEADER + line.bytes.len()) as u64;
    line
}

/// Splits `2024-05-01T10:00:00.123456789Z text` into the time in Unix nanoseconds and the
/// text; a frame without a readable timestamp is all text.
pub(crate) fn split_timestamp(frame: &[u8]) -> (Option<u64>, &[u8]) {
    let Some(space) = frame.iter().position(|&b| b == b' ') else {
        return (None, frame);
    };
    let parsed = std::str::from_utf8(&frame[..space])
        .ok()
        .and_then(|s| jiff::Timestamp::from_str(s).ok())
        .and_then(|t| u64::try_from(t.as_nanosecond()).ok());
    match parsed {
        Some(at) => (Some(at), &frame[space + 1..]),
        None => (None, frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(text: &str) -> LogOutput {
        LogOutput::StdOut {
            message: text.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn frames_lose_their_timestamp_and_offsets_count_like_a_keeper_log() {
        let mut cutter = LogCutter::new("s.web-0");
        let mut lines = Vec::new();
        cutter.push(&out("2024-05-01T10:00:00.000000001Z hello\n"), &mut |l| {
            lines.push(l)
        });
        cutter.push(
            &LogOutput::StdErr {
                message: b"2024-05-01T10:00:01Z oops\n".to_vec().into(),
            },
            &mut |l| lines.push(l),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].bytes, b"hello");
        assert_eq!(lines[0].offset, 0);
        assert_eq!(lines[1].offset, lines[0].next_offset());
        assert_eq!(lines[1].source, Source::Stderr);
        assert_eq!(cutter.offset(), lines[1].next_offset());
        assert_eq!(lines[0].at_unix_nanos, 1_714_557_600_000_000_001);
    }

    #[test]
    fn a_partial_frame_is_joined_with_the_next_and_flushed_at_the_end() {
        let mut cutter = LogCutter::new("s.web-0");
        let mut lines = Vec::new();
        cutter.push(&out("2024-05-01T10:00:00Z par"), &mut |l| lines.push(l));
        cutter.push(&out("2024-05-01T10:00:00Z tial\nlast"), &mut |l| {
            lines.push(l)
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].bytes, b"partial");
        cutter.finish(&mut |l| lines.push(l));
        assert_eq!(lines[1].bytes, b"last");
    }

    #[test]
    fn a_frame_without_a_timestamp_is_kept_whole() {
        assert_eq!(
            split_timestamp(b"no-time here"),
            (None, &b"no-time here"[..])
        );
        assert_eq!(split_timestamp(b"plain"), (None, &b"plain"[..]));
    }
}

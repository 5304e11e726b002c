//! Output lines: splitting a byte stream into lines, and the record format of output logs.
//!
//! A record is `[u64 LE unix nanos][u8 source][u8 flags][u32 LE length][bytes]`; an
//! instance's output log is its records back to back, so an offset into the log is where a
//! reader resumes. Bytes are kept raw (not necessarily UTF-8); a line longer than
//! [`MAX_LINE`] is cut into several records, each but the last flagged `continued`.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The longest record; longer lines are cut.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes of a record before its line.
pub const RECORD_HEADER: usize = 14;
const FLAG_CONTINUED: u8 = 1;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stdout,
    Stderr,
}

impl Source {
    fn byte(self) -> u8 {
        match self {
            Source::Stdout => 1,
            Source::Stderr => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Source> {
        match b {
            1 => Some(Source::Stdout),
            2 => Some(Source::Stderr),
            _ => None,
        }
    }
}

/// One line (or one piece of a very long line) an instance printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// The instance that printed it.
    pub instance: String,
    /// stdout or stderr.
    pub source: Source,
    /// When the keeper read it, in nanoseconds since the Unix epoch.
    pub at_unix_nanos: u64,
    /// The line goes on in the next record (it was longer than [`MAX_LINE`]).
    pub continued: bool,
    /// Where this record starts in the instance's output log.
    pub offset: u64,
    /// The line without its newline; raw bytes.
    pub bytes: Vec<u8>,
}

impl OutputLine {
    /// Where the next record starts: the offset to resume from after this line.
    pub fn next_offset(&self) -> u64 {
        self.offset + (RECORD_HEADER + self.bytes.len()) as u64
    }

    /// The line as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// The time now in nanoseconds since the Unix epoch.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Appends one record to `out`.
pub fn encode_record(out: &mut Vec<u8>, at: u64, source: Source, continued: bool, line: &[u8]) {
    out.extend_from_slice(&at.to_le_bytes());
    out.push(source.byte());
    out.push(if continued { FLAG_CONTINUED } else { 0 });
    // Lines are at most MAX_LINE long, so the length always fits.
    out.extend_from_slice(&u32::try_from(line.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(line);
}

/// Decodes the record at the start of `data`: the line (with `offset` and `instance` set)
/// and the bytes it took; `None` when `data` does not hold a whole valid record.
pub fn decode_record(data: &[u8], instance: &str, offset: u64) -> Option<(OutputLine, usize)> {
    let header = data.get(..RECORD_HEADER)?;
    let at = u64::from_le_bytes(header[..8].try_into().ok()?);
    let source = Source::from_byte(header[8])?;
    let continued = header[9] & FLAG_CONTINUED != 0;
    let len = u32::from_le_bytes(header[10..14].try_into().ok()?) as usize;
    if len > MAX_LINE {
        return None;
    }
    let bytes = data.get(RECORD_HEADER..RECORD_HEADER + len)?.to_vec();
    let line = OutputLine {
        instance: instance.to_string(),
        source,
        at_unix_nanos: at,
        continued,
        offset,
        bytes,
    };
    Some((line, RECORD_HEADER + len))
}

/// Cuts a byte stream into lines of at most [`MAX_LINE`] bytes. Holds only the unfinished
/// line between reads, and frees it when there is none.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; calls `emit(line, continued)` for every complete line or full piece.
    pub fn push(&mut self, data: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl);
            if self.pending.is_empty() {
                emit_pieces(head, emit);
            } else {
                self.pending.extend_from_slice(head);
                emit_pieces(&self.pending, emit);
                self.pending = Vec::new();
            }
            rest = &tail[1..];
        }
        self.pending.extend_from_slice(rest);
        while self.pending.len() >= MAX_LINE {
            let tail = self.pending.split_off(MAX_LINE);
            emit(&self.pending, true);
            self.pending = tail;
        }
        if self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }

    /// The stream ended: emits an unfinished last line, if any.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit_pieces(&self.pending, emit);
            self.pending = Vec::new();
        }
    }
}

fn emit_pieces(line: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
    let mut chunks = line.chunks(MAX_LINE).peekable();
    if chunks.peek().is_none() {
        emit(b"", false);
    }
    while let Some(chunk) = chunks.next() {
        emit(chunk, chunks.peek().is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(parts: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for p in parts {
            s.push(p, &mut |l: &[u8], c| out.push((l.to_vec(), c)));
        }
        s.finish(&mut |l: &[u8], c| out.push((l.to_vec(), c)));
        out
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let out = split(&[b"a\nb", b"c\n\nd"]);
        assert_eq!(
            out,
            vec![
                (b"a".to_vec(), false),
                (b"bc".to_vec(), false),
                (b"".to_vec(), false),
                (b"d".to_vec(), false)
            ]
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_into_continued_pieces() {
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let mut input = long.clone();
        input.push(b'\n');
        for parts in [vec![&input[..]], input.chunks(1000).collect::<Vec<_>>()] {
            let out = split(&parts);
            assert_eq!(out.len(), 3);
            assert!(out[0].1 && out[1].1 && !out[2].1);
            let joined: Vec<u8> = out.iter().flat_map(|(l, _)| l.clone()).collect();
            assert_eq!(joined, long);
        }
    }

    #[test]
    fn invalid_utf8_passes_through_untouched() {
        let out = split(&[b"\xff\xfe ok\n"]);
        assert_eq!(out, vec![(b"\xff\xfe ok".to_vec(), false)]);
    }

    #[test]
    fn records_round_trip_and_a_torn_record_is_not_decoded() {
        let mut log = Vec::new();
        encode_record(&mut log, 42, Source::Stderr, true, b"hello");
        encode_record(&mut log, 43, Source::Stdout, false, b"\xff");
        let (first, used) = decode_record(&log, "web-0", 0).expect("first record");
        assert_eq!(first.bytes, b"hello");
        assert_eq!(first.source, Source::Stderr);
        assert!(first.continued);
        assert_eq!(first.next_offset(), used as u64);
        let (second, _) = decode_record(&log[used..], "web-0", used as u64).expect("second");
        assert_eq!(second.text(), "\u{fffd}");
        assert!(decode_record(&log[..used - 1], "web-0", 0).is_none());
    }
}

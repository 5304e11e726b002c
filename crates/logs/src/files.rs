//! The on-disk layout of a stack's log, and the file operations the writer and readers share.
//!
//! ```text
//! <dir>/                      0700
//!   <stack>/                  0700
//!     current.ndjson          0600  the file being written
//!     00000001.ndjson         0600  rotated files, numbered upwards; higher is newer
//!     00000002.ndjson
//! ```
//!
//! Rotation renames `current.ndjson` to the next number and starts a new one; files beyond
//! the kept count are deleted lowest number first. Every line of every file is one record
//! ([`crate::Record`]); seqs increase through the files in number order, then `current`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::record::Record;

/// The name of the file being written.
pub const CURRENT: &str = "current.ndjson";
/// How much of a file's end is searched for its last record before reading it whole.
const TAIL_WINDOW: u64 = 1024 * 1024;

/// The log directory of `stack` under `root`, or an error when the name cannot be one.
pub fn stack_dir(root: &Path, stack: &str) -> Result<PathBuf, LogError> {
    let valid = !stack.is_empty()
        && stack.len() <= 255
        && stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !stack.chars().all(|c| c == '.');
    if !valid {
        return Err(LogError::InvalidStack {
            name: stack.to_string(),
        });
    }
    Ok(root.join(stack))
}

/// The name of rotated file number `num`.
pub(crate) fn rotated_name(num: u64) -> String {
    format!("{num:08}.ndjson")
}

/// The rotated files of `dir`, lowest (oldest) number first; none when `dir` does not exist.
pub(crate) fn rotated(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".ndjson")) else {
            continue;
        };
        if !stem.is_empty()
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(num) = stem.parse::<u64>()
        {
            out.push((num, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), LogError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| LogError::io(dir, e))
}

/// Opens `path` for appending, creating it with mode 0600.
pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Makes sure a non-empty file ends with a newline, so that a line torn by a crash stays a
/// line of its own (which readers skip) instead of spoiling the next record.
pub(crate) fn end_with_newline(path: &Path) -> std::io::Result<()> {
    let mut file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// The seq of the last record in `dir` (current file first, then rotated files newest
/// first); 0 when there is none.
pub(crate) fn last_seq(dir: &Path) -> Result<u64, LogError> {
    let current = dir.join(CURRENT);
    if let Some(seq) = last_seq_in(&current)? {
        return Ok(seq);
    }
    for (_, path) in rotated(dir)?.into_iter().rev() {
        if let Some(seq) = last_seq_in(&path)? {
            return Ok(seq);
        }
    }
    Ok(0)
}

/// The highest seq among the last records of `path`: its final megabyte is searched first,
/// the whole file only when that holds no record.
fn last_seq_in(path: &Path) -> Result<Option<u64>, LogError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, e)),
    };
    let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
    let mut start = len.saturating_sub(TAIL_WINDOW);
    loop {
        file.seek(SeekFrom::Start(start))
            .map_err(|e| LogError::io(path, e))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| LogError::io(path, e))?;
        let found = data
            .split(|&b| b == b'\n')
            .filter_map(Record::from_json_line)
            .map(|r| r.seq)
            .max();
        if found.is_some() || start == 0 {
            return Ok(found);
        }
        start = 0;
    }
}

/// Fsyncs a directory, so that renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_that_could_escape_the_directory_are_refused() {
        let root = Path::new("/logs");
        assert_eq!(
            stack_dir(root, "demo-1_a.b").ok(),
            Some(root.join("demo-1_a.b"))
        );
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(
                matches!(stack_dir(root, bad), Err(LogError::InvalidStack { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rotated_names_sort_by_number() {
        assert_eq!(rotated_name(3), "00000003.ndjson");
        assert_eq!(rotated_name(123_456_789), "123456789.ndjson");
    }
}

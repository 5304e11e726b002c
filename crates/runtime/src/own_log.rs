//! A process's own log file kept under a size: the keeper's `keeper.log` and the daemon's
//! `daemon.log` are its stderr, appended to; past [`OWN_LOG_MAX`] the file's content moves
//! to `FILE.1` (replacing the one before) and the file starts empty again.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The size past which a process's own log file is rotated: disk use stays under about
/// twice this (the file and its one previous copy).
pub const OWN_LOG_MAX: u64 = 8 * 1024 * 1024;

/// How often stderr's size is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Rotates the regular file open at `fd` (at `path`) when it is larger than `max`: its
/// content is copied to `PATH.1` and the file truncated (writers in append mode go on at its
/// new end). Returns whether it rotated. A pipe, a terminal or `/dev/null` is left alone.
pub fn cap(fd: BorrowedFd<'_>, path: &Path, max: u64) -> io::Result<bool> {
    let stat = rustix::fs::fstat(fd)?;
    let regular =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
    if !regular || u64::try_from(stat.st_size).unwrap_or(0) <= max {
        return Ok(false);
    }
    let mut previous = path.as_os_str().to_owned();
    previous.push(".1");
    std::fs::copy(path, PathBuf::from(previous))?;
    rustix::fs::ftruncate(fd, 0)?;
    Ok(true)
}

/// The file this process's stderr is open on, when it is a regular file.
fn stderr_path() -> Option<PathBuf> {
    let path = std::fs::read_link("/proc/self/fd/2").ok()?;
    path.is_absolute().then_some(path)
}

/// Keeps this process's stderr, when it is a regular file, under [`OWN_LOG_MAX`]: checked
/// every few seconds on a thread of its own for the life of the process.
pub fn cap_stderr() {
    let Some(path) = stderr_path() else { return };
    let spawned = std::thread::Builder::new()
        .name("own-log".into())
        .spawn(move || {
            loop {
                let stderr = io::stderr();
                if let Err(e) = cap(stderr.as_fd(), &path, OWN_LOG_MAX) {
                    eprintln!("cannot rotate {}: {e}", path.display());
                    return;
                }
                std::thread::sleep(CHECK_EVERY);
            }
        });
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    /// A file opened to append to, as a process's stderr is.
    fn appending(path: &Path) -> File {
        File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
    }

    #[test]
    fn a_log_past_its_size_moves_to_its_previous_copy_and_writing_goes_on_from_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keeper.log");
        let mut log = appending(&path);
        log.write_all(&[b'a'; 100]).unwrap();
        assert!(!cap(log.as_fd(), &path, 100).unwrap(), "at the size: kept");
        log.write_all(b"b\n").unwrap();
        assert!(cap(log.as_fd(), &path, 100).unwrap());
        assert_eq!(
            std::fs::metadata(dir.path().join("keeper.log.1"))
                .unwrap()
                .len(),
            102
        );
        log.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        // A second rotation replaces the previous copy: two files at most.
        log.write_all(&[b'c'; 200]).unwrap();
        assert!(cap(log.as_fd(), &path, 100).unwrap());
        let previous = std::fs::read(dir.path().join("keeper.log.1")).unwrap();
        assert!(previous.starts_with(b"after\n") && previous.len() == 206);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_pipe_is_never_rotated() {
        let (read, _write) = std::io::pipe().unwrap();
        assert!(!cap(read.as_fd(), Path::new("/nonexistent"), 0).unwrap());
    }
}

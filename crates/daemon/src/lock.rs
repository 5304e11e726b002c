//! The exclusive lock on the data directory: one daemon per data dir, so that a racing
//! auto-start can never give two. The lock is `flock` on `daemon.lock`, released by the
//! kernel when the process dies, however it dies.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::DaemonError;

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "daemon.lock";

/// The held lock; released on drop.
#[derive(Debug)]
pub struct DataDirLock {
    _lock: Flock<std::fs::File>,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist), writing this process's pid into it; fails
    /// with [`DaemonError::Locked`] naming the holder when another process has it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DaemonError> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| DaemonError::io("open the lock file", path.display(), e))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, errno)) => {
                if errno == nix::errno::Errno::EWOULDBLOCK {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(DaemonError::Locked {
                        dir: dir.to_path_buf(),
                        pid: text.trim().parse().ok(),
                    });
                }
                return Err(DaemonError::io("lock", path.display(), errno));
            }
        };
        let write = |file: &mut std::fs::File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_all()
        };
        write(&mut lock).map_err(|e| DaemonError::io("write the lock file", path.display(), e))?;
        Ok(DataDirLock { _lock: lock, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

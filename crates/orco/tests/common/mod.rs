//! Shared by the integration tests: shutting a keeper down from synchronous code (a test's
//! guard on drop), so that a failing test leaves no process behind.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Asks the keeper serving `dir` to kill its instances and exit, and waits until it has.
pub fn shutdown_keeper(dir: &Path) {
    use orco_runtime::protocol::{Op, Request, VERSION, json_frame};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(dir.join("keeper.sock")) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    for (id, op) in [
        (0, Op::Hello { version: VERSION }),
        (1, Op::Shutdown { kill_all: true }),
    ] {
        let Ok(frame) = json_frame(&Request { id, op }) else {
            return;
        };
        if stream.write_all(&frame).is_err() {
            return;
        }
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// Shuts the keeper in `dir` down when dropped.
pub struct KeeperGuard(pub PathBuf);

impl Drop for KeeperGuard {
    fn drop(&mut self) {
        shutdown_keeper(&self.0);
    }
}

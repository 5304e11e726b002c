//! A daemon (no engine) with its HTTPS listener in a temp dir, for the TLS and role tests:
//! started with a token file, waited for until its listener answers, killed on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{ORCO, free_port};

/// The `--token-file` token (an admin token on the TCP listener).
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A daemon with a TLS listener, in a temp dir; killed on drop.
pub struct TlsDaemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub addr: String,
}

impl Drop for TlsDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsDaemon {
    pub fn start() -> TlsDaemon {
        TlsDaemon::start_in(tempfile::tempdir().unwrap())
    }

    /// Starts the daemon on the data in `dir` (a new one, or one a daemon ran on before).
    pub fn start_in(dir: tempfile::TempDir) -> TlsDaemon {
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
        let child = Command::new(ORCO)
            .args(["daemon", "--no-engine", "--listen", &addr])
            .arg("--token-file")
            .arg(&token)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--socket")
            .arg(dir.path().join("orco.sock"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut daemon = TlsDaemon { child, dir, addr };
        for _ in 0..400 {
            if daemon.log().contains("CA pin") && std::net::TcpStream::connect(&daemon.addr).is_ok()
            {
                return daemon;
            }
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("the daemon exited with {status}: {}", daemon.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the daemon did not start: {}", daemon.log());
    }

    /// Kills the daemon with SIGKILL and starts another on the same data dir.
    pub fn restart(mut self) -> TlsDaemon {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        drop(self);
        TlsDaemon::start_in(dir)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// What the daemon printed after `prefix` on a line of its log.
    pub fn printed(&self, prefix: &str) -> String {
        let log = self.log();
        let line = log
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in the daemon's log:\n{log}"));
        line.split_whitespace().next().unwrap().to_string()
    }

    pub fn pin(&self) -> String {
        self.printed("orco daemon: CA pin ")
    }

    /// The CA file, as the daemon printed it.
    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.printed("orco daemon: CA file "))
    }

    pub fn host(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("orco.sock")
    }

    /// `orco ARGS` on the unix socket (no token, no TLS trust from the environment).
    pub fn local(&self, args: &[&str]) -> Output {
        Command::new(ORCO)
            .args(args)
            .env("ORCO_HOST", format!("unix://{}", self.socket().display()))
            .env_remove("ORCO_TOKEN")
            .env_remove("ORCO_CA")
            .env_remove("ORCO_CA_PIN")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}

/// A command's exit status, stdout and stderr, for an assertion's message.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

//! Starting the daemon in the background when a verb that writes (`up`, `apply`, `run`,
//! `job submit`, `scale`, `restart`, `down`, …) finds none answering on a unix socket:
//! `orco daemon --socket PATH` in its own session, its output appended to `daemon.log` in its
//! data dir (`--data-dir`/`ORCO_DATA_DIR` or the default). Verbs that only read never start
//! one: they exit 3.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orco_client::{Client, ClientError, Host};

use crate::args::ConnectArgs;
use crate::remote::{self, Failure};

/// How long a daemon that was just started may take to answer.
const START_PATIENCE: Duration = Duration::from_secs(15);

/// The client for `connect`; when nothing answers on its unix socket, a daemon is started
/// there first.
pub(crate) async fn client(connect: &ConnectArgs) -> Result<Client, Failure> {
    let client = remote::client(connect)?;
    let socket = match (client.health().await, client.host()) {
        (Ok(_), _) => return Ok(client),
        (Err(ClientError::Unreachable { .. }), Host::Unix(socket)) => socket.clone(),
        (Err(e), _) => return Err(e.into()),
    };
    let data_dir = std::env::var_os("ORCO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(orco_wire::paths::default_data_dir);
    let log = start(&socket, &data_dir)?;
    eprintln!(
        "orco: started the daemon on {} (data in {}, log in {})",
        socket.display(),
        data_dir.display(),
        log.display()
    );
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        match client.health().await {
            Ok(_) => return Ok(client),
            Err(ClientError::Unreachable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                eprintln!(
                    "error: the daemon did not answer within {START_PATIENCE:?}; see {}",
                    log.display()
                );
                return Err(e.into());
            }
        }
    }
}

/// Starts `orco daemon` detached from this process (its own session and process group, so
/// that Ctrl-C here never reaches it); returns its log file.
fn start(socket: &Path, data_dir: &Path) -> Result<PathBuf, Failure> {
    use std::os::unix::fs::DirBuilderExt;
    use std::os::unix::process::CommandExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", data_dir.display())))?;
    let log = data_dir.join("daemon.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Failure::Usage(format!("cannot open {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| Failure::Usage(format!("cannot open {}: {e}", log.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Usage(format!("cannot find the orco executable: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("daemon")
        .arg("--socket")
        .arg(socket)
        .arg("--data-dir")
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    command
        .spawn()
        .map_err(|e| Failure::Usage(format!("cannot start the daemon: {e}")))?;
    Ok(log)
}

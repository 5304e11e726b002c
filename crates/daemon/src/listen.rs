//! The listeners: the unix socket (mode 0600, in a 0700 directory when orco creates it) and
//! the bearer token file of the optional TCP listener (whose checks are
//! `orco_api::access::on_network`).

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

use crate::error::DaemonError;

/// Binds the API socket at `path`: creates its directory (0700) when missing, refuses when
/// another daemon answers there, replaces a stale socket, and binds under a temporary name
/// that is made 0600 and then renamed into place, so the socket is never reachable with a
/// wider mode.
pub fn bind_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| DaemonError::io("create the socket directory", dir.display(), e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(DaemonError::SocketInUse {
                    socket: path.to_path_buf(),
                });
            }
        }
        Ok(_) => {
            return Err(DaemonError::io(
                "use as the socket",
                path.display(),
                "a file that is not a socket is there: remove it or pick another --socket",
            ));
        }
        Err(_) => {}
    }
    let temporary = temporary_name(path);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)
        .map_err(|e| DaemonError::io("bind the socket", temporary.display(), e))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DaemonError::io("set the mode of", temporary.display(), e))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| DaemonError::io("move the socket into place at", path.display(), e))?;
    Ok(listener)
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// Reads the bearer token from `path`: its first line, at least 16 characters. A file the
/// group or others may read or write is refused (`chmod 600`).
pub fn read_token(path: &Path) -> Result<String, DaemonError> {
    let text = orco_pki::files::read_secret_file(path)
        .map_err(|e| DaemonError::Config(format!("cannot use the token file: {e}")))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.len() < 16 {
        return Err(DaemonError::Config(format!(
            "the token in {} is shorter than 16 characters: write a long random token there (e.g. `head -c 32 /dev/urandom | base64 > {}`)",
            path.display(),
            path.display()
        )));
    }
    Ok(token)
}

//! The files of the PKI: written whole or not at all (a temporary file, fsynced, renamed into
//! place), private ones created 0600 from the start; and [`read_secret_file`], which refuses a
//! secret that others may read.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::PkiError;

/// Largest secret file read, in bytes: a token is a line, not a document.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Creates `dir` (and its parents) with mode 0700 when it is missing.
pub(crate) fn private_dir(dir: &Path) -> Result<(), PkiError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| PkiError::io("create the directory", dir, e))
}

/// Writes `contents` to `path` with `mode`, atomically: a reader sees the old file or the
/// new one, never a part, and a crash leaves no half-written key.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(name);
    let _ = std::fs::remove_file(&temporary);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(PkiError::io("write", path, e));
    }
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        PkiError::io("write", path, e)
    })?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Removes what an interrupted [`write_atomic`] left in `dir`: `NAME.PID.tmp` of each of
/// `names`.
pub(crate) fn remove_leftovers(dir: &Path, names: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else {
            continue;
        };
        let leftover = names.iter().any(|name| {
            file.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_suffix(".tmp"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if leftover {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads a text file, or `None` when it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| PkiError::corrupt(path, "PEM file", "it is not text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io("read", path, e)),
    }
}

/// Refuses `path` when its group or others may read or write it.
pub(crate) fn check_private(path: &Path) -> Result<(), PkiError> {
    let meta = std::fs::metadata(path).map_err(|e| PkiError::io("read", path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    exposure(mode).map_or(Ok(()), |how| {
        Err(PkiError::Exposed {
            path: path.to_path_buf(),
            how,
            mode,
        })
    })
}

/// Whether permission bits `mode` let the group or others read (first) or write the file.
fn exposure(mode: u32) -> Option<&'static str> {
    if mode & 0o044 != 0 {
        Some("readable")
    } else if mode & 0o022 != 0 {
        Some("writable")
    } else {
        None
    }
}

/// Reads a secret (a token file, an agent's join token file): its contents without the
/// whitespace around them. Refuses a file the group or others may read or write (`FILE is
/// readable by others (mode 0644): chmod 600 FILE`), a missing, empty or oversized one, with
/// an error that names it.
pub fn read_secret_file(path: &Path) -> Result<String, PkiError> {
    let secret = |detail: String| PkiError::SecretFile {
        path: path.to_path_buf(),
        detail,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(secret("no such file".to_string()));
        }
        Err(e) => return Err(secret(format!("cannot read it: {e}"))),
    };
    if !meta.is_file() {
        return Err(secret("not a regular file".to_string()));
    }
    check_private(path)?;
    if meta.len() > MAX_SECRET_BYTES {
        return Err(secret(format!(
            "{} bytes is too large for a secret (at most {MAX_SECRET_BYTES})",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| secret(format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| secret("it is not text".to_string()))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(secret(
            "the file is empty: write the secret into it".to_string(),
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, contents: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_secret_file_is_read_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "token", "  orco1.abc \n\n", 0o600);
        assert_eq!(read_secret_file(&path).unwrap(), "orco1.abc");
        let path = file(dir.path(), "token2", "x", 0o400);
        assert_eq!(read_secret_file(&path).unwrap(), "x");
    }

    #[test]
    fn a_secret_file_others_may_read_is_refused_with_the_chmod_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "token", "secret", 0o644);
        let e = read_secret_file(&path).unwrap_err().to_string();
        let shown = path.display();
        assert_eq!(
            e,
            format!("{shown} is readable by others (mode 0644): chmod 600 {shown}")
        );
        let path = file(dir.path(), "group", "secret", 0o640);
        assert!(
            read_secret_file(&path)
                .unwrap_err()
                .to_string()
                .contains("readable by others (mode 0640)")
        );
        let path = file(dir.path(), "writable", "secret", 0o620);
        assert!(
            read_secret_file(&path)
                .unwrap_err()
                .to_string()
                .contains("writable by others (mode 0620)")
        );
    }

    #[test]
    fn a_missing_or_empty_secret_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_secret_file(&missing).unwrap_err().to_string();
        assert_eq!(e, format!("{}: no such file", missing.display()));
        let empty = file(dir.path(), "empty", " \n", 0o600);
        let e = read_secret_file(&empty).unwrap_err().to_string();
        assert!(e.contains("the file is empty"), "{e}");
        assert!(e.starts_with(&empty.display().to_string()), "{e}");
        let e = read_secret_file(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_private_file_is_written_with_its_mode_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}

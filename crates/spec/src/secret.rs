//! Reading a secret's value from its source (`{file: PATH}`, `{env: VAR}`): the loader checks
//! that the source is there, and the CLI that applies the stack reads the value (the value
//! is never part of the [`crate::Stack`]).

use std::path::{Path, PathBuf};

use crate::model::Secret;

/// The largest value a secret may have.
pub const MAX_SECRET_BYTES: u64 = 1024 * 1024;

/// Why a secret's value cannot be read. The messages never contain the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretSourceError {
    /// `{file: PATH}` names no file.
    #[error("secret file `{}` does not exist", .0.display())]
    NoFile(PathBuf),
    /// The file could not be read.
    #[error("cannot read secret file `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SECRET_BYTES`].
    #[error("secret file `{}` is larger than the {MAX_SECRET_BYTES}-byte limit", .0.display())]
    TooLarge(PathBuf),
    /// `{env: VAR}` names a variable that is not set.
    #[error("environment variable `{0}` is not set")]
    Unset(String),
    /// The variable is set but is not UTF-8.
    #[error("environment variable `{0}` is not valid UTF-8")]
    NotUnicode(String),
    /// Neither or both of `file` and `env`.
    #[error("a secret needs exactly one of `file` and `env`")]
    NoSource,
}

/// Reads the value of `secret`; a relative file starts from `workdir` (the stack's).
pub fn read_value(secret: &Secret, workdir: &Path) -> Result<Vec<u8>, SecretSourceError> {
    match (&secret.file, &secret.env) {
        (Some(file), None) => {
            let path = workdir.join(file);
            let meta = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => return Err(SecretSourceError::NoFile(file.clone())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(SecretSourceError::NoFile(file.clone()));
                }
                Err(source) => {
                    return Err(SecretSourceError::Read {
                        path: file.clone(),
                        source,
                    });
                }
            };
            if meta.len() > MAX_SECRET_BYTES {
                return Err(SecretSourceError::TooLarge(file.clone()));
            }
            std::fs::read(&path).map_err(|source| SecretSourceError::Read {
                path: file.clone(),
                source,
            })
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) => Ok(v.into_bytes()),
            Err(std::env::VarError::NotPresent) => Err(SecretSourceError::Unset(var.clone())),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SecretSourceError::NotUnicode(var.clone()))
            }
        },
        _ => Err(SecretSourceError::NoSource),
    }
}

/// Whether `name` is a valid secret name: an identifier (a letter or `_`, then letters,
/// digits, `_`, `-` or `.`), at most 63 characters, so that it is a file name everywhere.
pub fn valid_secret_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

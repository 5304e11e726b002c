//! `PkiError`: why a certificate, key, token or secret file could not be made, read or used,
//! and what to do; [`PinMismatch`], the TLS failure of a server whose CA is not the pinned one.

use std::path::{Path, PathBuf};

/// A failure of the PKI: every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {what} {}: {detail}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create the directory`, …).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        detail: String,
    },
    /// A file holds something that is not what it should be (not PEM, not a certificate, a
    /// key that does not belong to its certificate, …). It is never replaced silently.
    #[error("{} is not a valid {what}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What it should hold (`CA certificate`, `private key`, …).
        what: &'static str,
        /// What is wrong, and what to do.
        detail: String,
    },
    /// One file of a pair is there and the other is not.
    #[error("{} exists but {} is missing: {hint}", present.display(), missing.display())]
    HalfPair {
        /// The file that is there.
        present: PathBuf,
        /// The file that is not.
        missing: PathBuf,
        /// What to do.
        hint: &'static str,
    },
    /// A private file (a key, a token) may be read or written by others.
    #[error(
        "{path} is {how} by others (mode {mode:04o}): chmod 600 {path}",
        path = path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// `readable` or `writable`.
        how: &'static str,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file (a token file) is missing or empty.
    #[error("{}: {detail}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A key or certificate could not be generated or signed.
    #[error("cannot {what}: {detail}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// What the library said.
        detail: String,
    },
    /// A certificate signing request that cannot be signed.
    #[error("the certificate signing request is refused: {0}")]
    Csr(String),
    /// A certificate signing request for another node's name.
    #[error(
        "the certificate signing request is for {found:?}, not for the node {node:?}: a node may only ask for a certificate in its own name"
    )]
    WrongNode {
        /// The node that asked.
        node: String,
        /// The common name the request carries (empty when it has none).
        found: String,
    },
    /// A certificate that cannot be used (from `--tls-cert`, an agent's `node.crt`, …).
    #[error("the certificate {what} cannot be used: {detail}")]
    Certificate {
        /// Which certificate.
        what: String,
        /// Why.
        detail: String,
    },
    /// A CA pin that is not 64 hexadecimal characters.
    #[error("{0}")]
    Pin(String),
    /// A join token that cannot be read.
    #[error("{0}")]
    Token(String),
    /// A TLS configuration that rustls refused.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(String),
}

impl PkiError {
    /// An IO error while doing `what` on `path`.
    pub(crate) fn io(what: &'static str, path: &Path, e: impl std::fmt::Display) -> PkiError {
        PkiError::Io {
            what,
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }

    /// `path` does not hold a valid `what`.
    pub(crate) fn corrupt(
        path: &Path,
        what: &'static str,
        detail: impl std::fmt::Display,
    ) -> PkiError {
        PkiError::Corrupt {
            path: path.to_path_buf(),
            what,
            detail: detail.to_string(),
        }
    }

    /// rcgen failed while making `what`.
    pub(crate) fn generate(what: &'static str, e: impl std::fmt::Display) -> PkiError {
        PkiError::Generate {
            what,
            detail: e.to_string(),
        }
    }
}

/// The TLS failure of a pinned client when the server presents a certificate chain whose CA
/// is not the one pinned: a server other than the one the token (or `ORCO_CA_PIN`) names, or
/// a man in the middle. Carried inside `rustls::Error::InvalidCertificate(Other(…))`; find it
/// in any error with [`is_pin_mismatch`].
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server's CA does not match the pin in the token (pinned {expected}, the server's CA is {found})"
)]
pub struct PinMismatch {
    /// The pin the client holds.
    pub expected: String,
    /// The pin of the CA the server presented (`none` when it presented no CA certificate).
    pub found: String,
}

/// As its message: rustls shows what it carries with `Debug`.
impl std::fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The [`PinMismatch`] in `error`'s chain, if any: what to print instead of the TLS error.
pub fn pin_mismatch<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e PinMismatch> {
    find::<PinMismatch>(error)
}

/// Whether `error`, or any error it wraps (an `io::Error` from a TLS connect, a
/// `rustls::Error`), is a [`PinMismatch`].
pub fn is_pin_mismatch(error: &(dyn std::error::Error + 'static)) -> bool {
    find::<PinMismatch>(error).is_some()
}

/// The first error of type `T` in `error`'s chain, looking inside `io::Error`s and rustls'
/// `OtherError`s, which do not expose what they carry as a `source`.
pub(crate) fn find<'e, T: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
        {
            let inner: &(dyn std::error::Error + 'static) = &*other.0;
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

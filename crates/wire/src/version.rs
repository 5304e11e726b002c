//! Version exchange (DESIGN.md §9): client and daemon send their version in the
//! `Orco-Version` header and refuse an incompatible pair, saying which side to upgrade.

/// The header both sides send their version in.
pub const VERSION_HEADER: &str = "orco-version";

/// The version of this build (of the CLI and of the daemon alike).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The API version, the path prefix of every route but `/health` and `/metrics`.
pub const API_PREFIX: &str = "/api/v1";

/// Why two versions cannot talk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incompatible {
    /// The peer's version is not `MAJOR.MINOR.PATCH`.
    #[error("the other side sent version {0:?}, which is not MAJOR.MINOR.PATCH")]
    Unreadable(String),
    /// The client is newer than the daemon.
    #[error(
        "client orco {client} is newer than daemon orco {daemon}: upgrade the daemon (restart `orco daemon` with the new binary)"
    )]
    DaemonOlder {
        /// The client's version.
        client: String,
        /// The daemon's version.
        daemon: String,
    },
    /// The daemon is newer than the client.
    #[error("daemon orco {daemon} is newer than client orco {client}: upgrade the CLI to {daemon}")]
    ClientOlder {
        /// The client's version.
        client: String,
        /// The daemon's version.
        daemon: String,
    },
}

fn major_minor(version: &str) -> Option<(u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    Some((major, minor))
}

/// The part of a version that must match: the major, or for 0.x the minor too (semver's rule
/// for versions before 1.0).
fn compat_key(version: &str) -> Option<(u64, u64)> {
    let (major, minor) = major_minor(version)?;
    Some(if major == 0 { (0, minor) } else { (major, 0) })
}

/// Whether a client of version `client` and a daemon of version `daemon` can talk.
pub fn check(client: &str, daemon: &str) -> Result<(), Incompatible> {
    let c = compat_key(client).ok_or_else(|| Incompatible::Unreadable(client.to_string()))?;
    let d = compat_key(daemon).ok_or_else(|| Incompatible::Unreadable(daemon.to_string()))?;
    let pair = || (client.to_string(), daemon.to_string());
    match c.cmp(&d) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => {
            let (client, daemon) = pair();
            Err(Incompatible::DaemonOlder { client, daemon })
        }
        std::cmp::Ordering::Less => {
            let (client, daemon) = pair();
            Err(Incompatible::ClientOlder { client, daemon })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_minor_before_one_point_oh_is_compatible() {
        assert!(check("0.1.0", "0.1.7").is_ok());
        assert!(check("1.2.0", "1.9.3").is_ok());
    }

    #[test]
    fn an_incompatible_pair_says_which_side_to_upgrade() {
        let err = check("0.2.0", "0.1.0").unwrap_err().to_string();
        assert!(err.contains("upgrade the daemon"), "{err}");
        let err = check("1.0.0", "2.0.0").unwrap_err().to_string();
        assert!(err.contains("upgrade the CLI"), "{err}");
        assert!(check("banana", "0.1.0").is_err());
    }
}

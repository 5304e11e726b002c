//! Which daemon to talk to (DESIGN.md §9): `--host unix:///path|https://addr` or
//! `ORCO_HOST` (`tcp://addr` is the same as `https://addr`: the daemon's TCP listener serves
//! HTTPS only), else the default socket — `/run/orco/orco.sock` as root, else
//! `$XDG_RUNTIME_DIR/orco.sock`, falling back to `/tmp/orco-$UID/orco.sock`.

use std::fmt;
use std::path::PathBuf;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket.
    Unix(PathBuf),
    /// A TCP address (`host:port`), spoken to over TLS.
    Tcp(String),
}

/// A `--host` value that is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host {0:?} is not understood: use unix:///path/to/orco.sock or https://host:port")]
pub struct HostError(String);

impl Host {
    /// Parses `unix:///path`, `https://host:port` (or `tcp://host:port`, the same), or a bare
    /// absolute path (a socket).
    pub fn parse(text: &str) -> Result<Host, HostError> {
        let bad = || HostError(text.to_string());
        if let Some(path) = text.strip_prefix("unix://") {
            if path.starts_with('/') {
                return Ok(Host::Unix(PathBuf::from(path)));
            }
            return Err(bad());
        }
        if let Some(addr) = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("tcp://"))
        {
            let addr = addr.trim_end_matches('/');
            let valid = addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            return if valid {
                Ok(Host::Tcp(addr.to_string()))
            } else {
                Err(bad())
            };
        }
        if text.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(text)));
        }
        Err(bad())
    }

    /// The name a TLS client checks the daemon's certificate against: the host part of the
    /// address, without the brackets of an IPv6 address.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Host::Unix(_) => None,
            Host::Tcp(addr) => {
                let host = addr
                    .rsplit_once(':')
                    .map_or(addr.as_str(), |(host, _)| host);
                Some(
                    host.strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(host),
                )
            }
        }
    }

    /// The default socket for this user (see [`orco_wire::paths::default_socket`]).
    pub fn default_socket() -> PathBuf {
        orco_wire::paths::default_socket()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(addr) => write!(f, "https://{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_from_their_urls() {
        assert_eq!(
            Host::parse("unix:///run/orco/orco.sock").unwrap(),
            Host::Unix("/run/orco/orco.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:7700").unwrap(),
            Host::Tcp("127.0.0.1:7700".into())
        );
        assert_eq!(
            Host::parse("https://orco.example:7700/").unwrap(),
            Host::Tcp("orco.example:7700".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:7700").unwrap().to_string(),
            "https://127.0.0.1:7700"
        );
        assert_eq!(
            Host::parse("https://[::1]:7700").unwrap().server_name(),
            Some("::1")
        );
        assert_eq!(
            Host::parse("https://orco.example:7700")
                .unwrap()
                .server_name(),
            Some("orco.example")
        );
        assert!(Host::parse("http://x:1").is_err());
        assert!(Host::parse("http://x").is_err());
        assert!(Host::parse("tcp://nope").is_err());
        assert!(Host::parse("unix://relative").is_err());
    }
}

//! One probe attempt of each kind: http, tcp and cmd. http and tcp never fork.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::ProbeError;

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// It passed.
    pub passed: bool,
    /// What happened, in words: `tcp connect 127.0.0.1:5432 refused`.
    pub detail: String,
}

impl Outcome {
    pub(crate) fn pass(detail: String) -> Outcome {
        Outcome {
            passed: true,
            detail,
        }
    }
    pub(crate) fn fail(detail: String) -> Outcome {
        Outcome {
            passed: false,
            detail,
        }
    }
}

/// A parsed http probe target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// The url as written, for messages.
    pub url: String,
    /// `host:port` to connect to.
    pub authority: String,
    /// The request target: path and query.
    pub path: String,
    /// Statuses that pass.
    pub expect_status: Vec<u16>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
}

impl HttpCheck {
    /// Parses `http://host[:port][/path]`; https is not supported (yet).
    pub fn new(
        url: &str,
        expect_status: &[u16],
        headers: &BTreeMap<String, String>,
    ) -> Result<HttpCheck, ProbeError> {
        let bad = |reason: &str| ProbeError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// urls are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("it has no host"));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                if port.parse::<u16>().is_err() {
                    return Err(bad("the port is not a number"));
                }
                true
            }
            _ => false,
        };
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let bad_header = headers
            .iter()
            .any(|(k, v)| k.contains([':', '\r', '\n']) || v.contains(['\r', '\n']));
        if bad_header {
            return Err(bad("a header name or value holds `:` or a line break"));
        }
        Ok(HttpCheck {
            url: url.to_string(),
            authority,
            path: path.to_string(),
            expect_status: expect_status.to_vec(),
            headers: headers.clone(),
        })
    }

    /// One GET; passes when the status is expected. Reads only the status line.
    pub async fn run(&self, timeout: Duration) -> Outcome {
        let what = format!("http GET {}", self.url);
        match tokio::time::timeout(timeout, self.get()).await {
            Ok(Ok(status)) if self.expect_status.contains(&status) => {
                Outcome::pass(format!("{what}: status {status}"))
            }
            Ok(Ok(status)) => Outcome::fail(format!(
                "{what}: status {status}, expected {:?}",
                self.expect_status
            )),
            Ok(Err(e)) => Outcome::fail(format!("{what}: {e}")),
            Err(_) => Outcome::fail(format!("{what}: no answer within {timeout:?}")),
        }
    }

    async fn get(&self) -> Result<u16, String> {
        let mut stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| connect_error(&self.authority, &e))?;
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: orco-probe\r\nAccept: */*\r\nConnection: close\r\n",
            self.path, self.authority
        );
        for (k, v) in &self.headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending the request failed: {e}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?;
            if n == 0 {
                return Err("the connection closed before a status line".into());
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > 8192 {
                return Err("the status line is longer than 8 KiB".into());
            }
        }
        let line = String::from_utf8_lossy(&head);
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<u16>)) {
            (Some(v), Some(Ok(code))) if v.starts_with("HTTP/") => Ok(code),
            _ => Err(format!(
                "not an HTTP answer: {:?}",
                line.lines().next().unwrap_or("")
            )),
        }
    }
}

fn connect_error(addr: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("connect {addr} refused"),
        _ => format!("connect {addr} failed: {e}"),
    }
}

/// One TCP connect to `host:port`.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Outcome::pass(format!("tcp connect {addr} succeeded")),
        Ok(Err(e)) => Outcome::fail(format!("tcp {}", connect_error(&addr, &e))),
        Err(_) => Outcome::fail(format!("tcp connect {addr}: no answer within {timeout:?}")),
    }
}

/// How long [`tcp_held`] watches a new connection for the peer closing it.
pub const HOLD: Duration = Duration::from_millis(250);

/// One TCP connect to `host:port` that passes only if the peer then keeps the connection
/// open for [`HOLD`] (or sends something): the Docker engine's port forwarder accepts on a
/// published port while nothing in the container listens yet, and closes at once.
pub async fn tcp_held(host: &str, port: u16, timeout: Duration) -> Outcome {
    use tokio::io::AsyncReadExt;
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let started = tokio::time::Instant::now();
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Outcome::fail(format!("tcp {}", connect_error(&addr, &e))),
        Err(_) => {
            return Outcome::fail(format!("tcp connect {addr}: no answer within {timeout:?}"));
        }
    };
    let hold = HOLD.min(timeout.saturating_sub(started.elapsed()));
    let mut byte = [0u8; 1];
    match tokio::time::timeout(hold, stream.read(&mut byte)).await {
        Err(_) | Ok(Ok(1..)) => Outcome::pass(format!("tcp connect {addr} succeeded")),
        Ok(Ok(0)) => Outcome::fail(format!(
            "tcp connect {addr}: closed at once (nothing listens behind the published port yet)"
        )),
        Ok(Err(e)) => Outcome::fail(format!("tcp connect {addr}: {e}")),
    }
}

/// Where a `cmd` probe runs: the instance's working directory and its whole environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The working directory (relative program paths resolve from here too).
    pub workdir: Option<std::path::PathBuf>,
    /// The entire environment; `None` keeps the prober's own.
    pub env: Option<std::collections::BTreeMap<String, String>>,
}

/// Runs a command (in its own process group, killed as a group on timeout) in `context`,
/// or in the prober's own directory and environment without one; exit 0 passes.
pub async fn cmd(argv: &[String], context: Option<&Context>, timeout: Duration) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::fail(ProbeError::EmptyCommand.to_string());
    };
    let what = format!("cmd `{}`", argv.join(" "));
    let mut command = tokio::process::Command::new(program);
    if let Some(context) = context {
        if let Some(dir) = &context.workdir {
            command.current_dir(dir);
        }
        if let Some(env) = &context.env {
            command.env_clear().envs(env);
        }
    }
    let child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Outcome::fail(format!("{what}: cannot start: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Outcome::pass(format!("{what} exited 0")),
        Ok(Ok(status)) => Outcome::fail(format!("{what} failed: {status}")),
        Ok(Err(e)) => Outcome::fail(format!("{what}: waiting failed: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let group = nix::unistd::Pid::from_raw(pid);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Outcome::fail(format!("{what}: no exit within {timeout:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_parse_into_authority_and_path() {
        let none = BTreeMap::new();
        let c = HttpCheck::new("http://127.0.0.1:8080/health?x=1", &[200], &none).expect("valid");
        assert_eq!(
            (c.authority.as_str(), c.path.as_str()),
            ("127.0.0.1:8080", "/health?x=1")
        );
        let c = HttpCheck::new("http://localhost", &[200], &none).expect("valid");
        assert_eq!(
            (c.authority.as_str(), c.path.as_str()),
            ("localhost:80", "/")
        );
        for bad in ["https://x/", "x:80/", "http:///a", "http://h:port/"] {
            assert!(HttpCheck::new(bad, &[200], &none).is_err(), "{bad}");
        }
        let injected = BTreeMap::from([("X".to_string(), "a\r\nEvil: 1".to_string())]);
        assert!(HttpCheck::new("http://h:1/", &[200], &injected).is_err());
    }
}

//! An agent's connections to a server: TLS over TCP (the server's certificate checked by
//! the caller's rustls configuration), then HTTP/1.1 — one request for a join or a
//! certificate, or an upgrade to the node's stream (`Upgrade: orco-interface`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::ClusterError;

/// The upgrade token of the node stream.
pub const UPGRADE: &str = "orco-interface";
/// The path of the node stream.
fn stream_path() -> String {
    format!("{}{}", orco_wire::API_PREFIX, orco_wire::route::NODE_STREAM)
}
/// How long a connection may take to open (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a join or a certificate request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read.
const MAX_ANSWER: usize = 1 << 20;

/// A server address as `--join` takes it: `https://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::str::FromStr for ServerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<ServerUrl, String> {
        let rest = s
            .strip_prefix("https://")
            .ok_or_else(|| format!("{s:?}: a server is joined over TLS only: https://HOST:PORT"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?}: the port is missing (https://HOST:PORT)"))?;
        let port = port
            .parse()
            .map_err(|_| format!("{s:?}: {port:?} is not a port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{s:?}: the host is missing (https://HOST:PORT)"));
        }
        Ok(ServerUrl {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "https://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "https://{}:{}", self.host, self.port)
        }
    }
}

/// A TLS connection to `url`, and the local address it goes from.
async fn connect(
    url: &ServerUrl,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, String), ClusterError> {
    let open = async {
        let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
        tcp.set_nodelay(true)?;
        let local = tcp.local_addr()?.to_string();
        // The name is not what is checked (the configuration pins the cluster's CA), but
        // rustls needs one.
        let name = rustls::pki_types::ServerName::try_from(url.host.clone()).unwrap_or_else(|_| {
            rustls::pki_types::ServerName::try_from("orco-server").expect("a valid name")
        });
        let stream = TlsConnector::from(tls).connect(name, tcp).await?;
        Ok::<_, std::io::Error>((stream, local))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, open).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(ClusterError::Connect {
            url: url.to_string(),
            reason: tls_reason(&e),
        }),
        Err(_) => Err(ClusterError::Connect {
            url: url.to_string(),
            reason: format!("no answer within {CONNECT_TIMEOUT:?}"),
        }),
    }
}

/// Says what went wrong with a connection, naming a certificate the pin refused.
fn tls_reason(e: &std::io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

/// POSTs `body` (JSON) to `path` and answers the status and body.
pub async fn post(
    url: &ServerUrl,
    tls: Arc<rustls::ClientConfig>,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), ClusterError> {
    let (stream, _) = connect(url, tls).await?;
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
        tokio::spawn(connection);
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, format!("{}:{}", url.host, url.port))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| ClusterError::Connect {
            url: url.to_string(),
            reason: format!("no answer within {REQUEST_TIMEOUT:?}"),
        })?
}

/// Opens the node's stream: TLS with the node's certificate, then an upgrade. Answers the
/// stream and the local address it goes from.
pub async fn open_stream(
    url: &ServerUrl,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(TokioIo<hyper::upgrade::Upgraded>, String), ClusterError> {
    let (stream, local) = connect(url, tls).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
    tokio::spawn(connection.with_upgrades());
    let request = hyper::Request::get(stream_path())
        .header(hyper::header::HOST, format!("{}:{}", url.host, url.port))
        .header(hyper::header::CONNECTION, "upgrade")
        .header(hyper::header::UPGRADE, UPGRADE)
        .body(Full::new(Bytes::new()))
        .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| ClusterError::Connect {
            url: url.to_string(),
            reason: format!("no answer within {REQUEST_TIMEOUT:?}"),
        })?
        .map_err(|e| ClusterError::Protocol(format!("HTTP: {e}")))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
        let body = limited
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        return Err(ClusterError::Refused(format!(
            "{url} answered {status}: {}",
            error_message(&body)
        )));
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| ClusterError::Protocol(format!("upgrade: {e}")))?;
    Ok((TokioIo::new(upgraded), local))
}

/// The `message` of an API error body, or the body itself.
pub fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<Inner>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        message: String,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(Body {
            error: Some(inner), ..
        }) => inner.message,
        Ok(Body {
            message: Some(m), ..
        }) => m,
        _ => body.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_is_https_with_a_host_and_a_port() {
        let url: ServerUrl = "https://10.0.0.1:7443".parse().expect("a url");
        assert_eq!((url.host.as_str(), url.port), ("10.0.0.1", 7443));
        assert_eq!(url.to_string(), "https://10.0.0.1:7443");
        let v6: ServerUrl = "https://[::1]:7443/".parse().expect("a url");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "https://[::1]:7443");
        for bad in [
            "http://a:1",
            "https://a",
            "https://:1",
            "https://a:x",
            "a:1",
        ] {
            assert!(bad.parse::<ServerUrl>().is_err(), "{bad}");
        }
        let e = "http://a:1".parse::<ServerUrl>().expect_err("refused");
        assert!(e.contains("TLS only"), "{e}");
    }
}

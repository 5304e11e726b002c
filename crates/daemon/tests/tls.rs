//! The TCP listener serves TLS only: with the daemon's own CA (kept across restarts) or a
//! given certificate; a plain request gets no data; a request over TLS carries the peer's
//! node name when it presented a certificate the CA signed. Real sockets, real daemons.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::routing::get;
use orco_client::{Client, ClientError, Host, Trust};
use orco_daemon::serve::{self, Limits, TlsListener};
use orco_daemon::{Config, Daemon};
use orco_pki::rustls::pki_types::ServerName;
use orco_pki::{Authority, NodeIdentity, NodeKey, Peer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn config(dir: &Path) -> Config {
    let token = dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    Config {
        data_dir: dir.join("data"),
        socket: dir.join("run/orco.sock"),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        tls_cert: None,
        tls_key: None,
        tls_names: Vec::new(),
        token_file: Some(token),
        verify_store: false,
        engine: false,
        program: None,
        log_queue_lines: 8192,
        docker_scope: "orco-tls-test".to_string(),
        max_concurrent_tasks: 0,
        server: None,
    }
}

fn tcp_client(daemon: &Daemon, trust: Trust) -> Result<Client, ClientError> {
    let host = Host::Tcp(daemon.tcp_addr().unwrap().to_string());
    Client::new(host, Some(TOKEN.to_string())).with_trust(trust)
}

/// Sends `request` as it is on a plain TCP connection; everything that comes back.
async fn plain(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tcp_listener_answers_over_tls_and_gives_plain_http_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    let addr = daemon.tcp_addr().unwrap();
    assert_eq!(daemon.ca_file(), dir.path().join("data/pki/ca.crt"));
    // The CA's directory is private as the rest of the data dir, from the first start on.
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    let pki = dir.path().join("data/pki");
    assert_eq!(mode(&pki), 0o700);
    for file in ["ca.key", "ca.crt", "server.key", "server.crt"] {
        assert_eq!(mode(&pki.join(file)), 0o600, "{file}");
    }

    let by_pin = tcp_client(&daemon, Trust::Pin(daemon.ca_pin())).unwrap();
    assert_eq!(by_pin.health().await.unwrap().status.as_str(), "healthy");
    assert!(by_pin.stacks(None).await.unwrap().items.is_empty());
    let pem = std::fs::read_to_string(daemon.ca_file()).unwrap();
    let by_ca = tcp_client(
        &daemon,
        Trust::Ca {
            pem,
            source: "ca.crt".into(),
        },
    )
    .unwrap();
    assert!(by_ca.stacks(None).await.unwrap().items.is_empty());

    let untrusting = tcp_client(&daemon, Trust::Nothing).unwrap();
    let e = untrusting.health().await.unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e:?}");
    assert!(
        e.to_string().contains("its certificate is not trusted"),
        "{e}"
    );

    for request in [
        &b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"GET /api/v1/stacks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer 0123456789abcdef0123456789abcdef\r\n\r\n"[..],
    ] {
        let got = plain(addr, request).await;
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains("HTTP/1.1"), "plain HTTP got an answer: {text}");
        assert!(!text.contains("healthy") && !text.contains("items"), "{text}");
    }
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_and_the_server_certificate_are_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    let pin = daemon.ca_pin();
    let server_crt = dir.path().join("data/pki/server.crt");
    let first = std::fs::read(&server_crt).unwrap();
    daemon.shutdown().await;

    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    assert_eq!(daemon.ca_pin(), pin);
    assert_eq!(std::fs::read(&server_crt).unwrap(), first);
    let client = tcp_client(&daemon, Trust::Pin(pin)).unwrap();
    assert_eq!(client.health().await.unwrap().status.as_str(), "healthy");
    daemon.shutdown().await;

    // Another name for the certificate: a new certificate, the same CA.
    let mut cfg = config(dir.path());
    cfg.tls_names = vec!["orco.example".to_string()];
    let daemon = Daemon::start(cfg).await.unwrap();
    assert_eq!(daemon.ca_pin(), pin);
    assert_ne!(std::fs::read(&server_crt).unwrap(), first);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_ca_certificate_stops_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    Daemon::start(config(dir.path()))
        .await
        .unwrap()
        .shutdown()
        .await;
    let ca = dir.path().join("data/pki/ca.crt");
    std::fs::write(&ca, "garbage").unwrap();
    let e = Daemon::start(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&ca.display().to_string()), "{e}");
    assert!(e.contains("is not a valid CA certificate"), "{e}");
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), "garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_certificate_and_key_are_served_instead_of_the_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Authority::load_or_create(&dir.path().join("operator")).unwrap();
    operator.server_identity(&[]).unwrap();
    let mut cfg = config(dir.path());
    cfg.tls_cert = Some(dir.path().join("operator/server.crt"));
    cfg.tls_key = Some(dir.path().join("operator/server.key"));
    let daemon = Daemon::start(cfg.clone()).await.unwrap();
    let trusting = tcp_client(
        &daemon,
        Trust::Ca {
            pem: operator.cert_pem().to_string(),
            source: "operator".into(),
        },
    )
    .unwrap();
    assert_eq!(trusting.health().await.unwrap().status.as_str(), "healthy");
    // The daemon's own CA did not sign it.
    let own = std::fs::read_to_string(daemon.ca_file()).unwrap();
    let e = tcp_client(
        &daemon,
        Trust::Ca {
            pem: own,
            source: "own".into(),
        },
    )
    .unwrap()
    .health()
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not signed by the CA in own"), "{e}");
    daemon.shutdown().await;

    cfg.tls_key = None;
    let e = Daemon::start(cfg.clone()).await.unwrap_err().to_string();
    assert!(e.contains("--tls-cert and --tls-key go together"), "{e}");
    cfg.tls_key = Some(dir.path().join("operator/ca.key"));
    let e = Daemon::start(cfg).await.unwrap_err().to_string();
    assert!(e.contains("cannot be used"), "{e}");
}

/// Serves a router that answers with the request's `Peer` on a TLS listener of `ca`.
async fn peer_echo(
    ca: &Authority,
) -> (
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let router = axum::Router::new().route(
        "/peer",
        get(|peer: Option<Extension<Peer>>| async move {
            match peer {
                Some(Extension(Peer(Some(node)))) => format!("node {node}"),
                Some(Extension(Peer(None))) => "anonymous".to_string(),
                None => "no peer".to_string(),
            }
        }),
    );
    let identity = ca.server_identity(&[]).unwrap();
    let config = orco_pki::server_config(&identity, ca).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let limits = Limits {
        head_timeout: serve::TCP_HEAD_TIMEOUT,
        listeners: 1,
    };
    let task = tokio::spawn(serve::serve(
        TlsListener::new(tcp, config),
        router,
        limits,
        stopped,
    ));
    (addr, stop, task)
}

/// `GET /peer` over TLS with `config`; the body.
async fn ask_peer(
    addr: std::net::SocketAddr,
    config: Arc<orco_pki::rustls::ClientConfig>,
) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer.rsplit("\r\n\r\n").next().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_tls_carries_the_node_name_of_a_verified_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("ca")).unwrap();
    let (addr, stop, task) = peer_echo(&ca).await;

    let anonymous = orco_pki::pinned_client_config(ca.pin(), None).unwrap();
    assert_eq!(ask_peer(addr, anonymous).await.unwrap(), "anonymous");

    let key = NodeKey::generate("worker-1").unwrap();
    let cert = ca
        .sign_node(
            &key.csr_pem().unwrap(),
            "worker-1",
            orco_pki::DEFAULT_NODE_TTL,
        )
        .unwrap();
    let node = NodeIdentity::new(key, &cert, ca.cert_pem()).unwrap();
    let mutual = orco_pki::pinned_client_config(ca.pin(), Some(&node)).unwrap();
    assert_eq!(ask_peer(addr, mutual).await.unwrap(), "node worker-1");

    // A node certificate of another CA never reaches a handler.
    let other = Authority::load_or_create(&dir.path().join("other")).unwrap();
    let key = NodeKey::generate("worker-1").unwrap();
    let cert = other
        .sign_node(
            &key.csr_pem().unwrap(),
            "worker-1",
            orco_pki::DEFAULT_NODE_TTL,
        )
        .unwrap();
    let stranger = NodeIdentity::new(key, &cert, other.cert_pem()).unwrap();
    let forged = orco_pki::pinned_client_config(ca.pin(), Some(&stranger)).unwrap();
    let answer = ask_peer(addr, forged).await;
    assert!(answer.is_err(), "{answer:?}");

    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_cut_at_the_head_deadline_during_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let (addr, stop, task) = peer_echo(&ca).await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buffer = [0u8; 16];
    // Closed by the daemon (read gives 0) well within ten head deadlines.
    let read = tokio::time::timeout(serve::TCP_HEAD_TIMEOUT * 10, silent.read(&mut buffer))
        .await
        .expect("the silent connection was never closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_on_every_address_has_a_certificate_for_each_interface_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.listen = Some("0.0.0.0:0".parse().unwrap());
    let daemon = Daemon::start(cfg).await.unwrap();
    let port = daemon.tcp_addr().unwrap().port();
    let pem = std::fs::read_to_string(daemon.ca_file()).unwrap();
    let config = orco_pki::ca_client_config(&pem).unwrap();
    let addresses = orco_daemon::daemon::interface_addresses(false);
    assert!(addresses.iter().any(|a| a == "127.0.0.1"), "{addresses:?}");
    // Each address is checked as the name on a connection to loopback: the certificate says
    // whether it is for that address, and no traffic leaves the machine.
    for address in &addresses {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = ServerName::try_from(address.clone()).unwrap();
        let connected = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await;
        assert!(connected.is_ok(), "{address}: {:?}", connected.err());
    }
    // A name it was not issued for is refused.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("198.51.100.77").unwrap();
    let refused = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await;
    assert!(refused.is_err());
    daemon.shutdown().await;
}

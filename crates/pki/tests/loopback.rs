//! TLS over real loopback sockets with tokio-rustls: a server on `server_config`, clients on
//! the pinned and the CA-file configurations, with and without a node certificate.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orco_pki::rustls::pki_types::ServerName;
use orco_pki::{
    Authority, NodeIdentity, NodeKey, Peer, Pin, ServerCerts, ca_client_config, is_pin_mismatch,
    peer_of, pin_mismatch, pinned_client_config, renewable_server_config, server_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A server that answers each connection with the peer it saw (`node NAME` or
/// `anonymous`) and records what each handshake gave.
struct Server {
    addr: SocketAddr,
    handshakes: tokio::sync::mpsc::UnboundedReceiver<Result<Peer, String>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(ca: &Authority) -> Server {
    let identity = ca.server_identity(&[]).unwrap();
    serve_with(server_config(&identity, ca).unwrap()).await
}

async fn serve_with(config: Arc<orco_pki::rustls::ServerConfig>) -> Server {
    let acceptor = TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, handshakes) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let peer = peer_of(tls.get_ref().1);
                        let line = match &peer.0 {
                            Some(node) => format!("node {node}\n"),
                            None => "anonymous\n".to_string(),
                        };
                        let _ = tx.send(Ok(peer));
                        let _ = tls.write_all(line.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    Server {
        addr,
        handshakes,
        task,
    }
}

/// Connects with `config` under `name`, and reads the server's line.
async fn talk(
    addr: SocketAddr,
    config: Arc<orco_pki::rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer)
}

fn node_identity(ca: &Authority, node: &str) -> NodeIdentity {
    let key = NodeKey::generate(node).unwrap();
    let cert = ca.sign_node(&key.csr_pem().unwrap(), node, DAY).unwrap();
    NodeIdentity::new(key, &cert, ca.cert_pem()).unwrap()
}

#[tokio::test]
async fn a_client_with_the_pin_connects_whatever_name_it_dials() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let mut server = serve(&ca).await;
    let config = pinned_client_config(ca.pin(), None).unwrap();
    let answer = talk(server.addr, config.clone(), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(answer, "anonymous\n");
    // The pin is the trust: a name the certificate does not carry is no matter.
    let answer = talk(server.addr, config, "elsewhere.example")
        .await
        .unwrap();
    assert_eq!(answer, "anonymous\n");
    assert_eq!(server.handshakes.recv().await.unwrap().unwrap(), Peer(None));
}

#[tokio::test]
async fn a_client_with_a_wrong_pin_is_refused_before_any_data() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("a")).unwrap();
    let other = Authority::load_or_create(&dir.path().join("b")).unwrap();
    let server = serve(&ca).await;
    let config = pinned_client_config(other.pin(), None).unwrap();
    let e = talk(server.addr, config, "127.0.0.1").await.unwrap_err();
    assert!(is_pin_mismatch(&e), "{e}");
    let shown = pin_mismatch(&e).unwrap().to_string();
    assert!(
        shown.starts_with("the server's CA does not match the pin in the token"),
        "{shown}"
    );

    let zeros: Pin = "0".repeat(64).parse().unwrap();
    let config = pinned_client_config(zeros, None).unwrap();
    let e = talk(server.addr, config, "127.0.0.1").await.unwrap_err();
    assert!(is_pin_mismatch(&e), "{e}");
}

#[tokio::test]
async fn a_client_presenting_a_node_certificate_is_seen_with_its_node_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let mut server = serve(&ca).await;
    let node = node_identity(&ca, "worker-7");
    let config = pinned_client_config(ca.pin(), Some(&node)).unwrap();
    let answer = talk(server.addr, config, "127.0.0.1").await.unwrap();
    assert_eq!(answer, "node worker-7\n");
    assert_eq!(
        server.handshakes.recv().await.unwrap().unwrap(),
        Peer(Some("worker-7".to_string()))
    );
}

#[tokio::test]
async fn a_node_certificate_of_another_ca_is_refused_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(&dir.path().join("a")).unwrap();
    let other = Authority::load_or_create(&dir.path().join("b")).unwrap();
    let mut server = serve(&ca).await;
    let stranger = node_identity(&other, "worker-7");
    let config = pinned_client_config(ca.pin(), Some(&stranger)).unwrap();
    // TLS 1.3: the client's certificate is judged after the client's handshake ends, so the
    // refusal arrives as an alert on the first read.
    let answer = talk(server.addr, config, "127.0.0.1").await;
    assert!(answer.is_err(), "{answer:?}");
    let seen = server.handshakes.recv().await.unwrap();
    let e = seen.unwrap_err();
    assert!(e.contains("invalid peer certificate"), "{e}");
}

#[tokio::test]
async fn a_client_trusting_the_ca_file_checks_the_name_too() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let server = serve(&ca).await;
    let config = ca_client_config(ca.cert_pem()).unwrap();
    for name in ["127.0.0.1", "localhost"] {
        let answer = talk(server.addr, config.clone(), name).await.unwrap();
        assert_eq!(answer, "anonymous\n");
    }
    let e = talk(server.addr, config, "elsewhere.example")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate"), "{e}");

    let other = Authority::load_or_create(&dir.path().join("other")).unwrap();
    let e = talk(
        server.addr,
        ca_client_config(other.cert_pem()).unwrap(),
        "127.0.0.1",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[tokio::test]
async fn a_plain_text_client_gets_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let mut server = serve(&ca).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got).await;
    assert!(!got.starts_with(b"HTTP"), "{got:?}");
    assert!(
        !String::from_utf8_lossy(&got).contains("anonymous"),
        "{got:?}"
    );
    assert!(server.handshakes.recv().await.unwrap().is_err());
}

/// The leaf certificate the server at `addr` presents to a pinned client.
async fn presented(addr: SocketAddr, pin: Pin) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let config = pinned_client_config(pin, None).unwrap();
    let tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_renewed_certificate_is_presented_from_the_next_handshake_on() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let first = ca.server_identity(&[]).unwrap();
    let certs = ServerCerts::new(&first).unwrap();
    let server = serve_with(renewable_server_config(certs.clone(), &ca).unwrap()).await;
    assert_eq!(
        presented(server.addr, ca.pin()).await,
        first.chain[0].to_vec()
    );

    assert!(
        !certs.replace_if_changed(&first).unwrap(),
        "the same certificate"
    );
    let second = ca
        .server_identity(&["renewed.example".to_string()])
        .unwrap();
    assert_ne!(second.chain[0], first.chain[0]);
    assert!(certs.replace_if_changed(&second).unwrap());
    assert_eq!(
        presented(server.addr, ca.pin()).await,
        second.chain[0].to_vec()
    );
}

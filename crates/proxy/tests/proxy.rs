//! The proxy with real sockets on loopback: echo backends that first say their name.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use orco_proxy::{BackendState, Desired, Proxy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A backend on a free loopback port: each connection is told `NAME\n`, then echoed.
struct Echo {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Echo {
    async fn start(name: &str) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let name = name.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let name = name.clone();
                tokio::spawn(async move {
                    if stream
                        .write_all(format!("{name}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Echo { addr, task }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client connection through the proxy that has read the backend's name.
struct Conn {
    reader: BufReader<TcpStream>,
    name: String,
}

impl Conn {
    /// Connects and reads the backend's name; `None` when the proxy closes the connection
    /// (or it cannot connect at all).
    async fn open(addr: SocketAddr) -> Option<Conn> {
        let stream = TcpStream::connect(addr).await.ok()?;
        let mut reader = BufReader::new(stream);
        let mut name = String::new();
        match reader.read_line(&mut name).await {
            Ok(n) if n > 0 => Some(Conn {
                reader,
                name: name.trim_end().to_string(),
            }),
            _ => None,
        }
    }

    /// Sends a line and reads it back; whether the echo came back whole.
    async fn echo(&mut self, text: &str) -> bool {
        let line = format!("{text}\n");
        if self
            .reader
            .get_mut()
            .write_all(line.as_bytes())
            .await
            .is_err()
        {
            return false;
        }
        let mut back = String::new();
        matches!(self.reader.read_line(&mut back).await, Ok(n) if n > 0) && back == line
    }

    /// Whether the proxy closed the connection (EOF or reset), reading until it does.
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).await.is_err() || rest.is_empty()
    }
}

/// A loopback address nothing listens on (bound, then closed).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn proxy() -> Proxy {
    Proxy::bind("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Waits (without a deadline of its own: the test harness has one) until `cond` holds.
async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn new_connections_go_round_robin_to_ready_backends() {
    let (a, b, c) = (
        Echo::start("a").await,
        Echo::start("b").await,
        Echo::start("c").await,
    );
    let p = proxy().await;
    for (id, e) in [("a", &a), ("b", &b), ("c", &c)] {
        p.add(id, e.addr);
        assert!(p.set_ready(id, true));
    }
    let mut names = Vec::new();
    for _ in 0..6 {
        let mut conn = Conn::open(p.local_addr()).await.unwrap();
        assert!(conn.echo("hello").await);
        names.push(conn.name);
    }
    assert_eq!(names, ["a", "b", "c", "a", "b", "c"]);
}

#[tokio::test]
async fn an_unready_backend_gets_no_connection() {
    let (a, b) = (Echo::start("a").await, Echo::start("b").await);
    let p = proxy().await;
    p.add("a", a.addr);
    p.add("b", b.addr);
    p.set_ready("a", true);
    for _ in 0..4 {
        assert_eq!(Conn::open(p.local_addr()).await.unwrap().name, "a");
    }
    p.set_ready("b", true);
    p.set_ready("a", false);
    for _ in 0..4 {
        assert_eq!(Conn::open(p.local_addr()).await.unwrap().name, "b");
    }
}

#[tokio::test]
async fn open_connections_are_counted_per_backend() {
    let a = Echo::start("a").await;
    let p = proxy().await;
    p.add("a", a.addr);
    p.set_ready("a", true);
    let mut first = Conn::open(p.local_addr()).await.unwrap();
    let second = Conn::open(p.local_addr()).await.unwrap();
    assert!(first.echo("x").await);
    assert_eq!(p.connections("a"), 2);
    drop(first);
    drop(second);
    until(|| p.connections("a") == 0).await;
}

#[tokio::test]
async fn swapping_backends_under_load_refuses_no_connection() {
    let (old, new) = (Echo::start("old").await, Echo::start("new").await);
    let p = Arc::new(proxy().await);
    p.add("web-0", old.addr);
    p.set_ready("web-0", true);

    let done = Arc::new(AtomicBool::new(false));
    let seen_new = Arc::new(AtomicUsize::new(0));
    let client = {
        let (addr, done, seen_new) = (p.local_addr(), Arc::clone(&done), Arc::clone(&seen_new));
        tokio::spawn(async move {
            let mut failures = 0;
            let mut requests = 0;
            while !done.load(Ordering::SeqCst) {
                requests += 1;
                let Some(mut conn) = Conn::open(addr).await else {
                    failures += 1;
                    continue;
                };
                if !conn.echo("ping").await {
                    failures += 1;
                } else if conn.name == "new" {
                    seen_new.fetch_add(1, Ordering::SeqCst);
                }
            }
            (requests, failures)
        })
    };

    // Let some requests reach the old backend first.
    until(|| p.stats().accepted >= 20).await;
    p.add("web-1", new.addr);
    p.set_ready("web-1", true);
    let drain = p.drain("web-0", Duration::from_secs(30)).unwrap();
    assert_eq!(
        drain.wait().await,
        0,
        "the old backend's connections closed by themselves"
    );
    let after_drain = seen_new.load(Ordering::SeqCst);
    until(|| seen_new.load(Ordering::SeqCst) >= after_drain + 20).await;
    done.store(true, Ordering::SeqCst);
    let (requests, failures) = client.await.unwrap();
    assert!(requests > 40);
    assert_eq!(failures, 0);
    assert_eq!(p.stats().refused, 0);
    let ids: Vec<String> = p.backends().into_iter().map(|b| b.id).collect();
    assert_eq!(ids, ["web-1"]);
}

#[tokio::test]
async fn a_draining_backend_keeps_its_open_connections_but_gets_no_new_one() {
    let (a, b) = (Echo::start("a").await, Echo::start("b").await);
    let p = proxy().await;
    p.update(
        &[
            Desired {
                id: "a".into(),
                addr: a.addr,
                ready: true,
            },
            Desired {
                id: "b".into(),
                addr: b.addr,
                ready: true,
            },
        ],
        Duration::from_secs(30),
    );
    let mut open = Conn::open(p.local_addr()).await.unwrap();
    assert_eq!(open.name, "a");
    let drains = p.update(
        &[Desired {
            id: "b".into(),
            addr: b.addr,
            ready: true,
        }],
        Duration::from_secs(30),
    );
    assert_eq!(drains.len(), 1);
    assert_eq!(p.backends()[1].state, BackendState::Draining);
    for _ in 0..3 {
        assert_eq!(Conn::open(p.local_addr()).await.unwrap().name, "b");
    }
    assert!(open.echo("still here").await);
    assert_eq!(p.connections("a"), 1);
    drop(open);
    for d in drains {
        assert_eq!(d.wait().await, 0);
    }
    assert_eq!(p.connections("a"), 0);
}

#[tokio::test]
async fn the_drain_deadline_cuts_the_connections_still_open() {
    let a = Echo::start("a").await;
    let p = proxy().await;
    p.add("a", a.addr);
    p.set_ready("a", true);
    let mut open = Conn::open(p.local_addr()).await.unwrap();
    assert!(open.echo("x").await);
    let drain = p.drain("a", Duration::from_millis(50)).unwrap();
    assert_eq!(drain.wait().await, 1);
    assert!(open.closed().await);
    assert!(p.backends().is_empty());
}

#[tokio::test]
async fn with_every_backend_gone_a_connection_is_closed_and_counted() {
    let p = proxy().await;
    let mut refused = 0;
    // No backend at all.
    assert!(Conn::open(p.local_addr()).await.is_none());
    refused += 1;
    // A ready backend whose instance is gone (nothing listens on its port).
    let gone = free_port();
    p.add("gone", gone);
    p.set_ready("gone", true);
    assert!(Conn::open(p.local_addr()).await.is_none());
    refused += 1;
    // Removed backends.
    p.remove("gone");
    assert!(Conn::open(p.local_addr()).await.is_none());
    refused += 1;
    until(|| p.stats().refused == refused).await;
    assert_eq!(p.stats().accepted, refused);
}

#[tokio::test]
async fn a_backend_that_refuses_is_skipped_for_the_next_ready_one() {
    let a = Echo::start("a").await;
    let dead = free_port();
    let p = proxy().await;
    p.add("dead", dead);
    p.add("a", a.addr);
    p.set_ready("dead", true);
    p.set_ready("a", true);
    for _ in 0..4 {
        assert_eq!(Conn::open(p.local_addr()).await.unwrap().name, "a");
    }
    assert_eq!(p.stats().refused, 0);
}

#[tokio::test]
async fn a_backend_that_never_answers_is_given_up_for_the_next_ready_one() {
    // A listener whose accept queue is full drops every new SYN: a connect to it hangs, as
    // one to a node cut off does.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let stuck = socket.listen(0).unwrap();
    let silent = stuck.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..2 {
        // Fill the queue (never accepted); the second may itself hang, which is the point.
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(silent)).await
        {
            queued.push(s);
        }
    }
    let a = Echo::start("a").await;
    let p = proxy().await;
    p.add("silent", silent);
    p.add("a", a.addr);
    p.set_ready("silent", true);
    p.set_ready("a", true);
    // The first connection goes to the silent backend first, waits out the connect timeout,
    // and is served by the next; well within ten times that timeout.
    let bound = orco_proxy::CONNECT_TIMEOUT * 10;
    for _ in 0..2 {
        let conn = tokio::time::timeout(bound, Conn::open(p.local_addr()))
            .await
            .expect("served within ten connect timeouts");
        assert_eq!(conn.unwrap().name, "a");
    }
    assert_eq!(p.stats().refused, 0);
    drop((stuck, queued));
}

#[tokio::test]
async fn stopping_the_proxy_frees_the_port_and_cuts_connections() {
    let a = Echo::start("a").await;
    let p = proxy().await;
    let addr = p.local_addr();
    p.add("a", a.addr);
    p.set_ready("a", true);
    let mut open = Conn::open(addr).await.unwrap();
    p.stop().await;
    assert!(open.closed().await);
    // The published address can be bound again.
    TcpListener::bind(addr).await.unwrap();
}

#[tokio::test]
async fn a_listener_bound_elsewhere_is_served_the_same_way() {
    let a = Echo::start("a").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = Proxy::from_std(listener).unwrap();
    p.add("a", a.addr);
    p.set_ready("a", true);
    let mut conn = Conn::open(p.local_addr()).await.unwrap();
    assert!(conn.echo("hi").await);
}

#[test]
fn outside_a_runtime_the_proxy_refuses_to_start_instead_of_panicking() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(matches!(
        Proxy::from_std(listener),
        Err(orco_proxy::ProxyError::NoRuntime)
    ));
}

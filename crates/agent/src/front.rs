//! The built-in proxy as the node runs it: one [`Front`] per (service, published TCP port)
//! that several instances share, and the port each instance is given.
//!
//! When a service is proxied ([`proxied_port`]), the front owns its published address and
//! every instance listens on a private loopback port of its own (`PORT`, `{{port}}`), which
//! the front adds as a backend; the supervisor marks it ready or unready as its health goes,
//! and drains it before stopping it. Probes aimed at the published port are retargeted to the
//! instance's own port ([`retarget`]). UDP ports are never proxied.
//!
//! In a cluster a front is also a node's end of the routing mesh (DESIGN.md §11): it
//! listens on every proxied published port of the cluster, and the instances of other nodes
//! behind it ([`Front::route`], from the assignment set's routes) are backends beside the
//! node's own, at their node's address and own port.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use orco_interface::{Endpoint, EndpointState};
use orco_proxy::{Desired, Drain, Proxy};
use orco_spec::{Health, PortMapping, Service};

/// How often a front whose published address is taken (by an instance of the service's
/// previous, unproxied spec that is still stopping) tries to bind it again.
const BIND_RETRY: Duration = Duration::from_millis(10);

/// The written placeholder for an instance's own port in its command and probes.
pub const PORT_PLACEHOLDER: &str = "{{port}}";

/// The published TCP port the built-in proxy owns for `service`, if any
/// ([`Service::proxied_port`]).
pub fn proxied_port(service: &Service) -> Option<PortMapping> {
    service.proxied_port()
}

/// The address a proxied port is published on: its ip, or 127.0.0.1.
pub fn published_addr(port: &PortMapping) -> SocketAddr {
    SocketAddr::new(
        port.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port.published,
    )
}

/// A free TCP port on `ip` for an instance behind the proxy (the kernel's choice):
/// loopback on one machine, `0.0.0.0` (free on every address of the node) in a cluster.
pub fn free_port_on(ip: IpAddr) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((ip, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A free port for each of `wanted` (its address, loopback when none is given, and whether
/// it is UDP), all distinct: every socket is held until the last port is found.
pub fn free_ports_at(wanted: &[(Option<IpAddr>, bool)]) -> std::io::Result<Vec<u16>> {
    let (mut tcp, mut udp) = (Vec::new(), Vec::new());
    let mut ports = Vec::with_capacity(wanted.len());
    for (ip, is_udp) in wanted {
        let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = if *is_udp {
            let socket = std::net::UdpSocket::bind((ip, 0))?;
            let port = socket.local_addr()?.port();
            udp.push(socket);
            port
        } else {
            let listener = std::net::TcpListener::bind((ip, 0))?;
            let port = listener.local_addr()?.port();
            tcp.push(listener);
            port
        };
        ports.push(port);
    }
    Ok(ports)
}

/// `text` with every `{{port}}` replaced by `port`.
pub fn substitute(text: &str, port: u16) -> String {
    text.replace(PORT_PLACEHOLDER, &port.to_string())
}

/// `health` with its probes aimed at the instance's own `port`: `{{port}}` substituted in
/// the http url and cmd command, and an http or tcp probe on a loopback host at the
/// `published` port sent to `port` instead.
pub fn retarget(health: &Health, published: Option<u16>, port: u16) -> Health {
    let mut health = health.clone();
    if let Some(http) = health.http.as_mut() {
        let url = substitute(&http.url, port);
        http.url = match published {
            Some(published) => retarget_url(&url, published, port),
            None => url,
        };
    }
    if let Some(tcp) = health.tcp.as_mut()
        && Some(tcp.port) == published
        && is_local(&tcp.host)
    {
        tcp.port = port;
    }
    if let Some(cmd) = health.cmd.as_mut() {
        cmd.command = match &cmd.command {
            orco_spec::Command::Exec(args) => {
                orco_spec::Command::Exec(args.iter().map(|a| substitute(a, port)).collect())
            }
            orco_spec::Command::Shell(s) => orco_spec::Command::Shell(substitute(s, port)),
        };
    }
    health
}

/// `http://HOST:PUBLISHED/...` → `http://HOST:PORT/...` when HOST is a loopback name.
fn retarget_url(url: &str, published: u16, port: u16) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((host, p)) = authority.rsplit_once(':') else {
        return url.to_string();
    };
    if p.parse::<u16>().ok() != Some(published) || !is_local(host) {
        return url.to_string();
    }
    format!("{scheme}://{host}:{port}{path}")
}

fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host == "0.0.0.0"
        || host == "::"
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One published address and its backends, whether or not the proxy could bind it yet.
#[derive(Debug)]
pub struct Front {
    addr: SocketAddr,
    meshed: bool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    proxy: Option<Proxy>,
    /// The node's own instances, by runtime name.
    backends: BTreeMap<String, Desired>,
    /// Instances of other nodes (the routing mesh), by [`Endpoint::backend_id`].
    remote: BTreeMap<String, Desired>,
}

impl Front {
    /// A front on `addr`; it binds at once if it can, else keeps trying in the background
    /// until it can or it is dropped. `meshed`: the node is part of a cluster, whose other
    /// nodes' proxies may hold connections to its instances. Call inside a tokio runtime.
    pub fn start(addr: SocketAddr, meshed: bool) -> Arc<Front> {
        let front = Arc::new(Front {
            addr,
            meshed,
            inner: Mutex::new(Inner::default()),
        });
        tokio::spawn(bind_loop(Arc::downgrade(&front), addr));
        front
    }

    /// The published address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether other nodes' proxies may send connections to this node's instances: a stop
    /// then gives them its whole drain wait to hear of the drain, since their connections
    /// are not counted here.
    pub fn meshed(&self) -> bool {
        self.meshed
    }

    /// Makes the instances of other nodes behind this front exactly `endpoints`: new ones
    /// are added, known ones take their readiness (or move), draining ones get no new
    /// connection and their open ones the endpoint's grace, and the others are removed at
    /// once (their instance ended or their node is lost). The node's own instances are left
    /// alone.
    pub fn route(&self, endpoints: &[Endpoint]) {
        let mut inner = self.inner();
        let mut next = BTreeMap::new();
        let mut draining = Vec::new();
        for e in endpoints {
            let id = e.backend_id();
            match e.state {
                EndpointState::Draining => {
                    draining.push((id, Duration::from_millis(e.grace_ms)));
                }
                EndpointState::Ready | EndpointState::Unready => {
                    let ready = e.state == EndpointState::Ready;
                    next.insert(
                        id.clone(),
                        Desired {
                            id,
                            addr: e.addr,
                            ready,
                        },
                    );
                }
            }
        }
        if next == inner.remote
            && draining
                .iter()
                .all(|(id, _)| !inner.remote.contains_key(id))
        {
            return;
        }
        let old = std::mem::replace(&mut inner.remote, next);
        if let Some(proxy) = &inner.proxy {
            for (id, grace) in &draining {
                if old.contains_key(id) {
                    // Goes on by itself; nobody waits for it here.
                    drop(proxy.drain(id, *grace));
                }
            }
            for id in old.keys() {
                if !inner.remote.contains_key(id) && !draining.iter().any(|(d, _)| d == id) {
                    proxy.remove(id);
                }
            }
            for d in inner.remote.values() {
                proxy.add(&d.id, d.addr);
                proxy.set_ready(&d.id, d.ready);
            }
        }
        let table: Vec<String> = inner
            .remote
            .values()
            .map(|d| {
                let state = if d.ready { "ready" } else { "unready" };
                format!("{} at {} {state}", d.id, d.addr)
            })
            .chain(draining.iter().map(|(id, _)| format!("{id} draining")))
            .collect();
        tracing::info!(addr = %self.addr, "routing mesh: [{}]", table.join(", "));
    }

    /// The proxy's backends as it holds them (none until it is bound): the node's own
    /// instances and those of other nodes, live ones first, then those draining.
    pub fn backends(&self) -> Vec<orco_proxy::BackendStatus> {
        self.inner()
            .proxy
            .as_ref()
            .map_or_else(Vec::new, Proxy::backends)
    }

    /// Whether the proxy listens on the published address.
    pub fn bound(&self) -> bool {
        self.inner().proxy.is_some()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds (or moves) instance `id`'s backend at its own `port`, ready or not.
    pub fn add(&self, id: &str, port: u16, ready: bool) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut inner = self.inner();
        inner.backends.insert(
            id.to_string(),
            Desired {
                id: id.to_string(),
                addr,
                ready,
            },
        );
        if let Some(proxy) = &inner.proxy {
            proxy.add(id, addr);
            proxy.set_ready(id, ready);
        }
    }

    /// Marks instance `id` ready (sent new connections) or unready.
    pub fn set_ready(&self, id: &str, ready: bool) {
        let mut inner = self.inner();
        if let Some(b) = inner.backends.get_mut(id) {
            b.ready = ready;
        }
        if let Some(proxy) = &inner.proxy {
            proxy.set_ready(id, ready);
        }
    }

    /// Drains instance `id`: no new connections; its open ones get up to `grace`.
    pub fn drain(&self, id: &str, grace: Duration) -> Option<Drain> {
        let mut inner = self.inner();
        inner.backends.remove(id);
        inner.proxy.as_ref().and_then(|p| p.drain(id, grace))
    }

    /// Open connections to instance `id`.
    pub fn connections(&self, id: &str) -> usize {
        self.inner().proxy.as_ref().map_or(0, |p| p.connections(id))
    }
}

async fn bind_loop(front: Weak<Front>, addr: SocketAddr) {
    let mut warned = false;
    loop {
        if front.strong_count() == 0 {
            return;
        }
        match Proxy::bind(addr).await {
            Ok(proxy) => {
                let Some(front) = front.upgrade() else { return };
                let mut inner = front.inner();
                let backends: Vec<Desired> = inner
                    .backends
                    .values()
                    .chain(inner.remote.values())
                    .cloned()
                    .collect();
                proxy.update(&backends, Duration::ZERO);
                inner.proxy = Some(proxy);
                tracing::info!(%addr, "proxy: listening");
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(%addr, error = %e, "proxy: cannot bind yet; retrying");
                    warned = true;
                }
                tokio::time::sleep(BIND_RETRY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let text = format!("version: 0.1\nstack: {{name: s}}\nservices:\n  w: {yaml}\n");
        let path = std::path::Path::new("t.yaml");
        let loaded = orco_spec::load_str(path, &text, std::path::Path::new("/")).unwrap();
        loaded.stack.services["w"].clone()
    }

    #[test]
    fn a_published_tcp_port_is_proxied_with_several_replicas_or_when_forced() {
        let port = |y: &str| proxied_port(&service(y)).map(|p| p.published);
        assert_eq!(
            port("{command: x, ports: ['8080:8080'], replicas: 2}"),
            Some(8080)
        );
        assert_eq!(port("{command: x, ports: ['8080:8080']}"), None);
        assert_eq!(
            port("{command: x, ports: ['8080:8080'], proxy: true}"),
            Some(8080)
        );
        let never = "{command: x, ports: ['8080:8080'], replicas: 2, proxy: false}";
        assert_eq!(port(never), None);
        // A port chosen at start is each replica's own.
        assert_eq!(port("{command: x, ports: ['0:80'], replicas: 2}"), None);
        assert_eq!(port("{command: x, ports: ['0:80'], proxy: true}"), None);
        let udp = "{command: x, ports: ['53:53/udp'], replicas: 2}";
        assert_eq!(port(udp), None);
        let both = "{command: x, ports: ['53:53/udp', '9000:9000'], replicas: 2}";
        assert_eq!(port(both), Some(9000));
        let docker = "{image: busybox, ports: ['8080:80'], replicas: 2}";
        assert_eq!(port(docker), Some(8080));
    }

    #[test]
    fn probes_aimed_at_the_published_port_are_sent_to_the_instance_port() {
        let s = service(
            "{command: x, ports: ['8080:8080'], replicas: 2, health: {http: {url: 'http://localhost:8080/health'}, tcp: {port: 8080}, cmd: {command: ['check', '{{port}}']}, expression: 'http && tcp && cmd'}}",
        );
        let h = retarget(s.health.as_ref().unwrap(), Some(8080), 41000);
        assert_eq!(h.http.unwrap().url, "http://localhost:41000/health");
        assert_eq!(h.tcp.unwrap().port, 41000);
        assert_eq!(
            h.cmd.unwrap().command,
            orco_spec::Command::Exec(vec!["check".into(), "41000".into()])
        );
    }

    fn endpoint(node: &str, n: u8, state: EndpointState) -> Endpoint {
        Endpoint {
            instance: format!("s/w-{n}").parse().unwrap(),
            node: node.into(),
            addr: SocketAddr::from(([10, 0, 0, n], 40_000)),
            state,
            grace_ms: 60_000,
        }
    }

    /// The proxy's backends as (id, address, state).
    fn table(front: &Front) -> Vec<(String, SocketAddr, orco_proxy::BackendState)> {
        front
            .backends()
            .into_iter()
            .map(|b| (b.id, b.addr, b.state))
            .collect()
    }

    async fn bound(front: &Front) {
        while !front.bound() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn other_nodes_instances_join_the_node_s_own_behind_its_proxy_and_leave_it_alone() {
        use orco_proxy::BackendState::{Draining, Ready, Unready};
        let front = Front::start(SocketAddr::from(([127, 0, 0, 1], 0)), true);
        bound(&front).await;
        front.add("own", 41_000, true);
        let at = |n: u8| SocketAddr::from(([10, 0, 0, n], 40_000));
        let local = (
            "own".to_string(),
            SocketAddr::from(([127, 0, 0, 1], 41_000)),
            Ready,
        );
        front.route(&[
            endpoint("n2", 1, EndpointState::Ready),
            endpoint("n3", 2, EndpointState::Unready),
        ]);
        assert_eq!(
            table(&front),
            vec![
                ("n2/s/w-1".into(), at(1), Ready),
                ("n3/s/w-2".into(), at(2), Unready),
                local.clone(),
            ]
        );
        // w-1 drains on its node; w-2 became ready.
        front.route(&[
            endpoint("n2", 1, EndpointState::Draining),
            endpoint("n3", 2, EndpointState::Ready),
        ]);
        assert_eq!(
            table(&front),
            vec![
                ("n3/s/w-2".into(), at(2), Ready),
                local.clone(),
                ("n2/s/w-1".into(), at(1), Draining),
            ]
        );
        // n3 is lost: its instance leaves at once; the drain of w-1 (idle) ends by itself.
        front.route(&[]);
        for _ in 0..1000 {
            if table(&front).len() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(table(&front), vec![local]);
    }

    #[tokio::test]
    async fn a_front_bound_late_starts_with_the_mesh_it_was_given() {
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = taken.local_addr().unwrap();
        let front = Front::start(addr, true);
        front.route(&[endpoint("n2", 1, EndpointState::Ready)]);
        assert!(!front.bound());
        drop(taken);
        bound(&front).await;
        let ids: Vec<String> = front.backends().into_iter().map(|b| b.id).collect();
        assert_eq!(ids, ["n2/s/w-1"]);
    }

    #[test]
    fn probes_aimed_elsewhere_are_left_alone() {
        assert_eq!(
            retarget_url("http://10.0.0.1:8080/x", 8080, 41000),
            "http://10.0.0.1:8080/x"
        );
        assert_eq!(
            retarget_url("http://127.0.0.1:9090/x", 8080, 41000),
            "http://127.0.0.1:9090/x"
        );
        assert_eq!(
            retarget_url("http://127.0.0.1:8080", 8080, 41000),
            "http://127.0.0.1:41000"
        );
        assert_eq!(retarget_url("not a url", 8080, 41000), "not a url");
    }
}

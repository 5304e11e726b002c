//! `Daemon`: start-up (data dir, lock, store, engine, listeners), serving, and graceful
//! shutdown.
//!
//! Start-up order: create the data dir (0700) → take its lock → open the store (without the
//! full page verification unless asked: redb rolls a torn last commit back on its own, and a
//! full check reads every page, which a crash-only daemon cannot afford on each restart) →
//! load (or, at the first start, create) the daemon's CA in `DATA/pki` → start the engine →
//! bind the socket (and the TCP listener, HTTPS only) → serve.

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orco_api::{ApiContext, LocalNode};
use orco_pki::{Authority, Identity, Pin, ServerCerts};
use orco_store::{Options, RedbStore, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::{EngineHandle, start_engine};
use crate::error::DaemonError;
use crate::listen::{bind_socket, read_token};
use crate::lock::DataDirLock;
use crate::serve::{self, Limits, TlsListener};

/// The event store's directory inside the data dir.
pub const STORE_DIR: &str = "store";

/// The daemon's CA's directory inside the data dir.
pub const PKI_DIR: &str = "pki";

/// How long open streams (event watches) may keep a shutdown waiting.
const DRAIN: Duration = Duration::from_secs(3);

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    store: Arc<RedbStore>,
    socket: PathBuf,
    tcp: Option<SocketAddr>,
    ca_pin: Pin,
    ca_file: PathBuf,
    tls: Option<Tls>,
    engine: Option<EngineHandle>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    /// A cluster server's node streams, ended at shutdown.
    streams: Option<Arc<orco_cluster::Streams>>,
    _lock: DataDirLock,
}

/// What the TCP listener presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// A certificate the daemon's own CA issued (in `DATA/pki/server.crt`).
    OwnCa,
    /// The certificate given with `--tls-cert`, and the pin of the CA certificate its chain
    /// ends in, when it holds more than the leaf.
    Given {
        /// The certificate file.
        cert: PathBuf,
        /// The pin of the last certificate of its chain, when there is one beyond the leaf.
        chain_pin: Option<Pin>,
    },
}

/// Creates `dir` (and its parents) with mode 0700, and makes it 0700 if it exists.
pub(crate) fn private_dir(dir: &Path) -> Result<(), DaemonError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| DaemonError::io("create the data dir", dir.display(), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| DaemonError::io("set the mode of", dir.display(), e))
}

/// Makes every file under `dir` 0600 and every directory 0700.
fn tighten(dir: &Path) -> Result<(), DaemonError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DaemonError::io("read", dir.display(), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let mode = if kind.is_dir() {
            tighten(&path)?;
            0o700
        } else if kind.is_file() {
            0o600
        } else {
            continue;
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| DaemonError::io("set the mode of", path.display(), e))?;
    }
    Ok(())
}

impl Daemon {
    /// Starts a daemon by `config`; it serves until [`Daemon::shutdown`].
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let open_files = serve::raise_open_file_limit();
        tracing::debug!(open_files, "open-file limit");
        let token = match (&config.listen, &config.token_file) {
            (Some(addr), None) => {
                return Err(DaemonError::Config(format!(
                    "--listen {addr} needs --token-file: a TCP listener without a token would let anyone on the network drive this machine"
                )));
            }
            (Some(_), Some(file)) => Some(read_token(file)?),
            (None, _) => None,
        };
        let given = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => {
                return Err(DaemonError::Config(
                    "--tls-cert and --tls-key go together: give both, or neither to serve a certificate of the daemon's own CA".to_string(),
                ));
            }
        };
        private_dir(&config.data_dir)?;
        let lock = DataDirLock::acquire(&config.data_dir)?;
        let store_dir = config.data_dir.join(STORE_DIR);
        private_dir(&store_dir)?;
        let options = Options {
            verify_on_open: config.verify_store,
            ..Options::default()
        };
        let opened = tokio::task::spawn_blocking(move || RedbStore::open_with(store_dir, options))
            .await
            .map_err(|e| {
                DaemonError::io("open the event store in", config.data_dir.display(), e)
            })??;
        let store = Arc::new(opened);
        tighten(&config.data_dir)?;
        let authority = Arc::new(Authority::load_or_create(&config.data_dir.join(PKI_DIR))?);
        let node = LocalNode::detect();
        let mut cluster = None;
        let engine = match (config.engine, &config.program) {
            (false, _) => EngineHandle::disabled(),
            (true, _) if config.server.is_some() => {
                let options = config.server.unwrap_or_default();
                if config.listen.is_none() {
                    return Err(DaemonError::Config(
                        "a server needs --listen ADDR: its nodes join it there".to_string(),
                    ));
                }
                let (engine, streams) = crate::engine::start_server_engine(
                    &store,
                    config.max_concurrent_tasks,
                    options,
                )
                .await?;
                let (gossip, key) =
                    start_gossip(&config.data_dir, options.gossip, config.listen, &node.name)
                        .await?;
                streams.set_gossip(gossip, &key);
                cluster = Some(orco_api::ClusterContext {
                    authority: authority.clone(),
                    streams,
                });
                engine
            }
            (true, Some(program)) => {
                start_engine(
                    &store,
                    &config.data_dir,
                    program,
                    config.log_queue_lines,
                    &config.docker_scope,
                    config.max_concurrent_tasks,
                    Some(api_host(&config.socket)),
                )
                .await?
            }
            (true, None) => {
                return Err(DaemonError::Config(
                    "cannot find the orco executable to run the node keeper with".to_string(),
                ));
            }
        };
        // What the engine created (the keeper's and the logs' directories) is private too.
        tighten(&config.data_dir)?;
        let dyn_store: Arc<dyn Store> = store.clone();
        let mut ctx = ApiContext::new(dyn_store, node, engine.is_running());
        if let Some(logs) = engine.logs() {
            ctx = ctx.with_logs(logs.clone());
        }
        let streams = cluster.as_ref().map(|c| c.streams.clone());
        if let Some(cluster) = cluster {
            ctx = ctx.with_cluster(cluster);
        }
        let router = orco_api::router(ctx.clone());
        let (stop, stopped) = watch::channel(false);
        let mut servers = Vec::new();

        let listeners = if config.listen.is_some() { 2 } else { 1 };
        let unix = bind_socket(&config.socket)?;
        let unix_limits = Limits {
            head_timeout: serve::UNIX_HEAD_TIMEOUT,
            listeners,
        };
        servers.push(tokio::spawn(serve::serve(
            unix,
            orco_api::access::on_socket(router.clone()),
            unix_limits,
            stopped.clone(),
        )));

        let mut tcp = None;
        let mut tls = None;
        if let (Some(addr), Some(token)) = (config.listen, token) {
            let (server_config, presented) = match &given {
                Some((cert, key)) => {
                    let identity = Identity::from_pem_files(cert, key)?;
                    let chain_pin = match identity.chain.len() {
                        0 | 1 => None,
                        n => Some(Pin::of_certificate(&identity.chain[n - 1])?),
                    };
                    let presented = Tls::Given {
                        cert: cert.clone(),
                        chain_pin,
                    };
                    (orco_pki::server_config(&identity, &authority)?, presented)
                }
                None => {
                    let mut names = config.tls_names.clone();
                    if addr.ip().is_unspecified() {
                        names.extend(interface_addresses(addr.is_ipv6()));
                    } else {
                        names.push(addr.ip().to_string());
                    }
                    let identity = authority.server_identity(&names)?;
                    let certs = ServerCerts::new(&identity)?;
                    let server_config =
                        orco_pki::renewable_server_config(certs.clone(), &authority)?;
                    servers.push(tokio::spawn(renew(
                        authority.clone(),
                        names,
                        certs,
                        stopped.clone(),
                    )));
                    (server_config, Tls::OwnCa)
                }
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| DaemonError::io("listen on", addr, e))?;
            tcp = Some(
                listener
                    .local_addr()
                    .map_err(|e| DaemonError::io("listen on", addr, e))?,
            );
            tls = Some(presented);
            let tcp_limits = Limits {
                head_timeout: serve::TCP_HEAD_TIMEOUT,
                listeners,
            };
            servers.push(tokio::spawn(serve::serve(
                TlsListener::new(listener, server_config),
                orco_api::access::on_network(
                    router,
                    Arc::new(orco_api::access::Guard::new(ctx, Some(token))),
                ),
                tcp_limits,
                stopped.clone(),
            )));
        }
        let ca_file =
            std::path::absolute(authority.cert_path()).unwrap_or_else(|_| authority.cert_path());
        tracing::info!(
            data_dir = %config.data_dir.display(),
            socket = %config.socket.display(),
            tcp = ?tcp,
            ca_file = %ca_file.display(),
            ca_pin = %authority.pin(),
            revision = store.head(),
            "orco daemon {} serving",
            orco_api::VERSION
        );
        Ok(Daemon {
            store,
            socket: config.socket,
            tcp,
            ca_pin: authority.pin(),
            ca_file,
            tls,
            engine: Some(engine),
            stop,
            servers,
            streams,
            _lock: lock,
        })
    }

    /// The event store.
    pub fn store(&self) -> &Arc<RedbStore> {
        &self.store
    }

    /// The unix socket it serves on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The TCP address it serves on, when it does.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// The pin of the daemon's CA (sha256 of its public key): what `ORCO_CA_PIN` is set to.
    pub fn ca_pin(&self) -> Pin {
        self.ca_pin
    }

    /// The daemon's CA certificate, for `--ca-file`/`ORCO_CA`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// What the TCP listener presents, when there is one.
    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    /// Serves until SIGTERM or SIGINT, then shuts down.
    pub async fn run_until_signal(self) -> Result<(), DaemonError> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| DaemonError::io("handle", "SIGTERM", e))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| DaemonError::io("handle", "SIGINT", e))?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        self.shutdown().await;
        Ok(())
    }

    /// Stops accepting, lets requests in flight finish (open streams get a few seconds),
    /// stops the engine, removes the socket, closes the store and releases the lock.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(streams) = self.streams.take() {
            streams.close();
        }
        for server in self.servers.drain(..) {
            let abort = server.abort_handle();
            if tokio::time::timeout(DRAIN, server).await.is_err() {
                abort.abort();
            }
        }
        if let Some(engine) = self.engine.take() {
            engine.stop().await;
        }
        let _ = std::fs::remove_file(&self.socket);
        // Connection tasks and blocking appends may still hold the store for a moment; the
        // store file must be closed before the data dir's lock is released (fields drop in
        // order: the store first, the lock last), or a daemon started right after finds it
        // locked.
        let deadline = tokio::time::Instant::now() + DRAIN;
        while Arc::strong_count(&self.store) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if Arc::strong_count(&self.store) > 1 {
            tracing::warn!("the event store is still in use after shutdown");
        }
        tracing::info!(revision = self.store.head(), "orco daemon stopped");
    }
}

/// The addresses of this machine's network interfaces, for the certificate of a listener
/// bound to every address (`0.0.0.0`: IPv4 ones; `[::]`: both): without link-local IPv6
/// addresses, which need a scope a certificate cannot carry.
pub fn interface_addresses(ipv6_too: bool) -> Vec<String> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for interface in interfaces {
        let Some(address) = interface.address else {
            continue;
        };
        if let Some(v4) = address.as_sockaddr_in() {
            out.push(v4.ip().to_string());
        } else if let Some(v6) = address.as_sockaddr_in6()
            && ipv6_too
            && !v6.ip().is_unicast_link_local()
        {
            out.push(v6.ip().to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The server's member of the SWIM group, with the cluster's gossip key (`DATA/gossip.key`,
/// made at the first start), on `given` (`--gossip`; a failure to bind it stops the start) or
/// else on the `--listen` address with the same port number over UDP — or, when that UDP port
/// is taken, an ephemeral one on the same address (agents are told where it is).
async fn start_gossip(
    data_dir: &std::path::Path,
    given: Option<std::net::SocketAddr>,
    listen: Option<std::net::SocketAddr>,
    name: &str,
) -> Result<
    (
        orco_cluster::gossip::Gossip,
        orco_cluster::gossip::GossipKey,
    ),
    DaemonError,
> {
    use orco_cluster::gossip::{Gossip, GossipKey, KEY_FILE, Role};
    let key = GossipKey::load_or_create(&data_dir.join(KEY_FILE))
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    let start = |at| Gossip::start(at, None, name, Role::Server, key.clone());
    let gossip = match (given, listen) {
        (Some(at), _) => start(at).await,
        (None, Some(listen)) => match start(listen).await {
            Ok(gossip) => Ok(gossip),
            Err(e) => {
                tracing::warn!("{e}: gossiping on another UDP port of {}", listen.ip());
                start(std::net::SocketAddr::new(listen.ip(), 0)).await
            }
        },
        (None, None) => start(([127, 0, 0, 1], 0).into()).await,
    }
    .map_err(|e| DaemonError::Config(e.to_string()))?;
    Ok((gossip, key))
}

/// How often a running daemon checks whether its own server certificate is due (a third of
/// its life left, or issued for other names): a renewed one is presented from the next
/// handshake on, without a restart.
pub const RENEW_CHECK: Duration = Duration::from_secs(3600);

/// Renews the TCP listener's certificate from the daemon's CA while the daemon runs.
async fn renew(
    authority: Arc<Authority>,
    names: Vec<String>,
    certs: Arc<ServerCerts>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RENEW_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        let (ca, wanted) = (authority.clone(), names.clone());
        match tokio::task::spawn_blocking(move || ca.server_identity(&wanted)).await {
            Ok(Ok(identity)) => match certs.replace_if_changed(&identity) {
                Ok(true) => tracing::info!("renewed the TLS certificate of the TCP listener"),
                Ok(false) => {}
                Err(e) => tracing::warn!("cannot present the renewed TLS certificate: {e}"),
            },
            Ok(Err(e)) => tracing::warn!("cannot renew the TLS certificate: {e}"),
            Err(e) => tracing::warn!("the TLS certificate renewal stopped: {e}"),
        }
    }
}

/// The API address tasks get as `ORCO_HOST`: the unix socket, as `unix:///ABSOLUTE/PATH`.
fn api_host(socket: &Path) -> String {
    let path = if socket.is_absolute() {
        socket.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| socket.to_path_buf(), |d| d.join(socket))
    };
    format!("unix://{}", path.display())
}

//! `orco agent`: one node of a cluster. The node half of the daemon — the keeper, the
//! runtimes, the agent's supervisors and the logs — with its assignments coming from a
//! server over mutual TLS instead of an engine in the same process.
//!
//! Start-up: data dir (0700) → lock → the node's identity (`DATA/pki`: its key and the
//! certificate the cluster's CA signed; on the first start, a join with the token: the
//! server is trusted only if its CA matches the token's pin) → keeper → agent → the stream
//! to a server, reopened (to the next server given) whenever it ends. The fence runs while
//! no stream is open.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orco_agent::Agent;
use orco_cluster::dial::{self, ServerUrl};
use orco_cluster::{Identity, Member};
use orco_pki::{JoinToken, NodeIdentity, NodeKey};
use orco_state::Capacity;
use orco_wire::model::{CertificateRequest, JoinRequest, NodeCertificate};

use crate::engine::start_node;
use crate::error::DaemonError;
use crate::lock::DataDirLock;

/// Everything `orco agent` is told.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The node's data dir.
    pub data_dir: PathBuf,
    /// The servers to join and stream to, tried in turn.
    pub servers: Vec<ServerUrl>,
    /// The join token's file (needed on the first start only).
    pub token_file: Option<PathBuf>,
    /// The node's name.
    pub node: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its taints.
    pub taints: Vec<String>,
    /// Cores and memory offered; by default the machine's.
    pub capacity: Option<Capacity>,
    /// Kept back from the capacity for the system.
    pub reserve: Capacity,
    /// The orco executable that runs the keeper.
    pub program: PathBuf,
    /// The label scope of the node's containers.
    pub docker_scope: String,
    /// Output lines a stack's log queue holds.
    pub log_queue_lines: usize,
    /// Where the node gossips (SWIM, UDP); by default an ephemeral port on the address its
    /// stream goes out from.
    pub gossip: Option<std::net::SocketAddr>,
}

/// The machine's cores (in thousandths) and memory, from the scheduler's view of this
/// process and /proc/meminfo.
pub fn machine_capacity() -> Capacity {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Capacity {
        cpu_millis: u64::try_from(cpus).unwrap_or(1) * 1000,
        memory: orco_api::node::meminfo_bytes(&meminfo, "MemTotal"),
    }
}

/// The node's identity: loaded from `DATA/pki`, or obtained by joining with the token.
async fn identity(config: &AgentConfig) -> Result<NodeIdentity, DaemonError> {
    let dir = config.data_dir.join(crate::daemon::PKI_DIR);
    let loaded = NodeIdentity::load(&dir).map_err(|e| DaemonError::Config(e.to_string()))?;
    if let Some(identity) = loaded {
        if identity.node() != config.node {
            return Err(DaemonError::Config(format!(
                "the data dir {} belongs to node {}, not {}: give this node its own --data-dir",
                config.data_dir.display(),
                identity.node(),
                config.node
            )));
        }
        return Ok(identity);
    }
    let Some(token_file) = &config.token_file else {
        return Err(DaemonError::Config(
            "this node has not joined yet: give it --token-file FILE (from `orco cluster token create` on a server)"
                .to_string(),
        ));
    };
    let text =
        orco_pki::read_secret_file(token_file).map_err(|e| DaemonError::Config(e.to_string()))?;
    let token: JoinToken = text.parse().map_err(|e: orco_pki::PkiError| {
        DaemonError::Config(format!("{}: {e}", token_file.display()))
    })?;
    let key = NodeKey::generate(&config.node).map_err(|e| DaemonError::Config(e.to_string()))?;
    let csr = key
        .csr_pem()
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    let tls = orco_pki::pinned_client_config(token.pin, None)
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    let request = JoinRequest {
        token_id: token.id.clone(),
        secret: token.secret.clone(),
        node: config.node.clone(),
        csr,
    };
    let identity = certify(config, tls, orco_wire::route::CLUSTER_JOIN, &request, key)
        .await
        .map_err(|e| DaemonError::Config(format!("cannot join: {e}")))?;
    tracing::info!(node = %config.node, "joined the cluster");
    Ok(identity)
}

/// Sends `request` to `route` of the servers in turn until one answers, and keeps the
/// certificate it signs for `key` in `DATA/pki`. A refusal is final: another server of the
/// same cluster says the same.
async fn certify(
    config: &AgentConfig,
    tls: std::sync::Arc<orco_pki::rustls::ClientConfig>,
    route: &str,
    request: &impl serde::Serialize,
    key: NodeKey,
) -> Result<NodeIdentity, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let path = format!("{}{route}", orco_wire::API_PREFIX);
    let mut last = String::from("no server given (--join)");
    for url in &config.servers {
        match dial::post(url, tls.clone(), &path, body.clone()).await {
            Ok((status, answer)) if status.is_success() => {
                let signed: NodeCertificate = serde_json::from_slice(&answer)
                    .map_err(|e| format!("{url} answered with {e}"))?;
                let identity = NodeIdentity::new(key, &signed.certificate, &signed.ca)
                    .map_err(|e| e.to_string())?;
                identity
                    .save(&config.data_dir.join(crate::daemon::PKI_DIR))
                    .map_err(|e| e.to_string())?;
                return Ok(identity);
            }
            Ok((status, answer)) => {
                return Err(format!(
                    "{url} refused ({status}): {}",
                    dial::error_message(&String::from_utf8_lossy(&answer))
                ));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Asks for a new certificate (a new key) when a third of the current one's life is left;
/// the next stream uses it.
async fn rotate(config: &AgentConfig, identity: &NodeIdentity) -> Option<NodeIdentity> {
    if std::time::SystemTime::now() < identity.renew_at() {
        return None;
    }
    let key = identity.rotate_key().ok()?;
    let csr = key.csr_pem().ok()?;
    let tls = orco_pki::pinned_client_config(identity.ca_pin(), Some(identity)).ok()?;
    let request = CertificateRequest { csr };
    match certify(
        config,
        tls,
        orco_wire::route::NODE_CERTIFICATE,
        &request,
        key,
    )
    .await
    {
        Ok(renewed) => {
            tracing::info!("the node's certificate was renewed");
            Some(renewed)
        }
        Err(e) => {
            tracing::warn!("cannot renew the node's certificate: {e}");
            None
        }
    }
}

/// Where a stream to `url` that goes out from `local` gossips from and to.
async fn gossip_route(url: &ServerUrl, local: &str) -> Option<orco_cluster::gossip::Route> {
    let local: std::net::SocketAddr = local.parse().ok()?;
    let server = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .ok()?
        .next()?;
    Some(orco_cluster::gossip::Route {
        local: local.ip(),
        server: server.ip(),
    })
}

/// Runs the node until SIGTERM or SIGINT; its instances keep running under the keeper (the
/// keeper's fence stops them if the node's lease ends first).
pub async fn run_agent(config: AgentConfig) -> Result<(), DaemonError> {
    if config.servers.is_empty() {
        return Err(DaemonError::Config(
            "--join needs at least one server: https://HOST:PORT".to_string(),
        ));
    }
    crate::daemon::private_dir(&config.data_dir)?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let mut identity = identity(&config).await?;
    let node = start_node(
        &config.data_dir,
        &config.program,
        &config.docker_scope,
        config.log_queue_lines,
    )
    .await?;
    let logs = node.logs.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    let mut agent = Agent::start(node.runtime(), tx, Some(Arc::new(node.sink)))
        .await
        .map_err(DaemonError::Agent)?;
    agent.set_node(Some(config.node.clone()));
    let capacity = config.capacity.unwrap_or_else(machine_capacity);
    let allocatable = Capacity {
        cpu_millis: capacity
            .cpu_millis
            .saturating_sub(config.reserve.cpu_millis),
        memory: capacity.memory.saturating_sub(config.reserve.memory),
    };
    let mut member = Member::new(
        Identity {
            node: config.node.clone(),
            capacity,
            allocatable,
            labels: config.labels.clone(),
            taints: config.taints.clone(),
        },
        agent,
        rx,
    )
    .with_logs(logs.clone());
    let (offers, offered) = tokio::sync::watch::channel(None);
    let (route, routed) = tokio::sync::watch::channel(None);
    member = member.with_gossip(offers);
    let gossip = tokio::spawn(orco_cluster::gossip::follow_offers(
        config.node.clone(),
        config.gossip,
        offered,
        routed,
    ));
    tracing::info!(node = %config.node, "orco agent {} running", orco_api::VERSION);
    let streams = async {
        let mut pause = Duration::from_millis(200);
        for url in config.servers.iter().cycle() {
            if let Some(renewed) = rotate(&config, &identity).await {
                identity = renewed;
            }
            let tls = match orco_pki::pinned_client_config(identity.ca_pin(), Some(&identity)) {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::error!("cannot use the node's certificate: {e}");
                    return;
                }
            };
            match dial::open_stream(url, tls).await {
                Ok((io, local)) => {
                    pause = Duration::from_millis(200);
                    if let Some(way) = gossip_route(url, &local).await {
                        route.send_replace(Some(way));
                    }
                    match member.session(io, local).await {
                        Ok(()) => tracing::warn!(server = %url, "the stream ended"),
                        Err(e) => tracing::warn!(server = %url, "the stream ended: {e}"),
                    }
                }
                Err(e) => tracing::warn!(server = %url, "cannot open the stream: {e}"),
            }
            member.idle(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    };
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| DaemonError::io("handle", "SIGTERM", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| DaemonError::io("handle", "SIGINT", e))?;
    tokio::select! {
        () = streams => {}
        _ = term.recv() => tracing::info!("SIGTERM: the agent stops, its instances run on"),
        _ = int.recv() => tracing::info!("SIGINT: the agent stops, its instances run on"),
    }
    gossip.abort();
    let _ = tokio::task::spawn_blocking(move || logs.shutdown()).await;
    Ok(())
}

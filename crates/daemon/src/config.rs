//! The daemon's settings: where its data lives, where it listens, how its TCP listener
//! serves TLS and how TCP clients authenticate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `orco daemon` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The data directory (event store, lock file).
    pub data_dir: PathBuf,
    /// The unix socket the API listens on.
    pub socket: PathBuf,
    /// An optional TCP address to listen on as well (needs `token_file`): HTTPS only.
    pub listen: Option<SocketAddr>,
    /// The certificate chain (PEM, the leaf first) the TCP listener presents instead of one
    /// issued by the daemon's own CA (`--tls-cert`; needs `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (`--tls-key`).
    pub tls_key: Option<PathBuf>,
    /// DNS names and addresses the daemon's own server certificate is issued for, besides
    /// the listen address, `localhost`, `127.0.0.1`, `::1` and the host name (`--tls-name`).
    pub tls_names: Vec<String>,
    /// The file holding the bearer token TCP clients must send.
    pub token_file: Option<PathBuf>,
    /// Verify every page of the event store when opening it (slower start).
    pub verify_store: bool,
    /// Start the engine (default). Without it the daemon records desired state and answers
    /// reads but runs nothing: for inspecting a data dir, and for tests of the API alone.
    pub engine: bool,
    /// The orco executable, which runs the node keeper as `PROGRAM keeper --dir DIR`; by
    /// default the running executable.
    pub program: Option<PathBuf>,
    /// Output lines a stack's log queue holds before lines are dropped and counted.
    pub log_queue_lines: usize,
    /// The label scope of this daemon's containers (`orco.scope`): two daemons on one
    /// Docker engine need different scopes.
    pub docker_scope: String,
    /// Most job tasks running at once on this node (`--max-concurrent-tasks`); 0: the
    /// number of CPUs.
    pub max_concurrent_tasks: u32,
    /// Run as a cluster server (`orco server`): no node in this process; agents join over
    /// `--listen` with mutual TLS.
    pub server: Option<ServerOptions>,
}

/// What `orco server` adds to the daemon's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// A node's lease: a node that does not renew it within this is unreachable.
    pub lease: std::time::Duration,
    /// After the lease, how long until a node is declared lost and its instances go
    /// elsewhere.
    pub grace: std::time::Duration,
    /// How long an instance whose placement stopped holding stays before it moves.
    pub repair_cooldown: std::time::Duration,
    /// Where the server gossips (SWIM, UDP): by default the `--listen` address (the same
    /// port number, over UDP).
    pub gossip: Option<SocketAddr>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            lease: orco_cluster::DEFAULT_LEASE,
            grace: orco_cluster::DEFAULT_GRACE,
            repair_cooldown: orco_control::DEFAULT_REPAIR_COOLDOWN.unsigned_abs(),
            gossip: None,
        }
    }
}

impl Config {
    /// The defaults of DESIGN.md §9 for this user: see [`orco_api::paths`].
    pub fn defaults() -> Config {
        Config {
            data_dir: orco_api::paths::default_data_dir(),
            socket: orco_api::paths::default_socket(),
            listen: None,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            token_file: None,
            verify_store: false,
            engine: true,
            program: std::env::current_exe().ok(),
            log_queue_lines: orco_logs::config::DEFAULT_QUEUE_LINES,
            docker_scope: "orco".to_string(),
            max_concurrent_tasks: 0,
            server: None,
        }
    }
}

//! The daemon's settings: where its data lives, where it listens, and how TCP clients
//! authenticate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `orco daemon` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The data directory (event store, lock file).
    pub data_dir: PathBuf,
    /// The unix socket the API listens on.
    pub socket: PathBuf,
    /// An optional TCP address to listen on as well (needs `token_file`).
    pub listen: Option<SocketAddr>,
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
}

impl Config {
    /// The defaults of DESIGN.md §9 for this user: see [`orco_api::paths`].
    pub fn defaults() -> Config {
        Config {
            data_dir: orco_api::paths::default_data_dir(),
            socket: orco_api::paths::default_socket(),
            listen: None,
            token_file: None,
            verify_store: false,
            engine: true,
            program: std::env::current_exe().ok(),
            log_queue_lines: orco_logs::config::DEFAULT_QUEUE_LINES,
            docker_scope: "orco".to_string(),
            max_concurrent_tasks: 0,
        }
    }
}

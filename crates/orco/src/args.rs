//! Clap definitions of the verbs that talk to the daemon (the API verbs): `daemon`, `apply`,
//! `down`, `status`, `ps`, `restart`, `stop`, `start`, `scale`, `events`, `history`, `run`
//! and the nouns `workload`, `instance`, `node`, `cluster`. `cli.rs` names them in `Command`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::FileArg;

/// Which daemon to talk to (DESIGN.md §9).
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// The daemon: unix:///path/to/orco.sock or https://host:port (tcp://host:port is the
    /// same: a daemon's TCP listener serves HTTPS only). Default: the user's socket
    /// (/run/orco/orco.sock as root, else $XDG_RUNTIME_DIR/orco.sock or
    /// /tmp/orco-$UID/orco.sock).
    #[arg(long, env = "ORCO_HOST", value_name = "URL")]
    pub(crate) host: Option<String>,
    /// A file holding the bearer token for a TCP daemon (or set ORCO_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Trust an https:// daemon whose certificate this CA signed (the daemon's
    /// DATA/pki/ca.crt, printed at its start); ORCO_CA may also hold the PEM itself.
    #[arg(long, env = "ORCO_CA", value_name = "FILE")]
    pub(crate) ca_file: Option<String>,
    /// Trust an https:// daemon whose CA has this pin (the sha256 the daemon prints at
    /// start); no host name is checked.
    #[arg(long, env = "ORCO_CA_PIN", value_name = "PIN")]
    pub(crate) ca_pin: Option<String>,
    /// How long to wait for each answer of the daemon (default 10s; a daemon that accepts
    /// and does not answer in time gives exit 3). Verbs that follow progress (`apply`,
    /// `up --wait`, `rollout status`, `rollback`) stop following after it too (by default
    /// after 10m, or 5m for `up --wait`); streams (`logs -f`, `events -f`) have no limit.
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,
}

/// Which stack: `-f FILE`, `--stack NAME`, or the only stack applied.
#[derive(Debug, Clone, Args)]
pub(crate) struct StackArgs {
    /// The stack file whose stack to use (its `stack.name`).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "stack"
    )]
    pub(crate) file: Option<PathBuf>,
    /// The stack, by name. Default: the only stack applied.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
}

/// Output formats of the API verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Table,
    /// A table with more columns.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `-o FORMAT`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FormatArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub(crate) output: Format,
}

/// `orco daemon`.
#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    /// The data directory. Default: /var/lib/orco as root, else $XDG_DATA_HOME/orco.
    #[arg(long, env = "ORCO_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The unix socket to serve the API on. Default: /run/orco/orco.sock as root, else
    /// $XDG_RUNTIME_DIR/orco.sock (or /tmp/orco-$UID/orco.sock).
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    /// Also serve the API on this TCP address, HTTPS only (needs --token-file): with a
    /// certificate of the daemon's own CA (DATA/pki, created at the first start), or the one
    /// given with --tls-cert/--tls-key.
    #[arg(long, value_name = "ADDR", requires = "token_file")]
    pub(crate) listen: Option<SocketAddr>,
    /// The certificate chain (PEM, the leaf first) to serve on --listen instead of one the
    /// daemon's CA issues.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// A DNS name or address the daemon's own certificate is issued for, besides the
    /// --listen address, localhost, 127.0.0.1, ::1 and the host name (repeatable).
    #[arg(long = "tls-name", value_name = "NAME")]
    pub(crate) tls_names: Vec<String>,
    /// The file holding the bearer token TCP clients must send.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Verify every page of the event store when opening it (slower start-up).
    #[arg(long)]
    pub(crate) verify_store: bool,
    /// Do not start the engine: record desired state and answer reads, run nothing.
    #[arg(long)]
    pub(crate) no_engine: bool,
    /// Output lines a stack's log queue holds before new lines are dropped (and counted in a
    /// `dropped N lines` record): more absorbs longer bursts, less bounds memory.
    #[arg(long, value_name = "LINES", default_value_t = 8192,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) log_queue_lines: u32,
    /// The label scope of this daemon's containers: two daemons on one Docker engine need
    /// different scopes.
    #[arg(
        long,
        env = "ORCO_DOCKER_SCOPE",
        value_name = "NAME",
        default_value = "orco"
    )]
    pub(crate) docker_scope: String,
    /// Most job tasks running at once on this node; 0: the number of CPUs.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) max_concurrent_tasks: u32,
    #[command(subcommand)]
    pub(crate) command: Option<DaemonCommand>,
}

/// `orco daemon` verbs (without one, `orco daemon` runs the daemon).
#[derive(Debug, Subcommand)]
pub(crate) enum DaemonCommand {
    /// Stop the daemon on this machine (SIGTERM to the process serving the socket) and wait
    /// until it is gone (at most --timeout, default 2m); instances keep running under the
    /// node keeper unless --instances.
    Stop(DaemonStopArgs),
}

/// `orco daemon stop`.
#[derive(Debug, Args)]
pub(crate) struct DaemonStopArgs {
    /// Also stop every stack (dependents first) and then the node keeper, so that nothing
    /// orco started keeps running.
    #[arg(long)]
    pub(crate) instances: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    pub(crate) file: FileArg,
    /// Print what the apply would change (added, removed, changed and scaled workloads, and
    /// the instances it would replace) and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Return once the stack is applied instead of following the rollouts of the services it
    /// replaces (followed for --timeout, default 10m).
    #[arg(short = 'd', long)]
    pub(crate) detach: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco rollout`.
#[derive(Debug, Args)]
pub(crate) struct RolloutArgs {
    #[command(subcommand)]
    pub(crate) command: RolloutCommand,
}

/// `orco rollout` verbs.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RolloutCommand {
    /// Follow a service's latest rollout until it is complete (exit 0) or rolled back (exit
    /// 1), printing its progress; with -o, print the revisions and the rollout once.
    Status(RolloutStatusArgs),
}

/// `orco rollout status`.
#[derive(Debug, Args)]
pub(crate) struct RolloutStatusArgs {
    /// The service (its rollout is followed for --timeout, default 10m).
    pub(crate) service: String,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco rollback`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The service.
    pub(crate) service: String,
    /// The revision of its spec to return to (`orco rollout status SERVICE -o yaml` lists
    /// them); default: the one before the current.
    #[arg(long = "to", value_name = "REV")]
    pub(crate) to: Option<u32>,
    /// Return at once instead of following the rollout (followed for --timeout, default
    /// 10m).
    #[arg(short = 'd', long)]
    pub(crate) detach: bool,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco down`.
#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// Remove the stack's named volumes too (they outlive `down` otherwise).
    #[arg(short = 'v', long)]
    pub(crate) volumes: bool,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco status` and `orco ps`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Only this service.
    pub(crate) service: Option<String>,
    /// Show the state at a past moment: a revision (rev:42), an RFC 3339 time, or a
    /// duration ago (10m, 1d), today or yesterday (midnight).
    #[arg(long, value_name = "WHEN")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco port`.
#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    /// The service.
    pub(crate) service: String,
    /// Its container port (`80`, `80/udp`); default: every port it publishes.
    pub(crate) port: Option<String>,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco restart`, `orco stop`, `orco start`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// A service or an instance (SERVICE-N); default: every service of the stack.
    pub(crate) target: Option<String>,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco restart`.
#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Restart every replica at once instead of one after another.
    #[arg(long)]
    pub(crate) all: bool,
}

/// `orco scale`.
#[derive(Debug, Args)]
pub(crate) struct ScaleArgs {
    /// The service.
    pub(crate) service: String,
    /// The new number of replicas.
    pub(crate) replicas: u32,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Keep printing new events as they are appended.
    #[arg(short = 'f', long)]
    pub(crate) follow: bool,
    /// Start after this revision (default: the beginning of the log).
    #[arg(long, value_name = "REVISION", default_value_t = 0)]
    pub(crate) after: u64,
    /// Only events of this kind (`job_finished`, `instance_exited`, …); repeat for several.
    #[arg(long, value_name = "KIND")]
    pub(crate) kind: Vec<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsVerbArgs {
    /// A service, job or instance (`SERVICE-N`); default: the whole stack.
    pub(crate) target: Option<String>,
    #[command(flatten)]
    pub(crate) logs: LogsArgs,
}

/// What `orco logs` and `orco instance logs` share.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogsArgs {
    /// Keep printing new records as they come.
    #[arg(short = 'f', long)]
    pub(crate) follow: bool,
    /// Only records at or after this moment: a duration ago (`10m`) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only records whose message matches this regular expression.
    #[arg(long, value_name = "RE")]
    pub(crate) grep: Option<String>,
    /// Only records at least this severe (trace, debug, info, warn, error, fatal).
    #[arg(long, value_name = "LEVEL")]
    pub(crate) level: Option<String>,
    /// Only the last N records of history.
    #[arg(short = 'n', long, value_name = "N")]
    pub(crate) tail: Option<usize>,
    /// The stack, by name. Default: the only stack applied.
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub(crate) stack: Option<String>,
    /// The stack file whose stack to use (`-f` means follow here).
    #[arg(long = "file", value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco tui`.
#[derive(Debug, Args)]
pub(crate) struct TuiArgs {
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// A stack, service or instance (STACK/NAME also works).
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// Restart modes for `orco run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RestartMode {
    /// Always restart.
    Always,
    /// Restart when it exits non-zero.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RestartMode::Always => "always",
            RestartMode::OnFailure => "on-failure",
            RestartMode::Never => "never",
        }
    }
}

/// `orco run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The service's name.
    pub(crate) name: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
    /// Number of instances.
    #[arg(long, default_value_t = 1)]
    pub(crate) replicas: u32,
    /// When to restart it.
    #[arg(long, value_enum, default_value = "always")]
    pub(crate) restart: RestartMode,
    /// The stack to add it to (created when missing). Default: a stack named like the service.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco workload …`.
#[derive(Debug, Args)]
pub(crate) struct WorkloadArgs {
    #[command(subcommand)]
    pub(crate) verb: WorkloadVerb,
}

/// The workload verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkloadVerb {
    /// Apply the workloads of a stack file.
    Create(ApplyArgs),
    /// List workloads of every stack (or of --stack).
    List(WorkloadListArgs),
    /// Show a workload, its spec and its instances.
    Describe(WorkloadNameArgs),
    /// Remove a workload from its stack.
    Delete(WorkloadNameArgs),
    /// Set a service's replica count.
    Scale(ScaleArgs),
}

/// `orco workload list`.
#[derive(Debug, Args)]
pub(crate) struct WorkloadListArgs {
    /// Only this stack.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
    /// Show the state at a past moment.
    #[arg(long, value_name = "WHEN")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco workload describe|delete NAME`.
#[derive(Debug, Args)]
pub(crate) struct WorkloadNameArgs {
    /// The workload: NAME, or STACK/NAME.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco instance …`.
#[derive(Debug, Args)]
pub(crate) struct InstanceArgs {
    #[command(subcommand)]
    pub(crate) verb: InstanceVerb,
}

/// The instance verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum InstanceVerb {
    /// List instances of every stack (or of --stack).
    List(InstanceListArgs),
    /// The logs of one instance (`SERVICE-N` or `STACK/SERVICE-N`).
    Logs(InstanceLogsArgs),
}

/// `orco instance logs`.
#[derive(Debug, Args)]
pub(crate) struct InstanceLogsArgs {
    /// The instance.
    pub(crate) instance: String,
    #[command(flatten)]
    pub(crate) logs: LogsArgs,
}

/// `orco instance list`.
#[derive(Debug, Args)]
pub(crate) struct InstanceListArgs {
    /// Only this stack.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
    /// Only this workload's instances: NAME, or STACK/NAME.
    #[arg(long, value_name = "NAME")]
    pub(crate) workload: Option<String>,
    /// Show the state at a past moment.
    #[arg(long, value_name = "WHEN")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco node …`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    #[command(subcommand)]
    pub(crate) verb: NodeVerb,
}

/// The node verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum NodeVerb {
    /// List the nodes and their capacity.
    List(PlainArgs),
    /// Show one node.
    Describe(NodeNameArgs),
    /// Take no new instance on a node (a cluster's).
    Cordon(NodeNameArgs),
    /// Take new instances on a node again.
    Uncordon(NodeNameArgs),
    /// Remove a node: its instances go elsewhere and its certificate is refused from now on.
    Remove(NodeNameArgs),
    /// Cordon a node and move each of its instances to another node (a replacement ready
    /// elsewhere before it stops); waits until the node is empty.
    Drain(NodeDrainArgs),
    /// Set (`KEY=VALUE`) or remove (`KEY-`) labels of a node.
    Label(NodeEditArgs),
    /// Add (`KEY=VALUE[:NoSchedule|NoExecute]`) or remove (`KEY-`) taints of a node; a
    /// NoExecute taint moves the instances that do not tolerate it to other nodes.
    Taint(NodeEditArgs),
}

/// `orco node drain NAME`.
#[derive(Debug, Args)]
pub(crate) struct NodeDrainArgs {
    /// The node's name.
    pub(crate) name: String,
    /// Return once the drain is recorded, without waiting for the node to be empty.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco node label|taint NAME EDIT…`.
#[derive(Debug, Args)]
pub(crate) struct NodeEditArgs {
    /// The node's name.
    pub(crate) name: String,
    /// The edits, applied in order: all of them or, on the first bad one, none.
    #[arg(required = true, value_name = "EDIT", allow_hyphen_values = true)]
    pub(crate) edits: Vec<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco node describe NAME`.
#[derive(Debug, Args)]
pub(crate) struct NodeNameArgs {
    /// The node's name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// A verb with only the connection and the output format.
#[derive(Debug, Args)]
pub(crate) struct PlainArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco cluster …`.
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    pub(crate) verb: ClusterVerb,
}

/// The cluster verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum ClusterVerb {
    /// The daemon's version, mode and what it holds.
    Info(PlainArgs),
    /// Whether the daemon answers (`/health`).
    Health(PlainArgs),
    /// Join tokens of a server: create, list, revoke.
    Token(TokenArgs),
    /// The SWIM group as the server sees it, beside each node's lease status.
    Members(PlainArgs),
}

/// `orco cluster token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    pub(crate) verb: TokenVerb,
}

/// The join token verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenVerb {
    /// Create a join token and print it alone on stdout (shown this once).
    Create(TokenCreateArgs),
    /// List join tokens (never their secrets).
    List(PlainArgs),
    /// Revoke a join token by id.
    Revoke(TokenIdArgs),
}

/// `orco cluster token create`.
#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// How long it is accepted (`30m`, `24h`, `7d`).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub(crate) ttl: orco_spec::Duration,
    /// Several nodes may join with it.
    #[arg(long)]
    pub(crate) reusable: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco cluster token revoke ID`.
#[derive(Debug, Args)]
pub(crate) struct TokenIdArgs {
    /// The token's id (its second part).
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `orco server`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    #[command(flatten)]
    pub(crate) daemon: DaemonArgs,
    /// A node's lease: a node that does not renew it within this is unreachable.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub(crate) lease: orco_spec::Duration,
    /// After the lease, how long until a node is lost and its instances go elsewhere.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) grace: orco_spec::Duration,
    /// How long an instance whose placement stopped holding (a label its nodeSelector needs
    /// removed, its anchor gone from its node) stays before it moves.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) repair_cooldown: orco_spec::Duration,
    /// Where the SWIM group gossips (UDP, authenticated with the cluster's key); default:
    /// the --listen address, same port number over UDP.
    #[arg(long, value_name = "ADDR")]
    pub(crate) gossip: Option<std::net::SocketAddr>,
}

/// `orco agent`.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// The servers to join, comma-separated: https://HOST:PORT[,…].
    #[arg(long, value_name = "URL,...", value_delimiter = ',', required = true)]
    pub(crate) join: Vec<String>,
    /// The join token's file (0600), needed on the first start only.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// The node's name. Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// The node's data directory.
    #[arg(long, env = "ORCO_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// A label `KEY=VALUE` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub(crate) labels: Vec<String>,
    /// A taint `KEY=VALUE[:NoSchedule|NoExecute]` (repeatable).
    #[arg(long = "taint", value_name = "TAINT")]
    pub(crate) taints: Vec<String>,
    /// What the node offers: `cpu=N,memory=SIZE` (default: the machine's cores and memory).
    #[arg(long, value_name = "cpu=N,memory=SIZE")]
    pub(crate) capacity: Option<String>,
    /// Kept back for the system: `cpu=N,memory=SIZE`.
    #[arg(long, value_name = "cpu=N,memory=SIZE")]
    pub(crate) reserve: Option<String>,
    /// The label scope of this node's containers.
    #[arg(
        long,
        env = "ORCO_DOCKER_SCOPE",
        value_name = "NAME",
        default_value = "orco"
    )]
    pub(crate) docker_scope: String,
    /// Where this node gossips (SWIM, UDP; `0.0.0.0:PORT` is announced with the address its
    /// stream goes out from); default: an ephemeral port on that address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) gossip: Option<std::net::SocketAddr>,
}

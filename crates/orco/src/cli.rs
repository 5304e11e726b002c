//! The command line: every verb, flag and argument, as clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::args::*;

/// orco orchestrates services and jobs — local processes and containers — from one stack file.
#[derive(Debug, Parser)]
#[command(name = "orco", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success, 1 the operation failed, 2 invalid input or usage, 3 daemon unreachable."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check a stack file and report every problem with its position.
    Validate(ValidateArgs),
    /// Show the dependency graph of a stack: start layers, or DOT / Mermaid.
    Graph(GraphArgs),
    /// Print a compose file as the equivalent stack file; what orco does not support is
    /// listed on stderr with its line.
    Convert(ConvertArgs),
    /// Print a compose file's resolved model (interpolation, include, extends, profiles) the
    /// way `docker compose config` prints it.
    Config(ConfigArgs),
    /// Print the JSON Schema of the stack file (for editor completion).
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Apply the stack to the daemon (started in the background when none answers) and stay
    /// attached: output and state changes until Ctrl-C, which stops the stack in reverse
    /// dependency order. -d returns at once; --wait returns once every service is ready.
    Up(UpArgs),
    /// Run the daemon (API, event store and engine) in the foreground.
    Daemon(DaemonArgs),
    /// Run a cluster server (API, event store, reconciler, scheduler) in the foreground:
    /// agents join it over --listen with mutual TLS.
    Server(crate::args::ServerArgs),
    /// Run a cluster node in the foreground: join servers and run what they assign.
    Agent(crate::args::AgentArgs),
    /// Submit a stack file to the daemon (start what is missing, change what changed).
    Apply(ApplyArgs),
    /// Remove the stack and its instances.
    Down(DownArgs),
    /// One line per service: SERVICE STATE READY REPL RESTARTS AGE MESSAGE (every stack's,
    /// grouped by stack, when several are applied and none is picked).
    Status(StatusArgs),
    /// One line per stack applied: STACK SERVICES JOBS INSTANCES APPLIED.
    Ls(PlainArgs),
    /// One line per instance.
    Ps(StatusArgs),
    /// The host address a service's container port is published on (a port chosen at
    /// start included), as `docker compose port` prints it.
    Port(PortArgs),
    /// Restart a service or one instance, once: a service rolls through its replicas under
    /// its `update` bounds (a replacement is ready before the old one is drained and
    /// stopped); `--all` restarts every replica at once.
    Restart(RestartArgs),
    /// Stop a service until `orco start` or the next apply.
    Stop(TargetArgs),
    /// Start a stopped service again.
    Start(TargetArgs),
    /// Set a service's replica count (until the next apply).
    Scale(ScaleArgs),
    /// A service's rollouts: `status SERVICE` follows the latest one.
    Rollout(RolloutArgs),
    /// Return a service to an earlier revision of its spec (--to REV; default the one before),
    /// through a rolling update that is followed until it ends (-d returns at once).
    Rollback(RollbackArgs),
    /// Print the logs of the stack, a service or an instance; -f follows them.
    Logs(LogsVerbArgs),
    /// Print the event log; -f follows it.
    Events(EventsArgs),
    /// The terminal UI: live status, logs and actions (also a bare `orco` on a terminal).
    Tui(TuiArgs),
    /// Every event that touched a stack, service or instance.
    History(HistoryArgs),
    /// Run a command as a one-service workload, without a stack file.
    Run(RunArgs),
    /// Workloads: create -f, list, describe, delete, scale.
    Workload(WorkloadArgs),
    /// Instances: list, logs.
    Instance(InstanceArgs),
    /// Job runs: submit, list, status, retry, cancel (also `orco workflow`).
    #[command(alias = "workflow")]
    Job(crate::cmd::job::JobArgs),
    /// Nodes: list, describe, cordon, uncordon, drain, label, taint, remove.
    Node(NodeArgs),
    /// The daemon or cluster: info, health, join tokens.
    Cluster(ClusterArgs),
    /// API tokens with a role (read, operate, admin): create, list, revoke.
    Token(crate::cmd::token::TokenArgs),
    /// The node keeper (started by orco itself).
    #[command(hide = true)]
    Keeper {
        /// `--dir DIR [--foreground]`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `orco up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    pub(crate) file: FileArg,
    /// Compose services to run whatever their profiles, with their dependencies (besides
    /// the services the active profiles enable).
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// Apply and return at once instead of staying attached.
    #[arg(short = 'd', long)]
    pub(crate) detach: bool,
    /// Wait until every service is ready (or give up at --timeout, default 5m), showing
    /// progress, then return; implies -d.
    #[arg(long)]
    pub(crate) wait: bool,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Apply the stack to the daemon and open the terminal UI on it (q leaves the stack
    /// running).
    #[arg(long)]
    pub(crate) tui: bool,
}

/// Picks the stack file.
#[derive(Debug, Args)]
pub(crate) struct FileArg {
    /// The stack file; default: the first of stack.yaml, orco.yaml, compose.yaml,
    /// docker-compose.yml in the current directory.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// A compose profile to activate (repeatable; also COMPOSE_PROFILES): services with
    /// `profiles` run only when one of theirs is active.
    #[arg(long = "profile", value_name = "NAME")]
    pub(crate) profiles: Vec<String>,
}

/// Output formats for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `orco validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    pub(crate) file: FileArg,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub(crate) output: Output,
}

/// `orco convert`.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The compose file.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The stack name; default: the file's `name:`, else `COMPOSE_PROJECT_NAME`, else its
    /// directory's name.
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub(crate) project_name: Option<String>,
    /// A profile to activate (repeatable; also COMPOSE_PROFILES).
    #[arg(long = "profile", value_name = "NAME")]
    pub(crate) profiles: Vec<String>,
}

/// `orco config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) file: FileArg,
    /// Services to keep whatever their profiles, with their dependencies.
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
    /// The project name; default: the file's `name:`, else `COMPOSE_PROJECT_NAME`, else its
    /// directory's name.
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub(crate) project_name: Option<String>,
    /// Print only the names of the services, one a line.
    #[arg(long = "services")]
    pub(crate) list_services: bool,
}

/// `orco graph`.
#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    #[command(flatten)]
    pub(crate) file: FileArg,
    /// Print Graphviz DOT.
    #[arg(long, conflicts_with_all = ["mermaid", "output"])]
    pub(crate) dot: bool,
    /// Print a Mermaid flowchart.
    #[arg(long, conflicts_with = "output")]
    pub(crate) mermaid: bool,
    /// Output format of the default view.
    #[arg(short = 'o', long = "output", value_enum)]
    pub(crate) output: Option<Output>,
}

/// `orco completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

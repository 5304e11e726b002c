//! `orco daemon`: run the daemon in the foreground until SIGTERM or SIGINT; `orco daemon
//! stop [--instances]`: stop the daemon serving the socket (and with `--instances`, every
//! stack and then the node keeper first).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orco_client::{Client, ClientError, Host};
use orco_daemon::daemon::Tls;
use orco_daemon::{Config, Daemon, ServerOptions};
use orco_wire::state::JobState;

use crate::args::{DaemonArgs, DaemonCommand, DaemonStopArgs, ServerArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &DaemonArgs) -> anyhow::Result<u8> {
    if let Some(DaemonCommand::Stop(stop_args)) = &args.command {
        return remote::run(stop(stop_args));
    }
    serve(config(args))
}

/// `orco server`: the daemon without a node, its agents joining over `--listen`.
pub(crate) fn run_server(args: &ServerArgs) -> anyhow::Result<u8> {
    if let Some(DaemonCommand::Stop(stop_args)) = &args.daemon.command {
        return remote::run(stop(stop_args));
    }
    let mut config = config(&args.daemon);
    config.server = Some(ServerOptions {
        lease: args.lease.into(),
        grace: args.grace.into(),
        repair_cooldown: args.repair_cooldown.into(),
        gossip: args.gossip,
    });
    serve(config)
}

/// Logs go to stderr, filtered by `ORCO_LOG` (default `info`); when stderr is a file (the
/// `daemon.log` of an autostarted daemon), it is kept under a size (see
/// [`orco_runtime::own_log`]).
pub(crate) fn init_tracing() {
    orco_runtime::own_log::cap_stderr();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORCO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

fn config(args: &DaemonArgs) -> Config {
    let defaults = Config::defaults();
    Config {
        data_dir: args.data_dir.clone().unwrap_or(defaults.data_dir),
        socket: args.socket.clone().unwrap_or(defaults.socket),
        listen: args.listen,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        tls_names: args.tls_names.clone(),
        token_file: args.token_file.clone(),
        verify_store: args.verify_store,
        engine: !args.no_engine,
        program: defaults.program,
        log_queue_lines: args.log_queue_lines as usize,
        docker_scope: args.docker_scope.clone(),
        max_concurrent_tasks: args.max_concurrent_tasks,
        server: None,
    }
}

fn serve(config: Config) -> anyhow::Result<u8> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("orco-daemon")
        .build()?;
    runtime.block_on(async move {
        let daemon = match Daemon::start(config).await {
            Ok(daemon) => daemon,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
        announce_tls(&daemon);
        daemon.run_until_signal().await?;
        Ok(exit::OK)
    })
}

/// Says on stderr how clients trust the TCP listener: the CA file and its pin.
fn announce_tls(daemon: &Daemon) {
    let Some(addr) = daemon.tcp_addr() else {
        return;
    };
    match daemon.tls() {
        Some(Tls::Given { cert, chain_pin }) => {
            eprintln!(
                "orco daemon: serving https://{addr} with the certificate {}",
                cert.display()
            );
            if let Some(pin) = chain_pin {
                eprintln!("orco daemon: the CA its chain ends in has the pin {pin}");
            }
        }
        _ => {
            eprintln!("orco daemon: serving https://{addr} with a certificate of this daemon's CA");
            eprintln!(
                "orco daemon: CA file {} (trust it with --ca-file or ORCO_CA)",
                daemon.ca_file().display()
            );
            eprintln!(
                "orco daemon: CA pin {} (or trust it with ORCO_CA_PIN)",
                daemon.ca_pin()
            );
        }
    }
}

/// `orco daemon stop`: finds the daemon's process by the socket's peer credentials, stops the
/// stacks first when asked, sends SIGTERM, waits until the process is gone, then stops the
/// keeper when asked.
async fn stop(args: &DaemonStopArgs) -> Result<u8, Failure> {
    let patience = remote::wait_timeout(&args.connect, Duration::from_secs(120))?;
    let deadline = Instant::now() + patience;
    let client = remote::waiting_client(&args.connect)?;
    let Host::Unix(socket) = client.host().clone() else {
        return Err(Failure::Usage(format!(
            "`orco daemon stop` stops a daemon of this machine through its unix socket, not {}: stop it where it runs",
            client.host()
        )));
    };
    match client.health().await {
        Ok(_) => {}
        Err(ClientError::Unreachable { .. }) => {
            eprintln!(
                "orco: no daemon answers on {}: nothing to stop",
                socket.display()
            );
            return Ok(exit::OK);
        }
        Err(e) => return Err(e.into()),
    }
    let pid = peer_pid(&socket).await?;
    let data_dir = data_dir_of(pid);
    if args.instances {
        stop_stacks(&client, deadline).await?;
    }
    kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(|e| {
        Failure::Usage(format!(
            "cannot signal the daemon (pid {pid}): {e}; as root, or as the user it runs as"
        ))
    })?;
    if !wait_gone(pid, deadline).await {
        eprintln!(
            "error: the daemon (pid {pid}) is still running after {}",
            orco_spec::Duration::from(patience)
        );
        return Ok(exit::FAILURE);
    }
    println!("daemon stopped (pid {pid})");
    if args.instances {
        let Some(data_dir) = data_dir else {
            eprintln!(
                "error: cannot tell the daemon's data dir from its open files: the node keeper was left running"
            );
            return Ok(exit::FAILURE);
        };
        return stop_keeper(&data_dir.join(orco_daemon::engine::KEEPER_DIR), deadline).await;
    }
    Ok(exit::OK)
}

/// The pid of the process that serves `socket` (its peer credentials).
async fn peer_pid(socket: &Path) -> Result<i32, Failure> {
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
        Failure::Client(ClientError::Unreachable {
            host: format!("unix://{}", socket.display()),
            detail: e.to_string(),
        })
    })?;
    let credentials = stream
        .peer_cred()
        .map_err(|e| Failure::Usage(format!("cannot tell who serves {}: {e}", socket.display())))?;
    credentials.pid().ok_or_else(|| {
        Failure::Usage(format!(
            "cannot tell which process serves {}",
            socket.display()
        ))
    })
}

/// The data dir of daemon `pid`: the directory of the `daemon.lock` it holds open.
fn data_dir_of(pid: i32) -> Option<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .find(|target| target.file_name().is_some_and(|n| n == "daemon.lock"))
        .and_then(|lock| lock.parent().map(Path::to_path_buf))
}

/// Whether process `pid` has ended (gone, or a zombie its parent has not reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// Waits until `pid` has ended or `deadline` passes; whether it ended.
async fn wait_gone(pid: i32, deadline: Instant) -> bool {
    while !ended(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Stops every stack (dependents first) and waits until no instance runs.
async fn stop_stacks(client: &Client, deadline: Instant) -> Result<(), Failure> {
    // Job runs first: a cancelled run is recorded as such, not as killed with the keeper.
    let unfinished = |state: JobState| matches!(state, JobState::Running | JobState::Queued);
    for run in client.jobs().await?.items {
        if unfinished(run.state) {
            client.job_action(&run.id, "cancel").await?;
            println!("job run {}: cancel requested", run.id);
        }
    }
    let stacks = client.stacks(None).await?;
    for stack in &stacks.items {
        client.stop_stack(&stack.name).await?;
        println!("stack {}: stop requested", stack.name);
    }
    loop {
        let live = client
            .instances(None, None, None)
            .await?
            .items
            .iter()
            .filter(|i| i.phase.is_live())
            .count();
        let cancelling = client
            .jobs()
            .await?
            .items
            .iter()
            .filter(|r| r.state == JobState::Cancelling)
            .count();
        if live + cancelling == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            eprintln!("orco: {live} instances still run: the keeper will kill them");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks the node keeper in `dir` to exit (killing what still runs) and waits until it has.
async fn stop_keeper(dir: &Path, deadline: Instant) -> Result<u8, Failure> {
    let keeper = match orco_runtime::ProcessRuntime::connect(dir).await {
        Ok(keeper) => keeper,
        Err(e) => {
            eprintln!("orco: no node keeper answers in {} ({e})", dir.display());
            return Ok(exit::OK);
        }
    };
    let pid = keeper.keeper_pid();
    // The keeper may close the connection before it answers: whether it is gone decides.
    let _ = keeper.shutdown(true).await;
    if !wait_gone(pid, deadline).await {
        eprintln!("error: the node keeper (pid {pid}) is still running");
        return Ok(exit::FAILURE);
    }
    println!("node keeper stopped (pid {pid})");
    Ok(exit::OK)
}

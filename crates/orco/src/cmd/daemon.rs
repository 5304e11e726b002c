//! `orco daemon`: run the daemon in the foreground until SIGTERM or SIGINT.

use orco_daemon::{Config, Daemon};

use crate::args::DaemonArgs;
use crate::exit;

pub(crate) fn run(args: &DaemonArgs) -> anyhow::Result<u8> {
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
    let defaults = Config::defaults();
    let config = Config {
        data_dir: args.data_dir.clone().unwrap_or(defaults.data_dir),
        socket: args.socket.clone().unwrap_or(defaults.socket),
        listen: args.listen,
        token_file: args.token_file.clone(),
        verify_store: args.verify_store,
        engine: !args.no_engine,
        program: defaults.program,
        log_queue_lines: args.log_queue_lines as usize,
        docker_scope: args.docker_scope.clone(),
        max_concurrent_tasks: args.max_concurrent_tasks,
    };
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
        daemon.run_until_signal().await?;
        Ok(exit::OK)
    })
}

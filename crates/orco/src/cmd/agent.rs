//! `orco agent`: run one node of a cluster in the foreground until SIGTERM or SIGINT.

use std::collections::BTreeMap;

use orco_cluster::dial::ServerUrl;
use orco_daemon::member::{AgentConfig, run_agent};
use orco_spec::{Cpu, Memory};
use orco_state::Capacity;

use crate::args::AgentArgs;
use crate::exit;

/// `cpu=N,memory=SIZE` (either may be left out: `--capacity` keeps the machine's, `--reserve`
/// keeps nothing back).
fn resources(flag: &str, text: &str, default: Capacity) -> Result<Capacity, String> {
    let mut out = default;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            format!("{flag} {text:?}: `{part}` is not KEY=VALUE (cpu=N,memory=SIZE)")
        })?;
        match key {
            "cpu" => {
                out.cpu_millis = value
                    .parse::<Cpu>()
                    .map_err(|e| format!("{flag} cpu={value}: {e}"))?
                    .0;
            }
            "memory" => {
                out.memory = value
                    .parse::<Memory>()
                    .map_err(|e| format!("{flag} memory={value}: {e}"))?
                    .0;
            }
            other => {
                return Err(format!(
                    "{flag}: unknown resource `{other}` (cpu or memory)"
                ));
            }
        }
    }
    Ok(out)
}

fn config(args: &AgentArgs) -> Result<AgentConfig, String> {
    let servers = args
        .join
        .iter()
        .map(|s| s.parse::<ServerUrl>().map_err(|e| format!("--join {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let node = match &args.node {
        Some(node) => node.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .ok()
            .filter(|h| !h.is_empty())
            .ok_or("cannot read the host name: give the node a name with --node")?,
    };
    let mut labels = BTreeMap::new();
    for label in &args.labels {
        let (k, v) = label
            .split_once('=')
            .ok_or_else(|| format!("--label {label:?}: a label is KEY=VALUE"))?;
        if k.is_empty() {
            return Err(format!("--label {label:?}: the key is empty"));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    for taint in &args.taints {
        taint
            .parse::<orco_scheduler::Taint>()
            .map_err(|e| format!("--taint {e}"))?;
    }
    let machine = orco_daemon::member::machine_capacity();
    let capacity = args
        .capacity
        .as_deref()
        .map(|c| resources("--capacity", c, machine))
        .transpose()?;
    let reserve = args
        .reserve
        .as_deref()
        .map(|r| resources("--reserve", r, Capacity::default()))
        .transpose()?
        .unwrap_or_default();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| orco_wire::paths::default_data_dir().join("agent"));
    let program = std::env::current_exe()
        .map_err(|e| format!("cannot find the orco executable to run the keeper with: {e}"))?;
    Ok(AgentConfig {
        data_dir,
        servers,
        token_file: args.token_file.clone(),
        node,
        labels,
        taints: args.taints.clone(),
        capacity,
        reserve,
        program,
        docker_scope: args.docker_scope.clone(),
        log_queue_lines: orco_logs::config::DEFAULT_QUEUE_LINES,
        gossip: args.gossip,
    })
}

pub(crate) fn run(args: &AgentArgs) -> anyhow::Result<u8> {
    let config = match config(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    crate::cmd::daemon::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("orco-agent")
        .build()?;
    runtime.block_on(async move {
        match run_agent(config).await {
            Ok(()) => Ok(exit::OK),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(exit::FAILURE)
            }
        }
    })
}

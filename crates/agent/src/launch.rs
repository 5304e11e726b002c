//! What an instance is started with: its command, environment and working directory.

use orco_reconciler::Assignment;
use orco_runtime::Launch;
use orco_spec::RuntimeKind;
use orco_state::InstanceId;

/// The runtime's name for an instance: unique on the node, e.g. `demo.web-0`.
pub fn runtime_name(id: &InstanceId) -> String {
    format!("{}.{}-{}", id.workload.stack, id.workload.name, id.replica)
}

/// The launch of `assignment`: the command (a string runs through `/bin/sh -c`), the
/// environment (orco's own, then env files in order, then `env`, then the `ORCO_*` variables
/// of DESIGN.md §8, with `PORT` when the instance has a `port` and `ORCO_HOST` when the
/// agent knows the API's address), and the working directory (the service's, relative to
/// the stack's). `{{port}}` in the command becomes `port`.
pub fn launch(
    id: &InstanceId,
    assignment: &Assignment,
    port: Option<u16>,
    api_host: Option<&str>,
) -> Result<Launch, String> {
    let service = &assignment.service;
    let name = &id.workload.name;
    if service.runtime == RuntimeKind::Docker {
        // Behind the proxy, the container's target port is published on the instance's own
        // loopback port instead of the service's published one.
        let proxied = service.proxied_port().zip(port).map(|(published, own)| {
            let mut service = service.clone();
            for p in service.ports.iter_mut().filter(|p| **p == published) {
                p.ip = Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
                p.published = own;
            }
            service
        });
        return orco_docker::launch::launch(
            id.workload.stack.as_str(),
            name.as_str(),
            id.replica,
            proxied.as_ref().unwrap_or(service),
            &assignment.workdir,
        );
    }
    let Some(command) = &service.command else {
        return Err(format!("cannot run `{name}`: it has no command"));
    };
    let files: Vec<_> = service
        .env_from_file
        .iter()
        .map(|f| assignment.workdir.join(f))
        .collect();
    let workdir = match &service.workdir {
        Some(dir) => assignment.workdir.join(dir),
        None => assignment.workdir.clone(),
    };
    let command = match (port, command) {
        (Some(port), orco_spec::Command::Exec(args)) => orco_spec::Command::Exec(
            args.iter()
                .map(|a| crate::front::substitute(a, port))
                .collect(),
        ),
        (Some(port), orco_spec::Command::Shell(s)) => {
            orco_spec::Command::Shell(crate::front::substitute(s, port))
        }
        (None, command) => command.clone(),
    };
    let mut launch = Launch::from_command(&command)
        .inherit_env()
        .env_files(&files, &service.env)
        .map_err(|e| e.to_string())?
        .env("ORCO_STACK", id.workload.stack.as_str())
        .env("ORCO_SERVICE", name.as_str())
        .env("ORCO_REPLICA", id.replica.to_string())
        .env("ORCO_INSTANCE", format!("{name}-{}", id.replica))
        .workdir(workdir);
    if let Some(port) = port {
        launch = launch.env("PORT", port.to_string());
    }
    if let Some(host) = api_host {
        launch = launch.env("ORCO_HOST", host);
    }
    Ok(launch)
}

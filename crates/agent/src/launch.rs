//! What an instance or a task attempt is started with: its command (or its container),
//! environment and working directory. The `ORCO_*` variables (DESIGN.md §8) are built here
//! and nowhere else ([`instance_env`], [`task_env`]).

use std::path::{Component, Path};

use orco_interface::{Assignment, TaskAssignment};
use orco_runtime::{Container, Launch, RuntimeError, Volume};
use orco_spec::{Mount, MountSource, RuntimeKind, Service};
use orco_state::{InstanceId, TaskId};

/// Why an instance or a task attempt could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A process service without a command.
    #[error("cannot run `{0}`: it has no command")]
    NoCommand(String),
    /// A docker service without an image.
    #[error("cannot run `{0}`: a docker service needs an `image`")]
    NoImage(String),
    /// No loopback port was free for an instance behind the built-in proxy.
    #[error("cannot find a free loopback port for the instance: {0}")]
    NoFreePort(std::io::Error),
    /// An env file could not be read, or the runtime refused to start it.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// The runtime's name for an instance: unique on the node, e.g. `demo.web-0`.
pub fn runtime_name(id: &InstanceId) -> String {
    format!("{}.{}-{}", id.workload.stack, id.workload.name, id.replica)
}

/// The `ORCO_*` variables of an instance: `ORCO_STACK`, `ORCO_SERVICE`, `ORCO_REPLICA`,
/// `ORCO_INSTANCE`.
pub fn instance_env(id: &InstanceId) -> [(&'static str, String); 4] {
    let name = &id.workload.name;
    [
        ("ORCO_STACK", id.workload.stack.to_string()),
        ("ORCO_SERVICE", name.clone()),
        ("ORCO_REPLICA", id.replica.to_string()),
        ("ORCO_INSTANCE", format!("{name}-{}", id.replica)),
    ]
}

/// The `ORCO_*` variables of a task attempt: `ORCO_STACK`, `ORCO_JOB`, `ORCO_RUN`,
/// `ORCO_TASK`, `ORCO_ATTEMPT`.
pub fn task_env(task: &TaskId, attempt: u32) -> [(&'static str, String); 5] {
    let job = &task.run.job;
    [
        ("ORCO_STACK", job.stack.to_string()),
        ("ORCO_JOB", job.name.clone()),
        ("ORCO_RUN", task.run.to_string()),
        ("ORCO_TASK", task.task.clone()),
        ("ORCO_ATTEMPT", attempt.to_string()),
    ]
}

fn with_env<const N: usize>(launch: Launch, vars: [(&'static str, String); N]) -> Launch {
    vars.into_iter().fold(launch, |l, (k, v)| l.env(k, v))
}

/// The ports of one run: the instance's own port (`PORT`, `{{port}}`; behind the proxy, or
/// its service's first published TCP port) and the host ports chosen at start for its
/// service's ports published on a free port (`"80"`), one each, in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPorts {
    /// The instance's own port, if it has one.
    pub own: Option<u16>,
    /// The chosen host ports.
    pub chosen: Vec<u16>,
}

impl RunPorts {
    /// A run with its own port only (nothing chosen).
    pub fn own(port: Option<u16>) -> RunPorts {
        RunPorts {
            own: port,
            chosen: Vec::new(),
        }
    }
}

/// The launch of `assignment`: the command (a string runs through `/bin/sh -c`), the
/// environment (orco's own, then env files in order, then `env`, then [`instance_env`],
/// with `PORT` when the instance has a `port` and `ORCO_HOST` when the agent knows the
/// API's address), and the working directory (the service's, relative to the stack's).
/// `ORCO_NODE` is the node's name when the agent knows it (a cluster's agent).
/// `{{port}}` in the command becomes `port`. A docker service becomes a container
/// ([`container`]).
pub fn launch(
    id: &InstanceId,
    assignment: &Assignment,
    ports: &RunPorts,
    api_host: Option<&str>,
    node: Option<&str>,
) -> Result<Launch, LaunchError> {
    let port = ports.own;
    let on_node = |launch: Launch| match node {
        Some(node) => launch.env("ORCO_NODE", node),
        None => launch,
    };
    let service = &assignment.service;
    let name = &id.workload.name;
    if service.runtime == RuntimeKind::Docker {
        let mut service = service.clone();
        // Behind the proxy, the container's target port is published on the instance's own
        // loopback port instead of the service's published one; in a cluster on every
        // address of the node, where other nodes' proxies reach it (the routing mesh).
        let own_ip = match node {
            Some(_) => std::net::Ipv4Addr::UNSPECIFIED,
            None => std::net::Ipv4Addr::LOCALHOST,
        };
        if let (Some(published), Some(own)) = (service.proxied_port(), port) {
            for p in service.ports.iter_mut().filter(|p| **p == published) {
                p.ip = Some(std::net::IpAddr::V4(own_ip));
                p.published = own;
            }
        }
        // Ports chosen at start are published on this run's choices, one each, in order.
        let mut chosen = ports.chosen.iter();
        for p in service.ports.iter_mut().filter(|p| p.is_ephemeral()) {
            if let Some(port) = chosen.next() {
                p.published = *port;
            }
        }
        return container(id, &service, &assignment.workdir).map(on_node);
    }
    let Some(command) = &service.command else {
        return Err(LaunchError::NoCommand(name.clone()));
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
    let launch = Launch::from_command(&command)
        .inherit_env()
        .env_files(&files, &service.secret_use().plain_env())?;
    let mut launch = with_env(launch, instance_env(id)).workdir(workdir);
    if let Some(port) = port {
        launch = launch.env("PORT", port.to_string());
    }
    if let Some(host) = api_host {
        launch = launch.env("ORCO_HOST", host);
    }
    Ok(on_node(launch))
}

/// The launch of a docker service's instance: its image; its command, which replaces the
/// image's (none keeps the image's); its environment (env files in order, then `env`, then
/// [`instance_env`], and nothing of orco's own environment); its published ports; its
/// mounts; its entrypoint; and its `workdir` as a path inside the container. Env files and
/// host paths of mounts are relative to `stack_workdir`.
pub fn container(
    id: &InstanceId,
    service: &Service,
    stack_workdir: &Path,
) -> Result<Launch, LaunchError> {
    let stack = id.workload.stack.as_str();
    let name = &id.workload.name;
    let Some(image) = &service.image else {
        return Err(LaunchError::NoImage(name.clone()));
    };
    let files: Vec<_> = service
        .env_from_file
        .iter()
        .map(|f| stack_workdir.join(f))
        .collect();
    let argv = service
        .command
        .as_ref()
        .map(orco_spec::Command::argv)
        .unwrap_or_default();
    let launch = Launch::new(argv).env_files(&files, &service.secret_use().plain_env())?;
    let mut launch = with_env(launch, instance_env(id)).container(Container {
        image: image.clone(),
        stack: stack.to_string(),
        service: name.to_string(),
        ports: service.ports.clone(),
        volumes: service
            .volumes
            .iter()
            .map(|m| volume(stack, m, stack_workdir))
            .collect(),
        entrypoint: service.entrypoint.as_ref().map(orco_spec::Command::argv),
        limits: service.resources.limits.clone(),
    });
    if let Some(dir) = &service.workdir {
        launch = launch.workdir(dir);
    }
    Ok(launch)
}

/// The launch of a task attempt: its command, environment (orco's own, env files, `env`,
/// then [`task_env`], and `ORCO_HOST`, the daemon's API address, when there is one) and
/// directory.
pub fn task(a: &TaskAssignment, api_host: Option<&str>) -> Result<Launch, LaunchError> {
    let files: Vec<_> = a
        .spec
        .env_from_file
        .iter()
        .map(|f| a.workdir.join(f))
        .collect();
    let workdir = match &a.spec.workdir {
        Some(dir) => a.workdir.join(dir),
        None => a.workdir.clone(),
    };
    let launch = Launch::from_command(&a.spec.command)
        .inherit_env()
        .env_files(&files, &a.spec.secret_use().plain_env())?;
    let launch = with_env(launch, task_env(&a.task, a.attempt)).workdir(workdir);
    Ok(match api_host {
        Some(host) => launch.env("ORCO_HOST", host),
        None => launch,
    })
}

/// A mount of the stack file as the runtime's [`Volume`]: a host path made absolute against
/// `stack_workdir` (without `.` components), or a named volume as the engine knows it,
/// `STACK_NAME` (as compose names a project's volumes, so that a stack named after a compose
/// project finds that project's data).
fn volume(stack: &str, mount: &Mount, stack_workdir: &Path) -> Volume {
    let source = match &mount.source {
        MountSource::Bind(path) => {
            let mut abs = std::path::PathBuf::new();
            for part in stack_workdir.join(path).components() {
                match part {
                    Component::CurDir => {}
                    Component::ParentDir => {
                        abs.pop();
                    }
                    other => abs.push(other),
                }
            }
            abs.to_string_lossy().into_owned()
        }
        MountSource::Volume(name) => format!("{stack}_{name}"),
    };
    Volume {
        source,
        target: mount.target.clone(),
        read_only: mount.read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let text = format!("version: 0.1\nstack: {{name: s}}\nservices:\n  web:\n{yaml}");
        let loaded = orco_spec::load_str(Path::new("stack.yaml"), &text, Path::new("."))
            .expect("valid stack");
        loaded.stack.services["web"].clone()
    }

    fn web(replica: u32) -> InstanceId {
        format!("s/web-{replica}").parse().expect("an instance id")
    }

    #[test]
    fn a_docker_service_launches_its_image_with_orco_variables_and_no_host_environment() {
        let svc = service(
            "    image: busybox\n    command: [\"httpd\", \"-f\"]\n    env: {A: \"1\"}\n    ports: [\"8080:80\"]\n",
        );
        let launch = container(&web(1), &svc, Path::new(".")).expect("launch");
        assert_eq!(launch.argv, vec!["httpd", "-f"]);
        assert_eq!(launch.env["A"], "1");
        assert_eq!(launch.env["ORCO_INSTANCE"], "web-1");
        assert!(!launch.env.contains_key("PATH"), "no host environment");
        let container = launch.container.expect("container");
        assert_eq!(container.image, "busybox");
        assert_eq!(container.service, "web");
        assert_eq!(container.ports[0].published, 8080);
        assert_eq!(launch.workdir, None);
    }

    #[test]
    fn each_port_published_on_a_free_port_gets_its_own_chosen_port() {
        let svc =
            service("    image: busybox\n    ports: [\"0:80\", \"127.0.0.1:0:81\", \"8080:82\"]\n");
        let ports = RunPorts {
            own: Some(40001),
            chosen: vec![40001, 40002],
        };
        let launch =
            launch(&web(0), &assignment(&web(0), svc), &ports, None, None).expect("launch");
        let container = launch.container.expect("container");
        let published: Vec<(u16, u16)> = container
            .ports
            .iter()
            .map(|p| (p.target, p.published))
            .collect();
        assert_eq!(published, [(80, 40001), (81, 40002), (82, 8080)]);
    }

    #[test]
    fn a_proxied_container_is_published_on_loopback_alone_and_in_a_cluster_on_every_address() {
        let docker = service("    image: busybox\n    ports: [\"8080:80\"]\n    replicas: 2\n");
        let published = |node: Option<&str>| {
            let l = launch(
                &web(0),
                &assignment(&web(0), docker.clone()),
                &RunPorts::own(Some(41_000)),
                None,
                node,
            )
            .expect("container");
            let p = l.container.expect("container").ports[0];
            (p.ip.map(|ip| ip.to_string()), p.published, p.target)
        };
        assert_eq!(published(None), (Some("127.0.0.1".into()), 41_000, 80));
        assert_eq!(published(Some("n1")), (Some("0.0.0.0".into()), 41_000, 80));
    }

    #[test]
    fn a_process_and_a_container_of_one_instance_get_the_same_orco_variables() {
        let process = service("    command: \"sleep 1\"\n");
        let docker = service("    image: busybox\n");
        let p = launch(
            &web(2),
            &assignment(&web(2), process),
            &RunPorts::own(Some(4000)),
            Some("unix:///run/orco.sock"),
            Some("n2"),
        )
        .expect("process");
        let c = launch(
            &web(2),
            &assignment(&web(2), docker),
            &RunPorts::default(),
            None,
            Some("n2"),
        )
        .expect("container");
        for (key, value) in instance_env(&web(2)) {
            assert_eq!(p.env[key], value, "{key} of the process");
            assert_eq!(c.env[key], value, "{key} of the container");
        }
        assert_eq!(p.env["ORCO_SERVICE"], "web");
        assert_eq!(p.env["ORCO_REPLICA"], "2");
        assert_eq!(p.env["PORT"], "4000");
        assert_eq!(p.env["ORCO_HOST"], "unix:///run/orco.sock");
        assert_eq!(
            (&p.env["ORCO_NODE"], &c.env["ORCO_NODE"]),
            (&"n2".to_string(), &"n2".to_string())
        );
    }

    fn assignment(id: &InstanceId, service: Service) -> Assignment {
        Assignment {
            instance: id.clone(),
            workdir: ".".into(),
            service,
            generation: 1,
            revision: 0,
            restart_requests: 0,
            desired: orco_interface::Desired::Run,
            last_seen: None,
            port: None,
            recorded: orco_interface::Recorded {
                phase: orco_state::Phase::Pending,
                pid: None,
                started_at: None,
                restarts: orco_state::Restarts::default(),
                reason: None,
            },
        }
    }

    #[test]
    fn a_process_service_without_a_command_is_a_typed_error() {
        let svc = service("    image: busybox\n");
        let mut svc = svc;
        svc.runtime = RuntimeKind::Process;
        let err = launch(
            &web(0),
            &assignment(&web(0), svc),
            &RunPorts::default(),
            None,
            None,
        )
        .expect_err("no command");
        assert!(
            matches!(err, LaunchError::NoCommand(ref n) if n == "web"),
            "{err}"
        );
    }

    #[test]
    fn host_paths_are_resolved_against_the_stack_workdir_and_volumes_keep_their_name() {
        let svc = service(
            "    image: busybox\n    volumes: [\"./data/../conf:/etc/app:ro\", \"cache:/cache\", \"/srv:/srv\"]\n    entrypoint: \"exec app\"\n",
        );
        let launch = container(&web(0), &svc, Path::new("/home/me/shop")).expect("launch");
        let container = launch.container.expect("container");
        let volumes: Vec<_> = container
            .volumes
            .iter()
            .map(|v| (v.source.as_str(), v.target.as_str(), v.read_only))
            .collect();
        assert_eq!(
            volumes,
            vec![
                ("/home/me/shop/conf", "/etc/app", true),
                ("s_cache", "/cache", false),
                ("/srv", "/srv", false),
            ]
        );
        assert!(container.volumes[0].is_bind() && !container.volumes[1].is_bind());
        assert_eq!(
            container.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "exec app".into()])
        );
    }

    #[test]
    fn a_docker_service_without_a_command_keeps_the_image_command() {
        let svc = service("    image: busybox\n");
        let launch = container(&web(0), &svc, Path::new(".")).expect("launch");
        assert!(launch.argv.is_empty());
    }

    #[test]
    fn a_docker_service_s_limits_reach_its_container() {
        let svc = service(
            "    image: busybox
    resources: {limits: {cpu: 0.5, memory: 64Mi}}
",
        );
        let launch = container(&web(0), &svc, Path::new(".")).expect("launch");
        let limits = launch.container.expect("container").limits;
        assert_eq!(limits.cpu, Some(orco_spec::Cpu(500)));
        assert_eq!(limits.memory, Some(orco_spec::Memory(64 << 20)));
    }
}

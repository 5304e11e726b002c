//! A docker service of the stack file as a [`Launch`]: what the agent starts a container
//! instance with.

use std::path::{Component, Path};

use orco_runtime::{Container, Launch, Volume};
use orco_spec::{Mount, MountSource, Service};

/// The launch of replica `replica` of the docker service `name` of `stack`: its image; its
/// command, which replaces the image's (none keeps the image's); its environment (env files
/// in order, then `env`, then the `ORCO_*` variables of DESIGN.md §8, and nothing of orco's
/// own environment); its published ports; its mounts; its entrypoint; and `workdir` as a
/// path inside the container. Env files and host paths of mounts are relative to
/// `stack_workdir`.
pub fn launch(
    stack: &str,
    name: &str,
    replica: u32,
    service: &Service,
    stack_workdir: &Path,
) -> Result<Launch, String> {
    let Some(image) = &service.image else {
        return Err(format!(
            "cannot run `{name}`: a docker service needs an `image`"
        ));
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
    let mut launch = Launch::new(argv)
        .env_files(&files, &service.env)
        .map_err(|e| e.to_string())?
        .env("ORCO_STACK", stack)
        .env("ORCO_SERVICE", name)
        .env("ORCO_REPLICA", replica.to_string())
        .env("ORCO_INSTANCE", format!("{name}-{replica}"))
        .container(Container {
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

    #[test]
    fn a_docker_service_launches_its_image_with_orco_variables_and_no_host_environment() {
        let svc = service(
            "    image: busybox\n    command: [\"httpd\", \"-f\"]\n    env: {A: \"1\"}\n    ports: [\"8080:80\"]\n",
        );
        let launch = launch("s", "web", 1, &svc, Path::new(".")).expect("launch");
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
    fn host_paths_are_resolved_against_the_stack_workdir_and_volumes_keep_their_name() {
        let svc = service(
            "    image: busybox\n    volumes: [\"./data/../conf:/etc/app:ro\", \"cache:/cache\", \"/srv:/srv\"]\n    entrypoint: \"exec app\"\n",
        );
        let launch = launch("s", "web", 0, &svc, Path::new("/home/me/shop")).expect("launch");
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
        let launch = launch("s", "web", 0, &svc, Path::new(".")).expect("launch");
        assert!(launch.argv.is_empty());
    }

    #[test]
    fn a_docker_service_s_limits_reach_its_container() {
        let svc = service(
            "    image: busybox
    resources: {limits: {cpu: 0.5, memory: 64Mi}}
",
        );
        let launch = launch("s", "web", 0, &svc, Path::new(".")).expect("launch");
        let limits = launch.container.expect("container").limits;
        assert_eq!(limits.cpu, Some(orco_spec::Cpu(500)));
        assert_eq!(limits.memory, Some(orco_spec::Memory(64 << 20)));
    }
}

//! From a [`Launch`] to the engine's container description (pure, no engine needed).

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
};
use orco_runtime::{Container, Launch};
use orco_spec::Protocol;

use crate::names::{LABEL_INSTANCE, LABEL_SCOPE, LABEL_SERVICE, LABEL_STACK};

/// The address ports are published on when the stack gives none.
pub const DEFAULT_HOST_IP: &str = "127.0.0.1";

/// The container description of `instance`: image, command, environment, working
/// directory, labels, published ports, mounts, and the stack network with the service
/// name as an alias.
pub fn create_body(
    scope: &str,
    instance: &str,
    launch: &Launch,
    container: &Container,
    network: &str,
) -> ContainerCreateBody {
    let labels = HashMap::from([
        (LABEL_SCOPE.to_string(), scope.to_string()),
        (LABEL_STACK.to_string(), container.stack.clone()),
        (LABEL_SERVICE.to_string(), container.service.clone()),
        (LABEL_INSTANCE.to_string(), instance.to_string()),
    ]);
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &container.ports {
        let proto = match port.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let key = format!("{}/{proto}", port.target);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let host_ip = port
            .ip
            .map_or_else(|| DEFAULT_HOST_IP.to_string(), |ip| ip.to_string());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(host_ip),
                host_port: Some(port.published.to_string()),
            });
    }
    let binds: Vec<String> = container
        .volumes
        .iter()
        .map(|v| {
            if v.read_only {
                format!("{}:{}:ro", v.source, v.target)
            } else {
                format!("{}:{}", v.source, v.target)
            }
        })
        .collect();
    let env: Vec<String> = launch.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let endpoint = EndpointSettings {
        aliases: Some(vec![container.service.clone()]),
        ..EndpointSettings::default()
    };
    ContainerCreateBody {
        image: Some(container.image.clone()),
        cmd: (!launch.argv.is_empty()).then(|| launch.argv.clone()),
        // The engine reads an empty list as "the image's": `[""]` clears it.
        entrypoint: container.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                e.clone()
            }
        }),
        env: Some(env),
        working_dir: launch
            .workdir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            binds: (!binds.is_empty()).then_some(binds),
            network_mode: Some(network.to_string()),
            // A hard memory limit: no swap beyond it (the engine would allow as much again).
            memory: memory_limit(container),
            memory_swap: memory_limit(container),
            nano_cpus: container
                .limits
                .cpu
                .map(|c| i64::try_from(c.0.saturating_mul(1_000_000)).unwrap_or(i64::MAX)),
            ..HostConfig::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network.to_string(), endpoint)])),
        }),
        ..ContainerCreateBody::default()
    }
}

/// `limits.memory` in bytes, as the engine takes it.
fn memory_limit(container: &Container) -> Option<i64> {
    container
        .limits
        .memory
        .map(|m| i64::try_from(m.0).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orco_runtime::Volume;

    fn container() -> Container {
        Container {
            image: "busybox:1".into(),
            stack: "shop".into(),
            service: "db".into(),
            ports: vec![
                "5432:5432".parse().expect("port"),
                "0.0.0.0:53:53/udp".parse().expect("port"),
            ],
            volumes: vec![
                Volume {
                    source: "/srv/data".into(),
                    target: "/data".into(),
                    read_only: true,
                },
                Volume {
                    source: "shop_cache".into(),
                    target: "/cache".into(),
                    read_only: false,
                },
            ],
            entrypoint: None,
            limits: orco_spec::Limits::default(),
        }
    }

    #[test]
    fn limits_become_a_hard_memory_limit_and_a_cpu_quota() {
        let mut c = container();
        c.limits = orco_spec::Limits {
            cpu: Some(orco_spec::Cpu(1500)),
            memory: Some(orco_spec::Memory(64 << 20)),
        };
        let body = create_body("orco", "s.web-0", &Launch::default(), &c, "net");
        let host = body.host_config.expect("a host config");
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        let body = create_body("orco", "s.web-0", &Launch::default(), &container(), "net");
        let host = body.host_config.expect("a host config");
        assert_eq!((host.memory, host.nano_cpus), (None, None));
    }

    #[test]
    fn ports_without_an_ip_are_published_on_loopback_only() {
        let body = create_body(
            "orco",
            "shop.db-0",
            &Launch::default(),
            &container(),
            "orco-shop",
        );
        let bindings = body
            .host_config
            .and_then(|h| h.port_bindings)
            .expect("bindings");
        let tcp = bindings["5432/tcp"].as_ref().expect("tcp binding");
        assert_eq!(tcp[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(tcp[0].host_port.as_deref(), Some("5432"));
        let udp = bindings["53/udp"].as_ref().expect("udp binding");
        assert_eq!(udp[0].host_ip.as_deref(), Some("0.0.0.0"));
    }

    #[test]
    fn the_container_is_labelled_and_joins_the_stack_network_under_its_service_name() {
        let launch = Launch::new(["sleep", "1"]).env("A", "1");
        let body = create_body("t1", "shop.db-0", &launch, &container(), "t1-shop");
        let labels = body.labels.expect("labels");
        assert_eq!(labels["orco.scope"], "t1");
        assert_eq!(labels["orco.stack"], "shop");
        assert_eq!(labels["orco.service"], "db");
        assert_eq!(labels["orco.instance"], "shop.db-0");
        let endpoints = body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .expect("endpoints");
        assert_eq!(endpoints["t1-shop"].aliases, Some(vec!["db".to_string()]));
        assert_eq!(body.cmd, Some(vec!["sleep".to_string(), "1".to_string()]));
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
    }

    #[test]
    fn an_empty_argv_keeps_the_image_command_and_mounts_keep_their_mode() {
        let body = create_body(
            "orco",
            "shop.db-0",
            &Launch::default(),
            &container(),
            "orco-shop",
        );
        assert_eq!(body.cmd, None);
        let binds = body.host_config.and_then(|h| h.binds).expect("binds");
        assert_eq!(binds, vec!["/srv/data:/data:ro", "shop_cache:/cache"]);
    }
}

//! The restart rule (`Service::replaced_by`): which changes of a service replace its running
//! instances. The state's revisions, the node agent and `orco apply`'s plan all follow it.
#![allow(clippy::unwrap_used)]

fn service(yaml: &str) -> orco_spec::Service {
    let text = format!("version: 0.1\nstack: {{name: s}}\nservices:\n  w: {yaml}\n");
    let path = std::path::Path::new("t.yaml");
    let loaded = orco_spec::load_str(path, &text, std::path::Path::new("/")).unwrap();
    loaded.stack.services["w"].clone()
}

#[test]
fn a_replica_count_alone_replaces_no_instance() {
    let one = service("{command: x, replicas: 1}");
    assert!(!one.replaced_by(&service("{command: x, replicas: 3}")));
    assert!(!one.replaced_by(&one));
    assert!(one.replaced_by(&service("{command: y, replicas: 1}")));
    assert_eq!(
        one.replacement(&service("{command: y, replicas: 3}"))
            .as_deref(),
        Some("its spec changed")
    );
}

#[test]
fn a_replica_count_that_moves_a_published_service_behind_the_proxy_replaces_its_instances() {
    let one = service("{command: x, ports: ['8080:8080'], replicas: 1}");
    let two = service("{command: x, ports: ['8080:8080'], replicas: 2}");
    let three = service("{command: x, ports: ['8080:8080'], replicas: 3}");
    assert_eq!(
        one.replacement(&two).as_deref(),
        Some("it moves behind the built-in proxy on port 8080 (replicas 1 -> 2)")
    );
    assert_eq!(
        three.replacement(&one).as_deref(),
        Some("it leaves the built-in proxy on port 8080 (replicas 3 -> 1)")
    );
    assert!(!two.replaced_by(&three), "behind the proxy either way");
    let pinned = service("{command: x, ports: ['8080:8080'], replicas: 1, proxy: true}");
    assert!(!pinned.replaced_by(&service(
        "{command: x, ports: ['8080:8080'], replicas: 4, proxy: true}"
    )));
    assert!(
        !pinned.replaced_by(&two),
        "`true` and `auto` with 2 replicas run alike"
    );
}

#[test]
fn a_pinned_spec_runs_as_its_replica_count_said_whatever_the_count_becomes() {
    let mut one = service("{command: x, ports: ['8080:8080'], replicas: 1}").pinned();
    assert_eq!(one.proxy, orco_spec::ProxyMode::Never);
    one.replicas = 5;
    assert!(one.proxied_port().is_none());
    let udp = service("{command: x, ports: ['53:53/udp'], replicas: 2}");
    assert_eq!(
        udp.pinned().proxy,
        orco_spec::ProxyMode::Auto,
        "nothing to proxy"
    );
}

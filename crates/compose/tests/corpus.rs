#![allow(clippy::unwrap_used)]
//! Public compose files (tests/compat/) convert with precise warnings and yield the
//! dependency graph their `depends_on` describes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use orco_compose::{Converted, Options, load_file};
use orco_spec::Require;

fn load(file: &str) -> Converted {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(file);
    let env = BTreeMap::new();
    let none = |_: &str| false;
    let project = file.trim_end_matches(".compose.yaml");
    let options = Options {
        project: Some(project),
        env: &env,
        image_exists: &none,
        profiles: &[],
        services: &[],
    };
    match load_file(&path, &options) {
        Ok(c) => c,
        Err(report) => panic!("{file} does not convert:\n{report}"),
    }
}

fn deps(c: &Converted) -> BTreeMap<String, Vec<(String, Require)>> {
    c.loaded
        .stack
        .services
        .iter()
        .map(|(name, s)| {
            let d = s
                .depends_on
                .iter()
                .map(|d| (d.target.clone(), d.require))
                .collect();
            (name.clone(), d)
        })
        .collect()
}

fn layers(c: &Converted) -> Vec<Vec<String>> {
    orco_spec::graph(&c.loaded.stack).layers().unwrap()
}

fn warned_keys(c: &Converted) -> Vec<String> {
    common::warnings(c)
        .into_iter()
        .map(|(line, message)| format!("{line}: {message}"))
        .collect()
}

#[test]
fn every_corpus_file_converts_and_every_warning_has_a_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        let c = load(&name);
        assert!(!c.loaded.stack.services.is_empty(), "{name}");
        for d in &c.loaded.warnings.diagnostics {
            assert!(d.line > 0, "{name}: {d:?}");
        }
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn nginx_golang_postgres_gates_the_backend_on_a_healthy_db() {
    let c = load("nginx-golang-postgres.compose.yaml");
    let d = deps(&c);
    assert_eq!(d["backend"], vec![("db".to_string(), Require::Ready)]);
    assert_eq!(d["proxy"], vec![("backend".to_string(), Require::Started)]);
    assert_eq!(layers(&c), vec![vec!["db"], vec!["backend"], vec!["proxy"]]);
    let mounts = |s: &str| -> Vec<String> {
        c.loaded.stack.services[s]
            .volumes
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(mounts("db"), vec!["db-data:/var/lib/postgresql/data"]);
    assert_eq!(
        mounts("proxy"),
        vec!["./proxy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    );
    // Its secret is converted, not warned about: the db receives it as a file.
    assert_eq!(c.loaded.stack.services["db"].secrets, ["db-password"]);
    let w = warned_keys(&c);
    assert!(!w.iter().any(|m| m.contains("secrets")), "{w:#?}");
    for key in ["build", "`user`", "`expose`"] {
        assert!(
            w.iter().any(|m| m.contains(key)),
            "no warning about {key}: {w:#?}"
        );
    }
}

#[test]
fn nginx_flask_mysql_keeps_its_shell_healthcheck_and_merges_its_two_networks() {
    let c = load("nginx-flask-mysql.compose.yaml");
    let d = deps(&c);
    assert_eq!(d["backend"], vec![("db".to_string(), Require::Ready)]);
    assert_eq!(d["proxy"], vec![("backend".to_string(), Require::Started)]);
    let db = &c.loaded.stack.services["db"];
    let health = db.health.clone().unwrap();
    assert_eq!(health.grace_period.get().as_secs(), 30);
    assert!(
        health
            .cmd
            .unwrap()
            .command
            .to_string()
            .contains("$(cat /run/secrets/db-password)")
    );
    let w = warned_keys(&c);
    assert!(w.iter().any(|m| m.contains("merged")), "{w:#?}");
}

#[test]
fn nginx_wsgi_flask_orders_the_proxy_after_the_app_without_a_health_gate() {
    let c = load("nginx-wsgi-flask.compose.yaml");
    assert_eq!(
        deps(&c)["nginx-proxy"],
        vec![("flask-app".to_string(), Require::Started)]
    );
    assert_eq!(layers(&c), vec![vec!["flask-app"], vec!["nginx-proxy"]]);
    let app = &c.loaded.stack.services["flask-app"];
    assert_eq!(app.command.as_ref().unwrap().argv()[0], "gunicorn");
    assert_eq!(app.restart_policy.mode, orco_spec::RestartMode::Always);
}

#[test]
fn elasticsearch_logstash_kibana_keeps_dotted_env_keys_and_tcp_and_udp_ports() {
    let c = load("elasticsearch-logstash-kibana.compose.yaml");
    let d = deps(&c);
    assert_eq!(
        d["logstash"],
        vec![("elasticsearch".to_string(), Require::Started)]
    );
    assert_eq!(
        d["kibana"],
        vec![("elasticsearch".to_string(), Require::Started)]
    );
    let es = &c.loaded.stack.services["elasticsearch"];
    assert_eq!(es.env["discovery.type"], "single-node");
    let ports: Vec<String> = c.loaded.stack.services["logstash"]
        .ports
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        ports.contains(&"5000:5000".to_string()) && ports.contains(&"5000:5000/udp".to_string())
    );
    let w = warned_keys(&c);
    assert_eq!(
        w.iter().filter(|m| m.contains("container_name")).count(),
        3,
        "{w:#?}"
    );
}

#[test]
fn nginx_nodejs_redis_fans_in_to_nginx() {
    let c = load("nginx-nodejs-redis.compose.yaml");
    let mut fan_in = deps(&c)["nginx"].clone();
    fan_in.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        fan_in,
        vec![
            ("web1".to_string(), Require::Started),
            ("web2".to_string(), Require::Started)
        ]
    );
    assert_eq!(
        c.loaded.stack.services["web1"].restart_policy.mode,
        orco_spec::RestartMode::OnFailure
    );
    let w = warned_keys(&c);
    assert_eq!(
        w.iter().filter(|m| m.contains("hostname")).count(),
        2,
        "{w:#?}"
    );
}

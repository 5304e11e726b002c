//! Compose files as docker compose runs them, through the daemon and the real `orco` binary
//! with the local busybox image: profiles (`--profile`, `COMPOSE_PROFILES`, a service named
//! on the command line with its dependencies) and `include` (paths and `.env` of the
//! included file's own directory). Needs a Docker engine and busybox-static
//! (scripts/test.sh installs and starts them); every container carries the test world's
//! own scope label and is removed with it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::World;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The services that have an instance, as `orco ps -o json` shows them.
fn services(world: &World) -> BTreeSet<String> {
    world
        .instances()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .map(|n| n.rsplit_once('-').map_or(n, |(s, _)| s).to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

/// `orco ARGS` with `vars` in its environment, which must succeed.
fn ok_with(world: &World, vars: &[(&str, &str)], args: &[&str]) -> String {
    let out = world
        .command(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orco {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn profiled_services_run_only_when_a_profile_of_theirs_is_active_or_they_are_named() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let sleeper = |profiles: &str, extra: &str| {
        format!("    image: {image}\n    command: [sleep, '1000']\n{profiles}{extra}")
    };
    let file = world.file(
        "compose.yaml",
        &format!(
            "services:\n  web:\n{}  debug:\n{}  tool:\n{}  db:\n{}",
            sleeper("", ""),
            sleeper("    profiles: [debug]\n", ""),
            sleeper("    profiles: [tools]\n", "    depends_on: [db]\n"),
            sleeper("    profiles: [data]\n", ""),
        ),
    );
    let path = file.to_str().unwrap();
    let up = ["up", "-d", "--wait", "--timeout", "120s", "-f", path];
    world.ok(&up);
    assert_eq!(services(&world), set(&["web"]));
    // COMPOSE_PROFILES activates `debug`.
    ok_with(&world, &[("COMPOSE_PROFILES", "debug")], &up);
    wait_until("debug running", || {
        services(&world) == set(&["web", "debug"])
    });
    // Naming `tool` runs it and `db`, whose profiles are not active; --profile keeps debug.
    let mut named = up.to_vec();
    named.extend(["--profile", "debug", "tool"]);
    let out = world.ok(&named);
    assert!(out.contains("4 services ready"), "{out}");
    assert_eq!(services(&world), set(&["web", "debug", "tool", "db"]));
    // A service a profile leaves out while another needs it is refused, with nothing changed.
    let refused = world.file(
        "refused.yaml",
        &format!(
            "services:\n  web:\n{}  db:\n{}",
            sleeper("", "    depends_on: [db]\n"),
            sleeper("    profiles: [data]\n", "")
        ),
    );
    let out = world.orco(&["up", "-d", "-f", refused.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("depends on `db`, which is not enabled")
            && stderr.contains("refused.yaml:5:"),
        "{stderr}"
    );
    world.ok(&["down"]);
}

#[test]
fn an_included_file_runs_with_the_paths_and_env_of_its_own_directory() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let sub = world.dir.path().join("db");
    std::fs::create_dir_all(sub.join("data")).unwrap();
    std::fs::write(sub.join("data/msg"), "from the included dir\n").unwrap();
    std::fs::write(sub.join(".env"), "GREETING=hello from db/.env\n").unwrap();
    std::fs::write(
        sub.join("compose.yaml"),
        format!(
            "services:\n  db:\n    image: {image}\n    volumes: [./data:/data:ro]\n    environment: {{GREETING: '${{GREETING}}'}}\n    command: [sh, -c, 'cat /data/msg; echo \"db says $$GREETING\"; exec sleep 1000']\n"
        ),
    )
    .unwrap();
    let file = world.file(
        "compose.yaml",
        &format!(
            "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: {image}\n    depends_on: [db]\n    command: [sleep, '1000']\n"
        ),
    );
    let out = world.ok(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "120s",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(out.contains("2 services ready"), "{out}");
    wait_until("db's output", || {
        let logs = world.ok(&["logs", "db"]);
        logs.contains("from the included dir") && logs.contains("db says hello from db/.env")
    });
    world.ok(&["down"]);
}

/// `GET PATH` on `addr`: the body of a 200 answer.
fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200 ") => Ok(body.trim().to_string()),
        _ => Err(format!("bad answer: {text:?}")),
    }
}

/// The `ports` of instance `name` in `orco ps -o json`.
fn ports_of(world: &World, name: &str) -> Vec<String> {
    world
        .instances()
        .into_iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["ports"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

#[test]
fn two_services_publishing_the_same_container_port_without_a_host_port_each_answer_on_their_own() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    world.start_daemon();
    let service = |name: &str, port: &str| {
        format!(
            "  {name}:\n    image: {image}\n    ports: [\"{port}\"]\n    command: [sh, -c, 'mkdir -p /www && echo I am {name} > /www/who && exec httpd -f -p 80 -h /www']\n"
        )
    };
    let file = world.file(
        "compose.yaml",
        &format!(
            "services:\n{}{}",
            service("first", "80"),
            service("second", "127.0.0.1::80")
        ),
    );
    let path = file.to_str().unwrap();
    world.ok(&["up", "-d", "--wait", "--timeout", "120s", "-f", path]);
    let mut chosen = Vec::new();
    for name in ["first", "second"] {
        let addr = world.ok(&["port", name, "80"]).trim().to_string();
        let (ip, port) = addr.rsplit_once(':').unwrap();
        assert_eq!(ip, "127.0.0.1", "{addr}");
        assert_ne!(port, "80", "{addr}");
        wait_until(&format!("{name} answering on {addr}"), || {
            http_get(&addr, "/who").is_ok_and(|b| b == format!("I am {name}"))
        });
        assert_eq!(
            ports_of(&world, &format!("{name}-0")),
            vec![format!("{addr}->80/tcp")]
        );
        chosen.push(addr);
    }
    assert_ne!(chosen[0], chosen[1]);
    let ps = world.ok(&["ps"]);
    assert!(
        ps.contains("PORTS") && ps.contains(&format!("{}->80/tcp", chosen[0])),
        "{ps}"
    );
    // Kept across daemon restarts while the instances live.
    for _ in 0..2 {
        world.kill_daemon();
        world.start_daemon();
        wait_until("both ready again", || {
            let i = world.instances();
            i.len() == 2 && i.iter().all(|i| i["ready"] == true)
        });
        for (name, addr) in ["first", "second"].iter().zip(&chosen) {
            assert_eq!(world.ok(&["port", name, "80"]).trim(), addr.as_str());
            assert_eq!(http_get(addr, "/who").unwrap(), format!("I am {name}"));
        }
    }
    // A port the service does not publish is an error.
    let out = world.orco(&["port", "first", "81"]);
    assert_eq!(out.status.code(), Some(2));
    world.ok(&["down"]);
}

#[test]
fn a_service_publishing_two_ports_on_free_host_ports_gets_one_for_each() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    world.start_daemon();
    let file = world.file(
        "compose.yaml",
        &format!(
            "services:\n  web:\n    image: {image}\n    ports: [\"80\", \"127.0.0.1::81\"]\n    command: [sh, -c, 'mkdir -p /a /b && echo port 80 > /a/who && echo port 81 > /b/who && httpd -p 81 -h /b && exec httpd -f -p 80 -h /a']\n"
        ),
    );
    world.ok(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "120s",
        "-f",
        file.to_str().unwrap(),
    ]);
    let mut addrs = Vec::new();
    for target in ["80", "81"] {
        let addr = world.ok(&["port", "web", target]).trim().to_string();
        wait_until(&format!("port {target} answering on {addr}"), || {
            http_get(&addr, "/who").is_ok_and(|b| b == format!("port {target}"))
        });
        addrs.push(addr);
    }
    assert_ne!(addrs[0], addrs[1], "each port has its own host port");
    assert_eq!(
        ports_of(&world, "web-0"),
        vec![
            format!("{}->80/tcp", addrs[0]),
            format!("{}->81/tcp", addrs[1])
        ]
    );
    // Kept across a daemon restart while the instance lives.
    world.kill_daemon();
    world.start_daemon();
    wait_until("web ready again", || {
        world.instances().iter().any(|i| i["ready"] == true)
    });
    for (target, addr) in ["80", "81"].iter().zip(&addrs) {
        assert_eq!(world.ok(&["port", "web", target]).trim(), addr.as_str());
        assert_eq!(http_get(addr, "/who").unwrap(), format!("port {target}"));
    }
    world.ok(&["down"]);
}

//! A stack of a docker service and a process service through the daemon: the container
//! starts with its port on loopback, its `cmd` probe runs inside it, the process service
//! waits for it, its output is in the logs, and `down` removes the container and the stack
//! network. Needs a Docker engine (scripts/test.sh installs and starts one) and busybox-static.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn containers(scope: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=orco.scope={scope}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_docker_service_and_a_process_service_run_side_by_side_and_down_removes_the_container() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = common::World::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = orco_fixture::path().unwrap().display().to_string();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: mixed}}\nservices:\n  web:\n    runtime: docker\n    image: {image}\n    command: [sh, -c, 'echo web in a container; sleep 0.3; touch /tmp/ready; exec httpd -f -p 8080 -h /etc']\n    ports: ['{port}:8080']\n    health: {{cmd: {{command: [test, -f, /tmp/ready]}}}}\n  client:\n    command: [{f}, --stdout, 'client after web']\n    dependsOn: [{{target: web}}]\n"
        ),
    );
    world.ok(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "90s",
        "-f",
        file.to_str().unwrap(),
    ]);
    let scope = world.docker_scope();
    assert_eq!(containers(&scope).len(), 1, "one container for web");
    // The published port answers on loopback.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /passwd HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("root:x:0:0"), "{answer}");
    wait_until("both outputs in the logs", || {
        let logs = world.ok(&["logs"]);
        logs.contains("web in a container") && logs.contains("client after web")
    });
    let history = world.ok(&["history", "client-0"]);
    let web = world.ok(&["history", "web-0"]);
    assert!(web.contains("ready"), "{web}");
    assert!(history.contains("started"), "{history}");
    world.ok(&["down"]);
    wait_until("the container removed", || containers(&scope).is_empty());
}

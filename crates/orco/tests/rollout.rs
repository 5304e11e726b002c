//! The built-in proxy and rolling updates through the real binary: several local-process
//! instances behind one published port, loopback clients that count every failed request,
//! and a daemon killed and restarted under them.

#![allow(clippy::unwrap_used)]

mod common;

use common::free_port;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixture() -> String {
    orco_fixture::path().unwrap().display().to_string()
}

/// One `GET /` on a connection of its own: the body (`VERSION INSTANCE`), or why it failed.
fn get(port: u16) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: orco\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.trim().to_string()),
        _ => Err(format!("bad answer: {text:?}")),
    }
}

/// A client on one keep-alive connection: each request's body, or an error that says whether
/// the connection closed between requests (before a request was written) or in the middle of
/// one.
struct KeepAlive {
    reader: BufReader<TcpStream>,
}

#[derive(Debug)]
enum KeepAliveError {
    /// The server closed the connection after its last answer (`Connection: close`, or no
    /// byte of the next answer).
    ClosedBetween,
    /// The connection broke while a request was under way.
    Broken(String),
}

impl KeepAlive {
    fn connect(port: u16) -> KeepAlive {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        KeepAlive {
            reader: BufReader::new(stream),
        }
    }

    /// One request; `Ok((body, close))` where `close` says the server announced the end.
    fn get(&mut self) -> Result<(String, bool), KeepAliveError> {
        let stream = self.reader.get_mut();
        if stream
            .write_all(b"GET / HTTP/1.1\r\nHost: orco\r\n\r\n")
            .is_err()
        {
            return Err(KeepAliveError::ClosedBetween);
        }
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            // Closed before any byte of the answer: the server had closed it while idle.
            Ok(0) => return Err(KeepAliveError::ClosedBetween),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(KeepAliveError::ClosedBetween);
            }
            Err(e) => return Err(KeepAliveError::Broken(format!("status line: {e}"))),
            Ok(_) => {}
        }
        if !line.starts_with("HTTP/1.1 200") {
            return Err(KeepAliveError::Broken(format!("status line {line:?}")));
        }
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut header = String::new();
            match self.reader.read_line(&mut header) {
                Ok(0) => return Err(KeepAliveError::Broken("headers cut".into())),
                Err(e) => return Err(KeepAliveError::Broken(format!("headers: {e}"))),
                Ok(_) => {}
            }
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(n) = header.strip_prefix("content-length: ") {
                length = n.parse().unwrap();
            }
            if header == "connection: close" {
                close = true;
            }
        }
        let mut body = vec![0; length];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| KeepAliveError::Broken(format!("body: {e}")))?;
        Ok((String::from_utf8_lossy(&body).trim().to_string(), close))
    }
}

/// Results of a load generator: every answer's body in order, and every failure.
#[derive(Debug, Default)]
struct Load {
    answers: Vec<String>,
    failures: Vec<String>,
}

/// Requests on connections of their own, one after another, from a thread until `stop`
/// (bounded: at most `MAX_REQUESTS` requests and `MAX_LOAD` of time).
fn load(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Load> {
    let shared = Arc::new(Mutex::new(Load::default()));
    let handle = shared_load(port, stop, shared.clone());
    std::thread::spawn(move || {
        handle.join().unwrap();
        std::mem::take(&mut *shared.lock().unwrap())
    })
}

/// [`load`] into a record the test can read while it runs.
fn shared_load(
    port: u16,
    stop: Arc<AtomicBool>,
    load: Arc<Mutex<Load>>,
) -> std::thread::JoinHandle<()> {
    const MAX_REQUESTS: usize = 50_000;
    const MAX_LOAD: Duration = Duration::from_secs(240);
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) && sent < MAX_REQUESTS && start.elapsed() < MAX_LOAD {
            let answer = get(port);
            let mut load = load.lock().unwrap();
            match answer {
                Ok(body) => load.answers.push(body),
                Err(e) => load.failures.push(e),
            }
            drop(load);
            sent += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// Runs `orco ARGS`, returning (exit code, stdout, stderr).
fn run(world: &common::World, args: &[&str]) -> (i32, String, String) {
    let out = world.orco(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (bounded) until the load generator has `more` answers after `mark`.
fn answers_after(load: &Arc<Mutex<Load>>, mark: usize, more: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.lock().unwrap().answers.len() < mark + more && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_failures(load: &Load) {
    eprintln!(
        "load: {} requests, {} failed",
        load.answers.len() + load.failures.len(),
        load.failures.len()
    );
    assert!(
        load.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        load.failures.len(),
        load.failures.len() + load.answers.len(),
        &load.failures[..load.failures.len().min(5)]
    );
}

/// A 3-replica service updated to a new `VERSION` while a load generator runs: `apply`
/// follows the rollout to its end, no request fails, and every answer after it is the new
/// version's. Returns the world, the port and the running load for more steps.
fn rolling_update_under_load(
    update: &str,
) -> (common::World, u16, Arc<Mutex<Load>>, Arc<AtomicBool>) {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let v1 = world.file("v1.yaml", &web(port, 3, "v1", update));
    world.ok(&["up", "-d", "-f", v1.to_str().unwrap()]);
    wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Load::default()));
    shared_load(port, stop.clone(), load.clone());
    answers_after(&load, 0, 20);
    let v2 = world.file("v2.yaml", &web(port, 3, "v2", update));
    let (code, out, err) = run(&world, &["apply", "-f", v2.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("rollout to revision 2 complete"),
        "{out}\n{err}"
    );
    assert!(err.contains("revision 1 -> 2"), "progress is shown: {err}");
    let mark = load.lock().unwrap().answers.len();
    answers_after(&load, mark, 50);
    {
        let load = load.lock().unwrap();
        assert_no_failures(&load);
        let before: BTreeSet<&str> = load.answers[..mark]
            .iter()
            .filter_map(|a| a.split(' ').next())
            .collect();
        assert!(before.contains("v1"), "{before:?}");
        let late: Vec<&String> = load.answers[mark + 1..]
            .iter()
            .filter(|a| !a.starts_with("v2 "))
            .collect();
        assert!(
            late.is_empty(),
            "answers after the rollout from another version: {late:?}"
        );
    }
    let items = wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });
    assert_eq!(items.len(), 3, "the surge instance is gone: {items:#?}");
    (world, port, load, stop)
}

#[test]
fn a_rolling_update_under_load_loses_no_request_and_rollback_to_returns_to_the_earlier_spec() {
    let (world, _port, load, stop) = rolling_update_under_load("");
    let mark = load.lock().unwrap().answers.len();
    let (code, out, err) = run(&world, &["rollback", "web", "--to", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("rollout to revision 3 complete"),
        "{out}\n{err}"
    );
    let after = load.lock().unwrap().answers.len();
    answers_after(&load, after, 50);
    stop.store(true, Ordering::SeqCst);
    let load = load.lock().unwrap();
    assert_no_failures(&load);
    assert!(load.answers[mark..].iter().any(|a| a.starts_with("v2 ")));
    let late: Vec<&String> = load.answers[after + 1..]
        .iter()
        .filter(|a| !a.starts_with("v1 "))
        .collect();
    assert!(
        late.is_empty(),
        "answers after the rollback from another version: {late:?}"
    );
    let status = world.ok(&["rollout", "status", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["current"], 3);
    assert_eq!(v["revisions"].as_array().unwrap().len(), 3);
    assert_eq!(v["revisions"][2]["spec"]["env"]["VERSION"], "v1");
    assert_eq!(v["rollout"]["status"], "complete");
}

#[test]
fn a_rolling_update_with_one_unavailable_and_no_surge_loses_no_request() {
    let (world, _port, _load, stop) =
        rolling_update_under_load("    update: {maxUnavailable: 1, maxSurge: 0}\n");
    stop.store(true, Ordering::SeqCst);
    let status = world.ok(&["rollout", "status", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let names: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["web-0", "web-1", "web-2"],
        "no surge instance was ever needed"
    );
}

#[test]
fn an_update_whose_new_version_never_becomes_ready_rolls_back_by_itself_while_the_old_instances_serve()
 {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let v1 = world.file("v1.yaml", &web(port, 3, "v1", ""));
    world.ok(&["up", "-d", "-f", v1.to_str().unwrap()]);
    let before = wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let generator = load(port, stop.clone());
    // The new version answers 404 on `/`, where it is probed: it never becomes ready.
    let broken =
        web(port, 3, "v2", "").replace("'--serve', '{{port}}'", "'--http', '{{port}}:/never'");
    assert!(broken.contains("/never"));
    let v2 = world.file("v2.yaml", &broken);
    let (code, out, err) = run(&world, &["apply", "-f", v2.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        err.contains("was not ready within"),
        "the reason is given: {err}"
    );
    let after = wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });
    stop.store(true, Ordering::SeqCst);
    let load = generator.join().unwrap();
    assert_no_failures(&load);
    let versions: BTreeSet<&str> = load
        .answers
        .iter()
        .filter_map(|a| a.split(' ').next())
        .collect();
    assert_eq!(
        versions,
        BTreeSet::from(["v1"]),
        "only the old instances served"
    );
    assert_eq!(
        pids(&before),
        pids(&after),
        "the old instances were never replaced"
    );
    let (code, _, err) = run(&world, &["rollout", "status", "web"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rolled back"), "{err}");
    let status = world.ok(&["status"]);
    assert!(
        status.contains("rolled back to the previous spec"),
        "{status}"
    );
}

/// Waits (bounded) until `cond` holds for `orco ps -o json`'s items.
fn wait_until(
    world: &common::World,
    what: &str,
    cond: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let items = world.instances();
        if cond(&items) {
            return items;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "gave up waiting until {what}: {:#?}\ndaemon log:\n{}",
        world.instances(),
        std::fs::read_to_string(world.dir.path().join("daemon.log")).unwrap_or_default()
    );
}

/// Every instance of `service` is ready, and there are `n` of them.
fn all_ready(items: &[serde_json::Value], service: &str, n: usize) -> bool {
    let of: Vec<_> = items
        .iter()
        .filter(|i| i["workload"].as_str() == Some(&format!("shop/{service}")))
        .collect();
    of.len() == n && of.iter().all(|i| i["ready"].as_bool() == Some(true))
}

fn pids(items: &[serde_json::Value]) -> BTreeSet<u64> {
    items.iter().filter_map(|i| i["pid"].as_u64()).collect()
}

/// The seed's shape: replicas publishing one port, each probed on that port.
fn web(port: u16, replicas: u32, version: &str, update: &str) -> String {
    format!(
        "version: 0.1
stack: {{name: shop}}
services:
  web:
    command: ['{fixture}', '--serve', '{{{{port}}}}']
    env: {{VERSION: {version}}}
    ports: ['{port}:{port}']
    replicas: {replicas}
    health:
      http: {{url: 'http://localhost:{port}/'}}
      interval: 200ms
    stop: {{timeout: 5s}}
{update}",
        fixture = fixture()
    )
}

#[test]
fn two_replicas_publishing_one_port_and_probed_on_it_share_it_and_get_it_back_after_a_daemon_restart()
 {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let file = world.file("stack.yaml", &web(port, 2, "v1", ""));
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    let before = wait_until(&world, "both replicas are ready", |i| {
        all_ready(i, "web", 2)
    });

    // Every connection goes to a ready instance, round robin: both answer.
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let body = get(port).unwrap();
        assert!(body.starts_with("v1 "), "{body}");
        seen.insert(body);
    }
    assert_eq!(
        seen,
        BTreeSet::from(["v1 web-0".to_string(), "v1 web-1".to_string()])
    );

    // A daemon killed and started again adopts the instances and publishes the port again.
    world.kill_daemon();
    world.start_daemon();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = BTreeSet::new();
    while seen.len() < 2 && Instant::now() < deadline {
        if let Ok(body) = get(port) {
            seen.insert(body);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        seen,
        BTreeSet::from(["v1 web-0".to_string(), "v1 web-1".to_string()])
    );
    let after = wait_until(&world, "both replicas are ready", |i| {
        all_ready(i, "web", 2)
    });
    assert_eq!(pids(&before), pids(&after), "the instances were adopted");
}

#[test]
fn a_proxied_instance_that_is_stopped_is_drained_first_and_a_keep_alive_client_sees_its_connection_closed_between_requests()
 {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let file = world.file("stack.yaml", &web(port, 2, "v1", ""));
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until(&world, "both replicas are ready", |i| {
        all_ready(i, "web", 2)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let generator = load(port, stop.clone());
    let mut client = KeepAlive::connect(port);
    let (body, _) = client.get().unwrap();
    let first = body.split(' ').nth(1).unwrap().to_string();

    // A restart of the client's own instance drains it (no new connection goes there) and
    // stops it: its connection must end between two requests, and no request fails.
    world.ok(&["restart", &first]);
    let closed = Arc::new(Mutex::new(None));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut requests = 1;
    while Instant::now() < deadline && requests < 100_000 {
        match client.get() {
            Ok((_, false)) => requests += 1,
            Ok((_, true)) | Err(KeepAliveError::ClosedBetween) => {
                *closed.lock().unwrap() = Some(requests);
                break;
            }
            Err(KeepAliveError::Broken(why)) => {
                panic!("the connection broke in the middle of request {requests}: {why}")
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        closed.lock().unwrap().is_some(),
        "the keep-alive connection was never closed"
    );
    wait_until(&world, "both replicas are ready again", |i| {
        all_ready(i, "web", 2)
    });
    stop.store(true, Ordering::SeqCst);
    let load = generator.join().unwrap();
    assert!(
        load.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        load.failures.len(),
        load.failures.len() + load.answers.len(),
        &load.failures[..load.failures.len().min(5)]
    );
    assert!(!load.answers.is_empty());
}

#[test]
fn a_dependent_with_restart_true_is_restarted_after_its_target_was_replaced_and_the_others_are_not()
{
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let dependents = "  api:\n    command: [sleep, '1000']\n    dependsOn: [{target: web, require: ready, restart: true}]\n  cron:\n    command: [sleep, '1000']\n    dependsOn: [{target: web, require: ready}]\n";
    let v1 = world.file("v1.yaml", &(web(port, 2, "v1", "") + dependents));
    world.ok(&["up", "-d", "-f", v1.to_str().unwrap()]);
    let pid_of = |items: &[serde_json::Value], name: &str| {
        items
            .iter()
            .find(|i| i["name"] == name)
            .and_then(|i| i["pid"].as_u64())
    };
    let before = wait_until(&world, "everything is ready", |i| {
        i.len() == 4 && i.iter().all(|x| x["ready"] == true)
    });
    let v2 = world.file("v2.yaml", &(web(port, 2, "v2", "") + dependents));
    world.ok(&["apply", "-f", v2.to_str().unwrap()]);
    let after = wait_until(&world, "api runs again after web's rollout", |i| {
        i.len() == 4
            && i.iter().all(|x| x["ready"] == true)
            && pid_of(i, "api-0").is_some_and(|p| Some(p) != pid_of(&before, "api-0"))
    });
    assert_eq!(
        pid_of(&after, "cron-0"),
        pid_of(&before, "cron-0"),
        "cron was left alone"
    );
}

/// A docker service of two replicas behind the proxy: each container publishes its target
/// port on its instance's own loopback port; the http probe aimed at the published port is
/// retargeted; a rolling update loses no request. Needs a Docker engine and busybox-static.
#[test]
fn docker_replicas_share_one_published_port_through_the_proxy_and_roll_without_a_failed_request() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let stack = |version: &str| {
        format!(
            "version: 0.1
stack: {{name: shop}}
services:
  web:
    image: {image}
    command: [sh, -c, 'mkdir -p /tmp/www && echo {version} $ORCO_INSTANCE > /tmp/www/id && exec httpd -f -p 8080 -h /tmp/www']
    ports: ['{port}:8080']
    replicas: 2
    health:
      http: {{url: 'http://127.0.0.1:{port}/id'}}
      interval: 200ms
    stop: {{timeout: 5s}}
"
        )
    };
    let v1 = world.file("v1.yaml", &stack("v1"));
    world.ok(&["up", "-d", "-f", v1.to_str().unwrap()]);
    wait_until(&world, "both containers are ready", |i| {
        all_ready(i, "web", 2)
    });
    let fetch = move || -> Result<String, String> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(b"GET /id HTTP/1.0\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .map_err(|e| format!("read: {e}"))?;
        match text.split_once("\r\n\r\n") {
            Some((head, body)) if head.contains(" 200 ") => Ok(body.trim().to_string()),
            _ => Err(format!("bad answer: {text:?}")),
        }
    };
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        seen.insert(fetch().unwrap());
    }
    assert_eq!(
        seen,
        BTreeSet::from(["v1 web-0".to_string(), "v1 web-1".to_string()])
    );

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    let generator = std::thread::spawn(move || {
        let mut load = Load::default();
        let start = Instant::now();
        while !stopper.load(Ordering::SeqCst)
            && load.answers.len() + load.failures.len() < 20_000
            && start.elapsed() < Duration::from_secs(180)
        {
            match fetch() {
                Ok(body) => load.answers.push(body),
                Err(e) => load.failures.push(e),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        load
    });
    let v2 = world.file("v2.yaml", &stack("v2"));
    let (code, out, err) = run(&world, &["apply", "-f", v2.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("rollout to revision 2 complete"),
        "{out}\n{err}"
    );
    stop.store(true, Ordering::SeqCst);
    let load = generator.join().unwrap();
    assert_no_failures(&load);
    assert!(load.answers.iter().any(|a| a.starts_with("v2 ")));
    // `down` removes every container and the network of this world's scope.
    world.ok(&["down"]);
    let scope = world.docker_scope();
    let left = || {
        let out = std::process::Command::new("docker")
            .args(["ps", "-a", "-q", "--filter"])
            .arg(format!("label=orco.scope={scope}"))
            .output()
            .unwrap();
        let nets = std::process::Command::new("docker")
            .args(["network", "ls", "-q", "--filter"])
            .arg(format!("name={scope}"))
            .output()
            .unwrap();
        !out.stdout.is_empty() || !nets.stdout.is_empty()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while left() {
        assert!(
            Instant::now() < deadline,
            "containers or network of {scope} left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_rollout_interrupted_by_a_daemon_kill_carries_on_after_the_restart_and_ends_with_one_instance_per_slot()
 {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let v1 = world.file("v1.yaml", &web(port, 3, "v1", ""));
    world.ok(&["up", "-d", "-f", v1.to_str().unwrap()]);
    wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });
    // The new version becomes ready 1.5 s after it starts: the rollout takes a while.
    let slow =
        web(port, 3, "v2", "").replace("'--serve', '{{port}}'", "'--http', '{{port}}:/@1500'");
    let v2 = world.file("v2.yaml", &slow);
    world.ok(&["apply", "-d", "-f", v2.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&world.ok(&["rollout", "status", "web", "-o", "json"])).unwrap();
        if v["rollout"]["updated"].as_u64() >= Some(1) && v["rollout"]["status"] == "progressing" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never got under way: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    world.kill_daemon();
    world.start_daemon();
    let (code, out, err) = run(&world, &["rollout", "status", "web", "--timeout", "2m"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("rollout to revision 2 complete"),
        "{out}\n{err}"
    );
    let items = wait_until(&world, "three replicas are ready", |i| {
        all_ready(i, "web", 3)
    });
    let names: BTreeSet<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, BTreeSet::from(["web-0", "web-1", "web-2"]));
    assert_eq!(pids(&items).len(), 3, "one process per slot: {items:#?}");
    let v: serde_json::Value =
        serde_json::from_str(&world.ok(&["rollout", "status", "web", "-o", "json"])).unwrap();
    assert!(
        v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["revision"] == 2),
        "{v}"
    );
    for _ in 0..10 {
        assert_eq!(get_status(port), 200);
    }
}

/// The status code of one `GET /` through the published port.
fn get_status(port: u16) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: orco\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The pid of each instance of `shop/web`, by name.
fn web_pids(items: &[serde_json::Value]) -> std::collections::BTreeMap<String, u64> {
    items
        .iter()
        .filter(|i| i["workload"] == "shop/web")
        .filter_map(|i| Some((i["name"].as_str()?.to_string(), i["pid"].as_u64()?)))
        .collect()
}

#[test]
fn restarting_a_service_rolls_through_its_replicas_under_load_and_loses_no_request() {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let file = world.file("web.yaml", &web(port, 2, "v1", ""));
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    let before = web_pids(&wait_until(&world, "two replicas are ready", |i| {
        all_ready(i, "web", 2)
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Load::default()));
    shared_load(port, stop.clone(), load.clone());
    answers_after(&load, 0, 20);
    let (code, out, err) = run(&world, &["restart", "web"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("rolling restart requested"), "{out}");
    let after = web_pids(&wait_until(
        &world,
        "both replicas were replaced and are ready",
        |i| {
            let now = web_pids(i);
            all_ready(i, "web", 2)
                && now.len() == 2
                && now.iter().all(|(name, pid)| before.get(name) != Some(pid))
        },
    ));
    let mark = load.lock().unwrap().answers.len();
    answers_after(&load, mark, 50);
    stop.store(true, Ordering::SeqCst);
    assert_no_failures(&load.lock().unwrap());
    assert_eq!(after.len(), 2);
    let status = world.ok(&["rollout", "status", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        v["current"], 2,
        "a restart is a revision of the same spec: {v:#}"
    );
    assert_eq!(v["rollout"]["status"], "complete", "{v:#}");
    assert_eq!(
        v["revisions"][0]["spec"], v["revisions"][1]["spec"],
        "the same spec"
    );
    // Each replica was started once more, by the rollout: two new processes.
    let events = world.ok(&["events", "-o", "json"]);
    let starts = events
        .lines()
        .filter(|l| l.contains("instance_starting") && l.contains("shop/web-"))
        .count();
    assert!(
        starts >= 4,
        "two first starts, then a replacement for each: {starts}"
    );
}

#[test]
fn restarting_a_service_with_all_restarts_every_replica_at_once_without_a_revision() {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let file = world.file("web.yaml", &web(port, 2, "v1", ""));
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    let before = web_pids(&wait_until(&world, "two replicas are ready", |i| {
        all_ready(i, "web", 2)
    }));
    let (code, out, err) = run(&world, &["restart", "web", "--all"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("restart of every instance requested"), "{out}");
    wait_until(&world, "both replicas restarted and are ready", |i| {
        let now = web_pids(i);
        all_ready(i, "web", 2) && now.iter().all(|(name, pid)| before.get(name) != Some(pid))
    });
    let status = world.ok(&["rollout", "status", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["current"], 1, "no new revision: {v:#}");
}

#[test]
fn scaling_a_published_service_to_two_replicas_plans_the_replacement_and_rolls_it_out() {
    let world = common::World::new();
    world.start_daemon();
    let port = free_port();
    let one = world.file("one.yaml", &web(port, 1, "v1", ""));
    world.ok(&["up", "-d", "-f", one.to_str().unwrap()]);
    let before = web_pids(&wait_until(&world, "one replica is ready", |i| {
        all_ready(i, "web", 1)
    }));
    let two = world.file("two.yaml", &web(port, 2, "v1", ""));
    let plan = world.ok(&["apply", "--dry-run", "-f", two.to_str().unwrap()]);
    assert!(
        plan.contains("replace web-0")
            && plan.contains("web-0 replaced: it moves behind the built-in proxy")
            && plan.contains("1 instance to replace"),
        "the plan names the instance it replaces and why:\n{plan}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Load::default()));
    shared_load(port, stop.clone(), load.clone());
    answers_after(&load, 0, 20);
    let (code, out, err) = run(&world, &["apply", "-f", two.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("rollout to revision 2 complete"),
        "the replacement runs as a rollout:\n{out}\n{err}"
    );
    let after = web_pids(&wait_until(&world, "two replicas are ready", |i| {
        all_ready(i, "web", 2)
    }));
    assert_ne!(after["web-0"], before["web-0"], "web-0 was replaced");
    let mark = load.lock().unwrap().answers.len();
    answers_after(&load, mark, 50);
    stop.store(true, Ordering::SeqCst);
    let load = load.lock().unwrap();
    // The published port changes hands once: from web-0, which listened on it itself, to
    // the proxy, which can bind it only once web-0 has closed it. In that gap a connection is
    // refused, or reset when web-0 stops while it holds it (it is not behind the proxy yet,
    // so it cannot be drained).
    eprintln!(
        "scale 1 -> 2 under load: {} requests, {} failed: {:?}",
        load.answers.len() + load.failures.len(),
        load.failures.len(),
        &load.failures[..load.failures.len().min(5)]
    );
    assert!(
        load.failures
            .iter()
            .all(|f| f.starts_with("connect") || f.contains("Connection reset")),
        "only connections refused or reset while the port changes hands: {:?}",
        load.failures
    );
}

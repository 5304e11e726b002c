//! Faults and abuse through the real daemon: a daemon that accepts and does not answer, huge
//! counts, connection floods under a lowered fd limit, env files with secrets in them.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

mod common;

use std::process::Output;

use common::World;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Sends SIGCONT to a stopped daemon when dropped, so that a failing test leaves nothing
/// stopped behind (the world then kills it).
struct Resume(Pid);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[test]
fn a_stopped_daemon_gives_exit_three_and_says_it_is_not_answering() {
    let world = World::new();
    world.start_daemon();
    let pid = Pid::from_raw(world.daemon_pid().unwrap());
    kill(pid, Signal::SIGSTOP).unwrap();
    let resume = Resume(pid);
    let out = world.orco(&["status", "--timeout", "1s"]);
    let ps = world.orco(&["ps", "--timeout", "500ms"]);
    drop(resume);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the daemon at unix://") && stderr.contains("is not answering"),
        "{}",
        describe(&out)
    );
    assert_eq!(ps.status.code(), Some(3), "{}", describe(&ps));
    // Resumed, it answers again.
    world.ok(&["cluster", "health", "--timeout", "30s"]);
}

#[test]
fn a_timeout_that_is_not_a_duration_is_bad_usage() {
    let world = World::new();
    let out = world.orco(&["status", "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("--timeout soon"),
        "{}",
        describe(&out)
    );
}

/// Polls `check` every 50 ms for up to 60 s; panics with `what` if it never holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not happen within 60 s");
}

/// Every byte under `dir` (the data dir: event store, logs, keeper files), as lossy text.
fn everything_under(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            out.push_str(&everything_under(&path));
        } else if kind.is_file() {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out
}

#[test]
fn a_malformed_env_file_line_is_reported_by_number_and_its_content_is_never_shown() {
    const SECRET: &str = "hunter2";
    let world = World::new();
    let bad = format!("GOOD=1\n{SECRET}-s3cr3t-token\n");
    world.file("app.env", &bad);
    let stack = world.file(
        "stack.yaml",
        "version: 0.1\nstack: {name: envs}\nservices:\n  web:\n    command: [\"sleep\", \"300\"]\n    envFromFile: app.env\n",
    );
    let stack = stack.to_str().unwrap();

    let validate = world.orco(&["validate", "-f", stack]);
    assert_eq!(validate.status.code(), Some(2), "{}", describe(&validate));
    let said = describe(&validate);
    assert!(said.contains("env file `app.env`, line 2"), "{said}");
    assert!(!said.contains(SECRET), "{said}");

    world.start_daemon();
    let apply = world.orco(&["apply", "-d", "-f", stack]);
    assert_eq!(apply.status.code(), Some(2), "{}", describe(&apply));
    let said = describe(&apply);
    assert!(said.contains("env file `app.env`, line 2"), "{said}");
    assert!(!said.contains(SECRET), "{said}");
    let events = world.ok(&["events", "-o", "json"]);
    assert!(
        !events.contains("envs"),
        "the refused apply was recorded:\n{events}"
    );

    // A good file whose value is a secret: applied, the value stays out of everything.
    world.file("app.env", &format!("GOOD=1\nTOKEN={SECRET}-value\n"));
    world.ok(&["apply", "-d", "-f", stack]);
    eventually("web-0 running", || {
        world
            .instances()
            .iter()
            .any(|i| i["name"] == "web-0" && i["phase"] == "running")
    });
    // The file goes bad while the service runs; its restart fails on the line, by number.
    world.file("app.env", &bad);
    world.ok(&["restart", "web"]);
    eventually("the restart failing on the env file", || {
        world.ok(&["events", "-o", "json"]).contains("app.env:2")
    });
    let mut seen = String::new();
    for args in [
        &["events", "-o", "json"][..],
        &["status", "-o", "json"],
        &["ps", "-o", "json"],
        &["workload", "describe", "web", "-o", "json"],
        &["logs", "web"],
    ] {
        let out = world.orco(args);
        seen.push_str(&describe(&out));
    }
    seen.push_str(
        &std::fs::read_to_string(world.dir.path().join("daemon.log")).unwrap_or_default(),
    );
    seen.push_str(&everything_under(&world.data()));
    assert!(
        !seen.contains(SECRET),
        "an env file's content leaked:\n{seen}"
    );
}

#[test]
fn a_huge_scale_through_the_daemon_is_refused_with_the_limit_and_changes_nothing() {
    let world = World::new();
    world.start_daemon();
    let stack = world.file(
        "stack.yaml",
        "version: 0.1\nstack: {name: big}\nservices:\n  web:\n    command: [\"sleep\", \"300\"]\n",
    );
    world.ok(&["apply", "-d", "-f", stack.to_str().unwrap()]);
    let before = world.ok(&["events", "-o", "json"]).lines().count();
    for huge in ["1001", "1000000", "4294967295"] {
        let out = world.orco(&["scale", "web", huge]);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "replicas is {huge}, above the limit of 1000 per service"
            )) && stderr.contains("at: replicas"),
            "{}",
            describe(&out)
        );
    }
    let after = world.ok(&["events", "-o", "json"]);
    let appended: Vec<&str> = after
        .lines()
        .skip(before)
        .filter(|l| l.contains("scale_changed"))
        .collect();
    assert!(
        appended.is_empty(),
        "a refused scale was recorded: {appended:?}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&world.ok(&["status", "-o", "json"])).unwrap();
    let web = &status["items"][0];
    assert_eq!(web["replicas"], 1, "{status}");
    // The limit itself is allowed through the same path (on a daemon without processes to
    // start it would be 1,000 of them, so the test stops at asking for a small count).
    world.ok(&["scale", "web", "2"]);
}

/// A daemon this test started itself (under `prlimit`): killed and reaped on drop.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the daemon closed `stream`: a read ends (EOF or reset) instead of timing out.
fn closed_by_the_daemon(stream: &mut std::net::TcpStream) -> bool {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    ends(stream)
}

/// Whether reading `stream` (whose read timeout is set) ends before it times out.
fn ends(stream: &mut impl std::io::Read) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn hundreds_of_idle_and_half_sent_connections_under_a_low_fd_limit_leave_the_daemon_answering() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let world = World::new();
    let token = world.file("token", "0123456789abcdef0123456789abcdef\n");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(world.dir.path().join("daemon.log")).unwrap();
    let socket = world.socket();
    let mut command = std::process::Command::new("prlimit");
    command
        .arg("--nofile=256:256")
        .arg(common::ORCO)
        .args(["daemon", "--socket", socket.to_str().unwrap()])
        .args(["--listen", &addr, "--token-file", token.to_str().unwrap()])
        .env("ORCO_DATA_DIR", world.data())
        .env("ORCO_DOCKER_SCOPE", world.docker_scope())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    let _daemon = Spawned(command.spawn().unwrap());
    world.wait_answering();
    let host = format!("https://{addr}");
    let ca_file = world.data().join("pki/ca.crt");
    let over_tcp = [
        "--host",
        &host,
        "--token-file",
        token.to_str().unwrap(),
        "--ca-file",
        ca_file.to_str().unwrap(),
    ];

    // 300 strangers on TCP, half of them silent, half stopping in the middle of a head, and
    // 50 idle clients on the socket: more than the 256 files the daemon may open.
    let mut strangers = Vec::new();
    for i in 0..300 {
        let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
            continue;
        };
        if i % 2 == 1 {
            let _ = stream.write_all(b"GET /api/v1/stacks HTTP/1.1\r\nHost: x\r\n");
        }
        strangers.push(stream);
    }
    let mut idle = Vec::new();
    for _ in 0..50 {
        if let Ok(stream) = std::os::unix::net::UnixStream::connect(&socket) {
            idle.push(stream);
        }
    }
    // The socket still answers at once, within the CLI's own time limit.
    let health = world.orco(&["cluster", "health", "--timeout", "10s"]);
    assert!(health.status.success(), "{}", describe(&health));
    let events = world.orco(&["events", "-o", "json"]);
    assert!(events.status.success(), "{}", describe(&events));
    // The strangers are closed by the head deadline (or at once, over the cap) ...
    let mut open = 0;
    for stream in strangers.iter_mut().step_by(10) {
        if !closed_by_the_daemon(stream) {
            open += 1;
        }
    }
    assert_eq!(
        open, 0,
        "connections the daemon kept open past the head deadline"
    );
    drop(strangers);
    drop(idle);
    // ... after which a client with the token is served on TCP too.
    let mut last = String::new();
    for _ in 0..200 {
        let mut args = vec!["events", "-o", "json"];
        args.extend(over_tcp);
        let out = world.orco(&args);
        if out.status.success() {
            last.clear();
            break;
        }
        last = describe(&out);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        last.is_empty(),
        "the TCP listener never answered again: {last}"
    );
    // A wrong token is refused, and its connection closed right after the answer.
    use orco_pki::rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(&ca_file).unwrap();
    let ca = orco_pki::rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    let pin = orco_pki::Pin::of_certificate(&ca).unwrap();
    let config = orco_pki::pinned_client_config(pin, None).unwrap();
    let tls = |request: &[u8]| {
        let tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let name = orco_pki::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let connection = orco_pki::rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut stream = orco_pki::rustls::StreamOwned::new(connection, tcp);
        stream.write_all(request).unwrap();
        stream
    };
    let mut stranger =
        tls(b"GET /api/v1/stacks HTTP/1.1\r\nHost: x\r\nAuthorization: bearer nope\r\n\r\n");
    assert!(ends(&mut stranger));
    // A lower-case scheme with the right token is accepted.
    let mut friend = tls(
        b"GET /api/v1/stacks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: bearer 0123456789abcdef0123456789abcdef\r\n\r\n",
    );
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut friend, &mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_json_route_refuses_a_body_that_is_not_json_with_415() {
    use std::io::{Read, Write};
    let world = World::new();
    world.start_daemon();
    let mut stream = std::os::unix::net::UnixStream::connect(world.socket()).unwrap();
    let body = "replicas=3";
    let request = format!(
        "PATCH /api/v1/workloads/x%2Fweb/scale HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // One write: the daemon may answer and close before it reads the body.
    let _ = stream.write_all(request.as_bytes());
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let answer = String::from_utf8_lossy(&bytes);
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("unsupported_media_type"), "{answer}");
}

#[test]
fn a_stop_of_a_stopped_service_and_a_start_of_a_running_one_say_so() {
    let world = World::new();
    world.start_daemon();
    let stack = world.file(
        "stack.yaml",
        "version: 0.1\nstack: {name: noop}\nservices:\n  web:\n    command: [\"sleep\", \"300\"]\n",
    );
    world.ok(&["apply", "-d", "-f", stack.to_str().unwrap()]);
    assert!(world.ok(&["start", "web"]).contains("web: already running"));
    assert!(world.ok(&["stop", "web"]).contains("web: stop requested"));
    assert!(world.ok(&["stop", "web"]).contains("web: already stopped"));
    assert!(world.ok(&["start", "web"]).contains("web: start requested"));
}

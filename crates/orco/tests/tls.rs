//! `orco daemon --listen` serves HTTPS only, with the real binary: the daemon prints its CA
//! file and pin at start; the CLI reaches it with `--ca-file`/`ORCO_CA` or `ORCO_CA_PIN`, is
//! refused with a certificate error without them or with a wrong pin, and a plain-HTTP
//! request gets no data.
#![allow(clippy::unwrap_used)]

mod common;

use common::ORCO;
use common::tls::{TOKEN, TlsDaemon, describe, stderr};

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

/// The daemon of these tests.
type Daemon = TlsDaemon;

impl TlsDaemon {
    /// `orco VERB --host https://ADDR --token-file T EXTRA...` with `env`.
    fn remote(&self, verb: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(ORCO);
        command
            .arg(verb)
            .args(["--host", &self.host()])
            .arg("--token-file")
            .arg(self.token_file())
            .args(extra)
            .env_remove("ORCO_HOST")
            .env_remove("ORCO_CA")
            .env_remove("ORCO_CA_PIN")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    }

    fn apply_a_stack(&self) {
        let file = self.dir.path().join("stack.yaml");
        std::fs::write(
            &file,
            "version: 0.1\nstack: {name: demo}\nservices:\n  web: {command: [sleep, '1000'], replicas: 2}\n",
        )
        .unwrap();
        let out = self.local(&["apply", "-f", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
    }
}

/// A status table's cells without its AGE column (a duration that ticks between calls).
fn without_age(stdout: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let age = header.iter().position(|h| *h == "AGE");
    std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(lines.map(|l| {
            l.split_whitespace()
                .enumerate()
                .filter(|(i, _)| Some(*i) != age)
                .map(|(_, w)| w.to_string())
                .collect()
        }))
        .collect()
}

#[test]
fn the_daemon_prints_its_ca_file_and_pin_and_status_works_over_https_with_either() {
    let daemon = Daemon::start();
    let ca_file = daemon.ca_file();
    assert_eq!(ca_file, daemon.dir.path().join("data/pki/ca.crt"));
    assert!(ca_file.exists());
    let pin = daemon.pin();
    assert_eq!(pin.len(), 64, "{pin}");
    daemon.apply_a_stack();

    let with_file = daemon.remote("status", &["--ca-file", ca_file.to_str().unwrap()], &[]);
    assert!(with_file.status.success(), "{}", describe(&with_file));
    let table = String::from_utf8_lossy(&with_file.stdout);
    assert!(table.lines().any(|l| l.starts_with("web")), "{table}");

    let ca_env = daemon.remote("status", &[], &[("ORCO_CA", ca_file.to_str().unwrap())]);
    assert!(ca_env.status.success(), "{}", describe(&ca_env));
    // The same table, but for the AGE column, which may tick between two calls.
    assert_eq!(without_age(&ca_env.stdout), without_age(&with_file.stdout));

    let pem = std::fs::read_to_string(&ca_file).unwrap();
    let ca_pem_env = daemon.remote("status", &[], &[("ORCO_CA", &pem)]);
    assert!(ca_pem_env.status.success(), "{}", describe(&ca_pem_env));

    let with_pin = daemon.remote("status", &[], &[("ORCO_CA_PIN", &pin)]);
    assert!(with_pin.status.success(), "{}", describe(&with_pin));
    assert_eq!(
        without_age(&with_pin.stdout),
        without_age(&with_file.stdout)
    );

    // The connection flags before the verb, too.
    let before = Command::new(ORCO)
        .args([
            "--host",
            &daemon.host(),
            "--ca-file",
            ca_file.to_str().unwrap(),
        ])
        .arg("--token-file")
        .arg(daemon.token_file())
        .arg("status")
        .env_remove("ORCO_HOST")
        .env_remove("ORCO_CA")
        .env_remove("ORCO_CA_PIN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(before.status.success(), "{}", describe(&before));
    assert_eq!(before.stdout, with_file.stdout);

    // The same through `tcp://`, which names the same TLS listener.
    let tcp = Command::new(ORCO)
        .args([
            "ps",
            "-o",
            "json",
            "--host",
            &format!("tcp://{}", daemon.addr),
        ])
        .arg("--token-file")
        .arg(daemon.token_file())
        .env("ORCO_CA_PIN", &pin)
        .env_remove("ORCO_CA")
        .output()
        .unwrap();
    assert!(tcp.status.success(), "{}", describe(&tcp));
}

#[test]
fn without_trust_or_with_a_wrong_pin_the_cli_fails_with_a_certificate_error() {
    let daemon = Daemon::start();
    daemon.apply_a_stack();

    let untrusting = daemon.remote("status", &[], &[]);
    assert_eq!(
        untrusting.status.code(),
        Some(1),
        "{}",
        describe(&untrusting)
    );
    let e = stderr(&untrusting);
    assert!(e.contains("its certificate is not trusted"), "{e}");
    assert!(e.contains("--ca-file") && e.contains("ORCO_CA_PIN"), "{e}");
    assert!(untrusting.stdout.is_empty());

    let pin = daemon.pin();
    let first = if pin.starts_with('0') { "1" } else { "0" };
    let wrong = format!("{first}{}", &pin[1..]);
    let mismatched = daemon.remote("status", &[], &[("ORCO_CA_PIN", &wrong)]);
    assert_eq!(
        mismatched.status.code(),
        Some(1),
        "{}",
        describe(&mismatched)
    );
    let e = stderr(&mismatched);
    assert!(
        e.contains("the daemon's CA does not match the pin given"),
        "{e}"
    );
    assert!(e.contains(&pin), "the daemon's real pin is shown: {e}");

    // Another daemon's CA file is no trust either.
    let other = Daemon::start();
    let foreign = daemon.remote(
        "status",
        &["--ca-file", other.ca_file().to_str().unwrap()],
        &[],
    );
    assert_eq!(foreign.status.code(), Some(1), "{}", describe(&foreign));
    assert!(
        stderr(&foreign).contains("is not signed by the CA in"),
        "{}",
        describe(&foreign)
    );

    let bad_pin = daemon.remote("status", &[], &[("ORCO_CA_PIN", "xyz")]);
    assert_eq!(bad_pin.status.code(), Some(2), "{}", describe(&bad_pin));
    assert!(
        stderr(&bad_pin).contains("64 hexadecimal characters"),
        "{}",
        describe(&bad_pin)
    );
    let both = daemon.remote(
        "status",
        &["--ca-file", daemon.ca_file().to_str().unwrap()],
        &[("ORCO_CA_PIN", &pin)],
    );
    assert_eq!(both.status.code(), Some(2), "{}", describe(&both));
    assert!(stderr(&both).contains("not both"), "{}", describe(&both));
}

#[test]
fn a_plain_http_request_to_the_listener_gets_no_data() {
    let daemon = Daemon::start();
    daemon.apply_a_stack();
    for request in [
        format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", daemon.addr),
        format!(
            "GET /api/v1/stacks HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            daemon.addr
        ),
    ] {
        let mut stream = std::net::TcpStream::connect(&daemon.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        assert!(
            !text.contains("HTTP/1."),
            "plain HTTP got an HTTP answer: {text:?}"
        );
        assert!(
            !text.contains("healthy") && !text.contains("demo"),
            "{text:?}"
        );
    }
    // And the CLI pointed at it with plain http:// is told the scheme is not understood.
    let out = Command::new(ORCO)
        .args(["status", "--host", &format!("http://{}", daemon.addr)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("https://host:port"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_ca_and_its_pin_survive_a_restart_of_the_daemon() {
    let daemon = Daemon::start();
    let pin = daemon.pin();
    let key = daemon.dir.path().join("data/pki/ca.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = daemon.restart();
    assert_eq!(again.pin(), pin);
    again.apply_a_stack();
    let out = again.remote("status", &[], &[("ORCO_CA_PIN", &pin)]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn a_token_file_others_may_read_is_refused_by_the_cli_and_by_the_daemon() {
    let daemon = Daemon::start();
    let pin = daemon.pin();
    let loose = daemon.dir.path().join("loose-token");
    std::fs::write(&loose, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();

    // The CLI refuses to send it, and says how to fix the file.
    let out = Command::new(ORCO)
        .args(["status", "--host", &daemon.host(), "--token-file"])
        .arg(&loose)
        .env("ORCO_CA_PIN", &pin)
        .env_remove("ORCO_CA")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let shown = loose.display();
    assert!(
        stderr(&out).contains(&format!(
            "{shown} is readable by others (mode 0644): chmod 600 {shown}"
        )),
        "{}",
        describe(&out)
    );

    // A daemon given it does not start, and names the file.
    let out = Command::new(ORCO)
        .args(["daemon", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&loose)
        .arg("--socket")
        .arg(daemon.dir.path().join("other.sock"))
        .env("ORCO_DATA_DIR", daemon.dir.path().join("other-data"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is readable by others (mode 0644)"),
        "{}",
        describe(&out)
    );
    assert!(!daemon.dir.path().join("other.sock").exists());
}

//! API tokens with roles over the daemon's HTTPS listener, with the real binary, curl and the
//! CLI: 401 without a token, 403 with the role needed below it, on every route class; a
//! revoked or expired token refused; failed attempts counted and an address refused after
//! too many; a token's secret nowhere but in the answer that created it; `orco history`
//! naming the token that made a change; the unix socket still `admin`.
#![allow(clippy::unwrap_used)]

mod common;

use common::ORCO;
use common::tls::{TOKEN, TlsDaemon, describe, stderr};

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// The daemon of these tests; its `--token-file` token is an admin token named
/// `token-file`.
type Daemon = TlsDaemon;
const TOKEN_FILE_TOKEN: &str = TOKEN;

/// What curl got: the status and the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl TlsDaemon {
    /// `orco ARGS` over HTTPS with `token` in ORCO_TOKEN (none when empty).
    fn remote(&self, token: &str, args: &[&str]) -> Output {
        let mut command = Command::new(ORCO);
        command
            .args(args)
            .env("ORCO_HOST", format!("https://{}", self.addr))
            .env("ORCO_CA", self.ca_file())
            .env_remove("ORCO_CA_PIN")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        if token.is_empty() {
            command.env_remove("ORCO_TOKEN");
        } else {
            command.env("ORCO_TOKEN", token);
        }
        command.output().unwrap()
    }

    /// `curl -X METHOD https://ADDR PATH` with `token` (none when empty) and a JSON `body`.
    fn curl(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> Answer {
        let mut command = Command::new("curl");
        command
            .args(["-sS", "-X", method, "-w", "\n%{http_code}", "--cacert"])
            .arg(self.ca_file())
            .arg(format!("https://{}{path}", self.addr));
        if !token.is_empty() {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        if let Some(body) = body {
            command.args(["-H", "Content-Type: application/json", "--data", body]);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        Answer {
            status: status.trim().parse().unwrap_or(0),
            body: body.to_string(),
        }
    }

    /// `curl` on the unix socket (no token: the socket is admin).
    fn curl_local(&self, path: &str) -> Answer {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(self.socket())
            .arg(format!("http://localhost{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        Answer {
            status: status.trim().parse().unwrap_or(0),
            body: body.to_string(),
        }
    }

    /// A token of `role` named `name`, made on the unix socket; its secret.
    fn token(&self, role: &str, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--role", role, "--name", name];
        args.extend(extra);
        let out = self.local(&args);
        assert!(out.status.success(), "{}", describe(&out));
        let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(secret.starts_with("orcot1."), "{secret}");
        secret
    }

    /// The log's head revision, read on the unix socket.
    fn head(&self) -> u64 {
        self.curl_local("/api/v1/cluster").json()["revision"]
            .as_u64()
            .unwrap()
    }

    fn apply_a_stack(&self) {
        let file = self.dir.path().join("stack.yaml");
        std::fs::write(
            &file,
            "version: 0.1\nstack: {name: demo}\nservices:\n  web: {command: [sleep, '1000'], replicas: 1}\n",
        )
        .unwrap();
        let out = self.local(&["apply", "-d", "-f", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
    }
}

/// One request of a route class, and the role it needs.
struct Probe {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: &'static str,
}

const PROBES: &[Probe] = &[
    // Reads.
    Probe {
        method: "GET",
        path: "/api/v1/stacks",
        body: None,
        needs: "read",
    },
    Probe {
        method: "GET",
        path: "/api/v1/history/demo",
        body: None,
        needs: "read",
    },
    Probe {
        method: "GET",
        path: "/api/v1/events?follow=false",
        body: None,
        needs: "read",
    },
    Probe {
        method: "GET",
        path: "/metrics",
        body: None,
        needs: "read",
    },
    Probe {
        method: "GET",
        path: "/api/v1/openapi.json",
        body: None,
        needs: "read",
    },
    // Operations.
    Probe {
        method: "PATCH",
        path: "/api/v1/workloads/demo%2Fweb/scale",
        body: Some(r#"{"replicas": 2}"#),
        needs: "operate",
    },
    Probe {
        method: "POST",
        path: "/api/v1/workloads/demo%2Fweb/restart",
        body: None,
        needs: "operate",
    },
    Probe {
        method: "POST",
        path: "/api/v1/workloads/demo%2Fweb/stop",
        body: None,
        needs: "operate",
    },
    // Administration.
    Probe {
        method: "GET",
        path: "/api/v1/tokens",
        body: None,
        needs: "admin",
    },
    Probe {
        method: "POST",
        path: "/api/v1/tokens",
        body: Some(r#"{"role": "admin", "name": "sneaky"}"#),
        needs: "admin",
    },
    Probe {
        method: "DELETE",
        path: "/api/v1/tokens/ops",
        body: None,
        needs: "admin",
    },
    Probe {
        method: "POST",
        path: "/api/v1/nodes/elsewhere/cordon",
        body: None,
        needs: "admin",
    },
];

const ROLES: [&str; 3] = ["read", "operate", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

#[test]
fn every_route_class_refuses_a_missing_token_with_401_and_a_weaker_role_with_403_naming_the_role() {
    let daemon = Daemon::start();
    daemon.apply_a_stack();
    let tokens: Vec<(&str, String)> = ROLES
        .iter()
        .map(|role| (*role, daemon.token(role, &format!("{role}-bot"), &[])))
        .collect();
    let head = daemon.head();

    // /health answers without a token; nothing else does.
    let health = daemon.curl("GET", "/health", "", None);
    assert_eq!(health.status, 200, "{health:?}");
    for probe in PROBES {
        let refused = daemon.curl(probe.method, probe.path, "", probe.body);
        assert_eq!(
            (refused.status, refused.code()),
            (401, "unauthorized".to_string()),
            "{} {} without a token: {refused:?}",
            probe.method,
            probe.path
        );
        for (role, token) in &tokens {
            if rank(role) >= rank(probe.needs) {
                continue;
            }
            let refused = daemon.curl(probe.method, probe.path, token, probe.body);
            let error = &refused.json()["error"];
            assert_eq!(
                (
                    refused.status,
                    error["code"].as_str(),
                    error["role"].as_str()
                ),
                (403, Some("forbidden"), Some(probe.needs)),
                "{} {} with {role}: {refused:?}",
                probe.method,
                probe.path
            );
            let message = error["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("needs the `{}` role", probe.needs))
                    && message.contains(&format!("token `{role}-bot` has `{role}`")),
                "{message}"
            );
        }
    }
    // Nothing was changed by any refused request.
    assert_eq!(daemon.head(), head);
    let listed = daemon.local(&["token", "list", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["admin-bot", "operate-bot", "read-bot"]);

    // Each role passes its own class and those below it (the answer may be another error,
    // such as 404 for a node that is not there, but never 401 or 403).
    for probe in PROBES {
        for (role, token) in &tokens {
            if rank(role) < rank(probe.needs) || probe.method == "DELETE" {
                continue;
            }
            let body = if probe.path == "/api/v1/tokens" && probe.method == "POST" {
                Some(format!(r#"{{"role": "read", "name": "made-by-{role}"}}"#))
            } else {
                probe.body.map(str::to_string)
            };
            let answer = daemon.curl(probe.method, probe.path, token, body.as_deref());
            assert!(
                answer.status != 401 && answer.status != 403,
                "{} {} with {role}: {answer:?}",
                probe.method,
                probe.path
            );
        }
    }

    // The OpenAPI document says what each route needs.
    let doc = daemon
        .curl("GET", "/api/v1/openapi.json", &tokens[0].1, None)
        .json();
    let paths = &doc["paths"];
    assert_eq!(paths["/api/v1/stacks"]["get"]["x-orco-role"], "read");
    assert_eq!(paths["/api/v1/stacks"]["post"]["x-orco-role"], "operate");
    assert_eq!(
        paths["/api/v1/workloads/{id}/scale"]["patch"]["x-orco-role"],
        "operate"
    );
    assert_eq!(paths["/api/v1/tokens"]["post"]["x-orco-role"], "admin");
    assert_eq!(paths["/health"]["get"]["x-orco-role"], "none");

    // The CLI over TLS: a precise error and exit 1 for a role too weak, and no change.
    let (read, operate, admin) = (&tokens[0].1, &tokens[1].1, &tokens[2].1);
    let head = daemon.head();
    let scale = daemon.remote(read, &["scale", "web", "3", "--stack", "demo"]);
    assert_eq!(scale.status.code(), Some(1), "{}", describe(&scale));
    assert!(
        stderr(&scale).contains("needs the `operate` role; token `read-bot` has `read`"),
        "{}",
        describe(&scale)
    );
    let create = daemon.remote(operate, &["token", "create", "--role", "admin"]);
    assert_eq!(create.status.code(), Some(1), "{}", describe(&create));
    assert!(
        stderr(&create).contains("needs the `admin` role; token `operate-bot` has `operate`"),
        "{}",
        describe(&create)
    );
    assert!(create.stdout.is_empty(), "{}", describe(&create));
    let missing = daemon.remote("", &["status", "--stack", "demo"]);
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    assert!(
        stderr(&missing).contains("needs `Authorization: Bearer TOKEN`"),
        "{}",
        describe(&missing)
    );
    assert_eq!(daemon.head(), head);

    let status = daemon.remote(read, &["status", "--stack", "demo"]);
    assert!(status.status.success(), "{}", describe(&status));
    let scale = daemon.remote(operate, &["scale", "web", "3", "--stack", "demo"]);
    assert!(scale.status.success(), "{}", describe(&scale));
    let listed = daemon.remote(admin, &["token", "list"]);
    assert!(listed.status.success(), "{}", describe(&listed));
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("operate-bot") && l.contains("operate") && l.contains("valid")),
        "{table}"
    );

    // The unix socket is still admin.
    let local = daemon.local(&["token", "list", "-o", "json"]);
    assert!(local.status.success(), "{}", describe(&local));
}

#[test]
fn history_names_the_token_that_made_each_change_and_the_socket_for_local_ones() {
    let daemon = Daemon::start();
    daemon.apply_a_stack();
    let deployer = daemon.token("operate", "deployer", &[]);
    let scale = daemon.remote(&deployer, &["scale", "web", "2", "--stack", "demo"]);
    assert!(scale.status.success(), "{}", describe(&scale));
    // The daemon's --token-file token is an admin named `token-file`.
    let stop = daemon.remote(TOKEN_FILE_TOKEN, &["stop", "web", "--stack", "demo"]);
    assert!(stop.status.success(), "{}", describe(&stop));

    let history = daemon.remote(&deployer, &["history", "--stack", "demo", "web"]);
    assert!(history.status.success(), "{}", describe(&history));
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("scaled") && l.ends_with("(by deployer)")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.ends_with("(by token-file)")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.ends_with("(by socket)")), "{text}");
    // Tokens and who made each change survive a daemon killed and started again.
    let daemon = daemon.restart();
    let again = daemon.remote(&deployer, &["history", "--stack", "demo", "web"]);
    assert!(again.status.success(), "{}", describe(&again));
    assert_eq!(again.stdout, history.stdout);
    let json = daemon.local(&["history", "demo/web", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let by: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["by"].as_str())
        .collect();
    assert_eq!(by, ["socket", "deployer", "token-file"], "{json}");
    // Who made a token is kept with it.
    let listed = daemon.local(&["token", "list", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["items"][0]["created_by"], "socket", "{listed}");
}

#[test]
fn a_revoked_or_expired_token_is_refused_and_no_secret_reaches_the_log_or_an_answer() {
    let daemon = Daemon::start();
    daemon.apply_a_stack();
    let admin = daemon.token("admin", "root-ish", &[]);
    let brief = daemon.token("read", "brief", &["--ttl", "1s"]);
    let gone = daemon.token("operate", "gone", &[]);
    // Works until revoked.
    let before = daemon.curl("GET", "/api/v1/stacks", &gone, None);
    assert_eq!(before.status, 200, "{before:?}");
    let revoke = daemon.remote(&admin, &["token", "revoke", "gone"]);
    assert!(revoke.status.success(), "{}", describe(&revoke));
    assert_eq!(
        String::from_utf8_lossy(&revoke.stdout).trim(),
        "token gone revoked"
    );
    let refused = daemon.curl("GET", "/api/v1/stacks", &gone, None);
    assert_eq!(
        (refused.status, refused.code()),
        (401, "token_revoked".into())
    );
    let cli = daemon.remote(&gone, &["status", "--stack", "demo"]);
    assert_eq!(cli.status.code(), Some(1), "{}", describe(&cli));
    assert!(
        stderr(&cli).contains("token `gone` was revoked"),
        "{}",
        describe(&cli)
    );
    // A ttl of nothing, a role or a name that is not one, a name taken: precise errors, no
    // token made.
    let head = daemon.head();
    for (args, code, says) in [
        (
            &["--role", "read", "--ttl", "0s"][..],
            2,
            "a token's ttl is between 1 second",
        ),
        (
            &["--role", "root"][..],
            2,
            "`root` is not a role: read, operate or admin",
        ),
        (
            &["--role", "read", "--name", "Bad Name"][..],
            2,
            "`Bad Name` is not a token name",
        ),
        (
            &["--role", "read", "--name", "gone"][..],
            1,
            "a token named `gone` exists",
        ),
    ] {
        let mut line = vec!["token", "create"];
        line.extend(args);
        let out = daemon.remote(&admin, &line);
        assert_eq!(out.status.code(), Some(code), "{}", describe(&out));
        assert!(stderr(&out).contains(says), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
    }
    assert_eq!(daemon.head(), head);
    // Revoking what is not there is an error naming it.
    let unknown = daemon.remote(&admin, &["token", "revoke", "nobody"]);
    assert_ne!(unknown.status.code(), Some(0), "{}", describe(&unknown));
    assert!(
        stderr(&unknown).contains("no token named `nobody`"),
        "{}",
        describe(&unknown)
    );

    // A token past its ttl is refused (polled: it lives one second).
    let mut expired = None;
    for _ in 0..100 {
        let answer = daemon.curl("GET", "/api/v1/stacks", &brief, None);
        if answer.status == 401 {
            expired = Some(answer);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let expired = expired.expect("the token with a ttl of 1s never expired");
    assert_eq!(expired.code(), "token_expired", "{expired:?}");
    assert!(
        expired.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("token `brief` expired at"),
        "{expired:?}"
    );
    let listed = daemon.remote(&admin, &["token", "list", "-o", "json"]);
    assert!(listed.status.success(), "{}", describe(&listed));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let status = |name: &str| {
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status("brief").as_deref(), Some("expired"));
    assert_eq!(status("gone").as_deref(), Some("revoked"));
    assert_eq!(status("root-ish").as_deref(), Some("valid"));

    // No secret anywhere but in the answers that created them: not in the event store's
    // files, the token list, the events or the history.
    let secrets: Vec<String> = [&admin, &brief, &gone]
        .iter()
        .map(|t| t.rsplit('.').next().unwrap().to_string())
        .collect();
    let mut places = Vec::new();
    for entry in walk(&daemon.dir.path().join("data")) {
        places.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    for path in [
        "/api/v1/tokens",
        "/api/v1/events?follow=false",
        "/api/v1/history/token%2Fgone",
        "/api/v1/cluster",
    ] {
        let answer = daemon.curl("GET", path, &admin, None);
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        places.push((path.to_string(), answer.body.into_bytes()));
    }
    let events = daemon.curl("GET", "/api/v1/events?follow=false", &admin, None);
    assert!(events.body.contains("api_token_created"), "{events:?}");
    for (place, bytes) in &places {
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a token's secret is in {place}"
            );
        }
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn wrong_tokens_are_counted_in_metrics_and_their_address_is_refused_after_ten() {
    let daemon = Daemon::start();
    let reader = daemon.token("read", "reader", &[]);
    let mut wrong = reader.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    for _ in 0..10 {
        let refused = daemon.curl("GET", "/api/v1/stacks", &wrong, None);
        assert_eq!(refused.status, 401, "{refused:?}");
    }
    // The eleventh attempt from this address is refused whatever it carries.
    let throttled = daemon.curl("GET", "/api/v1/stacks", &reader, None);
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "too_many_failures".into()),
        "{throttled:?}"
    );
    let cli = daemon.remote(&reader, &["status"]);
    assert_eq!(cli.status.code(), Some(1), "{}", describe(&cli));
    assert!(
        stderr(&cli).contains("too many failed token attempts from 127.0.0.1"),
        "{}",
        describe(&cli)
    );
    // /health still answers, and the socket is not throttled.
    assert_eq!(daemon.curl("GET", "/health", "", None).status, 200);
    let metrics = daemon.curl_local("/metrics");
    assert_eq!(metrics.status, 200);
    let count = |reason: &str| {
        metrics
            .body
            .lines()
            .find(|l| {
                l.starts_with("orco_api_auth_failures_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(count("invalid"), Some(10), "{}", metrics.body);
    assert_eq!(count("throttled"), Some(2), "{}", metrics.body);
    assert_eq!(count("forbidden"), Some(0), "{}", metrics.body);
}

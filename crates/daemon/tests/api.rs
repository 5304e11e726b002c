//! The API against a real daemon (in process): a temp data dir, a real unix socket, the real
//! redb store. Engine events are appended to the store the way the engine appends them.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use orco_client::{Client, ClientError, Host, Trust};
use orco_daemon::{Config, Daemon, DaemonError};
use orco_state::{Event, EventKind, InstanceId};
use orco_store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Setup {
    daemon: Daemon,
    dir: tempfile::TempDir,
    client: Client,
}

fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.join("data"),
        socket: dir.join("run/orco.sock"),
        listen: None,
        tls_cert: None,
        tls_key: None,
        tls_names: Vec::new(),
        token_file: None,
        verify_store: false,
        // These tests append the engine's events themselves.
        engine: false,
        program: None,
        log_queue_lines: 8192,
        docker_scope: "orco-api-test".to_string(),
        max_concurrent_tasks: 0,
        server: None,
    }
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    let client = Client::new(Host::Unix(daemon.socket().to_path_buf()), None);
    Setup {
        daemon,
        dir,
        client,
    }
}

fn workdir() -> PathBuf {
    std::env::temp_dir()
}

/// A valid resolved stack, through the real loader.
fn stack(name: &str, web_replicas: u32) -> orco_spec::Stack {
    let text = format!(
        r#"
version: 0.1
stack: {{name: {name}}}
services:
  db:
    command: ["sleep", "1000"]
    health: {{tcp: {{host: 127.0.0.1, port: 5432}}}}
  web:
    command: "sleep 1000"
    replicas: {web_replicas}
    dependsOn: [{{target: db, require: ready}}]
"#
    );
    orco_spec::load_str(Path::new("t.yaml"), &text, &workdir())
        .unwrap()
        .stack
}

/// Appends what the engine would append for a started, ready instance. Pids are above
/// Linux's largest (2^22), so they can never name a real process.
async fn engine_runs(store: &dyn Store, instance: &str, pid: u32) {
    let instance: InstanceId = instance.parse().unwrap();
    let now = Timestamp::now();
    let events = vec![
        EventKind::InstanceCreated {
            instance: instance.clone(),
            node: None,
        },
        EventKind::InstanceStarting {
            instance: instance.clone(),
            attempt: 0,
            port: None,
            chosen: Vec::new(),
        },
        EventKind::InstanceStarted {
            instance: instance.clone(),
            pid: Some(pid),
            container: None,
        },
        EventKind::InstanceReady { instance },
    ];
    let events = events.into_iter().map(|k| Event::new(now, k)).collect();
    store.submit(events).unwrap().ack().await.unwrap();
}

/// One raw HTTP/1.1 request over the socket: (status, headers lowercased, body de-chunked).
async fn http(socket: &Path, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, headers, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

fn request(method: &str, path: &str, extra: &[(&str, &str)], body: &str) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Sends a bad request and checks it gets a 4xx JSON error with `code` and changes nothing.
async fn refused(
    s: &Setup,
    method: &str,
    path: &str,
    body: &str,
    status: u16,
    code: &str,
) -> Value {
    let head = s.daemon.store().head();
    let (got, headers, text) = http(s.daemon.socket(), &request(method, path, &[], body)).await;
    assert_eq!(got, status, "{method} {path}: {text}");
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json"),
        "{method} {path}: {headers:?}"
    );
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["error"]["code"], code, "{method} {path}: {text}");
    assert!(value["error"]["message"].as_str().unwrap().len() > 10);
    assert_eq!(
        s.daemon.store().head(),
        head,
        "{method} {path} changed the log"
    );
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_are_applied_listed_read_and_removed() {
    let s = start().await;
    let accepted = s.client.apply(&stack("demo", 2)).await.unwrap();
    assert_eq!((accepted.revision, accepted.events), (1, 1));
    // Applying the same stack again changes nothing.
    let again = s.client.apply(&stack("demo", 2)).await.unwrap();
    assert_eq!((again.revision, again.events), (1, 0));
    let list = s.client.stacks(None).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].services, vec!["db", "web"]);
    let detail = s.client.stack("demo", None).await.unwrap();
    assert_eq!(detail.spec["services"]["web"]["replicas"], 2);
    // PUT under the stack's name applies; a mismatched name is refused.
    let body = serde_json::to_string(&stack("demo", 3)).unwrap();
    let (status, _, text) = http(
        s.daemon.socket(),
        &request("PUT", "/api/v1/stacks/demo", &[], &body),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    refused(
        &s,
        "PUT",
        "/api/v1/stacks/other",
        &body,
        422,
        "name_mismatch",
    )
    .await;
    let removed = s.client.remove_stack("demo").await.unwrap();
    assert_eq!(removed.revision, 3);
    assert!(s.client.stacks(None).await.unwrap().items.is_empty());
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_are_created_scaled_stopped_started_and_deleted() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    let list = s.client.workloads(Some("demo"), None).await.unwrap();
    let names: Vec<_> = list.items.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(names, ["demo/db", "demo/web"]);
    assert_eq!(list.items[1].replicas, 2);

    s.client.scale("demo/web", 5).await.unwrap();
    s.client.workload_action("demo/db", "stop").await.unwrap();
    let web = s.client.workload("demo/web", None).await.unwrap();
    assert_eq!(web.workload.replicas, 5);
    assert_eq!(web.spec["command"], "sleep 1000");
    let db = s.client.workload("db", None).await.unwrap();
    assert_eq!(db.workload.state.as_str(), "stopped");

    // Adding a service keeps the other services' overrides.
    let service: orco_spec::Service =
        serde_json::from_value(json!({"command": ["sleep", "5"]})).unwrap();
    s.client
        .create_workload(&orco_api::model::WorkloadCreate {
            stack: "demo".into(),
            name: "worker".into(),
            service,
            workdir: None,
        })
        .await
        .unwrap();
    let list = s.client.workloads(Some("demo"), None).await.unwrap();
    let by_name = |n: &str| list.items.iter().find(|w| w.name == n).unwrap().clone();
    assert_eq!(by_name("worker").replicas, 1);
    assert_eq!(by_name("web").replicas, 5, "scale override kept");
    assert!(by_name("db").stopped, "stop kept");

    s.client.workload_action("demo/db", "start").await.unwrap();
    assert!(
        !s.client
            .workload("demo/db", None)
            .await
            .unwrap()
            .workload
            .stopped
    );

    // db is a dependency of web: deleting it would leave the stack invalid.
    let err = s.client.delete_workload("demo/db").await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_stack"));
    s.client.delete_workload("demo/worker").await.unwrap();
    assert!(
        s.client
            .workload("demo/worker", None)
            .await
            .unwrap_err()
            .code()
            == Some("workload_not_found")
    );
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_listed_read_and_restarted() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    // Restarting a workload with no instance yet is a conflict that changes nothing.
    let head = s.daemon.store().head();
    let err = s
        .client
        .workload_action("demo/web", "restart")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("no_instances"));
    assert_eq!(s.daemon.store().head(), head);

    engine_runs(s.daemon.store().as_ref(), "demo/web-0", 4_900_042).await;
    engine_runs(s.daemon.store().as_ref(), "demo/web-1", 4_900_043).await;
    let list = s
        .client
        .instances(Some("demo"), Some("web"), None)
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.items[0].pid, Some(4_900_042));
    assert!(list.items[0].ready);
    let one = s.client.instance("demo/web-1", None).await.unwrap();
    assert_eq!(
        (one.name.as_str(), one.phase.as_str()),
        ("web-1", "running")
    );
    let web = s.client.workload("demo/web", None).await.unwrap();
    assert_eq!(
        (web.workload.state.as_str(), web.workload.ready),
        ("running", 2)
    );

    s.client.restart_instance("demo/web-0").await.unwrap();
    // A service restart rolls: one event, a new revision that replaces every instance.
    let accepted = s.client.restart_workload("demo/web", false).await.unwrap();
    assert_eq!(accepted.events, 1);
    let one = s.client.instance("web-0", None).await.unwrap();
    assert_eq!(one.restart_requests, 1);
    // `all` restarts every instance at once: one request each.
    let accepted = s.client.restart_workload("demo/web", true).await.unwrap();
    assert_eq!(accepted.events, 2);
    let one = s.client.instance("web-0", None).await.unwrap();
    assert_eq!(one.restart_requests, 2);
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_a_past_revision_or_time_show_the_past() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    let between = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    s.client.scale("demo/web", 7).await.unwrap();
    let now = s.client.workload("demo/web", None).await.unwrap();
    assert_eq!(now.workload.replicas, 7);
    let past = s.client.workload("demo/web", Some("rev:1")).await.unwrap();
    assert_eq!((past.revision, past.workload.replicas), (1, 2));
    let past = s
        .client
        .workloads(Some("demo"), Some(&between.to_string()))
        .await
        .unwrap();
    assert_eq!(past.items[1].replicas, 2);
    let before = s.client.stacks(Some("0")).await.unwrap();
    assert!(before.items.is_empty());
    let ago = s.client.stacks(Some("1h")).await.unwrap();
    assert_eq!(ago.revision, 0);
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_the_transitions_of_one_object() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    s.client.apply(&stack("other", 1)).await.unwrap();
    s.client.scale("demo/web", 3).await.unwrap();
    engine_runs(s.daemon.store().as_ref(), "demo/web-0", 4_900_010).await;
    let history = s.client.history("demo/web-0", None).await.unwrap();
    let kinds: Vec<_> = history.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "instance_created",
            "instance_starting",
            "instance_started",
            "instance_ready"
        ]
    );
    let web = s.client.history("demo/web", None).await.unwrap();
    let kinds: Vec<_> = web.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds[..2], ["stack_applied", "scale_changed"]);
    assert!(web.items.iter().all(|e| e.object.starts_with("demo")));
    let upto = s.client.history("demo/web", Some("rev:2")).await.unwrap();
    assert_eq!(upto.items.len(), 1);
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_from_a_revision_and_resume_from_the_last_event_id() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    s.client.scale("demo/web", 3).await.unwrap();
    s.client.scale("demo/web", 4).await.unwrap();
    let mut stream = s.client.events(1, false, &[]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(m) = stream.next().await.unwrap() {
        seen.push((m.event.clone(), m.id.clone()));
        if m.event == "end" {
            assert_eq!(m.data, r#"{"revision":3}"#);
        }
    }
    assert_eq!(
        seen,
        [
            ("event".to_string(), Some("2".to_string())),
            ("event".into(), Some("3".into())),
            ("end".into(), None)
        ]
    );
    // The standard resume header wins over `after`.
    let (status, headers, body) = http(
        s.daemon.socket(),
        &request(
            "GET",
            "/api/v1/events?after=0&follow=false",
            &[("Last-Event-ID", "2")],
            "",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(body.contains("id: 3"), "{body}");
    assert!(!body.contains("id: 2"), "{body}");
    // A follower sees an event appended after it subscribed.
    let mut follow = s.client.events(3, true, &[]).await.unwrap();
    s.client.scale("demo/web", 9).await.unwrap();
    let m = follow.next().await.unwrap().unwrap();
    assert_eq!(m.id.as_deref(), Some("4"));
    let view: orco_api::model::EventView = serde_json::from_str(&m.data).unwrap();
    assert_eq!(view.summary, "demo/web scaled to 9");
    drop(follow);
    refused(
        &s,
        "GET",
        "/api/v1/events?after=99",
        "",
        400,
        "future_revision",
    )
    .await;
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_stream_can_be_narrowed_to_some_kinds_and_an_unknown_kind_is_refused() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    s.client.scale("demo/web", 3).await.unwrap();
    s.client.scale("demo/web", 4).await.unwrap();
    let mut stream = s.client.events(0, false, &["scale_changed"]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(m) = stream.next().await.unwrap() {
        if m.event == "event" {
            let view: orco_api::model::EventView = serde_json::from_str(&m.data).unwrap();
            seen.push((view.revision, view.kind.to_string()));
        } else {
            seen.push((0, m.event));
        }
    }
    assert_eq!(
        seen,
        [
            (2, "scale_changed".to_string()),
            (3, "scale_changed".into()),
            (0, "end".into())
        ]
    );
    let (status, _, body) = http(
        s.daemon.socket(),
        &request(
            "GET",
            "/api/v1/events?follow=false&kinds=job_finshed",
            &[],
            "",
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "invalid_query");
    assert_eq!(body["error"]["field"], "kinds");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown event kind `job_finshed`"),
        "{body}"
    );
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_health_and_cluster_describe_the_daemon() {
    let s = start().await;
    let nodes = s.client.nodes(None).await.unwrap();
    assert_eq!(nodes.items.len(), 1);
    let node = &nodes.items[0];
    assert!(node.cpus >= 1);
    assert!(node.memory_bytes > node.memory_available_bytes / 2 && node.memory_bytes > 0);
    assert_eq!(s.client.node(&node.name).await.unwrap().name, node.name);
    let err = s.client.node("no-such-node").await.unwrap_err();
    assert_eq!(err.code(), Some("node_not_found"));
    let (status, _, body) = http(s.daemon.socket(), &request("GET", "/health", &[], "")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "healthy"})
    );
    let info = s.client.cluster(None).await.unwrap();
    assert_eq!(
        (info.mode.as_str(), info.engine, info.nodes),
        ("single-node", false, 1)
    );
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_and_change_nothing() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    let good = serde_json::to_value(stack("demo", 2)).unwrap();

    refused(
        &s,
        "POST",
        "/api/v1/stacks",
        "{not json",
        400,
        "malformed_json",
    )
    .await;
    refused(&s, "POST", "/api/v1/stacks", "", 400, "malformed_json").await;
    let mut wrong_type = good.clone();
    wrong_type["services"]["web"]["replicas"] = json!("three");
    let e = refused(
        &s,
        "POST",
        "/api/v1/stacks",
        &wrong_type.to_string(),
        422,
        "invalid_field",
    )
    .await;
    assert_eq!(e["error"]["field"], "services.web.replicas");
    let mut unknown = good.clone();
    unknown["services"]["web"]["replica"] = json!(3);
    let e = refused(
        &s,
        "POST",
        "/api/v1/stacks",
        &unknown.to_string(),
        422,
        "invalid_field",
    )
    .await;
    assert_eq!(e["error"]["field"], "services.web.replica");
    assert!(e["error"]["message"].as_str().unwrap().contains("replica"));
    let mut dangling = good.clone();
    dangling["services"]["web"]["dependsOn"][0]["target"] = json!("nope");
    let e = refused(
        &s,
        "POST",
        "/api/v1/stacks",
        &dangling.to_string(),
        422,
        "invalid_stack",
    )
    .await;
    assert_eq!(e["error"]["field"], "services.web.dependsOn[0].target");
    let mut bad_name = good.clone();
    bad_name["stack"]["name"] = json!("Bad Name");
    let e = refused(
        &s,
        "POST",
        "/api/v1/stacks",
        &bad_name.to_string(),
        422,
        "invalid_stack",
    )
    .await;
    assert_eq!(e["error"]["field"], "stack.name");
    let mut relative = good.clone();
    relative["stack"]["workdir"] = json!("relative/dir");
    refused(
        &s,
        "POST",
        "/api/v1/stacks",
        &relative.to_string(),
        422,
        "invalid_stack",
    )
    .await;
    // An oversized body is refused from its Content-Length, before it is read (the body is
    // not sent: a peer that closes with unread data would reset the connection).
    let head = s.daemon.store().head();
    let oversized = format!(
        "POST /api/v1/stacks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        orco_api::router::BODY_LIMIT + 1
    );
    let (status, headers, body) = http(s.daemon.socket(), &oversized).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
    assert_eq!(s.daemon.store().head(), head);

    refused(
        &s,
        "PATCH",
        "/api/v1/workloads/demo%2Fweb/scale",
        r#"{"replicas": -1}"#,
        422,
        "invalid_field",
    )
    .await;
    refused(
        &s,
        "PATCH",
        "/api/v1/workloads/demo%2Fweb/scale",
        r#"{"replicas": 2, "x": 1}"#,
        422,
        "invalid_field",
    )
    .await;
    refused(
        &s,
        "PATCH",
        "/api/v1/workloads/demo%2Fnope/scale",
        r#"{"replicas": 2}"#,
        404,
        "workload_not_found",
    )
    .await;
    refused(
        &s,
        "PATCH",
        "/api/v1/workloads/nope%2Fweb/scale",
        r#"{"replicas": 2}"#,
        404,
        "workload_not_found",
    )
    .await;
    refused(
        &s,
        "DELETE",
        "/api/v1/stacks/nope",
        "",
        404,
        "stack_not_found",
    )
    .await;
    refused(&s, "GET", "/api/v1/stacks/nope", "", 404, "stack_not_found").await;
    refused(
        &s,
        "POST",
        "/api/v1/instances/demo%2Fweb-7/restart",
        "",
        404,
        "instance_not_found",
    )
    .await;
    refused(
        &s,
        "POST",
        "/api/v1/instances/demo%2Fweb/restart",
        "",
        400,
        "invalid_id",
    )
    .await;
    refused(
        &s,
        "DELETE",
        "/api/v1/workloads/demo%2Fnope",
        "",
        404,
        "workload_not_found",
    )
    .await;
    refused(
        &s,
        "POST",
        "/api/v1/workloads",
        r#"{"stack": "demo"}"#,
        422,
        "invalid_field",
    )
    .await;
    refused(
        &s,
        "GET",
        "/api/v1/stacks?at=yesterday-ish",
        "",
        400,
        "invalid_at",
    )
    .await;
    refused(
        &s,
        "GET",
        "/api/v1/stacks?at=rev:99",
        "",
        400,
        "future_revision",
    )
    .await;
    refused(
        &s,
        "GET",
        "/api/v1/stacks?bogus=1",
        "",
        400,
        "invalid_query",
    )
    .await;
    refused(&s, "GET", "/api/v1/nowhere", "", 404, "not_found").await;
    refused(
        &s,
        "DELETE",
        "/api/v1/stacks",
        "",
        405,
        "method_not_allowed",
    )
    .await;
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_exchanged_and_an_incompatible_client_is_told_what_to_upgrade() {
    let s = start().await;
    let (status, headers, _) = http(s.daemon.socket(), &request("GET", "/health", &[], "")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "orco-version"), Some(orco_api::VERSION));
    let (status, headers, body) = http(
        s.daemon.socket(),
        &request("GET", "/api/v1/stacks", &[("Orco-Version", "99.0.0")], ""),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(header(&headers, "orco-version"), Some(orco_api::VERSION));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "incompatible_version");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upgrade the daemon")
    );
    let head = s.daemon.store().head();
    let body = serde_json::to_string(&stack("demo", 1)).unwrap();
    let (status, _, _) = http(
        s.daemon.socket(),
        &request(
            "POST",
            "/api/v1/stacks",
            &[("Orco-Version", "0.0.1")],
            &body,
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(s.daemon.store().head(), head);
    s.daemon.shutdown().await;
}

/// Parses Prometheus/OpenMetrics text: every sample line is `name{labels} value`, every
/// family has TYPE and HELP, and the text ends with `# EOF`. Returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    let mut typed = std::collections::BTreeSet::new();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.pop(), Some("# EOF"), "text must end with # EOF");
    for line in lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "unknown"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').unwrap();
                assert!(
                    !k.is_empty() && v.starts_with('"') && v.ends_with('"'),
                    "{line}"
                );
            }
        }
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "sample {name} has no TYPE"
        );
        samples.push((series.to_string(), value));
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_what_the_log_holds() {
    let s = start().await;
    s.client.apply(&stack("demo", 2)).await.unwrap();
    engine_runs(s.daemon.store().as_ref(), "demo/web-0", 4_900_001).await;
    engine_runs(s.daemon.store().as_ref(), "demo/web-1", 4_900_002).await;
    let text = s.client.get_text("/metrics").await.unwrap();
    let samples = parse_prometheus(&text);
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(r#"orco_instances{phase="running"}"#), 2.0);
    assert_eq!(value(r#"orco_instances{phase="failed"}"#), 0.0);
    assert_eq!(value("orco_store_head_revision"), 9.0);
    assert_eq!(value("orco_events_appended_total"), 9.0);
    assert_eq!(value("orco_instance_restarts"), 0.0);
    assert!(
        samples.iter().any(
            |(s, _)| s.starts_with("orco_api_request_duration_seconds_bucket")
                && s.contains(r#"route="/api/v1/stacks""#)
        ),
        "{text}"
    );
    s.daemon.shutdown().await;
}

/// Every route the router serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/api/v1/cluster"),
    ("get", "/api/v1/cluster/members"),
    ("get", "/api/v1/stacks"),
    ("post", "/api/v1/stacks"),
    ("post", "/api/v1/placements"),
    ("get", "/api/v1/stacks/{name}"),
    ("put", "/api/v1/stacks/{name}"),
    ("delete", "/api/v1/stacks/{name}"),
    ("get", "/api/v1/workloads"),
    ("post", "/api/v1/workloads"),
    ("get", "/api/v1/workloads/{id}"),
    ("delete", "/api/v1/workloads/{id}"),
    ("patch", "/api/v1/workloads/{id}/scale"),
    ("post", "/api/v1/workloads/{id}/restart"),
    ("get", "/api/v1/workloads/{id}/rollout"),
    ("post", "/api/v1/workloads/{id}/rollback"),
    ("post", "/api/v1/workloads/{id}/stop"),
    ("post", "/api/v1/workloads/{id}/start"),
    ("get", "/api/v1/instances"),
    ("get", "/api/v1/instances/{id}"),
    ("post", "/api/v1/instances/{id}/restart"),
    ("get", "/api/v1/instances/{id}/logs"),
    ("get", "/api/v1/logs"),
    ("post", "/api/v1/stacks/{name}/stop"),
    ("get", "/api/v1/nodes"),
    ("get", "/api/v1/nodes/{name}"),
    ("delete", "/api/v1/nodes/{name}"),
    ("post", "/api/v1/nodes/{name}/cordon"),
    ("post", "/api/v1/nodes/{name}/uncordon"),
    ("post", "/api/v1/nodes/{name}/drain"),
    ("post", "/api/v1/nodes/{name}/labels"),
    ("post", "/api/v1/nodes/{name}/taints"),
    ("post", "/api/v1/node/certificate"),
    ("get", "/api/v1/node/stream"),
    ("post", "/api/v1/cluster/join"),
    ("get", "/api/v1/cluster/tokens"),
    ("post", "/api/v1/cluster/tokens"),
    ("delete", "/api/v1/cluster/tokens/{id}"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{name}"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/history/{object}"),
    ("get", "/api/v1/jobs"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("post", "/api/v1/jobs/{id}/retry"),
    ("post", "/api/v1/jobs/{id}/tasks/{task}/progress"),
];

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap().to_string());
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_parses_and_lists_every_route() {
    let s = start().await;
    let doc: Value = s.client.get("/api/v1/openapi.json").await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let mut listed = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                listed.push((method.clone(), path.clone()));
                let op = &item[method];
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
            }
        }
    }
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);
    // Every reference resolves.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling {r}"
        );
    }
    // Every listed route is served: a request to it is not a routing 404 or 405.
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{name}", "demo")
            .replace("{id}", "demo%2Fweb")
            .replace("{object}", "demo");
        let path = if *method == "get" && concrete.ends_with("/events") {
            format!("{concrete}?follow=false")
        } else {
            concrete
        };
        let (status, _, body) = http(
            s.daemon.socket(),
            &request(&method.to_ascii_uppercase(), &path, &[], ""),
        )
        .await;
        let code = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(String::from));
        assert!(
            !matches!(code.as_deref(), Some("not_found" | "method_not_allowed")),
            "{method} {path} is not routed: {status} {body}"
        );
    }
    let (status, _, page) =
        http(s.daemon.socket(), &request("GET", "/api/v1/docs/", &[], "")).await;
    assert_eq!(status, 200);
    assert!(page.contains("swagger"), "{page}");
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_0600_and_the_data_dir_is_private() {
    let s = start().await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(s.daemon.socket()), 0o600);
    let data = s.dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("store")), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(data.join("store")).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 1);
    assert_eq!(mode(&data.join("daemon.lock")), 0o600);
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let s = start().await;
    let mut second = config(s.dir.path());
    second.socket = s.dir.path().join("other.sock");
    let err = Daemon::start(second).await.unwrap_err();
    assert!(
        matches!(err, DaemonError::Locked { pid: Some(_), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("another orco daemon"), "{err}");
    // And a second daemon on another data dir but the same socket is refused too.
    let other = tempfile::tempdir().unwrap();
    let mut same_socket = config(other.path());
    same_socket.socket = s.daemon.socket().to_path_buf();
    let err = Daemon::start(same_socket).await.unwrap_err();
    assert!(matches!(err, DaemonError::SocketInUse { .. }), "{err}");
    // The first one still answers.
    assert_eq!(s.client.health().await.unwrap().status.as_str(), "healthy");
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    let client = Client::new(Host::Unix(daemon.socket().to_path_buf()), None);
    client.apply(&stack("demo", 2)).await.unwrap();
    client.scale("demo/web", 4).await.unwrap();
    daemon.shutdown().await;
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    let daemon = Daemon::start(config(dir.path())).await.unwrap();
    let web = client.workload("demo/web", None).await.unwrap();
    assert_eq!((web.revision, web.workload.replicas), (2, 4));
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tcp_listener_needs_a_token_and_rejects_requests_without_it_but_health() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.listen = Some("127.0.0.1:0".parse().unwrap());
    let err = Daemon::start(cfg.clone()).await.unwrap_err();
    assert!(err.to_string().contains("--token-file"), "{err}");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "short\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    cfg.token_file = Some(token_file.clone());
    let err = Daemon::start(cfg.clone()).await.unwrap_err();
    assert!(err.to_string().contains("shorter than 16"), "{err}");

    // A token others may read is refused, with the command that fixes it.
    let token = "0123456789abcdef0123456789abcdef";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Daemon::start(cfg.clone()).await.unwrap_err().to_string();
    assert!(
        err.contains("is readable by others (mode 0644): chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let daemon = Daemon::start(cfg).await.unwrap();
    let addr = daemon.tcp_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let host = Host::Tcp(addr.to_string());
    let trust = Trust::Pin(daemon.ca_pin());
    let anonymous = Client::new(host.clone(), None)
        .with_trust(trust.clone())
        .unwrap();
    // Liveness answers without the token; nothing else does.
    assert_eq!(anonymous.health().await.unwrap().status.as_str(), "healthy");
    let err = anonymous.stacks(None).await.unwrap_err();
    match &err {
        ClientError::Api { status, error } => {
            assert_eq!((*status, error.code.as_str()), (401, "unauthorized"));
        }
        other => panic!("expected 401, got {other}"),
    }
    let head = daemon.store().head();
    let err = anonymous.apply(&stack("demo", 1)).await.unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"));
    assert_eq!(daemon.store().head(), head);
    let wrong = Client::new(
        host.clone(),
        Some("0123456789abcdef0123456789abcdeX".into()),
    )
    .with_trust(trust.clone())
    .unwrap();
    assert_eq!(
        wrong.stacks(None).await.unwrap_err().code(),
        Some("unauthorized")
    );
    let good = Client::new(host, Some(token.into()))
        .with_trust(trust)
        .unwrap();
    assert_eq!(good.health().await.unwrap().status.as_str(), "healthy");
    good.apply(&stack("demo", 1)).await.unwrap();
    // The unix socket needs no token.
    let local = Client::new(Host::Unix(daemon.socket().to_path_buf()), None);
    assert_eq!(local.stacks(None).await.unwrap().items.len(), 1);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_live_side_by_side() {
    let s = start().await;
    s.client.apply(&stack("alpha", 1)).await.unwrap();
    s.client.apply(&stack("beta", 3)).await.unwrap();
    let all = s.client.workloads(None, None).await.unwrap();
    assert_eq!(all.items.len(), 4);
    let beta = s.client.workloads(Some("beta"), None).await.unwrap();
    assert_eq!(beta.items[1].replicas, 3);
    // A bare name that both stacks have is ambiguous; qualified names are not.
    let err = s.client.workload("web", None).await.unwrap_err();
    assert_eq!(err.code(), Some("ambiguous_name"));
    s.client.remove_stack("alpha").await.unwrap();
    assert_eq!(
        s.client.workload("web", None).await.unwrap().workload.id,
        "beta/web"
    );
    s.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_program_that_cannot_start_is_a_keeper_error_naming_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.engine = true;
    config.program = Some(dir.path().join("no-such-orco"));
    let err = Daemon::start(config).await.unwrap_err();
    assert!(matches!(err, DaemonError::Keeper(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("cannot reach the node keeper: "), "{text}");
    assert!(text.contains("no-such-orco"), "{text}");
}

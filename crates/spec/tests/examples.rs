//! Every example stack under `examples/` validates, and resolves to what its comments promise.

use std::path::{Path, PathBuf};

use orco_spec::{
    Command, Health, OnFailure, ProbeKind, Protocol, ProxyMode, Require, RestartMode, Stack,
    UpdateStrategy,
};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every `examples/*/stack.yaml`, by example name.
fn example_files() -> Vec<(String, PathBuf)> {
    let dir = examples_dir();
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.join("stack.yaml").is_file())
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, p.join("stack.yaml"))
        })
        .collect();
    out.sort();
    out
}

/// Loads `examples/NAME/stack.yaml`, failing with the loader's report.
fn load(name: &str) -> Stack {
    let path = examples_dir().join(name).join("stack.yaml");
    match orco_spec::load_file(&path) {
        Ok(loaded) => loaded.stack,
        Err(report) => panic!("examples/{name}/stack.yaml does not validate:\n{report}"),
    }
}

/// The start layers, each sorted by name.
fn layers(stack: &Stack) -> Vec<Vec<String>> {
    let mut layers = orco_spec::graph(stack)
        .layers()
        .expect("an example has no cycle");
    for layer in &mut layers {
        layer.sort();
    }
    layers
}

/// The start layers of one job's tasks, each sorted by name.
fn task_layers(stack: &Stack, job: &str) -> Vec<Vec<String>> {
    let mut g = orco_dag::Graph::new();
    for (name, task) in &stack.jobs[job].tasks {
        g.add_node(name.clone());
        for d in &task.depends_on {
            g.add_edge(name.clone(), d.target.clone());
        }
    }
    let mut layers = g.layers().expect("tasks without a cycle");
    for layer in &mut layers {
        layer.sort();
    }
    layers
}

fn names(layers: &[&[&str]]) -> Vec<Vec<String>> {
    layers
        .iter()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn health<'s>(stack: &'s Stack, service: &str) -> &'s Health {
    stack.services[service]
        .health
        .as_ref()
        .unwrap_or_else(|| panic!("`{service}` has health"))
}

#[test]
fn every_example_stack_validates_without_errors_or_warnings() {
    let files = example_files();
    let found: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["seed", "web-db-worker", "migrate-then-api", "replicated"] {
        assert!(
            found.contains(&expected),
            "examples/{expected}/stack.yaml is missing"
        );
    }
    let mut problems = Vec::new();
    for (name, path) in &files {
        match orco_spec::load_file(path) {
            Ok(loaded) if loaded.warnings.diagnostics.is_empty() => {}
            Ok(loaded) => problems.push(format!("examples/{name}: {}", loaded.warnings)),
            Err(report) => problems.push(format!("examples/{name}:\n{report}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_seed_example_starts_db_then_api_then_web() {
    let stack = load("seed");
    assert_eq!(layers(&stack), names(&[&["db"], &["api"], &["web"]]));
    let api = &stack.services["api"];
    assert_eq!(api.replicas, 2);
    assert_eq!(api.restart_policy.max_retries, 10);
    assert_eq!(api.restart_policy.backoff.max.to_string(), "20s");
    // From `defaults`, key by key under the service's own keys.
    assert_eq!(health(&stack, "api").grace_period.to_string(), "5s");
}

#[test]
fn web_db_worker_starts_db_then_worker_then_web_with_probes_of_four_kinds() {
    let stack = load("web-db-worker");
    assert_eq!(layers(&stack), names(&[&["db"], &["worker"], &["web"]]));
    assert_eq!(
        health(&stack, "db").probes(),
        [ProbeKind::Tcp, ProbeKind::Log]
    );
    assert_eq!(health(&stack, "worker").probes(), [ProbeKind::Log]);
    assert_eq!(
        health(&stack, "web").probes(),
        [ProbeKind::Http, ProbeKind::Cmd]
    );
    let web = health(&stack, "web");
    assert_eq!(
        web.expression.as_ref().map(ToString::to_string).as_deref(),
        Some("http || cmd")
    );
    assert_eq!(web.on_failure, OnFailure::Restart);
    assert_eq!(web.success_threshold, 2);

    let db = &stack.services["db"];
    let worker = &stack.services["worker"];
    // `defaults` merged key by key: db keeps its own mode, takes the rest of the defaults.
    assert_eq!(db.restart_policy.mode, RestartMode::Always);
    assert_eq!(db.restart_policy.backoff.min.to_string(), "500ms");
    assert_eq!(worker.restart_policy.mode, RestartMode::OnFailure);
    assert_eq!(worker.stop.signal, "SIGINT");
    assert_eq!(worker.stop.timeout.to_string(), "5s");
    assert_eq!(health(&stack, "worker").grace_period.to_string(), "2s");
    assert_eq!(worker.env_from_file, [PathBuf::from("./worker.env")]);

    let web_deps = &stack.services["web"].depends_on;
    assert_eq!(web_deps[1].target, "worker");
    assert_eq!(web_deps[1].require, Require::Started);
    assert!(web_deps[1].restart);
}

#[test]
fn migrate_then_api_starts_the_api_only_after_the_migration_job_succeeded() {
    let stack = load("migrate-then-api");
    assert_eq!(
        layers(&stack),
        names(&[&["db"], &["compact", "migrate"], &["api"]])
    );
    let api = &stack.services["api"].depends_on;
    assert_eq!(
        (api[0].target.as_str(), api[0].require),
        ("migrate", Require::Succeeded)
    );
    // Not written: `ready`, because db is a service.
    assert_eq!(
        (api[1].target.as_str(), api[1].require),
        ("db", Require::Ready)
    );

    let migrate = &stack.jobs["migrate"];
    assert_eq!(migrate.depends_on[0].require, Require::Ready);
    assert_eq!((migrate.priority, migrate.parallelism), (10, 2));
    assert_eq!(
        task_layers(&stack, "migrate"),
        names(&[
            &["create-schema"],
            &["add-indexes", "seed-data"],
            &["verify"]
        ])
    );
    let create = &migrate.tasks["create-schema"];
    assert_eq!(create.retry.max_retries, 3);
    assert_eq!(create.retry.backoff.max.to_string(), "8s");
    assert_eq!(
        create.timeout.map(|t| t.to_string()).as_deref(),
        Some("30s")
    );
    assert_eq!(migrate.tasks["verify"].retry.max_retries, 0);

    let compact = &stack.jobs["compact"];
    assert!(compact.continue_on_failure);
    let schedule = compact.schedule.as_ref().expect("compact is scheduled");
    assert_eq!(
        (schedule.cron.as_str(), schedule.timezone.as_str()),
        ("30 3 * * *", "UTC")
    );
    let log_result = &compact.tasks["log-result"].depends_on;
    assert!(log_result.iter().all(|d| d.require == Require::Completed));
}

#[test]
fn replicated_runs_three_web_instances_behind_the_proxy_with_a_rolling_update() {
    let stack = load("replicated");
    assert_eq!(
        layers(&stack),
        names(&[&["admin", "spare", "web"], &["loadgen"]])
    );
    let web = &stack.services["web"];
    assert_eq!(web.replicas, 3);
    assert_eq!(web.proxy, ProxyMode::Auto);
    let port = web.ports[0];
    assert_eq!(
        (
            port.ip.map(|ip| ip.to_string()),
            port.published,
            port.target,
            port.protocol
        ),
        (Some("127.0.0.1".to_string()), 18090, 18090, Protocol::Tcp)
    );
    assert_eq!(web.update.strategy, UpdateStrategy::Rolling);
    assert_eq!((web.update.max_unavailable, web.update.max_surge), (1, 1));
    assert_eq!(web.restart_policy.max_retries, 0);
    assert_eq!(web.stop.signal, "SIGINT");
    let probes = health(&stack, "web");
    assert_eq!(probes.failure_threshold, 2);
    assert_eq!(probes.timeout.to_string(), "500ms");

    let admin = &stack.services["admin"];
    assert_eq!(admin.proxy, ProxyMode::Never);
    assert_eq!(admin.update.strategy, UpdateStrategy::Recreate);
    assert_eq!(stack.services["spare"].replicas, 0);
    assert_eq!(
        stack.services["loadgen"].depends_on[0].require,
        Require::Ready
    );
}

/// Programs the examples may start: all are on a plain Debian machine (coreutils, grep, python3).
const DEBIAN_PROGRAMS: &[&str] = &[
    "sh", "python3", "sleep", "echo", "printf", "test", "grep", "du", "rm", "mkdir", "cat", "true",
];

/// The one image an example's container may run: the local test image.
const LOCAL_IMAGE: &str = "orco-test/busybox:1";

#[test]
fn the_examples_other_than_the_seed_run_only_programs_of_a_plain_debian_machine() {
    let mut problems = Vec::new();
    let mut check = |example: &str, what: String, command: &Command| {
        let program = command.argv()[0].clone();
        let ok = program == "/bin/sh" || DEBIAN_PROGRAMS.contains(&program.as_str());
        if !ok {
            problems.push(format!("examples/{example}: {what} runs `{program}`"));
        }
    };
    for (example, _) in example_files().iter().filter(|(n, _)| n != "seed") {
        let stack = load(example);
        for (name, service) in &stack.services {
            // A container runs the local test image (scripts/test.sh builds it from
            // busybox-static), whose programs are busybox's.
            if let Some(image) = &service.image {
                assert_eq!(
                    image, LOCAL_IMAGE,
                    "examples/{example}: `{name}` runs an image this machine cannot pull"
                );
                continue;
            }
            if let Some(c) = &service.command {
                check(example, format!("service `{name}`"), c);
            }
            if let Some(cmd) = service.health.as_ref().and_then(|h| h.cmd.as_ref()) {
                check(example, format!("the cmd probe of `{name}`"), &cmd.command);
            }
        }
        for (job, j) in &stack.jobs {
            for (task, t) in &j.tasks {
                check(example, format!("task `{job}/{task}`"), &t.command);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

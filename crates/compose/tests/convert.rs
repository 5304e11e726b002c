#![allow(clippy::unwrap_used)]
//! The conversion of compose keys into the stack model, one behaviour per test.

mod common;

use std::path::Path;
use std::time::Duration as StdDuration;

use common::{convert_in, errors, ok, warnings};
use orco_spec::{Command, Require, RestartMode, RuntimeKind};

#[test]
fn a_service_becomes_a_docker_service_of_its_image() {
    let c = ok("services:\n  web:\n    image: nginx:1.25\n");
    let web = &c.loaded.stack.services["web"];
    assert_eq!(web.runtime, RuntimeKind::Docker);
    assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(c.loaded.stack.stack.name, "demo");
    assert!(warnings(&c).is_empty(), "{:?}", warnings(&c));
}

#[test]
fn a_short_depends_on_waits_for_the_target_to_start() {
    let c = ok("services:\n  db:\n    image: pg\n  api:\n    image: api\n    depends_on: [db]\n");
    let dep = &c.loaded.stack.services["api"].depends_on[0];
    assert_eq!(dep.target, "db");
    assert_eq!(dep.require, Require::Started);
}

#[test]
fn each_long_depends_on_condition_becomes_its_require() {
    let c = ok(concat!(
        "services:\n",
        "  db:\n    image: pg\n    healthcheck: {test: [\"CMD\", \"pg_isready\"]}\n",
        "  migrate:\n    image: m\n",
        "  cache:\n    image: r\n",
        "  api:\n    image: api\n    depends_on:\n",
        "      db: {condition: service_healthy, restart: true}\n",
        "      migrate: {condition: service_completed_successfully}\n",
        "      cache: {condition: service_started}\n",
    ));
    let deps = &c.loaded.stack.services["api"].depends_on;
    let find = |t: &str| deps.iter().find(|d| d.target == t).unwrap();
    assert_eq!(find("db").require, Require::Ready);
    assert!(find("db").restart);
    assert_eq!(find("migrate").require, Require::Succeeded);
    assert_eq!(find("cache").require, Require::Started);
}

#[test]
fn a_healthcheck_becomes_a_cmd_probe_with_its_timings() {
    let c = ok(concat!(
        "services:\n  db:\n    image: pg\n    healthcheck:\n",
        "      test: [\"CMD\", \"pg_isready\", \"-q\"]\n",
        "      interval: 5s\n      timeout: 2s\n      retries: 7\n      start_period: 1m30s\n",
    ));
    let health = c.loaded.stack.services["db"].health.clone().unwrap();
    let cmd = health.cmd.unwrap();
    assert_eq!(
        cmd.command,
        Command::Exec(vec!["pg_isready".into(), "-q".into()])
    );
    assert_eq!(health.interval.get(), StdDuration::from_secs(5));
    assert_eq!(health.timeout.get(), StdDuration::from_secs(2));
    assert_eq!(health.failure_threshold, 7);
    assert_eq!(health.grace_period.get(), StdDuration::from_secs(90));
}

#[test]
fn a_healthcheck_without_timings_takes_compose_defaults() {
    let c = ok("services:\n  db:\n    image: pg\n    healthcheck:\n      test: pg_isready\n");
    let health = c.loaded.stack.services["db"].health.clone().unwrap();
    assert_eq!(
        health.cmd.unwrap().command,
        Command::Shell("pg_isready".into())
    );
    assert_eq!(health.interval.get(), StdDuration::from_secs(30));
    assert_eq!(health.timeout.get(), StdDuration::from_secs(30));
    assert_eq!(health.failure_threshold, 3);
}

#[test]
fn a_cmd_shell_healthcheck_keeps_its_shell_string_with_double_dollars_unescaped() {
    let c = ok(concat!(
        "services:\n  db:\n    image: m\n    healthcheck:\n",
        "      test: ['CMD-SHELL', 'mysqladmin ping --password=\"$$(cat /run/secrets/pw)\"']\n",
    ));
    let health = c.loaded.stack.services["db"].health.clone().unwrap();
    assert_eq!(
        health.cmd.unwrap().command,
        Command::Shell("mysqladmin ping --password=\"$(cat /run/secrets/pw)\"".into())
    );
}

#[test]
fn a_disabled_healthcheck_gives_no_probe() {
    let c = ok(
        "services:\n  a:\n    image: x\n    healthcheck: {test: [\"NONE\"]}\n  b:\n    image: x\n    healthcheck: {disable: true}\n",
    );
    assert!(c.loaded.stack.services["a"].health.is_none());
    assert!(c.loaded.stack.services["b"].health.is_none());
}

#[test]
fn restart_policies_map_to_orco_modes_and_no_restart_is_the_default() {
    let c = ok(concat!(
        "services:\n",
        "  none:\n    image: x\n",
        "  no:\n    image: x\n    restart: \"no\"\n",
        "  always:\n    image: x\n    restart: always\n",
        "  stopped:\n    image: x\n    restart: unless-stopped\n",
        "  failure:\n    image: x\n    restart: on-failure:3\n",
    ));
    let s = &c.loaded.stack.services;
    assert_eq!(s["none"].restart_policy.mode, RestartMode::Never);
    assert_eq!(s["no"].restart_policy.mode, RestartMode::Never);
    assert_eq!(s["always"].restart_policy.mode, RestartMode::Always);
    assert_eq!(
        s["always"].restart_policy.max_retries, 0,
        "compose retries forever"
    );
    assert_eq!(s["stopped"].restart_policy.mode, RestartMode::Always);
    assert_eq!(s["failure"].restart_policy.mode, RestartMode::OnFailure);
    assert_eq!(s["failure"].restart_policy.max_retries, 3);
}

#[test]
fn an_unknown_restart_policy_is_an_error_at_its_line() {
    let errs = errors("services:\n  a:\n    image: x\n    restart: sometimes\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, 4);
    assert!(errs[0].1.contains("sometimes"), "{errs:?}");
}

#[test]
fn deploy_replicas_and_scale_set_the_replica_count() {
    let c = ok(
        "services:\n  a:\n    image: x\n    deploy: {replicas: 3}\n  b:\n    image: x\n    scale: 2\n",
    );
    assert_eq!(c.loaded.stack.services["a"].replicas, 3);
    assert_eq!(c.loaded.stack.services["b"].replicas, 2);
}

#[test]
fn stop_grace_period_and_stop_signal_set_the_stop_policy() {
    let c = ok(
        "services:\n  a:\n    image: x\n    stop_grace_period: 1m30s\n    stop_signal: SIGINT\n  b:\n    image: x\n    stop_signal: QUIT\n",
    );
    let a = &c.loaded.stack.services["a"].stop;
    assert_eq!(a.timeout.get(), StdDuration::from_secs(90));
    assert_eq!(a.signal, "SIGINT");
    assert_eq!(c.loaded.stack.services["b"].stop.signal, "SIGQUIT");
    let errs = errors("services:\n  a:\n    image: x\n    stop_signal: SIGNOPE\n");
    assert_eq!(errs[0].0, 4);
}

#[test]
fn environment_in_list_and_map_form_sets_variables_and_a_bare_name_takes_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "services:\n",
        "  a:\n    image: x\n    environment:\n      - A=1\n      - FROM_ENV\n      - NOT_SET\n",
        "  b:\n    image: x\n    environment:\n      discovery.type: single-node\n      N: 5\n      FROM_ENV:\n",
    );
    let c = convert_in(dir.path(), text, &[("FROM_ENV", "env")], &[]).unwrap();
    let a = &c.loaded.stack.services["a"].env;
    assert_eq!(a["A"], "1");
    assert_eq!(a["FROM_ENV"], "env");
    assert!(!a.contains_key("NOT_SET"));
    let b = &c.loaded.stack.services["b"].env;
    assert_eq!(b["discovery.type"], "single-node");
    assert_eq!(b["N"], "5");
    assert_eq!(b["FROM_ENV"], "env");
}

#[test]
fn interpolation_reads_the_environment_over_dot_env_and_applies_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "TAG=from-dotenv\nPORT=8080\n").unwrap();
    let text = "services:\n  web:\n    image: \"nginx:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    command: [\"run\", \"${MODE:-fast}\"]\n";
    let c = convert_in(dir.path(), text, &[("PORT", "9090")], &[]).unwrap();
    let web = &c.loaded.stack.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:from-dotenv"));
    assert_eq!(
        web.ports[0].published, 9090,
        "the environment wins over .env"
    );
    assert_eq!(
        web.command,
        Some(Command::Exec(vec!["run".into(), "fast".into()]))
    );
}

#[test]
fn an_unset_variable_is_a_warning_and_a_required_one_is_an_error_at_its_line() {
    let c = ok("services:\n  web:\n    image: \"nginx:${NOPE}latest\"\n");
    let w = warnings(&c);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 3);
    assert!(w[0].1.contains("NOPE"));
    let errs = errors(
        "services:\n  web:\n    image: x\n    environment:\n      A: ${NEEDED:?give NEEDED}\n",
    );
    assert_eq!(errs[0].0, 5);
    assert!(errs[0].1.contains("give NEEDED"), "{errs:?}");
}

#[test]
fn a_command_string_is_split_into_arguments_not_run_through_a_shell() {
    let c = ok(
        "services:\n  a:\n    image: x\n    command: gunicorn -w 3 -b \"0.0.0.0:8000\" app:app\n",
    );
    assert_eq!(
        c.loaded.stack.services["a"].command,
        Some(Command::Exec(
            ["gunicorn", "-w", "3", "-b", "0.0.0.0:8000", "app:app"]
                .map(String::from)
                .to_vec()
        ))
    );
}

#[test]
fn ports_keep_their_ip_protocol_and_ranges() {
    let c = ok(concat!(
        "services:\n  a:\n    image: x\n    ports:\n",
        "      - \"127.0.0.2:8080:80\"\n      - \"5000:5000/udp\"\n      - \"9000-9001:7000-7001\"\n",
        "      - {target: 443, published: 8443, host_ip: 0.0.0.0}\n",
    ));
    let ports: Vec<String> = c.loaded.stack.services["a"]
        .ports
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ports,
        vec![
            "127.0.0.2:8080:80",
            "5000:5000/udp",
            "9000:7000",
            "9001:7001",
            "0.0.0.0:8443:443"
        ]
    );
}

#[test]
fn every_unsupported_key_is_a_warning_with_its_line() {
    let text = concat!(
        "services:\n",                 // 1
        "  db:\n",                     // 2
        "    image: pg\n",             // 3
        "    user: postgres\n",        // 4
        "    privileged: true\n",      // 5
        "    container_name: db1\n",   // 6
        "    expose: [5432]\n",        // 7
        "    deploy:\n",               // 8
        "      restart_policy: {}\n",  // 9
        "    x-custom: ignored\n",     // 10
        "configs:\n",                  // 11
        "  pw: {file: pw.txt}\n",      // 12
        "networks:\n",                 // 13
        "  front:\n",                  // 14
        "  back: {driver: overlay}\n", // 15
        "x-anchors: {}\n",             // 16
    );
    let c = ok(text);
    let lines: Vec<u32> = warnings(&c).iter().map(|w| w.0).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 9, 11, 14, 15], "{:?}", warnings(&c));
}

#[test]
fn a_build_without_a_local_image_is_a_warning_naming_the_image_and_how_to_build_it() {
    let c = ok("services:\n  backend:\n    build: {context: backend, target: builder}\n");
    let w = warnings(&c);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 3);
    assert!(w[0].1.contains("`demo-backend`"), "{w:?}");
    let hint = c.loaded.warnings.diagnostics[0].hint.clone().unwrap();
    assert_eq!(
        hint,
        "build it first with `docker build -t demo-backend backend`"
    );
    assert_eq!(
        c.loaded.stack.services["backend"].image.as_deref(),
        Some("demo-backend")
    );
}

#[test]
fn a_build_whose_image_exists_runs_that_image() {
    let c = convert_in(
        Path::new("."),
        "services:\n  backend:\n    image: app:1\n    build: .\n",
        &[],
        &["app:1"],
    )
    .unwrap();
    assert!(
        warnings(&c)[0]
            .1
            .contains("runs the existing image `app:1`")
    );
}

#[test]
fn a_service_without_image_or_build_is_an_error() {
    let errs = errors("services:\n  a:\n    command: x\n");
    assert_eq!(errs[0].0, 3);
    assert!(errs[0].1.contains("no `image`"), "{errs:?}");
}

#[test]
fn a_dependency_on_an_unknown_service_is_an_error_at_its_compose_line() {
    let errs = errors("services:\n  a:\n    image: x\n    depends_on:\n      - nope\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, 5, "{errs:?}");
    assert!(errs[0].1.contains("nope"), "{errs:?}");
}

#[test]
fn a_healthy_dependency_on_a_service_without_healthcheck_is_an_error() {
    let errs = errors(
        "services:\n  db:\n    image: x\n  a:\n    image: x\n    depends_on:\n      db: {condition: service_healthy}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, 7, "{errs:?}");
}

#[test]
fn dotted_and_upper_case_service_names_are_renamed_with_a_warning() {
    let c =
        ok("services:\n  Web.App:\n    image: x\n  b:\n    image: x\n    depends_on: [Web.App]\n");
    assert!(c.loaded.stack.services.contains_key("web-app"));
    assert_eq!(c.loaded.stack.services["b"].depends_on[0].target, "web-app");
    assert_eq!(warnings(&c)[0].0, 2);
}

#[test]
fn the_written_stack_file_loads_back_to_the_same_stack() {
    let c = ok(concat!(
        "services:\n",
        "  db:\n    image: pg\n    restart: always\n    healthcheck: {test: [\"CMD\", \"pg_isready\"], interval: 5s}\n",
        "  api:\n    image: api\n    command: serve --port 80\n    ports: [\"8080:80\"]\n    environment: [A=1]\n",
        "    depends_on: {db: {condition: service_healthy}}\n    deploy: {replicas: 2}\n    stop_grace_period: 3s\n",
    ));
    let again = orco_spec::load_str(Path::new("stack.yaml"), &c.yaml, Path::new(".")).unwrap();
    assert_eq!(again.stack.services, c.loaded.stack.services);
    assert!(c.yaml.starts_with("version: 0.1\nstack:\n"), "{}", c.yaml);
    assert!(
        !c.yaml.contains("update"),
        "defaults are left out:\n{}",
        c.yaml
    );
}

#[test]
fn inputs_that_are_not_compose_files_give_errors_not_panics() {
    for text in [
        "",
        "[]",
        "services: 3",
        "services:\n  a: 1\n",
        "services:\n  a:\n    image: [1]\n",
        "services:\n  a:\n    image: x\n    ports: 80\n",
        "services:\n  a:\n    image: x\n    ports: [{published: 1}]\n",
        "services:\n  a:\n    image: x\n    healthcheck: {test: []}\n",
        "services:\n  a:\n    image: x\n    depends_on: 3\n",
        "services:\n  a:\n    image: x\n    command: \"unterminated '\"\n",
        "services:\n  a:\n    image: \"${\"\n",
        "services:\n  a:\n    image: x\n    deploy: {replicas: -1}\n",
        "{{{",
        "services:\n  a:\n    image: x\n    env_file: [{}]\n",
    ] {
        assert!(common::convert(text).is_err(), "{text:?} should be refused");
    }
}

#[test]
fn volumes_in_short_and_long_form_become_mounts_and_what_orco_cannot_mount_is_a_warning() {
    let text = concat!(
        "services:\n",                                           // 1
        "  db:\n",                                               // 2
        "    image: pg\n",                                       // 3
        "    volumes:\n",                                        // 4
        "      - db-data:/var/lib/postgresql/data\n",            // 5
        "      - ./conf/pg.conf:/etc/pg.conf:ro,z\n",            // 6
        "      - /var/cache\n",                                  // 7
        "      - type: bind\n",                                  // 8
        "        source: ./proxy/nginx.conf\n",                  // 9
        "        target: /etc/nginx/conf.d/default.conf\n",      // 10
        "        read_only: true\n",                             // 11
        "      - {type: tmpfs, target: /tmp}\n",                 // 12
        "      - {type: volume, source: logs, target: /logs}\n", // 13
        "volumes:\n",                                            // 14
        "  db-data:\n",                                          // 15
    );
    let c = ok(text);
    let mounts: Vec<String> = c.loaded.stack.services["db"]
        .volumes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        mounts,
        vec![
            "db-data:/var/lib/postgresql/data",
            "./conf/pg.conf:/etc/pg.conf:ro",
            "./proxy/nginx.conf:/etc/nginx/conf.d/default.conf:ro",
            "logs:/logs",
        ]
    );
    let lines: Vec<u32> = warnings(&c).iter().map(|w| w.0).collect();
    assert_eq!(lines, vec![6, 7, 12], "{:?}", warnings(&c));
}

#[test]
fn an_entrypoint_replaces_the_image_entrypoint_and_an_empty_one_clears_it() {
    let c = ok(concat!(
        "services:\n",
        "  a:\n    image: x\n    entrypoint: /bin/app --fast\n    command: [serve]\n",
        "  b:\n    image: x\n    entrypoint: []\n",
    ));
    let a = &c.loaded.stack.services["a"];
    assert_eq!(
        a.entrypoint,
        Some(Command::Exec(vec!["/bin/app".into(), "--fast".into()]))
    );
    assert_eq!(a.command, Some(Command::Exec(vec!["serve".into()])));
    assert_eq!(
        c.loaded.stack.services["b"].entrypoint,
        Some(Command::Exec(Vec::new()))
    );
    assert!(warnings(&c).is_empty(), "{:?}", warnings(&c));
}

#[test]
fn a_bad_volume_is_an_error_at_its_compose_line() {
    let e = errors("services:\n  db:\n    image: pg\n    volumes:\n      - 'data:relative'\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 5);
    assert!(e[0].1.contains("absolute path"), "{e:?}");
}

#[test]
fn cpus_and_memory_limits_and_reservations_become_resources() {
    let c = ok(
        "services:\n  api:\n    image: api\n    cpus: 1.5\n    mem_limit: 512m\n    mem_reservation: 128m\n  db:\n    image: pg\n    deploy:\n      resources:\n        limits: {cpus: '2', memory: 1G}\n        reservations: {cpus: '0.5', memory: 256M}\n",
    );
    let api = &c.loaded.stack.services["api"].resources;
    assert_eq!(api.limits.cpu, Some(orco_spec::Cpu(1500)));
    assert_eq!(api.limits.memory, Some(orco_spec::Memory(512 << 20)));
    assert_eq!(api.memory, orco_spec::Memory(128 << 20));
    let db = &c.loaded.stack.services["db"].resources;
    assert_eq!(
        (db.cpu, db.memory, db.limits.cpu, db.limits.memory),
        (
            orco_spec::Cpu(500),
            orco_spec::Memory(256 << 20),
            Some(orco_spec::Cpu(2000)),
            Some(orco_spec::Memory(1 << 30))
        )
    );
    // Recorded, and said to be not acted on yet, at the compose line it came from.
    assert!(
        warnings(&c)
            .iter()
            .any(|(line, m)| *line == 4 && m.contains("`resources` is recorded but not acted on")),
        "{:?}",
        warnings(&c)
    );
}

#[test]
fn label_constraints_and_one_replica_per_node_become_placement() {
    let c = ok(
        "services:\n  web:\n    image: web\n    deploy:\n      placement:\n        constraints: ['node.labels.disk == ssd', 'node.role==manager']\n        preferences: [{spread: node.labels.zone}]\n        max_replicas_per_node: 1\n",
    );
    let p = &c.loaded.stack.services["web"].placement;
    assert_eq!(p.node_selector["disk"], "ssd");
    assert_eq!(p.anti_affinity, vec!["web".to_string()]);
    let spread = p.spread.as_ref().unwrap();
    assert_eq!(spread.by, orco_spec::SpreadBy::Label("zone".into()));
    assert!(!spread.hard);
    assert!(
        warnings(&c)
            .iter()
            .any(|(line, m)| *line == 6 && m.contains("`node.role==manager` is not supported")),
        "{:?}",
        warnings(&c)
    );
}

#[test]
fn a_size_docker_cannot_read_is_an_error_at_its_line() {
    let e = errors("services:\n  api:\n    image: api\n    mem_limit: lots\n");
    assert!(
        e.iter()
            .any(|(line, m)| *line == 4 && m.contains("`lots` is not a size")),
        "{e:?}"
    );
}

#[test]
fn a_typo_of_depends_on_gets_did_you_mean() {
    let c = ok("services:\n  db:\n    image: pg\n  api:\n    image: api\n    depend_on: [db]\n");
    let typo = c
        .loaded
        .warnings
        .diagnostics
        .iter()
        .find(|d| d.message.contains("depend_on"))
        .unwrap();
    assert_eq!(typo.line, 6);
    assert_eq!(typo.hint.as_deref(), Some("did you mean `depends_on`?"));
}

#[test]
fn a_real_compose_key_orco_ignores_is_not_taken_for_a_typo() {
    let c = ok("services:\n  api:\n    image: api\n    network_mode: host\n    labels: [a]\n");
    for d in &c.loaded.warnings.diagnostics {
        assert!(d.hint.is_none(), "{d:?}");
        assert!(d.message.contains("not supported by orco"), "{d:?}");
    }
}

#[test]
fn top_level_secrets_and_a_service_s_secrets_become_the_stack_s_secrets_received_as_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db_pw.txt"), "s3cret").unwrap();
    let text = concat!(
        "secrets:\n",
        "  db_pw:\n    file: ./db_pw.txt\n",
        "  path:\n    environment: PATH\n",
        "services:\n",
        "  a:\n    image: x\n    secrets:\n      - db_pw\n      - source: path\n        target: other\n",
    );
    let c = convert_in(dir.path(), text, &[], &[]).unwrap();
    let stack = &c.loaded.stack;
    assert_eq!(
        stack.secrets["db_pw"].file.as_deref(),
        Some(std::path::Path::new("./db_pw.txt"))
    );
    assert_eq!(stack.secrets["path"].env.as_deref(), Some("PATH"));
    assert_eq!(stack.services["a"].secrets, ["db_pw", "path"]);
    // A target other than the name is not supported: a warning at its line.
    let warned = warnings(&c);
    assert!(
        warned
            .iter()
            .any(|(line, m)| *line == 12 && m.contains("`target` is not supported")),
        "{warned:?}"
    );
    // The value is read by the loader's check, never kept in the stack.
    assert!(!c.yaml.contains("s3cret"), "{}", c.yaml);
}

#[test]
fn a_compose_secret_whose_file_is_missing_or_that_is_unknown_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "secrets:\n",
        "  db_pw:\n    file: ./missing.txt\n",
        "services:\n",
        "  a:\n    image: x\n    secrets: [db_pw, nope]\n",
    );
    let errs = match convert_in(dir.path(), text, &[], &[]) {
        Ok(_) => panic!("converted"),
        Err(report) => report
            .diagnostics
            .iter()
            .filter(|d| d.severity == orco_spec::diag::Severity::Error)
            .map(|d| (d.line, d.message.clone()))
            .collect::<Vec<_>>(),
    };
    assert!(
        errs.contains(&(3, "secret file `./missing.txt` does not exist".to_string())),
        "{errs:?}"
    );
    assert!(
        errs.contains(&(7, "unknown secret `nope`".to_string())),
        "{errs:?}"
    );
}

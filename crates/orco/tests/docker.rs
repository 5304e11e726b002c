//! Docker services through the daemon and the real `orco` binary: containers and processes
//! depending on each other, containers reaching each other by service name, restarts,
//! logs, re-adoption after a daemon SIGKILL, mounts, image pulls with progress, compose
//! files, and `down` removing every container and network of the stack. Needs a Docker
//! engine, busybox-static and docker-registry (scripts/test.sh installs and starts them).
//! Every docker object carries the test world's own scope label and is removed with it.

#![allow(clippy::unwrap_used)]

mod common;

use common::free_port;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::World;

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `docker ARGS`, which must succeed; its stdout.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Ids of the containers (`ps`) or networks (`network ls`) labelled with `scope`.
fn labelled(what: &[&str], scope: &str) -> Vec<String> {
    let filter = format!("label=orco.scope={scope}");
    let mut args = what.to_vec();
    args.extend(["-q", "--filter", &filter]);
    docker(&args)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn containers(scope: &str) -> Vec<String> {
    labelled(&["ps", "-a"], scope)
}

fn networks(scope: &str) -> Vec<String> {
    labelled(&["network", "ls"], scope)
}

/// `orco up -d --wait -f FILE`, which must succeed.
fn up(world: &World, file: &std::path::Path) -> String {
    world.ok(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "120s",
        "-f",
        file.to_str().unwrap(),
    ])
}

/// The instance `name` (`SERVICE-N`) as `orco ps -o json` shows it.
fn instance(world: &World, name: &str) -> serde_json::Value {
    world
        .instances()
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

/// `down`, then nothing of the world's scope is left on the engine.
fn down_leaves_nothing(world: &World) {
    world.ok(&["down"]);
    let scope = world.docker_scope();
    wait_until("the stack's containers and network removed", || {
        containers(&scope).is_empty() && networks(&scope).is_empty()
    });
}

#[test]
fn a_docker_service_and_a_process_service_run_side_by_side_and_down_removes_the_container() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let port = free_port();
    let f = orco_fixture::path().unwrap().display().to_string();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: mixed}}\nservices:\n  web:\n    runtime: docker\n    image: {image}\n    command: [sh, -c, 'echo web in a container; sleep 0.3; touch /tmp/ready; exec httpd -f -p 8080 -h /etc']\n    ports: ['{port}:8080']\n    health: {{cmd: {{command: [test, -f, /tmp/ready]}}}}\n  client:\n    command: [{f}, --stdout, 'client after web']\n    dependsOn: [{{target: web}}]\n"
        ),
    );
    up(&world, &file);
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
    down_leaves_nothing(&world);
}

#[test]
fn a_process_requiring_a_container_ready_on_its_published_port_starts_only_once_the_port_answers() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let port = free_port();
    // The process checks, when it starts, that something answers behind the published port:
    // an HTTP request through the engine's port forwarder gets an answer only once httpd
    // listens inside the container, two seconds after the container started.
    let check = format!(
        "import urllib.request; print('db answered:', urllib.request.urlopen('http://127.0.0.1:{port}/hostname', timeout=5).status)"
    );
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: gate}}\nservices:\n  db:\n    image: {image}\n    command: [sh, -c, 'echo db booting; sleep 2; echo db listening; exec httpd -f -p 5432 -h /etc']\n    ports: ['{port}:5432']\n    health: {{tcp: {{host: 127.0.0.1, port: {port}}}, interval: 200ms}}\n  api:\n    command: [python3, -c, \"{check}\"]\n    restartPolicy: {{mode: never}}\n    dependsOn: [{{target: db, require: ready}}]\n"
        ),
    );
    up(&world, &file);
    wait_until("the process's answer in the logs", || {
        world.ok(&["logs"]).contains("db answered: 200")
    });
    // The line is written before the process exits: its exit is recorded a moment later.
    wait_until("the process to have succeeded", || {
        instance(&world, "api-0")["phase"] == "succeeded"
    });
    let logs = world.ok(&["logs"]);
    assert!(logs.contains("db listening"), "{logs}");

    // The container id is recorded, and the same as the engine's.
    let db = instance(&world, "db-0");
    let id = db["container"].as_str().unwrap().to_string();
    let scope = world.docker_scope();
    assert_eq!(containers(&scope), vec![id[..12].to_string()]);
    let wide = world.ok(&["ps", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINER") && wide.contains(&id[..12]),
        "{wide}"
    );
    let listed = world.ok(&["instance", "list", "-o", "wide"]);
    assert!(listed.contains(&id[..12]), "{listed}");
    down_leaves_nothing(&world);
}

#[test]
fn two_containers_of_a_stack_reach_each_other_by_service_name() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: pair}}\nservices:\n  server:\n    image: {image}\n    command: [httpd, -f, -p, '8080', -h, /etc]\n  client:\n    image: {image}\n    command: [sh, -c, 'until wget -q -O /tmp/answer http://server:8080/passwd; do sleep 0.2; done; echo client got $(head -c 9 /tmp/answer) from server; sleep 1000']\n    dependsOn: [{{target: server, require: started}}]\n"
        ),
    );
    up(&world, &file);
    wait_until("the client's answer in the logs", || {
        world
            .ok(&["logs"])
            .contains("client got root:x:0: from server")
    });
    down_leaves_nothing(&world);
}

#[test]
fn a_killed_container_process_is_restarted_per_its_restart_policy() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: crashy}}\nservices:\n  app:\n    image: {image}\n    command: [sh, -c, 'echo app run; exec sleep 1000']\n    restartPolicy: {{mode: on-failure, backoff: {{min: 100ms, max: 200ms}}}}\n  once:\n    image: {image}\n    command: [sh, -c, 'echo once run; exec sleep 1000']\n    restartPolicy: {{mode: never}}\n"
        ),
    );
    up(&world, &file);
    let first = instance(&world, "app-0");
    let pid = first["pid"].as_i64().unwrap();
    assert!(pid > 0, "{first}");
    // Its main process, killed from the host.
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until("app restarted once after kill -9 of its pid", || {
        let i = instance(&world, "app-0");
        i["restarts"] == 1 && i["phase"] == "running" && i["pid"].as_i64() != Some(pid)
    });
    let second = instance(&world, "app-0");
    assert_ne!(second["container"], first["container"], "a new container");
    // Then through the engine.
    docker(&["kill", second["container"].as_str().unwrap()]);
    wait_until("app restarted again after docker kill", || {
        let i = instance(&world, "app-0");
        i["restarts"] == 2 && i["phase"] == "running"
    });
    // `never` leaves a killed instance failed.
    let once = instance(&world, "once-0");
    docker(&["kill", once["container"].as_str().unwrap()]);
    wait_until("once failed and not restarted", || {
        let i = instance(&world, "once-0");
        i["phase"] == "failed" && i["restarts"] == 0
    });
    let logs = world.ok(&["logs"]);
    assert_eq!(logs.matches("app run").count(), 3, "{logs}");
    down_leaves_nothing(&world);
}

#[test]
fn a_restarted_daemon_adopts_the_running_container_without_restarting_it() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    world.start_daemon();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: adopt}}\nservices:\n  db:\n    image: {image}\n    command: [sh, -c, 'touch /tmp/ok; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done']\n    health: {{cmd: {{command: [test, -f, /tmp/ok]}}}}\n"
        ),
    );
    up(&world, &file);
    let before = instance(&world, "db-0");
    let id = before["container"].as_str().unwrap().to_string();
    let started = docker(&["inspect", "-f", "{{.State.StartedAt}}", &id]);
    world.kill_daemon();
    // Output printed while no daemon runs.
    std::thread::sleep(Duration::from_millis(600));
    world.start_daemon();
    wait_until("db adopted and ready again", || {
        let i = instance(&world, "db-0");
        i["phase"] == "running" && i["ready"] == true
    });
    let after = instance(&world, "db-0");
    assert_eq!(after["container"], before["container"], "{after}");
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert_eq!(after["restarts"], 0, "{after}");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.StartedAt}}", &id]),
        started,
        "the container was not restarted"
    );
    assert_eq!(
        containers(&world.docker_scope()),
        vec![id[..12].to_string()]
    );
    // Ticks keep coming, numbered on from before the kill.
    wait_until("ticks after the restart in the logs", || {
        let logs = world.ok(&["logs"]);
        let last: u32 = logs
            .lines()
            .filter_map(|l| {
                l.rsplit_once("tick ")
                    .and_then(|(_, n)| n.trim().parse().ok())
            })
            .max()
            .unwrap_or(0);
        last > 10
    });
    down_leaves_nothing(&world);
}

#[test]
fn a_bind_mount_is_read_relative_to_the_stack_workdir_and_a_named_volume_outlives_down_but_not_down_volumes()
 {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    std::fs::create_dir(world.dir.path().join("conf")).unwrap();
    std::fs::write(world.dir.path().join("conf/app.conf"), "from the host\n").unwrap();
    // The stack name is the world's own, so that its volume is too.
    let stack = format!("vol{}", world.docker_scope().replace(['.', '-'], ""));
    let text = |script: &str| {
        format!(
            "version: 0.1\nstack: {{name: {stack}}}\nservices:\n  app:\n    image: {image}\n    entrypoint: [sh, -c]\n    command: ['{script}']\n    volumes: ['./conf:/conf:ro', 'data:/data']\n    restartPolicy: {{mode: never}}\n"
        )
    };
    let file = world.file(
        "stack.yaml",
        &text("echo conf says $(cat /conf/app.conf); echo kept > /data/v; touch /conf/x || echo conf is read-only"),
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until("the first run's output", || {
        let logs = world.ok(&["logs"]);
        logs.contains("conf says from the host") && logs.contains("conf is read-only")
    });
    down_leaves_nothing(&world);
    let volume = format!("{stack}_data");
    let labels = docker(&["volume", "inspect", "-f", "{{json .Labels}}", &volume]);
    assert!(labels.contains(&world.docker_scope()), "{labels}");
    let file = world.file("stack.yaml", &text("echo volume says $(cat /data/v)"));
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until("the second run reads the volume", || {
        world.ok(&["logs"]).contains("volume says kept")
    });
    // `down --volumes` takes the volume too.
    world.ok(&["down", "--volumes"]);
    let scope = world.docker_scope();
    wait_until("containers, network and volume removed", || {
        containers(&scope).is_empty()
            && networks(&scope).is_empty()
            && labelled(&["volume", "ls"], &scope).is_empty()
    });
}

#[test]
fn up_pulls_a_missing_image_with_progress_and_a_name_the_registry_lacks_fails_only_its_service() {
    let local = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let registry = orco_fixture::Registry::start().unwrap();
    let tag = world.docker_scope();
    let image = format!("127.0.0.1:{}/orco-test/pulled:{tag}", registry.port());
    docker(&["tag", local, &image]);
    docker(&["push", &image]);
    docker(&["rmi", &image]);
    let missing = format!("127.0.0.1:{}/orco-test/not-there:1", registry.port());
    let f = orco_fixture::path().unwrap().display().to_string();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: pulls}}\nservices:\n  app:\n    image: {image}\n    command: [sh, -c, 'echo pulled and running; exec sleep 1000']\n  ghost:\n    image: {missing}\n    restartPolicy: {{mode: never}}\n    dependsOn: [{{target: app, require: started}}]\n  needs-ghost:\n    command: [{f}, --stdout, 'should not run']\n    dependsOn: [{{target: ghost, require: started}}]\n  needs-app:\n    command: [{f}, --stdout, 'after app']\n    dependsOn: [{{target: app, require: started}}]\n"
        ),
    );
    let out = world.orco(&[
        "up",
        "-d",
        "--wait",
        "--timeout",
        "120s",
        "-f",
        file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "ghost fails: {stderr}");
    assert!(
        stderr.contains(&format!("pulling image {image}")),
        "pull progress shown: {stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot pull image `{missing}`")),
        "the failure names the image: {stderr}"
    );
    // The rest of the stack goes on per its dependencies.
    wait_until("app and what needs it running", || {
        let logs = world.ok(&["logs"]);
        logs.contains("pulled and running") && logs.contains("after app")
    });
    let status = world.ok(&["status", "-o", "json"]);
    assert!(
        status.contains(&format!("cannot pull image `{missing}`")),
        "{status}"
    );
    assert!(
        status.contains("not found") || status.contains("unknown"),
        "the registry's answer: {status}"
    );
    let waiting = instance(&world, "needs-ghost-0");
    assert_eq!(waiting["phase"], "pending", "{waiting}");
    // The event log has the pull from its start to its end.
    let history = world.ok(&["history", "app-0"]);
    assert!(history.contains("pulling image"), "{history}");
    assert!(history.contains(": done"), "{history}");
    down_leaves_nothing(&world);
    docker(&["rmi", &image]);
}

#[test]
fn attached_up_shows_the_pull_of_a_missing_image() {
    let local = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let registry = orco_fixture::Registry::start().unwrap();
    let image = format!(
        "127.0.0.1:{}/orco-test/attached:{}",
        registry.port(),
        world.docker_scope()
    );
    docker(&["tag", local, &image]);
    docker(&["push", &image]);
    docker(&["rmi", &image]);
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: attached}}\nservices:\n  app:\n    image: {image}\n    command: [sh, -c, 'echo attached and running; exec sleep 1000']\n"
        ),
    );
    let mut child = world
        .command(&["up", "-f", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen
        .iter()
        .any(|l: &String| l.contains("attached and running"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no output of the container; seen:\n{}", seen.join("\n")),
        }
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = child.wait();
    let text = seen.join("\n");
    let pulling = text.find(&format!("pulling image {image}: started"));
    let done = text.find(&format!("pulling image {image}: done"));
    assert!(pulling.is_some() && done.is_some(), "{text}");
    assert!(pulling < done, "{text}");
    down_leaves_nothing(&world);
    docker(&["rmi", &image]);
}

#[test]
fn a_compose_file_with_a_healthcheck_and_a_healthy_dependency_runs_under_the_daemon() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let file = world.file(
        "compose.yaml",
        &format!(
            r#"services:
  db:
    image: {image}
    command: sh -c 'echo db starting; sleep 1; touch /tmp/healthy; echo db healthy; exec httpd -f -p 5432 -h /etc'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/healthy"]
      interval: 1s
      timeout: 2s
      retries: 30
  web:
    image: {image}
    environment:
      GREETING: ${{GREETING:-hello from the default}}
    command: ["sh", "-c", "echo web says $$GREETING; wget -q -O - http://db:5432/hostname >/dev/null && echo web reached db; exec sleep 1000"]
    depends_on:
      db:
        condition: service_healthy
"#
        ),
    );
    let out = up(&world, &file);
    assert!(out.contains("2 services ready"), "{out}");
    wait_until("web's output", || {
        let logs = world.ok(&["logs"]);
        logs.contains("web says hello from the default") && logs.contains("web reached db")
    });
    // web started after db was ready: its first start comes after db's readiness.
    let events = world.ok(&["events", "-o", "json"]);
    let revision = |needle: &str| -> u64 {
        events
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["summary"].as_str().is_some_and(|s| s.contains(needle)))
            .and_then(|e| e["revision"].as_u64())
            .unwrap_or_else(|| panic!("no event `{needle}` in\n{events}"))
    };
    assert!(
        revision("db-0 ready") < revision("web-0 starting"),
        "{events}"
    );
    down_leaves_nothing(&world);
}

#[test]
fn a_stack_removed_and_applied_again_at_once_runs_its_containers_again_each_time() {
    let image = orco_fixture::busybox_image().unwrap();
    let world = World::new();
    for round in 1..=3 {
        let file = world.file(
            "stack.yaml",
            &format!(
                "version: 0.1\nstack: {{name: again}}\nservices:\n  app:\n    image: {image}\n    command: [sh, -c, 'echo round {round}']\n    restartPolicy: {{mode: never}}\n"
            ),
        );
        world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
        wait_until(&format!("round {round} ended"), || {
            world
                .instances()
                .iter()
                .any(|i| i["name"] == "app-0" && i["phase"] == "succeeded")
        });
        let logs = world.ok(&["logs"]);
        assert!(logs.contains(&format!("round {round}")), "{logs}");
        // The removal of this round's container is still under way when the next applies.
        world.ok(&["down"]);
    }
    let scope = world.docker_scope();
    wait_until("nothing left", || {
        containers(&scope).is_empty() && networks(&scope).is_empty()
    });
}

/// `GET PATH` on 127.0.0.1:`port`: the body of a 200 answer.
fn http_get(port: u16, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
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

#[test]
fn the_runnable_twin_of_the_seed_example_runs_db_and_two_api_replicas_as_containers_and_web_as_a_process()
 {
    orco_fixture::busybox_image().unwrap();
    let world = World::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-local");
    // The example's ports, each moved to a free one (inside the containers too).
    let (db, api, web) = (free_port(), free_port(), free_port());
    let text = std::fs::read_to_string(example.join("stack.yaml"))
        .unwrap()
        .replace("5432", &db.to_string())
        .replace("8080", &api.to_string())
        .replace("3000", &web.to_string());
    for dir in ["secrets", "public"] {
        std::fs::create_dir(world.dir.path().join(dir)).unwrap();
    }
    for file in ["secrets/api.env", "public/healthz"] {
        std::fs::copy(example.join(file), world.dir.path().join(file)).unwrap();
    }
    let file = world.file("stack.yaml", &text);
    let out = up(&world, &file);
    assert!(out.contains("3 services ready"), "{out}");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        seen.insert(http_get(api, "/health").unwrap());
    }
    assert_eq!(
        seen,
        std::collections::BTreeSet::from([
            "api-0 says hello from api.env".to_string(),
            "api-1 says hello from api.env".to_string()
        ]),
        "both api replicas answer behind one port"
    );
    assert_eq!(http_get(db, "/healthz").unwrap(), "ok");
    assert_eq!(http_get(web, "/healthz").unwrap(), "ok");
    let scope = world.docker_scope();
    assert_eq!(containers(&scope).len(), 3, "db and two api containers");
    down_leaves_nothing(&world);
}

#[test]
fn up_of_a_compose_service_with_build_and_no_image_says_to_build_it_first() {
    let world = World::new();
    let file = world.file(
        "compose.yaml",
        "name: unbuilt\nservices:\n  app:\n    build: ./app\n",
    );
    std::fs::create_dir_all(file.parent().unwrap().join("app")).unwrap();
    let out = world.orco(&["up", "-d", "-f", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("image `unbuilt-app` is not on this machine")
            && stderr.contains("build it first with `docker build -t unbuilt-app ./app`"),
        "{stderr}"
    );
    down_leaves_nothing(&world);
}

#![allow(clippy::unwrap_used)]
//! The docker runtime against the real engine: start, output, exit codes, stops, signals,
//! exec, ports, network aliases, re-adoption by label, removal and pull failures.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Scope, free_port, http_get, launch, until_exit, until_line, watch};
use orco_docker::PullStage;
use orco_runtime::{Container, ContainerError, ExitStatus, Launch, Runtime, RuntimeError, Signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_prints_to_stdout_and_stderr_and_its_exit_code_is_reported() {
    let scope = Scope::new("exit");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    let started = rt
        .start(
            "s.job-0",
            &launch("s", "job", "echo hello; echo oops >&2; exit 3"),
        )
        .await
        .unwrap();
    let (lines, pid, status) = until_exit(&mut rx, "s.job-0").await;
    assert_eq!(status, ExitStatus::Code(3));
    assert_eq!(
        pid, started.pid,
        "the exit carries the pid the start reported"
    );
    assert!(lines.contains(&"hello".to_string()), "{lines:?}");
    assert!(lines.contains(&"oops".to_string()), "{lines:?}");
    let info = rt.list().await.unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].exit.map(|e| e.status), Some(ExitStatus::Code(3)));
    assert!(!info[0].group_alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_the_container_honours_is_not_forced_and_one_it_ignores_ends_in_sigkill() {
    let scope = Scope::new("stop");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    rt.start(
        "s.polite-0",
        &launch(
            "s",
            "polite",
            "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done",
        ),
    )
    .await
    .unwrap();
    // pid 1 of a container ignores SIGTERM unless it handles it.
    rt.start(
        "s.stubborn-0",
        &launch("s", "stubborn", "echo up; sleep 1000"),
    )
    .await
    .unwrap();
    until_line(&mut rx, "s.polite-0", "up").await;
    let polite = rt
        .stop("s.polite-0", Signal::SIGTERM, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(polite.status, ExitStatus::Code(0));
    assert!(!polite.forced);
    let stubborn = rt
        .stop("s.stubborn-0", Signal::SIGTERM, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(stubborn.forced);
    assert_eq!(stubborn.status, ExitStatus::Signal(9));
    // A second stop of an ended instance answers its exit at once.
    let again = rt
        .stop("s.stubborn-0", Signal::SIGTERM, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(again.status, ExitStatus::Signal(9));
    assert!(!again.forced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_reaches_the_container_and_exec_runs_inside_it() {
    let scope = Scope::new("signal");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    rt.start(
        "s.app-0",
        &launch(
            "s",
            "app",
            "trap 'echo got-usr1' USR1; touch /tmp/ready; echo up; while true; do sleep 0.1; done",
        ),
    )
    .await
    .unwrap();
    until_line(&mut rx, "s.app-0", "up").await;
    assert_eq!(
        rt.exec(
            "s.app-0",
            &["test".into(), "-e".into(), "/tmp/ready".into()]
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        rt.exec("s.app-0", &["test".into(), "-e".into(), "/nope".into()])
            .await
            .unwrap(),
        1
    );
    rt.signal("s.app-0", Signal::SIGUSR1).await.unwrap();
    until_line(&mut rx, "s.app-0", "got-usr1").await;
    rt.stop("s.app-0", Signal::SIGKILL, Duration::from_secs(5))
        .await
        .unwrap();
    let err = rt.signal("s.none-0", Signal::SIGTERM).await.unwrap_err();
    assert!(matches!(err, RuntimeError::UnknownInstance(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_port_is_on_loopback_and_serves_the_container() {
    let scope = Scope::new("ports");
    let rt = scope.runtime().await;
    let port = free_port();
    let mut l = launch(
        "s",
        "web",
        "mkdir -p /www && echo hi-from-web > /www/index.html && exec httpd -f -p 8080 -h /www",
    );
    if let Some(c) = l.container.as_mut() {
        c.ports = vec![format!("{port}:8080").parse().unwrap()];
    }
    rt.start("s.web-0", &l).await.unwrap();
    let body = http_get(port, "/index.html").await;
    assert!(body.contains("hi-from-web"), "{body}");
    let id = rt.container_id("s.web-0").await.unwrap();
    let inspected = rt.engine().inspect_container(&id, None).await.unwrap();
    let bindings = inspected.host_config.unwrap().port_bindings.unwrap();
    let binding = bindings["8080/tcp"].as_ref().unwrap();
    assert_eq!(binding[0].host_ip.as_deref(), Some("127.0.0.1"));
    rt.stop("s.web-0", Signal::SIGTERM, Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_stack_reach_each_other_by_service_name() {
    let scope = Scope::new("alias");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    rt.start(
        "s.server-0",
        &launch(
            "s",
            "server",
            "mkdir -p /www && echo hi-by-name > /www/index.html && exec httpd -f -p 8080 -h /www",
        ),
    )
    .await
    .unwrap();
    rt.start(
        "s.client-0",
        &launch(
            "s",
            "client",
            "until wget -q -O - http://server:8080/index.html; do sleep 0.2; done",
        ),
    )
    .await
    .unwrap();
    let (lines, _, status) = until_exit(&mut rx, "s.client-0").await;
    assert_eq!(status, ExitStatus::Code(0));
    assert!(lines.iter().any(|l| l.contains("hi-by-name")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runtime_readopts_running_containers_by_label_without_restarting_them() {
    let scope = Scope::new("adopt");
    let first = scope.runtime().await;
    let mut rx = watch(&first).await;
    let started = first
        .start(
            "s.db-0",
            &launch("s", "db", "echo one; read x; echo two; sleep 1000"),
        )
        .await
        .unwrap();
    until_line(&mut rx, "s.db-0", "one").await;
    let id = first.container_id("s.db-0").await.unwrap();
    drop(rx);
    drop(first);

    let second = scope.runtime().await;
    let listed = second.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let info = &listed[0];
    assert_eq!(info.instance, "s.db-0");
    assert!(info.exit.is_none() && info.group_alive);
    assert_eq!(info.pid, started.pid, "same process, not a new one");
    assert_eq!(
        second.container_id("s.db-0").await.unwrap(),
        id,
        "same container"
    );
    // Resuming at the listed length repeats nothing; resuming at 0 replays from the start.
    let mut resumed = second
        .watch(BTreeMap::from([("s.db-0".to_string(), info.output_len)]))
        .await
        .unwrap();
    let mut replay = second
        .watch(BTreeMap::from([("s.db-0".to_string(), 0)]))
        .await
        .unwrap();
    until_line(&mut replay, "s.db-0", "one").await;
    let stopped = second
        .stop("s.db-0", Signal::SIGTERM, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(stopped.forced);
    let (lines, pid, _) = until_exit(&mut resumed, "s.db-0").await;
    assert!(lines.is_empty(), "nothing repeated: {lines:?}");
    assert_eq!(pid, started.pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_stack_removes_its_containers_and_network_and_forget_takes_the_last_network() {
    let scope = Scope::new("remove");
    let rt = scope.runtime().await;
    rt.start("a.one-0", &launch("a", "one", "sleep 1000"))
        .await
        .unwrap();
    rt.start("a.two-0", &launch("a", "two", "sleep 1000"))
        .await
        .unwrap();
    rt.start("b.three-0", &launch("b", "three", "exit 0"))
        .await
        .unwrap();
    let engine = rt.engine().clone();
    let net_exists = |name: String| {
        let engine = engine.clone();
        async move { engine.inspect_network(&name, None).await.is_ok() }
    };
    let net_a = orco_docker::names::network_name(rt.scope(), "a");
    let net_b = orco_docker::names::network_name(rt.scope(), "b");
    assert!(net_exists(net_a.clone()).await);
    rt.remove_stack("a").await.unwrap();
    assert!(!net_exists(net_a).await);
    let left: Vec<_> = rt
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.instance)
        .collect();
    assert_eq!(left, vec!["b.three-0"]);
    // Forgetting a running instance is refused; an ended one goes, with its stack network.
    rt.stop("b.three-0", Signal::SIGTERM, Duration::from_secs(5))
        .await
        .unwrap();
    rt.forget("b.three-0").await.unwrap();
    assert!(rt.list().await.unwrap().is_empty());
    assert!(!net_exists(net_b).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_fails_the_start_naming_the_image_and_the_answer() {
    let scope = Scope::new("pullfail");
    let rt = scope.runtime().await;
    let mut progress = rt.pull_progress();
    let image = "127.0.0.1:9/orco-missing:1";
    let l = Launch::new(Vec::<String>::new()).container(Container {
        image: image.into(),
        stack: "s".into(),
        service: "x".into(),
        ..Container::default()
    });
    let err = rt.start("s.x-0", &l).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RuntimeError::Container(
                ContainerError::Pull { image: i, .. } | ContainerError::ImageNotFound { image: i, .. }
            ) if i == image
        ),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains(image), "{err}");
    assert!(err.contains("cannot pull image"), "{err}");
    assert!(
        err.len() > format!("cannot pull image `{image}`: ").len() + 10,
        "{err}"
    );
    let mut stages = Vec::new();
    while let Ok(p) = progress.try_recv() {
        stages.push(p.stage);
    }
    assert_eq!(stages.first(), Some(&PullStage::Started));
    assert!(
        matches!(stages.last(), Some(PullStage::Failed { .. })),
        "{stages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_running_instance_is_refused_and_an_ended_one_is_replaced() {
    let scope = Scope::new("replace");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    rt.start("s.a-0", &launch("s", "a", "sleep 1000"))
        .await
        .unwrap();
    let err = rt
        .start("s.a-0", &launch("s", "a", "sleep 1000"))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::AlreadyRunning(_)), "{err}");
    rt.stop("s.a-0", Signal::SIGKILL, Duration::from_secs(5))
        .await
        .unwrap();
    until_exit(&mut rx, "s.a-0").await;
    rt.start("s.a-0", &launch("s", "a", "echo second; exit 7"))
        .await
        .unwrap();
    let (lines, _, status) = until_exit(&mut rx, "s.a-0").await;
    assert_eq!(status, ExitStatus::Code(7));
    assert_eq!(lines, vec!["second"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_mount_shares_a_host_directory_and_a_named_volume_outlives_its_container() {
    let scope = Scope::new("volumes");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from-host\n").unwrap();
    let volume = format!("{}-data", scope.name);
    let with_mounts = |script: &str| {
        let mut l = launch("s", "app", script);
        if let Some(c) = l.container.as_mut() {
            c.volumes = vec![
                orco_runtime::Volume {
                    source: host.path().display().to_string(),
                    target: "/host".into(),
                    read_only: false,
                },
                orco_runtime::Volume {
                    source: volume.clone(),
                    target: "/data".into(),
                    read_only: false,
                },
            ];
        }
        l
    };
    rt.start(
        "s.app-0",
        &with_mounts("cat /host/in.txt; echo kept > /data/v.txt; echo written > /host/out.txt"),
    )
    .await
    .unwrap();
    let (lines, _, status) = until_exit(&mut rx, "s.app-0").await;
    assert_eq!(status, ExitStatus::Code(0), "{lines:?}");
    assert_eq!(lines, vec!["from-host"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("out.txt")).unwrap(),
        "written\n"
    );
    rt.forget("s.app-0").await.unwrap();
    rt.start("s.app-0", &with_mounts("cat /data/v.txt"))
        .await
        .unwrap();
    let (lines, _, _) = until_exit(&mut rx, "s.app-0").await;
    assert_eq!(
        lines,
        vec!["kept"],
        "the named volume outlived the first container"
    );
    let labels = rt.engine().inspect_volume(&volume).await.unwrap().labels;
    assert_eq!(labels.get("orco.scope"), Some(&scope.name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_runs_container_launches_on_docker_and_execs_probes_inside_them() {
    let scope = Scope::new("router");
    let docker = scope.runtime().await;
    // The process side is a second docker scope here: what matters is where each call goes.
    let other = Scope::new("router-proc");
    let process = other.runtime().await;
    let router = orco_docker::Router::new(process.clone(), Some(docker.clone()));
    let mut rx = router.watch(BTreeMap::new()).await.unwrap();
    router
        .start(
            "s.db-0",
            &launch("s", "db", "touch /tmp/ok; echo up; sleep 1000"),
        )
        .await
        .unwrap();
    until_line(&mut rx, "s.db-0", "up").await;
    assert_eq!(docker.list().await.unwrap().len(), 1);
    assert!(process.list().await.unwrap().is_empty());
    let ok = router
        .exec("s.db-0", &["test".into(), "-e".into(), "/tmp/ok".into()])
        .await;
    assert_eq!(ok.map(Result::unwrap), Some(0));
    router
        .stop("s.db-0", Signal::SIGKILL, Duration::from_secs(5))
        .await
        .unwrap();
    let (_, _, status) = until_exit(&mut rx, "s.db-0").await;
    assert_eq!(status, ExitStatus::Signal(9));
    router.forget("s.db-0").await.unwrap();
    assert!(router.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stops_of_one_container_all_answer_its_exit() {
    let scope = Scope::new("stops");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    rt.start("s.x-0", &launch("s", "x", "echo up; sleep 1000"))
        .await
        .unwrap();
    until_line(&mut rx, "s.x-0", "up").await;
    let stops: Vec<_> = (0..20)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move {
                rt.stop("s.x-0", Signal::SIGTERM, Duration::from_millis(200))
                    .await
            })
        })
        .collect();
    let mut forced = 0;
    for stop in stops {
        let stopped = stop.await.unwrap().unwrap();
        assert_eq!(stopped.status, ExitStatus::Signal(9));
        forced += usize::from(stopped.forced);
    }
    assert_eq!(forced, 1, "one escalation, shared");
    let (_, _, status) = until_exit(&mut rx, "s.x-0").await;
    assert_eq!(status, ExitStatus::Signal(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_of_the_same_name_that_is_not_orcos_is_refused_and_left_alone() {
    let scope = Scope::new("foreign");
    let rt = scope.runtime().await;
    let name = orco_docker::names::container_name(rt.scope(), "s.f-0");
    let created = std::process::Command::new("docker")
        .args(["create", "--name", &name, common::IMAGE, "true"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let err = rt
        .start("s.f-0", &launch("s", "f", "true"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Container(ContainerError::Foreign { name: n, .. }) if *n == name),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains("is not orco's"), "{err}");
    assert!(rt.forget("s.f-0").await.is_err());
    assert!(rt.list().await.unwrap().is_empty());
    let still_there = rt.engine().inspect_container(&name, None).await.is_ok();
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &name])
        .output();
    assert!(still_there, "the foreign container was left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_s_limits_are_the_engine_s_and_its_memory_limit_is_hard() {
    let scope = Scope::new("limits");
    let rt = scope.runtime().await;
    let mut rx = watch(&rt).await;
    let mut l = launch(
        "s",
        "hog",
        "dd if=/dev/zero of=/dev/null bs=256M count=1; echo rc=$?",
    );
    if let Some(c) = l.container.as_mut() {
        c.limits = orco_spec::Limits {
            cpu: Some(orco_spec::Cpu(500)),
            memory: Some(orco_spec::Memory(64 << 20)),
        };
    }
    rt.start("s.hog-0", &l).await.unwrap();
    let (lines, _, status) = until_exit(&mut rx, "s.hog-0").await;
    // dd's 256 MiB buffer is more than the container may have: the kernel kills it.
    assert!(lines.contains(&"rc=137".to_string()), "{lines:?}");
    assert_eq!(status, ExitStatus::Code(0));
    let name = format!("{}-s.hog-0", scope.name);
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}",
            &name,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "67108864 67108864 500000000",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_without_a_docker_engine_refuses_a_container_launch_naming_the_instance() {
    let scope = Scope::new("noengine");
    // The process side is a docker scope here: what matters is that no engine serves containers.
    let process = scope.runtime().await;
    let router = orco_docker::Router::<_, orco_docker::DockerRuntime>::new(process.clone(), None);
    let err = router
        .start("s.db-0", &launch("s", "db", "true"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Container(ContainerError::NoEngine { instance }) if instance == "s.db-0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("start dockerd"), "{err}");
    assert!(process.list().await.unwrap().is_empty());
}

//! The process runtime against real processes under a real keeper.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use orco_runtime::{ExitStatus, Launch, Runtime, RuntimeError, RuntimeEvent, Signal, Source};

#[tokio::test]
async fn stop_reaches_grandchildren_and_leaves_no_process_in_proc() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let pid_file = k.path("pids");
    let pid_arg = pid_file.display().to_string();
    k.fixture(
        "tree-0",
        &[
            "--grandchildren",
            "3",
            "--pid-file",
            &pid_arg,
            "--ready",
            "up",
        ],
    )
    .await;
    line(&mut rx, "tree-0", "up").await;
    let pids = pids(&pid_file).await;
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|&p| alive(p)));

    let stopped = k
        .runtime
        .stop("tree-0", Signal::SIGTERM, Duration::from_secs(20))
        .await
        .expect("stop");
    assert!(!stopped.forced, "SIGTERM was enough");
    assert_eq!(stopped.status, ExitStatus::Signal(Signal::SIGTERM as i32));
    for pid in pids {
        assert!(gone(pid), "process {pid} survived the stop");
    }
}

#[tokio::test]
async fn a_process_tree_ignoring_sigterm_is_killed_after_the_timeout() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let pid_file = k.path("pids");
    let pid_arg = pid_file.display().to_string();
    k.fixture(
        "stubborn-0",
        &[
            "--ignore-term",
            "--grandchildren",
            "2",
            "--grandchildren-ignore-term",
            "--pid-file",
            &pid_arg,
            "--ready",
            "up",
        ],
    )
    .await;
    line(&mut rx, "stubborn-0", "up").await;
    let pids = pids(&pid_file).await;

    let stopped = k
        .runtime
        .stop("stubborn-0", Signal::SIGTERM, Duration::from_millis(300))
        .await
        .expect("stop");
    assert!(stopped.forced, "SIGTERM is ignored, so SIGKILL was needed");
    assert_eq!(stopped.status, ExitStatus::Signal(Signal::SIGKILL as i32));
    for pid in pids {
        assert!(gone(pid), "process {pid} survived the forced stop");
    }
}

#[tokio::test]
async fn a_stop_after_the_leader_exited_sweeps_what_is_left_of_its_group() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let pid_file = k.path("pids");
    let pid_arg = pid_file.display().to_string();
    k.fixture(
        "leaver-0",
        &[
            "--grandchildren",
            "1",
            "--pid-file",
            &pid_arg,
            "--ready",
            "up",
            "--exit",
            "0@0",
        ],
    )
    .await;
    let status = until(&mut rx, |e| match e {
        RuntimeEvent::Exited {
            instance, status, ..
        } if instance == "leaver-0" => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, ExitStatus::Code(0));
    let pids = pids(&pid_file).await;
    let grandchild = pids[1];
    assert!(alive(grandchild), "the grandchild outlives its parent");
    let info = k.runtime.list().await.expect("list");
    assert!(info[0].group_alive && info[0].exit.is_some());

    let stopped = k
        .runtime
        .stop("leaver-0", Signal::SIGTERM, Duration::from_secs(20))
        .await
        .expect("stop");
    assert_eq!(stopped.status, ExitStatus::Code(0));
    assert!(
        gone(grandchild),
        "the orphaned grandchild was stopped and reaped"
    );
    assert!(!k.runtime.list().await.expect("list")[0].group_alive);
}

#[tokio::test]
async fn env_workdir_and_env_files_reach_the_instance_and_nothing_else_does() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let workdir = k.path("work");
    std::fs::create_dir(&workdir).expect("mkdir");
    let env_file = k.path("app.env");
    std::fs::write(&env_file, "FROM_FILE=file\nOVERRIDDEN=file\n").expect("write");
    let explicit = BTreeMap::from([
        ("OVERRIDDEN".to_string(), "explicit".to_string()),
        ("ORCO_INSTANCE".to_string(), "envy-0".to_string()),
    ]);
    let env_out = k.path("env.txt").display().to_string();
    let cwd_out = k.path("cwd.txt").display().to_string();
    let launch = Launch::new([
        fixture(),
        "--env-file".into(),
        env_out.clone(),
        "--cwd-file".into(),
        cwd_out.clone(),
        "--exit".into(),
        "0".into(),
    ])
    .env_files(&[&env_file], &explicit)
    .expect("env file")
    .workdir(&workdir);
    let pid = k.runtime.start("envy-0", &launch).await.expect("start").pid;
    k.reaper.group(pid);
    until(&mut rx, |e| {
        matches!(e, RuntimeEvent::Exited { instance, .. } if instance == "envy-0").then_some(())
    })
    .await;

    let env = std::fs::read_to_string(&env_out).expect("env written");
    let vars: Vec<&str> = env.lines().collect();
    assert_eq!(
        vars,
        vec![
            "FROM_FILE=file",
            "ORCO_INSTANCE=envy-0",
            "OVERRIDDEN=explicit"
        ]
    );
    let cwd = std::fs::read_to_string(&cwd_out).expect("cwd written");
    assert_eq!(
        cwd.trim(),
        workdir
            .canonicalize()
            .expect("canonical")
            .display()
            .to_string()
    );
}

#[tokio::test]
async fn a_bare_program_name_is_found_in_the_instances_path_and_keeps_its_name_as_argv0() {
    use std::os::unix::fs::PermissionsExt;
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let bin = k.path("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let script = bin.join("greet");
    std::fs::write(&script, "#!/bin/sh\necho greeted from the instance path\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let launch = Launch::new(["greet".to_string()]).env("PATH", &path);
    let pid = k
        .runtime
        .start("greet-0", &launch)
        .await
        .expect("start")
        .pid;
    k.reaper.group(pid);
    line(&mut rx, "greet-0", "greeted from the instance path").await;
    // `sh -c` prints its own argv[0] as $0: the name given, not where it was found.
    let launch = Launch::new(["sh", "-c", "echo \"zero=$0\""].map(String::from)).env("PATH", &path);
    let pid = k.runtime.start("zero-0", &launch).await.expect("start").pid;
    k.reaper.group(pid);
    line(&mut rx, "zero-0", "zero=sh").await;
}

#[tokio::test]
async fn a_shell_string_runs_through_bin_sh() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let launch = Launch::from_command(&orco_spec::Command::Shell(
        "echo \"$GREETING world\"; exit 4".into(),
    ))
    .env("GREETING", "hello");
    let pid = k.runtime.start("sh-0", &launch).await.expect("start").pid;
    k.reaper.group(pid);
    line(&mut rx, "sh-0", "hello world").await;
    let status = until(&mut rx, |e| match e {
        RuntimeEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, ExitStatus::Code(4));
}

#[tokio::test]
async fn both_streams_are_captured_line_by_line_with_their_source() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    k.fixture(
        "talk-0",
        &[
            "--stdout",
            "to out",
            "--stderr",
            "to err",
            "--binary",
            "1",
            "--long-line",
            "200000",
        ],
    )
    .await;
    let mut seen_out = false;
    let mut seen_err = false;
    let mut seen_binary = false;
    let mut long = Vec::new();
    until(&mut rx, |e| {
        if let RuntimeEvent::Output(l) = e {
            match (l.source, l.bytes.as_slice()) {
                (Source::Stdout, b"to out") => seen_out = true,
                (Source::Stderr, b"to err") => seen_err = true,
                (Source::Stdout, b"bad \xff\xfe bytes \xc3") => seen_binary = true,
                (Source::Stdout, bytes) if bytes.first() == Some(&b'x') => {
                    long.extend_from_slice(bytes);
                    if !l.continued {
                        assert_eq!(
                            long.len(),
                            200_000,
                            "the long line arrives whole, in pieces"
                        );
                    }
                }
                _ => {}
            }
        }
        (seen_out && seen_err && seen_binary && long.len() == 200_000).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_flood_of_lines_arrives_complete_and_in_order() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    k.fixture("flood-0", &["--lines", "20000"]).await;
    let mut next = 1;
    until(&mut rx, |e| {
        if let RuntimeEvent::Output(l) = e {
            assert_eq!(l.text(), format!("line {next}"));
            next += 1;
        }
        (next > 20000).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_watch_from_an_offset_replays_exactly_what_follows_it() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    k.fixture("count-0", &["--lines", "100", "--exit", "0@200"])
        .await;
    let fiftieth = line(&mut rx, "count-0", "line 50").await;
    line(&mut rx, "count-0", "line 100").await;

    let from = BTreeMap::from([("count-0".to_string(), fiftieth.next_offset())]);
    let mut replay = k.runtime.watch(from).await.expect("watch");
    for n in 51..=100 {
        let l = until(&mut replay, |e| match e {
            RuntimeEvent::Output(l) => Some(l.clone()),
            _ => None,
        })
        .await;
        assert_eq!(l.text(), format!("line {n}"));
    }
}

#[tokio::test]
async fn an_exit_code_is_reported_and_listed_until_forgotten() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let pid = k.fixture("crash-0", &["--exit", "7@10"]).await;
    let (epid, status) = until(&mut rx, |e| match e {
        RuntimeEvent::Exited { pid, status, .. } => Some((*pid, *status)),
        _ => None,
    })
    .await;
    assert_eq!((epid, status), (pid, ExitStatus::Code(7)));
    let list = k.runtime.list().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].exit.map(|e| e.status), Some(ExitStatus::Code(7)));

    k.runtime.forget("crash-0").await.expect("forget");
    assert!(k.runtime.list().await.expect("list").is_empty());
    assert!(matches!(
        k.runtime.forget("crash-0").await,
        Err(RuntimeError::UnknownInstance(_))
    ));
}

#[tokio::test]
async fn a_running_instance_cannot_be_started_twice_but_an_ended_one_is_replaced() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    k.fixture("once-0", &["--exit", "1@0"]).await;
    until(&mut rx, |e| {
        matches!(e, RuntimeEvent::Exited { .. }).then_some(())
    })
    .await;
    let second = k.fixture("once-0", &["--ready", "again"]).await;
    line(&mut rx, "once-0", "again").await;
    let launch = Launch::new([fixture()]);
    let err = k
        .runtime
        .start("once-0", &launch)
        .await
        .expect_err("still running");
    assert!(err.to_string().contains("still running"), "{err}");
    assert_eq!(k.runtime.list().await.expect("list")[0].pid, second);
}

#[tokio::test]
async fn a_missing_program_or_workdir_is_a_clear_error_and_the_keeper_carries_on() {
    let k = TestKeeper::start().await;
    let err = k
        .runtime
        .start("nope-0", &Launch::new(["/nonexistent/program"]))
        .await
        .expect_err("no such program");
    assert!(
        matches!(&err, RuntimeError::Spawn { program, .. } if program == "/nonexistent/program")
    );
    assert!(
        err.to_string()
            .starts_with("cannot start `/nonexistent/program`"),
        "{err}"
    );
    assert_eq!(
        err.to_string().matches("cannot start").count(),
        1,
        "the program is named once: {err}"
    );

    let launch = Launch::new([fixture()]).workdir("/nonexistent/dir");
    let err = k
        .runtime
        .start("nope-1", &launch)
        .await
        .expect_err("no such dir");
    assert!(
        err.to_string()
            .contains("working directory /nonexistent/dir does not exist"),
        "{err}"
    );

    let err = k
        .runtime
        .start("../escape", &Launch::new(["true"]))
        .await
        .expect_err("bad name");
    assert!(matches!(err, RuntimeError::BadInstanceName(_)));
    assert!(
        k.runtime
            .list()
            .await
            .expect("keeper still answers")
            .is_empty()
    );
}

#[tokio::test]
async fn a_hundred_concurrent_stops_and_signals_on_one_instance_all_answer() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    k.fixture("busy-0", &["--ignore-term", "--ready", "up"])
        .await;
    line(&mut rx, "busy-0", "up").await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..100 {
        let rt = k.runtime.clone();
        calls.spawn(async move {
            if i % 2 == 0 {
                rt.stop("busy-0", Signal::SIGTERM, Duration::from_millis(200))
                    .await
                    .map(Some)
            } else {
                rt.signal("busy-0", Signal::SIGCONT).await.map(|()| None)
            }
        });
    }
    let mut stops = Vec::new();
    while let Some(result) = calls.join_next().await {
        if let Some(stopped) = result.expect("task").expect("call answers") {
            stops.push(stopped);
        }
    }
    assert_eq!(stops.len(), 50);
    assert!(
        stops
            .iter()
            .all(|s| s.status == ExitStatus::Signal(Signal::SIGKILL as i32))
    );
    let info = k.runtime.list().await.expect("list");
    assert!(info[0].exit.is_some() && !info[0].group_alive);
    // Still usable afterwards: the name can be started again.
    k.fixture("busy-0", &["--ready", "again"]).await;
    line(&mut rx, "busy-0", "again").await;
}

#[tokio::test]
async fn a_second_keeper_on_the_same_directory_refuses_to_start() {
    let k = TestKeeper::start().await;
    let out = std::process::Command::new(keeper_program())
        .args(["--dir", &k.dir.path().display().to_string(), "--foreground"])
        .output()
        .expect("run keeper");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another keeper already serves"), "{stderr}");
    assert!(
        k.runtime.list().await.is_ok(),
        "the first keeper is undisturbed"
    );
}

#[tokio::test]
async fn shutdown_is_refused_while_instances_run_unless_they_are_killed() {
    let k = TestKeeper::start().await;
    let mut rx = watch_all(&k.runtime).await;
    let pid = k.fixture("last-0", &["--ready", "up"]).await;
    line(&mut rx, "last-0", "up").await;
    let err = k.runtime.shutdown(false).await.expect_err("busy");
    assert!(err.to_string().contains("1 instance(s) still run"), "{err}");
    k.runtime.shutdown(true).await.expect("shutdown");
    let keeper = k.runtime.keeper_pid();
    eventually("the instance is killed", || !alive(pid)).await;
    eventually("the keeper exits", || !alive(keeper)).await;
}

#[tokio::test]
async fn a_container_launch_is_refused_by_the_process_runtime_with_its_own_kind() {
    let k = TestKeeper::start().await;
    let launch = Launch::new(["true"]).container(orco_runtime::Container {
        image: "busybox:1".into(),
        stack: "s".into(),
        service: "box".into(),
        ..orco_runtime::Container::default()
    });
    let err = k
        .runtime
        .start("box-0", &launch)
        .await
        .expect_err("not a process");
    assert!(
        matches!(&err, RuntimeError::NotAProcess { image } if image == "busybox:1"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the process runtime cannot run the container image `busybox:1`"),
        "{err}"
    );
    assert!(k.runtime.list().await.expect("list").is_empty());
}

//! Workloads outlive the engine: the engine side (a client) is SIGKILLed, a new one
//! re-attaches to the keeper and loses nothing.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orco_runtime::{ExitStatus, Launch, ProcessRuntime, Runtime, RuntimeEvent};

const ENGINE_DIR: &str = "ORCO_TEST_ENGINE_DIR";

/// The engine side, run in a child process by the survival test (ignored on its own).
#[tokio::test]
#[ignore = "run by instances_survive_the_engine_being_killed_and_a_new_engine_recovers_everything"]
async fn engine_side_of_the_survival_test() {
    let Some(dir) = std::env::var_os(ENGINE_DIR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let rt = ProcessRuntime::connect_or_start(&dir, keeper_program(), &keeper_args(&dir))
        .await
        .expect("keeper starts");
    let mut rx = rt.watch(BTreeMap::new()).await.expect("watch");
    let trigger = dir.join("go");
    let trigger = trigger.display().to_string();
    // Both wait for the test to create `go` (the engine is dead by then), via the shell.
    let talker = Launch::new([
        "/bin/sh",
        "-c",
        "echo before; while [ ! -e \"$GO\" ]; do sleep 0.01; done; echo during; exec sleep 1000",
    ])
    .env("GO", &trigger);
    let quitter = Launch::new([
        "/bin/sh",
        "-c",
        "while [ ! -e \"$GO\" ]; do sleep 0.01; done; echo bye; exit 7",
    ])
    .env("GO", &trigger);
    let talker = rt.start("talker-0", &talker).await.expect("talker").pid;
    let quitter = rt.start("quitter-0", &quitter).await.expect("quitter").pid;
    line(&mut rx, "talker-0", "before").await;
    println!(
        "ENGINE talker={talker} quitter={quitter} keeper={}",
        rt.keeper_pid()
    );
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn instances_survive_the_engine_being_killed_and_a_new_engine_recovers_everything() {
    // The keeper outlives its starter; as a subreaper this test inherits it and can reap
    // it at the end instead of leaving a zombie to an init that may not reap.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let dir = tempfile::tempdir().expect("tempdir");
    let reaper = Reaper::default();
    let mut engine = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "engine_side_of_the_survival_test",
            "--ignored",
            "--nocapture",
        ])
        .env(ENGINE_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("engine starts");
    let engine_pid = i32::try_from(engine.id()).expect("pid");
    reaper.pid(engine_pid);
    let stdout = engine.stdout.take().expect("stdout");
    let mut pids = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("engine output");
        if let Some(rest) = line.strip_prefix("ENGINE ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("k=v");
                pids.insert(k.to_string(), v.parse::<i32>().expect("pid"));
            }
            break;
        }
    }
    let (talker, quitter, keeper) = (pids["talker"], pids["quitter"], pids["keeper"]);
    reaper.pid(keeper);
    reaper.keeper(dir.path(), keeper);
    reaper.group(talker);
    reaper.group(quitter);

    // The engine dies without a chance to clean up.
    kill(Pid::from_raw(engine_pid), Signal::SIGKILL).expect("kill engine");
    engine.wait().expect("reap engine");
    assert!(
        alive(keeper) && alive(talker) && alive(quitter),
        "all survive the engine"
    );

    // While no engine runs: the talker prints, the quitter exits.
    std::fs::write(dir.path().join("go"), "").expect("trigger");
    eventually("the quitter exits and is reaped by the keeper", || {
        gone(quitter)
    })
    .await;

    let rt = ProcessRuntime::connect(dir.path())
        .await
        .expect("a new engine connects");
    assert_eq!(rt.keeper_pid(), keeper);
    let list = rt.list().await.expect("list");
    let quit = list
        .iter()
        .find(|i| i.instance == "quitter-0")
        .expect("quitter listed");
    assert_eq!(quit.exit.map(|e| e.status), Some(ExitStatus::Code(7)));
    let talk = list
        .iter()
        .find(|i| i.instance == "talker-0")
        .expect("talker listed");
    assert_eq!((talk.pid, talk.exit), (talker, None));

    // Everything printed is there from offset 0, including what came while no engine ran.
    let from = BTreeMap::from([("talker-0".to_string(), 0), ("quitter-0".to_string(), 0)]);
    let mut rx = rt.watch(from).await.expect("watch");
    let mut texts = Vec::new();
    let mut quitter_status = None;
    until(&mut rx, |e| {
        match e {
            RuntimeEvent::Output(l) => texts.push(format!("{}: {}", l.instance, l.text())),
            RuntimeEvent::Exited {
                instance, status, ..
            } if instance == "quitter-0" => quitter_status = Some(*status),
            RuntimeEvent::Exited { .. } => {}
        }
        (texts.len() == 3 && quitter_status.is_some()).then_some(())
    })
    .await;
    texts.sort();
    assert_eq!(
        texts,
        vec!["quitter-0: bye", "talker-0: before", "talker-0: during"]
    );
    assert_eq!(quitter_status, Some(ExitStatus::Code(7)));

    rt.stop(
        "talker-0",
        Signal::SIGTERM,
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("the new engine stops the adopted instance");
    assert!(gone(talker));
    rt.shutdown(false)
        .await
        .expect("keeper shuts down once idle");
    let status = nix::sys::wait::waitpid(Pid::from_raw(keeper), None).expect("reap the keeper");
    assert!(
        matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
}

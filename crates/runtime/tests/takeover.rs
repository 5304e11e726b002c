//! A keeper that dies takes nothing with it: the next keeper takes its instances over,
//! output and exit included, and never runs a second process beside one of them.

mod common;

use std::collections::BTreeMap;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orco_runtime::{ExitStatus, Launch, ProcessRuntime, Runtime, RuntimeEvent};

/// The number a printer's line carries (`n17` → 17).
fn number(text: &str) -> Option<u64> {
    text.strip_prefix('n')?.parse().ok()
}

/// SIGKILLs the test keeper's process and reaps it; returns its pid.
fn kill_keeper(keeper: &TestKeeper) -> i32 {
    let pid = keeper.runtime.keeper_pid();
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the keeper");
    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    pid
}

/// Starts the next keeper on the test keeper's directory, shut down with the test.
async fn next_keeper(keeper: &TestKeeper) -> ProcessRuntime {
    let dir = keeper.dir.path();
    let rt = ProcessRuntime::connect_or_start(dir, keeper_program(), &keeper_args(dir))
        .await
        .expect("a new keeper starts");
    keeper.reaper.pid(rt.keeper_pid());
    keeper.reaper.keeper(dir, rt.keeper_pid());
    rt
}

#[tokio::test]
async fn a_new_keeper_takes_over_the_instances_of_a_killed_one_with_their_output_and_exit() {
    // Orphans of the killed keeper come to this test, which leaves their zombies for the
    // new keeper to read their status from, and reaps them at the end.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let keeper = TestKeeper::start().await;
    let go = keeper.path("go").display().to_string();
    let printer = Launch::new([
        "/bin/sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo n$i; sleep 0.01; done",
    ]);
    let quitter = Launch::new([
        "/bin/sh",
        "-c",
        "while [ ! -e \"$GO\" ]; do sleep 0.01; done; echo bye; exit 7",
    ])
    .env("GO", &go);
    let printer = keeper
        .runtime
        .start("printer-0", &printer)
        .await
        .expect("printer")
        .pid;
    let quitter = keeper
        .runtime
        .start("quitter-0", &quitter)
        .await
        .expect("quitter")
        .pid;
    keeper.reaper.group(printer);
    keeper.reaper.group(quitter);
    let mut rx = watch_all(&keeper.runtime).await;
    let before = until(&mut rx, |e| match e {
        RuntimeEvent::Output(l) if l.instance == "printer-0" => {
            number(&l.text()).filter(|n| *n >= 3)
        }
        _ => None,
    })
    .await;

    // The keeper dies; the printer goes on printing into its FIFO meanwhile.
    let first = kill_keeper(&keeper);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(alive(printer), "a printing instance outlives its keeper");

    let rt = next_keeper(&keeper).await;
    assert_ne!(rt.keeper_pid(), first);

    // The same processes, taken over: not stopped, not started again.
    let list = rt.list().await.expect("list");
    let pids: BTreeMap<&str, (i32, bool)> = list
        .iter()
        .map(|i| (i.instance.as_str(), (i.pid, i.exit.is_none())))
        .collect();
    assert_eq!(
        pids,
        BTreeMap::from([
            ("printer-0", (printer, true)),
            ("quitter-0", (quitter, true))
        ])
    );

    // Its output goes on where it was, through the new keeper, with no line lost.
    let from = BTreeMap::from([("printer-0".to_string(), 0)]);
    let mut rx = rt.watch(from).await.expect("watch");
    let mut seen = Vec::new();
    until(&mut rx, |e| match e {
        RuntimeEvent::Output(l) if l.instance == "printer-0" => {
            seen.extend(number(&l.text()));
            seen.last().is_some_and(|n| *n > before + 20).then_some(())
        }
        _ => None,
    })
    .await;
    let expected: Vec<u64> = (1..=*seen.last().expect("lines")).collect();
    assert_eq!(seen, expected, "every line, once, in order");

    // Its exit is seen, with its status, though the new keeper is not its parent.
    std::fs::write(&go, "").expect("trigger");
    let status = until(&mut rx, |e| match e {
        RuntimeEvent::Exited {
            instance, status, ..
        } if instance == "quitter-0" => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, ExitStatus::Code(7));

    // A stop of a taken-over instance is answered once its group is gone.
    let stopped = rt
        .stop(
            "printer-0",
            nix::sys::signal::Signal::SIGTERM,
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("stop");
    assert_eq!(stopped.status, ExitStatus::Signal(15));
    assert!(!alive(printer));
    for pid in [printer, quitter] {
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    }
}

#[tokio::test]
async fn an_instance_a_new_keeper_cannot_take_over_is_stopped_before_anything_starts() {
    let keeper = TestKeeper::start().await;
    let sleeper = Launch::new(["/bin/sh", "-c", "exec sleep 1000"]);
    let pid = keeper
        .runtime
        .start("sleeper-0", &sleeper)
        .await
        .expect("start")
        .pid;
    keeper.reaper.group(pid);
    kill_keeper(&keeper);
    // Its output FIFOs are lost (as from a keeper of an earlier version, which had none).
    let dir = keeper.path("instances").join("sleeper-0");
    std::fs::remove_file(dir.join("stdout")).expect("remove the FIFO");

    let rt = next_keeper(&keeper).await;
    assert!(!alive(pid), "stopped before the new keeper answered");
    assert!(rt.list().await.expect("list").is_empty());
    // The name is free for a replacement.
    let again = rt
        .start("sleeper-0", &sleeper)
        .await
        .expect("start again")
        .pid;
    keeper.reaper.group(again);
    assert_ne!(again, pid);
}

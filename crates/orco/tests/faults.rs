//! Faults on the node side, through the real daemon and keeper: daemon restarts (SIGKILL and
//! SIGTERM) that must not act on what is already on record, keeper deaths that must leave no
//! orphan and no second process for a slot, floods that must not grow a file without bound,
//! and a full disk that must not keep orco from stopping what fills it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::World;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);

/// How long a restarted daemon is watched for acting on something it should not: every
/// replay seen so far happened within a second of the start.
const WATCH: Duration = Duration::from_secs(3);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn by_name<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in {items:?}"))
}

/// How many times a service's command started: each start appends a line to its file.
fn starts(world: &World, service: &str) -> usize {
    std::fs::read_to_string(world.dir.path().join(format!("{service}.starts")))
        .map_or(0, |s| s.lines().count())
}

/// A command that counts its starts in `DIR/SERVICE.starts`, then runs `then`.
fn counted(dir: &Path, service: &str, then: &str) -> String {
    let file = dir.join(format!("{service}.starts"));
    format!("['sh', '-c', 'echo s >> {}; {then}']", file.display())
}

/// `orco ps -o json` and `orco status -o json` without what changes by itself (the time of
/// the answer and the log's revision).
fn observed(world: &World) -> (Value, Value) {
    let strip = |text: String| {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("as_of");
        o.remove("revision");
        v
    };
    (
        strip(world.ok(&["ps", "-o", "json"])),
        strip(world.ok(&["status", "-o", "json"])),
    )
}

/// Sends SIGTERM to the daemon and waits until it is gone.
fn terminate_daemon(world: &World) {
    let pid = world.daemon_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("the daemon to exit after SIGTERM", || {
        world.daemon_pid().is_none()
    });
    // Its lock may outlive its pid file's owner for a moment: the kill path waits for that.
    world.kill_daemon();
}

#[test]
fn a_daemon_start_never_acts_again_on_exits_already_on_record() {
    let world = World::new();
    let dir = world.dir.path();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: replay}}\nservices:\n\
             \x20 quitter:\n    command: {}\n    restartPolicy: {{mode: on-failure, maxRetries: 2, backoff: {{min: 100ms, max: 100ms}}}}\n\
             \x20 backing:\n    command: {}\n    restartPolicy: {{mode: on-failure, backoff: {{min: 10m, max: 10m}}}}\n\
             \x20 done:\n    command: {}\n    restartPolicy: {{mode: on-failure}}\n\
             \x20 stopped:\n    command: {}\n\
             \x20 runner:\n    command: {}\n",
            counted(dir, "quitter", "sleep 0.2; exit 1"),
            counted(dir, "backing", "exit 1"),
            counted(dir, "done", "exit 0"),
            counted(dir, "stopped", "exec sleep 1000"),
            counted(dir, "runner", "exec sleep 1000"),
        ),
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    wait_until("every service to settle", || {
        let items = world.instances();
        items.len() == 5
            && by_name(&items, "quitter-0")["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("gave up"))
            && by_name(&items, "backing-0")["backoff_until"].is_string()
            && by_name(&items, "done-0")["phase"] == "succeeded"
            && by_name(&items, "runner-0")["phase"] == "running"
            && by_name(&items, "stopped-0")["phase"] == "running"
    });
    world.ok(&["stop", "stopped"]);
    wait_until("stopped-0 to stop", || {
        by_name(&world.instances(), "stopped-0")["phase"] == "stopped"
    });
    std::thread::sleep(WATCH);
    let before = observed(&world);
    let counts =
        |w: &World| ["quitter", "backing", "done", "stopped", "runner"].map(|s| (s, starts(w, s)));
    let starts_before = counts(&world);
    assert_eq!(
        starts_before,
        [
            ("quitter", 2),
            ("backing", 1),
            ("done", 1),
            ("stopped", 1),
            ("runner", 1)
        ]
    );

    for (round, how) in ["SIGKILL", "SIGTERM", "SIGKILL"].iter().enumerate() {
        if *how == "SIGKILL" {
            world.kill_daemon();
        } else {
            terminate_daemon(&world);
        }
        world.start_daemon();
        std::thread::sleep(WATCH);
        assert_eq!(
            counts(&world),
            starts_before,
            "after {how} (round {round}): processes were started again"
        );
        let after = observed(&world);
        assert_eq!(after.0, before.0, "orco ps after {how} (round {round})");
        assert_eq!(after.1, before.1, "orco status after {how} (round {round})");
    }
    let history = world.ok(&["history", "stopped-0"]);
    assert!(!history.contains("restarting"), "{history}");
}

#[test]
fn an_exit_while_no_daemon_ran_is_recorded_once_and_the_backoff_goes_on_from_there() {
    let world = World::new();
    let dir = world.dir.path();
    let flag = dir.join("fail-now");
    // Runs until the flag file appears, then fails; a restart runs until it is removed again.
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: once}}\nservices:\n\
             \x20 flaky:\n    command: {}\n    restartPolicy: {{mode: on-failure, maxRetries: 3, backoff: {{min: 2s, max: 2s}}}}\n",
            counted(
                dir,
                "flaky",
                &format!(
                    "while [ ! -e {0} ]; do sleep 0.05; done; exit 1",
                    flag.display()
                )
            ),
        ),
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    // Two failures while the daemon runs.
    std::fs::write(&flag, "").unwrap();
    wait_until("flaky to fail twice", || {
        by_name(&world.instances(), "flaky-0")["failures"] == 2
    });
    std::fs::remove_file(&flag).unwrap();
    wait_until("flaky to run again", || {
        let items = world.instances();
        let f = by_name(&items, "flaky-0");
        f["phase"] == "running" && starts(&world, "flaky") == 3
    });
    // The third failure happens while no daemon runs: recorded once by the next one, which
    // then gives up (maxRetries 3), and never counts from zero again.
    world.kill_daemon();
    std::fs::write(&flag, "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    world.start_daemon();
    wait_until("flaky to give up", || {
        by_name(&world.instances(), "flaky-0")["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("gave up after 3"))
    });
    assert_eq!(starts(&world, "flaky"), 3);
    let before = observed(&world);
    world.kill_daemon();
    world.start_daemon();
    std::thread::sleep(WATCH);
    assert_eq!(starts(&world, "flaky"), 3);
    assert_eq!(observed(&world), before);
    let history = world.ok(&["history", "flaky-0"]);
    assert_eq!(history.matches("exited (exit 1)").count(), 3, "{history}");
}

/// Bytes a file takes on disk (its allocated blocks: holes given back are not counted).
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

#[test]
fn a_flooding_service_never_grows_the_keepers_spool_beyond_its_cap() {
    let world = World::new();
    let file = world.file(
        "stack.yaml",
        "version: 0.1\nstack: {name: flood}\nservices:\n  yes:\n    command: ['sh', '-c', 'yes $(printf \"%0199d\" 0)']\n",
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    let spool = world.data().join("keeper/instances/flood.yes-0/output.log");
    wait_until("the spool to exist", || spool.exists());
    // The flood goes on for five seconds; with nobody consuming, yes writes hundreds of MB
    // a second.
    let cap = orco_runtime::keeper::SPOOL_CAP;
    let mut largest = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        largest = largest.max(allocated(&spool));
        std::thread::sleep(Duration::from_millis(20));
    }
    let logical = std::fs::metadata(&spool).unwrap().len();
    assert!(
        largest <= cap + (1 << 20),
        "the spool took {largest} bytes on disk (cap {cap})"
    );
    // It went through the spool all the same: far more than the cap was written.
    assert!(logical > cap, "only {logical} bytes went through the spool");
    world.ok(&["stop", "yes"]);
}

/// The live process groups of each instance of `stack`, by `ORCO_INSTANCE` (from the
/// environment every instance process inherits), zombies left out.
fn groups_per_slot(
    stack: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<i32>> {
    let mut slots: std::collections::BTreeMap<String, std::collections::BTreeSet<i32>> =
        std::collections::BTreeMap::new();
    let want = format!("ORCO_STACK={stack}");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if !vars.contains(&want.as_bytes()) {
            continue;
        }
        let Some(instance) = vars
            .iter()
            .find_map(|v| v.strip_prefix(b"ORCO_INSTANCE="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        if fields[0] == "Z" {
            continue;
        }
        slots
            .entry(instance)
            .or_default()
            .insert(fields[2].parse().unwrap());
    }
    slots
}

/// The pid of the keeper serving this world's data dir.
fn keeper_pid(world: &World) -> Option<i32> {
    let dir = world.data().join("keeper");
    let dir = dir.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            (args.contains(&&b"keeper"[..])
                && args.contains(&dir.as_bytes())
                && !stat.contains(") Z "))
            .then_some(pid)
        })
}

/// Waits until every slot in `slots` has exactly one live process group and no other slot
/// has any, checking at every look that no slot ever has two.
fn one_group_per_slot(stack: &str, slots: &[&str]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = groups_per_slot(stack);
        for (slot, groups) in &now {
            assert!(groups.len() <= 1, "{slot} runs twice: groups {groups:?}");
        }
        let names: Vec<&str> = now.keys().map(String::as_str).collect();
        if names == slots {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slots never settled to {slots:?}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_keeper_leaves_no_orphan_and_never_a_second_process_for_a_slot() {
    let world = World::new();
    let file = world.file(
        "stack.yaml",
        "version: 0.1\nstack: {name: orphans}\nservices:\n\
         \x20 silent: {command: [sleep, '1000'], replicas: 2}\n\
         \x20 printer: {command: [sh, -c, 'while :; do echo tick; sleep 0.05; done'], replicas: 2}\n",
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    let slots = ["printer-0", "printer-1", "silent-0", "silent-1"];
    one_group_per_slot("orphans", &slots);
    let kill9 = |pid: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    };

    let pids = |world: &World| -> Vec<(String, i64)> {
        let mut pids: Vec<(String, i64)> = world
            .instances()
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["pid"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        pids.sort();
        pids
    };
    let before = pids(&world);
    let ticks = |world: &World| {
        world
            .ok(&["logs", "printer"])
            .lines()
            .filter(|l| l.contains("tick"))
            .count()
    };

    // The keeper dies under a running daemon: it notices at once, and the new keeper takes
    // over what the dead one left: the same processes, still printing, nothing started again.
    let first = keeper_pid(&world).unwrap();
    kill9(first);
    wait_until("a new keeper", || {
        keeper_pid(&world).is_some_and(|p| p != first)
    });
    world.wait_answering();
    one_group_per_slot("orphans", &slots);
    wait_until("every instance running again", || {
        let items = world.instances();
        items.len() == 4 && items.iter().all(|i| i["phase"] == "running")
    });
    assert_eq!(pids(&world), before, "taken over, not started again");
    // The death is on record, with the dead keeper's pid.
    let lost = world.ok(&["events", "--kind", "keeper_lost", "-o", "json"]);
    assert!(lost.contains(&format!("(pid {first})")), "{lost}");
    let printed = ticks(&world);
    wait_until("the printers still print", || ticks(&world) > printed + 10);

    // Actions after it.
    world.ok(&["scale", "printer", "3"]);
    let slots = [
        "printer-0",
        "printer-1",
        "printer-2",
        "silent-0",
        "silent-1",
    ];
    one_group_per_slot("orphans", &slots);
    world.ok(&["restart", "silent-0"]);
    one_group_per_slot("orphans", &slots);

    // The keeper dies while no daemon runs: the next daemon's keeper cleans up first.
    world.kill_daemon();
    let second = keeper_pid(&world).unwrap();
    kill9(second);
    wait_until("the keeper to die", || keeper_pid(&world).is_none());
    world.start_daemon();
    one_group_per_slot("orphans", &slots);
    wait_until("every instance running again", || {
        let items = world.instances();
        items.len() == 5 && items.iter().all(|i| i["phase"] == "running")
    });
    one_group_per_slot("orphans", &slots);

    // And `orco down` leaves nothing behind.
    world.ok(&["down"]);
    one_group_per_slot("orphans", &[]);
}

#[test]
fn a_service_that_fills_the_disk_can_be_stopped_and_the_lines_lost_meanwhile_are_announced() {
    // The world drops first (stopping its daemon and keeper), then the tmpfs is unmounted.
    struct OnTmpfs {
        world: World,
        _tmpfs: orco_fixture::Tmpfs,
    }
    let world = World::new();
    let tmpfs = orco_fixture::Tmpfs::mount(&world.data(), "64m").unwrap();
    let on = OnTmpfs {
        world,
        _tmpfs: tmpfs,
    };
    let world = &on.world;
    let fill = world.data().join("filler");
    let done = world.dir.path().join("done");
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: full}}\nservices:\n\
             \x20 filler:\n\
             \x20   command: [sh, -c, '[ -e {done} ] || {{ dd if=/dev/zero of={fill} bs=64k 2>/dev/null; for i in $(seq 50); do echo lost$i; done; }}; while :; do echo tick; sleep 0.02; done']\n",
            done = done.display(),
            fill = fill.display(),
        ),
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    wait_until("the disk to fill up", || {
        nix::sys::statvfs::statvfs(&world.data())
            .is_ok_and(|s| s.blocks_available() * s.fragment_size() < 1 << 20)
    });

    // What fills the disk can be stopped: the stop is recorded with the reserve's room.
    let out = world.orco(&["stop", "filler"]);
    assert!(
        out.status.success(),
        "stop on a full disk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the filler stopped", || {
        world.instances().iter().all(|i| i["phase"] == "stopped")
    });

    // Space returns; the lines lost while the disk was full are announced, then new ones follow.
    std::fs::remove_file(&fill).unwrap();
    std::fs::write(&done, "").unwrap();
    world.ok(&["start", "filler"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = world.ok(&["logs", "--stack", "full", "-o", "json"]);
        let records: Vec<Value> = last
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        // The keeper's notice (a line of the instance) or the stack log's own record.
        let dropped = records.iter().position(|r| {
            r["dropped"].as_u64().is_some_and(|n| n > 0)
                || r["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("orco: dropped"))
        });
        if dropped.is_some_and(|at| records[at..].iter().any(|r| r["msg"] == "tick")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no dropped record, then new lines:\n{last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    world.ok(&["down"]);
}

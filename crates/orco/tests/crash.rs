//! The crash-only daemon: SIGKILLed at random moments while commands come in, restarted by
//! hand or by s6-svscan, it loses no acknowledged change, re-adopts every instance (same pid,
//! no restart, output still collected without gap or repeat) and records what ended while it
//! was down. And a log flood never keeps it from answering.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::World;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);

fn fixture() -> String {
    orco_fixture::path().unwrap().display().to_string()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn of<'a>(items: &'a [Value], service: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|i| {
            i["workload"]
                .as_str()
                .is_some_and(|w| w.ends_with(&format!("/{service}")))
        })
        .collect()
}

fn by_name<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items.iter().find(|i| i["name"] == name).unwrap()
}

/// A small deterministic generator of "random" moments.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % max
    }
}

#[test]
fn ten_sigkills_of_the_daemon_lose_nothing_and_restart_nothing() {
    let world = World::new();
    let f = fixture();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: crash}}\nservices:\n  a:\n    command: 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done'\n    replicas: 20\n  b: {{command: [{f}, --sleep]}}\n  c: {{command: [{f}, --exit, '3@2000'], restartPolicy: {{mode: on-failure, maxRetries: 0, backoff: {{min: 100ms, max: 200ms}}}}}}\n"
        ),
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    let before = world.instances();
    let a_pids: Vec<(String, u64)> = of(&before, "a")
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(a_pids.len(), 20);

    let mut moments = Moments(7);
    let mut replicas = 1;
    let mut restarts_asked = 0;
    for round in 0..10 {
        // A command on B, acknowledged before the kill.
        if round % 2 == 0 {
            replicas = 1 + moments.next_ms(4);
            world.ok(&["scale", "b", &replicas.to_string()]);
        } else {
            world.ok(&["restart", "b-0"]);
            restarts_asked += 1;
        }
        std::thread::sleep(Duration::from_millis(moments.next_ms(400)));
        world.kill_daemon();
        std::thread::sleep(Duration::from_millis(moments.next_ms(400)));
        world.start_daemon();
    }

    // C exits with 3 while no daemon runs: the next daemon sees the exit and restarts it.
    // (It never gives up: with the default maxRetries, a slow loop above would let its
    // 2-second runs reach five consecutive failures first, and a given-up instance is
    // rightly not restarted.)
    // Read while it runs: between its `starting` and `started` it has no pid.
    let mut c = Value::Null;
    wait_until("c-0 to run", || {
        c = by_name(&world.instances(), "c-0").clone();
        c["pid"].is_u64() && c["phase"] == "running"
    });
    let c_pid = c["pid"].as_u64().unwrap();
    let c_restarts = c["restarts"].as_u64().unwrap();
    world.kill_daemon();
    wait_until("c-0 to exit on its own", || !alive(c_pid));
    world.start_daemon();
    wait_until("c-0 restarted by the next daemon", || {
        let c = by_name(&world.instances(), "c-0").clone();
        c["restarts"].as_u64().unwrap() > c_restarts && c["pid"].as_u64() != Some(c_pid)
    });
    let history = world.ok(&["history", "c-0"]);
    assert!(history.contains("exited (exit 3)"), "{history}");

    // Every acknowledged command on B is reflected.
    wait_until("b at its last scale", || {
        let items = world.instances();
        let b = of(&items, "b");
        b.len() == replicas as usize && b.iter().all(|i| i["phase"] == "running")
    });
    let b0 = world.ok(&["history", "b-0"]);
    assert_eq!(
        b0.lines()
            .filter(|l| l.contains("b-0 restart requested"))
            .count(),
        restarts_asked,
        "{b0}"
    );

    // Every A instance is the same process, never restarted.
    let after = world.instances();
    for (name, pid) in &a_pids {
        let i = by_name(&after, name);
        assert_eq!(i["pid"].as_u64(), Some(*pid), "{name} kept its pid");
        assert_eq!(i["restarts"], 0, "{name} was never restarted");
        assert_eq!(i["phase"], "running");
    }
    let a_history = world.ok(&["history", "a-0"]);
    assert_eq!(a_history.matches("starting").count(), 1, "{a_history}");

    // What A printed while no daemon ran is in the logs: no tick missing, none twice.
    std::thread::sleep(Duration::from_millis(1500));
    let logs = world.ok(&["instance", "logs", "a-7", "-o", "json"]);
    let ticks: Vec<u64> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| {
            r["msg"]
                .as_str()
                .and_then(|m| m.strip_prefix("tick "))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    assert!(ticks.len() > 20, "{} ticks", ticks.len());
    let expected: Vec<u64> = (1..=ticks.len() as u64).collect();
    assert_eq!(ticks, expected, "every tick once, in order");
}

#[test]
fn under_s6_svscan_a_killed_daemon_is_restarted_and_its_workloads_are_untouched() {
    if std::process::Command::new("s6-svscan")
        .arg("-h")
        .output()
        .is_err()
    {
        panic!("s6 is not installed: scripts/test.sh installs it (apt-get install s6)");
    }
    let world = World::new();
    let scan = world.dir.path().join("scan");
    let service = scan.join("orcod");
    std::fs::create_dir_all(&service).unwrap();
    let run = service.join("run");
    std::fs::write(
        &run,
        format!(
            "#!/bin/sh\nexec {} daemon --socket {} --data-dir {} 2>>{}\n",
            common::ORCO,
            world.socket().display(),
            world.data().display(),
            world.dir.path().join("daemon.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let svscan = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("s6-svscan")
            .arg(&scan)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    // Stops s6 (and through it the daemon) whatever happens below.
    struct Svscan(std::process::Child, std::path::PathBuf);
    impl Drop for Svscan {
        fn drop(&mut self) {
            let _ = std::process::Command::new("s6-svscanctl")
                .arg("-t")
                .arg(&self.1)
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.0.wait();
        }
    }
    let _svscan = Svscan(svscan, scan.clone());
    world.wait_answering();
    let f = fixture();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: s6}}\nservices:\n  w: {{command: [{f}, --sleep]}}\n"
        ),
    );
    world.ok(&["up", "-d", "--wait", "-f", file.to_str().unwrap()]);
    let pid = by_name(&world.instances(), "w-0")["pid"].as_u64().unwrap();
    let first = world.daemon_pid().unwrap();
    world.kill_daemon();
    wait_until("s6 to start the daemon again", || {
        world.daemon_pid().is_some_and(|p| p != first)
            && world.orco(&["cluster", "health"]).status.success()
    });
    wait_until("the instance to be adopted", || {
        let w = by_name(&world.instances(), "w-0").clone();
        w["phase"] == "running" && w["ready"] == true
    });
    let w = by_name(&world.instances(), "w-0").clone();
    assert_eq!(w["pid"].as_u64(), Some(pid), "same process");
    assert_eq!(w["restarts"], 0);
    assert!(alive(pid));
}

#[test]
fn a_log_flood_neither_blocks_the_daemon_nor_goes_unreported() {
    let world = World::new();
    let mut daemon = {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(world.dir.path().join("daemon.log")).unwrap();
        world
            .command(&[
                "daemon",
                "--log-queue-lines",
                "64",
                "--socket",
                world.socket().to_str().unwrap(),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    world.wait_answering();
    let f = fixture();
    let file = world.file(
        "stack.yaml",
        &format!(
            "version: 0.1\nstack: {{name: flood}}\nservices:\n  flood: {{command: [{f}, --lines, '3000000']}}\n"
        ),
    );
    // Another stack's log has its own queue: the flood costs it nothing.
    let other = world.file(
        "quiet.yaml",
        &format!(
            "version: 0.1\nstack: {{name: quiet}}\nservices:\n  quiet: {{command: [{f}, --stdout, 'still here@500']}}\n"
        ),
    );
    world.ok(&["up", "-d", "-f", file.to_str().unwrap()]);
    world.ok(&["up", "-d", "-f", other.to_str().unwrap()]);
    for _ in 0..5 {
        let started = Instant::now();
        world.ok(&["status", "--stack", "flood"]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "status took {:?} during the flood",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_until("a dropped-lines record", || {
        world
            .ok(&[
                "logs", "flood", "--stack", "flood", "--grep", "^dropped", "-o", "json", "-n", "1",
            ])
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|r| r["dropped"].as_u64().is_some_and(|n| n > 0) && r["source"] == "orco")
    });
    wait_until("the other stack's line", || {
        world
            .ok(&["logs", "--stack", "quiet"])
            .contains("still here")
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
}

//! Jobs as a user runs them against a daemon: `orco job submit --wait`, `status`, `list`,
//! `retry`; tasks are real processes whose recorded start and end times show the order.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

fn status(world: &common::World, id: &str) -> serde_json::Value {
    serde_json::from_str(&world.ok(&["job", "status", id, "-o", "json"])).unwrap()
}

fn task<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

/// Waits until run `id` has finished; its status.
fn finished(world: &common::World, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = status(world, id);
        if !run["finished_at"].is_null() {
            return run;
        }
        assert!(Instant::now() < deadline, "{id} did not finish: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A task that records its start and end (nanoseconds) in `times`.
fn timed(name: &str, deps: &[&str]) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("{{target: {d}}}")).collect();
    let deps = deps.join(", ");
    format!(
        "      {name}:\n        command: \"echo hello from {name}; echo {name} start $(date +%s%N) >> times; sleep 0.3; echo {name} end $(date +%s%N) >> times\"\n        dependsOn: [{deps}]\n"
    )
}

fn times(world: &common::World) -> std::collections::BTreeMap<String, u128> {
    let text = std::fs::read_to_string(world.dir.path().join("times")).unwrap();
    text.lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (
                format!("{} {}", parts[0], parts[1]),
                parts[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_diamond_runs_in_dependency_order_and_its_status_shows_every_task() {
    let world = common::World::new();
    world.start_daemon();
    let yaml = format!(
        "version: 0.1\nstack: {{name: dag}}\njobs:\n  build:\n    tasks:\n{}{}{}{}",
        timed("a", &[]),
        timed("b", &["a"]),
        timed("c", &["a"]),
        timed("d", &["b", "c"])
    );
    let file = world.file("dag.yaml", &yaml);
    let out = world.ok(&["job", "submit", file.to_str().unwrap(), "--wait"]);
    assert!(out.contains("dag/build#1  succeeded"), "{out}");
    let t = times(&world);
    assert_eq!(t.len(), 8, "every task ran once: {t:?}");
    assert!(
        t["a end"] <= t["b start"] && t["a end"] <= t["c start"],
        "{t:?}"
    );
    assert!(
        t["b end"] <= t["d start"] && t["c end"] <= t["d start"],
        "{t:?}"
    );
    let run = status(&world, "dag/build#1");
    assert_eq!(run["state"], "succeeded");
    for name in ["a", "b", "c", "d"] {
        let task = task(&run, name);
        assert_eq!(task["state"], "succeeded", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert_eq!(task["exit_code"], 0, "{task}");
        assert!(task["duration_ms"].as_u64().unwrap() >= 250, "{task}");
    }
    assert_eq!(task(&run, "d")["depends_on"], serde_json::json!(["b", "c"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let logs = world.ok(&["logs", "--stack", "dag", "-o", "json"]);
        let found = logs
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["task"] == "b");
        if let Some(record) = found {
            break record;
        }
        assert!(Instant::now() < deadline, "no record of task b in\n{logs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (&record["job"], &record["msg"]),
        (&"build".into(), &"hello from b".into()),
        "{record}"
    );
    let list = world.ok(&["workflow", "list"]);
    assert!(
        list.contains("dag/build#1") && list.contains("4/4"),
        "{list}"
    );
}

#[test]
fn a_failure_skips_its_dependents_and_retry_runs_only_the_failed_and_skipped_tasks() {
    let world = common::World::new();
    world.start_daemon();
    let yaml = "version: 0.1\nstack: {name: fx}\njobs:\n  deploy:\n    tasks:\n      fetch: {command: \"echo fetch >> ran\"}\n      check:\n        command: \"echo check >> ran; test -f fixed || exit 3\"\n        dependsOn: [{target: fetch}]\n      ship:\n        command: \"echo ship >> ran\"\n        dependsOn: [{target: check}]\n";
    let file = world.file("fx.yaml", yaml);
    let out = world.orco(&["job", "submit", file.to_str().unwrap(), "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let run = status(&world, "deploy");
    assert_eq!(run["state"], "failed");
    assert_eq!(task(&run, "check")["state"], "failed");
    assert_eq!(task(&run, "check")["exit_code"], 3);
    assert_eq!(task(&run, "ship")["state"], "skipped");
    assert_eq!(
        task(&run, "ship")["message"],
        "dependency check failed (requires succeeded)"
    );
    std::fs::write(world.dir.path().join("fixed"), "").unwrap();
    world.ok(&["job", "retry", "fx/deploy#1"]);
    let run = finished(&world, "fx/deploy#1");
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(task(&run, "check")["attempts"], 2);
    let ran = std::fs::read_to_string(world.dir.path().join("ran")).unwrap();
    assert_eq!(ran, "fetch\ncheck\ncheck\nship\n");
}

#[test]
fn a_failing_task_is_retried_with_backoff_until_it_succeeds() {
    let world = common::World::new();
    world.start_daemon();
    let yaml = "version: 0.1\nstack: {name: rt}\njobs:\n  flaky:\n    tasks:\n      t:\n        command: \"echo x >> tries; echo PROGRESS: 50 halfway; test $(wc -l < tries) -ge 3\"\n        retry: {maxRetries: 3, backoff: {min: 200ms, max: 400ms}}\n";
    let file = world.file("rt.yaml", yaml);
    let started = Instant::now();
    world.ok(&["job", "submit", file.to_str().unwrap(), "--wait"]);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "two backoffs"
    );
    let run = status(&world, "flaky");
    let t = task(&run, "t");
    assert_eq!(t["attempts"], 3, "{t}");
    assert_eq!(t["state"], "succeeded");
    let tries = std::fs::read_to_string(world.dir.path().join("tries")).unwrap();
    assert_eq!(tries.lines().count(), 3);
}

/// Waits until every thread of a killed process has exited (a SIGKILLed leader shows as a
/// zombie while its other threads still hold its files, the data dir's lock among them).
fn wait_released(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().to_string()))
            });
        if threads.is_none_or(|n| n == "1" || n == "0") {
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        assert!(Instant::now() < deadline, "daemon {pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_200_task_workflow_survives_ten_daemon_kills_and_every_task_runs_exactly_once() {
    let world = common::World::new();
    world.start_daemon();
    let mut yaml = String::from("version: 0.1\nstack: {name: crash}\njobs:\n  many:\n    tasks:\n");
    let n = 200;
    for i in 0..n {
        let sleep = 100 + (i * 37) % 400;
        yaml.push_str(&format!(
            "      t{i:03}:\n        command: \"echo t{i:03} >> ran; sleep 0.{sleep:03}\"\n"
        ));
        if i >= 10 {
            yaml.push_str(&format!(
                "        dependsOn: [{{target: t{:03}}}]\n",
                i - 10
            ));
        }
    }
    let file = world.file("crash.yaml", &yaml);
    world.ok(&["job", "submit", file.to_str().unwrap()]);
    for round in 0..10u64 {
        std::thread::sleep(Duration::from_millis(300 + (round * 397) % 900));
        let pid = world.daemon_pid().unwrap();
        world.kill_daemon();
        wait_released(pid);
        world.start_daemon();
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let run = loop {
        let run = status(&world, "crash/many#1");
        if !run["finished_at"].is_null() {
            break run;
        }
        assert!(Instant::now() < deadline, "the run did not finish: {run}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(run["state"], "succeeded", "{run}");
    let ran = std::fs::read_to_string(world.dir.path().join("ran")).unwrap();
    let mut lines: Vec<&str> = ran.lines().collect();
    lines.sort_unstable();
    let expected: Vec<String> = (0..n).map(|i| format!("t{i:03}")).collect();
    assert_eq!(lines, expected, "every task exactly once");
}

#[test]
fn a_service_requiring_a_job_succeeded_starts_only_after_the_job_ran() {
    let world = common::World::new();
    let yaml = "version: 0.1\nstack: {name: mig}\nservices:\n  api:\n    command: \"date +%s%N > api-started; exec sleep 60\"\n    dependsOn: [{target: migrate, require: succeeded}]\njobs:\n  migrate:\n    tasks:\n      up: {command: \"sleep 0.5; date +%s%N > migrated\"}\n";
    let file = world.file("mig.yaml", yaml);
    world.ok(&["up", "-f", file.to_str().unwrap(), "-d", "--wait"]);
    let read = |name: &str| -> u128 {
        std::fs::read_to_string(world.dir.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let written = |name: &str| {
        std::fs::read_to_string(world.dir.path().join(name)).is_ok_and(|s| s.ends_with('\n'))
    };
    while !written("api-started") {
        assert!(Instant::now() < deadline, "api did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(read("migrated") <= read("api-started"));
    let run = status(&world, "mig/migrate#1");
    assert_eq!(run["state"], "succeeded");
    world.ok(&["down", "--stack", "mig"]);
}

#[test]
fn progress_lines_show_in_status_and_cancel_stops_the_running_task_and_nothing_else_starts() {
    let world = common::World::new();
    world.start_daemon();
    let yaml = "version: 0.1\nstack: {name: cx}\njobs:\n  long:\n    tasks:\n      a: {command: \"echo PROGRESS: 40 warming up; sleep 0.5; curl -sf --unix-socket ${ORCO_HOST#unix://} -H content-type:application/json -d '{\\\"percent\\\": 70, \\\"message\\\": \\\"api\\\"}' http://orco/api/v1/jobs/cx%2Flong%231/tasks/a/progress; sleep 30\"}\n      b: {command: \"echo b > b-ran\", dependsOn: [{target: a}]}\n";
    let file = world.file("cx.yaml", yaml);
    world.ok(&["job", "submit", file.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while task(&status(&world, "long"), "a")["percent"] != 40 {
        assert!(Instant::now() < deadline, "a did not report progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = task(&status(&world, "long"), "a").clone();
    assert_eq!(
        (&a["state"], &a["message"]),
        (&"running".into(), &"warming up".into())
    );
    let pid = a["pid"].as_i64().unwrap();
    while task(&status(&world, "long"), "a")["percent"] != 70 {
        assert!(Instant::now() < deadline, "no progress through the API");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(task(&status(&world, "long"), "a")["message"], "api");
    world.ok(&["job", "cancel", "long"]);
    let run = finished(&world, "cx/long#1");
    assert_eq!(run["state"], "cancelled", "{run}");
    assert_eq!(task(&run, "a")["state"], "failed");
    assert_eq!(task(&run, "a")["message"], "cancelled");
    assert_eq!(task(&run, "b")["state"], "skipped");
    assert!(!world.dir.path().join("b-ran").exists());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(stat.map_or(true, |s| s.contains(") Z ")), "a still runs");
}

/// A daemon this test starts itself with its own flags; killed and reaped on drop.
struct OwnDaemon(std::process::Child);

impl OwnDaemon {
    fn start(world: &common::World, flags: &[&str]) -> OwnDaemon {
        use std::os::unix::process::CommandExt;
        let socket = world.socket();
        let mut args = vec!["daemon", "--socket", socket.to_str().unwrap()];
        args.extend_from_slice(flags);
        let log = std::fs::File::create(world.dir.path().join("daemon.log")).unwrap();
        let child = world
            .command(&args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        world.wait_answering();
        OwnDaemon(child)
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn under_a_limit_of_one_slot_tasks_never_overlap_and_higher_priority_jobs_go_first() {
    let world = common::World::new();
    let _daemon = OwnDaemon::start(&world, &["--max-concurrent-tasks", "1"]);
    let job = |name: &str, priority: i32, tasks: usize, sleep: &str| {
        let mut yaml = format!(
            "version: 0.1\nstack: {{name: {name}}}\njobs:\n  {name}:\n    priority: {priority}\n    tasks:\n"
        );
        for i in 0..tasks {
            yaml.push_str(&format!(
                "      t{i}: {{command: \"echo {name}.t{i} start $(date +%s%N) >> times; sleep {sleep}; echo {name}.t{i} end $(date +%s%N) >> times\"}}\n"
            ));
        }
        world.file(&format!("{name}.yaml"), &yaml)
    };
    let wide = job("wide", 0, 4, "0.5");
    let low = job("low", 1, 1, "0.05");
    let high = job("high", 9, 1, "0.05");
    world.ok(&["job", "submit", wide.to_str().unwrap()]);
    world.ok(&["job", "submit", low.to_str().unwrap()]);
    world.ok(&["job", "submit", high.to_str().unwrap()]);
    for run in ["wide/wide#1", "low/low#1", "high/high#1"] {
        assert_eq!(finished(&world, run)["state"], "succeeded");
    }
    let text = std::fs::read_to_string(world.dir.path().join("times")).unwrap();
    let mut spans: Vec<(u128, u128, String)> = Vec::new();
    let t = times(&world);
    for line in text.lines().filter(|l| l.contains(" start ")) {
        let name = line.split(' ').next().unwrap().to_string();
        spans.push((t[&format!("{name} start")], t[&format!("{name} end")], name));
    }
    spans.sort();
    assert_eq!(spans.len(), 6, "{text}");
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlap under one slot: {spans:?}");
    }
    let order: Vec<&str> = spans.iter().map(|s| s.2.as_str()).collect();
    // wide.t0 took the slot before the others were submitted; then the queue is by priority.
    assert_eq!(
        order,
        [
            "wide.t0", "high.t0", "low.t0", "wide.t1", "wide.t2", "wide.t3"
        ]
    );
}

#[test]
fn submitting_a_jobs_file_into_a_running_stack_keeps_its_services() {
    let world = common::World::new();
    let app = "version: 0.1\nstack: {name: shop}\nservices:\n  web: {command: \"exec sleep 60\"}\n";
    let app = world.file("app.yaml", app);
    world.ok(&["up", "-f", app.to_str().unwrap(), "-d", "--wait"]);
    let pid = world.instances()[0]["pid"].clone();
    let jobs = "version: 0.1\nstack: {name: shop}\njobs:\n  report:\n    tasks:\n      t: {command: \"echo report\"}\n";
    let jobs = world.file("jobs.yaml", jobs);
    world.ok(&["job", "submit", jobs.to_str().unwrap(), "--wait"]);
    let instances = world.instances();
    assert_eq!(instances.len(), 1, "{instances:?}");
    assert_eq!(instances[0]["id"], "shop/web-0");
    assert_eq!(instances[0]["pid"], pid, "web kept running");
    world.ok(&["down", "--stack", "shop"]);
}

#[test]
fn a_file_of_jobs_alone_may_leave_out_stack_and_is_named_after_the_file() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "Nightly Backup.yaml",
        "version: 0.1\njobs:\n  dump:\n    tasks:\n      run: {command: \"echo dumped\"}\n",
    );
    let out = world.ok(&["job", "submit", file.to_str().unwrap(), "--wait"]);
    assert!(out.contains("nightly-backup/dump#1  succeeded"), "{out}");
    // A file with services still needs its `stack:`.
    let file = world.file(
        "mixed.yaml",
        "version: 0.1\nservices:\n  web: {command: \"sleep 60\"}\njobs:\n  dump:\n    tasks:\n      run: {command: \"true\"}\n",
    );
    let out = world.orco(&["job", "submit", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mixed.yaml") && err.contains("stack"), "{err}");
}

#[test]
fn a_task_reports_progress_through_the_api_at_orco_host() {
    let world = common::World::new();
    world.start_daemon();
    let yaml = r#"version: 0.1
stack: {name: report}
jobs:
  sync:
    tasks:
      copy:
        command: |
          set -e
          echo "$ORCO_HOST" > host
          curl -sSf --unix-socket "${ORCO_HOST#unix://}" -H 'content-type: application/json' \
            -d '{"percent": 42, "message": "half way"}' \
            "http://orco/api/v1/jobs/$ORCO_JOB/tasks/$ORCO_TASK/progress" > /dev/null
"#;
    let file = world.file("report.yaml", yaml);
    let out = world.ok(&["job", "submit", file.to_str().unwrap(), "--wait"]);
    assert!(out.contains("report/sync#1  succeeded"), "{out}");
    let host = std::fs::read_to_string(world.dir.path().join("host")).unwrap();
    assert_eq!(host.trim(), format!("unix://{}", world.socket().display()));
    let run = status(&world, "report/sync#1");
    let copy = task(&run, "copy");
    assert_eq!(copy["percent"], 42, "{copy}");
    assert_eq!(copy["message"], "half way", "{copy}");
}

#[test]
fn a_running_task_adopted_after_daemon_kills_keeps_its_output_without_a_gap_or_a_repeat() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "count.yaml",
        "version: 0.1\nstack: {name: count}\njobs:\n  tally:\n    tasks:\n      lines: {command: \"for i in $(seq 1 60); do echo line $i; sleep 0.1; done\"}\n",
    );
    world.ok(&["job", "submit", file.to_str().unwrap()]);
    let lines = |world: &common::World| -> Vec<String> {
        world
            .ok(&["logs", "--stack", "count", "-o", "json"])
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["task"] == "lines" && r["source"] != "orco")
            .map(|r| r["msg"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Killed twice while the task prints, once early and once later.
    for seen in [5, 25] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while lines(&world).len() < seen {
            assert!(Instant::now() < deadline, "fewer than {seen} lines logged");
            std::thread::sleep(Duration::from_millis(50));
        }
        world.kill_daemon();
        world.start_daemon();
    }
    let run = finished(&world, "count/tally#1");
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(task(&run, "lines")["attempts"], 1, "{run}");
    let want: Vec<String> = (1..=60).map(|i| format!("line {i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = lines(&world);
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline && got.len() < want.len(),
            "lines lost or repeated: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

//! Periodic jobs against a real daemon: a 2-second schedule runs again and again, `overlap:
//! skip` keeps a task longer than the period from overlapping itself (start and end times
//! from the API), and due times that pass while no daemon runs give one run on restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use jiff::Timestamp;

fn list(world: &common::World) -> serde_json::Value {
    serde_json::from_str(&world.ok(&["job", "list", "-o", "json"])).unwrap()
}

/// The runs of `job` (`STACK/JOB`), oldest first.
fn runs(list: &serde_json::Value, job: &str) -> Vec<serde_json::Value> {
    let prefix = format!("{job}#");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with(&prefix))
        .cloned()
        .collect()
}

fn schedule(list: &serde_json::Value, job: &str) -> serde_json::Value {
    list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["job"] == job)
        .cloned()
        .unwrap_or_else(|| panic!("no schedule of {job} in {list}"))
}

fn ts(v: &serde_json::Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// Waits until `pred` holds for `orco job list`; that list.
fn wait_list(
    world: &common::World,
    what: &str,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = list(world);
        if pred(&l) {
            return l;
        }
        assert!(Instant::now() < deadline, "{what}: {l:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn finished(runs: &[serde_json::Value]) -> usize {
    runs.iter().filter(|r| !r["finished_at"].is_null()).count()
}

#[test]
fn a_two_second_schedule_runs_repeatedly_and_overlap_skip_keeps_a_long_task_from_overlapping() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "periodic.yaml",
        "version: 0.1\nstack: {name: cron}\njobs:\n  fast:\n    schedule: {cron: \"*/2 * * * * *\"}\n    tasks:\n      tick: {command: \"true\"}\n  slow:\n    schedule: {cron: \"*/2 * * * * *\", overlap: skip}\n    tasks:\n      work: {command: \"sleep 3\"}\n",
    );
    world.ok(&["apply", "-f", file.to_str().unwrap()]);
    let l = wait_list(&world, "3 runs of each job", |l| {
        finished(&runs(l, "cron/fast")) >= 3 && finished(&runs(l, "cron/slow")) >= 3
    });

    // The fast job: one run per due time, due times on even seconds, each once.
    let fast = runs(&l, "cron/fast");
    let dues: Vec<Timestamp> = fast.iter().map(|r| ts(&r["due"])).collect();
    for pair in dues.windows(2) {
        assert!(pair[0] < pair[1], "due times repeat or go back: {dues:?}");
    }
    for due in &dues {
        assert_eq!(due.as_second() % 2, 0, "{due} is not a due time");
        assert_eq!(due.subsec_nanosecond(), 0, "{due} is not a due time");
    }
    for run in fast.iter().filter(|r| !r["finished_at"].is_null()) {
        assert_eq!(run["state"], "succeeded", "{run}");
    }

    // The slow job: no run starts before the previous one has ended.
    let slow: Vec<serde_json::Value> = runs(&l, "cron/slow")
        .into_iter()
        .filter(|r| !r["finished_at"].is_null())
        .collect();
    let spans: Vec<(Timestamp, Timestamp)> = slow
        .iter()
        .map(|r| {
            let task = &r["tasks"][0];
            assert_eq!(task["state"], "succeeded", "{r}");
            (ts(&task["started_at"]), ts(&task["since"]))
        })
        .collect();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {spans:?}");
    }
    // Each 3-second run spans a due time it had to skip, and says so.
    let s = schedule(&l, "cron/slow");
    assert!(s["skipped"].as_u64().unwrap() >= 2, "{s}");
    let reason = s["last_skip_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cron/slow#") && reason.ends_with("has not finished (overlap: skip)"),
        "{reason}"
    );
    assert_eq!(s["overlap"], "skip");
    assert!(ts(&s["next_due"]) > ts(&s["last_due"]), "{s}");
    // And people see the schedules in `orco job list`.
    let table = world.ok(&["job", "list"]);
    assert!(
        table.contains("SCHEDULE")
            && table.contains("cron/slow")
            && table.contains("*/2 * * * * *"),
        "{table}"
    );
}

#[test]
fn due_times_that_pass_while_no_daemon_runs_give_one_run_when_it_starts_again() {
    let world = common::World::new();
    world.start_daemon();
    let file = world.file(
        "periodic.yaml",
        "version: 0.1\nstack: {name: cron}\njobs:\n  tick:\n    schedule: {cron: \"*/2 * * * * *\", overlap: allow}\n    tasks:\n      work: {command: \"true\"}\n",
    );
    world.ok(&["apply", "-f", file.to_str().unwrap()]);
    wait_list(&world, "a first run", |l| {
        finished(&runs(l, "cron/tick")) >= 1
    });
    world.kill_daemon();
    // Runs submitted before this moment were submitted by the killed daemon.
    let cut = Timestamp::now();
    // At least two due times pass with no daemon.
    std::thread::sleep(Duration::from_secs(5));
    world.start_daemon();
    let by_new = |l: &serde_json::Value| {
        runs(l, "cron/tick")
            .into_iter()
            .partition::<Vec<_>, _>(|r| ts(&r["submitted_at"]) < cut)
    };
    let l = wait_list(&world, "a run after the restart", |l| {
        !by_new(l).1.is_empty()
    });
    let (old, new) = by_new(&l);
    let (last_before, first_after) = (old.last().unwrap(), &new[0]);
    let gap = ts(&first_after["due"]).as_second() - ts(&last_before["due"]).as_second();
    let passed = gap / 2 - 1;
    assert!(passed >= 1, "no due time passed while no daemon ran: {l:#}");
    let s = schedule(&l, "cron/tick");
    assert_eq!(
        s["missed"].as_i64().unwrap(),
        passed,
        "the missed due times are counted, not run: {s}"
    );
    // After the catch-up, the schedule goes on one due time at a time.
    let l = wait_list(&world, "two more runs", |l| by_new(l).1.len() >= 3);
    let all = by_new(&l).1;
    for pair in all.windows(2) {
        let step = ts(&pair[1]["due"]).as_second() - ts(&pair[0]["due"]).as_second();
        assert!(step >= 2 && step % 2 == 0, "{all:#?}");
    }
    assert_eq!(
        schedule(&l, "cron/tick")["missed"].as_i64().unwrap(),
        passed
    );
}

#[test]
fn with_overlap_queue_one_run_waits_for_the_previous_one_and_later_due_times_are_skipped() {
    let world = common::World::new();
    world.start_daemon();
    // Each run waits for the file `go`: run 1 holds, run 2 is queued behind it.
    let file = world.file(
        "queue.yaml",
        "version: 0.1\nstack: {name: q}\njobs:\n  held:\n    schedule: {cron: \"*/2 * * * * *\", overlap: queue}\n    tasks:\n      wait: {command: \"while [ ! -f go ]; do sleep 0.05; done\"}\n",
    );
    world.ok(&["apply", "-f", file.to_str().unwrap()]);
    let l = wait_list(&world, "a queued run and a skip", |l| {
        let r = runs(l, "q/held");
        r.len() >= 2
            && r[1]["state"] == "queued"
            && schedule(l, "q/held")["skipped"].as_u64().unwrap_or(0) >= 1
    });
    let r = runs(&l, "q/held");
    assert_eq!(r.len(), 2, "one run runs, one waits: {l:#}");
    assert_eq!(r[0]["state"], "running", "{l:#}");
    assert_eq!(r[1]["tasks"][0]["state"], "waiting", "{l:#}");
    let reason = schedule(&l, "q/held")["last_skip_reason"].clone();
    assert_eq!(reason, "q/held#2 is already waiting (overlap: queue)");
    std::fs::write(world.dir.path().join("go"), "").unwrap();
    let l = wait_list(&world, "both runs done", |l| {
        finished(&runs(l, "q/held")) >= 2
    });
    let r = runs(&l, "q/held");
    let end_first = ts(&r[0]["finished_at"]);
    let start_second = ts(&r[1]["tasks"][0]["started_at"]);
    assert!(end_first <= start_second, "{l:#}");
    assert_eq!(r[1]["state"], "succeeded", "{l:#}");
}

//! The engine with real processes: dependency gating for every `require`, the blocked message,
//! probes of every kind, backoff growth, giving up, graceful and forced stops,
//! concurrent restarts, replicas, liveness. Instances are `orco-fixture` processes under a real
//! keeper (`orco keeper`). Waits are bounded by a generous patience; nothing asserts on time.
//! The supervisor's other decisions (the failure count's reset, a stop during the backoff,
//! adoption) are proven without processes: `agent/src/lifecycle.rs` and
//! `control/tests/loop.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use common::free_port;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orco_control::{Engine, Handle, MemoryJournal};
use orco_runtime::ProcessRuntime;
use orco_state::{Event, EventKind, InstanceId, Phase, State};
use tokio::sync::broadcast;

const PATIENCE: Duration = Duration::from_secs(30);

fn fixture() -> String {
    orco_fixture::path().unwrap().display().to_string()
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

/// An engine over a keeper of its own; the keeper (and every instance) is shut down on drop.
struct World {
    engine: Handle,
    events: broadcast::Receiver<(u64, Event)>,
    log: Vec<Event>,
    _keeper: common::KeeperGuard,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let keeper = dir.path().join("keeper");
        let args = [
            "keeper".into(),
            "--dir".into(),
            keeper.clone().into_os_string(),
        ];
        let runtime = ProcessRuntime::connect_or_start(&keeper, env!("CARGO_BIN_EXE_orco"), &args)
            .await
            .unwrap();
        let engine = Engine::start(MemoryJournal::new(), runtime, None)
            .await
            .unwrap();
        let events = engine.events();
        World {
            _keeper: common::KeeperGuard(keeper),
            engine,
            events,
            log: Vec::new(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn apply(&mut self, yaml: &str) {
        let stack = match orco_spec::load_str(Path::new("t.yaml"), yaml, self.dir.path()) {
            Ok(l) => l.stack,
            Err(r) => panic!("{r}"),
        };
        self.engine
            .submit(vec![EventKind::StackApplied {
                stack: Box::new(stack),
            }])
            .await
            .unwrap();
    }

    /// Waits until `pred` holds, keeping every event seen in `self.log`.
    async fn until(&mut self, what: &str, pred: impl Fn(&State) -> bool) -> std::sync::Arc<State> {
        let wait = self.engine.wait_for(pred);
        let result = tokio::time::timeout(PATIENCE, wait).await;
        self.drain();
        match result {
            Ok(state) => state.unwrap(),
            Err(_) => panic!(
                "waited {PATIENCE:?} for {what}; state: {:#?}",
                self.engine.state().instances
            ),
        }
    }

    fn drain(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok((_, e)) => self.log.push(e),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    panic!("the test fell {n} events behind the engine")
                }
                Err(_) => return,
            }
        }
    }

    /// The position in the log of the first event matching `pred`.
    fn first(&self, pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
        self.log.iter().position(|e| pred(&e.kind))
    }

    async fn stop(self) {
        let keeper = self.dir.path().join("keeper");
        if let Ok(k) = ProcessRuntime::connect(&keeper).await {
            let _ = k.shutdown(true).await;
        }
    }
}

fn phase(s: &State, i: &str) -> Option<Phase> {
    s.instances.get(&id(i)).map(|x| x.phase)
}

fn ready(s: &State, i: &str) -> bool {
    phase(s, i) == Some(Phase::Running { ready: true })
}

fn starting(i: &str) -> impl Fn(&EventKind) -> bool + '_ {
    move |k| matches!(k, EventKind::InstanceStarting { instance, .. } if instance.to_string() == i)
}

fn became_ready(i: &str) -> impl Fn(&EventKind) -> bool + '_ {
    move |k| matches!(k, EventKind::InstanceReady { instance } if instance.to_string() == i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_starts_layer_by_layer_each_after_its_dependency_is_ready() {
    let mut w = World::start().await;
    let f = fixture();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "version: 0.1\nstack: {{name: chain}}\nservices:\n  a: {{command: [{f}, --listen, '{pa}@200'], health: {{tcp: {{port: {pa}}}}}}}\n  b: {{command: [{f}, --listen, '{pb}@200'], health: {{tcp: {{port: {pb}}}}}, dependsOn: [{{target: a}}]}}\n  c: {{command: [{f}, --listen, '{pc}@200'], health: {{tcp: {{port: {pc}}}}}, dependsOn: [{{target: b}}]}}\n"
    );
    w.apply(&yaml).await;
    w.until("all ready", |s| {
        ready(s, "chain/a-0") && ready(s, "chain/b-0") && ready(s, "chain/c-0")
    })
    .await;
    let a_ready = w.first(became_ready("chain/a-0")).unwrap();
    let b_start = w.first(starting("chain/b-0")).unwrap();
    let b_ready = w.first(became_ready("chain/b-0")).unwrap();
    let c_start = w.first(starting("chain/c-0")).unwrap();
    assert!(a_ready < b_start && b_ready < c_start, "{:#?}", w.log);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_dependent_says_why_and_fails_after_its_timeout() {
    let mut w = World::start().await;
    let f = fixture();
    let port = free_port();
    let yaml = format!(
        "version: 0.1\nstack: {{name: blk}}\nservices:\n  db: {{command: [{f}], health: {{tcp: {{port: {port}}}}}}}\n  api:\n    command: [{f}]\n    dependsOn: [{{target: db, require: ready, timeout: 1s}}]\n"
    );
    w.apply(&yaml).await;
    let s = w
        .until("api failed", |s| {
            phase(s, "blk/api-0") == Some(Phase::Failed)
        })
        .await;
    let reason = s.instances[&id("blk/api-0")].reason.clone().unwrap();
    assert_eq!(
        reason,
        format!(
            "api blocked: dependency db not ready (timed out after 1s, probe failing: tcp connect 127.0.0.1:{port} refused)"
        )
    );
    assert!(
        w.first(starting("blk/api-0")).is_none(),
        "a blocked instance never starts"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_succeeded_completed_and_exists_gate_with_real_exits() {
    let mut w = World::start().await;
    let f = fixture();
    let yaml = format!(
        "version: 0.1\nstack: {{name: req}}\nservices:\n  ok: {{command: [{f}, --exit, '0@300'], restartPolicy: {{mode: never}}}}\n  bad: {{command: [{f}, --exit, '3@300'], restartPolicy: {{mode: never}}}}\n  on-started: {{command: [{f}], dependsOn: [{{target: ok, require: started}}]}}\n  on-succeeded: {{command: [{f}], dependsOn: [{{target: ok, require: succeeded}}]}}\n  on-completed: {{command: [{f}], dependsOn: [{{target: bad, require: completed}}]}}\n  never: {{command: [{f}], dependsOn: [{{target: bad, require: succeeded}}]}}\n  on-exists: {{command: [{f}], dependsOn: [{{target: ok, require: exists}}]}}\n"
    );
    w.apply(&yaml).await;
    w.until("dependents running", |s| {
        [
            "req/on-started-0",
            "req/on-succeeded-0",
            "req/on-completed-0",
            "req/on-exists-0",
        ]
        .iter()
        .all(|i| ready(s, i))
    })
    .await;
    let ok_exit = w.first(|k| matches!(k, EventKind::InstanceExited { instance, .. } if instance.to_string() == "req/ok-0")).unwrap();
    let bad_exit = w.first(|k| matches!(k, EventKind::InstanceExited { instance, .. } if instance.to_string() == "req/bad-0")).unwrap();
    let ok_start = w.first(|k| matches!(k, EventKind::InstanceStarted { instance, .. } if instance.to_string() == "req/ok-0")).unwrap();
    assert!(w.first(starting("req/on-started-0")).unwrap() > ok_start);
    assert!(w.first(starting("req/on-succeeded-0")).unwrap() > ok_exit);
    assert!(w.first(starting("req/on-completed-0")).unwrap() > bad_exit);
    let s = w.engine.state();
    assert_eq!(
        phase(&s, "req/never-0"),
        Some(Phase::Pending),
        "bad exited 3: never succeeded"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tcp_cmd_and_log_probes_and_expressions_decide_readiness() {
    let mut w = World::start().await;
    let f = fixture();
    let (ph, pt) = (free_port(), free_port());
    let flag = w.path("flag");
    let yaml = format!(
        "version: 0.1\nstack: {{name: pr}}\nservices:\n  http: {{command: [{f}, --http, '{ph}:/health@300'], health: {{http: {{url: 'http://127.0.0.1:{ph}/health'}}}}}}\n  tcp: {{command: [{f}, --listen, '{pt}@300'], health: {{tcp: {{port: {pt}}}}}}}\n  cmd: {{command: [{f}], health: {{cmd: {{command: [test, -f, '{}']}}}}}}\n  log: {{command: [{f}, --stderr, 'boot done@300'], health: {{log: {{pattern: 'boot (done|ok)', sources: [stderr]}}}}}}\n  either: {{command: [{f}, --stdout, 'up@100'], health: {{tcp: {{port: 1}}, log: {{pattern: up}}, expression: 'tcp || log'}}}}\n  both: {{command: [{f}, --stdout, 'up@100'], health: {{tcp: {{port: 1}}, log: {{pattern: up}}, expression: 'tcp && log'}}}}\n",
        flag.display()
    );
    w.apply(&yaml).await;
    w.until("probes pass", |s| {
        ["pr/http-0", "pr/tcp-0", "pr/log-0", "pr/either-0"]
            .iter()
            .all(|i| ready(s, i))
    })
    .await;
    let s = w.engine.state();
    assert_eq!(
        phase(&s, "pr/cmd-0"),
        Some(Phase::Running { ready: false }),
        "no flag file yet"
    );
    assert_eq!(
        phase(&s, "pr/both-0"),
        Some(Phase::Running { ready: false }),
        "tcp fails, so && fails"
    );
    std::fs::write(&flag, "").unwrap();
    w.until("cmd probe passes", |s| ready(s, "pr/cmd-0")).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_backs_off_longer_each_time_then_fails_and_its_dependents_stay_blocked() {
    let mut w = World::start().await;
    let f = fixture();
    let yaml = format!(
        "version: 0.1\nstack: {{name: loop}}\nservices:\n  crash:\n    command: [{f}, --exit, '1@20']\n    restartPolicy: {{maxRetries: 4, backoff: {{min: 50ms, max: 10s, factor: 3.0}}}}\n  dep: {{command: [{f}], dependsOn: [{{target: crash, require: started}}]}}\n"
    );
    w.apply(&yaml).await;
    let s = w
        .until("crash failed for good", |s| {
            s.instances.get(&id("loop/crash-0")).is_some_and(|i| {
                i.phase == Phase::Failed
                    && i.reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("gave up"))
            })
        })
        .await;
    let delays: Vec<u64> = w
        .log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InstanceBackoff { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays.len(),
        3,
        "three restarts, then the fourth failure gives up: {delays:?}"
    );
    assert!(
        delays.windows(2).all(|d| d[1] > d[0]),
        "backoff grows: {delays:?}"
    );
    assert!(
        s.instances[&id("loop/crash-0")]
            .reason
            .as_deref()
            .unwrap()
            .contains("gave up after 4 consecutive failed runs")
    );
    // dep needed crash started once; it did start, so dep may run. The point: a `ready`
    // dependent would stay blocked. Check through the reconciler's view.
    let yaml2 = format!(
        "version: 0.1\nstack: {{name: loop2}}\nservices:\n  crash:\n    command: [{f}, --exit, '1@20']\n    health: {{tcp: {{port: 1}}}}\n    restartPolicy: {{maxRetries: 2, backoff: {{min: 10ms}}}}\n  dep: {{command: [{f}], dependsOn: [{{target: crash, require: ready}}]}}\n"
    );
    w.apply(&yaml2).await;
    w.until("loop2 crash failed", |s| {
        phase(s, "loop2/crash-0") == Some(Phase::Failed)
            && s.instances[&id("loop2/crash-0")]
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("gave up"))
    })
    .await;
    let plan = orco_reconciler::reconcile(&w.engine.state(), jiff::Timestamp::now());
    let blocked = plan
        .blocked
        .iter()
        .find(|b| b.instance == id("loop2/dep-0"))
        .unwrap();
    assert!(
        blocked
            .to_string()
            .starts_with("dep blocked: dependency crash not ready (gave up after 2"),
        "{blocked}"
    );
    assert_eq!(
        phase(&w.engine.state(), "loop2/dep-0"),
        Some(Phase::Pending)
    );
    w.stop().await;
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_graceful_then_forced_and_leaves_no_process() {
    let mut w = World::start().await;
    let f = fixture();
    let (soft, hard) = (w.path("soft.pids"), w.path("hard.pids"));
    let yaml = format!(
        "version: 0.1\nstack: {{name: stp}}\nservices:\n  soft: {{command: [{f}, --grandchildren, '2', --pid-file, '{}', --ready, ok], health: {{log: {{pattern: ok}}}}}}\n  hard:\n    command: [{f}, --ignore-term, --grandchildren, '2', --grandchildren-ignore-term, --pid-file, '{}', --ready, ok]\n    health: {{log: {{pattern: ok}}}}\n    stop: {{timeout: 300ms}}\n",
        soft.display(),
        hard.display()
    );
    w.apply(&yaml).await;
    w.until("both ready", |s| {
        ready(s, "stp/soft-0") && ready(s, "stp/hard-0")
    })
    .await;
    let pids = |p: &Path| -> Vec<i32> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    let (soft_pids, hard_pids) = (pids(&soft), pids(&hard));
    assert_eq!((soft_pids.len(), hard_pids.len()), (3, 3));
    assert!(soft_pids.iter().chain(&hard_pids).all(|p| alive(*p)));
    w.engine.stop_stack(&"stp".parse().unwrap()).await.unwrap();
    w.drain();
    for p in soft_pids.iter().chain(&hard_pids) {
        assert!(!alive(*p), "pid {p} survived the stop");
    }
    let exit_of = |name: &str| {
        w.log.iter().rev().find_map(|e| match &e.kind {
            EventKind::InstanceExited { instance, status } if instance.to_string() == name => {
                Some(*status)
            }
            _ => None,
        })
    };
    assert_eq!(
        exit_of("stp/soft-0"),
        Some(orco_state::ExitStatus::Signal(15)),
        "SIGTERM was enough"
    );
    assert_eq!(
        exit_of("stp/hard-0"),
        Some(orco_state::ExitStatus::Signal(9)),
        "SIGKILL after the timeout"
    );
    w.stop().await;
}

/// Processes whose environment says they are `instance`.
fn processes_of(instance: &str) -> Vec<i32> {
    let wanted = format!("ORCO_INSTANCE={instance}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_restarts_end_with_exactly_one_process() {
    let mut w = World::start().await;
    let f = fixture();
    // A name no other test uses: processes are found by their ORCO_INSTANCE.
    let yaml = format!(
        "version: 0.1\nstack: {{name: many}}\nservices:\n  hundred-restarts: {{command: [{f}]}}\n"
    );
    w.apply(&yaml).await;
    w.until("running", |s| ready(s, "many/hundred-restarts-0"))
        .await;
    let first_pid = w.engine.state().instances[&id("many/hundred-restarts-0")].pid;
    let restarts = (0..100).map(|_| {
        let e = w.engine.clone();
        tokio::spawn(async move {
            e.submit(vec![EventKind::RestartRequested {
                instance: id("many/hundred-restarts-0"),
            }])
            .await
        })
    });
    for r in restarts.collect::<Vec<_>>() {
        r.await.unwrap().unwrap();
    }
    w.until("restarted and running", |s| {
        s.instances
            .get(&id("many/hundred-restarts-0"))
            .is_some_and(|i| {
                i.restart_requests == 100
                    && i.phase == Phase::Running { ready: true }
                    && i.pid != first_pid
            })
    })
    .await;
    // Let any restart still in flight land, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = w.engine.state();
    let pid = s.instances[&id("many/hundred-restarts-0")].pid.unwrap() as i32;
    assert_eq!(processes_of("hundred-restarts-0"), vec![pid]);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_instances_with_their_own_environment() {
    let mut w = World::start().await;
    let f = fixture();
    let dir = w.dir.path().display().to_string();
    let yaml = format!(
        "version: 0.1\nstack: {{name: rep}}\nservices:\n  w:\n    replicas: 3\n    env: {{GREETING: hello}}\n    command: 'exec {f} --env-file {dir}/env-$ORCO_REPLICA --cwd-file {dir}/cwd-$ORCO_REPLICA --ready ok'\n    health: {{log: {{pattern: ok}}}}\n"
    );
    w.apply(&yaml).await;
    w.until("3 ready", |s| {
        (0..3).all(|r| ready(s, &format!("rep/w-{r}")))
    })
    .await;
    for r in 0..3 {
        let env = std::fs::read_to_string(w.path(&format!("env-{r}"))).unwrap();
        let lines: BTreeSet<&str> = env.lines().collect();
        for want in [
            "ORCO_STACK=rep".to_string(),
            "ORCO_SERVICE=w".into(),
            format!("ORCO_REPLICA={r}"),
            format!("ORCO_INSTANCE=w-{r}"),
            "GREETING=hello".into(),
        ] {
            assert!(
                lines.contains(want.as_str()),
                "replica {r} lacks {want}: {env}"
            );
        }
        let cwd = std::fs::read_to_string(w.path(&format!("cwd-{r}"))).unwrap();
        assert_eq!(Path::new(cwd.trim()), w.dir.path().canonicalize().unwrap());
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_instance_failing_its_liveness_probe_is_restarted() {
    let mut w = World::start().await;
    let f = fixture();
    let flag = w.path("alive");
    std::fs::write(&flag, "").unwrap();
    let yaml = format!(
        "version: 0.1\nstack: {{name: live}}\nservices:\n  w:\n    command: [{f}]\n    health: {{cmd: {{command: [test, -f, '{}']}}, interval: 100ms, failureThreshold: 2, onFailure: restart}}\n    restartPolicy: {{backoff: {{min: 10ms}}}}\n",
        flag.display()
    );
    w.apply(&yaml).await;
    let s = w.until("ready", |s| ready(s, "live/w-0")).await;
    let pid = s.instances[&id("live/w-0")].pid;
    std::fs::remove_file(&flag).unwrap();
    w.until("restarted", |s| {
        s.instances
            .get(&id("live/w-0"))
            .is_some_and(|i| i.restarts.total >= 1 && i.pid != pid)
    })
    .await;
    assert!(w.log.iter().any(|e| matches!(&e.kind, EventKind::InstanceStopping { reason, .. } if reason.starts_with("liveness failed"))));
    std::fs::write(&flag, "").unwrap();
    w.until("ready again", |s| ready(s, "live/w-0")).await;
    w.stop().await;
}

//! The control loop over its in-memory journal and a fake runtime, under paused tokio time:
//! crashes, backoff, giving up, a stop during the backoff and adoption after a restart, as
//! the whole node path (journal → reconciler → agent → supervisor → events → journal) runs
//! them, with no process and no sleep.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use orco_control::{Engine, Handle, MemoryJournal};
use orco_runtime::{
    ExitStatus, InstanceInfo, Launch, Runtime, RuntimeError, RuntimeEvent, Signal, Started, Stopped,
};
use orco_state::{Event, EventKind, InstanceId, Phase, State};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A runtime that runs nothing: starts get a pid, stops end at once, crashes are told.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    next_pid: i32,
    running: BTreeMap<String, i32>,
    /// Every start, by name, with when it happened.
    starts: Vec<(String, Instant)>,
    stops: Vec<String>,
    forgotten: Vec<String>,
    /// What `list` answers (an earlier run's instances).
    known: Vec<InstanceInfo>,
    watch: Option<mpsc::Sender<RuntimeEvent>>,
}

impl Fake {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The instance's process ends with `code`.
    async fn crash(&self, name: &str, code: i32) {
        let (pid, watch) = {
            let mut inner = self.inner();
            let pid = inner.running.remove(name).expect("running");
            (pid, inner.watch.clone().expect("watched"))
        };
        watch
            .send(RuntimeEvent::Exited {
                instance: name.to_string(),
                pid,
                status: ExitStatus::Code(code),
            })
            .await
            .unwrap();
    }

    fn starts(&self) -> Vec<Instant> {
        self.inner().starts.iter().map(|(_, at)| *at).collect()
    }
}

impl Runtime for Fake {
    async fn start(&self, instance: &str, _launch: &Launch) -> Result<Started, RuntimeError> {
        let mut inner = self.inner();
        inner.next_pid += 1;
        let pid = 1000 + inner.next_pid;
        inner.running.insert(instance.to_string(), pid);
        inner.starts.push((instance.to_string(), Instant::now()));
        Ok(Started {
            pid,
            container: None,
        })
    }

    async fn signal(&self, _instance: &str, _signal: Signal) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn stop(
        &self,
        instance: &str,
        _signal: Signal,
        _timeout: Duration,
    ) -> Result<Stopped, RuntimeError> {
        let mut inner = self.inner();
        inner.running.remove(instance);
        inner.stops.push(instance.to_string());
        Ok(Stopped {
            status: ExitStatus::Signal(15),
            forced: false,
        })
    }

    async fn list(&self) -> Result<Vec<InstanceInfo>, RuntimeError> {
        Ok(self.inner().known.clone())
    }

    async fn forget(&self, instance: &str) -> Result<(), RuntimeError> {
        self.inner().forgotten.push(instance.to_string());
        Ok(())
    }

    async fn watch(
        &self,
        _from: BTreeMap<String, u64>,
    ) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let (tx, rx) = mpsc::channel(1024);
        self.inner().watch = Some(tx);
        Ok(rx)
    }
}

fn id(s: &str) -> InstanceId {
    s.parse().unwrap()
}

async fn apply(engine: &Handle, yaml: &str) {
    let stack = orco_spec::load_str(Path::new("t.yaml"), yaml, Path::new("/srv"))
        .unwrap()
        .stack;
    engine
        .submit(vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }])
        .await
        .unwrap();
}

/// Waits (in paused time, which jumps to the next timer when everything idles) until
/// `pred` holds; a minute of virtual time is far more than any of these needs.
async fn until(engine: &Handle, what: &str, pred: impl FnMut(&State) -> bool) -> Arc<State> {
    match tokio::time::timeout(Duration::from_secs(60), engine.wait_for(pred)).await {
        Ok(state) => state.unwrap(),
        Err(_) => panic!("never {what}: {:#?}", engine.state().instances),
    }
}

fn running(s: &State, i: &str) -> bool {
    s.instances
        .get(&id(i))
        .is_some_and(|i| i.phase == Phase::Running { ready: true })
}

const CRASHY: &str = "version: 0.1\nstack: {name: s}\nservices:\n  web:\n    command: serve\n    restartPolicy: {maxRetries: 3, backoff: {min: 1s, max: 30s, factor: 4}}\n";

#[tokio::test(start_paused = true)]
async fn a_crash_loop_backs_off_longer_each_time_and_gives_up_at_max_retries() {
    let fake = Fake::default();
    let engine = Engine::start(MemoryJournal::new(), fake.clone(), None)
        .await
        .unwrap();
    let mut events = engine.events();
    apply(&engine, CRASHY).await;
    until(&engine, "running", |s| running(s, "s/web-0")).await;
    for n in 1..=3u32 {
        fake.crash("s.web-0", 1).await;
        if n < 3 {
            until(&engine, "restarted", |s| {
                running(s, "s/web-0") && s.instances[&id("s/web-0")].restarts.total == n
            })
            .await;
        }
    }
    let s = until(&engine, "gave up", |s| {
        s.instances[&id("s/web-0")].phase == Phase::Failed
    })
    .await;
    assert_eq!(
        s.instances[&id("s/web-0")].reason.as_deref(),
        Some("gave up after 3 consecutive failed runs (last: exit code 1)")
    );
    let mut delays = Vec::new();
    while let Ok((_, Event { kind, .. })) = events.try_recv() {
        if let EventKind::InstanceBackoff { delay_ms, .. } = kind {
            delays.push(delay_ms);
        }
    }
    assert_eq!(delays.len(), 2, "{delays:?}");
    assert!(delays[1] > delays[0], "the backoff grows: {delays:?}");
    // Each restart came no sooner than its delay after the crash that caused it.
    let starts = fake.starts();
    assert_eq!(starts.len(), 3);
    for (gap, delay) in starts.windows(2).map(|w| w[1] - w[0]).zip(&delays) {
        assert!(gap >= Duration::from_millis(*delay), "{gap:?} < {delay} ms");
    }
    // Given up: nothing starts again, however long it waits.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(fake.starts().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_cancels_the_restart() {
    let fake = Fake::default();
    let engine = Engine::start(MemoryJournal::new(), fake.clone(), None)
        .await
        .unwrap();
    apply(&engine, CRASHY).await;
    until(&engine, "running", |s| running(s, "s/web-0")).await;
    fake.crash("s.web-0", 1).await;
    until(&engine, "backing off", |s| {
        s.instances[&id("s/web-0")].restarts.backoff_until.is_some()
    })
    .await;
    let web = orco_state::WorkloadId::new("s".parse().unwrap(), "web").unwrap();
    engine
        .submit(vec![EventKind::StopRequested { workload: web }])
        .await
        .unwrap();
    until(&engine, "stopped", |s| {
        !s.instances[&id("s/web-0")].phase.is_live()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(fake.starts().len(), 1, "the cancelled restart never came");
    assert!(!running(&engine.state(), "s/web-0"));
}

#[tokio::test(start_paused = true)]
async fn a_run_that_lasts_reset_after_starts_the_failure_count_again() {
    let fake = Fake::default();
    let engine = Engine::start(MemoryJournal::new(), fake.clone(), None)
        .await
        .unwrap();
    let yaml = "version: 0.1\nstack: {name: s}\nservices:\n  web:\n    command: serve\n    restartPolicy: {maxRetries: 2, resetAfter: 5s, backoff: {min: 100ms}}\n";
    apply(&engine, yaml).await;
    // With maxRetries 2 two quick failures give up; each run here outlives resetAfter.
    for n in 1..=4u32 {
        until(&engine, "running", |s| {
            running(s, "s/web-0") && s.instances[&id("s/web-0")].restarts.total == n - 1
        })
        .await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(
            engine.state().instances[&id("s/web-0")].restarts.failures,
            0
        );
        fake.crash("s.web-0", 1).await;
    }
    let s = until(&engine, "restarted", |s| {
        running(s, "s/web-0") && s.instances[&id("s/web-0")].restarts.total == 4
    })
    .await;
    assert_eq!(s.instances[&id("s/web-0")].restarts.failures, 1);
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_the_running_instance_is_adopted_not_started_again() {
    // A first engine starts it; a second one over the same journal contents and the same
    // runtime (as after a daemon restart) takes it over.
    let fake = Fake::default();
    let journal = MemoryJournal::new();
    let engine = Engine::start(journal, fake.clone(), None).await.unwrap();
    let mut events = engine.events();
    apply(&engine, CRASHY).await;
    let before = until(&engine, "running", |s| running(s, "s/web-0")).await;
    let pid = before.instances[&id("s/web-0")].pid.unwrap();
    let mut recorded = Vec::new();
    while let Ok((_, event)) = events.try_recv() {
        recorded.push(event);
    }
    drop(engine);
    tokio::time::sleep(Duration::from_secs(1)).await;

    {
        let mut inner = fake.inner();
        inner.known = vec![InstanceInfo {
            instance: "s.web-0".into(),
            pid: i32::try_from(pid).unwrap(),
            started_at_unix_ms: 0,
            exit: None,
            group_alive: true,
            output_len: 0,
            container: None,
        }];
    }
    let replayed = recorded.len() as u64;
    let mut journal = MemoryJournal::new();
    {
        use orco_control::Journal;
        journal.append(recorded).await.unwrap();
    }
    let engine = Engine::start(journal, fake.clone(), None).await.unwrap();
    let mut events = engine.events();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(fake.starts().len(), 1, "adopted, not started again");
    assert!(running(&engine.state(), "s/web-0"));
    assert_eq!(engine.state().instances[&id("s/web-0")].pid, Some(pid));
    // What the second engine recorded itself, after the replay of the first one's events.
    while let Ok((revision, event)) = events.try_recv() {
        if revision <= replayed {
            continue;
        }
        assert!(
            !matches!(
                event.kind,
                EventKind::InstanceStarting { .. } | EventKind::InstanceStopping { .. }
            ),
            "{event:?}"
        );
    }
    // And it is supervised: its crash restarts it.
    fake.crash("s.web-0", 1).await;
    until(&engine, "restarted", |s| {
        running(s, "s/web-0") && s.instances[&id("s/web-0")].restarts.total == 1
    })
    .await;
    assert_eq!(fake.starts().len(), 2);
}

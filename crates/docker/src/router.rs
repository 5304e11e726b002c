//! [`Router`]: one `Runtime` over a process runtime and a docker runtime.
//!
//! A start goes to the docker runtime when its `Launch` describes a container
//! (`launch.container` is set), else to the process runtime; the router remembers which
//! runtime owns each instance name for `signal`, `stop` and `forget`. `list` and `watch`
//! merge both. Without a docker runtime (no engine on this machine) container starts fail
//! with a message saying so, and everything else is the process runtime's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use orco_runtime::{
    InstanceInfo, Launch, Runtime, RuntimeError, RuntimeEvent, Signal, Started, Stopped,
};
use tokio::sync::mpsc;

/// Which runtime owns an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The process runtime.
    Process,
    /// The docker runtime.
    Docker,
}

/// A `Runtime` that sends each instance to the process or the docker runtime.
#[derive(Debug)]
pub struct Router<P, D> {
    process: P,
    docker: Option<D>,
    owners: Mutex<HashMap<String, Owner>>,
}

impl<P: Runtime, D: Runtime> Router<P, D> {
    /// A router over both runtimes; `docker` is `None` where no engine is reachable.
    pub fn new(process: P, docker: Option<D>) -> Router<P, D> {
        Router {
            process,
            docker,
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The process runtime.
    pub fn process(&self) -> &P {
        &self.process
    }

    /// The docker runtime, if there is one.
    pub fn docker(&self) -> Option<&D> {
        self.docker.as_ref()
    }

    /// Which runtime owns `instance`, as far as the router knows.
    pub fn owner(&self, instance: &str) -> Option<Owner> {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(instance)
            .copied()
    }

    fn remember(&self, instance: &str, owner: Owner) {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(instance.to_string(), owner);
    }

    fn no_docker(instance: &str) -> RuntimeError {
        RuntimeError::Container(orco_runtime::ContainerError::NoEngine {
            instance: instance.to_string(),
        })
    }

    /// The owner of `instance`: remembered, else learned by listing both runtimes.
    async fn owner_of(&self, instance: &str) -> Option<Owner> {
        if let Some(owner) = self.owner(instance) {
            return Some(owner);
        }
        let _ = self.list().await;
        self.owner(instance)
    }
}

impl<P: Runtime> Router<P, crate::DockerRuntime> {
    /// Runs `argv` inside `instance`'s container and answers its exit code: how a `cmd`
    /// probe of a docker service runs. `None` when the instance is not a container (run the
    /// probe as a local process then).
    pub async fn exec(
        &self,
        instance: &str,
        argv: &[String],
    ) -> Option<Result<i64, crate::DockerError>> {
        match (self.owner_of(instance).await, &self.docker) {
            (Some(Owner::Docker), Some(docker)) => Some(docker.exec(instance, argv).await),
            _ => None,
        }
    }
}

impl<P: Runtime, D: Runtime> Runtime for Router<P, D> {
    async fn start(&self, instance: &str, launch: &Launch) -> Result<Started, RuntimeError> {
        let wanted = if launch.container.is_some() {
            Owner::Docker
        } else {
            Owner::Process
        };
        // An ended instance of the same name on the other runtime is replaced: forget it.
        match (self.owner(instance), wanted) {
            (Some(Owner::Process), Owner::Docker) => {
                let _ = self.process.forget(instance).await;
            }
            (Some(Owner::Docker), Owner::Process) => {
                if let Some(docker) = &self.docker {
                    let _ = docker.forget(instance).await;
                }
            }
            _ => {}
        }
        let started = match wanted {
            Owner::Process => self.process.start(instance, launch).await,
            Owner::Docker => match &self.docker {
                Some(docker) => docker.start(instance, launch).await,
                None => Err(Self::no_docker(instance)),
            },
        };
        self.remember(instance, wanted);
        started
    }

    async fn signal(&self, instance: &str, signal: Signal) -> Result<(), RuntimeError> {
        match (self.owner_of(instance).await, &self.docker) {
            (Some(Owner::Docker), Some(docker)) => docker.signal(instance, signal).await,
            _ => self.process.signal(instance, signal).await,
        }
    }

    async fn stop(
        &self,
        instance: &str,
        signal: Signal,
        timeout: Duration,
    ) -> Result<Stopped, RuntimeError> {
        match (self.owner_of(instance).await, &self.docker) {
            (Some(Owner::Docker), Some(docker)) => docker.stop(instance, signal, timeout).await,
            _ => self.process.stop(instance, signal, timeout).await,
        }
    }

    async fn list(&self) -> Result<Vec<InstanceInfo>, RuntimeError> {
        let mut all = self.process.list().await?;
        for info in &all {
            self.remember(&info.instance, Owner::Process);
        }
        if let Some(docker) = &self.docker {
            let containers = docker.list().await?;
            for info in &containers {
                self.remember(&info.instance, Owner::Docker);
            }
            all.extend(containers);
        }
        all.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(all)
    }

    /// The keeper holds the fence of process instances; containers are fenced by the agent.
    async fn fence(&self, deadline_ms: u64, instances: Vec<String>) -> Result<(), RuntimeError> {
        self.process.fence(deadline_ms, instances).await
    }

    async fn forget(&self, instance: &str) -> Result<(), RuntimeError> {
        let forgotten = match (self.owner_of(instance).await, &self.docker) {
            (Some(Owner::Docker), Some(docker)) => docker.forget(instance).await,
            _ => self.process.forget(instance).await,
        };
        if forgotten.is_ok() {
            self.owners
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(instance);
        }
        forgotten
    }

    async fn exec(&self, instance: &str, argv: &[String]) -> Option<Result<i64, RuntimeError>> {
        match (self.owner_of(instance).await, &self.docker) {
            (Some(Owner::Docker), Some(docker)) => Runtime::exec(docker, instance, argv).await,
            _ => None,
        }
    }

    async fn watch(
        &self,
        from: BTreeMap<String, u64>,
    ) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let mut process = self.process.watch(from.clone()).await?;
        let docker = match &self.docker {
            Some(docker) => Some(docker.watch(from).await?),
            None => None,
        };
        let (tx, rx) = mpsc::channel(1024);
        // One merged stream; it ends when either runtime's stream ends, so that the reader
        // sees a lost connection as it would without the router.
        tokio::spawn(async move {
            let Some(mut docker) = docker else {
                while let Some(event) = process.recv().await {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                return;
            };
            loop {
                let event = tokio::select! {
                    event = process.recv() => event,
                    event = docker.recv() => event,
                };
                let Some(event) = event else { return };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use orco_runtime::{Container, ExitStatus};

    use super::*;

    /// A runtime that records calls, lists what it started and streams what a test sends.
    #[derive(Debug, Clone, Default)]
    struct Fake {
        name: &'static str,
        calls: Arc<Mutex<Vec<String>>>,
        started: Arc<Mutex<Vec<String>>>,
        events: Arc<Mutex<Option<mpsc::Sender<RuntimeEvent>>>>,
    }

    impl Fake {
        fn new(name: &'static str) -> Fake {
            Fake {
                name,
                ..Fake::default()
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }

        fn record(&self, call: String) {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(call);
            }
        }

        fn info(instance: &str) -> InstanceInfo {
            InstanceInfo {
                instance: instance.to_string(),
                pid: 1,
                started_at_unix_ms: 0,
                exit: None,
                group_alive: true,
                output_len: 0,
                container: None,
            }
        }
    }

    impl Runtime for Fake {
        async fn start(&self, instance: &str, _: &Launch) -> Result<Started, RuntimeError> {
            self.record(format!("{} start {instance}", self.name));
            if let Ok(mut s) = self.started.lock() {
                s.push(instance.to_string());
            }
            Ok(Started {
                pid: 7,
                container: None,
            })
        }
        async fn signal(&self, instance: &str, _: Signal) -> Result<(), RuntimeError> {
            self.record(format!("{} signal {instance}", self.name));
            Ok(())
        }
        async fn stop(
            &self,
            instance: &str,
            _: Signal,
            _: Duration,
        ) -> Result<Stopped, RuntimeError> {
            self.record(format!("{} stop {instance}", self.name));
            Ok(Stopped {
                status: ExitStatus::Code(0),
                forced: false,
            })
        }
        async fn list(&self) -> Result<Vec<InstanceInfo>, RuntimeError> {
            let started = self.started.lock().map(|s| s.clone()).unwrap_or_default();
            Ok(started.iter().map(|i| Fake::info(i)).collect())
        }
        async fn forget(&self, instance: &str) -> Result<(), RuntimeError> {
            self.record(format!("{} forget {instance}", self.name));
            if let Ok(mut s) = self.started.lock() {
                s.retain(|i| i != instance);
            }
            Ok(())
        }
        async fn watch(
            &self,
            _: BTreeMap<String, u64>,
        ) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
            let (tx, rx) = mpsc::channel(8);
            if let Ok(mut events) = self.events.lock() {
                *events = Some(tx);
            }
            Ok(rx)
        }
    }

    fn container_launch() -> Launch {
        Launch::default().container(Container {
            image: "busybox".into(),
            ..Container::default()
        })
    }

    #[tokio::test]
    async fn a_start_goes_to_the_runtime_its_launch_names_and_later_calls_follow_it() {
        let (process, docker) = (Fake::new("process"), Fake::new("docker"));
        let router = Router::new(process.clone(), Some(docker.clone()));
        router.start("s.web-0", &container_launch()).await.ok();
        router.start("s.api-0", &Launch::new(["true"])).await.ok();
        router.signal("s.web-0", Signal::SIGHUP).await.ok();
        router
            .stop("s.api-0", Signal::SIGTERM, Duration::ZERO)
            .await
            .ok();
        router.forget("s.web-0").await.ok();
        assert_eq!(
            process.calls(),
            vec!["process start s.api-0", "process stop s.api-0"]
        );
        assert_eq!(
            docker.calls(),
            vec![
                "docker start s.web-0",
                "docker signal s.web-0",
                "docker forget s.web-0"
            ]
        );
        assert_eq!(router.owner("s.web-0"), None, "forgotten");
    }

    #[tokio::test]
    async fn owners_are_learned_from_listing_after_a_restart() {
        let (process, docker) = (Fake::new("process"), Fake::new("docker"));
        docker.start("s.db-0", &container_launch()).await.ok();
        process.start("s.app-0", &Launch::new(["true"])).await.ok();
        let router = Router::new(process.clone(), Some(docker.clone()));
        let listed: Vec<String> = router
            .list()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.instance)
            .collect();
        assert_eq!(listed, vec!["s.app-0", "s.db-0"]);
        let fresh = Router::new(process.clone(), Some(docker.clone()));
        fresh
            .stop("s.db-0", Signal::SIGTERM, Duration::ZERO)
            .await
            .ok();
        assert_eq!(
            docker.calls().last().map(String::as_str),
            Some("docker stop s.db-0")
        );
    }

    #[tokio::test]
    async fn a_container_start_without_a_docker_engine_fails_saying_so() {
        let router: Router<Fake, Fake> = Router::new(Fake::new("process"), None);
        let err = router.start("s.web-0", &container_launch()).await.err();
        assert!(err.is_some_and(|e| e.to_string().contains("no docker engine")));
    }

    #[tokio::test]
    async fn a_name_moving_to_the_other_runtime_is_forgotten_on_the_first() {
        let (process, docker) = (Fake::new("process"), Fake::new("docker"));
        let router = Router::new(process.clone(), Some(docker.clone()));
        router.start("s.web-0", &Launch::new(["true"])).await.ok();
        router.start("s.web-0", &container_launch()).await.ok();
        assert_eq!(
            process.calls(),
            vec!["process start s.web-0", "process forget s.web-0"]
        );
        assert_eq!(router.owner("s.web-0"), Some(Owner::Docker));
    }

    #[tokio::test]
    async fn watch_merges_both_runtimes_and_ends_when_either_ends() {
        let (process, docker) = (Fake::new("process"), Fake::new("docker"));
        let router = Router::new(process.clone(), Some(docker.clone()));
        let mut rx = router
            .watch(BTreeMap::new())
            .await
            .unwrap_or_else(|_| mpsc::channel(1).1);
        let exited = |instance: &str| RuntimeEvent::Exited {
            instance: instance.into(),
            pid: 1,
            status: ExitStatus::Code(0),
        };
        let sender = |f: &Fake| f.events.lock().ok().and_then(|mut e| e.take());
        let (ptx, dtx) = (sender(&process), sender(&docker));
        if let (Some(ptx), Some(dtx)) = (ptx, dtx) {
            ptx.send(exited("p")).await.ok();
            assert_eq!(rx.recv().await, Some(exited("p")));
            dtx.send(exited("d")).await.ok();
            assert_eq!(rx.recv().await, Some(exited("d")));
            drop(ptx);
            assert_eq!(rx.recv().await, None, "the process stream ended");
        } else {
            panic!("both runtimes are watched");
        }
    }
}

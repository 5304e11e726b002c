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
        RuntimeError::Container(format!(
            "cannot run `{instance}` as a container: no docker engine is reachable; start dockerd and restart orco"
        ))
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

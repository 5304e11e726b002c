//! [`DockerRuntime`]: the `Runtime` trait over the Docker Engine API.
//!
//! The engine is the record: containers carry orco's labels, so after a restart the runtime
//! finds (re-adopts) them by label and never recreates a running one. Output is the
//! engine's container log, cut into records as a keeper output log would be.
//! The `pid` of a container instance is its main process as seen from the host, remembered
//! from the start (or from the first `list` after a restart) so that the exit reported later
//! carries the same pid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerInspectResponse, ExecConfig, NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, KillContainerOptions,
    ListContainersOptions, ListNetworksOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use orco_runtime::output::unix_nanos;
use orco_runtime::{
    ContainerError, Exit, ExitStatus, InstanceInfo, Launch, Runtime, RuntimeError, RuntimeEvent,
    Signal, Started, Stopped,
};
use tokio::sync::{Notify, broadcast, mpsc};

use crate::config::create_body;
use crate::error::{DockerError, answer, status, unreachable};
use crate::logs::LogCutter;
use crate::names::{
    DEFAULT_SCOPE, LABEL_INSTANCE, LABEL_SCOPE, LABEL_STACK, container_name, label, network_name,
    pull_reference, valid_scope,
};
use crate::pull::{PullProgress, PullStage};

/// How many times a start makes the stack's network again when it went meanwhile.
const NETWORK_TRIES: u32 = 3;

/// Whether the engine refused because a network does not exist.
fn network_gone(e: &bollard::errors::Error) -> bool {
    let text = answer(e);
    text.contains("network") && text.contains("not found")
}

/// How long a removal waits for another removal of the same container to finish.
const REMOVAL_PATIENCE: Duration = Duration::from_secs(60);

/// How a [`DockerRuntime`] is set up.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// Which runtime owns a container: only containers labelled with this scope are listed,
    /// watched, stopped or removed. One per daemon (default `orco`); tests use their own.
    pub scope: String,
    /// Pull an image that is not on this machine (default); otherwise such a start fails.
    pub pull: bool,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            scope: DEFAULT_SCOPE.to_string(),
            pull: true,
        }
    }
}

/// Runs instances as Docker containers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    docker: Docker,
    scope: String,
    pull: bool,
    /// The pid reported for each container id (see the module docs).
    pids: Mutex<HashMap<String, i32>>,
    /// Instances whose start has not answered yet; their exit waits for it.
    starting: Mutex<HashSet<String>>,
    started: Notify,
    /// One network creation at a time: the engine of API 1.41 allows duplicate names.
    network: tokio::sync::Mutex<()>,
    /// Concurrent stops of one instance share one escalation.
    stops: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    progress: broadcast::Sender<PullProgress>,
}

/// Where a watch starts reading a container's log.
#[derive(Debug, Clone, Copy)]
enum From {
    /// At this offset (everything from there on).
    Offset(u64),
    /// At the first line printed at or after this time (Unix nanoseconds).
    Since(u64),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes an instance from `starting` when its start answers, however it answers.
struct StartingGuard<'a> {
    inner: &'a Inner,
    instance: String,
}

impl Drop for StartingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.starting).remove(&self.instance);
        self.inner.started.notify_waiters();
    }
}

fn running(c: &ContainerInspectResponse) -> bool {
    c.state
        .as_ref()
        .is_some_and(|s| s.running.unwrap_or(false) || s.restarting.unwrap_or(false))
}

/// A container's exit as orco's status: the engine reports a death by signal N as 128+N.
fn exit_status(c: &ContainerInspectResponse) -> ExitStatus {
    let code = c.state.as_ref().and_then(|s| s.exit_code).unwrap_or(0);
    match i32::try_from(code) {
        Ok(code) if code > 128 && Signal::try_from(code - 128).is_ok() => {
            ExitStatus::Signal(code - 128)
        }
        Ok(code) => ExitStatus::Code(code),
        Err(_) => ExitStatus::Code(-1),
    }
}

fn unix_ms(text: Option<&str>) -> u64 {
    text.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|t| u64::try_from(t.as_millisecond()).ok())
        .unwrap_or(0)
}

impl DockerRuntime {
    /// Connects to the engine (`DOCKER_HOST`, else the local socket) and agrees on an API
    /// version (Debian's engine speaks 1.41).
    pub async fn connect(options: DockerOptions) -> Result<DockerRuntime, DockerError> {
        if !valid_scope(&options.scope) {
            return Err(DockerError::Container(ContainerError::Refused {
                action: "the scope",
                name: options.scope,
                answer: "use 1-64 of a-z, 0-9, `_`, `.` or `-`".into(),
            }));
        }
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| DockerError::Unreachable(e.to_string()))?
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Unreachable(e.to_string()))?;
        let (progress, _) = broadcast::channel(256);
        Ok(DockerRuntime {
            inner: Arc::new(Inner {
                docker,
                scope: options.scope,
                pull: options.pull,
                pids: Mutex::new(HashMap::new()),
                starting: Mutex::new(HashSet::new()),
                started: Notify::new(),
                network: tokio::sync::Mutex::new(()),
                stops: Mutex::new(HashMap::new()),
                progress,
            }),
        })
    }

    /// The scope this runtime owns.
    pub fn scope(&self) -> &str {
        &self.inner.scope
    }

    /// The engine client, for what the `Runtime` trait does not cover.
    pub fn engine(&self) -> &Docker {
        &self.inner.docker
    }

    /// Image pull progress of every start from now on (a lagging receiver loses the oldest
    /// reports, never blocks a pull).
    pub fn pull_progress(&self) -> broadcast::Receiver<PullProgress> {
        self.inner.progress.subscribe()
    }

    fn engine_error(
        &self,
        action: &'static str,
        name: &str,
    ) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let name = name.to_string();
        move |e| {
            if unreachable(&e) {
                DockerError::Unreachable(e.to_string())
            } else {
                DockerError::Container(ContainerError::Refused {
                    action,
                    name,
                    answer: answer(&e),
                })
            }
        }
    }

    async fn inspect(&self, name: &str) -> Result<Option<ContainerInspectResponse>, DockerError> {
        match self.inner.docker.inspect_container(name, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.engine_error("an inspection", name)(e)),
        }
    }

    /// The container of `instance`, if there is one; a container of that name without this
    /// scope's label is not orco's: it is an error, and it is left alone.
    async fn instance_container(
        &self,
        instance: &str,
    ) -> Result<Option<ContainerInspectResponse>, DockerError> {
        let name = container_name(&self.inner.scope, instance);
        match self.inspect(&name).await? {
            Some(c) => {
                let owned = c
                    .config
                    .as_ref()
                    .and_then(|cfg| cfg.labels.as_ref())
                    .and_then(|l| l.get(LABEL_SCOPE))
                    .is_some_and(|scope| *scope == self.inner.scope);
                if owned {
                    Ok(Some(c))
                } else {
                    Err(DockerError::Container(ContainerError::Foreign {
                        name,
                        scope: self.inner.scope.clone(),
                    }))
                }
            }
            None => Ok(None),
        }
    }

    /// The id of the container running (or last run by) `instance`.
    pub async fn container_id(&self, instance: &str) -> Result<String, DockerError> {
        self.instance_container(instance)
            .await?
            .and_then(|c| c.id)
            .ok_or_else(|| DockerError::UnknownInstance(instance.to_string()))
    }

    fn report(&self, instance: &str, image: &str, stage: PullStage) {
        let _ = self.inner.progress.send(PullProgress {
            instance: instance.to_string(),
            image: image.to_string(),
            stage,
        });
    }

    /// Makes sure `image` is on this machine, pulling it (with progress) if allowed.
    async fn ensure_image(&self, instance: &str, image: &str) -> Result<(), DockerError> {
        match self.inner.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(self.engine_error("an image inspection", image)(e)),
        }
        if !self.inner.pull {
            return Err(DockerError::Container(ContainerError::NoImage(
                image.to_string(),
            )));
        }
        self.report(instance, image, PullStage::Started);
        let (repo, tag) = pull_reference(image);
        let options = CreateImageOptions {
            from_image: Some(repo),
            tag,
            ..CreateImageOptions::default()
        };
        let mut stream = self.inner.docker.create_image(Some(options), None, None);
        let failed = |answer: String| {
            self.report(
                instance,
                image,
                PullStage::Failed {
                    answer: answer.clone(),
                },
            );
            if image_missing(&answer) {
                DockerError::Container(ContainerError::ImageNotFound {
                    image: image.to_string(),
                    answer,
                })
            } else {
                DockerError::Container(ContainerError::Pull {
                    image: image.to_string(),
                    answer,
                })
            }
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        let answer = detail.message.unwrap_or_else(|| "unknown error".into());
                        return Err(failed(answer));
                    }
                    let (current, total) = info.progress_detail.map_or((None, None), |p| {
                        (
                            p.current.and_then(|c| u64::try_from(c).ok()),
                            p.total.and_then(|t| u64::try_from(t).ok()),
                        )
                    });
                    self.report(
                        instance,
                        image,
                        PullStage::Progress {
                            layer: info.id,
                            status: info.status.unwrap_or_default(),
                            current,
                            total,
                        },
                    );
                }
                Err(e) if unreachable(&e) => return Err(DockerError::Unreachable(e.to_string())),
                Err(e) => return Err(failed(answer(&e))),
            }
        }
        self.report(instance, image, PullStage::Done);
        Ok(())
    }

    /// Makes sure the stack's network exists; answers its name.
    async fn ensure_network(&self, stack: &str) -> Result<String, DockerError> {
        let network = network_name(&self.inner.scope, stack);
        let _one_at_a_time = self.inner.network.lock().await;
        let fail = |e: bollard::errors::Error| {
            if unreachable(&e) {
                DockerError::Unreachable(e.to_string())
            } else {
                DockerError::Container(ContainerError::Network {
                    stack: stack.to_string(),
                    network: network.clone(),
                    answer: answer(&e),
                })
            }
        };
        match self.inner.docker.inspect_network(&network, None).await {
            Ok(_) => return Ok(network),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(fail(e)),
        }
        let request = NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([
                (LABEL_SCOPE.to_string(), self.inner.scope.clone()),
                (LABEL_STACK.to_string(), stack.to_string()),
            ])),
            ..NetworkCreateRequest::default()
        };
        match self.inner.docker.create_network(request).await {
            Ok(_) => Ok(network),
            Err(e) if status(&e) == Some(409) => Ok(network),
            Err(e) => Err(fail(e)),
        }
    }

    /// Makes sure the named volume exists, labelled with this scope and the stack when orco
    /// creates it (an existing volume is used as it is, and never removed by orco).
    async fn ensure_volume(&self, stack: &str, name: &str) -> Result<(), DockerError> {
        match self.inner.docker.inspect_volume(name).await {
            Ok(_) => return Ok(()),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(self.engine_error("a volume inspection", name)(e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(HashMap::from([
                (LABEL_SCOPE.to_string(), self.inner.scope.clone()),
                (LABEL_STACK.to_string(), stack.to_string()),
            ])),
            ..VolumeCreateRequest::default()
        };
        self.inner
            .docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(self.engine_error("the creation of a volume", name))
    }

    async fn start_container(
        &self,
        instance: &str,
        launch: &Launch,
    ) -> Result<Started, DockerError> {
        orco_runtime::launch::check_instance_name(instance)
            .map_err(|_| DockerError::UnknownInstance(instance.to_string()))?;
        let container = launch.container.as_ref().ok_or_else(|| {
            DockerError::Container(ContainerError::NotAContainer(instance.to_string()))
        })?;
        let name = container_name(&self.inner.scope, instance);
        if let Some(old) = self.instance_container(instance).await? {
            if running(&old) {
                return Err(DockerError::AlreadyRunning(instance.to_string()));
            }
            self.remove(&name).await?;
        }
        self.ensure_image(instance, &container.image).await?;
        for volume in container.volumes.iter().filter(|v| !v.is_bind()) {
            self.ensure_volume(&container.stack, &volume.source).await?;
        }
        lock(&self.inner.starting).insert(instance.to_string());
        let _guard = StartingGuard {
            inner: &self.inner,
            instance: instance.to_string(),
        };
        // The stack's network can go between its check and the start: the last container of
        // an earlier run of the stack, removed just now, takes it. Then it is made again.
        let mut tries = 0;
        let created = loop {
            tries += 1;
            let network = self.ensure_network(&container.stack).await?;
            let body = create_body(&self.inner.scope, instance, launch, container, &network);
            let options = CreateContainerOptions {
                name: Some(name.clone()),
                ..CreateContainerOptions::default()
            };
            let created = match self
                .inner
                .docker
                .create_container(Some(options), body)
                .await
            {
                Ok(created) => created,
                Err(e) if unreachable(&e) => return Err(DockerError::Unreachable(e.to_string())),
                Err(e) if network_gone(&e) && tries < NETWORK_TRIES => continue,
                Err(e) => {
                    return Err(DockerError::Container(ContainerError::Create {
                        name: name.clone(),
                        image: container.image.clone(),
                        answer: answer(&e),
                    }));
                }
            };
            match self.inner.docker.start_container(&created.id, None).await {
                Ok(()) => break created,
                Err(e) => {
                    let _ = self.remove(&created.id).await;
                    if network_gone(&e) && tries < NETWORK_TRIES {
                        continue;
                    }
                    return Err(DockerError::Container(ContainerError::Start {
                        name,
                        answer: answer(&e),
                    }));
                }
            }
        };
        let pid = self
            .inspect(&created.id)
            .await?
            .and_then(|c| c.state.and_then(|s| s.pid))
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        lock(&self.inner.pids).insert(created.id.clone(), pid);
        Ok(Started {
            pid,
            container: Some(created.id),
        })
    }

    async fn remove(&self, id_or_name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..RemoveContainerOptions::default()
        };
        match self
            .inner
            .docker
            .remove_container(id_or_name, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            // Another removal of it is under way (a `down` just before an `up`): done when
            // that one is.
            Err(e) if status(&e) == Some(409) => {
                let deadline = tokio::time::Instant::now() + REMOVAL_PATIENCE;
                while self.inspect(id_or_name).await?.is_some() {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.engine_error("the removal", id_or_name)(e));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(())
            }
            Err(e) => Err(self.engine_error("the removal", id_or_name)(e)),
        }
    }

    async fn kill(&self, id: &str, signal: Signal) -> Result<(), DockerError> {
        let options = KillContainerOptions {
            signal: signal.as_str().to_string(),
        };
        match self.inner.docker.kill_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Not running (409) or gone (404): nothing is left to signal.
            Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(self.engine_error("a signal", id)(e)),
        }
    }

    /// Answers once the container does not run (or is gone).
    async fn wait_exit(&self, id: &str) -> Result<(), DockerError> {
        loop {
            let options = WaitContainerOptions {
                condition: "not-running".into(),
            };
            let _ = self
                .inner
                .docker
                .wait_container(id, Some(options))
                .next()
                .await;
            match self.inspect(id).await? {
                Some(c) if running(&c) => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => return Ok(()),
            }
        }
    }

    async fn stop_container(
        &self,
        instance: &str,
        signal: Signal,
        timeout: Duration,
    ) -> Result<Stopped, DockerError> {
        let shared = lock(&self.inner.stops)
            .entry(instance.to_string())
            .or_default()
            .clone();
        let _escalation = shared.lock().await;
        let name = container_name(&self.inner.scope, instance);
        let c = self
            .instance_container(instance)
            .await?
            .ok_or_else(|| DockerError::UnknownInstance(instance.to_string()))?;
        let id = c.id.clone().unwrap_or(name);
        let mut forced = false;
        if running(&c) {
            self.kill(&id, signal).await?;
            if tokio::time::timeout(timeout, self.wait_exit(&id))
                .await
                .is_err()
            {
                forced = true;
                self.kill(&id, Signal::SIGKILL).await?;
                self.wait_exit(&id).await?;
            }
        }
        let ended = self
            .inspect(&id)
            .await?
            .ok_or_else(|| DockerError::UnknownInstance(instance.to_string()))?;
        Ok(Stopped {
            status: exit_status(&ended),
            forced,
        })
    }

    /// The label filter of `stack`'s objects in this scope.
    fn stack_filters(&self, stack: &str) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![
                label(LABEL_SCOPE, &self.inner.scope),
                label(LABEL_STACK, stack),
            ],
        )])
    }

    /// Every container (running or not) that `filters` selects for `stack`.
    async fn stack_containers(
        &self,
        stack: &str,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..ListContainersOptions::default()
        };
        self.inner
            .docker
            .list_containers(Some(options))
            .await
            .map_err(self.engine_error("the listing of containers", stack))
    }

    /// Removes every container of `stack` in this runtime's scope (running ones are killed)
    /// and the stack's network. Named volumes are kept (see [`Self::remove_volumes`]).
    pub async fn remove_stack(&self, stack: &str) -> Result<(), DockerError> {
        let filters = self.stack_filters(stack);
        for c in self.stack_containers(stack, &filters).await? {
            if let Some(id) = c.id {
                self.remove(&id).await?;
                lock(&self.inner.pids).remove(&id);
            }
        }
        self.remove_networks(filters).await
    }

    /// Removes the named volumes orco created for `stack` in this scope (labelled with both),
    /// once no container of the stack is left: waits up to `patience` for them to go. A
    /// volume orco found rather than created carries no label and is never removed.
    pub async fn remove_volumes(
        &self,
        stack: &str,
        patience: Duration,
    ) -> Result<Vec<String>, DockerError> {
        let filters = self.stack_filters(stack);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let left = self.stack_containers(stack, &filters).await?;
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DockerError::Container(ContainerError::Refused {
                    action: "the removal of volumes",
                    name: stack.to_string(),
                    answer: format!(
                        "{} container(s) of the stack still exist after {patience:?}",
                        left.len()
                    ),
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let options = bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters),
        };
        let listed = self
            .inner
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(self.engine_error("the listing of volumes", stack))?;
        let mut removed = Vec::new();
        for volume in listed.volumes.unwrap_or_default() {
            let options = None::<bollard::query_parameters::RemoveVolumeOptions>;
            match self.inner.docker.remove_volume(&volume.name, options).await {
                Ok(()) => removed.push(volume.name),
                Err(e) if status(&e) == Some(404) => {}
                Err(e) => {
                    return Err(self.engine_error("the removal of a volume", &volume.name)(
                        e,
                    ));
                }
            }
        }
        Ok(removed)
    }

    async fn remove_networks(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<(), DockerError> {
        let options = ListNetworksOptions {
            filters: Some(filters),
        };
        let networks = self
            .inner
            .docker
            .list_networks(Some(options))
            .await
            .map_err(self.engine_error("the listing of networks", &self.inner.scope))?;
        for n in networks {
            let Some(id) = n.id else { continue };
            match self.inner.docker.remove_network(&id).await {
                Ok(()) => {}
                Err(e) if status(&e) == Some(404) => {}
                Err(e) => return Err(self.engine_error("the removal of a network", &id)(e)),
            }
        }
        Ok(())
    }

    /// Runs `argv` inside the instance's container and answers its exit code (for `cmd`
    /// probes). The caller bounds it with the probe's timeout.
    pub async fn exec(&self, instance: &str, argv: &[String]) -> Result<i64, DockerError> {
        let name = self.container_id(instance).await?;
        let config = ExecConfig {
            cmd: Some(argv.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..ExecConfig::default()
        };
        let exec =
            self.inner
                .docker
                .create_exec(&name, config)
                .await
                .map_err(|e| match status(&e) {
                    Some(404) => DockerError::UnknownInstance(instance.to_string()),
                    _ => self.engine_error("an exec", &name)(e),
                })?;
        let started = self
            .inner
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(self.engine_error("an exec", &name))?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
            while output.next().await.is_some() {}
        }
        let inspected = self
            .inner
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(self.engine_error("an exec", &name))?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }

    /// The pid reported for container `id`: the one remembered, else the engine's (0 once
    /// it ended), remembered from now on.
    fn pid_of(&self, id: &str, c: Option<&ContainerInspectResponse>) -> i32 {
        let mut pids = lock(&self.inner.pids);
        if let Some(pid) = pids.get(id) {
            return *pid;
        }
        let pid = c
            .filter(|c| running(c))
            .and_then(|c| c.state.as_ref().and_then(|s| s.pid))
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        pids.insert(id.to_string(), pid);
        pid
    }

    /// Waits until no start of `instance` is under way.
    async fn started(&self, instance: &str) {
        loop {
            let notified = self.inner.started.notified();
            if !lock(&self.inner.starting).contains(instance) {
                return;
            }
            notified.await;
        }
    }

    fn logs_options(follow: bool) -> LogsOptions {
        LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            timestamps: true,
            tail: "all".into(),
            ..LogsOptions::default()
        }
    }

    /// Length of a container's output log, counted in records.
    async fn output_len(&self, id: &str, ended: bool) -> u64 {
        let mut cutter = LogCutter::new("");
        let mut stream = self.inner.docker.logs(id, Some(Self::logs_options(false)));
        while let Some(Ok(frame)) = stream.next().await {
            cutter.push(&frame, &mut drop);
        }
        if ended {
            cutter.finish(&mut drop);
        }
        cutter.offset()
    }

    async fn scope_containers(&self) -> Result<Vec<(String, String)>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![label(LABEL_SCOPE, &self.inner.scope)],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        let list = self
            .inner
            .docker
            .list_containers(Some(options))
            .await
            .map_err(self.engine_error("the listing of containers", &self.inner.scope))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let instance = c.labels.as_ref()?.get(LABEL_INSTANCE)?.clone();
                Some((c.id?, instance))
            })
            .collect())
    }

    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, DockerError> {
        let mut out = Vec::new();
        for (id, instance) in self.scope_containers().await? {
            let Some(c) = self.inspect(&id).await? else {
                continue;
            };
            let alive = running(&c);
            let state = c.state.as_ref();
            let exit = (!alive).then(|| Exit {
                status: exit_status(&c),
                at_unix_ms: unix_ms(state.and_then(|s| s.finished_at.as_deref())),
            });
            out.push(InstanceInfo {
                instance,
                pid: self.pid_of(&id, Some(&c)),
                started_at_unix_ms: unix_ms(state.and_then(|s| s.started_at.as_deref())),
                exit,
                group_alive: alive,
                output_len: self.output_len(&id, !alive).await,
                container: Some(id),
            });
        }
        out.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(out)
    }

    async fn forget_container(&self, instance: &str) -> Result<(), DockerError> {
        let name = container_name(&self.inner.scope, instance);
        let c = self
            .instance_container(instance)
            .await?
            .ok_or_else(|| DockerError::UnknownInstance(instance.to_string()))?;
        if running(&c) {
            return Err(DockerError::AlreadyRunning(instance.to_string()));
        }
        let id = c.id.clone().unwrap_or(name);
        self.remove(&id).await?;
        lock(&self.inner.pids).remove(&id);
        lock(&self.inner.stops).remove(instance);
        // The last container of its stack takes the stack's network with it.
        let stack = c
            .config
            .and_then(|cfg| cfg.labels)
            .and_then(|l| l.get(LABEL_STACK).cloned());
        if let Some(stack) = stack {
            let filters = HashMap::from([(
                "label".to_string(),
                vec![
                    label(LABEL_SCOPE, &self.inner.scope),
                    label(LABEL_STACK, &stack),
                ],
            )]);
            let options = ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..ListContainersOptions::default()
            };
            let left = self
                .inner
                .docker
                .list_containers(Some(options))
                .await
                .map_err(self.engine_error("the listing of containers", &stack))?;
            if left.is_empty() {
                // A container started meanwhile keeps the network busy: that is fine.
                let _ = self.remove_networks(filters).await;
            }
        }
        Ok(())
    }

    async fn watch_all(
        &self,
        from: BTreeMap<String, u64>,
    ) -> Result<mpsc::Receiver<RuntimeEvent>, DockerError> {
        let now = unix_nanos();
        let (tx, rx) = mpsc::channel(1024);
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["start".to_string()]),
            (
                "label".to_string(),
                vec![label(LABEL_SCOPE, &self.inner.scope)],
            ),
        ]);
        let options = EventsOptions {
            since: Some((now / 1_000_000_000).saturating_sub(1).to_string()),
            filters: Some(filters),
            ..EventsOptions::default()
        };
        // Subscribe before listing, so that no container starts unseen in between.
        let mut events = self.inner.docker.events(Some(options));
        let followed: Arc<Mutex<HashSet<String>>> = Arc::default();
        for (id, instance) in self.scope_containers().await? {
            let start = from
                .get(&instance)
                .map_or(From::Since(now), |offset| From::Offset(*offset));
            if lock(&followed).insert(id.clone()) {
                tokio::spawn(self.clone().follow(id, instance, start, tx.clone()));
            }
        }
        let runtime = self.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = tx.closed() => return,
                    event = events.next() => event,
                };
                let Some(Ok(event)) = event else { return };
                let Some(actor) = event.actor else { continue };
                let Some(id) = actor.id else { continue };
                let instance = actor.attributes.and_then(|mut a| a.remove(LABEL_INSTANCE));
                let Some(instance) = instance else { continue };
                if lock(&followed).insert(id.clone()) {
                    tokio::spawn(
                        runtime
                            .clone()
                            .follow(id, instance, From::Offset(0), tx.clone()),
                    );
                }
            }
        });
        Ok(rx)
    }

    /// Delivers one container's output from `start`, then its exit.
    async fn follow(
        self,
        id: String,
        instance: String,
        start: From,
        tx: mpsc::Sender<RuntimeEvent>,
    ) {
        let (mut delivered, since) = match start {
            From::Offset(offset) => (offset, None),
            From::Since(at) => (0, Some(at)),
        };
        loop {
            let mut cutter = LogCutter::new(&instance);
            let mut lines = Vec::new();
            let mut stream = self.inner.docker.logs(&id, Some(Self::logs_options(true)));
            let mut failed = false;
            loop {
                let frame = tokio::select! {
                    () = tx.closed() => return,
                    frame = stream.next() => frame,
                };
                match frame {
                    Some(Ok(frame)) => cutter.push(&frame, &mut |l| lines.push(l)),
                    Some(Err(_)) => {
                        failed = true;
                        break;
                    }
                    None => break,
                }
                if !send_lines(&tx, &mut lines, &mut delivered, since).await {
                    return;
                }
            }
            let c = match self.inspect(&id).await {
                Ok(Some(c)) => c,
                // Removed (forgotten or replaced), or the engine is gone: nothing more to say.
                Ok(None) | Err(_) => return,
            };
            if running(&c) {
                if failed {
                    // The log cannot be read (e.g. a logging driver without reads): the exit
                    // is still reported.
                    if self.wait_exit(&id).await.is_err() {
                        return;
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            } else {
                cutter.finish(&mut |l| lines.push(l));
                if !send_lines(&tx, &mut lines, &mut delivered, since).await {
                    return;
                }
            }
            let c = match self.inspect(&id).await {
                Ok(Some(c)) => c,
                Ok(None) | Err(_) => return,
            };
            self.started(&instance).await;
            let pid = self.pid_of(&id, None);
            let _ = tx
                .send(RuntimeEvent::Exited {
                    instance,
                    pid,
                    status: exit_status(&c),
                })
                .await;
            return;
        }
    }
}

/// Sends the lines not delivered yet (and, with `since`, printed at or after it).
async fn send_lines(
    tx: &mpsc::Sender<RuntimeEvent>,
    lines: &mut Vec<orco_runtime::OutputLine>,
    delivered: &mut u64,
    since: Option<u64>,
) -> bool {
    for line in lines.drain(..) {
        if line.offset < *delivered {
            continue;
        }
        *delivered = line.next_offset();
        if since.is_some_and(|at| line.at_unix_nanos < at) {
            continue;
        }
        if tx.send(RuntimeEvent::Output(line)).await.is_err() {
            return false;
        }
    }
    true
}

impl Runtime for DockerRuntime {
    async fn start(&self, instance: &str, launch: &Launch) -> Result<Started, RuntimeError> {
        Ok(self.start_container(instance, launch).await?)
    }

    async fn exec(&self, instance: &str, argv: &[String]) -> Option<Result<i64, RuntimeError>> {
        Some(
            DockerRuntime::exec(self, instance, argv)
                .await
                .map_err(Into::into),
        )
    }

    async fn signal(&self, instance: &str, signal: Signal) -> Result<(), RuntimeError> {
        let name = container_name(&self.inner.scope, instance);
        if self.instance_container(instance).await?.is_none() {
            return Err(DockerError::UnknownInstance(instance.to_string()).into());
        }
        Ok(self.kill(&name, signal).await?)
    }

    async fn stop(
        &self,
        instance: &str,
        signal: Signal,
        timeout: Duration,
    ) -> Result<Stopped, RuntimeError> {
        Ok(self.stop_container(instance, signal, timeout).await?)
    }

    async fn list(&self) -> Result<Vec<InstanceInfo>, RuntimeError> {
        Ok(self.list_instances().await?)
    }

    async fn forget(&self, instance: &str) -> Result<(), RuntimeError> {
        Ok(self.forget_container(instance).await?)
    }

    async fn watch(
        &self,
        from: BTreeMap<String, u64>,
    ) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        Ok(self.watch_all(from).await?)
    }
}

/// Whether `image` is on this machine's docker engine; false when no engine answers. Blocks
/// (on a thread of its own, so it is safe to call from inside or outside an async runtime).
pub fn local_image_exists(image: &str) -> bool {
    let image = image.to_string();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return false;
        };
        rt.block_on(async {
            let Ok(docker) = Docker::connect_with_local_defaults() else {
                return false;
            };
            let Ok(docker) = docker.negotiate_version().await else {
                return false;
            };
            docker.inspect_image(&image).await.is_ok()
        })
    })
    .join()
    .unwrap_or(false)
}

/// Whether a registry's answer to a pull says the image (or its tag) does not exist, rather
/// than that the registry could not be reached: retrying will not help until it is pushed.
fn image_missing(answer: &str) -> bool {
    let answer = answer.to_ascii_lowercase();
    [
        "not found",
        "manifest unknown",
        "does not exist",
        "name unknown",
    ]
    .iter()
    .any(|words| answer.contains(words))
}

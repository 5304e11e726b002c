//! Views: the response bodies of [`crate::model`] computed from a [`State`], and the one-line
//! summaries of events. Pure functions of the state and the moment asked for (`at`: the
//! read's `as_of`), which is also the moment a waiting workload's dependencies are judged at,
//! so that a view of a past state explains it with that past's time.

use jiff::Timestamp;
use orco_state::{
    Event, EventKind, ExitStatus, Instance, InstanceId, JobOutcome, JobRunId, Phase, StackName,
    StackState, State, WorkloadId,
};
use orco_wire::{EventType, InstancePhase, WorkloadKind, WorkloadState};

use crate::model::{Blocked, DependencyView, EventView, InstanceView, StackView, WorkloadView};

/// The view of one applied stack.
pub fn stack_view(state: &State, name: &StackName, stack: &StackState) -> StackView {
    StackView {
        name: name.to_string(),
        workdir: stack.spec.stack.workdir.display().to_string(),
        applied_at: stack.applied_at,
        generation: stack.generation,
        services: stack.spec.services.keys().cloned().collect(),
        jobs: stack.spec.jobs.keys().cloned().collect(),
        instances: count(
            state
                .instances
                .keys()
                .filter(|id| &id.workload.stack == name),
        ),
        scale: stack.scale.clone(),
        stopped: stack.stopped.iter().cloned().collect(),
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// The phase as the API names it.
pub fn phase(phase: Phase) -> InstancePhase {
    match phase {
        Phase::Pending => InstancePhase::Pending,
        Phase::Starting => InstancePhase::Starting,
        Phase::Running { .. } => InstancePhase::Running,
        Phase::Stopping => InstancePhase::Stopping,
        Phase::Stopped => InstancePhase::Stopped,
        Phase::Succeeded => InstancePhase::Succeeded,
        Phase::Failed => InstancePhase::Failed,
    }
}

/// The reconciler's [`orco_reconciler::Blocked`] as the API shows it.
pub fn blocked_view(b: &orco_reconciler::Blocked) -> Blocked {
    Blocked {
        waiting: format!("{}-{}", b.instance.workload.name, b.instance.replica),
        dependency: b.dependency.clone(),
        require: b.require,
        detail: b.detail.clone(),
        since: b.since,
        timeout: b.timeout.map(|t| t.to_string()),
        deadline: b.deadline(),
        timed_out: b.timed_out,
    }
}

/// Each of `deps` (of a workload of `stack`) and whether its condition holds in `state`.
fn dependency_views(
    state: &State,
    stack: &StackName,
    deps: &[orco_spec::Dependency],
) -> Vec<DependencyView> {
    deps.iter()
        .map(|dep| {
            let result = orco_reconciler::condition(state, stack, dep);
            DependencyView {
                target: dep.target.clone(),
                require: dep.require,
                holds: result.is_ok(),
                detail: result.err().flatten(),
            }
        })
        .collect()
}

fn exit_text(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit {code}"),
        ExitStatus::Signal(signal) => format!("signal {signal}"),
        ExitStatus::Unknown => "exit status unknown".to_string(),
    }
}

/// The host ports an instance publishes, docker-style (`127.0.0.1:49153->80/tcp`): its
/// service's ports, each chosen at start (`"80"`) shown with the port its run was given
/// (a run recorded before each had its own: its own port).
fn published_ports(state: &State, id: &InstanceId, instance: &Instance) -> Vec<String> {
    let Some(service) = state
        .stacks
        .get(&id.workload.stack)
        .and_then(|s| s.spec.services.get(&id.workload.name))
    else {
        return Vec::new();
    };
    let mut chosen = instance.chosen_ports.iter();
    service
        .ports
        .iter()
        .filter_map(|p| {
            let published = if p.is_ephemeral() {
                chosen.next().copied().or(instance.port)?
            } else {
                p.published
            };
            let ip = p.ip.map_or_else(
                || "127.0.0.1".to_string(),
                |ip| match ip {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                },
            );
            let proto = match p.protocol {
                orco_spec::Protocol::Tcp => "tcp",
                orco_spec::Protocol::Udp => "udp",
            };
            Some(format!("{ip}:{published}->{}/{proto}", p.target))
        })
        .collect()
}

/// The view of one instance.
///
/// `unplaced` is why instances wait for a node ([`orco_control::place::unplaced`]): an
/// instance in it without a reason of its own shows the scheduler's.
pub fn instance_view(
    state: &State,
    id: &InstanceId,
    instance: &Instance,
    unplaced: &Unplaced,
) -> InstanceView {
    InstanceView {
        ports: published_ports(state, id, instance),
        id: id.to_string(),
        workload: id.workload.to_string(),
        name: format!("{}-{}", id.workload.name, id.replica),
        replica: id.replica,
        phase: phase(instance.phase),
        ready: instance.phase == Phase::Running { ready: true },
        since: instance.since,
        created_at: instance.created_at,
        node: instance.node.clone(),
        pid: instance.pid,
        container: instance.container.clone(),
        last_exit: instance.last_exit.map(exit_text),
        reason: instance
            .reason
            .clone()
            .or_else(|| unplaced.get(id).cloned()),
        restarts: instance.restarts.total,
        failures: instance.restarts.failures,
        backoff_until: instance.restarts.backoff_until,
        restart_requests: instance.restart_requests,
    }
}

/// Why instances wait for a node, by instance ([`orco_control::place::unplaced`]).
pub type Unplaced = std::collections::BTreeMap<InstanceId, String>;

/// The view of every workload at `at` (of the stack `only`, when given), stack by stack,
/// services then jobs, each by name.
pub fn workload_views(state: &State, only: Option<&StackName>, at: Timestamp) -> Vec<WorkloadView> {
    let mut out = Vec::new();
    // Judged once for the whole list: both count every service of every stack.
    let held = orco_reconciler::instances_over_limit(state);
    let unplaced = orco_control::place::unplaced(state, at);
    for (name, stack) in &state.stacks {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let names = stack.spec.services.keys().chain(stack.spec.jobs.keys());
        for workload in names {
            if let Ok(id) = WorkloadId::new(name.clone(), workload.clone()) {
                out.extend(view_of(state, &id, at, held.as_deref(), &unplaced));
            }
        }
    }
    out
}

/// The view of one workload at `at` (the moment its dependencies' timeouts are judged at);
/// `None` when its stack or the workload is unknown.
pub fn workload_view(state: &State, id: &WorkloadId, at: Timestamp) -> Option<WorkloadView> {
    let held = orco_reconciler::instances_over_limit(state);
    let unplaced = orco_control::place::unplaced(state, at);
    view_of(state, id, at, held.as_deref(), &unplaced)
}

/// [`workload_view`], with why the reconciler creates no instance (the daemon's services ask
/// for more instances than its limit), if it does not, and why instances wait for a node.
fn view_of(
    state: &State,
    id: &WorkloadId,
    at: Timestamp,
    held: Option<&str>,
    unplaced: &Unplaced,
) -> Option<WorkloadView> {
    let stack = state.stacks.get(&id.stack)?;
    if let Some(service) = stack.spec.services.get(&id.name) {
        let replicas = state.replicas(id).unwrap_or(service.replicas);
        let stopped = stack.stopped.contains(&id.name);
        let instances: Vec<_> = state.instances_of(id).collect();
        let ready = count(
            instances
                .iter()
                .filter(|(_, i)| i.phase == Phase::Running { ready: true }),
        );
        let restarts = instances
            .iter()
            .map(|(_, i)| i.restarts.total)
            .fold(0u32, u32::saturating_add);
        let since = instances
            .iter()
            .map(|(_, i)| i.created_at)
            .min()
            .unwrap_or(stack.applied_at);
        // A rollout under way says so first; a rolled-back one once nothing else is to say.
        let rollout = stack
            .revisions
            .get(&id.name)
            .and_then(|r| r.rollout.as_ref());
        let (rolling, rolled_back) = match rollout.map(|r| (r, &r.status)) {
            Some((r, orco_state::RolloutStatus::Progressing)) => (
                Some(format!("rolling out revision {} (from {})", r.to, r.from)),
                None,
            ),
            Some((r, orco_state::RolloutStatus::RollingBack { reason })) => (
                Some(format!(
                    "rolling back to the previous spec as revision {}: {reason}",
                    r.to
                )),
                None,
            ),
            Some((r, orco_state::RolloutStatus::RolledBack { reason })) => (
                None,
                Some(format!(
                    "rolled back to the previous spec (revision {}): {reason}",
                    r.to
                )),
            ),
            _ => (None, None),
        };
        // A count above the limit (recorded before it existed) is not acted on: say so first.
        let over_limit = orco_spec::limits::replicas_over_limit(replicas)
            .map(|why| format!("not acted on: {why}; lower it with `orco scale`"))
            .or_else(|| {
                // Above the daemon-wide limit: said of each service short of its instances.
                let missing = instances.len() < usize::try_from(replicas).unwrap_or(usize::MAX);
                held.filter(|_| missing)
                    .map(|why| format!("not acted on: {why}"))
            });
        let state_word = service_state(stopped, replicas, &instances);
        // Every service stopped: the stack was (Ctrl-C of `orco up`, `orco stop` without a
        // service, a stack stop through the API); that says more than an instance's
        // "stopped by request".
        let stack_stopped = (state_word == WorkloadState::Stopped
            && stack
                .spec
                .services
                .keys()
                .all(|s| stack.stopped.contains(s)))
        .then(|| {
            format!(
                "the stack was stopped; `orco up` or `orco start --stack {}` runs it again",
                id.stack
            )
        });
        // An instance no node can take says so first: nothing else moves until one can.
        let no_node = instances.iter().find_map(|(iid, _)| {
            unplaced
                .get(iid)
                .map(|why| format!("{}-{} pending: {why}", iid.workload.name, iid.replica))
        });
        let message = over_limit
            .or(rolling)
            .or(stack_stopped)
            .or(no_node)
            .or_else(|| {
                instances.iter().find_map(|(iid, i)| {
                    i.reason
                        .as_ref()
                        .map(|r| format!("{}-{}: {r}", iid.workload.name, iid.replica))
                })
            });
        // Why it waits, judged at `at` by the reconciler's gate (only a waiting service
        // asks): the first of its instances that waits for a dependency.
        let blocked = (state_word == WorkloadState::Pending)
            .then(|| {
                instances
                    .iter()
                    .find_map(|(iid, _)| orco_reconciler::why_blocked(state, iid, at))
            })
            .flatten();
        let message = message.or(rolled_back).or_else(|| match state_word {
            WorkloadState::Stopped => {
                Some("stopped by `orco stop`; `orco start` runs it again".into())
            }
            WorkloadState::Pending if !instances.is_empty() => {
                blocked.as_ref().map(ToString::to_string)
            }
            WorkloadState::Pending if instances.is_empty() && replicas > 0 => {
                Some("no instance created yet".into())
            }
            _ => None,
        });
        let command = service
            .command
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| service.image.clone());
        return Some(WorkloadView {
            id: id.to_string(),
            stack: id.stack.to_string(),
            name: id.name.clone(),
            kind: WorkloadKind::Service,
            state: state_word,
            ready,
            replicas,
            instances: count(instances.iter()),
            restarts,
            since,
            message,
            runtime: Some(service.runtime),
            command,
            stopped,
            blocked: blocked.as_ref().map(blocked_view),
            dependencies: dependency_views(state, &id.stack, &service.depends_on),
        });
    }
    let job = stack.spec.jobs.get(&id.name)?;
    let runs: Vec<_> = state.jobs.iter().filter(|(r, _)| &r.job == id).collect();
    let last = runs.iter().max_by_key(|(r, _)| r.run);
    let state_word = match last.and_then(|(_, run)| run.outcome) {
        None if last.is_some() => WorkloadState::Running,
        None => WorkloadState::NotRun,
        Some(JobOutcome::Succeeded) => WorkloadState::Succeeded,
        Some(JobOutcome::Failed) => WorkloadState::Failed,
        Some(JobOutcome::Cancelled) => WorkloadState::Cancelled,
    };
    // Its latest run held back by a dependency, as the reconciler holds it.
    let blocked = last.and_then(|(run_id, run)| {
        let (dep, detail) = orco_reconciler::gate::run_held_by(state, run_id)?;
        Some(run_blocked(run_id, run.submitted_at, dep, detail))
    });
    Some(WorkloadView {
        id: id.to_string(),
        stack: id.stack.to_string(),
        name: id.name.clone(),
        kind: WorkloadKind::Job,
        state: state_word,
        ready: 0,
        replicas: 0,
        instances: 0,
        restarts: 0,
        since: last.map_or(stack.applied_at, |(_, run)| run.submitted_at),
        message: blocked.as_ref().map(|b| run_message(&id.name, b)),
        runtime: None,
        command: None,
        stopped: false,
        blocked,
        dependencies: dependency_views(state, &id.stack, &job.depends_on),
    })
}

/// Why a job run waits: a dependency of its job that does not hold (no timeout applies:
/// the run waits until it holds or is cancelled).
fn run_blocked(
    run: &JobRunId,
    submitted_at: Timestamp,
    dep: &orco_spec::Dependency,
    detail: Option<String>,
) -> Blocked {
    Blocked {
        waiting: format!("{}#{}", run.job.name, run.run),
        dependency: dep.target.clone(),
        require: dep.require,
        detail,
        since: submitted_at,
        timeout: None,
        deadline: None,
        timed_out: false,
    }
}

/// `etl blocked: dependency db not ready (db not started yet)`, as an instance's reads.
fn run_message(job: &str, b: &Blocked) -> String {
    let mut text = format!(
        "{job} blocked: dependency {} not {}",
        b.dependency,
        orco_reconciler::gate::condition_words(b.require)
    );
    if let Some(d) = &b.detail {
        text.push_str(&format!(" ({d})"));
    }
    text
}

/// A service's one-word state from its desired replicas and its instances.
fn service_state(
    stopped: bool,
    replicas: u32,
    instances: &[(&InstanceId, &Instance)],
) -> WorkloadState {
    if stopped {
        return WorkloadState::Stopped;
    }
    if replicas == 0 && instances.is_empty() {
        return WorkloadState::ScaledToZero;
    }
    let phases: Vec<Phase> = instances.iter().map(|(_, i)| i.phase).collect();
    let all = |f: fn(&Phase) -> bool| !phases.is_empty() && phases.iter().all(f);
    let any = |f: fn(&Phase) -> bool| phases.iter().any(f);
    let running = count(phases.iter().filter(|p| matches!(p, Phase::Running { .. })));
    if instances
        .iter()
        .any(|(_, i)| i.restarts.backoff_until.is_some() && !i.phase.is_live())
    {
        return WorkloadState::Restarting;
    }
    if all(|p| *p == Phase::Succeeded) {
        return WorkloadState::Succeeded;
    }
    if any(|p| *p == Phase::Failed) {
        return if running > 0 {
            WorkloadState::Degraded
        } else {
            WorkloadState::Failed
        };
    }
    if running >= replicas && all(|p| matches!(p, Phase::Running { .. })) {
        return WorkloadState::Running;
    }
    if any(|p| matches!(p, Phase::Starting | Phase::Running { .. })) {
        return WorkloadState::Starting;
    }
    if any(|p| *p == Phase::Stopping) {
        return WorkloadState::Stopping;
    }
    WorkloadState::Pending
}

/// The event's kind name (`instance_started`), the object it is mostly about and a line for
/// people.
pub fn event_view(revision: u64, event: &Event) -> EventView {
    let json = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    let kind = event_type(&event.kind);
    let object = event.objects().into_iter().next().unwrap_or_default();
    EventView {
        revision,
        at: event.at,
        kind,
        object,
        summary: summary(&event.kind),
        by: event.by.clone(),
        event: json,
    }
}

/// The API's name of an event's kind (every kind has one: the match is exhaustive).
pub fn event_type(kind: &EventKind) -> EventType {
    match kind {
        EventKind::StackApplied { .. } => EventType::StackApplied,
        EventKind::InstanceRevised { .. } => EventType::InstanceRevised,
        EventKind::RolloutFinished { .. } => EventType::RolloutFinished,
        EventKind::RolloutRolledBack { .. } => EventType::RolloutRolledBack,
        EventKind::RollbackRequested { .. } => EventType::RollbackRequested,
        EventKind::RolloutRestartRequested { .. } => EventType::RolloutRestartRequested,
        EventKind::StackRemoved { .. } => EventType::StackRemoved,
        EventKind::ScaleChanged { .. } => EventType::ScaleChanged,
        EventKind::InstanceCreated { .. } => EventType::InstanceCreated,
        EventKind::InstanceStarting { .. } => EventType::InstanceStarting,
        EventKind::InstanceStarted { .. } => EventType::InstanceStarted,
        EventKind::InstancePulling { .. } => EventType::InstancePulling,
        EventKind::InstanceReady { .. } => EventType::InstanceReady,
        EventKind::InstanceUnready { .. } => EventType::InstanceUnready,
        EventKind::InstanceStopping { .. } => EventType::InstanceStopping,
        EventKind::InstanceExited { .. } => EventType::InstanceExited,
        EventKind::InstanceStopped { .. } => EventType::InstanceStopped,
        EventKind::InstanceFailed { .. } => EventType::InstanceFailed,
        EventKind::InstanceBackoff { .. } => EventType::InstanceBackoff,
        EventKind::InstanceFailuresReset { .. } => EventType::InstanceFailuresReset,
        EventKind::InstanceRemoved { .. } => EventType::InstanceRemoved,
        EventKind::RestartRequested { .. } => EventType::RestartRequested,
        EventKind::StopRequested { .. } => EventType::StopRequested,
        EventKind::StackStopRequested { .. } => EventType::StackStopRequested,
        EventKind::StartRequested { .. } => EventType::StartRequested,
        EventKind::JobSubmitted { .. } => EventType::JobSubmitted,
        EventKind::JobFinished { .. } => EventType::JobFinished,
        EventKind::TaskStarted { .. } => EventType::TaskStarted,
        EventKind::TaskProgress { .. } => EventType::TaskProgress,
        EventKind::TaskSucceeded { .. } => EventType::TaskSucceeded,
        EventKind::TaskFailed { .. } => EventType::TaskFailed,
        EventKind::TaskSkipped { .. } => EventType::TaskSkipped,
        EventKind::TaskStarting { .. } => EventType::TaskStarting,
        EventKind::TaskRetrying { .. } => EventType::TaskRetrying,
        EventKind::JobCancelRequested { .. } => EventType::JobCancelRequested,
        EventKind::JobRetryRequested { .. } => EventType::JobRetryRequested,
        EventKind::JobScheduled { .. } => EventType::JobScheduled,
        EventKind::ScheduledRunSkipped { .. } => EventType::ScheduledRunSkipped,
        EventKind::KeeperLost { .. } => EventType::KeeperLost,
        EventKind::NodeJoined { .. } => EventType::NodeJoined,
        EventKind::NodeUnreachable { .. } => EventType::NodeUnreachable,
        EventKind::NodeLost { .. } => EventType::NodeLost,
        EventKind::NodeCordoned { .. } => EventType::NodeCordoned,
        EventKind::NodeDrainRequested { .. } => EventType::NodeDrainRequested,
        EventKind::NodeLabeled { .. } => EventType::NodeLabeled,
        EventKind::NodeTainted { .. } => EventType::NodeTainted,
        EventKind::InstanceEvicted { .. } => EventType::InstanceEvicted,
        EventKind::PlacementBroken { .. } => EventType::PlacementBroken,
        EventKind::PlacementRestored { .. } => EventType::PlacementRestored,
        EventKind::NodeRemoved { .. } => EventType::NodeRemoved,
        EventKind::NodeEventsStored { .. } => EventType::NodeEventsStored,
        EventKind::InstancePlaced { .. } => EventType::InstancePlaced,
        EventKind::JoinTokenCreated { .. } => EventType::JoinTokenCreated,
        EventKind::JoinTokenRevoked { .. } => EventType::JoinTokenRevoked,
        EventKind::JoinTokenUsed { .. } => EventType::JoinTokenUsed,
        EventKind::ApiTokenCreated { .. } => EventType::ApiTokenCreated,
        EventKind::ApiTokenRevoked { .. } => EventType::ApiTokenRevoked,
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn summary(kind: &EventKind) -> String {
    match kind {
        EventKind::StackApplied { stack } => format!(
            "stack {} applied ({} services, {} jobs)",
            stack.stack.name,
            stack.services.len(),
            stack.jobs.len()
        ),
        EventKind::StackRemoved {
            stack,
            volumes: false,
        } => format!("stack {stack} removed"),
        EventKind::StackRemoved {
            stack,
            volumes: true,
        } => format!("stack {stack} removed with its volumes"),
        EventKind::ScaleChanged { workload, replicas } => {
            format!("{workload} scaled to {replicas}")
        }
        EventKind::RestartRequested { instance } => format!("{instance} restart requested"),
        EventKind::InstanceRevised { instance, revision } => {
            format!("{instance} replaced with revision {revision}")
        }
        EventKind::RolloutFinished { workload } => format!("{workload} rollout finished"),
        EventKind::RolloutRolledBack { workload, reason } => {
            format!("{workload} rollout failed, rolling back: {reason}")
        }
        EventKind::RollbackRequested { workload, revision } => {
            format!("{workload} rollback to revision {revision} requested")
        }
        EventKind::RolloutRestartRequested { workload } => {
            format!("{workload} rolling restart requested")
        }
        EventKind::StopRequested { workload } => format!("{workload} stop requested"),
        EventKind::StackStopRequested { stack } => format!("stack {stack} stop requested"),
        EventKind::StartRequested { workload } => format!("{workload} start requested"),
        EventKind::InstanceCreated { instance, .. } => format!("{instance} created"),
        EventKind::InstanceStarting {
            instance, attempt, ..
        } => {
            format!("{instance} starting (attempt {attempt})")
        }
        EventKind::InstanceStarted { instance, pid, .. } => match pid {
            Some(pid) => format!("{instance} started (pid {pid})"),
            None => format!("{instance} started"),
        },
        EventKind::InstancePulling {
            instance,
            image,
            progress,
        } => format!("{instance} pulling image {image}: {progress}"),
        EventKind::InstanceReady { instance } => format!("{instance} ready"),
        EventKind::InstanceUnready { instance, reason } => {
            format!("{instance} unready: {reason}")
        }
        EventKind::InstanceStopping { instance, reason } => {
            format!("{instance} stopping: {reason}")
        }
        EventKind::InstanceExited { instance, status } => {
            format!("{instance} exited ({})", exit_text(*status))
        }
        EventKind::InstanceStopped { instance } => format!("{instance} stopped"),
        EventKind::InstanceFailed { instance, reason } => format!("{instance} failed: {reason}"),
        EventKind::InstanceBackoff {
            instance,
            failures,
            delay_ms,
            ..
        } => format!("{instance} restarting in {delay_ms} ms (failure {failures})"),
        EventKind::InstanceFailuresReset { instance } => {
            format!("{instance} failure count reset")
        }
        EventKind::InstanceRemoved { instance } => format!("{instance} removed"),
        EventKind::JobSubmitted { run } => format!("{run} submitted"),
        EventKind::JobFinished { run, outcome } => format!("{run} finished: {outcome:?}"),
        EventKind::TaskStarted { task, attempt, .. } => {
            format!("{task} started (attempt {attempt})")
        }
        EventKind::TaskProgress {
            task,
            percent,
            message,
        } => format!(
            "{task} progress{}{}",
            percent.map(|p| format!(" {p}%")).unwrap_or_default(),
            message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        EventKind::TaskSucceeded { task } => format!("{task} succeeded"),
        EventKind::TaskFailed { task, reason, .. } => format!("{task} failed: {reason}"),
        EventKind::TaskSkipped { task, reason } => format!("{task} skipped: {reason}"),
        EventKind::TaskStarting { task, attempt } => {
            format!("{task} starting (attempt {attempt})")
        }
        EventKind::TaskRetrying { task, reason, .. } => format!("{task} will retry: {reason}"),
        EventKind::JobCancelRequested { run } => format!("{run} cancel requested"),
        EventKind::JobRetryRequested { run } => format!("{run} retry requested"),
        EventKind::JobScheduled { run, due, missed } => format!(
            "{run} scheduled for {due}{}",
            if *missed > 0 {
                format!(" ({missed} earlier due times missed while no daemon ran)")
            } else {
                String::new()
            }
        ),
        EventKind::ScheduledRunSkipped {
            job, due, reason, ..
        } => {
            format!("{job} run due at {due} skipped: {reason}")
        }
        EventKind::KeeperLost { pid } => {
            format!("the node keeper (pid {pid}) died: a new keeper takes its instances over")
        }
        EventKind::NodeJoined {
            node,
            address,
            allocatable,
            ..
        } => format!(
            "node {node} joined from {address} ({} cores, {} MiB allocatable)",
            allocatable.cpu_millis as f64 / 1000.0,
            allocatable.memory >> 20
        ),
        EventKind::NodeUnreachable { node } => {
            format!("node {node} is unreachable: its lease lapsed")
        }
        EventKind::NodeLost { node, epoch } => {
            format!("node {node} is lost (epoch {epoch}): its instances are placed elsewhere")
        }
        EventKind::NodeCordoned { node, cordoned } => {
            if *cordoned {
                format!("node {node} cordoned")
            } else {
                format!("node {node} uncordoned")
            }
        }
        EventKind::NodeDrainRequested { node } => {
            format!("node {node} is drained: cordoned, its instances move to other nodes")
        }
        EventKind::NodeLabeled { node, labels } => {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("node {node} labels: {}", or_none(&labels))
        }
        EventKind::NodeTainted { node, taints } => {
            format!("node {node} taints: {}", or_none(taints))
        }
        EventKind::InstanceEvicted { instance, reason } => {
            format!("{instance} moves to another node: {reason}")
        }
        EventKind::PlacementBroken { instance, reason } => {
            format!("{instance}'s placement no longer holds: {reason}")
        }
        EventKind::PlacementRestored { instance } => {
            format!("{instance}'s placement holds again: it stays")
        }
        EventKind::NodeRemoved { node } => format!("node {node} removed"),
        EventKind::NodeEventsStored { node, through } => {
            format!("node {node}: events through {through} stored")
        }
        EventKind::InstancePlaced { instance, node } => format!("{instance} placed on {node}"),
        EventKind::JoinTokenCreated { id, expires, .. } => {
            format!("join token {id} created (expires {expires})")
        }
        EventKind::JoinTokenRevoked { id } => format!("join token {id} revoked"),
        EventKind::JoinTokenUsed { id, node } => format!("node {node} joined with token {id}"),
        EventKind::ApiTokenCreated {
            name,
            role,
            expires,
            ..
        } => match expires {
            Some(expires) => format!("token {name} ({role}) created (expires {expires})"),
            None => format!("token {name} ({role}) created"),
        },
        EventKind::ApiTokenRevoked { name } => format!("token {name} revoked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::applied;

    #[test]
    fn a_service_held_by_the_daemon_wide_instance_limit_says_why() {
        // 21 services of 1,000 replicas, recorded before the daemon-wide limit existed.
        let mut text = "version: 0.1\nstack: {name: a}\nservices:\n".to_string();
        for i in 0..21 {
            text.push_str(&format!(
                "  s{i}: {{command: [\"true\"], replicas: 1000}}\n"
            ));
        }
        let mut state = State::new();
        state.apply(&applied(&text));
        let name = StackName::new("a".to_string()).expect("a stack name");
        let views = workload_views(&state, Some(&name), Timestamp::UNIX_EPOCH);
        assert_eq!(views.len(), 21);
        for view in &views {
            let message = view.message.as_deref().unwrap_or_default();
            assert!(
                message.starts_with("not acted on: the daemon's services ask for 21000 instances, above its limit of 20000"),
                "{message}"
            );
        }
        let one = workload_view(
            &state,
            &views[0].id.parse().expect("an id"),
            Timestamp::UNIX_EPOCH,
        )
        .expect("a view");
        assert_eq!(one.message, views[0].message);
    }
}

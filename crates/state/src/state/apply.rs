//! `State::apply`, the fold: one function per kind of event, each changing only what its event
//! says (see the parent module for what the fold promises).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use orco_spec::{Job, Stack};

use super::*;
use crate::event::{Event, EventKind, ExitStatus, JobOutcome};
use crate::id::{InstanceId, JobRunId, StackName, TaskId, WorkloadId};
use crate::node::{JoinToken, Node, NodeStatus};

impl State {
    /// Folds one event: the revision advances by one and the event's change is applied.
    /// Deterministic and total (see the module docs): one function per kind of event.
    pub fn apply(&mut self, event: &Event) {
        self.revision += 1;
        self.last_event_at = Some(event.at);
        let at = event.at;
        match &event.kind {
            // A stack whose name is not one changes nothing but the revision.
            EventKind::StackApplied { stack } => match StackName::new(stack.stack.name.clone()) {
                Ok(name) => self.stack_applied(name, stack, at),
                Err(_) => return,
            },
            EventKind::StackRemoved { stack, .. } => self.stack_removed(stack),
            EventKind::ScaleChanged { workload, replicas } => {
                self.scale_changed(workload, *replicas, at)
            }
            EventKind::RolloutRestartRequested { workload } => {
                self.rollout_restart_requested(workload, at)
            }
            EventKind::StackStopRequested { stack } => self.stack_stop_requested(stack),
            EventKind::StopRequested { workload } => self.stop_requested(workload),
            EventKind::StartRequested { workload } => self.start_requested(workload, at),
            EventKind::RestartRequested { instance } => self.restart_requested(instance, at),
            EventKind::InstanceCreated { instance, node } => {
                self.instance_created(instance, node, at)
            }
            EventKind::InstanceRemoved { instance } => self.instance_removed(instance),
            EventKind::InstanceRevised { instance, revision } => {
                self.instance_revised(instance, *revision, &event.kind, at)
            }
            EventKind::RolloutFinished { workload } => self.rollout_finished(workload),
            EventKind::RolloutRolledBack { workload, reason } => {
                self.rollout_rolled_back(workload, reason, at)
            }
            EventKind::RollbackRequested { workload, revision } => {
                self.rollback_requested(workload, *revision, at)
            }
            EventKind::InstanceStarting {
                instance,
                attempt,
                port,
                chosen,
            } => self.instance_starting(instance, *attempt, *port, chosen, &event.kind, at),
            EventKind::InstanceStarted {
                instance,
                pid,
                container,
            } => self.instance_started(instance, *pid, container, &event.kind, at),
            EventKind::InstancePulling {
                instance,
                image,
                progress,
            } => self.instance_pulling(instance, image, progress, &event.kind, at),
            EventKind::InstanceReady { instance } => self.instance_ready(instance, &event.kind, at),
            EventKind::InstanceUnready { instance, reason }
            | EventKind::InstanceStopping { instance, reason }
            | EventKind::InstanceFailed { instance, reason } => {
                self.instance_reason(instance, reason, &event.kind, at)
            }
            EventKind::InstanceExited { instance, status } => {
                self.instance_exited(instance, *status, &event.kind, at)
            }
            EventKind::InstanceStopped { instance } => {
                self.instance_stopped(instance, &event.kind, at)
            }
            EventKind::InstanceBackoff {
                instance,
                failures,
                delay_ms,
                until,
            } => self.instance_backoff(instance, *failures, *delay_ms, *until, &event.kind, at),
            EventKind::InstanceFailuresReset { instance } => {
                self.instance_failures_reset(instance, &event.kind, at)
            }
            EventKind::JobSubmitted { run } => self.job_submitted(run, at),
            EventKind::JobScheduled { run, due, missed } => {
                self.job_scheduled(run, *due, *missed, at)
            }
            EventKind::ScheduledRunSkipped {
                job,
                due,
                missed,
                reason,
            } => self.scheduled_run_skipped(job, *due, *missed, reason),
            // A fact about the node, for the record: the instances are taken over by the next
            // keeper (or stopped and started again), and their own events say which.
            EventKind::KeeperLost { .. } => {}
            EventKind::NodeJoined {
                node,
                address,
                capacity,
                allocatable,
                labels,
                taints,
            } => {
                let joined = self.nodes.entry(node.clone()).or_insert_with(|| Node {
                    address: address.clone(),
                    capacity: *capacity,
                    allocatable: *allocatable,
                    labels: BTreeMap::new(),
                    taints: Vec::new(),
                    status: NodeStatus::Ready,
                    since: at,
                    joined_at: at,
                    cordoned: false,
                    draining: false,
                    labels_set: false,
                    taints_set: false,
                    epoch: 0,
                    events_through: 0,
                });
                joined.address = address.clone();
                joined.capacity = *capacity;
                joined.allocatable = *allocatable;
                if !joined.labels_set {
                    joined.labels = labels.clone();
                }
                if !joined.taints_set {
                    joined.taints = taints.clone();
                }
                if joined.status != NodeStatus::Ready {
                    joined.status = NodeStatus::Ready;
                    joined.since = at;
                }
            }
            EventKind::NodeUnreachable { node } => {
                if let Some(n) = self.nodes.get_mut(node)
                    && n.status == NodeStatus::Ready
                {
                    n.status = NodeStatus::Unreachable;
                    n.since = at;
                }
            }
            EventKind::NodeLost { node, epoch } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.status = NodeStatus::Lost;
                    n.since = at;
                    n.epoch = n.epoch.max(*epoch);
                    self.node_gone(node, false, at);
                }
            }
            EventKind::NodeRemoved { node } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.status = NodeStatus::Left;
                    n.since = at;
                    n.epoch += 1;
                    self.node_gone(node, true, at);
                }
            }
            EventKind::NodeCordoned { node, cordoned } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.cordoned = *cordoned;
                    // An uncordon ends a drain; what has not moved yet stays.
                    n.draining &= *cordoned;
                }
            }
            EventKind::NodeDrainRequested { node } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.cordoned = true;
                    n.draining = true;
                }
            }
            EventKind::NodeLabeled { node, labels } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.labels = labels.clone();
                    n.labels_set = true;
                }
            }
            EventKind::NodeTainted { node, taints } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.taints = taints.clone();
                    n.taints_set = true;
                }
            }
            EventKind::InstanceEvicted { instance, reason } => {
                self.instance_evicted(instance, reason, at)
            }
            EventKind::PlacementBroken { instance, reason } => {
                if let Some(i) = self.instances.get_mut(instance) {
                    i.misplaced = Some(crate::state::Misplaced {
                        since: at,
                        reason: reason.clone(),
                    });
                }
            }
            EventKind::PlacementRestored { instance } => {
                if let Some(i) = self.instances.get_mut(instance) {
                    i.misplaced = None;
                }
            }
            EventKind::NodeEventsStored { node, through } => {
                if let Some(n) = self.nodes.get_mut(node) {
                    n.events_through = n.events_through.max(*through);
                }
            }
            EventKind::InstancePlaced { instance, node } => {
                if let Some(i) = self.instances.get_mut(instance) {
                    i.node = Some(node.clone());
                    i.misplaced = None;
                }
            }
            EventKind::JoinTokenCreated {
                id,
                hash,
                expires,
                reusable,
            } => {
                self.join_tokens.insert(
                    id.clone(),
                    JoinToken {
                        hash: hash.clone(),
                        created_at: at,
                        expires: *expires,
                        reusable: *reusable,
                        used_by: Vec::new(),
                        revoked: false,
                    },
                );
            }
            EventKind::JoinTokenRevoked { id } => {
                if let Some(t) = self.join_tokens.get_mut(id) {
                    t.revoked = true;
                }
            }
            EventKind::ApiTokenCreated {
                name,
                id,
                role,
                hash,
                expires,
            } => {
                self.api_tokens.insert(
                    name.clone(),
                    crate::token::ApiToken {
                        id: id.clone(),
                        role: *role,
                        hash: hash.clone(),
                        created_at: at,
                        expires: *expires,
                        created_by: event.by.clone(),
                        revoked: false,
                    },
                );
            }
            EventKind::ApiTokenRevoked { name } => {
                if let Some(t) = self.api_tokens.get_mut(name) {
                    t.revoked = true;
                }
            }
            EventKind::JoinTokenUsed { id, node } => {
                if let Some(t) = self.join_tokens.get_mut(id)
                    && !t.used_by.contains(node)
                {
                    t.used_by.push(node.clone());
                }
            }
            EventKind::JobFinished { run, outcome } => self.job_finished(run, *outcome, at),
            EventKind::TaskStarted { task, attempt, pid } => {
                self.task_started(task, *attempt, *pid, at)
            }
            EventKind::TaskProgress {
                task,
                percent,
                message,
            } => self.task_progress(task, *percent, message),
            EventKind::TaskSucceeded { task } => self.task_succeeded(task, at),
            EventKind::TaskFailed {
                task,
                status,
                reason,
            } => self.task_failed(task, *status, reason, at),
            EventKind::TaskSkipped { task, reason } => self.task_skipped(task, reason, at),
            EventKind::TaskStarting { task, attempt } => self.task_starting(task, *attempt, at),
            EventKind::TaskRetrying {
                task,
                status,
                reason,
                retry_at,
            } => self.task_retrying(task, *status, reason, *retry_at, at),
            EventKind::JobCancelRequested { run } => self.job_cancel_requested(run),
            EventKind::JobRetryRequested { run } => self.job_retry_requested(run, at),
        }
        self.index_phases(&event.kind);
    }

    /// Folds [`EventKind::StackApplied`].
    fn stack_applied(&mut self, name: StackName, stack: &Stack, at: Timestamp) {
        let spec = Arc::new(stack.clone());
        let entry = self
            .stacks
            .entry(name.clone())
            .or_insert_with(|| StackState {
                spec: spec.clone(),
                applied_at: at,
                generation: 0,
                scale: BTreeMap::new(),
                stopped: std::collections::BTreeSet::new(),
                revisions: BTreeMap::new(),
            });
        entry
            .revisions
            .retain(|s, _| stack.services.contains_key(s));
        for (service, spec) in &stack.services {
            let revisions = entry.revisions.entry(service.clone()).or_default();
            let current = revisions.current();
            if revisions.take(spec.clone(), at) {
                pin_revision(&mut self.instances, &name, service, current);
            }
        }
        entry.spec = spec;
        entry.applied_at = at;
        let jobs: Vec<(String, Option<orco_spec::Schedule>)> = stack
            .jobs
            .iter()
            .map(|(n, j)| (n.clone(), j.schedule.clone()))
            .collect();
        self.schedules.retain(|id, _| {
            id.stack != name || jobs.iter().any(|(n, s)| n == &id.name && s.is_some())
        });
        for (job, schedule) in jobs {
            let (Some(schedule), Ok(id)) = (schedule, WorkloadId::new(name.clone(), job)) else {
                continue;
            };
            let same = self
                .schedules
                .get(&id)
                .is_some_and(|s| s.cron == schedule.cron && s.timezone == schedule.timezone);
            if !same {
                self.schedules.insert(
                    id,
                    ScheduleState {
                        cron: schedule.cron,
                        timezone: schedule.timezone,
                        since: at,
                        last_due: None,
                        runs: 0,
                        skipped: 0,
                        missed: 0,
                        last_skip: None,
                    },
                );
            }
        }
        entry.generation += 1;
        entry.scale.clear();
        let lifted = std::mem::take(&mut entry.stopped);
        for (id, i) in self.instances.iter_mut() {
            if id.workload.stack == name && lifted.contains(id.workload.name.as_str()) {
                i.wait_again(at);
            }
        }
    }

    /// Folds [`EventKind::StackRemoved`].
    fn stack_removed(&mut self, stack: &StackName) {
        self.stacks.remove(stack);
        self.instances.retain(|id, _| &id.workload.stack != stack);
        self.jobs.retain(|id, _| &id.job.stack != stack);
        self.schedules.retain(|id, _| &id.stack != stack);
    }

    /// Folds [`EventKind::ScaleChanged`].
    fn scale_changed(&mut self, workload: &WorkloadId, replicas: u32, at: Timestamp) {
        if let Some(stack) = self.stacks.get_mut(&workload.stack) {
            stack.scale.insert(workload.name.clone(), replicas);
            // A count that moves the service behind the proxy (or out of it) changes
            // how its instances run: a new revision, rolled out.
            if let (Some(spec), Some(revisions)) = (
                stack.spec.services.get(&workload.name),
                stack.revisions.get_mut(&workload.name),
            ) {
                let mut spec = spec.clone();
                spec.replicas = replicas;
                let current = revisions.current();
                if revisions.take(spec, at) {
                    pin_revision(
                        &mut self.instances,
                        &workload.stack,
                        &workload.name,
                        current,
                    );
                }
            }
        }
    }

    /// Folds [`EventKind::RolloutRestartRequested`].
    fn rollout_restart_requested(&mut self, workload: &WorkloadId, at: Timestamp) {
        if let Some(revisions) = self
            .stacks
            .get_mut(&workload.stack)
            .and_then(|s| s.revisions.get_mut(workload.name.as_str()))
            && let Some(spec) = revisions.specs.last().cloned()
        {
            let current = revisions.current();
            revisions.push(spec, at, RolloutStatus::Progressing);
            if let Some(rollout) = revisions.rollout.as_mut() {
                rollout.restart = true;
            }
            pin_revision(
                &mut self.instances,
                &workload.stack,
                &workload.name,
                current,
            );
        }
    }

    /// Folds [`EventKind::StackStopRequested`].
    fn stack_stop_requested(&mut self, stack: &StackName) {
        if let Some(stack) = self.stacks.get_mut(stack) {
            let names: Vec<String> = stack.spec.services.keys().cloned().collect();
            stack.stopped.extend(names);
        }
    }

    /// Folds [`EventKind::StopRequested`].
    fn stop_requested(&mut self, workload: &WorkloadId) {
        if let Some(stack) = self.stacks.get_mut(&workload.stack) {
            stack.stopped.insert(workload.name.clone());
        }
    }

    /// Folds [`EventKind::StartRequested`].
    fn start_requested(&mut self, workload: &WorkloadId, at: Timestamp) {
        if let Some(stack) = self.stacks.get_mut(&workload.stack)
            && stack.stopped.remove(&workload.name)
        {
            for (id, i) in self.instances.iter_mut() {
                if &id.workload == workload {
                    i.wait_again(at);
                }
            }
        }
    }

    /// Folds [`EventKind::RestartRequested`].
    fn restart_requested(&mut self, instance: &InstanceId, at: Timestamp) {
        let reset_after = self
            .stacks
            .get(&instance.workload.stack)
            .and_then(|s| s.spec.services.get(&instance.workload.name))
            .map(|s| s.restart_policy.reset_after.get());
        if let Some(i) = self.instances.get_mut(instance) {
            i.restart_requests = i.restart_requests.saturating_add(1);
            let in_a_row = match (i.restart_requested_at, reset_after) {
                (Some(last), Some(reset)) => at
                    .duration_since(last)
                    .try_into()
                    .is_ok_and(|gap: std::time::Duration| gap < reset),
                _ => false,
            };
            i.restart_streak = if in_a_row {
                i.restart_streak.saturating_add(1)
            } else {
                1
            };
            i.restart_requested_at = Some(at);
        }
    }

    /// Folds [`EventKind::InstanceCreated`].
    fn instance_created(&mut self, instance: &InstanceId, node: &Option<String>, at: Timestamp) {
        self.instances.insert(
            instance.clone(),
            Instance {
                phase: Phase::Pending,
                since: at,
                created_at: at,
                node: node.clone(),
                pid: None,
                container: None,
                last_exit: None,
                reason: None,
                restarts: Restarts::default(),
                restart_requests: 0,
                restart_streak: 0,
                port: None,
                chosen_ports: Vec::new(),
                revision: self
                    .stacks
                    .get(&instance.workload.stack)
                    .and_then(|s| s.revisions.get(instance.workload.name.as_str()))
                    .map_or(0, Revisions::current),
                revised_at: Some(at),
                started_at: None,
                restart_requested_at: None,
                waiting_since: Some(at),
                evicted: None,
                misplaced: None,
            },
        );
    }

    /// Folds [`EventKind::InstanceEvicted`]: an instance placed on a node is marked to leave
    /// it; one that does not run there is unplaced at once.
    fn instance_evicted(&mut self, instance: &InstanceId, reason: &str, at: Timestamp) {
        if let Some(i) = self.instances.get_mut(instance)
            && let Some(node) = i.node.clone()
        {
            i.evicted = Some(crate::state::Eviction {
                from: node,
                reason: reason.to_string(),
            });
            i.misplaced = None;
            i.settle_move(at);
        }
    }

    /// A node was lost (`removed`: or removed): every instance on it — but those of services
    /// with `onDisconnect: keep` on a node merely lost — is no longer placed and no longer
    /// runs as far as the cluster knows (its node fences it), so it waits to be placed again.
    fn node_gone(&mut self, node: &str, removed: bool, at: Timestamp) {
        let stacks = &self.stacks;
        for (id, i) in self.instances.iter_mut() {
            if i.node.as_deref() != Some(node) {
                continue;
            }
            let keep = stacks
                .get(&id.workload.stack)
                .and_then(|s| s.spec.services.get(id.workload.name.as_str()))
                .is_some_and(|s| s.on_disconnect == orco_spec::OnDisconnect::Keep);
            if keep && !removed {
                continue;
            }
            i.node = None;
            i.misplaced = None;
            i.pid = None;
            i.container = None;
            i.port = None;
            if i.phase.is_live() || i.phase == Phase::Pending {
                i.phase = Phase::Pending;
                i.since = at;
                i.waiting_since = Some(at);
                i.started_at = None;
                i.reason = Some(format!(
                    "node {node} {}",
                    if removed { "removed" } else { "lost" }
                ));
            }
        }
    }

    /// Folds [`EventKind::InstanceRemoved`].
    fn instance_removed(&mut self, instance: &InstanceId) {
        self.instances.remove(instance);
    }

    /// Folds [`EventKind::InstanceRevised`].
    fn instance_revised(
        &mut self,
        instance: &InstanceId,
        revision: u32,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            i.revision = revision;
            i.revised_at = Some(at);
            i.restarts.failures = 0;
        });
    }

    /// Folds [`EventKind::RolloutFinished`].
    fn rollout_finished(&mut self, workload: &WorkloadId) {
        if let Some(rollout) = self
            .stacks
            .get_mut(&workload.stack)
            .and_then(|s| s.revisions.get_mut(workload.name.as_str()))
            .and_then(|r| r.rollout.as_mut())
        {
            rollout.status = match std::mem::replace(&mut rollout.status, RolloutStatus::Complete) {
                RolloutStatus::RollingBack { reason } => RolloutStatus::RolledBack { reason },
                RolloutStatus::RolledBack { reason } => RolloutStatus::RolledBack { reason },
                RolloutStatus::Progressing | RolloutStatus::Complete => RolloutStatus::Complete,
            };
        }
    }

    /// Folds [`EventKind::RolloutRolledBack`].
    fn rollout_rolled_back(&mut self, workload: &WorkloadId, reason: &str, at: Timestamp) {
        let status = RolloutStatus::RollingBack {
            reason: reason.to_string(),
        };
        self.return_to(workload, None, at, status);
    }

    /// Folds [`EventKind::RollbackRequested`].
    fn rollback_requested(&mut self, workload: &WorkloadId, revision: u32, at: Timestamp) {
        self.return_to(workload, Some(revision), at, RolloutStatus::Progressing);
    }

    /// Folds [`EventKind::InstanceStarting`].
    fn instance_starting(
        &mut self,
        instance: &InstanceId,
        attempt: u32,
        port: Option<u16>,
        chosen: &[u16],
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            i.port = port;
            i.chosen_ports = chosen.to_vec();
            i.started_at = Some(at);
            i.waiting_since = None;
            if attempt > 0 {
                i.restarts.total = i.restarts.total.saturating_add(1);
            }
            i.restarts.backoff_until = None;
            i.pid = None;
            i.container = None;
            i.reason = None;
        });
    }

    /// Folds [`EventKind::InstanceStarted`].
    fn instance_started(
        &mut self,
        instance: &InstanceId,
        pid: Option<u32>,
        container: &Option<String>,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            i.pid = pid;
            i.container = container.clone();
            // What the start waited for (an image pull) is over.
            if i.reason.as_deref().is_some_and(|r| r.starts_with(PULLING)) {
                i.reason = None;
            }
        });
    }

    /// Folds [`EventKind::InstancePulling`].
    fn instance_pulling(
        &mut self,
        instance: &InstanceId,
        image: &str,
        progress: &str,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            // A report that arrives after the start is stale.
            if i.phase == Phase::Starting {
                i.reason = Some(format!("{PULLING}{image}: {progress}"));
            }
        });
    }

    /// Folds [`EventKind::InstanceReady`].
    fn instance_ready(&mut self, instance: &InstanceId, kind: &EventKind, at: Timestamp) {
        self.with_instance(instance, kind, at, |i| i.reason = None);
    }

    /// Folds [`EventKind::InstanceUnready`] / [`EventKind::InstanceStopping`] / [`EventKind::InstanceFailed`].
    fn instance_reason(
        &mut self,
        instance: &InstanceId,
        reason: &str,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            i.reason = Some(reason.to_string());
        });
    }

    /// Folds [`EventKind::InstanceExited`].
    fn instance_exited(
        &mut self,
        instance: &InstanceId,
        status: ExitStatus,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| i.last_exit = Some(status));
    }

    /// Folds [`EventKind::InstanceStopped`].
    fn instance_stopped(&mut self, instance: &InstanceId, kind: &EventKind, at: Timestamp) {
        self.with_instance(instance, kind, at, |_| {});
    }

    /// Folds [`EventKind::InstanceBackoff`].
    fn instance_backoff(
        &mut self,
        instance: &InstanceId,
        failures: u32,
        delay_ms: u64,
        until: Timestamp,
        kind: &EventKind,
        at: Timestamp,
    ) {
        self.with_instance(instance, kind, at, |i| {
            i.restarts.failures = failures;
            i.restarts.delay_ms = delay_ms;
            i.restarts.backoff_until = Some(until);
        });
    }

    /// Folds [`EventKind::InstanceFailuresReset`].
    fn instance_failures_reset(&mut self, instance: &InstanceId, kind: &EventKind, at: Timestamp) {
        self.with_instance(instance, kind, at, |i| {
            i.restarts.failures = 0;
            i.restarts.delay_ms = 0;
        });
    }

    /// Folds [`EventKind::JobSubmitted`].
    fn job_submitted(&mut self, run: &JobRunId, at: Timestamp) {
        // A run id already taken keeps its run: a submit never resets one.
        self.jobs
            .entry(run.clone())
            .or_insert_with(|| JobRun::new(at, None));
    }

    /// Folds [`EventKind::JobScheduled`].
    fn job_scheduled(&mut self, run: &JobRunId, due: Timestamp, missed: u32, at: Timestamp) {
        if let Some(schedule) = self.schedules.get_mut(&run.job) {
            schedule.last_due = Some(due);
            schedule.runs = schedule.runs.saturating_add(1);
            schedule.missed = schedule.missed.saturating_add(u64::from(missed));
        }
        // The API and the engine append independently: should a run submitted by hand
        // have taken this number first, the scheduled run takes the next free one.
        let id = if self.jobs.contains_key(run) {
            let last = self
                .jobs
                .keys()
                .filter(|r| r.job == run.job)
                .map(|r| r.run)
                .max()
                .unwrap_or(0);
            JobRunId {
                job: run.job.clone(),
                run: last.saturating_add(1),
            }
        } else {
            run.clone()
        };
        self.jobs.insert(id, JobRun::new(at, Some(due)));
    }

    /// Folds [`EventKind::ScheduledRunSkipped`].
    fn scheduled_run_skipped(
        &mut self,
        job: &WorkloadId,
        due: Timestamp,
        missed: u32,
        reason: &str,
    ) {
        if let Some(schedule) = self.schedules.get_mut(job) {
            schedule.last_due = Some(due);
            schedule.skipped = schedule.skipped.saturating_add(1);
            schedule.missed = schedule.missed.saturating_add(u64::from(missed));
            schedule.last_skip = Some((due, reason.to_string()));
        }
    }

    /// Folds [`EventKind::JobFinished`].
    fn job_finished(&mut self, run: &JobRunId, outcome: JobOutcome, at: Timestamp) {
        if let Some(job) = self.jobs.get_mut(run) {
            job.outcome = Some(outcome);
            job.finished_at = Some(at);
        }
    }

    /// Folds [`EventKind::TaskStarted`].
    fn task_started(&mut self, task: &TaskId, attempt: u32, pid: Option<u32>, at: Timestamp) {
        if let Some(job) = self.jobs.get_mut(&task.run) {
            let record = job
                .tasks
                .entry(task.task.clone())
                .or_insert_with(|| TaskRecord::new(TaskPhase::Running, at));
            record.phase = TaskPhase::Running;
            record.since = at;
            record.started_at = Some(at);
            record.attempt = attempt;
            record.pid = pid;
            record.status = None;
        }
    }

    /// Folds [`EventKind::TaskProgress`].
    fn task_progress(&mut self, task: &TaskId, percent: Option<u8>, message: &Option<String>) {
        if let Some(record) = self
            .jobs
            .get_mut(&task.run)
            .and_then(|job| job.tasks.get_mut(&task.task))
        {
            if percent.is_some() {
                record.percent = percent.map(|p| p.min(100));
            }
            if message.is_some() {
                record.message = message.clone();
            }
        }
    }

    /// Folds [`EventKind::TaskSucceeded`].
    fn task_succeeded(&mut self, task: &TaskId, at: Timestamp) {
        self.finish_task(
            task,
            TaskPhase::Succeeded,
            at,
            Some(ExitStatus::Code(0)),
            None,
        );
    }

    /// Folds [`EventKind::TaskFailed`].
    fn task_failed(
        &mut self,
        task: &TaskId,
        status: Option<ExitStatus>,
        reason: &str,
        at: Timestamp,
    ) {
        self.finish_task(task, TaskPhase::Failed, at, status, Some(reason));
    }

    /// Folds [`EventKind::TaskSkipped`].
    fn task_skipped(&mut self, task: &TaskId, reason: &str, at: Timestamp) {
        self.finish_task(task, TaskPhase::Skipped, at, None, Some(reason));
    }

    /// Folds [`EventKind::TaskStarting`].
    fn task_starting(&mut self, task: &TaskId, attempt: u32, at: Timestamp) {
        if let Some(job) = self.jobs.get_mut(&task.run) {
            let record = job
                .tasks
                .entry(task.task.clone())
                .or_insert_with(|| TaskRecord::new(TaskPhase::Starting, at));
            record.phase = TaskPhase::Starting;
            record.since = at;
            record.attempt = attempt;
            record.pid = None;
            record.status = None;
            record.retry_at = None;
            record.started_at = None;
            record.percent = None;
            record.message = None;
        }
    }

    /// Folds [`EventKind::TaskRetrying`].
    fn task_retrying(
        &mut self,
        task: &TaskId,
        status: Option<ExitStatus>,
        reason: &str,
        retry_at: Timestamp,
        at: Timestamp,
    ) {
        self.finish_task(task, TaskPhase::Backoff, at, status, Some(reason));
        if let Some(record) = self
            .jobs
            .get_mut(&task.run)
            .and_then(|job| job.tasks.get_mut(&task.task))
        {
            record.retry_at = Some(retry_at);
        }
    }

    /// Folds [`EventKind::JobCancelRequested`].
    fn job_cancel_requested(&mut self, run: &JobRunId) {
        if let Some(job) = self.jobs.get_mut(run)
            && job.outcome.is_none()
        {
            job.cancel_requested = true;
        }
    }

    /// Folds [`EventKind::JobRetryRequested`].
    fn job_retry_requested(&mut self, run: &JobRunId, at: Timestamp) {
        if let Some(job) = self.jobs.get_mut(run)
            && job.outcome.is_some()
        {
            job.outcome = None;
            job.finished_at = None;
            job.cancel_requested = false;
            for record in job.tasks.values_mut() {
                let ran = record.phase == TaskPhase::Failed;
                if ran || record.phase == TaskPhase::Skipped {
                    if ran {
                        record.first_attempt = record.attempt.saturating_add(1);
                    }
                    record.phase = TaskPhase::Pending;
                    record.since = at;
                    record.message = None;
                    record.retry_at = None;
                }
            }
        }
    }

    /// Keeps the runs' [`PhaseIndex`]es up to date with what `kind` changed.
    fn index_phases(&mut self, kind: &EventKind) {
        let task = match kind {
            EventKind::TaskStarted { task, .. }
            | EventKind::TaskSucceeded { task }
            | EventKind::TaskFailed { task, .. }
            | EventKind::TaskSkipped { task, .. }
            | EventKind::TaskStarting { task, .. }
            | EventKind::TaskRetrying { task, .. } => task,
            EventKind::JobRetryRequested { run } => {
                if let Some(run) = self.jobs.get_mut(run) {
                    run.index = PhaseIndex::default();
                }
                return;
            }
            EventKind::StackApplied { .. } | EventKind::StackRemoved { .. } => {
                // Jobs may have changed: every index is built again when next read.
                for run in self.jobs.values_mut() {
                    run.index = PhaseIndex::default();
                }
                return;
            }
            _ => return,
        };
        let Some(run) = self.jobs.get_mut(&task.run) else {
            return;
        };
        let Some(index) = run.index.0.get_mut() else {
            return;
        };
        let graph = self
            .stacks
            .get(&task.run.job.stack)
            .and_then(|s| s.spec.jobs.get(&task.run.job.name))
            .map(Job::graph);
        match graph {
            Some(graph) if graph.id == index.graph => {
                if let Ok(i) = graph.names.binary_search(&task.task) {
                    index.phases[i] = run.tasks.get(&task.task).map(|r| r.phase);
                }
            }
            _ => run.index = PhaseIndex::default(),
        }
    }

    /// Makes the spec of `revision` (default: the one the current rollout started from) the
    /// service's new revision, and starts a rollout to it.
    fn return_to(
        &mut self,
        workload: &WorkloadId,
        revision: Option<u32>,
        at: Timestamp,
        status: RolloutStatus,
    ) {
        let Some(stack) = self.stacks.get_mut(&workload.stack) else {
            return;
        };
        let name = workload.name.as_str();
        let Some(revisions) = stack.revisions.get_mut(name) else {
            return;
        };
        let Some(revision) = revision.or_else(|| revisions.rollout.as_ref().map(|r| r.from)) else {
            return;
        };
        let (Some(spec), Some(current)) = (
            revisions.spec(revision).cloned(),
            Arc::make_mut(&mut stack.spec).services.get_mut(name),
        ) else {
            return;
        };
        let mut spec = spec;
        spec.replicas = current.replicas;
        *current = spec.clone();
        revisions.push(spec, at, status);
    }

    fn with_instance(
        &mut self,
        id: &InstanceId,
        kind: &EventKind,
        at: Timestamp,
        change: impl FnOnce(&mut Instance),
    ) {
        if let Some(instance) = self.instances.get_mut(id) {
            let next = instance.phase.next(kind);
            if next != instance.phase {
                instance.phase = next;
                instance.since = at;
            }
            change(instance);
            instance.settle_move(at);
        }
    }

    fn finish_task(
        &mut self,
        task: &crate::id::TaskId,
        phase: TaskPhase,
        at: Timestamp,
        status: Option<ExitStatus>,
        message: Option<&str>,
    ) {
        if let Some(job) = self.jobs.get_mut(&task.run) {
            let record = job
                .tasks
                .entry(task.task.clone())
                .or_insert_with(|| TaskRecord::new(phase, at));
            record.phase = phase;
            record.since = at;
            record.status = status;
            if let Some(message) = message {
                record.message = Some(message.to_string());
            }
        }
    }
}

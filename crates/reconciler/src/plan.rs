//! [`reconcile`]: which instances should exist, which should run, and which wait for what.

use std::collections::BTreeMap;

use jiff::Timestamp;
use orco_interface::{Assignment, Desired, LastSeen, Recorded, TaskAssignment};
use orco_spec::Service;
use orco_state::{EventKind, Instance, InstanceId, Phase, StackName, State, WorkloadId};

use crate::gate::{Blocked, condition, deadline, first_unmet};
use crate::tasks::{Limits, schedule};
use crate::{moves, rollout};
use orco_state::TaskId;

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Control-plane facts to append (instances created or removed, dependency timeouts).
    pub events: Vec<EventKind>,
    /// Every instance the node should own, by id. An instance the node runs that is not here
    /// is to be stopped and forgotten.
    pub assignments: BTreeMap<InstanceId, Assignment>,
    /// Instances that wait for a dependency, and why.
    pub blocked: Vec<Blocked>,
    /// When to reconcile again even if nothing happens (the next dependency timeout or
    /// task retry).
    pub wake_at: Option<Timestamp>,
    /// Every task attempt the node should own (started or being started), by task.
    pub tasks: BTreeMap<TaskId, TaskAssignment>,
    /// Services whose replica count is above [`orco_spec::limits::MAX_REPLICAS`] (a state
    /// recorded before the limit, or written around the API): not acted on — no instance is
    /// created, removed or revised for them — until the count is lowered.
    pub over_limit: Vec<(WorkloadId, u32)>,
    /// The instances every service of every stack asks for, when that is above
    /// [`orco_spec::limits::MAX_INSTANCES`] (a state recorded before the limit): no instance
    /// is created anywhere until the count is lowered. Instances that exist keep running,
    /// and scaling down or removing a stack still removes instances.
    pub over_instance_limit: Option<u64>,
}

/// The instances the daemon's services ask for: every service of every stack at its replica
/// count, those above [`orco_spec::limits::MAX_REPLICAS`] left out (they are held on their
/// own, see [`Plan::over_limit`]).
pub fn instances_wanted(state: &State) -> u64 {
    state
        .stacks
        .iter()
        .flat_map(|(stack_name, stack)| {
            stack.spec.services.keys().filter_map(move |name| {
                let workload = WorkloadId::new(stack_name.clone(), name.clone()).ok()?;
                Some(state.replicas(&workload).unwrap_or(0))
            })
        })
        .filter(|replicas| *replicas <= orco_spec::limits::MAX_REPLICAS)
        .map(u64::from)
        .sum()
}

/// Why no instance is created, when the daemon's services ask for more than
/// [`orco_spec::limits::MAX_INSTANCES`] instances (a state recorded before the limit).
pub fn instances_over_limit(state: &State) -> Option<String> {
    let wanted = instances_wanted(state);
    let limit = orco_spec::limits::MAX_INSTANCES;
    (wanted > limit).then(|| {
        format!(
            "the daemon's services ask for {wanted} instances, above its limit of {limit}: no instance is created until services are scaled down or a stack is removed"
        )
    })
}

/// Reconciles `state` at `now` with no task-slot limit. Pure: no IO, no clock.
pub fn reconcile(state: &State, now: Timestamp) -> Plan {
    reconcile_with(state, now, &Limits::default())
}

/// Reconciles `state` at `now` within `limits`. Pure: no IO, no clock.
pub fn reconcile_with(state: &State, now: Timestamp, limits: &Limits) -> Plan {
    let mut plan = Plan::default();
    let tasks = schedule(state, now, limits);
    plan.events.extend(tasks.events);
    plan.tasks = tasks.tasks;
    plan.wake_at = tasks.wake_at;
    // Over the daemon-wide limit, nothing is created (service instances are the only ones
    // the plan creates; tasks run as task attempts).
    let wanted = instances_wanted(state);
    let hold = wanted > orco_spec::limits::MAX_INSTANCES;
    if hold {
        plan.over_instance_limit = Some(wanted);
    }
    let creates_before = plan.events.len();
    // Surge slots kept by rollouts under way, by service.
    let mut surges: BTreeMap<WorkloadId, u32> = BTreeMap::new();
    for (stack_name, stack) in &state.stacks {
        for (name, service) in &stack.spec.services {
            let Ok(workload) = WorkloadId::new(stack_name.clone(), name.clone()) else {
                continue;
            };
            let replicas = state.replicas(&workload).unwrap_or(0);
            if replicas > orco_spec::limits::MAX_REPLICAS {
                plan.over_limit.push((workload, replicas));
                continue;
            }
            if let Some(revisions) = stack.revisions.get(name) {
                let step = rollout::step(state, &workload, revisions, replicas, now);
                plan.events.extend(step.events);
                if let Some(due) = step.wake_at {
                    plan.wake_at = Some(plan.wake_at.map_or(due, |w| w.min(due)));
                }
                if step.surge > 0 {
                    surges.insert(workload.clone(), step.surge);
                }
            }
            // Moves off nodes wait for a rollout of the service to finish.
            let rolling = stack
                .revisions
                .get(name)
                .and_then(|r| r.rollout.as_ref())
                .is_some_and(|r| r.status.in_progress());
            if !rolling {
                let step = moves::step(
                    state,
                    &workload,
                    service,
                    replicas,
                    now,
                    limits.repair_cooldown,
                );
                plan.events.extend(step.events);
                if let Some(due) = step.wake_at {
                    plan.wake_at = Some(plan.wake_at.map_or(due, |w| w.min(due)));
                }
                if step.surge > 0 {
                    let surge = surges.entry(workload.clone()).or_insert(0);
                    *surge = (*surge).max(step.surge);
                }
            }
            for replica in 0..replicas {
                let id = workload.instance(replica);
                if !state.instances.contains_key(&id) {
                    plan.events.push(EventKind::InstanceCreated {
                        instance: id,
                        node: None,
                    });
                }
            }
        }
    }
    if hold {
        let mut i = 0;
        plan.events.retain(|e| {
            i += 1;
            i <= creates_before || !matches!(e, EventKind::InstanceCreated { .. })
        });
    }
    for (id, instance) in &state.instances {
        let stack_name = &id.workload.stack;
        let Some(stack) = state.stacks.get(stack_name) else {
            continue;
        };
        let Some(current) = stack.spec.services.get(&id.workload.name) else {
            stop_or_remove(&mut plan, state, id, instance, "removed from the stack");
            continue;
        };
        let replicas = state.replicas(&id.workload).unwrap_or(0);
        let surge = surges.get(&id.workload).copied().unwrap_or(0);
        if id.replica >= replicas.saturating_add(surge) {
            let reason = if id.replica >= replicas && surge == 0 && is_surge(state, id) {
                "rollout finished"
            } else {
                "scaled down"
            };
            stop_or_remove(&mut plan, state, id, instance, reason);
            continue;
        }
        // The spec of the revision this instance runs (a rollout replaces it in turn).
        let revised = stack
            .revisions
            .get(&id.workload.name)
            .and_then(|r| r.spec(rollout::revision_of(instance, r)))
            .map(|spec| {
                let mut spec = spec.clone();
                spec.replicas = current.replicas;
                spec
            });
        let service = revised.as_ref().unwrap_or(current);
        let desired =
            if let Some(eviction) = instance.evicted.as_ref().filter(|_| instance.leaving()) {
                Desired::Stop {
                    reason: format!("moving off node {}: {}", eviction.from, eviction.reason),
                }
            } else if stack.stopped.contains(&id.workload.name) {
                let running = matches!(instance.phase, Phase::Starting | Phase::Running { .. });
                if running && dependents_still_live(state, &id.workload) {
                    // Stopped in reverse dependency order: dependents that are being stopped
                    // too go first.
                    Desired::Run
                } else {
                    Desired::Stop {
                        reason: "stopped by request".into(),
                    }
                }
            } else if let Some(since) = instance.gated_since() {
                match first_unmet(state, stack_name, &service.depends_on, id, since, now) {
                    None => Desired::Run,
                    Some(blocked) => {
                        if blocked.timed_out {
                            let reason = blocked.to_string();
                            if instance.reason.as_deref() != Some(reason.as_str()) {
                                plan.events.push(EventKind::InstanceFailed {
                                    instance: id.clone(),
                                    reason,
                                });
                            }
                        } else if let Some(t) = blocked.timeout {
                            let due = deadline(since, t);
                            plan.wake_at = Some(plan.wake_at.map_or(due, |w| w.min(due)));
                        }
                        plan.blocked.push(blocked);
                        continue;
                    }
                }
            } else {
                Desired::Run
            };
        plan.assignments.insert(
            id.clone(),
            assignment(state, stack_name, service, id, instance, desired),
        );
    }
    dependency_restarts(state, now, &mut plan);
    plan
}

/// `dependsOn` with `restart: true`: a running instance whose target service restarted or
/// replaced an instance after this instance's run started is restarted once, when the target
/// meets its `require` again and no rollout of it is under way (one restart for a whole
/// rollout).
///
/// Such restarts go through the dependent's backoff: after `n` restarts asked for in a row
/// (each within `restartPolicy.resetAfter` of the one before), the next comes no sooner than
/// the backoff's delay for `n` (`min`, then ×`factor`, up to `max`) after the last — a
/// target that keeps restarting does not restart its dependents as often.
fn dependency_restarts(state: &State, now: Timestamp, plan: &mut Plan) {
    for (id, instance) in &state.instances {
        let stack_name = &id.workload.stack;
        let Some(stack) = state.stacks.get(stack_name) else {
            continue;
        };
        let Some(service) = stack.spec.services.get(&id.workload.name) else {
            continue;
        };
        let (Phase::Running { .. }, Some(started)) = (instance.phase, instance.started_at) else {
            continue;
        };
        if stack.stopped.contains(&id.workload.name) {
            continue;
        }
        let since = instance
            .restart_requested_at
            .map_or(started, |r| r.max(started));
        let restart = service.depends_on.iter().filter(|d| d.restart).any(|dep| {
            let Ok(target) = WorkloadId::new(stack_name.clone(), dep.target.clone()) else {
                return false;
            };
            let rolling = stack
                .revisions
                .get(&dep.target)
                .and_then(|r| r.rollout.as_ref())
                .is_some_and(|r| r.status.in_progress());
            let restarted = state.instances_of(&target).any(|(_, t)| {
                let again = t.restarts.total > 0 || t.revised_at.is_some_and(|r| r > t.created_at);
                again && t.started_at.is_some_and(|s| s > since)
            });
            stack.spec.services.contains_key(&dep.target)
                && !rolling
                && restarted
                && condition(state, stack_name, dep).is_ok()
        });
        if restart {
            let policy = &service.restart_policy;
            let not_before = instance.restart_requested_at.and_then(|r| {
                let reset = deadline(r, policy.reset_after);
                let wait = policy.backoff.delay(instance.restart_streak, 0.5);
                (now < reset).then(|| deadline(r, orco_spec::Duration::from(wait)))
            });
            match not_before {
                Some(due) if now < due => {
                    plan.wake_at = Some(plan.wake_at.map_or(due, |w| w.min(due)));
                }
                _ => plan.events.push(EventKind::RestartRequested {
                    instance: id.clone(),
                }),
            }
        }
    }
}

fn assignment(
    state: &State,
    stack: &StackName,
    service: &Service,
    id: &InstanceId,
    instance: &Instance,
    desired: Desired,
) -> Assignment {
    let st = &state.stacks[stack];
    Assignment {
        instance: id.clone(),
        workdir: st.spec.stack.workdir.clone(),
        service: service.clone(),
        generation: st.generation,
        revision: st
            .revisions
            .get(id.workload.name.as_str())
            .map_or(instance.revision, |r| rollout::revision_of(instance, r)),
        restart_requests: instance.restart_requests,
        desired,
        last_seen: match (instance.phase, instance.pid) {
            (Phase::Running { ready }, Some(pid)) => Some(LastSeen { pid, ready }),
            _ => None,
        },
        port: instance.port,
        recorded: Recorded::of(instance),
    }
}

/// Whether the instance is above its service's replica count while its service's last
/// rollout was under way or just finished (a surge slot).
fn is_surge(state: &State, id: &InstanceId) -> bool {
    state.stacks.get(&id.workload.stack).is_some_and(|s| {
        s.revisions
            .get(&id.workload.name)
            .is_some_and(|r| r.rollout.is_some())
    })
}

/// Whether a service of the same stack that depends on `workload` and is being stopped too
/// still has a live instance.
fn dependents_still_live(state: &State, workload: &WorkloadId) -> bool {
    let Some(stack) = state.stacks.get(&workload.stack) else {
        return false;
    };
    let dependents: Vec<&String> = stack
        .spec
        .services
        .iter()
        .filter(|(name, service)| {
            stack.stopped.contains(*name)
                && service
                    .depends_on
                    .iter()
                    .any(|d| d.target == workload.name.as_str())
        })
        .map(|(name, _)| name)
        .collect();
    state.instances.iter().any(|(id, i)| {
        id.workload.stack == workload.stack
            && dependents
                .iter()
                .any(|d| id.workload.name.as_str() == d.as_str())
            && i.phase.is_live()
    })
}

/// An instance no longer wanted: the node stops it; once it does not run, it is removed.
fn stop_or_remove(
    plan: &mut Plan,
    state: &State,
    id: &InstanceId,
    instance: &Instance,
    reason: &str,
) {
    if instance.phase.is_live() {
        // A service removed from the stack file is stopped with the default stop settings.
        let service = state.stacks[&id.workload.stack]
            .spec
            .services
            .get(&id.workload.name)
            .cloned()
            .unwrap_or_else(fallback_service);
        let desired = Desired::Stop {
            reason: reason.to_string(),
        };
        plan.assignments.insert(
            id.clone(),
            assignment(state, &id.workload.stack, &service, id, instance, desired),
        );
    } else {
        plan.events.push(EventKind::InstanceRemoved {
            instance: id.clone(),
        });
    }
}

/// A service with default stop settings, for an instance whose service is gone.
fn fallback_service() -> Service {
    Service {
        replicas: 0,
        ..Service::default()
    }
}

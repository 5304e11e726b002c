//! Rollouts: which instances of a changed service are replaced next, and when a rollout is
//! finished or has failed. Pure, like the rest of the reconciler.
//!
//! A rolling update keeps the replica slots `0..replicas` and adds up to `maxSurge` slots
//! above them while old instances remain: a surge instance starts with the new revision, and
//! once it is ready an old instance is revised in place (the node stops it, drained, and
//! starts it with the new spec). An old instance is revised only while the ready instances
//! left would be at least `replicas - maxUnavailable`; an instance counts as ready for this
//! only once it became ready after it was last revised. When every slot runs the new revision
//! and is ready, the surge slots are removed and the rollout is finished. `recreate` revises
//! every old instance at once. A new instance that is not ready within the rollout deadline,
//! or that fails [`CRASH_LOOP`] runs in a row, fails the rollout: it is rolled back.

use std::time::Duration;

use jiff::Timestamp;
use orco_spec::{Service, UpdateStrategy};
use orco_state::{
    EventKind, Instance, InstanceId, Phase, Revisions, RolloutStatus, State, WorkloadId,
};

/// Consecutive failed runs of a new instance that make a rollout fail.
pub const CRASH_LOOP: u32 = 2;

/// What a rollout does now.
#[derive(Debug, Default)]
pub(crate) struct Step {
    pub(crate) events: Vec<EventKind>,
    /// Slots above `replicas` that are kept (created when missing) for the new revision.
    pub(crate) surge: u32,
    pub(crate) wake_at: Option<Timestamp>,
}

/// How long a new instance of `spec` has to become ready in a rollout: its probes' grace
/// period, plus enough intervals for the thresholds, plus 10 s to start; 10 s without health.
pub fn deadline(spec: &Service) -> Duration {
    let start = Duration::from_secs(10);
    match &spec.health {
        Some(h) => {
            let rounds = h.failure_threshold.saturating_add(h.success_threshold);
            h.grace_period.get() + h.interval.get().saturating_mul(rounds) + start
        }
        None => start,
    }
}

/// The revision an instance runs (0 in an old log: the current one).
pub(crate) fn revision_of(instance: &Instance, revisions: &Revisions) -> u32 {
    if instance.revision == 0 {
        revisions.current()
    } else {
        instance.revision
    }
}

/// Ready (or, for a one-shot service, succeeded) since it was last revised: a revised
/// instance still shows its old run's phase until the node has stopped that run.
fn fresh_ready(instance: &Instance) -> bool {
    matches!(
        instance.phase,
        Phase::Running { ready: true } | Phase::Succeeded
    ) && instance.revised_at.is_none_or(|r| instance.since > r)
}

fn add(at: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The rollout step of one service with `replicas` slots, at `now`.
pub(crate) fn step(
    state: &State,
    workload: &WorkloadId,
    revisions: &Revisions,
    replicas: u32,
    now: Timestamp,
) -> Step {
    let mut step = Step::default();
    let Some(rollout) = revisions
        .rollout
        .as_ref()
        .filter(|r| r.status.in_progress())
    else {
        return step;
    };
    let to = rollout.to;
    let Some(spec) = revisions.spec(to) else {
        return step;
    };
    let instances: Vec<(&InstanceId, &Instance)> = state.instances_of(workload).collect();
    // An instance of another revision with the same spec (a rollback to what it runs) is
    // not replaced.
    // A rolling restart replaces every instance, the same spec or not.
    let new = |i: &Instance| {
        let rev = revision_of(i, revisions);
        rev == to
            || !rollout.restart
                && revisions
                    .spec(rev)
                    .is_some_and(|s| !orco_state::spec_changed(s, spec))
    };

    let old: Vec<(&InstanceId, &Instance)> = instances
        .iter()
        .filter(|(id, i)| id.replica < replicas && !new(i))
        .copied()
        .collect();

    // A failing new revision is rolled back (a failing rollback is not rolled back again).
    if rollout.status == RolloutStatus::Progressing {
        let limit = deadline(spec);
        // Instances being stopped on purpose (a surge slot no longer needed) do not count.
        let watched = |id: &InstanceId, i: &Instance| {
            new(i)
                && !fresh_ready(i)
                && !matches!(i.phase, Phase::Stopping | Phase::Stopped)
                && (id.replica < replicas || !old.is_empty())
        };
        for (id, i) in instances.iter().filter(|(id, i)| watched(id, i)) {
            let ran = i.pid.is_some() || i.last_exit.is_some() || i.restarts.total > 0;
            let last = i.reason.as_deref().unwrap_or("no reason recorded");
            let failed = i.restarts.failures >= CRASH_LOOP || (i.phase == Phase::Failed && ran);
            if failed {
                let reason = format!(
                    "instance {id} of revision {to} is crash-looping ({} failed runs; last: {last})",
                    i.restarts.failures.max(1)
                );
                step.events.push(EventKind::RolloutRolledBack {
                    workload: workload.clone(),
                    reason,
                });
                return step;
            }
            let due = add(i.revised_at.unwrap_or(i.created_at), limit);
            if now >= due {
                let secs = limit.as_secs();
                let reason =
                    format!("instance {id} of revision {to} was not ready within {secs}s ({last})");
                step.events.push(EventKind::RolloutRolledBack {
                    workload: workload.clone(),
                    reason,
                });
                return step;
            }
            step.wake_at = Some(step.wake_at.map_or(due, |w| w.min(due)));
        }
    }

    if old.is_empty() {
        let slots_ready = (0..replicas).all(|r| {
            instances
                .iter()
                .any(|(id, i)| id.replica == r && new(i) && fresh_ready(i))
        });
        let surge_live = instances
            .iter()
            .any(|(id, i)| id.replica >= replicas && i.phase.is_live());
        if slots_ready && !surge_live {
            step.events.push(EventKind::RolloutFinished {
                workload: workload.clone(),
            });
        } else if !slots_ready {
            // The surge instances serve until the last replaced one is ready.
            let above = instances
                .iter()
                .filter(|(id, _)| id.replica >= replicas)
                .count();
            step.surge = u32::try_from(above).unwrap_or(u32::MAX);
        }
        return step;
    }

    let policy = &spec.update;
    if policy.strategy == UpdateStrategy::Recreate {
        for (id, _) in old {
            step.events.push(EventKind::InstanceRevised {
                instance: (*id).clone(),
                revision: to,
            });
        }
        return step;
    }
    let (max_surge, mut max_unavailable) = if spec.can_surge() {
        (policy.max_surge, policy.max_unavailable)
    } else {
        (0, policy.max_unavailable)
    };
    if max_surge == 0 && max_unavailable == 0 {
        // Neither a surge nor an unavailable instance: replace one at a time in place.
        max_unavailable = 1;
    }
    step.surge = max_surge.min(u32::try_from(old.len()).unwrap_or(u32::MAX));
    for r in replicas..replicas.saturating_add(step.surge) {
        let id = workload.instance(r);
        if !state.instances.contains_key(&id) {
            step.events.push(EventKind::InstanceCreated {
                instance: id,
                node: None,
            });
        }
    }
    let mut available = instances.iter().filter(|(_, i)| fresh_ready(i)).count();
    let floor = usize::try_from(replicas.saturating_sub(max_unavailable)).unwrap_or(0);
    // Revised instances not ready yet count against the surge and the unavailable budget.
    let mut in_flight = instances
        .iter()
        .filter(|(id, i)| id.replica < replicas && new(i) && !fresh_ready(i))
        .count();
    let budget = usize::try_from(max_unavailable).unwrap_or(usize::MAX);
    for (id, i) in old {
        let revise = if !fresh_ready(i) {
            true
        } else if available > floor && in_flight < budget.max(1) + step.surge as usize {
            available -= 1;
            true
        } else {
            false
        };
        if revise {
            in_flight += 1;
            step.events.push(EventKind::InstanceRevised {
                instance: id.clone(),
                revision: to,
            });
        }
    }
    step
}

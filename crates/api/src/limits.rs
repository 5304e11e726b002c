//! The per-daemon bounds an API write is checked against before it is appended: no service
//! above [`MAX_REPLICAS`], and no more than [`MAX_INSTANCES`] instances over every stack.
//! Pure: a function of the current state and the events a write would append.

use std::collections::BTreeMap;

use orco_spec::limits::{MAX_INSTANCES, MAX_REPLICAS, replicas_over_limit};
use orco_state::{Event, EventKind, State};

use crate::error::ApiError;

/// The instances each stack holds, by stack name: its services at their replica counts.
fn per_stack(state: &State) -> BTreeMap<String, u64> {
    state
        .stacks
        .iter()
        .map(|(name, stack)| {
            let total = stack
                .spec
                .services
                .iter()
                .map(|(service, spec)| {
                    u64::from(stack.scale.get(service).copied().unwrap_or(spec.replicas))
                })
                .sum();
            (name.to_string(), total)
        })
        .collect()
}

/// Refuses `events` (`422`) when they would scale a service above [`MAX_REPLICAS`] or raise
/// the daemon's instances above [`MAX_INSTANCES`]. A write that lowers an already excessive
/// count (a state recorded before the limits) is let through.
pub fn check(state: &State, events: &[Event]) -> Result<(), ApiError> {
    let before = per_stack(state);
    let mut after = before.clone();
    // Each stack's replica counts by service, as the events change them.
    let mut counts: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    let counts_of = |stack: &str| -> BTreeMap<String, u32> {
        state
            .stacks
            .iter()
            .find(|(name, _)| name.as_str() == stack)
            .map(|(_, s)| {
                s.spec
                    .services
                    .iter()
                    .map(|(n, spec)| (n.clone(), s.scale.get(n).copied().unwrap_or(spec.replicas)))
                    .collect()
            })
            .unwrap_or_default()
    };
    for event in events {
        match &event.kind {
            EventKind::StackApplied { stack } => {
                for (name, service) in &stack.services {
                    if let Some(why) = replicas_over_limit(service.replicas) {
                        return Err(ApiError::unprocessable("too_many_replicas", why)
                            .with_field(format!("services.{name}.replicas")));
                    }
                }
                let name = stack.stack.name.clone();
                let services: BTreeMap<String, u32> = stack
                    .services
                    .iter()
                    .map(|(n, s)| (n.clone(), s.replicas))
                    .collect();
                after.insert(name.clone(), services.values().map(|r| u64::from(*r)).sum());
                counts.insert(name, services);
            }
            EventKind::StackRemoved { stack, .. } => {
                after.remove(stack.as_str());
                counts.remove(stack.as_str());
            }
            EventKind::ScaleChanged { workload, replicas } => {
                if *replicas > MAX_REPLICAS {
                    let why = replicas_over_limit(*replicas).unwrap_or_default();
                    return Err(
                        ApiError::unprocessable("too_many_replicas", why).with_field("replicas")
                    );
                }
                let stack = workload.stack.to_string();
                let services = counts
                    .entry(stack.clone())
                    .or_insert_with(|| counts_of(&stack));
                services.insert(workload.name.clone(), *replicas);
                after.insert(stack, services.values().map(|r| u64::from(*r)).sum());
            }
            _ => {}
        }
    }
    let total_before: u64 = before.values().sum();
    let total_after: u64 = after.values().sum();
    if total_after > MAX_INSTANCES && total_after > total_before {
        return Err(ApiError::unprocessable(
            "too_many_instances",
            format!(
                "this would give the daemon {total_after} instances, above its limit of {MAX_INSTANCES}: scale other services down or remove a stack first"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::applied;
    use jiff::Timestamp;
    use orco_state::WorkloadId;

    fn scale(stack: &str, service: &str, replicas: u32) -> Event {
        let workload = WorkloadId::new(
            orco_state::StackName::new(stack.to_string()).expect("a stack name"),
            service.to_string(),
        )
        .expect("a workload id");
        Event::new(
            Timestamp::UNIX_EPOCH,
            EventKind::ScaleChanged { workload, replicas },
        )
    }

    fn stack_of(name: &str, services: usize, replicas: u32) -> String {
        let mut text = format!("version: 0.1\nstack: {{name: {name}}}\nservices:\n");
        for i in 0..services {
            text.push_str(&format!(
                "  s{i}: {{command: [\"true\"], replicas: {replicas}}}\n"
            ));
        }
        text
    }

    #[test]
    fn a_scale_above_the_replica_limit_is_refused_with_its_field() {
        let mut state = State::new();
        state.apply(&applied(&stack_of("a", 1, 1)));
        let err = check(&state, &[scale("a", "s0", MAX_REPLICAS + 1)]).expect_err("refused");
        assert_eq!(err.detail.code, "too_many_replicas");
        assert!(check(&state, &[scale("a", "s0", MAX_REPLICAS)]).is_ok());
    }

    #[test]
    fn the_daemon_wide_instance_limit_counts_every_stack() {
        let mut state = State::new();
        // 20 services of 1,000 replicas: exactly the limit.
        state.apply(&applied(&stack_of("a", 20, 1_000)));
        assert!(check(&state, &[]).is_ok());
        let err = check(&state, &[applied(&stack_of("b", 1, 1))]).expect_err("one too many");
        assert_eq!(err.detail.code, "too_many_instances");
        // Re-applying the same stack smaller, or scaling down, is fine.
        assert!(check(&state, &[applied(&stack_of("a", 20, 999))]).is_ok());
        assert!(
            check(
                &state,
                &[scale("a", "s0", 0), applied(&stack_of("b", 1, 1))]
            )
            .is_ok()
        );
        let err = check(&state, &[scale("a", "s0", 1), scale("a", "s1", 1_000)]);
        assert!(err.is_ok(), "lowering is allowed");
    }
}

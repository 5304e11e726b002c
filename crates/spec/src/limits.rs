//! The bounds on what a stack may ask for: replicas per service, services and tasks per
//! stack, instances per daemon. The loader checks the per-stack ones (for a file and for a
//! stack submitted to the API alike); the API checks the per-daemon one; the reconciler does
//! not act on a persisted count above them (a state written before a limit existed).

/// Most replicas of one service (`replicas`, `orco scale`).
pub const MAX_REPLICAS: u32 = 1_000;

/// Most services in one stack.
pub const MAX_SERVICES: usize = 20_000;

/// Most tasks in one stack, over all its jobs.
pub const MAX_TASKS: usize = 100_000;

/// Most instances one daemon holds, over every service of every stack (each service counted
/// at its replica count).
pub const MAX_INSTANCES: u64 = 20_000;

/// Why `replicas` is refused, or `None` when it is within [`MAX_REPLICAS`].
pub fn replicas_over_limit(replicas: u32) -> Option<String> {
    (replicas > MAX_REPLICAS).then(|| {
        format!(
            "replicas is {replicas}, above the limit of {MAX_REPLICAS} per service: run fewer, or split the service"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replica_limit_itself_is_allowed_and_one_more_is_not() {
        assert_eq!(replicas_over_limit(MAX_REPLICAS), None);
        assert!(replicas_over_limit(MAX_REPLICAS + 1).is_some());
        assert!(replicas_over_limit(u32::MAX).is_some());
    }
}

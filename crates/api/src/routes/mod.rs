//! The handlers, one module per resource, and what they share: query parameters and the
//! resolution of names to ids.

pub mod cluster;
pub mod events;
pub mod history;
pub mod instances;
pub mod jobs;
pub mod logs;
pub mod members;
pub mod nodes;
pub mod stacks;
pub mod tokens;
pub mod workloads;

use orco_state::{InstanceId, StackName, State, WorkloadId};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// `?at=` alone.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The moment to answer for: a revision (`rev:42` or `42`), an RFC 3339 time, or a
    /// duration ago (`10m`). Default: now.
    pub at: Option<String>,
}

/// `?at=` and an optional stack filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The moment to answer for (see `at` above). Default: now.
    pub at: Option<String>,
    /// Only this stack.
    pub stack: Option<String>,
    /// Only this workload (`STACK/NAME`, or `NAME` when unambiguous).
    pub workload: Option<String>,
}

/// A stack known to `state`, or `404 stack_not_found`.
pub(crate) fn known_stack(state: &State, name: &str) -> Result<StackName, ApiError> {
    let not_found = || {
        let known: Vec<_> = state.stacks.keys().map(ToString::to_string).collect();
        ApiError::not_found(
            "stack_not_found",
            format!(
                "no stack named `{name}` at revision {}{}",
                state.revision,
                listing(&known)
            ),
        )
    };
    let stack = StackName::new(name).map_err(|_| not_found())?;
    if state.stacks.contains_key(&stack) {
        Ok(stack)
    } else {
        Err(not_found())
    }
}

fn listing(known: &[String]) -> String {
    if known.is_empty() {
        ": none is applied".into()
    } else {
        format!(": known are {}", known.join(", "))
    }
}

/// A workload known to `state`: `STACK/NAME`, or `NAME` when `stack` is given or exactly one
/// stack has it; else `404 workload_not_found`.
pub(crate) fn known_workload(
    state: &State,
    text: &str,
    stack: Option<&str>,
) -> Result<WorkloadId, ApiError> {
    let not_found = |why: String| ApiError::not_found("workload_not_found", why);
    let exists = |id: &WorkloadId| {
        state.stacks.get(&id.stack).is_some_and(|s| {
            s.spec.services.contains_key(&id.name) || s.spec.jobs.contains_key(&id.name)
        })
    };
    let candidates: Vec<WorkloadId> = if text.contains('/') {
        let id: WorkloadId = text
            .parse()
            .map_err(|e: orco_state::IdError| ApiError::bad_request("invalid_id", e.to_string()))?;
        vec![id]
    } else {
        state
            .stacks
            .keys()
            .filter(|s| stack.is_none_or(|want| s.as_str() == want))
            .filter_map(|s| WorkloadId::new(s.clone(), text).ok())
            .filter(exists)
            .collect()
    };
    match candidates.as_slice() {
        [one] if exists(one) => Ok(one.clone()),
        [] | [_] => Err(not_found(format!(
            "no workload `{text}`{} at revision {}: `orco status` lists them",
            stack
                .map(|s| format!(" in stack `{s}`"))
                .unwrap_or_default(),
            state.revision
        ))),
        many => Err(ApiError::bad_request(
            "ambiguous_name",
            format!(
                "`{text}` names a workload in several stacks ({}): give STACK/NAME or pick a stack",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// An instance known to `state`: `STACK/SERVICE-N`, or `SERVICE-N` when unambiguous; else
/// `404 instance_not_found`.
pub(crate) fn known_instance(
    state: &State,
    text: &str,
    stack: Option<&str>,
) -> Result<InstanceId, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "instance_not_found",
            format!(
                "no instance `{text}` at revision {}: `orco ps` lists them",
                state.revision
            ),
        )
    };
    if text.contains('/') {
        let id: InstanceId = text
            .parse()
            .map_err(|e: orco_state::IdError| ApiError::bad_request("invalid_id", e.to_string()))?;
        return if state.instances.contains_key(&id) {
            Ok(id)
        } else {
            Err(not_found())
        };
    }
    let matches: Vec<&InstanceId> = state
        .instances
        .keys()
        .filter(|id| stack.is_none_or(|s| id.workload.stack.as_str() == s))
        .filter(|id| format!("{}-{}", id.workload.name, id.replica) == text)
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(not_found()),
        _ => Err(ApiError::bad_request(
            "ambiguous_name",
            format!("`{text}` names an instance in several stacks: give STACK/SERVICE-N"),
        )),
    }
}

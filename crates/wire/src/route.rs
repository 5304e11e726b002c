//! The API's routes: the templates the daemon's router serves (under [`API_PREFIX`], `{id}`
//! marking a path parameter) and [`path`], which fills one in the way a client sends it.

use crate::version::API_PREFIX;

/// `GET /health`, outside the versioned prefix.
pub const HEALTH: &str = "/health";
/// `GET /metrics`, outside the versioned prefix.
pub const METRICS: &str = "/metrics";

/// `GET`, `POST`.
pub const STACKS: &str = "/stacks";
/// `GET`, `PUT`, `DELETE`.
pub const STACK: &str = "/stacks/{name}";
/// `POST`.
pub const STACK_STOP: &str = "/stacks/{name}/stop";
/// `GET`, `POST`.
pub const WORKLOADS: &str = "/workloads";
/// `GET`, `DELETE`.
pub const WORKLOAD: &str = "/workloads/{id}";
/// `PATCH`.
pub const WORKLOAD_SCALE: &str = "/workloads/{id}/scale";
/// `POST`.
pub const WORKLOAD_RESTART: &str = "/workloads/{id}/restart";
/// `GET`.
pub const WORKLOAD_ROLLOUT: &str = "/workloads/{id}/rollout";
/// `POST`.
pub const WORKLOAD_ROLLBACK: &str = "/workloads/{id}/rollback";
/// `POST`.
pub const WORKLOAD_STOP: &str = "/workloads/{id}/stop";
/// `POST`.
pub const WORKLOAD_START: &str = "/workloads/{id}/start";
/// `GET`.
pub const INSTANCES: &str = "/instances";
/// `GET`.
pub const INSTANCE: &str = "/instances/{id}";
/// `POST`.
pub const INSTANCE_RESTART: &str = "/instances/{id}/restart";
/// `GET`.
pub const INSTANCE_LOGS: &str = "/instances/{id}/logs";
/// `GET`.
pub const LOGS: &str = "/logs";
/// `GET`.
pub const NODES: &str = "/nodes";
/// `GET`.
pub const NODE: &str = "/nodes/{name}";
/// `GET` (server-sent events).
pub const EVENTS: &str = "/events";
/// `GET`.
pub const HISTORY: &str = "/history/{object}";
/// `GET`.
pub const CLUSTER: &str = "/cluster";
/// `POST` (a node with a join token).
pub const CLUSTER_JOIN: &str = "/cluster/join";
/// `GET`, `POST`.
pub const CLUSTER_TOKENS: &str = "/cluster/tokens";
/// `DELETE`.
pub const CLUSTER_TOKEN: &str = "/cluster/tokens/{id}";
/// `GET`: the SWIM group as the server sees it.
pub const CLUSTER_MEMBERS: &str = "/cluster/members";
/// `GET`, `POST` (admin).
pub const TOKENS: &str = "/tokens";
/// `DELETE` (admin).
pub const TOKEN: &str = "/tokens/{name}";
/// `POST`.
pub const NODE_CORDON: &str = "/nodes/{name}/cordon";
/// `POST`.
pub const NODE_UNCORDON: &str = "/nodes/{name}/uncordon";
/// `POST`.
pub const NODE_DRAIN: &str = "/nodes/{name}/drain";
/// `POST`.
pub const NODE_LABELS: &str = "/nodes/{name}/labels";
/// `POST`.
pub const NODE_TAINTS: &str = "/nodes/{name}/taints";
/// `POST` with a stack: where its instances would run (a dry run; nothing changes).
pub const PLACEMENTS: &str = "/placements";
/// `POST` (a node, by its certificate).
pub const NODE_CERTIFICATE: &str = "/node/certificate";
/// `GET` with `Upgrade: orco-interface` (a node, by its certificate).
pub const NODE_STREAM: &str = "/node/stream";
/// `GET`, `POST` (also under `/workflows`).
pub const JOBS: &str = "/jobs";
/// `GET`.
pub const JOB: &str = "/jobs/{id}";
/// `POST`.
pub const JOB_CANCEL: &str = "/jobs/{id}/cancel";
/// `POST`.
pub const JOB_RETRY: &str = "/jobs/{id}/retry";
/// `POST`.
pub const JOB_PROGRESS: &str = "/jobs/{id}/tasks/{task}/progress";

/// Every versioned route, for checks that the router and the OpenAPI document serve each.
pub const ALL: [&str; 40] = [
    STACKS,
    PLACEMENTS,
    STACK,
    STACK_STOP,
    WORKLOADS,
    WORKLOAD,
    WORKLOAD_SCALE,
    WORKLOAD_RESTART,
    WORKLOAD_ROLLOUT,
    WORKLOAD_ROLLBACK,
    WORKLOAD_STOP,
    WORKLOAD_START,
    INSTANCES,
    INSTANCE,
    INSTANCE_RESTART,
    INSTANCE_LOGS,
    LOGS,
    NODES,
    NODE,
    EVENTS,
    HISTORY,
    CLUSTER,
    CLUSTER_JOIN,
    CLUSTER_TOKENS,
    CLUSTER_TOKEN,
    CLUSTER_MEMBERS,
    TOKENS,
    TOKEN,
    NODE_CORDON,
    NODE_UNCORDON,
    NODE_DRAIN,
    NODE_LABELS,
    NODE_TAINTS,
    NODE_CERTIFICATE,
    NODE_STREAM,
    JOBS,
    JOB,
    JOB_CANCEL,
    JOB_RETRY,
    JOB_PROGRESS,
];

/// Percent-encodes one path segment (ids contain `/` and `#`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path a client sends for `template` (one of this module's routes): [`API_PREFIX`], then
/// the template with each `{…}` replaced by the next of `params`, percent-encoded. A
/// placeholder with no parameter left stays empty.
pub fn path(template: &str, params: &[&str]) -> String {
    let mut out = String::from(API_PREFIX);
    let mut params = params.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = after.find('}').map_or(after.len(), |c| c + 1);
        if let Some(p) = params.next() {
            out.push_str(&segment(p));
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_fills_each_parameter_percent_encoded_under_the_prefix() {
        assert_eq!(path(STACKS, &[]), "/api/v1/stacks");
        assert_eq!(
            path(WORKLOAD_SCALE, &["demo/web"]),
            "/api/v1/workloads/demo%2Fweb/scale"
        );
        assert_eq!(
            path(JOB_PROGRESS, &["demo/etl#2", "load data"]),
            "/api/v1/jobs/demo%2Fetl%232/tasks/load%20data/progress"
        );
    }
}

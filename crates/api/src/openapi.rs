//! The OpenAPI document (`/api/v1/openapi.json`), generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorDetail, FieldProblem};
use crate::model::{
    Accepted, Blocked, CertificateRequest, ClusterInfo, DependencyView, EventView, Health,
    HistoryView, InstanceList, InstanceView, JoinRequest, NodeCertificate, NodeList, NodeView,
    RollbackRequest, RolloutInstance, RolloutState, RolloutView, ScaleRequest, SpecRevision,
    StackDetail, StackList, StackView, TokenCreated, TokenList, TokenRequest, TokenView,
    WorkloadCreate, WorkloadDetail, WorkloadList, WorkloadView,
};
use crate::routes::jobs::{
    JobList, JobRunView, JobSubmit, JobSubmitted, ProgressReport, ScheduleView, TaskView,
};
use crate::routes::{
    cluster, events, history, instances, jobs, logs, members, nodes, stacks, workloads,
};

/// The API's OpenAPI description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "orco API",
        description = "orco's REST API. Writes append desired-state events to the log and answer once they are on disk; reads answer from the state at any moment of the log (`?at=`). Every request and response carries an `Orco-Version` header; an incompatible pair is refused with code `incompatible_version`. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    paths(
        cluster::health,
        cluster::info,
        stacks::list,
        stacks::apply,
        stacks::get,
        stacks::put,
        stacks::delete,
        stacks::stop,
        workloads::list,
        workloads::create,
        workloads::get,
        workloads::delete,
        workloads::scale,
        workloads::restart,
        workloads::rollout,
        workloads::rollback,
        workloads::stop,
        workloads::start,
        instances::list,
        instances::get,
        instances::restart,
        logs::instance,
        logs::read,
        nodes::list,
        nodes::get,
        nodes::cordon,
        nodes::uncordon,
        nodes::remove,
        members::list_tokens,
        members::create_token,
        members::revoke_token,
        members::join,
        members::certificate,
        members::stream,
        events::stream,
        history::get,
        jobs::submit,
        jobs::list,
        jobs::get,
        jobs::cancel,
        jobs::retry,
        jobs::progress,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, FieldProblem, Health, Accepted, StackView, StackDetail, StackList,
        WorkloadView, WorkloadDetail, WorkloadList, WorkloadCreate, ScaleRequest, InstanceView,
        InstanceList, NodeView, NodeList, EventView, HistoryView, ClusterInfo, JobSubmit,
        JobSubmitted, JobRunView, TaskView, JobList, ProgressReport, ScheduleView, RolloutView,
        RolloutState, RolloutInstance, SpecRevision, RollbackRequest, Blocked, DependencyView,
        JoinRequest, CertificateRequest, NodeCertificate, TokenRequest, TokenView, TokenCreated,
        TokenList,
        orco_wire::WorkloadKind, orco_wire::WorkloadState, orco_wire::InstancePhase,
        orco_wire::RolloutStatus, orco_wire::JobState, orco_wire::TaskState,
        orco_wire::NodeStatus, orco_wire::HealthStatus, orco_wire::ClusterMode,
        orco_wire::EventType, orco_wire::Level,
    )),
    tags(
        (name = "stacks", description = "Apply, read and remove stacks"),
        (name = "workloads", description = "Services and jobs: create, scale, restart, stop, start"),
        (name = "instances", description = "Replicas of services"),
        (name = "nodes", description = "Machines and their capacity"),
        (name = "logs", description = "Instances' output as structured records"),
        (name = "events", description = "The event log as a stream"),
        (name = "history", description = "The events of one object"),
        (name = "cluster", description = "The daemon itself"),
        (name = "jobs", description = "Job runs and their tasks (also under `/api/v1/workflows`)"),
    )
)]
pub struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_serves_every_route_of_the_wire_crate_and_names_each_state() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        for route in orco_wire::route::ALL {
            let path = format!("{}{route}", orco_wire::API_PREFIX);
            assert!(paths.contains_key(&path), "{path} is not in the document");
        }
        assert!(paths.contains_key(orco_wire::route::HEALTH));
        let schemas = &doc["components"]["schemas"];
        let states = schemas["WorkloadState"]["enum"].to_string();
        for word in ["\"scaled-to-zero\"", "\"not-run\"", "\"degraded\""] {
            assert!(states.contains(word), "{states}");
        }
        assert!(schemas["WorkloadView"]["properties"]["blocked"].is_object());
        assert!(schemas["Blocked"]["properties"]["since"].is_object());
        let kinds = schemas["EventType"]["enum"].to_string();
        assert!(kinds.contains("\"instance_started\""), "{kinds}");
    }
}

//! The OpenAPI document (`/api/v1/openapi.json`), generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorDetail, FieldProblem};
use crate::model::{
    Accepted, ClusterInfo, EventView, Health, HistoryView, InstanceList, InstanceView, NodeList,
    NodeView, RollbackRequest, RolloutInstance, RolloutState, RolloutView, ScaleRequest,
    SpecRevision, StackDetail, StackList, StackView, WorkloadCreate, WorkloadDetail, WorkloadList,
    WorkloadView,
};
use crate::routes::jobs::{
    JobList, JobRunView, JobSubmit, JobSubmitted, ProgressReport, ScheduleView, TaskView,
};
use crate::routes::{cluster, events, history, instances, jobs, logs, nodes, stacks, workloads};

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
        RolloutState, RolloutInstance, SpecRevision, RollbackRequest,
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

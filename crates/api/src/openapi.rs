//! The OpenAPI document (`/api/v1/openapi.json`), generated from the handlers' annotations;
//! each operation also says the role it needs (`x-orco-role`, from [`crate::access`]) and
//! the bearer token it takes (`security`).

use utoipa::OpenApi;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};

use crate::access::{Access, access};
use crate::error::{ErrorBody, ErrorDetail, FieldProblem};
use crate::model::{
    Accepted, ApiTokenCreated, ApiTokenList, ApiTokenRequest, ApiTokenView, Blocked,
    CertificateRequest, ClusterInfo, DependencyView, EventView, Health, HistoryView, InstanceList,
    InstanceView, JoinRequest, MemberList, MemberView, NodeCertificate, NodeEdits, NodeList,
    NodeView, PlacementPreview, PlannedPlacement, RollbackRequest, RolloutInstance, RolloutState,
    RolloutView, ScaleRequest, SpecRevision, StackDetail, StackList, StackView, TokenCreated,
    TokenList, TokenRequest, TokenView, WorkloadCreate, WorkloadDetail, WorkloadList, WorkloadView,
};
use crate::routes::jobs::{
    JobList, JobRunView, JobSubmit, JobSubmitted, ProgressReport, ScheduleView, TaskView,
};
use crate::routes::{
    cluster, events, history, instances, jobs, logs, members, nodes, stacks, tokens, workloads,
};

/// The API's OpenAPI description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "orco API",
        description = "orco's REST API. On the TCP listener every route but `/health` needs `Authorization: Bearer TOKEN` whose role (`read` < `operate` < `admin`) is at least the operation's `x-orco-role` (`node`: a node's join token or certificate instead); the unix socket is `admin`. No or a bad token: 401; a role too weak: 403 with `role` in the error. Writes append desired-state events to the log and answer once they are on disk; reads answer from the state at any moment of the log (`?at=`). Every request and response carries an `Orco-Version` header; an incompatible pair is refused with code `incompatible_version`. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    paths(
        cluster::health,
        cluster::info,
        stacks::list,
        stacks::apply,
        stacks::placements,
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
        nodes::drain,
        nodes::label,
        nodes::taint,
        nodes::remove,
        members::list_tokens,
        members::members,
        members::create_token,
        members::revoke_token,
        tokens::list,
        tokens::create,
        tokens::revoke,
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
        PlacementPreview, PlannedPlacement,
        WorkloadView, WorkloadDetail, WorkloadList, WorkloadCreate, ScaleRequest, InstanceView,
        InstanceList, NodeView, NodeList, NodeEdits, EventView, HistoryView, ClusterInfo, JobSubmit,
        JobSubmitted, JobRunView, TaskView, JobList, ProgressReport, ScheduleView, RolloutView,
        RolloutState, RolloutInstance, SpecRevision, RollbackRequest, Blocked, DependencyView,
        JoinRequest, CertificateRequest, NodeCertificate, TokenRequest, TokenView, TokenCreated,
        TokenList, MemberList, MemberView, orco_wire::SwimState, orco_wire::MemberRole,
        ApiTokenRequest, ApiTokenView, ApiTokenCreated, ApiTokenList, orco_wire::Role,
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
        (name = "tokens", description = "API tokens with a role (read, operate, admin)"),
        (name = "jobs", description = "Job runs and their tasks (also under `/api/v1/workflows`)"),
    )
)]
pub struct ApiDoc;

/// The name of the bearer token's security scheme.
pub const BEARER: &str = "bearer";

/// The document, each operation with the role it needs.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (axum::http::Method::GET, &mut item.get),
            (axum::http::Method::PUT, &mut item.put),
            (axum::http::Method::POST, &mut item.post),
            (axum::http::Method::DELETE, &mut item.delete),
            (axum::http::Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let needed = access(&method, Some(path));
            let extension: Extensions = [(
                "x-orco-role".to_string(),
                serde_json::json!(needed.as_str()),
            )]
            .into_iter()
            .collect();
            operation
                .extensions
                .get_or_insert_with(Default::default)
                .merge(extension);
            if let Access::Needs(_) = needed {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            }
        }
    }
    doc
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

    #[test]
    fn every_operation_of_the_document_declares_its_role_from_the_access_table() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        let mut declared = Vec::new();
        for (path, item) in &paths {
            for (method, operation) in item.as_object().cloned().unwrap_or_default() {
                let role = operation["x-orco-role"].as_str().unwrap_or("missing");
                let versioned = path.strip_prefix(orco_wire::API_PREFIX).unwrap_or(path);
                let listed = crate::access::ROUTES
                    .iter()
                    .find(|(m, r, _)| m.eq_ignore_ascii_case(&method) && *r == versioned)
                    .map(|(_, _, a)| a.as_str());
                let expected = if path == orco_wire::route::HEALTH {
                    Some("none")
                } else {
                    listed
                };
                assert_eq!(
                    Some(role),
                    expected,
                    "{method} {path}: declare its role in access::ROUTES"
                );
                declared.push(format!("{} {versioned}", method.to_uppercase()));
                let secured = operation["security"][0].get(BEARER).is_some();
                assert_eq!(secured, !matches!(role, "none" | "node"), "{method} {path}");
            }
        }
        for (method, route, _) in crate::access::ROUTES {
            assert!(
                declared.contains(&format!("{method} {route}")),
                "{method} {route} is in access::ROUTES but not in the document"
            );
        }
        let roles: Vec<&str> = ["GET /stacks", "POST /stacks", "POST /tokens"]
            .iter()
            .map(|want| {
                let (method, route) = want.split_once(' ').unwrap_or_default();
                let path = format!("{}{route}", orco_wire::API_PREFIX);
                paths[&path][method.to_lowercase()]["x-orco-role"]
                    .as_str()
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(roles, ["read", "operate", "admin"]);
    }
}

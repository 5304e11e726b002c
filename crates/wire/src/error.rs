//! The body of every error answer: `{"error": {"code", "message", "field", "details",
//! "resume_after", "role"}}`, with a stable, machine-readable code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`malformed_json`, `invalid_field`, `invalid_stack`,
    /// `stack_not_found`, `workload_not_found`, `instance_not_found`, …).
    pub code: String,
    /// What failed and what to do, for people.
    pub message: String,
    /// The path of the offending field (`services.web.dependsOn[0].target`), when one is to
    /// blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, when there are several (stack validation reports them all at once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
    /// Where a watch can resume from (`too_slow`, `compacted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<u64>,
    /// The role the route needs, when the token's role is too weak (`forbidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::Role>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    /// The field's path.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

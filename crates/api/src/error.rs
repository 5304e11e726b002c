//! `ApiError`: every failure of a request as `{"error": {"code", "message", "field"}}` with
//! a stable code, a lowercase message saying what failed and what to do, and the field path.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orco_store::StoreError;

pub use orco_wire::error::{ErrorBody, ErrorDetail, FieldProblem};

/// A failed request: an HTTP status and the JSON body that explains it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {}: {}", detail.code, detail.message)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (boxed: an error stays small to return).
    pub detail: Box<ErrorDetail>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: Box::new(ErrorDetail {
                code: code.to_string(),
                message: message.into(),
                field: None,
                details: Vec::new(),
                resume_after: None,
                role: None,
            }),
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with `code`.
    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422 with `code`.
    pub fn unprocessable(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The same error, blaming `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.detail.field = Some(field.into());
        self
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: (*self.detail).clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::Compacted { horizon, .. } | StoreError::BeforeHorizon { horizon, .. } => {
                let mut err = ApiError::new(StatusCode::GONE, "compacted", message);
                err.detail.resume_after = Some(horizon);
                err.with_field("at")
            }
            StoreError::Future { .. } => {
                ApiError::bad_request("future_revision", message).with_field("at")
            }
            StoreError::TooSlow { resume_after } => {
                let mut err = ApiError::new(StatusCode::CONFLICT, "too_slow", message);
                err.detail.resume_after = Some(resume_after);
                err
            }
            StoreError::DiskFull { .. } => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", message)
            }
            StoreError::Closed => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_closed", message)
            }
            StoreError::Open { .. }
            | StoreError::Locked { .. }
            | StoreError::Corrupt { .. }
            | StoreError::NewerLayout { .. }
            | StoreError::Write { .. }
            | StoreError::Read { .. }
            | StoreError::Decode { .. }
            | StoreError::Empty
            | StoreError::BlockingInAsync => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", message)
            }
        }
    }
}

/// The code of a generic error response with `status` (routing, methods, body limits), for
/// responses produced outside the handlers.
pub(crate) fn code_for_status(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route: see /api/v1/openapi.json for the routes",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method: see /api/v1/openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "the request body is larger than the daemon accepts: send a smaller body",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as application/json",
        ),
        _ if status.is_client_error() => ("bad_request", "the request was refused"),
        _ => ("internal", "the daemon failed to answer: see its log"),
    }
}

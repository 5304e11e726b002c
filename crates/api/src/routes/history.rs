//! `/api/v1/history/{object}`: the events that touched one object, oldest first.

use axum::extract::State;
use orco_store::At;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::at::parse_at;
use crate::context::{ApiContext, internal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::model::HistoryView;
use crate::views::event_view;

/// The most events one history answer holds.
const MAX_LIMIT: usize = 10_000;

/// `?after=&limit=&at=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only events after this revision (default 0).
    pub after: Option<u64>,
    /// At most this many events (default and maximum 10,000).
    pub limit: Option<usize>,
    /// Only events up to this moment (a revision, an RFC 3339 time, or a duration ago).
    pub at: Option<String>,
}

/// The events that touched `object`: a stack (`demo`), workload (`demo/web`), instance
/// (`demo/web-0`), job run or task.
#[utoipa::path(get, path = "/api/v1/history/{object}", tag = "history",
    params(("object" = String, Path, description = "An id string: `demo`, `demo/web`, `demo/web-0` (slashes percent-encoded)"), HistoryQuery),
    responses((status = 200, body = HistoryView), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(object): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<HistoryView>, ApiError> {
    if object.is_empty() || object.len() > 512 {
        return Err(ApiError::bad_request(
            "invalid_id",
            "the object must be an id string such as `demo`, `demo/web` or `demo/web-0`",
        ));
    }
    let limit = q.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let until = match q.at.as_deref() {
        Some(text) => Some(parse_at(text, jiff::Timestamp::now())?),
        None => None,
    };
    let store = ctx.store().clone();
    let after = q.after.unwrap_or(0);
    let key = object.clone();
    let (history, until) = tokio::task::spawn_blocking(move || {
        let until = match until {
            Some(at @ At::Time(_)) => Some(store.revision_at(at)?),
            Some(At::Revision(r)) => Some(r),
            None => None,
        };
        store.history(&key, after, limit).map(|h| (h, until))
    })
    .await
    .map_err(|e| internal(format!("history read did not finish: {e}")))??;
    let items = history
        .records
        .iter()
        .filter(|r| until.is_none_or(|u| r.revision <= u))
        .map(|r| event_view(r.revision, &r.event))
        .collect();
    Ok(axum::Json(HistoryView {
        object,
        horizon: history.horizon,
        items,
    }))
}

//! `/api/v1/tokens`: API tokens with a role (`admin` only). A token's secret is in the answer
//! that creates it and nowhere else: the log keeps its hash.

use axum::extract::State;
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use orco_state::{ApiToken, Event, EventKind};

use crate::access::{SOCKET, TOKEN_FILE, state_role, wire_role};
use crate::context::{ApiContext, internal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::model::{Accepted, ApiTokenCreated, ApiTokenList, ApiTokenRequest, ApiTokenView};

/// The longest life a token may be given: ten years.
pub const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

fn view(name: &str, t: &ApiToken, now: Timestamp) -> ApiTokenView {
    let status = t.refusal(now).unwrap_or("valid");
    ApiTokenView {
        name: name.to_string(),
        id: t.id.clone(),
        role: wire_role(t.role),
        created_at: t.created_at,
        expires: t.expires,
        created_by: t.created_by.clone(),
        status: status.to_string(),
    }
}

/// A token name: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit, at most 63; not one of the callers that are no token (`socket`, `token-file`).
pub fn check_token_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(ApiError::unprocessable(
            "invalid_token_name",
            format!(
                "`{name}` is not a token name: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most 63"
            ),
        )
        .with_field("name"));
    }
    if name == SOCKET || name == TOKEN_FILE {
        return Err(ApiError::unprocessable(
            "invalid_token_name",
            format!("`{name}` names the callers that use no token: pick another name"),
        )
        .with_field("name"));
    }
    Ok(())
}

/// List API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = ApiTokenList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(ctx): State<ApiContext>) -> Result<axum::Json<ApiTokenList>, ApiError> {
    let read = ctx.read(None).await?;
    let now = Timestamp::now();
    Ok(axum::Json(ApiTokenList {
        items: read
            .state
            .api_tokens
            .iter()
            .map(|(name, t)| view(name, t, now))
            .collect(),
    }))
}

/// Create an API token: the whole token is in this answer only; the log keeps a hash of its
/// secret.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = ApiTokenRequest,
    responses((status = 200, body = ApiTokenCreated), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody<ApiTokenRequest>,
) -> Result<axum::Json<ApiTokenCreated>, ApiError> {
    if let Some(name) = &body.name {
        check_token_name(name)?;
    }
    let ttl = match body.ttl_seconds {
        None => None,
        Some(seconds) => {
            let ttl = std::time::Duration::from_secs(seconds);
            if ttl.is_zero() || ttl > MAX_TTL {
                return Err(ApiError::unprocessable(
                    "invalid_ttl",
                    "a token's ttl is between 1 second and 10 years (or none: valid until revoked)",
                )
                .with_field("ttl_seconds"));
            }
            Some(ttl)
        }
    };
    let token = orco_pki::BearerToken::generate()
        .map_err(|e| internal(format!("cannot make a token: {e}")))?;
    let role = state_role(body.role);
    let name = body
        .name
        .clone()
        .unwrap_or_else(|| format!("{role}-{}", &token.id[..6]));
    let now = Timestamp::now();
    let expires = ttl.map(|ttl| {
        now.checked_add(SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX)
    });
    let (id, hash) = (token.id.clone(), token.secret_hash());
    let event_name = name.clone();
    ctx.write(move |state| {
        if state.api_tokens.contains_key(&event_name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "token_exists",
                format!(
                    "a token named `{event_name}` exists (names are never reused, even once revoked): pick another --name"
                ),
            )
            .with_field("name"));
        }
        if state.api_tokens.values().any(|t| t.id == id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "token_exists",
                "a token with this id exists: try again",
            ));
        }
        Ok(vec![Event::new(
            now,
            EventKind::ApiTokenCreated {
                name: event_name,
                id,
                role,
                hash,
                expires,
            },
        )])
    })
    .await?;
    let record = ApiToken {
        id: token.id.clone(),
        role,
        hash: String::new(),
        created_at: now,
        expires,
        created_by: crate::access::caller().map(|c| c.name),
        revoked: false,
    };
    Ok(axum::Json(ApiTokenCreated {
        view: view(&name, &record, now),
        token: token.to_string(),
    }))
}

/// Revoke an API token: it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| match state.api_tokens.get(&name) {
            None => Err(ApiError::not_found(
                "token_not_found",
                format!("no token named `{name}` (see `orco token list`)"),
            )),
            Some(t) if t.revoked => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::ApiTokenRevoked { name: name.clone() },
            )]),
        })
        .await?;
    Ok(axum::Json(accepted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_name_is_checked_and_the_callers_without_a_token_are_reserved() {
        for good in ["ci", "deploy-bot", "read.only_2"] {
            assert!(check_token_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "Upper", "has space", "socket", "token-file"] {
            let e = check_token_name(bad).err().map(|e| e.detail.field);
            assert_eq!(e, Some(Some("name".to_string())), "{bad}");
        }
    }
}

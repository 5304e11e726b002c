//! `/api/v1/stacks`: apply (POST, PUT), list, get and delete stacks.

use std::path::Path;

use axum::extract::State;
use jiff::Timestamp;
use orco_spec::Stack;
use orco_state::{Event, EventKind, StackName};

use crate::check::check_stack;
use crate::context::ApiContext;
use crate::error::{ApiError, ErrorBody, FieldProblem};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::model::{Accepted, PlacementPreview, PlannedPlacement, StackDetail, StackList};
use crate::routes::{AtQuery, known_stack};
use crate::views::stack_view;

/// Validates a submitted stack by the stack file's rules: `422 invalid_stack` with every
/// problem and its path.
pub(crate) fn validate(stack: &Stack) -> Result<Stack, ApiError> {
    check_stack(Path::new("request body"), stack).map_err(|report| {
        let details: Vec<FieldProblem> = report
            .errors()
            .map(|d| FieldProblem {
                field: d.path.clone(),
                message: d.message.clone(),
                hint: d.hint.clone(),
            })
            .collect();
        let first = details.first().cloned();
        let mut err = ApiError::unprocessable(
            "invalid_stack",
            match &first {
                Some(p) if p.field.is_empty() => format!("the stack is invalid: {}", p.message),
                Some(p) => format!("the stack is invalid: {}: {}", p.field, p.message),
                None => "the stack is invalid".into(),
            },
        );
        if let Some(p) = first
            && !p.field.is_empty()
        {
            err = err.with_field(p.field);
        }
        err.detail.details = details;
        err
    })
}

/// The events that apply `stack`: none when it is applied already, unchanged and without
/// overrides.
pub(crate) fn apply_events(
    state: &orco_state::State,
    stack: Stack,
) -> Result<Vec<Event>, ApiError> {
    let name = StackName::new(stack.stack.name.clone()).map_err(|e| {
        ApiError::unprocessable("invalid_stack", e.to_string()).with_field("stack.name")
    })?;
    if let Some(current) = state.stacks.get(&name)
        && *current.spec == stack
        && current.scale.is_empty()
        && current.stopped.is_empty()
    {
        return Ok(Vec::new());
    }
    Ok(vec![Event::new(
        Timestamp::now(),
        EventKind::StackApplied {
            stack: Box::new(stack),
        },
    )])
}

/// Apply a stack: create it, or change it to this (scale and stop overrides are cleared).
#[utoipa::path(post, path = "/api/v1/stacks", tag = "stacks",
    request_body(content = Object, description = "The resolved stack (the stack file's keys, `stack.workdir` absolute; see `orco schema`)"),
    responses(
        (status = 200, description = "Applied (durable)", body = Accepted),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Wrong types, unknown fields or an invalid stack", body = ErrorBody),
    ))]
pub async fn apply(
    State(ctx): State<ApiContext>,
    JsonBody(stack): JsonBody<Stack>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let stack = validate(&stack)?;
    let accepted = ctx.write(|state| apply_events(state, stack)).await?;
    Ok(axum::Json(accepted))
}

/// Apply a stack under its name (the body's `stack.name` must match).
#[utoipa::path(put, path = "/api/v1/stacks/{name}", tag = "stacks",
    params(("name" = String, Path, description = "The stack's name")),
    request_body(content = Object, description = "The resolved stack"),
    responses(
        (status = 200, description = "Applied (durable)", body = Accepted),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Invalid stack, or a name that does not match", body = ErrorBody),
    ))]
pub async fn put(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    JsonBody(stack): JsonBody<Stack>,
) -> Result<axum::Json<Accepted>, ApiError> {
    if stack.stack.name != name {
        return Err(ApiError::unprocessable(
            "name_mismatch",
            format!(
                "the path names stack `{name}` but the body's stack.name is `{}`: make them agree",
                stack.stack.name
            ),
        )
        .with_field("stack.name"));
    }
    let stack = validate(&stack)?;
    let accepted = ctx.write(|state| apply_events(state, stack)).await?;
    Ok(axum::Json(accepted))
}

/// Where the instances of a stack would run if it were applied now (a dry run: nothing is
/// recorded), by the reconciler and the scheduler the server runs. Empty on a single machine.
#[utoipa::path(post, path = "/api/v1/placements", tag = "stacks",
    request_body(content = Object, description = "The resolved stack, as `POST /api/v1/stacks` takes it"),
    responses(
        (status = 200, description = "Each instance with its node or why it would wait", body = PlacementPreview),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Wrong types, unknown fields or an invalid stack", body = ErrorBody),
    ))]
pub async fn placements(
    State(ctx): State<ApiContext>,
    JsonBody(stack): JsonBody<Stack>,
) -> Result<axum::Json<PlacementPreview>, ApiError> {
    let stack = validate(&stack)?;
    let read = ctx.read(None).await?;
    let items = orco_control::place::preview(
        &read.state,
        stack,
        read.as_of,
        &orco_control::Limits::default(),
    )
    .into_iter()
    .map(|(id, place)| {
        let (node, reason) = match place {
            Ok(node) => (Some(node), None),
            Err(why) => (None, Some(why)),
        };
        PlannedPlacement {
            instance: id.to_string(),
            node,
            reason,
        }
    })
    .collect();
    Ok(axum::Json(PlacementPreview { items }))
}

/// List the applied stacks.
#[utoipa::path(get, path = "/api/v1/stacks", tag = "stacks", params(AtQuery),
    responses((status = 200, body = StackList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(ctx): State<ApiContext>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<StackList>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let items = read
        .state
        .stacks
        .iter()
        .map(|(name, stack)| stack_view(&read.state, name, stack))
        .collect();
    Ok(axum::Json(StackList {
        revision: read.state.revision,
        as_of: read.as_of,
        items,
    }))
}

/// One stack with its resolved stack file.
#[utoipa::path(get, path = "/api/v1/stacks/{name}", tag = "stacks",
    params(("name" = String, Path, description = "The stack's name"), AtQuery),
    responses((status = 200, body = StackDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<axum::Json<StackDetail>, ApiError> {
    let read = ctx.read(q.at.as_deref()).await?;
    let name = known_stack(&read.state, &name)?;
    let Some(stack) = read.state.stacks.get(&name) else {
        return Err(ApiError::not_found(
            "stack_not_found",
            format!("no stack `{name}`"),
        ));
    };
    Ok(axum::Json(StackDetail {
        revision: read.state.revision,
        stack: stack_view(&read.state, &name, stack),
        spec: serde_json::to_value(&stack.spec).unwrap_or_default(),
    }))
}

/// Stop every service of a stack at once, dependents first (`orco up` on Ctrl-C); the
/// stack stays applied, and applying it again starts them.
#[utoipa::path(post, path = "/api/v1/stacks/{name}/stop", tag = "stacks",
    params(("name" = String, Path, description = "The stack's name")),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn stop(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let accepted = ctx
        .write(|state| {
            let stack = known_stack(state, &name)?;
            let st = &state.stacks[&stack];
            let all_stopped = st.spec.services.keys().all(|n| st.stopped.contains(n));
            Ok(if all_stopped {
                Vec::new()
            } else {
                vec![Event::new(
                    Timestamp::now(),
                    EventKind::StackStopRequested { stack },
                )]
            })
        })
        .await?;
    Ok(axum::Json(accepted))
}

/// `?volumes=` of a stack's removal.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Remove the stack's named volumes too, once its containers are gone (default false:
    /// volumes outlive the stack).
    pub volumes: Option<bool>,
}

/// Remove a stack with its instances (`orco down`), and with `?volumes=true` its named
/// volumes.
#[utoipa::path(delete, path = "/api/v1/stacks/{name}", tag = "stacks",
    params(("name" = String, Path, description = "The stack's name"), RemoveQuery),
    responses((status = 200, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let volumes = q.volumes.unwrap_or(false);
    let accepted = ctx
        .write(|state| {
            let stack = known_stack(state, &name)?;
            Ok(vec![Event::new(
                Timestamp::now(),
                EventKind::StackRemoved { stack, volumes },
            )])
        })
        .await?;
    Ok(axum::Json(accepted))
}

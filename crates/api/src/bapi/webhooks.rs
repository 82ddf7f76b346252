//! `/v1/webhooks`: endpoints, their signing secrets, their messages and
//! attempts, and replays. Not in Clerk's Backend API (Clerk runs its
//! webhooks through Svix's dashboard); the shapes follow Latch's own
//! records.

use serde::Serialize;
use serde_json::{Value, json};

use latch_core::model::{
    MessageStatus, Timestamp, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};
use latch_core::service::{EndpointPatch, NewEndpoint};

use super::number;
use crate::ApiState;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};

#[derive(Serialize)]
struct EndpointJson<'a> {
    object: &'static str,
    id: &'a str,
    url: &'a str,
    description: &'a str,
    /// Empty: every type.
    event_types: Vec<&'static str>,
    disabled: bool,
    disabled_reason: Option<&'a str>,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn endpoint(e: &WebhookEndpoint) -> Value {
    json_of(EndpointJson {
        object: "webhook_endpoint",
        id: &e.id,
        url: &e.url,
        description: &e.description,
        event_types: e.event_types.iter().map(|t| t.as_str()).collect(),
        disabled: e.disabled,
        disabled_reason: e.disabled_reason.as_deref(),
        failing_since: e.failing_since.map(Timestamp::millis),
        created_at: e.created_at.millis(),
        updated_at: e.updated_at.millis(),
    })
}

#[derive(Serialize)]
struct MessageJson<'a> {
    object: &'static str,
    event_id: &'a str,
    event_type: &'a str,
    endpoint_id: &'a str,
    status: &'static str,
    attempts: u32,
    /// When the next attempt may start, while pending.
    next_attempt_at: Option<i64>,
    last_status_code: Option<u16>,
    last_error: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
}

fn message(m: &WebhookMessage) -> Value {
    json_of(MessageJson {
        object: "webhook_message",
        event_id: &m.event_id,
        event_type: &m.event_type,
        endpoint_id: &m.endpoint_id,
        status: m.status.as_str(),
        attempts: m.attempts,
        next_attempt_at: (m.status == MessageStatus::Pending).then_some(m.due_at.millis()),
        last_status_code: m.last_status_code,
        last_error: m.last_error.as_deref(),
        created_at: m.created_at.millis(),
        updated_at: m.updated_at.millis(),
    })
}

#[derive(Serialize)]
struct AttemptJson<'a> {
    object: &'static str,
    id: &'a str,
    event_id: &'a str,
    endpoint_id: &'a str,
    status_code: Option<u16>,
    error: Option<&'a str>,
    duration_ms: i64,
    created_at: i64,
}

fn attempt(a: &WebhookAttempt) -> Value {
    json_of(AttemptJson {
        object: "webhook_attempt",
        id: &a.id,
        event_id: &a.event_id,
        endpoint_id: &a.endpoint_id,
        status_code: a.status_code,
        error: a.error.as_deref(),
        duration_ms: a.duration_ms,
        created_at: a.at.millis(),
    })
}

fn json_of(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).unwrap_or(Value::Null)
}

fn list(data: Vec<Value>) -> ApiResponse {
    let total = data.len();
    ApiResponse::ok(json!({ "data": data, "total_count": total }))
}

fn secret(key: &str) -> ApiResponse {
    ApiResponse::ok(json!({ "object": "webhook_secret", "key": key }))
}

/// `POST /v1/webhooks/endpoints`: the endpoint, with its signing secret
/// (`secret`, shown here and by `GET …/secret`).
pub async fn create(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let url = req
        .param("url")?
        .ok_or_else(|| ApiError::from(latch_core::Error::param_nil("url")))?;
    let (created, key) = state
        .services
        .webhooks
        .create_endpoint(NewEndpoint {
            id: None,
            url,
            description: req.param("description")?,
            event_types: req.param_list("event_types")?,
            secret: req.param("secret")?,
        })
        .await?;
    let mut body = endpoint(&created);
    body["secret"] = json!(key);
    Ok(ApiResponse::ok(body))
}

/// `GET /v1/webhooks/endpoints`, oldest first.
pub async fn index(state: &ApiState) -> Result<ApiResponse, ApiError> {
    let all = state.services.webhooks.list_endpoints().await?;
    Ok(list(all.iter().map(endpoint).collect()))
}

pub async fn read(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(endpoint(
        &state.services.webhooks.endpoint(id).await?,
    )))
}

/// `PATCH /v1/webhooks/endpoints/{id}`: `url`, `description`,
/// `event_types` (an empty list: every type), `disabled`.
pub async fn update(state: &ApiState, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let patch = EndpointPatch {
        url: req.param("url")?,
        description: req.param("description")?,
        event_types: if req.has_param("event_types") {
            Some(req.param_list("event_types")?)
        } else {
            None
        },
        disabled: req.param_bool("disabled")?,
    };
    Ok(ApiResponse::ok(endpoint(
        &state.services.webhooks.update_endpoint(id, patch).await?,
    )))
}

pub async fn delete(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    state.services.webhooks.delete_endpoint(id).await?;
    Ok(ApiResponse::ok(
        json!({ "object": "webhook_endpoint", "id": id, "deleted": true }),
    ))
}

/// `GET /v1/webhooks/endpoints/{id}/secret`.
pub async fn read_secret(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(secret(&state.services.webhooks.secret(id).await?))
}

/// `POST /v1/webhooks/endpoints/{id}/rotate_secret`: a new secret (or the
/// `secret` given); messages sent from now on are signed with it.
pub async fn rotate_secret(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let key = state
        .services
        .webhooks
        .rotate_secret(id, req.param("secret")?)
        .await?;
    Ok(secret(&key))
}

/// `GET /v1/webhooks/endpoints/{id}/messages?status=&limit=`, newest first.
pub async fn messages(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let status = match req.query_param("status").filter(|s| !s.is_empty()) {
        Some(raw) => Some(MessageStatus::parse(raw).ok_or_else(|| {
            ApiError::param_value_invalid("status", "status must be pending, delivered or failed.")
        })?),
        None => None,
    };
    let limit = number(req, "limit")?.unwrap_or(50);
    let found = state
        .services
        .webhooks
        .messages(Some(id), status, limit)
        .await?;
    Ok(list(found.iter().map(message).collect()))
}

/// `GET /v1/webhooks/endpoints/{id}/messages/{event}`.
pub async fn read_message(
    state: &ApiState,
    id: &str,
    event: &str,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(message(
        &state.services.webhooks.message(event, id).await?,
    )))
}

/// `GET /v1/webhooks/endpoints/{id}/messages/{event}/attempts`, newest first.
pub async fn attempts(state: &ApiState, id: &str, event: &str) -> Result<ApiResponse, ApiError> {
    let found = state.services.webhooks.attempts(event, id).await?;
    Ok(list(found.iter().map(attempt).collect()))
}

/// `POST /v1/webhooks/endpoints/{id}/messages/{event}/replay`: sent again now.
pub async fn replay(state: &ApiState, id: &str, event: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(message(
        &state.services.webhooks.replay(event, id).await?,
    )))
}

/// `POST /v1/webhooks/endpoints/{id}/replay` with `since` (and optionally
/// `until`), Unix milliseconds: what failed or never reached the endpoint
/// in that range is sent again.
pub async fn replay_range(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let millis = |name: &'static str| -> Result<Option<Timestamp>, ApiError> {
        req.param(name)?
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map(Timestamp).map_err(|_| {
                    ApiError::param_format_invalid(
                        name,
                        format!("{name} must be a time in Unix milliseconds."),
                    )
                })
            })
            .transpose()
    };
    let since =
        millis("since")?.ok_or_else(|| ApiError::from(latch_core::Error::param_nil("since")))?;
    let n = state
        .services
        .webhooks
        .replay_range(id, since, millis("until")?)
        .await?;
    Ok(ApiResponse::ok(
        json!({ "object": "webhook_replay", "messages": n }),
    ))
}

//! `/v1/sessions`.

use serde_json::{Value, json};

use crate::error::ApiError;
use latch_core::model::SessionStatus;
use latch_core::ports::SessionQuery;

use super::number;
use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};
use crate::render::Renderer;

/// `GET /v1/sessions/{id}`.
pub async fn read(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(Renderer::new(state).backend_session(
        &state.services.sessions.get_session(id).await?,
    )))
}

/// `POST /v1/sessions/{id}/revoke`.
pub async fn revoke(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(Renderer::new(state).backend_session(
        &state.services.sessions.revoke_session(id).await?,
    )))
}

/// `DELETE /v1/sessions?user_id=`: the user's active sessions, revoked, as
/// a bare array (a Latch addition: Clerk's Backend API revokes one at a
/// time).
pub async fn revoke_all_of_user(
    state: &ApiState,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let revoked = state
        .services
        .sessions
        .revoke_sessions_of_user(req.query_param("user_id"))
        .await?;
    let r = Renderer::new(state);
    Ok(ApiResponse::ok(Value::Array(
        revoked.iter().map(|v| r.backend_session(v)).collect(),
    )))
}

/// `GET /v1/sessions`: a bare array, or `{ data, total_count }` with `paginated=true`.
pub async fn list(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let status = match req.query_param("status").filter(|s| !s.is_empty()) {
        // Statuses Clerk knows that no Latch session ever has: nothing matches.
        Some("abandoned" | "pending" | "replaced") => return Ok(sessions_page(req, Vec::new(), 0)),
        Some(raw) => {
            Some(SessionStatus::parse(raw).ok_or_else(|| {
                ApiError::param_value_invalid("status", "Unknown session status.")
            })?)
        }
        None => None,
    };
    let query = SessionQuery {
        user_id: req
            .query_param("user_id")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        client_id: req
            .query_param("client_id")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        status,
        now: Default::default(),
        limit: 0,
        offset: number(req, "offset")?.unwrap_or(0),
    };
    let page = state
        .services
        .sessions
        .list_sessions(query, number(req, "limit")?)
        .await?;
    let r = Renderer::new(state);
    let data: Vec<Value> = page.sessions.iter().map(|v| r.backend_session(v)).collect();
    Ok(sessions_page(req, data, page.total_count))
}

/// A bare array, or `{ data, total_count }` when the caller asked for pages.
fn sessions_page(req: &ApiRequest, data: Vec<Value>, total_count: u64) -> ApiResponse {
    if req.query_param("paginated") == Some("true") {
        ApiResponse::ok(json!({ "data": data, "total_count": total_count }))
    } else {
        ApiResponse::ok(Value::Array(data))
    }
}

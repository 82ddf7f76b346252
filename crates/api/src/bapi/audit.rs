//! `GET /v1/audit_log`: the audit log, newest first, filtered and paged by
//! cursor. Not in Clerk's Backend API.

use serde::Serialize;
use serde_json::{Value, json};

use latch_core::model::{AuditAction, AuditEntry, AuditQuery, Timestamp};

use super::number;
use crate::ApiState;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};

#[derive(Serialize)]
struct EntryJson<'a> {
    object: &'static str,
    id: &'a str,
    /// The cursor: pass it as `before` for the entries older than this one.
    cursor: String,
    action: &'static str,
    actor: &'static str,
    user_id: Option<&'a str>,
    client_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    detail: &'a std::collections::BTreeMap<String, String>,
    created_at: i64,
}

fn entry(seq: i64, e: &AuditEntry) -> Value {
    serde_json::to_value(EntryJson {
        object: "audit_entry",
        id: &e.id,
        cursor: seq.to_string(),
        action: e.action.as_str(),
        actor: e.actor.as_str(),
        user_id: e.user_id.as_deref(),
        client_ip: e.client_ip.as_deref(),
        user_agent: e.user_agent.as_deref(),
        detail: &e.detail,
        created_at: e.at.millis(),
    })
    .unwrap_or(Value::Null)
}

/// A query parameter that is a whole number, or a 422 naming it.
fn integer(req: &ApiRequest, name: &'static str) -> Result<Option<i64>, ApiError> {
    req.query_param(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::param_format_invalid(name, format!("{name} must be a whole number."))
            })
        })
        .transpose()
}

/// `GET /v1/audit_log?user_id=&action=&since=&until=&before=&limit=`:
/// `action` may be repeated or comma-separated; `since` and `until` are Unix
/// milliseconds; `before` is the `next_cursor` of the previous page.
pub async fn list(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let mut actions = Vec::new();
    for raw in req
        .query
        .iter()
        .filter(|(k, _)| k == "action")
        .flat_map(|(_, v)| v.split(','))
        .filter(|v| !v.is_empty())
    {
        actions.push(AuditAction::parse(raw).ok_or_else(|| {
            ApiError::param_value_invalid(
                "action",
                format!(
                    "{:?} is not an audit action.",
                    latch_core::model::truncate(raw)
                ),
            )
        })?);
    }
    let query = AuditQuery {
        user_id: req
            .query_param("user_id")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        actions,
        since: integer(req, "since")?.map(Timestamp),
        until: integer(req, "until")?.map(Timestamp),
        before: integer(req, "before")?,
        limit: number(req, "limit")?.unwrap_or(50).clamp(1, 500),
    };
    let limit = query.limit;
    let found = state.services.audit.query(query).await?;
    let next = (found.len() == limit as usize)
        .then(|| found.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    Ok(ApiResponse::ok(json!({
        "data": found.iter().map(|(seq, e)| entry(*seq, e)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

//! The instance's settings through the Backend API: Clerk's
//! `/v1/instance`, `/v1/instance/restrictions`, `/v1/allowlist_identifiers`
//! and `/v1/blocklist_identifiers`, and Latch's own
//! `/v1/instance/user_management` for every runtime setting (a JSON
//! document; `PATCH` takes a JSON merge patch of it, checked whole).

use serde_json::{Map, Value, json};
use warp::http::{StatusCode, header};

use latch_core::model::{AccessList, EntryKind, ListEntry};
use latch_core::service::SettingsView;

use crate::ApiState;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse, Body};

fn settings_json(view: &SettingsView) -> Value {
    json!({
        "object": "user_management_settings",
        "version": view.version,
        "pinned": view.pinned,
        "settings": view.document,
    })
}

/// The answer for `view`, with its version as the `ETag` a later `PATCH`
/// may send back as `If-Match`.
fn settings_response(view: &SettingsView) -> ApiResponse {
    ApiResponse::ok(settings_json(view)).with_header(header::ETAG, &format!("\"{}\"", view.version))
}

/// The JSON object a settings change carries, or a 422.
fn json_object(req: &ApiRequest) -> Result<&Map<String, Value>, ApiError> {
    match &req.body {
        Body::Json(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::param_format_invalid(
            "settings",
            "The body must be a JSON object (Content-Type: application/json).".to_owned(),
        )),
    }
}

/// `If-Match: "<version>"`, when given.
fn expected_version(req: &ApiRequest) -> Result<Option<u64>, ApiError> {
    req.header("if-match")
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse::<u64>()
                .map_err(|_| {
                    ApiError::param_format_invalid(
                        "If-Match",
                        "If-Match must be the settings version (the ETag of a read).".to_owned(),
                    )
                })
        })
        .transpose()
}

/// `GET /v1/instance/user_management`: the settings in force.
pub async fn read_settings(state: &ApiState) -> Result<ApiResponse, ApiError> {
    Ok(settings_response(&state.services.instance.view()))
}

/// `PATCH /v1/instance/user_management`: a JSON merge patch of the
/// settings document, checked whole; with `If-Match`, only over that
/// version.
pub async fn update_settings(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let patch = Value::Object(json_object(req)?.clone());
    let expected = expected_version(req)?;
    let view = state.services.instance.update(&patch, expected).await?;
    Ok(settings_response(&view))
}

/// `GET /v1/instance/user_management/versions?limit=`: stored versions,
/// newest first.
pub async fn settings_history(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let limit = super::number(req, "limit")?.unwrap_or(20);
    let versions = state.services.instance.history(limit).await?;
    let data: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "object": "user_management_settings_version",
                "version": v.version,
                "changed_at": v.changed_at.millis(),
                "changed_by": v.changed_by,
                "settings": v.document,
            })
        })
        .collect();
    let total = data.len();
    Ok(ApiResponse::ok(
        json!({ "data": data, "total_count": total }),
    ))
}

/// `GET /v1/instance`.
pub async fn read(state: &ApiState) -> Result<ApiResponse, ApiError> {
    let settings = state.services.settings();
    Ok(ApiResponse::ok(json!({
        "object": "instance",
        "id": state.config.instance_id,
        "environment_type": settings.environment.as_str(),
        "allowed_origins": state.config.allowed_origins,
        "workspace_id": null,
    })))
}

/// The fields of Clerk's `PATCH /v1/instance` body, each with the JSON
/// type it takes.
const INSTANCE_FIELDS: &[(&str, &str)] = &[
    ("test_mode", "boolean"),
    ("hibp", "boolean"),
    ("support_email", "string"),
    ("clerk_js_version", "string"),
    ("development_origin", "string"),
    ("allowed_origins", "array"),
    ("cookieless_dev", "boolean"),
    ("url_based_session_syncing", "boolean"),
    (
        "preferred_sign_in_strategy_when_password_required",
        "string",
    ),
];

/// `PATCH /v1/instance`: Clerk's instance-wide switches. Latch keeps these
/// in its configuration file (origins, support address, bundles), so each
/// one given is refused by name, unless it restates what is in force; an
/// empty body is accepted.
pub async fn update(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = match &req.body {
        Body::Empty => Map::new(),
        Body::Json(Value::Object(map)) => map.clone(),
        Body::Form(fields) => fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        Body::Json(_) => {
            return Err(ApiError::param_format_invalid(
                "body",
                "The body must be a JSON object.".to_owned(),
            ));
        }
    };
    for (key, value) in &body {
        let Some((_, kind)) = INSTANCE_FIELDS.iter().find(|(name, _)| name == key) else {
            return Err(ApiError::param_unknown(key));
        };
        if value.is_null() {
            continue;
        }
        let settings = state.services.settings();
        let in_force = match key.as_str() {
            "allowed_origins" => Some(json!(state.config.allowed_origins)),
            "support_email" => Some(json!(settings.display.support_email)),
            "test_mode" => Some(json!(
                settings.environment == latch_core::model::Environment::Development
            )),
            _ => None,
        };
        if in_force.as_ref() == Some(value) {
            continue;
        }
        return Err(ApiError::param_value_invalid(
            key,
            format!(
                "{key} ({kind}) is set in Latch's configuration file, not at runtime; the \
                 user-management settings are at /v1/instance/user_management."
            ),
        ));
    }
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

/// The restrictions as Clerk shows them.
fn restrictions_json(view: &SettingsView) -> Value {
    let r = &view.document.restrictions;
    json!({
        "object": "instance_restrictions",
        "allowlist": r.allowlist,
        "blocklist": r.blocklist,
        "allowlist_blocklist_disabled_on_sign_in": r.allowlist_blocklist_disabled_on_sign_in,
        "block_email_subaddresses": r.block_email_subaddresses,
        "block_disposable_email_domains": false,
    })
}

/// `PATCH /v1/instance/restrictions`.
pub async fn update_restrictions(
    state: &ApiState,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    const FIELDS: [&str; 4] = [
        "allowlist",
        "blocklist",
        "allowlist_blocklist_disabled_on_sign_in",
        "block_email_subaddresses",
    ];
    let mut patch = Map::new();
    for field in FIELDS {
        if let Some(on) = req.param_bool(field)? {
            patch.insert(field.to_owned(), Value::Bool(on));
        }
    }
    if req.param_bool("block_disposable_email_domains")? == Some(true) {
        return Err(ApiError::param_value_invalid(
            "block_disposable_email_domains",
            "Latch keeps no list of disposable email domains: block them by domain on the \
             blocklist instead."
                .to_owned(),
        ));
    }
    if let Body::Json(Value::Object(map)) = &req.body
        && let Some(key) = map
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()) && *k != "block_disposable_email_domains")
    {
        return Err(ApiError::param_unknown(key));
    }
    let view = state
        .services
        .instance
        .update(&json!({ "restrictions": patch }), None)
        .await?;
    Ok(ApiResponse::ok(restrictions_json(&view)))
}

fn entry_json(state: &ApiState, e: &ListEntry) -> Value {
    let object = match e.list {
        AccessList::Allow => "allowlist_identifier",
        AccessList::Block => "blocklist_identifier",
    };
    let kind = match e.kind {
        EntryKind::PhoneNumber => "phone_number",
        // Clerk names a domain entry an email address entry.
        EntryKind::EmailAddress | EntryKind::EmailDomain => "email_address",
    };
    // No `invitation_id`: Latch sends no invitations.
    json!({
        "object": object,
        "id": e.id,
        "identifier": e.identifier,
        "identifier_type": kind,
        "instance_id": state.config.instance_id,
        "created_at": e.created_at.millis(),
        "updated_at": e.created_at.millis(),
    })
}

/// `GET /v1/allowlist_identifiers` (an array) and
/// `GET /v1/blocklist_identifiers` (`data` and `total_count`), as Clerk
/// answers each.
pub async fn list_entries(state: &ApiState, list: AccessList) -> Result<ApiResponse, ApiError> {
    let entries = state.services.instance.entries(list).await?;
    let data: Vec<Value> = entries.iter().map(|e| entry_json(state, e)).collect();
    Ok(ApiResponse::ok(match list {
        AccessList::Allow => Value::Array(data),
        AccessList::Block => {
            let total = data.len();
            json!({ "data": data, "total_count": total })
        }
    }))
}

/// `POST /v1/allowlist_identifiers` and `POST /v1/blocklist_identifiers`:
/// an email address, a phone number, or an email domain. `notify` (an
/// invitation) is refused: Latch sends no invitations.
pub async fn add_entry(
    state: &ApiState,
    req: &ApiRequest,
    list: AccessList,
) -> Result<ApiResponse, ApiError> {
    let identifier = req
        .param("identifier")?
        .ok_or_else(|| ApiError::from(latch_core::Error::param_nil("identifier")))?;
    if list == AccessList::Allow && req.param_bool("notify")? == Some(true) {
        return Err(ApiError::param_value_invalid(
            "notify",
            "Latch sends no invitations; tell the person yourself.".to_owned(),
        ));
    }
    let entry = state.services.instance.add_entry(list, &identifier).await?;
    Ok(ApiResponse::ok(entry_json(state, &entry)))
}

/// `DELETE /v1/allowlist_identifiers/{id}` and
/// `DELETE /v1/blocklist_identifiers/{id}`.
pub async fn remove_entry(
    state: &ApiState,
    list: AccessList,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    state.services.instance.remove_entry(list, id).await?;
    let object = match list {
        AccessList::Allow => "allowlist_identifier",
        AccessList::Block => "blocklist_identifier",
    };
    Ok(ApiResponse::ok(
        json!({ "object": object, "id": id, "deleted": true }),
    ))
}

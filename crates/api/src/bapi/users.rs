//! `/v1/users`.

use serde_json::{Value, json};

use crate::error::ApiError;
use latch_core::model::{User, UserPatch};
use latch_core::ports::UserQuery;
use latch_core::service::{CreateUser, PhoneNumberPatch};

use super::number;
use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};
use crate::render::{Audience, Renderer};

fn user_json(state: &ApiState, user: &User) -> Value {
    Renderer::new(state).user(user, Audience::Backend, state.now())
}

/// `POST /v1/users`.
pub async fn create(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let user = state
        .services
        .users
        .create_user(create_user_params(req)?)
        .await?;
    Ok(ApiResponse::ok(user_json(state, &user)))
}

/// `GET /v1/users`: a bare array.
pub async fn list(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let (query, limit) = user_query(req)?;
    let page = state.services.users.list_users(query, limit).await?;
    Ok(ApiResponse::ok(Value::Array(
        page.users.iter().map(|u| user_json(state, u)).collect(),
    )))
}

/// `GET /v1/users/count`.
pub async fn count(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let (query, _) = user_query(req)?;
    let n = state.services.users.count_users(query).await?;
    Ok(ApiResponse::ok(
        json!({ "object": "total_count", "total_count": n }),
    ))
}

/// `GET /v1/users/{id}`.
pub async fn read(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(user_json(
        state,
        &state.services.users.get_user(id).await?,
    )))
}

/// `PATCH /v1/users/{id}`.
pub async fn update(state: &ApiState, req: &ApiRequest, id: &str) -> Result<ApiResponse, ApiError> {
    let user = state
        .services
        .users
        .update_user(id, user_patch(req)?)
        .await?;
    Ok(ApiResponse::ok(user_json(state, &user)))
}

/// `POST /v1/users/{id}/lock`.
pub async fn lock(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(user_json(
        state,
        &state.services.users.lock_user(id).await?,
    )))
}

/// `POST /v1/users/{id}/unlock`.
pub async fn unlock(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(user_json(
        state,
        &state.services.users.unlock_user(id).await?,
    )))
}

/// `POST /v1/users/{id}/ban`: no more sign-ins, every session revoked.
pub async fn ban(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(user_json(
        state,
        &state.services.users.ban_user(id).await?,
    )))
}

/// `POST /v1/users/{id}/unban`.
pub async fn unban(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(user_json(
        state,
        &state.services.users.unban_user(id).await?,
    )))
}

/// `DELETE /v1/users/{id}`.
pub async fn delete(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    state.services.users.delete_user(id).await?;
    Ok(ApiResponse::ok(
        json!({ "object": "user", "id": id, "deleted": true }),
    ))
}

/// `DELETE /v1/users/{id}/mfa`.
pub async fn disable_mfa(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    let user = state.services.users.disable_mfa(id).await?;
    Ok(ApiResponse::ok(json!({ "user_id": user.id.as_str() })))
}

/// `DELETE /v1/users/{id}/totp`.
pub async fn delete_totp(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    let user = state.services.users.delete_totp(id).await?;
    Ok(ApiResponse::ok(json!({ "user_id": user.id.as_str() })))
}

/// `DELETE /v1/users/{id}/backup_code`.
pub async fn delete_backup_codes(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    let user = state.services.users.delete_backup_codes(id).await?;
    Ok(ApiResponse::ok(json!({ "user_id": user.id.as_str() })))
}

/// `DELETE /v1/users/{id}/external_accounts/{account}`.
pub async fn delete_external_account(
    state: &ApiState,
    id: &str,
    account: &str,
) -> Result<ApiResponse, ApiError> {
    state
        .services
        .users
        .delete_external_account(id, account)
        .await?;
    Ok(ApiResponse::ok(
        json!({ "object": "external_account", "id": account, "deleted": true }),
    ))
}

/// `GET /v1/phone_numbers/{id}`.
pub async fn read_phone_number(state: &ApiState, id: &str) -> Result<ApiResponse, ApiError> {
    let (user, record) = state.services.users.get_phone_number(id).await?;
    Ok(ApiResponse::ok(
        Renderer::new(state).phone_number(&user, &record),
    ))
}

/// `PATCH /v1/phone_numbers/{id}`.
pub async fn update_phone_number(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let patch = PhoneNumberPatch {
        verified: req.param_bool("verified")?,
        primary: req.param_bool("primary")?,
        reserved_for_second_factor: req.param_bool("reserved_for_second_factor")?,
    };
    let (user, record) = state.services.users.update_phone_number(id, patch).await?;
    Ok(ApiResponse::ok(
        Renderer::new(state).phone_number(&user, &record),
    ))
}

fn create_user_params(req: &ApiRequest) -> Result<CreateUser, ApiError> {
    Ok(CreateUser {
        email_addresses: req.param_list("email_address")?,
        phone_numbers: req.param_list("phone_number")?,
        username: req.param("username")?,
        password: req.param("password")?,
        password_digest: req.param("password_digest")?,
        password_hasher: req.param("password_hasher")?,
        skip_password_checks: req.param_bool("skip_password_checks")?.unwrap_or(false),
        first_name: req.param("first_name")?,
        last_name: req.param("last_name")?,
        external_id: req.param("external_id")?,
        public_metadata: req.param_object("public_metadata")?,
        private_metadata: req.param_object("private_metadata")?,
        unsafe_metadata: req.param_object("unsafe_metadata")?,
        totp_secret: req.param("totp_secret")?,
        backup_codes: req.param_list("backup_codes")?,
    })
}

fn user_patch(req: &ApiRequest) -> Result<UserPatch, ApiError> {
    // A present key with `null` clears the field; an absent key keeps it.
    let clearable = |name: &str| -> Result<Option<Option<String>>, ApiError> {
        if req.has_param(name) {
            Ok(Some(req.param(name)?))
        } else {
            Ok(None)
        }
    };
    Ok(UserPatch {
        username: clearable("username")?,
        password: req.param("password")?,
        skip_password_checks: req.param_bool("skip_password_checks")?.unwrap_or(false),
        first_name: clearable("first_name")?,
        last_name: clearable("last_name")?,
        external_id: clearable("external_id")?,
        primary_email_address_id: req.param("primary_email_address_id")?,
        primary_phone_number_id: req.param("primary_phone_number_id")?,
        public_metadata: req.param_object("public_metadata")?,
        private_metadata: req.param_object("private_metadata")?,
        unsafe_metadata: req.param_object("unsafe_metadata")?,
        totp_secret: clearable("totp_secret")?,
        backup_codes: if req.has_param("backup_codes") || req.has_param("backup_codes[]") {
            Some(req.param_list("backup_codes")?)
        } else {
            None
        },
    })
}

/// The most characters `query` may have.
const MAX_QUERY_CHARS: usize = 256;

/// `query`: text any of a user's identifiers or names contains, in lower
/// case; empty is no filter.
fn search_text(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(text) = req.query_param("query").map(str::trim) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::param_value_invalid(
            "query",
            format!("query must be at most {MAX_QUERY_CHARS} characters."),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_lowercase()))
}

fn user_query(req: &ApiRequest) -> Result<(UserQuery, Option<u32>), ApiError> {
    let order = req.query_param("order_by").unwrap_or("-created_at");
    let oldest_first = match order {
        "-created_at" => false,
        "+created_at" | "created_at" => true,
        _ => {
            return Err(ApiError::param_value_invalid(
                "order_by",
                "order_by must be -created_at or +created_at.",
            ));
        }
    };
    let query = UserQuery {
        user_ids: req.query_all("user_id"),
        email_addresses: req.query_all("email_address"),
        phone_numbers: req.query_all("phone_number"),
        usernames: req.query_all("username"),
        external_ids: req.query_all("external_id"),
        query: search_text(req)?,
        oldest_first,
        limit: 0,
        offset: number(req, "offset")?.unwrap_or(0),
    };
    Ok((query, number(req, "limit")?))
}

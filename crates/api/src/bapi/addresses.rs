//! `/v1/email_addresses` and `/v1/phone_numbers`, and the user checks an
//! application's server makes: `verify_password`, `verify_totp`, and
//! metadata merged in place.

use serde_json::json;

use crate::error::ApiError;
use latch_core::model::Strategy;
use latch_core::service::{AddressKind, NewAddress};

use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};
use crate::render::{Audience, Renderer};

/// `POST /v1/email_addresses` and `POST /v1/phone_numbers`.
pub async fn create(
    state: &ApiState,
    req: &ApiRequest,
    kind: AddressKind,
) -> Result<ApiResponse, ApiError> {
    let params = NewAddress {
        user_id: req.param("user_id")?,
        value: req.param(match kind {
            AddressKind::Email => "email_address",
            AddressKind::Phone => "phone_number",
        })?,
        verified: req.param_bool("verified")?.unwrap_or(false),
        primary: req.param_bool("primary")?.unwrap_or(false),
        reserved_for_second_factor: req
            .param_bool("reserved_for_second_factor")?
            .unwrap_or(false),
    };
    let view = state.services.users.create_address(kind, params).await?;
    Ok(ApiResponse::ok(Renderer::new(state).address(&view)))
}

/// `GET /v1/email_addresses/{id}`.
pub async fn read(state: &ApiState, kind: AddressKind, id: &str) -> Result<ApiResponse, ApiError> {
    let view = state.services.users.get_address(kind, id).await?;
    Ok(ApiResponse::ok(Renderer::new(state).address(&view)))
}

/// `PATCH /v1/email_addresses/{id}`.
pub async fn update_email(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let (verified, primary) = (req.param_bool("verified")?, req.param_bool("primary")?);
    let view = state
        .services
        .users
        .update_email_address(id, verified, primary)
        .await?;
    Ok(ApiResponse::ok(Renderer::new(state).address(&view)))
}

/// `DELETE /v1/email_addresses/{id}` and `DELETE /v1/phone_numbers/{id}`.
pub async fn delete(
    state: &ApiState,
    kind: AddressKind,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let deleted = state.services.users.delete_address(kind, id).await?;
    let object = match deleted.kind {
        AddressKind::Email => "email_address",
        AddressKind::Phone => "phone_number",
    };
    Ok(ApiResponse::ok(
        json!({ "object": object, "id": deleted.id, "deleted": true }),
    ))
}

/// `PATCH /v1/users/{id}/metadata`: deep-merged.
pub async fn merge_metadata(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let user = state
        .services
        .account
        .merge_user_metadata(
            id,
            req.param_object("public_metadata")?,
            req.param_object("private_metadata")?,
            req.param_object("unsafe_metadata")?,
        )
        .await?;
    Ok(ApiResponse::ok(Renderer::new(state).user(
        &user,
        Audience::Backend,
        state.now(),
    )))
}

/// `POST /v1/users/{id}/verify_password`.
pub async fn verify_password(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let password = req.param("password")?;
    state
        .services
        .account
        .verify_user_password(id, password)
        .await?;
    Ok(ApiResponse::ok(json!({ "verified": true })))
}

/// `POST /v1/users/{id}/verify_totp`: a TOTP or a backup code.
pub async fn verify_totp(
    state: &ApiState,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    let code = req.param("code")?;
    let used = state
        .services
        .account
        .verify_user_second_factor(id, code)
        .await?;
    let code_type = match used {
        Strategy::BackupCode => "backup_code",
        _ => "totp",
    };
    Ok(ApiResponse::ok(
        json!({ "verified": true, "code_type": code_type }),
    ))
}

/// `GET /v1/users/{id}/oauth_access_tokens/{provider}`: an array, as Clerk
/// answers it.
pub async fn oauth_access_tokens(
    state: &ApiState,
    id: &str,
    provider: &str,
) -> Result<ApiResponse, ApiError> {
    let views = state
        .services
        .account
        .provider_access_tokens(id, provider)
        .await?;
    let list: Vec<_> = views
        .iter()
        .map(|v| {
            json!({
                "object": "oauth_access_token",
                "external_account_id": v.external_account_id,
                "provider_user_id": v.provider_user_id,
                "token": v.token,
                "expires_at": v.expires_at.map(|t| t.millis()),
                "provider": format!("oauth_{}", v.provider),
                "public_metadata": {},
                "label": null,
                "scopes": v.scopes,
            })
        })
        .collect();
    Ok(ApiResponse::ok(serde_json::Value::Array(list)))
}

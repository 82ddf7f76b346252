//! `/v1/me`: the signed-in user's own second factors. The session is the one
//! `_clerk_session_id` names, or the client's last active one.

use serde_json::{Value, json};

use crate::error::ApiError;
use latch_core::Error;
use latch_core::model::User;
use latch_core::service::{BackupCodesView, Outcome, TotpView};

use super::{FapiReply, wrap};
use crate::ApiState;
use crate::http::ApiRequest;
use crate::render::{self, Audience};

fn session_id(req: &ApiRequest) -> Option<&str> {
    req.query_param("_clerk_session_id")
}

/// Every `/v1/me` handler answers the same way: the use case's error as the
/// API's, or its outcome wrapped with the client.
fn reply<T>(
    state: &ApiState,
    result: Result<Outcome<T>, Error>,
    render_response: impl FnOnce(&T) -> Value,
) -> Result<FapiReply, ApiError> {
    Ok(wrap(state, result?, render_response))
}

fn user_json(state: &ApiState, user: &User) -> Value {
    render::user(user, Audience::Frontend, state.now())
}

/// `GET /v1/me`.
pub async fn read(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let account = &state.services.account;
    reply(state, account.get_me(token, session_id(req)).await, |u| {
        user_json(state, u)
    })
}

/// `POST /v1/me/totp`.
pub async fn create_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let account = &state.services.account;
    reply(
        state,
        account.create_totp(token, session_id(req)).await,
        totp_json,
    )
}

/// `POST /v1/me/totp/attempt_verification`.
pub async fn verify_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let account = &state.services.account;
    reply(
        state,
        account
            .verify_totp(token, session_id(req), req.param("code")?)
            .await,
        totp_json,
    )
}

/// `DELETE /v1/me/totp`.
pub async fn delete_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let account = &state.services.account;
    reply(
        state,
        account.delete_own_totp(token, session_id(req)).await,
        |user| json!({ "object": "totp", "id": totp_id(user), "deleted": true }),
    )
}

/// `POST /v1/me/backup_codes`.
pub async fn create_backup_codes(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let account = &state.services.account;
    let result = account.create_backup_codes(token, session_id(req)).await;
    reply(state, result, |v: &BackupCodesView| {
        json!({
            "object": "backup_code",
            "id": format!("bc_{}", id_suffix(&v.user)),
            "codes": v.codes,
            "created_at": v.user.updated_at.millis(),
            "updated_at": v.user.updated_at.millis(),
        })
    })
}

fn totp_json(v: &TotpView) -> Value {
    json!({
        "object": "totp",
        "id": totp_id(&v.user),
        "secret": v.secret,
        "uri": v.uri,
        "verified": v.verified,
        "backup_codes": v.backup_codes,
        "created_at": v.user.updated_at.millis(),
        "updated_at": v.user.updated_at.millis(),
    })
}

/// A user has at most one TOTP: its id follows the user's.
fn totp_id(user: &User) -> String {
    format!("totp_{}", id_suffix(user))
}

fn id_suffix(user: &User) -> &str {
    user.id
        .as_str()
        .split_once('_')
        .map_or(user.id.as_str(), |(_, rest)| rest)
}

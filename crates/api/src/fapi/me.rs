//! `/v1/me`: the signed-in user's own second factors. The session is the one
//! `_clerk_session_id` names, or the client's last active one.

use std::future::Future;

use serde_json::{Value, json};

use crate::error::ApiError;
use latch_core::Error;
use latch_core::model::User;
use latch_core::service::{
    Account, AddressKind, BackupCodesView, ChangePassword, Connect, Deleted, MePatch, MyPhonePatch,
    Outcome, TotpView,
};

use super::{Channel, ClientAuth, FapiReply, wrap};
use crate::ApiState;
use crate::http::ApiRequest;
use crate::render::{Audience, Renderer};

/// The parse-call-wrap shape every `/v1/me` handler shares: `call` runs with
/// the request's client token and session; its error becomes the API's, its
/// outcome is rendered with `render_response` and wrapped with the client.
async fn on_me<'a, T, F>(
    state: &'a ApiState,
    req: &'a ApiRequest,
    token: Option<&'a str>,
    call: impl FnOnce(&'a Account, Option<&'a str>, Option<&'a str>) -> F,
    render_response: impl FnOnce(&T) -> Value,
) -> Result<FapiReply, ApiError>
where
    F: Future<Output = Result<Outcome<T>, Error>>,
{
    let session_id = req.query_param("_clerk_session_id");
    let outcome = call(&state.services.account, token, session_id).await?;
    Ok(wrap(
        &Renderer::for_client(state, req),
        outcome,
        render_response,
    ))
}

/// `GET /v1/me`.
pub async fn read(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    on_me(state, req, token, Account::get_me, |user| {
        Renderer::new(state).user(user, Audience::Frontend, state.now())
    })
    .await
}

/// `DELETE /v1/me`.
pub async fn delete(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    on_me(
        state,
        req,
        token,
        Account::delete_me,
        |id| json!({ "object": "user", "id": id.as_str(), "deleted": true }),
    )
    .await
}

/// `PATCH /v1/me`.
pub async fn update(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    // A field sent empty clears it (clerk-js sends `null` as an empty string).
    let clearable = |name: &str| -> Result<Option<Option<String>>, ApiError> {
        Ok(req
            .param(name)?
            .map(|v| (!v.trim().is_empty()).then_some(v)))
    };
    let patch = MePatch {
        username: clearable("username")?,
        first_name: clearable("first_name")?,
        last_name: clearable("last_name")?,
        primary_email_address_id: req
            .param("primary_email_address_id")?
            .filter(|v| !v.is_empty()),
        primary_phone_number_id: req
            .param("primary_phone_number_id")?
            .filter(|v| !v.is_empty()),
        unsafe_metadata: req.param_object("unsafe_metadata")?,
    };
    on_me(
        state,
        req,
        token,
        |account, token, session| account.update_me(token, session, patch),
        |user| Renderer::new(state).user(user, Audience::Frontend, state.now()),
    )
    .await
}

/// `GET /v1/me/sessions/active` and `GET /v1/me/sessions`: arrays, as
/// Clerk answers them (no client beside).
pub async fn sessions(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    active_only: bool,
) -> Result<FapiReply, ApiError> {
    let session_id = req.query_param("_clerk_session_id");
    let views = state
        .services
        .account
        .my_sessions(token, session_id, active_only)
        .await?;
    let r = Renderer::new(state);
    let list = views
        .iter()
        .map(|v| {
            if active_only {
                r.active_session(v)
            } else {
                r.session_without_token(v)
            }
        })
        .collect();
    Ok(FapiReply::ok(Value::Array(list)))
}

/// `POST /v1/me/sessions/{id}/revoke`.
pub async fn revoke_session(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_me(
        state,
        req,
        token,
        |account, token, session| account.revoke_my_session(token, session, id),
        |view| {
            // Clerk's screens redraw the device's row from this answer, so it
            // carries where the session started, as the list does.
            let r = Renderer::new(state);
            let mut json = r.session_without_token(view);
            if let (Some(object), Some(activity)) = (
                json.as_object_mut(),
                r.active_session(view).get("latest_activity").cloned(),
            ) {
                object.insert("latest_activity".to_owned(), activity);
            }
            json
        },
    )
    .await
}

/// `POST /v1/me/change_password`.
pub async fn change_password(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let params = ChangePassword {
        current_password: req.param("current_password")?,
        new_password: req.param("new_password")?,
        sign_out_of_other_sessions: req
            .param_bool("sign_out_of_other_sessions")?
            .unwrap_or(false),
    };
    on_me(
        state,
        req,
        token,
        |account, token, session| account.change_password(token, session, params),
        |user| Renderer::new(state).user(user, Audience::Frontend, state.now()),
    )
    .await
}

/// `POST /v1/me/remove_password`.
pub async fn remove_password(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let current = req.param("current_password")?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.remove_password(token, session, current),
        |user| Renderer::new(state).user(user, Audience::Frontend, state.now()),
    )
    .await
}

/// `PATCH /v1/me/metadata`.
pub async fn merge_metadata(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let patch = req.param_object("unsafe_metadata")?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.merge_metadata(token, session, patch),
        |user| Renderer::new(state).user(user, Audience::Frontend, state.now()),
    )
    .await
}

/// `POST /v1/me/totp`.
pub async fn create_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    on_me(state, req, token, Account::create_totp, totp_json).await
}

/// `POST /v1/me/totp/attempt_verification`.
pub async fn verify_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let code = req.param("code")?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.verify_totp(token, session, code),
        totp_json,
    )
    .await
}

/// `DELETE /v1/me/totp`.
pub async fn delete_totp(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    on_me(state, req, token, Account::delete_own_totp, totp_deleted).await
}

/// `POST /v1/me/backup_codes`.
pub async fn create_backup_codes(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    on_me(state, req, token, Account::create_backup_codes, codes_json).await
}

fn totp_deleted(user: &User) -> Value {
    json!({ "object": "totp", "id": totp_id(user), "deleted": true })
}

fn codes_json(v: &BackupCodesView) -> Value {
    json!({
        "object": "backup_code",
        "id": format!("bc_{}", id_suffix(&v.user)),
        "codes": v.codes,
        "created_at": v.user.updated_at.millis(),
        "updated_at": v.user.updated_at.millis(),
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

/// `GET /v1/me/email_addresses` and `GET /v1/me/phone_numbers`: arrays,
/// as Clerk answers them (no client beside).
pub async fn addresses(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
) -> Result<FapiReply, ApiError> {
    let session_id = req.query_param("_clerk_session_id");
    let user = state
        .services
        .account
        .my_addresses(token, session_id)
        .await?;
    Ok(FapiReply::ok(Renderer::new(state).addresses(&user, kind)))
}

/// `GET /v1/me/email_addresses/{id}` (or `phone_numbers`).
pub async fn address(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_me(
        state,
        req,
        token,
        |account, token, session| account.my_address(token, session, kind, id),
        |view| Renderer::new(state).address(view),
    )
    .await
}

/// `POST /v1/me/email_addresses` (or `phone_numbers`).
pub async fn add_address(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
) -> Result<FapiReply, ApiError> {
    let value = req.param(match kind {
        AddressKind::Email => "email_address",
        AddressKind::Phone => "phone_number",
    })?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.add_address(token, session, kind, value),
        |view| Renderer::new(state).address(view),
    )
    .await
}

/// `POST .../{id}/prepare_verification`.
pub async fn prepare_address(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let strategy = req.param("strategy")?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.prepare_address(token, session, kind, id, strategy),
        |view| Renderer::new(state).address(view),
    )
    .await
}

/// `POST .../{id}/attempt_verification`.
pub async fn attempt_address(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let code = req.param("code")?;
    on_me(
        state,
        req,
        token,
        |account, token, session| account.attempt_address(token, session, kind, id, code),
        |view| Renderer::new(state).address(view),
    )
    .await
}

/// `PATCH /v1/me/phone_numbers/{id}`.
pub async fn update_phone(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let patch = MyPhonePatch {
        reserved_for_second_factor: req.param_bool("reserved_for_second_factor")?,
        default_second_factor: req.param_bool("default_second_factor")?,
    };
    on_me(
        state,
        req,
        token,
        |account, token, session| account.update_my_phone(token, session, id, patch),
        |view| Renderer::new(state).address(view),
    )
    .await
}

/// `DELETE /v1/me/email_addresses/{id}` (or `phone_numbers`).
pub async fn delete_address(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    kind: AddressKind,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_me(
        state,
        req,
        token,
        |account, token, session| account.delete_address(token, session, kind, id),
        |deleted: &Deleted| {
            let object = match deleted.kind {
                AddressKind::Email => "email_address",
                AddressKind::Phone => "phone_number",
            };
            json!({ "object": object, "id": deleted.id, "deleted": true })
        },
    )
    .await
}

/// `POST /v1/me/external_accounts` (`user.createExternalAccount`).
pub async fn connect(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
) -> Result<FapiReply, ApiError> {
    let params = Connect {
        strategy: req.param("strategy")?,
        redirect_url: req.param("redirect_url")?,
        bind_to_cookie: auth.channel == Channel::Cookie,
    };
    on_me(
        state,
        req,
        auth.token.as_deref(),
        |account, token, session| account.connect_external_account(token, session, params),
        |pending| Renderer::new(state).pending_connection(pending),
    )
    .await
}

/// `DELETE /v1/me/external_accounts/{id}`.
pub async fn disconnect(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_me(
        state,
        req,
        token,
        |account, token, session| account.disconnect_external_account(token, session, id),
        |id: &String| json!({ "object": "external_account", "id": id, "deleted": true }),
    )
    .await
}

//! `/v1/client/sign_ups`: sign-ups and the verification of their addresses.

use std::future::Future;

use crate::error::ApiError;
use latch_core::Error;
use latch_core::service::{
    AttemptVerification, CreateSignUp, Outcome, PrepareVerification, SignUpFields, SignUpView,
    SignUps, UpdateSignUp,
};

use super::{Channel, ClientAuth, FapiReply, wrap};
use crate::ApiState;
use crate::client_ip::{client_ip, session_origin};
use crate::http::ApiRequest;
use crate::render::Renderer;

/// The call-wrap shape every sign-up handler shares (see `sign_ins`).
async fn on_sign_ups<'a, F>(
    state: &'a ApiState,
    req: &'a ApiRequest,
    call: impl FnOnce(&'a SignUps) -> F,
) -> Result<FapiReply, ApiError>
where
    F: Future<Output = Result<Outcome<SignUpView>, Error>>,
{
    let outcome = call(&state.services.sign_ups).await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.sign_up(v)))
}

/// The fields `create` and `update` take, as clerk-js sends them.
fn fields(req: &ApiRequest) -> Result<SignUpFields, ApiError> {
    Ok(SignUpFields {
        email_address: req.param("email_address")?,
        phone_number: req.param("phone_number")?,
        username: req.param("username")?,
        first_name: req.param("first_name")?,
        last_name: req.param("last_name")?,
        password: req.param("password")?,
        unsafe_metadata: req.param_object("unsafe_metadata")?,
        legal_accepted: req.param_bool("legal_accepted")?,
    })
}

/// `POST /v1/client/sign_ups`.
pub async fn create(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
) -> Result<FapiReply, ApiError> {
    let params = CreateSignUp {
        fields: fields(req)?,
        strategy: req.param("strategy")?,
        redirect_url: req.param("redirect_url")?,
        action_complete_redirect_url: req.param("action_complete_redirect_url")?,
        bind_oauth_to_cookie: auth.channel == Channel::Cookie,
        transfer: req.param_bool("transfer")?.unwrap_or(false),
        keep_token: super::sign_ins::keeps_token(auth),
        client_ip: client_ip(req, &state.config.trusted_proxies),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ups(state, req, |s| s.create_sign_up(auth.token(), params)).await
}

/// `GET /v1/client/sign_ups/{id}`.
pub async fn read(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_sign_ups(state, req, |s| s.get_sign_up(token, id)).await
}

/// `PATCH /v1/client/sign_ups/{id}`.
pub async fn update(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = UpdateSignUp {
        fields: fields(req)?,
        strategy: req.param("strategy")?,
        redirect_url: req.param("redirect_url")?,
        action_complete_redirect_url: req.param("action_complete_redirect_url")?,
        bind_oauth_to_cookie: auth.channel == Channel::Cookie,
        keep_token: super::sign_ins::keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ups(state, req, |s| s.update_sign_up(auth.token(), id, params)).await
}

/// `POST /v1/client/sign_ups/{id}/prepare_verification`.
pub async fn prepare_verification(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = PrepareVerification {
        strategy: req.param("strategy")?,
    };
    on_sign_ups(state, req, |s| s.prepare_verification(token, id, params)).await
}

/// `POST /v1/client/sign_ups/{id}/attempt_verification`.
pub async fn attempt_verification(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = AttemptVerification {
        strategy: req.param("strategy")?,
        code: req.param("code")?,
        keep_token: super::sign_ins::keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ups(state, req, |s| {
        s.attempt_verification(auth.token(), id, params)
    })
    .await
}

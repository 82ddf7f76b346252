//! `/v1/client/sign_ins`: sign-in attempts and their factors.

use std::future::Future;

use crate::error::ApiError;
use latch_core::Error;
use latch_core::service::{
    AttemptFirstFactor, AttemptSecondFactor, CreateSignIn, Outcome, PrepareFirstFactor,
    PrepareSecondFactor, ResetPassword, SignInView, SignIns,
};

use super::{Channel, ClientAuth, FapiReply, wrap};
use crate::ApiState;
use crate::client_ip::{client_ip, session_origin};
use crate::http::ApiRequest;
use crate::render::Renderer;

/// A development browser's token is its identity, carried in every URL: it
/// stays the same through a sign-in, as Clerk's does, so requests already in
/// flight with it keep working. Cookie and native tokens rotate.
pub(super) fn keeps_token(auth: &ClientAuth) -> bool {
    auth.channel == Channel::DevBrowser
}

/// The call-wrap shape every sign-in handler shares: `call` runs on the
/// sign-in use cases; its error becomes the API's, the sign-in it returns is
/// rendered and wrapped with the client.
async fn on_sign_ins<'a, F>(
    state: &'a ApiState,
    req: &'a ApiRequest,
    call: impl FnOnce(&'a SignIns) -> F,
) -> Result<FapiReply, ApiError>
where
    F: Future<Output = Result<Outcome<SignInView>, Error>>,
{
    let outcome = call(&state.services.sign_ins).await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.sign_in(v)))
}

/// `POST /v1/client/sign_ins`.
pub async fn create(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
) -> Result<FapiReply, ApiError> {
    let params = CreateSignIn {
        identifier: req.param("identifier")?,
        strategy: req.param("strategy")?,
        password: req.param("password")?,
        redirect_url: req.param("redirect_url")?,
        action_complete_redirect_url: req.param("action_complete_redirect_url")?,
        bind_oauth_to_cookie: auth.channel == Channel::Cookie,
        keep_token: keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
        client_ip: client_ip(req, &state.config.trusted_proxies),
        transfer: req.param_bool("transfer")?.unwrap_or(false),
    };
    on_sign_ins(state, req, |s| s.create_sign_in(auth.token(), params)).await
}

/// `GET /v1/client/sign_ins/{id}`.
pub async fn read(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    on_sign_ins(state, req, |s| s.get_sign_in(token, id)).await
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`.
pub async fn prepare_first_factor(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = PrepareFirstFactor {
        strategy: req.param("strategy")?,
        email_address_id: req.param("email_address_id")?,
        phone_number_id: req.param("phone_number_id")?,
        redirect_url: req.param("redirect_url")?,
        action_complete_redirect_url: req.param("action_complete_redirect_url")?,
        bind_oauth_to_cookie: auth.channel == Channel::Cookie,
    };
    on_sign_ins(state, req, |s| {
        s.prepare_first_factor(auth.token(), id, params)
    })
    .await
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`.
pub async fn attempt_first_factor(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = AttemptFirstFactor {
        strategy: req.param("strategy")?,
        password: req.param("password")?,
        code: req.param("code")?,
        keep_token: keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ins(state, req, |s| {
        s.attempt_first_factor(auth.token(), id, params)
    })
    .await
}

/// `POST /v1/client/sign_ins/{id}/prepare_second_factor`.
pub async fn prepare_second_factor(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = PrepareSecondFactor {
        strategy: req.param("strategy")?,
        phone_number_id: req.param("phone_number_id")?,
        email_address_id: req.param("email_address_id")?,
    };
    on_sign_ins(state, req, |s| s.prepare_second_factor(token, id, params)).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`.
pub async fn attempt_second_factor(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = AttemptSecondFactor {
        strategy: req.param("strategy")?,
        code: req.param("code")?,
        keep_token: keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ins(state, req, |s| {
        s.attempt_second_factor(auth.token(), id, params)
    })
    .await
}

/// `POST /v1/client/sign_ins/{id}/reset_password`.
pub async fn reset_password(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let params = ResetPassword {
        password: req.param("password")?,
        sign_out_of_other_sessions: req
            .param_bool("sign_out_of_other_sessions")?
            .unwrap_or(false),
        keep_token: keeps_token(auth),
        origin: session_origin(req, &state.config.trusted_proxies),
    };
    on_sign_ins(state, req, |s| s.reset_password(auth.token(), id, params)).await
}

//! `/v1/client/sign_ins`: sign-in attempts and their factors.

use crate::error::ApiError;
use latch_core::Error;
use latch_core::service::{
    AttemptFirstFactor, AttemptSecondFactor, CreateSignIn, Outcome, PrepareFirstFactor,
    PrepareSecondFactor, ResetPassword, SignInView,
};

use super::{Channel, ClientAuth, FapiReply, wrap};
use crate::http::ApiRequest;
use crate::{ApiState, render};

/// A development browser's token is its identity, carried in every URL: it
/// stays the same through a sign-in, as Clerk's does, so requests already in
/// flight with it keep working. Cookie and native tokens rotate.
fn keeps_token(auth: &ClientAuth) -> bool {
    auth.channel == Channel::DevBrowser
}

/// Every sign-in handler answers the same way: the use case's error as the
/// API's, or the sign-in rendered and wrapped with the client.
fn reply(
    state: &ApiState,
    result: Result<Outcome<SignInView>, Error>,
) -> Result<FapiReply, ApiError> {
    Ok(wrap(state, result?, |v| {
        render::sign_in(v, state.services.settings())
    }))
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
    };
    let sign_ins = &state.services.sign_ins;
    reply(state, sign_ins.create_sign_in(auth.token(), params).await)
}

/// `GET /v1/client/sign_ins/{id}`.
pub async fn read(state: &ApiState, token: Option<&str>, id: &str) -> Result<FapiReply, ApiError> {
    reply(state, state.services.sign_ins.get_sign_in(token, id).await)
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`.
pub async fn prepare_first_factor(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let token = auth.token();
    let params = PrepareFirstFactor {
        strategy: req.param("strategy")?,
        email_address_id: req.param("email_address_id")?,
        phone_number_id: req.param("phone_number_id")?,
        redirect_url: req.param("redirect_url")?,
        action_complete_redirect_url: req.param("action_complete_redirect_url")?,
        bind_oauth_to_cookie: auth.channel == Channel::Cookie,
    };
    let sign_ins = &state.services.sign_ins;
    reply(
        state,
        sign_ins.prepare_first_factor(token, id, params).await,
    )
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
    };
    let sign_ins = &state.services.sign_ins;
    reply(
        state,
        sign_ins
            .attempt_first_factor(auth.token(), id, params)
            .await,
    )
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
    let sign_ins = &state.services.sign_ins;
    reply(
        state,
        sign_ins.prepare_second_factor(token, id, params).await,
    )
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
    };
    let sign_ins = &state.services.sign_ins;
    reply(
        state,
        sign_ins
            .attempt_second_factor(auth.token(), id, params)
            .await,
    )
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
    };
    let sign_ins = &state.services.sign_ins;
    reply(
        state,
        sign_ins.reset_password(auth.token(), id, params).await,
    )
}

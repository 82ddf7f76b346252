//! `/v1/client/sessions`: the client's sessions and their tokens.

use serde_json::json;

use crate::error::ApiError;
use latch_core::model::SessionStatus;

use super::{FapiReply, wrap};
use crate::ApiState;
use crate::http::ApiRequest;
use crate::render::Renderer;

/// `POST /v1/client/sessions/{id}/touch` (`setActive`).
pub async fn touch(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let r = Renderer::for_client(state, req);
    Ok(wrap(
        &r,
        state.services.sessions.touch_session(token, id).await?,
        |s| r.session(s),
    ))
}

/// `POST /v1/client/sessions/{id}/end` (`Ended`) and `.../remove`
/// (`Removed`).
pub async fn close(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
    status: SessionStatus,
) -> Result<FapiReply, ApiError> {
    let r = Renderer::for_client(state, req);
    let outcome = state
        .services
        .sessions
        .close_session(token, id, status)
        .await?;
    Ok(wrap(&r, outcome, |s| r.session(s)))
}

/// `DELETE /v1/client/sessions` (`signOut`).
pub async fn end_all(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let r = Renderer::for_client(state, req);
    let outcome = state.services.sessions.end_all_sessions(token).await?;
    Ok(wrap(&r, outcome, |s| r.client(s)))
}

/// `POST /v1/client/sessions/{id}/tokens` (`getToken`): answered unwrapped,
/// as Clerk does.
pub async fn tokens(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let claims = state.services.sessions.session_token(token, id).await?;
    // The page that asked (a verifier's `authorizedParties` checks it), or the
    // Frontend API itself for native apps and servers, which send no Origin.
    let azp = req.header("origin").unwrap_or(&state.config.issuer);
    let jwt = state
        .keys
        .session_token(&claims, &state.config.issuer, azp)?;
    Ok(FapiReply::ok(json!({ "object": "token", "jwt": jwt })))
}

/// `POST /v1/client/sessions/{id}/verify` (`session.startVerification`).
pub async fn start_verification(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let level = req.param("level")?;
    let outcome = state
        .services
        .account
        .start_reverification(token, id, level)
        .await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.reverification(v)))
}

/// `POST /v1/client/sessions/{id}/verify/prepare_first_factor`: a code.
pub async fn prepare_verification(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let strategy = req.param("strategy")?;
    let target = match req.param("email_address_id")? {
        Some(email) => Some(email),
        None => req.param("phone_number_id")?,
    };
    let outcome = state
        .services
        .account
        .prepare_reverification(token, id, strategy, target)
        .await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.reverification(v)))
}

/// `POST /v1/client/sessions/{id}/verify/attempt_first_factor`.
pub async fn verify_first_factor(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let (strategy, password, code) = (
        req.param("strategy")?,
        req.param("password")?,
        req.param("code")?,
    );
    let outcome = state
        .services
        .account
        .reverify_first_factor(token, id, strategy, password, code)
        .await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.reverification(v)))
}

/// `POST /v1/client/sessions/{id}/verify/attempt_second_factor`.
pub async fn verify_second_factor(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, ApiError> {
    let (strategy, code) = (req.param("strategy")?, req.param("code")?);
    let outcome = state
        .services
        .account
        .reverify_second_factor(token, id, strategy, code)
        .await?;
    let r = Renderer::for_client(state, req);
    Ok(wrap(&r, outcome, |v| r.reverification(v)))
}

//! The Frontend API: what clerk-js calls on behalf of one browser or device.
//! This module routes and carries the client token; the handlers live in one
//! module per Clerk resource.

mod client;
mod dev_browser;
mod environment;
mod me;
mod sessions;
mod sign_ins;

use serde_json::Value;
use warp::http::{Method, header};

use crate::error::{ApiError, EdgeError};
use latch_core::service::{Outcome, Throttled};

use crate::client_ip::client_ip;
use crate::http::{ApiRequest, ApiResponse};
use crate::{ApiState, render};

/// How the request named its client, and so how the answer must carry a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `?_is_native=1` with the raw token in `authorization`; a new one is sent
    /// back in the same header.
    Native,
    /// Development browsers: `?__clerk_db_jwt=TOKEN`, kept through sign-ins; a
    /// new client is announced with `Clerk-Db-Jwt`.
    DevBrowser,
    /// Browsers: the HttpOnly `__client` cookie.
    Cookie,
}

pub const CLIENT_COOKIE: &str = "__client";

/// The client token of a request and the channel it came through.
pub struct ClientAuth {
    pub channel: Channel,
    pub token: Option<String>,
}

impl ClientAuth {
    /// Reads the client token; `__clerk_db_jwt` counts only when `dev_browsers`
    /// is on (development instances), so production tokens never ride in URLs.
    pub fn of(req: &ApiRequest, dev_browsers: bool) -> Self {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        if matches!(req.query_param("_is_native"), Some("1") | Some("true")) {
            let raw = req.header("authorization").unwrap_or("");
            let raw = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
            return Self {
                channel: Channel::Native,
                token: nonempty(raw),
            };
        }
        if let Some(db) = req.query_param("__clerk_db_jwt").filter(|_| dev_browsers) {
            return Self {
                channel: Channel::DevBrowser,
                token: nonempty(db),
            };
        }
        Self {
            channel: Channel::Cookie,
            token: req.cookie(CLIENT_COOKIE).and_then(nonempty),
        }
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// A Frontend API answer before the client token is attached.
pub struct FapiReply {
    pub response: ApiResponse,
    /// A token the device must use from now on.
    pub new_token: Option<String>,
    /// The client is gone: forget its token.
    pub client_gone: bool,
}

impl FapiReply {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            response: ApiResponse::ok(body),
            new_token: None,
            client_gone: false,
        }
    }
}

/// Routes a Frontend API request; `None` when no route has this path.
pub async fn handle(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    segs: &[&str],
) -> Option<Result<FapiReply, ApiError>> {
    let m = &req.method;
    let token = auth.token();
    let result = match (m.clone(), segs) {
        (Method::GET | Method::PATCH, ["v1", "environment"]) => environment::read(state),
        (Method::POST, ["v1", "dev_browser"]) => dev_browser::create(state).await,
        (_, ["v1", "environment" | "dev_browser"]) => Err(method_not_allowed()),
        (_, ["v1", "me", rest @ ..]) => {
            if let Err(err) = check_origin(state, req, auth) {
                return Some(Err(err));
            }
            if let Err(err) = check_dev_browser(state, auth).await {
                return Some(Err(err));
            }
            match (m.clone(), rest) {
                (Method::GET, []) => me::read(state, req, token).await,
                (Method::POST, ["totp"]) => me::create_totp(state, req, token).await,
                (Method::DELETE, ["totp"]) => me::delete_totp(state, req, token).await,
                (Method::POST, ["totp", "attempt_verification"]) => {
                    me::verify_totp(state, req, token).await
                }
                (Method::POST, ["backup_codes"]) => {
                    me::create_backup_codes(state, req, token).await
                }
                (_, [] | ["totp"] | ["totp", "attempt_verification"] | ["backup_codes"]) => {
                    Err(method_not_allowed())
                }
                _ => return None,
            }
        }
        (_, ["v1", "client", rest @ ..]) => {
            if let Err(err) = check_origin(state, req, auth) {
                return Some(Err(err));
            }
            if let Err(err) = check_dev_browser(state, auth).await {
                return Some(Err(err));
            }
            // A client claiming its OAuth callback (clerk-js reloads with the
            // nonce the callback sent to its redirect URL) goes on with the
            // token that claim gave it.
            let mut claimed = None;
            if let Some(nonce) = req
                .query_param("rotating_token_nonce")
                .filter(|n| !n.is_empty())
            {
                match state
                    .latch
                    .claim_oauth(token, nonce, auth.channel == Channel::DevBrowser)
                    .await
                {
                    Ok(new_token) => claimed = new_token,
                    Err(err) => return Some(Err(err.into())),
                }
            }
            let token = claimed.as_deref().or(token);
            let result = client_route(state, req, auth, token, m, rest).await?;
            result.map(|mut reply| {
                if reply.new_token.is_none() {
                    reply.new_token = claimed;
                }
                reply
            })
        }
        _ => return None,
    };
    Some(result)
}

/// The routes under `/v1/client`.
async fn client_route(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    token: Option<&str>,
    m: &Method,
    rest: &[&str],
) -> Option<Result<FapiReply, ApiError>> {
    let throttled = match (m.clone(), rest) {
        (Method::POST, ["sign_ins"]) => Some(Throttled::CreateSignIn),
        (
            Method::POST,
            [
                "sign_ins",
                _,
                "attempt_first_factor" | "attempt_second_factor" | "reset_password",
            ],
        ) => Some(Throttled::Attempt),
        (
            Method::POST,
            [
                "sign_ins",
                _,
                "prepare_first_factor" | "prepare_second_factor",
            ],
        ) => Some(Throttled::Prepare),
        _ => None,
    };
    if let Some(what) = throttled {
        let ip = client_ip(req, &state.config.trusted_proxies);
        if let Err(err) = state.latch.throttle(what, ip).await {
            return Some(Err(err.into()));
        }
    }
    Some(match (m.clone(), rest) {
        (Method::GET, []) => client::read(state, token).await,
        (Method::PUT | Method::POST, []) => client::create(state).await,
        (Method::DELETE, []) => client::delete(state, token).await,
        (Method::POST, ["sign_ins"]) => sign_ins::create(state, req, auth).await,
        (Method::GET, ["sign_ins", id]) => sign_ins::read(state, token, id).await,
        (Method::POST, ["sign_ins", id, "prepare_first_factor"]) => {
            sign_ins::prepare_first_factor(state, req, auth, id).await
        }
        (Method::POST, ["sign_ins", id, "attempt_first_factor"]) => {
            sign_ins::attempt_first_factor(state, req, auth, id).await
        }
        (Method::POST, ["sign_ins", id, "reset_password"]) => {
            sign_ins::reset_password(state, req, auth, id).await
        }
        (Method::POST, ["sign_ins", id, "prepare_second_factor"]) => {
            sign_ins::prepare_second_factor(state, req, token, id).await
        }
        (Method::POST, ["sign_ins", id, "attempt_second_factor"]) => {
            sign_ins::attempt_second_factor(state, req, auth, id).await
        }
        (Method::DELETE, ["sessions"]) => sessions::end_all(state, token).await,
        (Method::POST, ["sessions", id, "touch"]) => sessions::touch(state, token, id).await,
        (Method::POST, ["sessions", id, "end"]) => sessions::end(state, token, id).await,
        (Method::POST, ["sessions", id, "remove"]) => sessions::remove(state, token, id).await,
        (Method::POST, ["sessions", id, "tokens"]) => sessions::tokens(state, req, token, id).await,
        (Method::POST, ["sessions", _, "tokens", _template]) => {
            Err(EdgeError::NotServed("JWT template").into())
        }
        (_, [] | ["sessions"] | ["sessions", _, "touch" | "end" | "remove" | "tokens"]) => {
            Err(method_not_allowed())
        }
        (_, ["sign_ins"] | ["sign_ins", _])
        | (
            _,
            [
                "sign_ins",
                _,
                "attempt_first_factor"
                | "reset_password"
                | "prepare_first_factor"
                | "prepare_second_factor"
                | "attempt_second_factor",
            ],
        ) => Err(method_not_allowed()),
        _ => return None,
    })
}

/// `{ "response": ..., "client": ... }` with the client as it is now.
fn wrap<T>(
    state: &ApiState,
    outcome: Outcome<T>,
    render_response: impl FnOnce(&T) -> Value,
) -> FapiReply {
    let client = outcome
        .client
        .as_ref()
        .map(|s| render::client(s, state.latch.settings()));
    // Moved into place: `json!` would copy both trees.
    let mut body = serde_json::Map::with_capacity(2);
    body.insert("response".into(), render_response(&outcome.response));
    body.insert("client".into(), client.unwrap_or(Value::Null));
    FapiReply {
        response: ApiResponse::ok(Value::Object(body)),
        new_token: outcome.new_token,
        client_gone: false,
    }
}

/// The `__client` cookie travels with any request the browser makes, so a
/// page on another origin could act with it: cookie requests that change
/// state must come from an allowed origin or from the API's own.
fn check_origin(state: &ApiState, req: &ApiRequest, auth: &ClientAuth) -> Result<(), ApiError> {
    if auth.channel != Channel::Cookie || req.method == Method::GET {
        return Ok(());
    }
    let Some(origin) = req.header("origin") else {
        return Ok(());
    };
    let own = req.header("host").is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host)
    });
    if own || state.config.allows_origin(origin) {
        return Ok(());
    }
    Err(EdgeError::OriginInvalid.into())
}

/// A development browser whose token names no client must start over; clerk-js
/// does so on this error.
async fn check_dev_browser(state: &ApiState, auth: &ClientAuth) -> Result<(), ApiError> {
    if auth.channel != Channel::DevBrowser {
        return Ok(());
    }
    if state.latch.find_client(auth.token()).await?.is_some() {
        return Ok(());
    }
    Err(EdgeError::DevBrowserUnauthenticated.into())
}

pub fn method_not_allowed() -> ApiError {
    EdgeError::MethodNotAllowed.into()
}

/// Attaches the client token the way the request carried it.
pub fn attach_token(
    state: &ApiState,
    auth: &ClientAuth,
    reply: &FapiReply,
    mut response: ApiResponse,
) -> ApiResponse {
    match auth.channel {
        // Only a new token, or "" for a forgotten client, is sent: echoing the
        // presented one could hand back a token a racing request just rotated.
        Channel::Native => {
            if let Some(token) = &reply.new_token {
                response = response.with_header(header::AUTHORIZATION, token);
            } else if reply.client_gone {
                response = response.with_header(header::AUTHORIZATION, "");
            }
        }
        Channel::DevBrowser => {
            if let Some(token) = &reply.new_token {
                response =
                    response.with_header(header::HeaderName::from_static("clerk-db-jwt"), token);
            }
        }
        Channel::Cookie => {
            if let Some(token) = &reply.new_token {
                response =
                    response.with_header(header::SET_COOKIE, &state.config.client_cookie(token));
            } else if reply.client_gone {
                response =
                    response.with_header(header::SET_COOKIE, &state.config.clear_client_cookie());
            }
        }
    }
    response
}

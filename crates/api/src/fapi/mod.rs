//! The Frontend API: what clerk-js calls on behalf of one browser or device.
//! This module runs a request the route table matched (guards, rate-limit
//! step, handler) and carries the client token; the handlers live in one
//! module per Clerk resource.

pub(crate) mod client;
pub(crate) mod dev_browser;
pub(crate) mod environment;
pub(crate) mod me;
pub(crate) mod sessions;
pub(crate) mod sign_ins;
pub(crate) mod sign_ups;

use serde_json::Value;
use warp::http::{Method, header};

use latch_core::service::Outcome;

use crate::ApiState;
use crate::client_ip::client_ip;
use crate::error::{ApiError, EdgeError};
use crate::http::{ApiRequest, ApiResponse};
use crate::render::Renderer;
use crate::routes::{Ctx, Found, Guard, Handler};

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
    /// A `__client` cookie sent twice with two values is refused.
    pub fn of(req: &ApiRequest, dev_browsers: bool) -> Result<Self, ApiError> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        if matches!(req.query_param("_is_native"), Some("1") | Some("true")) {
            let raw = req.header("authorization").unwrap_or("");
            let raw = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
            return Ok(Self {
                channel: Channel::Native,
                token: nonempty(raw),
            });
        }
        if let Some(db) = req.query_param("__clerk_db_jwt").filter(|_| dev_browsers) {
            return Ok(Self {
                channel: Channel::DevBrowser,
                token: nonempty(db),
            });
        }
        Ok(Self {
            channel: Channel::Cookie,
            token: req.cookie(CLIENT_COOKIE)?.and_then(nonempty),
        })
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
    /// For browsers: `__client_uat` as this answer leaves the client (see
    /// [`client_uat`]), when the answer shows the client.
    pub client_uat: Option<i64>,
}

/// What `__client_uat` says of a client: when it last changed (Unix
/// seconds) while it holds an active session, else 0. Never later than a
/// session token minted for this answer, whose `iat` is now.
pub(crate) fn client_uat(snapshot: &latch_core::service::ClientSnapshot) -> i64 {
    if snapshot.sessions.is_empty() {
        0
    } else {
        (snapshot.client.updated_at.millis() / 1000).min(snapshot.now.secs())
    }
}

impl FapiReply {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            response: ApiResponse::ok(body),
            new_token: None,
            client_gone: false,
            client_uat: None,
        }
    }
}

/// Runs a Frontend API request: the guard of its path (known route or not),
/// then the route's step and its handler; `None` when no route has the path.
pub(crate) async fn run(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    guard: Guard,
    found: &Found<'_>,
    trace_id: &str,
) -> Option<Result<FapiReply, ApiError>> {
    if guard != Guard::Open {
        if let Err(err) = check_origin(state, req, auth) {
            return Some(Err(err));
        }
        if let Err(err) = check_dev_browser(state, auth).await {
            return Some(Err(err));
        }
    }
    // A client claiming its OAuth callback (clerk-js reloads with the nonce
    // the callback sent to its redirect URL) goes on with the token that
    // claim gave it.
    let mut claimed = None;
    if guard == Guard::Client
        && let Some(nonce) = req
            .query_param("rotating_token_nonce")
            .filter(|n| !n.is_empty())
    {
        match state
            .services
            .claim_oauth(
                auth.token(),
                nonce,
                auth.channel == Channel::DevBrowser,
                &crate::client_ip::session_origin(req, &state.config.trusted_proxies),
            )
            .await
        {
            Ok(new_token) => claimed = new_token,
            Err(err) => return Some(Err(err.into())),
        }
    }
    let (route, params) = match found {
        Found::Route(route, params) => (*route, params),
        Found::WrongMethod { .. } => return Some(Err(method_not_allowed())),
        Found::NotFound => return None,
    };
    let Handler::Frontend(handler) = route.handler else {
        return None;
    };
    if let Some(step) = route.step {
        let ip = client_ip(req, &state.config.trusted_proxies);
        if let Err(err) = state.services.rate_limits.throttle(step, ip).await {
            return Some(Err(err.into()));
        }
    }
    let ctx = Ctx {
        state,
        req,
        auth,
        token: claimed.as_deref().or(auth.token()),
        trace_id,
        params,
    };
    let result = handler(&ctx).await;
    Some(result.map(|mut reply| {
        if reply.new_token.is_none() {
            reply.new_token = claimed;
        }
        reply
    }))
}

/// `{ "response": ..., "client": ... }` with the client as it is now.
fn wrap<T>(
    r: &Renderer<'_>,
    outcome: Outcome<T>,
    render_response: impl FnOnce(&T) -> Value,
) -> FapiReply {
    let client = outcome.client.as_ref().map(|s| r.client(s));
    // Moved into place: `json!` would copy both trees.
    let mut body = serde_json::Map::with_capacity(2);
    body.insert("response".into(), render_response(&outcome.response));
    body.insert("client".into(), client.unwrap_or(Value::Null));
    FapiReply {
        response: ApiResponse::ok(Value::Object(body)),
        new_token: outcome.new_token,
        client_gone: false,
        client_uat: outcome.client.as_ref().map(client_uat),
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
    // The API's own origin (its hosted pages): the scheme the request
    // came by, or HTTPS when cookies are Secure (behind a proxy that
    // terminates TLS), with its host and port. Plain `http://` on the same
    // host is another origin when Latch is reached over HTTPS.
    let by = crate::client_ip::request_scheme(&state.config, req);
    let own = req.header("host").is_some_and(|host| {
        origin.split_once("://").is_some_and(|(s, authority)| {
            let scheme_ok = s.eq_ignore_ascii_case(by)
                || (state.config.secure_cookies && s.eq_ignore_ascii_case("https"));
            scheme_ok && authority.eq_ignore_ascii_case(host)
        })
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
    if state
        .services
        .clients
        .find_client(auth.token())
        .await?
        .is_some()
    {
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
                response = response.with_header(header::SET_COOKIE, &state.client_cookie(token));
            } else if reply.client_gone {
                response =
                    response.with_header(header::SET_COOKIE, &state.config.clear_client_cookie());
            }
            // What the application's server-side SDK reads to know whether
            // anyone is signed in, as Clerk's Frontend API sets it.
            let uat = if reply.client_gone {
                Some(0)
            } else {
                reply.client_uat
            };
            if let Some(uat) = uat {
                for cookie in crate::handshake::client_uat_cookies(state, uat) {
                    response = response.with_header(header::SET_COOKIE, &cookie);
                }
            }
        }
    }
    response
}

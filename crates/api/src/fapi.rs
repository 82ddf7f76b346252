//! The Frontend API: what clerk-js calls on behalf of one browser or device.

use serde_json::{Value, json};
use warp::http::{Method, header};

use latch_core::model::{Environment, SessionStatus};
use latch_core::service::{AttemptFirstFactor, CreateSignIn, Outcome};
use latch_core::{Error, ErrorCode, ErrorKind};

use crate::http::{ApiRequest, ApiResponse};
use crate::{ApiState, render};

/// How the request named its client, and so how the answer must carry a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `?_is_native=1` with the raw token in `authorization`, echoed back.
    Native,
    /// Development browsers: `?__clerk_db_jwt=TOKEN`, rotated with `Clerk-Db-Jwt`.
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

    fn token(&self) -> Option<&str> {
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
    fn ok(body: Value) -> Self {
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
) -> Option<Result<FapiReply, Error>> {
    let m = &req.method;
    let result = match segs {
        ["v1", "environment"] => match *m {
            Method::GET | Method::PATCH => Ok(FapiReply::ok(render::environment(
                state.latch.settings(),
                &state.config.instance_id,
            ))),
            _ => Err(method_not_allowed()),
        },
        ["v1", "dev_browser"] => match *m {
            Method::POST => dev_browser(state).await,
            _ => Err(method_not_allowed()),
        },
        _ if segs.first() == Some(&"v1") && segs.get(1) == Some(&"client") => {
            if let Err(err) = check_origin(state, req, auth) {
                return Some(Err(err));
            }
            if let Err(err) = check_dev_browser(state, auth).await {
                return Some(Err(err));
            }
            client_routes(state, req, auth, &segs[2..]).await?
        }
        _ => return None,
    };
    Some(result)
}

async fn client_routes(
    state: &ApiState,
    req: &ApiRequest,
    auth: &ClientAuth,
    rest: &[&str],
) -> Option<Result<FapiReply, Error>> {
    let latch = &state.latch;
    let token = auth.token();
    let m = req.method.clone();
    Some(match (m, rest) {
        (Method::GET, []) => latch.get_client(token).await.map(|snapshot| {
            let client = snapshot.map(|s| render::client(&s, latch.settings()));
            FapiReply::ok(json!({ "response": client, "client": client }))
        }),
        (Method::PUT | Method::POST, []) => latch
            .create_client()
            .await
            .map(|o| wrap(state, o, |s| render::client(s, latch.settings()))),
        (Method::DELETE, []) => latch.delete_client(token).await.map(|o| {
            let response = o
                .response
                .as_ref()
                .map(|s| render::client(s, latch.settings()));
            FapiReply {
                response: ApiResponse::ok(json!({ "response": response, "client": null })),
                new_token: None,
                client_gone: true,
            }
        }),
        (_, []) => Err(method_not_allowed()),

        (Method::POST, ["sign_ins"]) => match create_sign_in_params(req) {
            Ok(params) => latch
                .create_sign_in(token, params)
                .await
                .map(|o| wrap(state, o, |v| render::sign_in(v, latch.settings()))),
            Err(err) => Err(err),
        },
        (Method::GET, ["sign_ins", id]) => latch
            .get_sign_in(token, id)
            .await
            .map(|o| wrap(state, o, |v| render::sign_in(v, latch.settings()))),
        (Method::POST, ["sign_ins", id, "attempt_first_factor"]) => match attempt_params(req) {
            Ok(params) => latch
                .attempt_first_factor(token, id, params)
                .await
                .map(|o| wrap(state, o, |v| render::sign_in(v, latch.settings()))),
            Err(err) => Err(err),
        },
        (Method::POST, ["sign_ins", id, "prepare_first_factor"]) => match req.param("strategy") {
            Ok(strategy) => latch
                .prepare_first_factor(token, id, strategy.as_deref())
                .await
                .map(|o| wrap(state, o, |v| render::sign_in(v, latch.settings()))),
            Err(err) => Err(err),
        },
        (
            Method::POST,
            [
                "sign_ins",
                id,
                "prepare_second_factor" | "attempt_second_factor",
            ],
        ) => match req.param("strategy") {
            Ok(strategy) => latch
                .second_factor_step(token, id, strategy.as_deref())
                .await
                .map(|o| wrap(state, o, |v| render::sign_in(v, latch.settings()))),
            Err(err) => Err(err),
        },
        (_, ["sign_ins", ..]) if known_sign_in_path(rest) => Err(method_not_allowed()),

        (Method::DELETE, ["sessions"]) => latch
            .end_all_sessions(token)
            .await
            .map(|o| wrap(state, o, |s| render::client(s, latch.settings()))),
        (Method::POST, ["sessions", id, "touch"]) => latch
            .touch_session(token, id)
            .await
            .map(|o| wrap(state, o, render::session_fapi)),
        (Method::POST, ["sessions", id, "end"]) => latch
            .close_session(token, id, SessionStatus::Ended)
            .await
            .map(|o| wrap(state, o, render::session_fapi)),
        (Method::POST, ["sessions", id, "remove"]) => latch
            .close_session(token, id, SessionStatus::Removed)
            .await
            .map(|o| wrap(state, o, render::session_fapi)),
        (Method::POST, ["sessions", id, "tokens"]) => session_token(state, req, token, id).await,
        (Method::POST, ["sessions", _, "tokens", _template]) => {
            Err(Error::not_found("JWT template"))
        }
        (_, ["sessions"] | ["sessions", _, "touch" | "end" | "remove" | "tokens"]) => {
            Err(method_not_allowed())
        }
        _ => return None,
    })
}

fn known_sign_in_path(rest: &[&str]) -> bool {
    matches!(
        rest,
        ["sign_ins"]
            | ["sign_ins", _]
            | [
                "sign_ins",
                _,
                "attempt_first_factor"
                    | "prepare_first_factor"
                    | "prepare_second_factor"
                    | "attempt_second_factor"
            ]
    )
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
    FapiReply {
        response: ApiResponse::ok(
            json!({ "response": render_response(&outcome.response), "client": client }),
        ),
        new_token: outcome.new_token,
        client_gone: false,
    }
}

fn create_sign_in_params(req: &ApiRequest) -> Result<CreateSignIn, Error> {
    Ok(CreateSignIn {
        identifier: req.param("identifier")?,
        strategy: req.param("strategy")?,
        password: req.param("password")?,
    })
}

fn attempt_params(req: &ApiRequest) -> Result<AttemptFirstFactor, Error> {
    Ok(AttemptFirstFactor {
        strategy: req.param("strategy")?,
        password: req.param("password")?,
    })
}

async fn session_token(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
    id: &str,
) -> Result<FapiReply, Error> {
    let claims = state.latch.session_token(token, id).await?;
    // The page that asked, when it is one we serve; otherwise (native apps,
    // servers) the Frontend API itself.
    let azp = req
        .header("origin")
        .filter(|o| state.config.allows_origin(o))
        .unwrap_or(&state.config.issuer);
    let jwt = state
        .keys
        .session_token(&claims, &state.config.issuer, azp)?;
    // Clerk answers this one unwrapped.
    Ok(FapiReply::ok(json!({ "object": "token", "jwt": jwt })))
}

async fn dev_browser(state: &ApiState) -> Result<FapiReply, Error> {
    if state.latch.settings().environment != Environment::Development {
        return Err(Error::not_found("dev browser"));
    }
    let token = state.latch.create_dev_browser().await?;
    let body = json!({ "object": "dev_browser", "id": token, "token": token });
    Ok(FapiReply {
        response: ApiResponse::ok(body),
        new_token: None,
        client_gone: false,
    })
}

/// The `__client` cookie travels with any request the browser makes, so a
/// page on another origin could act with it: cookie requests that change
/// state must come from an allowed origin or from the API's own.
fn check_origin(state: &ApiState, req: &ApiRequest, auth: &ClientAuth) -> Result<(), Error> {
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
    Err(Error::new(
        ErrorKind::Forbidden,
        ErrorCode::OriginInvalid,
        "Origin not allowed",
        "Requests with the client cookie must come from an allowed origin (server.allowed_origins).",
    ))
}

/// A development browser whose token names no client must start over; clerk-js
/// does so on this error.
async fn check_dev_browser(state: &ApiState, auth: &ClientAuth) -> Result<(), Error> {
    if auth.channel != Channel::DevBrowser {
        return Ok(());
    }
    if state.latch.find_client(auth.token()).await?.is_some() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unauthenticated,
        ErrorCode::DevBrowserUnauthenticated,
        "Unable to authenticate the development browser",
        "The development browser token is unknown or expired. Create a new one with POST /v1/dev_browser.",
    ))
}

pub fn method_not_allowed() -> Error {
    Error::new(
        ErrorKind::MethodNotAllowed,
        ErrorCode::MethodNotAllowed,
        "Method not allowed",
        "This resource does not support this method.",
    )
}

/// Attaches the client token the way the request carried it.
pub fn attach_token(
    state: &ApiState,
    auth: &ClientAuth,
    reply: &FapiReply,
    mut response: ApiResponse,
) -> ApiResponse {
    let current = reply.new_token.as_deref().or(if reply.client_gone {
        None
    } else {
        auth.token()
    });
    match auth.channel {
        Channel::Native => {
            response = response.with_header(header::AUTHORIZATION, current.unwrap_or(""));
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

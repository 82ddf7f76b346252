//! A GitHub-style OAuth 2.0 provider over real HTTP on loopback.
//!
//! It serves GitHub's paths and answers as GitHub does:
//! - `GET /login/oauth/authorize`: checks `client_id` and that
//!   `redirect_uri` is registered (else 400, no redirect), requires a PKCE
//!   S256 challenge, then either approves for the user set by
//!   [`GitHubLikeProvider::log_in_as`] (302 to `redirect_uri?code=..&state=..`)
//!   or, when told to deny, redirects with `error=access_denied`.
//! - `POST /login/oauth/access_token`: client id and secret (in the form or
//!   by basic auth), a single-use code for the same client and redirect URI,
//!   issued less than ten minutes ago, and the PKCE verifier; answers JSON
//!   (form-encoded if `Accept` does not ask for JSON). Errors come as GitHub
//!   sends them, 200 with an `error` member, or in another [`ErrorStyle`].
//! - `GET /user` and `GET /user/emails` with the access token.
//!
//! It also answers the user APIs of the other OAuth 2.0 presets from the
//! same users, so they can be tested against it: Facebook's `GET /me`
//! (which requires a correct `appsecret_proof`), X's `GET /2/users/me` and
//! Discord's `GET /users/@me`. Point a preset's `authorize_url`,
//! `token_url` and `api_base_url` at [`GitHubLikeProvider::authorize_url`],
//! [`GitHubLikeProvider::token_url`] and [`GitHubLikeProvider::api_base_url`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use warp::http::{Method, StatusCode};

use super::server::{Reply, Request, Served, find, json, random_token, redirect, reply, s256};

/// A user of the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUser {
    /// The numeric id, the identity's subject.
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// The primary email; `None` for a user with no email at all.
    pub email: Option<String>,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
}

impl OAuthUser {
    /// A user with no name and no email.
    pub fn new(id: u64, login: &str) -> Self {
        Self {
            id,
            login: login.to_owned(),
            name: None,
            email: None,
            email_verified: false,
            avatar_url: Some(format!("https://avatars.example.com/u/{id}")),
        }
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets the primary email and whether it is verified.
    pub fn with_email(mut self, email: &str, verified: bool) -> Self {
        self.email = Some(email.to_owned());
        self.email_verified = verified;
        self
    }
}

/// How the token endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpoint {
    #[default]
    Normal,
    /// 500 with an HTML page.
    ServerError,
    /// 200 with a JSON content type and a body that is not JSON.
    Garbage,
    /// Waits this long, then answers normally.
    Slow(Duration),
}

/// How token endpoint errors are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStyle {
    /// As GitHub: HTTP 200 with `{"error": .., "error_description": ..}`.
    #[default]
    GitHub,
    /// As RFC 6749: 400 (401 for client authentication) with the JSON body.
    Standard,
    /// 400 with the error as a form-encoded body.
    Form,
}

/// One request the authorize endpoint received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRecord {
    /// Every query parameter, in order.
    pub query: Vec<(String, String)>,
}

impl AuthorizeRecord {
    pub fn param(&self, name: &str) -> Option<String> {
        find(&self.query, name)
    }
}

struct Grant {
    user_id: u64,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    issued: Instant,
}

#[derive(Default)]
struct State {
    users: Vec<OAuthUser>,
    redirect_uris: Vec<String>,
    logged_in: Option<String>,
    deny: bool,
    token_endpoint: TokenEndpoint,
    error_style: ErrorStyle,
    user_api_down: bool,
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, u64>,
    /// Refresh tokens, each for one user, spent when used (rotated).
    refresh_tokens: HashMap<String, u64>,
    authorizations: Vec<AuthorizeRecord>,
    token_requests: usize,
}

struct Shared {
    client_id: String,
    client_secret: String,
    state: Mutex<State>,
}

/// A new access token (8 hours) and refresh token for `user_id`, as a
/// GitHub App with expiring tokens answers: JSON when asked for, else a
/// form body.
fn issue(state: &mut State, user_id: u64, request: &Request) -> Reply {
    let token = format!("gho_{}", random_token(27));
    state.tokens.insert(token.clone(), user_id);
    let refresh = format!("ghr_{}", random_token(27));
    state.refresh_tokens.insert(refresh.clone(), user_id);
    let wants_json = request
        .header("accept")
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let body = json!({
            "access_token": token,
            "token_type": "bearer",
            "scope": "read:user,user:email",
            "expires_in": 28800,
            "refresh_token": refresh,
        });
        json(StatusCode::OK, &body)
    } else {
        let fields = [
            ("access_token", token.as_str()),
            ("token_type", "bearer"),
            ("scope", "read:user,user:email"),
            ("expires_in", "28800"),
            ("refresh_token", refresh.as_str()),
        ];
        reply(
            StatusCode::OK,
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string(fields).unwrap(),
        )
    }
}

/// The provider; stops when dropped.
pub struct GitHubLikeProvider {
    shared: Arc<Shared>,
    served: Served,
}

impl GitHubLikeProvider {
    /// Starts the provider with these users, a fresh client id and secret,
    /// no registered redirect URI and nobody logged in.
    pub fn start(users: impl IntoIterator<Item = OAuthUser>) -> Self {
        let shared = Arc::new(Shared {
            client_id: format!("Iv1.{}", random_token(8)),
            client_secret: random_token(20),
            state: Mutex::new(State {
                users: users.into_iter().collect(),
                ..State::default()
            }),
        });
        let handler_state = Arc::clone(&shared);
        let served = Served::start(move |request| {
            let shared = Arc::clone(&handler_state);
            async move { shared.handle(request).await }
        });
        Self { shared, served }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.served.base_url()
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/login/oauth/authorize", self.base_url())
    }

    pub fn token_url(&self) -> String {
        format!("{}/login/oauth/access_token", self.base_url())
    }

    /// The base of every user API it serves (GitHub's `https://api.github.com`).
    pub fn api_base_url(&self) -> String {
        self.base_url()
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap())
    }

    /// Registers a callback URL; authorize requests must use one exactly.
    pub fn allow_redirect_uri(&self, uri: &str) {
        self.with(|s| s.redirect_uris.push(uri.to_owned()));
    }

    /// The user the authorize endpoint approves for from now on.
    pub fn log_in_as(&self, login: &str) {
        self.with(|s| {
            assert!(
                s.users.iter().any(|u| u.login == login),
                "no user {login} at the provider"
            );
            s.logged_in = Some(login.to_owned());
        });
    }

    /// While true, the user refuses: `error=access_denied`.
    pub fn deny_access(&self, deny: bool) {
        self.with(|s| s.deny = deny);
    }

    pub fn set_token_endpoint(&self, behaviour: TokenEndpoint) {
        self.with(|s| s.token_endpoint = behaviour);
    }

    pub fn set_error_style(&self, style: ErrorStyle) {
        self.with(|s| s.error_style = style);
    }

    /// While true, every user API answers 503.
    pub fn set_user_api_down(&self, down: bool) {
        self.with(|s| s.user_api_down = down);
    }

    /// Changes a user (say, verifies an email).
    pub fn update_user(&self, login: &str, change: impl FnOnce(&mut OAuthUser)) {
        self.with(|s| {
            let user = s
                .users
                .iter_mut()
                .find(|u| u.login == login)
                .unwrap_or_else(|| panic!("no user {login} at the provider"));
            change(user);
        });
    }

    /// Every authorize request so far, oldest first.
    pub fn authorizations(&self) -> Vec<AuthorizeRecord> {
        self.with(|s| s.authorizations.clone())
    }

    /// How many token requests came.
    pub fn token_requests(&self) -> usize {
        self.with(|s| s.token_requests)
    }
}

impl Shared {
    async fn handle(&self, request: Request) -> Reply {
        match (&request.method, request.path.as_str()) {
            (&Method::GET, "/login/oauth/authorize") => self.authorize(&request),
            (&Method::POST, "/login/oauth/access_token") => self.token(&request).await,
            (&Method::GET, path) => self.user_api(path, &request),
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found"),
        }
    }

    fn authorize(&self, request: &Request) -> Reply {
        let mut state = self.state.lock().unwrap();
        state.authorizations.push(AuthorizeRecord {
            query: request.query.clone(),
        });
        if request.param("client_id").as_deref() != Some(self.client_id.as_str()) {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/html",
                "<p>unknown client</p>",
            );
        }
        let Some(redirect_uri) = request
            .param("redirect_uri")
            .filter(|uri| state.redirect_uris.contains(uri))
        else {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/html",
                "<p>the redirect_uri is not registered for this application</p>",
            );
        };
        let back = |pairs: &[(&str, String)]| {
            let mut url = reqwest::Url::parse(&redirect_uri).unwrap();
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
                if let Some(state) = request.param("state") {
                    query.append_pair("state", &state);
                }
            }
            redirect(url.as_str())
        };
        let error = |code: &str, description: &str| {
            back(&[
                ("error", code.to_owned()),
                ("error_description", description.to_owned()),
            ])
        };
        if request.param("response_type").is_some_and(|t| t != "code") {
            return error("unsupported_response_type", "only code is supported");
        }
        let Some(challenge) = request.param("code_challenge") else {
            return error("invalid_request", "PKCE is required");
        };
        if request.param("code_challenge_method").as_deref() != Some("S256") {
            return error("invalid_request", "code_challenge_method must be S256");
        }
        if state.deny {
            return error(
                "access_denied",
                "The user has denied your application access.",
            );
        }
        let Some(user) = state
            .logged_in
            .as_ref()
            .and_then(|login| state.users.iter().find(|u| &u.login == login))
        else {
            return reply(
                StatusCode::OK,
                "text/html",
                "<p>nobody is logged in: call log_in_as first</p>",
            );
        };
        let code = random_token(15);
        let grant = Grant {
            user_id: user.id,
            client_id: self.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            issued: Instant::now(),
        };
        state.grants.insert(code.clone(), grant);
        back(&[("code", code)])
    }

    fn token_error(&self, style: ErrorStyle, code: &str, description: &str) -> Reply {
        let body = json!({
            "error": code,
            "error_description": description,
            "error_uri": "https://docs.example.com/oauth-errors",
        });
        let status = if code == "incorrect_client_credentials" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        match style {
            ErrorStyle::GitHub => json(StatusCode::OK, &body),
            ErrorStyle::Standard => json(status, &body),
            ErrorStyle::Form => reply(
                status,
                "application/x-www-form-urlencoded",
                serde_urlencoded::to_string([("error", code), ("error_description", description)])
                    .unwrap(),
            ),
        }
    }

    async fn token(&self, request: &Request) -> Reply {
        let (behaviour, style) = {
            let mut state = self.state.lock().unwrap();
            state.token_requests += 1;
            (state.token_endpoint, state.error_style)
        };
        match behaviour {
            TokenEndpoint::Normal => {}
            TokenEndpoint::ServerError => {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/html",
                    "<h1>Whoa there!</h1>",
                );
            }
            TokenEndpoint::Garbage => {
                return reply(StatusCode::OK, "application/json", "{\"access_token\": ");
            }
            TokenEndpoint::Slow(delay) => tokio::time::sleep(delay).await,
        }
        let form = request.form();
        let field = |name: &str| find(&form, name);
        let (client_id, client_secret) = match request.basic() {
            Some(pair) => (Some(pair.0), Some(pair.1)),
            None => (field("client_id"), field("client_secret")),
        };
        if client_id.as_deref() != Some(self.client_id.as_str())
            || client_secret.as_deref() != Some(self.client_secret.as_str())
        {
            return self.token_error(
                style,
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            );
        }
        if field("grant_type").as_deref() == Some("refresh_token") {
            let mut state = self.state.lock().unwrap();
            let refreshed = field("refresh_token").and_then(|t| state.refresh_tokens.remove(&t));
            let Some(user_id) = refreshed else {
                return self.token_error(
                    style,
                    "bad_refresh_token",
                    "The refresh token is invalid.",
                );
            };
            return issue(&mut state, user_id, request);
        }
        if field("grant_type").is_some_and(|g| g != "authorization_code") {
            return self.token_error(style, "unsupported_grant_type", "authorization_code only");
        }
        let bad_code = || {
            self.token_error(
                style,
                "bad_verification_code",
                "The code passed is incorrect or expired.",
            )
        };
        let mut state = self.state.lock().unwrap();
        // Any attempt spends the code, as RFC 6749 asks.
        let Some(grant) = field("code").and_then(|code| state.grants.remove(&code)) else {
            return bad_code();
        };
        if grant.client_id != self.client_id || grant.issued.elapsed() > Duration::from_secs(600) {
            return bad_code();
        }
        if field("redirect_uri").is_some_and(|uri| uri != grant.redirect_uri) {
            return self.token_error(
                style,
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            );
        }
        if field("code_verifier").map(|v| s256(&v)) != Some(grant.challenge) {
            return self.token_error(style, "invalid_grant", "PKCE verification failed.");
        }
        issue(&mut state, grant.user_id, request)
    }

    fn user_api(&self, path: &str, request: &Request) -> Reply {
        let state = self.state.lock().unwrap();
        if state.user_api_down {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "text/html", "<p>down</p>");
        }
        let Some(token) = request.bearer() else {
            return json(
                StatusCode::UNAUTHORIZED,
                &json!({ "message": "Requires authentication" }),
            );
        };
        let Some(user) = state
            .tokens
            .get(&token)
            .and_then(|id| state.users.iter().find(|u| u.id == *id))
        else {
            return json(
                StatusCode::UNAUTHORIZED,
                &json!({ "message": "Bad credentials" }),
            );
        };
        let (first_name, last_name) = match user.name.as_deref().map(|n| n.split_once(' ')) {
            Some(Some((first, last))) => (Some(first), Some(last)),
            Some(None) => (user.name.as_deref(), None),
            None => (None, None),
        };
        match path {
            "/user" => json(
                StatusCode::OK,
                &json!({
                    "login": user.login,
                    "id": user.id,
                    "avatar_url": user.avatar_url,
                    "name": user.name,
                    // The public profile email: not set for these users.
                    "email": null,
                }),
            ),
            "/user/emails" => {
                let mut emails = Vec::new();
                if let Some(email) = &user.email {
                    // A verified secondary address first, so the primary
                    // has to be picked, not the first.
                    emails.push(json!({
                        "email": format!("{}@users.noreply.example.com", user.login),
                        "primary": false, "verified": true, "visibility": null,
                    }));
                    emails.push(json!({
                        "email": email, "primary": true,
                        "verified": user.email_verified, "visibility": "private",
                    }));
                }
                json(StatusCode::OK, &json!(emails))
            }
            "/me" => {
                let proof = Hmac::<Sha256>::new_from_slice(self.client_secret.as_bytes())
                    .map(|mut mac| {
                        mac.update(token.as_bytes());
                        mac.finalize()
                            .into_bytes()
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    })
                    .unwrap();
                if request.param("appsecret_proof") != Some(proof) {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": {
                            "message": "Invalid appsecret_proof provided in the API argument",
                            "type": "GraphMethodException", "code": 100,
                        }}),
                    );
                }
                // Facebook leaves out emails the user has not confirmed.
                let email = user.email.as_ref().filter(|_| user.email_verified);
                json(
                    StatusCode::OK,
                    &json!({
                        "id": user.id.to_string(),
                        "first_name": first_name,
                        "last_name": last_name,
                        "email": email,
                        "picture": { "data": {
                            "height": 50, "width": 50, "is_silhouette": false,
                            "url": user.avatar_url,
                        }},
                    }),
                )
            }
            "/2/users/me" => json(
                StatusCode::OK,
                &json!({ "data": {
                    "id": user.id.to_string(),
                    "name": user.name,
                    "username": user.login,
                    "profile_image_url": user.avatar_url,
                }}),
            ),
            "/users/@me" => json(
                StatusCode::OK,
                &json!({
                    "id": user.id.to_string(),
                    "username": user.login,
                    "global_name": user.name,
                    "avatar": "a1b2c3d4e5f6",
                    "email": user.email,
                    "verified": user.email_verified,
                }),
            ),
            _ => json(StatusCode::NOT_FOUND, &json!({ "message": "Not Found" })),
        }
    }
}

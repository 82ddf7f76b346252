//! `latch-api`: the inbound HTTP adapter. Clerk's Frontend API (what clerk-js
//! calls for one browser or device), Clerk's Backend API (what a server with the
//! secret key calls), the JWKS and a health check, as warp filters served by
//! [`serve()`] over HTTP/1.1.
//!
//! - [`error`]: Clerk's error envelope and the one table from the core's errors to it.
//! - [`http`]: request parsing (`_method`, forms, JSON, cookies) and responses.
//! - [`routes`]: the route table every request is matched against, with
//!   each route's surface, client channels and rate-limited step.
//! - [`fapi`], [`bapi`]: the handlers, by Clerk resource.
//! - [`render`]: Clerk's JSON shapes.
//! - [`keys`]: the signing key, session tokens and the JWKS.
//! - [`api_keys`]: the publishable and secret keys' formats.
//! - [`avatar`]: the default avatar, drawn from a user's initials, and its URL.
//! - [`scripts`]: Clerk's browser bundles (clerk-js, the prebuilt screens),
//!   embedded from `vendor/clerk/`.
//! - [`home`]: the page at `/`, which says what the server is.
//! - [`pages`]: the seam through which another crate's pages (the
//!   dashboard) are mounted under a prefix of this listener.
//! - [`serve`](mod@serve): the server loop, its connection cap and its deadlines on slow
//!   and idle clients.
//! - [`jobs`]: background housekeeping, run by [`serve()`] beside the requests.
//!
//! Invariant: wire formats live here and nowhere else; handlers call the
//! service of `latch_core::service::Services` their resource belongs to and
//! never reach storage directly.

#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod handshake;
mod hosted;
pub use handshake::cookie_suffix as handshake_cookie_suffix;
pub mod api_keys;
pub mod avatar;
pub mod bapi;
pub mod client_ip;
pub mod error;
pub mod fapi;
pub mod geoip;
pub mod home;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod last_tokens;
pub mod observe;
pub mod pages;
pub mod render;
pub mod routes;
pub mod scripts;
pub mod serve;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use tracing::Instrument as _;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::error::{ApiError, EdgeError};
use latch_core::model::{Environment, Timestamp, is_loopback_origin, with_query};
use latch_core::ports::{Clock, Random};
use latch_core::service::{OAuthCallback, Services};

pub use keys::SigningKeys;
pub use serve::{ConnectionLimits, serve, serve_pages, serve_tls};

use crate::fapi::ClientAuth;
use crate::http::{ApiRequest, ApiResponse};
use crate::routes::{Ctx, Found, Guard, Handler, Surface};

/// What the HTTP layer needs to know beyond the use cases.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The Backend API secret key (`sk_test_...` / `sk_live_...`).
    pub secret_key: String,
    /// The `iss` claim of session tokens: the Frontend API's public URL.
    pub issuer: String,
    /// Exact origins (`scheme://host[:port]`) allowed to call with credentials.
    pub allowed_origins: Vec<String>,
    /// Also allow any `http(s)://localhost`, `127.0.0.1` or `[::1]` origin, on
    /// any port: on for development instances, as local apps move ports.
    pub allow_loopback_origins: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Marks the `__client` cookie `Secure`; on whenever the site is served over HTTPS.
    pub secure_cookies: bool,
    /// The `Domain` of `__client_uat` on Frontend API answers: the parent
    /// domain Latch shares with the application, if it does.
    pub cookie_domain: Option<String>,
    /// The instance's publishable key, whose digest suffixes the cookie
    /// names Clerk's SDKs read.
    pub publishable_key: String,
    /// Whether Latch itself serves HTTPS (`server.tls_*`).
    pub tls: bool,
    /// Shown as the environment's id.
    pub instance_id: String,
    /// Proxies whose `X-Forwarded-For` names the client (load balancers the
    /// operator runs); any other peer is the client itself.
    pub trusted_proxies: Vec<client_ip::IpNet>,
    /// Where addresses are, for sessions' `latest_activity`; `None` when
    /// no table is configured.
    pub geoip: Option<Arc<geoip::GeoIp>>,
    /// Connections, timeouts and the body deadline.
    pub connections: ConnectionLimits,
    /// How often this replica looks for settings changed through another.
    pub settings_poll: std::time::Duration,
}

impl ApiConfig {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
            || (self.allow_loopback_origins && is_loopback_origin(origin))
    }

    /// The `__client` cookie holding `token`, kept as long as a session
    /// lives (`max_age_secs`: the session lifetime in force).
    pub fn client_cookie(&self, token: &str, max_age_secs: i64) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
            fapi::CLIENT_COOKIE,
        )
    }

    pub fn clear_client_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            fapi::CLIENT_COOKIE
        )
    }
}

/// Everything a request handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The use cases, one service per resource. Behind one `Arc`: the state
    /// is cloned for every request, and the services hold many ports.
    pub services: Arc<Services>,
    pub keys: Arc<SigningKeys>,
    pub config: Arc<ApiConfig>,
    /// Tokens client answers carry, reused while fresh.
    pub last_tokens: Arc<last_tokens::LastTokens>,
    /// The suffix of the cookie names Clerk's SDKs read, from the
    /// publishable key: computed once, set on every browser's answer.
    cookie_suffix: Arc<str>,
    /// The clock the use cases read, so views agree with them on "now".
    clock: Arc<dyn Clock>,
    /// Trace ids.
    random: Arc<dyn Random>,
    /// Pages mounted under a prefix, and whether they are all this
    /// listener serves.
    pages: Option<(Arc<dyn pages::Pages>, bool)>,
    /// Renders `/metrics`, when this listener serves it.
    metrics: Option<observe::MetricsRender>,
}

impl ApiState {
    /// `clock` and `random` are the ones the use cases' ports hold.
    pub fn new(
        services: Services,
        keys: SigningKeys,
        config: ApiConfig,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        // The configured key until the store's keys are read, if ever.
        services.secret_keys.seed(&config.secret_key);
        Self {
            services: Arc::new(services),
            keys: Arc::new(keys),
            cookie_suffix: handshake::cookie_suffix(&config.publishable_key).into(),
            config: Arc::new(config),
            last_tokens: Arc::default(),
            clock,
            random,
            pages: None,
            metrics: None,
        }
    }

    /// The same state serving `/metrics` from `render`.
    pub fn with_metrics(self, render: observe::MetricsRender) -> Self {
        Self {
            metrics: Some(render),
            ..self
        }
    }

    /// The same state serving `pages` beside the API.
    pub fn with_pages(self, pages: Arc<dyn pages::Pages>) -> Self {
        Self {
            pages: Some((pages, false)),
            ..self
        }
    }

    /// The same state serving `pages` and nothing else (a listener of
    /// their own): every other path is 404.
    pub fn only_pages(self, pages: Arc<dyn pages::Pages>) -> Self {
        Self {
            pages: Some((pages, true)),
            ..self
        }
    }

    /// The mounted pages `path` belongs to, if any.
    fn pages_at(&self, path: &str) -> Option<&Arc<dyn pages::Pages>> {
        self.pages
            .as_ref()
            .map(|(pages, _)| pages)
            .filter(|pages| pages::under(pages.prefix(), path))
    }

    /// Whether this listener serves its mounted pages only.
    fn pages_only(&self) -> bool {
        self.pages.as_ref().is_some_and(|(_, only)| *only)
    }

    /// Now, on the use cases' clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The `__client` cookie for `token`, kept for the session lifetime in
    /// force.
    pub fn client_cookie(&self, token: &str) -> String {
        let lifetime = self.services.settings().session_lifetime.as_secs();
        self.config.client_cookie(token, lifetime)
    }

    /// A fresh secret key for this instance's environment, for a rotation.
    pub fn new_secret_key(&self) -> String {
        api_keys::generate_secret_key(self.services.settings().environment, &*self.random)
    }

    fn trace_id(&self) -> String {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes);
        latch_core::service::hex(&bytes)
    }
}

/// The whole API as one warp filter.
pub fn routes(
    state: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let raw_query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::ext::optional::<serve::PeerAddr>())
        .and(warp::body::stream())
        .then(
            move |method,
                  path: warp::path::FullPath,
                  query,
                  headers,
                  remote: Option<SocketAddr>,
                  peer: Option<serve::PeerAddr>,
                  body| {
                let state = state.clone();
                // `serve` names the peer; warp's own server and test client, `remote`.
                let remote = remote.or(peer.map(|p| p.0));
                async move {
                    handle(
                        state,
                        method,
                        path.as_str().to_owned(),
                        query,
                        headers,
                        remote,
                        body,
                    )
                    .await
                }
            },
        )
        .recover(|_| async {
            Ok::<_, Infallible>(
                ApiResponse::error(&ApiError::internal("rejection"), "").into_warp(),
            )
        })
        .unify()
}

async fn handle<S, B>(
    state: ApiState,
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    body: S,
) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let started = Instant::now();
    let trace_id = state.trace_id();
    let upstream = observe::upstream_id(
        headers
            .get(observe::REQUEST_ID)
            .and_then(|v| v.to_str().ok()),
    )
    .map(str::to_owned);
    // Every line logged while the request is served carries its id.
    let span = tracing::info_span!("request", id = %trace_id, upstream = upstream.as_deref());
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method_name = method.clone();
    let for_pages = state.pages_at(&path).is_some();
    let mut served = Served::unmatched(remote);
    let response = if method == Method::OPTIONS && !for_pages {
        served.route = "preflight";
        ApiResponse::empty(StatusCode::NO_CONTENT)
    } else {
        let limits = &state.config;
        let read = read_body(&headers, body, limits.max_body_bytes);
        match tokio::time::timeout(limits.connections.body_read_timeout, read)
            .await
            .unwrap_or_else(|_| Err(EdgeError::BodyTimeout.into()))
        {
            Ok(bytes) => {
                match ApiRequest::parse(method, path.clone(), query, headers, bytes, remote) {
                    Ok(req) => {
                        served.ip = client_ip::client_ip(&req, &state.config.trusted_proxies);
                        dispatch(&state, &req, &trace_id, &mut served)
                            .instrument(span.clone())
                            .await
                    }
                    Err(err) => ApiResponse::error(&err, &trace_id),
                }
            }
            Err(err) => ApiResponse::error(&err, &trace_id),
        }
    };
    let response = if for_pages {
        response
    } else {
        cors(&state.config, origin.as_deref(), response)
    };
    let response = security_headers(&state.config, response).with_header(
        header::HeaderName::from_static(observe::REQUEST_ID),
        &trace_id,
    );
    let status = response.status;
    let took = started.elapsed();
    observe::record_request(&method_name, served.route, status.as_u16(), took);
    let _entered = span.enter();
    let ip = served.ip.map(|ip| ip.to_string());
    let ms = took.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(method = %method_name, route = served.route, %path, status = status.as_u16(), ms, ip, "request failed");
    } else {
        tracing::info!(method = %method_name, route = served.route, %path, status = status.as_u16(), ms, ip, "request");
    }
    response.into_warp()
}

/// What a request turned out to be, for its log line and its metrics.
struct Served {
    /// The route's pattern, or what else answered (`pages`, `unmatched`).
    route: &'static str,
    /// The client's address, as the trusted proxies give it (the peer's
    /// until the request is read).
    ip: Option<std::net::IpAddr>,
}

impl Served {
    fn unmatched(remote: Option<SocketAddr>) -> Self {
        Self {
            route: "unmatched",
            ip: remote.map(|r| r.ip()),
        }
    }
}

async fn dispatch(
    state: &ApiState,
    req: &ApiRequest,
    trace_id: &str,
    served: &mut Served,
) -> ApiResponse {
    if let Some(pages) = state.pages_at(&req.path) {
        served.route = "pages";
        return pages.handle(state, req).await;
    }
    if state.pages_only() {
        return not_found(trace_id);
    }
    let segments = routes::segments(&req.path);
    let found = routes::find(&req.method, &segments);
    if let Found::Route(route, _) = &found {
        served.route = route.path;
    }
    let guard = Guard::of(&segments);
    // Who asks and from where, for the events and audit entries the use
    // case writes.
    let context = latch_core::model::RequestContext::of_request(
        match found.surface() {
            Some(Surface::Backend) => latch_core::model::Actor::Backend,
            _ => latch_core::model::Actor::Frontend,
        },
        // `handle` found it, for the access line too.
        served.ip.map(|ip| ip.to_string()),
        req.header("user-agent"),
    );
    // Boxed: the handlers' futures are large, and the scope holds its
    // future inline.
    let response = latch_core::service::in_request(
        context,
        Box::pin(async {
            match (found.surface(), guard) {
                (Some(Surface::Frontend), _) => frontend(state, req, &found, guard, trace_id).await,
                (Some(Surface::Backend), _) => backend(state, req, &found, trace_id).await,
                (Some(Surface::Public), _) => public(state, req, &found, trace_id).await,
                // Unknown paths under a guarded prefix are checked before their 404.
                (None, Guard::Me | Guard::Client) => {
                    frontend(state, req, &found, guard, trace_id).await
                }
                (None, Guard::Open) => not_found(trace_id),
            }
        }),
    )
    .await;
    if let Found::Route(route, _) = &found
        && let Some(step) = route.step
    {
        observe::record_flow_step(state, req, step.name(), &response);
    }
    match &found {
        Found::WrongMethod { allow, .. } if response.status == StatusCode::METHOD_NOT_ALLOWED => {
            response.with_header(header::ALLOW, allow)
        }
        _ => response,
    }
}

/// A Frontend API request: errors carry the client, answers carry its token.
async fn frontend(
    state: &ApiState,
    req: &ApiRequest,
    found: &Found<'_>,
    guard: Guard,
    trace_id: &str,
) -> ApiResponse {
    let dev_browsers = state.services.settings().environment == Environment::Development;
    let mut auth = match ClientAuth::of(req, dev_browsers) {
        Ok(auth) => auth,
        Err(err) => return ApiResponse::error(&err, trace_id),
    };
    if let Found::Route(route, _) = found
        && !route.channels.accepts(auth.channel)
    {
        auth.token = None;
    }
    let reply = match fapi::run(state, req, &auth, guard, found, trace_id).await {
        None => return not_found(trace_id),
        Some(Ok(reply)) => reply,
        Some(Err(err)) => fapi::FapiReply {
            response: fapi_error(state, &auth, &err, trace_id).await,
            new_token: None,
            client_gone: false,
            client_uat: None,
        },
    };
    fapi_response(state, &auth, reply)
}

/// A Backend API request: a known path authenticates before anything else.
async fn backend(
    state: &ApiState,
    req: &ApiRequest,
    found: &Found<'_>,
    trace_id: &str,
) -> ApiResponse {
    let result = match bapi::authenticate(state, req) {
        Err(err) => Err(err),
        Ok(()) => match found {
            Found::Route(route, params) => match route.handler {
                Handler::Backend(handler) => {
                    let response = handler(&Ctx::without_client(state, req, trace_id, params))
                        .await
                        .unwrap_or_else(|err| ApiResponse::error(&err, trace_id));
                    // Every authenticated write is in the audit log, refused or not.
                    if req.method != warp::http::Method::GET {
                        state
                            .services
                            .audit
                            .backend_write(req.method.as_str(), &req.path, response.status.as_u16())
                            .await;
                    }
                    Ok(response)
                }
                Handler::Frontend(_) | Handler::Public(_) => return not_found(trace_id),
            },
            Found::WrongMethod { .. } => Err(fapi::method_not_allowed()),
            Found::NotFound => return not_found(trace_id),
        },
    };
    result.unwrap_or_else(|err| ApiResponse::error(&err, trace_id))
}

/// Health, the JWKS, default avatars, Clerk's bundles, the page at `/` and
/// OAuth callbacks: no client token, no secret key.
async fn public(
    state: &ApiState,
    req: &ApiRequest,
    found: &Found<'_>,
    trace_id: &str,
) -> ApiResponse {
    match found {
        Found::Route(route, params) => match route.handler {
            Handler::Public(handler) => {
                handler(&Ctx::without_client(state, req, trace_id, params)).await
            }
            Handler::Frontend(_) | Handler::Backend(_) => not_found(trace_id),
        },
        Found::WrongMethod { .. } => ApiResponse::error(&fapi::method_not_allowed(), trace_id),
        Found::NotFound => not_found(trace_id),
    }
}

fn not_found(trace_id: &str) -> ApiResponse {
    ApiResponse::error(&EdgeError::NoRoute.into(), trace_id)
}

/// `GET`/`POST /v1/oauth_callback` (providers answer with a redirect, or a
/// form POST for `response_mode=form_post`): 303 to where the sign-in goes
/// next, or a Clerk error when the state names no waiting sign-in.
/// `GET /v1/client/handshake`; an error is answered, not redirected.
async fn handshake_route(state: &ApiState, req: &ApiRequest, trace_id: &str) -> ApiResponse {
    handshake::handshake(state, req)
        .await
        .unwrap_or_else(|err| ApiResponse::error(&err, trace_id))
}

async fn oauth_callback(state: &ApiState, req: &ApiRequest, trace_id: &str) -> ApiResponse {
    let cookie_token = match req.cookie(fapi::CLIENT_COOKIE) {
        Ok(token) => token.filter(|t| !t.is_empty()).map(str::to_owned),
        Err(err) => return ApiResponse::error(&err, trace_id),
    };
    // A provider's form POST comes from its own site, so the browser leaves
    // out the SameSite=Lax client cookie: send it back here as a GET (a
    // top-level navigation, which carries the cookie) once.
    if req.method == warp::http::Method::POST && cookie_token.is_none() {
        let mut pairs = Vec::new();
        for name in ["state", "code", "error"] {
            match req.param(name) {
                Ok(Some(value)) => pairs.push((name, value)),
                Ok(None) => {}
                Err(err) => return ApiResponse::error(&err, trace_id),
            }
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        return ApiResponse::empty(warp::http::StatusCode::SEE_OTHER)
            .with_header(
                warp::http::header::LOCATION,
                &format!("{}?{query}", state.services.settings().oauth_callback_url),
            )
            .with_header(warp::http::header::CACHE_CONTROL, "no-store");
    }
    // Query parameters, or the form body of a POST.
    let param = |name: &str| -> Result<Option<String>, ApiError> {
        match req.query_param(name) {
            Some(v) => Ok(Some(v.to_owned())),
            None => req.param(name),
        }
    };
    let params = (|| -> Result<OAuthCallback, ApiError> {
        Ok(OAuthCallback {
            state: param("state")?,
            code: param("code")?,
            error: param("error")?,
            cookie_token: cookie_token.clone(),
            origin: client_ip::session_origin(req, &state.config.trusted_proxies),
        })
    })();
    let result = match params {
        Ok(params) => state
            .services
            .oauth_callback(params)
            .await
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    match result {
        Ok(redirect) => {
            // A failed flow says so on the URL, with its error's code, which
            // clerk-js reads to show why.
            let location = match redirect.failure {
                Some(failure) => {
                    let code = ApiError::from(failure).code.as_str();
                    let failed = with_query(&redirect.location, "__clerk_status", "failed");
                    with_query(&failed, "__clerk_error_code", code)
                }
                None => redirect.location.clone(),
            };
            let response = ApiResponse::empty(warp::http::StatusCode::SEE_OTHER)
                .with_header(warp::http::header::LOCATION, &location)
                .with_header(warp::http::header::CACHE_CONTROL, "no-store");
            // A browser that completed its sign-in here gets its new token.
            match &redirect.new_token {
                Some(token) => {
                    response.with_header(header::SET_COOKIE, &state.client_cookie(token))
                }
                None => response,
            }
        }
        Err(err) => ApiResponse::error(&err, trace_id),
    }
}

/// A Frontend API error carries the client as it stands in `meta.client`, as
/// Clerk's does: clerk-js refreshes its client from it (a failed attempt, for
/// one, changes the sign-in).
async fn fapi_error(
    state: &ApiState,
    auth: &ClientAuth,
    err: &ApiError,
    trace_id: &str,
) -> ApiResponse {
    let mut response = ApiResponse::error(err, trace_id);
    if let (Some(body), Ok(Some(snapshot))) = (
        response.body.as_mut(),
        state
            .services
            .clients
            .get_client(auth.token.as_deref())
            .await,
    ) {
        let client = render::Renderer::new(state).client(&snapshot);
        body["meta"] = json!({ "client": client });
    }
    response
}

fn fapi_response(state: &ApiState, auth: &ClientAuth, mut reply: fapi::FapiReply) -> ApiResponse {
    let response = std::mem::replace(&mut reply.response, ApiResponse::empty(StatusCode::OK));
    fapi::attach_token(state, auth, &reply, response)
}

/// `GET /metrics`, where this listener serves it (404 otherwise).
async fn metrics_route(state: &ApiState, trace_id: &str) -> ApiResponse {
    observe::metrics_page(state).unwrap_or_else(|| not_found(trace_id))
}

async fn health(state: &ApiState, trace_id: &str) -> ApiResponse {
    match state.services.maintenance.health().await {
        Ok(()) => ApiResponse::ok(json!({ "status": "ok" })),
        Err(err) => ApiResponse::error(&err.into(), trace_id),
    }
}

/// Reads the body up to `limit` bytes; more is 413 whatever Content-Length says.
async fn read_body<S, B>(headers: &HeaderMap, body: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let too_large = || ApiError::from(EdgeError::BodyTooLarge { limit });
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| {
            ApiError::param_format_invalid("body", "The request body could not be read.")
        })?;
        if buf.len() + chunk.remaining() > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// Credentialed CORS for the configured origins only. An answer that
/// names its own allowed origin (a script, for anyone, without
/// credentials) keeps it as it is.
fn cors(config: &ApiConfig, origin: Option<&str>, mut response: ApiResponse) -> ApiResponse {
    if response
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        return response;
    }
    // Answers differ by origin, so caches must key on it.
    response
        .headers
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|o| config.allows_origin(o)) else {
        return response;
    };
    let h = &mut response.headers;
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    set(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    );
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "authorization, content-type, x-requested-with",
    );
    set(
        h,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "authorization, clerk-db-jwt, retry-after",
    );
    set(h, header::ACCESS_CONTROL_MAX_AGE, "600");
    response
}

/// Headers every answer carries: the API serves JSON, redirects, a
/// picture that runs and loads nothing and a page without script, so
/// nothing may be sniffed, framed, cached along the way (unless the answer
/// says how, as a default avatar or a script does), run or load anything
/// (unless the answer's own policy allows one thing more, as the page at
/// `/` does for its stylesheet) or leak its URL (an OAuth callback carries a
/// code and a state) as a referrer; over HTTPS, browsers are told to stay on
/// it.
fn security_headers(config: &ApiConfig, mut response: ApiResponse) -> ApiResponse {
    let h = &mut response.headers;
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if config.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

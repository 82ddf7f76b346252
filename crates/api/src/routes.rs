//! The route table: every route the API serves, declared once with its
//! method, path pattern, surface, the client channels it reads and the flow
//! step it takes (the core decides which rate limit that step counts
//! against). Dispatch matches a request against this table, `latch routes`
//! prints it and the tests iterate over it, so adding a route is one line.
//!
//! Paths match segment by segment, empty segments ignored (so a trailing or
//! doubled slash changes nothing); `{name}` matches any one segment and a
//! literal segment is preferred to a parameter where both match.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use warp::http::Method;

use latch_core::model::{AccessList, SessionStatus};
use latch_core::service::{AddressKind, Step, Throttled};

use crate::ApiState;
use crate::bapi::{
    addresses as bapi_addresses, audit as bapi_audit, instance as bapi_instance,
    sessions as bapi_sessions, users, webhooks,
};
use crate::error::{ApiError, EdgeError};
use crate::fapi::{Channel, ClientAuth, FapiReply};
use crate::fapi::{client, dev_browser, environment, me, sessions, sign_ins, sign_ups};
use crate::http::{ApiRequest, ApiResponse};

/// Which API a route belongs to, and so how it is authenticated and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Clerk's Frontend API: one browser or device, named by its client token.
    Frontend,
    /// Clerk's Backend API: a server holding the secret key.
    Backend,
    /// Anyone: health, the JWKS, default avatars, Clerk's bundles, the page
    /// at `/`, identity providers' callbacks.
    Public,
}

impl Surface {
    /// The surface's short name.
    pub const fn name(self) -> &'static str {
        match self {
            Surface::Frontend => "frontend",
            Surface::Backend => "backend",
            Surface::Public => "public",
        }
    }
}

/// The client-token channels a route reads (see [`Channel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    /// The raw token in `authorization`, with `_is_native=1`.
    pub native: bool,
    /// `__clerk_db_jwt` in the query, on development instances.
    pub dev_browser: bool,
    /// The `__client` cookie.
    pub cookie: bool,
}

impl Channels {
    /// All three channels.
    pub const ALL: Channels = Channels {
        native: true,
        dev_browser: true,
        cookie: true,
    };
    /// The `__client` cookie only.
    pub const COOKIE: Channels = Channels {
        native: false,
        dev_browser: false,
        cookie: true,
    };
    /// No client token at all.
    pub const NONE: Channels = Channels {
        native: false,
        dev_browser: false,
        cookie: false,
    };

    /// Whether a token that came through `channel` is read.
    pub const fn accepts(self, channel: Channel) -> bool {
        match channel {
            Channel::Native => self.native,
            Channel::DevBrowser => self.dev_browser,
            Channel::Cookie => self.cookie,
        }
    }
}

impl fmt::Display for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.native, "native"),
            (self.dev_browser, "dev_browser"),
            (self.cookie, "cookie"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            f.pad("-")
        } else {
            f.pad(&names.join(","))
        }
    }
}

/// The checks every Frontend API path under a prefix gets before it is
/// routed, known route or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// None.
    Open,
    /// `/v1/me/...`: the origin check for cookie requests and the
    /// development-browser check.
    Me,
    /// `/v1/client/...`: as [`Guard::Me`], then the OAuth
    /// `rotating_token_nonce` claim.
    Client,
}

impl Guard {
    /// The guard of a path, given as its non-empty segments.
    pub fn of(segments: &[&str]) -> Guard {
        match segments {
            ["v1", "client", ..] => Guard::Client,
            ["v1", "me", ..] => Guard::Me,
            _ => Guard::Open,
        }
    }
}

/// A boxed handler future borrowing the request.
pub(crate) type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a handler is given: the request, its client token and path parameters.
pub(crate) struct Ctx<'a> {
    pub state: &'a ApiState,
    pub req: &'a ApiRequest,
    /// How the request named its client (Frontend API only).
    pub auth: &'a ClientAuth,
    /// The client token to act with: a freshly claimed one, or the request's.
    pub token: Option<&'a str>,
    pub trace_id: &'a str,
    pub params: &'a Params<'a>,
}

/// What Backend API and public handlers are given for a client: none.
static NO_CLIENT: ClientAuth = ClientAuth {
    channel: Channel::Cookie,
    token: None,
};

impl<'a> Ctx<'a> {
    /// A context for a handler that takes no client (Backend API, public).
    pub fn without_client(
        state: &'a ApiState,
        req: &'a ApiRequest,
        trace_id: &'a str,
        params: &'a Params<'a>,
    ) -> Self {
        Self {
            state,
            req,
            auth: &NO_CLIENT,
            token: None,
            trace_id,
            params,
        }
    }
}

impl Ctx<'_> {
    /// The path parameter `name` (`{name}` in the pattern).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name)
    }
}

/// A route's handler; its kind is the route's surface.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    Frontend(for<'a> fn(&'a Ctx<'a>) -> Pending<'a, Result<FapiReply, ApiError>>),
    Backend(for<'a> fn(&'a Ctx<'a>) -> Pending<'a, Result<ApiResponse, ApiError>>),
    Public(for<'a> fn(&'a Ctx<'a>) -> Pending<'a, ApiResponse>),
}

/// One route.
pub struct Route {
    /// The HTTP method (after `_method` override).
    pub method: Method,
    /// The path pattern, `{name}` standing for one segment.
    pub path: &'static str,
    /// The client-token channels the route reads.
    pub channels: Channels,
    /// The flow step the route takes, which may be rate-limited.
    pub step: Option<Step>,
    pub(crate) handler: Handler,
}

impl Route {
    /// Which API the route belongs to.
    pub const fn surface(&self) -> Surface {
        match self.handler {
            Handler::Frontend(_) => Surface::Frontend,
            Handler::Backend(_) => Surface::Backend,
            Handler::Public(_) => Surface::Public,
        }
    }

    /// Whether the route needs the Backend API secret key.
    pub const fn needs_secret_key(&self) -> bool {
        matches!(self.surface(), Surface::Backend)
    }

    /// The per-IP limit the core applies to the route's step, if any.
    pub fn limit(&self) -> Option<Throttled> {
        self.step.and_then(Step::limit)
    }
}

impl fmt::Display for Route {
    /// One line: method, path, surface, channels, secret key, step and limit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.step.map_or("-", Step::name);
        let limit = self.limit().map_or("-", Throttled::name);
        let key = if self.needs_secret_key() {
            "secret_key"
        } else {
            "-"
        };
        write!(
            f,
            "{:<7} {:<54} {:<8} {:<24} {:<10} {:<21} {}",
            self.method.as_str(),
            self.path,
            self.surface().name(),
            self.channels,
            key,
            step,
            limit
        )
    }
}

/// Path parameters by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params<'p>(Vec<(&'static str, &'p str)>);

impl<'p> Params<'p> {
    /// The value of `{name}`; empty when the pattern has none.
    pub fn get(&self, name: &str) -> &'p str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v)
    }
}

/// Where a request lands in the table.
pub enum Found<'p> {
    /// A route has this method and path.
    Route(&'static Route, Params<'p>),
    /// Routes have this path, none this method.
    WrongMethod {
        /// The surface of the path's routes.
        surface: Surface,
        /// The methods the path has, as an `Allow` header lists them.
        allow: String,
    },
    /// No route has this path.
    NotFound,
}

impl Found<'_> {
    /// The surface of the path's routes; `None` when no route has the path.
    pub fn surface(&self) -> Option<Surface> {
        match self {
            Found::Route(route, _) => Some(route.surface()),
            Found::WrongMethod { surface, .. } => Some(*surface),
            Found::NotFound => None,
        }
    }
}

/// The non-empty segments of a path.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Finds the route for `method` on a path given as its segments.
pub fn find<'p>(method: &Method, segments: &[&'p str]) -> Found<'p> {
    let mut best: Option<(&'static Route, Params<'p>)> = None;
    let mut allow: Vec<&str> = Vec::new();
    let mut surface = None;
    for pattern in patterns_of_length(segments.len()) {
        let Some(params) = pattern.matches(segments) else {
            continue;
        };
        let route = pattern.route;
        surface.get_or_insert(route.surface());
        if !allow.contains(&route.method.as_str()) {
            allow.push(route.method.as_str());
        }
        // Fewer parameters is more specific: `/v1/users/count` before `/v1/users/{id}`.
        let better = best
            .as_ref()
            .is_none_or(|(_, held)| params.0.len() < held.0.len());
        if route.method == *method && better {
            best = Some((route, params));
        }
    }
    match (best, surface) {
        (Some((route, params)), _) => Found::Route(route, params),
        (None, Some(surface)) => Found::WrongMethod {
            surface,
            allow: allow.join(", "),
        },
        (None, None) => Found::NotFound,
    }
}

/// A route's path pattern split once into its segments.
struct Pattern {
    route: &'static Route,
    parts: Vec<Part>,
}

/// One segment of a path pattern.
enum Part {
    Literal(&'static str),
    /// `{name}`: any one segment, given to the handler as `name`.
    Param(&'static str),
}

impl Part {
    fn of(segment: &'static str) -> Self {
        match segment.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => Self::Param(name),
            None => Self::Literal(segment),
        }
    }
}

impl Pattern {
    /// The path parameters when `segments` (as many as `parts`) match.
    fn matches<'p>(&self, segments: &[&'p str]) -> Option<Params<'p>> {
        let mut params = Params::default();
        for (part, segment) in self.parts.iter().zip(segments) {
            match part {
                Part::Literal(literal) if literal == segment => {}
                Part::Literal(_) => return None,
                Part::Param(name) => params.0.push((name, segment)),
            }
        }
        Some(params)
    }
}

/// The patterns of `len` segments, in table order: a path is matched only
/// against patterns as long as it (a request is routed on every call, and
/// splitting each of the table's patterns for each request cost more than
/// the rest of the routing).
fn patterns_of_length(len: usize) -> &'static [Pattern] {
    static BY_LENGTH: std::sync::OnceLock<Vec<Vec<Pattern>>> = std::sync::OnceLock::new();
    let by_length = BY_LENGTH.get_or_init(|| {
        let mut by_length: Vec<Vec<Pattern>> = Vec::new();
        for route in table() {
            let parts: Vec<Part> = segments(route.path).into_iter().map(Part::of).collect();
            if by_length.len() <= parts.len() {
                by_length.resize_with(parts.len() + 1, Vec::new);
            }
            by_length[parts.len()].push(Pattern { route, parts });
        }
        by_length
    });
    by_length.get(len).map_or(&[], Vec::as_slice)
}

/// Every route, in the order `latch routes` prints them.
pub fn table() -> &'static [Route] {
    ROUTES
}

/// The table as text: a header line, then one line per route.
pub fn listing() -> String {
    let mut out = format!(
        "{:<7} {:<54} {:<8} {:<24} {:<10} {:<21} {}\n",
        "METHOD", "PATH", "SURFACE", "CHANNELS", "AUTH", "STEP", "LIMIT"
    );
    for route in table() {
        out.push_str(route.to_string().trim_end());
        out.push('\n');
    }
    out
}

const fn frontend(
    method: Method,
    path: &'static str,
    step: Option<Step>,
    handler: for<'a> fn(&'a Ctx<'a>) -> Pending<'a, Result<FapiReply, ApiError>>,
) -> Route {
    Route {
        method,
        path,
        channels: Channels::ALL,
        step,
        handler: Handler::Frontend(handler),
    }
}

const fn backend(
    method: Method,
    path: &'static str,
    handler: for<'a> fn(&'a Ctx<'a>) -> Pending<'a, Result<ApiResponse, ApiError>>,
) -> Route {
    Route {
        method,
        path,
        channels: Channels::NONE,
        step: None,
        handler: Handler::Backend(handler),
    }
}

const fn public(
    method: Method,
    path: &'static str,
    channels: Channels,
    handler: for<'a> fn(&'a Ctx<'a>) -> Pending<'a, ApiResponse>,
) -> Route {
    Route {
        method,
        path,
        channels,
        step: None,
        handler: Handler::Public(handler),
    }
}

const GET: Method = Method::GET;
const HEAD: Method = Method::HEAD;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

#[rustfmt::skip]
static ROUTES: &[Route] = &[
    // Public
    public(GET, "/healthz", Channels::NONE, |c| Box::pin(crate::health(c.state, c.trace_id))),
    // Load balancers may probe with HEAD.
    public(HEAD, "/healthz", Channels::NONE, |c| Box::pin(crate::health(c.state, c.trace_id))),
    // Readiness: every store the instance uses answers, at this schema.
    public(GET, "/readyz", Channels::NONE, |c| Box::pin(crate::observe::readyz(c.state))),
    public(HEAD, "/readyz", Channels::NONE, |c| Box::pin(crate::observe::readyz(c.state))),
    public(GET, "/metrics", Channels::NONE, |c| Box::pin(crate::metrics_route(c.state, c.trace_id))),
    public(GET, "/.well-known/jwks.json", Channels::NONE, |c| Box::pin(jwks(c.state))),
    public(GET, crate::avatar::PATH, Channels::NONE, |c| Box::pin(ready(crate::avatar::default_svg(c.req)))),
    public(HEAD, crate::avatar::PATH, Channels::NONE, |c| Box::pin(ready(crate::avatar::default_svg(c.req)))),
    public(GET, "/v1/client/handshake", Channels::COOKIE, |c| Box::pin(crate::handshake_route(c.state, c.req, c.trace_id))),
    // Clerk's browser bundles, as Clerk's Frontend API serves them, and the page at `/`.
    public(GET, crate::scripts::PATH, Channels::NONE, |c| Box::pin(ready(crate::scripts::serve(c.req, c.param("package"), c.param("file"), c.trace_id)))),
    public(HEAD, crate::scripts::PATH, Channels::NONE, |c| Box::pin(ready(crate::scripts::serve(c.req, c.param("package"), c.param("file"), c.trace_id)))),
    public(GET, "/sign-in", Channels::NONE, |c| Box::pin(ready(crate::hosted::page(c.state, c.req, crate::hosted::Screen::SignIn)))),
    public(GET, "/sign-up", Channels::NONE, |c| Box::pin(ready(crate::hosted::page(c.state, c.req, crate::hosted::Screen::SignUp)))),
    public(GET, "/user", Channels::NONE, |c| Box::pin(ready(crate::hosted::page(c.state, c.req, crate::hosted::Screen::UserProfile)))),
    public(GET, "/hosted/mount.js", Channels::NONE, |_| Box::pin(ready(crate::hosted::mount_js()))),
    public(GET, "/", Channels::NONE, |c| Box::pin(ready(crate::home::page(c.state, c.req)))),
    public(HEAD, "/", Channels::NONE, |c| Box::pin(ready(crate::home::page(c.state, c.req)))),
    public(GET, "/v1/oauth_callback", Channels::COOKIE, |c| Box::pin(crate::oauth_callback(c.state, c.req, c.trace_id))),
    public(POST, "/v1/oauth_callback", Channels::COOKIE, |c| Box::pin(crate::oauth_callback(c.state, c.req, c.trace_id))),
    // Frontend API
    frontend(GET, "/v1/environment", None, |c| Box::pin(ready(environment::read(c.state)))),
    frontend(PATCH, "/v1/environment", None, |c| Box::pin(ready(environment::read(c.state)))),
    frontend(POST, "/v1/dev_browser", Some(Step::CreateDevBrowser), |c| Box::pin(dev_browser::create(c.state))),
    frontend(GET, "/v1/me", None, |c| Box::pin(me::read(c.state, c.req, c.token))),
    frontend(PATCH, "/v1/me", None, |c| Box::pin(me::update(c.state, c.req, c.token))),
    frontend(DELETE, "/v1/me", None, |c| Box::pin(me::delete(c.state, c.req, c.token))),
    frontend(POST, "/v1/me/change_password", Some(Step::AttemptFirstFactor), |c| Box::pin(me::change_password(c.state, c.req, c.token))),
    frontend(POST, "/v1/me/remove_password", Some(Step::AttemptFirstFactor), |c| Box::pin(me::remove_password(c.state, c.req, c.token))),
    frontend(GET, "/v1/me/sessions", None, |c| Box::pin(me::sessions(c.state, c.req, c.token, false))),
    frontend(GET, "/v1/me/sessions/active", None, |c| Box::pin(me::sessions(c.state, c.req, c.token, true))),
    frontend(POST, "/v1/me/sessions/{id}/revoke", None, |c| Box::pin(me::revoke_session(c.state, c.req, c.token, c.param("id")))),
    frontend(PATCH, "/v1/me/metadata", None, |c| Box::pin(me::merge_metadata(c.state, c.req, c.token))),
    frontend(GET, "/v1/me/email_addresses", None, |c| Box::pin(me::addresses(c.state, c.req, c.token, AddressKind::Email))),
    frontend(POST, "/v1/me/email_addresses", None, |c| Box::pin(me::add_address(c.state, c.req, c.token, AddressKind::Email))),
    frontend(GET, "/v1/me/email_addresses/{id}", None, |c| Box::pin(me::address(c.state, c.req, c.token, AddressKind::Email, c.param("id")))),
    frontend(DELETE, "/v1/me/email_addresses/{id}", None, |c| Box::pin(me::delete_address(c.state, c.req, c.token, AddressKind::Email, c.param("id")))),
    frontend(POST, "/v1/me/email_addresses/{id}/prepare_verification", Some(Step::PrepareVerification), |c| Box::pin(me::prepare_address(c.state, c.req, c.token, AddressKind::Email, c.param("id")))),
    frontend(POST, "/v1/me/email_addresses/{id}/attempt_verification", Some(Step::AttemptVerification), |c| Box::pin(me::attempt_address(c.state, c.req, c.token, AddressKind::Email, c.param("id")))),
    frontend(GET, "/v1/me/phone_numbers", None, |c| Box::pin(me::addresses(c.state, c.req, c.token, AddressKind::Phone))),
    frontend(POST, "/v1/me/phone_numbers", None, |c| Box::pin(me::add_address(c.state, c.req, c.token, AddressKind::Phone))),
    frontend(GET, "/v1/me/phone_numbers/{id}", None, |c| Box::pin(me::address(c.state, c.req, c.token, AddressKind::Phone, c.param("id")))),
    frontend(PATCH, "/v1/me/phone_numbers/{id}", None, |c| Box::pin(me::update_phone(c.state, c.req, c.token, c.param("id")))),
    frontend(DELETE, "/v1/me/phone_numbers/{id}", None, |c| Box::pin(me::delete_address(c.state, c.req, c.token, AddressKind::Phone, c.param("id")))),
    frontend(POST, "/v1/me/phone_numbers/{id}/prepare_verification", Some(Step::PrepareVerification), |c| Box::pin(me::prepare_address(c.state, c.req, c.token, AddressKind::Phone, c.param("id")))),
    frontend(POST, "/v1/me/phone_numbers/{id}/attempt_verification", Some(Step::AttemptVerification), |c| Box::pin(me::attempt_address(c.state, c.req, c.token, AddressKind::Phone, c.param("id")))),
    frontend(POST, "/v1/me/external_accounts", Some(Step::CreateSignIn), |c| Box::pin(me::connect(c.state, c.req, c.auth))),
    frontend(DELETE, "/v1/me/external_accounts/{id}", None, |c| Box::pin(me::disconnect(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/me/totp", None, |c| Box::pin(me::create_totp(c.state, c.req, c.token))),
    frontend(DELETE, "/v1/me/totp", None, |c| Box::pin(me::delete_totp(c.state, c.req, c.token))),
    frontend(POST, "/v1/me/totp/attempt_verification", None, |c| Box::pin(me::verify_totp(c.state, c.req, c.token))),
    frontend(POST, "/v1/me/backup_codes", None, |c| Box::pin(me::create_backup_codes(c.state, c.req, c.token))),
    frontend(GET, "/v1/client", None, |c| Box::pin(client::read(c.state, c.req, c.token))),
    frontend(PUT, "/v1/client", Some(Step::CreateClient), |c| Box::pin(client::create(c.state))),
    frontend(POST, "/v1/client", Some(Step::CreateClient), |c| Box::pin(client::create(c.state))),
    frontend(DELETE, "/v1/client", None, |c| Box::pin(client::delete(c.state, c.token))),
    frontend(POST, "/v1/client/sign_ins", Some(Step::CreateSignIn), |c| Box::pin(sign_ins::create(c.state, c.req, c.auth))),
    frontend(GET, "/v1/client/sign_ins/{id}", None, |c| Box::pin(sign_ins::read(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sign_ins/{id}/prepare_first_factor", Some(Step::PrepareFirstFactor), |c| Box::pin(sign_ins::prepare_first_factor(c.state, c.req, c.auth, c.param("id")))),
    frontend(POST, "/v1/client/sign_ins/{id}/attempt_first_factor", Some(Step::AttemptFirstFactor), |c| Box::pin(sign_ins::attempt_first_factor(c.state, c.req, c.auth, c.param("id")))),
    frontend(POST, "/v1/client/sign_ins/{id}/reset_password", Some(Step::ResetPassword), |c| Box::pin(sign_ins::reset_password(c.state, c.req, c.auth, c.param("id")))),
    frontend(POST, "/v1/client/sign_ins/{id}/prepare_second_factor", Some(Step::PrepareSecondFactor), |c| Box::pin(sign_ins::prepare_second_factor(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sign_ins/{id}/attempt_second_factor", Some(Step::AttemptSecondFactor), |c| Box::pin(sign_ins::attempt_second_factor(c.state, c.req, c.auth, c.param("id")))),
    frontend(POST, "/v1/client/sign_ups", Some(Step::CreateSignUp), |c| Box::pin(sign_ups::create(c.state, c.req, c.auth))),
    frontend(GET, "/v1/client/sign_ups/{id}", None, |c| Box::pin(sign_ups::read(c.state, c.req, c.token, c.param("id")))),
    frontend(PATCH, "/v1/client/sign_ups/{id}", Some(Step::UpdateSignUp), |c| Box::pin(sign_ups::update(c.state, c.req, c.auth, c.param("id")))),
    frontend(POST, "/v1/client/sign_ups/{id}/prepare_verification", Some(Step::PrepareVerification), |c| Box::pin(sign_ups::prepare_verification(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sign_ups/{id}/attempt_verification", Some(Step::AttemptVerification), |c| Box::pin(sign_ups::attempt_verification(c.state, c.req, c.auth, c.param("id")))),
    frontend(DELETE, "/v1/client/sessions", None, |c| Box::pin(sessions::end_all(c.state, c.req, c.token))),
    frontend(POST, "/v1/client/sessions/{id}/touch", None, |c| Box::pin(sessions::touch(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sessions/{id}/end", None, |c| Box::pin(sessions::close(c.state, c.req, c.token, c.param("id"), SessionStatus::Ended))),
    frontend(POST, "/v1/client/sessions/{id}/remove", None, |c| Box::pin(sessions::close(c.state, c.req, c.token, c.param("id"), SessionStatus::Removed))),
    frontend(POST, "/v1/client/sessions/{id}/verify", None, |c| Box::pin(sessions::start_verification(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sessions/{id}/verify/prepare_first_factor", Some(Step::PrepareFirstFactor), |c| Box::pin(sessions::prepare_verification(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sessions/{id}/verify/attempt_first_factor", Some(Step::AttemptFirstFactor), |c| Box::pin(sessions::verify_first_factor(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sessions/{id}/verify/attempt_second_factor", Some(Step::AttemptSecondFactor), |c| Box::pin(sessions::verify_second_factor(c.state, c.req, c.token, c.param("id")))),
    frontend(POST, "/v1/client/sessions/{id}/tokens", None, |c| Box::pin(sessions::tokens(c.state, c.req, c.token, c.param("id")))),
    // JWT templates are not supported: every template is unknown.
    frontend(POST, "/v1/client/sessions/{id}/tokens/{template}", None, |_| Box::pin(ready(Err(EdgeError::NotServed("JWT template").into())))),
    // Backend API
    backend(POST, "/v1/users", |c| Box::pin(users::create(c.state, c.req))),
    backend(GET, "/v1/clients/handshake_payload", |c| Box::pin(crate::handshake::payload(c.state, c.req))),
    backend(GET, "/v1/users", |c| Box::pin(users::list(c.state, c.req))),
    backend(GET, "/v1/users/count", |c| Box::pin(users::count(c.state, c.req))),
    backend(GET, "/v1/users/{id}", |c| Box::pin(users::read(c.state, c.param("id")))),
    backend(PATCH, "/v1/users/{id}", |c| Box::pin(users::update(c.state, c.req, c.param("id")))),
    backend(DELETE, "/v1/users/{id}", |c| Box::pin(users::delete(c.state, c.param("id")))),
    backend(POST, "/v1/users/{id}/lock", |c| Box::pin(users::lock(c.state, c.param("id")))),
    backend(POST, "/v1/users/{id}/unlock", |c| Box::pin(users::unlock(c.state, c.param("id")))),
    backend(POST, "/v1/users/{id}/ban", |c| Box::pin(users::ban(c.state, c.param("id")))),
    backend(POST, "/v1/users/{id}/unban", |c| Box::pin(users::unban(c.state, c.param("id")))),
    backend(DELETE, "/v1/users/{id}/mfa", |c| Box::pin(users::disable_mfa(c.state, c.param("id")))),
    backend(DELETE, "/v1/users/{id}/totp", |c| Box::pin(users::delete_totp(c.state, c.param("id")))),
    backend(DELETE, "/v1/users/{id}/backup_code", |c| Box::pin(users::delete_backup_codes(c.state, c.param("id")))),
    backend(DELETE, "/v1/users/{id}/external_accounts/{account}", |c| Box::pin(users::delete_external_account(c.state, c.param("id"), c.param("account")))),
    backend(PATCH, "/v1/users/{id}/metadata", |c| Box::pin(bapi_addresses::merge_metadata(c.state, c.req, c.param("id")))),
    backend(GET, "/v1/users/{id}/oauth_access_tokens/{provider}", |c| Box::pin(bapi_addresses::oauth_access_tokens(c.state, c.param("id"), c.param("provider")))),
    backend(POST, "/v1/users/{id}/verify_password", |c| Box::pin(bapi_addresses::verify_password(c.state, c.req, c.param("id")))),
    backend(POST, "/v1/users/{id}/verify_totp", |c| Box::pin(bapi_addresses::verify_totp(c.state, c.req, c.param("id")))),
    backend(POST, "/v1/email_addresses", |c| Box::pin(bapi_addresses::create(c.state, c.req, AddressKind::Email))),
    backend(GET, "/v1/email_addresses/{id}", |c| Box::pin(bapi_addresses::read(c.state, AddressKind::Email, c.param("id")))),
    backend(PATCH, "/v1/email_addresses/{id}", |c| Box::pin(bapi_addresses::update_email(c.state, c.req, c.param("id")))),
    backend(DELETE, "/v1/email_addresses/{id}", |c| Box::pin(bapi_addresses::delete(c.state, AddressKind::Email, c.param("id")))),
    backend(POST, "/v1/phone_numbers", |c| Box::pin(bapi_addresses::create(c.state, c.req, AddressKind::Phone))),
    backend(DELETE, "/v1/phone_numbers/{id}", |c| Box::pin(bapi_addresses::delete(c.state, AddressKind::Phone, c.param("id")))),
    backend(GET, "/v1/phone_numbers/{id}", |c| Box::pin(users::read_phone_number(c.state, c.param("id")))),
    backend(PATCH, "/v1/phone_numbers/{id}", |c| Box::pin(users::update_phone_number(c.state, c.req, c.param("id")))),
    backend(GET, "/v1/sessions", |c| Box::pin(bapi_sessions::list(c.state, c.req))),
    backend(DELETE, "/v1/sessions", |c| Box::pin(bapi_sessions::revoke_all_of_user(c.state, c.req))),
    backend(GET, "/v1/sessions/{id}", |c| Box::pin(bapi_sessions::read(c.state, c.param("id")))),
    backend(POST, "/v1/sessions/{id}/revoke", |c| Box::pin(bapi_sessions::revoke(c.state, c.param("id")))),
    backend(GET, "/v1/jwks", |c| Box::pin(ready(Ok(ApiResponse::ok(c.state.keys.jwks()))))),
    backend(GET, "/v1/audit_log", |c| Box::pin(bapi_audit::list(c.state, c.req))),
    backend(GET, "/v1/instance", |c| Box::pin(bapi_instance::read(c.state))),
    backend(PATCH, "/v1/instance", |c| Box::pin(bapi_instance::update(c.state, c.req))),
    backend(PATCH, "/v1/instance/restrictions", |c| Box::pin(bapi_instance::update_restrictions(c.state, c.req))),
    backend(GET, "/v1/instance/user_management", |c| Box::pin(bapi_instance::read_settings(c.state))),
    backend(PATCH, "/v1/instance/user_management", |c| Box::pin(bapi_instance::update_settings(c.state, c.req))),
    backend(GET, "/v1/instance/user_management/versions", |c| Box::pin(bapi_instance::settings_history(c.state, c.req))),
    backend(GET, "/v1/allowlist_identifiers", |c| Box::pin(bapi_instance::list_entries(c.state, AccessList::Allow))),
    backend(POST, "/v1/allowlist_identifiers", |c| Box::pin(bapi_instance::add_entry(c.state, c.req, AccessList::Allow))),
    backend(DELETE, "/v1/allowlist_identifiers/{id}", |c| Box::pin(bapi_instance::remove_entry(c.state, AccessList::Allow, c.param("id")))),
    backend(GET, "/v1/blocklist_identifiers", |c| Box::pin(bapi_instance::list_entries(c.state, AccessList::Block))),
    backend(POST, "/v1/blocklist_identifiers", |c| Box::pin(bapi_instance::add_entry(c.state, c.req, AccessList::Block))),
    backend(DELETE, "/v1/blocklist_identifiers/{id}", |c| Box::pin(bapi_instance::remove_entry(c.state, AccessList::Block, c.param("id")))),
    backend(POST, "/v1/webhooks/endpoints", |c| Box::pin(webhooks::create(c.state, c.req))),
    backend(GET, "/v1/webhooks/endpoints", |c| Box::pin(webhooks::index(c.state))),
    backend(GET, "/v1/webhooks/endpoints/{id}", |c| Box::pin(webhooks::read(c.state, c.param("id")))),
    backend(PATCH, "/v1/webhooks/endpoints/{id}", |c| Box::pin(webhooks::update(c.state, c.req, c.param("id")))),
    backend(DELETE, "/v1/webhooks/endpoints/{id}", |c| Box::pin(webhooks::delete(c.state, c.param("id")))),
    backend(GET, "/v1/webhooks/endpoints/{id}/secret", |c| Box::pin(webhooks::read_secret(c.state, c.param("id")))),
    backend(POST, "/v1/webhooks/endpoints/{id}/rotate_secret", |c| Box::pin(webhooks::rotate_secret(c.state, c.req, c.param("id")))),
    backend(POST, "/v1/webhooks/endpoints/{id}/replay", |c| Box::pin(webhooks::replay_range(c.state, c.req, c.param("id")))),
    backend(GET, "/v1/webhooks/endpoints/{id}/messages", |c| Box::pin(webhooks::messages(c.state, c.req, c.param("id")))),
    backend(GET, "/v1/webhooks/endpoints/{id}/messages/{event}", |c| Box::pin(webhooks::read_message(c.state, c.param("id"), c.param("event")))),
    backend(GET, "/v1/webhooks/endpoints/{id}/messages/{event}/attempts", |c| Box::pin(webhooks::attempts(c.state, c.param("id"), c.param("event")))),
    backend(POST, "/v1/webhooks/endpoints/{id}/messages/{event}/replay", |c| Box::pin(webhooks::replay(c.state, c.param("id"), c.param("event")))),
];

async fn jwks(state: &ApiState) -> ApiResponse {
    ApiResponse::ok(state.keys.jwks())
}

/// A handler that has its answer already.
fn ready<T: Send>(value: T) -> std::future::Ready<T> {
    std::future::ready(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn find_path<'p>(method: Method, path: &'p str) -> Found<'p> {
        find(&method, &segments(path))
    }

    fn route_of(found: &Found<'_>) -> (&'static str, Vec<(&'static str, String)>) {
        match found {
            Found::Route(route, params) => (
                route.path,
                params
                    .0
                    .iter()
                    .map(|(n, v)| (*n, (*v).to_owned()))
                    .collect(),
            ),
            _ => panic!("no route"),
        }
    }

    #[test]
    fn parameters_are_extracted_by_name() {
        let found = find_path(
            Method::POST,
            "/v1/client/sign_ins/sia_123/attempt_first_factor",
        );
        assert_eq!(
            route_of(&found),
            (
                "/v1/client/sign_ins/{id}/attempt_first_factor",
                vec![("id", "sia_123".to_owned())]
            )
        );
        let found = find_path(Method::DELETE, "/v1/users/user_1/external_accounts/eac_2");
        let Found::Route(_, params) = &found else {
            panic!("no route");
        };
        assert_eq!(
            (params.get("id"), params.get("account")),
            ("user_1", "eac_2")
        );
        assert_eq!(params.get("missing"), "");
    }

    #[test]
    fn trailing_and_doubled_slashes_are_ignored() {
        for path in ["/v1/client/", "//v1//client", "v1/client"] {
            assert_eq!(
                route_of(&find_path(Method::GET, path)).0,
                "/v1/client",
                "{path}"
            );
        }
        assert_eq!(
            route_of(&find_path(Method::GET, "/v1/client/sign_ins/sia_1/")).0,
            "/v1/client/sign_ins/{id}"
        );
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter_for_its_own_method_only() {
        assert_eq!(
            route_of(&find_path(Method::GET, "/v1/users/count")).0,
            "/v1/users/count"
        );
        // `count` has no PATCH: the user route takes it, as an id.
        assert_eq!(
            route_of(&find_path(Method::PATCH, "/v1/users/count")),
            ("/v1/users/{id}", vec![("id", "count".to_owned())])
        );
    }

    #[test]
    fn the_root_and_any_file_of_a_bundle_are_routes() {
        for path in ["/", "", "//"] {
            assert_eq!(route_of(&find_path(Method::GET, path)).0, "/", "{path:?}");
        }
        assert_eq!(
            route_of(&find_path(
                Method::HEAD,
                "/npm/@clerk/clerk-js@6/dist/clerk.browser.js"
            )),
            (
                "/npm/@clerk/{package}/dist/{file}",
                vec![
                    ("package", "clerk-js@6".to_owned()),
                    ("file", "clerk.browser.js".to_owned())
                ]
            )
        );
    }

    #[test]
    fn unknown_paths_are_not_found_and_known_ones_list_their_methods() {
        for path in [
            "/nope",
            "/npm/@clerk/clerk-js@6/dist",
            "/npm/@clerk/clerk-js@6/dist/a/b.js",
            "/npm/@clerk/clerk-js@6/dist/../../v1/client",
            "/v1/client/unknown",
            "/v1/client/sign_ins/a/b",
            "/v1/users/u/lock/extra",
            "/v1/client/sessions/s/tokens/t/more",
        ] {
            assert!(
                matches!(find_path(Method::GET, path), Found::NotFound),
                "{path}"
            );
        }
        match find_path(Method::PATCH, "/v1/client") {
            Found::WrongMethod { surface, allow } => {
                assert_eq!(surface, Surface::Frontend);
                assert_eq!(allow, "GET, PUT, POST, DELETE");
            }
            _ => panic!("/v1/client has routes"),
        }
        match find_path(Method::PUT, "/v1/users/u_1") {
            Found::WrongMethod { surface, allow } => {
                assert_eq!(surface, Surface::Backend);
                assert_eq!(allow, "GET, PATCH, DELETE");
            }
            _ => panic!("/v1/users/{{id}} has routes"),
        }
    }

    #[test]
    fn every_route_is_found_at_its_own_path_with_its_parameters() {
        for route in table() {
            // Each `{name}` filled with a value no literal segment has.
            let path = route
                .path
                .split('/')
                .map(|part| match Part::of(part) {
                    Part::Param(name) => format!("x_{name}_1"),
                    Part::Literal(literal) => literal.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let found = find_path(route.method.clone(), &path);
            let (pattern, params) = route_of(&found);
            assert_eq!(
                (route.method.as_str(), pattern),
                (route.method.as_str(), route.path)
            );
            for (name, value) in params {
                assert_eq!(value, format!("x_{name}_1"), "{}", route.path);
            }
        }
    }

    #[test]
    fn every_route_is_declared_once_and_a_path_has_one_surface() {
        let routes = table();
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
                if a.path == b.path {
                    assert_eq!(a.surface(), b.surface(), "{}", a.path);
                }
            }
            // The Backend API reads no client token; only it needs the key.
            assert_eq!(a.needs_secret_key(), a.surface() == Surface::Backend);
            if a.surface() == Surface::Backend {
                assert_eq!(a.channels, Channels::NONE, "{}", a.path);
            }
            assert!(a.step.is_none() || a.surface() == Surface::Frontend);
        }
    }

    #[test]
    fn the_guard_follows_the_path_prefix() {
        assert_eq!(Guard::of(&segments("/v1/client")), Guard::Client);
        assert_eq!(
            Guard::of(&segments("/v1/client/anything/at/all")),
            Guard::Client
        );
        assert_eq!(Guard::of(&segments("/v1/me/totp")), Guard::Me);
        assert_eq!(Guard::of(&segments("/v1/clients")), Guard::Open);
        assert_eq!(Guard::of(&segments("/v1/environment")), Guard::Open);
    }

    #[test]
    fn the_listing_has_a_line_per_route_naming_its_limit() {
        let listing = listing();
        assert_eq!(listing.lines().count(), table().len() + 1);
        let line = listing
            .lines()
            .find(|l| l.contains("/v1/client/sign_ins/{id}/reset_password"))
            .unwrap();
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            columns,
            [
                "POST",
                "/v1/client/sign_ins/{id}/reset_password",
                "frontend",
                "native,dev_browser,cookie",
                "-",
                "reset_password",
                "attempt"
            ]
        );
        let line = listing
            .lines()
            .find(|l| l.contains("/v1/users/count"))
            .unwrap();
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            columns,
            [
                "GET",
                "/v1/users/count",
                "backend",
                "-",
                "secret_key",
                "-",
                "-"
            ]
        );
    }
}

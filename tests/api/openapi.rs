//! Every route of the table, driven through real flows, answers as Clerk's
//! OpenAPI documents say: each body (successes and errors) is checked
//! against the operation's response for its status, Frontend API routes
//! against the FAPI document and Backend API routes against the BAPI one.
//! Every failure is printed, then the test fails if there are any, or if a
//! route of the table was not driven to a success and to an error.
//!
//! The few places where Latch departs from the documents on purpose are
//! listed below, each with its reason.

use std::sync::Mutex;

use latch_api::routes::{Found, Surface, find, segments, table};
use latch_core::model::{Environment, InstanceSettings};
use latch_http::oauth::{ClientSecret, ProviderConfig, ProviderKind, provider};
use latch_testkit::oauth::{GitHubLikeProvider, OAuthUser, sign_in};
use latch_testkit::openapi::{Document, Failure, Problem};
use serde_json::{Value, json};
use warp::http::Method;

use crate::second_factors::{totp_code, totp_user};
use crate::support::{CALLBACK, PASSWORD, Resp, SECRET, TestApp};

const HEALTH: &str = "Latch's health check for load balancers";
const READY: &str = "Latch's readiness check: the stores answer, at this schema";
const AVATAR: &str = "Latch's default picture, which users' image_url names";
const AVATAR_PATH: &str = "/v1/avatars/default.svg";
const ANYONE: &str = "the instance's settings for anyone";
const SCRIPTS: &str =
    "Clerk's browser bundles, which Clerk's Frontend API serves but its document leaves out";
const SCRIPTS_PATH: &str = latch_api::scripts::PATH;
const HOME: &str = "Latch's page for someone who opens the Frontend API's URL in a browser";
const HOSTED: &str = "Latch's hosted pages, as Clerk's Account Portal, which is not an API";
const WEBHOOKS: &str = "Latch's webhook endpoints; Clerk manages its webhooks in Svix's dashboard";

/// Routes that are Latch's own: Clerk's documents have no such operation.
const NOT_IN_CLERK: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", HEALTH),
    ("GET", AVATAR_PATH, AVATAR),
    ("HEAD", AVATAR_PATH, AVATAR),
    ("HEAD", "/healthz", HEALTH),
    ("GET", "/readyz", READY),
    ("HEAD", "/readyz", READY),
    ("GET", "/metrics", "Latch's Prometheus metrics"),
    (
        "GET",
        "/v1/clients/handshake_payload",
        "Clerk's document lists the path with no operation; @clerk/backend reads {directives}",
    ),
    ("GET", SCRIPTS_PATH, SCRIPTS),
    ("HEAD", SCRIPTS_PATH, SCRIPTS),
    ("GET", "/", HOME),
    ("HEAD", "/", HOME),
    ("GET", "/sign-in", HOSTED),
    ("GET", "/sign-up", HOSTED),
    ("GET", "/user", HOSTED),
    ("GET", "/hosted/mount.js", HOSTED),
    (
        "DELETE",
        "/v1/sessions",
        "Latch's sign-out of a user everywhere; Clerk's Backend API revokes one session at a time",
    ),
    (
        "GET",
        "/v1/audit_log",
        "Latch's audit log; Clerk's Backend API has none",
    ),
    ("GET", "/v1/instance/user_management", SETTINGS),
    ("PATCH", "/v1/instance/user_management", SETTINGS),
    ("GET", "/v1/instance/user_management/versions", SETTINGS),
    ("POST", "/v1/webhooks/endpoints", WEBHOOKS),
    ("GET", "/v1/webhooks/endpoints", WEBHOOKS),
    ("GET", "/v1/webhooks/endpoints/{id}", WEBHOOKS),
    ("PATCH", "/v1/webhooks/endpoints/{id}", WEBHOOKS),
    ("DELETE", "/v1/webhooks/endpoints/{id}", WEBHOOKS),
    ("GET", "/v1/webhooks/endpoints/{id}/secret", WEBHOOKS),
    (
        "POST",
        "/v1/webhooks/endpoints/{id}/rotate_secret",
        WEBHOOKS,
    ),
    ("POST", "/v1/webhooks/endpoints/{id}/replay", WEBHOOKS),
    ("GET", "/v1/webhooks/endpoints/{id}/messages", WEBHOOKS),
    (
        "GET",
        "/v1/webhooks/endpoints/{id}/messages/{event}",
        WEBHOOKS,
    ),
    (
        "GET",
        "/v1/webhooks/endpoints/{id}/messages/{event}/attempts",
        WEBHOOKS,
    ),
    (
        "POST",
        "/v1/webhooks/endpoints/{id}/messages/{event}/replay",
        WEBHOOKS,
    ),
];

const SETTINGS: &str =
    "Latch's runtime settings document; Clerk changes these in its dashboard only";

/// Routes that have no success to drive.
const NO_SUCCESS: &[(&str, &str, &str)] = &[(
    "POST",
    "/v1/client/sessions/{id}/tokens/{template}",
    "JWT templates are not supported: every template name is unknown (404)",
)];

/// Routes that have no error to drive.
const NO_ERROR: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "answers whoever asks"),
    (
        "GET",
        "/readyz",
        "answers whoever asks; its 503 is the stores' (tests/e2e/faults.rs)",
    ),
    ("HEAD", "/readyz", "answers whoever asks"),
    (
        "GET",
        "/metrics",
        "answers whoever reaches the listener it is on",
    ),
    ("HEAD", "/healthz", "answers whoever asks"),
    ("GET", "/.well-known/jwks.json", "public keys for anyone"),
    ("GET", "/", "a page for anyone"),
    ("HEAD", "/", "a page for anyone"),
    (
        "GET",
        "/sign-in",
        "a page for anyone; a redirect_url off the allowed origins is dropped",
    ),
    (
        "GET",
        "/sign-up",
        "a page for anyone; a redirect_url off the allowed origins is dropped",
    ),
    (
        "GET",
        "/user",
        "a page for anyone; signed out, it goes to the sign-in page",
    ),
    ("GET", "/hosted/mount.js", "a script for anyone"),
    ("GET", "/v1/environment", ANYONE),
    ("PATCH", "/v1/environment", ANYONE),
];

/// Whether `list` names the route `method` `path`.
fn listed(list: &[(&str, &str, &str)], method: &str, path: &str) -> bool {
    list.iter().any(|(m, p, _)| *m == method && *p == path)
}

/// Whether a failure is one of the accepted departures from the documents.
pub(crate) fn allowed(failure: &Failure) -> bool {
    let custom = |name: &str| name.starts_with("oauth_custom_");
    match &failure.problem {
        // Clerk's strategy enums are closed, but a custom OpenID Connect
        // provider's strategy is `oauth_custom_<name>`: Clerk's own custom
        // providers are named so, and clerk-js matches on the `oauth_` prefix.
        Problem::Enum { value, .. } => {
            failure.path.ends_with(".strategy") && value.as_str().is_some_and(custom)
        }
        // For the same reason the environment lists such a provider under
        // its strategy in `user_settings.social`, a closed object in the
        // document; its value is checked as the document's `oauth_custom_mock`.
        Problem::NotAllowed(name) => {
            custom(name)
                && failure
                    .path
                    .ends_with(&format!(".user_settings.social.{name}"))
        }
        _ => false,
    }
}

/// The environment's custom providers, each checked as the document's
/// `oauth_custom_mock` entry of `user_settings.social`.
fn custom_socials(fapi: &Document, body: &Value, head: &str) -> Vec<String> {
    let schema = fapi
        .schema("UserSettings.Socials")
        .and_then(|s| s.pointer("/properties/oauth_custom_mock"))
        .expect("the document describes oauth_custom_mock");
    let Some(social) = body
        .pointer("/user_settings/social")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in social
        .iter()
        .filter(|(k, _)| k.starts_with("oauth_custom_"))
    {
        for f in fapi.validate(schema, value, &allowed) {
            out.push(format!(
                "{head} $.user_settings.social.{name}{}",
                &f.to_string()[1..]
            ));
        }
    }
    out
}

/// `POST /v1/dev_browser` answers the development browser's token as
/// `{id}`, which clerk-js reads; Clerk's document gives that answer no body.
fn dev_browser(fapi: &Document, body: &Value, head: &str) -> Vec<String> {
    let schema = json!({
        "type": "object",
        "required": ["id"],
        "properties": { "id": { "type": "string" } },
    });
    validate_as(fapi, &schema, body, head)
}

/// The failures of `body` against `schema`, each under `head`.
fn validate_as(document: &Document, schema: &Value, body: &Value, head: &str) -> Vec<String> {
    let failures = document.validate(schema, body, &allowed);
    failures.iter().map(|f| format!("{head} {f}")).collect()
}

/// `GET /v1/sessions?paginated=true` answers `{data, total_count}`: that is
/// what @clerk/backend sends the parameter for and reads, where Clerk's
/// document says a bare array. Its items are checked as sessions.
fn is_paginated_sessions_list(seen: &Seen) -> bool {
    seen.method == "GET" && seen.template == "/v1/sessions" && seen.path.contains("paginated=true")
}

/// One answer the tour received.
struct Seen {
    method: String,
    template: &'static str,
    surface: Surface,
    path: String,
    status: u16,
    body: Value,
}

/// Every request of the tour goes through here and is kept.
#[derive(Default)]
struct Tour {
    seen: Mutex<Vec<Seen>>,
}

impl Tour {
    fn record(&self, method: &str, path: &str, res: &Resp) {
        let bare = path.split('?').next().unwrap_or_default();
        let method_value = Method::from_bytes(method.as_bytes()).unwrap();
        let Found::Route(route, _) = find(&method_value, &segments(bare)) else {
            panic!("{method} {path} is no route");
        };
        *LAST.lock().unwrap() = format!("{method} {path}");
        self.seen.lock().unwrap().push(Seen {
            method: method.to_owned(),
            template: route.path,
            surface: route.surface(),
            path: path.to_owned(),
            status: res.status.as_u16(),
            body: res.body.clone(),
        });
    }

    /// Checks every answer; returns (failures, accepted exceptions).
    fn check(&self) -> (Vec<String>, Vec<String>) {
        let seen = self.seen.lock().unwrap();
        let mut failures = Vec::new();
        let mut accepted = Vec::new();
        let allow = allowed;
        for s in seen.iter() {
            if listed(NOT_IN_CLERK, &s.method, s.template) {
                continue;
            }
            let document = match s.surface {
                Surface::Backend => Document::bapi(),
                Surface::Frontend | Surface::Public => Document::fapi(),
            };
            let head = format!("{} {} {}", s.method, s.template, s.status);
            let Some(op) = document.operation(&s.method, s.template) else {
                failures.push(format!("{head}: no operation in {}", document.name()));
                continue;
            };
            if is_paginated_sessions_list(s) {
                failures.extend(paginated_sessions(document, &s.body, &head));
                continue;
            }
            if s.template == "/v1/dev_browser" && s.status == 200 {
                failures.extend(dev_browser(document, &s.body, &head));
                continue;
            }
            if s.template == "/v1/environment" {
                failures.extend(custom_socials(document, &s.body, &head));
            }
            let found = op.check(s.status, &s.body, &allow);
            for failure in found {
                match &failure.problem {
                    // Clerk's documents list only some of each operation's
                    // errors: an error status they leave out is checked as
                    // Clerk's error envelope.
                    // Some errors are documented with no body at all: they
                    // are checked as Clerk's error envelope too.
                    Problem::UndocumentedStatus { .. } | Problem::UnexpectedBody
                        if s.status >= 400 =>
                    {
                        let errors = document.schema("ClerkErrors").unwrap();
                        for f in document.validate(errors, &s.body, &allow) {
                            failures.push(format!("{head} {f}"));
                        }
                        accepted.push(format!("{head}: not documented, checked as ClerkErrors"));
                    }
                    _ => failures.push(format!("{head} {failure}")),
                }
            }
        }
        failures.sort();
        failures.dedup();
        accepted.sort();
        accepted.dedup();
        (failures, accepted)
    }

    /// Each route of the table the tour did not drive to a success and an error.
    fn uncovered(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut out = Vec::new();
        for route in table() {
            let method = route.method.as_str();
            let exempt = |list| listed(list, method, route.path);
            let of_route = || {
                seen.iter()
                    .filter(|s| s.method == method && s.template == route.path)
            };
            // The OAuth callback succeeds with a redirect.
            if !exempt(NO_SUCCESS) && !of_route().any(|s| (200..400).contains(&s.status)) {
                out.push(format!("{method} {}: no success case", route.path));
            }
            if !exempt(NO_ERROR) && !of_route().any(|s| s.status >= 400) {
                out.push(format!("{method} {}: no error case", route.path));
            }
        }
        out
    }
}

/// `{data, total_count}`, each item of `data` a BAPI `Session`.
fn paginated_sessions(bapi: &Document, body: &Value, head: &str) -> Vec<String> {
    let page = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["data", "total_count"],
        "properties": {
            "data": { "type": "array", "items": { "$ref": "#/components/schemas/Session" } },
            "total_count": { "type": "integer", "format": "int64" },
        },
    });
    validate_as(bapi, &page, body, head)
}

/// The last request the tour sent, and the answers whose status was not
/// the one the flow expected (printed with the failures).
static LAST: Mutex<String> = Mutex::new(String::new());
static UNEXPECTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `res`, after checking its status: the flow went where it should. A
/// wrong status is kept and reported at the end with everything else.
fn expect(res: Resp, status: u16) -> Resp {
    let went = res.status.as_u16() == status;
    kept_unless(went, res, &status.to_string())
}

/// As [`expect`], for an answer that must be an error (4xx).
fn expect_error(res: Resp) -> Resp {
    kept_unless(res.status.is_client_error(), res, "an error")
}

/// `res`; unless the flow `went` where it should, the answer is kept with
/// what was `wanted`.
fn kept_unless(went: bool, res: Resp, wanted: &str) -> Resp {
    if !went {
        let last = LAST.lock().unwrap().clone();
        let status = res.status.as_u16();
        let line = format!("{last}: {status} where {wanted} was expected: {}", res.body);
        UNEXPECTED.lock().unwrap().push(line);
    }
    res
}

fn id_of(res: &Resp) -> String {
    res.body["response"]["id"].as_str().unwrap().to_owned()
}

/// The token a FAPI answer carries, or `token` when it did not rotate.
fn token_after(res: &Resp, token: &str) -> String {
    res.header("authorization")
        .filter(|t| !t.is_empty())
        .map_or_else(|| token.to_owned(), str::to_owned)
}

/// An app with two identity providers on one fake GitHub-style server:
/// `github`, and `custom_acme` (strategy `oauth_custom_acme`).
async fn app_with_providers() -> (TestApp, GitHubLikeProvider) {
    let idp = GitHubLikeProvider::start([
        OAuthUser::new(3001, "alice")
            .with_name("Alice Liddell")
            .with_email("alice@example.com", true),
        OAuthUser::new(3002, "newcomer").with_email("new@example.com", true),
        OAuthUser::new(3003, "fresh")
            .with_name("Fresh Face")
            .with_email("fresh@example.com", true),
        OAuthUser::new(3004, "linker"),
    ]);
    idp.allow_redirect_uri(CALLBACK);
    let providers = ["github", "custom_acme"]
        .into_iter()
        .map(|name| {
            let mut config = ProviderConfig::new(name, ProviderKind::GitHub, idp.client_id());
            config.client_secret = ClientSecret::Shared(idp.client_secret().to_owned());
            config.authorize_url = Some(idp.authorize_url());
            config.token_url = Some(idp.token_url());
            config.api_base_url = Some(idp.api_base_url());
            config.timeout = std::time::Duration::from_secs(2);
            provider(&config).unwrap()
        })
        .collect();
    let app = TestApp::with_oauth(InstanceSettings::default(), providers).await;
    (app, idp)
}

#[tokio::test]
async fn every_route_answers_as_clerks_openapi_documents_say() {
    let tour = Tour::default();
    // A flow that stops halfway still reports what was seen until then.
    let report = Report(&tour, std::cell::Cell::new(false));
    let (app, idp) = app_with_providers().await;
    let w = Walk {
        tour: &tour,
        app: &app,
    };
    public_and_client(w).await;
    first_factors(w).await;
    second_factors(w).await;
    account(w).await;
    addresses(w).await;
    reverification(w).await;
    sessions(w).await;
    sign_ups(w).await;
    handshakes(w).await;
    oauth(w, &idp).await;
    backend(w).await;
    webhooks(w).await;
    instance(w).await;
    without_the_secret_key(w).await;
    // Last, as it moves the clock.
    spent_and_expired(w).await;

    let (failures, uncovered, unexpected) = report.print();
    assert!(
        failures == 0 && uncovered == 0 && unexpected == 0,
        "{failures} failures, {uncovered} routes not covered, {unexpected} unexpected statuses (listed above)"
    );
}

/// Prints what the tour found: when asked, or when a flow panics.
struct Report<'a>(&'a Tour, std::cell::Cell<bool>);

impl Report<'_> {
    /// Prints every exception, failure, uncovered route and unexpected
    /// status; returns how many of the last three there are.
    fn print(&self) -> (usize, usize, usize) {
        self.1.set(true);
        let (failures, accepted) = self.0.check();
        let uncovered = self.0.uncovered();
        let unexpected = UNEXPECTED.lock().unwrap().clone();
        let count = self.0.seen.lock().unwrap().len();
        println!("{count} answers checked against Clerk's OpenAPI documents.");
        println!("Exceptions:");
        let lists = [
            (NOT_IN_CLERK, "not in Clerk's documents"),
            (NO_SUCCESS, "no success case"),
            (NO_ERROR, "no error case"),
        ];
        for (list, what) in lists {
            for (m, p, why) in list {
                println!("  {m} {p}: {what} ({why})");
            }
        }
        println!(
            "  GET /v1/sessions?paginated=true: {{data, total_count}}, as @clerk/backend expects"
        );
        println!("  strategy fields: oauth_custom_<name>, outside Clerk's enums");
        println!("  user_settings.social.oauth_custom_<name>: checked as oauth_custom_mock");
        println!("  POST /v1/dev_browser 200: {{id}}, which clerk-js reads (no body documented)");
        for line in &accepted {
            println!("  {line}");
        }
        for line in &uncovered {
            println!("UNCOVERED {line}");
        }
        for line in &failures {
            println!("FAIL {line}");
        }
        for line in &unexpected {
            println!("FLOW {line}");
        }
        (failures.len(), uncovered.len(), unexpected.len())
    }
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.1.get() {
            self.print();
        }
    }
}

/// A form body, as field and value pairs.
type Form<'a> = &'a [(&'a str, &'a str)];

const SIGN_INS: &str = "/v1/client/sign_ins";
const FORM: &str = "application/x-www-form-urlencoded";
const PREPARE_1: &str = "/prepare_first_factor";
const ATTEMPT_1: &str = "/attempt_first_factor";
const PREPARE_2: &str = "/prepare_second_factor";
const ATTEMPT_2: &str = "/attempt_second_factor";
const RESET: &str = "/reset_password";
/// A strategy no sign-in has.
const PIGEON: Form = &[("strategy", "carrier_pigeon")];

/// The tour on one app: every request is recorded, most with the status
/// the flow expects of it.
#[derive(Clone, Copy)]
struct Walk<'a> {
    tour: &'a Tour,
    app: &'a TestApp,
}

impl Walk<'_> {
    /// A Frontend API call in native mode, whatever its status.
    async fn fapi(self, method: &str, path: &str, token: &str, form: Form<'_>) -> Resp {
        let res = self.app.fapi(method, path, token, form).await;
        self.tour.record(method, path, &res);
        res
    }

    /// A Frontend API call that must succeed (200).
    async fn ok(self, method: &str, path: &str, token: &str, form: Form<'_>) -> Resp {
        expect(self.fapi(method, path, token, form).await, 200)
    }

    /// A Frontend API call that must fail with `status`.
    async fn fails(self, method: &str, path: &str, token: &str, form: Form<'_>, status: u16) {
        expect(self.fapi(method, path, token, form).await, status);
    }

    /// A Frontend API call that must fail, whatever the error.
    async fn refused(self, method: &str, path: &str, token: &str, form: Form<'_>) {
        expect_error(self.fapi(method, path, token, form).await);
    }

    /// A Backend API call with the secret key that must answer `status`.
    async fn bapi(self, method: &str, path: &str, body: Option<Value>, status: u16) -> Resp {
        let res = self.app.bapi(method, path, body).await;
        self.tour.record(method, path, &res);
        expect(res, status)
    }

    /// Any request, with these headers and body, whatever its status.
    async fn request(
        self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Resp {
        let res = self.app.request(method, path, headers, body).await;
        self.tour.record(method, path, &res);
        res
    }

    /// A request with no credential and no body that must answer `status`.
    async fn plain(self, method: &str, path: &str, status: u16) -> Resp {
        expect(self.request(method, path, &[], None).await, status)
    }
}

/// A sign-in the tour drives on its own client; its token follows each answer.
struct SignIn<'a> {
    w: Walk<'a>,
    token: String,
    id: String,
}

impl<'a> SignIn<'a> {
    /// A sign-in on a new client, started with `form` (200).
    async fn start(w: Walk<'a>, form: Form<'_>) -> (Self, Resp) {
        let res = w.ok("POST", SIGN_INS, "", form).await;
        let (token, id) = (res.token(), id_of(&res));
        (SignIn { w, token, id }, res)
    }

    /// A sign-in on a new client identified by `identifier` (200).
    async fn identify(w: Walk<'a>, identifier: &str) -> (Self, Resp) {
        Self::start(w, &[("identifier", identifier)]).await
    }

    /// A sign-in on a new client past the password of `identifier`,
    /// waiting for a second factor.
    async fn password_first(w: Walk<'a>, identifier: &str) -> Self {
        let res = w.fapi("POST", SIGN_INS, "", &password(identifier)).await;
        assert_status(&res, "needs_second_factor");
        let (token, id) = (res.token(), id_of(&res));
        SignIn { w, token, id }
    }

    /// The path of `step` (`""` for the sign-in itself).
    fn path(&self, step: &str) -> String {
        format!("{SIGN_INS}/{}{step}", self.id)
    }

    /// The sign-in as its client reads it (200).
    async fn read(&self) -> Resp {
        self.w.ok("GET", &self.path(""), &self.token, &[]).await
    }

    /// `step` with `form`, whatever its status.
    async fn send(&mut self, step: &str, form: Form<'_>) -> Resp {
        let path = self.path(step);
        let res = self.w.fapi("POST", &path, &self.token, form).await;
        self.token = token_after(&res, &self.token);
        res
    }

    /// `step` with `form`, which must answer `status`.
    async fn post(&mut self, step: &str, form: Form<'_>, status: u16) -> Resp {
        expect(self.send(step, form).await, status)
    }

    /// `step` with `form`, which must fail, whatever the error.
    async fn refused(&mut self, step: &str, form: Form<'_>) {
        expect_error(self.send(step, form).await);
    }

    /// `step` with `strategy` and `code`, which must answer `status`.
    async fn code(&mut self, step: &str, strategy: &str, code: &str, status: u16) -> Resp {
        let form = [("strategy", strategy), ("code", code)];
        self.post(step, &form, status).await
    }

    /// `step` with `strategy` and the last code sent to `to` (200).
    async fn code_sent_to(&mut self, to: &str, step: &str, strategy: &str) -> Resp {
        let code = self.w.app.codes.last_code_to(to).unwrap();
        self.code(step, strategy, &code, 200).await
    }

    /// `step` of a sign-in that does not exist, on this client (404).
    async fn unknown(&self, step: &str, form: Form<'_>) {
        let path = format!("{SIGN_INS}/sia_unknown{step}");
        self.w.fails("POST", &path, &self.token, form, 404).await;
    }

    /// A password reset up to the new password: `strategy`'s code prepared
    /// for the factor `factor` names and sent to `to`, then attempted.
    async fn pass_reset_code(&mut self, strategy: &str, factor: (&str, &str), to: &str) {
        let form = [("strategy", strategy), factor];
        self.post(PREPARE_1, &form, 200).await;
        let passed = self.code_sent_to(to, ATTEMPT_1, strategy).await;
        assert_status(&passed, "needs_new_password");
    }
}

/// A sign-in's form with `identifier` and its password.
fn password(identifier: &str) -> [(&str, &str); 3] {
    let strategy = ("strategy", "password");
    [strategy, ("identifier", identifier), ("password", PASSWORD)]
}

/// Asserts the status of the sign-in a FAPI answer carries.
fn assert_status(res: &Resp, status: &str) {
    assert_eq!(res.body["response"]["status"], status, "{}", res.body);
}

/// Asserts the status of a sign-in's first factor verification.
fn assert_verification(res: &Resp, status: &str) {
    let found = &res.body["response"]["first_factor_verification"]["status"];
    assert_eq!(found, status, "{}", res.body);
}

/// The id a FAPI answer's factor `strategy` names in `field`.
fn factor_id(res: &Resp, strategy: &str, field: &str) -> String {
    let factors = res.body["response"]["supported_first_factors"].as_array();
    let found = factors.unwrap().iter().find(|f| f["strategy"] == strategy);
    let found = found.unwrap_or_else(|| panic!("no {strategy} in {}", res.body));
    found[field].as_str().unwrap().to_owned()
}

/// Health, keys, the environment, development browsers and clients.
async fn public_and_client(w: Walk<'_>) {
    w.plain("GET", "/healthz", 200).await;
    w.plain("GET", "/readyz", 200).await;
    w.request("HEAD", "/readyz", &[], None).await;
    w.plain("GET", "/metrics", 200).await;
    w.request("HEAD", "/healthz", &[], None).await;
    let avatar = "/v1/avatars/default.svg?initials=AL";
    w.plain("GET", avatar, 200).await;
    w.plain("HEAD", avatar, 200).await;
    // One parameter given twice with two values is refused, as everywhere.
    let twice = "/v1/avatars/default.svg?initials=A&initials=B";
    w.plain("GET", twice, 422).await;
    w.plain("HEAD", twice, 422).await;
    w.plain("GET", "/.well-known/jwks.json", 200).await;
    w.plain("GET", "/", 200).await;
    w.plain("HEAD", "/", 200).await;
    for hosted in ["/sign-in", "/sign-up", "/user", "/hosted/mount.js"] {
        w.plain("GET", hosted, 200).await;
    }
    // Clerk's bundles: a range, an exact version's chunk, and an unknown version.
    for method in ["GET", "HEAD"] {
        w.plain(method, "/npm/@clerk/clerk-js@6/dist/clerk.browser.js", 200)
            .await;
        w.plain(
            method,
            "/npm/@clerk/ui@1.36.0/dist/signin_ui_58d0c7_1.36.0.js",
            200,
        )
        .await;
        w.plain(method, "/npm/@clerk/clerk-js@5/dist/clerk.browser.js", 404)
            .await;
    }
    w.ok("GET", "/v1/environment", "", &[]).await;
    w.ok("PATCH", "/v1/environment", "", &[]).await;

    // No client yet, then a new one.
    w.ok("GET", "/v1/client", "", &[]).await;
    let created = w.ok("POST", "/v1/client", "", &[]).await.token();
    w.ok("PUT", "/v1/client", "", &[]).await;
    w.ok("GET", "/v1/client", &created, &[]).await;
    w.ok("DELETE", "/v1/client", &created, &[]).await;
    // Signing out a client that is gone changes nothing, and succeeds.
    w.fapi("DELETE", "/v1/client", &created, &[]).await;

    // A development browser, and its client once deleted.
    let db = w.plain("POST", "/v1/dev_browser", 200).await;
    let jwt = db.body["id"].as_str().unwrap();
    let path = format!("/v1/client?__clerk_db_jwt={jwt}");
    for (method, status) in [("GET", 200), ("DELETE", 200), ("GET", 401)] {
        w.plain(method, &path, status).await;
    }
    for method in ["DELETE", "PUT", "POST"] {
        w.plain(method, &path, 401).await;
    }
    let production = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    let elsewhere = Walk {
        tour: w.tour,
        app: &production,
    };
    elsewhere.plain("POST", "/v1/dev_browser", 404).await;
}

/// The handshake of the server-side SDKs, signed in and out, and the
/// Backend API's redemption of its nonce.
async fn handshakes(w: Walk<'_>) {
    let page = "redirect_url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard";
    let path = format!("/v1/client/handshake?{page}&format=nonce");
    w.app.user("hana@example.com", None).await;
    let (token, _) = w.app.sign_in("hana@example.com").await;
    let cookie = format!("__client={token}");
    for headers in [vec![], vec![("cookie", cookie.as_str())]] {
        let res = expect(w.request("GET", &path, &headers, None).await, 307);
        let location = res.header("location").unwrap();
        let nonce = location.split_once("__clerk_handshake_nonce=").unwrap().1;
        let payload = format!("/v1/clients/handshake_payload?nonce={nonce}");
        for _ in 0..latch_core::service::HANDSHAKE_NONCE_REDEMPTIONS {
            w.bapi("GET", &payload, None, 200).await;
        }
        w.bapi("GET", &payload, None, 404).await;
    }
    w.plain(
        "GET",
        "/v1/client/handshake?redirect_url=https%3A%2F%2Fevil.example",
        422,
    )
    .await;
}

/// Sign-ups: by email and code, by phone and code, an update, and their
/// errors (a restricted instance's too).
async fn sign_ups(w: Walk<'_>) {
    const SIGN_UPS: &str = "/v1/client/sign_ups";
    let bad = [("email_address", "not an address")];
    w.fails("POST", SIGN_UPS, "", &bad, 422).await;
    let res = w
        .ok(
            "POST",
            SIGN_UPS,
            "",
            &[("email_address", "una@example.com"), ("password", PASSWORD)],
        )
        .await;
    let (token, id) = (res.token(), id_of(&res));
    let path = |step: &str| format!("{SIGN_UPS}/{id}{step}");
    w.ok("GET", &path(""), &token, &[]).await;
    w.fails("GET", &format!("{SIGN_UPS}/sua_unknown"), &token, &[], 404)
        .await;
    w.ok("PATCH", &path(""), &token, &[("first_name", "Una")])
        .await;
    w.fails("PATCH", &path(""), &token, &[("username", "x")], 422)
        .await;
    let email = [("strategy", "email_code")];
    w.fails("POST", &path("/prepare_verification"), &token, PIGEON, 422)
        .await;
    w.ok("POST", &path("/prepare_verification"), &token, &email)
        .await;
    let wrong = [("strategy", "email_code"), ("code", "000000")];
    w.refused("POST", &path("/attempt_verification"), &token, &wrong)
        .await;
    let code = w.app.codes.last_code_to("una@example.com").unwrap();
    let right = [("strategy", "email_code"), ("code", code.as_str())];
    let done = w
        .ok("POST", &path("/attempt_verification"), &token, &right)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);

    // A phone number, proved by its code.
    let res = w
        .ok(
            "POST",
            SIGN_UPS,
            "",
            &[
                ("phone_number", "+14155550987"),
                ("email_address", "una.p@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let (token, id) = (res.token(), id_of(&res));
    let prepare = format!("{SIGN_UPS}/{id}/prepare_verification");
    w.ok("POST", &prepare, &token, &[("strategy", "phone_code")])
        .await;
    w.ok("GET", &format!("{SIGN_UPS}/{id}"), &token, &[]).await;

    // No sign-ups at all on a restricted instance.
    let mut settings = InstanceSettings::default();
    settings.sign_up.mode = latch_core::model::SignUpMode::Restricted;
    let restricted = TestApp::with(settings).await;
    let elsewhere = Walk {
        tour: w.tour,
        app: &restricted,
    };
    elsewhere
        .fails(
            "POST",
            SIGN_UPS,
            "",
            &[("email_address", "una@example.com")],
            422,
        )
        .await;
}

/// Sign-ins by password, email code, phone code and a password reset, and
/// their errors.
async fn first_factors(w: Walk<'_>) {
    let created = w
        .app
        .post_user(json!({
            "email_address": ["ann@example.com"],
            "phone_number": ["+15550001234"],
            "username": "annie",
            "password": PASSWORD,
            "first_name": "Ann",
            "last_name": "Smith",
        }))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let (email, phone) = ("ann@example.com", "+15550001234");

    // A sign-in with nothing yet; an unknown identifier, strategy and sign-in.
    let (empty, _) = SignIn::start(w, &[]).await;
    empty.read().await;
    let nobody = [("identifier", "nobody@example.com")];
    let unknown = w.fapi("POST", SIGN_INS, "", &nobody).await;
    let answer = unknown.status;
    assert!(answer.is_success() || answer == 422, "{}", unknown.body);
    w.fails("POST", SIGN_INS, "", PIGEON, 422).await;
    let missing = format!("{SIGN_INS}/sia_unknown");
    w.fails("GET", &missing, &empty.token, &[], 404).await;

    // Password: wrong, then right.
    let (mut s, _) = SignIn::identify(w, email).await;
    let wrong = [("strategy", "password"), ("password", "not the password")];
    s.post(ATTEMPT_1, &wrong, 422).await;
    s.post(ATTEMPT_1, &[], 422).await;
    s.unknown(ATTEMPT_1, &wrong).await;
    let right = [("strategy", "password"), ("password", PASSWORD)];
    assert_status(&s.post(ATTEMPT_1, &right, 200).await, "complete");
    s.read().await;
    w.ok("GET", "/v1/client", &s.token, &[]).await;

    // Email code: prepared, wrong, right.
    let (mut s, identified) = SignIn::identify(w, "annie").await;
    let email_id = factor_id(&identified, "email_code", "email_address_id");
    let by_email = [("strategy", "email_code"), ("email_address_id", &email_id)];
    s.post(PREPARE_1, &by_email, 200).await;
    let elsewhere = [
        ("strategy", "email_code"),
        ("email_address_id", "idn_unknown"),
    ];
    s.post(PREPARE_1, &elsewhere, 422).await;
    s.post(PREPARE_1, PIGEON, 422).await;
    s.unknown(PREPARE_1, &[("strategy", "email_code")]).await;
    s.code(ATTEMPT_1, "email_code", "000000", 422).await;
    s.read().await;
    s.code_sent_to(email, ATTEMPT_1, "email_code").await;

    // Phone code, identified by the phone number.
    let (mut s, identified) = SignIn::identify(w, phone).await;
    let phone_id = factor_id(&identified, "phone_code", "phone_number_id");
    let by_phone = [("strategy", "phone_code"), ("phone_number_id", &phone_id)];
    s.post(PREPARE_1, &by_phone, 200).await;
    s.code_sent_to(phone, ATTEMPT_1, "phone_code").await;

    // A password reset by email code, and its errors.
    let new_password = [("password", "a brand new password")];
    let (mut s, _) = SignIn::identify(w, email).await;
    // Not yet: the reset code has not passed.
    s.refused(RESET, &new_password).await;
    let (strategy, by) = ("reset_password_email_code", "email_address_id");
    s.pass_reset_code(strategy, (by, &email_id), email).await;
    s.read().await;
    s.post(RESET, &[("password", "short")], 422).await;
    s.unknown(RESET, &new_password).await;
    assert_status(&s.post(RESET, &new_password, 200).await, "complete");

    // A password reset by SMS code.
    let (mut s, _) = SignIn::identify(w, phone).await;
    let (strategy, by) = ("reset_password_phone_code", "phone_number_id");
    s.pass_reset_code(strategy, (by, &phone_id), phone).await;
    let another = [("password", "another new password")];
    assert_status(&s.post(RESET, &another, 200).await, "complete");
}

/// Second factors: TOTP, backup codes and a phone code, and their errors.
async fn second_factors(w: Walk<'_>) {
    // TOTP, with backup codes too.
    let user = totp_user(w.app, "tina@example.com").await;
    let path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    let codes = json!({ "backup_codes": ["k7m2p9qa", "x3n8v1cd", "h5t6w2ee"] });
    expect(w.app.bapi("PATCH", &path, Some(codes)).await, 200);
    let mut s = SignIn::password_first(w, "tina@example.com").await;
    s.read().await;
    let totp = [("strategy", "totp")];
    // TOTP has nothing to send: whatever the answer, it is checked.
    s.send(PREPARE_2, &totp).await;
    s.post(PREPARE_2, PIGEON, 422).await;
    s.code(ATTEMPT_2, "totp", "000000", 422).await;
    s.post(ATTEMPT_2, &totp, 422).await;
    s.read().await;
    let code = totp_code(w.app, 0);
    assert_status(&s.code(ATTEMPT_2, "totp", &code, 200).await, "complete");
    let right = [("strategy", "totp"), ("code", code.as_str())];
    s.unknown(ATTEMPT_2, &right).await;
    s.unknown(PREPARE_2, &totp).await;

    // A backup code.
    let mut s = SignIn::password_first(w, "tina@example.com").await;
    s.code(ATTEMPT_2, "backup_code", "zzzzzzzz", 422).await;
    let done = s.code(ATTEMPT_2, "backup_code", "k7m2p9qa", 200).await;
    assert_status(&done, "complete");

    // A second factor before the first is the wrong state.
    let (mut s, _) = SignIn::identify(w, "tina@example.com").await;
    s.refused(PREPARE_2, &totp).await;
    let early = [("strategy", "totp"), ("code", "000000")];
    s.refused(ATTEMPT_2, &early).await;

    // A phone number kept for the second factor.
    let (email, phone) = ("paul@example.com", "+15555550242");
    let body = json!({ "email_address": [email], "phone_number": [phone], "password": PASSWORD });
    let user = w.app.post_user(body).await;
    assert_eq!(user.status, 200, "{}", user.body);
    let phone_id = user.body["phone_numbers"][0]["id"].as_str().unwrap();
    let reserve = json!({ "reserved_for_second_factor": true });
    let number = format!("/v1/phone_numbers/{phone_id}");
    w.bapi("PATCH", &number, Some(reserve), 200).await;
    let mut s = SignIn::password_first(w, email).await;
    let by_phone = [("strategy", "phone_code"), ("phone_number_id", phone_id)];
    s.post(PREPARE_2, &by_phone, 200).await;
    s.code(ATTEMPT_2, "phone_code", "000000", 422).await;
    let done = s.code_sent_to(phone, ATTEMPT_2, "phone_code").await;
    assert_status(&done, "complete");
}

/// `/v1/me`: the signed-in user, an authenticator app and backup codes.
async fn account(w: Walk<'_>) {
    w.app.user("nia@example.com", Some("nia_n")).await;
    let (token, session) = w.app.sign_in("nia@example.com").await;
    let me = |rest: &str| format!("/v1/me{rest}?_clerk_session_id={session}");
    w.ok("GET", &me(""), &token, &[]).await;
    w.ok(
        "PATCH",
        &me(""),
        &token,
        &[
            ("first_name", "Nia"),
            ("unsafe_metadata", r#"{"theme":"dark"}"#),
        ],
    )
    .await;
    w.fails(
        "PATCH",
        &me(""),
        &token,
        &[("primary_email_address_id", "idn_nobody")],
        422,
    )
    .await;
    for sessions in ["/sessions", "/sessions/active"] {
        w.ok("GET", &me(sessions), &token, &[]).await;
        w.fails("GET", &format!("/v1/me{sessions}"), "", &[], 401)
            .await;
    }
    let (_, elsewhere) = w.app.sign_in("nia@example.com").await;
    w.ok(
        "POST",
        &me(&format!("/sessions/{elsewhere}/revoke")),
        &token,
        &[],
    )
    .await;
    w.fails(
        "POST",
        &me("/sessions/sess_unknown/revoke"),
        &token,
        &[],
        404,
    )
    .await;
    let metadata = [("unsafe_metadata", r#"{"theme":null,"plan":{"tier":"pro"}}"#)];
    w.ok("PATCH", &me("/metadata"), &token, &metadata).await;
    let not_an_object = [("unsafe_metadata", "[1]")];
    w.fails("PATCH", &me("/metadata"), &token, &not_an_object, 422)
        .await;
    let change = me("/change_password");
    let wrong = [
        ("current_password", "not it"),
        ("new_password", "a brand new secret"),
    ];
    w.fails("POST", &change, &token, &wrong, 422).await;
    let right = [
        ("current_password", PASSWORD),
        ("new_password", "a brand new secret"),
    ];
    w.ok("POST", &change, &token, &right).await;
    let remove = me("/remove_password");
    w.fails(
        "POST",
        &remove,
        &token,
        &[("current_password", "not it")],
        422,
    )
    .await;
    let current = [("current_password", "a brand new secret")];
    w.ok("POST", &remove, &token, &current).await;
    for (method, path) in [("GET", ""), ("POST", "/totp"), ("POST", "/backup_codes")] {
        let path = format!("/v1/me{path}");
        w.fails(method, &path, "", &[], 401).await;
    }
    w.fails("DELETE", &me("/totp"), &token, &[], 404).await;

    let created = w.ok("POST", &me("/totp"), &token, &[]).await;
    let secret = created.body["response"]["secret"].as_str().unwrap();
    let verify = me("/totp/attempt_verification");
    let wrong = [("code", "000000")];
    w.fails("POST", &verify, &token, &wrong, 422).await;
    w.fails("POST", &verify, "", &wrong, 401).await;
    let now = latch_core::ports::Clock::now(&*w.app.clock);
    let secret = latch_core::model::TotpSecret::parse_base32(secret).unwrap();
    let code = secret.code_at_step(latch_core::model::step_at(now));
    w.ok("POST", &verify, &token, &[("code", &code)]).await;
    w.fails("POST", &me("/totp"), &token, &[], 400).await;
    w.ok("GET", &me(""), &token, &[]).await;
    w.ok("POST", &me("/backup_codes"), &token, &[]).await;
    w.ok("DELETE", &me("/totp"), &token, &[]).await;
    w.fails("DELETE", "/v1/me/totp", "", &[], 401).await;
    w.fails("DELETE", "/v1/me", "", &[], 401).await;
    w.ok("DELETE", &me(""), &token, &[]).await;
}

/// `/v1/me/email_addresses` and `/v1/me/phone_numbers`: add, prove, read,
/// keep for the second factor, remove.
async fn addresses(w: Walk<'_>) {
    w.app.user("ola@example.com", None).await;
    let (token, session) = w.app.sign_in("ola@example.com").await;
    let me = |rest: &str| format!("/v1/me/{rest}?_clerk_session_id={session}");
    for (list, param, value, strategy) in [
        (
            "email_addresses",
            "email_address",
            "ola.work@example.com",
            "email_code",
        ),
        (
            "phone_numbers",
            "phone_number",
            "+14155552672",
            "phone_code",
        ),
    ] {
        w.ok("GET", &me(list), &token, &[]).await;
        w.fails("GET", &format!("/v1/me/{list}"), "", &[], 401)
            .await;
        w.fails("POST", &me(list), &token, &[(param, "")], 422)
            .await;
        let added = w.ok("POST", &me(list), &token, &[(param, value)]).await;
        let id = id_of(&added);
        let one = |rest: &str| me(&format!("{list}/{id}{rest}"));
        w.ok("GET", &one(""), &token, &[]).await;
        w.fails("GET", &me(&format!("{list}/idn_unknown")), &token, &[], 404)
            .await;
        let prepare = one("/prepare_verification");
        w.fails("POST", &prepare, &token, &[("strategy", "password")], 422)
            .await;
        w.ok("POST", &prepare, &token, &[("strategy", strategy)])
            .await;
        let attempt = one("/attempt_verification");
        w.fails("POST", &attempt, &token, &[("code", "000000")], 422)
            .await;
        let code = w.app.codes.last_code_to(value).unwrap();
        w.ok("POST", &attempt, &token, &[("code", &code)]).await;
        if list == "phone_numbers" {
            let reserve = [("reserved_for_second_factor", "true")];
            w.ok("PATCH", &one(""), &token, &reserve).await;
            let unknown = me("phone_numbers/idn_unknown");
            w.fails("PATCH", &unknown, &token, &reserve, 404).await;
        }
        w.ok("DELETE", &one(""), &token, &[]).await;
        w.fails("DELETE", &one(""), &token, &[], 404).await;
    }
}

/// `/v1/client/sessions/{id}/verify`: proving the factors again.
async fn reverification(w: Walk<'_>) {
    w.app.user("pia@example.com", None).await;
    let (token, session) = w.app.sign_in("pia@example.com").await;
    let at = |rest: &str| format!("/v1/client/sessions/{session}/verify{rest}");
    w.ok("POST", &at(""), &token, &[("level", "first_factor")])
        .await;
    w.fails("POST", &at(""), &token, &[("level", "any")], 422)
        .await;
    let prepare = at("/prepare_first_factor");
    w.ok("POST", &prepare, &token, &[("strategy", "email_code")])
        .await;
    w.fails("POST", &prepare, &token, &[("strategy", "totp")], 422)
        .await;
    let first = at("/attempt_first_factor");
    let wrong = [("strategy", "password"), ("password", "not it")];
    w.fails("POST", &first, &token, &wrong, 422).await;
    let right = [("strategy", "password"), ("password", PASSWORD)];
    w.ok("POST", &first, &token, &right).await;

    totp_user(w.app, "quin@example.com").await;
    let mut s = SignIn::password_first(w, "quin@example.com").await;
    let done = s
        .post(
            ATTEMPT_2,
            &[("strategy", "totp"), ("code", &totp_code(w.app, 0))],
            200,
        )
        .await;
    let session = done.body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = format!("/v1/client/sessions/{session}/verify/attempt_second_factor");
    let wrong = [("strategy", "totp"), ("code", "000000")];
    w.fails("POST", &second, &s.token, &wrong, 422).await;
    let right = [("strategy", "totp"), ("code", &totp_code(w.app, 1))];
    w.ok("POST", &second, &s.token, &right).await;
}

/// `/v1/client/sessions/...`: touch, tokens, end, remove, sign out.
async fn sessions(w: Walk<'_>) {
    w.app.user("mia@example.com", None).await;
    w.app.user("mia.work@example.com", None).await;
    let (token, first) = w.app.sign_in("mia@example.com").await;
    let first = first.as_str();
    let work = password("mia.work@example.com");
    let res = w.ok("POST", SIGN_INS, &token, &work).await;
    let token = token_after(&res, &token);
    let second = res.body["response"]["created_session_id"].as_str().unwrap();
    let again = password("mia@example.com");
    w.fails("POST", SIGN_INS, &token, &again, 400).await;

    let at = |sid: &str, rest: &str| format!("/v1/client/sessions/{sid}/{rest}");
    let select = [("intent", "select_session")];
    w.ok("POST", &at(first, "touch"), &token, &select).await;
    let unknown = "sess_unknown";
    let cases = [
        (unknown, "touch", 404),
        (first, "tokens", 200),
        (unknown, "tokens", 404),
        (first, "tokens/custom_template", 404),
        (first, "end", 200),
        (first, "tokens", 401),
        (unknown, "end", 404),
        (second, "remove", 200),
        (unknown, "remove", 404),
    ];
    for (sid, rest, status) in cases {
        expect(w.fapi("POST", &at(sid, rest), &token, &[]).await, status);
    }
    w.ok("GET", "/v1/client", &token, &[]).await;

    let (token, _) = w.app.sign_in("mia@example.com").await;
    w.ok("DELETE", "/v1/client/sessions", &token, &[]).await;
    w.refused("DELETE", "/v1/client/sessions", "", &[]).await;
}

/// The provider's part: approve as `login`; the callback's query.
async fn approve(idp: &GitHubLikeProvider, url: &str, login: &str) -> String {
    idp.log_in_as(login);
    let callback = sign_in(url, login)
        .await
        .expect("the provider sends the browser back");
    callback.url[CALLBACK.len()..].to_owned()
}

/// OAuth sign-ins through the callback, by a preset and a custom provider.
async fn oauth(w: Walk<'_>, idp: &GitHubLikeProvider) {
    let back = "http://localhost:3000/sso-callback";
    let alice = w.app.user("alice@example.com", None).await;
    let start = |strategy: &'static str| async move {
        let form = [
            ("strategy", strategy),
            ("redirect_url", back),
            ("action_complete_redirect_url", "http://localhost:3000/home"),
        ];
        let (s, res) = SignIn::start(w, &form).await;
        let verification = &res.body["response"]["first_factor_verification"];
        let url = verification["external_verification_redirect_url"].as_str();
        (s, url.unwrap().to_owned())
    };

    // Linked by the verified email; the app claims the result with the nonce.
    let (s, url) = start("oauth_github").await;
    let query = approve(idp, &url, "alice").await;
    let callback = format!("/v1/oauth_callback{query}");
    let landed = w.plain("GET", &callback, 303).await;
    let location = landed.header("location").unwrap();
    let nonce = location.split_once("rotating_token_nonce=").unwrap().1;
    let path = format!("{}?rotating_token_nonce={nonce}", s.path(""));
    let claimed = w.ok("GET", &path, &s.token, &[]).await;
    assert_status(&claimed, "complete");
    // The state is single use; a guessed nonce claims nothing.
    w.plain("GET", &callback, 400).await;
    let guessed = "/v1/client/sign_ins/sia_x?rotating_token_nonce=guessed";
    w.refused("GET", guessed, &s.token, &[]).await;

    // A provider's form POST: without the cookie it is sent back as a GET,
    // with it the state is checked.
    let form = query.trim_start_matches('?');
    let posted = || Some(("application/x-www-form-urlencoded", form.to_owned()));
    let to = "/v1/oauth_callback";
    expect(w.request("POST", to, &[], posted()).await, 303);
    let cookie = format!("__client={}", s.token);
    let headers = [("cookie", cookie.as_str())];
    expect_error(w.request("POST", to, &headers, posted()).await);

    // A custom provider with no account yet: once claimed, the verification
    // is transferable, and a sign-up takes the account over.
    let (s, url) = start("oauth_custom_acme").await;
    let query = approve(idp, &url, "newcomer").await;
    let callback = format!("/v1/oauth_callback{query}");
    let landed = w.plain("GET", &callback, 303).await;
    let nonce = landed
        .header("location")
        .unwrap()
        .split_once("rotating_token_nonce=")
        .unwrap()
        .1
        .to_owned();
    let claimed = w
        .ok(
            "GET",
            &format!("{}?rotating_token_nonce={nonce}", s.path("")),
            &s.token,
            &[],
        )
        .await;
    assert_verification(&claimed, "transferable");
    let token = token_after(&claimed, &s.token);
    let transfer = [("transfer", "true")];
    let signed_up = w.ok("POST", "/v1/client/sign_ups", &token, &transfer).await;
    assert_eq!(
        signed_up.body["response"]["status"], "complete",
        "{}",
        signed_up.body
    );
    // Nothing left to transfer.
    let token = token_after(&signed_up, &token);
    w.fails("POST", "/v1/client/sign_ups", &token, &transfer, 422)
        .await;
    w.fails("POST", SIGN_INS, &token, &transfer, 422).await;

    // An OAuth sign-up: a new account completes; one that is a user's is
    // transferable to a sign-in, which completes for that user.
    let sign_up = |strategy: &'static str| async move {
        let form = [("strategy", strategy), ("redirect_url", back)];
        let res = w.ok("POST", "/v1/client/sign_ups", "", &form).await;
        let v = &res.body["response"]["verifications"]["external_account"];
        let url = v["external_verification_redirect_url"]
            .as_str()
            .unwrap()
            .to_owned();
        (res.token(), id_of(&res), url)
    };
    for (login, status) in [("fresh", "complete"), ("alice", "missing_requirements")] {
        let (token, id, url) = sign_up("oauth_github").await;
        let query = approve(idp, &url, login).await;
        let landed = w
            .plain("GET", &format!("/v1/oauth_callback{query}"), 303)
            .await;
        let nonce = landed
            .header("location")
            .unwrap()
            .split_once("rotating_token_nonce=")
            .unwrap()
            .1
            .to_owned();
        let path = format!("/v1/client/sign_ups/{id}?rotating_token_nonce={nonce}");
        let claimed = w.ok("GET", &path, &token, &[]).await;
        assert_eq!(
            claimed.body["response"]["status"], status,
            "{}",
            claimed.body
        );
        if login == "alice" {
            let v = &claimed.body["response"]["verifications"]["external_account"];
            assert_eq!(v["status"], "transferable", "{}", claimed.body);
            assert_eq!(v["error"]["code"], "external_account_exists");
            let token = token_after(&claimed, &token);
            let signed_in = w.ok("POST", SIGN_INS, &token, &transfer).await;
            assert_status(&signed_in, "complete");
        }
    }

    // Prepared after identification.
    let (mut s, _) = SignIn::identify(w, "alice@example.com").await;
    let form = [("strategy", "oauth_custom_acme"), ("redirect_url", back)];
    s.post(PREPARE_1, &form, 200).await;

    // The account as the Backend API shows it, then removed.
    let user = format!("/v1/users/{alice}");
    let found = w.bapi("GET", &user, None, 200).await;
    let account = found.body["external_accounts"][0]["id"].as_str().unwrap();
    let path = format!("{user}/external_accounts/{account}");
    w.bapi("DELETE", &path, None, 200).await;
    w.bapi("DELETE", &path, None, 404).await;

    // A signed-in browser connects a provider account, then disconnects it.
    let rin = w.app.user("rin@example.com", None).await;
    let form = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", "rin@example.com"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let signed_in = w.request("POST", SIGN_INS, &[], Some((FORM, form))).await;
    let cookie = signed_in.header("set-cookie").unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let headers = [("cookie", cookie.as_str())];
    let connect =
        serde_urlencoded::to_string([("strategy", "oauth_github"), ("redirect_url", back)])
            .unwrap();
    let to = "/v1/me/external_accounts";
    let pending = expect(
        w.request("POST", to, &headers, Some((FORM, connect.clone())))
            .await,
        200,
    );
    let url = pending.body["response"]["verification"]["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = approve(idp, &url, "linker").await;
    let callback = format!("/v1/oauth_callback{query}");
    expect(w.request("GET", &callback, &headers, None).await, 303);
    let (token, _) = w.app.sign_in("rin@example.com").await;
    let native = [("strategy", "oauth_github"), ("redirect_url", back)];
    w.refused("POST", to, &token, &native).await;
    let tokens = format!("/v1/users/{rin}/oauth_access_tokens/oauth_github");
    w.bapi("GET", &tokens, None, 200).await;
    let nobody = "/v1/users/user_nobody/oauth_access_tokens/oauth_github";
    w.bapi("GET", nobody, None, 404).await;
    let linked = id_of(&pending);
    let one = format!("{to}/{linked}");
    expect(w.request("DELETE", &one, &headers, None).await, 200);
    expect(w.request("DELETE", &one, &headers, None).await, 404);
}

/// The Backend API's users, phone numbers and sessions.
async fn backend(w: Walk<'_>) {
    let full = json!({
        "email_address": ["zed@example.com", "zed@work.example"],
        "phone_number": ["+15555550199"],
        "username": "zeddy",
        "password": PASSWORD,
        "first_name": "Zed",
        "last_name": "Zulu",
        "public_metadata": { "plan": "pro" },
        "private_metadata": { "note": 1 },
        "unsafe_metadata": { "theme": "dark" },
        "totp_secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "backup_codes": ["k7m2p9qa", "x3n8v1cd"],
    });
    let created = w.bapi("POST", "/v1/users", Some(full), 200).await;
    let id = created.body["id"].as_str().unwrap();
    let phone = created.body["phone_numbers"][0]["id"].as_str().unwrap();
    let user: &str = &format!("/v1/users/{id}");
    let taken = json!({ "email_address": ["zed@example.com"] });
    w.bapi("POST", "/v1/users", Some(taken), 422).await;
    let invalid = json!({ "email_address": ["not-an-email"] });
    w.bapi("POST", "/v1/users", Some(invalid), 422).await;
    let found = "/v1/users?email_address=zed@example.com&limit=5";
    let unknown = "/v1/users/user_unknown";
    let reads = [
        ("/v1/users", 200),
        (found, 200),
        ("/v1/users?limit=0", 422),
        ("/v1/users/count", 200),
        (user, 200),
        (unknown, 404),
    ];
    for (path, status) in reads {
        w.bapi("GET", path, None, status).await;
    }
    let renamed = json!({ "first_name": "Zedediah", "username": null });
    w.bapi("PATCH", user, Some(renamed), 200).await;
    let nope = json!({ "primary_email_address_id": "idn_nope" });
    w.bapi("PATCH", user, Some(nope), 422).await;
    let named = json!({ "first_name": "x" });
    w.bapi("PATCH", unknown, Some(named), 404).await;
    for (method, actions) in [
        ("POST", &["lock", "unlock", "ban", "unban"][..]),
        ("DELETE", &["totp", "backup_code", "mfa"]),
    ] {
        for action in actions {
            w.bapi(method, &format!("{user}/{action}"), None, 200).await;
            let missing = format!("{unknown}/{action}");
            w.bapi(method, &missing, None, 404).await;
        }
    }

    // A phone number: read and verified, or not.
    let number: &str = &format!("/v1/phone_numbers/{phone}");
    let unknown = "/v1/phone_numbers/idn_unknown";
    w.bapi("GET", number, None, 200).await;
    w.bapi("GET", unknown, None, 404).await;
    let cases = [
        (number, json!(false), 200),
        (number, json!("perhaps"), 422),
        (unknown, json!(true), 404),
    ];
    for (path, verified, status) in cases {
        let body = json!({ "verified": verified });
        w.bapi("PATCH", path, Some(body), status).await;
    }

    // Addresses an operator adds, changes and removes; metadata merged; the
    // user's password and codes checked.
    let cases = [
        (
            "POST",
            "/v1/email_addresses".to_owned(),
            json!({ "user_id": id, "email_address": "zed@home.example", "verified": true }),
            200,
        ),
        (
            "POST",
            "/v1/email_addresses".to_owned(),
            json!({ "user_id": id, "email_address": "zed@example.com" }),
            422,
        ),
        (
            "POST",
            "/v1/phone_numbers".to_owned(),
            json!({ "user_id": id, "phone_number": "+14155552673", "verified": true }),
            200,
        ),
        (
            "POST",
            "/v1/phone_numbers".to_owned(),
            json!({ "user_id": "user_unknown", "phone_number": "+14155552674" }),
            404,
        ),
        (
            "PATCH",
            format!("{user}/metadata"),
            json!({ "public_metadata": { "plan": null, "seats": 3 } }),
            200,
        ),
        (
            "PATCH",
            format!("{user}/metadata"),
            json!({ "private_metadata": [1] }),
            422,
        ),
        (
            "POST",
            format!("{user}/verify_password"),
            json!({ "password": PASSWORD }),
            200,
        ),
        (
            "POST",
            format!("{user}/verify_password"),
            json!({ "password": "not it" }),
            422,
        ),
    ];
    let mut made = Vec::new();
    for (method, path, body, status) in cases {
        let res = w.bapi(method, &path, Some(body), status).await;
        if status == 200
            && method == "POST"
            && path.starts_with("/v1/")
            && res.body["object"].is_string()
        {
            made.push((
                res.body["object"].as_str().unwrap().to_owned(),
                res.body["id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let secret = json!({ "totp_secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" });
    w.bapi("PATCH", user, Some(secret), 200).await;
    let totp = totp_code(w.app, 0);
    w.bapi(
        "POST",
        &format!("{user}/verify_totp"),
        Some(json!({ "code": totp })),
        200,
    )
    .await;
    w.bapi(
        "POST",
        &format!("{user}/verify_totp"),
        Some(json!({ "code": "000000" })),
        422,
    )
    .await;
    for (object, made_id) in made {
        let path = if object == "email_address" {
            format!("/v1/email_addresses/{made_id}")
        } else {
            format!("/v1/phone_numbers/{made_id}")
        };
        if object == "email_address" {
            w.bapi("GET", &path, None, 200).await;
            w.bapi("PATCH", &path, Some(json!({ "primary": true })), 200)
                .await;
            w.bapi(
                "PATCH",
                "/v1/email_addresses/idn_unknown",
                Some(json!({ "primary": true })),
                404,
            )
            .await;
            w.bapi("GET", "/v1/email_addresses/idn_unknown", None, 404)
                .await;
        }
        w.bapi("DELETE", &path, None, 200).await;
        w.bapi("DELETE", &path, None, 404).await;
    }

    // Sessions: one active, one revoked.
    let sam = w.app.user("sam@example.com", None).await;
    let (_, active) = w.app.sign_in("sam@example.com").await;
    let (_, revoked) = w.app.sign_in("sam@example.com").await;
    let session = |sid: &str, rest: &str| format!("/v1/sessions/{sid}{rest}");
    let of_sam = |query: &str| format!("/v1/sessions?{query}&user_id={sam}");
    let cases = [
        ("POST", session(&revoked, "/revoke"), 200),
        ("POST", session("sess_unknown", "/revoke"), 404),
        ("GET", session(&active, ""), 200),
        ("GET", session(&revoked, ""), 200),
        ("GET", session("sess_unknown", ""), 404),
        ("GET", format!("/v1/sessions?user_id={sam}"), 200),
        ("GET", of_sam("status=active"), 200),
        ("GET", of_sam("paginated=true&limit=1"), 200),
        ("GET", of_sam("status=sleepy"), 422),
        ("DELETE", format!("/v1/sessions?user_id={sam}"), 200),
        (
            "DELETE",
            "/v1/sessions?user_id=user_unknown".to_owned(),
            404,
        ),
        ("GET", "/v1/jwks".to_owned(), 200),
        ("DELETE", user.to_owned(), 200),
        ("DELETE", user.to_owned(), 404),
    ];
    for (method, path, status) in cases {
        w.bapi(method, &path, None, status).await;
    }
}

/// Every Backend API route refuses a request without the secret key.
async fn webhooks(w: Walk<'_>) {
    let base = "/v1/webhooks/endpoints";
    w.bapi("POST", base, Some(json!({ "url": "ftp://x" })), 422)
        .await;
    let made = w
        .bapi(
            "POST",
            base,
            Some(json!({ "url": "https://hooks.example.com/latch", "event_types": ["user.created"] })),
            200,
        )
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let one = format!("{base}/{id}");
    let unknown = format!("{base}/ep_unknown");
    w.bapi("GET", base, None, 200).await;
    w.bapi("GET", &one, None, 200).await;
    w.bapi("GET", &unknown, None, 404).await;
    w.bapi("PATCH", &one, Some(json!({ "description": "app" })), 200)
        .await;
    w.bapi("PATCH", &one, Some(json!({ "event_types": ["nope"] })), 422)
        .await;
    w.bapi("GET", &format!("{one}/secret"), None, 200).await;
    w.bapi("GET", &format!("{unknown}/secret"), None, 404).await;
    w.bapi("POST", &format!("{one}/rotate_secret"), None, 200)
        .await;
    w.bapi(
        "POST",
        &format!("{one}/rotate_secret"),
        Some(json!({ "secret": "whsec_short" })),
        422,
    )
    .await;
    // An event for it: a user is created.
    w.app.user("hooked@example.com", None).await;
    let listed = w.bapi("GET", &format!("{one}/messages"), None, 200).await;
    let event = listed.body["data"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.bapi("GET", &format!("{one}/messages?status=lost"), None, 422)
        .await;
    let message = format!("{one}/messages/{event}");
    w.bapi("GET", &message, None, 200).await;
    w.bapi("GET", &format!("{one}/messages/msg_unknown"), None, 404)
        .await;
    w.bapi("GET", &format!("{message}/attempts"), None, 200)
        .await;
    w.bapi(
        "GET",
        &format!("{one}/messages/msg_unknown/attempts"),
        None,
        404,
    )
    .await;
    w.bapi("POST", &format!("{message}/replay"), None, 200)
        .await;
    w.bapi(
        "POST",
        &format!("{one}/messages/msg_unknown/replay"),
        None,
        404,
    )
    .await;
    w.bapi(
        "POST",
        &format!("{one}/replay"),
        Some(json!({ "since": 0 })),
        200,
    )
    .await;
    w.bapi("POST", &format!("{one}/replay"), None, 422).await;
    w.bapi("DELETE", &one, None, 200).await;
    w.bapi("DELETE", &one, None, 404).await;
    w.bapi(
        "GET",
        "/v1/audit_log?action=backend.write&limit=5",
        None,
        200,
    )
    .await;
    w.bapi("GET", "/v1/audit_log?action=nope", None, 422).await;
}

/// The instance's settings, restrictions and lists; everything changed is
/// changed back, for the flows after this one.
async fn instance(w: Walk<'_>) {
    w.bapi("GET", "/v1/instance", None, 200).await;
    w.bapi("PATCH", "/v1/instance", Some(json!({})), 204).await;
    w.bapi("PATCH", "/v1/instance", Some(json!({ "hibp": true })), 422)
        .await;
    let restrictions = "/v1/instance/restrictions";
    w.bapi(
        "PATCH",
        restrictions,
        Some(json!({ "blocklist": true })),
        200,
    )
    .await;
    w.bapi(
        "PATCH",
        restrictions,
        Some(json!({ "blocklist": false })),
        200,
    )
    .await;
    w.bapi(
        "PATCH",
        restrictions,
        Some(json!({ "block_disposable_email_domains": true })),
        422,
    )
    .await;
    let settings = "/v1/instance/user_management";
    w.bapi("GET", settings, None, 200).await;
    let change = |length: u32| Some(json!({ "password": { "min_length": length } }));
    w.bapi("PATCH", settings, change(9), 200).await;
    w.bapi("PATCH", settings, change(8), 200).await;
    w.bapi("PATCH", settings, change(0), 422).await;
    w.bapi("GET", &format!("{settings}/versions"), None, 200)
        .await;
    for list in ["allowlist", "blocklist"] {
        let base = format!("/v1/{list}_identifiers");
        let made = w
            .bapi(
                "POST",
                &base,
                Some(json!({ "identifier": "x@example.com" })),
                200,
            )
            .await;
        w.bapi(
            "POST",
            &base,
            Some(json!({ "identifier": "x@example.com" })),
            400,
        )
        .await;
        w.bapi(
            "POST",
            &base,
            Some(json!({ "identifier": "nonsense" })),
            422,
        )
        .await;
        w.bapi("GET", &base, None, 200).await;
        let one = format!("{base}/{}", made.body["id"].as_str().unwrap());
        w.bapi("DELETE", &one, None, 200).await;
        w.bapi("DELETE", &one, None, 404).await;
    }
}

async fn without_the_secret_key(w: Walk<'_>) {
    let wrong = "Bearer sk_test_wrong";
    assert_ne!(wrong, format!("Bearer {SECRET}"));
    for route in table().iter().filter(|r| r.surface() == Surface::Backend) {
        let path = route.path.replace("{id}", "x_1");
        let path = path.replace("{account}", "x_2");
        let (method, headers) = (route.method.as_str(), [("authorization", wrong)]);
        expect(w.request(method, &path, &headers, None).await, 401);
    }
}

/// Verifications that failed and expired, and an abandoned sign-in: the
/// clock moves past code and sign-in lifetimes.
async fn spent_and_expired(w: Walk<'_>) {
    w.app.user("eve@example.com", None).await;
    let start_email_code = || async move {
        let (mut s, res) = SignIn::identify(w, "eve@example.com").await;
        let email_id = factor_id(&res, "email_code", "email_address_id");
        let form = [("strategy", "email_code"), ("email_address_id", &email_id)];
        s.post(PREPARE_1, &form, 200).await;
        s
    };
    let wrong = [("strategy", "email_code"), ("code", "000000")];

    // Wrong codes until the code is burnt: the verification has failed.
    let mut s = start_email_code().await;
    for _ in 0..4 {
        s.refused(ATTEMPT_1, &wrong).await;
    }
    assert_verification(&s.read().await, "failed");

    // A code past its lifetime: the verification has expired.
    let mut s = start_email_code().await;
    w.app.clock.advance(std::time::Duration::from_secs(11 * 60));
    s.refused(ATTEMPT_1, &wrong).await;
    assert_verification(&s.read().await, "expired");

    // A sign-in past its lifetime is abandoned.
    w.app
        .clock
        .advance(std::time::Duration::from_secs(25 * 3600));
    assert_status(&s.read().await, "abandoned");
}

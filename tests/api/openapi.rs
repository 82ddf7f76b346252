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

/// Routes that are Latch's own: Clerk's documents have no such operation.
const NOT_IN_CLERK: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "Latch's health check for load balancers"),
    (
        "GET",
        "/v1/avatars/default.svg",
        "Latch's default picture, which users' image_url names",
    ),
    (
        "HEAD",
        "/v1/avatars/default.svg",
        "Latch's default picture, which users' image_url names",
    ),
    (
        "HEAD",
        "/healthz",
        "Latch's health check for load balancers",
    ),
];

/// Routes that have no success to drive.
const NO_SUCCESS: &[(&str, &str, &str)] = &[(
    "POST",
    "/v1/client/sessions/{id}/tokens/{template}",
    "JWT templates are not supported: every template name is unknown (404)",
)];

/// Routes that have no error to drive.
const NO_ERROR: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "answers whoever asks"),
    ("HEAD", "/healthz", "answers whoever asks"),
    ("GET", "/.well-known/jwks.json", "public keys for anyone"),
    (
        "GET",
        "/v1/environment",
        "the instance's settings for anyone",
    ),
    (
        "PATCH",
        "/v1/environment",
        "the instance's settings for anyone",
    ),
];

/// Whether a failure is one of the accepted departures from the documents.
fn allowed(failure: &Failure) -> bool {
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
    fapi.validate(&schema, body, &allowed)
        .iter()
        .map(|f| format!("{head} {f}"))
        .collect()
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

    /// A Frontend API call in native mode.
    async fn fapi(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        token: &str,
        form: &[(&str, &str)],
    ) -> Resp {
        let res = app.fapi(method, path, token, form).await;
        self.record(method, path, &res);
        res
    }

    /// A Backend API call with the secret key.
    async fn bapi(&self, app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Resp {
        let res = app.bapi(method, path, body).await;
        self.record(method, path, &res);
        res
    }

    /// Any request, with these headers and body.
    async fn request(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Resp {
        let res = app.request(method, path, headers, body).await;
        self.record(method, path, &res);
        res
    }

    /// Checks every answer; returns (failures, accepted exceptions).
    fn check(&self) -> (Vec<String>, Vec<String>) {
        let seen = self.seen.lock().unwrap();
        let mut failures = Vec::new();
        let mut accepted = Vec::new();
        let allow = allowed;
        for s in seen.iter() {
            if NOT_IN_CLERK
                .iter()
                .any(|(m, p, _)| *m == s.method && *p == s.template)
            {
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
                failures.extend(paginated_sessions(document, &s.body, &allow, &head));
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
                    Problem::UndocumentedStatus { .. } if s.status >= 400 => {
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
            let listed = |list: &[(&str, &str, &str)]| {
                list.iter()
                    .any(|(m, p, _)| *m == method && *p == route.path)
            };
            let of_route = || {
                seen.iter()
                    .filter(|s| s.method == method && s.template == route.path)
            };
            // The OAuth callback succeeds with a redirect.
            if !listed(NO_SUCCESS) && !of_route().any(|s| (200..400).contains(&s.status)) {
                out.push(format!("{method} {}: no success case", route.path));
            }
            if !listed(NO_ERROR) && !of_route().any(|s| s.status >= 400) {
                out.push(format!("{method} {}: no error case", route.path));
            }
        }
        out
    }
}

/// `{data, total_count}`, each item of `data` a BAPI `Session`.
fn paginated_sessions(
    bapi: &Document,
    body: &Value,
    allow: &dyn Fn(&Failure) -> bool,
    head: &str,
) -> Vec<String> {
    let page = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["data", "total_count"],
        "properties": {
            "data": { "type": "array", "items": { "$ref": "#/components/schemas/Session" } },
            "total_count": { "type": "integer", "format": "int64" },
        },
    });
    bapi.validate(&page, body, allow)
        .iter()
        .map(|f| format!("{head} {f}"))
        .collect()
}

/// The last request the tour sent, and the answers whose status was not
/// the one the flow expected (printed with the failures).
static LAST: Mutex<String> = Mutex::new(String::new());
static UNEXPECTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `res`, after checking its status: the flow went where it should. A
/// wrong status is kept and reported at the end with everything else.
fn expect(res: Resp, status: u16) -> Resp {
    if res.status.as_u16() != status {
        let last = LAST.lock().unwrap().clone();
        UNEXPECTED.lock().unwrap().push(format!(
            "{last}: {} where {status} was expected: {}",
            res.status.as_u16(),
            res.body
        ));
    }
    res
}

/// As [`expect`], for an answer that must be an error (4xx).
fn expect_error(res: Resp) -> Resp {
    if !res.status.is_client_error() {
        let last = LAST.lock().unwrap().clone();
        UNEXPECTED.lock().unwrap().push(format!(
            "{last}: {} where an error was expected: {}",
            res.status.as_u16(),
            res.body
        ));
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

fn factor<'a>(res: &'a Resp, list: &str, strategy: &str) -> &'a Value {
    res.body["response"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no {strategy} in {}", res.body))
}

/// An app with two identity providers on one fake GitHub-style server:
/// `github`, and `custom_acme` (strategy `oauth_custom_acme`).
async fn app_with_providers() -> (TestApp, GitHubLikeProvider) {
    let idp = GitHubLikeProvider::start([
        OAuthUser::new(3001, "alice")
            .with_name("Alice Liddell")
            .with_email("alice@example.com", true),
        OAuthUser::new(3002, "newcomer").with_email("new@example.com", true),
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
    public_and_client(&tour, &app).await;
    first_factors(&tour, &app).await;
    second_factors(&tour, &app).await;
    account(&tour, &app).await;
    sessions(&tour, &app).await;
    oauth(&tour, &app, &idp).await;
    backend(&tour, &app).await;
    without_the_secret_key(&tour, &app).await;
    // Last, as it moves the clock.
    spent_and_expired(&tour, &app).await;

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
        for (m, p, why) in NOT_IN_CLERK {
            println!("  {m} {p}: not in Clerk's documents ({why})");
        }
        for (m, p, why) in NO_SUCCESS {
            println!("  {m} {p}: no success case ({why})");
        }
        for (m, p, why) in NO_ERROR {
            println!("  {m} {p}: no error case ({why})");
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

/// Health, keys, the environment, development browsers and clients.
async fn public_and_client(t: &Tour, app: &TestApp) {
    expect(t.request(app, "GET", "/healthz", &[], None).await, 200);
    t.request(app, "HEAD", "/healthz", &[], None).await;
    let avatar = "/v1/avatars/default.svg?initials=AL";
    expect(t.request(app, "GET", avatar, &[], None).await, 200);
    expect(t.request(app, "HEAD", avatar, &[], None).await, 200);
    // One parameter given twice with two values is refused, as everywhere.
    let twice = "/v1/avatars/default.svg?initials=A&initials=B";
    expect(t.request(app, "GET", twice, &[], None).await, 422);
    expect(t.request(app, "HEAD", twice, &[], None).await, 422);
    expect(
        t.request(app, "GET", "/.well-known/jwks.json", &[], None)
            .await,
        200,
    );
    expect(t.fapi(app, "GET", "/v1/environment", "", &[]).await, 200);
    expect(t.fapi(app, "PATCH", "/v1/environment", "", &[]).await, 200);

    // No client yet, then a new one.
    expect(t.fapi(app, "GET", "/v1/client", "", &[]).await, 200);
    let created = expect(t.fapi(app, "POST", "/v1/client", "", &[]).await, 200).token();
    expect(t.fapi(app, "PUT", "/v1/client", "", &[]).await, 200);
    expect(t.fapi(app, "GET", "/v1/client", &created, &[]).await, 200);
    expect(
        t.fapi(app, "DELETE", "/v1/client", &created, &[]).await,
        200,
    );
    // Signing out a client that is gone changes nothing, and succeeds.
    t.fapi(app, "DELETE", "/v1/client", &created, &[]).await;

    // A development browser, and its client once deleted.
    let db = t.request(app, "POST", "/v1/dev_browser", &[], None).await;
    let jwt = expect(db, 200).body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/client?__clerk_db_jwt={jwt}");
    expect(t.request(app, "GET", &path, &[], None).await, 200);
    expect(t.request(app, "DELETE", &path, &[], None).await, 200);
    expect(t.request(app, "GET", &path, &[], None).await, 401);
    expect(t.request(app, "DELETE", &path, &[], None).await, 401);
    expect(t.request(app, "PUT", &path, &[], None).await, 401);
    expect(t.request(app, "POST", &path, &[], None).await, 401);
    let production = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    let none = t
        .request(&production, "POST", "/v1/dev_browser", &[], None)
        .await;
    expect(none, 404);
}

/// Sign-ins by password, email code, phone code and a password reset, and
/// their errors.
async fn first_factors(t: &Tour, app: &TestApp) {
    let created = app
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
    let sign_ins = "/v1/client/sign_ins";

    // A sign-in with nothing yet, then identified on the same client.
    let empty = expect(t.fapi(app, "POST", sign_ins, "", &[]).await, 200);
    let token = empty.token();
    let id = id_of(&empty);
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    let unknown = t
        .fapi(
            app,
            "POST",
            sign_ins,
            "",
            &[("identifier", "nobody@example.com")],
        )
        .await;
    assert!(
        unknown.status.is_success() || unknown.status == 422,
        "{}",
        unknown.body
    );
    let bad = t
        .fapi(app, "POST", sign_ins, "", &[("strategy", "carrier_pigeon")])
        .await;
    expect(bad, 422);
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/sia_unknown"), &token, &[])
            .await,
        404,
    );

    // Password: wrong, then right.
    let identified = expect(
        t.fapi(
            app,
            "POST",
            sign_ins,
            "",
            &[("identifier", "ann@example.com")],
        )
        .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    let wrong = [("strategy", "password"), ("password", "not the password")];
    expect(t.fapi(app, "POST", &attempt, &token, &wrong).await, 422);
    expect(t.fapi(app, "POST", &attempt, &token, &[]).await, 422);
    expect(
        t.fapi(
            app,
            "POST",
            &format!("{sign_ins}/sia_unknown/attempt_first_factor"),
            &token,
            &wrong,
        )
        .await,
        404,
    );
    let right = [("strategy", "password"), ("password", PASSWORD)];
    let done = expect(t.fapi(app, "POST", &attempt, &token, &right).await, 200);
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    let token = token_after(&done, &token);
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    expect(t.fapi(app, "GET", "/v1/client", &token, &[]).await, 200);

    // Email code: prepared, wrong, right.
    let identified = expect(
        t.fapi(app, "POST", sign_ins, "", &[("identifier", "annie")])
            .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let email_id = factor(&identified, "supported_first_factors", "email_code")["email_address_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepare = format!("{sign_ins}/{id}/prepare_first_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", "email_code"), ("email_address_id", &email_id)],
        )
        .await,
        200,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[
                ("strategy", "email_code"),
                ("email_address_id", "idn_unknown"),
            ],
        )
        .await,
        422,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", "carrier_pigeon")],
        )
        .await,
        422,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &format!("{sign_ins}/sia_unknown/prepare_first_factor"),
            &token,
            &[("strategy", "email_code")],
        )
        .await,
        404,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "email_code"), ("code", "000000")],
        )
        .await,
        422,
    );
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    let code = app.codes.last_code_to("ann@example.com").unwrap();
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "email_code"), ("code", &code)],
        )
        .await,
        200,
    );

    // Phone code, identified by the phone number.
    let identified = expect(
        t.fapi(app, "POST", sign_ins, "", &[("identifier", "+15550001234")])
            .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let phone_id = factor(&identified, "supported_first_factors", "phone_code")["phone_number_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepare = format!("{sign_ins}/{id}/prepare_first_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", "phone_code"), ("phone_number_id", &phone_id)],
        )
        .await,
        200,
    );
    let code = app.codes.last_code_to("+15550001234").unwrap();
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "phone_code"), ("code", &code)],
        )
        .await,
        200,
    );

    // A password reset by email code.
    let identified = expect(
        t.fapi(
            app,
            "POST",
            sign_ins,
            "",
            &[("identifier", "ann@example.com")],
        )
        .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let reset = format!("{sign_ins}/{id}/reset_password");
    // Not yet: the reset code has not passed.
    let early = t
        .fapi(
            app,
            "POST",
            &reset,
            &token,
            &[("password", "a brand new password")],
        )
        .await;
    expect_error(early);
    let prepare = format!("{sign_ins}/{id}/prepare_first_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    let strategy = "reset_password_email_code";
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", strategy), ("email_address_id", &email_id)],
        )
        .await,
        200,
    );
    let code = app.codes.last_code_to("ann@example.com").unwrap();
    let passed = expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", strategy), ("code", &code)],
        )
        .await,
        200,
    );
    assert_eq!(
        passed.body["response"]["status"], "needs_new_password",
        "{}",
        passed.body
    );
    let token = token_after(&passed, &token);
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    expect(
        t.fapi(app, "POST", &reset, &token, &[("password", "short")])
            .await,
        422,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &format!("{sign_ins}/sia_unknown/reset_password"),
            &token,
            &[("password", "a brand new password")],
        )
        .await,
        404,
    );
    let done = t
        .fapi(
            app,
            "POST",
            &reset,
            &token,
            &[("password", "a brand new password")],
        )
        .await;
    assert_eq!(expect(done, 200).body["response"]["status"], "complete");

    // A password reset by SMS code.
    let identified = expect(
        t.fapi(app, "POST", sign_ins, "", &[("identifier", "+15550001234")])
            .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let strategy = "reset_password_phone_code";
    let prepare = format!("{sign_ins}/{id}/prepare_first_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    let form = [
        ("strategy", strategy),
        ("phone_number_id", phone_id.as_str()),
    ];
    expect(t.fapi(app, "POST", &prepare, &token, &form).await, 200);
    let code = app.codes.last_code_to("+15550001234").unwrap();
    let passed = expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", strategy), ("code", &code)],
        )
        .await,
        200,
    );
    assert_eq!(
        passed.body["response"]["status"], "needs_new_password",
        "{}",
        passed.body
    );
    let token = token_after(&passed, &token);
    let reset = format!("{sign_ins}/{id}/reset_password");
    let done = t
        .fapi(
            app,
            "POST",
            &reset,
            &token,
            &[("password", "another new password")],
        )
        .await;
    assert_eq!(expect(done, 200).body["response"]["status"], "complete");
}

/// Second factors: TOTP, backup codes and a phone code, and their errors.
async fn second_factors(t: &Tour, app: &TestApp) {
    let sign_ins = "/v1/client/sign_ins";
    let password_first = |identifier: &'static str| async move {
        let form = [
            ("strategy", "password"),
            ("identifier", identifier),
            ("password", PASSWORD),
        ];
        let res = t.fapi(app, "POST", sign_ins, "", &form).await;
        assert_eq!(
            res.body["response"]["status"], "needs_second_factor",
            "{}",
            res.body
        );
        (res.token(), id_of(&res))
    };

    // TOTP, with backup codes too.
    let user = totp_user(app, "tina@example.com").await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let codes = json!({ "backup_codes": ["k7m2p9qa", "x3n8v1cd", "h5t6w2ee"] });
    expect(
        app.bapi("PATCH", &format!("/v1/users/{user_id}"), Some(codes))
            .await,
        200,
    );
    let (token, id) = password_first("tina@example.com").await;
    let prepare = format!("{sign_ins}/{id}/prepare_second_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_second_factor");
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    t.fapi(app, "POST", &prepare, &token, &[("strategy", "totp")])
        .await;
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", "carrier_pigeon")],
        )
        .await,
        422,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "totp"), ("code", "000000")],
        )
        .await,
        422,
    );
    expect(
        t.fapi(app, "POST", &attempt, &token, &[("strategy", "totp")])
            .await,
        422,
    );
    expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    let code = totp_code(app, 0);
    let done = expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "totp"), ("code", &code)],
        )
        .await,
        200,
    );
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    expect(
        t.fapi(
            app,
            "POST",
            &format!("{sign_ins}/sia_unknown/attempt_second_factor"),
            &token,
            &[("strategy", "totp"), ("code", &code)],
        )
        .await,
        404,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &format!("{sign_ins}/sia_unknown/prepare_second_factor"),
            &token,
            &[("strategy", "totp")],
        )
        .await,
        404,
    );

    // A backup code.
    let (token, id) = password_first("tina@example.com").await;
    let attempt = format!("{sign_ins}/{id}/attempt_second_factor");
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "backup_code"), ("code", "zzzzzzzz")],
        )
        .await,
        422,
    );
    let done = expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "backup_code"), ("code", "k7m2p9qa")],
        )
        .await,
        200,
    );
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);

    // A second factor before the first is the wrong state.
    let identified = expect(
        t.fapi(
            app,
            "POST",
            sign_ins,
            "",
            &[("identifier", "tina@example.com")],
        )
        .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let early = t
        .fapi(
            app,
            "POST",
            &format!("{sign_ins}/{id}/prepare_second_factor"),
            &token,
            &[("strategy", "totp")],
        )
        .await;
    expect_error(early);
    let early = t
        .fapi(
            app,
            "POST",
            &format!("{sign_ins}/{id}/attempt_second_factor"),
            &token,
            &[("strategy", "totp"), ("code", "000000")],
        )
        .await;
    expect_error(early);

    // A phone number kept for the second factor.
    let user = app
        .post_user(json!({ "email_address": ["paul@example.com"], "phone_number": ["+15555550242"], "password": PASSWORD }))
        .await;
    assert_eq!(user.status, 200, "{}", user.body);
    let phone_id = user.body["phone_numbers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reserve = json!({ "reserved_for_second_factor": true });
    expect(
        t.bapi(
            app,
            "PATCH",
            &format!("/v1/phone_numbers/{phone_id}"),
            Some(reserve),
        )
        .await,
        200,
    );
    let (token, id) = password_first("paul@example.com").await;
    let prepare = format!("{sign_ins}/{id}/prepare_second_factor");
    let attempt = format!("{sign_ins}/{id}/attempt_second_factor");
    expect(
        t.fapi(
            app,
            "POST",
            &prepare,
            &token,
            &[("strategy", "phone_code"), ("phone_number_id", &phone_id)],
        )
        .await,
        200,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "phone_code"), ("code", "000000")],
        )
        .await,
        422,
    );
    let code = app.codes.last_code_to("+15555550242").unwrap();
    let done = expect(
        t.fapi(
            app,
            "POST",
            &attempt,
            &token,
            &[("strategy", "phone_code"), ("code", &code)],
        )
        .await,
        200,
    );
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

/// `/v1/me`: the signed-in user, an authenticator app and backup codes.
async fn account(t: &Tour, app: &TestApp) {
    app.user("nia@example.com", Some("nia_n")).await;
    let (token, session) = app.sign_in("nia@example.com").await;
    let me = |rest: &str| format!("/v1/me{rest}?_clerk_session_id={session}");
    expect(t.fapi(app, "GET", &me(""), &token, &[]).await, 200);
    expect(t.fapi(app, "GET", "/v1/me", "", &[]).await, 401);
    expect(t.fapi(app, "POST", "/v1/me/totp", "", &[]).await, 401);
    expect(
        t.fapi(app, "POST", "/v1/me/backup_codes", "", &[]).await,
        401,
    );
    expect(t.fapi(app, "DELETE", &me("/totp"), &token, &[]).await, 404);

    let created = expect(t.fapi(app, "POST", &me("/totp"), &token, &[]).await, 200);
    let secret = created.body["response"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify = me("/totp/attempt_verification");
    expect(
        t.fapi(app, "POST", &verify, &token, &[("code", "000000")])
            .await,
        422,
    );
    expect(
        t.fapi(app, "POST", &verify, "", &[("code", "000000")])
            .await,
        401,
    );
    let code = latch_core::model::TotpSecret::parse_base32(&secret)
        .unwrap()
        .code_at_step(latch_core::model::step_at(latch_core::ports::Clock::now(
            &*app.clock,
        )));
    expect(
        t.fapi(app, "POST", &verify, &token, &[("code", &code)])
            .await,
        200,
    );
    expect(t.fapi(app, "POST", &me("/totp"), &token, &[]).await, 400);
    expect(t.fapi(app, "GET", &me(""), &token, &[]).await, 200);
    expect(
        t.fapi(app, "POST", &me("/backup_codes"), &token, &[]).await,
        200,
    );
    expect(t.fapi(app, "DELETE", &me("/totp"), &token, &[]).await, 200);
    expect(t.fapi(app, "DELETE", "/v1/me/totp", "", &[]).await, 401);
}

/// `/v1/client/sessions/...`: touch, tokens, end, remove, sign out.
async fn sessions(t: &Tour, app: &TestApp) {
    app.user("mia@example.com", None).await;
    app.user("mia.work@example.com", None).await;
    let (token, first) = app.sign_in("mia@example.com").await;
    let form = [
        ("strategy", "password"),
        ("identifier", "mia.work@example.com"),
        ("password", PASSWORD),
    ];
    let res = expect(
        t.fapi(app, "POST", "/v1/client/sign_ins", &token, &form)
            .await,
        200,
    );
    let token = token_after(&res, &token);
    let second = res.body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = [
        ("strategy", "password"),
        ("identifier", "mia@example.com"),
        ("password", PASSWORD),
    ];
    expect(
        t.fapi(app, "POST", "/v1/client/sign_ins", &token, &again)
            .await,
        400,
    );
    let at = |sid: &str, rest: &str| format!("/v1/client/sessions/{sid}/{rest}");

    expect(
        t.fapi(
            app,
            "POST",
            &at(&first, "touch"),
            &token,
            &[("intent", "select_session")],
        )
        .await,
        200,
    );
    expect(
        t.fapi(app, "POST", &at("sess_unknown", "touch"), &token, &[])
            .await,
        404,
    );
    expect(
        t.fapi(app, "POST", &at(&first, "tokens"), &token, &[])
            .await,
        200,
    );
    expect(
        t.fapi(app, "POST", &at("sess_unknown", "tokens"), &token, &[])
            .await,
        404,
    );
    expect(
        t.fapi(
            app,
            "POST",
            &at(&first, "tokens/custom_template"),
            &token,
            &[],
        )
        .await,
        404,
    );
    expect(
        t.fapi(app, "POST", &at(&first, "end"), &token, &[]).await,
        200,
    );
    expect(
        t.fapi(app, "POST", &at(&first, "tokens"), &token, &[])
            .await,
        401,
    );
    expect(
        t.fapi(app, "POST", &at("sess_unknown", "end"), &token, &[])
            .await,
        404,
    );
    expect(
        t.fapi(app, "POST", &at(&second, "remove"), &token, &[])
            .await,
        200,
    );
    expect(
        t.fapi(app, "POST", &at("sess_unknown", "remove"), &token, &[])
            .await,
        404,
    );
    expect(t.fapi(app, "GET", "/v1/client", &token, &[]).await, 200);

    let (token, _) = app.sign_in("mia@example.com").await;
    expect(
        t.fapi(app, "DELETE", "/v1/client/sessions", &token, &[])
            .await,
        200,
    );
    let none = t.fapi(app, "DELETE", "/v1/client/sessions", "", &[]).await;
    expect_error(none);
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
async fn oauth(t: &Tour, app: &TestApp, idp: &GitHubLikeProvider) {
    let back = "http://localhost:3000/sso-callback";
    let alice = app.user("alice@example.com", None).await;
    let start = |strategy: &'static str| async move {
        let form = [
            ("strategy", strategy),
            ("redirect_url", back),
            ("action_complete_redirect_url", "http://localhost:3000/home"),
        ];
        let res = expect(
            t.fapi(app, "POST", "/v1/client/sign_ins", "", &form).await,
            200,
        );
        let url =
            res.body["response"]["first_factor_verification"]["external_verification_redirect_url"]
                .as_str()
                .unwrap()
                .to_owned();
        (res.token(), id_of(&res), url)
    };

    // Linked by the verified email; the app claims the result with the nonce.
    let (token, id, url) = start("oauth_github").await;
    let query = approve(idp, &url, "alice").await;
    let landed = expect(
        t.request(app, "GET", &format!("/v1/oauth_callback{query}"), &[], None)
            .await,
        303,
    );
    let location = landed.header("location").unwrap().to_owned();
    let nonce = location
        .split_once("rotating_token_nonce=")
        .unwrap()
        .1
        .to_owned();
    let path = format!("/v1/client/sign_ins/{id}?rotating_token_nonce={nonce}");
    let claimed = expect(t.fapi(app, "GET", &path, &token, &[]).await, 200);
    assert_eq!(
        claimed.body["response"]["status"], "complete",
        "{}",
        claimed.body
    );
    // The state is single use; a guessed nonce claims nothing.
    expect(
        t.request(app, "GET", &format!("/v1/oauth_callback{query}"), &[], None)
            .await,
        400,
    );
    let guessed = "/v1/client/sign_ins/sia_x?rotating_token_nonce=guessed";
    let res = t.fapi(app, "GET", guessed, &token, &[]).await;
    expect_error(res);

    // A provider's form POST: without the cookie it is sent back as a GET,
    // with it the state is checked.
    let form = query.trim_start_matches('?').to_owned();
    let urlencoded = "application/x-www-form-urlencoded";
    let res = t
        .request(
            app,
            "POST",
            "/v1/oauth_callback",
            &[],
            Some((urlencoded, form.clone())),
        )
        .await;
    expect(res, 303);
    let cookie = format!("__client={token}");
    let res = t
        .request(
            app,
            "POST",
            "/v1/oauth_callback",
            &[("cookie", &cookie)],
            Some((urlencoded, form)),
        )
        .await;
    expect_error(res);

    // A custom provider with no account yet: the verification is transferable.
    let (token, id, url) = start("oauth_custom_acme").await;
    let query = approve(idp, &url, "newcomer").await;
    expect(
        t.request(app, "GET", &format!("/v1/oauth_callback{query}"), &[], None)
            .await,
        303,
    );
    let read = expect(
        t.fapi(
            app,
            "GET",
            &format!("/v1/client/sign_ins/{id}"),
            &token,
            &[],
        )
        .await,
        200,
    );
    let status = &read.body["response"]["first_factor_verification"]["status"];
    assert_eq!(status, "transferable", "{}", read.body);

    // Prepared after identification.
    let identified = expect(
        t.fapi(
            app,
            "POST",
            "/v1/client/sign_ins",
            "",
            &[("identifier", "alice@example.com")],
        )
        .await,
        200,
    );
    let (token, id) = (identified.token(), id_of(&identified));
    let form = [("strategy", "oauth_custom_acme"), ("redirect_url", back)];
    expect(
        t.fapi(
            app,
            "POST",
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &token,
            &form,
        )
        .await,
        200,
    );

    // The account as the Backend API shows it, then removed.
    let user = expect(
        t.bapi(app, "GET", &format!("/v1/users/{alice}"), None)
            .await,
        200,
    );
    let account = user.body["external_accounts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/users/{alice}/external_accounts/{account}");
    expect(t.bapi(app, "DELETE", &path, None).await, 200);
    expect(t.bapi(app, "DELETE", &path, None).await, 404);
}

/// The Backend API's users, phone numbers and sessions.
async fn backend(t: &Tour, app: &TestApp) {
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
    let created = expect(t.bapi(app, "POST", "/v1/users", Some(full)).await, 200);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let phone = created.body["phone_numbers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect(
        t.bapi(
            app,
            "POST",
            "/v1/users",
            Some(json!({ "email_address": ["zed@example.com"] })),
        )
        .await,
        422,
    );
    expect(
        t.bapi(
            app,
            "POST",
            "/v1/users",
            Some(json!({ "email_address": ["not-an-email"] })),
        )
        .await,
        422,
    );

    expect(t.bapi(app, "GET", "/v1/users", None).await, 200);
    expect(
        t.bapi(
            app,
            "GET",
            "/v1/users?email_address=zed@example.com&limit=5",
            None,
        )
        .await,
        200,
    );
    expect(t.bapi(app, "GET", "/v1/users?limit=0", None).await, 422);
    expect(t.bapi(app, "GET", "/v1/users/count", None).await, 200);
    let user = format!("/v1/users/{id}");
    expect(t.bapi(app, "GET", &user, None).await, 200);
    expect(
        t.bapi(app, "GET", "/v1/users/user_unknown", None).await,
        404,
    );
    expect(
        t.bapi(
            app,
            "PATCH",
            &user,
            Some(json!({ "first_name": "Zedediah", "username": null })),
        )
        .await,
        200,
    );
    expect(
        t.bapi(
            app,
            "PATCH",
            &user,
            Some(json!({ "primary_email_address_id": "idn_nope" })),
        )
        .await,
        422,
    );
    expect(
        t.bapi(
            app,
            "PATCH",
            "/v1/users/user_unknown",
            Some(json!({ "first_name": "x" })),
        )
        .await,
        404,
    );

    for action in ["lock", "unlock", "ban", "unban"] {
        expect(
            t.bapi(app, "POST", &format!("{user}/{action}"), None).await,
            200,
        );
        expect(
            t.bapi(
                app,
                "POST",
                &format!("/v1/users/user_unknown/{action}"),
                None,
            )
            .await,
            404,
        );
    }
    for factor in ["totp", "backup_code", "mfa"] {
        expect(
            t.bapi(app, "DELETE", &format!("{user}/{factor}"), None)
                .await,
            200,
        );
        expect(
            t.bapi(
                app,
                "DELETE",
                &format!("/v1/users/user_unknown/{factor}"),
                None,
            )
            .await,
            404,
        );
    }

    let number = format!("/v1/phone_numbers/{phone}");
    expect(t.bapi(app, "GET", &number, None).await, 200);
    expect(
        t.bapi(app, "GET", "/v1/phone_numbers/idn_unknown", None)
            .await,
        404,
    );
    expect(
        t.bapi(app, "PATCH", &number, Some(json!({ "verified": false })))
            .await,
        200,
    );
    expect(
        t.bapi(
            app,
            "PATCH",
            &number,
            Some(json!({ "verified": "perhaps" })),
        )
        .await,
        422,
    );
    expect(
        t.bapi(
            app,
            "PATCH",
            "/v1/phone_numbers/idn_unknown",
            Some(json!({ "verified": true })),
        )
        .await,
        404,
    );

    // Sessions: one active, one revoked.
    let sam = app.user("sam@example.com", None).await;
    let (_, active) = app.sign_in("sam@example.com").await;
    let (_, revoked) = app.sign_in("sam@example.com").await;
    let session = |sid: &str, rest: &str| format!("/v1/sessions/{sid}{rest}");
    expect(
        t.bapi(app, "POST", &session(&revoked, "/revoke"), None)
            .await,
        200,
    );
    expect(
        t.bapi(app, "POST", &session("sess_unknown", "/revoke"), None)
            .await,
        404,
    );
    expect(t.bapi(app, "GET", &session(&active, ""), None).await, 200);
    expect(t.bapi(app, "GET", &session(&revoked, ""), None).await, 200);
    expect(
        t.bapi(app, "GET", &session("sess_unknown", ""), None).await,
        404,
    );
    expect(
        t.bapi(app, "GET", &format!("/v1/sessions?user_id={sam}"), None)
            .await,
        200,
    );
    expect(
        t.bapi(
            app,
            "GET",
            &format!("/v1/sessions?status=active&user_id={sam}"),
            None,
        )
        .await,
        200,
    );
    expect(
        t.bapi(
            app,
            "GET",
            &format!("/v1/sessions?paginated=true&limit=1&user_id={sam}"),
            None,
        )
        .await,
        200,
    );
    expect(
        t.bapi(
            app,
            "GET",
            &format!("/v1/sessions?status=sleepy&user_id={sam}"),
            None,
        )
        .await,
        422,
    );
    expect(t.bapi(app, "GET", "/v1/jwks", None).await, 200);

    expect(t.bapi(app, "DELETE", &user, None).await, 200);
    expect(t.bapi(app, "DELETE", &user, None).await, 404);
}

/// Every Backend API route refuses a request without the secret key.
async fn without_the_secret_key(t: &Tour, app: &TestApp) {
    let wrong = "Bearer sk_test_wrong";
    assert_ne!(wrong, format!("Bearer {SECRET}"));
    for route in table().iter().filter(|r| r.surface() == Surface::Backend) {
        let path = route
            .path
            .replace("{id}", "x_1")
            .replace("{account}", "x_2");
        let res = t
            .request(
                app,
                route.method.as_str(),
                &path,
                &[("authorization", wrong)],
                None,
            )
            .await;
        expect(res, 401);
    }
}

/// Verifications that failed and expired, and an abandoned sign-in: the
/// clock moves past code and sign-in lifetimes.
async fn spent_and_expired(t: &Tour, app: &TestApp) {
    app.user("eve@example.com", None).await;
    let sign_ins = "/v1/client/sign_ins";
    let start_email_code = || async move {
        let res = expect(
            t.fapi(
                app,
                "POST",
                sign_ins,
                "",
                &[("identifier", "eve@example.com")],
            )
            .await,
            200,
        );
        let (token, id) = (res.token(), id_of(&res));
        let email_id = factor(&res, "supported_first_factors", "email_code")["email_address_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let form = [
            ("strategy", "email_code"),
            ("email_address_id", email_id.as_str()),
        ];
        let path = format!("{sign_ins}/{id}/prepare_first_factor");
        expect(t.fapi(app, "POST", &path, &token, &form).await, 200);
        (token, id)
    };
    let wrong = [("strategy", "email_code"), ("code", "000000")];

    // Wrong codes until the code is burnt: the verification has failed.
    let (token, id) = start_email_code().await;
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    for _ in 0..4 {
        expect_error(t.fapi(app, "POST", &attempt, &token, &wrong).await);
    }
    let read = expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    let status = &read.body["response"]["first_factor_verification"]["status"];
    assert_eq!(status, "failed", "{}", read.body);

    // A code past its lifetime: the verification has expired.
    let (token, id) = start_email_code().await;
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let attempt = format!("{sign_ins}/{id}/attempt_first_factor");
    expect_error(t.fapi(app, "POST", &attempt, &token, &wrong).await);
    let read = expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    let status = &read.body["response"]["first_factor_verification"]["status"];
    assert_eq!(status, "expired", "{}", read.body);

    // A sign-in past its lifetime is abandoned.
    app.clock.advance(std::time::Duration::from_secs(25 * 3600));
    let read = expect(
        t.fapi(app, "GET", &format!("{sign_ins}/{id}"), &token, &[])
            .await,
        200,
    );
    assert_eq!(
        read.body["response"]["status"], "abandoned",
        "{}",
        read.body
    );
}

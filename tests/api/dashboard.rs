//! The operators' dashboard under `/dashboard`: its headers, its forms'
//! checks, who it lets in, and its first-run setup.

use latch_core::model::{AuditAction, AuditQuery, Environment, InstanceSettings};
use serde_json::{Value, json};

use crate::second_factors::{totp_code, totp_user};
use crate::support::{ORIGIN, PASSWORD, Resp, TestApp};

/// Form fields or headers.
type Pairs<'a> = &'a [(&'a str, &'a str)];

/// The host the tests reach the dashboard at, and its origin.
const HOST: &str = "latch.test";
const OWN: &str = "http://latch.test";

/// A dashboard request with `cookie`, as a browser on the dashboard's own
/// pages sends it (`Origin` and `Sec-Fetch-Site` of its own) unless
/// `headers` say otherwise.
async fn dash(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Resp {
    let cookie_header = cookie.map(|c| format!("__latch_dashboard={c}"));
    let mut all: Vec<(&str, &str)> = vec![("host", HOST)];
    if method == "POST" && !headers.iter().any(|(k, _)| *k == "origin") {
        all.push(("origin", OWN));
        all.push(("sec-fetch-site", "same-origin"));
    }
    if let Some(c) = &cookie_header {
        all.push(("cookie", c));
    }
    all.extend_from_slice(headers);
    let body = (method == "POST").then(|| {
        (
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string(form).unwrap(),
        )
    });
    app.request(method, path, &all, body).await
}

/// The page's text.
fn text(res: &Resp) -> &str {
    res.body.as_str().unwrap_or_default()
}

/// The dashboard cookie an answer sets.
fn set_cookie(res: &Resp) -> Option<String> {
    let value = res.header("set-cookie")?;
    let token = value
        .strip_prefix("__latch_dashboard=")?
        .split(';')
        .next()?;
    (!token.is_empty()).then(|| token.to_owned())
}

/// The first form token on a page.
fn csrf(res: &Resp) -> String {
    let page = text(res);
    let start = page.find(r#"name="csrf" value=""#).expect("a form token") + 19;
    page[start..start + 64].to_owned()
}

/// Signs `email` in through the dashboard's form; returns the answer.
async fn sign_in(app: &TestApp, email: &str) -> Resp {
    dash(
        app,
        "POST",
        "/dashboard/sign-in",
        None,
        &[("identifier", email), ("password", PASSWORD)],
        &[],
    )
    .await
}

/// A user with the operator role, signed in to the dashboard; returns
/// (user id, cookie).
async fn operator(app: &TestApp, email: &str) -> (String, String) {
    let id = app.user(email, None).await;
    app.state.services.operators.grant(&id).await.unwrap();
    let res = sign_in(app, email).await;
    assert_eq!(res.status, 303, "{}", text(&res));
    assert_eq!(res.header("location"), Some("/dashboard/users"));
    (id, set_cookie(&res).expect("the dashboard's cookie"))
}

fn assert_strict_headers(res: &Resp) {
    let policy = res.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy:?}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(
        res.header("access-control-allow-origin"),
        None,
        "pages are never for another origin's script"
    );
}

async fn user_json(app: &TestApp, id: &str) -> Value {
    app.user_json(id).await
}

#[tokio::test]
async fn every_dashboard_answer_carries_a_strict_policy_and_no_cors() {
    let app = TestApp::new().await;
    // First run, sign-in, a redirect, a signed-in screen, a refused form:
    // each with an allowed application origin asking.
    let first_run = dash(&app, "GET", "/dashboard", None, &[], &[("origin", ORIGIN)]).await;
    assert_eq!(first_run.status, 200);
    assert!(text(&first_run).contains("setup token"));
    assert_strict_headers(&first_run);
    let (_, cookie) = operator(&app, "op@example.com").await;
    for path in [
        "/dashboard/sign-in",
        "/dashboard",
        "/dashboard/users",
        "/dashboard/audit",
    ] {
        let res = dash(&app, "GET", path, Some(&cookie), &[], &[("origin", ORIGIN)]).await;
        assert!(
            res.status == 200 || res.status == 303,
            "{path}: {}",
            res.status
        );
        assert_strict_headers(&res);
    }
    let refused = dash(
        &app,
        "POST",
        "/dashboard/users",
        Some(&cookie),
        &[],
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_strict_headers(&refused);
    let css = dash(
        &app,
        "GET",
        "/dashboard/assets/dashboard.css",
        None,
        &[],
        &[],
    )
    .await;
    assert_eq!(css.status, 200);
    assert!(
        text(&css).contains("@media"),
        "the stylesheet adapts to a phone"
    );
}

#[tokio::test]
async fn a_forged_form_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let (operator_id, cookie) = operator(&app, "op@example.com").await;
    let target = app.user("target@example.com", None).await;
    let page = dash(
        &app,
        "GET",
        &format!("/dashboard/users/{target}"),
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(page.status, 200);
    let token = csrf(&page);
    let lock = format!("/dashboard/users/{target}/lock");

    // No token, another session's token, another site, a cross-site fetch.
    let (_, other_cookie) = {
        let res = sign_in(&app, "op@example.com").await;
        (res.status, set_cookie(&res).unwrap())
    };
    let other_page = dash(
        &app,
        "GET",
        "/dashboard/users",
        Some(&other_cookie),
        &[],
        &[],
    )
    .await;
    let other_token = csrf(&other_page);
    assert_ne!(other_token, token, "a token is its session's own");
    let attempts: [(Pairs, Pairs); 5] = [
        (&[], &[]),
        (&[("csrf", "0")], &[]),
        (&[("csrf", &other_token)], &[]),
        (
            &[("csrf", &token)],
            &[
                ("origin", "http://evil.test"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            &[("csrf", &token)],
            &[("origin", OWN), ("sec-fetch-site", "same-site")],
        ),
    ];
    for (form, headers) in attempts {
        let res = dash(&app, "POST", &lock, Some(&cookie), form, headers).await;
        assert_eq!(res.status, 403, "{form:?} {headers:?}: {}", text(&res));
        assert_eq!(user_json(&app, &target).await["locked"], false);
    }
    // A form without any Origin is refused as well.
    let res = app
        .request(
            "POST",
            &lock,
            &[
                ("host", HOST),
                ("cookie", &format!("__latch_dashboard={cookie}")),
            ],
            Some(("application/x-www-form-urlencoded", format!("csrf={token}"))),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(user_json(&app, &target).await["locked"], false);

    // The real form, as a browser sends it under `no-referrer` (`Origin:
    // null`), then its audit entries name the operator.
    let res = dash(
        &app,
        "POST",
        &lock,
        Some(&cookie),
        &[("csrf", &token)],
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    assert_eq!(
        res.header("location"),
        Some(format!("/dashboard/users/{target}?done=lock").as_str())
    );
    assert_eq!(user_json(&app, &target).await["locked"], true);
    let entries = app
        .state
        .services
        .audit
        .query(AuditQuery {
            user_id: Some(target.clone()),
            actions: vec![AuditAction::UserLocked, AuditAction::DashboardWrite],
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (_, entry) in &entries {
        assert_eq!(entry.actor.as_str(), "operator");
        assert_eq!(entry.detail.get("operator"), Some(&operator_id));
    }
}

#[tokio::test]
async fn a_user_who_is_no_operator_is_refused_and_their_session_ended() {
    let app = TestApp::new().await;
    let id = app.user("plain@example.com", None).await;
    let res = sign_in(&app, "plain@example.com").await;
    assert_eq!(res.status, 403);
    assert!(text(&res).contains("not an operator"), "{}", text(&res));
    assert!(
        res.header("set-cookie")
            .is_some_and(|c| c.starts_with("__latch_dashboard=;") && c.contains("Max-Age=0")),
        "the cookie is cleared"
    );
    let sessions = app
        .bapi("GET", &format!("/v1/sessions?user_id={id}"), None)
        .await;
    let sessions = sessions.body.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "the sign-in made a session");
    assert_ne!(sessions[0]["status"], "active", "and it was ended");

    // An operator whose role is taken away is let in no more.
    let (_, first) = operator(&app, "first@example.com").await;
    let (second_id, second) = operator(&app, "second@example.com").await;
    let users = dash(&app, "GET", "/dashboard/users", Some(&second), &[], &[]).await;
    assert_eq!(users.status, 200);
    let page = dash(&app, "GET", "/dashboard/operators", Some(&first), &[], &[]).await;
    let res = dash(
        &app,
        "POST",
        &format!("/dashboard/operators/{second_id}/revoke"),
        Some(&first),
        &[("csrf", &csrf(&page))],
        &[],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    let res = dash(&app, "GET", "/dashboard/users", Some(&second), &[], &[]).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/dashboard/sign-in"));
    // Nobody at all is sent to sign in too.
    let res = dash(&app, "GET", "/dashboard/users", None, &[], &[]).await;
    assert_eq!(res.header("location"), Some("/dashboard/sign-in"));
}

#[tokio::test]
async fn the_setup_token_works_once_and_never_once_an_operator_exists() {
    let app = TestApp::new().await;
    let operators = &app.state.services.operators;
    let token = operators.issue_setup_token().await.unwrap().unwrap();
    let setup = |token: String, email: &'static str| {
        let app = &app;
        async move {
            dash(
                app,
                "POST",
                "/dashboard/setup",
                None,
                &[("token", &token), ("email", email), ("password", PASSWORD)],
                &[],
            )
            .await
        }
    };
    let wrong = setup("0".repeat(64), "first@example.com").await;
    assert_eq!(wrong.status, 422);
    assert_eq!(operators.count().await.unwrap(), 0);
    // From another site, the right token does nothing either.
    let foreign = dash(
        &app,
        "POST",
        "/dashboard/setup",
        None,
        &[
            ("token", &token),
            ("email", "first@example.com"),
            ("password", PASSWORD),
        ],
        &[("origin", "http://evil.test")],
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(operators.count().await.unwrap(), 0);

    let made = setup(token.clone(), "first@example.com").await;
    assert_eq!(made.status, 303, "{}", text(&made));
    assert_eq!(made.header("location"), Some("/dashboard/users"));
    let cookie = set_cookie(&made).expect("the new operator is signed in");
    assert_eq!(operators.count().await.unwrap(), 1);
    let users = dash(&app, "GET", "/dashboard/users", Some(&cookie), &[], &[]).await;
    assert_eq!(users.status, 200);
    assert!(text(&users).contains("first@example.com"));

    let again = setup(token.clone(), "second@example.com").await;
    assert_eq!(again.status, 422, "single use");
    assert_eq!(operators.count().await.unwrap(), 1);
    assert_eq!(
        app.bapi("GET", "/v1/users?email_address=second@example.com", None)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0),
        "a spent token makes no user"
    );
    assert_eq!(operators.issue_setup_token().await.unwrap(), None);
    let page = dash(&app, "GET", "/dashboard/setup", None, &[], &[]).await;
    assert_eq!(page.status, 303, "no setup page once an operator exists");
}

#[tokio::test]
async fn a_production_operator_signs_in_with_a_second_factor_only() {
    let app = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..InstanceSettings::default()
    })
    .await;
    // Without a second factor: refused, session ended.
    let plain = app.user("plain-op@example.com", None).await;
    app.state.services.operators.grant(&plain).await.unwrap();
    let res = sign_in(&app, "plain-op@example.com").await;
    assert_eq!(res.status, 403);
    assert!(text(&res).contains("second factor"), "{}", text(&res));

    let user = totp_user(&app, "totp-op@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.state.services.operators.grant(id).await.unwrap();
    let res = sign_in(&app, "totp-op@example.com").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/dashboard/sign-in/factor"));
    let pending = set_cookie(&res).unwrap();
    let res = dash(&app, "GET", "/dashboard/users", Some(&pending), &[], &[]).await;
    assert_eq!(res.status, 303, "a password alone opens nothing");
    let wrong = dash(
        &app,
        "POST",
        "/dashboard/sign-in/factor",
        Some(&pending),
        &[("strategy", "totp"), ("code", "000000")],
        &[],
    )
    .await;
    assert_eq!(wrong.status, 422);
    let res = dash(
        &app,
        "POST",
        "/dashboard/sign-in/factor",
        Some(&pending),
        &[("strategy", "totp"), ("code", &totp_code(&app, 0))],
        &[],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    assert_eq!(res.header("location"), Some("/dashboard/users"));
    let cookie = set_cookie(&res).unwrap();
    assert_ne!(
        cookie, pending,
        "the client's token rotated with the session"
    );
    let users = dash(&app, "GET", "/dashboard/users", Some(&cookie), &[], &[]).await;
    assert_eq!(users.status, 200);

    // A backup code is a second factor too.
    let res = app
        .post_user(serde_json::json!({
            "email_address": ["backup-op@example.com"],
            "password": PASSWORD,
            "backup_codes": ["k7m2p9qa", "x3n8v1cd"],
        }))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let id = res.body["id"].as_str().unwrap();
    app.state.services.operators.grant(id).await.unwrap();
    let res = sign_in(&app, "backup-op@example.com").await;
    assert_eq!(res.header("location"), Some("/dashboard/sign-in/factor"));
    let pending = set_cookie(&res).unwrap();
    let res = dash(
        &app,
        "POST",
        "/dashboard/sign-in/factor",
        Some(&pending),
        &[("strategy", "backup_code"), ("code", "k7m2p9qa")],
        &[],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    assert_eq!(res.header("location"), Some("/dashboard/users"));
}

async fn count(app: &TestApp) -> u64 {
    app.state
        .services
        .users
        .count_users(Default::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operator_creates_edits_and_deletes_a_user_and_bad_input_changes_nothing() {
    let app = TestApp::new().await;
    let (operator_id, cookie) = operator(&app, "op@example.com").await;
    let page = dash(&app, "GET", "/dashboard/users/new", Some(&cookie), &[], &[]).await;
    assert_eq!(page.status, 200);
    let token = csrf(&page);
    let before = count(&app).await;

    // A bad address is named and the form kept; nothing is stored.
    let bad = dash(
        &app,
        "POST",
        "/dashboard/users",
        Some(&cookie),
        &[
            ("csrf", &token),
            ("email", "not an address"),
            ("first_name", "<Nia>"),
        ],
        &[],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        text(&bad).contains(r#"value="&lt;Nia&gt;""#),
        "kept, escaped"
    );
    assert!(!text(&bad).contains("<Nia>"));
    assert_eq!(count(&app).await, before);

    let made = dash(
        &app,
        "POST",
        "/dashboard/users",
        Some(&cookie),
        &[
            ("csrf", &token),
            ("email", "nia@example.com"),
            ("password", PASSWORD),
            ("first_name", "Nia"),
        ],
        &[],
    )
    .await;
    assert_eq!(made.status, 303, "{}", text(&made));
    let location = made.header("location").unwrap().to_owned();
    let id = location
        .strip_prefix("/dashboard/users/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap()
        .to_owned();
    assert_eq!(user_json(&app, &id).await["first_name"], "Nia");

    // Found by each kind of search.
    for q in ["nia@example.com", id.as_str()] {
        let found = dash(
            &app,
            "GET",
            &format!("/dashboard/users?q={q}"),
            Some(&cookie),
            &[],
            &[],
        )
        .await;
        assert!(
            text(&found).contains(&format!("/dashboard/users/{id}")),
            "{q}"
        );
    }
    let none = dash(
        &app,
        "GET",
        "/dashboard/users?q=nobody",
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert!(text(&none).contains("No user found."));

    let edited = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{id}"),
        Some(&cookie),
        &[
            ("csrf", &token),
            ("first_name", "Nia"),
            ("last_name", "Quist"),
            ("username", "nia_q"),
        ],
        &[],
    )
    .await;
    assert_eq!(edited.status, 303, "{}", text(&edited));
    let user = user_json(&app, &id).await;
    assert_eq!(user["last_name"], "Quist");
    assert_eq!(user["username"], "nia_q");
    let taken = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{id}"),
        Some(&cookie),
        &[("csrf", &token), ("username", "x")],
        &[],
    )
    .await;
    assert_eq!(taken.status, 422, "a username too short is refused");
    assert_eq!(user_json(&app, &id).await["username"], "nia_q");

    // Deleting needs its confirmation page's field; an operator cannot
    // delete, lock or ban themselves here.
    let unconfirmed = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{id}/delete"),
        Some(&cookie),
        &[("csrf", &token)],
        &[],
    )
    .await;
    assert_eq!(unconfirmed.status, 303);
    assert_eq!(user_json(&app, &id).await["id"], id.as_str(), "still there");
    for action in ["delete", "lock", "ban"] {
        let res = dash(
            &app,
            "POST",
            &format!("/dashboard/users/{operator_id}/{action}"),
            Some(&cookie),
            &[("csrf", &token), ("confirm", "delete")],
            &[],
        )
        .await;
        assert_eq!(res.status, 422, "{action}");
    }
    let deleted = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{id}/delete"),
        Some(&cookie),
        &[("csrf", &token), ("confirm", "delete")],
        &[],
    )
    .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(
        app.bapi("GET", &format!("/v1/users/{id}"), None)
            .await
            .status,
        404
    );
    let gone = dash(
        &app,
        "GET",
        &format!("/dashboard/users/{id}"),
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn a_session_is_revoked_only_through_its_own_user() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    let ann = app.user("ann@example.com", None).await;
    let bob = app.user("bob@example.com", None).await;
    let (_, ann_session) = app.sign_in("ann@example.com").await;
    let page = dash(
        &app,
        "GET",
        "/dashboard/sessions?user=ann@example.com",
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert!(text(&page).contains(&ann_session), "listed by user");
    let token = csrf(&page);
    // A path naming another user than the session's changes nothing.
    let res = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{bob}/sessions/{ann_session}/revoke"),
        Some(&cookie),
        &[("csrf", &token)],
        &[],
    )
    .await;
    assert_eq!(res.status, 404);
    let session = app
        .bapi("GET", &format!("/v1/sessions/{ann_session}"), None)
        .await;
    assert_eq!(session.body["status"], "active");
    let res = dash(
        &app,
        "POST",
        &format!("/dashboard/users/{ann}/sessions/{ann_session}/revoke"),
        Some(&cookie),
        &[("csrf", &token), ("back", "sessions")],
        &[],
    )
    .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.header("location"),
        Some(format!("/dashboard/sessions?user={ann}&done=revoked").as_str())
    );
    let session = app
        .bapi("GET", &format!("/v1/sessions/{ann_session}"), None)
        .await;
    assert_eq!(session.body["status"], "revoked");
}

#[tokio::test]
async fn the_audit_log_filters_and_refuses_bad_filters() {
    let app = TestApp::new().await;
    let (operator_id, cookie) = operator(&app, "op@example.com").await;
    let page = dash(
        &app,
        "GET",
        "/dashboard/audit?action=sign_in.succeeded&user=op@example.com",
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(text(&page).contains("sign_in.succeeded"));
    assert!(text(&page).contains(&operator_id));
    for bad in [
        "action=nothing.happened",
        "since=yesterday",
        "until=2024-02-30",
        "before=-1",
        "user=nobody@example.com",
    ] {
        let res = dash(
            &app,
            "GET",
            &format!("/dashboard/audit?{bad}"),
            Some(&cookie),
            &[],
            &[],
        )
        .await;
        assert_eq!(res.status, 422, "{bad}");
    }
}

#[tokio::test]
async fn webhook_messages_show_their_attempts_and_are_replayed() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    // Nothing listens where the endpoint points: the first attempt fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    let (endpoint, _) = app.webhook_endpoint(&down, &["user.created"]).await;
    app.user("xena@example.com", None).await;
    assert_eq!(app.send_webhooks().await.retrying, 1);

    let list = dash(&app, "GET", "/dashboard/webhooks", Some(&cookie), &[], &[]).await;
    assert!(text(&list).contains(&endpoint));
    assert!(text(&list).contains("user.created"));
    let messages = dash(
        &app,
        "GET",
        &format!("/dashboard/webhooks/{endpoint}"),
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(messages.status, 200);
    let page = text(&messages);
    let start = page
        .find(&format!("/dashboard/webhooks/{endpoint}/messages/"))
        .unwrap();
    let event: String = page[start..]
        .trim_start_matches(&format!("/dashboard/webhooks/{endpoint}/messages/"))
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let message = dash(
        &app,
        "GET",
        &format!("/dashboard/webhooks/{endpoint}/messages/{event}"),
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(message.status, 200);
    assert!(
        text(&message).contains("failed"),
        "the failed attempt is shown"
    );
    let due_before = app
        .webhooks()
        .message(&event, &endpoint)
        .await
        .unwrap()
        .due_at;
    let res = dash(
        &app,
        "POST",
        &format!("/dashboard/webhooks/{endpoint}/messages/{event}/replay"),
        Some(&cookie),
        &[("csrf", &csrf(&message))],
        &[],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    let replayed = app.webhooks().message(&event, &endpoint).await.unwrap();
    assert!(replayed.due_at < due_before, "due again at once");
    let unknown = dash(
        &app,
        "GET",
        &format!("/dashboard/webhooks/{endpoint}/messages/msg_nothing"),
        Some(&cookie),
        &[],
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn an_operator_grants_the_role_and_the_entry_names_them() {
    let app = TestApp::new().await;
    let (operator_id, cookie) = operator(&app, "op@example.com").await;
    let bob = app.user("bob@example.com", None).await;
    let page = dash(&app, "GET", "/dashboard/operators", Some(&cookie), &[], &[]).await;
    assert!(
        text(&page).contains("last operator"),
        "the only one cannot be revoked"
    );
    let token = csrf(&page);
    let nobody = dash(
        &app,
        "POST",
        "/dashboard/operators",
        Some(&cookie),
        &[("csrf", &token), ("user", "nobody@example.com")],
        &[],
    )
    .await;
    assert_eq!(nobody.status, 404);
    let res = dash(
        &app,
        "POST",
        "/dashboard/operators",
        Some(&cookie),
        &[("csrf", &token), ("user", "bob@example.com")],
        &[],
    )
    .await;
    assert_eq!(res.status, 303, "{}", text(&res));
    assert!(
        app.state
            .services
            .operators
            .is_operator(&bob)
            .await
            .unwrap()
    );
    let granted = app
        .state
        .services
        .operators
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.operator.user_id.0 == bob)
        .unwrap();
    assert_eq!(
        granted.operator.granted_by.map(|u| u.0),
        Some(operator_id.clone())
    );
    let entries = app
        .state
        .services
        .audit
        .query(AuditQuery {
            user_id: Some(bob),
            actions: vec![AuditAction::OperatorGranted],
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1.detail.get("operator"), Some(&operator_id));
}

/// The settings form as the page posts it for `doc` (the document of
/// `GET /v1/instance/user_management`): a field per setting, checkboxes
/// that are off left out.
fn settings_form(doc: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    for (key, value) in doc.as_object().unwrap() {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(_) => settings_form(value, &path, out),
            Value::Bool(true) => out.push((path, "true".into())),
            Value::Bool(false) => {}
            Value::String(s) => out.push((path, s.clone())),
            Value::Array(words) => {
                let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
                out.push((path, words.join(" ")));
            }
            other => out.push((path, other.to_string())),
        }
    }
}

/// The document and version of a `GET /v1/instance/user_management`.
fn form_of(read: &Resp) -> (Value, String) {
    (
        read.body["settings"].clone(),
        read.body["version"].to_string(),
    )
}

/// Posts the settings form for `doc` with `changes` (path, value; an
/// empty value leaves a checkbox off) over `version`.
async fn post_settings(
    app: &TestApp,
    cookie: &str,
    token: &str,
    version: &str,
    doc: &Value,
    changes: &[(&str, &str)],
) -> Resp {
    let mut form = Vec::new();
    settings_form(doc, "", &mut form);
    for (path, value) in changes {
        form.retain(|(k, _)| k != path);
        if !value.is_empty() {
            form.push(((*path).to_owned(), (*value).to_owned()));
        }
    }
    let mut pairs: Vec<(&str, &str)> = vec![("csrf", token), ("version", version)];
    pairs.extend(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    dash(
        app,
        "POST",
        "/dashboard/settings",
        Some(cookie),
        &pairs,
        &[],
    )
    .await
}

#[tokio::test]
async fn an_operator_changes_the_settings_and_sees_a_refusal_beside_its_field() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    let page = dash(&app, "GET", "/dashboard/settings", Some(&cookie), &[], &[]).await;
    assert_eq!(page.status, 200);
    assert_strict_headers(&page);
    let html = text(&page);
    for field in [
        r#"name="phone_number.sign_in_with_code" value="true" checked"#,
        r#"name="password.min_length" value="8""#,
        r#"name="rate_limits.attempt.window_secs""#,
        "Multi-factor",
        "Allowlist",
    ] {
        assert!(html.contains(field), "{field} on the page");
    }
    let token = csrf(&page);
    let read = app.bapi("GET", "/v1/instance/user_management", None).await;
    let (doc, version) = form_of(&read);

    // A number that does not read: shown beside its field, nothing stored.
    let bad = post_settings(
        &app,
        &cookie,
        &token,
        &version,
        &doc,
        &[("password.min_length", "eight")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        text(&bad).contains(r#"id="err-password.min_length""#),
        "{}",
        text(&bad)
    );
    // A combination that cannot work: refused by the core, beside its field,
    // with what was typed kept.
    let bad = post_settings(
        &app,
        &cookie,
        &token,
        &version,
        &doc,
        &[("username.enabled", ""), ("password.min_length", "12")],
    )
    .await;
    assert_eq!(bad.status, 422);
    let html = text(&bad);
    assert!(
        html.contains(r#"id="err-username.used_for_sign_in""#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="password.min_length" value="12""#),
        "typed values kept"
    );
    assert_eq!(
        app.bapi("GET", "/v1/instance/user_management", None)
            .await
            .body,
        read.body,
        "nothing changed"
    );

    // Phone codes off, saved and in force.
    let saved = post_settings(
        &app,
        &cookie,
        &token,
        &version,
        &doc,
        &[
            ("phone_number.sign_in_with_code", ""),
            ("phone_number.verify_at_sign_up", ""),
            ("multi_factor.phone_code", ""),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", text(&saved));
    assert_eq!(
        saved.header("location"),
        Some("/dashboard/settings?done=settings_saved")
    );
    let now = app.bapi("GET", "/v1/instance/user_management", None).await;
    assert_eq!(
        now.body["settings"]["phone_number"]["sign_in_with_code"],
        false
    );
    assert_eq!(
        now.body["settings"]["password"]["min_length"], 8,
        "untouched"
    );
    let entries = app
        .bapi("GET", "/v1/audit_log?action=settings.changed", None)
        .await;
    let entry = &entries.body["data"][0];
    assert_eq!(entry["actor"], "operator", "{entry}");

    // The same form again, over the version it was drawn from: stale.
    let stale = post_settings(&app, &cookie, &token, &version, &doc, &[]).await;
    assert_eq!(stale.status, 409);
    assert!(text(&stale).contains("version"), "{}", text(&stale));
}

#[tokio::test]
async fn an_operator_sets_an_oauth_client_and_never_sees_its_secret() {
    let crate::oauth::Setup { app, idp: _idp } =
        crate::oauth::setup(InstanceSettings::default()).await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    let page = dash(&app, "GET", "/dashboard/settings", Some(&cookie), &[], &[]).await;
    let html = text(&page);
    for field in [
        r#"name="sso.github.client_id""#,
        r#"<input type="password" name="sso.github.client_secret" value="""#,
        r#"name="sso.github.scopes""#,
    ] {
        assert!(html.contains(field), "{field} on the page");
    }
    let token = csrf(&page);
    let read = app.bapi("GET", "/v1/instance/user_management", None).await;
    let (doc, version) = form_of(&read);
    let saved = post_settings(
        &app,
        &cookie,
        &token,
        &version,
        &doc,
        &[
            ("sso.github.client_id", "Iv1.runtime"),
            ("sso.github.client_secret", "a-runtime-secret"),
            ("sso.github.scopes", "read:user  user:email"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", text(&saved));
    let now = app.bapi("GET", "/v1/instance/user_management", None).await;
    let github = &now.body["settings"]["sso"]["github"];
    assert_eq!(github["client_id"], "Iv1.runtime");
    assert_eq!(github["scopes"], json!(["read:user", "user:email"]));
    assert_eq!(github["client_secret"], "", "write-only");
    let versions = app
        .bapi("GET", "/v1/instance/user_management/versions", None)
        .await;
    assert_eq!(versions.status, 200);
    let listed = versions.body.to_string();
    assert!(
        !listed.contains("a-runtime-secret") && !listed.contains("\"v1."),
        "{listed}"
    );
    let page = dash(&app, "GET", "/dashboard/settings", Some(&cookie), &[], &[]).await;
    let html = text(&page);
    assert!(html.contains(r#"name="sso.github.client_id" value="Iv1.runtime""#));
    assert!(!html.contains("a-runtime-secret"));

    // Refused beside its field; the secret typed is not echoed back.
    let (doc, version) = form_of(&now);
    let bad = post_settings(
        &app,
        &cookie,
        &csrf(&page),
        &version,
        &doc,
        &[
            ("sso.github.client_id", "two words"),
            ("sso.github.client_secret", "another-secret"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    let html = text(&bad);
    assert!(html.contains(r#"id="err-sso.github.client_id""#), "{html}");
    assert!(!html.contains("another-secret"), "{html}");
    let after = app.bapi("GET", "/v1/instance/user_management", None).await;
    assert_eq!(after.body, now.body, "nothing changed");
}

#[tokio::test]
async fn an_operator_keeps_the_allow_and_block_lists() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    let page = dash(&app, "GET", "/dashboard/settings", Some(&cookie), &[], &[]).await;
    let token = csrf(&page);
    let add = |identifier: &'static str| {
        let (app, cookie, token) = (&app, cookie.clone(), token.clone());
        async move {
            dash(
                app,
                "POST",
                "/dashboard/settings/lists/block",
                Some(&cookie),
                &[("csrf", &token), ("identifier", identifier)],
                &[],
            )
            .await
        }
    };
    let added = add("*@spam.example").await;
    assert_eq!(added.status, 303, "{}", text(&added));
    assert_eq!(add("not an address").await.status, 422);
    let listed = app.bapi("GET", "/v1/blocklist_identifiers", None).await;
    assert_eq!(listed.body["total_count"], 1);
    let id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let page = dash(&app, "GET", "/dashboard/settings", Some(&cookie), &[], &[]).await;
    assert!(text(&page).contains("spam.example"));
    let gone = dash(
        &app,
        "POST",
        &format!("/dashboard/settings/lists/block/{id}/remove"),
        Some(&cookie),
        &[("csrf", &token)],
        &[],
    )
    .await;
    assert_eq!(gone.status, 303);
    let listed = app.bapi("GET", "/v1/blocklist_identifiers", None).await;
    assert_eq!(listed.body["total_count"], 0);
    // No such list.
    let none = dash(
        &app,
        "POST",
        "/dashboard/settings/lists/grey",
        Some(&cookie),
        &[("csrf", &token), ("identifier", "a@b.example")],
        &[],
    )
    .await;
    assert_eq!(none.status, 404);
}

/// Posts the key rotation form with `hours` of overlap.
async fn rotate(app: &TestApp, cookie: &str, token: &str, hours: &str) -> Resp {
    let form = [("csrf", token), ("overlap_hours", hours)];
    dash(
        app,
        "POST",
        "/dashboard/keys/rotate",
        Some(cookie),
        &form,
        &[],
    )
    .await
}

#[tokio::test]
async fn the_secret_key_is_rotated_with_an_overlap_for_the_old_one() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    let backend_with = |key: String| {
        let app = &app;
        async move {
            app.request(
                "GET",
                "/v1/users",
                &[("authorization", &format!("Bearer {key}"))],
                None,
            )
            .await
            .status
        }
    };
    // A key the file sets is not Latch's to rotate.
    let page = dash(&app, "GET", "/dashboard/keys", Some(&cookie), &[], &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        text(&page).contains("configuration file"),
        "{}",
        text(&page)
    );
    let token = csrf(&page);
    let refused = rotate(&app, &cookie, &token, "24").await;
    assert_eq!(refused.status, 422);

    app.secret_key_in_store().await;
    let page = dash(&app, "GET", "/dashboard/keys", Some(&cookie), &[], &[]).await;
    assert!(text(&page).contains("Rotate the secret key"));
    assert!(text(&page).contains(crate::support::PUBLISHABLE_KEY));
    for bad in ["5", "-1", "many"] {
        let res = rotate(&app, &cookie, &token, bad).await;
        assert_eq!(res.status, 422, "{bad}");
    }
    let rotated = rotate(&app, &cookie, &token, "24").await;
    assert_eq!(rotated.status, 303, "{}", text(&rotated));
    let ring = app.services().secret_keys.ring();
    let new_key = ring.current.clone();
    assert_ne!(new_key, crate::support::SECRET);
    assert!(new_key.starts_with("sk_test_"));
    assert_eq!(
        backend_with(new_key.clone()).await,
        200,
        "the new key works"
    );
    assert_eq!(
        backend_with(crate::support::SECRET.into()).await,
        200,
        "the old key works during its overlap"
    );
    app.clock
        .advance(std::time::Duration::from_secs(24 * 3600 + 1));
    assert_eq!(
        backend_with(crate::support::SECRET.into()).await,
        401,
        "and not after"
    );
    assert_eq!(backend_with(new_key.clone()).await, 200);
    // Another replica reads the rotation at its next poll.
    let other = app.reopen().await;
    other.secret_key_in_store().await;
    assert!(other.services().secret_keys.accepts(&new_key));
    let entries = app
        .request(
            "GET",
            "/v1/audit_log?action=secret_key.rotated",
            &[("authorization", &format!("Bearer {new_key}"))],
            None,
        )
        .await;
    assert_eq!(
        entries.body["data"][0]["detail"]["overlap_secs"], "86400",
        "{}",
        entries.body
    );
    // A rotation with no overlap refuses the old key at once.
    let page = dash(&app, "GET", "/dashboard/keys", Some(&cookie), &[], &[]).await;
    let again = rotate(&app, &cookie, &csrf(&page), "0").await;
    assert_eq!(again.status, 303);
    assert_eq!(backend_with(new_key).await, 401);
}

#[tokio::test]
async fn the_sessions_screen_lists_what_is_active_now_across_users() {
    let app = TestApp::new().await;
    let (_, cookie) = operator(&app, "op@example.com").await;
    app.user("ann@example.com", None).await;
    let (_, ann_session) = app.sign_in("ann@example.com").await;
    let page = dash(&app, "GET", "/dashboard/sessions", Some(&cookie), &[], &[]).await;
    assert_eq!(page.status, 200);
    let html = text(&page);
    // Ann's session and the operator's own.
    assert!(html.contains("Active now: 2"), "{html}");
    assert!(html.contains(&ann_session), "{html}");
    assert!(html.contains("ann@example.com"), "{html}");
    // Revoked, it is active no more.
    app.bapi("POST", &format!("/v1/sessions/{ann_session}/revoke"), None)
        .await;
    let page = dash(&app, "GET", "/dashboard/sessions", Some(&cookie), &[], &[]).await;
    assert!(text(&page).contains("Active now: 1"));
    assert!(!text(&page).contains(&ann_session));
}

//! The audit log over HTTP: every kind of security event is recorded with
//! who, what, when and from where, read back filtered and paged, and holds
//! no secret.

use std::time::Duration;

use latch_core::model::{InstanceSettings, RateLimit, RateLimitSettings};
use serde_json::{Value, json};

use crate::second_factors::{TOTP_BASE32, attempt, totp_code};
use crate::support::{PASSWORD, SECRET, TestApp};

/// The entries `query` selects, newest first.
async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app
        .bapi("GET", &format!("/v1/audit_log?{query}"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["data"].as_array().unwrap().clone()
}

/// The one entry of `action` about `user`.
async fn only(app: &TestApp, action: &str, user: &str) -> Value {
    let found = entries(app, &format!("action={action}&user_id={user}")).await;
    assert_eq!(found.len(), 1, "{action} for {user}: {found:?}");
    found[0].clone()
}

fn actions(found: &[Value]) -> Vec<&str> {
    found
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_kind_of_security_event_is_recorded_with_who_what_when_and_where() {
    let settings = InstanceSettings {
        lockout_attempts: 2,
        ..InstanceSettings::default()
    };
    let app = TestApp::with(settings).await;
    let ann = app.user("ann@example.com", None).await;

    // A wrong password, then the right one, from a browser.
    let wrong = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "ann@example.com"),
            ("password", "not the password"),
        ])
        .await;
    assert_eq!(wrong.status, 422);
    let failed = only(&app, "sign_in.failed", &ann).await;
    assert_eq!(failed["detail"]["strategy"], "password");
    assert_eq!(failed["detail"]["reason"], "password_incorrect");
    assert_eq!(failed["actor"], "frontend");
    assert_eq!(failed["client_ip"], "127.0.0.1");
    assert!(failed["created_at"].as_i64().unwrap() > 0);
    let (_, session) = app.sign_in("ann@example.com").await;
    let passed = only(&app, "sign_in.succeeded", &ann).await;
    assert_eq!(passed["detail"]["session_id"], session.as_str());
    assert_eq!(passed["detail"]["strategy"], "password");

    // An unknown address fails like any other, naming no user.
    app.new_sign_in(&[
        ("strategy", "password"),
        ("identifier", "nobody@example.com"),
        ("password", "whatever it is"),
    ])
    .await;
    let unknown = entries(&app, "action=sign_in.failed").await;
    assert_eq!(unknown[0]["user_id"], Value::Null, "{unknown:?}");
    assert_eq!(unknown[0]["detail"]["account"], "none");

    // Second factors: added, passed, failed, removed.
    let bob = app.user("bob@example.com", None).await;
    let enrolled = app
        .bapi(
            "PATCH",
            &format!("/v1/users/{bob}"),
            Some(json!({ "totp_secret": TOTP_BASE32 })),
        )
        .await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let added = only(&app, "second_factor.added", &bob).await;
    assert_eq!(added["detail"]["strategy"], "totp");
    assert_eq!(added["actor"], "backend");
    let (token, id, _) = app.password_sign_in("bob@example.com").await;
    attempt(&app, &token, &id, "totp", "000000").await;
    assert_eq!(
        only(&app, "second_factor.failed", &bob).await["detail"]["reason"],
        "code_incorrect"
    );
    let code = totp_code(&app, 0);
    attempt(&app, &token, &id, "totp", &code).await;
    assert_eq!(
        only(&app, "second_factor.passed", &bob).await["detail"]["strategy"],
        "totp"
    );
    app.bapi("DELETE", &format!("/v1/users/{bob}/totp"), None)
        .await;
    only(&app, "second_factor.removed", &bob).await;

    // Locked by failures, then by and for an administrator.
    let cat = app.user("cat@example.com", None).await;
    for _ in 0..2 {
        app.new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "cat@example.com"),
            ("password", "a wrong guess"),
        ])
        .await;
    }
    let locked = only(&app, "user.locked", &cat).await;
    assert_eq!(locked["detail"]["reason"], "failed_attempts");
    app.bapi("POST", &format!("/v1/users/{cat}/unlock"), None)
        .await;
    only(&app, "user.unlocked", &cat).await;
    app.bapi("POST", &format!("/v1/users/{ann}/ban"), None)
        .await;
    let banned = only(&app, "user.banned", &ann).await;
    assert_eq!(banned["actor"], "backend");
    let revoked = only(&app, "session.revoked", &ann).await;
    assert_eq!(revoked["detail"]["session_id"], session.as_str());
    app.bapi("POST", &format!("/v1/users/{ann}/unban"), None)
        .await;
    only(&app, "user.unbanned", &ann).await;

    // A password set by an administrator.
    app.bapi(
        "PATCH",
        &format!("/v1/users/{cat}"),
        Some(json!({ "password": "a brand new password" })),
    )
    .await;
    only(&app, "password.changed", &cat).await;

    // Every Backend API write, with its method, path and status.
    let writes = entries(&app, &format!("action=backend.write&user_id={cat}")).await;
    let paths: Vec<&str> = writes
        .iter()
        .map(|e| e["detail"]["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&format!("/v1/users/{cat}/unlock").as_str()),
        "{paths:?}"
    );
    assert_eq!(writes[0]["detail"]["method"], "PATCH");
    assert_eq!(writes[0]["detail"]["status"], "200");

    // Nothing secret is in the log.
    let all = app
        .bapi("GET", "/v1/audit_log?limit=500", None)
        .await
        .body
        .to_string();
    for secret in [
        PASSWORD,
        "not the password",
        "a brand new password",
        code.as_str(),
        SECRET,
        "GEZDGNBV",
    ] {
        assert!(!all.contains(secret), "{secret:?} is in the audit log");
    }
}

#[tokio::test]
async fn the_log_is_filtered_by_time_and_paged_by_cursor() {
    let app = TestApp::new().await;
    let users: Vec<String> = [
        "p1@example.com",
        "p2@example.com",
        "p3@example.com",
        "p4@example.com",
        "p5@example.com",
    ]
    .iter()
    .map(|e| e.to_string())
    .collect();
    let start = latch_core::ports::Clock::now(&*app.clock).0;
    for email in &users {
        app.user(email, None).await;
        app.clock.advance(Duration::from_secs(1));
    }
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let res = app
            .bapi(
                "GET",
                &format!("/v1/audit_log?action=backend.write&limit=2{before}"),
                None,
            )
            .await;
        let page = res.body["data"].as_array().unwrap().clone();
        seen.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match res.body["next_cursor"].as_str() {
            Some(cursor) => before = format!("&before={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every write once: {seen:?}");
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 5);
    let window = entries(
        &app,
        &format!(
            "action=backend.write&since={}&until={}",
            start + 1000,
            start + 3000
        ),
    )
    .await;
    assert_eq!(window.len(), 2, "{window:?}");
    // Bad filters are refused by name.
    app.bapi("GET", "/v1/audit_log?action=user.exploded", None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("action"));
    app.bapi("GET", "/v1/audit_log?since=yesterday", None)
        .await
        .assert_error(422, "form_param_format_invalid", Some("since"));
    app.bapi("GET", "/v1/audit_log?since=10&until=5", None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("until"));
    assert_eq!(
        app.request("GET", "/v1/audit_log", &[], None).await.status,
        401
    );
}

#[tokio::test]
async fn a_rate_limit_hit_is_recorded_once_per_window() {
    let mut limits = RateLimitSettings::OFF;
    limits.create_sign_in = RateLimit {
        requests: 1,
        window: latch_core::model::Duration::seconds(60),
    };
    let app = TestApp::with_rate_limits(InstanceSettings {
        rate_limits: limits,
        ..InstanceSettings::default()
    })
    .await;
    for _ in 0..4 {
        app.request_from(
            "198.51.100.9:4000",
            "POST",
            "/v1/client/sign_ins?_is_native=1",
            &[("authorization", ""), ("user-agent", "flooder/1.0")],
            Some((
                "application/x-www-form-urlencoded",
                "identifier=amy%40example.com".into(),
            )),
        )
        .await;
    }
    let hits = entries(&app, "action=rate_limit.hit").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["detail"]["limit"], "create_sign_in");
    assert_eq!(hits[0]["client_ip"], "198.51.100.9");
    assert_eq!(hits[0]["user_agent"], "flooder/1.0");
    assert_eq!(actions(&hits), ["rate_limit.hit"]);
}

#[tokio::test]
async fn password_resets_changes_and_their_verifications_are_recorded() {
    let app = TestApp::new().await;
    let dee = app.user("dee@example.com", None).await;
    let (token, id, _) = app.identify("dee@example.com").await;
    let prepared = app
        .prepare_first_factor(&token, &id, "reset_password_email_code", &[])
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("dee@example.com").unwrap();
    let passed = app
        .attempt_first_factor_code(&token, &id, "reset_password_email_code", &code)
        .await;
    assert_eq!(passed.status, 200, "{}", passed.body);
    // The client's token rotated as the code passed.
    let token = passed.token();
    let reset = app
        .fapi(
            "POST",
            &format!("/v1/client/sign_ins/{id}/reset_password"),
            &token,
            &[("password", "a reset password of length")],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    only(&app, "password.reset", &dee).await;
    only(&app, "sign_in.succeeded", &dee).await;

    // Signed in by the reset, the user changes the password: the current
    // one is proved first.
    let token = reset.token();
    let session = reset.body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/me/change_password?_clerk_session_id={session}");
    let wrong = app
        .fapi(
            "POST",
            &path,
            &token,
            &[
                ("current_password", PASSWORD),
                ("new_password", "yet another new one"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let failed = only(&app, "verification.failed", &dee).await;
    assert_eq!(failed["detail"]["strategy"], "password");
    assert_eq!(failed["detail"]["reason"], "password_incorrect");
    let changed = app
        .fapi(
            "POST",
            &path,
            &token,
            &[
                ("current_password", "a reset password of length"),
                ("new_password", "yet another new one"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    only(&app, "verification.passed", &dee).await;
    only(&app, "password.changed", &dee).await;
    let all = app
        .bapi("GET", "/v1/audit_log?limit=500", None)
        .await
        .body
        .to_string();
    for secret in [
        code.as_str(),
        "a reset password of length",
        "yet another new one",
    ] {
        assert!(!all.contains(secret), "{secret:?} is in the audit log");
    }
}

//! Attacks, each a test named after it. Where an attack is already the
//! subject of a test elsewhere (races, OAuth state, lockout, second factors),
//! SECURITY.md names that test; the ones here have no other home.

use std::time::Duration;

use latch_core::model::{InstanceSettings, RateLimit, RateLimitSettings};
use serde_json::json;

use crate::support::{PASSWORD, Resp, TestApp};

fn settings(edit: impl FnOnce(&mut InstanceSettings)) -> InstanceSettings {
    let mut s = InstanceSettings {
        rate_limits: RateLimitSettings::OFF,
        ..InstanceSettings::default()
    };
    edit(&mut s);
    s
}

/// A one-call password sign-in from `remote`.
async fn password_from(app: &TestApp, remote: &str, identifier: &str, password: &str) -> Resp {
    app.request_from(
        remote,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[("authorization", "")],
        Some((
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string([
                ("strategy", "password"),
                ("identifier", identifier),
                ("password", password),
            ])
            .unwrap(),
        )),
    )
    .await
}

fn first_factor(res: &Resp, strategy: &str, field: &str) -> String {
    res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == strategy)
        .unwrap()[field]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn distributed_guessing_from_many_addresses_still_locks_the_account() {
    let app = TestApp::with_rate_limits(settings(|s| {
        s.rate_limits.attempt = RateLimit::per_seconds(3, 10);
        s.rate_limits.create_sign_in = RateLimit::per_seconds(5, 10);
        s.lockout_attempts = 5;
    }))
    .await;
    app.user("vic@example.com", None).await;
    // One guess from each of many addresses: no per-IP limit is reached.
    for i in 1..=5 {
        password_from(
            &app,
            &format!("198.51.100.{i}:443"),
            "vic@example.com",
            "guess",
        )
        .await
        .assert_error(422, "form_password_incorrect", Some("password"));
    }
    let owner = password_from(&app, "203.0.113.7:443", "vic@example.com", PASSWORD).await;
    owner.assert_error(403, "user_locked", None);
    assert!(owner.body["errors"][0]["meta"]["lockout_expires_in_seconds"].as_i64() > Some(0));
}

#[tokio::test]
async fn look_alike_spellings_of_an_email_reach_one_account() {
    let app = TestApp::with(settings(|_| {})).await;
    app.user("ann@example.com", None).await;
    // Case, full-width letters and a full-width at sign are the same address.
    for spelling in ["ANN@Example.com", "\u{FF21}nn\u{FF20}example.com"] {
        let res = password_from(&app, "192.0.2.1:1", spelling, PASSWORD).await;
        assert_eq!(res.status, 200, "{spelling}: {}", res.body);
        assert_eq!(res.body["response"]["status"], "complete");
    }
    // And cannot be registered twice.
    app.bapi(
        "POST",
        "/v1/users",
        Some(json!({ "email_address": ["\u{FF41}NN@example.com"], "password": PASSWORD })),
    )
    .await
    .assert_error(422, "form_identifier_exists", Some("email_address"));
}

#[tokio::test]
async fn a_megabyte_password_is_refused_before_it_is_hashed() {
    let app = TestApp::with(settings(|_| {})).await;
    app.user("ann@example.com", None).await;
    let started = std::time::Instant::now();
    let huge = "p".repeat(1024 * 1024);
    let res = password_from(&app, "192.0.2.1:1", "ann@example.com", &huge).await;
    res.assert_error(413, "request_body_too_large", None);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A password just over the byte limit for new passwords is refused by
    // name when set.
    app.bapi(
        "POST",
        "/v1/users",
        Some(json!({ "email_address": ["long@example.com"], "password": "p".repeat(73) })),
    )
    .await
    .assert_error(
        422,
        "form_password_size_in_bytes_exceeded",
        Some("password"),
    );
}

#[tokio::test]
async fn code_spamming_is_throttled_alike_for_accounts_and_non_accounts() {
    let app = TestApp::with_rate_limits(settings(|s| {
        s.enumeration_protection = true;
        s.rate_limits.codes_per_destination = RateLimit::per_seconds(2, 600);
    }))
    .await;
    app.user("ann@example.com", None).await;
    for email in ["ann@example.com", "nobody@example.com"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let res = app.new_sign_in(&[("identifier", email)]).await;
            let id = res.body["response"]["id"].as_str().unwrap().to_owned();
            let email_id = first_factor(&res, "email_code", "email_address_id");
            let prepared = app
                .fapi(
                    "POST",
                    &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
                    &res.token(),
                    &[("strategy", "email_code"), ("email_address_id", &email_id)],
                )
                .await;
            statuses.push(prepared.status.as_u16());
        }
        assert_eq!(statuses, [200, 200, 429], "{email}");
    }
    assert_eq!(app.codes.count(), 2, "only the account's two codes left");
}

#[tokio::test]
async fn a_code_sent_for_one_sign_in_or_channel_does_not_pass_another() {
    let app = TestApp::with(settings(|_| {})).await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(json!({ "email_address": ["ann@example.com"], "phone_number": ["+15550003333"] })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (token_a, id_a, res_a) = app.identify("ann@example.com").await;
    let (token_b, id_b, res_b) = app.identify("ann@example.com").await;
    let email_a = first_factor(&res_a, "email_code", "email_address_id");
    let phone_b = first_factor(&res_b, "phone_code", "phone_number_id");
    let step = |id: &str, step: &str| format!("/v1/client/sign_ins/{id}/{step}");
    for (token, id, strategy, field, target) in [
        (&token_a, &id_a, "email_code", "email_address_id", &email_a),
        (&token_b, &id_b, "phone_code", "phone_number_id", &phone_b),
    ] {
        let res = app
            .fapi(
                "POST",
                &step(id, "prepare_first_factor"),
                token,
                &[("strategy", strategy), (field, target)],
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    let code_a = app.codes.last_code_to("ann@example.com").unwrap();
    // A's email code on B, where a phone code is awaited, and as a phone code.
    let attempt = |token: &str, id: &str, strategy: &str, code: &str| {
        let path = step(id, "attempt_first_factor");
        let form = [("strategy", strategy.to_owned()), ("code", code.to_owned())];
        let token = token.to_owned();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.fapi("POST", &path, &token, &form).await
        }
    };
    attempt(&token_b, &id_b, "phone_code", &code_a)
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    attempt(&token_b, &id_b, "email_code", &code_a)
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    // Still good where it was sent.
    let res = attempt(&token_a, &id_a, "email_code", &code_a).await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn an_abandoned_sign_in_cannot_be_resumed() {
    let app = TestApp::with(settings(|s| {
        s.sign_in_lifetime = latch_core::model::Duration(300);
    }))
    .await;
    app.user("ann@example.com", None).await;
    let (token, id, _) = app.identify("ann@example.com").await;
    app.clock.advance(Duration::from_millis(400));
    let res = app
        .sign_in_step(
            &token,
            &id,
            "attempt_first_factor",
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(
        res.body["client"]["sessions"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(
        read.body["response"]["status"], "abandoned",
        "{}",
        read.body
    );
}

#[tokio::test]
async fn redirect_url_tricks_are_refused() {
    let crate::oauth::Setup { app, .. } = crate::oauth::setup(settings(|s| {
        s.environment = latch_core::model::Environment::Production;
        s.redirect_origins = vec!["https://good.example".into()];
    }))
    .await;
    for url in [
        "//evil.example/cb",
        "https://good.example@evil.example/cb",
        "https://good.example\\@evil.example/cb",
        "https:\\\\evil.example/cb",
        "https:/\\evil.example/cb",
        "/\\evil.example/cb",
        "javascript:alert(1)",
        "https://good.example%2F@evil.example/",
    ] {
        let res = app
            .new_sign_in(&[("strategy", "oauth_github"), ("redirect_url", url)])
            .await;
        res.assert_error(422, "form_param_value_invalid", Some("redirect_url"));
    }
    let ok = app
        .new_sign_in(&[
            ("strategy", "oauth_github"),
            ("redirect_url", "https://good.example/sso-callback"),
        ])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn one_code_sent_at_once_from_many_tabs_signs_in_once() {
    let app = std::sync::Arc::new(TestApp::with(settings(|_| {})).await);
    let user = app.user("ann@example.com", None).await;
    let (token, id, res) = app.identify("ann@example.com").await;
    let email_id = first_factor(&res, "email_code", "email_address_id");
    let prepared = app
        .sign_in_step(
            &token,
            &id,
            "prepare_first_factor",
            &[("strategy", "email_code"), ("email_address_id", &email_id)],
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("ann@example.com").unwrap();
    let mut tabs = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (app, token, id, code) = (app.clone(), token.clone(), id.clone(), code.clone());
        tabs.spawn(async move {
            app.sign_in_step(
                &token,
                &id,
                "attempt_first_factor",
                &[("strategy", "email_code"), ("code", &code)],
            )
            .await
            .status
            .as_u16()
        });
    }
    let statuses = tabs.join_all().await;
    // One tab wins; a tab that lost its race to it may answer with the
    // finished sign-in too, but there is one session whatever the timing.
    assert!(statuses.contains(&200), "{statuses:?}");
    let sessions = app
        .bapi("GET", &format!("/v1/sessions?user_id={user}"), None)
        .await;
    assert_eq!(
        sessions.body.as_array().map(Vec::len),
        Some(1),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_ban_is_revealed_only_to_whoever_knows_the_password() {
    let app = TestApp::with(settings(|_| {})).await;
    let banned = app.user("ben@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (token, session) = app.sign_in("ben@example.com").await;
    let res = app
        .bapi("POST", &format!("/v1/users/{banned}/ban"), None)
        .await;
    assert_eq!(res.body["banned"], true, "{}", res.body);
    // The ban revoked the session it had.
    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{session}/tokens"),
        &token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    // A wrong password reads as for anyone else.
    let ben = password_from(&app, "192.0.2.1:1", "ben@example.com", "a guess").await;
    let bob = password_from(&app, "192.0.2.1:1", "bob@example.com", "a guess").await;
    ben.assert_error(422, "form_password_incorrect", Some("password"));
    assert_eq!(ben.body["errors"], bob.body["errors"]);
    // Only the right password learns of the ban, and gets no session.
    password_from(&app, "192.0.2.1:1", "ben@example.com", PASSWORD)
        .await
        .assert_error(403, "user_banned", None);
    let sessions = app
        .bapi(
            "GET",
            &format!("/v1/sessions?user_id={banned}&status=active"),
            None,
        )
        .await;
    assert_eq!(sessions.body.as_array().map(Vec::len), Some(0));
    // Unbanned, the user signs in again.
    app.bapi("POST", &format!("/v1/users/{banned}/unban"), None)
        .await;
    let res = password_from(&app, "192.0.2.1:1", "ben@example.com", PASSWORD).await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn a_flood_of_unknown_identifiers_gets_429_before_any_hash() {
    // Clerk's default: 5 sign-ins per 10 s from one address.
    let app = TestApp::with_rate_limits(InstanceSettings::default()).await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let res = password_from(
            &app,
            "198.51.100.66:5000",
            &format!("nobody{i}@example.com"),
            "a guess",
        )
        .await;
        statuses.push((res.status.as_u16(), res.error().0));
    }
    let refused = statuses.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(refused, 15, "{statuses:?}");
    assert!(
        statuses[..5]
            .iter()
            .all(|(s, code)| *s == 422 && code == "form_identifier_not_found"),
        "{statuses:?}"
    );
    assert_eq!(
        app.hasher
            .verifies
            .load(std::sync::atomic::Ordering::SeqCst),
        5,
        "the refused sign-ins never reached the hasher"
    );
}

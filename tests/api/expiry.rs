//! Expiries at the instance's real lifetimes: the app's clock is moved to
//! just before and just after each one, so nothing sleeps.

use std::time::Duration;

use latch_core::model::InstanceSettings;

use crate::support::{PASSWORD, Resp, TestApp};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

async fn attempt(app: &TestApp, token: &str, id: &str, form: &[(&str, &str)]) -> Resp {
    app.fapi(
        "POST",
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        token,
        form,
    )
    .await
}

/// Starts a sign-in for `email` and sends it an email code; (token, id, code).
async fn code_sent(app: &TestApp, email: &str) -> (String, String, String) {
    let (token, id, _) = app.identify(email).await;
    let sent = app
        .fapi(
            "POST",
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &token,
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    (token, id, app.codes.last_code_to(email).unwrap())
}

#[tokio::test]
async fn a_code_is_good_for_its_lifetime_and_no_longer() {
    // The default lifetime: ten minutes.
    let app = TestApp::new().await;
    app.user("cy@example.com", None).await;

    let (token, id, code) = code_sent(&app, "cy@example.com").await;
    app.clock.advance(10 * MINUTE - SECOND);
    let res = attempt(
        &app,
        &token,
        &id,
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);

    let (token, id, code) = code_sent(&app, "cy@example.com").await;
    app.clock.advance(10 * MINUTE + SECOND);
    attempt(
        &app,
        &token,
        &id,
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await
    .assert_error(422, "verification_expired", Some("code"));
}

#[tokio::test]
async fn a_sign_in_is_abandoned_after_its_lifetime() {
    // The default lifetime: one day.
    let app = TestApp::new().await;
    app.user("di@example.com", None).await;
    let password = [("strategy", "password"), ("password", PASSWORD)];

    let (token, id, _) = app.identify("di@example.com").await;
    app.clock.advance(DAY - SECOND);
    let res = attempt(&app, &token, &id, &password).await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);

    let (token, id, _) = app.identify("di@example.com").await;
    app.clock.advance(DAY + SECOND);
    let res = attempt(&app, &token, &id, &password).await;
    assert_eq!(res.status, 422, "{}", res.body);
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(
        read.body["response"]["status"], "abandoned",
        "{}",
        read.body
    );
}

#[tokio::test]
async fn a_lockout_ends_when_its_duration_has_passed() {
    // The default lockout: one hour.
    let settings = InstanceSettings {
        lockout_attempts: 3,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    let user = app.user("eve@example.com", None).await;
    let sign_in_with = |password: &'static str| {
        let app = &app;
        async move {
            let form = [
                ("strategy", "password"),
                ("identifier", "eve@example.com"),
                ("password", password),
            ];
            app.fapi("POST", "/v1/client/sign_ins", "", &form).await
        }
    };
    for _ in 0..3 {
        sign_in_with("wrong password").await.assert_error(
            422,
            "form_password_incorrect",
            Some("password"),
        );
    }
    let locked = sign_in_with(PASSWORD).await;
    locked.assert_error(403, "user_locked", None);
    assert_eq!(
        locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
        3600
    );

    // A minute before the end: still locked, for exactly that minute.
    app.clock.advance(HOUR - MINUTE);
    let locked = sign_in_with(PASSWORD).await;
    locked.assert_error(403, "user_locked", None);
    assert_eq!(
        locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
        60
    );
    let shown = app
        .bapi("GET", &format!("/v1/users/{user}"), None)
        .await
        .body;
    assert_eq!(
        (
            shown["locked"].clone(),
            shown["lockout_expires_in_seconds"].clone()
        ),
        (true.into(), 60.into())
    );

    // Past the end: unlocked without anyone unlocking it.
    app.clock.advance(MINUTE);
    let shown = app
        .bapi("GET", &format!("/v1/users/{user}"), None)
        .await
        .body;
    assert_eq!(shown["locked"], false, "{shown}");
    assert!(shown["lockout_expires_in_seconds"].is_null(), "{shown}");
    let res = sign_in_with(PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "complete");
}

#[tokio::test]
async fn a_session_expires_after_its_lifetime() {
    // The default lifetime: seven days.
    let app = TestApp::new().await;
    app.user("fay@example.com", None).await;
    let (token, sid) = app.sign_in("fay@example.com").await;
    let mint = || {
        let (app, token, sid) = (&app, &token, &sid);
        async move {
            app.fapi(
                "POST",
                &format!("/v1/client/sessions/{sid}/tokens"),
                token,
                &[],
            )
            .await
        }
    };
    let status = || {
        let (app, sid) = (&app, &sid);
        async move {
            app.bapi("GET", &format!("/v1/sessions/{sid}"), None)
                .await
                .body["status"]
                .clone()
        }
    };

    app.clock.advance(7 * DAY - SECOND);
    let minted = mint().await;
    assert_eq!(minted.status, 200, "{}", minted.body);
    assert!(minted.body["jwt"].is_string(), "{}", minted.body);
    assert_eq!(status().await, "active");

    app.clock.advance(2 * SECOND);
    mint()
        .await
        .assert_error(401, "authentication_invalid", None);
    assert_eq!(status().await, "expired");
}

/// `GET /v1/client` on the client of `token`: its JSON, `null` once it is gone.
async fn client_of(app: &TestApp, token: &str) -> serde_json::Value {
    let res = app.fapi("GET", "/v1/client", token, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["response"].clone()
}

#[tokio::test]
async fn a_client_never_used_is_removed_after_an_hour() {
    // The default lifetime of an unused client: one hour.
    let app = TestApp::new().await;
    let made = app.fapi("POST", "/v1/client", "", &[]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let token = made.token();

    app.clock.advance(HOUR - SECOND);
    assert_eq!(app.purge().await.1, 0);
    assert!(client_of(&app, &token).await.is_object());

    app.clock.advance(2 * SECOND);
    assert_eq!(app.purge().await.1, 1);
    assert!(client_of(&app, &token).await.is_null());
}

#[tokio::test]
async fn a_development_browser_never_used_is_removed_after_an_hour_and_starts_over() {
    let app = TestApp::new().await;
    let db = app.request("POST", "/v1/dev_browser", &[], None).await;
    assert_eq!(db.status, 200, "{}", db.body);
    let jwt = db.body["token"].as_str().unwrap().to_owned();
    let path = format!("/v1/client?__clerk_db_jwt={jwt}");

    app.clock.advance(HOUR - SECOND);
    app.purge().await;
    let res = app.request("GET", &path, &[], None).await;
    assert_eq!(res.status, 200, "{}", res.body);

    app.clock.advance(2 * SECOND);
    assert_eq!(app.purge().await.1, 1);
    // clerk-js makes a new development browser on this error.
    app.request("GET", &path, &[], None).await.assert_error(
        401,
        "dev_browser_unauthenticated",
        None,
    );
}

#[tokio::test]
async fn a_client_that_started_a_sign_in_lives_as_long_as_the_sign_in() {
    // The default lifetime of a sign-in: one day.
    let app = TestApp::new().await;
    app.user("gus@example.com", None).await;
    let (token, id, _) = app.identify("gus@example.com").await;

    app.clock.advance(DAY - SECOND);
    assert_eq!(app.purge().await.1, 0);
    let client = client_of(&app, &token).await;
    assert_eq!(client["sign_in"]["id"], id.as_str(), "{client}");

    app.clock.advance(2 * SECOND);
    assert_eq!(app.purge().await.1, 1);
    assert!(client_of(&app, &token).await.is_null());
}

#[tokio::test]
async fn a_client_that_held_a_session_outlives_the_unused_client_lifetime() {
    let app = TestApp::new().await;
    app.user("hal@example.com", None).await;
    let (token, sid) = app.sign_in("hal@example.com").await;
    let ended = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{sid}/end"),
            &token,
            &[],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);

    // Signed out, with no active session: it goes with the idle clients, a
    // day after its last change, not with the unused ones.
    app.clock.advance(2 * HOUR);
    assert_eq!(app.purge().await.1, 0);
    assert!(client_of(&app, &token).await.is_object());
    app.clock.advance(DAY);
    assert_eq!(app.purge().await.1, 1);
    assert!(client_of(&app, &token).await.is_null());
}

#[tokio::test]
async fn the_unused_client_lifetime_is_the_instances() {
    let app = TestApp::with(InstanceSettings {
        unused_client_lifetime: latch_core::model::Duration::minutes(5),
        ..InstanceSettings::default()
    })
    .await;
    let token = app.fapi("POST", "/v1/client", "", &[]).await.token();
    app.clock.advance(5 * MINUTE - SECOND);
    assert_eq!(app.purge().await.1, 0);
    app.clock.advance(2 * SECOND);
    assert_eq!(app.purge().await.1, 1);
    assert!(client_of(&app, &token).await.is_null());
}

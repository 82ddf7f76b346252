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

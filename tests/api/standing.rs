//! A user's standing where a sign-in completes. A ban or a lock that lands
//! while a sign-in waits (for its second factor, its new password or its
//! code) stops it at whichever step would complete it: no session, no new
//! password. And every factor that passes rotates the client's token, so a
//! token from before (planted in the browser, say) reaches nothing after.

use serde_json::Value;

use crate::second_factors::{assert_complete, assert_waiting, attempt, totp_code, totp_user};
use crate::support::{PASSWORD, Resp, TestApp};

/// A TOTP user's sign-in after its password passed, waiting for the second
/// factor: (user id, the client's token after the factor, sign-in id).
async fn waiting_for_second_factor(app: &TestApp, email: &str) -> (String, String, String) {
    let user = totp_user(app, email).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, id, _) = app.identify(email).await;
    let passed = app
        .sign_in_step(
            &token,
            &id,
            "attempt_first_factor",
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_waiting(&passed);
    (user, rotated(app, &token, &passed).await, id)
}

/// A sign-in whose reset code passed, waiting for the new password:
/// (user id, the client's token after the code, sign-in id).
async fn waiting_for_new_password(app: &TestApp, email: &str) -> (String, String, String) {
    let user = app.user(email, None).await;
    let (token, id, _) = app.identify(email).await;
    let strategy = "reset_password_email_code";
    let prepared = app.prepare_first_factor(&token, &id, strategy, &[]).await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to(email).unwrap();
    let passed = app
        .attempt_first_factor_code(&token, &id, strategy, &code)
        .await;
    assert_eq!(
        passed.body["response"]["status"], "needs_new_password",
        "{}",
        passed.body
    );
    (user, rotated(app, &token, &passed).await, id)
}

/// The token `passed` gave the client, checked to differ from `before` and
/// to be the only one that still reaches the client.
async fn rotated(app: &TestApp, before: &str, passed: &Resp) -> String {
    let after = passed.token();
    assert_ne!(
        after, before,
        "the client's token rotates when a factor passes"
    );
    let stale = app.fapi("GET", "/v1/client", before, &[]).await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    assert_eq!(
        stale.body["response"],
        Value::Null,
        "the token from before reaches no client"
    );
    let fresh = app.fapi("GET", "/v1/client", &after, &[]).await;
    assert!(
        fresh.body["response"]["sign_in"].is_object(),
        "the new token reaches the sign-in: {}",
        fresh.body
    );
    after
}

/// The user's active sessions, as the Backend API lists them.
async fn active_sessions(app: &TestApp, user: &str) -> usize {
    let res = app
        .bapi(
            "GET",
            &format!("/v1/sessions?user_id={user}&status=active"),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body.as_array().map_or(0, Vec::len)
}

async fn ban(app: &TestApp, user: &str) {
    let res = app
        .bapi("POST", &format!("/v1/users/{user}/ban"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn lock(app: &TestApp, user: &str) {
    let res = app
        .bapi("POST", &format!("/v1/users/{user}/lock"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn lift(app: &TestApp, user: &str) {
    for action in ["unban", "unlock"] {
        let res = app
            .bapi("POST", &format!("/v1/users/{user}/{action}"), None)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
}

/// What stops a waiting sign-in: a ban or an administrator's lock.
#[derive(Clone, Copy)]
enum Stop {
    Ban,
    Lock,
}

impl Stop {
    async fn apply(self, app: &TestApp, user: &str) {
        match self {
            Self::Ban => ban(app, user).await,
            Self::Lock => lock(app, user).await,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Ban => "user_banned",
            Self::Lock => "user_locked",
        }
    }
}

const STOPS: [Stop; 2] = [Stop::Ban, Stop::Lock];

#[tokio::test]
async fn a_ban_or_lock_stops_a_sign_in_waiting_for_its_second_factor() {
    for stop in STOPS {
        let app = TestApp::new().await;
        let (user, token, id) = waiting_for_second_factor(&app, "sam@example.com").await;
        stop.apply(&app, &user).await;
        attempt(&app, &token, &id, "totp", &totp_code(&app, 0))
            .await
            .assert_error(403, stop.code(), None);
        assert_eq!(active_sessions(&app, &user).await, 0, "no session");
        // Lifted, the same sign-in completes with the next code.
        lift(&app, &user).await;
        app.clock.advance(std::time::Duration::from_secs(30));
        let done = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
        assert_complete(&done);
        assert_eq!(active_sessions(&app, &user).await, 1);
    }
}

#[tokio::test]
async fn a_ban_or_lock_stops_a_sign_in_waiting_for_its_new_password() {
    for stop in STOPS {
        let app = TestApp::new().await;
        let (user, token, id) = waiting_for_new_password(&app, "ria@example.com").await;
        stop.apply(&app, &user).await;
        let path = format!("/v1/client/sign_ins/{id}/reset_password");
        app.fapi(
            "POST",
            &path,
            &token,
            &[("password", "a brand new password")],
        )
        .await
        .assert_error(403, stop.code(), None);
        assert_eq!(active_sessions(&app, &user).await, 0, "no session");
        // Nor was the password changed: the old one still signs in.
        lift(&app, &user).await;
        let (_, _, res) = app.password_sign_in("ria@example.com").await;
        assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    }
}

#[tokio::test]
async fn a_ban_or_lock_stops_a_sign_in_waiting_for_its_code() {
    for stop in STOPS {
        let app = TestApp::new().await;
        let user = app.user("cody@example.com", None).await;
        let (token, id, _) = app.identify("cody@example.com").await;
        let prepared = app
            .prepare_first_factor(&token, &id, "email_code", &[])
            .await;
        assert_eq!(prepared.status, 200, "{}", prepared.body);
        let code = app.codes.last_code_to("cody@example.com").unwrap();
        stop.apply(&app, &user).await;
        app.attempt_first_factor_code(&token, &id, "email_code", &code)
            .await
            .assert_error(403, stop.code(), None);
        assert_eq!(active_sessions(&app, &user).await, 0, "no session");
    }
}

#[tokio::test]
async fn a_password_that_passes_on_a_known_client_rotates_its_token() {
    let app = TestApp::new().await;
    totp_user(&app, "tia@example.com").await;
    // A client that exists already (from an earlier sign-in attempt).
    let (token, _, _) = app.identify("tia@example.com").await;
    let res = app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            &token,
            &[
                ("strategy", "password"),
                ("identifier", "tia@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_waiting(&res);
    rotated(&app, &token, &res).await;
}

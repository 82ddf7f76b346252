//! Lockout: failed passwords and codes count per user; enough lock the account.

use latch_core::model::InstanceSettings;
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

async fn sign_in_with(app: &TestApp, password: &str) -> crate::support::Resp {
    app.new_sign_in(&[("identifier", "lou@example.com"), ("password", password)])
        .await
}

#[tokio::test]
async fn failed_attempts_lock_the_user_and_nothing_is_evaluated_while_locked() {
    let settings = InstanceSettings {
        lockout_attempts: 3,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    let user = app.user("lou@example.com", None).await;
    // Two failures, then a success: the count starts again.
    for _ in 0..2 {
        sign_in_with(&app, "wrong password").await.assert_error(
            422,
            "form_password_incorrect",
            Some("password"),
        );
    }
    let ok = sign_in_with(&app, PASSWORD).await;
    assert_eq!(ok.status, 200);
    app.fapi(
        "POST",
        "/v1/client/sessions?_method=DELETE",
        &ok.token(),
        &[],
    )
    .await;
    for _ in 0..3 {
        sign_in_with(&app, "wrong password").await.assert_error(
            422,
            "form_password_incorrect",
            Some("password"),
        );
    }
    // Locked: even the right password is not looked at.
    let locked = sign_in_with(&app, PASSWORD).await;
    locked.assert_error(403, "user_locked", None);
    let seconds = locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"]
        .as_i64()
        .unwrap();
    assert!((3500..=3600).contains(&seconds), "{seconds}");
    let shown = app
        .bapi("GET", &format!("/v1/users/{user}"), None)
        .await
        .body;
    assert_eq!(shown["locked"], true);
    assert!(shown["lockout_expires_in_seconds"].as_i64().unwrap() > 3500);
    // A two-step sign-in and a code are refused too.
    let (res, token) = {
        let res = app.new_sign_in(&[("identifier", "lou@example.com")]).await;
        let token = res.token();
        (res, token)
    };
    let id = res.body["response"]["id"].as_str().unwrap();
    app.sign_in_step(
        &token,
        id,
        "prepare_first_factor",
        &[("strategy", "email_code")],
    )
    .await
    .assert_error(403, "user_locked", None);
    app.sign_in_step(
        &token,
        id,
        "attempt_first_factor",
        &[("strategy", "password"), ("password", PASSWORD)],
    )
    .await
    .assert_error(403, "user_locked", None);

    // The Backend API unlocks.
    let unlocked = app
        .bapi("POST", &format!("/v1/users/{user}/unlock"), None)
        .await;
    assert_eq!(
        (
            unlocked.body["locked"].clone(),
            unlocked.body["lockout_expires_in_seconds"].clone()
        ),
        (json!(false), json!(null))
    );
    assert_eq!(sign_in_with(&app, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let settings = InstanceSettings {
        lockout_attempts: 2,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    app.user("lou@example.com", None).await;
    let res = app
        .new_sign_in(&[
            ("identifier", "lou@example.com"),
            ("strategy", "email_code"),
        ])
        .await;
    let (token, id) = (
        res.token(),
        res.body["response"]["id"].as_str().unwrap().to_owned(),
    );
    let code = app.codes.last_code_to("lou@example.com").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    for _ in 0..2 {
        app.fapi(
            "POST",
            &path,
            &token,
            &[("strategy", "email_code"), ("code", wrong)],
        )
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    }
    app.fapi(
        "POST",
        &path,
        &token,
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await
    .assert_error(403, "user_locked", None);
}

#[tokio::test]
async fn the_backend_api_locks_until_unlocked() {
    let app = TestApp::new().await;
    let user = app.user("lou@example.com", None).await;
    let locked = app
        .bapi("POST", &format!("/v1/users/{user}/lock"), None)
        .await;
    assert_eq!(locked.status, 200);
    assert_eq!(
        (
            locked.body["locked"].clone(),
            locked.body["lockout_expires_in_seconds"].clone()
        ),
        (json!(true), json!(null))
    );
    let refused = sign_in_with(&app, PASSWORD).await;
    refused.assert_error(403, "user_locked", None);
    assert!(refused.body["errors"][0]["meta"]["lockout_expires_in_seconds"].is_null());
    app.bapi("POST", "/v1/users/user_nobody/lock", None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.bapi("GET", &format!("/v1/users/{user}/lock"), None)
        .await
        .assert_error(405, "method_not_allowed", None);
}

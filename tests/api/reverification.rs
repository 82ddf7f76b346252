//! Reverification: a session whose factors were verified long ago proves
//! them again (`/v1/client/sessions/{id}/verify`) before a sensitive change.

use std::time::Duration;

use crate::second_factors::{attempt, totp_code, totp_user};
use crate::support::{PASSWORD, TestApp};

fn verify(session: &str, rest: &str) -> String {
    format!("/v1/client/sessions/{session}/verify{rest}")
}

#[tokio::test]
async fn a_password_reverification_lets_an_old_session_change_the_password() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let change = format!("/v1/me/change_password?_clerk_session_id={session}");
    let form = [
        ("current_password", PASSWORD),
        ("new_password", "a brand new secret"),
    ];
    let res = app.fapi("POST", &change, &token, &form).await;
    res.assert_error(403, "session_reverification_required", None);
    assert_eq!(
        res.body["errors"][0]["meta"]["reverification"]["level"],
        "first_factor"
    );

    // Clerk's screens start at `second_factor`: with none, the first it is.
    let res = app
        .fapi(
            "POST",
            &verify(&session, ""),
            &token,
            &[("level", "second_factor")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let started = &res.body["response"];
    assert_eq!(started["object"], "session_reverification");
    assert_eq!(started["status"], "needs_first_factor");
    assert_eq!(started["level"], "first_factor");
    assert_eq!(
        started["supported_first_factors"][0],
        serde_json::json!({ "strategy": "password" })
    );
    assert_eq!(started["session"]["id"], session.as_str());

    let attempt_first = verify(&session, "/attempt_first_factor");
    app.fapi(
        "POST",
        &attempt_first,
        &token,
        &[("strategy", "password"), ("password", "not it")],
    )
    .await
    .assert_error(422, "form_password_incorrect", Some("password"));
    // Still refused.
    assert_eq!(app.fapi("POST", &change, &token, &form).await.status, 403);

    let res = app
        .fapi(
            "POST",
            &attempt_first,
            &token,
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "complete");
    assert_eq!(
        res.body["response"]["first_factor_verification"]["status"],
        "verified"
    );
    let client_session = &res.body["client"]["sessions"][0];
    assert_eq!(client_session["factor_verification_age"][0], 0);

    let res = app.fapi("POST", &change, &token, &form).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn a_user_with_an_authenticator_app_reverifies_with_it() {
    let app = TestApp::new().await;
    totp_user(&app, "tia@example.com").await;
    let (token, id, _) = app.password_sign_in("tia@example.com").await;
    let res = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = res.token();
    let session = res.body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(Duration::from_secs(11 * 60));
    let codes = format!("/v1/me/backup_codes?_clerk_session_id={session}");
    let res = app.fapi("POST", &codes, &token, &[]).await;
    res.assert_error(403, "session_reverification_required", None);
    assert_eq!(
        res.body["errors"][0]["meta"]["reverification"]["level"],
        "second_factor"
    );

    let res = app
        .fapi(
            "POST",
            &verify(&session, ""),
            &token,
            &[("level", "second_factor")],
        )
        .await;
    assert_eq!(res.body["response"]["status"], "needs_second_factor");
    assert_eq!(
        res.body["response"]["supported_second_factors"][0]["strategy"],
        "totp"
    );
    let second = verify(&session, "/attempt_second_factor");
    app.fapi(
        "POST",
        &second,
        &token,
        &[("strategy", "totp"), ("code", "000000")],
    )
    .await
    .assert_error(422, "form_code_incorrect", Some("code"));
    let res = app
        .fapi(
            "POST",
            &second,
            &token,
            &[("strategy", "totp"), ("code", &totp_code(&app, 0))],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "complete");
    let res = app.fapi("POST", &codes, &token, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn only_the_clients_own_active_session_reverifies() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let (_, bobs) = app.sign_in("bob@example.com").await;
    app.fapi(
        "POST",
        &verify(&session, ""),
        &token,
        &[("level", "sideways")],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("level"));
    app.fapi("POST", &verify(&session, ""), &token, &[])
        .await
        .assert_error(422, "form_param_nil", Some("level"));
    let res = app
        .fapi(
            "POST",
            &verify(&bobs, "/attempt_first_factor"),
            &token,
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    let res = app
        .fapi(
            "POST",
            &verify(&session, ""),
            "",
            &[("level", "first_factor")],
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
}

#[tokio::test]
async fn a_code_to_a_verified_address_reverifies_too() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let attempt_first = verify(&session, "/attempt_first_factor");
    // Nothing prepared yet.
    app.fapi(
        "POST",
        &attempt_first,
        &token,
        &[("strategy", "email_code"), ("code", "123456")],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("code"));
    let res = app
        .fapi(
            "POST",
            &verify(&session, ""),
            &token,
            &[("level", "first_factor")],
        )
        .await;
    let email = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == "email_code")
        .expect("an email code is offered")
        .clone();
    assert_eq!(email["safe_identifier"], "ada@example.com");
    let res = app
        .fapi(
            "POST",
            &verify(&session, "/prepare_first_factor"),
            &token,
            &[
                ("strategy", "email_code"),
                (
                    "email_address_id",
                    email["email_address_id"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["response"]["first_factor_verification"]["status"],
        "unverified"
    );
    let code = app.codes.last_code_to("ada@example.com").unwrap();
    app.fapi(
        "POST",
        &attempt_first,
        &token,
        &[("strategy", "email_code"), ("code", "000000")],
    )
    .await
    .assert_error(422, "form_code_incorrect", Some("code"));
    let res = app
        .fapi(
            "POST",
            &attempt_first,
            &token,
            &[("strategy", "email_code"), ("code", &code)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "complete");
    // Spent.
    app.fapi(
        "POST",
        &attempt_first,
        &token,
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("code"));
    let change = format!("/v1/me/change_password?_clerk_session_id={session}");
    let res = app
        .fapi(
            "POST",
            &change,
            &token,
            &[
                ("current_password", crate::support::PASSWORD),
                ("new_password", "a brand new secret"),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

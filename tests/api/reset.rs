//! Password reset by email or SMS code.

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn reset_by_email_code_sets_the_password_and_completes() {
    let app = TestApp::new().await;
    let user = app.user("rex@example.com", None).await;
    // Another device is signed in; the reset signs it out.
    let (other_token, other_session) = app.sign_in("rex@example.com").await;

    let (token, id, res) = app.identify("rex@example.com").await;
    let factors = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .clone();
    let reset = factors
        .iter()
        .find(|f| f["strategy"] == "reset_password_email_code")
        .expect("a reset factor");
    let email_id = reset["email_address_id"].as_str().unwrap();
    let prepared = app
        .prepare_first_factor(
            &token,
            &id,
            "reset_password_email_code",
            &[("email_address_id", email_id)],
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("rex@example.com").unwrap();
    let verified = app
        .attempt_first_factor_code(&token, &id, "reset_password_email_code", &code)
        .await;
    assert_eq!(
        verified.body["response"]["status"], "needs_new_password",
        "{}",
        verified.body
    );
    assert!(
        verified.body["response"]["created_session_id"].is_null(),
        "no session before the new password"
    );
    // The code proved the user: the client's token rotated, and the one from
    // before (a planted one, say) no longer reaches the sign-in.
    let stale = token;
    let token = verified.token();
    assert_ne!(token, stale, "the token rotates when the code passes");
    let path = format!("/v1/client/sign_ins/{id}/reset_password");
    app.fapi(
        "POST",
        &path,
        &stale,
        &[("password", "another-long-password-1")],
    )
    .await
    .assert_error(404, "resource_not_found", None);

    app.fapi("POST", &path, &token, &[("password", "short")])
        .await
        .assert_error(422, "form_password_length_too_short", Some("password"));
    app.fapi("POST", &path, &token, &[]).await.assert_error(
        422,
        "form_param_nil",
        Some("password"),
    );
    let done = app
        .fapi(
            "POST",
            &path,
            &token,
            &[
                ("password", "a brand new password"),
                ("sign_out_of_other_sessions", "true"),
            ],
        )
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    assert!(
        done.body["response"]["created_session_id"]
            .as_str()
            .unwrap()
            .starts_with("sess_")
    );
    assert!(
        done.header("authorization").is_some(),
        "the new session rotates the token"
    );
    // Once set, the password cannot be set again through this sign-in.
    app.fapi(
        "POST",
        &path,
        &done.token(),
        &[("password", "yet another password")],
    )
    .await
    .assert_error(422, "form_param_value_invalid", None);

    let other = app
        .bapi("GET", &format!("/v1/sessions/{other_session}"), None)
        .await;
    assert_eq!(
        other.body["status"], "revoked",
        "other sessions are signed out"
    );
    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{other_session}/tokens"),
        &other_token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    let old = app
        .new_sign_in(&[("identifier", "rex@example.com"), ("password", PASSWORD)])
        .await;
    old.assert_error(422, "form_password_incorrect", Some("password"));
    let new = app
        .new_sign_in(&[
            ("identifier", "rex@example.com"),
            ("password", "a brand new password"),
        ])
        .await;
    assert_eq!(new.status, 200, "{}", new.body);
    assert_eq!(app.user_json(&user).await["password_enabled"], true);
}

#[tokio::test]
async fn a_new_password_needs_a_verified_reset_code() {
    let app = TestApp::new().await;
    app.user("ria@example.com", None).await;
    let (token, id, _) = app.identify("ria@example.com").await;
    let reset = app
        .sign_in_step(
            &token,
            &id,
            "reset_password",
            &[("password", "a brand new password")],
        )
        .await;
    reset.assert_error(422, "form_param_value_invalid", None);
    // A sign-in code is not a reset code.
    app.prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    let code = app.codes.last_code_to("ria@example.com").unwrap();
    let wrong_kind = app
        .attempt_first_factor_code(&token, &id, "reset_password_email_code", &code)
        .await;
    wrong_kind.assert_error(422, "form_param_value_invalid", Some("strategy"));
}

#[tokio::test]
async fn no_reset_code_goes_to_an_unverified_address() {
    let app = TestApp::new().await;
    let created = app
        .post_user(serde_json::json!({
            "email_address": ["yara@example.com"],
            "phone_number": ["+15550009999"],
            "username": "yarrow",
            "password": PASSWORD,
        }))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let user = created.body["id"].as_str().unwrap();
    let email = created.body["email_addresses"][0]["id"].as_str().unwrap();
    let phone = created.body["phone_numbers"][0]["id"].as_str().unwrap();
    app.set_verified(user, "yara@example.com", false).await;
    app.set_verified(user, "+15550009999", false).await;
    let (token, id, res) = app.identify("yarrow").await;
    let strategies: Vec<&str> = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["password"], "{}", res.body);
    for (strategy, param, target) in [
        ("reset_password_email_code", "email_address_id", email),
        ("reset_password_phone_code", "phone_number_id", phone),
    ] {
        for named in [vec![(param, target)], vec![]] {
            app.prepare_first_factor(&token, &id, strategy, &named)
                .await
                .assert_error(422, "form_param_value_invalid", Some(param));
        }
    }
    assert_eq!(app.codes.count(), 0, "no reset code went anywhere");
}

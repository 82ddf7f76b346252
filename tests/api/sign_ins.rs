//! `/v1/client/sign_ins` and the password first factor.

use latch_core::model::InstanceSettings;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn identifier_then_password() {
    let app = TestApp::new().await;
    let user_id = app.user("Erin@Example.com", Some("erin")).await;
    let res = app.new_sign_in(&[("identifier", "ERIN@example.com")]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let si = &res.body["response"];
    assert_eq!(si["object"], "sign_in_attempt");
    assert_eq!(si["status"], "needs_first_factor");
    assert_eq!(si["identifier"], "erin@example.com");
    assert_eq!(
        si["supported_first_factors"][0],
        serde_json::json!({ "strategy": "password" })
    );
    assert_eq!(si["supported_first_factors"][1]["strategy"], "email_code");
    assert_eq!(
        si["supported_identifiers"],
        serde_json::json!(["email_address", "phone_number", "username"])
    );
    assert!(si["first_factor_verification"].is_null());
    assert!(si["abandon_at"].as_i64().unwrap() > 0);
    let token = res.token();
    let id = si["id"].as_str().unwrap().to_owned();
    assert_eq!(
        res.body["client"]["sign_in"]["id"],
        id.as_str(),
        "the client carries its current sign-in"
    );

    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(read.body["response"]["status"], "needs_first_factor");

    let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    let wrong = app
        .fapi(
            "POST",
            &path,
            &token,
            &[("strategy", "password"), ("password", "not the password")],
        )
        .await;
    wrong.assert_error(422, "form_password_incorrect", Some("password"));
    // The error carries the client as it now stands, the counted attempt included.
    assert_eq!(
        wrong.body["meta"]["client"]["sign_in"]["first_factor_verification"]["attempts"],
        1
    );
    let counted = app.read_sign_in(&token, &id).await;
    assert_eq!(
        counted.body["response"]["first_factor_verification"]["attempts"],
        1
    );
    assert_eq!(
        counted.body["response"]["first_factor_verification"]["status"],
        "unverified"
    );

    let right = app
        .fapi(
            "POST",
            &path,
            &token,
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    let si = &right.body["response"];
    assert_eq!(si["status"], "complete");
    assert_eq!(
        si["first_factor_verification"]["object"],
        "verification_password"
    );
    assert_eq!(si["first_factor_verification"]["status"], "verified");
    let session_id = si["created_session_id"].as_str().unwrap();
    let client = &right.body["client"];
    assert_eq!(client["last_active_session_id"], session_id);
    assert_eq!(client["sessions"][0]["id"], session_id);
    assert_eq!(client["sessions"][0]["status"], "active");
    assert_eq!(client["sessions"][0]["user"]["id"], user_id.as_str());
    assert!(client["sign_in"].is_null());
    assert_ne!(
        right.token(),
        token,
        "the client token rotates with a new session"
    );

    let again = app
        .fapi(
            "POST",
            &path,
            &right.token(),
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    again.assert_error(422, "form_param_value_invalid", None);
}

#[tokio::test]
async fn one_call_with_username_email_or_phone() {
    let app = TestApp::new().await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({ "email_address": ["frank@example.com"], "phone_number": ["+15555550123"], "username": "frank", "password": PASSWORD })),
        )
        .await;
    assert_eq!(res.status, 200);
    for identifier in ["frank", "FRANK@example.com", "+1 555 555 0123"] {
        let (token, session) = app.sign_in(identifier).await;
        assert!(session.starts_with("sess_"));
        assert_eq!(token.len(), 64);
    }
}

#[tokio::test]
async fn error_cases_are_clerk_errors_and_change_nothing() {
    let app = TestApp::new().await;
    app.user("gina@example.com", Some("gina")).await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { app.new_sign_in(&form).await }
    };
    post(vec![("identifier", "nobody@example.com")])
        .await
        .assert_error(422, "form_identifier_not_found", Some("identifier"));
    post(vec![
        ("strategy", "password"),
        ("identifier", "nobody@example.com"),
        ("password", "whatever1"),
    ])
    .await
    .assert_error(422, "form_identifier_not_found", Some("identifier"));
    let wrong = post(vec![
        ("strategy", "password"),
        ("identifier", "gina"),
        ("password", "wrong password"),
    ])
    .await;
    wrong.assert_error(422, "form_password_incorrect", Some("password"));
    assert_eq!(wrong.header("authorization"), None, "no client was created");
    post(vec![("strategy", "password"), ("identifier", "gina")])
        .await
        .assert_error(422, "form_param_nil", Some("password"));
    post(vec![("strategy", "password"), ("password", "x")])
        .await
        .assert_error(422, "form_param_nil", Some("identifier"));
    post(vec![("identifier", "not an identifier")])
        .await
        .assert_error(422, "form_param_format_invalid", Some("identifier"));
    post(vec![("identifier", "a@b")]).await.assert_error(
        422,
        "form_param_format_invalid",
        Some("identifier"),
    );
    post(vec![("strategy", "smoke_signal"), ("identifier", "gina")])
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    post(vec![("strategy", "totp"), ("identifier", "gina")])
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    post(vec![("strategy", "oauth_google")]).await.assert_error(
        422,
        "strategy_for_user_invalid",
        Some("strategy"),
    );
    let count = app.bapi("GET", "/v1/sessions?user_id=none", None).await;
    assert_eq!(count.body, serde_json::json!([]));
}

#[tokio::test]
async fn steps_out_of_order_answer_clearly() {
    let app = TestApp::new().await;
    app.user("hank@example.com", None).await;
    let res = app.new_sign_in(&[("identifier", "hank@example.com")]).await;
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let token = res.token();
    let password_prepare = app
        .sign_in_step(
            &token,
            &id,
            "prepare_first_factor",
            &[("strategy", "password")],
        )
        .await;
    password_prepare.assert_error(422, "form_param_value_invalid", Some("strategy"));
    let second = app
        .sign_in_step(
            &token,
            &id,
            "prepare_second_factor",
            &[("strategy", "totp")],
        )
        .await;
    // A second factor before the first is a step this status cannot take.
    second.assert_error(422, "form_param_value_invalid", None);
    assert!(
        second.body["errors"][0]["long_message"]
            .as_str()
            .unwrap()
            .contains("needs_first_factor")
    );
}

#[tokio::test]
async fn disabled_identifiers_are_refused() {
    let mut settings = InstanceSettings::default();
    settings.identifiers.username = false;
    let app = TestApp::with(settings).await;
    app.user("ivan@example.com", Some("ivan")).await;
    let res = app.new_sign_in(&[("identifier", "ivan")]).await;
    res.assert_error(422, "form_param_value_invalid", Some("identifier"));
    let ok = app.new_sign_in(&[("identifier", "ivan@example.com")]).await;
    assert_eq!(
        ok.body["response"]["supported_identifiers"],
        serde_json::json!(["email_address", "phone_number"])
    );
}

#[tokio::test]
async fn another_clients_sign_in_is_not_found() {
    let app = TestApp::new().await;
    app.user("judy@example.com", None).await;
    let mine = app.new_sign_in(&[("identifier", "judy@example.com")]).await;
    let id = mine.body["response"]["id"].as_str().unwrap().to_owned();
    let other = app.fapi("PUT", "/v1/client", "", &[]).await.token();
    app.fapi("GET", &format!("/v1/client/sign_ins/{id}"), &other, &[])
        .await
        .assert_error(404, "resource_not_found", None);
    app.fapi("GET", &format!("/v1/client/sign_ins/{id}"), "", &[])
        .await
        .assert_error(404, "resource_not_found", None);
    let attempt = app
        .sign_in_step(
            &other,
            &id,
            "attempt_first_factor",
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    attempt.assert_error(404, "resource_not_found", None);
    app.fapi(
        "GET",
        "/v1/client/sign_ins/sia_doesnotexist",
        &mine.token(),
        &[],
    )
    .await
    .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn users_without_a_password_cannot_use_it() {
    let app = TestApp::new().await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({ "email_address": ["kim@example.com"] })),
        )
        .await;
    assert_eq!(res.body["password_enabled"], false);
    let si = app.new_sign_in(&[("identifier", "kim@example.com")]).await;
    let factors = si.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        factors.iter().all(|f| f["strategy"] != "password"),
        "no password factor: {factors:?}"
    );
    let one_call = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "kim@example.com"),
            ("password", "anything1"),
        ])
        .await;
    one_call.assert_error(422, "strategy_for_user_invalid", Some("strategy"));
}

#[tokio::test]
async fn a_new_sign_in_replaces_the_clients_current_one() {
    let app = TestApp::new().await;
    app.user("lou@example.com", None).await;
    let first = app.new_sign_in(&[("identifier", "lou@example.com")]).await;
    let token = first.token();
    let first_id = first.body["response"]["id"].as_str().unwrap().to_owned();
    let second = app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            &token,
            &[("identifier", "lou@example.com")],
        )
        .await;
    assert_eq!(
        second.header("authorization"),
        None,
        "same client, same token"
    );
    assert_eq!(second.body["client"]["id"], first.body["client"]["id"]);
    assert_eq!(
        second.body["client"]["sign_in"]["id"],
        second.body["response"]["id"]
    );
    app.fapi(
        "GET",
        &format!("/v1/client/sign_ins/{first_id}"),
        &token,
        &[],
    )
    .await
    .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn a_password_without_a_strategy_is_the_password_strategy() {
    let app = TestApp::new().await;
    app.user("max@example.com", None).await;
    let res = app
        .new_sign_in(&[("identifier", "max@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    let wrong = app
        .new_sign_in(&[("identifier", "max@example.com"), ("password", "nope nope")])
        .await;
    wrong.assert_error(422, "form_password_incorrect", Some("password"));
}

/// `(strategy, safe_identifier)` of every first factor a sign-in lists.
fn listed(res: &crate::support::Resp) -> Vec<(String, String)> {
    res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["strategy"].as_str().unwrap().to_owned(),
                f["safe_identifier"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_unverified_phone_number_names_nobody_and_signs_nobody_in() {
    let app = TestApp::new().await;
    let created = app
        .post_user(serde_json::json!({
            "email_address": ["pia@example.com"],
            "phone_number": ["+15550001234"],
            "password": PASSWORD,
        }))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let phone_id = created.body["phone_numbers"][0]["id"].as_str().unwrap();
    // Verified, the number names the account.
    app.identify("+15550001234").await;
    let patched = app
        .bapi(
            "PATCH",
            &format!("/v1/phone_numbers/{phone_id}"),
            Some(serde_json::json!({ "verified": false })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);

    // Unverified, it names nobody: every way in answers as for an unknown number.
    for form in [
        vec![("identifier", "+15550001234")],
        vec![
            ("identifier", "+15550001234"),
            ("strategy", "password"),
            ("password", PASSWORD),
        ],
        vec![("identifier", "+15550001234"), ("strategy", "phone_code")],
        vec![
            ("identifier", "+15550001234"),
            ("strategy", "reset_password_phone_code"),
        ],
    ] {
        app.new_sign_in(&form).await.assert_error(
            422,
            "form_identifier_not_found",
            Some("identifier"),
        );
    }
    // Nor is it offered, or sent a code, through the account's email.
    let (token, id, res) = app.identify("pia@example.com").await;
    assert_eq!(
        listed(&res),
        [
            ("password".to_owned(), String::new()),
            ("email_code".to_owned(), "p***a@example.com".to_owned()),
            (
                "reset_password_email_code".to_owned(),
                "p***a@example.com".to_owned()
            ),
        ]
    );
    for strategy in ["phone_code", "reset_password_phone_code"] {
        app.prepare_first_factor(&token, &id, strategy, &[("phone_number_id", phone_id)])
            .await
            .assert_error(422, "form_param_value_invalid", Some("phone_number_id"));
    }
    assert_eq!(app.codes.count(), 0, "no code went anywhere");
    let user = created.body["id"].as_str().unwrap();
    let sessions = app
        .bapi("GET", &format!("/v1/sessions?user_id={user}"), None)
        .await;
    assert_eq!(sessions.body, serde_json::json!([]), "nobody signed in");
}

#[tokio::test]
async fn an_unverified_email_address_names_nobody_and_signs_nobody_in() {
    let app = TestApp::new().await;
    let created = app
        .post_user(serde_json::json!({
            "email_address": ["quinn@example.com", "quinn.old@example.com"],
            "password": PASSWORD,
        }))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let user = created.body["id"].as_str().unwrap();
    app.set_verified(user, "quinn.old@example.com", false).await;
    for form in [
        vec![("identifier", "quinn.old@example.com")],
        vec![
            ("identifier", "quinn.old@example.com"),
            ("strategy", "password"),
            ("password", PASSWORD),
        ],
        vec![
            ("identifier", "quinn.old@example.com"),
            ("strategy", "email_code"),
        ],
        vec![
            ("identifier", "quinn.old@example.com"),
            ("strategy", "reset_password_email_code"),
        ],
    ] {
        app.new_sign_in(&form).await.assert_error(
            422,
            "form_identifier_not_found",
            Some("identifier"),
        );
    }
    assert_eq!(app.codes.count(), 0);
    // The verified address still signs in.
    app.sign_in("quinn@example.com").await;
}

#[tokio::test]
async fn an_address_unverified_after_identification_signs_nobody_in() {
    let app = TestApp::new().await;
    let created = app
        .post_user(serde_json::json!({
            "email_address": ["rhea@example.com"],
            "phone_number": ["+15550004321"],
            "password": PASSWORD,
        }))
        .await;
    let phone_id = created.body["phone_numbers"][0]["id"].as_str().unwrap();
    let (token, id, _) = app.identify("+15550004321").await;
    app.bapi(
        "PATCH",
        &format!("/v1/phone_numbers/{phone_id}"),
        Some(serde_json::json!({ "verified": false })),
    )
    .await;
    app.sign_in_step(
        &token,
        &id,
        "attempt_first_factor",
        &[("strategy", "password"), ("password", PASSWORD)],
    )
    .await
    .assert_error(422, "form_identifier_not_found", Some("identifier"));
    assert_eq!(
        app.read_sign_in(&token, &id).await.body["response"]["status"],
        "needs_first_factor"
    );
}

#[tokio::test]
async fn a_username_names_its_account_whatever_its_addresses() {
    let app = TestApp::new().await;
    let user = app.user("sol@example.com", Some("solveig")).await;
    app.set_verified(&user, "sol@example.com", false).await;
    // A username needs no verification; the unverified address is not offered.
    let (_, _, res) = app.identify("solveig").await;
    assert_eq!(listed(&res), [("password".to_owned(), String::new())]);
    app.sign_in("solveig").await;
}

//! Sign-ups through the Frontend API: gathering fields, proving addresses by
//! code, completing into a user with a session, and every refusal.

use latch_core::model::{InstanceSettings, Requirement, SignUpMode};
use latch_core::ports::CodePurpose;
use serde_json::{Value, json};

use crate::support::{PASSWORD, Resp, TestApp, jwt_claims};

/// The default settings: self-service sign-up is on.
pub fn public() -> InstanceSettings {
    let settings = InstanceSettings::default();
    assert_eq!(settings.sign_up.mode, SignUpMode::Public);
    settings
}

/// `POST /v1/client/sign_ups` on the client of `token` (none: a new one).
pub async fn create(app: &TestApp, token: &str, form: &[(&str, &str)]) -> Resp {
    app.fapi("POST", "/v1/client/sign_ups", token, form).await
}

/// `POST /v1/client/sign_ups/{id}/{step}`.
pub async fn step(app: &TestApp, token: &str, id: &str, step: &str, form: &[(&str, &str)]) -> Resp {
    let path = format!("/v1/client/sign_ups/{id}/{step}");
    app.fapi("POST", &path, token, form).await
}

fn id_of(res: &Resp) -> String {
    res.body["response"]["id"].as_str().unwrap().to_owned()
}

/// A sign-up with email and password on a new client, its code sent;
/// returns (token, sign-up id).
pub async fn prepared(app: &TestApp, email: &str) -> (String, String) {
    let res = create(app, "", &[("email_address", email), ("password", PASSWORD)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (token, id) = (res.token(), id_of(&res));
    let res = step(
        app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "email_code")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    (token, id)
}

#[tokio::test]
async fn email_password_and_code_make_a_user_with_a_session() {
    let app = TestApp::with(public()).await;
    let res = create(
        &app,
        "",
        &[
            ("email_address", "Ada@Example.com"),
            ("password", PASSWORD),
            ("first_name", "Ada"),
            ("unsafe_metadata", r#"{"plan":"pro"}"#),
        ],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = res.token();
    let s = &res.body["response"];
    assert_eq!(s["object"], "sign_up_attempt");
    assert_eq!(s["status"], "missing_requirements");
    assert_eq!(s["email_address"], "ada@example.com");
    assert_eq!(s["first_name"], "Ada");
    assert_eq!(s["password_enabled"], true);
    assert_eq!(s["unsafe_metadata"], json!({ "plan": "pro" }));
    assert_eq!(s["required_fields"], json!(["email_address", "password"]));
    assert_eq!(s["missing_fields"], json!([]));
    assert_eq!(s["unverified_fields"], json!(["email_address"]));
    // No code yet: Clerk's screens ask for one when there is no verification.
    assert_eq!(s["verifications"]["email_address"], Value::Null);
    assert!(!res.body.to_string().contains("argon2"), "no digest shown");
    let id = id_of(&res);
    assert_eq!(
        res.body["client"]["sign_up"]["id"],
        id.as_str(),
        "the client's current sign-up"
    );

    let res = step(
        &app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "email_code")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let v = &res.body["response"]["verifications"]["email_address"];
    assert_eq!(
        (v["strategy"].as_str(), v["next_action"].as_str()),
        (Some("email_code"), Some("needs_attempt"))
    );
    assert!(v["expire_at"].as_i64().unwrap() > 0);
    let sent = app.codes.last_message_to("ada@example.com").unwrap();
    assert_eq!(sent.purpose, CodePurpose::SignUp);
    assert_eq!(sent.code.len(), 6);

    // Nobody exists before the code passes.
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );
    let wrong = if sent.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", wrong)],
    )
    .await;
    res.assert_error(422, "form_code_incorrect", Some("code"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );

    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", &sent.code)],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let s = &res.body["response"];
    assert_eq!(s["status"], "complete");
    assert_eq!(s["verifications"]["email_address"]["status"], "verified");
    let session_id = s["created_session_id"].as_str().unwrap().to_owned();
    let user_id = s["created_user_id"].as_str().unwrap().to_owned();
    // The token rotates, as a sign-in's does.
    let new_token = res.token();
    assert_ne!(new_token, token);
    let client = &res.body["client"];
    assert_eq!(client["last_active_session_id"], session_id.as_str());
    assert_eq!(
        client["sign_up"],
        Value::Null,
        "a complete sign-up is no longer current"
    );
    assert_eq!(client["sessions"][0]["user"]["id"], user_id.as_str());

    // The session mints tokens like any other.
    let path = format!("/v1/client/sessions/{session_id}/tokens");
    let res = app.fapi("POST", &path, &new_token, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let claims = jwt_claims(res.body["jwt"].as_str().unwrap());
    assert_eq!(
        (claims["sub"].as_str(), claims["sid"].as_str()),
        (Some(user_id.as_str()), Some(session_id.as_str()))
    );
    // The old token names nothing any more.
    assert_eq!(
        app.fapi("GET", "/v1/client", &token, &[]).await.body["response"],
        Value::Null
    );

    // The Backend API sees an ordinary user, its address verified.
    let user = app.user_json(&user_id).await;
    assert_eq!(
        user["email_addresses"][0]["email_address"],
        "ada@example.com"
    );
    assert_eq!(
        user["email_addresses"][0]["verification"]["status"],
        "verified"
    );
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["password_enabled"], true);
    assert_eq!(user["unsafe_metadata"], json!({ "plan": "pro" }));
    assert_eq!(user["legal_accepted_at"], Value::Null);
    // ...who signs in with the password chosen at sign-up.
    let (_, _, res) = app.password_sign_in("ada@example.com").await;
    assert_eq!(res.body["response"]["status"], "complete");
}

#[tokio::test]
async fn a_restricted_instance_refuses_sign_ups_and_makes_nothing() {
    let mut settings = InstanceSettings::default();
    settings.sign_up.mode = SignUpMode::Restricted;
    let app = TestApp::with(settings).await;
    let res = create(
        &app,
        "",
        &[("email_address", "ada@example.com"), ("password", PASSWORD)],
    )
    .await;
    res.assert_error(422, "sign_up_mode_restricted", None);
    assert!(
        res.header("authorization").is_none_or(str::is_empty),
        "no client made"
    );
    assert_eq!(app.hasher.hashes(), 0, "no password hashed");
}

#[tokio::test]
async fn an_address_or_username_of_an_account_is_form_identifier_exists() {
    let app = TestApp::with(public()).await;
    app.user("ada@example.com", Some("ada_l")).await;
    let res = create(
        &app,
        "",
        &[("email_address", "ADA@example.com"), ("password", PASSWORD)],
    )
    .await;
    res.assert_error(422, "form_identifier_exists", Some("email_address"));
    let res = create(
        &app,
        "",
        &[("email_address", "new@example.com"), ("username", "Ada_L")],
    )
    .await;
    res.assert_error(422, "form_identifier_exists", Some("username"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_changes_nothing() {
    let mut settings = public();
    settings.sign_up.first_name = Requirement::Off;
    let app = TestApp::with(settings).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            &[("email_address", "not an address")],
            "form_param_format_invalid",
            Some("email_address"),
        ),
        (
            &[("phone_number", "12")],
            "form_param_format_invalid",
            Some("phone_number"),
        ),
        (
            &[("username", "a")],
            "form_param_format_invalid",
            Some("username"),
        ),
        (
            &[("password", "short")],
            "form_password_length_too_short",
            Some("password"),
        ),
        (
            &[
                ("email_address", "ada.lovelace@example.com"),
                ("password", "Ada.Lovelace"),
            ],
            "form_password_matches_identifier",
            Some("password"),
        ),
        (
            &[("first_name", "Ada")],
            "form_param_unknown",
            Some("first_name"),
        ),
        (
            &[("unsafe_metadata", "[1,2]")],
            "form_param_format_invalid",
            Some("unsafe_metadata"),
        ),
        (
            &[("strategy", "ticket")],
            "strategy_not_supported",
            Some("strategy"),
        ),
    ];
    for (form, code, param) in cases {
        let res = create(&app, "", form).await;
        assert_eq!(res.status, 422, "{form:?}: {}", res.body);
        assert_eq!(
            res.error(),
            (code.to_string(), param.map(str::to_owned)),
            "{form:?}: {}",
            res.body
        );
    }
    assert_eq!(app.hasher.hashes(), 0, "nothing refused was hashed");
}

#[tokio::test]
async fn missing_fields_are_filled_by_update_and_the_sign_up_completes_then() {
    let mut settings = public();
    settings.sign_up.require_email_address = false;
    settings.sign_up.require_username = true;
    settings.sign_up.last_name = Requirement::Required;
    settings.sign_up.legal_consent_required = true;
    settings.display.terms_url = Some("https://app.example/terms".into());
    let app = TestApp::with(settings).await;
    let res = create(&app, "", &[("username", "ada_l"), ("password", PASSWORD)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (token, id) = (res.token(), id_of(&res));
    assert_eq!(
        res.body["response"]["missing_fields"],
        json!(["last_name", "legal_accepted"])
    );
    let path = format!("/v1/client/sign_ups/{id}");
    let res = app
        .fapi("PATCH", &path, &token, &[("last_name", "Lovelace")])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["response"]["missing_fields"],
        json!(["legal_accepted"])
    );
    assert_eq!(res.body["response"]["status"], "missing_requirements");
    let res = app
        .fapi("PATCH", &path, &token, &[("legal_accepted", "true")])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let s = &res.body["response"];
    assert_eq!(s["status"], "complete");
    assert!(s["legal_accepted_at"].as_i64().unwrap() > 0);
    let user = app.user_json(s["created_user_id"].as_str().unwrap()).await;
    assert_eq!(user["username"], "ada_l");
    assert_eq!(user["last_name"], "Lovelace");
    assert_eq!(user["legal_accepted_at"], s["legal_accepted_at"]);
    // A complete sign-up takes no more changes, and still reads as complete.
    let token = res.token();
    let res = app
        .fapi("PATCH", &path, &token, &[("first_name", "A")])
        .await;
    res.assert_error(422, "form_param_value_invalid", None);
    let res = app.fapi("GET", &path, &token, &[]).await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn a_code_counts_its_attempts_and_an_address_changed_after_the_code_needs_a_new_one() {
    let app = TestApp::with(public()).await;
    let (token, id) = prepared(&app, "ada@example.com").await;
    let code = app.codes.last_code_to("ada@example.com").unwrap();
    // The address changes: the code sent to the old one proves nothing.
    let path = format!("/v1/client/sign_ups/{id}");
    let res = app
        .fapi(
            "PATCH",
            &path,
            &token,
            &[("email_address", "eve@example.com")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["response"]["verifications"]["email_address"],
        Value::Null
    );
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await;
    res.assert_error(422, "form_param_value_invalid", Some("strategy"));
    // Three wrong codes spend the new one.
    app.clock.advance(std::time::Duration::from_secs(31));
    let res = step(
        &app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "email_code")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let code = app.codes.last_code_to("eve@example.com").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        let res = step(
            &app,
            &token,
            &id,
            "attempt_verification",
            &[("strategy", "email_code"), ("code", wrong)],
        )
        .await;
        res.assert_error(422, "form_code_incorrect", Some("code"));
    }
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await;
    res.assert_error(422, "verification_failed", Some("code"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );
}

#[tokio::test]
async fn an_abandoned_sign_up_leaves_nothing_behind() {
    let app = TestApp::with(public()).await;
    let (token, id) = prepared(&app, "ada@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(86_401));
    let path = format!("/v1/client/sign_ups/{id}");
    let res = app.fapi("GET", &path, &token, &[]).await;
    assert_eq!(res.body["response"]["status"], "abandoned", "{}", res.body);
    let code = app.codes.last_code_to("ada@example.com").unwrap();
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await;
    res.assert_error(422, "verification_expired", None);
    let (purged, _) = app.purge().await;
    assert!(purged >= 1);
    assert_eq!(app.fapi("GET", &path, &token, &[]).await.status, 404);
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );
    // The address was never anyone's: it signs up again.
    let (token, id) = prepared(&app, "ada@example.com").await;
    let code = app.codes.last_code_to("ada@example.com").unwrap();
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn another_clients_sign_up_is_not_found() {
    let app = TestApp::with(public()).await;
    let (_, id) = prepared(&app, "ada@example.com").await;
    let other = create(&app, "", &[("email_address", "eve@example.com")])
        .await
        .token();
    let path = format!("/v1/client/sign_ups/{id}");
    app.fapi("GET", &path, &other, &[])
        .await
        .assert_error(404, "resource_not_found", None);
    let res = step(
        &app,
        &other,
        &id,
        "prepare_verification",
        &[("strategy", "email_code")],
    )
    .await;
    res.assert_error(404, "resource_not_found", None);
    app.fapi("PATCH", &path, &other, &[("first_name", "Eve")])
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn under_enumeration_protection_a_taken_address_looks_new_gets_a_notice_and_never_completes()
{
    let mut settings = public();
    settings.enumeration_protection = true;
    let app = TestApp::with(settings).await;
    app.user("ada@example.com", None).await;
    let (token, id) = prepared(&app, "ada@example.com").await;
    let notice = app.codes.last_message_to("ada@example.com").unwrap();
    assert_eq!(notice.purpose, CodePurpose::SignUpAttemptNotice);
    assert_eq!(notice.code, "", "the notice holds no code");
    let (new_token, new_id) = prepared(&app, "new@example.com").await;
    // Both answers have the same shape and say the same things.
    let read = |token: String, id: String| {
        let app = &app;
        async move {
            let mut body = app
                .fapi("GET", &format!("/v1/client/sign_ups/{id}"), &token, &[])
                .await
                .body["response"]
                .clone();
            for key in ["id", "email_address", "abandon_at"] {
                body[key] = Value::Null;
            }
            body["verifications"]["email_address"]["expire_at"] = Value::Null;
            body
        }
    };
    assert_eq!(
        read(token.clone(), id.clone()).await,
        read(new_token, new_id).await
    );
    for code in ["000000", "424242", "123456"] {
        let res = step(
            &app,
            &token,
            &id,
            "attempt_verification",
            &[("strategy", "email_code"), ("code", code)],
        )
        .await;
        assert_eq!(res.status, 422, "{}", res.body);
    }
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

#[tokio::test]
async fn development_test_addresses_take_424242() {
    let app = TestApp::with(public()).await;
    let sent_before = app.codes.count();
    let (token, id) = prepared(&app, "ada+clerk_test@example.com").await;
    assert_eq!(
        app.codes.count(),
        sent_before,
        "nothing is sent to a test address"
    );
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "email_code"), ("code", "424242")],
    )
    .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn a_phone_number_proved_by_sms_code_signs_up() {
    let mut settings = public();
    settings.sign_up.require_email_address = false;
    settings.sign_up.require_phone_number = true;
    settings.sign_up.require_password = false;
    let app = TestApp::with(settings).await;
    let res = create(&app, "", &[("phone_number", "+14155551234")]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (token, id) = (res.token(), id_of(&res));
    assert_eq!(
        res.body["response"]["unverified_fields"],
        json!(["phone_number"])
    );
    let res = step(
        &app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "phone_code")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let code = app.codes.last_code_to("+14155551234").unwrap();
    let res = step(
        &app,
        &token,
        &id,
        "attempt_verification",
        &[("strategy", "phone_code"), ("code", &code)],
    )
    .await;
    let s = &res.body["response"];
    assert_eq!(s["status"], "complete", "{}", res.body);
    let user = app.user_json(s["created_user_id"].as_str().unwrap()).await;
    assert_eq!(user["phone_numbers"][0]["phone_number"], "+14155551234");
    assert_eq!(
        user["phone_numbers"][0]["verification"]["status"],
        "verified"
    );
    assert_eq!(user["password_enabled"], false);
    // A strategy the sign-up has no address for, or that is not a code.
    let res = create(&app, "", &[("phone_number", "+14155551235")]).await;
    let (token, id) = (res.token(), id_of(&res));
    step(
        &app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "email_code")],
    )
    .await
    .assert_error(422, "form_param_nil", Some("email_address"));
    step(
        &app,
        &token,
        &id,
        "prepare_verification",
        &[("strategy", "password")],
    )
    .await
    .assert_error(422, "strategy_not_supported", Some("strategy"));
    step(&app, &token, &id, "prepare_verification", &[])
        .await
        .assert_error(422, "form_param_nil", Some("strategy"));
}

#[tokio::test]
async fn a_second_sign_up_replaces_the_clients_current_one() {
    let app = TestApp::with(public()).await;
    let (token, first) = prepared(&app, "ada@example.com").await;
    let res = create(&app, &token, &[("email_address", "eve@example.com")]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let second = id_of(&res);
    assert_eq!(res.body["client"]["sign_up"]["id"], second.as_str());
    let path = format!("/v1/client/sign_ups/{first}");
    app.fapi("GET", &path, &token, &[])
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn two_sign_ups_racing_for_one_username_make_one_user() {
    let mut settings = public();
    settings.sign_up.require_email_address = false;
    settings.sign_up.require_username = true;
    settings.sign_up.last_name = Requirement::Required;
    let app = TestApp::with(settings).await;
    // Two visitors get as far as the last field with the same username.
    let mut started = Vec::new();
    for _ in 0..2 {
        let res = create(&app, "", &[("username", "ada_l"), ("password", PASSWORD)]).await;
        assert_eq!(res.status, 200, "{}", res.body);
        started.push((res.token(), id_of(&res)));
    }
    let finish = |(token, id): (String, String)| {
        let app = &app;
        async move {
            let path = format!("/v1/client/sign_ups/{id}");
            app.fapi("PATCH", &path, &token, &[("last_name", "Lovelace")])
                .await
        }
    };
    let (a, b) = tokio::join!(finish(started[0].clone()), finish(started[1].clone()));
    let mut outcomes = [a, b];
    outcomes.sort_by_key(|r| r.status.as_u16());
    assert_eq!(
        outcomes[0].body["response"]["status"], "complete",
        "{}",
        outcomes[0].body
    );
    outcomes[1].assert_error(422, "form_identifier_exists", Some("username"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

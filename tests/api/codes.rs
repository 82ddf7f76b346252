//! One-time codes as the first factor: email_code and phone_code.

use latch_core::model::{Duration, Environment, InstanceSettings};
use serde_json::{Value, json};

use crate::support::{Resp, TestApp};

fn factor<'a>(res: &'a Resp, strategy: &str) -> &'a Value {
    res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no {strategy} factor in {}", res.body))
}

async fn user_with_phone(app: &TestApp, email: &str, phone: &str) {
    let res = app
        .post_user(json!({ "email_address": [email], "phone_number": [phone], "password": "a long password" }))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn email_code_sign_in() {
    let app = TestApp::new().await;
    user_with_phone(&app, "ola@example.com", "+15555550123").await;
    let (token, id, res) = app.identify("ola@example.com").await;
    let email = factor(&res, "email_code");
    assert_eq!(email["safe_identifier"], "o***a@example.com");
    assert_eq!(email["primary"], true);
    let phone = factor(&res, "phone_code");
    assert_eq!(phone["safe_identifier"], "+1******0123");
    let email_id = email["email_address_id"].as_str().unwrap().to_owned();

    let prepared = app
        .prepare_first_factor(
            &token,
            &id,
            "email_code",
            &[("email_address_id", &email_id)],
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let v = &prepared.body["response"]["first_factor_verification"];
    assert_eq!(
        (
            v["object"].as_str(),
            v["status"].as_str(),
            v["strategy"].as_str()
        ),
        (
            Some("verification_otp"),
            Some("unverified"),
            Some("email_code")
        )
    );
    assert!(v["expire_at"].as_i64().unwrap() > 0);
    let code = app
        .codes
        .last_code_to("ola@example.com")
        .expect("a code was sent");
    assert_eq!(code.len(), 6);
    assert!(
        !prepared.body.to_string().contains(&code),
        "the code never travels back"
    );

    let done = app
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    assert_eq!(
        done.body["response"]["first_factor_verification"]["status"],
        "verified"
    );
    // Single use: the sign-in is complete and the code is gone.
    let again = app
        .fapi(
            "POST",
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &done.token(),
            &[("strategy", "email_code"), ("code", &code)],
        )
        .await;
    assert!(again.status.is_client_error());
}

#[tokio::test]
async fn phone_numbers_identify_and_receive_codes() {
    let app = TestApp::new().await;
    user_with_phone(&app, "pia@example.com", "+15550001234").await;
    let res = app
        .new_sign_in(&[
            ("identifier", "+1 555 000 1234"),
            ("strategy", "phone_code"),
        ])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["response"]["first_factor_verification"]["strategy"], "phone_code",
        "create with a code strategy sends at once"
    );
    let code = app
        .codes
        .last_code_to("+15550001234")
        .expect("an SMS was sent");
    let id = res.body["response"]["id"].as_str().unwrap();
    let done = app
        .attempt_first_factor_code(&res.token(), id, "phone_code", &code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn wrong_codes_count_and_burn_the_code() {
    let settings = InstanceSettings {
        code_resend_cooldown: Duration(0),
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    app.user("quin@example.com", None).await;
    let (token, id, _) = app.identify("quin@example.com").await;
    let prepare = || app.prepare_first_factor(&token, &id, "email_code", &[]);
    let attempt = |code: String| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            app.attempt_first_factor_code(&token, &id, "email_code", &code)
                .await
        }
    };
    assert_eq!(prepare().await.status, 200);
    let code = app.codes.last_code_to("quin@example.com").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" }.to_owned();
    let first = attempt(wrong.clone()).await;
    first.assert_error(422, "form_code_incorrect", Some("code"));
    assert_eq!(
        first.body["meta"]["client"]["sign_in"]["first_factor_verification"]["attempts"],
        1
    );
    attempt(wrong.clone())
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    attempt(wrong.clone())
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    // Three wrong codes: even the right one is refused until a new one is sent.
    attempt(code.clone())
        .await
        .assert_error(422, "verification_failed", Some("code"));
    assert_eq!(prepare().await.status, 200);
    let fresh = app.codes.last_code_to("quin@example.com").unwrap();
    attempt(code.clone())
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    let done = attempt(fresh).await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn a_resend_within_the_cooldown_is_429_with_retry_after() {
    let app = TestApp::new().await;
    app.user("rae@example.com", None).await;
    let (token, id, _) = app.identify("rae@example.com").await;
    let send = || app.prepare_first_factor(&token, &id, "email_code", &[]);
    assert_eq!(send().await.status, 200);
    let again = send().await;
    again.assert_error(429, "too_many_requests", None);
    let retry: u64 = again.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(app.codes.count(), 1, "nothing more was sent");
}

#[tokio::test]
async fn expired_codes_are_refused() {
    let settings = InstanceSettings {
        code_lifetime: Duration(1),
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    app.user("sal@example.com", None).await;
    let (token, id, _) = app.identify("sal@example.com").await;
    app.prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    let code = app.codes.last_code_to("sal@example.com").unwrap();
    app.clock.advance(std::time::Duration::from_millis(20));
    let res = app
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    res.assert_error(422, "verification_expired", Some("code"));
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(
        read.body["response"]["first_factor_verification"]["status"],
        "expired"
    );
}

#[tokio::test]
async fn codes_go_only_to_the_users_own_addresses() {
    let app = TestApp::new().await;
    app.user("tom@example.com", None).await;
    app.user("eve@example.com", None).await;
    let (_, _, eve) = app.identify("eve@example.com").await;
    let eves_email = factor(&eve, "email_code")["email_address_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, id, _) = app.identify("tom@example.com").await;
    let res = app
        .prepare_first_factor(
            &token,
            &id,
            "email_code",
            &[("email_address_id", &eves_email)],
        )
        .await;
    res.assert_error(422, "form_param_value_invalid", Some("email_address_id"));
    assert_eq!(app.codes.count(), 0);
    let phone = app
        .prepare_first_factor(&token, &id, "phone_code", &[])
        .await;
    phone.assert_error(422, "form_param_value_invalid", Some("phone_number_id"));
    let missing = app
        .attempt_first_factor_code(&token, &id, "email_code", "123456")
        .await;
    missing.assert_error(422, "form_param_value_invalid", Some("strategy"));
}

#[tokio::test]
async fn a_failed_delivery_does_not_fail_the_request() {
    let app = TestApp::new().await;
    app.user("uma@example.com", None).await;
    let (token, id, _) = app.identify("uma@example.com").await;
    app.codes.fail(true);
    // The code is queued and recorded; the worker retries its delivery
    // (`deliveries::a_receiver_that_fails_then_recovers_gets_the_code_after_retries`).
    let res = app
        .prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(
        read.body["response"]["first_factor_verification"]["status"],
        "unverified"
    );
    assert_eq!(app.codes.count(), 0, "nothing reached the receiver");
    let wrong = app
        .attempt_first_factor_code(&token, &id, "email_code", "000000")
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
}

#[tokio::test]
async fn development_test_identities_send_nothing_and_take_424242() {
    let app = TestApp::new().await;
    user_with_phone(&app, "jane+clerk_test@example.com", "+12015550142").await;
    for (identifier, strategy) in [
        ("jane+clerk_test@example.com", "email_code"),
        ("+12015550142", "phone_code"),
    ] {
        let res = app
            .new_sign_in(&[("identifier", identifier), ("strategy", strategy)])
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        let id = res.body["response"]["id"].as_str().unwrap();
        let done = app
            .fapi(
                "POST",
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &res.token(),
                &[("strategy", strategy), ("code", "424242")],
            )
            .await;
        assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    }
    assert_eq!(app.codes.count(), 0, "test identities are sent nothing");

    // In production they are ordinary identities.
    let prod = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    user_with_phone(&prod, "jane+clerk_test@example.com", "+12015550142").await;
    let res = prod
        .new_sign_in(&[
            ("identifier", "jane+clerk_test@example.com"),
            ("strategy", "email_code"),
        ])
        .await;
    assert_eq!(prod.codes.count(), 1);
    let sent = prod
        .codes
        .last_code_to("jane+clerk_test@example.com")
        .unwrap();
    let id = res.body["response"]["id"].as_str().unwrap();
    if sent != "424242" {
        let wrong = prod
            .fapi(
                "POST",
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &res.token(),
                &[("strategy", "email_code"), ("code", "424242")],
            )
            .await;
        wrong.assert_error(422, "form_code_incorrect", Some("code"));
    }
}

#[tokio::test]
async fn disabled_code_strategies_are_refused_and_hidden() {
    let mut settings = InstanceSettings::default();
    settings.strategies.email_code = false;
    let app = TestApp::with(settings).await;
    app.user("val@example.com", None).await;
    let (token, id, res) = app.identify("val@example.com").await;
    let strategies: Vec<&str> = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["password"]);
    let prep = app
        .prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    prep.assert_error(422, "strategy_for_user_invalid", Some("strategy"));
    let env = app.fapi("GET", "/v1/environment", "", &[]).await;
    assert_eq!(
        env.body["user_settings"]["attributes"]["email_address"]["first_factors"],
        json!([])
    );
}

/// The user `id`'s email address or phone number record with `value`.
async fn record_id(app: &TestApp, user: &str, value: &str) -> String {
    let json = app.user_json(user).await;
    json["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["phone_numbers"].as_array().unwrap())
        .find(|r| r["email_address"] == value || r["phone_number"] == value)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn unverified_addresses_are_never_offered_and_take_no_code() {
    let app = TestApp::new().await;
    let created = app
        .post_user(json!({
            "email_address": ["vera@example.com", "vera.old@example.com"],
            "phone_number": ["+15550007777"],
            "username": "verity",
            "password": "a long password",
        }))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let user = created.body["id"].as_str().unwrap();
    app.set_verified(user, "vera.old@example.com", false).await;
    app.set_verified(user, "+15550007777", false).await;
    let old_email = record_id(&app, user, "vera.old@example.com").await;
    let phone = record_id(&app, user, "+15550007777").await;

    let (token, id, res) = app.identify("verity").await;
    let offered: Vec<(&str, &str)> = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["strategy"].as_str().unwrap(),
                f["safe_identifier"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        [
            ("password", ""),
            ("email_code", "v***a@example.com"),
            ("reset_password_email_code", "v***a@example.com"),
        ]
    );
    // Named explicitly, an unverified address is refused by name.
    app.prepare_first_factor(
        &token,
        &id,
        "email_code",
        &[("email_address_id", &old_email)],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("email_address_id"));
    for named in [vec![("phone_number_id", phone.as_str())], vec![]] {
        app.prepare_first_factor(&token, &id, "phone_code", &named)
            .await
            .assert_error(422, "form_param_value_invalid", Some("phone_number_id"));
    }
    assert_eq!(app.codes.count(), 0);
}

#[tokio::test]
async fn a_code_asked_without_naming_an_address_goes_to_a_verified_one() {
    let app = TestApp::new().await;
    let user = app
        .post_user(json!({
            "email_address": ["wren.old@example.com", "wren@example.com"],
            "username": "wrenfield",
            "password": "a long password",
        }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The primary address is the unverified one.
    app.set_verified(&user, "wren.old@example.com", false).await;
    let (token, id, _) = app.identify("wrenfield").await;
    let prepared = app
        .prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    assert!(app.codes.last_code_to("wren.old@example.com").is_none());
    let code = app.codes.last_code_to("wren@example.com").unwrap();
    let done = app
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn a_code_sent_before_its_address_was_unverified_passes_nothing() {
    let app = TestApp::new().await;
    user_with_phone(&app, "xena@example.com", "+15550008888").await;
    let (token, id, res) = app.identify("xena@example.com").await;
    let phone = factor(&res, "phone_code")["phone_number_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepared = app
        .prepare_first_factor(&token, &id, "phone_code", &[("phone_number_id", &phone)])
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("+15550008888").unwrap();
    let patched = app
        .bapi(
            "PATCH",
            &format!("/v1/phone_numbers/{phone}"),
            Some(json!({ "verified": false })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    app.attempt_first_factor_code(&token, &id, "phone_code", &code)
        .await
        .assert_error(422, "strategy_for_user_invalid", Some("strategy"));
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(read.body["response"]["status"], "needs_first_factor");
    assert_eq!(read.body["client"]["sessions"], json!([]));
}

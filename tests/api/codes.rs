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

//! Addresses a signed-in user adds to their own account:
//! `/v1/me/email_addresses` and `/v1/me/phone_numbers`.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Resp, TestApp};

/// `method` on `/v1/me/{rest}` for the session.
async fn me(
    app: &TestApp,
    (token, session): (&str, &str),
    method: &str,
    rest: &str,
    form: &[(&str, &str)],
) -> Resp {
    let path = format!("/v1/me/{rest}?_clerk_session_id={session}");
    app.fapi(method, &path, token, form).await
}

/// Adds `value` to the user of the session and proves it with the code it
/// was sent; returns its id.
async fn add_and_prove(app: &TestApp, who: (&str, &str), list: &str, value: &str) -> String {
    let param = if list == "email_addresses" {
        "email_address"
    } else {
        "phone_number"
    };
    let res = me(app, who, "POST", list, &[(param, value)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let strategy = if list == "email_addresses" {
        "email_code"
    } else {
        "phone_code"
    };
    let prepare = format!("{list}/{id}/prepare_verification");
    let res = me(app, who, "POST", &prepare, &[("strategy", strategy)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let code = app.codes.last_code_to(value).expect("a code was sent");
    let attempt = format!("{list}/{id}/attempt_verification");
    let res = me(app, who, "POST", &attempt, &[("code", &code)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["verification"]["status"], "verified");
    id
}

fn emails(user: &Value) -> Vec<(String, Value)> {
    user["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["email_address"].as_str().unwrap().to_owned(),
                e["verification"]["status"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_user_adds_an_email_proves_it_with_a_code_and_makes_it_primary() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let who = (token.as_str(), session.as_str());

    let res = me(
        &app,
        who,
        "POST",
        "email_addresses",
        &[("email_address", " Ada.Work@Example.com ")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let added = &res.body["response"];
    assert_eq!(added["object"], "email_address");
    assert_eq!(added["email_address"], "ada.work@example.com");
    assert_eq!(added["verification"], Value::Null);
    assert!(res.body["client"]["id"].is_string(), "the client is beside");
    let id = added["id"].as_str().unwrap().to_owned();

    // Unproved, the address names nobody and gets no sign-in code.
    let res = app
        .new_sign_in(&[("identifier", "ada.work@example.com")])
        .await;
    res.assert_error(422, "form_identifier_not_found", Some("identifier"));

    let prepare = format!("email_addresses/{id}/prepare_verification");
    let res = me(&app, who, "POST", &prepare, &[("strategy", "email_code")]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let verification = &res.body["response"]["verification"];
    assert_eq!(
        (
            verification["status"].as_str(),
            verification["strategy"].as_str()
        ),
        (Some("unverified"), Some("email_code"))
    );
    let code = app.codes.last_code_to("ada.work@example.com").unwrap();

    let attempt = format!("email_addresses/{id}/attempt_verification");
    let res = me(&app, who, "POST", &attempt, &[("code", "000000")]).await;
    res.assert_error(422, "form_code_incorrect", Some("code"));
    let res = me(&app, who, "GET", &format!("email_addresses/{id}"), &[]).await;
    assert_eq!(res.body["response"]["verification"]["attempts"], 1);

    let res = me(&app, who, "POST", &attempt, &[("code", &code)]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["verification"]["status"], "verified");
    // The same code proves nothing twice.
    me(&app, who, "POST", &attempt, &[("code", &code)])
        .await
        .assert_error(400, "verification_already_verified", None);

    let res = me(
        &app,
        who,
        "PATCH",
        "",
        &[("primary_email_address_id", id.as_str())],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let user = app.user_json(&ada).await;
    assert_eq!(user["primary_email_address_id"], id.as_str());
    assert_eq!(
        emails(&user),
        vec![
            ("ada@example.com".to_owned(), "verified".into()),
            ("ada.work@example.com".to_owned(), "verified".into()),
        ]
    );
    // It signs in now.
    let res = app
        .new_sign_in(&[("identifier", "ada.work@example.com")])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    // The list is an array, as Clerk answers it.
    let res = me(&app, who, "GET", "email_addresses", &[]).await;
    assert_eq!(res.body.as_array().map(Vec::len), Some(2), "{}", res.body);
}

#[tokio::test]
async fn codes_for_an_added_address_follow_the_sign_in_code_rules() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let who = (token.as_str(), session.as_str());
    let res = me(
        &app,
        who,
        "POST",
        "email_addresses",
        &[("email_address", "ada.work@example.com")],
    )
    .await;
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let prepare = format!("email_addresses/{id}/prepare_verification");
    let attempt = format!("email_addresses/{id}/attempt_verification");

    // No code yet: nothing to attempt.
    me(&app, who, "POST", &attempt, &[("code", "123456")])
        .await
        .assert_error(422, "form_param_value_invalid", Some("code"));
    // Only the address's own strategy.
    me(&app, who, "POST", &prepare, &[("strategy", "phone_code")])
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    assert_eq!(
        me(&app, who, "POST", &prepare, &[("strategy", "email_code")])
            .await
            .status,
        200
    );
    // The resend cool-down.
    let res = me(&app, who, "POST", &prepare, &[("strategy", "email_code")]).await;
    assert_eq!(res.status, 429, "{}", res.body);
    let first = app.codes.last_code_to("ada.work@example.com").unwrap();

    // Three wrong codes burn it; the right one then fails too.
    for _ in 0..3 {
        me(&app, who, "POST", &attempt, &[("code", "000000")])
            .await
            .assert_error(422, "form_code_incorrect", Some("code"));
    }
    let res = me(&app, who, "POST", &attempt, &[("code", &first)]).await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert_ne!(res.error().0, "form_code_incorrect");

    // A new code, left past its lifetime, is expired.
    app.clock.advance(Duration::from_secs(31));
    me(&app, who, "POST", &prepare, &[("strategy", "email_code")]).await;
    let second = app.codes.last_code_to("ada.work@example.com").unwrap();
    app.clock.advance(Duration::from_secs(11 * 60));
    let res = me(&app, who, "POST", &attempt, &[("code", &second)]).await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert_eq!(res.error().0, "verification_expired");
    let res = me(&app, who, "GET", &format!("email_addresses/{id}"), &[]).await;
    assert_eq!(res.body["response"]["verification"]["status"], "expired");
}

#[tokio::test]
async fn an_address_another_user_proved_is_refused_and_a_claim_holds_nothing() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (ada_token, ada_session) = app.sign_in("ada@example.com").await;
    let (bob_token, bob_session) = app.sign_in("bob@example.com").await;
    let ada_who = (ada_token.as_str(), ada_session.as_str());
    let bob_who = (bob_token.as_str(), bob_session.as_str());

    // Bob's own address, and the one Ada already has.
    for value in ["bob@example.com", "ada@example.com"] {
        me(
            &app,
            ada_who,
            "POST",
            "email_addresses",
            &[("email_address", value)],
        )
        .await
        .assert_error(422, "form_identifier_exists", Some("email_address"));
    }
    me(
        &app,
        ada_who,
        "POST",
        "email_addresses",
        &[("email_address", "not an address")],
    )
    .await
    .assert_error(422, "form_param_format_invalid", Some("email_address"));

    // Ada claims carol's address but never proves it: Carol still signs up
    // with it, and Ada's claim is gone.
    let res = me(
        &app,
        ada_who,
        "POST",
        "email_addresses",
        &[("email_address", "carol@example.com")],
    )
    .await;
    let claim = res.body["response"]["id"].as_str().unwrap().to_owned();
    app.user("carol@example.com", None).await;
    assert_eq!(emails(&app.user_json(&ada).await).len(), 1);
    me(
        &app,
        ada_who,
        "POST",
        &format!("email_addresses/{claim}/prepare_verification"),
        &[("strategy", "email_code")],
    )
    .await
    .assert_error(404, "resource_not_found", None);

    // Two users claim one address: the one who proves it owns it, and the
    // other can no longer claim it.
    let res = me(
        &app,
        ada_who,
        "POST",
        "email_addresses",
        &[("email_address", "shared@example.com")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    add_and_prove(&app, bob_who, "email_addresses", "shared@example.com").await;
    me(
        &app,
        ada_who,
        "POST",
        "email_addresses",
        &[("email_address", "shared@example.com")],
    )
    .await
    .assert_error(422, "form_identifier_exists", Some("email_address"));
    assert_eq!(
        emails(&app.user_json(&ada).await),
        vec![("ada@example.com".to_owned(), "verified".into())]
    );

    // Another user's address is not found for Ada.
    let bobs = me(&app, bob_who, "GET", "email_addresses", &[]).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for method in ["GET", "DELETE"] {
        me(
            &app,
            ada_who,
            method,
            &format!("email_addresses/{bobs}"),
            &[],
        )
        .await
        .assert_error(404, "resource_not_found", None);
    }
}

#[tokio::test]
async fn removing_addresses_keeps_a_way_in_and_a_proved_one_needs_a_recent_verification() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let who = (token.as_str(), session.as_str());
    let first = app.user_json(&ada).await["email_addresses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("email_addresses/{first}");
    me(&app, who, "DELETE", &path, &[]).await.assert_error(
        422,
        "form_param_value_invalid",
        Some("email_address"),
    );

    let work = add_and_prove(&app, who, "email_addresses", "ada.work@example.com").await;
    let res = me(&app, who, "DELETE", &path, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["deleted"], true);
    assert_eq!(res.body["response"]["object"], "email_address");
    let user = app.user_json(&ada).await;
    assert_eq!(
        user["primary_email_address_id"],
        work.as_str(),
        "hands over"
    );
    // The removed address names nobody any more.
    app.new_sign_in(&[("identifier", "ada@example.com")])
        .await
        .assert_error(422, "form_identifier_not_found", Some("identifier"));

    // Long after signing in, a proved address needs the factor again; an
    // unproved claim does not.
    let claim = me(
        &app,
        who,
        "POST",
        "email_addresses",
        &[("email_address", "old@example.com")],
    )
    .await
    .body["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    add_and_prove(&app, who, "email_addresses", "other@example.com").await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let res = me(&app, who, "DELETE", &format!("email_addresses/{work}"), &[]).await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(res.error().0, "session_reverification_required");
    let res = me(
        &app,
        who,
        "DELETE",
        &format!("email_addresses/{claim}"),
        &[],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(emails(&app.user_json(&ada).await).len(), 2);
}

#[tokio::test]
async fn a_proved_phone_becomes_a_second_factor_and_only_a_recent_session_takes_it_away() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let who = (token.as_str(), session.as_str());
    let res = me(
        &app,
        who,
        "POST",
        "phone_numbers",
        &[("phone_number", "+14155552671")],
    )
    .await;
    let unproved = res.body["response"]["id"].as_str().unwrap().to_owned();
    // Unproved, it cannot be a second factor.
    me(
        &app,
        who,
        "PATCH",
        &format!("phone_numbers/{unproved}"),
        &[("reserved_for_second_factor", "true")],
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("reserved_for_second_factor"),
    );
    me(
        &app,
        who,
        "DELETE",
        &format!("phone_numbers/{unproved}"),
        &[],
    )
    .await;

    let phone = add_and_prove(&app, who, "phone_numbers", "+14155552671").await;
    let res = me(
        &app,
        who,
        "PATCH",
        &format!("phone_numbers/{phone}"),
        &[("reserved_for_second_factor", "true")],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let number = &res.body["response"];
    assert_eq!(number["reserved_for_second_factor"], true);
    assert_eq!(number["default_second_factor"], true);
    let user = app.user_json(&ada).await;
    assert_eq!(user["two_factor_enabled"], true);
    assert_eq!(user["primary_phone_number_id"], Value::Null);

    // Signing in again now asks for the phone code.
    let (_, _, res) = app.password_sign_in("ada@example.com").await;
    assert_eq!(res.body["response"]["status"], "needs_second_factor");

    app.clock.advance(Duration::from_secs(11 * 60));
    let res = me(
        &app,
        who,
        "PATCH",
        &format!("phone_numbers/{phone}"),
        &[("reserved_for_second_factor", "false")],
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(app.user_json(&ada).await["two_factor_enabled"], true);
}

#[tokio::test]
async fn a_user_holds_only_so_many_addresses() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let who = (token.as_str(), session.as_str());
    let max = latch_core::service::MAX_ADDRESSES;
    for n in 1..max {
        let value = format!("ada+{n}@example.com");
        let res = me(
            &app,
            who,
            "POST",
            "email_addresses",
            &[("email_address", &value)],
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    me(
        &app,
        who,
        "POST",
        "email_addresses",
        &[("email_address", "one.too.many@example.com")],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("email_address"));
    let res = me(&app, who, "GET", "email_addresses", &[]).await;
    assert_eq!(res.body.as_array().unwrap().len(), max);
}

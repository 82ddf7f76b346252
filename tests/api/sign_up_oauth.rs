//! OAuth sign-up and the two transfers, over HTTP against the GitHub-style
//! provider of `oauth.rs`: a provider account no user has becomes a new
//! user's; one that is a user's moves the visitor to a sign-in.

use latch_core::model::{InstanceSettings, SignUpMode};
use serde_json::{Value, json};

use crate::oauth::{BACK, DONE, Setup, approve, callback, claim, location, nonce_of, setup, start};
use crate::support::{Resp, TestApp};

/// Starts an OAuth sign-up on a new client (or the client of `token`);
/// returns (token, sign-up id, provider URL).
async fn start_sign_up(app: &TestApp, token: &str) -> (String, String, String) {
    let form = [
        ("strategy", "oauth_github"),
        ("redirect_url", BACK),
        ("action_complete_redirect_url", DONE),
    ];
    let res = app.fapi("POST", "/v1/client/sign_ups", token, &form).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let v = &res.body["response"]["verifications"]["external_account"];
    assert_eq!(v["object"], "verification_oauth");
    assert_eq!(v["status"], "unverified");
    assert_eq!(v["strategy"], "oauth_github");
    let url = v["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = res
        .header("authorization")
        .filter(|t| !t.is_empty())
        .unwrap_or(token)
        .to_owned();
    (
        token,
        res.body["response"]["id"].as_str().unwrap().to_owned(),
        url,
    )
}

/// The app claims its sign-up's callback with the nonce, as clerk-js
/// reloads it; returns the token afterwards and the sign-up as it stands.
async fn claim_sign_up(app: &TestApp, token: &str, id: &str, location: &str) -> (String, Resp) {
    let nonce = nonce_of(location);
    let path = format!("/v1/client/sign_ups/{id}?rotating_token_nonce={nonce}");
    let res = app.fapi("GET", &path, token, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = res
        .header("authorization")
        .filter(|t| !t.is_empty())
        .unwrap_or(token)
        .to_owned();
    (token, res)
}

/// An OAuth sign-up through the provider as `login`, claimed.
async fn oauth_sign_up(s: &Setup, login: &str) -> (String, Resp) {
    let (token, id, url) = start_sign_up(&s.app, "").await;
    let query = approve(&s.idp, &url, login).await;
    let back = callback(&s.app, &query).await;
    claim_sign_up(&s.app, &token, &id, location(&back)).await
}

async fn users_count(app: &TestApp) -> Value {
    app.bapi("GET", "/v1/users/count", None).await.body["total_count"].clone()
}

#[tokio::test]
async fn a_provider_account_no_user_has_signs_up_a_new_user_with_its_verified_email() {
    let s = setup(InstanceSettings::default()).await;
    let (token, res) = oauth_sign_up(&s, "alice").await;
    let up = &res.body["response"];
    assert_eq!(up["status"], "complete", "{}", res.body);
    assert_eq!(up["email_address"], "alice@example.com");
    assert_eq!(up["first_name"], "Alice");
    assert_eq!(
        up["verifications"]["external_account"]["status"],
        "verified"
    );
    let email = &up["verifications"]["email_address"];
    assert_eq!(
        (
            email["object"].as_str(),
            email["status"].as_str(),
            email["strategy"].as_str()
        ),
        (
            Some("verification_from_oauth"),
            Some("verified"),
            Some("from_oauth_github")
        )
    );
    // No password is asked of a provider's account.
    assert_eq!(up["missing_fields"], json!([]));
    let user = s
        .app
        .user_json(up["created_user_id"].as_str().unwrap())
        .await;
    assert_eq!(user["external_accounts"][0]["provider"], "oauth_github");
    assert_eq!(
        user["email_addresses"][0]["verification"]["status"],
        "verified"
    );
    assert_eq!(user["password_enabled"], false);
    assert_eq!(
        res.body["client"]["last_authentication_strategy"],
        "oauth_github"
    );
    assert_eq!(res.body["client"]["sessions"][0]["user"]["id"], user["id"]);
    assert!(!token.is_empty());

    // The same account signs that user in from now on.
    let (token, id, url) = start(&s.app, None).await;
    let query = approve(&s.idp, &url, "alice").await;
    let back = callback(&s.app, &query).await;
    let (_, state) = claim(&s.app, &token, &id, location(&back)).await;
    assert_eq!(state["response"]["status"], "complete", "{state}");
    assert_eq!(state["client"]["sessions"][0]["user"]["id"], user["id"]);
}

#[tokio::test]
async fn an_email_the_provider_did_not_verify_is_proved_by_code_before_the_account_is_made() {
    let s = setup(InstanceSettings::default()).await;
    let (token, res) = oauth_sign_up(&s, "mallory").await;
    let up = &res.body["response"];
    assert_eq!(up["status"], "missing_requirements", "{}", res.body);
    assert_eq!(up["email_address"], "bob@example.com");
    assert_eq!(up["unverified_fields"], json!(["email_address"]));
    assert_eq!(users_count(&s.app).await, 0);
    let id = up["id"].as_str().unwrap();
    let path = |step: &str| format!("/v1/client/sign_ups/{id}/{step}");
    let prepared = s
        .app
        .fapi(
            "POST",
            &path("prepare_verification"),
            &token,
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = s.app.codes.last_code_to("bob@example.com").unwrap();
    let form = [("strategy", "email_code"), ("code", code.as_str())];
    let done = s
        .app
        .fapi("POST", &path("attempt_verification"), &token, &form)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn a_required_field_the_provider_does_not_give_waits_for_an_update() {
    let mut settings = InstanceSettings::default();
    settings.sign_up.require_username = true;
    let s = setup(settings).await;
    let (token, res) = oauth_sign_up(&s, "newcomer").await;
    let up = &res.body["response"];
    assert_eq!(up["status"], "missing_requirements", "{}", res.body);
    assert_eq!(up["missing_fields"], json!(["username"]));
    assert_eq!(
        up["verifications"]["external_account"]["status"],
        "verified"
    );
    let path = format!("/v1/client/sign_ups/{}", up["id"].as_str().unwrap());
    let done = s
        .app
        .fapi("PATCH", &path, &token, &[("username", "newcomer")])
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    let user = s
        .app
        .user_json(done.body["response"]["created_user_id"].as_str().unwrap())
        .await;
    assert_eq!(user["username"], "newcomer");
    assert_eq!(
        user["external_accounts"][0]["email_address"],
        "new@example.com"
    );
}

#[tokio::test]
async fn a_sign_in_with_a_new_provider_account_transfers_to_a_sign_up() {
    let s = setup(InstanceSettings::default()).await;
    let (token, id, url) = start(&s.app, None).await;
    let query = approve(&s.idp, &url, "newcomer").await;
    let back = callback(&s.app, &query).await;
    // Before the claim, nothing is this client's to take over.
    let early = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ups",
            &token,
            &[("transfer", "true")],
        )
        .await;
    early.assert_error(422, "form_param_value_invalid", Some("transfer"));
    let (token, state) = claim(&s.app, &token, &id, location(&back)).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["status"],
        "transferable"
    );

    let res = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ups",
            &token,
            &[("transfer", "true")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let up = &res.body["response"];
    assert_eq!(up["status"], "complete", "{}", res.body);
    assert_eq!(up["email_address"], "new@example.com");
    assert_eq!(
        res.body["client"]["sign_in"],
        Value::Null,
        "the sign-in was taken over"
    );
    let user = s
        .app
        .user_json(up["created_user_id"].as_str().unwrap())
        .await;
    assert_eq!(user["external_accounts"][0]["provider_user_id"], "1003");
    // The account is taken now: a second transfer finds nothing.
    let token = res.token();
    let again = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ups",
            &token,
            &[("transfer", "true")],
        )
        .await;
    again.assert_error(422, "form_param_value_invalid", Some("transfer"));
    assert_eq!(users_count(&s.app).await, 1);
}

#[tokio::test]
async fn a_sign_up_with_a_users_provider_account_transfers_to_a_sign_in_for_that_user() {
    let s = setup(InstanceSettings::default()).await;
    // Alice has an account with the address the provider verifies.
    let alice = s.app.user("alice@example.com", None).await;
    let (token, res) = oauth_sign_up(&s, "alice").await;
    let up = &res.body["response"];
    assert_eq!(up["status"], "missing_requirements", "{}", res.body);
    let v = &up["verifications"]["external_account"];
    assert_eq!(v["status"], "transferable");
    assert_eq!(v["error"]["code"], "external_account_exists");
    assert_eq!(users_count(&s.app).await, 1, "no second user");
    // Nothing of the account shows before the sign-in.
    assert_eq!(up["email_address"], Value::Null);

    let res = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            &token,
            &[("transfer", "true")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    assert_eq!(
        res.body["client"]["sessions"][0]["user"]["id"],
        alice.as_str()
    );
    assert_eq!(res.body["client"]["sign_up"], Value::Null);
    // Linked by the verified email on the way.
    assert_eq!(
        s.app.user_json(&alice).await["external_accounts"][0]["provider"],
        "oauth_github"
    );
}

#[tokio::test]
async fn a_transferred_sign_in_still_asks_for_the_second_factor() {
    let s = setup(InstanceSettings::default()).await;
    crate::second_factors::totp_user(&s.app, "alice@example.com").await;
    let (token, _) = oauth_sign_up(&s, "alice").await;
    let res = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            &token,
            &[("transfer", "true")],
        )
        .await;
    assert_eq!(
        res.body["response"]["status"], "needs_second_factor",
        "{}",
        res.body
    );
    assert_eq!(res.body["client"]["sessions"], json!([]));
}

#[tokio::test]
async fn a_transfer_with_nothing_to_transfer_is_refused() {
    let s = setup(InstanceSettings::default()).await;
    for path in ["/v1/client/sign_ups", "/v1/client/sign_ins"] {
        let res = s.app.fapi("POST", path, "", &[("transfer", "true")]).await;
        res.assert_error(422, "form_param_value_invalid", Some("transfer"));
    }
}

#[tokio::test]
async fn a_restricted_instance_takes_no_oauth_sign_up_nor_transfer() {
    let mut settings = InstanceSettings::default();
    settings.sign_up.mode = SignUpMode::Restricted;
    let s = setup(settings).await;
    let form = [("strategy", "oauth_github"), ("redirect_url", BACK)];
    let res = s.app.fapi("POST", "/v1/client/sign_ups", "", &form).await;
    res.assert_error(422, "sign_up_mode_restricted", None);
    let (token, id, url) = start(&s.app, None).await;
    let query = approve(&s.idp, &url, "newcomer").await;
    let back = callback(&s.app, &query).await;
    let (token, _) = claim(&s.app, &token, &id, location(&back)).await;
    let res = s
        .app
        .fapi(
            "POST",
            "/v1/client/sign_ups",
            &token,
            &[("transfer", "true")],
        )
        .await;
    res.assert_error(422, "sign_up_mode_restricted", None);
    assert_eq!(users_count(&s.app).await, 0);
}

#[tokio::test]
async fn a_sign_up_callback_is_single_use_and_a_guessed_nonce_claims_nothing() {
    let s = setup(InstanceSettings::default()).await;
    let (token, id, url) = start_sign_up(&s.app, "").await;
    let query = approve(&s.idp, &url, "newcomer").await;
    let back = callback(&s.app, &query).await;
    assert_eq!(
        callback(&s.app, &query).await.status,
        400,
        "the state is spent"
    );
    let path = format!("/v1/client/sign_ups/{id}?rotating_token_nonce=guessed");
    s.app.fapi("GET", &path, &token, &[]).await.assert_error(
        400,
        "oauth_state_invalid",
        Some("rotating_token_nonce"),
    );
    // The right nonce still works once.
    let (_, res) = claim_sign_up(&s.app, &token, &id, location(&back)).await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    assert_eq!(users_count(&s.app).await, 1);
}

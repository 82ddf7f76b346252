//! `/v1/me/external_accounts`: a signed-in browser connects an account at a
//! provider through the OAuth redirect, and disconnects it.

use latch_core::model::InstanceSettings;
use serde_json::Value;

use crate::oauth::{BACK, Setup, approve, callback, failed_back, location, setup};
use crate::support::{PASSWORD, Resp, TestApp};

/// Signs `email` in as a browser does; returns its `__client` cookie.
async fn browser_sign_in(app: &TestApp, email: &str) -> String {
    let body = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", email),
        ("password", PASSWORD),
    ])
    .unwrap();
    let res = app
        .request(
            "POST",
            "/v1/client/sign_ins",
            &[],
            Some(("application/x-www-form-urlencoded", body)),
        )
        .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    res.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn as_browser(
    app: &TestApp,
    cookie: &str,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Resp {
    let body = serde_urlencoded::to_string(form).unwrap();
    app.request(
        method,
        path,
        &[("cookie", cookie)],
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await
}

/// Starts connecting GitHub; returns (pending id, provider URL).
async fn connect(app: &TestApp, cookie: &str) -> (String, String) {
    let res = as_browser(
        app,
        cookie,
        "POST",
        "/v1/me/external_accounts",
        &[("strategy", "oauth_github"), ("redirect_url", BACK)],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let pending = &res.body["response"];
    assert_eq!(pending["object"], "external_account");
    assert_eq!(pending["provider"], "oauth_github");
    assert_eq!(pending["verification"]["status"], "unverified");
    (
        pending["id"].as_str().unwrap().to_owned(),
        pending["verification"]["external_verification_redirect_url"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

fn accounts(user: &Value) -> Vec<(String, String)> {
    user["external_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["username"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_browser_connects_a_provider_account_and_then_signs_in_with_it() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let ada = app.user("ada@example.com", None).await;
    let cookie = browser_sign_in(&app, "ada@example.com").await;
    let (id, url) = connect(&app, &cookie).await;
    let query = approve(&idp, &url, "newcomer").await;
    let res = app
        .request(
            "GET",
            &format!("/v1/oauth_callback{query}"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(location(&res), BACK);
    assert_eq!(
        accounts(&app.user_json(&ada).await),
        vec![(id.clone(), "newcomer".to_owned())],
        "linked under the id the pending account had"
    );
    // The state is spent.
    let again = callback(&app, &query).await;
    assert!(again.status.is_client_error(), "{}", again.body);

    // Now the provider account signs Ada in.
    let (token, sign_in, url) = crate::oauth::start(&app, None).await;
    let query = approve(&idp, &url, "newcomer").await;
    callback(&app, &query).await;
    let state = crate::oauth::sign_in_state(&app, &token, &sign_in).await;
    assert_ne!(state["status"], "needs_identifier", "{state}");
}

#[tokio::test]
async fn a_connection_finishes_only_in_its_browser_and_never_takes_another_users_account() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let ada = app.user("ada@example.com", None).await;
    // Alice's provider account names her by its verified email.
    app.user("alice@example.com", None).await;
    let cookie = browser_sign_in(&app, "ada@example.com").await;

    // A stranger's link, approved in another browser, links nothing.
    let (_, url) = connect(&app, &cookie).await;
    let query = approve(&idp, &url, "newcomer").await;
    assert_eq!(
        location(&callback(&app, &query).await),
        failed_back("oauth_client_mismatch")
    );
    // Alice's provider account is hers.
    let (_, url) = connect(&app, &cookie).await;
    let query = approve(&idp, &url, "alice").await;
    let res = app
        .request(
            "GET",
            &format!("/v1/oauth_callback{query}"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(location(&res), failed_back("external_account_mismatch"));
    assert!(accounts(&app.user_json(&ada).await).is_empty());

    // An app (no cookie) cannot connect: nothing would bind the callback.
    let (token, session) = app.sign_in("ada@example.com").await;
    let res = app
        .fapi(
            "POST",
            &format!("/v1/me/external_accounts?_clerk_session_id={session}"),
            &token,
            &[("strategy", "oauth_github"), ("redirect_url", BACK)],
        )
        .await;
    assert!(res.status.is_client_error(), "{}", res.body);
    // Nor with a provider that is off, or a redirect off the allowed origins.
    for form in [
        [("strategy", "oauth_google"), ("redirect_url", BACK)],
        [
            ("strategy", "oauth_github"),
            ("redirect_url", "https://evil.example/x"),
        ],
    ] {
        let res = as_browser(&app, &cookie, "POST", "/v1/me/external_accounts", &form).await;
        assert_eq!(res.status, 422, "{}", res.body);
    }
}

#[tokio::test]
async fn disconnecting_keeps_a_way_in() {
    let mut settings = InstanceSettings::default();
    settings.strategies.email_code = false;
    let Setup { app, idp } = setup(settings).await;
    let ada = app.user("ada@example.com", None).await;
    let cookie = browser_sign_in(&app, "ada@example.com").await;
    let (id, url) = connect(&app, &cookie).await;
    let query = approve(&idp, &url, "newcomer").await;
    app.request(
        "GET",
        &format!("/v1/oauth_callback{query}"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    // With the password gone, the provider account is the last way in.
    let res = as_browser(
        &app,
        &cookie,
        "POST",
        "/v1/me/remove_password",
        &[("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let path = format!("/v1/me/external_accounts/{id}");
    as_browser(&app, &cookie, "DELETE", &path, &[])
        .await
        .assert_error(422, "form_param_value_invalid", Some("external_account_id"));
    assert_eq!(accounts(&app.user_json(&ada).await).len(), 1);
    as_browser(
        &app,
        &cookie,
        "DELETE",
        "/v1/me/external_accounts/eac_unknown",
        &[],
    )
    .await
    .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn the_providers_tokens_are_kept_sealed_and_refreshed_when_they_lapse() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let ada = app.user("ada@example.com", None).await;
    let cookie = browser_sign_in(&app, "ada@example.com").await;
    let (id, url) = connect(&app, &cookie).await;
    let query = approve(&idp, &url, "newcomer").await;
    app.request(
        "GET",
        &format!("/v1/oauth_callback{query}"),
        &[("cookie", &cookie)],
        None,
    )
    .await;
    let path = format!("/v1/users/{ada}/oauth_access_tokens/oauth_github");
    let res = app.bapi("GET", &path, None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let first = &res.body[0];
    assert_eq!(first["object"], "oauth_access_token");
    assert_eq!(first["external_account_id"], id.as_str());
    assert_eq!(first["provider"], "oauth_github");
    assert_eq!(first["provider_user_id"], "1003");
    let token = first["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gho_"), "{token}");
    // Kept sealed: the token is nowhere in the database file.
    let db = app.database_bytes();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    // Within its lifetime, the same token; once it lapses, a fresh one.
    let again = app.bapi("GET", &path, None).await;
    assert_eq!(again.body[0]["token"], token.as_str());
    app.clock.advance(std::time::Duration::from_secs(9 * 3600));
    let later = app.bapi("GET", &path, None).await;
    assert_eq!(later.status, 200, "{}", later.body);
    let fresh = later.body[0]["token"].as_str().unwrap();
    assert!(fresh.starts_with("gho_") && fresh != token, "{fresh}");
    let stays = app.bapi("GET", &path, None).await;
    assert_eq!(
        stays.body[0]["token"], fresh,
        "the refreshed token was stored"
    );
    // No account at that provider: an empty list; no user: not found.
    let none = app
        .bapi(
            "GET",
            &format!("/v1/users/{ada}/oauth_access_tokens/oauth_google"),
            None,
        )
        .await;
    assert_eq!(none.body, serde_json::json!([]));
    let missing = app
        .bapi(
            "GET",
            "/v1/users/user_nobody/oauth_access_tokens/oauth_github",
            None,
        )
        .await;
    missing.assert_error(404, "resource_not_found", None);
}

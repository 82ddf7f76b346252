//! OAuth sign-in over HTTP against a GitHub-style provider served by
//! latch-testkit on loopback, through latch-http's adapter: the redirect,
//! the provider's approval, and Latch's callback.

use latch_core::model::InstanceSettings;
use latch_http::oauth::{ClientSecret, ProviderConfig, ProviderKind, provider};
use latch_testkit::oauth::{GitHubLikeProvider, OAuthUser, TokenEndpoint, sign_in};
use serde_json::{Value, json};

use crate::support::{CALLBACK, Resp, TestApp};

pub(crate) const BACK: &str = "http://localhost:3000/sso-callback";

/// Where a failed flow sends the browser back to: [`BACK`], saying it failed
/// and with which error's code, as clerk-js reads them.
pub(crate) fn failed_back(code: &str) -> String {
    format!("{BACK}?__clerk_status=failed&__clerk_error_code={code}")
}
pub(crate) const DONE: &str = "http://localhost:3000/home";

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) idp: GitHubLikeProvider,
}

pub(crate) async fn setup(settings: InstanceSettings) -> Setup {
    let idp = GitHubLikeProvider::start([
        OAuthUser::new(1001, "alice")
            .with_name("Alice Liddell")
            .with_email("alice@example.com", true),
        OAuthUser::new(1002, "mallory").with_email("bob@example.com", false),
        OAuthUser::new(1003, "newcomer").with_email("new@example.com", true),
    ]);
    idp.allow_redirect_uri(CALLBACK);
    let mut config = ProviderConfig::new("github", ProviderKind::GitHub, idp.client_id());
    config.client_secret = ClientSecret::Shared(idp.client_secret().to_owned());
    config.authorize_url = Some(idp.authorize_url());
    config.token_url = Some(idp.token_url());
    config.api_base_url = Some(idp.api_base_url());
    config.timeout = std::time::Duration::from_secs(2);
    let github = provider(&config).unwrap();
    let app = TestApp::with_oauth(settings, vec![github]).await;
    Setup { app, idp }
}

/// Starts an OAuth sign-in on a new client; returns (token, sign-in id,
/// the provider URL).
pub(crate) async fn start(app: &TestApp, identifier: Option<&str>) -> (String, String, String) {
    let mut form = vec![
        ("strategy", "oauth_github"),
        ("redirect_url", BACK),
        ("action_complete_redirect_url", DONE),
    ];
    if let Some(id) = identifier {
        form.push(("identifier", id));
    }
    let res = app.new_sign_in(&form).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let v = &res.body["response"]["first_factor_verification"];
    assert_eq!(v["object"], "verification_oauth");
    assert_eq!(v["status"], "unverified");
    assert_eq!(v["strategy"], "oauth_github");
    let url = v["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    (res.token(), id, url)
}

/// The provider's part: approve as `login`, and the query Latch's callback gets.
pub(crate) async fn approve(idp: &GitHubLikeProvider, url: &str, login: &str) -> String {
    idp.log_in_as(login);
    let callback = sign_in(url, login)
        .await
        .expect("the provider sends the browser back");
    assert!(callback.url.starts_with(CALLBACK), "{}", callback.url);
    callback.url[CALLBACK.len()..].to_owned()
}

/// `query` (`?a=1&b=2`) with `name`'s value replaced.
fn replace_param(query: &str, name: &str, value: &str) -> String {
    let pairs: Vec<String> = query
        .trim_start_matches('?')
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => p.to_owned(),
        })
        .collect();
    format!("?{}", pairs.join("&"))
}

pub(crate) async fn callback(app: &TestApp, query: &str) -> Resp {
    app.request("GET", &format!("/v1/oauth_callback{query}"), &[], None)
        .await
}

pub(crate) fn location(res: &Resp) -> &str {
    assert_eq!(res.status, 303, "{}", res.body);
    res.header("location").unwrap()
}

/// The nonce a callback put on the redirect URL for an app (not a cookie
/// browser) to claim its sign-in with.
pub(crate) fn nonce_of(location: &str) -> String {
    let (back, nonce) = location
        .split_once("?rotating_token_nonce=")
        .unwrap_or_else(|| panic!("no nonce in {location}"));
    assert_eq!(back, BACK);
    nonce.to_owned()
}

/// The app claims its callback as clerk-js does: it reloads the sign-in with
/// the nonce. Returns the client's token afterwards and the reloaded state.
pub(crate) async fn claim(app: &TestApp, token: &str, id: &str, location: &str) -> (String, Value) {
    let nonce = nonce_of(location);
    let res = app
        .fapi(
            "GET",
            &format!("/v1/client/sign_ins/{id}?rotating_token_nonce={nonce}"),
            token,
            &[],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = res
        .header("authorization")
        .map_or_else(|| token.to_owned(), str::to_owned);
    (token, res.body)
}

pub(crate) async fn sign_in_state(app: &TestApp, token: &str, id: &str) -> Value {
    let res = app
        .fapi("GET", &format!("/v1/client/sign_ins/{id}"), token, &[])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

#[tokio::test]
async fn a_linked_or_verified_email_user_signs_in_through_the_callback() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let user_id = app.user("alice@example.com", None).await;
    let (token, id, url) = start(&app, None).await;
    // The provider got state, PKCE (S256) and our callback.
    assert!(url.starts_with(&idp.authorize_url()), "{url}");
    let query = approve(&idp, &url, "alice").await;
    let record = idp.authorizations().pop().unwrap();
    assert_eq!(
        record.param("code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(
        record
            .param("state")
            .unwrap()
            .starts_with(&format!("{id}."))
    );

    let res = callback(&app, &query).await;
    let landing = location(&res).to_owned();
    // The callback signs nobody in: the nonce goes to this browser, and only
    // the client that started the flow can use it.
    let waiting = sign_in_state(&app, &token, &id).await;
    assert_eq!(waiting["response"]["status"], "needs_identifier");
    assert_eq!(waiting["client"]["sessions"], json!([]));
    let (stranger, _, _) = start(&app, None).await;
    app.fapi(
        "GET",
        &format!(
            "/v1/client/sign_ins/{id}?rotating_token_nonce={}",
            nonce_of(&landing)
        ),
        &stranger,
        &[],
    )
    .await
    .assert_error(400, "oauth_state_invalid", Some("rotating_token_nonce"));
    app.fapi(
        "GET",
        &format!("/v1/client/sign_ins/{id}?rotating_token_nonce=guessed"),
        &token,
        &[],
    )
    .await
    .assert_error(400, "oauth_state_invalid", Some("rotating_token_nonce"));
    let (new_token, state) = claim(&app, &token, &id, &landing).await;
    assert_ne!(new_token, token, "the token rotates with the session");
    assert_eq!(state["response"]["status"], "complete", "{state}");
    let session = state["response"]["created_session_id"].as_str().unwrap();
    assert_eq!(state["client"]["sessions"][0]["id"], session);
    assert_eq!(
        state["client"]["sessions"][0]["user"]["id"],
        user_id.as_str()
    );

    // Linked by the verified email: the user now has the account.
    let user = app
        .bapi("GET", &format!("/v1/users/{user_id}"), None)
        .await
        .body;
    let account = &user["external_accounts"][0];
    assert_eq!(account["object"], "external_account");
    assert_eq!(account["provider"], "oauth_github");
    assert_eq!(account["provider_user_id"], "1001");
    assert_eq!(account["email_address"], "alice@example.com");
    assert_eq!(account["first_name"], "Alice");
    // The scopes the provider granted, space-separated as Clerk writes them.
    assert_eq!(account["approved_scopes"], "read:user user:email");
    // The client remembers how it last signed in (the "last used" badge).
    assert_eq!(
        state["client"]["last_authentication_strategy"],
        "oauth_github"
    );

    // The state is single use.
    callback(&app, &query)
        .await
        .assert_error(400, "oauth_state_invalid", Some("state"));

    // Next time the account itself names the user, whatever its email now.
    idp.update_user("alice", |u| {
        u.email = Some("alice@elsewhere.example".into())
    });
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    let landing = location(&callback(&app, &query).await).to_owned();
    let (_, state) = claim(&app, &token, &id, &landing).await;
    assert_eq!(state["response"]["status"], "complete");
    let user = app
        .bapi("GET", &format!("/v1/users/{user_id}"), None)
        .await
        .body;
    assert_eq!(
        user["external_accounts"][0]["email_address"],
        "alice@elsewhere.example"
    );
    assert_eq!(user["external_accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn no_account_yet_leaves_the_verification_transferable() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "newcomer").await;
    let back = callback(&app, &query).await;
    // Not transferable until the client that started the flow claims it.
    let before = sign_in_state(&app, &token, &id).await;
    assert_eq!(
        before["response"]["first_factor_verification"]["status"],
        "unverified"
    );
    let (_, state) = claim(&app, &token, &id, location(&back)).await;
    let v = &state["response"]["first_factor_verification"];
    assert_eq!(v["status"], "transferable", "{state}");
    assert_eq!(v["error"]["code"], "external_account_not_found");
    assert!(state["response"]["created_session_id"].is_null());
    assert_eq!(state["client"]["sessions"], json!([]));
}

#[tokio::test]
async fn an_unverified_email_is_never_linked() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let bob = app.user("bob@example.com", None).await;
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "mallory").await;
    let back = callback(&app, &query).await;
    let (_, state) = claim(&app, &token, &id, location(&back)).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["status"],
        "transferable"
    );
    let user = app
        .bapi("GET", &format!("/v1/users/{bob}"), None)
        .await
        .body;
    assert_eq!(user["external_accounts"], json!([]));
}

#[tokio::test]
async fn an_address_the_account_has_not_verified_links_nothing() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    // The provider vouches for the address; the account never proved it.
    let alice = app.user("alice@example.com", None).await;
    app.set_verified(&alice, "alice@example.com", false).await;
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    let back = callback(&app, &query).await;
    let (_, state) = claim(&app, &token, &id, location(&back)).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["status"], "transferable",
        "{state}"
    );
    assert_eq!(state["client"]["sessions"], json!([]));
    assert_eq!(app.user_json(&alice).await["external_accounts"], json!([]));
}

#[tokio::test]
async fn an_identified_sign_in_fails_for_another_users_account() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let alice = app.user("alice@example.com", None).await;
    app.user("carol@example.com", None).await;
    let (token, id, url) = start(&app, Some("carol@example.com")).await;
    let query = approve(&idp, &url, "alice").await;
    assert_eq!(
        location(&callback(&app, &query).await),
        failed_back("external_account_mismatch")
    );
    let state = sign_in_state(&app, &token, &id).await;
    let v = &state["response"]["first_factor_verification"];
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["code"], "external_account_mismatch");
    assert_eq!(state["client"]["sessions"], json!([]));
    let user = app
        .bapi("GET", &format!("/v1/users/{alice}"), None)
        .await
        .body;
    assert_eq!(user["external_accounts"], json!([]), "nothing linked");
}

#[tokio::test]
async fn provider_refusals_and_failures_end_the_verification() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    app.user("alice@example.com", None).await;

    // The user said no.
    idp.deny_access(true);
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    assert!(query.contains("error=access_denied"), "{query}");
    assert_eq!(
        location(&callback(&app, &query).await),
        failed_back("oauth_access_denied")
    );
    let state = sign_in_state(&app, &token, &id).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["status"],
        "failed"
    );
    assert_eq!(
        state["response"]["first_factor_verification"]["error"]["code"],
        "oauth_access_denied"
    );
    idp.deny_access(false);

    // The token endpoint breaks, or answers too slowly.
    for (behaviour, code) in [
        (TokenEndpoint::ServerError, "oauth_provider_unavailable"),
        (TokenEndpoint::Garbage, "oauth_provider_unavailable"),
        (
            TokenEndpoint::Slow(std::time::Duration::from_secs(4)),
            "oauth_provider_unavailable",
        ),
    ] {
        idp.set_token_endpoint(behaviour);
        let (token, id, url) = start(&app, None).await;
        let query = approve(&idp, &url, "alice").await;
        assert_eq!(
            location(&callback(&app, &query).await),
            failed_back(code),
            "{behaviour:?}"
        );
        let state = sign_in_state(&app, &token, &id).await;
        let v = &state["response"]["first_factor_verification"];
        assert_eq!(v["status"], "failed", "{behaviour:?}");
        assert_eq!(v["error"]["code"], code, "{behaviour:?}");
    }
    idp.set_token_endpoint(TokenEndpoint::Normal);

    // A code that is not the provider's.
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    let forged = replace_param(&query, "code", "forged");
    assert_eq!(
        location(&callback(&app, &forged).await),
        failed_back("oauth_token_exchange_error")
    );
    let state = sign_in_state(&app, &token, &id).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["error"]["code"],
        "oauth_token_exchange_error"
    );
}

#[tokio::test]
async fn callbacks_without_a_waiting_flow_are_refused() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    app.user("alice@example.com", None).await;
    let (_, id_a, _) = start(&app, None).await;
    let (_, _, url_b) = start(&app, None).await;
    let query_b = approve(&idp, &url_b, "alice").await;
    let state_b = query_b
        .trim_start_matches('?')
        .split('&')
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let secret_b = state_b.split_once('.').unwrap().1;
    // Sign-in B's secret under sign-in A's id.
    callback(&app, &format!("?code=x&state={id_a}.{secret_b}"))
        .await
        .assert_error(400, "oauth_state_invalid", Some("state"));
    callback(&app, "?code=x")
        .await
        .assert_error(422, "form_param_nil", Some("state"));
    callback(&app, "?code=x&state=garbage").await.assert_error(
        400,
        "oauth_state_invalid",
        Some("state"),
    );
    callback(&app, "?code=x&state=sia_nobody.secret")
        .await
        .assert_error(400, "oauth_state_invalid", Some("state"));
    // The real one still works afterwards, once; by POST too (form_post),
    // which comes back as a GET first (no cookie came with it).
    let form: Vec<(String, String)> = query_b
        .trim_start_matches('?')
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2E", ".")))
        .collect();
    let body = serde_urlencoded::to_string(&form).unwrap();
    let res = app
        .request(
            "POST",
            "/v1/oauth_callback",
            &[],
            Some(("application/x-www-form-urlencoded", body)),
        )
        .await;
    let again = location(&res).to_owned();
    let again = again
        .strip_prefix("https://clerk.latch.test")
        .unwrap_or_else(|| panic!("back to the callback URL: {again}"));
    assert!(again.starts_with("/v1/oauth_callback?"), "{again}");
    let res = app.request("GET", again, &[], None).await;
    nonce_of(location(&res));
}

#[tokio::test]
async fn an_expired_flow_is_not_accepted() {
    let settings = InstanceSettings {
        oauth_flow_lifetime: latch_core::model::Duration(300),
        ..InstanceSettings::default()
    };
    let Setup { app, idp } = setup(settings).await;
    app.user("alice@example.com", None).await;
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    app.clock.advance(std::time::Duration::from_millis(400));
    assert_eq!(
        location(&callback(&app, &query).await),
        failed_back("verification_expired")
    );
    let state = sign_in_state(&app, &token, &id).await;
    assert_eq!(
        state["response"]["first_factor_verification"]["status"],
        "expired"
    );
    callback(&app, &query)
        .await
        .assert_error(400, "oauth_state_invalid", Some("state"));
}

#[tokio::test]
async fn redirects_off_the_allow_list_are_refused() {
    let settings = InstanceSettings {
        environment: latch_core::model::Environment::Production,
        redirect_origins: vec!["https://app.example.com".into()],
        ..InstanceSettings::default()
    };
    let Setup { app, .. } = setup(settings).await;
    for (field, url) in [
        ("redirect_url", "https://evil.example/cb"),
        ("redirect_url", "http://localhost:3000/cb"),
        ("redirect_url", "https://app.example.com.evil.example/cb"),
        ("action_complete_redirect_url", "https://evil.example/done"),
        // Not paths: a scheme-relative URL and its backslash form.
        ("action_complete_redirect_url", "//evil.example/done"),
        ("action_complete_redirect_url", "/\\evil.example/done"),
        // Allowed origin, but not a header-safe URL.
        ("redirect_url", "https://app.example.com/caf\u{e9}"),
        ("redirect_url", "https://app.example.com/a b"),
    ] {
        let mut form = vec![
            ("strategy", "oauth_github"),
            ("redirect_url", "https://app.example.com/sso"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, url));
        let res = app.new_sign_in(&form).await;
        res.assert_error(422, "form_param_value_invalid", Some(field));
        assert!(res.header("authorization").is_none(), "no client was made");
    }
    // A path (what Clerk's components send by default) is on the redirect
    // URL's origin, for sign-ins and sign-ups alike.
    for path in ["/v1/client/sign_ins", "/v1/client/sign_ups"] {
        let form = [
            ("strategy", "oauth_github"),
            ("redirect_url", "https://app.example.com/sso"),
            ("action_complete_redirect_url", "/"),
        ];
        let res = app.fapi("POST", path, "", &form).await;
        assert_eq!(res.status, 200, "{path}: {}", res.body);
    }
    let ok = app
        .new_sign_in(&[
            ("strategy", "oauth_github"),
            ("redirect_url", "https://app.example.com/sso"),
        ])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // A provider that is not configured.
    app.new_sign_in(&[
        ("strategy", "oauth_google"),
        ("redirect_url", "https://app.example.com/sso"),
    ])
    .await
    .assert_error(422, "strategy_for_user_invalid", Some("strategy"));
}

#[tokio::test]
async fn two_factor_users_finish_with_their_second_factor() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(json!({ "email_address": ["alice@example.com"], "backup_codes": ["abcd-1234-efgh"] })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (token, id, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    let landing = location(&callback(&app, &query).await).to_owned();
    let (token, state) = claim(&app, &token, &id, &landing).await;
    assert_eq!(
        state["response"]["status"], "needs_second_factor",
        "{state}"
    );
    assert_eq!(state["client"]["sessions"], json!([]));
    let done = app
        .sign_in_step(
            &token,
            &id,
            "attempt_second_factor",
            &[("strategy", "backup_code"), ("code", "abcd1234efgh")],
        )
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn enabled_providers_are_advertised_and_accounts_can_be_unlinked() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    let env = app.fapi("GET", "/v1/environment", "", &[]).await.body;
    assert_eq!(
        env["user_settings"]["social"]["oauth_github"]["enabled"],
        true
    );
    assert!(env["user_settings"]["social"].get("oauth_google").is_none());
    let user_id = app.user("alice@example.com", None).await;
    let (_, _, res) = app.identify("alice@example.com").await;
    let strategies: Vec<&str> = res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect();
    assert!(strategies.contains(&"oauth_github"), "{strategies:?}");

    let (_, _, url) = start(&app, None).await;
    let query = approve(&idp, &url, "alice").await;
    callback(&app, &query).await;
    let user = app
        .bapi("GET", &format!("/v1/users/{user_id}"), None)
        .await
        .body;
    let account = user["external_accounts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/users/{user_id}/external_accounts/{account}");
    let deleted = app.bapi("DELETE", &path, None).await;
    assert_eq!(deleted.body["deleted"], true, "{}", deleted.body);
    app.bapi("DELETE", &path, None)
        .await
        .assert_error(404, "resource_not_found", None);
    let user = app
        .bapi("GET", &format!("/v1/users/{user_id}"), None)
        .await
        .body;
    assert_eq!(user["external_accounts"], json!([]));
}

/// Starts an OAuth sign-in as a browser does (the `__client` cookie);
/// returns (the cookie header, sign-in id, provider URL).
async fn start_in_browser(app: &TestApp) -> (String, String, String) {
    let body = serde_urlencoded::to_string([
        ("strategy", "oauth_github"),
        ("redirect_url", BACK),
        ("action_complete_redirect_url", DONE),
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
    assert_eq!(res.status, 200, "{}", res.body);
    let cookie = res
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let v = &res.body["response"]["first_factor_verification"];
    (
        cookie,
        res.body["response"]["id"].as_str().unwrap().to_owned(),
        v["external_verification_redirect_url"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_browser_flow_completes_only_in_the_browser_that_started_it() {
    let Setup { app, idp } = setup(InstanceSettings::default()).await;
    app.user("alice@example.com", None).await;

    // Sent a stranger's link, the victim's browser (without that cookie)
    // completes nothing on the stranger's client.
    let (stranger_cookie, id, url) = start_in_browser(&app).await;
    let query = approve(&idp, &url, "alice").await;
    assert_eq!(
        location(&callback(&app, &query).await),
        failed_back("oauth_client_mismatch")
    );
    let state = app
        .request(
            "GET",
            &format!("/v1/client/sign_ins/{id}"),
            &[("cookie", &stranger_cookie)],
            None,
        )
        .await;
    let v = &state.body["response"]["first_factor_verification"];
    assert_eq!(v["status"], "failed", "{}", state.body);
    assert_eq!(v["error"]["code"], "oauth_client_mismatch");
    assert_eq!(state.body["client"]["sessions"], json!([]));

    // The browser that started it completes it.
    let (cookie, id, url) = start_in_browser(&app).await;
    let query = approve(&idp, &url, "alice").await;
    let res = app
        .request(
            "GET",
            &format!("/v1/oauth_callback{query}"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(location(&res), DONE);
    // The client's token rotated with the session: the browser gets it on
    // the redirect, and the old cookie no longer names the client.
    let rotated = res
        .header("set-cookie")
        .expect("a new __client cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, cookie);
    let state = app
        .request(
            "GET",
            &format!("/v1/client/sign_ins/{id}"),
            &[("cookie", &rotated)],
            None,
        )
        .await;
    assert_eq!(
        state.body["response"]["status"], "complete",
        "{}",
        state.body
    );
    let old = app
        .request("GET", "/v1/client", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(old.body["response"], Value::Null, "{}", old.body);

    // A form POST from the provider's site arrives without the cookie: it is
    // sent back as a GET, which the browser makes with its cookie.
    let (_, _, url) = start_in_browser(&app).await;
    let query = approve(&idp, &url, "alice").await;
    let form = query.trim_start_matches('?').to_owned();
    let res = app
        .request(
            "POST",
            "/v1/oauth_callback",
            &[],
            Some(("application/x-www-form-urlencoded", form)),
        )
        .await;
    let again = location(&res);
    assert!(again.starts_with(&format!("{CALLBACK}?")), "{again}");
    assert!(
        again.contains("state=") && again.contains("code="),
        "{again}"
    );
}

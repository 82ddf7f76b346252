//! Clerk's handshake: `GET /v1/client/handshake` sends the browser back to
//! the application with cookie directives, which its server redeems through
//! `GET /v1/clients/handshake_payload` (or reads from a signed token).

use std::time::Duration;

use latch_core::model::{Environment, InstanceSettings};
use serde_json::Value;

use crate::support::{ORIGIN, PUBLISHABLE_KEY, Resp, TestApp, jwt_claims};

const PAGE: &str = "http://localhost:3000/dashboard?tab=1";

/// The suffix Clerk's SDKs give this instance's cookie names.
fn suffix() -> String {
    latch_api::handshake_cookie_suffix(PUBLISHABLE_KEY)
}

/// A handshake for `PAGE` with the browser's `__client` cookie (if any)
/// and `extra` query pairs.
async fn handshake(app: &TestApp, cookie: Option<&str>, extra: &str) -> Resp {
    let url = urlencode(PAGE);
    let path = format!(
        "/v1/client/handshake?redirect_url={url}&format=nonce&suffixed_cookies=false&__clerk_hs_reason=client-uat-but-no-session-token{extra}"
    );
    let cookie = cookie.map(|t| format!("__client={t}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
    app.request("GET", &path, &headers, None).await
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}

/// The nonce a handshake sent the browser back with, to `PAGE`.
fn nonce_of(res: &Resp) -> String {
    assert_eq!(res.status, 307, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let location = res.header("location").unwrap();
    let (page, nonce) = location.split_once("&__clerk_handshake_nonce=").unwrap();
    assert_eq!(page, PAGE);
    nonce.to_owned()
}

async fn payload(app: &TestApp, nonce: &str) -> Resp {
    app.bapi(
        "GET",
        &format!("/v1/clients/handshake_payload?nonce={nonce}"),
        None,
    )
    .await
}

/// The directive setting `name`, and its value.
fn directive<'a>(directives: &'a [String], name: &str) -> (&'a str, &'a str) {
    let line = directives
        .iter()
        .find(|d| d.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {directives:?}"));
    let value = line[name.len() + 1..].split(';').next().unwrap();
    (line.as_str(), value)
}

fn directives_of(res: &Resp) -> Vec<String> {
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    serde_json::from_value(res.body["directives"].clone()).unwrap()
}

#[tokio::test]
async fn a_signed_in_browser_comes_back_with_a_fresh_session_token_and_client_uat() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let nonce = nonce_of(&handshake(&app, Some(&token), "").await);
    let directives = directives_of(&payload(&app, &nonce).await);
    let sfx = suffix();
    for name in ["__session", "__client_uat", "__clerk_db_jwt"] {
        let (plain, value) = directive(&directives, name);
        let (suffixed, same) = directive(&directives, &format!("{name}_{sfx}"));
        assert_eq!(value, same, "{name}: both names carry one value");
        for line in [plain, suffixed] {
            assert!(
                line.contains("; Path=/") && line.contains("SameSite=Lax"),
                "{line}"
            );
            assert!(!line.contains("HttpOnly"), "clerk-js rewrites {line}");
        }
    }
    let (_, jwt) = directive(&directives, "__session");
    let claims = jwt_claims(jwt);
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["sid"], session.as_str());
    assert_eq!(claims["azp"], ORIGIN);
    let (_, uat) = directive(&directives, "__client_uat");
    let uat: i64 = uat.parse().unwrap();
    assert!(
        uat > 0 && uat <= claims["iat"].as_i64().unwrap(),
        "{uat} vs {claims}"
    );
    // A page reloaded before clerk-js takes the nonce out of its URL
    // redeems it again; a few times, no more.
    for _ in 1..latch_core::service::HANDSHAKE_NONCE_REDEMPTIONS {
        assert_eq!(payload(&app, &nonce).await.status, 200);
    }
    payload(&app, &nonce)
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn a_signed_out_browser_comes_back_with_its_cookies_cleared() {
    let app = TestApp::new().await;
    for cookie in [None, Some("a token that names nothing")] {
        let nonce = nonce_of(&handshake(&app, cookie, "").await);
        let directives = directives_of(&payload(&app, &nonce).await);
        let (line, value) = directive(&directives, "__session");
        assert_eq!(value, "");
        assert!(line.contains("Max-Age=0"), "{line}");
        assert_eq!(directive(&directives, "__client_uat").1, "0");
        // A development instance: the server-side SDKs also want a
        // development browser.
        assert!(!directive(&directives, "__clerk_db_jwt").1.is_empty());
    }
    // After signing out, the same.
    app.user("ada@example.com", None).await;
    let (token, _) = app.sign_in("ada@example.com").await;
    let res = app.fapi("DELETE", "/v1/client/sessions", &token, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let nonce = nonce_of(&handshake(&app, Some(&token), "").await);
    assert_eq!(
        directive(&directives_of(&payload(&app, &nonce).await), "__client_uat").1,
        "0"
    );
}

#[tokio::test]
async fn the_applications_current_token_chooses_among_the_clients_own_sessions_only() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (token, ada) = app.sign_in("ada@example.com").await;
    // A second session on the same client (multi-session), then Bob's own
    // client, whose session this browser must never get.
    let res = app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            &token,
            &[
                ("strategy", "password"),
                ("identifier", "bob@example.com"),
                ("password", crate::support::PASSWORD),
            ],
        )
        .await;
    let token = res
        .header("authorization")
        .filter(|t| !t.is_empty())
        .map_or(token, str::to_owned);
    let (_, elsewhere) = app.sign_in("bob@example.com").await;
    let current = |sid: &str| {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "&__session={}.{}.x",
            b64("{}"),
            b64(&format!(r#"{{"sid":"{sid}"}}"#))
        )
    };
    let nonce = nonce_of(&handshake(&app, Some(&token), &current(&ada)).await);
    let directives = directives_of(&payload(&app, &nonce).await);
    assert_eq!(
        jwt_claims(directive(&directives, "__session").1)["sid"],
        ada.as_str()
    );
    let nonce = nonce_of(&handshake(&app, Some(&token), &current(&elsewhere)).await);
    let directives = directives_of(&payload(&app, &nonce).await);
    let sid = jwt_claims(directive(&directives, "__session").1)["sid"].clone();
    assert_ne!(
        sid,
        Value::from(elsewhere.as_str()),
        "another client's session is never handed out"
    );
}

#[tokio::test]
async fn format_token_carries_the_directives_in_a_jwt_of_the_instance_key() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, _) = app.sign_in("ada@example.com").await;
    let path = format!(
        "/v1/client/handshake?redirect_url={}&format=token",
        urlencode(PAGE)
    );
    let cookie = format!("__client={token}");
    let res = app
        .request("GET", &path, &[("cookie", &cookie)], None)
        .await;
    assert_eq!(res.status, 307, "{}", res.body);
    let location = res.header("location").unwrap();
    let jwt = location.split_once("&__clerk_handshake=").unwrap().1;
    let header: Value = {
        use base64::Engine as _;
        let h = jwt.split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap()
    };
    let jwks = app
        .request("GET", "/.well-known/jwks.json", &[], None)
        .await
        .body;
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    let directives = jwt_claims(jwt)["handshake"].clone();
    assert!(
        directives
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("__session=ey"))
    );
}

#[tokio::test]
async fn a_handshake_goes_only_to_an_allowed_origin_and_refuses_bad_input() {
    let app = TestApp::new().await;
    for (query, code, param) in [
        ("format=nonce", "form_param_nil", "redirect_url"),
        (
            "redirect_url=https%3A%2F%2Fevil.example%2F",
            "form_param_value_invalid",
            "redirect_url",
        ),
        (
            "redirect_url=javascript%3Aalert(1)",
            "form_param_value_invalid",
            "redirect_url",
        ),
        (
            "redirect_url=%2Frelative",
            "form_param_value_invalid",
            "redirect_url",
        ),
        (
            "redirect_url=http%3A%2F%2Flocalhost%3A3000%2F&format=cookie",
            "form_param_value_invalid",
            "format",
        ),
    ] {
        let res = app
            .request("GET", &format!("/v1/client/handshake?{query}"), &[], None)
            .await;
        res.assert_error(422, code, Some(param));
        assert!(res.header("location").is_none(), "{query}");
    }
}

#[tokio::test]
async fn the_payload_is_the_secret_keys_only_and_lives_a_minute() {
    let app = TestApp::new().await;
    let nonce = nonce_of(&handshake(&app, None, "").await);
    let path = format!("/v1/clients/handshake_payload?nonce={nonce}");
    let res = app.request("GET", &path, &[], None).await;
    assert_eq!(res.status, 401, "{}", res.body);
    app.bapi("GET", "/v1/clients/handshake_payload", None)
        .await
        .assert_error(422, "form_param_nil", Some("nonce"));
    payload(&app, "v1.not-a-nonce")
        .await
        .assert_error(404, "resource_not_found", None);
    app.clock.advance(Duration::from_secs(61));
    payload(&app, &nonce)
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn a_production_instance_sets_no_development_browser() {
    let app = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..InstanceSettings::default()
    })
    .await;
    let nonce = nonce_of(&handshake(&app, None, "&__clerk_db_jwt=ignored").await);
    let directives = directives_of(&payload(&app, &nonce).await);
    assert!(
        directives.iter().all(|d| !d.starts_with("__clerk_db_jwt")),
        "{directives:?}"
    );
}

/// Every `Set-Cookie` line of an answer.
fn set_cookies(res: &Resp) -> Vec<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_browsers_answers_carry_client_uat_as_its_sessions_change() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let form = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", "ada@example.com"),
        ("password", crate::support::PASSWORD),
    ])
    .unwrap();
    let body = Some(("application/x-www-form-urlencoded", form));
    let res = app.request("POST", "/v1/client/sign_ins", &[], body).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let cookies = set_cookies(&res);
    let client = cookies.iter().find(|c| c.starts_with("__client=")).unwrap();
    let token = client["__client=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (line, uat) = directive(&cookies, "__client_uat");
    let uat: i64 = uat.parse().unwrap();
    assert!(uat > 0, "{line}");
    assert!(!line.contains("HttpOnly"), "{line}");
    assert_eq!(
        directive(&cookies, &format!("__client_uat_{}", suffix())).1,
        uat.to_string()
    );
    // The token the answer carries is never older than it.
    let iat = jwt_claims(
        res.body["client"]["sessions"][0]["last_active_token"]["jwt"]
            .as_str()
            .unwrap(),
    )["iat"]
        .as_i64()
        .unwrap();
    assert!(uat <= iat, "{uat} > {iat}");

    // Signed out: 0.
    let cookie = format!("__client={token}");
    let res = app
        .request(
            "DELETE",
            "/v1/client/sessions",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(directive(&set_cookies(&res), "__client_uat").1, "0");
    // Native apps are not browsers: no cookie.
    let res = app.fapi("GET", "/v1/client", &token, &[]).await;
    assert!(set_cookies(&res).is_empty());
}

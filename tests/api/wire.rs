//! What the wire carries is real: pictures that load, the account's history,
//! the attempts left, how and where a session started, and its token.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ORIGIN, PASSWORD, Resp, TestApp, jwt_claims};

const ISSUER: &str = "https://clerk.latch.test";

/// `url`'s path and query, checked to be served by this instance.
fn local_path(url: &str) -> &str {
    url.strip_prefix(ISSUER)
        .unwrap_or_else(|| panic!("{url} is not served by the instance"))
}

async fn sign_in_from(app: &TestApp, user_agent: &str, identifier: &str) -> Resp {
    let body = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", identifier),
        ("password", PASSWORD),
    ])
    .unwrap();
    app.request_from(
        "198.51.100.23:5000",
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("user-agent", user_agent),
            ("origin", ORIGIN),
        ],
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await
}

/// Ada Lovelace, with a password, as the Backend API shows her.
async fn ada(app: &TestApp) -> Value {
    let res = app
        .post_user(json!({
            "email_address": ["ada@example.com"],
            "password": PASSWORD,
            "first_name": "Ada",
            "last_name": "Lovelace",
        }))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

#[tokio::test]
async fn every_picture_is_a_url_that_loads() {
    let app = TestApp::new().await;
    let user = ada(&app).await;
    assert_eq!(user["has_image"], false);
    let url = user["image_url"].as_str().unwrap();
    assert_eq!(url, format!("{ISSUER}/v1/avatars/default.svg?initials=AL"));
    assert_eq!(user["profile_image_url"], url);
    let picture = app.request("GET", local_path(url), &[], None).await;
    assert_eq!(picture.status, 200);
    assert_eq!(picture.header("content-type"), Some("image/svg+xml"));
    assert!(picture.body.as_str().unwrap().contains(">AL<"));

    // The session's public view and the sign-in's user data name pictures too.
    let (token, _) = app.sign_in("ada@example.com").await;
    let client = app.fapi("GET", "/v1/client", &token, &[]).await.body;
    let session = &client["response"]["sessions"][0];
    assert_eq!(session["public_user_data"]["image_url"], url);
    assert_eq!(session["public_user_data"]["identifier"], "ada@example.com");
    assert_eq!(session["user"]["image_url"], url);
    let (_, _, identified) = app.identify("ada@example.com").await;
    assert_eq!(identified.body["response"]["user_data"]["image_url"], url);

    // Under enumeration protection a sign-in shows no name before its first
    // factor, real account or not: the picture is the same silhouette.
    let mut settings = app.settings().clone();
    settings.enumeration_protection = true;
    let protected = TestApp::with(settings).await;
    ada(&protected).await;
    let silhouette = format!("{ISSUER}/v1/avatars/default.svg");
    for identifier in ["ada@example.com", "nobody@example.com"] {
        let (_, _, identified) = protected.identify(identifier).await;
        assert_eq!(
            identified.body["response"]["user_data"]["image_url"],
            silhouette.as_str()
        );
    }
    let picture = app.request("GET", local_path(&silhouette), &[], None).await;
    assert_eq!(picture.status, 200);
}

#[tokio::test]
async fn the_user_shows_when_its_password_and_two_factor_changed() {
    let app = TestApp::new().await;
    let id = app.user("grace@example.com", None).await;
    let created = app.user_json(&id).await;
    assert_eq!(created["password_last_updated_at"], created["created_at"]);
    assert_eq!(created["mfa_enabled_at"], Value::Null);
    assert_eq!(created["mfa_disabled_at"], Value::Null);

    app.clock.advance(Duration::from_secs(60));
    let path = format!("/v1/users/{id}");
    let res = app
        .bapi(
            "PATCH",
            &path,
            Some(json!({ "password": "another good password" })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["password_last_updated_at"].as_i64(),
        Some(created["created_at"].as_i64().unwrap() + 60_000)
    );

    app.clock.advance(Duration::from_secs(60));
    let res = app
        .bapi(
            "PATCH",
            &path,
            Some(json!({ "backup_codes": ["k7m2p9qa", "x3n8v1cd"] })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let enabled_at = res.body["mfa_enabled_at"].as_i64().expect("stamped");
    assert_eq!(
        enabled_at,
        created["created_at"].as_i64().unwrap() + 120_000
    );
    assert_eq!(res.body["two_factor_enabled"], true);

    app.clock.advance(Duration::from_secs(60));
    let res = app.bapi("DELETE", &format!("{path}/mfa"), None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let user = app.user_json(&id).await;
    assert_eq!(user["two_factor_enabled"], false);
    assert_eq!(user["mfa_enabled_at"].as_i64(), Some(enabled_at));
    assert_eq!(user["mfa_disabled_at"].as_i64(), Some(enabled_at + 60_000));
    // Another profile change touches neither.
    let res = app
        .bapi("PATCH", &path, Some(json!({ "first_name": "Grace" })))
        .await;
    assert_eq!(
        res.body["mfa_disabled_at"].as_i64(),
        Some(enabled_at + 60_000)
    );
    assert_eq!(
        res.body["password_last_updated_at"].as_i64(),
        Some(created["created_at"].as_i64().unwrap() + 60_000)
    );
}

#[tokio::test]
async fn attempts_remaining_count_down_and_reset_with_a_sign_in() {
    let app = TestApp::new().await;
    let id = app.user("lin@example.com", None).await;
    let max = app.settings().lockout_attempts;
    assert_eq!(
        app.user_json(&id).await["verification_attempts_remaining"],
        max
    );
    for left in [max - 1, max - 2] {
        let res = app
            .new_sign_in(&[
                ("strategy", "password"),
                ("identifier", "lin@example.com"),
                ("password", "not the password"),
            ])
            .await;
        res.assert_error(422, "form_password_incorrect", Some("password"));
        assert_eq!(
            app.user_json(&id).await["verification_attempts_remaining"],
            left
        );
    }
    app.sign_in("lin@example.com").await;
    assert_eq!(
        app.user_json(&id).await["verification_attempts_remaining"],
        max
    );
    // With lockout off there is no count to show.
    let mut settings = app.settings().clone();
    settings.lockout_attempts = 0;
    let off = TestApp::with(settings).await;
    let id = off.user("lin@example.com", None).await;
    assert_eq!(
        off.user_json(&id).await["verification_attempts_remaining"],
        Value::Null
    );
}

#[tokio::test]
async fn a_session_carries_its_token_its_strategy_and_where_it_started() {
    let app = TestApp::new().await;
    app.user("mae@example.com", None).await;
    let agent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
    let res = sign_in_from(&app, agent, "mae@example.com").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let client = &res.body["client"];
    assert_eq!(client["last_authentication_strategy"], "password");
    let session = &client["sessions"][0];
    let session_id = session["id"].as_str().unwrap();
    // The last active session comes with a token for the page that asked.
    let token = &session["last_active_token"];
    assert_eq!(token["object"], "token");
    let claims = jwt_claims(token["jwt"].as_str().unwrap());
    assert_eq!(claims["sid"], session_id);
    assert_eq!(claims["azp"], ORIGIN);
    assert_eq!(claims["iss"], ISSUER);

    // The Backend API shows where the session started.
    let listed = app
        .bapi("GET", &format!("/v1/sessions/{session_id}"), None)
        .await;
    assert_eq!(
        listed.body["latest_activity"],
        json!({
            "object": "session_activity",
            "id": session_id,
            "device_type": "Macintosh",
            "is_mobile": false,
            "browser_name": "Safari",
            "browser_version": "17.5",
            "ip_address": "198.51.100.23",
            "city": "San Francisco",
            "country": "US",
        })
    );

    // Later answers reuse the token while more than half its life is left.
    let client_token = res.token();
    let read_token =
        |res: Resp| res.body["response"]["sessions"][0]["last_active_token"]["jwt"].clone();
    let first = read_token(app.fapi("GET", "/v1/client", &client_token, &[]).await);
    // Without an Origin the token is for the Frontend API itself.
    assert_eq!(jwt_claims(first.as_str().unwrap())["azp"], ISSUER);
    app.clock.advance(Duration::from_secs(29));
    let again = read_token(app.fapi("GET", "/v1/client", &client_token, &[]).await);
    assert_eq!(again, first);
    app.clock.advance(Duration::from_secs(2));
    let fresh = read_token(app.fapi("GET", "/v1/client", &client_token, &[]).await);
    assert_ne!(fresh, first);
    assert_eq!(
        jwt_claims(fresh.as_str().unwrap())["iat"].as_i64(),
        Some(jwt_claims(first.as_str().unwrap())["iat"].as_i64().unwrap() + 31)
    );
    // Once the client has changed in a later second (here a touch, as
    // `setActive` sends), its answer carries a token issued no earlier:
    // server-side SDKs refuse a token whose `iat` is before `__client_uat`.
    app.clock.advance(Duration::from_secs(2));
    let touched = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{session_id}/touch"),
            &client_token,
            &[],
        )
        .await;
    assert_eq!(touched.status, 200, "{}", touched.body);
    let uat = touched.body["client"]["updated_at"].as_i64().unwrap() / 1000;
    let token = touched.body["client"]["sessions"][0]["last_active_token"]["jwt"].clone();
    assert_ne!(token, fresh);
    assert!(jwt_claims(token.as_str().unwrap())["iat"].as_i64().unwrap() >= uat);
    let token = touched.body["response"]["last_active_token"]["jwt"].clone();
    assert!(jwt_claims(token.as_str().unwrap())["iat"].as_i64().unwrap() >= uat);

    // An ended session has no token to carry; the strategy stays on the client.
    let ended = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{session_id}/end"),
            &client_token,
            &[],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.body["response"]["last_active_token"], Value::Null);
    assert_eq!(
        ended.body["client"]["last_authentication_strategy"],
        "password"
    );
}

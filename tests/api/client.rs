//! `/v1/environment`, `/v1/client`, `/v1/dev_browser`, cookies, CORS.

use latch_core::model::{Environment, InstanceSettings};

use crate::support::{ORIGIN, PASSWORD, TestApp};

#[tokio::test]
async fn environment_reflects_the_instance_settings() {
    let mut settings = InstanceSettings::default();
    settings.identifiers.username = false;
    settings.password_min_length = 12;
    let app = TestApp::with(settings).await;
    for method in ["GET", "PATCH"] {
        let res = app.fapi(method, "/v1/environment", "", &[]).await;
        assert_eq!(res.status, 200);
        let attrs = &res.body["user_settings"]["attributes"];
        assert_eq!(attrs["email_address"]["enabled"], true);
        assert_eq!(attrs["email_address"]["used_for_first_factor"], true);
        assert_eq!(attrs["username"]["enabled"], false);
        assert_eq!(attrs["password"]["enabled"], true);
        assert_eq!(
            res.body["user_settings"]["password_settings"]["min_length"],
            12
        );
        assert_eq!(
            res.body["display_config"]["instance_environment_type"],
            "development"
        );
        assert!(res.body.get("commerce_settings").is_none());
        assert_eq!(
            res.body["user_settings"]["attack_protection"]["enumeration_protection"]["enabled"],
            false
        );
    }
}

#[tokio::test]
async fn environment_says_when_enumeration_protection_is_on() {
    // @clerk/ui picks its flow by it: it must say what the instance does.
    let app = TestApp::with(InstanceSettings {
        enumeration_protection: true,
        ..InstanceSettings::default()
    })
    .await;
    let res = app.fapi("GET", "/v1/environment", "", &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["user_settings"]["attack_protection"]["enumeration_protection"]["enabled"], true,
        "{}",
        res.body["user_settings"]["attack_protection"]
    );
}

#[tokio::test]
async fn client_lifecycle_in_native_mode() {
    let app = TestApp::new().await;
    let res = app.fapi("GET", "/v1/client", "", &[]).await;
    assert_eq!(res.status, 200);
    assert!(res.body["response"].is_null() && res.body["client"].is_null());

    let created = app.fapi("PUT", "/v1/client", "", &[]).await;
    assert_eq!(created.status, 200);
    let token = created.token();
    assert_eq!(token.len(), 64);
    let id = created.body["client"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("client_"));
    assert_eq!(created.body["client"]["sessions"], serde_json::json!([]));

    let read = app.fapi("GET", "/v1/client", &token, &[]).await;
    assert_eq!(read.body["response"]["id"], id.as_str());
    assert_eq!(
        read.header("authorization"),
        None,
        "an unchanged token is not sent back"
    );

    // POST creates a client too; an unknown token names no client.
    assert_eq!(app.fapi("POST", "/v1/client", "", &[]).await.status, 200);
    assert!(app.fapi("GET", "/v1/client", "not-a-token", &[]).await.body["client"].is_null());

    let deleted = app.fapi("DELETE", "/v1/client", &token, &[]).await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.body["client"].is_null());
    assert_eq!(deleted.body["response"]["id"], id.as_str());
    assert!(app.fapi("GET", "/v1/client", &token, &[]).await.body["client"].is_null());
}

#[tokio::test]
async fn method_override_travels_as_post() {
    let app = TestApp::new().await;
    let token = app.fapi("PUT", "/v1/client", "", &[]).await.token();
    let res = app
        .fapi("POST", "/v1/client?_method=DELETE", &token, &[])
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body["client"].is_null());
    let bad = app.fapi("POST", "/v1/client?_method=TRACE", "", &[]).await;
    bad.assert_error(422, "form_param_value_invalid", Some("_method"));
}

#[tokio::test]
async fn cookie_mode_sets_and_rotates_an_http_only_client_cookie() {
    let app = TestApp::new().await;
    app.user("carol@example.com", None).await;
    let body = serde_urlencoded::to_string([("identifier", "carol@example.com")]).unwrap();
    let res = app
        .request(
            "POST",
            "/v1/client/sign_ins",
            &[("origin", ORIGIN)],
            Some(("application/x-www-form-urlencoded", body)),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let cookie = res.header("set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("__client="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let sign_in = res.body["response"]["id"].as_str().unwrap().to_owned();

    let attempt =
        serde_urlencoded::to_string([("strategy", "password"), ("password", PASSWORD)]).unwrap();
    let done = app
        .request(
            "POST",
            &format!("/v1/client/sign_ins/{sign_in}/attempt_first_factor"),
            &[("cookie", &pair), ("origin", ORIGIN)],
            Some(("application/x-www-form-urlencoded", attempt)),
        )
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    let rotated = done
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(
        rotated, pair,
        "completing a sign-in rotates the client token"
    );
    assert_eq!(done.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        done.header("access-control-allow-credentials"),
        Some("true")
    );

    let with_new = app
        .request("GET", "/v1/client", &[("cookie", &rotated)], None)
        .await;
    assert_eq!(
        with_new.body["client"]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let with_old = app
        .request("GET", "/v1/client", &[("cookie", &pair)], None)
        .await;
    assert!(
        with_old.body["client"].is_null(),
        "the old token no longer works"
    );

    let gone = app
        .request("DELETE", "/v1/client", &[("cookie", &rotated)], None)
        .await;
    assert!(gone.header("set-cookie").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn cors_is_for_configured_origins_only() {
    let app = TestApp::new().await;
    let ok = app
        .request("GET", "/v1/environment", &[("origin", ORIGIN)], None)
        .await;
    assert_eq!(ok.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(
        ok.header("access-control-expose-headers")
            .unwrap()
            .contains("clerk-db-jwt")
    );
    let other = app
        .request(
            "GET",
            "/v1/environment",
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(other.header("access-control-allow-credentials"), None);
    let preflight = app
        .request(
            "OPTIONS",
            "/v1/client/sign_ins",
            &[("origin", ORIGIN)],
            None,
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn dev_browser_identifies_the_client_and_keeps_its_token() {
    let app = TestApp::new().await;
    app.user("dave@example.com", Some("dave")).await;
    let db = app.request("POST", "/v1/dev_browser", &[], None).await;
    assert_eq!(db.status, 200);
    let jwt = db.body["id"].as_str().unwrap().to_owned();

    let client = app
        .request(
            "GET",
            &format!("/v1/client?__clerk_db_jwt={jwt}"),
            &[],
            None,
        )
        .await;
    assert_eq!(client.status, 200);
    assert!(
        client.body["client"]["id"]
            .as_str()
            .unwrap()
            .starts_with("client_")
    );

    let form = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", "dave"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let done = app
        .request(
            "POST",
            &format!("/v1/client/sign_ins?__clerk_db_jwt={jwt}"),
            &[],
            Some(("application/x-www-form-urlencoded", form)),
        )
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    // The dev browser's token is its identity: it stays through the sign-in.
    assert_eq!(done.header("clerk-db-jwt"), None);
    let after = app
        .request(
            "GET",
            &format!("/v1/client?__clerk_db_jwt={jwt}"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        after.body["client"]["sessions"].as_array().unwrap().len(),
        1
    );

    // Once its client is deleted the token names nothing: clerk-js starts over.
    app.request(
        "DELETE",
        &format!("/v1/client?__clerk_db_jwt={jwt}"),
        &[],
        None,
    )
    .await;
    let stale = app
        .request(
            "GET",
            &format!("/v1/client?__clerk_db_jwt={jwt}"),
            &[],
            None,
        )
        .await;
    stale.assert_error(401, "dev_browser_unauthenticated", None);
}

#[tokio::test]
async fn production_has_no_dev_browser() {
    let app = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    let res = app.request("POST", "/v1/dev_browser", &[], None).await;
    res.assert_error(404, "resource_not_found", None);
    let env = app.request("GET", "/v1/environment", &[], None).await;
    assert_eq!(
        env.body["display_config"]["instance_environment_type"],
        "production"
    );
}

#[tokio::test]
async fn cookie_requests_that_change_state_must_come_from_an_allowed_origin() {
    let app = TestApp::new().await;
    app.user("una@example.com", None).await;
    let form = || {
        Some((
            "application/x-www-form-urlencoded",
            "identifier=una%40example.com".to_owned(),
        ))
    };
    let evil = app
        .request(
            "POST",
            "/v1/client/sign_ins",
            &[("origin", "https://evil.example")],
            form(),
        )
        .await;
    evil.assert_error(403, "origin_invalid", None);
    assert!(evil.header("set-cookie").is_none(), "nothing was created");
    // The API's own origin and the configured ones are fine; so is no Origin at all.
    let own = app
        .request(
            "POST",
            "/v1/client/sign_ins",
            &[("origin", "http://latch.test"), ("host", "latch.test")],
            form(),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        app.request("POST", "/v1/client/sign_ins", &[("origin", ORIGIN)], form())
            .await
            .status,
        200
    );
    assert_eq!(
        app.request("POST", "/v1/client/sign_ins", &[], form())
            .await
            .status,
        200
    );
    // Reads and native requests carry no ambient credential and are not checked.
    assert_eq!(
        app.request(
            "GET",
            "/v1/client",
            &[("origin", "https://evil.example")],
            None
        )
        .await
        .status,
        200
    );
    let native = app
        .request(
            "POST",
            "/v1/client/sign_ins?_is_native=1",
            &[("origin", "https://evil.example"), ("authorization", "")],
            form(),
        )
        .await;
    assert_eq!(native.status, 200);
}

#[tokio::test]
async fn production_ignores_dev_browser_tokens_in_urls() {
    let app = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    let dev = TestApp::new().await;
    let jwt = dev.request("POST", "/v1/dev_browser", &[], None).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Whatever the parameter holds, production reads only the cookie.
    let res = app
        .request(
            "GET",
            &format!("/v1/client?__clerk_db_jwt={jwt}"),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body["client"].is_null());
    assert!(res.header("clerk-db-jwt").is_none());
}

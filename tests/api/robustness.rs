//! Whatever arrives, the answer is a Clerk error, never a crash or a 500.

use crate::support::{SECRET, TestApp};

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::new().await;
    app.request("GET", "/nope", &[], None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.request("GET", "/v1/client/unknown", &[], None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.request("DELETE", "/v1/environment", &[], None)
        .await
        .assert_error(405, "method_not_allowed", None);
    app.fapi("GET", "/v1/client/sign_ins", "", &[])
        .await
        .assert_error(405, "method_not_allowed", None);
    app.bapi("PUT", "/v1/users", None)
        .await
        .assert_error(405, "method_not_allowed", None);
    let health = app.request("GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::new().await;
    let answers = [
        app.request("GET", "/v1/environment", &[], None).await,
        app.request("GET", "/nope", &[], None).await,
        app.new_sign_in(&[("identifier", "x")]).await,
        app.bapi("GET", "/v1/users", None).await,
    ];
    for res in answers {
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(res.header(name), Some(value), "{name} on a {}", res.status);
        }
        // The test app serves plain HTTP.
        assert_eq!(res.header("strict-transport-security"), None);
    }
}

#[tokio::test]
async fn an_overlong_field_is_refused_naming_it_and_changes_nothing() {
    let app = TestApp::new().await;
    let long = "a".repeat(4097);
    app.bapi(
        "POST",
        "/v1/users",
        Some(serde_json::json!({ "email_address": ["long@example.com"], "first_name": long })),
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("first_name"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );
    app.new_sign_in(&[("strategy", "oauth_google"), ("redirect_url", &long)])
        .await
        .assert_error(422, "form_param_value_invalid", Some("redirect_url"));
    // At the limit, the field is read (and here judged on its own rules).
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({ "email_address": ["edge@example.com"], "first_name": "b".repeat(4096) })),
        )
        .await;
    assert_ne!(res.error().0, "form_param_value_invalid", "{}", res.body);
}

#[tokio::test]
async fn oversized_and_malformed_bodies() {
    let app = TestApp::new().await;
    let big = format!("identifier={}", "a".repeat(20 * 1024));
    let res = app
        .request(
            "POST",
            "/v1/client/sign_ins?_is_native=1",
            &[],
            Some(("application/x-www-form-urlencoded", big)),
        )
        .await;
    res.assert_error(413, "request_body_too_large", None);
    let auth = format!("Bearer {SECRET}");
    let res = app
        .request(
            "POST",
            "/v1/users",
            &[("authorization", &auth)],
            Some(("application/json", "{not json".into())),
        )
        .await;
    res.assert_error(422, "form_param_format_invalid", Some("body"));
    let res = app
        .request(
            "POST",
            "/v1/users",
            &[("authorization", &auth)],
            Some(("application/json", "[1,2]".into())),
        )
        .await;
    res.assert_error(422, "form_param_format_invalid", Some("body"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        0
    );
}

#[tokio::test]
async fn hostile_inputs_never_produce_a_server_error() {
    let app = TestApp::new().await;
    app.user("rita@example.com", Some("rita")).await;
    let nasty = [
        "",
        "\0",
        "%00",
        "' OR 1=1 --",
        "rita\u{0}",
        "😀@example.com",
        "+",
        "+1",
        "@",
        "a@b.c@d",
        "\u{202e}rita",
        &"x".repeat(5000),
        "rita@example.com\r\nX-Injected: 1",
        "%",
        "%zz",
    ];
    for value in nasty {
        for field in ["identifier", "password", "strategy"] {
            let res = app.new_sign_in(&[(field, value)]).await;
            assert!(
                res.status.is_client_error() || res.status.is_success(),
                "{field}={value:?}: {}",
                res.status
            );
        }
        if value.is_empty() {
            continue;
        }
        let res = app
            .fapi(
                "GET",
                &format!("/v1/client/sign_ins/{}", urlencode(value)),
                "",
                &[],
            )
            .await;
        assert!(res.status.is_client_error(), "{value:?}: {}", res.status);
        let res = app
            .bapi("GET", &format!("/v1/users/{}", urlencode(value)), None)
            .await;
        assert!(res.status.is_client_error(), "{value:?}: {}", res.status);
        let res = app
            .bapi(
                "POST",
                "/v1/users",
                Some(serde_json::json!({ "email_address": [value], "username": value })),
            )
            .await;
        assert!(res.status.is_client_error(), "{value:?}: {}", res.status);
    }
    let raw_bodies = [
        "a=%ZZ",
        "&&&==",
        "identifier",
        "identifier[]=a&identifier[]=b",
        "\u{0}\u{1}",
    ];
    for body in raw_bodies {
        let res = app
            .request(
                "POST",
                "/v1/client/sign_ins?_is_native=1",
                &[],
                Some(("application/x-www-form-urlencoded", body.into())),
            )
            .await;
        assert!(!res.status.is_server_error(), "{body:?}: {}", res.status);
    }
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

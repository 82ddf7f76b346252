//! Rate limits over HTTP: per client IP (through trusted proxies only) and
//! per code destination, answered 429 with `Retry-After`, counted in the
//! SQLite file.

use latch_core::model::{InstanceSettings, RateLimit, RateLimitSettings};

use crate::support::{PASSWORD, Resp, TestApp};

fn limits(limits: RateLimitSettings) -> InstanceSettings {
    InstanceSettings {
        rate_limits: limits,
        ..InstanceSettings::default()
    }
}

fn only(f: impl FnOnce(&mut RateLimitSettings)) -> InstanceSettings {
    let mut l = RateLimitSettings::OFF;
    f(&mut l);
    limits(l)
}

/// `POST /v1/client/sign_ins` from `remote`, with extra headers.
async fn create_from(app: &TestApp, remote: &str, headers: &[(&str, &str)]) -> Resp {
    let mut all = vec![("authorization", "")];
    all.extend_from_slice(headers);
    app.request_from(
        remote,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &all,
        Some((
            "application/x-www-form-urlencoded",
            "identifier=amy%40example.com".into(),
        )),
    )
    .await
}

fn assert_throttled(res: &Resp, window_secs: u64) {
    res.assert_error(429, "too_many_requests", None);
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=window_secs).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn clerks_defaults_allow_five_sign_ins_per_ten_seconds_per_address() {
    let app = TestApp::with_rate_limits(InstanceSettings::default()).await;
    app.user("amy@example.com", None).await;
    for _ in 0..5 {
        let res = create_from(&app, "192.0.2.1:5000", &[]).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    let sixth = create_from(&app, "192.0.2.1:5001", &[]).await;
    assert_throttled(&sixth, 10);
    // Another address has its own allowance.
    let other = create_from(&app, "192.0.2.2:5000", &[]).await;
    assert_eq!(other.status, 200, "{}", other.body);
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::with_rate_limits(only(|l| {
        l.create_sign_in = RateLimit::per_seconds(2, 60);
    }))
    .await;
    app.user("amy@example.com", None).await;
    for fake in ["198.51.100.1", "198.51.100.2"] {
        let res = create_from(&app, "192.0.2.9:1", &[("x-forwarded-for", fake)]).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    let res = create_from(&app, "192.0.2.9:1", &[("x-forwarded-for", "198.51.100.3")]).await;
    assert_throttled(&res, 60);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() {
    let app = TestApp::with_rate_limits(only(|l| {
        l.create_sign_in = RateLimit::per_seconds(1, 60);
    }))
    .await;
    app.user("amy@example.com", None).await;
    // 10.0.0.0/8 is the test app's proxy network.
    for client in ["198.51.100.1", "198.51.100.2"] {
        let res = create_from(&app, "10.1.2.3:1", &[("x-forwarded-for", client)]).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    // A client that forges a first entry is still read from the right.
    let res = create_from(
        &app,
        "10.1.2.3:1",
        &[("x-forwarded-for", "203.0.113.50, 198.51.100.1")],
    )
    .await;
    assert_throttled(&res, 60);
}

#[tokio::test]
async fn attempts_share_one_allowance_and_the_refused_one_changes_nothing() {
    let app = TestApp::with_rate_limits(only(|l| {
        l.attempt = RateLimit::per_seconds(3, 10);
    }))
    .await;
    app.user("amy@example.com", None).await;
    let (token, id, _) = app.identify("amy@example.com").await;
    let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    for _ in 0..3 {
        let res = app
            .fapi(
                "POST",
                &path,
                &token,
                &[("strategy", "password"), ("password", "not the password")],
            )
            .await;
        res.assert_error(422, "form_password_incorrect", Some("password"));
    }
    // The right password, past the allowance, is refused before it is
    // checked: the sign-in is still waiting for its first factor.
    let res = app
        .fapi(
            "POST",
            &path,
            &token,
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    assert_throttled(&res, 10);
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(read.body["response"]["status"], "needs_first_factor");
}

#[tokio::test]
async fn codes_to_one_address_are_limited_whichever_client_asks() {
    let app = TestApp::with_rate_limits(only(|l| {
        l.codes_per_destination = RateLimit::per_seconds(2, 600);
    }))
    .await;
    app.user("amy@example.com", None).await;
    let mut last = None;
    for _ in 0..3 {
        // A new sign-in each time, so the per-sign-in resend cooldown is no help.
        let (token, id, res) = app.identify("amy@example.com").await;
        let email_id = res.body["response"]["supported_first_factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["strategy"] == "email_code")
            .unwrap()["email_address_id"]
            .as_str()
            .unwrap()
            .to_owned();
        last = Some(
            app.sign_in_step(
                &token,
                &id,
                "prepare_first_factor",
                &[("strategy", "email_code"), ("email_address_id", &email_id)],
            )
            .await,
        );
    }
    assert_throttled(&last.unwrap(), 600);
    assert_eq!(app.codes.count(), 2, "the third code was never sent");
}

/// A native request from `remote` with `token` ("" for none) and no body.
async fn native_from(app: &TestApp, remote: &str, method: &str, path: &str, token: &str) -> Resp {
    app.request_from(
        remote,
        method,
        &format!("{path}?_is_native=1"),
        &[("authorization", token)],
        None,
    )
    .await
}

/// Past every lifetime, how many clients housekeeping finds to remove: all
/// there are, when none holds a session.
async fn clients_made(app: &TestApp) -> u64 {
    app.clock
        .advance(std::time::Duration::from_secs(2 * 86_400));
    app.purge().await.1
}

fn new_clients(requests: u32) -> InstanceSettings {
    only(|l| l.create_client = RateLimit::per_seconds(requests, 60))
}

#[tokio::test]
async fn creating_clients_is_limited_per_address_and_a_refused_one_is_never_made() {
    let app = TestApp::with_rate_limits(new_clients(2)).await;
    for method in ["POST", "PUT"] {
        let res = native_from(&app, "192.0.2.20:1", method, "/v1/client", "").await;
        assert_eq!(res.status, 200, "{method}: {}", res.body);
        assert!(!res.token().is_empty());
    }
    for method in ["POST", "PUT"] {
        let res = native_from(&app, "192.0.2.20:2", method, "/v1/client", "").await;
        assert_throttled(&res, 60);
        assert_eq!(
            res.header("authorization"),
            None,
            "no token for a refused client"
        );
    }
    // Another address has its own allowance.
    let other = native_from(&app, "192.0.2.21:1", "POST", "/v1/client", "").await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(
        clients_made(&app).await,
        3,
        "the refused requests made nothing"
    );
}

#[tokio::test]
async fn development_browsers_share_the_allowance_of_new_clients() {
    let app = TestApp::with_rate_limits(new_clients(2)).await;
    let ip = "192.0.2.30:1";
    let res = native_from(&app, ip, "POST", "/v1/client", "").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .request_from(ip, "POST", "/v1/dev_browser", &[], None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .request_from(ip, "POST", "/v1/dev_browser", &[], None)
        .await;
    assert_throttled(&res, 60);
    assert!(res.body.get("token").is_none(), "{}", res.body);
    assert_eq!(clients_made(&app).await, 2);
}

#[tokio::test]
async fn a_sign_in_that_has_to_make_its_client_counts_a_new_client() {
    let app = TestApp::with_rate_limits(new_clients(1)).await;
    app.user("amy@example.com", None).await;
    let first = create_from(&app, "192.0.2.40:1", &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let token = first.token();
    // No token, or one that names no client: each would make a client.
    for presented in ["", "a token that names no client"] {
        let res = app
            .request_from(
                "192.0.2.40:2",
                "POST",
                "/v1/client/sign_ins?_is_native=1",
                &[("authorization", presented)],
                Some((
                    "application/x-www-form-urlencoded",
                    "identifier=amy%40example.com".into(),
                )),
            )
            .await;
        assert_throttled(&res, 60);
        assert_eq!(res.header("authorization"), None);
    }
    // The client it has makes no new one: sign-ins on it go on.
    let again = app
        .request_from(
            "192.0.2.40:3",
            "POST",
            "/v1/client/sign_ins?_is_native=1",
            &[("authorization", &token)],
            Some((
                "application/x-www-form-urlencoded",
                "identifier=amy%40example.com".into(),
            )),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(clients_made(&app).await, 1);
}

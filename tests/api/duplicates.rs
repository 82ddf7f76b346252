//! Ambiguous requests: a credential or a parameter given twice with two
//! values is refused, never resolved by picking one. A `__client` cookie
//! planted from a sibling subdomain (cookie tossing) sits beside the
//! browser's own; a proxy and the server could each read another of two
//! `authorization` headers, form fields or JSON keys. Also: the API's own
//! origin is its scheme, host and port.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{ORIGIN, PASSWORD, Resp, SECRET, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";

/// A cookie-mode sign-in for `email` on a new browser client: (the
/// browser's `__client=...` pair, the sign-in's id).
async fn browser_sign_in(app: &TestApp, email: &str) -> (String, String) {
    let body = serde_urlencoded::to_string([("identifier", email)]).unwrap();
    let res = app
        .request(
            "POST",
            "/v1/client/sign_ins",
            &[("origin", ORIGIN)],
            Some((FORM, body)),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let pair = res.header("set-cookie").unwrap().split(';').next().unwrap();
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    (pair.to_owned(), id)
}

/// A browser client with no sign-in: its `__client=...` pair.
async fn planted_client(app: &TestApp) -> String {
    let res = app
        .request("PUT", "/v1/client", &[("origin", ORIGIN)], None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let pair = res.header("set-cookie").unwrap().split(';').next().unwrap();
    pair.to_owned()
}

fn assert_ambiguous(res: &Resp, name: &str) {
    res.assert_error(401, "authentication_invalid", Some(name));
    assert!(res.header("set-cookie").is_none(), "{:?}", res.headers);
}

#[tokio::test]
async fn two_client_cookies_with_different_values_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    app.user("vic@example.com", None).await;
    let (own, sign_in) = browser_sign_in(&app, "vic@example.com").await;
    let planted = planted_client(&app).await;
    // Either order: a tossed cookie with a narrower path comes first.
    for cookies in [
        format!("{planted}; {own}"),
        format!("{own}; {planted}"),
        format!("{own}; theme=dark; {planted}"),
    ] {
        let read = app
            .request("GET", "/v1/client", &[("cookie", &cookies)], None)
            .await;
        assert_ambiguous(&read, "__client");
        let attempt =
            serde_urlencoded::to_string([("strategy", "password"), ("password", PASSWORD)])
                .unwrap();
        let step = app
            .request(
                "POST",
                &format!("/v1/client/sign_ins/{sign_in}/attempt_first_factor"),
                &[("cookie", &cookies), ("origin", ORIGIN)],
                Some((FORM, attempt)),
            )
            .await;
        assert_ambiguous(&step, "__client");
    }
    // The victim's sign-in did not move.
    let mine = app
        .request("GET", "/v1/client", &[("cookie", &own)], None)
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["response"]["sign_in"]["id"], sign_in.as_str());
    assert_eq!(
        mine.body["response"]["sign_in"]["status"],
        "needs_first_factor"
    );
    // The same cookie twice is not ambiguous.
    let twice = format!("{own}; {own}");
    let same = app
        .request("GET", "/v1/client", &[("cookie", &twice)], None)
        .await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.body["response"]["sign_in"]["id"], sign_in.as_str());
}

#[tokio::test]
async fn two_client_cookies_on_the_oauth_callback_are_refused() {
    let app = TestApp::new().await;
    let own = planted_client(&app).await;
    let planted = planted_client(&app).await;
    let cookies = format!("{planted}; {own}");
    let res = app
        .request(
            "GET",
            "/v1/oauth_callback?state=abc&code=xyz",
            &[("cookie", &cookies)],
            None,
        )
        .await;
    assert_ambiguous(&res, "__client");
}

#[tokio::test]
async fn a_credential_in_the_query_given_twice_is_refused() {
    let app = TestApp::new().await;
    let a = app.request("POST", "/v1/dev_browser", &[], None).await;
    let b = app.request("POST", "/v1/dev_browser", &[], None).await;
    let (a, b) = (
        a.body["id"].as_str().unwrap(),
        b.body["id"].as_str().unwrap(),
    );
    let path = format!("/v1/client?__clerk_db_jwt={a}&__clerk_db_jwt={b}");
    assert_ambiguous(
        &app.request("GET", &path, &[], None).await,
        "__clerk_db_jwt",
    );
    let path = format!("/v1/client?__clerk_db_jwt={a}&__clerk_db_jwt={a}");
    assert_eq!(app.request("GET", &path, &[], None).await.status, 200);
    let path = "/v1/client?_is_native=1&rotating_token_nonce=a&rotating_token_nonce=b";
    assert_ambiguous(
        &app.request("GET", path, &[("authorization", "")], None)
            .await,
        "rotating_token_nonce",
    );
}

/// One raw HTTP/1.1 request over TCP (the in-process client keeps one value
/// per header): its status and JSON body.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nhost: latch.test\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut got = String::new();
    stream.read_to_string(&mut got).await.unwrap();
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn code_and_param(body: &Value) -> (&str, &str) {
    let e = &body["errors"][0];
    (
        e["code"].as_str().unwrap_or_default(),
        e["meta"]["param_name"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn two_authorization_headers_or_two_client_cookie_headers_are_refused() {
    let app = TestApp::new().await;
    let server = app.serve(latch_api::ConnectionLimits::default()).await;
    // The right secret key first and another after: a proxy that reads the
    // last and the server the first would disagree about who called.
    let (status, body) = raw(
        server.addr,
        &format!(
            "GET /v1/users HTTP/1.1\r\nauthorization: Bearer {SECRET}\r\nauthorization: Bearer sk_test_other"
        ),
        "",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        code_and_param(&body),
        ("authentication_invalid", "authorization")
    );
    let (status, _) = raw(
        server.addr,
        &format!("GET /v1/users HTTP/1.1\r\nauthorization: Bearer {SECRET}"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    // A native client names its token in one header.
    let (status, body) = raw(
        server.addr,
        "GET /v1/client?_is_native=1 HTTP/1.1\r\nauthorization: one\r\nauthorization: two",
        "",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        code_and_param(&body),
        ("authentication_invalid", "authorization")
    );
    // Two cookie headers are read as one list.
    let own = planted_client(&app).await;
    let planted = planted_client(&app).await;
    let (status, body) = raw(
        server.addr,
        &format!("GET /v1/client HTTP/1.1\r\ncookie: {own}\r\ncookie: {planted}"),
        "",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        code_and_param(&body),
        ("authentication_invalid", "__client")
    );
    // Two origins or two content types: which one the checks saw is a guess.
    let (status, body) = raw(
        server.addr,
        &format!(
            "POST /v1/client/sign_ins HTTP/1.1\r\ncookie: {own}\r\norigin: {ORIGIN}\r\norigin: https://evil.example\r\ncontent-type: {FORM}"
        ),
        "identifier=x%40example.com",
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        code_and_param(&body),
        ("form_param_value_invalid", "origin")
    );
    let (status, body) = raw(
        server.addr,
        &format!(
            "POST /v1/users HTTP/1.1\r\nauthorization: Bearer {SECRET}\r\ncontent-type: application/json\r\ncontent-type: {FORM}"
        ),
        r#"{"email_address":["ct@example.com"]}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        code_and_param(&body),
        ("form_param_value_invalid", "content-type")
    );
}

#[tokio::test]
async fn a_form_field_or_query_parameter_given_twice_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    app.user("fay@example.com", None).await;
    app.user("gus@example.com", None).await;
    let res = app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            "",
            &[
                ("identifier", "fay@example.com"),
                ("identifier", "gus@example.com"),
            ],
        )
        .await;
    res.assert_error(422, "form_param_value_invalid", Some("identifier"));
    assert!(res.header("authorization").is_none(), "no client was made");
    // `_method` decides what a POST does.
    let id = app.user("hal@example.com", None).await;
    let auth = format!("Bearer {SECRET}");
    let res = app
        .request(
            "POST",
            &format!("/v1/users/{id}?_method=DELETE&_method=PATCH"),
            &[("authorization", &auth)],
            None,
        )
        .await;
    res.assert_error(422, "form_param_value_invalid", Some("_method"));
    assert_eq!(app.user_json(&id).await["id"], id.as_str(), "not deleted");
    // The same value twice, and list parameters, are fine.
    let res = app
        .fapi(
            "POST",
            "/v1/client/sign_ins",
            "",
            &[
                ("identifier", "fay@example.com"),
                ("identifier", "fay@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .bapi(
            "GET",
            "/v1/users?email_address=fay@example.com&email_address=gus@example.com",
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body.as_array().unwrap().len(), 2, "{}", res.body);
    let form = serde_urlencoded::to_string([
        ("email_address", "ivy@example.com"),
        ("email_address", "ivy2@example.com"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let res = app
        .request(
            "POST",
            "/v1/users",
            &[("authorization", &auth)],
            Some((FORM, form)),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["email_addresses"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_json_key_given_twice_is_refused_at_any_depth_and_changes_nothing() {
    let app = TestApp::new().await;
    let id = app.user("jo@example.com", None).await;
    let auth = format!("Bearer {SECRET}");
    let patch = |body: &'static str| {
        let auth = auth.clone();
        let path = format!("/v1/users/{id}");
        let app = &app;
        async move {
            app.request(
                "PATCH",
                &path,
                &[("authorization", &auth)],
                Some(("application/json", body.to_owned())),
            )
            .await
        }
    };
    let res = patch(r#"{"first_name":"Jo","first_name":"Mallory"}"#).await;
    res.assert_error(422, "form_param_value_invalid", Some("first_name"));
    let res = patch(r#"{"public_metadata":{"role":"user","role":"admin"}}"#).await;
    res.assert_error(422, "form_param_value_invalid", Some("role"));
    let user = app.user_json(&id).await;
    assert_eq!(user["first_name"], Value::Null, "{user}");
    assert_eq!(user["public_metadata"], json!({}), "{user}");
    // Distinct keys, and one key in two objects, are fine.
    let res = patch(r#"{"first_name":"Jo","public_metadata":{"first_name":"x"}}"#).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["first_name"], "Jo");
    // Not JSON at all is still its own error.
    let res = patch(r#"{"first_name":"#).await;
    res.assert_error(422, "form_param_format_invalid", Some("body"));
}

#[tokio::test]
async fn the_own_origin_is_scheme_host_and_port() {
    let app = TestApp::new().await;
    app.user("kim@example.com", None).await;
    let sign_in = |origin: &'static str, host: &'static str| {
        let app = &app;
        async move {
            app.request(
                "POST",
                "/v1/client/sign_ins",
                &[("origin", origin), ("host", host)],
                Some((FORM, "identifier=kim%40example.com".to_owned())),
            )
            .await
        }
    };
    // This instance is served over plain HTTP (its cookies are not Secure).
    assert_eq!(sign_in("http://latch.test", "latch.test").await.status, 200);
    assert_eq!(sign_in("HTTP://Latch.Test", "latch.test").await.status, 200);
    for (origin, host) in [
        ("https://latch.test", "latch.test"),
        ("http://latch.test:8080", "latch.test"),
        ("http://latch.test", "latch.test:8080"),
        ("http://evil.latch.test", "latch.test"),
    ] {
        let res = sign_in(origin, host).await;
        res.assert_error(403, "origin_invalid", None);
        assert!(res.header("set-cookie").is_none(), "{origin} {host}");
    }
}

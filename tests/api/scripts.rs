//! Clerk's browser bundles under `/npm/@clerk/...`, as Clerk's SDKs load
//! them: the range and the exact version, each file as it is in
//! `vendor/clerk/`, readable by a `crossorigin="anonymous"` script tag,
//! cached as long as its version allows and compressed when the client
//! takes gzip; and the page at `/`.

use std::io::Read;
use std::path::PathBuf;

use flate2::read::GzDecoder;
use latch_core::model::{Environment, InstanceSettings};
use warp::http::HeaderMap;

use crate::support::{ORIGIN, TestApp};

const CLERK_JS: &str = "/npm/@clerk/clerk-js@6/dist/clerk.browser.js";
const CLERK_JS_EXACT: &str = "/npm/@clerk/clerk-js@6.40.0/dist/clerk.browser.js";
const UI: &str = "/npm/@clerk/ui@1/dist/ui.browser.js";
const UI_EXACT: &str = "/npm/@clerk/ui@1.36.0/dist/ui.browser.js";
const JS: &str = "text/javascript; charset=utf-8";
const YEAR: &str = "public, max-age=31536000, immutable";
const FIVE_MINUTES: &str = "public, max-age=300";

/// `vendor/clerk/<folder>/dist/<file>` as it is in the repository.
fn vendored(folder: &str, file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vendor/clerk")
        .join(folder)
        .join("dist")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file of a vendored `dist/`, sorted.
fn vendored_files(folder: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vendor/clerk")
        .join(folder)
        .join("dist");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The headers every served file carries.
fn assert_script_headers(headers: &HeaderMap, cache: &str) {
    assert_eq!(header(headers, "content-type"), Some(JS));
    assert_eq!(header(headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
    assert_eq!(header(headers, "cache-control"), Some(cache));
    assert_eq!(header(headers, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(headers, "x-content-type-options"), Some("nosniff"));
    assert!(header(headers, "etag").is_some_and(|e| e.starts_with('"') && e.ends_with('"')));
}

#[tokio::test]
async fn the_ranges_and_the_exact_versions_serve_the_vendored_entries() {
    let app = TestApp::new().await;
    for (path, folder, file, cache) in [
        (
            CLERK_JS,
            "clerk-js-6.40.0",
            "clerk.browser.js",
            FIVE_MINUTES,
        ),
        (CLERK_JS_EXACT, "clerk-js-6.40.0", "clerk.browser.js", YEAR),
        (UI, "ui-1.36.0", "ui.browser.js", FIVE_MINUTES),
        (UI_EXACT, "ui-1.36.0", "ui.browser.js", YEAR),
    ] {
        let (status, headers, body) = app.request_bytes("GET", path, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_script_headers(&headers, cache);
        assert_eq!(header(&headers, "content-encoding"), None, "{path}");
        assert_eq!(body, vendored(folder, file), "{path}");
    }
}

#[tokio::test]
async fn every_vendored_file_is_served_under_both_versions_and_nothing_else_is() {
    let app = TestApp::new().await;
    let mut served = 0;
    for (folder, ranges) in [
        ("clerk-js-6.40.0", ["clerk-js@6", "clerk-js@6.40.0"]),
        ("ui-1.36.0", ["ui@1", "ui@1.36.0"]),
    ] {
        let files = vendored_files(folder);
        assert!(files.len() > 10, "{folder}: {files:?}");
        for file in &files {
            let embedded = latch_api::scripts::packages()
                .iter()
                .find(|p| folder.starts_with(p.short_name()))
                .and_then(|p| p.file(file));
            assert_eq!(embedded, Some(vendored(folder, file).as_slice()), "{file}");
            for range in ranges {
                let path = format!("/npm/@clerk/{range}/dist/{file}");
                let (status, headers, _) = app.request_bytes("HEAD", &path, &[]).await;
                assert_eq!(status, 200, "{path}");
                assert_eq!(header(&headers, "content-type"), Some(JS), "{path}");
                served += 1;
            }
        }
        let embedded = latch_api::scripts::packages()
            .iter()
            .find(|p| folder.starts_with(p.short_name()))
            .unwrap()
            .files()
            .collect::<Vec<_>>();
        assert_eq!(embedded, files, "{folder}");
    }
    assert!(served > 100, "{served}");
}

#[tokio::test]
async fn a_chunk_is_served_where_the_bundle_looks_for_it() {
    let app = TestApp::new().await;
    // Each bundle loads its chunks from its own folder, the version pinned.
    for (folder, exact, chunk) in [
        (
            "clerk-js-6.40.0",
            "clerk-js@6.40.0",
            "vendors_clerk.browser_a68c22_6.40.0.js",
        ),
        ("ui-1.36.0", "ui@1.36.0", "signin_ui_58d0c7_1.36.0.js"),
    ] {
        let path = format!("/npm/@clerk/{exact}/dist/{chunk}");
        let (status, headers, body) = app.request_bytes("GET", &path, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_script_headers(&headers, YEAR);
        assert_eq!(body, vendored(folder, chunk));
    }
}

#[tokio::test]
async fn gzip_is_sent_to_clients_that_take_it_and_decompresses_to_the_file() {
    let app = TestApp::new().await;
    let plain = vendored("clerk-js-6.40.0", "clerk.browser.js");
    let (_, identity_headers, _) = app.request_bytes("GET", CLERK_JS, &[]).await;
    for accept in [
        "gzip",
        "gzip, deflate, br, zstd",
        "br;q=1.0, gzip;q=0.8, *;q=0.1",
        "*",
        "GZIP",
    ] {
        let (status, headers, body) = app
            .request_bytes("GET", CLERK_JS, &[("accept-encoding", accept)])
            .await;
        assert_eq!(status, 200, "{accept}");
        assert_script_headers(&headers, FIVE_MINUTES);
        assert_eq!(
            header(&headers, "content-encoding"),
            Some("gzip"),
            "{accept}"
        );
        assert!(body.len() < plain.len() / 2, "{accept}: {}", body.len());
        assert_eq!(gunzip(&body), plain, "{accept}");
        // Another representation, another tag.
        assert_ne!(header(&headers, "etag"), header(&identity_headers, "etag"));
    }
    for accept in ["identity", "br", "gzip;q=0", "*;q=0", "deflate, *;q=0", ""] {
        let (status, headers, body) = app
            .request_bytes("GET", CLERK_JS, &[("accept-encoding", accept)])
            .await;
        assert_eq!(status, 200, "{accept}");
        assert_eq!(header(&headers, "content-encoding"), None, "{accept}");
        assert_eq!(body, plain, "{accept}");
    }
}

#[tokio::test]
async fn head_answers_the_headers_of_get_without_the_body() {
    let app = TestApp::new().await;
    for accept in ["identity", "gzip"] {
        let with = [("accept-encoding", accept)];
        let (_, got, body) = app.request_bytes("GET", UI_EXACT, &with).await;
        let (status, head, empty) = app.request_bytes("HEAD", UI_EXACT, &with).await;
        assert_eq!(status, 200);
        assert!(empty.is_empty());
        assert_script_headers(&head, YEAR);
        for name in ["content-encoding", "etag", "content-type", "cache-control"] {
            assert_eq!(header(&head, name), header(&got, name), "{accept} {name}");
        }
        assert_eq!(
            header(&head, "content-length"),
            Some(body.len().to_string().as_str()),
            "{accept}"
        );
    }
}

#[tokio::test]
async fn head_over_tcp_names_the_length_and_sends_no_body() {
    let app = TestApp::new().await;
    let served = app.serve(latch_api::ConnectionLimits::default()).await;
    let length = vendored("ui-1.36.0", "ui.browser.js").len();
    let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let request = format!("HEAD {UI} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .unwrap();
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {length}\r\n")),
        "{head}"
    );
    assert_eq!(rest, "");
}

#[tokio::test]
async fn a_known_etag_is_answered_304() {
    let app = TestApp::new().await;
    for accept in ["identity", "gzip"] {
        let with = [("accept-encoding", accept)];
        let (_, headers, _) = app.request_bytes("GET", CLERK_JS_EXACT, &with).await;
        let etag = header(&headers, "etag").unwrap().to_owned();
        for tags in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let (status, again, body) = app
                .request_bytes(
                    "GET",
                    CLERK_JS_EXACT,
                    &[("accept-encoding", accept), ("if-none-match", &tags)],
                )
                .await;
            assert_eq!(status, 304, "{accept} {tags}");
            assert!(body.is_empty());
            assert_eq!(header(&again, "etag"), Some(etag.as_str()));
            assert_eq!(header(&again, "cache-control"), Some(YEAR));
            assert_eq!(header(&again, "access-control-allow-origin"), Some("*"));
        }
        let (status, _, body) = app
            .request_bytes(
                "GET",
                CLERK_JS_EXACT,
                &[("accept-encoding", accept), ("if-none-match", "\"other\"")],
            )
            .await;
        assert_eq!(status, 200);
        assert!(!body.is_empty());
    }
}

#[tokio::test]
async fn any_origin_may_load_a_script_without_credentials() {
    let app = TestApp::new().await;
    // The configured origin and any other are answered alike: `*`.
    for origin in [ORIGIN, "https://elsewhere.example", "null"] {
        let (status, headers, _) = app
            .request_bytes("GET", CLERK_JS, &[("origin", origin)])
            .await;
        assert_eq!(status, 200);
        assert_script_headers(&headers, FIVE_MINUTES);
    }
    // The Frontend API itself still answers only the configured origin.
    let res = app
        .request("GET", "/v1/environment", &[("origin", ORIGIN)], None)
        .await;
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
}

/// The 404 of a path under `/npm/@clerk/`: Clerk's error envelope.
async fn not_served(app: &TestApp, path: &str) -> String {
    for method in ["GET", "HEAD"] {
        let res = app.request(method, path, &[], None).await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.body);
        if method == "GET" {
            res.assert_error(404, "resource_not_found", None);
            assert_eq!(res.header("cache-control"), Some("no-store"));
            return res.body["errors"][0]["long_message"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    }
    unreachable!()
}

#[tokio::test]
async fn other_versions_ranges_and_packages_are_a_404_naming_what_is_served() {
    let app = TestApp::new().await;
    for package in [
        "clerk-js@5",
        "clerk-js@7",
        "clerk-js@6.39.0",
        "clerk-js@6.40",
        "clerk-js@latest",
        "clerk-js@%5E6",
        "clerk-js",
        "ui@2",
        "ui@1.41.0",
        "clerk-react@5",
        "clerk-js%406",
    ] {
        let message = not_served(
            &app,
            &format!("/npm/@clerk/{package}/dist/clerk.browser.js"),
        )
        .await;
        assert!(
            message.contains(
                "@clerk/clerk-js 6.40.0 (as @clerk/clerk-js@6 or @clerk/clerk-js@6.40.0)"
            ) && message.contains("@clerk/ui 1.36.0 (as @clerk/ui@1 or @clerk/ui@1.36.0)"),
            "{package}: {message}"
        );
    }
    // Another scope, or no `dist/`: no route at all.
    for path in [
        "/npm/react@18/dist/react.js",
        "/npm/@clerk/clerk-js@6/clerk.browser.js",
        "/npm/@clerk/clerk-js@6/lib/clerk.browser.js",
        "/npm/@clerk/clerk-js@6/dist",
    ] {
        let res = app.request("GET", path, &[], None).await;
        res.assert_error(404, "resource_not_found", None);
    }
}

#[tokio::test]
async fn unknown_files_are_a_404_and_no_path_leaves_the_bundles() {
    let app = TestApp::new().await;
    for file in [
        "nope.js",
        "clerk.js",
        "clerk.legacy.browser.js",
        "ui.browser.js",
        "LICENSE",
        "PROVENANCE",
        "..",
        ".",
        "%2e%2e",
        "..%2FLICENSE",
        "..%2f..%2fui-1.36.0%2fdist%2fui.browser.js",
        "%2Fetc%2Fpasswd",
        "clerk.browser.js%00",
        "clerk.browser.js.gz",
        "CLERK.BROWSER.JS",
    ] {
        let message = not_served(&app, &format!("/npm/@clerk/clerk-js@6/dist/{file}")).await;
        assert!(
            message.contains("@clerk/clerk-js 6.40.0 has no such file"),
            "{file}: {message}"
        );
        assert!(
            file.len() <= 2 || !message.contains(file),
            "{file} echoed: {message}"
        );
    }
    // Dot segments and more segments are no route: nothing is resolved
    // against a folder.
    for path in [
        "/npm/@clerk/clerk-js@6/dist/../../../../Cargo.toml",
        "/npm/@clerk/clerk-js@6/dist/../LICENSE",
        "/npm/@clerk/clerk-js@6/dist/./clerk.browser.js",
        "/npm/@clerk/clerk-js@6/dist/a/clerk.browser.js",
        "/npm/@clerk/../../etc/passwd",
    ] {
        let res = app.request("GET", path, &[], None).await;
        res.assert_error(404, "resource_not_found", None);
    }
    // A crossorigin script tag can read the 404 too.
    let (_, headers, _) = app
        .request_bytes("GET", "/npm/@clerk/clerk-js@6/dist/nope.js", &[])
        .await;
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn other_methods_are_refused_with_allow() {
    let app = TestApp::new().await;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let res = app.request(method, CLERK_JS, &[], None).await;
        res.assert_error(405, "method_not_allowed", None);
        assert_eq!(res.header("allow"), Some("GET, HEAD"));
    }
}

#[tokio::test]
async fn the_root_page_says_what_the_server_is_and_which_instance() {
    let app = TestApp::new().await;
    let res = app.request("GET", "/", &[], None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let html = res.body.as_str().unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<h1>Latch</h1>"), "{html}");
    assert!(html.contains("development instance"), "{html}");
    assert!(html.contains("https://clerk.latch.test"), "{html}");
    for link in [
        "href=\"/v1/environment\"",
        "href=\"/.well-known/jwks.json\"",
        "href=\"/healthz\"",
        &format!("href=\"{CLERK_JS}\""),
        &format!("href=\"{UI}\""),
    ] {
        assert!(html.contains(link), "{link}: {html}");
    }
    assert!(html.contains("the README of the Latch repository"));
    assert!(!html.contains("<script"), "{html}");
    // Every link on the page is served.
    for link in html.split("href=\"").skip(1) {
        let path = link.split('"').next().unwrap();
        let (status, _, _) = app.request_bytes("GET", path, &[]).await;
        assert_eq!(status, 200, "{path}");
    }
    // A strict policy: the page's own stylesheet by its hash, nothing else.
    let policy = res.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    assert!(policy.contains("style-src 'sha256-"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(
        !policy.contains("script") && !policy.contains("unsafe"),
        "{policy}"
    );
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // The API's other answers keep the API's own policy.
    let health = app.request("GET", "/healthz", &[], None).await;
    assert_eq!(
        health.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );

    let head = app.request("HEAD", "/", &[], None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, serde_json::Value::Null);
    assert_eq!(
        head.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[tokio::test]
async fn the_root_page_of_a_production_instance_says_production() {
    let app = TestApp::with(InstanceSettings {
        environment: Environment::Production,
        ..Default::default()
    })
    .await;
    let res = app.request("GET", "/", &[], None).await;
    let html = res.body.as_str().unwrap();
    assert!(html.contains("production instance"), "{html}");
    assert!(!html.contains("development"), "{html}");
}

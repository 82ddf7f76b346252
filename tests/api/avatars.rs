//! The default avatar over HTTP: a picture of the initials the URL names, or
//! a silhouette, and nothing else of what the request carried.

use latch_api::avatar::default_avatar_url;

use crate::support::{Resp, TestApp};

const PATH: &str = "/v1/avatars/default.svg";

fn picture(res: &Resp) -> &str {
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("image/svg+xml"));
    res.body.as_str().expect("an SVG body")
}

#[tokio::test]
async fn the_picture_shows_the_initials_with_headers_that_let_it_do_nothing_else() {
    let app = TestApp::new().await;
    let res = app
        .request("GET", &format!("{PATH}?initials=al"), &[], None)
        .await;
    let svg = picture(&res);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains(">AL</text>"), "{svg}");
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=86400, immutable")
    );
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    let policy = res.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(!policy.contains("script"), "{policy}");
    // The same initials draw the same picture.
    let again = app
        .request("GET", &format!("{PATH}?initials=AL"), &[], None)
        .await;
    assert_eq!(picture(&again), svg);
}

#[tokio::test]
async fn the_url_built_for_a_user_is_served_with_their_initials() {
    let app = TestApp::new().await;
    let url = default_avatar_url("https://clerk.example.com/", Some("Émile"), Some("zola"));
    let path = url.strip_prefix("https://clerk.example.com").unwrap();
    let res = app.request("GET", path, &[], None).await;
    assert!(picture(&res).contains(">ÉZ</text>"), "{}", res.body);
}

#[tokio::test]
async fn without_initials_the_picture_is_a_silhouette() {
    let app = TestApp::new().await;
    let svg = picture(&app.request("GET", PATH, &[], None).await).to_owned();
    assert!(!svg.contains("<text"), "{svg}");
    assert!(svg.contains("<circle"), "{svg}");
    let head = app.request("HEAD", PATH, &[], None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("image/svg+xml"));
}

#[tokio::test]
async fn hostile_initials_never_reach_the_picture() {
    let app = TestApp::new().await;
    let silhouette = picture(&app.request("GET", PATH, &[], None).await).to_owned();
    let long = "A".repeat(500);
    for raw in [
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "%3Cs",
        "A%00",
        "%00",
        "A%22",
        "%26amp%3B",
        "A%20onload%3Dx",
        "ABC",
        long.as_str(),
        "%E2%80%AEA",
    ] {
        let res = app
            .request("GET", &format!("{PATH}?initials={raw}"), &[], None)
            .await;
        let svg = picture(&res);
        assert_eq!(svg, silhouette, "{raw}");
        for leaked in ["script", "\0", "&amp", "onload", "ABC", "AAA", "\u{202e}"] {
            assert!(!svg.contains(leaked), "{raw}: {leaked}");
        }
    }
}

#[tokio::test]
async fn other_methods_are_refused_as_on_any_route() {
    let app = TestApp::new().await;
    let res = app.request("POST", PATH, &[], None).await;
    res.assert_error(405, "method_not_allowed", None);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
}

//! Hosted pages (Clerk's Account Portal): `/sign-in`, `/sign-up` and `/user`
//! mount Clerk's prebuilt screens with the instance's key, from the bundles
//! Latch serves, and go back only to an allowed origin.

use crate::support::{PUBLISHABLE_KEY, TestApp};

#[tokio::test]
async fn each_page_mounts_its_screen_with_the_instances_key_from_latchs_bundles() {
    let app = TestApp::new().await;
    for (path, component) in [
        ("/sign-in", "sign-in"),
        ("/sign-up", "sign-up"),
        ("/user", "user"),
    ] {
        let res = app
            .request("GET", path, &[("host", "auth.example.test:8443")], None)
            .await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        let html = res.body.as_str().unwrap().to_owned();
        assert!(
            html.contains(&format!(r#"data-component="{component}""#)),
            "{html}"
        );
        assert!(html.contains(&format!(
            r#"data-clerk-publishable-key="{PUBLISHABLE_KEY}""#
        )));
        // clerk-js finds the Frontend API where the browser found the page.
        assert!(
            html.contains(r#"data-clerk-proxy-url="http://auth.example.test:8443""#),
            "{html}"
        );
        for script in [
            "/npm/@clerk/clerk-js@6/dist/clerk.browser.js",
            "/npm/@clerk/ui@1/dist/ui.browser.js",
            "/hosted/mount.js",
        ] {
            assert!(html.contains(&format!(r#"src="{script}""#)), "{script}");
        }
        // Scripts from this origin only; no inline script runs.
        let csp = res.header("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    }
    let mount = app.request("GET", "/hosted/mount.js", &[], None).await;
    assert_eq!(
        mount.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(mount.body.as_str().unwrap().contains("mountSignIn"));
}

#[tokio::test]
async fn the_page_goes_back_only_to_an_allowed_origin_and_escapes_what_it_shows() {
    let app = TestApp::new().await;
    let page = |query: &str| {
        let app = &app;
        let path = format!("/sign-in?{query}");
        async move {
            let res = app.request("GET", &path, &[], None).await;
            res.body.as_str().unwrap().to_owned()
        }
    };
    let allowed = page("redirect_url=http%3A%2F%2Flocalhost%3A3000%2Fdone%3Fa%3D1%26b%3D2").await;
    assert!(
        allowed.contains(r#"data-redirect-url="http://localhost:3000/done?a=1&amp;b=2""#),
        "{allowed}"
    );
    // Another of Latch's own pages (as `/user` asks, signed out).
    let own = page("redirect_url=http%3A%2F%2Fauth.latch.test%2Fuser").await;
    assert!(
        own.contains(r#"data-redirect-url="""#),
        "no Host given: {own}"
    );
    for refused in [
        "redirect_url=https%3A%2F%2Fevil.example%2F",
        "redirect_url=javascript%3Aalert(1)",
        "redirect_url=%22%3E%3Cscript%3E",
    ] {
        let html = page(refused).await;
        assert!(
            html.contains(r#"data-redirect-url="""#),
            "{refused}: {html}"
        );
        assert!(
            !html.contains("evil.example") && !html.contains("<script>"),
            "{refused}"
        );
    }
}

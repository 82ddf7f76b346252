//! The route table over HTTP: every declared route is served for its method,
//! every other method on its path answers 405 with `Allow`, and every step
//! the core limits is throttled per address.

use std::collections::BTreeSet;

use latch_api::routes::{Route, Surface, table};
use latch_core::model::{InstanceSettings, RateLimit, RateLimitSettings};

use crate::support::{Resp, TestApp};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The long message of the answer to a path no route has.
const NO_ROUTE: &str = "There is no resource at this path.";

/// `pattern` with each `{name}` replaced by `value(name)`.
fn fill(pattern: &str, value: impl Fn(&str) -> String) -> String {
    pattern
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => value(name),
                None => part.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends `method` to `path` the way the route's surface is called.
async fn call(app: &TestApp, surface: Surface, method: &str, path: &str, token: &str) -> Resp {
    match surface {
        Surface::Frontend => app.fapi(method, path, token, &[]).await,
        Surface::Backend => app.bapi(method, path, None).await,
        Surface::Public => app.request(method, path, &[], None).await,
    }
}

/// Each path of the table once.
fn paths() -> Vec<(&'static str, Surface)> {
    let mut out: Vec<(&'static str, Surface)> = Vec::new();
    for route in table() {
        if !out.iter().any(|(path, _)| *path == route.path) {
            out.push((route.path, route.surface()));
        }
    }
    out
}

/// The methods of every route whose pattern `path` matches (`/v1/users/count`
/// is also a `/v1/users/{id}`).
fn methods_of(path: &str) -> BTreeSet<String> {
    let matches = |pattern: &str| {
        let pattern: Vec<&str> = pattern.split('/').collect();
        let path: Vec<&str> = path.split('/').collect();
        pattern.len() == path.len()
            && pattern
                .iter()
                .zip(&path)
                .all(|(p, s)| p == s || p.starts_with('{'))
    };
    table()
        .iter()
        .filter(|route| matches(route.path))
        .map(|route| route.method.as_str().to_owned())
        .collect()
}

fn allowed(res: &Resp) -> BTreeSet<String> {
    res.header("allow")
        .unwrap_or_else(|| panic!("no Allow header: {}", res.body))
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn every_other_method_on_a_routed_path_answers_405_with_allow() {
    let app = TestApp::new().await;
    let mut checked = 0;
    for (pattern, surface) in paths() {
        let path = fill(pattern, |name| format!("{name}_x"));
        let expected = methods_of(&path);
        for method in METHODS.iter().filter(|m| !expected.contains(**m)) {
            let res = call(&app, surface, method, &path, "").await;
            res.assert_error(405, "method_not_allowed", None);
            assert_eq!(allowed(&res), expected, "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[tokio::test]
async fn a_method_override_is_routed_like_the_method() {
    let app = TestApp::new().await;
    let res = app.fapi("POST", "/v1/client?_method=PATCH", "", &[]).await;
    res.assert_error(405, "method_not_allowed", None);
    assert_eq!(
        allowed(&res),
        BTreeSet::from(["GET", "PUT", "POST", "DELETE"].map(str::to_owned))
    );
    let res = app
        .fapi("POST", "/v1/environment?_method=PATCH", "", &[])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.header("allow").is_none());
}

#[tokio::test]
async fn every_route_is_served_for_its_own_method() {
    let app = TestApp::new().await;
    let user = app.user("amy@example.com", None).await;
    let (token, session) = app.sign_in("amy@example.com").await;
    let (_, sign_in, _) = app.identify("amy@example.com").await;
    let id = |route: &Route| {
        if route.path.contains("/sign_ins/") {
            sign_in.clone()
        } else if route.path.contains("/sessions/") {
            session.clone()
        } else if route.path.contains("/users/") {
            user.clone()
        } else {
            "idn_x".to_owned()
        }
    };
    for route in table() {
        let path = fill(route.path, |name| match name {
            "id" => id(route),
            _ => format!("{name}_x"),
        });
        let res = call(&app, route.surface(), route.method.as_str(), &path, &token).await;
        assert_ne!(res.status, 405, "{} {path}: {}", route.method, res.body);
        assert!(
            res.status != 404 || res.body["errors"][0]["long_message"] != NO_ROUTE,
            "{} {path} is not routed",
            route.method
        );
    }
}

#[tokio::test]
async fn unknown_paths_answer_404_without_allow() {
    let app = TestApp::new().await;
    for path in ["/nope", "/v1/client/unknown", "/v1/users/u/lock/x", "/v1"] {
        let res = app.request("DELETE", path, &[], None).await;
        res.assert_error(404, "resource_not_found", None);
        assert_eq!(res.body["errors"][0]["long_message"], NO_ROUTE);
        assert!(res.header("allow").is_none());
    }
    // The Backend API names no path to a caller without the key: 404 first.
    app.request("GET", "/v1/users/u/nothing", &[], None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.request("PUT", "/v1/users", &[], None)
        .await
        .assert_error(401, "authentication_invalid", None);
}

/// Every per-IP limit at one request a minute; codes per address off.
fn one_a_minute() -> InstanceSettings {
    let one = RateLimit::per_seconds(1, 60);
    InstanceSettings {
        rate_limits: RateLimitSettings {
            create_client: one,
            create_sign_in: one,
            create_sign_up: one,
            attempt: one,
            prepare: one,
            ..RateLimitSettings::OFF
        },
        ..InstanceSettings::default()
    }
}

async fn from(app: &TestApp, ip: &str, method: &str, path: &str) -> Resp {
    app.request_from(
        &format!("{ip}:4000"),
        method,
        &format!("{path}?_is_native=1"),
        &[("authorization", "")],
        None,
    )
    .await
}

#[tokio::test]
async fn every_limited_step_is_throttled_after_its_allowance_and_no_other_route_is() {
    let app = TestApp::with_rate_limits(one_a_minute()).await;
    let frontend = table()
        .iter()
        .filter(|r| r.surface() == Surface::Frontend)
        .enumerate();
    let mut limited = 0;
    for (i, route) in frontend {
        // An address per route, so each starts with a whole allowance.
        let ip = format!("192.0.2.{}", i + 1);
        let path = fill(route.path, |name| format!("{name}_x"));
        let method = route.method.as_str();
        let first = from(&app, &ip, method, &path).await;
        assert_ne!(first.status, 429, "{method} {path}: {}", first.body);
        let second = from(&app, &ip, method, &path).await;
        if route.limit().is_some() {
            second.assert_error(429, "too_many_requests", None);
            let retry: u64 = second.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
            limited += 1;
        } else {
            assert_ne!(second.status, 429, "{method} {path}: {}", second.body);
        }
    }
    assert_eq!(limited, 23);
}

#[tokio::test]
async fn steps_that_check_a_secret_share_one_allowance_and_prepares_another() {
    let app = TestApp::with_rate_limits(one_a_minute()).await;
    let ip = "198.51.100.7";
    let attempt = from(
        &app,
        ip,
        "POST",
        "/v1/client/sign_ins/s_x/attempt_first_factor",
    )
    .await;
    assert_ne!(attempt.status, 429, "{}", attempt.body);
    for step in ["reset_password", "attempt_second_factor"] {
        from(&app, ip, "POST", &format!("/v1/client/sign_ins/s_x/{step}"))
            .await
            .assert_error(429, "too_many_requests", None);
    }
    // Asking for codes is counted apart from guessing them.
    let prepare = from(
        &app,
        ip,
        "POST",
        "/v1/client/sign_ins/s_x/prepare_second_factor",
    )
    .await;
    assert_ne!(prepare.status, 429, "{}", prepare.body);
    from(
        &app,
        ip,
        "POST",
        "/v1/client/sign_ins/s_x/prepare_first_factor",
    )
    .await
    .assert_error(429, "too_many_requests", None);
    // A sign-up's code is guessed and asked for on the same allowances.
    for step in ["attempt_verification", "prepare_verification"] {
        from(&app, ip, "POST", &format!("/v1/client/sign_ups/s_x/{step}"))
            .await
            .assert_error(429, "too_many_requests", None);
    }
}

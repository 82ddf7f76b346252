//! Request ids, `/readyz` and `/metrics` through the API's filter.

use latch_core::model::{InstanceSettings, RateLimit};

use crate::support::TestApp;

#[tokio::test]
async fn every_answer_names_its_request_and_an_error_carries_the_same_id() {
    let app = TestApp::new().await;
    let res = app.request("GET", "/v1/environment", &[], None).await;
    assert_eq!(res.status, 200);
    let first = res.header("x-request-id").unwrap().to_owned();
    assert_eq!(first.len(), 32);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    let res = app.request("GET", "/v1/nowhere", &[], None).await;
    assert_eq!(res.status, 404);
    let id = res.header("x-request-id").unwrap();
    assert_ne!(id, first, "one id per request");
    assert_eq!(res.body["clerk_trace_id"], id);
    // A proxy's id is logged beside Latch's own, never instead of it.
    let res = app
        .request("GET", "/healthz", &[("x-request-id", "edge-1")], None)
        .await;
    assert_ne!(res.header("x-request-id"), Some("edge-1"));
}

#[tokio::test]
async fn readiness_and_metrics_answer_whoever_asks_however_often() {
    let mut settings = InstanceSettings::default();
    settings.rate_limits.create_client = RateLimit::per_seconds(1, 60);
    settings.rate_limits.create_sign_in = RateLimit::per_seconds(1, 60);
    let app = TestApp::with(settings).await;
    for _ in 0..30 {
        let res = app.request("GET", "/readyz", &[], None).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["status"], "ready");
        assert_eq!(res.body["checks"]["store"], "ok");
    }
    let res = app.request("GET", "/metrics", &[], None).await;
    assert_eq!(res.status, 200);
    let text = res.body.as_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("latch_http_requests_total{")
                && l.contains(r#"route="/readyz""#)
                && l.contains(r#"status="200""#)
                && l.ends_with(" 30")),
        "{text}"
    );
}

//! What operators see of the requests: an id on every answer and log line,
//! one log line per request (route, status, latency, client address), the
//! request metrics, `/metrics` and `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use warp::http::{Method, StatusCode};

use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};

/// Renders the metrics recorded so far, in Prometheus' text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Latency buckets (seconds), from a cached read to a slow hash.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder for the whole process (once, before
/// anything worth counting happens); the function renders what it holds.
pub fn install_prometheus() -> Result<MetricsRender, String> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(move || {
        // Histograms are drained here rather than on a timer.
        handle.run_upkeep();
        handle.render()
    }))
}

/// Prometheus' text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The response header carrying the request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// How long `/readyz` waits for a store before calling it unavailable.
const READY_WITHIN: Duration = Duration::from_secs(3);

/// An id a proxy in front gave the request, if it is one worth logging
/// beside Latch's own: 1 to 64 letters, digits, `-`, `_` or `.`.
pub(crate) fn upstream_id(value: Option<&str>) -> Option<&str> {
    value.filter(|v| {
        (1..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

/// The method as a metric label: the standard ones, or `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a request under its route pattern (never its path: ids would
/// make every request a series of its own).
pub(crate) fn record_request(method: &Method, route: &'static str, status: u16, took: Duration) {
    let method = method_label(method);
    metrics::counter!(
        "latch_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "latch_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(took.as_secs_f64());
}

/// The strategies a flow step may name, as labels; anything else is
/// `other`, and an OAuth provider the instance does not set up too.
const STRATEGIES: &[&str] = &[
    "password",
    "email_code",
    "phone_code",
    "email_link",
    "totp",
    "backup_code",
    "reset_password_email_code",
    "reset_password_phone_code",
    "ticket",
    "passkey",
    "enterprise_sso",
];

/// The label of a step's `strategy`.
fn strategy_label(state: &ApiState, strategy: Option<&str>) -> String {
    let Some(strategy) = strategy.filter(|s| !s.is_empty()) else {
        return "none".to_owned();
    };
    if STRATEGIES.contains(&strategy) {
        return strategy.to_owned();
    }
    match strategy.strip_prefix("oauth_") {
        Some(provider)
            if state
                .services
                .settings()
                .strategies
                .oauth_providers
                .iter()
                .any(|p| p == provider) =>
        {
            strategy.to_owned()
        }
        _ => "other".to_owned(),
    }
}

/// A word Latch wrote itself (a status, an error code): kept as a label
/// only if it looks like one.
fn word(value: Option<&str>) -> Option<&str> {
    value.filter(|v| {
        (1..=48).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// Counts a sign-in or sign-up step by its strategy and outcome: the
/// status the flow is left in, or the error code it was refused with.
pub(crate) fn record_flow_step(
    state: &ApiState,
    req: &ApiRequest,
    step: &'static str,
    response: &ApiResponse,
) {
    let flow = if req.path.starts_with("/v1/client/sign_ins") {
        "sign_in"
    } else if req.path.starts_with("/v1/client/sign_ups") {
        "sign_up"
    } else {
        return;
    };
    let body = response.body.as_ref();
    let outcome = if response.status.is_success() {
        word(body.and_then(|b| b["response"]["status"].as_str())).unwrap_or("ok")
    } else {
        word(body.and_then(|b| b["errors"][0]["code"].as_str())).unwrap_or("error")
    };
    let strategy = strategy_label(state, req.param("strategy").ok().flatten().as_deref());
    metrics::counter!(
        "latch_flow_steps_total",
        "flow" => flow,
        "step" => step,
        "strategy" => strategy,
        "outcome" => outcome.to_owned()
    )
    .increment(1);
}

/// `GET /metrics`: the Prometheus exposition, when metrics are served on
/// this listener.
pub(crate) fn metrics_page(state: &ApiState) -> Option<ApiResponse> {
    let render = state.metrics.as_ref()?;
    Some(ApiResponse::content(
        StatusCode::OK,
        PROMETHEUS_TEXT,
        render(),
    ))
}

/// `GET /readyz`: 200 when every store the instance uses answers and is
/// at this build's schema, 503 naming the part that is not. What failed is
/// logged; the answer names the part only.
pub(crate) async fn readyz(state: &ApiState) -> ApiResponse {
    let checks =
        match tokio::time::timeout(READY_WITHIN, state.services.maintenance.readiness()).await {
            Ok(checks) => checks,
            Err(_) => {
                tracing::warn!("readiness: the stores did not answer in time");
                return ApiResponse::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "status": "unavailable", "checks": { "stores": "no answer in time" } }),
                );
            }
        };
    let mut parts = Map::new();
    let mut ready = true;
    for (part, result) in checks {
        let shown = match result {
            Ok(()) => "ok".to_owned(),
            Err(err) => {
                ready = false;
                tracing::warn!(part, error = %err, "readiness: a store is not ready");
                "unavailable".to_owned()
            }
        };
        parts.insert(part.to_owned(), Value::String(shown));
    }
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    ApiResponse::json(status, json!({ "status": word, "checks": parts }))
}

/// `/metrics` alone, for a listener of its own
/// ([`ApiState::only_pages`](crate::ApiState::only_pages)).
pub struct MetricsPage(pub MetricsRender);

impl crate::pages::Pages for MetricsPage {
    fn prefix(&self) -> &'static str {
        "/metrics"
    }

    fn handle<'a>(
        &'a self,
        _state: &'a ApiState,
        req: &'a ApiRequest,
    ) -> crate::pages::PageFuture<'a> {
        let response = if req.path == "/metrics" && req.method == Method::GET {
            ApiResponse::content(StatusCode::OK, PROMETHEUS_TEXT, (self.0)())
        } else {
            ApiResponse::empty(StatusCode::NOT_FOUND)
        };
        Box::pin(std::future::ready(response))
    }
}

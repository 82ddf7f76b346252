#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;

use super::*;
use crate::model::{Duration, EventType};
use crate::ports::{FreshRandom, MockClock, MockWebhookSender, MockWebhookStore, WebhookResponse};
use crate::service::test_support::NOW;

fn secrets() -> Arc<SecretBox> {
    Arc::new(SecretBox::new(&[7; 32]))
}

fn webhooks(store: MockWebhookStore, mut sender: MockWebhookSender) -> Webhooks {
    sender
        .expect_refuses()
        .returning(|url| url.contains("10.0.0.1").then(|| "private".to_owned()));
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    Webhooks {
        store: Arc::new(store),
        sender: Arc::new(sender),
        secrets: secrets(),
        clock: Arc::new(clock),
        random: Arc::new(FreshRandom),
        policy: WebhookPolicy::default(),
        wake: Arc::new(tokio::sync::Notify::new()),
        active: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    }
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn signatures_match_the_published_svix_example() {
    // The id, timestamp, body, secret and signature of Svix's own example.
    let signature = sign(
        SECRET,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        r#"{"test": 2432232314}"#,
    );
    assert_eq!(
        signature.as_deref(),
        Some("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    assert_eq!(sign("whsec_not base64!", "a", "1", "b"), None);
}

#[test]
fn retries_follow_the_schedule_then_stop() {
    let policy = WebhookPolicy::default();
    assert_eq!(
        policy.retry_at(1, NOW),
        Some(NOW.plus(Duration::seconds(5)))
    );
    assert_eq!(
        policy.retry_at(2, NOW),
        Some(NOW.plus(Duration::minutes(5)))
    );
    assert_eq!(policy.retry_at(7, NOW), Some(NOW.plus(Duration::hours(10))));
    assert_eq!(policy.retry_at(8, NOW), None);
    let total: i64 = policy.retry_waits.iter().map(|w| w.0).sum();
    assert!(
        (Duration::hours(24).0..Duration::hours(30).0).contains(&total),
        "retries span about a day"
    );
}

/// A message of an event whose body is `body`, for `endpoint` signed by
/// [`SECRET`], on its `attempts`-th attempt.
fn claimed(body: &str, attempts: u32) -> ClaimedMessage {
    let b = secrets();
    ClaimedMessage {
        event_id: "msg_1".into(),
        endpoint_id: "ep_1".into(),
        sealed_body: b
            .seal(body.as_bytes(), &event_context("msg_1"), &FreshRandom)
            .unwrap(),
        url: "https://hooks.example.com/latch".into(),
        sealed_secret: b
            .seal(SECRET.as_bytes(), &secret_context("ep_1"), &FreshRandom)
            .unwrap(),
        attempts,
    }
}

/// Runs one round where the receiver answers `status` to a message on its
/// `attempts`-th attempt; returns the outcome recorded and the request sent.
async fn round(
    status: Option<u16>,
    attempts: u32,
) -> (AttemptOutcome, WebhookAttempt, Vec<(String, String)>) {
    let mut store = MockWebhookStore::new();
    store
        .expect_claim_messages()
        .times(1)
        .returning(move |_, _, _| Ok(vec![claimed(r#"{"type":"user.created"}"#, attempts)]));
    let recorded = Arc::new(Mutex::new(None));
    let keep = recorded.clone();
    store.expect_record_attempt().times(1).returning(
        move |attempt, _, outcome, disable_before, _| {
            assert_eq!(disable_before, Timestamp(NOW.0 - Duration::days(5).0));
            *keep.lock().unwrap() = Some((outcome, attempt.clone()));
            Ok(())
        },
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let headers_sent = sent.clone();
    let mut sender = MockWebhookSender::new();
    sender
        .expect_post()
        .times(1)
        .withf(|url, _, body| {
            url == "https://hooks.example.com/latch" && body == r#"{"type":"user.created"}"#
        })
        .returning(move |_, headers, _| {
            *headers_sent.lock().unwrap() = headers.to_vec();
            WebhookResponse {
                status,
                error: status.is_none().then(|| "connection refused".to_owned()),
            }
        });
    webhooks(store, sender).deliver_due().await.unwrap();
    let (outcome, attempt) = recorded.lock().unwrap().take().unwrap();
    let headers = sent.lock().unwrap().clone();
    (outcome, attempt, headers)
}

#[tokio::test]
async fn a_delivery_is_signed_as_clerk_verifies_it() {
    let (outcome, attempt, headers) = round(Some(204), 1).await;
    assert_eq!(outcome, AttemptOutcome::Delivered);
    assert_eq!(attempt.status_code, Some(204));
    assert_eq!(attempt.error, None);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("svix-id"), "msg_1");
    assert_eq!(header("svix-timestamp"), NOW.secs().to_string());
    let expected = sign(
        SECRET,
        "msg_1",
        &NOW.secs().to_string(),
        r#"{"type":"user.created"}"#,
    )
    .unwrap();
    assert_eq!(header("svix-signature"), format!("v1,{expected}"));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_on_schedule_until_the_last() {
    let (outcome, attempt, _) = round(Some(500), 1).await;
    assert_eq!(
        outcome,
        AttemptOutcome::RetryAt(NOW.plus(Duration::seconds(5)))
    );
    assert_eq!(attempt.status_code, Some(500));
    assert_eq!(attempt.error.as_deref(), Some("the endpoint answered 500"));

    let (outcome, attempt, _) = round(None, 3).await;
    assert_eq!(
        outcome,
        AttemptOutcome::RetryAt(NOW.plus(Duration::minutes(30)))
    );
    assert_eq!(attempt.error.as_deref(), Some("connection refused"));

    let (outcome, _, _) = round(Some(302), 8).await;
    assert_eq!(outcome, AttemptOutcome::Failed, "a redirect is a failure");
}

#[tokio::test]
async fn endpoints_refuse_bad_urls_types_and_secrets_and_store_nothing() {
    let w = webhooks(MockWebhookStore::new(), MockWebhookSender::new());
    for (new, param) in [
        (
            NewEndpoint {
                url: "ftp://example.com/".into(),
                ..Default::default()
            },
            "url",
        ),
        (
            NewEndpoint {
                url: "https://user:pw@example.com/".into(),
                ..Default::default()
            },
            "url",
        ),
        (
            NewEndpoint {
                url: "https://example.com/".into(),
                event_types: vec!["user.exploded".into()],
                ..Default::default()
            },
            "event_types",
        ),
        (
            NewEndpoint {
                url: "http://10.0.0.1/hooks".into(),
                ..Default::default()
            },
            "url",
        ),
        (
            NewEndpoint {
                url: "https://example.com/".into(),
                secret: Some("whsec_c2hvcnQ=".into()),
                ..Default::default()
            },
            "secret",
        ),
    ] {
        let err = w.create_endpoint(new).await.unwrap_err();
        assert_eq!(err.param(), Some(param), "{err:?}");
    }
}

#[tokio::test]
async fn a_new_endpoint_gets_a_secret_sealed_under_its_id() {
    let mut store = MockWebhookStore::new();
    let stored = Arc::new(Mutex::new(None));
    let keep = stored.clone();
    store.expect_create_endpoint().times(1).returning(move |e| {
        *keep.lock().unwrap() = Some(e.clone());
        Ok(())
    });
    let w = webhooks(store, MockWebhookSender::new());
    let (endpoint, secret) = w
        .create_endpoint(NewEndpoint {
            url: "https://example.com/hook".into(),
            event_types: vec!["user.created".into(), "user.created".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(parse_secret(&secret).is_ok());
    assert_eq!(endpoint.event_types, vec![EventType::UserCreated]);
    let stored = stored.lock().unwrap().clone().unwrap();
    assert!(!stored.sealed_secret.contains(&secret[6..]));
    assert_eq!(w.secret_of(&stored).unwrap(), secret);
}

#[tokio::test]
async fn configured_endpoints_are_made_once_whichever_replica_starts_first() {
    let mut store = MockWebhookStore::new();
    store.expect_get_endpoint().returning(|_| Ok(None));
    // Another replica made it between the read and the insert.
    store
        .expect_create_endpoint()
        .times(1)
        .returning(|_| Err(StoreError::Conflict));
    let w = webhooks(store, MockWebhookSender::new());
    w.configure(vec![NewEndpoint {
        id: Some("ep_config_app".into()),
        url: "https://app.example.com/hooks".into(),
        ..Default::default()
    }])
    .await
    .unwrap();
}

#[tokio::test]
async fn a_configured_endpoint_that_changed_is_updated_and_enabled_again() {
    let b = secrets();
    let stored = WebhookEndpoint {
        id: "ep_config_app".into(),
        url: "https://old.example.com/hooks".into(),
        description: String::new(),
        sealed_secret: b
            .seal(
                SECRET.as_bytes(),
                &secret_context("ep_config_app"),
                &FreshRandom,
            )
            .unwrap(),
        event_types: vec![],
        disabled: true,
        disabled_reason: Some("every attempt failed".into()),
        failing_since: Some(NOW),
        created_at: NOW,
        updated_at: NOW,
    };
    let mut store = MockWebhookStore::new();
    let read = stored.clone();
    store
        .expect_get_endpoint()
        .returning(move |_| Ok(Some(read.clone())));
    store
        .expect_update_endpoint()
        .times(1)
        .withf(|e| {
            e.url == "https://new.example.com/hooks"
                && !e.disabled
                && e.failing_since.is_none()
                && e.event_types == vec![EventType::UserCreated]
        })
        .returning(|_| Ok(()));
    let w = webhooks(store, MockWebhookSender::new());
    w.configure(vec![NewEndpoint {
        id: Some("ep_config_app".into()),
        url: "https://new.example.com/hooks".into(),
        event_types: vec!["user.created".into()],
        ..Default::default()
    }])
    .await
    .unwrap();
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;

use super::*;
use crate::model::{EventType, InstanceSettings};
use crate::ports::{
    FreshRandom, MockClock, MockCodeSender, MockOutbox, MockWebhookStore, SendError,
};
use crate::service::test_support::{NOW, TypeOnly};

/// The key the services of `test_support` seal with.
fn secrets() -> Arc<SecretBox> {
    Arc::new(SecretBox::new(&[7; 32]))
}

/// The code message sealed in a queued delivery (under `test_support`'s key).
pub(crate) fn queued_code(delivery: &NewDelivery) -> CodeMessage {
    let deliveries = deliveries(MockOutbox::new(), MockCodeSender::new());
    deliveries.open(&claimed(delivery, 1)).unwrap()
}

fn claimed(delivery: &NewDelivery, attempts: u32) -> ClaimedDelivery {
    ClaimedDelivery {
        id: delivery.id.clone(),
        kind: delivery.kind.clone(),
        payload: delivery.payload.clone(),
        attempts,
        max_attempts: delivery.max_attempts,
        expire_at: delivery.expire_at,
        created_at: delivery.created_at,
    }
}

fn deliveries(outbox: MockOutbox, sender: MockCodeSender) -> Deliveries {
    deliveries_with(
        outbox,
        sender,
        MockWebhookStore::new(),
        InstanceSettings::default(),
    )
}

fn deliveries_with(
    outbox: MockOutbox,
    sender: MockCodeSender,
    webhooks: MockWebhookStore,
    settings: InstanceSettings,
) -> Deliveries {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    Deliveries {
        outbox: Arc::new(outbox),
        sender: Arc::new(sender),
        webhook_store: Arc::new(webhooks),
        events: crate::service::Events {
            audit: crate::service::Audit {
                log: Arc::new(crate::ports::MockAuditLog::new()),
                clock: clock.clone(),
                random: Arc::new(FreshRandom),
                keep: Duration::days(90),
                queued: Arc::default(),
                wake: Arc::new(tokio::sync::Notify::new()),
            },
            format: Arc::new(TypeOnly),
            secrets: secrets(),
            clock: clock.clone(),
            random: Arc::new(FreshRandom),
            settings: crate::service::LiveSettings::new(settings),
            wake: Arc::new(tokio::sync::Notify::new()),
            active: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        },
        secrets: secrets(),
        clock,
        random: Arc::new(FreshRandom),
        policy: DeliveryPolicy::default(),
        wake: Arc::new(tokio::sync::Notify::new()),
    }
}

fn message() -> CodeMessage {
    CodeMessage {
        destination: CodeDestination::Email("ann@example.com".into()),
        code: "493817".into(),
        purpose: CodePurpose::ResetPassword,
        expires_in_minutes: 10,
    }
}

/// Enqueues [`message`] and returns what the outbox was given.
async fn queued() -> NewDelivery {
    let stored = Arc::new(Mutex::new(None));
    let keep = stored.clone();
    let mut outbox = MockOutbox::new();
    outbox.expect_enqueue().times(1).returning(move |d, _| {
        *keep.lock().unwrap() = Some(d.clone());
        Ok(())
    });
    deliveries(outbox, MockCodeSender::new())
        .enqueue_code(&message(), NOW.plus(Duration::minutes(10)))
        .await
        .unwrap();
    stored.lock().unwrap().take().unwrap()
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let policy = DeliveryPolicy::default();
    assert_eq!(policy.backoff(1), Duration::seconds(5));
    assert_eq!(policy.backoff(2), Duration::seconds(10));
    assert_eq!(policy.backoff(3), Duration::seconds(20));
    assert_eq!(policy.backoff(6), Duration::minutes(2));
    assert_eq!(policy.backoff(u32::MAX), Duration::minutes(2));
}

#[tokio::test]
async fn a_queued_code_is_sealed_and_opens_only_as_its_own_delivery() {
    let delivery = queued().await;
    assert_eq!(delivery.kind, CODE_KIND);
    assert!(delivery.id.starts_with("dlv_"));
    assert_eq!(delivery.due_at, NOW, "due at once");
    assert_eq!(delivery.expire_at, Some(NOW.plus(Duration::minutes(10))));
    assert!(
        !delivery.payload.contains("493817"),
        "the code is not readable"
    );
    assert!(!delivery.payload.contains("ann@"), "nor its address");
    assert_eq!(queued_code(&delivery), message(), "it round-trips");
    let mut other = delivery.clone();
    other.id = "dlv_another".into();
    let d = deliveries(MockOutbox::new(), MockCodeSender::new());
    assert!(d.open(&claimed(&other, 1)).is_err(), "bound to its id");
    let foreign = Deliveries {
        secrets: Arc::new(SecretBox::new(&[8; 32])),
        ..d
    };
    assert!(
        foreign.open(&claimed(&delivery, 1)).is_err(),
        "another key cannot open it"
    );
}

/// What the worker told the outbox about a delivery.
#[derive(Debug, PartialEq, Eq)]
enum Told {
    Complete,
    Fail(Option<Timestamp>),
}

/// A worker round over one claimed delivery whose send answers `sent`;
/// returns the round and what the outbox was told.
async fn one_round(
    attempts: u32,
    expired: bool,
    sent: Result<(), SendError>,
) -> (DeliveryRound, Told) {
    let mut delivery = queued().await;
    if expired {
        delivery.expire_at = Some(NOW);
    }
    let claim = claimed(&delivery, attempts);
    let told = Arc::new(Mutex::new(None));
    let mut outbox = MockOutbox::new();
    outbox
        .expect_claim_due()
        .times(1)
        .returning(move |_, _, _| Ok(vec![claim.clone()]));
    let keep = told.clone();
    outbox.expect_complete().returning(move |_, _, _| {
        *keep.lock().unwrap() = Some(Told::Complete);
        Ok(())
    });
    let keep = told.clone();
    let max = delivery.max_attempts;
    outbox.expect_fail().returning(move |_, _, _, retry_at, _| {
        *keep.lock().unwrap() = Some(Told::Fail(retry_at));
        Ok(if retry_at.is_some() && attempts < max {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Dead
        })
    });
    let mut sender = MockCodeSender::new();
    let times = usize::from(!expired);
    sender
        .expect_send()
        .withf(|m| *m == message())
        .times(times)
        .returning(move |_| sent.clone());
    let round = deliveries(outbox, sender).deliver_due().await.unwrap();
    let told = told
        .lock()
        .unwrap()
        .take()
        .expect("the outcome was recorded");
    (round, told)
}

#[tokio::test]
async fn a_sent_delivery_is_completed() {
    let (round, told) = one_round(1, false, Ok(())).await;
    assert_eq!(round.delivered, 1);
    assert_eq!(told, Told::Complete);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_after_the_backoff_and_the_last_one_is_dead() {
    let refused = || Err(SendError("503 from the receiver".into()));
    let (round, told) = one_round(1, false, refused()).await;
    assert_eq!(round.retrying, 1);
    assert_eq!(told, Told::Fail(Some(NOW.plus(Duration::seconds(5)))));
    let (_, told) = one_round(3, false, refused()).await;
    assert_eq!(told, Told::Fail(Some(NOW.plus(Duration::seconds(20)))));
    let (round, told) = one_round(6, false, refused()).await;
    assert_eq!(round.dead, 1);
    assert_eq!(told, Told::Fail(None), "no retry after the last attempt");
}

#[tokio::test]
async fn an_expired_code_is_not_sent_and_is_dead() {
    let (round, told) = one_round(1, true, Ok(())).await;
    assert_eq!(round.dead, 1);
    assert_eq!(told, Told::Fail(None));
}

/// The event a queued code makes, opened.
fn event_type_of(event: &crate::model::NewEvent) -> String {
    let plain = secrets()
        .open(
            &event.sealed_body,
            &crate::service::events::event_context(&event.id),
        )
        .unwrap();
    String::from_utf8(plain).unwrap()
}

#[tokio::test]
async fn a_queued_code_is_announced_in_the_same_write() {
    let mut outbox = MockOutbox::new();
    outbox
        .expect_enqueue()
        .times(1)
        .withf(|_, events| {
            events.len() == 1
                && events[0].event_type == EventType::EmailCreated
                && event_type_of(&events[0]) == "email.created"
        })
        .returning(|_, _| Ok(()));
    let d = deliveries(outbox, MockCodeSender::new());
    d.enqueue_code(&message(), NOW.plus(Duration::minutes(10)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_code_latch_does_not_send_is_only_announced() {
    let mut webhooks = MockWebhookStore::new();
    webhooks
        .expect_append_events()
        .times(1)
        .withf(|events| events.len() == 1 && events[0].event_type == EventType::SmsCreated)
        .returning(|_| Ok(()));
    let settings = InstanceSettings {
        deliver_code_messages: false,
        ..InstanceSettings::default()
    };
    // No enqueue is expected: the mock panics on one.
    let d = deliveries_with(MockOutbox::new(), MockCodeSender::new(), webhooks, settings);
    let sms = CodeMessage {
        destination: CodeDestination::Sms("+15555550100".into()),
        ..message()
    };
    d.enqueue_code(&sms, NOW.plus(Duration::minutes(10)))
        .await
        .unwrap();
}

//! Codes leave through the outbox: the request queues them and answers; the
//! worker sends them, retries failures with backoff, gives up after the last
//! attempt where operators see it, and never sends one twice while its lease
//! holds, across workers and restarts.

use std::collections::BTreeMap;
use std::time::Duration;

use latch_core::ports::DeliveryStatus;

use crate::support::TestApp;

/// A sign-in on a new client for `email`'s account, its email code asked
/// for; returns (client token, sign-in id).
async fn code_asked(app: &TestApp, email: &str) -> (String, String) {
    app.user(email, None).await;
    let (token, id, _) = app.identify(email).await;
    let res = app
        .prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    (token, id)
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_the_code_after_retries() {
    let app = TestApp::new().await;
    app.codes.fail(true);
    // The answer does not wait for (or depend on) the receiver.
    let (token, id) = code_asked(&app, "uma@example.com").await;
    assert_eq!(app.codes.count(), 0);
    let pending = app
        .deliveries()
        .list(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].attempts, 1, "tried once already");
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("refuses")),
        "{pending:?}"
    );
    assert_eq!(app.deliver().await.retrying, 0, "not before its backoff");
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(
        app.deliver().await.retrying,
        1,
        "the second attempt fails too"
    );
    app.codes.fail(false);
    app.clock.advance(Duration::from_secs(10));
    assert_eq!(app.deliver().await.delivered, 1, "the third gets through");
    let code = app.codes.last_code_to("uma@example.com").unwrap();
    let done = app
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    let counts = app.deliveries().counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 1, 0));
}

#[tokio::test]
async fn a_receiver_that_never_takes_the_code_leaves_it_dead_and_listed() {
    let app = TestApp::new().await;
    app.codes.fail(true);
    code_asked(&app, "ned@example.com").await;
    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(30));
        app.deliver().await;
    }
    assert_eq!(app.codes.count(), 0);
    let dead = app
        .deliveries()
        .list(Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].kind, "code");
    assert_eq!(
        (dead[0].attempts, dead[0].max_attempts),
        (6, 6),
        "every attempt was made, then no more"
    );
    assert!(dead[0].last_error.is_some());
    let counts = app.deliveries().counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 0, 1));
}

#[tokio::test]
async fn an_expired_code_is_not_delivered_late() {
    let app = TestApp::new().await;
    app.codes.fail(true);
    code_asked(&app, "eli@example.com").await;
    app.codes.fail(false);
    // Past the code's ten minutes, sending it would only confuse.
    app.clock.advance(Duration::from_secs(601));
    let round = app.deliver().await;
    assert_eq!((round.delivered, round.dead), (0, 1));
    assert_eq!(app.codes.count(), 0);
}

#[tokio::test]
async fn two_workers_never_send_one_code_twice() {
    let app = TestApp::new().await;
    app.deliver_only_when_asked();
    let other = app.reopen().await;
    let emails: Vec<String> = (0..12).map(|i| format!("w{i}@example.com")).collect();
    for email in &emails {
        code_asked(&app, email).await;
    }
    assert_eq!(app.codes.count(), 0, "nothing is sent by the requests");
    let (a, b) = tokio::join!(
        async {
            let mut sent = 0;
            for _ in 0..4 {
                sent += app.deliver().await.delivered;
            }
            sent
        },
        async {
            let mut sent = 0;
            for _ in 0..4 {
                sent += other.deliver().await.delivered;
            }
            sent
        }
    );
    assert_eq!(a + b, 12, "every code was sent");
    let mut received = BTreeMap::new();
    for email in &emails {
        let times = usize::from(app.codes.last_code_to(email).is_some())
            + usize::from(other.codes.last_code_to(email).is_some());
        received.insert(email.clone(), times);
    }
    assert!(received.values().all(|n| *n == 1), "{received:?}");
    assert_eq!(app.codes.count() + other.codes.count(), 12);
}

#[tokio::test]
async fn queued_codes_are_delivered_after_a_restart() {
    let app = TestApp::new().await;
    app.deliver_only_when_asked();
    let (token, id) = code_asked(&app, "rae@example.com").await;
    assert_eq!(
        app.codes.count(),
        0,
        "the first process stops before sending"
    );
    // A new process on the same file and key.
    let restarted = app.reopen().await;
    assert_eq!(restarted.deliver().await.delivered, 1);
    let code = restarted.codes.last_code_to("rae@example.com").unwrap();
    let done = restarted
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
    assert_eq!(app.deliver().await.delivered, 0, "and never again");
}

/// Hex of SHA-256.
fn sha256_hex(text: &str) -> String {
    openssl::sha::sha256(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn code_digests_are_keyed_with_the_instance_key() {
    let app = TestApp::new().await;
    let (_, id) = code_asked(&app, "kay@example.com").await;
    let code = app.codes.last_code_to("kay@example.com").unwrap();
    let stored = app.database_bytes();
    let contains = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    // An unkeyed digest of six digits falls to a million guesses.
    assert!(
        !contains(&sha256_hex(&format!("{id}:{code}"))),
        "the stored digest is not a plain SHA-256 of the code"
    );
    let keyed = latch_core::secrets::SecretBox::new(&[9; 32]);
    assert!(
        contains(&keyed.digest("sign-in-code", &format!("{id}:{code}"))),
        "the stored digest is keyed with the instance key"
    );
    let other_key = latch_core::secrets::SecretBox::new(&[8; 32]);
    assert!(!contains(
        &other_key.digest("sign-in-code", &format!("{id}:{code}"))
    ));
}

//! The [`Outbox`] contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::Timestamp;
use latch_core::ports::{DeliveryCounts, DeliveryStatus, Lease, NewDelivery, Outbox};

use crate::fixtures::at;

/// Deliveries in the race check, and the batch each claim takes.
const RACED: usize = 40;
const RACE_BATCH: u32 = 3;

fn delivery(id: &str, due: i64) -> NewDelivery {
    NewDelivery {
        id: id.to_owned(),
        kind: "code".to_owned(),
        payload: format!("v1.sealed-{id}"),
        max_attempts: 3,
        due_at: at(due),
        expire_at: Some(at(due + 600_000)),
        created_at: at(due),
    }
}

fn lease(token: &str, until: i64) -> Lease {
    Lease {
        token: token.to_owned(),
        until: at(until),
    }
}

async fn status_of(
    outbox: &dyn Outbox,
    id: &str,
) -> (DeliveryStatus, u32, Timestamp, Option<String>) {
    let all = outbox.list(None, 1000).await.expect("list succeeds");
    let d = all
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("{id} is listed"));
    (d.status, d.attempts, d.due_at, d.last_error.clone())
}

/// Runs the whole [`Outbox`] contract against two handles on one fresh store,
/// as two replicas would hold them.
///
/// Covers: enqueue refusing a taken id; nothing claimed before it is due or
/// while leased; a claim counting an attempt and returning the payload;
/// oldest due first within the limit; completing and failing only under the
/// claim's lease (`Conflict` otherwise, `NotFound` for no delivery); a
/// failure retried at the time given, dead when no retry is given or after
/// the last attempt; a lease that ran out letting another worker claim it
/// (and one that ran out on the last attempt making it dead); concurrent
/// claims through both handles never sharing a delivery; listing newest
/// first by status without payloads; counts; and purging only finished
/// deliveries older than asked.
pub async fn outbox_contract(a: Arc<dyn Outbox>, b: Arc<dyn Outbox>) {
    claims_respect_due_times_and_leases(&*a, &*b).await;
    completion_and_failure_need_the_lease(&*a, &*b).await;
    leases_run_out(&*a, &*b).await;
    concurrent_claims_never_share(&a, &b).await;
    listing_counting_and_purging(&*a, &*b).await;
}

async fn claims_respect_due_times_and_leases(a: &dyn Outbox, b: &dyn Outbox) {
    a.enqueue(&delivery("dlv_late", 2_000), &[])
        .await
        .expect("enqueue");
    a.enqueue(&delivery("dlv_early", 1_000), &[])
        .await
        .expect("enqueue");
    a.enqueue(&delivery("dlv_middle", 1_500), &[])
        .await
        .expect("enqueue");
    assert_eq!(
        b.enqueue(&delivery("dlv_early", 5_000), &[]).await,
        Err(StoreError::Conflict),
        "a taken id is refused"
    );
    assert!(
        a.claim_due(at(999), &lease("w1", 60_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due yet"
    );
    let claimed = a
        .claim_due(at(1_600), &lease("w1", 60_000), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the limit holds");
    let first = &claimed[0];
    assert_eq!(first.id, "dlv_early", "oldest due first");
    assert_eq!(
        first.payload, "v1.sealed-dlv_early",
        "the payload comes with the claim"
    );
    assert_eq!(first.attempts, 1, "the claim counts an attempt");
    assert_eq!(first.max_attempts, 3);
    assert_eq!(first.kind, "code");
    assert_eq!(first.expire_at, Some(at(601_000)));
    let rest = b
        .claim_due(at(1_600), &lease("w2", 60_000), 10)
        .await
        .unwrap();
    let ids: Vec<_> = rest.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dlv_middle"], "leased and not yet due ones are left");
    assert!(
        b.claim_due(at(2_500), &lease("w3", 60_000), 10)
            .await
            .unwrap()
            .iter()
            .all(|d| d.id == "dlv_late"),
        "leased deliveries are not claimed again while the lease holds"
    );
    for (id, token) in [
        ("dlv_early", "w1"),
        ("dlv_middle", "w2"),
        ("dlv_late", "w3"),
    ] {
        a.complete(id, token, at(3_000)).await.expect("complete");
    }
}

async fn completion_and_failure_need_the_lease(a: &dyn Outbox, b: &dyn Outbox) {
    a.enqueue(&delivery("dlv_retry", 10_000), &[])
        .await
        .unwrap();
    let c = a
        .claim_due(at(10_000), &lease("w1", 70_000), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        b.complete("dlv_retry", "not-the-lease", at(10_100)).await,
        Err(StoreError::Conflict),
        "another lease cannot complete it"
    );
    assert_eq!(
        b.fail("dlv_retry", "not-the-lease", "x", None, at(10_100))
            .await,
        Err(StoreError::Conflict),
        "another lease cannot fail it"
    );
    assert_eq!(
        a.complete("dlv_nowhere", "w1", at(10_100)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        a.fail("dlv_nowhere", "w1", "x", None, at(10_100)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        b.fail(
            "dlv_retry",
            "w1",
            "503 from the receiver",
            Some(at(20_000)),
            at(10_200)
        )
        .await,
        Ok(DeliveryStatus::Pending),
        "a failure with a retry time stays pending"
    );
    assert_eq!(
        status_of(a, "dlv_retry").await,
        (
            DeliveryStatus::Pending,
            1,
            at(20_000),
            Some("503 from the receiver".to_owned())
        )
    );
    assert_eq!(
        a.complete("dlv_retry", "w1", at(10_300)).await,
        Err(StoreError::Conflict),
        "a failure ends the lease"
    );
    assert!(
        a.claim_due(at(19_999), &lease("w2", 80_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "not before the retry time"
    );
    let c = a
        .claim_due(at(20_000), &lease("w2", 80_000), 10)
        .await
        .unwrap();
    assert_eq!(
        (c.len(), c[0].attempts),
        (1, 2),
        "retried, the attempt counted"
    );
    assert_eq!(
        c[0].payload, "v1.sealed-dlv_retry",
        "the payload is kept for retries"
    );
    b.fail("dlv_retry", "w2", "timeout", Some(at(30_000)), at(20_100))
        .await
        .unwrap();
    let c = b
        .claim_due(at(30_000), &lease("w3", 90_000), 10)
        .await
        .unwrap();
    assert_eq!(c[0].attempts, 3);
    assert_eq!(
        a.fail("dlv_retry", "w3", "refused", Some(at(40_000)), at(30_100))
            .await,
        Ok(DeliveryStatus::Dead),
        "after the last attempt it is dead, whatever the retry time"
    );
    assert_eq!(
        status_of(a, "dlv_retry").await,
        (
            DeliveryStatus::Dead,
            3,
            at(30_100),
            Some("refused".to_owned())
        )
    );
    assert!(
        a.claim_due(at(50_000), &lease("w4", 99_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "a dead delivery is never claimed"
    );
    assert_eq!(
        a.complete("dlv_retry", "w3", at(50_000)).await,
        Err(StoreError::Conflict)
    );

    a.enqueue(&delivery("dlv_give_up", 10_000), &[])
        .await
        .unwrap();
    a.claim_due(at(10_000), &lease("w5", 70_000), 10)
        .await
        .unwrap();
    assert_eq!(
        a.fail("dlv_give_up", "w5", "expired", None, at(10_500))
            .await,
        Ok(DeliveryStatus::Dead),
        "no retry time: dead at once"
    );

    a.enqueue(&delivery("dlv_done", 10_000), &[]).await.unwrap();
    a.claim_due(at(10_000), &lease("w6", 70_000), 10)
        .await
        .unwrap();
    b.complete("dlv_done", "w6", at(10_700))
        .await
        .expect("the lease completes it");
    assert_eq!(
        status_of(a, "dlv_done").await,
        (DeliveryStatus::Delivered, 1, at(10_700), None)
    );
    assert_eq!(
        a.complete("dlv_done", "w6", at(10_800)).await,
        Err(StoreError::Conflict),
        "once only"
    );
}

async fn leases_run_out(a: &dyn Outbox, b: &dyn Outbox) {
    a.enqueue(&delivery("dlv_orphan", 100_000), &[])
        .await
        .unwrap();
    let c = a
        .claim_due(at(100_000), &lease("dead-worker", 160_000), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert!(
        b.claim_due(at(159_999), &lease("w2", 220_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let c = b
        .claim_due(at(160_000), &lease("w2", 220_000), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1, "a lease that ran out frees the delivery");
    assert_eq!(c[0].attempts, 2, "the unfinished attempt counted");
    assert_eq!(
        a.complete("dlv_orphan", "dead-worker", at(160_100)).await,
        Err(StoreError::Conflict),
        "the old lease no longer holds"
    );
    // Its third and last attempt never finishes either.
    let c = a
        .claim_due(at(220_000), &lease("w3", 280_000), 10)
        .await
        .unwrap();
    assert_eq!(c[0].attempts, 3);
    assert!(
        b.claim_due(at(280_000), &lease("w4", 340_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, attempts, _, error) = status_of(a, "dlv_orphan").await;
    assert_eq!(
        (status, attempts),
        (DeliveryStatus::Dead, 3),
        "a lease that ran out on the last attempt leaves it dead"
    );
    assert!(error.is_some(), "and says why");
}

async fn concurrent_claims_never_share(a: &Arc<dyn Outbox>, b: &Arc<dyn Outbox>) {
    for i in 0..RACED {
        a.enqueue(&delivery(&format!("dlv_race_{i:02}"), 500_000), &[])
            .await
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let outbox = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let token = format!("racer-{w}");
                let c = outbox
                    .claim_due(at(500_000), &lease(&token, 560_000), RACE_BATCH)
                    .await
                    .expect("claim succeeds");
                if c.is_empty() {
                    break;
                }
                mine.extend(c.into_iter().map(|d| (d.id, token.clone())));
            }
            mine
        });
    }
    let mut seen = BTreeSet::new();
    let mut all = Vec::new();
    while let Some(mine) = tasks.join_next().await {
        for (id, token) in mine.unwrap() {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
            all.push((id, token));
        }
    }
    assert_eq!(seen.len(), RACED, "every delivery was claimed once");
    for (id, token) in all {
        a.complete(&id, &token, at(500_100)).await.unwrap();
    }
}

async fn listing_counting_and_purging(a: &dyn Outbox, b: &dyn Outbox) {
    let before = b.counts().await.unwrap();
    assert_eq!(before.pending, 0, "{before:?}");
    a.enqueue(&delivery("dlv_waiting", 900_000), &[])
        .await
        .unwrap();
    let pending = b.list(Some(DeliveryStatus::Pending), 10).await.unwrap();
    let ids: Vec<_> = pending.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dlv_waiting"]);
    assert_eq!(pending[0].attempts, 0);
    assert_eq!(pending[0].created_at, at(900_000));
    let dead = b.list(Some(DeliveryStatus::Dead), 10).await.unwrap();
    let ids: BTreeSet<_> = dead.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        BTreeSet::from(["dlv_retry", "dlv_give_up", "dlv_orphan"])
    );
    let newest = b.list(None, 2).await.unwrap();
    assert_eq!(newest.len(), 2, "the limit holds");
    assert_eq!(newest[0].id, "dlv_waiting", "newest first");
    let counts = a.counts().await.unwrap();
    assert_eq!(
        counts,
        DeliveryCounts {
            pending: 1,
            delivered: before.delivered,
            dead: 3
        }
    );
    assert_eq!(counts.delivered, 3 + 1 + RACED as u64);
    // Finished ones last changed before 100 s go; the rest stay.
    let purged = b.purge_finished(at(100_000)).await.unwrap();
    assert_eq!(
        purged,
        3 + 1 + 2,
        "early, middle, late, done, retry, give_up"
    );
    let counts = a.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.dead, counts.delivered),
        (1, 1, RACED as u64)
    );
    assert_eq!(
        a.purge_finished(Timestamp(i64::MAX)).await.unwrap(),
        1 + RACED as u64
    );
    assert_eq!(
        a.counts().await.unwrap(),
        DeliveryCounts {
            pending: 1,
            delivered: 0,
            dead: 0
        },
        "pending deliveries are never purged"
    );
}

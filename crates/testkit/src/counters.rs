//! The [`Counters`] contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use latch_core::model::{Duration, Timestamp};
use latch_core::ports::Counters;

/// Concurrent hits in the race check, spread over both handles.
const RACERS: u64 = 50;

/// The wall clock: a store's windows may run on its own real clock.
fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// Runs the whole [`Counters`] contract against two handles on one fresh
/// store, as two replicas would hold them (two connections, two pools).
///
/// Covers: a first hit counting 1 with a window no longer than asked; hits
/// through either handle counting on one window; keys kept apart; of many
/// concurrent hits through both handles each seeing a different count, with
/// none lost; a new window starting once the old one ended (on the wall
/// clock, since a store may use its own); and purging leaving live windows
/// alone.
pub async fn counters_contract(a: Arc<dyn Counters>, b: Arc<dyn Counters>) {
    first_hit_and_shared_window(&*a, &*b).await;
    keys_are_apart(&*a).await;
    concurrent_hits_each_count_once(&a, &b).await;
    windows_end_and_purge_keeps_live_ones(&*a, &*b).await;
}

async fn first_hit_and_shared_window(a: &dyn Counters, b: &dyn Counters) {
    let window = Duration::seconds(10);
    let first = a.hit("shared", window, now()).await.expect("hit succeeds");
    assert_eq!(first.count, 1, "a fresh key's first hit counts 1");
    assert!(
        first.resets_in.0 > 0 && first.resets_in <= window,
        "the window ends within its length: {:?}",
        first.resets_in
    );
    let second = b.hit("shared", window, now()).await.unwrap();
    assert_eq!(second.count, 2, "another handle counts on the same window");
    assert!(
        second.resets_in <= first.resets_in,
        "the window does not restart"
    );
    assert_eq!(a.hit("shared", window, now()).await.unwrap().count, 3);
}

async fn keys_are_apart(a: &dyn Counters) {
    let window = Duration::seconds(10);
    assert_eq!(a.hit("apart:1", window, now()).await.unwrap().count, 1);
    assert_eq!(a.hit("apart:1", window, now()).await.unwrap().count, 2);
    assert_eq!(
        a.hit("apart:2", window, now()).await.unwrap().count,
        1,
        "another key has its own count"
    );
}

async fn concurrent_hits_each_count_once(a: &Arc<dyn Counters>, b: &Arc<dyn Counters>) {
    let window = Duration::seconds(30);
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = Arc::clone(if i % 2 == 0 { a } else { b });
        tasks.push(tokio::spawn(async move {
            store
                .hit("race", window, now())
                .await
                .expect("hit succeeds")
                .count
        }));
    }
    let mut counts = BTreeSet::new();
    for task in tasks {
        assert!(
            counts.insert(task.await.unwrap()),
            "two concurrent hits saw the same count"
        );
    }
    assert_eq!(
        counts,
        (1..=RACERS).collect::<BTreeSet<_>>(),
        "every concurrent hit counted exactly once"
    );
}

async fn windows_end_and_purge_keeps_live_ones(a: &dyn Counters, b: &dyn Counters) {
    let short = Duration(300);
    assert_eq!(a.hit("short", short, now()).await.unwrap().count, 1);
    assert_eq!(b.hit("short", short, now()).await.unwrap().count, 2);
    let long = Duration::seconds(60);
    a.hit("long", long, now()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    a.purge_expired(now()).await.expect("purge succeeds");
    assert_eq!(
        b.hit("short", short, now()).await.unwrap().count,
        1,
        "a hit after the window ended starts a new one"
    );
    assert_eq!(
        a.hit("long", long, now()).await.unwrap().count,
        2,
        "purging keeps windows that have not ended"
    );
}

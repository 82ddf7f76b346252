//! The [`InstanceStore`] contract.

use std::sync::Arc;

use latch_core::ports::InstanceStore;
use tokio::task::JoinSet;

/// Runs the whole [`InstanceStore`] contract against `store`, which must be
/// fresh and empty.
///
/// Covers: `get` of a missing key, `get_or_insert` keeping the first value (and
/// returning it to later callers), keys being independent, values round-tripping
/// byte for byte, and concurrent `get_or_insert` calls all agreeing on one of
/// the offered values; `compare_and_set` (inserting where
/// nothing is, replacing only the value expected, one winner of a race).
pub async fn instance_store_contract(store: Arc<dyn InstanceStore>) {
    assert_eq!(
        store.get("secret_key").await,
        Ok(None),
        "get of a missing key"
    );

    assert_eq!(
        store.get_or_insert("secret_key", "sk_first").await,
        Ok("sk_first".to_owned()),
        "the first value is stored"
    );
    assert_eq!(
        store.get("secret_key").await,
        Ok(Some("sk_first".to_owned()))
    );
    assert_eq!(
        store.get_or_insert("secret_key", "sk_second").await,
        Ok("sk_first".to_owned()),
        "a later value does not replace it"
    );
    assert_eq!(
        store.get("secret_key").await,
        Ok(Some("sk_first".to_owned()))
    );

    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADAN\t ünïcødé\n-----END PRIVATE KEY-----\n"
        .repeat(40);
    assert_eq!(
        store.get_or_insert("signing_key", &pem).await,
        Ok(pem.clone()),
        "large multi-line values round-trip"
    );
    assert_eq!(store.get("signing_key").await, Ok(Some(pem)));
    assert_eq!(
        store.get("secret_key").await,
        Ok(Some("sk_first".to_owned())),
        "keys are independent"
    );
    assert_eq!(
        store.get_or_insert("empty", "").await,
        Ok(String::new()),
        "an empty value is a value"
    );
    assert_eq!(
        store.get_or_insert("empty", "not empty").await,
        Ok(String::new())
    );

    let mut racers = JoinSet::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        racers.spawn(async move { store.get_or_insert("raced", &format!("value_{i}")).await });
    }
    let winners: Vec<String> = racers
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("get_or_insert succeeds under contention"))
        .collect();
    let winner = winners[0].clone();
    assert!(
        winners.iter().all(|w| *w == winner),
        "every racer sees the same value: {winners:?}"
    );
    assert!(
        winner.starts_with("value_"),
        "the value is one that was offered"
    );
    assert_eq!(
        store.get("raced").await,
        Ok(Some(winner)),
        "and it is the stored one"
    );

    assert_eq!(
        store.compare_and_set("ring", Some("x"), "y").await,
        Ok(false),
        "nothing to replace"
    );
    assert_eq!(store.get("ring").await, Ok(None));
    assert_eq!(
        store.compare_and_set("ring", None, "first").await,
        Ok(true),
        "inserted"
    );
    assert_eq!(
        store.compare_and_set("ring", None, "again").await,
        Ok(false),
        "already there"
    );
    assert_eq!(
        store.compare_and_set("ring", Some("other"), "z").await,
        Ok(false),
        "not the expected value"
    );
    assert_eq!(store.get("ring").await, Ok(Some("first".to_owned())));
    let mut racers = JoinSet::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        racers.spawn(async move {
            store
                .compare_and_set("ring", Some("first"), &format!("next_{i}"))
                .await
        });
    }
    let won = racers
        .join_all()
        .await
        .into_iter()
        .filter(|r| *r == Ok(true))
        .count();
    assert_eq!(won, 1, "one replacement of one value");
    assert!(
        store
            .get("ring")
            .await
            .unwrap()
            .unwrap()
            .starts_with("next_")
    );
}

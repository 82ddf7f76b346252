//! The flow store's contracts (sign-ins, sign-ups, both kinds apart,
//! counters), on the Redis the machine runs at 127.0.0.1:6379
//! (`.ci/run` starts it if it is down), under a key prefix of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use latch_core::error::StoreError;
use latch_core::model::SignInId;
use latch_core::ports::{Counters, SignInStore};
use latch_redis::{RedisConfig, RedisSignInStore};
use latch_testkit::{flow_kinds_apart_contract, sign_in_store_contract, sign_up_store_contract};

fn prefix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let tag: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("latch-test:{tag}:")
}

fn config(url: &str) -> RedisConfig {
    latch_testkit::services::ensure_services();
    RedisConfig {
        url: url.into(),
        key_prefix: prefix(),
        timeout: Duration::from_secs(2),
    }
}

/// A store on the local Redis under a prefix of its own, so it starts empty.
async fn fresh_store() -> Arc<RedisSignInStore> {
    let store = RedisSignInStore::connect(&config("redis://127.0.0.1:6379"))
        .await
        .expect("Redis runs on 127.0.0.1:6379");
    Arc::new(store)
}

#[tokio::test]
async fn sign_in_store_contract_on_redis() {
    sign_in_store_contract(fresh_store().await).await;
}

#[tokio::test]
async fn sign_up_store_contract_on_redis() {
    sign_up_store_contract(fresh_store().await).await;
}

#[tokio::test]
async fn sign_ins_and_sign_ups_are_kept_apart_on_redis() {
    let store = fresh_store().await;
    flow_kinds_apart_contract(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_contract_on_redis_through_two_connections() {
    let config = config("redis://127.0.0.1:6379");
    let a = RedisSignInStore::connect(&config).await.unwrap();
    let b = RedisSignInStore::connect(&config).await.unwrap();
    latch_testkit::counters_contract(Arc::new(a), Arc::new(b)).await;
}

#[tokio::test]
async fn counters_expire_in_redis_with_their_window() {
    let config = config("redis://127.0.0.1:6379");
    let store = RedisSignInStore::connect(&config).await.unwrap();
    let window = latch_core::model::Duration::seconds(10);
    store
        .hit("ttl", window, latch_testkit::fixtures::at(0))
        .await
        .unwrap();
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}counter:ttl", config.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 10_000,
        "the key lives as long as its window: {ttl}"
    );
}

#[tokio::test]
async fn prefixes_keep_instances_apart() {
    let a = RedisSignInStore::connect(&config("redis://127.0.0.1:6379"))
        .await
        .unwrap();
    let b = RedisSignInStore::connect(&config("redis://127.0.0.1:6379"))
        .await
        .unwrap();
    let sign_in = latch_testkit::fixtures::sign_in("sia_shared", "client_1");
    a.insert(&sign_in).await.unwrap();
    assert_eq!(
        a.get(&SignInId("sia_shared".into())).await.unwrap(),
        Some(sign_in.clone())
    );
    assert_eq!(b.get(&SignInId("sia_shared".into())).await.unwrap(), None);
    b.insert(&sign_in)
        .await
        .expect("the same id under another prefix");
    a.delete(&sign_in.id).await.unwrap();
    b.delete(&sign_in.id).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_within_the_timeout() {
    // Nothing listens on port 1.
    let started = std::time::Instant::now();
    let err = RedisSignInStore::connect(&RedisConfig {
        timeout: Duration::from_millis(500),
        ..config("redis://127.0.0.1:1")
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

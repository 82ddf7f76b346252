//! The [`SignInStore`] contract.

use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{
    Duration, FactorSlot, SessionId, SignIn, SignInId, SignInStatus, Strategy, Timestamp,
};
use latch_core::ports::SignInStore;

use crate::fixtures::{self, at};

/// How many tasks race in the concurrency checks.
const RACERS: usize = 16;

/// Runs the whole [`SignInStore`] contract against `store`, which must be fresh
/// and empty.
///
/// Covers: `insert` storing a new sign-in and refusing (storing nothing) an id
/// that exists; `replace` as a compare-and-set on the version (the right version
/// applies, a stale or future one is `Conflict` and changes nothing, an unknown
/// id is `NotFound`; of many racing replaces from one version exactly one wins);
/// `get` returning the sign-in exactly as stored, version included, through
/// every state; `delete` (also of an unknown id); and `purge_abandoned` dropping
/// exactly the sign-ins whose `abandon_at` is before `now`. Whether a stored
/// sign-in past its `abandon_at` can still be read is left open, as the port
/// allows.
pub async fn sign_in_store_contract(store: Arc<dyn SignInStore>) {
    empty_store(&*store).await;
    insert_and_replace_through_every_state(&*store).await;
    stale_versions_conflict(&*store).await;
    racing_replaces_have_one_winner(&store).await;
    delete_and_purge(&*store).await;
}

fn sid(id: &str) -> SignInId {
    SignInId(id.to_owned())
}

async fn get(store: &dyn SignInStore, id: &str) -> Option<SignIn> {
    store.get(&sid(id)).await.expect("get succeeds")
}

/// Applies `change` to `sign_in` as a caller does, bumping its version, and
/// stores it; returns what `replace` said.
async fn change(
    store: &dyn SignInStore,
    sign_in: &mut SignIn,
    change: impl FnOnce(&mut SignIn),
) -> Result<(), StoreError> {
    change(sign_in);
    let expected = sign_in.next_version();
    store.replace(sign_in, expected).await
}

async fn empty_store(store: &dyn SignInStore) {
    assert_eq!(get(store, "sia_1").await, None, "get on an empty store");
    store
        .delete(&sid("sia_1"))
        .await
        .expect("delete of an unknown sign-in");
    assert_eq!(
        store.purge_abandoned(at(1_000_000_000)).await,
        Ok(0),
        "purge on an empty store"
    );
    let mut ghost = fixtures::sign_in("sia_ghost", "client_1");
    let expected = ghost.next_version();
    assert_eq!(
        store.replace(&ghost, expected).await,
        Err(StoreError::NotFound),
        "replace of an unknown sign-in"
    );
    assert_eq!(
        get(store, "sia_ghost").await,
        None,
        "a failed replace stores nothing"
    );
}

async fn insert_and_replace_through_every_state(store: &dyn SignInStore) {
    let user = fixtures::user("user_alice", "alice@example.com");
    let mut sign_in = fixtures::sign_in("sia_1", "client_1");
    store.insert(&sign_in).await.expect("insert a new sign-in");
    assert_eq!(get(store, "sia_1").await, Some(sign_in.clone()));

    let mut clash = fixtures::sign_in("sia_1", "client_other");
    clash.abandon_at = at(1);
    assert!(
        store.insert(&clash).await.is_err(),
        "insert with an id that exists fails"
    );
    assert_eq!(
        get(store, "sia_1").await,
        Some(sign_in.clone()),
        "a failed insert leaves the stored sign-in alone"
    );

    change(store, &mut sign_in, |s| {
        s.identify("alice@example.com".to_owned(), &user, at(10))
            .expect("identify");
        s.factor_failed(
            FactorSlot::First,
            Strategy::OAuth("custom_acme".to_owned()),
            at(11),
        )
        .expect("first factor fails");
        s.factor_failed(
            FactorSlot::First,
            Strategy::OAuth("custom_acme".to_owned()),
            at(12),
        )
        .expect("first factor fails again");
    })
    .await
    .expect("replace with the stored version");
    assert_eq!(sign_in.version(), 1);
    let stored = get(store, "sia_1")
        .await
        .expect("the replaced sign-in is there");
    assert_eq!(
        stored, sign_in,
        "replace stores the sign-in, version included"
    );
    assert_eq!(stored.status_at(at(13)), SignInStatus::NeedsFirstFactor);

    change(store, &mut sign_in, |s| {
        s.first_factor_passed(Strategy::Password, true, at(14))
            .expect("first factor passes");
    })
    .await
    .expect("replace again");
    change(store, &mut sign_in, |s| {
        s.second_factor_passed(Strategy::Totp, at(15))
            .expect("second factor passes");
        s.complete(SessionId("sess_1".to_owned()), at(16))
            .expect("complete");
    })
    .await
    .expect("replace a third time");
    let stored = get(store, "sia_1")
        .await
        .expect("the completed sign-in is there");
    assert_eq!(stored, sign_in);
    assert_eq!(stored.version(), 3);
    assert_eq!(stored.status_at(at(17)), SignInStatus::Complete);

    let other = fixtures::sign_in("sia_2", "client_2");
    store.insert(&other).await.expect("insert a second sign-in");
    assert_eq!(
        get(store, "sia_1").await,
        Some(sign_in),
        "sign-ins are independent"
    );
    assert_eq!(get(store, "sia_2").await, Some(other));
}

async fn stale_versions_conflict(store: &dyn SignInStore) {
    let user = fixtures::user("user_bob", "bob@example.com");
    let mut first = fixtures::sign_in("sia_stale", "client_1");
    store.insert(&first).await.expect("insert sia_stale");
    // A second request read the same version before the first one wrote.
    let mut second = first.clone();

    change(store, &mut first, |s| {
        s.identify("bob@example.com".to_owned(), &user, at(10))
            .expect("identify");
    })
    .await
    .expect("the first writer wins");
    assert_eq!(
        change(store, &mut second, |s| s.updated_at = at(20)).await,
        Err(StoreError::Conflict),
        "a replace from a stale version"
    );
    assert_eq!(
        get(store, "sia_stale").await,
        Some(first.clone()),
        "a stale replace changes nothing"
    );

    let mut ahead = first.clone();
    ahead.updated_at = at(30);
    assert_eq!(
        store.replace(&ahead, first.version() + 1).await,
        Err(StoreError::Conflict),
        "a replace from a version the store has not reached"
    );
    assert_eq!(get(store, "sia_stale").await, Some(first.clone()));

    // The loser reloads and retries from what is stored.
    let mut reloaded = get(store, "sia_stale").await.expect("sia_stale is there");
    change(store, &mut reloaded, |s| s.updated_at = at(40))
        .await
        .expect("a retry from the stored version");
    assert_eq!(reloaded.version(), 2);
    assert_eq!(get(store, "sia_stale").await, Some(reloaded));
}

async fn racing_replaces_have_one_winner(store: &Arc<dyn SignInStore>) {
    let base = fixtures::sign_in("sia_race", "client_race");
    store.insert(&base).await.expect("insert sia_race");
    for round in 0..3i64 {
        let read = get(&**store, "sia_race").await.expect("sia_race is there");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..RACERS {
            let store = Arc::clone(store);
            let mut mine = read.clone();
            tasks.spawn(async move {
                mine.updated_at = at(1_000 * (round + 1) + i as i64);
                let expected = mine.next_version();
                let result = store.replace(&mine, expected).await;
                (mine, result)
            });
        }
        let outcomes = tasks.join_all().await;
        let winners: Vec<&SignIn> = outcomes
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(sign_in, _)| sign_in)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {RACERS} replaces from one version wins"
        );
        for (_, result) in &outcomes {
            assert!(
                matches!(result, Ok(()) | Err(StoreError::Conflict)),
                "round {round}: the losers get Conflict, not {result:?}"
            );
        }
        let stored = get(&**store, "sia_race").await;
        assert_eq!(
            stored.as_ref(),
            Some(winners[0]),
            "round {round}: the winner's sign-in is stored"
        );
        assert_eq!(
            stored.map(|s| s.version()),
            Some(read.version() + 1),
            "round {round}: the version moved by one"
        );
    }
}

async fn delete_and_purge(store: &dyn SignInStore) {
    for id in ["sia_1", "sia_stale", "sia_race"] {
        store.delete(&sid(id)).await.expect("delete");
        assert_eq!(get(store, id).await, None, "a deleted sign-in is gone");
    }
    let other = get(store, "sia_2").await.expect("sia_2 is there");
    store
        .delete(&sid("sia_1"))
        .await
        .expect("a second delete is fine");
    let mut gone = fixtures::sign_in("sia_1", "client_1");
    let expected = gone.next_version();
    assert_eq!(
        store.replace(&gone, expected).await,
        Err(StoreError::NotFound),
        "replace of a deleted sign-in"
    );
    assert_eq!(get(store, "sia_1").await, None);

    let with_abandon_at = |id: &str, abandon_at: Timestamp| {
        let mut sign_in = fixtures::sign_in(id, "client_3");
        sign_in.abandon_at = abandon_at;
        sign_in
    };
    let early = with_abandon_at("sia_early", at(1_000));
    let late = with_abandon_at("sia_late", at(5_000));
    store.insert(&early).await.expect("insert sia_early");
    store.insert(&late).await.expect("insert sia_late");
    assert_eq!(
        store.purge_abandoned(at(3_000)).await,
        Ok(1),
        "one sign-in was abandoned before now"
    );
    assert_eq!(
        get(store, "sia_early").await,
        None,
        "the abandoned sign-in is purged"
    );
    assert_eq!(
        get(store, "sia_late").await,
        Some(late),
        "a sign-in still running stays"
    );
    assert_eq!(
        get(store, "sia_2").await,
        Some(other.clone()),
        "a sign-in still running stays"
    );
    assert_eq!(
        store.purge_abandoned(at(3_000)).await,
        Ok(0),
        "purging again finds nothing"
    );
    assert_eq!(
        store
            .purge_abandoned(other.abandon_at.plus(Duration(1)))
            .await,
        Ok(2),
        "later, both are abandoned"
    );
    assert_eq!(get(store, "sia_late").await, None);
    assert_eq!(get(store, "sia_2").await, None);
    store
        .insert(&early)
        .await
        .expect("a purged sign-in's id can be inserted again");
}

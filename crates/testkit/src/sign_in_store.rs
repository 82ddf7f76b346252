//! The [`SignInStore`] contract.

use std::sync::Arc;

use latch_core::model::{Duration, SessionId, SignInId, SignInStatus, Strategy, Timestamp};
use latch_core::ports::SignInStore;

use crate::fixtures::{self, at};

/// Runs the whole [`SignInStore`] contract against `store`, which must be fresh
/// and empty.
///
/// Covers: `put` inserting and then replacing by id, `get` returning the
/// sign-in exactly as put through every state it can be in, `delete` (also of
/// an unknown id), and `purge_abandoned` dropping exactly the sign-ins whose
/// `abandon_at` is before `now`. Whether a stored sign-in past its `abandon_at`
/// can still be read is left open, as the port allows.
pub async fn sign_in_store_contract(store: Arc<dyn SignInStore>) {
    let store = &*store;
    let get = async |id: &str| {
        store
            .get(&SignInId(id.to_owned()))
            .await
            .expect("get succeeds")
    };

    assert_eq!(get("sia_1").await, None, "get on an empty store");
    store
        .delete(&SignInId("sia_1".to_owned()))
        .await
        .expect("delete of an unknown sign-in");
    assert_eq!(
        store.purge_abandoned(at(1_000_000_000)).await,
        Ok(0),
        "purge on an empty store"
    );

    // One sign-in through each state, replaced by id at every step.
    let user = fixtures::user("user_alice", "alice@example.com");
    let mut sign_in = fixtures::sign_in("sia_1", "client_1");
    store.put(&sign_in).await.expect("put a new sign-in");
    assert_eq!(get("sia_1").await, Some(sign_in.clone()));

    sign_in
        .identify("alice@example.com".to_owned(), &user, at(10))
        .expect("identify");
    sign_in.first_factor_failed(Strategy::OAuth("custom_acme".to_owned()), at(11));
    sign_in.first_factor_failed(Strategy::OAuth("custom_acme".to_owned()), at(12));
    store.put(&sign_in).await.expect("replace the sign-in");
    let stored = get("sia_1").await.expect("the replaced sign-in is there");
    assert_eq!(stored, sign_in, "put replaces the sign-in");
    assert_eq!(stored.status_at(at(13)), SignInStatus::NeedsFirstFactor);

    sign_in.first_factor_passed(Strategy::Password, false, at(14));
    sign_in.complete(SessionId("sess_1".to_owned()), at(15));
    store
        .put(&sign_in)
        .await
        .expect("replace the sign-in again");
    let stored = get("sia_1").await.expect("the completed sign-in is there");
    assert_eq!(stored, sign_in);
    assert_eq!(stored.status_at(at(16)), SignInStatus::Complete);

    let other = fixtures::sign_in("sia_2", "client_2");
    store.put(&other).await.expect("put a second sign-in");
    assert_eq!(
        get("sia_1").await,
        Some(sign_in),
        "sign-ins are independent"
    );
    assert_eq!(get("sia_2").await, Some(other.clone()));

    store
        .delete(&SignInId("sia_1".to_owned()))
        .await
        .expect("delete sia_1");
    assert_eq!(get("sia_1").await, None, "a deleted sign-in is gone");
    assert_eq!(
        get("sia_2").await,
        Some(other.clone()),
        "delete leaves others alone"
    );
    store
        .delete(&SignInId("sia_1".to_owned()))
        .await
        .expect("a second delete is fine");

    let with_abandon_at = |id: &str, abandon_at: Timestamp| {
        let mut sign_in = fixtures::sign_in(id, "client_3");
        sign_in.abandon_at = abandon_at;
        sign_in
    };
    let early = with_abandon_at("sia_early", at(1_000));
    let late = with_abandon_at("sia_late", at(5_000));
    store.put(&early).await.unwrap();
    store.put(&late).await.unwrap();
    assert_eq!(
        store.purge_abandoned(at(3_000)).await,
        Ok(1),
        "one sign-in was abandoned before now"
    );
    assert_eq!(
        get("sia_early").await,
        None,
        "the abandoned sign-in is purged"
    );
    assert_eq!(
        get("sia_late").await,
        Some(late),
        "a sign-in still running stays"
    );
    assert_eq!(
        get("sia_2").await,
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
    assert_eq!(get("sia_late").await, None);
    assert_eq!(get("sia_2").await, None);
}

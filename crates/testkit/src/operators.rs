//! The [`OperatorStore`] contract.

use latch_core::error::StoreError;
use latch_core::model::UserId;
use latch_core::ports::{Operator, OperatorStore, Revoked, UserRepository};

use crate::fixtures::{at, user};

fn role(id: &str, millis: i64, by: Option<&str>) -> Operator {
    Operator {
        user_id: UserId(id.to_owned()),
        granted_at: at(millis),
        granted_by: by.map(|b| UserId(b.to_owned())),
    }
}

/// Runs the contract on a fresh store; `users` is the same store's user
/// repository (a role needs its user).
///
/// Covers: a first grant only while there is no operator; grants that
/// change nothing when repeated; a role for a missing user refused; the
/// list in grant order with who granted; the last operator kept by
/// revocation; a deleted user's role gone with it; racing first grants
/// and racing revocations.
pub async fn operator_store_contract(store: &dyn OperatorStore, users: &dyn UserRepository) {
    for (id, email) in [
        ("user_op_a", "a@example.com"),
        ("user_op_b", "b@example.com"),
        ("user_op_c", "c@example.com"),
    ] {
        users.insert(&user(id, email), &[]).await.unwrap();
    }
    let a = UserId("user_op_a".into());
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(!store.is_operator(&a).await.unwrap());
    assert_eq!(store.revoke(&a).await.unwrap(), Revoked::NotOperator);

    assert!(
        matches!(
            store
                .grant_first(&role("user_missing", 1, None))
                .await
                .unwrap_err(),
            StoreError::NotFound
        ),
        "a role needs its user"
    );
    assert!(
        matches!(
            store
                .grant(&role("user_missing", 1, None))
                .await
                .unwrap_err(),
            StoreError::NotFound
        ),
        "a role needs its user"
    );
    assert_eq!(store.count().await.unwrap(), 0, "nothing stored for it");

    assert!(
        store
            .grant_first(&role("user_op_a", 10, None))
            .await
            .unwrap()
    );
    assert!(
        !store
            .grant_first(&role("user_op_b", 20, None))
            .await
            .unwrap(),
        "a first grant only while no operator exists"
    );
    assert!(store.is_operator(&a).await.unwrap());
    assert!(
        !store
            .is_operator(&UserId("user_op_b".into()))
            .await
            .unwrap()
    );
    assert_eq!(
        store.revoke(&a).await.unwrap(),
        Revoked::LastOperator,
        "the last operator keeps the role"
    );
    assert!(store.is_operator(&a).await.unwrap());

    assert!(
        store
            .grant(&role("user_op_b", 30, Some("user_op_a")))
            .await
            .unwrap()
    );
    assert!(
        !store.grant(&role("user_op_b", 40, None)).await.unwrap(),
        "a second grant changes nothing"
    );
    assert_eq!(
        store.list(10).await.unwrap(),
        vec![
            role("user_op_a", 10, None),
            role("user_op_b", 30, Some("user_op_a"))
        ],
        "oldest grant first, as granted the first time"
    );
    assert_eq!(store.list(1).await.unwrap().len(), 1, "the limit holds");
    assert_eq!(store.count().await.unwrap(), 2);

    assert_eq!(store.revoke(&a).await.unwrap(), Revoked::Revoked);
    assert!(!store.is_operator(&a).await.unwrap());
    assert_eq!(store.revoke(&a).await.unwrap(), Revoked::NotOperator);

    // A user's deletion takes its role.
    assert!(store.grant(&role("user_op_c", 50, None)).await.unwrap());
    assert!(
        users
            .delete(&UserId("user_op_c".into()), &[])
            .await
            .unwrap()
    );
    assert_eq!(store.count().await.unwrap(), 1);
    assert!(
        !store
            .is_operator(&UserId("user_op_c".into()))
            .await
            .unwrap()
    );

    // Racing revocations of the last two never leave none.
    assert!(store.grant(&role("user_op_a", 60, None)).await.unwrap());
    let b = UserId("user_op_b".into());
    let (one, two) = tokio::join!(store.revoke(&a), store.revoke(&b));
    let outcomes = [one.unwrap(), two.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|r| **r == Revoked::Revoked).count(),
        1,
        "one of two racing revocations wins: {outcomes:?}"
    );
    assert!(outcomes.contains(&Revoked::LastOperator));
    assert_eq!(store.count().await.unwrap(), 1);
}

/// Racing first grants on a fresh store (two handles on it, as two
/// replicas): exactly one becomes the first operator.
pub async fn operator_first_grant_race(
    a: &dyn OperatorStore,
    b: &dyn OperatorStore,
    users: &dyn UserRepository,
) {
    users
        .insert(&user("user_race_a", "race-a@example.com"), &[])
        .await
        .unwrap();
    users
        .insert(&user("user_race_b", "race-b@example.com"), &[])
        .await
        .unwrap();
    let (first_a, first_b) = (role("user_race_a", 1, None), role("user_race_b", 1, None));
    let (one, two) = tokio::join!(a.grant_first(&first_a), b.grant_first(&first_b));
    let granted = [one.unwrap(), two.unwrap()];
    assert_eq!(
        granted.iter().filter(|g| **g).count(),
        1,
        "exactly one first operator: {granted:?}"
    );
    assert_eq!(a.count().await.unwrap(), 1);
}

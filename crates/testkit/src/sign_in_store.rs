//! The [`SignInStore`] contract.

use std::sync::Arc;

use latch_core::model::{FactorSlot, SessionId, SignInStatus, Strategy};
use latch_core::ports::SignInStore;

use crate::fixtures::{self, at};
use crate::flow_store::{self, round_trip};

/// Runs the whole [`SignInStore`] contract against `store`, which must be fresh
/// and empty.
///
/// Covers the rules every flow store port keeps: `insert` storing a new
/// sign-in and refusing (storing nothing) an id that exists; `replace` as a
/// compare-and-set on the version (the right version applies, a stale or
/// future one is `Conflict` and changes nothing, an unknown id is
/// `NotFound`; of many racing replaces from one version exactly one wins);
/// `delete` (also of an unknown id); and `purge_abandoned` dropping exactly
/// the sign-ins whose `abandon_at` is before `now`. Then `get` returning the
/// sign-in exactly as stored, version included, through every state. Whether
/// a stored sign-in past its `abandon_at` can still be read is left open, as
/// the port allows.
pub async fn sign_in_store_contract(store: Arc<dyn SignInStore>) {
    flow_store::contract(&store).await;
    through_every_state(&*store).await;
}

/// A sign-in stored after each step from its start to its completion reads
/// back as it was written.
async fn through_every_state(store: &(dyn SignInStore + 'static)) {
    let user = fixtures::user("user_alice", "alice@example.com");
    let mut sign_in = fixtures::sign_in("sia_states", "client_1");
    store.insert(&sign_in).await.expect("insert a new sign-in");

    let stored = round_trip(store, &mut sign_in, "identified", |s| {
        s.identify("alice@example.com".to_owned(), &user, at(10))
            .expect("identify");
        for failed_at in [11, 12] {
            s.factor_failed(
                FactorSlot::First,
                Strategy::OAuth("custom_acme".to_owned()),
                at(failed_at),
            )
            .expect("first factor fails");
        }
    })
    .await;
    assert_eq!(stored.version(), 1);
    assert_eq!(stored.status_at(at(13)), SignInStatus::NeedsFirstFactor);

    round_trip(store, &mut sign_in, "first factor", |s| {
        s.first_factor_passed(Strategy::Password, true, at(14))
            .expect("first factor passes");
    })
    .await;
    let stored = round_trip(store, &mut sign_in, "completed", |s| {
        s.second_factor_passed(Strategy::Totp, at(15))
            .expect("second factor passes");
        s.complete(SessionId("sess_1".to_owned()), at(16))
            .expect("complete");
    })
    .await;
    assert_eq!(stored.version(), 3);
    assert_eq!(stored.status_at(at(17)), SignInStatus::Complete);
}

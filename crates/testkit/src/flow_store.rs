//! The rules the flow store's ports share ([`SignInStore`], [`SignUpStore`]),
//! written once over [`FlowPort`]; each port's own contract adds what only
//! its kind of flow has.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Duration, SignIn, SignInId, SignUp, SignUpId, Timestamp};
use latch_core::ports::{SignInStore, SignUpStore};

use crate::fixtures::{self, at};

/// How many tasks race in the concurrency checks.
const RACERS: usize = 16;

/// A flow store port as its contract sees it: the port's calls, ids as
/// text, and what the rules need of the kind of flow it keeps.
#[async_trait]
pub(crate) trait FlowPort: Send + Sync + 'static {
    type Flow: Clone + PartialEq + Debug + Send + Sync + 'static;

    /// What the rules call it in their messages: `sign-in`.
    const NAME: &'static str;
    /// How the fixtures' ids start, as the kind's real ids do: `sia_`.
    const ID_PREFIX: &'static str;

    /// A fresh flow `id` on client `client_id`, as [`fixtures`] builds it.
    fn fresh(id: &str, client_id: &str) -> Self::Flow;
    fn id(flow: &Self::Flow) -> &str;
    fn version(flow: &Self::Flow) -> u64;
    fn next_version(flow: &mut Self::Flow) -> u64;
    /// A change any state takes: the flow was updated at `now`.
    fn touch(flow: &mut Self::Flow, now: Timestamp);
    fn abandon_at(flow: &mut Self::Flow) -> &mut Timestamp;

    async fn insert(&self, flow: &Self::Flow) -> Result<(), StoreError>;
    async fn replace(&self, flow: &Self::Flow, expected_version: u64) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Self::Flow>, StoreError>;
    async fn delete(&self, id: &str) -> Result<(), StoreError>;
    async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// Makes `dyn $port` a [`FlowPort`] of `$flow`.
macro_rules! flow_port {
    ($port:ident, $flow:ident, $id:ident, $name:literal, $prefix:literal, $fixture:path) => {
        #[async_trait]
        impl FlowPort for dyn $port {
            type Flow = $flow;

            const NAME: &'static str = $name;
            const ID_PREFIX: &'static str = $prefix;

            fn fresh(id: &str, client_id: &str) -> $flow {
                $fixture(id, client_id)
            }
            fn id(flow: &$flow) -> &str {
                flow.id.as_str()
            }
            fn version(flow: &$flow) -> u64 {
                flow.version()
            }
            fn next_version(flow: &mut $flow) -> u64 {
                flow.next_version()
            }
            fn touch(flow: &mut $flow, now: Timestamp) {
                flow.updated_at = now;
            }
            fn abandon_at(flow: &mut $flow) -> &mut Timestamp {
                &mut flow.abandon_at
            }

            async fn insert(&self, flow: &$flow) -> Result<(), StoreError> {
                $port::insert(self, flow).await
            }
            async fn replace(&self, flow: &$flow, expected_version: u64) -> Result<(), StoreError> {
                $port::replace(self, flow, expected_version).await
            }
            async fn get(&self, id: &str) -> Result<Option<$flow>, StoreError> {
                $port::get(self, &$id(id.to_owned())).await
            }
            async fn delete(&self, id: &str) -> Result<(), StoreError> {
                $port::delete(self, &$id(id.to_owned())).await
            }
            async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError> {
                $port::purge_abandoned(self, now).await
            }
        }
    };
}

flow_port!(
    SignInStore,
    SignIn,
    SignInId,
    "sign-in",
    "sia_",
    fixtures::sign_in
);
flow_port!(
    SignUpStore,
    SignUp,
    SignUpId,
    "sign-up",
    "sua_",
    fixtures::sign_up
);

/// The id `<prefix><name>` of the store's kind.
pub(crate) fn id<P: FlowPort + ?Sized>(name: &str) -> String {
    format!("{}{name}", P::ID_PREFIX)
}

pub(crate) async fn get<P: FlowPort + ?Sized>(store: &P, id: &str) -> Option<P::Flow> {
    store.get(id).await.expect("get succeeds")
}

/// Applies `change` to `flow` as a caller does, bumping its version, and
/// stores it; returns what `replace` said.
pub(crate) async fn change<P: FlowPort + ?Sized>(
    store: &P,
    flow: &mut P::Flow,
    change: impl FnOnce(&mut P::Flow),
) -> Result<(), StoreError> {
    change(flow);
    let expected = P::next_version(flow);
    store.replace(flow, expected).await
}

/// Applies `step` to `flow` and stores it (see [`change`]), which must
/// succeed, and reads it back: what is stored must be what was written,
/// version included. Returns what was read, for checks of the kind's own.
pub(crate) async fn round_trip<P: FlowPort + ?Sized>(
    store: &P,
    flow: &mut P::Flow,
    what: &str,
    step: impl FnOnce(&mut P::Flow),
) -> P::Flow {
    change(store, flow, step)
        .await
        .unwrap_or_else(|e| panic!("{what}: replace from the stored version: {e:?}"));
    let stored = get(store, P::id(flow))
        .await
        .unwrap_or_else(|| panic!("{what}: the {} is there", P::NAME));
    assert_eq!(&stored, flow, "{what}: stored as written");
    stored
}

/// The shared rules, on a fresh and empty store: `insert` storing a new flow
/// and refusing (storing nothing) an id that exists; `replace` as a
/// compare-and-set on the version (the right version applies, a stale or
/// future one is `Conflict` and changes nothing, an unknown id is
/// `NotFound`; of many racing replaces from one version exactly one wins);
/// `get` returning the flow exactly as stored, version included; `delete`
/// (also of an unknown id); and `purge_abandoned` dropping exactly the flows
/// whose `abandon_at` is before `now`. Whether a stored flow past its
/// `abandon_at` can still be read is left open, as the ports allow.
///
/// Leaves one flow behind, `<prefix>early`.
pub(crate) async fn contract<P: FlowPort + ?Sized>(store: &Arc<P>) {
    empty_store(&**store).await;
    insert_refuses_a_taken_id(&**store).await;
    stale_versions_conflict(&**store).await;
    racing_replaces_have_one_winner(store).await;
    delete_and_purge(&**store).await;
}

async fn empty_store<P: FlowPort + ?Sized>(store: &P) {
    let name = P::NAME;
    assert_eq!(
        get(store, &id::<P>("1")).await,
        None,
        "get of a {name} on an empty store"
    );
    store
        .delete(&id::<P>("1"))
        .await
        .unwrap_or_else(|e| panic!("delete of an unknown {name}: {e:?}"));
    assert_eq!(
        store.purge_abandoned(at(1_000_000_000)).await,
        Ok(0),
        "purge of {name}s on an empty store"
    );
    replace_finds_nothing(store, "ghost", "an unknown").await;
}

/// A replace of `<prefix><name>`, which is not stored, is `NotFound` and
/// stores nothing.
async fn replace_finds_nothing<P: FlowPort + ?Sized>(store: &P, name: &str, which: &str) {
    let kind = P::NAME;
    let mut flow = P::fresh(&id::<P>(name), "client_1");
    let expected = P::next_version(&mut flow);
    assert_eq!(
        store.replace(&flow, expected).await,
        Err(StoreError::NotFound),
        "replace of {which} {kind}"
    );
    assert_eq!(
        get(store, &id::<P>(name)).await,
        None,
        "a failed replace of {which} {kind} stores nothing"
    );
}

async fn insert_refuses_a_taken_id<P: FlowPort + ?Sized>(store: &P) {
    let name = P::NAME;
    let mut flow = P::fresh(&id::<P>("1"), "client_1");
    store
        .insert(&flow)
        .await
        .unwrap_or_else(|e| panic!("insert a new {name}: {e:?}"));
    assert_eq!(get(store, &id::<P>("1")).await, Some(flow.clone()));
    change(store, &mut flow, |f| P::touch(f, at(5)))
        .await
        .unwrap_or_else(|e| panic!("replace a {name} with the stored version: {e:?}"));

    let mut clash = P::fresh(&id::<P>("1"), "client_other");
    *P::abandon_at(&mut clash) = at(1);
    assert!(
        store.insert(&clash).await.is_err(),
        "insert of a {name} with an id that exists fails"
    );
    assert_eq!(
        get(store, &id::<P>("1")).await,
        Some(flow.clone()),
        "a failed insert leaves the stored {name} alone"
    );
    assert_eq!(P::version(&flow), 1);

    let other = P::fresh(&id::<P>("2"), "client_2");
    store
        .insert(&other)
        .await
        .unwrap_or_else(|e| panic!("insert a second {name}: {e:?}"));
    assert_eq!(
        get(store, &id::<P>("1")).await,
        Some(flow),
        "{name}s are independent"
    );
    assert_eq!(get(store, &id::<P>("2")).await, Some(other));
}

async fn stale_versions_conflict<P: FlowPort + ?Sized>(store: &P) {
    let name = P::NAME;
    let stale_id = id::<P>("stale");
    let mut first = P::fresh(&stale_id, "client_1");
    store.insert(&first).await.expect("insert the stale flow");
    // A second request read the same version before the first one wrote.
    let mut second = first.clone();

    change(store, &mut first, |f| P::touch(f, at(10)))
        .await
        .expect("the first writer wins");
    assert_eq!(
        change(store, &mut second, |f| P::touch(f, at(20))).await,
        Err(StoreError::Conflict),
        "a replace of a {name} from a stale version"
    );
    assert_eq!(
        get(store, &stale_id).await,
        Some(first.clone()),
        "a stale replace of a {name} changes nothing"
    );

    let mut ahead = first.clone();
    P::touch(&mut ahead, at(30));
    assert_eq!(
        store.replace(&ahead, P::version(&first) + 1).await,
        Err(StoreError::Conflict),
        "a replace of a {name} from a version the store has not reached"
    );
    assert_eq!(get(store, &stale_id).await, Some(first.clone()));

    // The loser reloads and retries from what is stored.
    let mut reloaded = get(store, &stale_id)
        .await
        .expect("the stale flow is there");
    change(store, &mut reloaded, |f| P::touch(f, at(40)))
        .await
        .expect("a retry from the stored version");
    assert_eq!(P::version(&reloaded), 2);
    assert_eq!(get(store, &stale_id).await, Some(reloaded));
}

async fn racing_replaces_have_one_winner<P: FlowPort + ?Sized>(store: &Arc<P>) {
    let name = P::NAME;
    let race_id = id::<P>("race");
    let base = P::fresh(&race_id, "client_race");
    store.insert(&base).await.expect("insert the raced flow");
    for round in 0..3i64 {
        let read = get(&**store, &race_id)
            .await
            .expect("the raced flow is there");
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..RACERS {
            let store = Arc::clone(store);
            let mut mine = read.clone();
            tasks.spawn(async move {
                P::touch(&mut mine, at(1_000 * (round + 1) + i as i64));
                let expected = P::next_version(&mut mine);
                let result = store.replace(&mine, expected).await;
                (mine, result)
            });
        }
        let outcomes = tasks.join_all().await;
        let winners: Vec<&P::Flow> = outcomes
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(flow, _)| flow)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {RACERS} replaces of a {name} from one version wins"
        );
        for (_, result) in &outcomes {
            assert!(
                matches!(result, Ok(()) | Err(StoreError::Conflict)),
                "round {round}: the losers get Conflict, not {result:?}"
            );
        }
        let stored = get(&**store, &race_id).await;
        assert_eq!(
            stored.as_ref(),
            Some(winners[0]),
            "round {round}: the winner's {name} is stored"
        );
        assert_eq!(
            stored.as_ref().map(P::version),
            Some(P::version(&read) + 1),
            "round {round}: the version moved by one"
        );
    }
}

async fn delete_and_purge<P: FlowPort + ?Sized>(store: &P) {
    let name = P::NAME;
    for id in [id::<P>("1"), id::<P>("stale"), id::<P>("race")] {
        store.delete(&id).await.expect("delete");
        assert_eq!(get(store, &id).await, None, "a deleted {name} is gone");
    }
    let mut other = get(store, &id::<P>("2"))
        .await
        .expect("the second flow is there");
    store
        .delete(&id::<P>("1"))
        .await
        .expect("a second delete is fine");
    replace_finds_nothing(store, "1", "a deleted").await;

    let with_abandon_at = |name: &str, abandon_at: Timestamp| {
        let mut flow = P::fresh(&id::<P>(name), "client_3");
        *P::abandon_at(&mut flow) = abandon_at;
        flow
    };
    let early = with_abandon_at("early", at(1_000));
    let late = with_abandon_at("late", at(5_000));
    store.insert(&early).await.expect("insert the early flow");
    store.insert(&late).await.expect("insert the late flow");
    assert_eq!(
        store.purge_abandoned(at(3_000)).await,
        Ok(1),
        "one {name} was abandoned before now"
    );
    assert_eq!(
        get(store, &id::<P>("early")).await,
        None,
        "the abandoned {name} is purged"
    );
    assert_eq!(
        get(store, &id::<P>("late")).await,
        Some(late),
        "a {name} still running stays"
    );
    assert_eq!(
        get(store, &id::<P>("2")).await,
        Some(other.clone()),
        "a {name} still running stays"
    );
    assert_eq!(
        store.purge_abandoned(at(3_000)).await,
        Ok(0),
        "purging again finds nothing"
    );
    let other_ends = P::abandon_at(&mut other).plus(Duration(1));
    assert_eq!(
        store.purge_abandoned(other_ends).await,
        Ok(2),
        "later, both {name}s are abandoned"
    );
    assert_eq!(get(store, &id::<P>("late")).await, None);
    assert_eq!(get(store, &id::<P>("2")).await, None);
    store
        .insert(&early)
        .await
        .unwrap_or_else(|e| panic!("a purged {name}'s id can be inserted again: {e:?}"));
}

/// Runs the contract of one flow store that keeps both kinds, given as its
/// two ports, which must be fresh and empty: a sign-in and a sign-up with
/// the same id are two flows, each with its own version, and inserting,
/// replacing, deleting or purging one kind never touches the other.
pub async fn flow_kinds_apart_contract(
    sign_ins: Arc<dyn SignInStore>,
    sign_ups: Arc<dyn SignUpStore>,
) {
    let (sign_ins, sign_ups) = (&*sign_ins, &*sign_ups);
    let same = "flow_same";
    let mut sign_in = fixtures::sign_in(same, "client_in");
    let mut sign_up = fixtures::sign_up(same, "client_up");
    sign_ins.insert(&sign_in).await.expect("insert the sign-in");
    sign_ups
        .insert(&sign_up)
        .await
        .expect("a sign-up may have a sign-in's id");
    assert_eq!(get(sign_ins, same).await, Some(sign_in.clone()));
    assert_eq!(get(sign_ups, same).await, Some(sign_up.clone()));

    // Each kind's version is its own: both move on from version 0.
    change(sign_ups, &mut sign_up, |s| s.updated_at = at(10))
        .await
        .expect("replace the sign-up");
    assert_eq!(
        change(sign_ins, &mut sign_in, |s| s.updated_at = at(20)).await,
        Ok(()),
        "the sign-in's version is not the sign-up's"
    );
    assert_eq!(get(sign_ins, same).await, Some(sign_in.clone()));
    assert_eq!(get(sign_ups, same).await, Some(sign_up.clone()));

    FlowPort::delete(sign_ins, same)
        .await
        .expect("delete the sign-in");
    assert_eq!(get(sign_ins, same).await, None);
    assert_eq!(
        get(sign_ups, same).await,
        Some(sign_up.clone()),
        "deleting a sign-in leaves the sign-up with its id"
    );
    assert_eq!(
        change(sign_ins, &mut sign_in, |s| s.updated_at = at(30)).await,
        Err(StoreError::NotFound),
        "a sign-up is no sign-in to replace"
    );

    let mut old_sign_in = fixtures::sign_in("flow_old", "client_in");
    old_sign_in.abandon_at = at(1_000);
    sign_ins
        .insert(&old_sign_in)
        .await
        .expect("insert an old sign-in");
    change(sign_ups, &mut sign_up, |s| s.abandon_at = at(1_000))
        .await
        .expect("the sign-up ends early");
    assert_eq!(
        sign_ins.purge_abandoned(at(2_000)).await,
        Ok(1),
        "purging sign-ins counts sign-ins only"
    );
    assert_eq!(
        get(sign_ups, same).await,
        Some(sign_up),
        "purging sign-ins leaves sign-ups"
    );
    assert_eq!(sign_ups.purge_abandoned(at(2_000)).await, Ok(1));
    assert_eq!(get(sign_ups, same).await, None);
}

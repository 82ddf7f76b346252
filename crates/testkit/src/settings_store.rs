//! The [`SettingsStore`] contract.

use std::sync::Arc;

use serde_json::json;

use latch_core::model::{AccessList, EntryKind, ListEntry};
use latch_core::ports::SettingsStore;

use crate::fixtures::at;

fn entry(id: &str, list: AccessList, identifier: &str, kind: EntryKind, ms: i64) -> ListEntry {
    ListEntry {
        id: id.to_owned(),
        list,
        identifier: identifier.to_owned(),
        kind,
        created_at: at(ms),
    }
}

/// Runs the contract on two handles of one fresh store (two replicas).
///
/// Covers: no version before the first; versions stored in order and read
/// back whole; a save over a version that is no longer the latest stores
/// nothing; of many replicas saving the same version at once exactly one
/// wins; history newest first; list entries added, read in order, refused
/// twice in one list but allowed in the other, removed once; and the
/// generation growing with every change and only then.
pub async fn settings_store_contract(a: Arc<dyn SettingsStore>, b: Arc<dyn SettingsStore>) {
    assert_eq!(a.latest().await.unwrap(), None);
    assert!(a.history(10).await.unwrap().is_empty());
    let g0 = a.generation().await.unwrap();

    let first = json!({"password": {"min_length": 8}, "sign_up": {"mode": "public"}});
    assert!(a.save(0, &first, "system", at(1_000)).await.unwrap());
    let latest = b.latest().await.unwrap().expect("a version is stored");
    assert_eq!(latest.version, 1);
    assert_eq!(latest.document, first, "the document reads back whole");
    assert_eq!(latest.changed_at, at(1_000));
    assert_eq!(latest.changed_by, "system");
    let g1 = b.generation().await.unwrap();
    assert!(g1 > g0, "a save moves the generation");

    // A save over a stale version stores nothing and moves nothing.
    let stale = json!({"password": {"min_length": 99}});
    assert!(!b.save(0, &stale, "backend", at(2_000)).await.unwrap());
    assert_eq!(a.latest().await.unwrap().unwrap().version, 1);
    assert_eq!(a.generation().await.unwrap(), g1);

    // Replicas racing for version 2: exactly one stores it.
    let mut racers = Vec::new();
    for n in 0..8 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        racers.push(tokio::spawn(async move {
            let doc = json!({ "password": { "min_length": 10 + n } });
            store.save(1, &doc, "backend", at(3_000)).await.unwrap()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1, "one save per version");
    let second = a.latest().await.unwrap().unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(second.changed_by, "backend");

    let history = b.history(10).await.unwrap();
    let versions: Vec<u64> = history.iter().map(|v| v.version).collect();
    assert_eq!(versions, [2, 1], "newest first");
    assert_eq!(history[1].document, first);
    assert_eq!(b.history(1).await.unwrap().len(), 1, "the limit holds");
    let g2 = a.generation().await.unwrap();
    assert!(g2 > g1);

    // Lists.
    let ann = entry(
        "alid_1",
        AccessList::Allow,
        "ann@example.com",
        EntryKind::EmailAddress,
        10,
    );
    let domain = entry(
        "alid_2",
        AccessList::Allow,
        "example.org",
        EntryKind::EmailDomain,
        20,
    );
    let phone = entry(
        "blid_1",
        AccessList::Block,
        "+15555550100",
        EntryKind::PhoneNumber,
        30,
    );
    for e in [&ann, &domain, &phone] {
        assert!(a.add_entry(e).await.unwrap(), "{} added", e.id);
    }
    let g3 = b.generation().await.unwrap();
    assert!(g3 > g2, "list changes move the generation");
    let again = entry(
        "alid_3",
        AccessList::Allow,
        "ann@example.com",
        EntryKind::EmailAddress,
        40,
    );
    assert!(
        !b.add_entry(&again).await.unwrap(),
        "one identifier once per list"
    );
    assert_eq!(
        b.generation().await.unwrap(),
        g3,
        "a refused add moves nothing"
    );
    let blocked_too = entry(
        "blid_2",
        AccessList::Block,
        "ann@example.com",
        EntryKind::EmailAddress,
        50,
    );
    assert!(
        b.add_entry(&blocked_too).await.unwrap(),
        "the other list is another list"
    );
    assert_eq!(
        b.entries(AccessList::Allow).await.unwrap(),
        [ann.clone(), domain.clone()]
    );
    assert_eq!(
        a.entries(AccessList::Block).await.unwrap(),
        [phone.clone(), blocked_too.clone()]
    );

    let g4 = a.generation().await.unwrap();
    assert!(
        !a.remove_entry(AccessList::Block, "alid_1").await.unwrap(),
        "ids are per list"
    );
    assert!(a.remove_entry(AccessList::Allow, "alid_1").await.unwrap());
    assert!(
        !b.remove_entry(AccessList::Allow, "alid_1").await.unwrap(),
        "removed once"
    );
    assert_eq!(b.entries(AccessList::Allow).await.unwrap(), [domain]);
    assert_eq!(
        a.generation().await.unwrap(),
        g4 + 1,
        "one removal, one step"
    );
    // Settings versions are untouched by list changes.
    assert_eq!(a.latest().await.unwrap().unwrap().version, 2);
}

//! The [`UserRepository`] contract.

use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{IdentificationRecord, Identifier, IdentifierKind, User, UserId};
use latch_core::ports::{AttemptSlot, UserQuery, UserRepository};
use serde_json::json;

use crate::fixtures::{self, at};

/// Runs the whole [`UserRepository`] contract against `repo`, which must be
/// fresh and empty; panics on the first broken rule.
///
/// Covers: round trips of the whole aggregate (identification order included),
/// lookups by each identifier kind (email case-insensitive through parsing,
/// phone numbers reserved for the second factor never matching), duplicates of
/// each kind refused with the right kind and nothing stored, `update` replacing
/// identifications atomically (a taken identifier changes nothing; values may
/// move between the user's own records), `delete` freeing identifiers,
/// `list`/`count` filters, order and pagination; the
/// second-factor state (a sealed TOTP secret and backup code digests) round
/// trips, each TOTP step and each backup code is accepted once even when
/// uses race, and updates never rewind the last TOTP step.
pub async fn user_repository_contract(repo: Arc<dyn UserRepository>) {
    second_factor_state(&repo).await;
    external_accounts_link_once(&*repo).await;
    lockout_counts_every_failure_and_locks(&repo).await;
    attempts_follow_one_rule_for_users_and_stand_ins(&repo).await;
    let repo = &*repo;
    empty_store(repo).await;
    list_filters_order_and_pagination(repo).await;
    insert_get_and_find(repo).await;
    duplicates_store_nothing(repo).await;
    update_replaces_the_aggregate(repo).await;
    update_with_a_taken_identifier_changes_nothing(repo).await;
    delete_frees_identifiers(repo).await;
    account_history_round_trips(repo).await;
    an_unverified_claim_yields_to_whoever_writes_the_address(repo).await;
}

/// An address a user added but never proved is a claim: its verification
/// round trips, and writing the address to another user (as a new user or
/// by an update) drops the claim, clears it as primary and moves the
/// claimant's `updated_at`, so a write of theirs from an earlier read is
/// stale. A verified address stays its owner's.
async fn an_unverified_claim_yields_to_whoever_writes_the_address(repo: &dyn UserRepository) {
    use latch_core::model::{SentCode, Strategy, Verification};
    let claim = |id: &str, value: &str| IdentificationRecord {
        verified: false,
        verification: Some(Verification::code_sent(
            Strategy::EmailCode,
            SentCode {
                digest: "d1g35t".to_owned(),
                target_id: id.to_owned(),
                sent_at: at(10),
            },
            at(600_010),
        )),
        ..fixtures::email_address(id, value)
    };
    let mut claimant = fixtures::user("user_claimant", "claimant@example.com");
    claimant
        .email_addresses
        .push(claim("idn_claim_1", "claimed@example.com"));
    claimant.phone_numbers.push(IdentificationRecord {
        verified: false,
        ..fixtures::phone_number("idn_claim_phone", "+14155550987")
    });
    claimant.primary_phone_number_id = Some("idn_claim_phone".to_owned());
    repo.insert(&claimant, &[]).await.unwrap();
    assert_eq!(get(repo, "user_claimant").await, Some(claimant.clone()));

    // A new user with the address and the number.
    let mut owner = fixtures::user("user_claim_owner", "claimed@example.com");
    owner
        .phone_numbers
        .push(fixtures::phone_number("idn_owner_phone", "+14155550987"));
    repo.insert(&owner, &[]).await.unwrap();
    let after = get(repo, "user_claimant").await.unwrap();
    assert_eq!(after.email_addresses.len(), 1, "the claim is gone");
    assert!(after.phone_numbers.is_empty());
    assert_eq!(after.primary_phone_number_id, None);
    assert!(after.updated_at > claimant.updated_at);
    let mut stale = claimant.clone();
    stale.updated_at = at(5_000);
    assert_eq!(
        repo.update(&stale, claimant.updated_at, &[]).await,
        Err(StoreError::Conflict),
        "a write from before the claim was dropped is stale"
    );
    // Now verified, the address is the owner's alone.
    let mut again = after.clone();
    again
        .email_addresses
        .push(claim("idn_claim_2", "claimed@example.com"));
    again.updated_at = at(6_000);
    assert_eq!(
        repo.update(&again, after.updated_at, &[]).await,
        Err(StoreError::Duplicate(IdentifierKind::EmailAddress))
    );

    // By an update: the owner adds an address another user claims.
    let mut second = get(repo, "user_claimant").await.unwrap();
    let read_at = second.updated_at;
    second
        .email_addresses
        .push(claim("idn_claim_3", "next@example.com"));
    second.updated_at = at(7_000);
    repo.update(&second, read_at, &[]).await.unwrap();
    let mut owner = get(repo, "user_claim_owner").await.unwrap();
    let read_at = owner.updated_at;
    owner.email_addresses.push(fixtures::email_address(
        "idn_owner_next",
        "next@example.com",
    ));
    owner.updated_at = at(8_000);
    repo.update(&owner, read_at, &[]).await.unwrap();
    let claimant = get(repo, "user_claimant").await.unwrap();
    assert!(
        !claimant
            .email_addresses
            .iter()
            .any(|e| e.value == "next@example.com")
    );
    assert_eq!(
        find(repo, "next@example.com").await.map(|u| u.id),
        Some(UserId("user_claim_owner".to_owned()))
    );
}

/// The account's history (when its password and two-factor changed) round
/// trips through `insert` and `update`, and the lockout window's failures
/// show on the user as the lockout operations count them.
async fn account_history_round_trips(repo: &dyn UserRepository) {
    let stamped = User {
        password_updated_at: Some(at(10)),
        mfa_enabled_at: Some(at(11)),
        mfa_disabled_at: None,
        ..fixtures::user("user_history", "history@example.com")
    };
    repo.insert(&stamped, &[]).await.expect("insert");
    assert_eq!(get(repo, "user_history").await.as_ref(), Some(&stamped));
    let changed = User {
        password_updated_at: None,
        mfa_disabled_at: Some(at(20)),
        updated_at: at(21),
        ..stamped.clone()
    };
    repo.update(&changed, stamped.updated_at, &[])
        .await
        .expect("update");
    assert_eq!(get(repo, "user_history").await.as_ref(), Some(&changed));
    let id = changed.id.clone();
    let window = latch_core::model::Duration::seconds(600);
    let slot = repo.take_attempt(&id, at(30), 5, window).await;
    assert_eq!(slot, Ok(AttemptSlot::Granted));
    repo.settle_attempt(&id, true, at(31), 5, window)
        .await
        .expect("settle");
    let read = get(repo, "user_history").await.expect("user");
    assert_eq!(
        (read.failed_attempts, read.attempt_window_ends_at),
        (1, Some(at(30).plus(window)))
    );
    assert_eq!(read.verification_attempts_remaining(at(40), 5), Some(4));
}

/// `take_attempt` counts before a check and refuses past the limit;
/// `settle_attempt` keeps a failure (locking at the limit) or gives a success
/// back; `set_lock` locks and unlocks; updates never touch the lock.
async fn lockout_counts_every_failure_and_locks(repo: &Arc<dyn UserRepository>) {
    const MINUTE: i64 = 60_000;
    let lock_for = latch_core::model::Duration(60 * MINUTE);
    let gail = fixtures::user("user_gail", "gail@example.com");
    repo.insert(&gail, &[]).await.expect("insert gail");
    let id = &gail.id;
    let attempt = |n: i64, failed: bool| async move {
        assert_eq!(
            repo.take_attempt(id, at(n), 3, lock_for).await,
            Ok(AttemptSlot::Granted)
        );
        repo.settle_attempt(id, failed, at(n), 3, lock_for).await
    };
    let fail = |n: i64| attempt(n, true);
    let succeed = |n: i64| attempt(n, false);
    assert_eq!(fail(1).await, Ok(None));
    assert_eq!(fail(2).await, Ok(None));
    // A success gives its attempt back, so the next failure is the third.
    assert_eq!(succeed(3).await, Ok(None));
    assert_eq!(
        fail(6).await,
        Ok(Some(at(6 + 60 * MINUTE))),
        "the third failure locks"
    );
    assert_eq!(
        get(&**repo, "user_gail").await.unwrap().locked_until,
        Some(at(6 + 60 * MINUTE))
    );
    // While locked nothing is taken or counted, and an update leaves the
    // lock alone.
    assert_eq!(
        repo.take_attempt(&gail.id, at(7), 3, lock_for).await,
        Ok(AttemptSlot::Locked(at(6 + 60 * MINUTE)))
    );
    assert_eq!(
        repo.settle_attempt(&gail.id, true, at(7), 3, lock_for)
            .await,
        Ok(Some(at(6 + 60 * MINUTE)))
    );
    let stored = get(&**repo, "user_gail").await.unwrap();
    let changed = User {
        first_name: Some("Gail".into()),
        locked_until: None,
        updated_at: at(8),
        ..stored.clone()
    };
    repo.update(&changed, stored.updated_at, &[])
        .await
        .expect("update gail");
    assert_eq!(
        get(&**repo, "user_gail").await.unwrap().locked_until,
        Some(at(6 + 60 * MINUTE))
    );
    // Once the lock is over the count starts from zero.
    assert_eq!(fail(7 + 60 * MINUTE).await, Ok(None));
    repo.set_lock(&gail.id, None, &[]).await.expect("unlock");
    assert_eq!(get(&**repo, "user_gail").await.unwrap().locked_until, None);

    // Racing attempts: exactly the limit is granted, the rest find every
    // attempt taken; the granted failures then lock once.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let repo = Arc::clone(repo);
        let id = gail.id.clone();
        tasks.spawn(async move { repo.take_attempt(&id, at(9), 3, lock_for).await });
    }
    let slots: Vec<AttemptSlot> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("take an attempt"))
        .collect();
    let granted = slots.iter().filter(|s| **s == AttemptSlot::Granted).count();
    assert_eq!(granted, 3, "racing takes: {slots:?}");
    assert!(
        slots
            .iter()
            .all(|s| matches!(s, AttemptSlot::Granted | AttemptSlot::Exhausted))
    );
    let mut locks = Vec::new();
    for _ in 0..granted {
        locks.push(
            repo.settle_attempt(&gail.id, true, at(10), 3, lock_for)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        locks,
        vec![None, None, Some(at(10 + 60 * MINUTE))],
        "the failure that brings the count to the limit locks"
    );

    repo.set_lock(&gail.id, Some(latch_core::model::Timestamp::FOREVER), &[])
        .await
        .expect("lock");
    assert_eq!(
        get(&**repo, "user_gail").await.unwrap().locked_until,
        Some(latch_core::model::Timestamp::FOREVER)
    );
    assert_eq!(
        repo.set_lock(&uid("user_nobody"), None, &[]).await,
        Err(StoreError::NotFound)
    );
    // An attempt never taken on an id with no user has nothing to settle.
    assert_eq!(
        repo.settle_attempt(&uid("user_nobody"), true, at(1), 3, lock_for)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(repo.delete(&gail.id, &[]).await, Ok(true));
}

/// The same attempts on a user's id and on an id that names no user (a
/// stand-in's) get the same answers: failures are forgotten when their
/// window ends, the limit locks for the lock's length from the last
/// failure, checks in flight hold attempts without counting as failures,
/// and racing takes are granted exactly what is left. A stand-in's record
/// is purged once its window and lock are over, and no user is touched.
async fn attempts_follow_one_rule_for_users_and_stand_ins(repo: &Arc<dyn UserRepository>) {
    const MINUTE: i64 = 60_000;
    let window = latch_core::model::Duration(60 * MINUTE);
    let hana = fixtures::user("user_hana", "hana@example.com");
    repo.insert(&hana, &[]).await.expect("insert hana");
    let stand_in = uid("user_standin_hana");
    let mut transcripts = Vec::new();
    for id in [&hana.id, &stand_in] {
        let mut seen: Vec<String> = Vec::new();
        let mut note = |what: String| seen.push(what);
        let take = |n: i64| async move { repo.take_attempt(id, at(n), 3, window).await };
        let settle = |n: i64, failed: bool| async move {
            repo.settle_attempt(id, failed, at(n), 3, window).await
        };
        // Two failures open a window at 1 ms ...
        for n in [1, 2] {
            note(format!("{:?}", take(n).await));
            note(format!("{:?}", settle(n, true).await));
        }
        // ... that one check in flight fills: a fourth waits, with no lock.
        note(format!("{:?}", take(3).await));
        note(format!("{:?}", take(3).await));
        note(format!("{:?}", repo.attempt_lock(id, at(3)).await));
        note(format!("{:?}", settle(4, false).await));
        // Within the window the third failure would lock; once it has
        // ended, both earlier failures are forgotten.
        let later = 1 + 60 * MINUTE;
        for n in [later, later + 1] {
            note(format!("{:?}", take(n).await));
            note(format!("{:?}", settle(n, true).await));
        }
        note(format!("{:?}", take(later + 2).await));
        note(format!("{:?}", settle(later + 2, true).await));
        // Locked: nothing is taken, the lock is readable and ends on time.
        note(format!("{:?}", take(later + 3).await));
        note(format!("{:?}", repo.attempt_lock(id, at(later + 3)).await));
        let after = later + 2 + 60 * MINUTE;
        note(format!("{:?}", repo.attempt_lock(id, at(after)).await));
        // Racing takes after the lock: exactly the limit is granted.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let repo = Arc::clone(repo);
            let id = id.clone();
            tasks.spawn(async move { repo.take_attempt(&id, at(after), 3, window).await });
        }
        let granted = tasks
            .join_all()
            .await
            .into_iter()
            .filter(|slot| *slot == Ok(AttemptSlot::Granted))
            .count();
        note(format!("granted {granted}"));
        for _ in 0..3 {
            note(format!("{:?}", settle(after, false).await));
        }
        transcripts.push(seen);
    }
    let expected: Vec<String> = [
        "Ok(Granted)",
        "Ok(None)",
        "Ok(Granted)",
        "Ok(None)",
        "Ok(Granted)",
        "Ok(Exhausted)",
        "Ok(None)",
        "Ok(None)",
        "Ok(Granted)",
        "Ok(None)",
        "Ok(Granted)",
        "Ok(None)",
        "Ok(Granted)",
        &format!("Ok(Some({:?}))", at(3 + 120 * MINUTE)),
        &format!("Ok(Locked({:?}))", at(3 + 120 * MINUTE)),
        &format!("Ok(Some({:?}))", at(3 + 120 * MINUTE)),
        "Ok(None)",
        "granted 3",
        "Ok(None)",
        "Ok(None)",
        "Ok(None)",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(transcripts[0], expected, "a user's attempts");
    assert_eq!(transcripts[1], expected, "a stand-in's attempts");

    // A stand-in's record stays while its window or lock lasts, then goes.
    let gone = || async {
        repo.settle_attempt(&stand_in, false, at(0), 3, window)
            .await
            == Err(StoreError::NotFound)
    };
    assert_eq!(repo.purge_attempt_records(at(0)).await, Ok(0));
    assert!(!gone().await);
    assert_eq!(
        repo.purge_attempt_records(at(4 + 240 * MINUTE)).await,
        Ok(1)
    );
    assert!(gone().await);
    assert!(get(&**repo, "user_hana").await.is_some());
    assert_eq!(repo.delete(&hana.id, &[]).await, Ok(true));
}

fn external(id: &str, provider: &str, subject: &str) -> latch_core::model::ExternalAccount {
    latch_core::model::ExternalAccount {
        id: id.into(),
        provider: provider.into(),
        subject: subject.into(),
        email: Some(format!("{subject}@{provider}.example")),
        email_verified: true,
        first_name: Some("Ext".into()),
        last_name: None,
        username: Some(subject.into()),
        avatar_url: Some("https://img.example/a.png".into()),
        approved_scopes: "read:user user:email".into(),
        // Sealed text, as the core stores it: the store keeps it as given.
        tokens: (provider == "github").then(|| format!("sealed.v1.{subject}")),
        created_at: at(1),
        updated_at: at(2),
    }
}

/// External accounts round trip in order, find their user, follow updates,
/// link to one user only, and go with their user.
async fn external_accounts_link_once(repo: &dyn UserRepository) {
    let mut ivy = fixtures::user("user_ivy", "ivy@example.com");
    ivy.external_accounts = vec![
        external("eac_1", "github", "1001"),
        external("eac_2", "google", "g-1001"),
    ];
    repo.insert(&ivy, &[]).await.expect("insert ivy");
    let stored = get(repo, "user_ivy").await.expect("ivy");
    assert_eq!(stored.external_accounts, ivy.external_accounts);
    let found = |provider: &'static str, subject: &'static str| async move {
        repo.find_by_external_account(provider, subject)
            .await
            .expect("find")
            .map(|u| u.id.0)
    };
    assert_eq!(found("github", "1001").await.as_deref(), Some("user_ivy"));
    assert_eq!(found("google", "g-1001").await.as_deref(), Some("user_ivy"));
    assert_eq!(
        found("google", "1001").await,
        None,
        "subjects are per provider"
    );

    // Another user cannot hold the same provider account.
    let mut jon = fixtures::user("user_jon", "jon@example.com");
    jon.external_accounts = vec![external("eac_3", "github", "1001")];
    assert_eq!(
        repo.insert(&jon, &[]).await,
        Err(StoreError::ExternalAccountTaken)
    );
    assert_eq!(get(repo, "user_jon").await, None, "nothing stored");
    jon.external_accounts = vec![external("eac_3", "github", "2002")];
    repo.insert(&jon, &[]).await.expect("insert jon");
    let stored_jon = get(repo, "user_jon").await.expect("jon");
    let stealing = User {
        external_accounts: vec![external("eac_4", "google", "g-1001")],
        updated_at: latch_core::model::Timestamp(stored_jon.updated_at.0 + 1),
        ..stored_jon.clone()
    };
    assert_eq!(
        repo.update(&stealing, stored_jon.updated_at, &[]).await,
        Err(StoreError::ExternalAccountTaken)
    );
    assert_eq!(get(repo, "user_jon").await.unwrap(), stored_jon);

    // Updates replace the list; deleting the user frees its accounts.
    let unlinked = User {
        external_accounts: vec![external("eac_2", "google", "g-1001")],
        updated_at: latch_core::model::Timestamp(stored.updated_at.0 + 1),
        ..stored.clone()
    };
    repo.update(&unlinked, stored.updated_at, &[])
        .await
        .expect("update ivy");
    assert_eq!(found("github", "1001").await, None);
    assert_eq!(repo.delete(&ivy.id, &[]).await, Ok(true));
    assert_eq!(found("google", "g-1001").await, None);
    assert_eq!(repo.delete(&jon.id, &[]).await, Ok(true));
}

/// TOTP steps and backup codes are used once; updates keep the last step and
/// replace the codes; a used code makes an older snapshot's update conflict.
async fn second_factor_state(repo: &Arc<dyn UserRepository>) {
    let mut hana = fixtures::user("user_hana", "hana@example.com");
    hana.totp_secret = Some("v1.sealed".into());
    hana.totp_pending_secret = Some("v1.pending".into());
    hana.backup_codes = vec!["digest_a".into(), "digest_b".into(), "digest_c".into()];
    repo.insert(&hana, &[]).await.expect("insert hana");
    let stored = get(&**repo, "user_hana").await.expect("hana");
    assert_eq!(stored.totp_secret.as_deref(), Some("v1.sealed"));
    assert_eq!(stored.totp_pending_secret.as_deref(), Some("v1.pending"));
    let mut codes = stored.backup_codes.clone();
    codes.sort();
    assert_eq!(codes, ["digest_a", "digest_b", "digest_c"]);
    let email_id = stored.email_addresses[0].id.clone();
    assert_eq!(
        repo.find_by_identification_id(&email_id)
            .await
            .expect("find by id")
            .map(|u| u.id),
        Some(hana.id.clone())
    );
    assert_eq!(repo.find_by_identification_id("idn_nobody").await, Ok(None));

    // Each step once, and never one older than the last.
    assert_eq!(repo.use_totp_step(&hana.id, 100).await, Ok(true));
    assert_eq!(repo.use_totp_step(&hana.id, 100).await, Ok(false));
    assert_eq!(repo.use_totp_step(&hana.id, 99).await, Ok(false));
    assert_eq!(repo.use_totp_step(&hana.id, 101).await, Ok(true));
    assert_eq!(
        repo.use_totp_step(&uid("user_nobody"), 1).await,
        Err(StoreError::NotFound)
    );
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let repo = Arc::clone(repo);
            let id = hana.id.clone();
            tokio::spawn(async move { repo.use_totp_step(&id, 102).await })
        })
        .collect();
    let mut accepted = 0;
    for racer in racers {
        if racer.await.expect("join").expect("use step") {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "one of eight racing uses of a step is accepted"
    );

    // An update (from any snapshot) leaves the last step alone.
    let stored = get(&**repo, "user_hana").await.expect("hana");
    assert_eq!(stored.totp_last_step, Some(102));
    let changed = User {
        totp_last_step: None,
        backup_codes: vec!["digest_a".into(), "digest_b".into(), "digest_d".into()],
        updated_at: latch_core::model::Timestamp(stored.updated_at.0 + 1),
        ..stored.clone()
    };
    repo.update(&changed, stored.updated_at, &[])
        .await
        .expect("update hana");
    let stored = get(&**repo, "user_hana").await.expect("hana");
    assert_eq!(stored.totp_last_step, Some(102));
    let mut codes = stored.backup_codes.clone();
    codes.sort();
    assert_eq!(
        codes,
        ["digest_a", "digest_b", "digest_d"],
        "update replaces the codes"
    );

    // A code works once, also when its uses race.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let repo = Arc::clone(repo);
            let id = hana.id.clone();
            tokio::spawn(async move { repo.consume_backup_code(&id, "digest_a", at(5)).await })
        })
        .collect();
    let mut accepted = 0;
    for racer in racers {
        if racer.await.expect("join").expect("consume") {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "one of eight racing uses of a code is accepted"
    );
    assert_eq!(
        repo.consume_backup_code(&hana.id, "digest_zzz", at(5))
            .await,
        Ok(false)
    );
    assert_eq!(
        repo.consume_backup_code(&uid("user_nobody"), "digest_a", at(5))
            .await,
        Err(StoreError::NotFound)
    );
    // Using a code moved updated_at on: an update from before it conflicts
    // instead of bringing the code back.
    let after = get(&**repo, "user_hana").await.expect("hana");
    assert!(after.updated_at > stored.updated_at);
    assert_eq!(after.backup_codes.len(), 2);
    let stale = User {
        updated_at: latch_core::model::Timestamp(after.updated_at.0 + 1),
        ..stored.clone()
    };
    assert_eq!(
        repo.update(&stale, stored.updated_at, &[]).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(repo.delete(&hana.id, &[]).await, Ok(true));
}

fn alice() -> User {
    fixtures::full_user(
        "user_alice",
        "Alice@Example.com",
        "alice.work@example.com",
        "+1 555 555 0100",
        "+15555550199",
        "Alice_01",
    )
}

fn bob() -> User {
    fixtures::full_user(
        "user_bob",
        "bob@example.com",
        "bob.work@example.com",
        "+15555550200",
        "+15555550299",
        "bob_02",
    )
}

fn identifier(raw: &str) -> Identifier {
    Identifier::parse(raw).expect("test identifier is valid")
}

fn uid(id: &str) -> UserId {
    UserId(id.to_owned())
}

fn ids(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.id.as_str()).collect()
}

async fn find(repo: &dyn UserRepository, raw: &str) -> Option<User> {
    repo.find_by_identifier(&identifier(raw))
        .await
        .expect("find_by_identifier succeeds")
}

/// The user `id`, as stored (the read must succeed).
pub(crate) async fn get(repo: &dyn UserRepository, id: &str) -> Option<User> {
    repo.get(&uid(id)).await.expect("get succeeds")
}

async fn count_all(repo: &dyn UserRepository) -> u64 {
    repo.count(&UserQuery::default())
        .await
        .expect("count succeeds")
}

async fn empty_store(repo: &dyn UserRepository) {
    assert_eq!(get(repo, "user_alice").await, None, "get on an empty store");
    for raw in ["alice@example.com", "+15555550100", "alice_01"] {
        assert_eq!(find(repo, raw).await, None, "find {raw} on an empty store");
    }
    assert_eq!(
        repo.list(&UserQuery {
            limit: 10,
            ..UserQuery::default()
        })
        .await,
        Ok(vec![])
    );
    assert_eq!(count_all(repo).await, 0);
    assert_eq!(
        repo.delete(&uid("user_alice"), &[]).await,
        Ok(false),
        "delete of an unknown user"
    );
    assert_eq!(
        repo.update(&alice(), alice().updated_at, &[]).await,
        Err(StoreError::NotFound),
        "update of an unknown user"
    );
    assert_eq!(
        get(repo, "user_alice").await,
        None,
        "a failed update stores nothing"
    );
}

/// Five users; the store is empty before and after.
async fn list_filters_order_and_pagination(repo: &dyn UserRepository) {
    let make = |n: u32, created: i64| {
        let mut u = fixtures::user(&format!("user_list_{n}"), &format!("list{n}@example.com"));
        u.created_at = at(created);
        u.updated_at = at(created);
        u.username = Some(fixtures::username(&format!("list_user_{n}")));
        u.external_id = Some(format!("ext_list_{n}"));
        u.phone_numbers = vec![fixtures::phone_number(
            &format!("idn_list_phone_{n}"),
            &format!("+1555555100{n}"),
        )];
        u
    };
    let mut u2 = make(2, 2);
    u2.email_addresses.push(fixtures::email_address(
        "idn_list_2_second",
        "list2.second@example.com",
    ));
    // u3 and u4 share a creation instant: the id breaks the tie.
    let users = [make(1, 1), u2, make(3, 3), make(4, 3), make(5, 5)];
    // Inserted out of order, so the store must sort.
    for i in [2, 0, 4, 1, 3] {
        repo.insert(&users[i], &[]).await.expect("insert list user");
    }

    // Any part of an id, a username, a name, an address or a number, in
    // lower case; `%` and `_` are plain characters.
    for (text, expected) in [
        ("list2", vec!["user_list_2"]),
        ("list_user_4", vec!["user_list_4"]),
        ("5551003", vec!["user_list_3"]),
        ("user_list_5", vec!["user_list_5"]),
        ("list2.second@", vec!["user_list_2"]),
        ("%", vec![]),
        ("nothing like it", vec![]),
    ] {
        let found = repo
            .list(&UserQuery {
                query: Some(text.to_owned()),
                limit: 100,
                ..UserQuery::default()
            })
            .await
            .unwrap();
        let mut found = ids(&found);
        found.sort();
        assert_eq!(found, expected, "query {text:?}");
        let counted = repo
            .count(&UserQuery {
                query: Some(text.to_owned()),
                ..UserQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(counted, expected.len() as u64, "count of query {text:?}");
    }
    let both = repo
        .list(&UserQuery {
            query: Some("list_".into()),
            usernames: vec!["list_user_1".into()],
            limit: 100,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&both),
        ["user_list_1"],
        "a query narrows the other filters"
    );

    let all = UserQuery {
        limit: 100,
        ..UserQuery::default()
    };
    let listed = repo.list(&all).await.unwrap();
    assert_eq!(
        ids(&listed),
        [
            "user_list_5",
            "user_list_4",
            "user_list_3",
            "user_list_2",
            "user_list_1"
        ],
        "newest first, ties by id descending"
    );
    assert_eq!(
        listed[3], users[1],
        "listed users carry all their identifications"
    );
    let oldest = repo
        .list(&UserQuery {
            oldest_first: true,
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&oldest),
        [
            "user_list_1",
            "user_list_2",
            "user_list_3",
            "user_list_4",
            "user_list_5"
        ],
        "oldest first"
    );
    assert_eq!(repo.count(&all).await, Ok(5));

    let page = |limit, offset| UserQuery {
        limit,
        offset,
        ..UserQuery::default()
    };
    assert_eq!(
        ids(&repo.list(&page(2, 0)).await.unwrap()),
        ["user_list_5", "user_list_4"]
    );
    assert_eq!(
        ids(&repo.list(&page(2, 2)).await.unwrap()),
        ["user_list_3", "user_list_2"]
    );
    assert_eq!(ids(&repo.list(&page(2, 4)).await.unwrap()), ["user_list_1"]);
    assert!(
        repo.list(&page(2, 10)).await.unwrap().is_empty(),
        "offset past the end"
    );
    let oldest_page = UserQuery {
        oldest_first: true,
        ..page(2, 1)
    };
    assert_eq!(
        ids(&repo.list(&oldest_page).await.unwrap()),
        ["user_list_2", "user_list_3"]
    );
    assert_eq!(
        repo.count(&page(2, 4)).await,
        Ok(5),
        "count ignores pagination"
    );

    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    let cases: Vec<(&str, UserQuery, Vec<&str>)> = vec![
        (
            "user_ids",
            UserQuery {
                user_ids: strings(&["user_list_1", "user_list_3", "user_nobody"]),
                ..all.clone()
            },
            vec!["user_list_3", "user_list_1"],
        ),
        (
            "email_addresses (any of the user's)",
            UserQuery {
                email_addresses: strings(&["list2.second@example.com", "list5@example.com"]),
                ..all.clone()
            },
            vec!["user_list_5", "user_list_2"],
        ),
        (
            "phone_numbers",
            UserQuery {
                phone_numbers: strings(&["+15555551001"]),
                ..all.clone()
            },
            vec!["user_list_1"],
        ),
        (
            "usernames",
            UserQuery {
                usernames: strings(&["list_user_1", "list_user_3"]),
                ..all.clone()
            },
            vec!["user_list_3", "user_list_1"],
        ),
        (
            "external_ids",
            UserQuery {
                external_ids: strings(&["ext_list_2", "ext_list_4"]),
                ..all.clone()
            },
            vec!["user_list_4", "user_list_2"],
        ),
        (
            "lists combine with AND",
            UserQuery {
                user_ids: strings(&["user_list_1", "user_list_2", "user_list_3"]),
                usernames: strings(&["list_user_1", "list_user_3", "list_user_5"]),
                ..all.clone()
            },
            vec!["user_list_3", "user_list_1"],
        ),
        (
            "disjoint lists match nothing",
            UserQuery {
                user_ids: strings(&["user_list_2"]),
                usernames: strings(&["list_user_1"]),
                ..all.clone()
            },
            vec![],
        ),
        (
            "unknown values match nothing",
            UserQuery {
                email_addresses: strings(&["nobody@example.com"]),
                ..all.clone()
            },
            vec![],
        ),
    ];
    for (name, query, expected) in cases {
        assert_eq!(
            ids(&repo.list(&query).await.unwrap()),
            expected,
            "list filtered by {name}"
        );
        assert_eq!(
            repo.count(&query).await,
            Ok(expected.len() as u64),
            "count filtered by {name}"
        );
    }
    let filtered_page = UserQuery {
        usernames: strings(&["list_user_1", "list_user_3", "list_user_5"]),
        limit: 1,
        offset: 1,
        ..UserQuery::default()
    };
    assert_eq!(
        ids(&repo.list(&filtered_page).await.unwrap()),
        ["user_list_3"],
        "filters and pagination together"
    );
    assert_eq!(repo.count(&filtered_page).await, Ok(3));

    for user in &users {
        assert_eq!(repo.delete(&user.id, &[]).await, Ok(true));
    }
    assert_eq!(count_all(repo).await, 0);
}

async fn insert_get_and_find(repo: &dyn UserRepository) {
    let alice = alice();
    repo.insert(&alice, &[]).await.expect("insert alice");
    assert_eq!(
        get(repo, "user_alice").await,
        Some(alice.clone()),
        "get returns the whole aggregate as inserted"
    );

    for raw in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "  Alice@Example.com ",
        "alice.work@example.com",
    ] {
        assert_eq!(
            find(repo, raw).await.as_ref(),
            Some(&alice),
            "find by email {raw:?}"
        );
    }
    for raw in ["+15555550100", "+1 (555) 555-0100"] {
        assert_eq!(
            find(repo, raw).await.as_ref(),
            Some(&alice),
            "find by phone {raw:?}"
        );
    }
    assert_eq!(
        find(repo, "+15555550199").await,
        None,
        "a phone number reserved for the second factor names no account"
    );
    for raw in ["alice_01", "ALICE_01"] {
        assert_eq!(
            find(repo, raw).await.as_ref(),
            Some(&alice),
            "find by username {raw:?}"
        );
    }
    for raw in ["nobody@example.com", "+15555550999", "nobody"] {
        assert_eq!(find(repo, raw).await, None, "find {raw:?}");
    }
    assert_eq!(count_all(repo).await, 1);
}

async fn duplicates_store_nothing(repo: &dyn UserRepository) {
    let carol = || fixtures::user("user_carol", "carol@example.com");
    let mut cases: Vec<(&str, User, IdentifierKind)> = Vec::new();

    cases.push((
        "alice's email",
        fixtures::user("user_carol", "ALICE@example.com"),
        IdentifierKind::EmailAddress,
    ));
    let mut second_email = carol();
    second_email
        .email_addresses
        .push(fixtures::email_address("idn_carol_2", "alice@example.com"));
    cases.push((
        "alice's email, as a second one",
        second_email,
        IdentifierKind::EmailAddress,
    ));
    let mut phone = carol();
    phone
        .phone_numbers
        .push(fixtures::phone_number("idn_carol_phone", "+15555550100"));
    cases.push(("alice's phone", phone, IdentifierKind::PhoneNumber));
    let mut reserved_phone = carol();
    reserved_phone
        .phone_numbers
        .push(fixtures::phone_number("idn_carol_phone", "+15555550199"));
    cases.push((
        "alice's second-factor phone",
        reserved_phone,
        IdentifierKind::PhoneNumber,
    ));
    let mut username = carol();
    username.username = Some(fixtures::username("ALICE_01"));
    cases.push(("alice's username", username, IdentifierKind::Username));

    for (what, candidate, kind) in cases {
        assert_eq!(
            repo.insert(&candidate, &[]).await,
            Err(StoreError::Duplicate(kind)),
            "insert with {what}"
        );
        assert_eq!(
            get(repo, "user_carol").await,
            None,
            "insert with {what} stores no user"
        );
        assert_eq!(
            find(repo, "carol@example.com").await,
            None,
            "insert with {what} stores no identification"
        );
        assert_eq!(
            count_all(repo).await,
            1,
            "insert with {what} stores nothing"
        );
    }
    assert_eq!(
        get(repo, "user_alice").await,
        Some(alice()),
        "refused inserts leave alice alone"
    );

    let same_id = fixtures::user("user_alice", "other@example.com");
    assert!(
        repo.insert(&same_id, &[]).await.is_err(),
        "insert with an existing user id fails"
    );
    assert_eq!(
        get(repo, "user_alice").await,
        Some(alice()),
        "and leaves the stored user alone"
    );
    assert_eq!(find(repo, "other@example.com").await, None);

    repo.insert(&bob(), &[]).await.expect("insert bob");
    repo.insert(&carol(), &[])
        .await
        .expect("carol's own identifiers are free");
    assert_eq!(count_all(repo).await, 3);
}

async fn update_replaces_the_aggregate(repo: &dyn UserRepository) {
    let before = alice();
    let mut after = before.clone();
    // New record first, work email gone, primary email kept: order must follow the vector.
    let mut kept = before.email_addresses[0].clone();
    kept.verified = false;
    kept.updated_at = at(2_000);
    after.email_addresses = vec![
        fixtures::email_address("idn_user_alice_email_3", "alice@new.example.com"),
        kept,
    ];
    // The sign-in phone becomes second-factor only; the old second-factor phone goes.
    let mut phone = before.phone_numbers[0].clone();
    phone.reserved_for_second_factor = true;
    after.phone_numbers = vec![phone];
    after.primary_phone_number_id = None;
    after.username = Some(fixtures::username("alice_02"));
    after.password_digest = None;
    after.first_name = None;
    after.external_id = Some("ext_alice_new".to_owned());
    after.public_metadata = json!({ "role": "member" });
    after.private_metadata = json!({});
    after.banned = true;
    after.last_sign_in_at = Some(at(2_000));
    after.updated_at = at(2_000);

    // A write that read an older state loses, changing nothing.
    assert_eq!(
        repo.update(&after, at(-1), &[]).await,
        Err(StoreError::Conflict),
        "update from a stale read"
    );
    assert_eq!(
        get(repo, "user_alice").await,
        Some(before.clone()),
        "a lost update changes nothing"
    );
    repo.update(&after, before.updated_at, &[])
        .await
        .expect("update alice");
    assert_eq!(
        get(repo, "user_alice").await,
        Some(after.clone()),
        "update replaces the whole aggregate"
    );
    assert_eq!(
        find(repo, "alice.work@example.com").await,
        None,
        "a removed email no longer matches"
    );
    assert_eq!(
        find(repo, "alice@new.example.com").await,
        Some(after.clone()),
        "an added email matches"
    );
    assert_eq!(
        find(repo, "alice@example.com").await,
        Some(after.clone()),
        "a kept email still matches"
    );
    assert_eq!(
        find(repo, "alice_01").await,
        None,
        "the old username no longer matches"
    );
    assert_eq!(
        find(repo, "alice_02").await,
        Some(after.clone()),
        "the new username matches"
    );
    assert_eq!(
        find(repo, "+15555550100").await,
        None,
        "a phone now reserved for the second factor no longer matches"
    );

    // Removed identifiers are free for others.
    let mut dave = fixtures::user("user_dave", "alice.work@example.com");
    dave.phone_numbers = vec![fixtures::phone_number("idn_dave_phone", "+15555550199")];
    dave.username = Some(fixtures::username("alice_01"));
    repo.insert(&dave, &[])
        .await
        .expect("identifiers removed from alice can be taken");
    assert_eq!(repo.delete(&dave.id, &[]).await, Ok(true));

    // Values may move between the user's own records in one update.
    let mut swapped = after.clone();
    let (first, second) = (
        swapped.email_addresses[0].value.clone(),
        swapped.email_addresses[1].value.clone(),
    );
    swapped.email_addresses[0].value = second;
    swapped.email_addresses[1].value = first;
    repo.update(&swapped, after.updated_at, &[])
        .await
        .expect("swap two of alice's own email values");
    assert_eq!(get(repo, "user_alice").await, Some(swapped.clone()));

    // Restore alice as the following steps expect her.
    repo.update(&alice(), swapped.updated_at, &[])
        .await
        .expect("restore alice");
    assert_eq!(get(repo, "user_alice").await, Some(alice()));

    let ghost = fixtures::user("user_ghost", "ghost@example.com");
    assert_eq!(
        repo.update(&ghost, ghost.updated_at, &[]).await,
        Err(StoreError::NotFound),
        "update of an unknown user"
    );
    assert_eq!(get(repo, "user_ghost").await, None);
    assert_eq!(
        find(repo, "ghost@example.com").await,
        None,
        "a failed update stores no identification"
    );
}

async fn update_with_a_taken_identifier_changes_nothing(repo: &dyn UserRepository) {
    let before = alice();
    let bob = bob();
    let mut cases: Vec<(&str, User, IdentifierKind)> = Vec::new();

    let mut added_email = before.clone();
    added_email.email_addresses.push(fixtures::email_address(
        "idn_alice_taken",
        "BOB@example.com",
    ));
    cases.push((
        "an added email that is bob's",
        added_email,
        IdentifierKind::EmailAddress,
    ));
    let mut changed_email = before.clone();
    changed_email.email_addresses[1].value = "bob@example.com".to_owned();
    cases.push((
        "an email record changed to bob's",
        changed_email,
        IdentifierKind::EmailAddress,
    ));
    let mut phone = before.clone();
    phone
        .phone_numbers
        .push(fixtures::phone_number("idn_alice_taken", "+15555550299"));
    cases.push((
        "bob's second-factor phone",
        phone,
        IdentifierKind::PhoneNumber,
    ));
    let mut username = before.clone();
    username.username = Some(fixtures::username("bob_02"));
    cases.push(("bob's username", username, IdentifierKind::Username));

    for (what, mut candidate, kind) in cases {
        // Other changes ride along, and must not land either.
        candidate.first_name = Some("Changed".to_owned());
        candidate.updated_at = at(3_000);
        assert_eq!(
            repo.update(&candidate, before.updated_at, &[]).await,
            Err(StoreError::Duplicate(kind)),
            "update with {what}"
        );
        assert_eq!(
            get(repo, "user_alice").await,
            Some(before.clone()),
            "update with {what} changes nothing"
        );
        assert_eq!(
            get(repo, "user_bob").await,
            Some(bob.clone()),
            "update with {what} leaves bob alone"
        );
        assert_eq!(
            find(repo, "alice.work@example.com").await,
            Some(before.clone())
        );
    }
}

async fn delete_frees_identifiers(repo: &dyn UserRepository) {
    let count = count_all(repo).await;
    assert_eq!(
        repo.delete(&uid("user_alice"), &[]).await,
        Ok(true),
        "delete of an existing user"
    );
    assert_eq!(get(repo, "user_alice").await, None);
    for raw in [
        "alice@example.com",
        "alice.work@example.com",
        "+15555550100",
        "alice_01",
    ] {
        assert_eq!(find(repo, raw).await, None, "{raw} is gone with alice");
    }
    assert_eq!(
        repo.delete(&uid("user_alice"), &[]).await,
        Ok(false),
        "a second delete finds nothing"
    );
    assert_eq!(count_all(repo).await, count - 1);
    assert_eq!(get(repo, "user_bob").await, Some(bob()), "other users stay");

    let mut heir = alice();
    heir.id = uid("user_heir");
    repo.insert(&heir, &[])
        .await
        .expect("a deleted user's identifiers (and identification ids) can be reused");
    assert_eq!(find(repo, "alice_01").await, Some(heir));
}

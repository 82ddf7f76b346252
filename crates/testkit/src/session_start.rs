//! The part of the [`ClientRepository`] contract about the user's side of
//! `insert_session`: the sign-in it records on the session's user in the
//! same step, and the standing it returns.

use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{Duration, Standing, Timestamp, User, UserId};
use latch_core::ports::{AttemptSlot, ClientRepository, DigestUpgrade, UserRepository};

use crate::fixtures::{self, at, token_hash};
use crate::user_repository::get;

/// Where this part's clients' token numbers start, clear of the rest of the
/// contract's.
const TOKENS: u64 = 90_000;

/// Runs this part; leaves the store as it found it.
pub(crate) async fn session_start_records_the_sign_in(
    clients: &Arc<dyn ClientRepository>,
    users: &Arc<dyn UserRepository>,
) {
    the_sign_in_is_recorded_narrowly(clients, users).await;
    the_standing_shows_a_lock_or_ban_stored_before(&**clients, &**users).await;
    a_session_start_clears_the_failure_count(&**clients, &**users).await;
}

/// Starts a session of `user` at `at` on a client of its own, number `n`
/// (made here), with `upgrade`; what `insert_session` answers.
async fn start(
    clients: &dyn ClientRepository,
    n: u64,
    user: &str,
    at: Timestamp,
    upgrade: Option<DigestUpgrade>,
) -> Result<Standing, StoreError> {
    let client = fixtures::client(&format!("client_start_{n}"), TOKENS + 2 * n);
    clients
        .insert_client(&client)
        .await
        .expect("insert a client");
    let session = fixtures::session(&format!("sess_start_{n}"), client.id.as_str(), user, at);
    clients
        .insert_session(
            &session,
            &client.token_hash,
            &token_hash(TOKENS + 2 * n + 1),
            upgrade,
            &[],
        )
        .await
}

/// Deletes the clients numbered `0..n` that [`start`] made (their sessions
/// go with their users).
async fn delete_clients(clients: &dyn ClientRepository, n: u64) {
    for i in 0..n {
        clients
            .delete_client(&latch_core::model::ClientId(format!("client_start_{i}")))
            .await
            .expect("delete a client");
    }
}

fn upgrade(old: &str, new: &str) -> Option<DigestUpgrade> {
    Some(DigestUpgrade {
        old: old.to_owned(),
        new: new.to_owned(),
    })
}

/// The sign-in sets `last_sign_in_at` and `updated_at` and nothing else of
/// the user, upgrades the digest only while it still is the one the caller
/// verified, moves `updated_at` on within one millisecond, and many racing
/// sign-ins each land whole. An unknown user stores nothing at all, nor
/// does a rotation that lost.
async fn the_sign_in_is_recorded_narrowly(
    clients: &Arc<dyn ClientRepository>,
    users: &Arc<dyn UserRepository>,
) {
    let (clients_ref, users_ref) = (&**clients, &**users);
    for (n, up) in [(0, None), (1, upgrade("a", "b"))] {
        assert_eq!(
            start(clients_ref, n, "user_erin", at(100), up).await,
            Err(StoreError::NotFound),
            "a session of an unknown user"
        );
        let client = format!("client_start_{n}");
        let stored = clients
            .get_client(&latch_core::model::ClientId(client.clone()))
            .await
            .expect("get_client succeeds")
            .expect("the client is there");
        assert_eq!(
            stored,
            fixtures::client(&client, TOKENS + 2 * n),
            "and its client is left as it was"
        );
        assert_eq!(
            clients
                .get_session(&latch_core::model::SessionId(format!("sess_start_{n}")))
                .await,
            Ok(None),
            "and no session is stored"
        );
    }
    assert_eq!(get(users_ref, "user_erin").await, None);

    let erin = fixtures::full_user(
        "user_erin",
        "erin@example.com",
        "erin.work@example.com",
        "+15555550300",
        "+15555550399",
        "erin_05",
    );
    let weak = erin
        .password_digest
        .clone()
        .expect("full_user has a password");
    users.insert(&erin, &[]).await.expect("insert erin");

    // A rotation that lost stores nothing of the sign-in either.
    let taken = fixtures::session("sess_start_lost", "client_start_0", "user_erin", at(4_000));
    assert_eq!(
        clients
            .insert_session(
                &taken,
                &token_hash(1),
                &token_hash(2),
                upgrade(&weak, "$argon2id$lost"),
                &[],
            )
            .await,
        Err(StoreError::Conflict),
        "a rotation from a token the client no longer has"
    );
    assert_eq!(
        get(users_ref, "user_erin").await,
        Some(erin.clone()),
        "and the user is left as it was"
    );

    let mut expected = erin.clone();
    expected.last_sign_in_at = Some(at(5_000));
    expected.updated_at = at(5_000);
    assert_eq!(
        start(clients_ref, 2, "user_erin", at(5_000), None).await,
        Ok(Standing::default())
    );
    assert_eq!(
        get(users_ref, "user_erin").await,
        Some(expected.clone()),
        "a session's start sets last_sign_in_at and updated_at, nothing else"
    );
    assert_eq!(
        erin.signed_in_at(at(5_000)),
        expected,
        "User::signed_in_at tells what the store did"
    );

    let strong = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$c3Ryb25nZXI".to_owned();
    start(
        clients_ref,
        3,
        "user_erin",
        at(6_000),
        upgrade(&weak, &strong),
    )
    .await
    .expect("a session with an upgrade");
    expected.password_digest = Some(strong.clone());
    expected.last_sign_in_at = Some(at(6_000));
    expected.updated_at = at(6_000);
    assert_eq!(
        get(users_ref, "user_erin").await,
        Some(expected.clone()),
        "the upgrade replaces the digest it names"
    );

    // An admin sets a new password between verification and the session.
    let admin = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$YWRtaW4".to_owned();
    expected.password_digest = Some(admin.clone());
    expected.first_name = Some("Erin".to_owned());
    let read_at = expected.updated_at;
    expected.updated_at = at(6_500);
    users
        .update(&expected, read_at, &[])
        .await
        .expect("admin update");
    start(
        clients_ref,
        4,
        "user_erin",
        at(7_000),
        upgrade(&strong, "$argon2id$late"),
    )
    .await
    .expect("a session with a stale upgrade still starts");
    expected.last_sign_in_at = Some(at(7_000));
    expected.updated_at = at(7_000);
    assert_eq!(
        get(users_ref, "user_erin").await,
        Some(expected.clone()),
        "an upgrade of a digest changed meanwhile is ignored; the sign-in is recorded"
    );

    // A sign-in recorded in the same millisecond still moves updated_at on,
    // so an admin update that read erin before it loses instead of undoing it.
    let before = get(users_ref, "user_erin").await.expect("erin");
    let read_before = before.updated_at;
    start(clients_ref, 5, "user_erin", at(7_000), None)
        .await
        .expect("a second session in the same millisecond");
    let stored = get(users_ref, "user_erin").await.expect("erin");
    assert!(stored.updated_at > read_before, "updated_at moves forward");
    assert_eq!(
        before.signed_in_at(at(7_000)),
        stored,
        "User::signed_in_at tells what the store did within one millisecond too"
    );
    let stale = User {
        first_name: Some("Stale".to_owned()),
        ..expected.clone()
    };
    assert_eq!(
        users.update(&stale, read_before, &[]).await,
        Err(StoreError::Conflict)
    );
    expected.updated_at = stored.updated_at;

    let mut frank = fixtures::user("user_frank", "frank@example.com");
    frank.last_sign_in_at = Some(at(1));
    users
        .insert(&frank, &[])
        .await
        .expect("insert frank, no password");
    start(
        clients_ref,
        6,
        "user_frank",
        at(8_000),
        upgrade("", "$argon2id$new"),
    )
    .await
    .expect("a session of a user without a password");
    frank.last_sign_in_at = Some(at(8_000));
    frank.updated_at = at(8_000);
    assert_eq!(
        get(users_ref, "user_frank").await,
        Some(frank.clone()),
        "an upgrade never gives a password to a user without one"
    );
    assert_eq!(
        get(users_ref, "user_erin").await,
        Some(expected.clone()),
        "other users stay"
    );

    // Many sessions of erin race, each upgrading the digest it verified.
    let mut tasks = tokio::task::JoinSet::new();
    let candidates: Vec<String> = (0..16).map(|i| format!("$argon2id$race{i}")).collect();
    for (i, new) in candidates.iter().enumerate() {
        let (clients, old, new) = (Arc::clone(clients), admin.clone(), new.clone());
        tasks.spawn(async move {
            let n = 7 + i as u64;
            start(
                &*clients,
                n,
                "user_erin",
                at(9_000 + i as i64),
                upgrade(&old, &new),
            )
            .await
        });
    }
    for result in tasks.join_all().await {
        assert_eq!(
            result,
            Ok(Standing::default()),
            "every racing session starts"
        );
    }
    let raced = get(users_ref, "user_erin").await.expect("erin is there");
    let digest = raced.password_digest.clone().unwrap_or_default();
    assert!(
        candidates.contains(&digest),
        "one racing upgrade lands whole, got {digest:?}"
    );
    let last = raced.last_sign_in_at.expect("a sign-in time");
    assert!(
        (at(9_000)..at(9_016)).contains(&last) && raced.updated_at >= last,
        "one racing sign-in's time lands whole, and updated_at never moves back"
    );
    assert_eq!(
        User {
            password_digest: expected.password_digest.clone(),
            last_sign_in_at: expected.last_sign_in_at,
            updated_at: expected.updated_at,
            ..raced
        },
        expected,
        "racing sign-ins change nothing else"
    );

    delete_clients(clients_ref, 7 + 16).await;
    for id in ["user_erin", "user_frank"] {
        assert_eq!(users.delete(&UserId(id.to_owned()), &[]).await, Ok(true));
    }
}

/// The standing returned is the user's as the session starts: a lock and a
/// ban stored before it show, and so does their end.
async fn the_standing_shows_a_lock_or_ban_stored_before(
    clients: &dyn ClientRepository,
    users: &dyn UserRepository,
) {
    let gwen = fixtures::user("user_gwen", "gwen@example.com");
    users.insert(&gwen, &[]).await.expect("insert gwen");
    let id = gwen.id.clone();
    assert_eq!(
        start(clients, 0, "user_gwen", at(100), None).await,
        Ok(Standing::default()),
        "a user in good standing"
    );
    users
        .set_lock(&id, Some(at(50_000)), &[])
        .await
        .expect("lock");
    assert_eq!(
        start(clients, 1, "user_gwen", at(200), None).await,
        Ok(Standing {
            banned: false,
            locked_until: Some(at(50_000)),
        }),
        "a lock shows"
    );
    users
        .set_lock(&id, Some(Timestamp::FOREVER), &[])
        .await
        .expect("lock for good");
    let mut banned = get(users, "user_gwen").await.expect("gwen");
    banned.banned = true;
    let read_at = banned.updated_at;
    banned.updated_at = at(300);
    users.update(&banned, read_at, &[]).await.expect("ban");
    assert_eq!(
        start(clients, 2, "user_gwen", at(400), None).await,
        Ok(Standing {
            banned: true,
            locked_until: Some(Timestamp::FOREVER),
        }),
        "a ban and a lock without end show"
    );
    users.set_lock(&id, None, &[]).await.expect("unlock");
    delete_clients(clients, 3).await;
    assert!(users.delete(&id, &[]).await.expect("delete gwen"));
}

/// A session's start clears the failures counted toward a lock: the count
/// starts again from zero.
async fn a_session_start_clears_the_failure_count(
    clients: &dyn ClientRepository,
    users: &dyn UserRepository,
) {
    let window = Duration(3_600_000);
    let gail = fixtures::user("user_gail", "gail@example.com");
    users.insert(&gail, &[]).await.expect("insert gail");
    let fail = async |n: i64| {
        assert_eq!(
            users.take_attempt(&gail.id, at(n), 3, window).await,
            Ok(AttemptSlot::Granted)
        );
        users.settle_attempt(&gail.id, true, at(n), 3, window).await
    };
    assert_eq!(fail(1).await, Ok(None));
    assert_eq!(fail(2).await, Ok(None));
    start(clients, 0, "user_gail", at(3), None)
        .await
        .expect("a session");
    assert_eq!(fail(4).await, Ok(None), "the count started again");
    assert_eq!(fail(5).await, Ok(None));
    assert_eq!(
        fail(6).await,
        Ok(Some(at(6 + 3_600_000))),
        "the third failure after the session locks"
    );
    users.set_lock(&gail.id, None, &[]).await.expect("unlock");
    delete_clients(clients, 1).await;
    assert!(users.delete(&gail.id, &[]).await.expect("delete gail"));
}

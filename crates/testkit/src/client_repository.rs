//! The [`ClientRepository`] contract.

use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, IdentifierKind, Session, SessionId, SessionOrigin, SessionStatus, SignInId,
    SignUpId, Timestamp, UserId,
};
use latch_core::ports::{ClientRepository, SessionQuery, UserRepository};

use crate::fixtures::{self, at, token_hash};

/// How many tasks race in the concurrency checks.
const RACERS: u64 = 16;

/// A session's lifetime in [`fixtures::session`].
const WEEK: i64 = 7 * 86_400_000;

/// Runs the whole [`ClientRepository`] contract against `clients`; `users` is
/// the user repository of the same storage (sessions belong to users, and
/// deleting a user deletes its sessions). Both must be fresh and empty.
///
/// Covers: client round trips and lookup by token hash; the narrow writes
/// (`set_current_sign_in`, `set_last_active_session`, `touch_session` change
/// only their columns, so a stale write after a rotation cannot bring an old
/// token hash back) and their `NotFound`; `insert_session` storing the session
/// and rotating the client's token, last active session, sign-in and
/// `updated_at` together or neither (a missing client is `NotFound`, a taken
/// session id rotates nothing), an earlier hash never matching again, with
/// the sign-in recorded on the user in the same step (`session_start`: only
/// the sign-in time and `updated_at`, the digest upgraded only while it still
/// is the one the caller verified, also when many race; the standing as
/// stored; the failure count cleared; nothing stored for an unknown user or
/// a lost rotation);
/// `end_session` moving a session only out of `active`, once; `sessions_of_client`
/// oldest first; `find_client_with_sessions` giving the client with exactly its
/// sessions active at `now`, oldest first, each with its user as stored, and
/// `find_active_session` one of them by id; `list_sessions` and `count_sessions` by user, client and
/// effective status at `now`, newest first and paginated; `delete_client`
/// keeping the sessions with the active ones marked `removed`; user deletion
/// taking the user's sessions along; and many tasks racing on one client and
/// one session without undoing each other; `purge_idle_clients` taking idle
/// clients without an active session, and sooner the unused ones (no
/// sign-in, no session ever), never one a racing write gives a sign-in.
pub async fn client_repository_contract(
    clients: Arc<dyn ClientRepository>,
    users: Arc<dyn UserRepository>,
) {
    empty_store(&*clients).await;
    for (id, email) in [("user_a", "a@example.com"), ("user_b", "b@example.com")] {
        users
            .insert(&fixtures::user(id, email), &[])
            .await
            .expect("insert session owner");
    }
    clients_and_narrow_writes(&*clients).await;
    let sessions = insert_session_rotates_the_token(&*clients).await;
    let sessions = touch_and_end_sessions(&*clients, sessions).await;
    list_and_count(&*clients, &sessions).await;
    delete_client_marks_sessions_removed(&*clients, &sessions).await;
    deleting_a_user_deletes_its_sessions(&*clients, &*users, &sessions).await;
    a_stored_expired_status_stays_expired(&*clients).await;
    racing_writes_do_not_undo_each_other(&clients).await;
    idle_clients_are_purged_unless_signed_in(&*clients).await;
    unused_clients_are_purged_sooner(&clients).await;
    a_client_with_its_active_sessions_and_users(&*clients, &*users).await;
    rotate_token_is_a_compare_and_set(&*clients).await;
    sessions_keep_their_origin(&*clients).await;
    sign_ups_on_clients(&*clients, &*users).await;
    racing_sign_ups_make_one_user(&clients, &users).await;
    crate::session_start::session_start_records_the_sign_in(&clients, &users).await;
}

/// Sign-ups on many clients racing to complete with one email address, then
/// with one username: each identifier ends up on exactly one stored user,
/// every other racer is refused as a duplicate, and stores nothing.
async fn racing_sign_ups_make_one_user(
    clients: &Arc<dyn ClientRepository>,
    users: &Arc<dyn UserRepository>,
) {
    for (round, kind) in [
        (0_u64, IdentifierKind::EmailAddress),
        (1, IdentifierKind::Username),
    ] {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..RACERS {
            let (clients, n) = (Arc::clone(clients), 40_000 + round * 100 + i);
            let client = format!("client_signup_race_{n}");
            clients
                .insert_client(&fixtures::client(&client, n))
                .await
                .expect("insert a racing client");
            let id = format!("user_signup_race_{n}");
            let mut user = match kind {
                IdentifierKind::EmailAddress => fixtures::user(&id, "race@example.com"),
                _ => fixtures::user(&id, &format!("race{n}@example.com")),
            };
            if kind == IdentifierKind::Username {
                user.username =
                    Some(latch_core::model::Username::parse("racer").expect("a username"));
            }
            let session =
                fixtures::session(&format!("sess_signup_race_{n}"), &client, &id, at(40_000));
            tasks.spawn(async move {
                let stored = clients
                    .insert_user_with_session(
                        &user,
                        &session,
                        &token_hash(n),
                        &token_hash(n + 50),
                        &[],
                    )
                    .await;
                (id, stored)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (id, stored) = joined.expect("a racer finishes");
            match stored {
                Ok(()) => winners.push(id),
                Err(err) => {
                    assert_eq!(err, StoreError::Duplicate(kind), "{id}");
                    assert_eq!(users.get(&uid(&id)).await, Ok(None), "{id} stored nothing");
                }
            }
        }
        assert_eq!(winners.len(), 1, "{kind:?}: {winners:?}");
    }
}

/// A client's current sign-up is set and cleared like its sign-in, a new
/// session ends it, and a sign-up's user and first session are stored
/// together or not at all.
async fn sign_ups_on_clients(clients: &dyn ClientRepository, users: &dyn UserRepository) {
    clients
        .insert_client(&fixtures::client("client_up", 9500))
        .await
        .expect("insert client");
    assert_eq!(
        clients
            .set_current_sign_up(&cid("client_gone"), Some(sua("sua_1")), at(9_500))
            .await,
        Err(StoreError::NotFound)
    );
    clients
        .set_current_sign_up(&cid("client_up"), Some(sua("sua_1")), at(9_501))
        .await
        .expect("set the sign-up");
    let client = get_client(clients, "client_up").await.expect("client");
    assert_eq!(client.sign_up_id, Some(sua("sua_1")));
    assert_eq!(client.updated_at, at(9_501));

    // A taken email address: nothing is stored, the token does not move.
    let taken = fixtures::user("user_up_taken", "a@example.com");
    let session = fixtures::session("sess_up_1", "client_up", "user_up_taken", at(9_502));
    assert_eq!(
        clients
            .insert_user_with_session(&taken, &session, &token_hash(9500), &token_hash(9501), &[])
            .await,
        Err(StoreError::Duplicate(IdentifierKind::EmailAddress))
    );
    assert_eq!(users.get(&uid("user_up_taken")).await, Ok(None));
    assert_eq!(get_session(clients, "sess_up_1").await, None);
    assert_eq!(
        get_client(clients, "client_up").await.map(|c| c.token_hash),
        Some(token_hash(9500))
    );

    // A stale token: the user is not stored either.
    let user = fixtures::user("user_up", "up@example.com");
    let session = fixtures::session("sess_up_2", "client_up", "user_up", at(9_503));
    assert_eq!(
        clients
            .insert_user_with_session(&user, &session, &token_hash(1), &token_hash(9502), &[])
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(users.get(&uid("user_up")).await, Ok(None));

    // Both, and the client rotated with its sign-up ended.
    clients
        .insert_user_with_session(&user, &session, &token_hash(9500), &token_hash(9502), &[])
        .await
        .expect("insert the user with its session");
    assert_eq!(users.get(&uid("user_up")).await, Ok(Some(user)));
    assert_eq!(get_session(clients, "sess_up_2").await, Some(session));
    let client = get_client(clients, "client_up").await.expect("client");
    assert_eq!(client.token_hash, token_hash(9502));
    assert_eq!(client.sign_up_id, None);
    assert_eq!(client.last_active_session_id, Some(sid("sess_up_2")));
}

/// A session keeps how and where it started, and its client keeps the
/// strategy of the last sign-in that completed there, also across a later
/// session that names none.
async fn sessions_keep_their_origin(clients: &dyn ClientRepository) {
    clients
        .insert_client(&fixtures::client("client_origin", 9300))
        .await
        .expect("insert client");
    let first = Session {
        origin: SessionOrigin {
            strategy: Some("oauth_github".into()),
            ip_address: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into()),
        },
        ..fixtures::session("sess_origin_1", "client_origin", "user_a", at(9_300))
    };
    clients
        .insert_session(&first, &token_hash(9300), &token_hash(9301), None, &[])
        .await
        .expect("insert the first session");
    assert_eq!(get_session(clients, "sess_origin_1").await, Some(first));
    let client = get_client(clients, "client_origin").await.expect("client");
    assert_eq!(
        client.last_authentication_strategy.as_deref(),
        Some("oauth_github")
    );
    let second = fixtures::session("sess_origin_2", "client_origin", "user_a", at(9_400));
    clients
        .insert_session(&second, &token_hash(9301), &token_hash(9302), None, &[])
        .await
        .expect("insert the second session");
    assert_eq!(
        get_session(clients, "sess_origin_2")
            .await
            .map(|s| s.origin),
        Some(SessionOrigin::default())
    );
    let client = get_client(clients, "client_origin").await.expect("client");
    assert_eq!(
        client.last_authentication_strategy.as_deref(),
        Some("oauth_github"),
        "a session with no strategy keeps the last one"
    );
}

/// `rotate_token` replaces the token hash and `updated_at` only, and only
/// while the hash is the one expected: a stale hash is a `Conflict`, an
/// unknown client `NotFound`, and neither writes anything.
async fn rotate_token_is_a_compare_and_set(clients: &dyn ClientRepository) {
    let client = Client {
        sign_in_id: Some(sia("sia_rot")),
        ..fixtures::client("client_rot", 9100)
    };
    clients
        .insert_client(&client)
        .await
        .expect("insert client_rot");
    clients
        .rotate_token(&client.id, &token_hash(9100), &token_hash(9101), at(900))
        .await
        .expect("rotate");
    let rotated = Client {
        token_hash: token_hash(9101),
        updated_at: at(900),
        ..client.clone()
    };
    assert_eq!(
        get_client(clients, "client_rot").await,
        Some(rotated.clone()),
        "the token hash and updated_at change, nothing else"
    );
    assert_eq!(
        by_hash(clients, 9100).await,
        None,
        "the old token finds nothing"
    );
    assert_eq!(
        clients
            .rotate_token(&client.id, &token_hash(9100), &token_hash(9102), at(950))
            .await,
        Err(StoreError::Conflict),
        "a rotation from a token already rotated away loses"
    );
    assert_eq!(
        clients
            .rotate_token(&cid("client_gone"), &token_hash(1), &token_hash(2), at(950))
            .await,
        Err(StoreError::NotFound),
        "an unknown client"
    );
    assert_eq!(
        get_client(clients, "client_rot").await,
        Some(rotated),
        "and neither changed anything"
    );
    clients
        .delete_client(&client.id)
        .await
        .expect("delete client_rot");
}

/// `find_client_with_sessions` (and `get_client_with_sessions`, by id): by the current token hash only, with the
/// client's sessions active at `now` (not ended, not past `expire_at`), oldest
/// first, each with its user exactly as the user repository reads it; and
/// `find_active_session`, one of those sessions by id.
async fn a_client_with_its_active_sessions_and_users(
    clients: &dyn ClientRepository,
    users: &dyn UserRepository,
) {
    let view = |token: u64, now: Timestamp| async move {
        clients
            .find_client_with_sessions(&token_hash(token), now)
            .await
    };
    clients
        .insert_client(&fixtures::client("view_client", 7001))
        .await
        .expect("insert view client");
    let none = view(7001, at(5)).await.expect("client without sessions");
    assert_eq!(
        none.map(|found| (found.client, found.sessions.len())),
        Some((fixtures::client("view_client", 7001), 0)),
        "a client without sessions"
    );
    for (id, email) in [
        ("view_a", "view.a@example.com"),
        ("view_b", "view.b@example.com"),
    ] {
        users
            .insert(&fixtures::user(id, email), &[])
            .await
            .expect("insert view user");
    }
    let first = fixtures::session("view_1", "view_client", "view_a", at(10));
    let second = fixtures::session("view_2", "view_client", "view_b", at(20));
    let third = fixtures::session("view_3", "view_client", "view_a", at(30));
    let mut token = 7001;
    for session in [&first, &second, &third] {
        clients
            .insert_session(
                session,
                &token_hash(token),
                &token_hash(token + 1),
                None,
                &[],
            )
            .await
            .expect("insert view session");
        token += 1;
    }
    // Another client's session is not this client's.
    clients
        .insert_client(&fixtures::client("view_other", 7200))
        .await
        .expect("insert another client");
    let other = fixtures::session("view_other_1", "view_other", "view_b", at(15));
    clients
        .insert_session(&other, &token_hash(7200), &token_hash(7201), None, &[])
        .await
        .expect("insert a session of another client");
    assert!(
        clients
            .end_session(&second.id, SessionStatus::Ended, at(40), &[])
            .await
            .expect("end view_2")
    );
    let user_a = users.get(&UserId("view_a".into())).await.unwrap();
    let user_a = user_a.expect("view_a");

    let found = view(token, at(50))
        .await
        .expect("find_client_with_sessions")
        .expect("the current token finds the client");
    assert_eq!(Some(found.client), get_client(clients, "view_client").await);
    assert_eq!(
        found.sessions,
        vec![
            (first.clone(), user_a.clone()),
            (third.clone(), user_a.clone())
        ],
        "the active sessions, oldest first, each with its user; ended ones left out"
    );
    // From its expire_at on, a stored-active session is not active.
    let later = view(token, first.expire_at).await.unwrap().unwrap();
    assert_eq!(later.sessions, vec![(third.clone(), user_a)]);
    assert_eq!(
        view(token, third.expire_at)
            .await
            .unwrap()
            .unwrap()
            .sessions,
        vec![]
    );
    // By id: the same view.
    assert_eq!(
        clients
            .get_client_with_sessions(&cid("view_client"), at(50))
            .await,
        view(token, at(50)).await,
        "get_client_with_sessions is the same read by id"
    );
    assert_eq!(
        clients
            .get_client_with_sessions(&cid("view_missing"), at(50))
            .await,
        Ok(None)
    );
    // Earlier tokens and unknown ones find nothing.
    assert_eq!(view(7001, at(50)).await, Ok(None));
    assert_eq!(view(token - 1, at(50)).await, Ok(None));
    assert_eq!(view(99_999, at(50)).await, Ok(None));

    // One session by id: only an active one of the client the token names.
    let active = |token: u64, id: &'static str, now: Timestamp| async move {
        clients
            .find_active_session(&token_hash(token), &SessionId(id.into()), now)
            .await
    };
    assert_eq!(
        active(token, "view_1", at(50)).await,
        Ok(Some(first.clone()))
    );
    assert_eq!(
        active(token, "view_3", at(50)).await,
        Ok(Some(third.clone()))
    );
    assert_eq!(active(token, "view_2", at(50)).await, Ok(None), "ended");
    assert_eq!(
        active(token, "view_1", first.expire_at).await,
        Ok(None),
        "expired at its expire_at"
    );
    assert_eq!(
        active(token, "view_other_1", at(50)).await,
        Ok(None),
        "another client's session"
    );
    assert_eq!(
        active(7200, "view_other_1", at(50)).await,
        Ok(None),
        "through a token rotated out"
    );
    assert_eq!(
        active(7201, "view_other_1", at(50)).await,
        Ok(Some(other)),
        "through that client's current token"
    );
    assert_eq!(active(token - 1, "view_1", at(50)).await, Ok(None));
    assert_eq!(active(token, "view_missing", at(50)).await, Ok(None));
}

/// `purge_idle_clients` takes clients idle since before the cut-off that hold
/// no session active at `now`; their sessions stay.
async fn idle_clients_are_purged_unless_signed_in(clients: &dyn ClientRepository) {
    const DAY: i64 = 86_400_000;
    clients
        .insert_client(&fixtures::client("idle_anon", 9001))
        .await
        .expect("insert idle client");
    clients
        .insert_client(&fixtures::client("idle_signed_in", 9002))
        .await
        .expect("insert signed-in client");
    let recent = Client {
        updated_at: at(2 * DAY),
        ..fixtures::client("recent", 9003)
    };
    clients
        .insert_client(&recent)
        .await
        .expect("insert recent client");
    let session = fixtures::session("sess_idle", "idle_signed_in", "user_a", fixtures::T0);
    clients
        .insert_session(
            &session,
            &fixtures::token_hash(9002),
            &fixtures::token_hash(9004),
            None,
            &[],
        )
        .await
        .expect("insert session");

    let purged = clients
        .purge_idle_clients(at(DAY), at(DAY), at(DAY))
        .await
        .expect("purge");
    assert!(purged >= 1, "the idle anonymous client is purged");
    assert!(get_client(clients, "idle_anon").await.is_none());
    assert!(
        get_client(clients, "idle_signed_in").await.is_some(),
        "an active session keeps its client"
    );
    assert!(
        get_client(clients, "recent").await.is_some(),
        "a recently changed client stays"
    );

    // Ten days on, the session has expired and both clients are idle.
    clients
        .purge_idle_clients(at(10 * DAY), at(10 * DAY), at(10 * DAY))
        .await
        .expect("purge");
    assert!(get_client(clients, "idle_signed_in").await.is_none());
    assert!(get_client(clients, "recent").await.is_none());
    assert!(
        get_session(clients, "sess_idle").await.is_some(),
        "sessions outlive their purged client"
    );
}

/// `purge_idle_clients` takes an unused client (no current sign-in, no last
/// active session, no session at all) once it is older than `unused_before`,
/// while a client that started a sign-in or held a session, even one since
/// ended, waits for `idle_before`; a client a racing `set_current_sign_in`
/// gives a sign-in is never taken as unused. Runs after every earlier client
/// has been purged, at times after theirs.
async fn unused_clients_are_purged_sooner(clients: &Arc<dyn ClientRepository>) {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    let base = 20 * DAY;
    let insert = |id: &'static str, token: u64, updated: i64| {
        let client = Client {
            created_at: at(updated),
            updated_at: at(updated),
            ..fixtures::client(id, token)
        };
        async move {
            clients.insert_client(&client).await.expect("insert client");
        }
    };
    insert("unused_old", 11_001, base).await;
    insert("unused_new", 11_002, base + 2 * HOUR).await;
    insert("started", 11_003, base).await;
    clients
        .set_current_sign_in(&cid("started"), Some(sia("sia_started")), at(base))
        .await
        .expect("start a sign-in");
    insert("signing_up", 11_006, base).await;
    clients
        .set_current_sign_up(&cid("signing_up"), Some(sua("sua_started")), at(base))
        .await
        .expect("start a sign-up");
    // A session that has ended, and the last active session cleared.
    insert("signed_out", 11_004, base).await;
    let session = fixtures::session("sess_signed_out", "signed_out", "user_a", at(base));
    clients
        .insert_session(
            &session,
            &token_hash(11_004),
            &token_hash(11_005),
            None,
            &[],
        )
        .await
        .expect("insert session");
    clients
        .end_session(&sid("sess_signed_out"), SessionStatus::Ended, at(base), &[])
        .await
        .expect("end session");
    clients
        .set_last_active_session(&cid("signed_out"), None, at(base))
        .await
        .expect("clear last active session");

    // An hour and a bit on: only the old unused client goes.
    let now = at(base + HOUR + 1);
    let purged = clients
        .purge_idle_clients(at(base - DAY), at(base + 1), now)
        .await
        .expect("purge");
    assert_eq!(purged, 1, "only the old unused client is purged");
    assert!(get_client(&**clients, "unused_old").await.is_none());
    for id in ["unused_new", "started", "signing_up", "signed_out"] {
        assert!(get_client(&**clients, id).await.is_some(), "{id} stays");
    }
    // A day on, the idle rule takes the others that changed before it.
    let purged = clients
        .purge_idle_clients(at(base + 1), at(base + 1), at(base + DAY))
        .await
        .expect("purge");
    assert_eq!(
        purged, 3,
        "the idle clients with a sign-in, a sign-up or a past session"
    );
    assert!(get_client(&**clients, "unused_new").await.is_some());

    // Racing: unused clients, old enough to purge, are given a sign-in while
    // the purge runs. Each write that succeeded left its client in place.
    let race = base + 2 * DAY;
    for i in 0..RACERS {
        let client = Client {
            created_at: at(race),
            updated_at: at(race),
            ..fixtures::client(&format!("unused_race_{i}"), 12_000 + i)
        };
        clients.insert_client(&client).await.expect("insert racer");
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RACERS {
        let repo = Arc::clone(clients);
        tasks.spawn(async move {
            let written = repo
                .set_current_sign_in(
                    &cid(&format!("unused_race_{i}")),
                    Some(sia(&format!("sia_unused_race_{i}"))),
                    at(race + 2 * HOUR),
                )
                .await;
            (Some(i), written.map(|()| 0))
        });
        if i % 4 == 0 {
            let repo = Arc::clone(clients);
            tasks.spawn(async move {
                let purged = repo
                    .purge_idle_clients(at(race - DAY), at(race + HOUR), at(race + HOUR))
                    .await;
                (None, purged)
            });
        }
    }
    for (racer, result) in tasks.join_all().await {
        let Some(i) = racer else {
            result.expect("a racing purge succeeds");
            continue;
        };
        let id = format!("unused_race_{i}");
        match result {
            Ok(_) => assert_eq!(
                get_client(&**clients, &id).await.map(|c| c.sign_in_id),
                Some(Some(sia(&format!("sia_unused_race_{i}")))),
                "{id} was given a sign-in and must stay"
            ),
            Err(err) => {
                assert_eq!(err, StoreError::NotFound, "{id}");
                assert!(get_client(&**clients, &id).await.is_none(), "{id}");
            }
        }
    }
}

fn uid(id: &str) -> UserId {
    UserId(id.to_owned())
}

fn cid(id: &str) -> ClientId {
    ClientId(id.to_owned())
}

fn sid(id: &str) -> SessionId {
    SessionId(id.to_owned())
}

fn sua(id: &str) -> SignUpId {
    SignUpId(id.to_owned())
}

fn sia(id: &str) -> SignInId {
    SignInId(id.to_owned())
}

fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

/// Every session at `now`, at most 100.
fn all_at(now: Timestamp) -> SessionQuery {
    SessionQuery {
        now,
        limit: 100,
        ..SessionQuery::default()
    }
}

async fn get_client(clients: &dyn ClientRepository, id: &str) -> Option<Client> {
    clients
        .get_client(&cid(id))
        .await
        .expect("get_client succeeds")
}

async fn by_hash(clients: &dyn ClientRepository, token: u64) -> Option<Client> {
    clients
        .find_client_by_token_hash(&token_hash(token))
        .await
        .expect("find_client_by_token_hash succeeds")
}

async fn get_session(clients: &dyn ClientRepository, id: &str) -> Option<Session> {
    clients
        .get_session(&sid(id))
        .await
        .expect("get_session succeeds")
}

async fn empty_store(clients: &dyn ClientRepository) {
    assert_eq!(get_client(clients, "client_1").await, None);
    assert_eq!(by_hash(clients, 1).await, None);
    assert_eq!(
        clients
            .set_current_sign_in(&cid("client_1"), Some(sia("sia_1")), at(1))
            .await,
        Err(StoreError::NotFound),
        "set_current_sign_in of an unknown client"
    );
    assert_eq!(
        clients
            .set_last_active_session(&cid("client_1"), None, at(1))
            .await,
        Err(StoreError::NotFound),
        "set_last_active_session of an unknown client"
    );
    assert_eq!(
        get_client(clients, "client_1").await,
        None,
        "a failed set stores nothing"
    );
    assert_eq!(get_session(clients, "sess_1").await, None);
    assert_eq!(
        clients.touch_session(&sid("sess_1"), at(1)).await,
        Err(StoreError::NotFound),
        "touch of an unknown session"
    );
    assert_eq!(
        clients
            .reverify_session(&sid("sess_1"), true, true, at(1))
            .await,
        Err(StoreError::NotFound),
        "reverification of an unknown session"
    );
    assert_eq!(
        clients
            .end_session(&sid("sess_1"), SessionStatus::Ended, at(1), &[])
            .await,
        Err(StoreError::NotFound),
        "end of an unknown session"
    );
    assert_eq!(
        get_session(clients, "sess_1").await,
        None,
        "a failed touch or end stores nothing"
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_1")).await,
        Ok(vec![])
    );
    assert_eq!(clients.list_sessions(&all_at(at(0))).await, Ok(vec![]));
    assert_eq!(clients.count_sessions(&all_at(at(0))).await, Ok(0));
}

async fn clients_and_narrow_writes(clients: &dyn ClientRepository) {
    let c1 = fixtures::client("client_1", 1);
    clients.insert_client(&c1).await.expect("insert client_1");
    assert_eq!(get_client(clients, "client_1").await, Some(c1.clone()));
    assert_eq!(
        by_hash(clients, 1).await,
        Some(c1.clone()),
        "find by the current token hash"
    );
    assert_eq!(
        by_hash(clients, 99).await,
        None,
        "an unknown hash matches nothing"
    );

    clients
        .set_current_sign_in(&c1.id, Some(sia("sia_1")), at(10))
        .await
        .expect("set client_1's sign-in");
    let with_sign_in = Client {
        sign_in_id: Some(sia("sia_1")),
        updated_at: at(10),
        ..c1.clone()
    };
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(with_sign_in.clone()),
        "set_current_sign_in changes the sign-in and updated_at only"
    );

    clients
        .set_last_active_session(&c1.id, Some(sid("sess_gone")), at(20))
        .await
        .expect("set client_1's last active session");
    let with_session = Client {
        last_active_session_id: Some(sid("sess_gone")),
        updated_at: at(20),
        ..with_sign_in
    };
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(with_session.clone()),
        "set_last_active_session changes the session and updated_at only"
    );

    clients
        .set_current_sign_in(&c1.id, None, at(30))
        .await
        .expect("clear client_1's sign-in");
    clients
        .set_last_active_session(&c1.id, None, at(40))
        .await
        .expect("clear client_1's last active session");
    let cleared = Client {
        sign_in_id: None,
        last_active_session_id: None,
        updated_at: at(40),
        ..with_session
    };
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(cleared.clone()),
        "optional fields can be cleared"
    );
    assert_eq!(
        by_hash(clients, 1).await,
        Some(cleared.clone()),
        "narrow writes keep the token hash"
    );

    let c2 = fixtures::client("client_2", 3);
    clients.insert_client(&c2).await.expect("insert client_2");
    assert_eq!(get_client(clients, "client_2").await, Some(c2));
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(cleared),
        "clients are independent"
    );
    let mut clash = fixtures::client("client_3", 1);
    clash.created_at = at(50);
    assert!(
        clients.insert_client(&clash).await.is_err(),
        "a token hash belongs to one client"
    );
    assert_eq!(get_client(clients, "client_3").await, None);
}

/// Stores five sessions through `insert_session` and returns them as stored:
/// on client_1: s1 (user_a, t100), s3 (user_a, t200), s2 (user_b, t300);
/// on client_2: s4 (user_b, t150), s5 (user_a, t250). All active.
async fn insert_session_rotates_the_token(clients: &dyn ClientRepository) -> Vec<Session> {
    let mut token = 10;
    let mut insert = async |session: &Session| {
        token += 1;
        let before = get_client(clients, session.client_id.as_str())
            .await
            .expect("client exists");
        // A sign-in in progress, which the new session ends.
        clients
            .set_current_sign_in(&before.id, Some(sia("sia_pending")), at(90))
            .await
            .expect("set the sign-in in progress");
        clients
            .insert_session(session, &before.token_hash, &token_hash(token), None, &[])
            .await
            .expect("insert_session");
        assert_eq!(
            get_session(clients, session.id.as_str()).await.as_ref(),
            Some(session),
            "the session is stored"
        );
        let after = Client {
            token_hash: token_hash(token),
            sign_in_id: None,
            last_active_session_id: Some(session.id.clone()),
            updated_at: session.created_at,
            ..before.clone()
        };
        assert_eq!(
            get_client(clients, after.id.as_str()).await,
            Some(after.clone()),
            "the client's token, sign-in, last active session and updated_at change, nothing else"
        );
        assert_eq!(
            before.with_session_started(session, &token_hash(token)),
            after,
            "Client::with_session_started tells what the store did"
        );
        assert_eq!(
            by_hash(clients, token).await,
            Some(after.clone()),
            "the new token hash matches"
        );
        assert_eq!(
            clients.find_client_by_token_hash(&before.token_hash).await,
            Ok(None),
            "the old token hash no longer matches"
        );
    };

    let s1 = fixtures::session("sess_1", "client_1", "user_a", at(100));
    let mut s2 = fixtures::session("sess_2", "client_1", "user_b", at(300));
    s2.second_factor_verified_at = Some(at(301));
    s2.last_active_at = at(350);
    let s3 = fixtures::session("sess_3", "client_1", "user_a", at(200));
    let s4 = fixtures::session("sess_4", "client_2", "user_b", at(150));
    let s5 = fixtures::session("sess_5", "client_2", "user_a", at(250));
    // Out of creation order, so the store must sort.
    for session in [&s1, &s2, &s3, &s5, &s4] {
        insert(session).await;
    }

    // Writers that read the client before the last rotation come late: they
    // set their column and cannot bring an earlier token back.
    let rotated = get_client(clients, "client_1").await.expect("client_1");
    clients
        .set_current_sign_in(&rotated.id, Some(sia("sia_late")), at(500))
        .await
        .expect("a late set_current_sign_in");
    clients
        .set_last_active_session(&rotated.id, Some(s1.id.clone()), at(510))
        .await
        .expect("a late set_last_active_session");
    let expected = Client {
        sign_in_id: Some(sia("sia_late")),
        last_active_session_id: Some(s1.id.clone()),
        updated_at: at(510),
        ..rotated.clone()
    };
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(expected.clone())
    );
    // client_1 went through tokens 1, 11, 12 and 13; client_2 through 3, 14 and 15.
    for token in 1..=token {
        let owner = by_hash(clients, token).await.map(|c| c.id);
        let current = match token {
            13 => Some(cid("client_1")),
            15 => Some(cid("client_2")),
            _ => None,
        };
        assert_eq!(
            owner, current,
            "only a current token hash matches ({token})"
        );
    }

    // Both or neither, one way: the client does not exist, so no session.
    let orphan = fixtures::session("sess_orphan", "client_missing", "user_a", at(400));
    assert_eq!(
        clients
            .insert_session(&orphan, &token_hash(4), &token_hash(5), None, &[])
            .await,
        Err(StoreError::NotFound),
        "insert_session with a missing client"
    );
    assert_eq!(
        get_session(clients, "sess_orphan").await,
        None,
        "a failed insert_session stores no session"
    );
    assert_eq!(
        get_client(clients, "client_missing").await,
        None,
        "a failed insert_session stores no client"
    );
    assert_eq!(by_hash(clients, 5).await, None);

    // The other way: the session cannot be stored (its id is taken), so the
    // client keeps its token, sign-in and last active session.
    let taken = fixtures::session("sess_1", "client_1", "user_b", at(600));
    assert!(
        clients
            .insert_session(&taken, &expected.token_hash, &token_hash(6), None, &[])
            .await
            .is_err(),
        "insert_session with a taken session id fails"
    );
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(expected),
        "a failed insert_session rotates nothing"
    );
    assert_eq!(by_hash(clients, 6).await, None);

    // A rotation from a token that is no longer current loses: nothing changes.
    let stale = fixtures::session("sess_stale", "client_1", "user_b", at(650));
    assert_eq!(
        clients
            .insert_session(&stale, &token_hash(3), &token_hash(8), None, &[])
            .await,
        Err(StoreError::Conflict),
        "insert_session with a stale token hash"
    );
    assert_eq!(
        get_session(clients, "sess_stale").await,
        None,
        "a lost rotation stores no session"
    );
    assert_eq!(
        by_hash(clients, 8).await,
        None,
        "a lost rotation sets no token"
    );
    assert_eq!(
        get_session(clients, "sess_1").await,
        Some(s1.clone()),
        "and leaves the stored session alone"
    );

    assert_eq!(
        ids(&clients.sessions_of_client(&cid("client_1")).await.unwrap()),
        ["sess_1", "sess_3", "sess_2"],
        "oldest first"
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_2")).await,
        Ok(vec![s4.clone(), s5.clone()])
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_missing")).await,
        Ok(vec![])
    );
    vec![s1, s2, s3, s4, s5]
}

/// Ends sess_3 and revokes sess_5, touching them around it; returns the five
/// sessions as stored afterwards.
async fn touch_and_end_sessions(
    clients: &dyn ClientRepository,
    sessions: Vec<Session>,
) -> Vec<Session> {
    let [s1, s2, s3, s4, s5]: [Session; 5] = sessions.try_into().expect("five sessions");

    assert_eq!(
        clients
            .end_session(&s3.id, SessionStatus::Ended, at(400), &[])
            .await,
        Ok(true),
        "end an active session"
    );
    let s3 = Session {
        status: SessionStatus::Ended,
        updated_at: at(400),
        ..s3
    };
    assert_eq!(
        get_session(clients, "sess_3").await,
        Some(s3.clone()),
        "end_session changes the status and updated_at only"
    );
    assert_eq!(
        clients
            .end_session(&s3.id, SessionStatus::Revoked, at(401), &[])
            .await,
        Ok(false),
        "a session ends once"
    );
    assert_eq!(
        get_session(clients, "sess_3").await,
        Some(s3.clone()),
        "a second end keeps the first status"
    );

    clients
        .touch_session(&s5.id, at(260))
        .await
        .expect("touch sess_5");
    let s5 = Session {
        last_active_at: at(260),
        updated_at: at(260),
        ..s5
    };
    assert_eq!(
        get_session(clients, "sess_5").await,
        Some(s5.clone()),
        "touch_session changes last_active_at and updated_at only"
    );
    clients
        .reverify_session(&s5.id, true, false, at(270))
        .await
        .expect("reverify sess_5's first factor");
    let s5 = Session {
        first_factor_verified_at: at(270),
        updated_at: at(270),
        ..s5
    };
    assert_eq!(
        get_session(clients, "sess_5").await,
        Some(s5.clone()),
        "reverify_session sets the first factor's time and updated_at only"
    );
    clients
        .reverify_session(&s5.id, false, true, at(280))
        .await
        .expect("reverify sess_5's second factor");
    let s5 = Session {
        second_factor_verified_at: Some(at(280)),
        updated_at: at(280),
        ..s5
    };
    assert_eq!(get_session(clients, "sess_5").await, Some(s5.clone()));
    assert_eq!(
        clients
            .end_session(&s5.id, SessionStatus::Revoked, at(410), &[])
            .await,
        Ok(true),
        "revoke an active session"
    );
    // A request that read sess_5 while it was active records its activity late.
    clients
        .touch_session(&s5.id, at(420))
        .await
        .expect("touch a revoked session");
    let s5 = Session {
        status: SessionStatus::Revoked,
        last_active_at: at(420),
        updated_at: at(420),
        ..s5
    };
    assert_eq!(
        get_session(clients, "sess_5").await,
        Some(s5.clone()),
        "a touch after a revoke leaves the session revoked"
    );
    assert_eq!(
        clients
            .end_session(&s5.id, SessionStatus::Ended, at(430), &[])
            .await,
        Ok(false),
        "a revoked session does not end"
    );
    assert_eq!(get_session(clients, "sess_5").await, Some(s5.clone()));

    vec![s1, s2, s3, s4, s5]
}

async fn list_and_count(clients: &dyn ClientRepository, stored: &[Session]) {
    let now = at(1_000);
    let query = |user: Option<&str>,
                 client: Option<&str>,
                 status: Option<SessionStatus>,
                 now: Timestamp| SessionQuery {
        user_id: user.map(str::to_owned),
        client_id: client.map(str::to_owned),
        status,
        now,
        limit: 100,
        offset: 0,
    };
    use SessionStatus::{Active, Ended, Expired, Revoked};
    // s1 expires at WEEK + 100, s4 at WEEK + 150, s2 at WEEK + 300.
    let cases: Vec<(&str, SessionQuery, Vec<&str>)> = vec![
        (
            "nothing",
            query(None, None, None, now),
            vec!["sess_2", "sess_5", "sess_3", "sess_4", "sess_1"],
        ),
        (
            "user",
            query(Some("user_a"), None, None, now),
            vec!["sess_5", "sess_3", "sess_1"],
        ),
        (
            "client",
            query(None, Some("client_1"), None, now),
            vec!["sess_2", "sess_3", "sess_1"],
        ),
        (
            "status active",
            query(None, None, Some(Active), now),
            vec!["sess_2", "sess_4", "sess_1"],
        ),
        (
            "status ended",
            query(None, None, Some(Ended), now),
            vec!["sess_3"],
        ),
        (
            "status revoked",
            query(None, None, Some(Revoked), now),
            vec!["sess_5"],
        ),
        (
            "status expired, before any expiry",
            query(None, None, Some(Expired), now),
            vec![],
        ),
        (
            "user and client",
            query(Some("user_a"), Some("client_1"), None, now),
            vec!["sess_3", "sess_1"],
        ),
        (
            "user, client and status",
            query(Some("user_a"), Some("client_1"), Some(Active), now),
            vec!["sess_1"],
        ),
        (
            "an unmatched status",
            query(Some("user_b"), None, Some(Revoked), now),
            vec![],
        ),
        (
            "an unknown user",
            query(Some("user_nobody"), None, None, now),
            vec![],
        ),
        (
            "status active, an instant before sess_1 expires",
            query(None, None, Some(Active), at(WEEK + 99)),
            vec!["sess_2", "sess_4", "sess_1"],
        ),
        (
            "status active, at sess_1's expire_at",
            query(None, None, Some(Active), at(WEEK + 100)),
            vec!["sess_2", "sess_4"],
        ),
        (
            "status expired, at sess_1's expire_at",
            query(None, None, Some(Expired), at(WEEK + 100)),
            vec!["sess_1"],
        ),
        (
            "status active, after two expiries",
            query(None, None, Some(Active), at(WEEK + 200)),
            vec!["sess_2"],
        ),
        (
            "status expired, after two expiries",
            query(None, None, Some(Expired), at(WEEK + 200)),
            vec!["sess_4", "sess_1"],
        ),
        (
            "status expired and user, after two expiries",
            query(Some("user_b"), None, Some(Expired), at(WEEK + 200)),
            vec!["sess_4"],
        ),
        (
            "status ended, long after: an ended session never becomes expired",
            query(None, None, Some(Ended), at(10 * WEEK)),
            vec!["sess_3"],
        ),
        (
            "status expired, long after",
            query(None, None, Some(Expired), at(10 * WEEK)),
            vec!["sess_2", "sess_4", "sess_1"],
        ),
        (
            "no status, long after: now filters nothing by itself",
            query(None, None, None, at(10 * WEEK)),
            vec!["sess_2", "sess_5", "sess_3", "sess_4", "sess_1"],
        ),
    ];
    for (name, q, expected) in cases {
        assert_eq!(
            ids(&clients.list_sessions(&q).await.unwrap()),
            expected,
            "list_sessions by {name}, newest first"
        );
        assert_eq!(
            clients.count_sessions(&q).await,
            Ok(expected.len() as u64),
            "count_sessions by {name}"
        );
    }
    let listed = clients.list_sessions(&all_at(now)).await.unwrap();
    for session in stored {
        assert!(
            listed.contains(session),
            "list_sessions returns {} as stored",
            session.id
        );
    }
    let expired = clients
        .list_sessions(&query(None, None, Some(Expired), at(10 * WEEK)))
        .await
        .unwrap();
    assert!(
        expired.iter().all(|s| s.status == Active),
        "the effective status filters; the stored one is returned"
    );

    let page = SessionQuery {
        now,
        limit: 2,
        offset: 1,
        ..SessionQuery::default()
    };
    assert_eq!(
        ids(&clients.list_sessions(&page).await.unwrap()),
        ["sess_5", "sess_3"]
    );
    assert_eq!(
        clients.count_sessions(&page).await,
        Ok(5),
        "count_sessions ignores pagination"
    );
    let page = SessionQuery {
        limit: 1,
        offset: 2,
        ..query(Some("user_a"), None, None, now)
    };
    assert_eq!(
        ids(&clients.list_sessions(&page).await.unwrap()),
        ["sess_1"]
    );
    assert_eq!(clients.count_sessions(&page).await, Ok(3));
    let page = SessionQuery {
        limit: 1,
        offset: 1,
        ..query(None, None, Some(Active), at(WEEK + 100))
    };
    assert_eq!(
        ids(&clients.list_sessions(&page).await.unwrap()),
        ["sess_4"],
        "the status filter and pagination together"
    );
    assert_eq!(clients.count_sessions(&page).await, Ok(2));
    let past_end = SessionQuery {
        now,
        limit: 2,
        offset: 5,
        ..SessionQuery::default()
    };
    assert_eq!(clients.list_sessions(&past_end).await, Ok(vec![]));
}

async fn delete_client_marks_sessions_removed(clients: &dyn ClientRepository, stored: &[Session]) {
    let hash = get_client(clients, "client_1")
        .await
        .expect("client_1 exists")
        .token_hash;
    clients
        .delete_client(&cid("client_1"))
        .await
        .expect("delete client_1");
    assert_eq!(
        get_client(clients, "client_1").await,
        None,
        "the client is gone"
    );
    assert_eq!(
        clients.find_client_by_token_hash(&hash).await,
        Ok(None),
        "its token no longer matches"
    );

    let kept = clients.sessions_of_client(&cid("client_1")).await.unwrap();
    assert_eq!(
        ids(&kept),
        ["sess_1", "sess_3", "sess_2"],
        "the client's sessions stay"
    );
    for session in &kept {
        let before = stored.iter().find(|s| s.id == session.id).unwrap();
        assert_eq!(
            (&session.user_id, &session.client_id, session.created_at),
            (&before.user_id, &before.client_id, before.created_at)
        );
        if before.status == SessionStatus::Active {
            assert_eq!(
                session.status,
                SessionStatus::Removed,
                "active {} is marked removed",
                session.id
            );
        } else {
            assert_eq!(
                session.status, before.status,
                "{} keeps the status that says how it finished",
                session.id
            );
        }
    }
    let removed = SessionQuery {
        status: Some(SessionStatus::Removed),
        ..all_at(at(1_000))
    };
    assert_eq!(
        ids(&clients.list_sessions(&removed).await.unwrap()),
        ["sess_2", "sess_1"]
    );
    assert_eq!(
        clients
            .end_session(&sid("sess_1"), SessionStatus::Ended, at(2_000), &[])
            .await,
        Ok(false),
        "a removed session does not end"
    );

    // Writes racing the deletion find no client, and store nothing.
    assert_eq!(
        clients
            .set_current_sign_in(&cid("client_1"), Some(sia("sia_late")), at(2_000))
            .await,
        Err(StoreError::NotFound),
        "set_current_sign_in of a deleted client"
    );
    assert_eq!(
        clients
            .set_last_active_session(&cid("client_1"), Some(sid("sess_1")), at(2_000))
            .await,
        Err(StoreError::NotFound),
        "set_last_active_session of a deleted client"
    );
    let late = fixtures::session("sess_late", "client_1", "user_a", at(2_000));
    assert_eq!(
        clients
            .insert_session(&late, &token_hash(6), &token_hash(7), None, &[])
            .await,
        Err(StoreError::NotFound),
        "insert_session on a deleted client"
    );
    assert_eq!(get_session(clients, "sess_late").await, None);
    assert_eq!(get_client(clients, "client_1").await, None);

    let other = clients.sessions_of_client(&cid("client_2")).await.unwrap();
    let expected: Vec<&Session> = stored
        .iter()
        .filter(|s| s.client_id.as_str() == "client_2")
        .collect();
    assert_eq!(
        other.iter().collect::<Vec<_>>(),
        expected,
        "other clients' sessions are untouched"
    );
    assert!(
        get_client(clients, "client_2").await.is_some(),
        "other clients stay"
    );
}

async fn deleting_a_user_deletes_its_sessions(
    clients: &dyn ClientRepository,
    users: &dyn UserRepository,
    stored: &[Session],
) {
    assert_eq!(
        users.delete(&UserId("user_b".to_owned()), &[]).await,
        Ok(true)
    );
    assert_eq!(
        get_session(clients, "sess_2").await,
        None,
        "user_b's session on the deleted client is gone"
    );
    assert_eq!(
        get_session(clients, "sess_4").await,
        None,
        "user_b's session on client_2 is gone"
    );
    let by_b = SessionQuery {
        user_id: Some("user_b".to_owned()),
        ..all_at(at(1_000))
    };
    assert_eq!(clients.list_sessions(&by_b).await, Ok(vec![]));
    assert_eq!(clients.count_sessions(&by_b).await, Ok(0));
    let s5 = stored.iter().find(|s| s.id.as_str() == "sess_5").unwrap();
    assert_eq!(
        clients.sessions_of_client(&cid("client_2")).await,
        Ok(vec![s5.clone()]),
        "user_a's sessions stay"
    );
    assert_eq!(
        ids(&clients.list_sessions(&all_at(at(1_000))).await.unwrap()),
        ["sess_5", "sess_3", "sess_1"]
    );
}

/// A session stored as `expired` is expired at any `now`, even before its
/// `expire_at`.
async fn a_stored_expired_status_stays_expired(clients: &dyn ClientRepository) {
    clients
        .insert_client(&fixtures::client("client_4", 40))
        .await
        .expect("insert client_4");
    let session = Session {
        status: SessionStatus::Expired,
        ..fixtures::session("sess_expired", "client_4", "user_a", at(700))
    };
    clients
        .insert_session(&session, &token_hash(40), &token_hash(41), None, &[])
        .await
        .expect("insert an expired session");
    let on_client_4 = |status: SessionStatus, now: Timestamp| SessionQuery {
        client_id: Some("client_4".to_owned()),
        status: Some(status),
        ..all_at(now)
    };
    for now in [at(0), at(700), at(10 * WEEK)] {
        assert_eq!(
            clients
                .list_sessions(&on_client_4(SessionStatus::Expired, now))
                .await,
            Ok(vec![session.clone()]),
            "stored expired is expired at {now:?}"
        );
        assert_eq!(
            clients
                .count_sessions(&on_client_4(SessionStatus::Active, now))
                .await,
            Ok(0),
            "stored expired is never active ({now:?})"
        );
    }
    assert_eq!(
        clients
            .end_session(&session.id, SessionStatus::Ended, at(800), &[])
            .await,
        Ok(false),
        "an expired session does not end"
    );
}

/// Many tasks on one client and one session at once: the token hash and the
/// last active session always come from the same `insert_session`, no session
/// is lost, and exactly one of the racing `end_session` calls wins.
async fn racing_writes_do_not_undo_each_other(clients: &Arc<dyn ClientRepository>) {
    const FIRST_TOKEN: u64 = 1_000;
    clients
        .insert_client(&fixtures::client("client_race", FIRST_TOKEN))
        .await
        .expect("insert client_race");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RACERS {
        let repo = Arc::clone(clients);
        tasks.spawn(async move {
            let session = fixtures::session(
                &format!("sess_race_{i}"),
                "client_race",
                "user_a",
                at(10_000 + i as i64),
            );
            // Every racer presents the same current token: one may rotate it.
            repo.insert_session(
                &session,
                &token_hash(FIRST_TOKEN),
                &token_hash(FIRST_TOKEN + 1 + i),
                None,
                &[],
            )
            .await
            .map(|_| ())
        });
        let repo = Arc::clone(clients);
        tasks.spawn(async move {
            repo.set_current_sign_in(
                &cid("client_race"),
                Some(sia(&format!("sia_race_{i}"))),
                at(20_000 + i as i64),
            )
            .await
        });
    }
    let results = tasks.join_all().await;
    let won = results.iter().filter(|r| r.is_ok()).count() as u64;
    assert_eq!(
        won,
        RACERS + 1,
        "every sign-in write and exactly one rotation succeed"
    );
    for result in &results {
        assert!(
            matches!(result, Ok(()) | Err(StoreError::Conflict)),
            "{result:?}"
        );
    }

    let client = get_client(&**clients, "client_race")
        .await
        .expect("client_race exists");
    let winner = (0..RACERS)
        .find(|i| client.token_hash == token_hash(FIRST_TOKEN + 1 + i))
        .expect("the token hash is one an insert_session set");
    assert_eq!(
        client.last_active_session_id,
        Some(sid(&format!("sess_race_{winner}"))),
        "the last active session comes from the same insert_session as the token"
    );
    assert!(
        client.sign_in_id.is_none()
            || (0..RACERS).any(|i| client.sign_in_id == Some(sia(&format!("sia_race_{i}")))),
        "the sign-in is one a racing write set"
    );
    for token in FIRST_TOKEN..=FIRST_TOKEN + RACERS {
        let owner = by_hash(&**clients, token).await;
        if token == FIRST_TOKEN + 1 + winner {
            assert_eq!(owner, Some(client.clone()));
        } else {
            assert_eq!(
                owner, None,
                "an overwritten token hash ({token}) MUST NOT match"
            );
        }
    }
    let stored = clients
        .sessions_of_client(&cid("client_race"))
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        1,
        "only the rotation that won stored its session"
    );
    let winner_session = format!("sess_race_{winner}");

    // Sign-out, removal and revocation of one session race with its touches.
    let target = sid(&winner_session);
    let before = get_session(&**clients, &winner_session)
        .await
        .expect("the winning session");
    let statuses = [
        SessionStatus::Ended,
        SessionStatus::Removed,
        SessionStatus::Revoked,
    ];
    let mut ends = tokio::task::JoinSet::new();
    let mut touches = tokio::task::JoinSet::new();
    for i in 0..RACERS {
        let (repo, id) = (Arc::clone(clients), target.clone());
        let status = statuses[i as usize % statuses.len()];
        ends.spawn(async move {
            let ended = repo
                .end_session(&id, status, at(30_000 + i as i64), &[])
                .await;
            (status, ended)
        });
        let (repo, id) = (Arc::clone(clients), target.clone());
        touches.spawn(async move { repo.touch_session(&id, at(40_000 + i as i64)).await });
    }
    let ends = ends.join_all().await;
    for touched in touches.join_all().await {
        assert_eq!(touched, Ok(()), "every racing touch succeeds");
    }
    let winners: Vec<SessionStatus> = ends
        .iter()
        .filter_map(|(status, ended)| match ended {
            Ok(true) => Some(*status),
            Ok(false) => None,
            Err(e) => panic!("a racing end_session failed: {e}"),
        })
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {RACERS} racing end_session calls ends the session"
    );
    let after = get_session(&**clients, &winner_session)
        .await
        .expect("the winning session");
    assert_eq!(
        after.status, winners[0],
        "the session keeps the winner's status; touches do not revive it"
    );
    assert_eq!(
        Session {
            status: before.status,
            last_active_at: before.last_active_at,
            updated_at: before.updated_at,
            ..after
        },
        before,
        "racing ends and touches change nothing else"
    );
}

//! The [`SignInSteps`] contract: its one read answers what the three ports
//! it stands for answer on their own.

use latch_core::error::StoreError;
use latch_core::model::{
    Client, Duration, Session, SessionStatus, SignIn, SignInId, Standing, Strategy,
};
use latch_core::ports::{
    AttemptSlot, ClientRepository, PassedAttempt, SignInStep, SignInSteps, SignInStore,
    UserRepository,
};

use crate::fixtures::{self, at, token_hash};

/// Where this contract's clients' token numbers start.
const TOKENS: u64 = 70_000;

/// Runs the whole [`SignInSteps`] contract against `store`, fresh and empty,
/// which keeps the clients, the sign-ins and the users.
///
/// An unknown or rotated-out token finds nothing; a known one finds its
/// client with exactly the sessions `find_client_with_sessions` reads at the
/// same moment (an expired and an ended one left out), with or without the
/// sign-in asked for; a sign-in is found only by its own client, exactly as
/// stored (version included); its user only when it names a stored user
/// and is not a stand-in's (even when the stand-in's id is a stored user's),
/// and no longer once that user is deleted.
///
/// `start_sign_in` stores a new sign-in with a client made for it, or as an
/// existing client's current sign-in (the one it replaces deleted), and
/// nothing when the client is gone or the new one's id is taken.
///
/// `complete_sign_in` stores the completed sign-in, the session, the
/// client's rotation and the user's sign-in record together, and settles
/// the attempt that passed, answering the user's standing as that write
/// found it (a lock stored before it shows);
/// and nothing at all when the sign-in's version moved,
/// the client's token moved, or the user, the client or the sign-in is gone.
///
/// `complete_new_sign_in` stores a sign-in completed where it was made with
/// its session, the client made for it or the current sign-in it replaces
/// deleted, the client's rotation, the user's sign-in record and the
/// attempt's settling together;
/// and nothing at all when the user or the client is gone, the client's
/// token moved, or the new client's id is taken.
pub async fn sign_in_steps_contract<S>(store: &S)
where
    S: SignInSteps + ClientRepository + SignInStore + UserRepository,
{
    a_new_sign_in_goes_with_its_clients_change_or_not_at_all(store).await;
    the_step_is_read_at_once(store).await;
    a_sign_in_completes_with_its_session_or_not_at_all(store).await;
    a_sign_in_made_complete_goes_with_its_session_or_not_at_all(store).await;
}

async fn the_step_is_read_at_once<S>(store: &S)
where
    S: SignInSteps + ClientRepository + SignInStore + UserRepository,
{
    let now = at(60_000);
    let alice = fixtures::user("user_steps_alice", "steps-alice@example.com");
    let bob = fixtures::user("user_steps_bob", "steps-bob@example.com");
    for user in [&alice, &bob] {
        UserRepository::insert(store, user, &[])
            .await
            .expect("insert a user");
    }
    let mine = fixtures::client("client_steps_mine", TOKENS);
    let theirs = fixtures::client("client_steps_theirs", TOKENS + 1);
    for client in [&mine, &theirs] {
        store.insert_client(client).await.expect("insert a client");
    }
    // On `mine`: bob signed in, one session expired, one ended.
    let signed_in = fixtures::session("sess_steps_bob", mine.id.as_str(), bob.id.as_str(), at(0));
    store
        .insert_session(
            &signed_in,
            &mine.token_hash,
            &token_hash(TOKENS + 2),
            None,
            &[],
        )
        .await
        .expect("start a session");
    let mine_hash = token_hash(TOKENS + 2);
    let mut expired = fixtures::session("sess_steps_old", mine.id.as_str(), bob.id.as_str(), at(1));
    expired.expire_at = at(59_999);
    store
        .insert_session(&expired, &mine_hash, &token_hash(TOKENS + 3), None, &[])
        .await
        .expect("start a session");
    let mine_hash = token_hash(TOKENS + 3);
    let ended = fixtures::session(
        "sess_steps_ended",
        mine.id.as_str(),
        alice.id.as_str(),
        at(2),
    );
    store
        .insert_session(&ended, &mine_hash, &token_hash(TOKENS + 4), None, &[])
        .await
        .expect("start a session");
    let mine_hash = token_hash(TOKENS + 4);
    assert!(
        store
            .end_session(&ended.id, SessionStatus::Ended, at(3), &[])
            .await
            .expect("end a session")
    );

    // Sign-ins: fresh; identified as alice; a stand-in's carrying alice's
    // id; another client's.
    let fresh = fixtures::sign_in("sia_steps_fresh", mine.id.as_str());
    let mut identified = fixtures::sign_in("sia_steps_alice", mine.id.as_str());
    identified
        .identify("steps-alice@example.com".into(), &alice, at(10))
        .expect("identify");
    let mut stand_in = fixtures::sign_in("sia_steps_stand_in", mine.id.as_str());
    stand_in
        .identify_phantom("nobody@example.com".into(), &alice, at(10))
        .expect("identify a stand-in");
    let elsewhere = fixtures::sign_in("sia_steps_theirs", theirs.id.as_str());
    for sign_in in [&fresh, &identified, &stand_in, &elsewhere] {
        SignInStore::insert(store, sign_in)
            .await
            .expect("insert a sign-in");
    }
    // A stored version other than the first is read as it is.
    let before = identified.next_version();
    store
        .replace(&identified, before)
        .await
        .expect("replace a sign-in");

    let read = |hash: String, id: &'static str| async move {
        store
            .read_sign_in_step(&hash, &SignInId(id.to_owned()), now)
            .await
            .expect("read a step")
    };
    let expected_client = store
        .find_client_with_sessions(&mine_hash, now)
        .await
        .expect("find the client")
        .expect("the client exists");
    let only_bob: Vec<_> = expected_client
        .sessions
        .iter()
        .map(|(s, _)| s.id.clone())
        .collect();
    assert_eq!(
        only_bob,
        vec![signed_in.id.clone()],
        "the fixture's sessions"
    );

    // Unknown and rotated-out tokens find nothing, whatever the sign-in.
    assert_eq!(
        read(token_hash(TOKENS + 999), "sia_steps_alice").await,
        None
    );
    assert_eq!(read(token_hash(TOKENS), "sia_steps_alice").await, None);

    let step = |sign_in: Option<&SignIn>, user| SignInStep {
        found: expected_client.clone(),
        sign_in: sign_in.cloned(),
        user,
    };
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_missing").await,
        Some(step(None, None)),
        "an unknown sign-in: the client alone"
    );
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_theirs").await,
        Some(step(None, None)),
        "another client's sign-in is not found"
    );
    assert_eq!(
        read(token_hash(TOKENS + 1), "sia_steps_theirs")
            .await
            .and_then(|s| s.sign_in),
        Some(elsewhere.clone()),
        "by its own client it is"
    );
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_fresh").await,
        Some(step(Some(&fresh), None)),
        "a sign-in not yet identified has no user"
    );
    let alice_stored = UserRepository::get(store, &alice.id)
        .await
        .expect("get")
        .expect("alice is stored");
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_alice").await,
        Some(step(Some(&identified), Some(alice_stored))),
        "an identified sign-in with its user, as stored"
    );
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_stand_in").await,
        Some(step(Some(&stand_in), None)),
        "a stand-in's sign-in has no stored user"
    );

    // Once alice is gone, her sign-in is read without her; bob's session stays.
    assert!(
        UserRepository::delete(store, &alice.id, &[])
            .await
            .expect("delete")
    );
    assert_eq!(
        read(mine_hash.clone(), "sia_steps_alice").await,
        Some(step(Some(&identified), None))
    );

    // Leave the store as found.
    for id in [
        "sia_steps_fresh",
        "sia_steps_alice",
        "sia_steps_stand_in",
        "sia_steps_theirs",
    ] {
        SignInStore::delete(store, &SignInId(id.to_owned()))
            .await
            .expect("delete a sign-in");
    }
    for client in [&mine, &theirs] {
        store
            .delete_client(&client.id)
            .await
            .expect("delete a client");
    }
    UserRepository::delete(store, &bob.id, &[])
        .await
        .expect("delete");
}

/// `complete_sign_in`: everything or nothing.
async fn a_sign_in_completes_with_its_session_or_not_at_all<S>(store: &S)
where
    S: SignInSteps + ClientRepository + SignInStore + UserRepository,
{
    let carol = fixtures::user("user_steps_carol", "steps-carol@example.com");
    UserRepository::insert(store, &carol, &[])
        .await
        .expect("insert a user");
    let client = fixtures::client("client_steps_complete", TOKENS + 10);
    store.insert_client(&client).await.expect("insert a client");
    let mut stored = fixtures::sign_in("sia_steps_complete", client.id.as_str());
    stored
        .identify("steps-carol@example.com".into(), &carol, at(10))
        .expect("identify");
    SignInStore::insert(store, &stored)
        .await
        .expect("insert a sign-in");
    let session = |n: u64| {
        fixtures::session(
            &format!("sess_steps_complete_{n}"),
            client.id.as_str(),
            carol.id.as_str(),
            at(1_000),
        )
    };
    // `stored` completed by `session`, at the version after `version`.
    let completed = |session: &Session, version: u64| {
        let mut sign_in = stored.clone();
        sign_in
            .first_factor_passed(Strategy::EmailCode, false, at(1_000))
            .expect("pass the first factor");
        sign_in
            .complete(session.id.clone(), at(1_000))
            .expect("complete");
        sign_in.set_version(version);
        sign_in.next_version();
        sign_in
    };
    let new_hash = token_hash(TOKENS + 11);
    // Carol's lockout allows one check at a time: whether one is in flight
    // at `at`, and her attempt that passed, settled at `at`.
    let window = Duration(100_000);
    let take = async |now: i64| {
        store
            .take_attempt(&carol.id, at(now), 1, window)
            .await
            .expect("take an attempt")
    };
    let passed = |now: i64| PassedAttempt {
        user_id: carol.id.clone(),
        at: at(now),
        max_attempts: 1,
        lock_for: window,
    };
    assert_eq!(take(1_000).await, AttemptSlot::Granted);
    // Each refusal stores nothing: no session, the rest as it was, the
    // attempt still in flight.
    let refused = async |sign_in: SignIn, session: Session, token: &str, what: &str| {
        let err = store
            .complete_sign_in(
                &sign_in,
                &session,
                token,
                &new_hash,
                None,
                &[],
                Some(passed(1_000)),
            )
            .await
            .expect_err(what);
        assert_eq!(
            take(1_000).await,
            AttemptSlot::Exhausted,
            "{what}: not settled"
        );
        assert_eq!(store.get_session(&session.id).await.expect("get"), None);
        unchanged(store, &client, &stored, what).await;
        err
    };
    let stale = session(1);
    let moved = completed(&stale, stored.version() + 1);
    assert_eq!(
        refused(moved, stale, &client.token_hash, "a moved version").await,
        StoreError::Conflict
    );
    let lost = session(2);
    let current = completed(&lost, stored.version());
    assert_eq!(
        refused(current, lost, &token_hash(TOKENS + 999), "a moved token").await,
        StoreError::Conflict,
        "the sign-in is not stored without the rotation"
    );
    let gone = session(3);
    let mut other = completed(&gone, 0);
    other.id = SignInId("sia_steps_gone".into());
    assert_eq!(
        refused(other, gone, &client.token_hash, "a missing sign-in").await,
        StoreError::NotFound
    );
    let dave = fixtures::user("user_steps_dave", "steps-dave@example.com");
    let orphan = Session {
        user_id: dave.id,
        ..session(4)
    };
    let current = completed(&orphan, stored.version());
    assert_eq!(
        refused(current, orphan, &client.token_hash, "a missing user").await,
        StoreError::NotFound
    );

    // All of it, answering the standing as the write found it (a lock
    // stored before it shows; the service ends such a session).
    store
        .set_lock(&carol.id, Some(at(50_000)), &[])
        .await
        .expect("lock");
    let started = session(5);
    let done = completed(&started, stored.version());
    // Settled as the lock has ended: the attempt no longer in flight.
    let standing = store
        .complete_sign_in(
            &done,
            &started,
            &client.token_hash,
            &new_hash,
            None,
            &[],
            Some(passed(60_000)),
        )
        .await
        .expect("complete the sign-in");
    assert_eq!(
        take(60_000).await,
        AttemptSlot::Granted,
        "the attempt was settled"
    );
    assert_eq!(
        standing,
        Standing {
            banned: false,
            locked_until: Some(at(50_000)),
        }
    );
    assert_eq!(
        SignInStore::get(store, &done.id).await.expect("get"),
        Some(done.clone()),
        "the completed sign-in, at its new version"
    );
    assert_eq!(
        store.get_session(&started.id).await.expect("get"),
        Some(started.clone())
    );
    assert_eq!(
        store
            .find_client_with_sessions(&client.token_hash, at(2_000))
            .await
            .expect("find"),
        None,
        "the old token is rotated out"
    );
    let found = store
        .find_client_with_sessions(&new_hash, at(2_000))
        .await
        .expect("find")
        .expect("the client under its new token");
    assert_eq!(
        found.client.last_active_session_id,
        Some(started.id.clone())
    );
    assert_eq!(found.client.sign_in_id, None);
    let user = UserRepository::get(store, &carol.id)
        .await
        .expect("get")
        .expect("carol");
    assert_eq!(user.last_sign_in_at, Some(started.created_at));

    SignInStore::delete(store, &done.id)
        .await
        .expect("delete a sign-in");
    store
        .delete_client(&client.id)
        .await
        .expect("delete a client");
    UserRepository::delete(store, &carol.id, &[])
        .await
        .expect("delete");
}

/// Nothing of a refused `complete_sign_in` is stored: the sign-in is as it
/// was, the client keeps its token and has no session, and its user has no
/// sign-in recorded.
async fn unchanged<S>(store: &S, client: &Client, stored: &SignIn, what: &str)
where
    S: ClientRepository + SignInStore + UserRepository,
{
    assert_eq!(
        SignInStore::get(store, &stored.id).await.expect("get"),
        Some(stored.clone()),
        "{what}: the sign-in is as it was"
    );
    let found = store
        .find_client_with_sessions(&client.token_hash, at(2_000))
        .await
        .expect("find")
        .expect("the client keeps its token");
    assert!(found.sessions.is_empty(), "{what}: no session");
    let user_id = stored.user_id().expect("an identified sign-in");
    let user = UserRepository::get(store, user_id)
        .await
        .expect("get")
        .expect("the user");
    assert_eq!(user.last_sign_in_at, None, "{what}: no sign-in recorded");
}

/// `start_sign_in`: the sign-in with its client's change, or nothing.
async fn a_new_sign_in_goes_with_its_clients_change_or_not_at_all<S>(store: &S)
where
    S: SignInSteps + ClientRepository + SignInStore + UserRepository,
{
    let get = async |id: &SignInId| SignInStore::get(store, id).await.expect("get");
    // A client made for its sign-in.
    let first = fixtures::sign_in("sia_steps_first", "client_steps_new");
    let made = Client {
        sign_in_id: Some(first.id.clone()),
        ..fixtures::client("client_steps_new", TOKENS + 20)
    };
    store
        .start_sign_in(&first, Some(made.clone()), None, at(5))
        .await
        .expect("start a sign-in on a new client");
    assert_eq!(get(&first.id).await, Some(first.clone()));
    assert_eq!(
        store.get_client(&made.id).await.expect("get"),
        Some(made.clone())
    );

    // A taken client id: nothing.
    let clash = fixtures::sign_in("sia_steps_clash", "client_steps_new");
    store
        .start_sign_in(&clash, Some(made.clone()), None, at(6))
        .await
        .expect_err("a client that exists is not made again");
    assert_eq!(get(&clash.id).await, None, "no sign-in without its client");

    // The client's next sign-in replaces the first.
    let second = fixtures::sign_in("sia_steps_second", "client_steps_new");
    store
        .start_sign_in(&second, None, Some(first.id.clone()), at(7))
        .await
        .expect("start a sign-in on an existing client");
    assert_eq!(get(&second.id).await, Some(second.clone()));
    assert_eq!(get(&first.id).await, None, "the one it replaces is gone");
    let client = store
        .get_client(&made.id)
        .await
        .expect("get")
        .expect("the client");
    assert_eq!(client.sign_in_id, Some(second.id.clone()));
    assert_eq!(client.updated_at, at(7));

    // A client that is gone: nothing, the one it would replace included.
    let orphan = fixtures::sign_in("sia_steps_orphan", "client_steps_gone");
    assert_eq!(
        store
            .start_sign_in(&orphan, None, Some(second.id.clone()), at(8))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(get(&orphan.id).await, None);
    assert_eq!(get(&second.id).await, Some(second.clone()));

    SignInStore::delete(store, &second.id)
        .await
        .expect("delete a sign-in");
    store
        .delete_client(&made.id)
        .await
        .expect("delete a client");
}

/// `complete_new_sign_in`: a sign-in completed where it was made, with its
/// session and its client's change, or nothing.
async fn a_sign_in_made_complete_goes_with_its_session_or_not_at_all<S>(store: &S)
where
    S: SignInSteps + ClientRepository + SignInStore + UserRepository,
{
    let erin = fixtures::user("user_steps_erin", "steps-erin@example.com");
    UserRepository::insert(store, &erin, &[])
        .await
        .expect("insert a user");
    let made = fixtures::client("client_steps_made", TOKENS + 30);
    let session = |n: u64, user: &str, client: &str| {
        fixtures::session(&format!("sess_steps_made_{n}"), client, user, at(3_000))
    };
    // A sign-in of erin's on `session`'s client, completed by it.
    let completed = |id: &str, session: &Session| {
        let mut sign_in = fixtures::sign_in(id, session.client_id.as_str());
        sign_in
            .identify("steps-erin@example.com".into(), &erin, at(2_900))
            .expect("identify");
        sign_in
            .first_factor_passed(Strategy::Password, false, at(3_000))
            .expect("pass the first factor");
        sign_in
            .complete(session.id.clone(), at(3_000))
            .expect("complete");
        sign_in
    };
    let get = async |id: &SignInId| SignInStore::get(store, id).await.expect("get");
    let no_session = async |session: &Session, what: &str| {
        assert_eq!(
            store.get_session(&session.id).await.expect("get"),
            None,
            "{what}: no session"
        );
    };
    let hash = |n: u64| token_hash(TOKENS + n);
    // Erin's lockout allows one check at a time: whether one is in flight.
    let window = Duration(60_000);
    let take = async || {
        store
            .take_attempt(&erin.id, at(3_000), 1, window)
            .await
            .expect("take an attempt")
    };
    // `sign_in` completed by `session`, presented under token `from`
    // and rotated to token `to`, settling an attempt of erin's that passed.
    let complete = async |sign_in: &SignIn,
                          new_client: Option<&Client>,
                          previous: Option<&SignIn>,
                          session: &Session,
                          (from, to): (&str, &str)| {
        store
            .complete_new_sign_in(
                sign_in,
                new_client.cloned(),
                previous.map(|p| p.id.clone()),
                session,
                from,
                to,
                None,
                &[],
                Some(PassedAttempt {
                    user_id: erin.id.clone(),
                    at: at(3_000),
                    max_attempts: 1,
                    lock_for: window,
                }),
            )
            .await
    };

    // A user who is gone: nothing, the client made for it included.
    let nobody = session(1, "user_steps_nobody", made.id.as_str());
    let orphan = completed("sia_steps_made_orphan", &nobody);
    assert_eq!(
        complete(
            &orphan,
            Some(&made),
            None,
            &nobody,
            (&made.token_hash, &hash(31))
        )
        .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_client(&made.id).await.expect("get"), None);
    assert_eq!(get(&orphan.id).await, None);
    no_session(&nobody, "a missing user").await;

    // All of it on a client made for it, the attempt in flight settled.
    assert_eq!(take().await, AttemptSlot::Granted);
    assert_eq!(take().await, AttemptSlot::Exhausted);
    let first = session(2, erin.id.as_str(), made.id.as_str());
    let done = completed("sia_steps_made_first", &first);
    let standing = complete(
        &done,
        Some(&made),
        None,
        &first,
        (&made.token_hash, &hash(31)),
    )
    .await
    .expect("complete a new sign-in on a new client");
    assert_eq!(standing, Standing::default());
    assert_eq!(get(&done.id).await, Some(done.clone()));
    assert_eq!(
        store.get_session(&first.id).await.expect("get"),
        Some(first.clone())
    );
    let found = store
        .find_client_with_sessions(&hash(31), at(3_500))
        .await
        .expect("find")
        .expect("the client under its new token");
    assert_eq!(found.client.last_active_session_id, Some(first.id.clone()));
    assert_eq!(found.client.sign_in_id, None);
    let user = UserRepository::get(store, &erin.id)
        .await
        .expect("get")
        .expect("erin");
    assert_eq!(user.last_sign_in_at, Some(first.created_at));
    assert_eq!(
        take().await,
        AttemptSlot::Granted,
        "the attempt was settled"
    );

    // A taken client id: nothing.
    let clash = session(3, erin.id.as_str(), made.id.as_str());
    let again = completed("sia_steps_made_clash", &clash);
    complete(
        &again,
        Some(&made),
        None,
        &clash,
        (&made.token_hash, &hash(32)),
    )
    .await
    .expect_err("a client that exists is not made again");
    assert_eq!(get(&again.id).await, None);
    no_session(&clash, "a taken client id").await;

    // The client's current sign-in, which the next one replaces.
    let previous = fixtures::sign_in("sia_steps_made_previous", made.id.as_str());
    store
        .start_sign_in(&previous, None, None, at(3_100))
        .await
        .expect("start a sign-in");

    // A moved token: nothing, the current sign-in kept.
    let raced = session(4, erin.id.as_str(), made.id.as_str());
    let lost = completed("sia_steps_made_lost", &raced);
    assert_eq!(
        complete(
            &lost,
            None,
            Some(&previous),
            &raced,
            (&hash(999), &hash(32))
        )
        .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(get(&lost.id).await, None);
    assert_eq!(get(&previous.id).await, Some(previous.clone()));
    no_session(&raced, "a moved token").await;

    // A client that is gone: nothing.
    let nowhere = session(5, erin.id.as_str(), "client_steps_nowhere");
    let stray = completed("sia_steps_made_stray", &nowhere);
    assert_eq!(
        complete(&stray, None, None, &nowhere, (&hash(31), &hash(32))).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(get(&stray.id).await, None);
    no_session(&nowhere, "a missing client").await;
    assert_eq!(
        take().await,
        AttemptSlot::Exhausted,
        "a write that stored nothing settled nothing"
    );

    // All of it on an existing client: the current sign-in goes.
    let second = session(6, erin.id.as_str(), made.id.as_str());
    let next = completed("sia_steps_made_second", &second);
    complete(
        &next,
        None,
        Some(&previous),
        &second,
        (&hash(31), &hash(32)),
    )
    .await
    .expect("complete a new sign-in on an existing client");
    assert_eq!(get(&next.id).await, Some(next.clone()));
    assert_eq!(get(&previous.id).await, None, "the one it replaces is gone");
    let found = store
        .find_client_with_sessions(&hash(32), at(3_500))
        .await
        .expect("find")
        .expect("the client under its new token");
    assert_eq!(found.client.last_active_session_id, Some(second.id.clone()));
    assert_eq!(found.client.sign_in_id, None);
    assert_eq!(found.sessions.len(), 2);
    assert_eq!(
        take().await,
        AttemptSlot::Granted,
        "the attempt was settled"
    );

    for id in [&done.id, &next.id] {
        SignInStore::delete(store, id)
            .await
            .expect("delete a sign-in");
    }
    store
        .delete_client(&made.id)
        .await
        .expect("delete a client");
    UserRepository::delete(store, &erin.id, &[])
        .await
        .expect("delete");
}

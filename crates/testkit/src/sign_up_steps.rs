//! The [`SignUpSteps`] contract: its one read answers what the two ports it
//! stands for answer on their own, and each write stores all its parts or
//! none.

use latch_core::error::StoreError;
use latch_core::model::{Client, IdentifierKind, SignUp, SignUpId, Timestamp};
use latch_core::ports::{ClientRepository, SignUpStep, SignUpSteps, SignUpStore, UserRepository};

use crate::fixtures::{self, at, token_hash};

/// Where this contract's clients' token numbers start.
const TOKENS: u64 = 80_000;

/// Runs the whole [`SignUpSteps`] contract against `store`, fresh and empty,
/// which keeps the clients, the users and the sign-ups.
///
/// `start_sign_up` stores a new sign-up with a client made for it, or as an
/// existing client's current sign-up (the one it replaces deleted), and
/// nothing when the client is gone or the new one's id is taken.
///
/// An unknown or rotated-out token finds nothing; a known one finds its
/// client with exactly the sessions `find_client_with_sessions` reads at the
/// same moment, with or without the sign-up asked for; a sign-up is found
/// only by its own client, exactly as stored (version included).
///
/// `complete_sign_up` stores the completed sign-up, the new user, its
/// session and the client's rotation together; and nothing at all when the
/// sign-up's version moved, the client's token moved, one of the user's
/// identifiers is taken, or the sign-up or the client is gone.
pub async fn sign_up_steps_contract<S>(store: &S)
where
    S: SignUpSteps + ClientRepository + SignUpStore + UserRepository,
{
    a_new_sign_up_goes_with_its_clients_change_or_not_at_all(store).await;
    the_sign_up_step_is_read_at_once(store).await;
    a_sign_up_completes_with_its_user_and_session_or_not_at_all(store).await;
}

async fn a_new_sign_up_goes_with_its_clients_change_or_not_at_all<S>(store: &S)
where
    S: SignUpSteps + ClientRepository + SignUpStore + UserRepository,
{
    let get = async |id: &SignUpId| SignUpStore::get(store, id).await.expect("get");
    // A client made for its sign-up.
    let first = fixtures::sign_up("sua_steps_first", "client_su_steps_new");
    let made = Client {
        sign_up_id: Some(first.id.clone()),
        ..fixtures::client("client_su_steps_new", TOKENS)
    };
    store
        .start_sign_up(&first, Some(made.clone()), None, at(5))
        .await
        .expect("start a sign-up on a new client");
    assert_eq!(get(&first.id).await, Some(first.clone()));
    assert_eq!(
        store.get_client(&made.id).await.expect("get"),
        Some(made.clone())
    );

    // A taken client id: nothing.
    let clash = fixtures::sign_up("sua_steps_clash", "client_su_steps_new");
    store
        .start_sign_up(&clash, Some(made.clone()), None, at(6))
        .await
        .expect_err("a client that exists is not made again");
    assert_eq!(get(&clash.id).await, None, "no sign-up without its client");

    // The client's next sign-up replaces the first.
    let second = fixtures::sign_up("sua_steps_second", "client_su_steps_new");
    store
        .start_sign_up(&second, None, Some(first.id.clone()), at(7))
        .await
        .expect("start a sign-up on an existing client");
    assert_eq!(get(&second.id).await, Some(second.clone()));
    assert_eq!(get(&first.id).await, None, "the one it replaces is gone");
    let client = store
        .get_client(&made.id)
        .await
        .expect("get")
        .expect("the client");
    assert_eq!(client.sign_up_id, Some(second.id.clone()));
    assert_eq!(client.updated_at, at(7));

    // A client that is gone: nothing, the one it would replace included.
    let orphan = fixtures::sign_up("sua_steps_orphan", "client_su_steps_gone");
    assert_eq!(
        store
            .start_sign_up(&orphan, None, Some(second.id.clone()), at(8))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(get(&orphan.id).await, None);
    assert_eq!(get(&second.id).await, Some(second.clone()));

    SignUpStore::delete(store, &second.id)
        .await
        .expect("delete a sign-up");
    store
        .delete_client(&made.id)
        .await
        .expect("delete a client");
}

async fn the_sign_up_step_is_read_at_once<S>(store: &S)
where
    S: SignUpSteps + ClientRepository + SignUpStore + UserRepository,
{
    let now = at(60_000);
    let dana = fixtures::user("user_su_steps_dana", "su-steps-dana@example.com");
    UserRepository::insert(store, &dana, &[])
        .await
        .expect("insert a user");
    let mine = fixtures::client("client_su_steps_mine", TOKENS + 10);
    let theirs = fixtures::client("client_su_steps_theirs", TOKENS + 11);
    for client in [&mine, &theirs] {
        store.insert_client(client).await.expect("insert a client");
    }
    // On `mine`: dana signed in, and one session of hers expired.
    let signed_in = fixtures::session(
        "sess_su_steps_dana",
        mine.id.as_str(),
        dana.id.as_str(),
        at(0),
    );
    store
        .insert_session(
            &signed_in,
            &mine.token_hash,
            &token_hash(TOKENS + 12),
            None,
            &[],
        )
        .await
        .expect("start a session");
    let mut expired = fixtures::session(
        "sess_su_steps_old",
        mine.id.as_str(),
        dana.id.as_str(),
        at(1),
    );
    expired.expire_at = at(59_999);
    store
        .insert_session(
            &expired,
            &token_hash(TOKENS + 12),
            &token_hash(TOKENS + 13),
            None,
            &[],
        )
        .await
        .expect("start a session");
    let mine_hash = token_hash(TOKENS + 13);

    let mut changed = fixtures::sign_up("sua_steps_mine", mine.id.as_str());
    let elsewhere = fixtures::sign_up("sua_steps_theirs", theirs.id.as_str());
    for sign_up in [&changed, &elsewhere] {
        SignUpStore::insert(store, sign_up)
            .await
            .expect("insert a sign-up");
    }
    // A stored version other than the first is read as it is.
    let before = changed.next_version();
    store
        .replace(&changed, before)
        .await
        .expect("replace a sign-up");

    let read = |hash: String, id: &'static str| async move {
        store
            .read_sign_up_step(&hash, &SignUpId(id.to_owned()), now)
            .await
            .expect("read a step")
    };
    let expected_client = store
        .find_client_with_sessions(&mine_hash, now)
        .await
        .expect("find the client")
        .expect("the client exists");
    assert_eq!(
        expected_client
            .sessions
            .iter()
            .map(|(s, _)| s.id.clone())
            .collect::<Vec<_>>(),
        vec![signed_in.id.clone()],
        "the fixture's sessions"
    );
    let step = |sign_up: Option<&SignUp>| SignUpStep {
        found: expected_client.clone(),
        sign_up: sign_up.cloned(),
    };

    // Unknown and rotated-out tokens find nothing, whatever the sign-up.
    assert_eq!(read(token_hash(TOKENS + 999), "sua_steps_mine").await, None);
    assert_eq!(read(token_hash(TOKENS + 10), "sua_steps_mine").await, None);
    assert_eq!(
        read(mine_hash.clone(), "sua_steps_missing").await,
        Some(step(None)),
        "an unknown sign-up: the client alone"
    );
    assert_eq!(
        read(mine_hash.clone(), "sua_steps_theirs").await,
        Some(step(None)),
        "another client's sign-up is not found"
    );
    assert_eq!(
        read(token_hash(TOKENS + 11), "sua_steps_theirs")
            .await
            .and_then(|s| s.sign_up),
        Some(elsewhere.clone()),
        "by its own client it is"
    );
    assert_eq!(
        read(mine_hash.clone(), "sua_steps_mine").await,
        Some(step(Some(&changed))),
        "the client's own sign-up, as stored"
    );

    // Leave the store as found.
    for sign_up in [&changed, &elsewhere] {
        SignUpStore::delete(store, &sign_up.id)
            .await
            .expect("delete a sign-up");
    }
    for client in [&mine, &theirs] {
        store
            .delete_client(&client.id)
            .await
            .expect("delete a client");
    }
    UserRepository::delete(store, &dana.id, &[])
        .await
        .expect("delete");
}

/// `complete_sign_up`: everything or nothing.
async fn a_sign_up_completes_with_its_user_and_session_or_not_at_all<S>(store: &S)
where
    S: SignUpSteps + ClientRepository + SignUpStore + UserRepository,
{
    let when: Timestamp = at(4_000);
    let client = fixtures::client("client_su_steps_done", TOKENS + 20);
    store.insert_client(&client).await.expect("insert a client");
    let stored = fixtures::sign_up("sua_steps_done", client.id.as_str());
    store
        .start_sign_up(&stored, None, None, at(3_000))
        .await
        .expect("start a sign-up");
    // Someone who already has the address the last attempt gives.
    let owner = fixtures::user("user_su_steps_owner", "su-steps-taken@example.com");
    UserRepository::insert(store, &owner, &[])
        .await
        .expect("insert a user");

    // The sign-up completed with `user` and its session, at the next version.
    let completed = |user: &str| {
        let mut sign_up = stored.clone();
        let session = fixtures::session(&format!("sess_{user}"), client.id.as_str(), user, when);
        sign_up
            .complete(
                latch_core::model::UserId(user.to_owned()),
                session.id.clone(),
                when,
            )
            .expect("complete");
        sign_up.next_version();
        (sign_up, session)
    };
    let get = async || {
        SignUpStore::get(store, &stored.id)
            .await
            .expect("get")
            .expect("the sign-up")
    };
    let nothing_stored = async |user: &str, session: &latch_core::model::Session, what: &str| {
        assert_eq!(get().await, stored, "{what}: the sign-up as it was");
        assert_eq!(
            UserRepository::get(store, &latch_core::model::UserId(user.to_owned()))
                .await
                .expect("get"),
            None,
            "{what}: no user"
        );
        assert_eq!(
            store.get_session(&session.id).await.expect("get"),
            None,
            "{what}: no session"
        );
        let now = store
            .get_client(&client.id)
            .await
            .expect("get")
            .expect("the client");
        assert_eq!(now.token_hash, client.token_hash, "{what}: not rotated");
        assert_eq!(now.last_active_session_id, None, "{what}: no session");
    };
    let (from, to) = (token_hash(TOKENS + 20), token_hash(TOKENS + 21));

    // The stored version moved on: nothing.
    let (mut late, session) = completed("user_su_steps_late");
    late.next_version();
    let user = fixtures::user("user_su_steps_late", "su-steps-late@example.com");
    assert_eq!(
        store
            .complete_sign_up(&late, &user, &session, &from, &to, &[])
            .await,
        Err(StoreError::Conflict)
    );
    nothing_stored("user_su_steps_late", &session, "a moved version").await;

    // The client's token moved on: nothing.
    let (sign_up, session) = completed("user_su_steps_rotated");
    let user = fixtures::user("user_su_steps_rotated", "su-steps-rotated@example.com");
    assert_eq!(
        store
            .complete_sign_up(
                &sign_up,
                &user,
                &session,
                &token_hash(TOKENS + 29),
                &to,
                &[]
            )
            .await,
        Err(StoreError::Conflict)
    );
    nothing_stored("user_su_steps_rotated", &session, "a moved token").await;

    // An address that is another user's: nothing.
    let (sign_up, session) = completed("user_su_steps_clash");
    let user = fixtures::user("user_su_steps_clash", "su-steps-taken@example.com");
    assert_eq!(
        store
            .complete_sign_up(&sign_up, &user, &session, &from, &to, &[])
            .await,
        Err(StoreError::Duplicate(IdentifierKind::EmailAddress))
    );
    nothing_stored("user_su_steps_clash", &session, "a taken address").await;

    // A sign-up that is gone: nothing.
    let mut gone = fixtures::sign_up("sua_steps_gone", client.id.as_str());
    gone.next_version();
    let (_, session) = completed("user_su_steps_gone");
    let user = fixtures::user("user_su_steps_gone", "su-steps-gone@example.com");
    assert_eq!(
        store
            .complete_sign_up(&gone, &user, &session, &from, &to, &[])
            .await,
        Err(StoreError::NotFound)
    );
    nothing_stored("user_su_steps_gone", &session, "a sign-up gone").await;

    // All of it.
    let (sign_up, session) = completed("user_su_steps_new");
    let user = fixtures::user("user_su_steps_new", "su-steps-new@example.com");
    store
        .complete_sign_up(&sign_up, &user, &session, &from, &to, &[])
        .await
        .expect("complete the sign-up");
    assert_eq!(get().await, sign_up, "the sign-up complete, at its version");
    assert_eq!(
        UserRepository::get(store, &user.id)
            .await
            .expect("get")
            .map(|u| u.email_addresses),
        Some(user.email_addresses.clone()),
        "the user"
    );
    assert_eq!(
        store.get_session(&session.id).await.expect("get"),
        Some(session.clone()),
        "the session"
    );
    let rotated = store
        .get_client(&client.id)
        .await
        .expect("get")
        .expect("the client");
    assert_eq!(rotated.token_hash, to, "rotated");
    assert_eq!(rotated.last_active_session_id, Some(session.id.clone()));
    assert_eq!(rotated.sign_up_id, None, "its sign-up is done with");

    // A client that is gone: nothing.
    let other = fixtures::client("client_su_steps_other", TOKENS + 30);
    store.insert_client(&other).await.expect("insert a client");
    let mut orphan = fixtures::sign_up("sua_steps_orphan_done", other.id.as_str());
    SignUpStore::insert(store, &orphan)
        .await
        .expect("insert a sign-up");
    store.delete_client(&other.id).await.expect("delete");
    let session = fixtures::session(
        "sess_su_steps_orphan",
        other.id.as_str(),
        "user_su_steps_orphan",
        when,
    );
    orphan
        .complete(
            latch_core::model::UserId("user_su_steps_orphan".to_owned()),
            session.id.clone(),
            when,
        )
        .expect("complete");
    orphan.next_version();
    let user = fixtures::user("user_su_steps_orphan", "su-steps-orphan@example.com");
    assert_eq!(
        store
            .complete_sign_up(
                &orphan,
                &user,
                &session,
                &other.token_hash,
                &token_hash(TOKENS + 31),
                &[]
            )
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        UserRepository::get(store, &user.id).await.expect("get"),
        None,
        "no user without its client"
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mockall::predicate::eq;

use super::*;
use crate::error::StoreError;
use crate::model::{
    Client, ClientId, SessionId, SessionStatus, SignInId, SignInStatus, Standing, Strategy,
    Timestamp, UserId,
};
use crate::ports::ClientWithSessions;
use crate::service::test_support::{
    Mocks, NOW, TOKEN, client, identified_sign_in, refuses_strategy, session, user,
};
use crate::service::token_hash;

fn password_params(identifier: &str, password: &str) -> CreateSignIn {
    CreateSignIn {
        identifier: Some(identifier.into()),
        strategy: Some("password".into()),
        password: Some(password.into()),
        ..Default::default()
    }
}

/// A sign-in that names `strategy` and nothing else.
fn strategy_only(strategy: &str) -> CreateSignIn {
    CreateSignIn {
        strategy: Some(strategy.into()),
        ..Default::default()
    }
}

/// A sign-in that names `identifier` and nothing else.
fn identifier_only(identifier: &str) -> CreateSignIn {
    CreateSignIn {
        identifier: Some(identifier.into()),
        ..Default::default()
    }
}

/// [`password_params`] for alice@example.com.
fn alice(password: &str) -> CreateSignIn {
    password_params("alice@example.com", password)
}

/// The failure counts toward user_1's lockout (of ten), once.
fn alices_failure_counted(m: &mut Mocks) {
    m.users
        .expect_settle_attempt()
        .withf(|id, failed, _, max, _| id.as_str() == "user_1" && *failed && *max == 10)
        .times(1)
        .returning(|_, _, _, _, _| Ok(None));
}

/// Creates a sign-in over the mocks.
async fn create(
    m: Mocks,
    token: Option<&str>,
    params: CreateSignIn,
) -> Result<Outcome<SignInView>, Error> {
    m.services().sign_ins.create_sign_in(token, params).await
}

/// Attempts `password` as the first factor of client 1's sign-in `sia_1`.
async fn attempt_password(m: Mocks, password: &str) -> Result<Outcome<SignInView>, Error> {
    attempt_first(m, "password", Some(password), None).await
}

/// Attempts the first factor `strategy` on client 1's sign-in `sia_1`.
async fn attempt_first(
    m: Mocks,
    strategy: &str,
    password: Option<&str>,
    code: Option<&str>,
) -> Result<Outcome<SignInView>, Error> {
    let params = AttemptFirstFactor {
        strategy: Some(strategy.into()),
        password: password.map(Into::into),
        code: code.map(Into::into),
        keep_token: false,
        origin: SessionOrigin::default(),
    };
    m.services()
        .sign_ins
        .attempt_first_factor(Some(TOKEN), "sia_1", params)
        .await
}

#[tokio::test]
async fn unknown_identifier_pays_a_dummy_verify_and_writes_nothing() {
    let mut m = Mocks::new();
    m.users.expect_find_by_identifier().returning(|_| Ok(None));
    m.hasher
        .expect_verify()
        .with(eq("pw-123456"), eq(None))
        .times(1)
        .returning(|_, _| Ok(false));
    m.nothing_created();
    let err = create(m, None, password_params("nobody@example.com", "pw-123456"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdentifierNotFound));
    assert_eq!(err.param(), Some("identifier"));
}

#[tokio::test]
async fn wrong_password_writes_nothing() {
    let mut m = Mocks::new();
    alices_failure_counted(&mut m);
    m.identifier_names(user());
    m.hasher
        .expect_verify()
        .with(
            eq("wrong-password"),
            eq(Some("$argon2id$digest".to_owned())),
        )
        .times(1)
        .returning(|_, _| Ok(false));
    m.clients.expect_find_client_by_token_hash().never();
    m.nothing_created();
    let err = create(
        m,
        Some(TOKEN),
        password_params("Alice@Example.com", "wrong-password"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PasswordIncorrect));
}

#[tokio::test]
async fn right_password_creates_a_session_and_rotates_the_token() {
    let mut m = Mocks::new();
    m.identifier_names(user()).user_stored(user());
    m.passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    // Before: no session (so no "already signed in").
    m.client_found();
    m.clients
        .expect_insert_session()
        .withf(|s, expected, new_hash, upgrade, _| {
            s.status == SessionStatus::Active
                && s.user_id.as_str() == "user_1"
                && s.created_at == NOW
                && *expected == client().token_hash
                && new_hash != client().token_hash
                && upgrade.is_none()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.clients.expect_set_current_sign_in().never();
    // After: the new one, read with the client and its user.
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| {
            Ok(Some(ClientWithSessions {
                client: Client {
                    last_active_session_id: Some(SessionId("sess_1".into())),
                    ..client()
                },
                sessions: vec![(session(SessionStatus::Active), user())],
            }))
        });
    // The sign-in's user comes with its session: no separate read.
    m.users.expect_get().never();
    m.sign_ins
        .expect_insert()
        .withf(|s| s.created_session_id().is_some() && s.status_at(NOW) == SignInStatus::Complete)
        .times(1)
        .returning(|_| Ok(()));
    let out = create(m, Some(TOKEN), alice("right-password"))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    let new_token = out.new_token.expect("rotated token");
    assert_ne!(new_token, TOKEN);
    assert_eq!(new_token.len(), 64);
    let snapshot = out.client.unwrap();
    assert!(snapshot.client.sign_in_id.is_none());
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(
        snapshot.client.last_active_session_id,
        Some(SessionId("sess_1".into()))
    );
}

/// A ban or lock that lands between this request's read of the user and the
/// session's start shows in the standing `insert_session` returns: the new
/// session is ended at once and the sign-in is refused.
#[tokio::test]
async fn a_ban_or_lock_stored_as_the_session_starts_ends_it() {
    let later = Timestamp(NOW.0 + 60_000);
    for (standing, refused) in [
        (
            Standing {
                banned: true,
                locked_until: None,
            },
            Error::UserBanned,
        ),
        (
            Standing {
                banned: false,
                locked_until: Some(later),
            },
            Error::UserLocked {
                expires_in_secs: Some(60),
            },
        ),
    ] {
        let mut m = Mocks::new();
        m.identifier_names(user()).user_stored(user());
        m.passwords_match(true);
        m.hasher.expect_needs_rehash().return_const(false);
        m.client_found();
        m.clients
            .expect_insert_session()
            .times(1)
            .returning(move |_, _, _, _, _| Ok(standing));
        m.clients
            .expect_end_session()
            .withf(|_, status, _, _| *status == SessionStatus::Revoked)
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        m.sign_ins.expect_insert().never();
        let err = create(m, Some(TOKEN), alice("right-password"))
            .await
            .unwrap_err();
        assert_eq!(err, refused);
    }
}

/// A store keeping the clients, the sign-ins and the users that expects
/// one write completing a sign-in made in the same request (with `client`
/// made for it or none, replacing `previous`, settling the password's
/// attempt), answering `standing`.
fn completes_new_at_once(
    m: &mut Mocks,
    new_client: bool,
    previous: Option<&'static str>,
    standing: Standing,
) {
    let mut steps = crate::ports::MockSignInSteps::new();
    steps
        .expect_complete_new_sign_in()
        .withf(
            move |sign_in, client, replaced, session, _, new_hash, upgrade, events, passed| {
                sign_in.status_at(NOW) == SignInStatus::Complete
                    && sign_in.created_session_id() == Some(&session.id)
                    && client.as_ref().map(|c| &c.id) == new_client.then_some(&session.client_id)
                    && replaced.as_ref().map(SignInId::as_str) == previous
                    && session.user_id.as_str() == "user_1"
                    && !new_hash.is_empty()
                    && upgrade.is_none()
                    && events.len() == 1
                    && passed
                        .as_ref()
                        .map(|p| (p.user_id.as_str(), p.max_attempts))
                        == Some(("user_1", 10))
            },
        )
        .times(1)
        .returning(move |_, _, _, _, _, _, _, _, _| Ok(standing));
    m.sign_in_steps = Some(steps);
    m.clients.expect_insert_client().never();
    m.clients.expect_insert_session().never();
    m.sign_ins.expect_insert().never();
    // The attempt that passed is settled in that write.
    m.users.expect_settle_attempt().never();
}

/// Where one store keeps the clients, the sign-ins and the users, a right
/// password given with the identifier completes in one write: the client
/// made for the request (or the current sign-in it replaces), the session
/// and the completed sign-in, none of them written on its own; a ban that
/// write reads ends the session and drops the sign-in stored with it.
#[tokio::test]
async fn a_password_with_the_identifier_completes_in_one_write_where_one_store_keeps_it_all() {
    // No client yet: the one made for this request is in the write.
    let mut m = Mocks::new();
    m.identifier_names(user()).passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    completes_new_at_once(&mut m, true, None, Standing::default());
    m.sign_ins.expect_delete().never();
    m.clients.expect_get_client_with_sessions().never();
    let out = create(m, None, alice("right-password")).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    assert!(out.new_token.is_some());
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(
        snapshot.client.last_active_session_id.as_ref(),
        out.response.sign_in.created_session_id()
    );

    // A client with a current sign-in: that one is deleted in the write.
    let mut m = Mocks::new();
    m.identifier_names(user()).passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.clients.expect_find_client_by_token_hash().returning(|_| {
        Ok(Some(Client {
            sign_in_id: Some(SignInId("sia_old".into())),
            ..client()
        }))
    });
    m.clients
        .expect_sessions_of_client()
        .returning(|_| Ok(vec![]));
    completes_new_at_once(&mut m, false, Some("sia_old"), Standing::default());
    m.sign_ins.expect_delete().never();
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| {
            Ok(Some(ClientWithSessions {
                client: Client {
                    last_active_session_id: Some(SessionId("sess_1".into())),
                    ..client()
                },
                sessions: vec![(session(SessionStatus::Active), user())],
            }))
        });
    let out = create(m, Some(TOKEN), alice("right-password"))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);

    // Banned as the write stored it all: the session ends, and the sign-in
    // stored with it goes.
    let mut m = Mocks::new();
    m.identifier_names(user()).passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    let banned = Standing {
        banned: true,
        locked_until: None,
    };
    completes_new_at_once(&mut m, true, None, banned);
    m.clients
        .expect_end_session()
        .withf(|_, status, _, _| *status == SessionStatus::Revoked)
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    m.sign_ins
        .expect_delete()
        .withf(|id| id.as_str().starts_with("sia_"))
        .times(1)
        .returning(|_| Ok(()));
    // The client made for the request goes too, as after any failure.
    m.clients
        .expect_delete_client()
        .times(1)
        .returning(|_| Ok(()));
    let err = create(m, None, alice("right-password")).await.unwrap_err();
    assert_eq!(err, Error::UserBanned);
}

#[tokio::test]
async fn the_same_user_cannot_sign_in_twice_on_one_client() {
    let mut m = Mocks::new();
    m.identifier_names(user()).passwords_match(true);
    m.clients
        .expect_find_client_by_token_hash()
        .returning(|_| Ok(Some(client())));
    m.clients
        .expect_sessions_of_client()
        .returning(|_| Ok(vec![session(SessionStatus::Active)]));
    m.clients.expect_insert_session().never();
    m.sign_ins.expect_insert().never();
    let err = create(m, Some(TOKEN), alice("right-password"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::AlreadySignedIn {
            session_id: SessionId("sess_1".into())
        }
    );
}

#[tokio::test]
async fn a_weak_digest_is_upgraded_after_a_successful_sign_in() {
    let mut m = Mocks::new();
    m.identifier_names(user())
        .user_stored(user())
        .passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(true);
    m.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$argon2id$strong".into()));
    m.clients.expect_insert_client().returning(|_| Ok(()));
    m.clients
        .expect_insert_session()
        .withf(|_, _, _, upgrade, _| {
            upgrade
                .as_ref()
                .is_some_and(|u| u.old == "$argon2id$digest" && u.new == "$argon2id$strong")
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| Ok(None));
    m.clients
        .expect_sessions_of_client()
        .returning(|_| Ok(vec![]));
    m.sign_ins.expect_insert().returning(|_| Ok(()));
    create(m, None, alice("right-password")).await.unwrap();
}

#[tokio::test]
async fn identifier_alone_needs_a_first_factor_and_creates_the_client() {
    let mut m = Mocks::new();
    m.identifier_names(user());
    m.hasher.expect_verify().never();
    // The new client is stored once, already naming its sign-in, before
    // the sign-in itself.
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stored = std::sync::Arc::clone(&order);
    m.clients
        .expect_insert_client()
        .withf(|c| {
            c.sign_in_id
                .as_ref()
                .is_some_and(|id| id.as_str().starts_with("sia_"))
        })
        .times(1)
        .returning(move |_| {
            stored.lock().unwrap().push("client");
            Ok(())
        });
    m.clients
        .expect_sessions_of_client()
        .returning(|_| Ok(vec![]));
    m.clients.expect_set_current_sign_in().never();
    // The client made here is answered as written: not read back.
    m.clients.expect_get_client_with_sessions().never();
    let stored = std::sync::Arc::clone(&order);
    m.sign_ins.expect_insert().times(1).returning(move |_| {
        stored.lock().unwrap().push("sign-in");
        Ok(())
    });
    // The answer shows the user this request read: read once.
    m.users.expect_get().never();
    let services = m.services();
    let out = services
        .sign_ins
        .create_sign_in(None, identifier_only("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::NeedsFirstFactor);
    assert_eq!(out.response.sign_in.identifier(), Some("alice@example.com"));
    assert!(out.new_token.is_some(), "a new client gets a token");
    assert_eq!(*order.lock().unwrap(), ["client", "sign-in"]);
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(
        snapshot.client.sign_in_id.as_ref(),
        Some(&out.response.sign_in.id),
        "the client names its new sign-in"
    );
    assert_eq!(
        snapshot.sign_in.as_ref().map(|v| &v.sign_in.id),
        Some(&out.response.sign_in.id),
        "and shows it"
    );
    assert!(snapshot.sessions.is_empty());
    assert_eq!(
        snapshot.client.token_hash,
        token_hash(out.new_token.as_deref().unwrap()),
        "the client answered is the one whose token the device gets"
    );
}

/// Mocks in which client 1's sign-in `sia_1` identified alice, who is stored.
fn identified() -> Mocks {
    let mut m = Mocks::new();
    m.client_with_sign_in(identified_sign_in(&user()))
        .user_stored(user());
    m
}

/// Mocks in which alice@example.com names `user()`.
fn alice_exists() -> Mocks {
    let mut m = Mocks::new();
    m.identifier_names(user());
    m
}

#[tokio::test]
async fn with_every_attempt_held_by_checks_in_flight_nothing_is_checked_until_one_settles() {
    let mut m = alice_exists();
    m.users
        .expect_take_attempt()
        .withf(|id, at, max, window| {
            id.as_str() == "user_1"
                && *at == NOW
                && *max == 10
                && *window == crate::model::Duration::minutes(60)
        })
        .times(2)
        .returning(|_, _, _, _| Ok(crate::ports::AttemptSlot::Exhausted));
    m.users
        .expect_take_attempt()
        .times(1)
        .returning(|_, _, _, _| Ok(crate::ports::AttemptSlot::Granted));
    m.hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(false));
    m.users
        .expect_settle_attempt()
        .withf(|_, failed, _, _, _| *failed)
        .times(1)
        .returning(|_, _, _, _, _| Ok(None));
    let err = create(m, None, alice("a-guess")).await.unwrap_err();
    assert_eq!(err, Error::PasswordIncorrect);
}

#[tokio::test]
async fn with_every_attempt_held_for_longer_than_the_wait_nothing_is_checked() {
    let mut m = alice_exists();
    m.users
        .expect_take_attempt()
        .returning(|_, _, _, _| Ok(crate::ports::AttemptSlot::Exhausted));
    m.users.expect_settle_attempt().never();
    m.hasher.expect_verify().never();
    m.clients.expect_insert_client().never();
    let err = create(m, None, alice("a-guess")).await.unwrap_err();
    assert_eq!(err, Error::AccountBusy);
}

#[tokio::test]
async fn a_lock_found_when_taking_the_attempt_refuses_before_checking() {
    let mut m = alice_exists();
    m.users
        .expect_take_attempt()
        .returning(|_, _, _, _| Ok(crate::ports::AttemptSlot::Locked(Timestamp(NOW.0 + 30_000))));
    m.hasher.expect_verify().never();
    let err = create(m, None, alice("a-guess")).await.unwrap_err();
    assert!(matches!(err, Error::UserLocked { .. }));
}

#[tokio::test]
async fn a_check_that_fails_for_another_reason_gives_the_attempt_back() {
    let mut m = alice_exists();
    m.hasher
        .expect_verify()
        .returning(|_, _| Err(Error::internal("the hash pool is gone")));
    m.users
        .expect_settle_attempt()
        .withf(|_, failed, _, _, _| !*failed)
        .times(1)
        .returning(|_, _, _, _, _| Ok(None));
    let err = create(m, None, alice("right-password")).await.unwrap_err();
    assert!(!matches!(err, Error::PasswordIncorrect));
}

#[tokio::test]
async fn a_flow_store_that_is_down_leaves_no_new_client_behind() {
    let mut m = alice_exists();
    m.sign_ins
        .expect_insert()
        .returning(|_| Err(StoreError::Unavailable("redis: connection refused".into())));
    let inserted = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::clone(&inserted);
    m.clients
        .expect_insert_client()
        .times(1)
        .returning(move |c| {
            *seen.lock().unwrap() = Some(c.id.clone());
            Ok(())
        });
    m.clients
        .expect_sessions_of_client()
        .returning(|_| Ok(vec![]));
    let deleted = std::sync::Arc::clone(&inserted);
    m.clients
        .expect_delete_client()
        .times(1)
        .withf(move |id| deleted.lock().unwrap().as_ref() == Some(id))
        .returning(|_| Ok(()));
    let err = create(m, None, identifier_only("alice@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Unavailable);
}

#[tokio::test]
async fn disabled_and_unknown_strategies_are_refused_before_any_lookup() {
    let mut m = Mocks::new();
    m.settings.strategies.email_code = false;
    m.users.expect_find_by_identifier().never();
    let services = m.services();
    let refused = |params| services.sign_ins.create_sign_in(None, params);
    let email_code = CreateSignIn {
        identifier: Some("a@b.co".into()),
        ..strategy_only("email_code")
    };
    let err = refused(email_code).await.unwrap_err();
    assert!(refuses_strategy(&err));
    let err = refused(strategy_only("carrier_pigeon")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidParam { .. }), "{err:?}");
    assert_eq!(err.param(), Some("strategy"));
    let err = refused(strategy_only("password")).await.unwrap_err();
    assert_eq!(err, Error::param_nil("identifier"));
}

#[tokio::test]
async fn oauth_without_its_provider_or_a_safe_redirect_writes_nothing() {
    let mut m = Mocks::new();
    // Turned on in the settings, but no provider is configured for it.
    m.settings.strategies.oauth_providers = vec!["google".into()];
    m.nothing_created();
    let err = create(
        m,
        None,
        CreateSignIn {
            strategy: Some("oauth_google".into()),
            redirect_url: Some("http://localhost:3000/sso".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ProviderNotEnabled(name) if name.contains("google")),
        "{err:?}"
    );
    assert_eq!(err.param(), Some("strategy"));
}

#[tokio::test]
async fn a_sign_in_of_another_client_does_not_exist() {
    let mut m = Mocks::new();
    m.client_found();
    m.sign_ins.expect_get().returning(|_| {
        let mut s = SignIn::new(
            SignInId("sia_x".into()),
            ClientId("client_other".into()),
            NOW,
            &Default::default(),
        );
        s.identify("alice".into(), &user(), NOW).unwrap();
        Ok(Some(s))
    });
    m.hasher.expect_verify().never();
    let services = m.services();
    let params = AttemptFirstFactor {
        strategy: Some("password".into()),
        password: Some("x".into()),
        code: None,
        keep_token: false,
        origin: SessionOrigin::default(),
    };
    let err = services
        .sign_ins
        .attempt_first_factor(Some(TOKEN), "sia_x", params)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = services
        .sign_ins
        .get_sign_in(Some(TOKEN), "sia_x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
}

#[tokio::test]
async fn wrong_password_on_attempt_counts_the_attempt_even_when_racing() {
    let mut m = identified();
    alices_failure_counted(&mut m);
    m.passwords_match(false);
    // The first write loses a race; the retry re-reads and counts again.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    m.sign_ins
        .expect_replace()
        .withf(|s, expected| {
            let v = s.first_factor_verification().unwrap();
            v.attempts == 1
                && v.strategy == Strategy::Password
                && *expected == 0
                && s.version() == 1
        })
        .times(2)
        .returning(move |_, _| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(StoreError::Conflict)
            } else {
                Ok(())
            }
        });
    m.clients.expect_insert_session().never();
    let err = attempt_password(m, "nope-nope").await.unwrap_err();
    assert!(matches!(err, Error::PasswordIncorrect));
}

#[tokio::test]
async fn an_attempt_by_a_user_signed_in_on_the_client_is_refused_from_the_clients_read() {
    let mut m = Mocks::new();
    // The client is read once, with its active sessions: one is the user's.
    m.clients
        .expect_find_client_with_sessions()
        .times(1)
        .returning(|_, _| {
            Ok(Some(crate::ports::ClientWithSessions {
                client: client(),
                sessions: vec![(session(SessionStatus::Active), user())],
            }))
        });
    m.clients.expect_sessions_of_client().never();
    m.sign_in_stored(identified_sign_in(&user()))
        .user_stored(user());
    m.hasher.expect_verify().never();
    m.clients.expect_insert_session().never();
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(
        err,
        Error::AlreadySignedIn {
            session_id: SessionId("sess_1".into())
        }
    );
}

#[tokio::test]
async fn only_the_attempt_that_wins_the_race_creates_a_session() {
    let mut m = identified();
    m.passwords_match(true);
    m.sign_ins
        .expect_replace()
        .returning(|_, _| Err(StoreError::Conflict));
    m.clients.expect_insert_session().never();
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::Conflict);
}

#[tokio::test]
async fn users_without_a_password_pay_the_verify_and_get_strategy_invalid() {
    let mut m = Mocks::new();
    m.identifier_names(User {
        password_digest: None,
        ..user()
    });
    m.hasher
        .expect_verify()
        .with(eq("whatever1"), eq(None))
        .times(1)
        .returning(|_, _| Ok(false));
    m.clients.expect_insert_client().never();
    let err = create(m, None, alice("whatever1")).await.unwrap_err();
    assert!(refuses_strategy(&err));
}

#[tokio::test]
async fn a_lost_token_rotation_puts_the_sign_in_back() {
    let mut m = identified();
    m.passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.clients
        .expect_insert_session()
        .returning(|_, _, _, _, _| Err(StoreError::Conflict));
    let mut seq = mockall::Sequence::new();
    m.sign_ins
        .expect_replace()
        .withf(|s, expected| s.status_at(NOW) == SignInStatus::Complete && *expected == 0)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    m.sign_ins
        .expect_replace()
        .withf(|s, expected| {
            s.status_at(NOW) == SignInStatus::NeedsFirstFactor && *expected == 1 && s.version() == 2
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let err = attempt_password(m, "right").await.unwrap_err();
    assert!(matches!(err, Error::Conflict));
}

/// A password sign-in that makes its client answers with that client as the
/// session's start left it, without reading it back: the rotated token, the
/// one session, its user with the sign-in recorded.
#[tokio::test]
async fn a_sign_in_on_a_new_client_answers_with_the_client_its_session_left() {
    let mut m = Mocks::new();
    m.identifier_names(user()).passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.clients
        .expect_insert_client()
        .times(1)
        .returning(|_| Ok(()));
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.sign_ins.expect_insert().times(1).returning(|_| Ok(()));
    m.clients.expect_get_client_with_sessions().never();
    m.users.expect_get().never();
    let out = create(m, None, alice("right-password")).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    let session_id = out
        .response
        .sign_in
        .created_session_id()
        .cloned()
        .expect("a session");
    let token = out.new_token.expect("the client's token");
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(snapshot.client.token_hash, token_hash(&token));
    assert_eq!(
        snapshot.client.last_active_session_id,
        Some(session_id.clone())
    );
    assert_eq!(snapshot.client.sign_in_id, None);
    assert_eq!(
        snapshot.client.last_authentication_strategy.as_deref(),
        Some("password")
    );
    let shown: Vec<_> = snapshot
        .sessions
        .iter()
        .map(|v| (v.session.id.clone(), v.user.last_sign_in_at))
        .collect();
    assert_eq!(shown, [(session_id, Some(NOW))]);
}

/// A factor that completes a sign-in on a client that holds another user's
/// session answers with both sessions, the new one last, from the client
/// this request read: not read back.
#[tokio::test]
async fn a_completed_attempt_answers_with_the_sessions_it_read_and_the_new_one() {
    let mut m = Mocks::new();
    m.sign_in_stored(identified_sign_in(&user()))
        .user_stored(user());
    let other = User {
        id: UserId("user_2".into()),
        ..user()
    };
    let held = Session {
        id: SessionId("sess_2".into()),
        user_id: other.id.clone(),
        ..session(SessionStatus::Active)
    };
    let read = (held.clone(), other.clone());
    m.clients
        .expect_find_client_with_sessions()
        .returning(move |_, _| {
            Ok(Some(ClientWithSessions {
                client: client(),
                sessions: vec![read.clone()],
            }))
        });
    m.passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.sign_ins.expect_replace().returning(|_, _| Ok(()));
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.clients.expect_get_client_with_sessions().never();
    let out = attempt_password(m, "right").await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    let token = out.new_token.expect("the token rotates");
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(snapshot.client.token_hash, token_hash(&token));
    let new_id = out.response.sign_in.created_session_id().cloned();
    assert_eq!(snapshot.client.last_active_session_id, new_id);
    let shown: Vec<_> = snapshot
        .sessions
        .iter()
        .map(|v| {
            (
                v.session.id.clone(),
                v.user.id.clone(),
                v.user.last_sign_in_at,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (held.id, other.id, other.last_sign_in_at),
            (new_id.expect("a session"), user().id, Some(NOW)),
        ]
    );
}

/// The session, its client's rotation and the user's sign-in record are one
/// write: when it finds the user gone, the sign-in is refused as an unknown
/// account; when it finds the client gone, as a missing record. Either way
/// the sign-in goes back to where it was.
#[tokio::test]
async fn a_session_whose_user_or_client_is_gone_is_refused_and_the_sign_in_put_back() {
    for (user_still_there, refused) in [
        (false, Error::IdentifierNotFound),
        (true, Error::NotFound(crate::error::Resource::Record)),
    ] {
        let mut m = Mocks::new();
        m.client_with_sign_in(identified_sign_in(&user()));
        // Read as the attempt starts; gone (or not) once the write fails.
        let reads = std::sync::atomic::AtomicUsize::new(0);
        m.users.expect_get().returning(move |_| {
            let first = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            Ok((first || user_still_there).then(user))
        });
        m.passwords_match(true);
        m.hasher.expect_needs_rehash().return_const(false);
        m.clients
            .expect_insert_session()
            .times(1)
            .returning(|_, _, _, _, _| Err(StoreError::NotFound));
        m.clients.expect_end_session().never();
        let mut seq = mockall::Sequence::new();
        m.sign_ins
            .expect_replace()
            .withf(|s, _| s.status_at(NOW) == SignInStatus::Complete)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        m.sign_ins
            .expect_replace()
            .withf(|s, _| s.status_at(NOW) == SignInStatus::NeedsFirstFactor)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        let err = attempt_password(m, "right").await.unwrap_err();
        assert_eq!(err, refused);
    }
}

#[tokio::test]
async fn a_locked_user_is_refused_before_any_factor_is_evaluated() {
    let mut m = Mocks::new();
    m.identifier_names(User {
        locked_until: Some(crate::model::Timestamp(NOW.0 + 90_500)),
        ..user()
    });
    m.hasher.expect_verify().never();
    m.users.expect_take_attempt().never();
    m.clients.expect_insert_client().never();
    let err = create(m, None, alice("right-password")).await.unwrap_err();
    assert_eq!(
        err,
        Error::UserLocked {
            expires_in_secs: Some(91)
        }
    );
}

/// Where one store keeps the clients, the sign-ins and the users, a
/// factor's step reads what it acts on at once, and nothing on its own.
#[tokio::test]
async fn a_step_reads_its_client_sign_in_and_user_at_once_where_one_store_keeps_them() {
    let mut m = Mocks::new();
    m.step_read_at_once(Some(identified_sign_in(&user())), Some(user()))
        .completes_at_once(Ok(Standing::default()));
    m.passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.sign_ins.expect_replace().never();
    let out = attempt_password(m, "right").await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    assert_eq!(out.response.user.map(|u| u.id), Some(user().id));
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(
        snapshot.client.last_active_session_id.as_ref(),
        out.response.sign_in.created_session_id()
    );
}

/// Where the completed sign-in and its session are one write, a write
/// that stored nothing leaves nothing to put back: a lost race answers
/// with the rival's completion if there is one and is a conflict if not;
/// a user refused before the write writes nothing; a ban the write reads
/// ends the new session and puts the sign-in back.
#[tokio::test]
async fn a_sign_in_completed_in_one_write_puts_back_only_what_it_stored() {
    // A right password whose one write loses its race; the step's read was
    // the one at once, and nothing is put back.
    let lost = || {
        let mut m = Mocks::new();
        m.step_read_at_once(Some(identified_sign_in(&user())), Some(user()))
            .completes_at_once(Err(StoreError::Conflict));
        m.passwords_match(true);
        m.hasher.expect_needs_rehash().return_const(false);
        m.sign_ins.checkpoint();
        m.sign_ins.expect_replace().never();
        m
    };
    // Lost, no rival completed it: a conflict.
    let mut m = lost();
    m.sign_ins
        .expect_get()
        .times(1)
        .returning(|_| Ok(Some(identified_sign_in(&user()))));
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::Conflict);

    // Lost to a rival that completed it: the rival's result.
    let mut m = lost();
    let mut rivals = crate::service::test_support::passed_first_factor(&user());
    rivals
        .complete(SessionId("sess_rival".into()), NOW)
        .unwrap();
    m.sign_ins
        .expect_get()
        .times(1)
        .returning(move |_| Ok(Some(rivals.clone())));
    m.user_stored(user()).client_reads_back();
    let out = attempt_password(m, "right").await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    assert_eq!(
        out.response.sign_in.created_session_id(),
        Some(&SessionId("sess_rival".into()))
    );
    assert!(out.new_token.is_none(), "the loser rotates nothing");

    // Refused before the write: nothing written at all.
    let mut m = Mocks::new();
    let banned = User {
        banned: true,
        ..user()
    };
    m.step_read_at_once(Some(identified_sign_in(&banned)), Some(banned));
    m.passwords_match(true);
    m.sign_ins.expect_replace().never();
    m.clients.expect_insert_session().never();
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::UserBanned);

    // Stored, then refused by the standing the write read: the session is
    // ended and the sign-in put back over the version the write stored.
    let mut m = Mocks::new();
    m.step_read_at_once(Some(identified_sign_in(&user())), Some(user()))
        .completes_at_once(Ok(Standing {
            banned: true,
            locked_until: None,
        }));
    m.passwords_match(true);
    m.hasher.expect_needs_rehash().return_const(false);
    m.clients
        .expect_end_session()
        .withf(|_, status, _, _| *status == SessionStatus::Revoked)
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    let stored_version = identified_sign_in(&user()).version() + 1;
    m.sign_ins
        .expect_replace()
        .withf(move |s, expected| {
            *expected == stored_version && s.status_at(NOW) == SignInStatus::NeedsFirstFactor
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::UserBanned);
}

/// What the read at once did not find refuses the step as the reads one by
/// one do: a sign-in missing (or another client's) as not found, an
/// identified sign-in whose user is gone as an unknown account; a
/// stand-in's sign-in goes on with its stand-in, never read from the store.
#[tokio::test]
async fn a_step_read_at_once_refuses_what_it_did_not_find() {
    let mut m = Mocks::new();
    m.step_read_at_once(None, None);
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::NotFound(crate::error::Resource::SignIn));

    let mut m = Mocks::new();
    m.step_read_at_once(Some(identified_sign_in(&user())), None);
    m.hasher.expect_verify().never();
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::IdentifierNotFound);

    let mut m = Mocks::new();
    let mut stand_in = crate::service::test_support::sign_in_started(NOW);
    stand_in
        .identify_phantom("nobody@example.com".into(), &user(), NOW)
        .unwrap();
    m.step_read_at_once(Some(stand_in), None);
    m.users.expect_attempt_lock().returning(|_, _| Ok(None));
    m.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("$argon2id$nobody-knows".into()));
    m.hasher
        .expect_verify()
        .withf(|_, digest| digest.as_deref() == Some("$argon2id$nobody-knows"))
        .times(1)
        .returning(|_, _| Ok(false));
    m.sign_ins.expect_replace().returning(|_, _| Ok(()));
    m.clients.expect_insert_session().never();
    let err = attempt_password(m, "right").await.unwrap_err();
    assert_eq!(err, Error::PasswordIncorrect, "a stand-in never signs in");
}

/// `steps` is wired, and neither the clients nor the sign-ins are written
/// on their own.
fn only_through(m: &mut Mocks, steps: crate::ports::MockSignInSteps) {
    m.sign_in_steps = Some(steps);
    m.clients.expect_insert_client().never();
    m.clients.expect_set_current_sign_in().never();
    m.sign_ins.expect_insert().never();
    m.sign_ins.expect_delete().never();
}

/// Where one store keeps the clients and the sign-ins, a new sign-in is one
/// write with its client's change: a client made for it, stored naming it;
/// or an existing client's current sign-in, the one it replaces deleted.
#[tokio::test]
async fn a_new_sign_in_and_its_clients_change_are_one_write_where_one_store_keeps_both() {
    // On a new client.
    let mut m = Mocks::new();
    m.identifier_names(user());
    let mut steps = crate::ports::MockSignInSteps::new();
    steps
        .expect_start_sign_in()
        .withf(|sign_in, new_client, previous, at| {
            new_client
                .as_ref()
                .is_some_and(|c| c.sign_in_id.as_ref() == Some(&sign_in.id))
                && previous.is_none()
                && *at == NOW
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    only_through(&mut m, steps);
    let out = create(m, None, identifier_only("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::NeedsFirstFactor);
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(
        snapshot.client.sign_in_id.as_ref(),
        Some(&out.response.sign_in.id)
    );

    // On a client that had a sign-in.
    let mut m = Mocks::new();
    m.identifier_names(user()).client_reads_back();
    let before = Client {
        sign_in_id: Some(SignInId("sia_old".into())),
        ..client()
    };
    let found = before.clone();
    m.clients
        .expect_find_client_by_token_hash()
        .returning(move |_| Ok(Some(found.clone())));
    let mut steps = crate::ports::MockSignInSteps::new();
    steps
        .expect_start_sign_in()
        .withf(|sign_in, new_client, previous, _| {
            new_client.is_none()
                && previous.as_ref().map(SignInId::as_str) == Some("sia_old")
                && sign_in.client_id == client().id
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    only_through(&mut m, steps);
    let out = create(m, Some(TOKEN), identifier_only("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::NeedsFirstFactor);
}

/// `GET /v1/client/sign_ins/{id}` shows the client, the sign-in and its
/// user as one read found them (where one store keeps them, one call).
#[tokio::test]
async fn a_sign_in_is_shown_from_one_read() {
    let mut m = Mocks::new();
    m.step_read_at_once(Some(identified_sign_in(&user())), Some(user()));
    m.clients.expect_get_client_with_sessions().never();
    let out = m
        .services()
        .sign_ins
        .get_sign_in(Some(TOKEN), "sia_1")
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::NeedsFirstFactor);
    assert_eq!(out.response.user.map(|u| u.id), Some(user().id));
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(snapshot.client.id, client().id);
    assert!(out.new_token.is_none());
}

/// The code [`code_sign_in`] sent.
const CODE: &str = "123456";

/// [`identified_sign_in`] with an email code sent to alice's address just
/// now, no attempt made on it yet.
fn code_sign_in() -> SignIn {
    let mut s = identified_sign_in(&user());
    crate::service::test_support::code_sent(
        &mut s,
        crate::model::FactorSlot::First,
        Strategy::EmailCode,
        "idn_1",
        CODE,
    );
    s
}

/// Mocks for a step on [`code_sign_in`] read at once, as where one store
/// keeps the clients, the sign-ins and the users.
fn code_step() -> Mocks {
    let mut m = Mocks::new();
    m.step_read_at_once(Some(code_sign_in()), Some(user()));
    m
}

/// Attempts `code` as the email code on client 1's `sia_1`.
async fn attempt_email_code(m: Mocks, code: &str) -> Result<Outcome<SignInView>, Error> {
    attempt_first(m, "email_code", None, Some(code)).await
}

/// Whether `s` holds exactly one counted attempt on its email code.
fn one_code_attempt_counted(s: &SignIn) -> bool {
    s.first_factor_verification()
        .is_some_and(|v| v.strategy == Strategy::EmailCode && v.attempts == 1)
}

/// [`code_sign_in`] is written once, over the version read, with its
/// attempt counted and in `status`.
fn code_counted_in_one_replace(m: &mut Mocks, status: SignInStatus) {
    m.sign_ins.checkpoint();
    m.sign_ins
        .expect_replace()
        .withf(move |s, expected| {
            one_code_attempt_counted(s)
                && *expected == code_sign_in().version()
                && s.status_at(NOW) == status
        })
        .times(1)
        .returning(|_, _| Ok(()));
}

/// A right code is counted in the write that completes its sign-in, where
/// one store keeps it all: that write stores the sign-in with the attempt
/// counted, and the sign-in is not written before it.
#[tokio::test]
async fn a_right_code_is_counted_in_the_write_that_completes_its_sign_in() {
    let mut m = code_step();
    m.sign_in_steps
        .as_mut()
        .unwrap()
        .expect_complete_sign_in()
        .withf(|sign_in, _, _, _, _, _, passed| {
            one_code_attempt_counted(sign_in)
                && sign_in.status_at(NOW) == SignInStatus::Complete
                && sign_in.version() == code_sign_in().version() + 1
                && passed.is_some()
        })
        .times(1)
        .returning(|_, _, _, _, _, _, _| Ok(Standing::default()));
    m.sign_ins.expect_replace().never();
    m.clients.expect_insert_session().never();
    m.users.expect_settle_attempt().never();
    let out = attempt_email_code(m, CODE).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
}

/// A wrong code is counted on the stored sign-in before it is answered, and
/// completes nothing.
#[tokio::test]
async fn a_wrong_code_is_counted_before_it_is_answered() {
    let mut m = code_step();
    m.sign_in_steps
        .as_mut()
        .unwrap()
        .expect_complete_sign_in()
        .never();
    code_counted_in_one_replace(&mut m, SignInStatus::NeedsFirstFactor);
    m.one_failure_counted();
    let err = attempt_email_code(m, "654321").await.unwrap_err();
    assert_eq!(err, Error::CodeIncorrect);
}

/// A right code whose completing write loses its race is answered as a
/// wrong one whose count lost its race is: a conflict, with nothing
/// stored for either, so a racing guess learns nothing from which it was.
#[tokio::test]
async fn a_right_code_that_loses_its_write_answers_as_a_lost_wrong_one() {
    let mut m = code_step();
    m.completes_at_once(Err(StoreError::Conflict));
    m.sign_ins.checkpoint();
    m.sign_ins.expect_replace().never();
    m.sign_ins
        .expect_get()
        .times(1)
        .returning(|_| Ok(Some(code_sign_in())));
    let right = attempt_email_code(m, CODE).await.unwrap_err();

    let mut m = code_step();
    m.sign_ins.checkpoint();
    m.sign_ins
        .expect_replace()
        .times(1)
        .returning(|_, _| Err(StoreError::Conflict));
    let wrong = attempt_email_code(m, "654321").await.unwrap_err();
    assert_eq!(right, Error::Conflict);
    assert_eq!(wrong, right);
}

/// Without one store for it all, a right code is counted in the replace
/// that records it passed, before the session is started: still one write
/// of the sign-in.
#[tokio::test]
async fn a_right_code_is_counted_in_the_replace_that_records_it_passed() {
    let mut m = Mocks::new();
    m.client_with_sign_in(code_sign_in()).user_stored(user());
    code_counted_in_one_replace(&mut m, SignInStatus::Complete);
    m.sign_ins
        .expect_get()
        .returning(|_| Ok(Some(code_sign_in())));
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.client_reads_back();
    let out = attempt_email_code(m, CODE).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
}

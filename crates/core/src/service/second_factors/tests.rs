#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::model::{
    IdentificationRecord, SessionStatus, SignInStatus, Standing, Timestamp, VerificationStatus,
    step_at,
};
use crate::ports::{CodeDestination, FreshRandom};
use crate::secrets::SecretBox;
use crate::service::test_support::{
    Mocks, NOW, TOKEN, client, passed_first_factor, refuses_strategy, session, user,
};

/// RFC 6238's SHA-1 test secret.
const SECRET: &[u8] = b"12345678901234567890";

/// A user with TOTP, two backup codes and a phone number reserved for the
/// second factor besides an ordinary one; sealed and digested with the key
/// the mocked services use.
fn mfa_user() -> User {
    let secrets = SecretBox::new(&[7; 32]);
    let phone = |id: &str, value: &str, reserved: bool| IdentificationRecord {
        id: id.into(),
        value: value.into(),
        verified: true,
        reserved_for_second_factor: reserved,
        verification: None,
        created_at: NOW,
        updated_at: NOW,
    };
    User {
        totp_secret: Some(secrets.seal(SECRET, "user_1", &FreshRandom).unwrap()),
        backup_codes: vec![
            secrets.digest("user_1", "aaaa1111"),
            secrets.digest("user_1", "bbbb2222"),
        ],
        phone_numbers: vec![
            phone("idn_phone", "+15555550100", false),
            phone("idn_2fa", "+15555550242", true),
        ],
        primary_phone_number_id: Some("idn_phone".into()),
        ..user()
    }
}

/// A sign-in on client 1 whose password passed for `user`, which has a
/// second factor.
fn waiting_sign_in(user: &User) -> SignIn {
    let s = passed_first_factor(user);
    assert_eq!(s.status_at(NOW), SignInStatus::NeedsSecondFactor);
    s
}

/// Mocks for a step on [`waiting_sign_in`]: the client, its sign-in and the user.
fn mocks_for(user: User) -> Mocks {
    let mut m = Mocks::new();
    m.client_with_sign_in(waiting_sign_in(&user))
        .user_stored(user);
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| Ok(None));
    m
}

/// Attempts `code` as a second factor of `strategy` on client 1's `sia_1`.
async fn attempt_code(m: Mocks, strategy: &str, code: &str) -> Result<Outcome<SignInView>, Error> {
    m.services()
        .sign_ins
        .attempt_second_factor(Some(TOKEN), "sia_1", attempt(strategy, code))
        .await
}

/// Prepares a second factor of `strategy` on client 1's `sia_1`.
fn prepare(strategy: &str) -> PrepareSecondFactor {
    PrepareSecondFactor {
        strategy: Some(strategy.into()),
        ..Default::default()
    }
}

fn attempt(strategy: &str, code: &str) -> AttemptSecondFactor {
    AttemptSecondFactor {
        strategy: Some(strategy.into()),
        code: Some(code.into()),
        keep_token: false,
        origin: SessionOrigin::default(),
    }
}

fn totp_now(offset_steps: i64) -> String {
    TotpSecret::from_bytes(SECRET.to_vec()).code_at_step(step_at(NOW) + offset_steps)
}

#[tokio::test]
async fn a_valid_totp_code_completes_with_one_session() {
    let mut m = mocks_for(mfa_user());
    m.users
        .expect_use_totp_step()
        .withf(|id, step| id.as_str() == "user_1" && *step == step_at(NOW) - 1)
        .times(1)
        .returning(|_, _| Ok(true));
    // The attempt is counted first, then the completed sign-in stored.
    m.sign_ins
        .expect_replace()
        .withf(|s, _| {
            let v = s.second_factor_verification().unwrap();
            v.attempts == 1
                && v.status == VerificationStatus::Unverified
                && s.status_at(NOW) == SignInStatus::NeedsSecondFactor
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.sign_ins
        .expect_replace()
        .withf(|s, _| {
            s.status_at(NOW) == SignInStatus::Complete
                && s.second_factor_verified_at() == Some(NOW)
                && s.second_factor_verification().unwrap().attempts == 1
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.clients
        .expect_insert_session()
        .withf(|s, _, _, _, _| {
            s.status == SessionStatus::Active && s.second_factor_verified_at == Some(NOW)
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.hasher.expect_needs_rehash().return_const(false);
    let out = attempt_code(m, "totp", &totp_now(-1)).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
    assert!(
        out.new_token.is_some(),
        "the token rotates with the new session"
    );
}

#[tokio::test]
async fn a_used_totp_code_is_refused_and_counted() {
    let mut m = mocks_for(mfa_user());
    m.users.expect_use_totp_step().returning(|_, _| Ok(false));
    m.one_failure_counted();
    m.sign_ins
        .expect_replace()
        .withf(|s, _| {
            let v = s.second_factor_verification().unwrap();
            v.strategy == Strategy::Totp && v.attempts == 1 && s.created_session_id().is_none()
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.clients.expect_insert_session().never();
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert!(matches!(err, Error::CodeIncorrect));
    assert_eq!(err.param(), Some("code"));
}

#[tokio::test]
async fn totp_codes_outside_the_window_never_reach_the_store() {
    for offset in [-2, 2, 40] {
        let mut m = mocks_for(mfa_user());
        m.users.expect_use_totp_step().never();
        m.one_failure_counted();
        m.replaces_accepted();
        m.clients.expect_insert_session().never();
        let err = m
            .services()
            .sign_ins
            .attempt_second_factor(Some(TOKEN), "sia_1", attempt("totp", &totp_now(offset)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::CodeIncorrect), "offset {offset}");
    }
}

#[tokio::test]
async fn backup_codes_are_consumed_by_keyed_digest() {
    let mut m = mocks_for(mfa_user());
    let expected = SecretBox::new(&[7; 32]).digest("user_1", "bbbb2222");
    m.users
        .expect_consume_backup_code()
        .withf(move |id, digest, at| id.as_str() == "user_1" && digest == expected && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    m.replaces_accepted();
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    let out = attempt_code(m, "backup_code", " BBBB-2222 ").await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
}

#[tokio::test]
async fn an_unknown_or_used_backup_code_is_refused_and_counted() {
    let mut m = mocks_for(mfa_user());
    m.users
        .expect_consume_backup_code()
        .times(1)
        .returning(|_, _, _| Ok(false));
    m.one_failure_counted();
    m.sign_ins
        .expect_replace()
        .times(1)
        .returning(|_, _| Ok(()));
    m.clients.expect_insert_session().never();
    let err = attempt_code(m, "backup_code", "cccc3333")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CodeIncorrect));
}

#[tokio::test]
async fn nothing_is_evaluated_for_a_locked_user() {
    let locked = User {
        locked_until: Some(Timestamp(NOW.0 + 60_000)),
        ..mfa_user()
    };
    let mut m = mocks_for(locked);
    m.users.expect_use_totp_step().never();
    m.users.expect_consume_backup_code().never();
    m.users.expect_take_attempt().never();
    m.sign_ins.expect_replace().never();
    let services = m.services();
    for (strategy, code) in [("totp", totp_now(0)), ("backup_code", "aaaa1111".into())] {
        let err = services
            .sign_ins
            .attempt_second_factor(Some(TOKEN), "sia_1", attempt(strategy, &code))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UserLocked { .. }), "{strategy}");
    }
}

#[tokio::test]
async fn strategies_the_user_or_instance_lacks_are_refused() {
    // No TOTP on this user.
    let mut no_totp = mfa_user();
    no_totp.totp_secret = None;
    let mut m = mocks_for(no_totp);
    m.users.expect_use_totp_step().never();
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert!(refuses_strategy(&err));
    assert_eq!(err.param(), Some("strategy"));

    // Backup codes turned off on the instance.
    let mut m = mocks_for(mfa_user());
    m.settings.strategies.backup_code = false;
    m.users.expect_consume_backup_code().never();
    let err = attempt_code(m, "backup_code", "aaaa1111")
        .await
        .unwrap_err();
    assert!(refuses_strategy(&err));

    // Email codes are second factors only where the instance says so.
    let m = mocks_for(mfa_user());
    let err = m
        .services()
        .sign_ins
        .prepare_second_factor(Some(TOKEN), "sia_1", prepare("email_code"))
        .await
        .unwrap_err();
    assert!(refuses_strategy(&err));

    // Not a second factor at all.
    let m = mocks_for(mfa_user());
    let err = attempt_code(m, "password", "x").await.unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidParam { .. } | Error::StepNotAllowed { .. }
    ));
}

#[tokio::test]
async fn a_code_that_cannot_be_queued_is_never_recorded() {
    let mut m = mocks_for(mfa_user());
    m.outbox
        .expect_enqueue()
        .times(1)
        .returning(|_, _| Err(crate::error::StoreError::Unavailable("down".into())));
    m.sign_ins.expect_replace().never();
    let err = m
        .services()
        .sign_ins
        .prepare_second_factor(Some(TOKEN), "sia_1", prepare("phone_code"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Unavailable);
}

#[tokio::test]
async fn phone_codes_go_only_to_numbers_reserved_for_the_second_factor() {
    let mut m = mocks_for(mfa_user());
    m.outbox
        .expect_enqueue()
        .withf(|d, _| {
            crate::service::deliveries::tests::queued_code(d).destination
                == CodeDestination::Sms("+15555550242".into())
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.sign_ins
        .expect_replace()
        .withf(|s, _| {
            let v = s.second_factor_verification().unwrap();
            v.strategy == Strategy::PhoneCode
                && v.code.as_ref().is_some_and(|c| c.target_id == "idn_2fa")
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let services = m.services();
    services
        .sign_ins
        .prepare_second_factor(Some(TOKEN), "sia_1", prepare("phone_code"))
        .await
        .unwrap();
    // The ordinary number is a first factor, not a second one.
    let err = services
        .sign_ins
        .prepare_second_factor(
            Some(TOKEN),
            "sia_1",
            PrepareSecondFactor {
                strategy: Some("phone_code".into()),
                phone_number_id: Some("idn_phone".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.param(), Some("phone_number_id"));
}

/// A prepared code changes the sign-in only: the answer shows the client
/// and its sessions as the step read them, without reading them again.
#[tokio::test]
async fn a_prepared_code_answers_with_the_client_as_read() {
    let user = mfa_user();
    let mut m = Mocks::new();
    m.sign_in_stored(waiting_sign_in(&user)).user_stored(user);
    let holding = crate::model::Client {
        sign_in_id: Some(crate::model::SignInId("sia_1".into())),
        ..client()
    };
    let read = holding.clone();
    m.clients
        .expect_find_client_with_sessions()
        .times(1)
        .returning(move |_, _| {
            Ok(Some(crate::ports::ClientWithSessions {
                client: read.clone(),
                sessions: vec![],
            }))
        });
    m.clients.expect_get_client_with_sessions().never();
    m.outbox.expect_enqueue().times(1).returning(|_, _| Ok(()));
    m.sign_ins
        .expect_replace()
        .times(1)
        .returning(|_, _| Ok(()));
    let out = m
        .services()
        .sign_ins
        .prepare_second_factor(Some(TOKEN), "sia_1", prepare("phone_code"))
        .await
        .unwrap();
    let snapshot = out.client.expect("the client comes with the answer");
    assert_eq!(snapshot.client, holding);
    assert_eq!(
        snapshot.sign_in.map(|v| v.sign_in),
        Some(out.response.sign_in),
        "the client shows the sign-in as this step left it"
    );
}

/// A user already signed in on the client cannot pass a second factor
/// there: the sessions come with the client's first read.
#[tokio::test]
async fn a_user_signed_in_on_the_client_is_refused_at_the_second_factor() {
    let user = mfa_user();
    let mut m = Mocks::new();
    m.sign_in_stored(waiting_sign_in(&user))
        .user_stored(user.clone());
    m.clients
        .expect_find_client_with_sessions()
        .returning(move |_, _| {
            Ok(Some(crate::ports::ClientWithSessions {
                client: client(),
                sessions: vec![(session(SessionStatus::Active), user.clone())],
            }))
        });
    m.clients.expect_sessions_of_client().never();
    m.users.expect_use_totp_step().never();
    m.clients.expect_insert_session().never();
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert!(matches!(err, Error::AlreadySignedIn { .. }), "{err:?}");
}

#[tokio::test]
async fn totp_and_backup_codes_need_no_preparation() {
    let m = mocks_for(mfa_user());
    let err = m
        .services()
        .sign_ins
        .prepare_second_factor(Some(TOKEN), "sia_1", prepare("totp"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidParam { .. } | Error::StepNotAllowed { .. }
    ));
    assert_eq!(err.param(), Some("strategy"));
}

#[tokio::test]
async fn past_the_attempt_limit_no_code_is_evaluated() {
    let user = mfa_user();
    let mut spent = waiting_sign_in(&user);
    for _ in 0..3 {
        assert!(
            spent
                .reserve_attempt(FactorSlot::Second, &Strategy::Totp, 3, NOW)
                .unwrap()
        );
    }
    assert!(
        !spent
            .reserve_attempt(FactorSlot::Second, &Strategy::Totp, 3, NOW)
            .unwrap()
    );
    let mut m = Mocks::new();
    m.client_with_sign_in(spent).user_stored(user);
    m.users.expect_use_totp_step().never();
    m.sign_ins.expect_replace().never();
    m.clients.expect_insert_session().never();
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert!(matches!(
        err,
        Error::CodeAttemptsExhausted | Error::SecondFactorAttemptsExhausted
    ));
}

/// A lock that lands while the code is checked shows in the standing the
/// session's start reads in its own write: the new session is ended at once
/// and the attempt refused, with no read of the user of its own.
#[tokio::test]
async fn a_lock_that_lands_during_the_check_still_holds() {
    let mut m = Mocks::new();
    m.client_with_sign_in(waiting_sign_in(&mfa_user()));
    m.users
        .expect_get()
        .times(1)
        .returning(|_| Ok(Some(mfa_user())));
    m.users.expect_use_totp_step().returning(|_, _| Ok(true));
    m.replaces_accepted();
    m.hasher.expect_needs_rehash().return_const(false);
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| {
            Ok(Standing {
                banned: false,
                locked_until: Some(Timestamp(NOW.0 + 60_000)),
            })
        });
    m.clients
        .expect_end_session()
        .withf(|_, status, _, _| *status == SessionStatus::Revoked)
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert!(matches!(err, Error::UserLocked { .. }));
}

/// Where one store keeps the clients, the sign-ins and the users, a second
/// factor's step reads them at once; a user gone meanwhile refuses it.
#[tokio::test]
async fn a_second_factor_step_reads_at_once_where_one_store_keeps_everything() {
    let mut m = Mocks::new();
    m.step_read_at_once(Some(waiting_sign_in(&mfa_user())), Some(mfa_user()))
        .completes_at_once(Ok(Standing::default()));
    m.users
        .expect_use_totp_step()
        .times(1)
        .returning(|_, _| Ok(true));
    // The attempt is counted on its own; the completion goes with the session.
    m.sign_ins
        .expect_replace()
        .withf(|s, _| s.status_at(NOW) == SignInStatus::NeedsSecondFactor)
        .times(1)
        .returning(|_, _| Ok(()));
    m.hasher.expect_needs_rehash().return_const(false);
    let out = attempt_code(m, "totp", &totp_now(0)).await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);

    let mut m = Mocks::new();
    m.step_read_at_once(Some(waiting_sign_in(&mfa_user())), None);
    m.users.expect_use_totp_step().never();
    let err = attempt_code(m, "totp", &totp_now(0)).await.unwrap_err();
    assert_eq!(err, Error::IdentifierNotFound);
}

/// A right phone code as the second factor is counted in the write that
/// records its sign-in complete: the sign-in is written once, with the
/// attempt counted, and not before the code is compared.
#[tokio::test]
async fn a_right_phone_code_is_counted_in_the_write_that_completes() {
    let user = mfa_user();
    let mut sign_in = waiting_sign_in(&user);
    crate::service::test_support::code_sent(
        &mut sign_in,
        crate::model::FactorSlot::Second,
        Strategy::PhoneCode,
        "idn_2fa",
        "246810",
    );
    let read_version = sign_in.version();
    let mut m = Mocks::new();
    m.client_with_sign_in(sign_in).user_stored(user);
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| Ok(None));
    m.sign_ins
        .expect_replace()
        .withf(move |s, expected| {
            let v = s.second_factor_verification().unwrap();
            v.attempts == 1
                && v.strategy == Strategy::PhoneCode
                && s.status_at(NOW) == SignInStatus::Complete
                && *expected == read_version
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.clients
        .expect_insert_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.hasher.expect_needs_rehash().return_const(false);
    let out = attempt_code(m, "phone_code", "246810").await.unwrap();
    assert_eq!(out.response.status, SignInStatus::Complete);
}

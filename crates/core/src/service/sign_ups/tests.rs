#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use super::*;
use crate::error::StoreError;
use crate::model::{Duration, IdentifierKind, SessionStatus, SignUpMode};
use crate::ports::{NewDelivery, WindowCount};
use crate::service::test_support::{Mocks, NOW, TOKEN, client, client_without_sessions, user};
use crate::service::token_hash;

/// A sign-up store that keeps what it is given (one sign-up), comparing
/// versions as the real ones do.
fn remembering_store(m: &mut Mocks) -> Arc<Mutex<Option<SignUp>>> {
    remembering_store_logged(m).kept
}

/// What a [`remembering_store_logged`] keeps and saw.
struct Remembered {
    /// The sign-up as stored.
    kept: Arc<Mutex<Option<SignUp>>>,
    /// Every sign-up its replaces stored, in order.
    replaced: Arc<Mutex<Vec<SignUp>>>,
    /// How many times a sign-up was read.
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

/// [`remembering_store`], logging its replaces and counting its reads.
fn remembering_store_logged(m: &mut Mocks) -> Remembered {
    let kept: Arc<Mutex<Option<SignUp>>> = Arc::default();
    let log: Arc<Mutex<Vec<SignUp>>> = Arc::default();
    let reads: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let on_log = log.clone();
    let on_insert = kept.clone();
    m.sign_ups.expect_insert().returning(move |s| {
        *on_insert.lock().unwrap() = Some(s.clone());
        Ok(())
    });
    let on_replace = kept.clone();
    m.sign_ups.expect_replace().returning(move |s, expected| {
        let mut slot = on_replace.lock().unwrap();
        match slot.as_ref() {
            Some(stored) if stored.version() == expected => {
                *slot = Some(s.clone());
                on_log.lock().unwrap().push(s.clone());
                Ok(())
            }
            Some(_) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    });
    let on_get = kept.clone();
    let on_read = reads.clone();
    m.sign_ups.expect_get().returning(move |_| {
        on_read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(on_get.lock().unwrap().clone())
    });
    m.sign_ups.expect_delete().returning(|_| Ok(()));
    Remembered {
        kept,
        replaced: log,
        reads,
    }
}

/// A public instance, the client found and read back, and its sign-up kept.
fn public() -> (Mocks, Arc<Mutex<Option<SignUp>>>) {
    let mut m = Mocks::new();
    m.settings.sign_up.mode = SignUpMode::Public;
    m.client_found().client_reads_back();
    m.clients
        .expect_set_current_sign_up()
        .returning(|_, _, _| Ok(()));
    m.hasher
        .expect_hash()
        .times(..=1)
        .returning(|_| Ok("$argon2id$new".into()));
    let kept = remembering_store(&mut m);
    (m, kept)
}

fn email_and_password(email: &str, password: &str) -> CreateSignUp {
    CreateSignUp {
        fields: SignUpFields {
            email_address: Some(email.into()),
            password: Some(password.into()),
            ..SignUpFields::default()
        },
        ..CreateSignUp::default()
    }
}

/// Ada signs up with her email address and a password.
async fn sign_up_ada(sign_ups: &SignUps) -> Outcome<SignUpView> {
    sign_ups
        .create_sign_up(
            Some(TOKEN),
            email_and_password("ada@example.com", "a long secret"),
        )
        .await
        .unwrap()
}

fn nobody_has_it(m: &mut Mocks) {
    m.users.expect_find_by_identifier().returning(|_| Ok(None));
}

/// The outbox keeps every message's sealed payload count.
fn outbox_counted(m: &mut Mocks) -> Arc<Mutex<Vec<NewDelivery>>> {
    let sent: Arc<Mutex<Vec<NewDelivery>>> = Arc::default();
    let on_enqueue = sent.clone();
    m.outbox.expect_enqueue().returning(move |d, _| {
        on_enqueue.lock().unwrap().push(d.clone());
        Ok(())
    });
    sent
}

#[tokio::test]
async fn a_restricted_instance_takes_no_sign_up_and_writes_nothing() {
    let mut m = Mocks::new();
    m.settings.sign_up.mode = SignUpMode::Restricted;
    m.nothing_created();
    m.sign_ups.expect_insert().never();
    m.hasher.expect_hash().never();
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            email_and_password("ada@example.com", "a long secret"),
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::SignUpRestricted);
}

#[tokio::test]
async fn email_and_password_wait_for_the_code_and_the_user_is_made_only_when_it_passes() {
    let (mut m, kept) = public();
    nobody_has_it(&mut m);
    let sent = outbox_counted(&mut m);
    let made: Arc<Mutex<Option<(User, Session)>>> = Arc::default();
    let on_insert = made.clone();
    m.clients
        .expect_insert_user_with_session()
        .times(1)
        .returning(move |user, session, expected, new, _| {
            assert_eq!(expected, token_hash(TOKEN));
            assert_ne!(new, expected, "the client's token rotates");
            *on_insert.lock().unwrap() = Some((user.clone(), session.clone()));
            Ok(())
        });
    let services = m.services();
    let sign_ups = &services.sign_ups;

    let created = sign_ups
        .create_sign_up(
            Some(TOKEN),
            email_and_password(" Ada@Example.com ", "a long secret"),
        )
        .await
        .unwrap();
    let view = &created.response;
    assert_eq!(view.status, SignUpStatus::MissingRequirements);
    assert_eq!(view.sign_up.email_address(), Some("ada@example.com"));
    assert_eq!(view.sign_up.password_digest(), Some("$argon2id$new"));
    assert!(
        created.new_token.is_none(),
        "a known client keeps its token"
    );
    assert!(made.lock().unwrap().is_none(), "no user before the code");
    let id = view.sign_up.id.as_str().to_owned();

    let prepare = PrepareVerification {
        strategy: Some("email_code".into()),
    };
    sign_ups
        .prepare_verification(Some(TOKEN), &id, prepare.clone())
        .await
        .unwrap();
    assert_eq!(sent.lock().unwrap().len(), 1, "one code queued");
    // A second code within the cool-down is refused.
    assert!(matches!(
        sign_ups
            .prepare_verification(Some(TOKEN), &id, prepare)
            .await,
        Err(Error::CodeRecentlySent { .. })
    ));

    let attempt = |code: &str| AttemptVerification {
        strategy: Some("email_code".into()),
        code: Some(code.into()),
        ..AttemptVerification::default()
    };
    // The code is unknown to the test: what it was sealed with is the
    // code's digest on the stored sign-up, so a wrong one fails...
    let err = sign_ups
        .attempt_verification(Some(TOKEN), &id, attempt("000000"))
        .await;
    let stored = kept.lock().unwrap().clone().unwrap();
    let expected = stored
        .verification(Verifiable::EmailAddress)
        .and_then(|v| v.code.clone())
        .unwrap()
        .digest;
    // ...unless 000000 happened to be it.
    if err.is_ok() {
        return;
    }
    assert_eq!(err.unwrap_err(), Error::CodeIncorrect);
    assert!(made.lock().unwrap().is_none());
    // Find the code by its digest, as only the receiver could.
    let code = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| code_digest(&crate::secrets::SecretBox::new(&[7; 32]), &id, c) == expected)
        .unwrap();
    let done = sign_ups
        .attempt_verification(Some(TOKEN), &id, attempt(&code))
        .await
        .unwrap();
    assert_eq!(done.response.status, SignUpStatus::Complete);
    assert!(done.new_token.is_some());
    let (user, session) = made.lock().unwrap().clone().unwrap();
    assert_eq!(done.response.sign_up.created_user_id(), Some(&user.id));
    assert_eq!(
        done.response.sign_up.created_session_id(),
        Some(&session.id)
    );
    assert_eq!(user.email_addresses.len(), 1);
    assert!(user.email_addresses[0].verified, "proved by its code");
    assert_eq!(
        user.primary_email_address_id.as_deref(),
        Some(user.email_addresses[0].id.as_str())
    );
    assert_eq!(user.password_digest.as_deref(), Some("$argon2id$new"));
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(session.origin.strategy.as_deref(), Some("email_code"));
    // Complete: no more steps.
    assert_eq!(
        sign_ups
            .attempt_verification(Some(TOKEN), &id, attempt(&code))
            .await
            .unwrap_err(),
        Error::SignUpComplete
    );
}

#[tokio::test]
async fn a_username_and_password_with_nothing_to_prove_completes_at_once() {
    let (mut m, _kept) = public();
    m.settings.sign_up.require_email_address = false;
    m.settings.sign_up.require_username = true;
    nobody_has_it(&mut m);
    m.clients
        .expect_insert_user_with_session()
        .times(1)
        .returning(|user, _, _, _, _| {
            assert_eq!(user.username.as_ref().map(|u| u.as_str()), Some("ada_l"));
            assert!(user.email_addresses.is_empty());
            Ok(())
        });
    let created = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            CreateSignUp {
                fields: SignUpFields {
                    username: Some("Ada_L".into()),
                    password: Some("a long secret".into()),
                    ..SignUpFields::default()
                },
                ..CreateSignUp::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.response.status, SignUpStatus::Complete);
}

#[tokio::test]
async fn an_identifier_that_is_an_accounts_is_refused_before_hashing() {
    let (mut m, kept) = public();
    m.identifier_names(user());
    m.hasher.checkpoint();
    m.hasher.expect_hash().never();
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            email_and_password("alice@example.com", "a long secret"),
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdentifierTaken(IdentifierKind::EmailAddress));
    assert!(kept.lock().unwrap().is_none(), "nothing stored");
}

#[tokio::test]
async fn under_enumeration_protection_a_taken_address_gets_a_notice_and_never_completes() {
    let (mut m, kept) = public();
    m.settings.enumeration_protection = true;
    m.identifier_names(user());
    let sent = outbox_counted(&mut m);
    m.clients.expect_insert_user_with_session().never();
    let services = m.services();
    let created = services
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            email_and_password("alice@example.com", "a long secret"),
        )
        .await
        .unwrap();
    assert_eq!(created.response.status, SignUpStatus::MissingRequirements);
    let id = created.response.sign_up.id.as_str().to_owned();
    services
        .sign_ups
        .prepare_verification(
            Some(TOKEN),
            &id,
            PrepareVerification {
                strategy: Some("email_code".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(sent.lock().unwrap().len(), 1, "the owner is told");
    // No six digits match what was recorded.
    let stored = kept.lock().unwrap().clone().unwrap();
    let digest = stored
        .verification(Verifiable::EmailAddress)
        .and_then(|v| v.code.clone())
        .unwrap()
        .digest;
    let key = crate::secrets::SecretBox::new(&[7; 32]);
    assert!(
        ["000000", "424242", "123456"]
            .iter()
            .all(|c| code_digest(&key, &id, c) != digest)
    );
    let err = services
        .sign_ups
        .attempt_verification(
            Some(TOKEN),
            &id,
            AttemptVerification {
                strategy: Some("email_code".into()),
                code: Some("123456".into()),
                ..AttemptVerification::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::CodeIncorrect, "as a wrong code answers");
}

#[tokio::test]
async fn usernames_are_refused_even_under_enumeration_protection() {
    let (mut m, _kept) = public();
    m.settings.enumeration_protection = true;
    m.settings.sign_up.require_username = true;
    m.identifier_names(User {
        username: Some(crate::model::Username::parse("alice").unwrap()),
        ..user()
    });
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            CreateSignUp {
                fields: SignUpFields {
                    username: Some("alice".into()),
                    ..SignUpFields::default()
                },
                ..CreateSignUp::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdentifierTaken(IdentifierKind::Username));
}

#[tokio::test]
async fn passwords_are_checked_against_the_rules_and_the_identifiers_before_hashing() {
    for (password, expected) in [
        ("short", Error::PasswordTooShort { min_chars: 8 }),
        ("ada.lovelace", Error::PasswordMatchesIdentifier),
        ("ADA.LOVELACE@example.com", Error::PasswordMatchesIdentifier),
    ] {
        let (mut m, kept) = public();
        nobody_has_it(&mut m);
        m.hasher.checkpoint();
        m.hasher.expect_hash().never();
        let err = m
            .services()
            .sign_ups
            .create_sign_up(
                Some(TOKEN),
                email_and_password("ada.lovelace@example.com", password),
            )
            .await
            .unwrap_err();
        assert_eq!(err, expected, "{password}");
        assert!(kept.lock().unwrap().is_none());
    }
}

#[tokio::test]
async fn a_field_the_instance_does_not_collect_is_refused() {
    let (mut m, _kept) = public();
    m.settings.sign_up.first_name = crate::model::Requirement::Off;
    nobody_has_it(&mut m);
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            CreateSignUp {
                fields: SignUpFields {
                    first_name: Some("Ada".into()),
                    ..SignUpFields::default()
                },
                ..CreateSignUp::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::invalid("first_name", Problem::NotCollected));
}

#[tokio::test]
async fn losing_the_race_for_an_address_at_completion_is_form_identifier_exists_and_the_sign_up_is_left_as_it_was()
 {
    let (mut m, kept) = public();
    m.settings.sign_up.require_email_address = false;
    m.settings.sign_up.require_username = true;
    nobody_has_it(&mut m);
    m.clients
        .expect_insert_user_with_session()
        .times(1)
        .returning(|_, _, _, _, _| Err(StoreError::Duplicate(IdentifierKind::Username)));
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            CreateSignUp {
                fields: SignUpFields {
                    username: Some("ada_l".into()),
                    password: Some("a long secret".into()),
                    ..SignUpFields::default()
                },
                ..CreateSignUp::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdentifierTaken(IdentifierKind::Username));
    let stored = kept.lock().unwrap().clone().unwrap();
    assert_eq!(stored.status_at(NOW), SignUpStatus::MissingRequirements);
    assert_eq!(stored.created_user_id(), None);
}

#[tokio::test]
async fn a_changed_address_loses_its_proof_and_updates_fill_what_is_missing() {
    let (mut m, _kept) = public();
    m.settings.sign_up.require_email_address = false;
    m.settings.sign_up.require_username = true;
    m.settings.sign_up.last_name = crate::model::Requirement::Required;
    nobody_has_it(&mut m);
    m.clients
        .expect_insert_user_with_session()
        .times(1)
        .returning(|user, _, _, _, _| {
            assert_eq!(user.last_name.as_deref(), Some("Lovelace"));
            Ok(())
        });
    let services = m.services();
    let created = services
        .sign_ups
        .create_sign_up(
            Some(TOKEN),
            CreateSignUp {
                fields: SignUpFields {
                    username: Some("ada_l".into()),
                    password: Some("a long secret".into()),
                    ..SignUpFields::default()
                },
                ..CreateSignUp::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        created
            .response
            .sign_up
            .missing_fields(&services.settings().required_fields()),
        [SignUpField::LastName]
    );
    let id = created.response.sign_up.id.as_str().to_owned();
    let updated = services
        .sign_ups
        .update_sign_up(
            Some(TOKEN),
            &id,
            UpdateSignUp {
                fields: SignUpFields {
                    last_name: Some(" Lovelace ".into()),
                    ..SignUpFields::default()
                },
                ..UpdateSignUp::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.response.status, SignUpStatus::Complete);
}

#[tokio::test]
async fn another_clients_sign_up_does_not_exist_for_this_one() {
    let mut m = Mocks::new();
    m.client_found();
    let mut other = SignUp::new(
        SignUpId("sua_x".into()),
        ClientId("client_2".into()),
        NOW,
        Duration::days(1),
    );
    other.set_version(0);
    m.sign_ups
        .expect_get()
        .returning(move |_| Ok(Some(other.clone())));
    let err = m
        .services()
        .sign_ups
        .get_sign_up(Some(TOKEN), "sua_x")
        .await
        .unwrap_err();
    assert_eq!(err, Error::NotFound(Resource::SignUp));
}

#[tokio::test]
async fn creating_a_sign_up_without_a_client_counts_a_new_client() {
    let mut m = Mocks::new();
    m.settings.sign_up.mode = SignUpMode::Public;
    m.clients
        .expect_find_client_by_token_hash()
        .returning(|_| Ok(None));
    m.counters.checkpoint();
    m.counters.expect_hit().times(1).returning(|_, _, _| {
        Ok(WindowCount {
            count: 99,
            resets_in: Duration::seconds(7),
        })
    });
    m.clients.expect_insert_client().never();
    m.sign_ups.expect_insert().never();
    nobody_has_it(&mut m);
    m.hasher
        .expect_hash()
        .returning(|_| Ok("$argon2id$new".into()));
    let err = m
        .services()
        .sign_ups
        .create_sign_up(
            None,
            CreateSignUp {
                client_ip: Some("192.0.2.1".parse().unwrap()),
                ..email_and_password("ada@example.com", "a long secret")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Throttled {
            retry_after_secs: 7
        }
    );
    let _ = (client(), client_without_sessions());
}

mod oauth {
    use super::*;
    use crate::model::{OAuthFlow, VerificationStatus};
    use crate::ports::{ExternalIdentity, MockOAuthProvider};
    use crate::service::OAuthCallback;
    use crate::service::oauth::digest;

    const SECRET: &str = "the-state-secret";
    const BACK: &str = "http://localhost:3000/sso-callback";
    const DONE: &str = "http://localhost:3000/home";

    /// A public instance with the github provider answering as `alice`.
    fn mocks() -> (Mocks, Arc<Mutex<Option<SignUp>>>) {
        let (mut m, kept) = public();
        m.settings.strategies.oauth_providers = vec!["github".into()];
        let mut github = MockOAuthProvider::new();
        github.expect_name().return_const("github".to_owned());
        github.expect_exchange().returning(|_| {
            Ok(ExternalIdentity {
                subject: "1001".into(),
                email: Some("Alice@Example.com".into()),
                email_verified: true,
                first_name: Some("Alice".into()),
                ..Default::default()
            })
        });
        m.oauth.push(github);
        (m, kept)
    }

    /// A stored sign-up of client 1 waiting for github's callback, bound to
    /// the client's cookie when `bound`.
    fn waiting(kept: &Arc<Mutex<Option<SignUp>>>, bound: bool) {
        let mut s = SignUp::new(
            SignUpId("sua_1".into()),
            client().id,
            Timestamp(NOW.0 - 1000),
            Duration::days(1),
        );
        let flow = OAuthFlow {
            state_digest: digest(SECRET),
            pkce_verifier: "v".repeat(64),
            nonce: "n".into(),
            redirect_url: BACK.into(),
            action_complete_redirect_url: Some(DONE.into()),
            expire_at: Timestamp(NOW.0 + 60_000),
            client_binding: bound.then(|| token_hash(TOKEN)),
        };
        s.oauth_started(
            Strategy::OAuth("github".into()),
            flow,
            "https://idp/authorize".into(),
            Timestamp(NOW.0 - 1000),
        )
        .unwrap();
        *kept.lock().unwrap() = Some(s);
    }

    fn callback(cookie: bool) -> OAuthCallback {
        OAuthCallback {
            state: Some(format!("sua_1.{SECRET}")),
            code: Some("the-code".into()),
            cookie_token: cookie.then(|| TOKEN.to_owned()),
            ..OAuthCallback::default()
        }
    }

    fn external_status(kept: &Arc<Mutex<Option<SignUp>>>) -> VerificationStatus {
        kept.lock()
            .unwrap()
            .as_ref()
            .and_then(|s| s.external_verification().map(|v| v.status))
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_provider_account_in_the_browser_that_started_it_completes_the_sign_up() {
        let (mut m, kept) = mocks();
        waiting(&kept, true);
        m.users
            .expect_find_by_external_account()
            .returning(|_, _| Ok(None));
        nobody_has_it(&mut m);
        m.clients
            .expect_get_client()
            .returning(|_| Ok(Some(client())));
        m.clients
            .expect_insert_user_with_session()
            .times(1)
            .returning(|user, session, _, _, _| {
                assert_eq!(user.external_accounts.len(), 1);
                assert_eq!(user.external_accounts[0].subject, "1001");
                assert!(user.email_addresses[0].verified, "the provider verified it");
                assert_eq!(user.email_addresses[0].value, "alice@example.com");
                assert_eq!(user.password_digest, None, "no password asked");
                assert_eq!(session.origin.strategy.as_deref(), Some("oauth_github"));
                Ok(())
            });
        let out = m.services().oauth_callback(callback(true)).await.unwrap();
        assert_eq!(out.location, DONE);
        assert!(out.new_token.is_some(), "the cookie's token rotates");
        let stored = kept.lock().unwrap().clone().unwrap();
        assert_eq!(stored.status_at(NOW), SignUpStatus::Complete);
    }

    #[tokio::test]
    async fn a_provider_account_that_is_a_users_makes_the_sign_up_transferable_and_no_user() {
        let (mut m, kept) = mocks();
        waiting(&kept, true);
        m.users
            .expect_find_by_external_account()
            .returning(|_, _| Ok(Some(user())));
        m.clients.expect_insert_user_with_session().never();
        let out = m.services().oauth_callback(callback(true)).await.unwrap();
        assert_eq!((out.location.as_str(), out.failure), (BACK, None));
        assert_eq!(external_status(&kept), VerificationStatus::Transferable);
        let stored = kept.lock().unwrap().clone().unwrap();
        assert!(stored.transferable_account(NOW).is_some());
        assert_eq!(stored.email_address(), None, "nothing of the account shows");
    }

    #[tokio::test]
    async fn an_unbound_flow_waits_for_its_client_to_claim_it() {
        let (mut m, kept) = mocks();
        waiting(&kept, false);
        m.users.expect_find_by_external_account().never();
        m.clients.expect_insert_user_with_session().never();
        let out = m.services().oauth_callback(callback(false)).await.unwrap();
        assert!(
            out.location
                .starts_with(&format!("{BACK}?rotating_token_nonce=")),
            "{}",
            out.location
        );
        let stored = kept.lock().unwrap().clone().unwrap();
        assert!(stored.awaits_claim());
        assert_eq!(
            stored.external_account(),
            None,
            "not the sign-up's before the claim"
        );
        assert_eq!(external_status(&kept), VerificationStatus::Unverified);
    }

    #[tokio::test]
    async fn a_bound_flow_from_another_browser_fails_and_makes_nothing() {
        let (mut m, kept) = mocks();
        waiting(&kept, true);
        m.clients.expect_insert_user_with_session().never();
        let out = m.services().oauth_callback(callback(false)).await.unwrap();
        assert_eq!(out.failure, Some(Error::OAuthClientMismatch));
        assert_eq!(external_status(&kept), VerificationStatus::Failed);
    }

    #[tokio::test]
    async fn a_spent_state_names_no_flow() {
        let (m, kept) = mocks();
        waiting(&kept, true);
        let services = m.services();
        let wrong = OAuthCallback {
            state: Some("sua_1.another-secret".into()),
            ..callback(true)
        };
        assert_eq!(
            services.oauth_callback(wrong).await.unwrap_err(),
            Error::oauth_state_invalid("state")
        );
    }
}

/// A sign-up's code attempt is one write before its answer: a wrong code's
/// count; a right code's count with the address it proves.
#[tokio::test]
async fn a_code_attempt_is_counted_with_what_it_proves_in_one_write() {
    let (mut m, _) = public();
    m.sign_ups.checkpoint();
    let Remembered {
        kept,
        replaced: log,
        ..
    } = remembering_store_logged(&mut m);
    nobody_has_it(&mut m);
    outbox_counted(&mut m);
    m.clients
        .expect_insert_user_with_session()
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
    let services = m.services();
    let sign_ups = &services.sign_ups;
    let created = sign_up_ada(sign_ups).await;
    let id = created.response.sign_up.id.as_str().to_owned();
    let prepare = PrepareVerification {
        strategy: Some("email_code".into()),
    };
    sign_ups
        .prepare_verification(Some(TOKEN), &id, prepare)
        .await
        .unwrap();
    // The code sent, replaced by one the test knows, as stored.
    {
        let mut slot = kept.lock().unwrap();
        let stored = slot.as_mut().unwrap();
        let sent = SentCode {
            digest: code_digest(&crate::secrets::SecretBox::new(&[7; 32]), &id, "135790"),
            target_id: id.clone(),
            sent_at: NOW,
        };
        stored
            .code_sent(
                Verifiable::EmailAddress,
                sent,
                NOW.plus(Duration(600_000)),
                NOW,
            )
            .unwrap();
    }
    let attempt = |code: &str| AttemptVerification {
        strategy: Some("email_code".into()),
        code: Some(code.into()),
        ..AttemptVerification::default()
    };
    let before = log.lock().unwrap().len();
    let err = sign_ups
        .attempt_verification(Some(TOKEN), &id, attempt("246802"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::CodeIncorrect);
    let written: Vec<SignUp> = log.lock().unwrap()[before..].to_vec();
    assert_eq!(written.len(), 1, "the wrong code's count, alone");
    let email = |s: &SignUp| s.verification(Verifiable::EmailAddress).unwrap().clone();
    assert_eq!(email(&written[0]).attempts, 1);
    assert!(!written[0].is_verified(Verifiable::EmailAddress));

    let before = log.lock().unwrap().len();
    let done = sign_ups
        .attempt_verification(Some(TOKEN), &id, attempt("135790"))
        .await
        .unwrap();
    assert_eq!(done.response.status, SignUpStatus::Complete);
    let written: Vec<SignUp> = log.lock().unwrap()[before..].to_vec();
    // Its first write holds the count and the proof together.
    assert_eq!(email(&written[0]).attempts, 2);
    assert!(written[0].is_verified(Verifiable::EmailAddress));
}

/// A sign-up's step answers with the sign-up as it left it: where it is
/// the client's current sign-up, it is not read back for the client; and a
/// step that changes nothing of the client (a code sent) answers with the
/// client as the step read it, without reading it again.
#[tokio::test]
async fn a_sign_up_step_answers_without_reading_its_sign_up_back() {
    let (mut m, _) = public();
    m.sign_ups.checkpoint();
    let Remembered { kept, reads, .. } = remembering_store_logged(&mut m);
    m.clients.checkpoint();
    m.clients
        .expect_find_client_by_token_hash()
        .returning(|_| Ok(Some(client())));
    m.clients
        .expect_set_current_sign_up()
        .returning(|_, _, _| Ok(()));
    // The client, however read, names the stored sign-up as its current one.
    let current = kept.clone();
    let as_stored = move || {
        let sign_up_id = current.lock().unwrap().as_ref().map(|s| s.id.clone());
        crate::ports::ClientWithSessions {
            client: Client {
                sign_up_id,
                ..client()
            },
            sessions: vec![],
        }
    };
    let read_back = as_stored.clone();
    let read_backs: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
    let counted = read_backs.clone();
    m.clients
        .expect_get_client_with_sessions()
        .returning(move |_, _| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some(read_back()))
        });
    m.clients
        .expect_find_client_with_sessions()
        .times(2)
        .returning(move |_, _| Ok(Some(as_stored())));
    nobody_has_it(&mut m);
    outbox_counted(&mut m);
    let services = m.services();
    let sign_ups = &services.sign_ups;
    let created = sign_up_ada(sign_ups).await;
    let id = created.response.sign_up.id.clone();
    let snapshot = created.client.expect("the client comes with the answer");
    assert_eq!(snapshot.sign_up.map(|v| v.sign_up.id), Some(id.clone()));
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The client changed (its current sign-up): read back once.
    assert_eq!(read_backs.load(std::sync::atomic::Ordering::SeqCst), 1);

    let prepare = PrepareVerification {
        strategy: Some("email_code".into()),
    };
    let prepared = sign_ups
        .prepare_verification(Some(TOKEN), id.as_str(), prepare)
        .await
        .unwrap();
    // The step's own reads (the client with its sessions, the sign-up),
    // and none for the answer.
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(read_backs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let snapshot = prepared.client.expect("the client comes with the answer");
    let shown = snapshot.sign_up.expect("the client's current sign-up");
    assert_eq!(shown.sign_up, *kept.lock().unwrap().as_ref().unwrap());
    assert!(
        shown
            .sign_up
            .verification(Verifiable::EmailAddress)
            .is_some()
    );

    // A change that does not complete it answers the same way.
    let named = UpdateSignUp {
        fields: SignUpFields {
            first_name: Some("Ada".into()),
            ..SignUpFields::default()
        },
        ..UpdateSignUp::default()
    };
    let updated = sign_ups
        .update_sign_up(Some(TOKEN), id.as_str(), named)
        .await
        .unwrap();
    assert_eq!(updated.response.status, SignUpStatus::MissingRequirements);
    assert_eq!(read_backs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let snapshot = updated.client.expect("the client comes with the answer");
    let shown = snapshot.sign_up.expect("the client's current sign-up");
    assert_eq!(shown.sign_up, *kept.lock().unwrap().as_ref().unwrap());
}

/// A store that keeps the clients, the users and the sign-ups: each step
/// goes through [`SignUpSteps`], keeping one sign-up as the real store does
/// (versions compared), and counting its reads and writes. Nothing is read
/// or written through the other ports.
struct OneStore {
    kept: Arc<Mutex<Option<SignUp>>>,
    /// Calls of each of the port's methods, in order.
    calls: Arc<Mutex<Vec<&'static str>>>,
    /// What `complete_sign_up` was given: the sign-up, user and session.
    completed: Arc<Mutex<Option<(SignUp, User, Session)>>>,
    /// When set, what a step reads instead of the sign-up kept: a read
    /// made before another request's write.
    reads_as: Arc<Mutex<Option<SignUp>>>,
}

fn one_store(m: &mut Mocks, complete: Result<(), StoreError>) -> OneStore {
    m.settings.sign_up.mode = SignUpMode::Public;
    m.hasher
        .expect_hash()
        .times(..=1)
        .returning(|_| Ok("$argon2id$new".into()));
    nobody_has_it(m);
    let kept: Arc<Mutex<Option<SignUp>>> = Arc::default();
    let calls: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let completed: Arc<Mutex<Option<(SignUp, User, Session)>>> = Arc::default();
    let mut steps = crate::ports::MockSignUpSteps::new();
    let (on_start, log) = (kept.clone(), calls.clone());
    steps
        .expect_start_sign_up()
        .returning(move |sign_up, client, previous, _| {
            log.lock().unwrap().push("start");
            assert_eq!(previous, None);
            let client = client.expect("a client made for the sign-up");
            assert_eq!(client.sign_up_id.as_ref(), Some(&sign_up.id));
            *on_start.lock().unwrap() = Some(sign_up.clone());
            Ok(())
        });
    let reads_as: Arc<Mutex<Option<SignUp>>> = Arc::default();
    let (on_read, stale, log) = (kept.clone(), reads_as.clone(), calls.clone());
    steps
        .expect_read_sign_up_step()
        .returning(move |hash, id, _| {
            log.lock().unwrap().push("read");
            let read = stale.lock().unwrap().clone();
            let sign_up = read
                .or_else(|| on_read.lock().unwrap().clone())
                .filter(|s| s.id == *id);
            let client = Client {
                token_hash: hash.to_owned(),
                sign_up_id: sign_up.as_ref().map(|s| s.id.clone()),
                ..client()
            };
            Ok(Some(crate::ports::SignUpStep {
                found: ClientWithSessions {
                    client,
                    sessions: vec![],
                },
                sign_up,
            }))
        });
    let (on_complete, log, seen) = (kept.clone(), calls.clone(), completed.clone());
    steps
        .expect_complete_sign_up()
        .returning(move |sign_up, user, session, _, new, _| {
            log.lock().unwrap().push("complete");
            assert_ne!(new, token_hash(TOKEN), "the client's token rotates");
            *seen.lock().unwrap() = Some((sign_up.clone(), user.clone(), session.clone()));
            let mut slot = on_complete.lock().unwrap();
            match slot.as_ref() {
                Some(stored) if stored.version() + 1 != sign_up.version() => {
                    Err(StoreError::Conflict)
                }
                Some(_) => {
                    if complete.is_ok() {
                        *slot = Some(sign_up.clone());
                    }
                    complete.clone()
                }
                None => Err(StoreError::NotFound),
            }
        });
    m.sign_up_steps = Some(steps);
    // The sign-up's own changes (a code sent, an attempt counted) are
    // replaces; nothing else is written or read on its own.
    let (on_replace, log) = (kept.clone(), calls.clone());
    m.sign_ups.expect_replace().returning(move |s, expected| {
        log.lock().unwrap().push("replace");
        let mut slot = on_replace.lock().unwrap();
        match slot.as_ref() {
            Some(stored) if stored.version() == expected => {
                *slot = Some(s.clone());
                Ok(())
            }
            Some(_) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    });
    let (on_get, log) = (kept.clone(), calls.clone());
    m.sign_ups.expect_get().returning(move |_| {
        log.lock().unwrap().push("get");
        Ok(on_get.lock().unwrap().clone())
    });
    m.sign_ups.expect_insert().never();
    m.clients.expect_insert_client().never();
    m.clients.expect_set_current_sign_up().never();
    m.clients.expect_insert_user_with_session().never();
    m.clients.expect_find_client_with_sessions().never();
    m.clients.expect_get_client_with_sessions().never();
    m.clients
        .expect_find_client_by_token_hash()
        .returning(|_| Ok(None));
    OneStore {
        kept,
        calls,
        completed,
        reads_as,
    }
}

/// A test identity's address, whose code is 424242 on a development
/// instance.
const TEST_ADDRESS: &str = "ada+clerk_test@example.com";

fn attempt(code: &str) -> AttemptVerification {
    AttemptVerification {
        strategy: Some("email_code".into()),
        code: Some(code.into()),
        ..AttemptVerification::default()
    }
}

/// Creates a sign-up on a new client and sends its code: its token and id.
async fn created_and_prepared(sign_ups: &SignUps) -> (String, String) {
    let created = sign_ups
        .create_sign_up(None, email_and_password(TEST_ADDRESS, "a long secret"))
        .await
        .unwrap();
    let token = created.new_token.clone().expect("a new client's token");
    let client = created.client.expect("the client it made");
    assert_eq!(
        client.sign_up.map(|s| s.sign_up.id),
        Some(created.response.sign_up.id.clone()),
        "the new client names its sign-up"
    );
    let id = created.response.sign_up.id.as_str().to_owned();
    sign_ups
        .prepare_verification(
            Some(&token),
            &id,
            PrepareVerification {
                strategy: Some("email_code".into()),
            },
        )
        .await
        .unwrap();
    (token, id)
}

#[tokio::test]
async fn where_one_store_keeps_it_all_each_sign_up_step_is_one_read_and_one_write() {
    let mut m = Mocks::new();
    let store = one_store(&mut m, Ok(()));
    let services = m.services();
    let sign_ups = &services.sign_ups;
    let (token, id) = created_and_prepared(sign_ups).await;
    assert_eq!(
        *store.calls.lock().unwrap(),
        ["start", "read", "replace"],
        "created with its client in one write; the code sent is one read and one write"
    );
    store.calls.lock().unwrap().clear();

    // A wrong code: its attempt counted, on its own.
    let err = sign_ups
        .attempt_verification(Some(&token), &id, attempt("000000"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::CodeIncorrect);
    assert_eq!(*store.calls.lock().unwrap(), ["read", "replace"]);
    store.calls.lock().unwrap().clear();

    // The right code: counted, proved and completed in one write.
    let done = sign_ups
        .attempt_verification(Some(&token), &id, attempt("424242"))
        .await
        .unwrap();
    assert_eq!(*store.calls.lock().unwrap(), ["read", "complete"]);
    assert_eq!(done.response.status, SignUpStatus::Complete);
    let (stored, user, session) = store.completed.lock().unwrap().clone().unwrap();
    assert_eq!(store.kept.lock().unwrap().as_ref(), Some(&stored));
    let verification = stored.verification(Verifiable::EmailAddress).unwrap();
    assert_eq!(verification.attempts, 2, "both attempts counted");
    assert!(stored.is_verified(Verifiable::EmailAddress));
    assert_eq!(stored.created_user_id(), Some(&user.id));
    assert_eq!(user.email_addresses[0].value, TEST_ADDRESS);
    assert!(user.email_addresses[0].verified);

    // The answer's client is the one the step read, with the new session
    // and the new token, and no sign-up in progress.
    let new_token = done.new_token.clone().expect("the token rotates");
    let client = done.client.expect("the client");
    assert_eq!(client.client.token_hash, token_hash(&new_token));
    assert!(client.sign_up.is_none(), "no sign-up in progress");
    assert_eq!(
        client
            .sessions
            .iter()
            .map(|s| s.session.id.clone())
            .collect::<Vec<_>>(),
        vec![session.id.clone()]
    );
    assert_eq!(
        client.client.last_active_session_id,
        Some(session.id.clone())
    );
}

#[tokio::test]
async fn a_completion_that_fails_in_one_store_still_stores_the_counted_attempt_and_proof() {
    let mut m = Mocks::new();
    let store = one_store(
        &mut m,
        Err(StoreError::Duplicate(IdentifierKind::EmailAddress)),
    );
    let services = m.services();
    let sign_ups = &services.sign_ups;
    let (token, id) = created_and_prepared(sign_ups).await;
    store.calls.lock().unwrap().clear();
    let err = sign_ups
        .attempt_verification(Some(&token), &id, attempt("424242"))
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdentifierTaken(IdentifierKind::EmailAddress));
    assert_eq!(
        *store.calls.lock().unwrap(),
        ["read", "complete", "get", "replace"],
        "the completion stored nothing; its attempt and proof are stored after it"
    );
    let kept = store.kept.lock().unwrap().clone().unwrap();
    assert_eq!(kept.status_at(NOW), SignUpStatus::MissingRequirements);
    assert!(kept.is_verified(Verifiable::EmailAddress));
    assert_eq!(
        kept.verification(Verifiable::EmailAddress)
            .unwrap()
            .attempts,
        1
    );
}

#[tokio::test]
async fn a_completion_another_request_made_first_is_answered_with_it() {
    let mut m = Mocks::new();
    let store = one_store(&mut m, Ok(()));
    // The client is read again for the answer, once.
    m.clients.checkpoint();
    m.clients
        .expect_find_client_by_token_hash()
        .returning(|_| Ok(None));
    m.clients
        .expect_get_client_with_sessions()
        .times(1)
        .returning(|_, _| Ok(Some(client_without_sessions())));
    m.clients.expect_insert_user_with_session().never();
    let services = m.services();
    let sign_ups = &services.sign_ups;
    let (token, id) = created_and_prepared(sign_ups).await;
    // Another request completes it after this one's read, before its write.
    let prepared = store.kept.lock().unwrap().clone().unwrap();
    let mut racing = prepared.clone();
    racing.code_passed(Verifiable::EmailAddress, NOW).unwrap();
    racing
        .complete(
            UserId("user_other".into()),
            SessionId("sess_other".into()),
            NOW,
        )
        .unwrap();
    racing.next_version();
    *store.reads_as.lock().unwrap() = Some(prepared);
    *store.kept.lock().unwrap() = Some(racing);
    store.calls.lock().unwrap().clear();

    let done = sign_ups
        .attempt_verification(Some(&token), &id, attempt("424242"))
        .await
        .unwrap();
    assert_eq!(*store.calls.lock().unwrap(), ["read", "complete", "get"]);
    assert_eq!(done.response.status, SignUpStatus::Complete);
    assert_eq!(
        done.response.sign_up.created_user_id(),
        Some(&UserId("user_other".into()))
    );
    assert!(done.new_token.is_none(), "this request made no session");
}

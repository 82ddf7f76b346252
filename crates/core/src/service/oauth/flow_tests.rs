#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::model::{Client, ExternalAccount};
use crate::model::{Duration, SignInStatus, Standing, UserId};
use crate::ports::ExternalIdentity;
use crate::ports::MockOAuthProvider;
use crate::service::CreateSignIn;
use crate::service::test_support::{Mocks, NOW, TOKEN, client, sign_in_started, user};

const SECRET: &str = "the-state-secret";
const BACK: &str = "http://localhost:3000/sso-callback";
const DONE: &str = "http://localhost:3000/home";

/// A provider named `github` whose exchange answers `identity`.
fn github(identity: Result<ExternalIdentity, OAuthError>) -> MockOAuthProvider {
    let mut p = MockOAuthProvider::new();
    p.expect_name().return_const("github".to_owned());
    p.expect_exchange().returning(move |_| identity.clone());
    p
}

fn identity(email_verified: bool) -> ExternalIdentity {
    ExternalIdentity {
        subject: "1001".into(),
        email: Some("alice@example.com".into()),
        email_verified,
        first_name: Some("Alice".into()),
        ..Default::default()
    }
}

/// Mocks with the github provider turned on.
fn mocks(identity: Result<ExternalIdentity, OAuthError>) -> Mocks {
    let mut m = Mocks::new();
    m.settings.strategies.oauth_providers = vec!["github".into()];
    m.oauth.push(github(identity));
    m
}

/// A sign-in on client 1 waiting for github's callback with [`SECRET`],
/// identified as `identified` if given.
fn waiting(identified: Option<&User>, expire_at: Timestamp) -> SignIn {
    let mut s = sign_in_started(Timestamp(NOW.0 - 1000));
    if let Some(u) = identified {
        s.identify("alice@example.com".into(), u, Timestamp(NOW.0 - 1000))
            .unwrap();
    }
    let flow = OAuthFlow {
        state_digest: digest(SECRET),
        pkce_verifier: "v".repeat(64),
        nonce: "n".into(),
        redirect_url: BACK.into(),
        action_complete_redirect_url: Some(DONE.into()),
        expire_at,
        client_binding: None,
    };
    s.oauth_started(
        Strategy::OAuth("github".into()),
        flow,
        "https://idp/authorize".into(),
        Timestamp(NOW.0 - 1000),
    )
    .unwrap();
    s
}

fn callback(secret: &str) -> OAuthCallback {
    OAuthCallback {
        state: Some(format!("sia_1.{secret}")),
        code: Some("the-code".into()),
        error: None,
        cookie_token: None,
        origin: SessionOrigin::default(),
    }
}

/// [`waiting`] for five more minutes, not identified yet.
fn fresh() -> SignIn {
    waiting(None, NOW.plus(Duration::minutes(5)))
}

/// The provider's account is linked to no user.
fn unlinked(m: &mut Mocks) {
    m.users
        .expect_find_by_external_account()
        .returning(|_, _| Ok(None));
}

/// Lands `params` at the callback over the mocks.
async fn land(m: Mocks, params: OAuthCallback) -> Result<CallbackRedirect, Error> {
    m.services().oauth.oauth_callback(params).await
}

/// Starts a github sign-in that comes back to `redirect_url`.
fn start(redirect_url: &str) -> CreateSignIn {
    CreateSignIn {
        strategy: Some("oauth_github".into()),
        redirect_url: Some(redirect_url.into()),
        ..Default::default()
    }
}

/// Every stored sign-in has its state spent; each is either the flow just
/// taken (still unverified) or the outcome, which must satisfy `check` (the
/// outcome always changes the verification's status).
fn expect_outcome(m: &mut Mocks, check: impl Fn(&SignIn) -> bool + Send + 'static) {
    m.sign_ins
        .expect_replace()
        .withf(move |s, _| {
            let taken = verification_is(s, VerificationStatus::Unverified, None);
            s.oauth_flow().is_none() && (taken || check(s))
        })
        // The taken flow, then the outcome.
        .times(2)
        .returning(|_, _| Ok(()));
}

/// The provider's account is linked to no one: the verification waits to be
/// transferred to a sign-up.
fn transferable(s: &SignIn) -> bool {
    verification_is(
        s,
        VerificationStatus::Transferable,
        Some(Error::ExternalAccountNotFound),
    )
}

fn verification_is(s: &SignIn, status: VerificationStatus, error: Option<Error>) -> bool {
    let v = s.first_factor_verification().unwrap();
    v.status == status && v.error == error
}

#[tokio::test]
async fn starting_binds_a_single_use_state_pkce_and_nonce_to_the_sign_in() {
    let mut m = Mocks::new();
    m.settings.strategies.oauth_providers = vec!["github".into()];
    let mut p = MockOAuthProvider::new();
    p.expect_name().return_const("github".to_owned());
    p.expect_authorize_url()
        .withf(|r| {
            let (id, secret) = r.state.split_once('.').unwrap();
            id.starts_with("sia_")
                && secret.len() >= 40
                && (43..=128).contains(&r.pkce_verifier.len())
                && r.nonce.len() >= 16
                && r.redirect_uri == "https://clerk.latch.localhost/v1/oauth_callback"
        })
        .times(1)
        .returning(|r| Ok(format!("https://idp.example/authorize?state={}", r.state)));
    m.oauth.push(p);
    m.clients
        .expect_insert_client()
        .times(1)
        .returning(|_| Ok(()));
    m.clients
        .expect_set_current_sign_in()
        .returning(|_, _, _| Ok(()));
    m.clients
        .expect_get_client_with_sessions()
        .returning(|_, _| Ok(None));
    m.sign_ins
        .expect_insert()
        .withf(|s| {
            let v = s.first_factor_verification().unwrap();
            let flow = s.oauth_flow().unwrap();
            v.status == VerificationStatus::Unverified
                && v.external_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://idp.example/authorize?state=sia_"))
                && flow.redirect_url == BACK
                && flow.expire_at == NOW.plus(Duration::minutes(10))
                && s.user_id().is_none()
        })
        .times(1)
        .returning(|_| Ok(()));
    let out = m
        .services()
        .sign_ins
        .create_sign_in(None, start(BACK))
        .await
        .unwrap();
    assert_eq!(out.response.status, SignInStatus::NeedsIdentifier);
}

#[tokio::test]
async fn redirect_urls_off_the_allow_list_are_refused_before_any_write() {
    for (url, done) in [
        ("https://evil.example/cb", None),
        ("javascript:alert(1)", None),
        (BACK, Some("https://evil.example/home")),
    ] {
        let mut m = mocks(Ok(identity(true)));
        m.nothing_created();
        let err = m
            .services()
            .sign_ins
            .create_sign_in(
                None,
                CreateSignIn {
                    strategy: Some("oauth_github".into()),
                    redirect_url: Some(url.into()),
                    action_complete_redirect_url: done.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParam { .. } | Error::StepNotAllowed { .. }
            ),
            "{url}"
        );
    }
    // Production allows only the configured origins.
    let mut m = mocks(Ok(identity(true)));
    m.settings.environment = Environment::Production;
    m.settings.redirect_origins = vec!["https://app.example.com".into()];
    m.clients.expect_insert_client().never();
    let err = m
        .services()
        .sign_ins
        .create_sign_in(None, start(BACK))
        .await
        .unwrap_err();
    assert_eq!(err.param(), Some("redirect_url"));
}

#[tokio::test]
async fn a_state_that_is_unknown_missing_or_of_another_sign_in_is_refused() {
    for params in [
        callback("another-secret"),
        OAuthCallback {
            state: Some("sia_1".into()),
            ..callback(SECRET)
        },
        OAuthCallback {
            state: None,
            ..callback(SECRET)
        },
    ] {
        let mut m = mocks(Ok(identity(true)));
        m.sign_in_stored(fresh());
        m.sign_ins.expect_replace().never();
        let err = land(m, params).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::OAuthStateInvalid { .. } | Error::MissingParam(_)
            ),
            "{err:?}"
        );
        assert_eq!(err.param(), Some("state"));
    }
}

#[tokio::test]
async fn a_replayed_state_loses_the_compare_and_set() {
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(fresh());
    // Another callback used the state first: the stored version moved on.
    m.sign_ins
        .expect_replace()
        .returning(|_, _| Err(crate::error::StoreError::Conflict));
    m.users.expect_find_by_external_account().never();
    let err = land(m, callback(SECRET)).await.unwrap_err();
    assert!(matches!(err, Error::OAuthStateInvalid { .. }));
}

#[tokio::test]
async fn an_expired_flow_ends_and_sends_the_browser_back() {
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(waiting(None, Timestamp(NOW.0 - 1)));
    m.sign_ins
        .expect_replace()
        .withf(|s, _| {
            s.oauth_flow().is_none() && verification_is(s, VerificationStatus::Expired, None)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    m.users.expect_find_by_external_account().never();
    let out = land(m, callback(SECRET)).await.unwrap();
    assert_eq!(out.location, BACK);
}

#[tokio::test]
async fn provider_errors_fail_the_verification() {
    // The user said no at the provider.
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(fresh());
    expect_outcome(&mut m, |s| {
        verification_is(
            s,
            VerificationStatus::Failed,
            Some(Error::OAuthAccessDenied),
        )
    });
    let denied = OAuthCallback {
        code: None,
        error: Some("access_denied".into()),
        ..callback(SECRET)
    };
    assert_eq!(
        m.services()
            .oauth
            .oauth_callback(denied)
            .await
            .unwrap()
            .location,
        BACK
    );

    // The code or the id_token did not pass; the provider is down.
    for (err, code) in [
        (
            OAuthError::Rejected("bad code".into()),
            Error::OAuthAnswerRefused,
        ),
        (
            OAuthError::Unavailable("timeout".into()),
            Error::OAuthProviderUnavailable,
        ),
    ] {
        let mut m = mocks(Err(err));
        m.sign_in_stored(fresh());
        expect_outcome(&mut m, move |s| {
            verification_is(s, VerificationStatus::Failed, Some(code.clone()))
        });
        m.users.expect_find_by_external_account().never();
        let out = land(m, callback(SECRET)).await.unwrap();
        assert_eq!(out.location, BACK);
    }
}

#[tokio::test]
async fn an_unverified_email_links_nothing_and_leaves_the_verification_transferable() {
    let mut m = mocks(Ok(identity(false)));
    m.sign_in_stored(waiting_in_browser());
    unlinked(&mut m);
    m.users.expect_find_by_identifier().never();
    m.users.expect_update().never();
    expect_outcome(&mut m, |s| transferable(s) && s.user_id().is_none());
    let out = land(m, in_browser()).await.unwrap();
    assert_eq!(out.location, BACK);
}

#[tokio::test]
async fn an_account_no_user_has_waits_for_the_claim_of_an_unbound_flow_before_it_is_transferable() {
    let mut m = mocks(Ok(identity(false)));
    m.sign_in_stored(fresh());
    unlinked(&mut m);
    // Stored with its claim waiting, and not transferable yet: a stranger
    // who sent someone this flow's link must not get their provider account.
    expect_outcome(&mut m, |s| {
        !transferable(s) && s.transferable_account(NOW).is_none() && s.user_id().is_none()
    });
    let out = land(m, callback(SECRET)).await.unwrap();
    assert!(
        out.location
            .starts_with(&format!("{BACK}?rotating_token_nonce=")),
        "{}",
        out.location
    );
    assert_eq!(out.failure, None);
}

#[tokio::test]
async fn an_account_with_the_email_unverified_does_not_capture_the_provider_account() {
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(waiting_in_browser());
    unlinked(&mut m);
    m.users.expect_find_by_identifier().returning(|_| {
        let mut squatter = user();
        for email in &mut squatter.email_addresses {
            email.verified = false;
        }
        Ok(Some(squatter))
    });
    m.users.expect_update().never();
    expect_outcome(&mut m, |s| transferable(s) && s.user_id().is_none());
    let out = land(m, in_browser()).await.unwrap();
    assert_eq!(out.location, BACK);
}

#[tokio::test]
async fn a_verified_email_links_its_one_user_and_the_sign_in_completes() {
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(waiting_in_browser());
    unlinked(&mut m);
    m.users
        .expect_find_by_identifier()
        .returning(|_| Ok(Some(user())));
    m.users
        .expect_update()
        .withf(|u, _, _| {
            u.external_accounts.len() == 1
                && u.external_accounts[0].provider == "github"
                && u.external_accounts[0].subject == "1001"
                && u.external_accounts[0].id.starts_with("eac_")
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    m.client_reads_back();
    // The session joins the client, whose token rotates.
    m.clients
        .expect_insert_session()
        .withf(|s, expected, new, _, _| {
            s.user_id == UserId("user_1".into())
                && *expected == client().token_hash
                && *new != client().token_hash
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.users.expect_get().returning(|_| Ok(Some(user())));
    expect_outcome(&mut m, |s| {
        s.status_at(NOW) == SignInStatus::Complete && s.created_session_id().is_some()
    });
    let out = land(m, in_browser()).await.unwrap();
    assert_eq!(out.location, DONE, "complete: the action-complete URL");
    assert!(out.new_token.is_some(), "the browser gets its new token");
}

#[tokio::test]
async fn an_identified_sign_in_fails_for_another_users_account() {
    let other = User {
        id: UserId("user_2".into()),
        ..user()
    };
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(waiting(Some(&other), NOW.plus(Duration::minutes(5))));
    unlinked(&mut m);
    m.users
        .expect_find_by_identifier()
        .returning(|_| Ok(Some(user())));
    m.users.expect_update().never();
    m.clients.expect_insert_session().never();
    expect_outcome(&mut m, |s| {
        verification_is(
            s,
            VerificationStatus::Failed,
            Some(Error::ExternalAccountMismatch),
        ) && s.user_id() == Some(&UserId("user_2".into()))
    });
    let out = land(m, callback(SECRET)).await.unwrap();
    assert_eq!(out.location, BACK);
}

#[tokio::test]
async fn a_user_with_two_factor_on_gets_no_session_yet() {
    let linked = User {
        external_accounts: vec![ExternalAccount {
            id: "eac_1".into(),
            provider: "github".into(),
            subject: "1001".into(),
            email: Some("alice@example.com".into()),
            email_verified: true,
            first_name: Some("Alice".into()),
            last_name: None,
            username: None,
            avatar_url: None,
            approved_scopes: String::new(),
            tokens: None,
            created_at: NOW,
            updated_at: NOW,
        }],
        backup_codes: vec!["digest".into()],
        ..user()
    };
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(waiting_in_browser());
    m.users
        .expect_find_by_external_account()
        .returning(move |_, _| Ok(Some(linked.clone())));
    // Nothing changed at the provider: the account is not rewritten.
    m.users.expect_update().never();
    m.client_reads_back();
    m.clients.expect_insert_session().never();
    // The factor passed: the browser's client token rotates all the same.
    m.clients
        .expect_rotate_token()
        .withf(|id, expected, new, _| {
            *id == client().id && *expected == client().token_hash && new != expected
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    m.users.expect_get().returning(|_| Ok(Some(user())));
    expect_outcome(&mut m, |s| {
        s.status_at(NOW) == SignInStatus::NeedsSecondFactor
            && s.created_session_id().is_none()
            && verification_is(s, VerificationStatus::Verified, None)
    });
    let out = land(m, in_browser()).await.unwrap();
    assert_eq!(out.location, BACK, "not complete: back to the redirect URL");
    assert!(
        out.new_token.is_some(),
        "the new token goes back to the browser"
    );
}

/// The callback as client 1's browser makes it, with its cookie.
fn in_browser() -> OAuthCallback {
    OAuthCallback {
        cookie_token: Some(TOKEN.to_owned()),
        ..callback(SECRET)
    }
}

/// [`waiting`], started by a cookie browser holding client 1's token.
fn waiting_in_browser() -> SignIn {
    let mut s = waiting(None, NOW.plus(Duration::minutes(5)));
    let mut flow = s.oauth_flow().unwrap().clone();
    flow.client_binding = Some(crate::service::token_hash(TOKEN));
    s.oauth_started(
        Strategy::OAuth("github".into()),
        flow,
        "https://idp/authorize".into(),
        NOW,
    )
    .unwrap();
    s
}

#[tokio::test]
async fn a_flow_a_browser_started_finishes_only_in_that_browser() {
    for cookie in [None, Some("another-browsers-token")] {
        let mut m = Mocks::new();
        m.settings.strategies.oauth_providers = vec!["github".into()];
        let mut p = MockOAuthProvider::new();
        p.expect_name().return_const("github".to_owned());
        // The attacker's link is spent without asking the provider anything.
        p.expect_exchange().never();
        m.oauth.push(p);
        m.sign_in_stored(waiting_in_browser());
        m.clients.expect_insert_session().never();
        expect_outcome(&mut m, |s| {
            verification_is(
                s,
                VerificationStatus::Failed,
                Some(Error::OAuthClientMismatch),
            )
        });
        let params = OAuthCallback {
            cookie_token: cookie.map(str::to_owned),
            ..callback(SECRET)
        };
        let out = land(m, params).await.unwrap();
        assert_eq!(out.location, BACK);
    }
    // The browser that started it goes on to the provider's answer.
    let mut m = mocks(Ok(identity(false)));
    m.sign_in_stored(waiting_in_browser());
    unlinked(&mut m);
    expect_outcome(&mut m, transferable);
    let params = OAuthCallback {
        cookie_token: Some(TOKEN.to_owned()),
        ..callback(SECRET)
    };
    m.services().oauth.oauth_callback(params).await.unwrap();
}

#[tokio::test]
async fn an_unbound_flow_waits_for_its_client_to_claim_it_with_the_nonce() {
    let mut m = mocks(Ok(identity(true)));
    m.sign_in_stored(fresh());
    m.users
        .expect_find_by_external_account()
        .returning(|_, _| Ok(Some(user())));
    m.users.expect_update().returning(|_, _, _| Ok(()));
    // Nothing is signed in at the callback.
    m.clients.expect_insert_session().never();
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::<SignIn>::new()));
    let sink = stored.clone();
    m.sign_ins.expect_replace().returning(move |s, _| {
        sink.lock().unwrap().push(s.clone());
        Ok(())
    });
    let out = land(m, callback(SECRET)).await.unwrap();
    let (back, nonce) = out.location.split_once("?rotating_token_nonce=").unwrap();
    assert_eq!(back, BACK);
    assert!(nonce.len() >= 40);
    assert!(out.new_token.is_none());
    let waiting_claim = stored.lock().unwrap().last().unwrap().clone();
    assert!(waiting_claim.created_session_id().is_none());
    assert_eq!(
        waiting_claim.first_factor_verification().unwrap().status,
        VerificationStatus::Unverified
    );

    // Another nonce claims nothing; the right one, from the client, completes.
    let claim = |nonce: String| {
        let mut m = Mocks::new();
        let sign_in = waiting_claim.clone();
        m.sign_ins
            .expect_get()
            .returning(move |_| Ok(Some(sign_in.clone())));
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                sign_in_id: Some(SignInId("sia_1".into())),
                ..client()
            }))
        });
        (m, nonce)
    };
    let (mut m, wrong) = claim("not-the-nonce".into());
    m.sign_ins.expect_replace().never();
    let err = m
        .services()
        .oauth
        .claim_oauth(Some(TOKEN), &wrong, false, &SessionOrigin::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OAuthStateInvalid { .. }));
    assert_eq!(err.param(), Some("rotating_token_nonce"));

    let (mut m, right) = claim(nonce.to_owned());
    m.users.expect_get().returning(|_| Ok(Some(user())));
    m.client_reads_back();
    m.clients
        .expect_insert_session()
        .withf(|_, expected, new, _, _| {
            *expected == client().token_hash && *new != client().token_hash
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(Standing::default()));
    m.replaces_accepted();
    let token = m
        .services()
        .oauth
        .claim_oauth(Some(TOKEN), &right, false, &SessionOrigin::default())
        .await
        .unwrap();
    assert!(token.is_some(), "the claiming client's token rotates");
}

//! The [`OAuthProvider`] contract, run against a provider wired to a real
//! identity provider that keeps RFC 6749's rules for codes.

use std::sync::Arc;

use latch_core::ports::{AuthorizationRequest, CodeExchange, OAuthError, OAuthProvider};

use super::browser::sign_in;
use super::server::s256;

/// What the contract needs to know about the provider under test.
#[derive(Debug, Clone)]
pub struct OAuthContract {
    /// A callback URL the identity provider has registered for the client.
    pub redirect_uri: String,
    /// A second registered callback URL, to redeem a code for the wrong one.
    pub other_redirect_uri: String,
    /// The login [`sign_in`] uses at the identity provider's pages (the
    /// GitHub-style provider approves for its logged-in user whatever this is).
    pub login: String,
    /// OpenID Connect providers must put the nonce in the authorize URL.
    pub openid_connect: bool,
}

const VERIFIER: &str = "contract-verifier-0123456789-abcdefghij-ABCDEFGHIJ";
const OTHER_VERIFIER: &str = "contract-verifier-9876543210-jihgfedcba-JIHGFEDCBA";

/// Runs the whole [`OAuthProvider`] contract against `provider`.
///
/// Covers: the authorize URL carries `response_type=code`, the redirect URI,
/// `state`, the S256 challenge of the verifier (never the verifier) and, for
/// OpenID Connect, the nonce; a code from a real sign-in is exchanged for an
/// identity with a subject, and a verified email is never reported without
/// an email; a code redeemed twice, with another verifier, for another
/// redirect URI, or made up, is `Rejected`.
pub async fn oauth_provider_contract(provider: Arc<dyn OAuthProvider>, contract: OAuthContract) {
    let request = |state: &str, nonce: &str| AuthorizationRequest {
        state: state.to_owned(),
        pkce_verifier: VERIFIER.to_owned(),
        nonce: nonce.to_owned(),
        redirect_uri: contract.redirect_uri.clone(),
    };
    let exchange = |code: &str, nonce: &str| CodeExchange {
        code: code.to_owned(),
        pkce_verifier: VERIFIER.to_owned(),
        nonce: nonce.to_owned(),
        redirect_uri: contract.redirect_uri.clone(),
    };
    let code_for = async |state: &str, nonce: &str| {
        let url = provider
            .authorize_url(&request(state, nonce))
            .await
            .unwrap_or_else(|e| panic!("authorize_url failed: {e}"));
        let callback = sign_in(&url, &contract.login)
            .await
            .unwrap_or_else(|stopped| panic!("the sign-in stopped at {stopped:?}"));
        assert_eq!(callback.state().as_deref(), Some(state), "state comes back");
        callback
            .code()
            .unwrap_or_else(|| panic!("no code in the callback {}", callback.url))
    };

    let url = provider
        .authorize_url(&request("contract-state-1", "contract-nonce-1"))
        .await
        .unwrap();
    let parsed = reqwest::Url::parse(&url).expect("the authorize URL is a URL");
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("redirect_uri"), Some(contract.redirect_uri.clone()));
    assert_eq!(param("state").as_deref(), Some("contract-state-1"));
    assert_eq!(param("code_challenge"), Some(s256(VERIFIER)));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("client_id").is_some(), "the URL names the client");
    assert!(!url.contains(VERIFIER), "the verifier never leaves Latch");
    if contract.openid_connect {
        assert_eq!(param("nonce").as_deref(), Some("contract-nonce-1"));
    }

    let code = code_for("contract-state-2", "contract-nonce-2").await;
    let identity = provider
        .exchange(&exchange(&code, "contract-nonce-2"))
        .await
        .unwrap_or_else(|e| panic!("a fresh code is exchanged: {e}"));
    assert!(!identity.subject.is_empty(), "an identity has a subject");
    assert!(
        identity.email.is_some() || !identity.email_verified,
        "no verified email without an email"
    );

    let replay = provider
        .exchange(&exchange(&code, "contract-nonce-2"))
        .await;
    assert!(
        matches!(replay, Err(OAuthError::Rejected(_))),
        "a code is single use: {replay:?}"
    );

    let code = code_for("contract-state-3", "contract-nonce-3").await;
    let wrong_verifier = CodeExchange {
        pkce_verifier: OTHER_VERIFIER.to_owned(),
        ..exchange(&code, "contract-nonce-3")
    };
    let result = provider.exchange(&wrong_verifier).await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(_))),
        "PKCE binds the code to the verifier: {result:?}"
    );

    let code = code_for("contract-state-4", "contract-nonce-4").await;
    let elsewhere = CodeExchange {
        redirect_uri: contract.other_redirect_uri.clone(),
        ..exchange(&code, "contract-nonce-4")
    };
    let result = provider.exchange(&elsewhere).await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(_))),
        "the code is bound to its redirect URI: {result:?}"
    );

    let result = provider
        .exchange(&exchange("made-up-code", "contract-nonce-5"))
        .await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(_))),
        "a made-up code: {result:?}"
    );
}

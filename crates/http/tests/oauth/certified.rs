//! The OpenID Connect provider against `oidc-provider` (OpenID Certified),
//! a provider nobody here wrote: its own login and consent pages, its
//! PKCE, token endpoint, keys and userinfo.

use std::sync::Arc;

use latch_core::ports::{CodeExchange, ExternalIdentity, OAuthError, OAuthProvider};
use latch_http::{ClientSecret, ProviderConfig, ProviderKind, oauth};
use latch_testkit::oauth::{NodeOidcOptions, NodeOidcProvider, OidcAccount, sign_in};

use crate::{REDIRECT_URI, TIMEOUT, authorization, code_exchange};

const NONCE: &str = "nonce-Jq3vT0aB5";

fn accounts() -> Vec<OidcAccount> {
    let mut bob = OidcAccount::new("bob", "bob@example.com");
    bob.email_verified = false;
    bob.given_name = None;
    vec![OidcAccount::new("ann", "ann@example.com"), bob]
}

fn start(options: NodeOidcOptions) -> (NodeOidcProvider, Arc<dyn OAuthProvider>) {
    let node = NodeOidcProvider::start(options);
    let mut config = ProviderConfig::new("custom_node", ProviderKind::Oidc, node.client_id());
    config.client_secret = ClientSecret::Shared(node.client_secret().into());
    config.issuer_url = Some(node.issuer().into());
    config.timeout = TIMEOUT;
    let provider = oauth::provider(&config).unwrap();
    (node, provider)
}

fn options() -> NodeOidcOptions {
    NodeOidcOptions::new(REDIRECT_URI, accounts())
}

/// Logs in as `login` through the provider's pages; the callback's code.
async fn code_for(provider: &dyn OAuthProvider, login: &str) -> String {
    let url = provider
        .authorize_url(&authorization("state-7", NONCE))
        .await
        .unwrap();
    let callback = sign_in(&url, login).await.unwrap();
    assert_eq!(callback.state().as_deref(), Some("state-7"));
    assert_eq!(callback.error(), None, "{callback:?}");
    callback.code().expect("a code")
}

async fn signed_in(options: NodeOidcOptions, login: &str) -> ExternalIdentity {
    let (_node, provider) = start(options);
    let code = code_for(provider.as_ref(), login).await;
    let mut identity = provider
        .exchange(&code_exchange(&code, NONCE))
        .await
        .unwrap();
    let tokens = identity.tokens.take().expect("the token endpoint's tokens");
    assert!(!tokens.access_token.is_empty());
    identity
}

fn ann() -> ExternalIdentity {
    ExternalIdentity {
        tokens: None,
        subject: "ann".into(),
        email: Some("ann@example.com".into()),
        email_verified: true,
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        username: Some("ann".into()),
        avatar_url: Some("https://pictures.example.com/ann.png".into()),
        approved_scopes: vec!["openid".into(), "email".into(), "profile".into()],
    }
}

#[tokio::test]
async fn a_user_signs_in_and_the_email_comes_from_userinfo() {
    // By default the provider keeps scope claims out of the id_token.
    assert_eq!(signed_in(options(), "ann").await, ann());
}

#[tokio::test]
async fn claims_in_an_es256_id_token_with_client_secret_post() {
    let mut options = options();
    options.id_token_alg = "ES256";
    options.token_endpoint_auth_method = "client_secret_post";
    options.claims_in_id_token = true;
    assert_eq!(signed_in(options, "ann").await, ann());
}

#[tokio::test]
async fn ps256_and_eddsa_id_tokens_are_accepted() {
    for alg in ["PS256", "EdDSA"] {
        let mut options = options();
        options.id_token_alg = alg;
        options.claims_in_id_token = true;
        assert_eq!(signed_in(options, "ann").await, ann(), "{alg}");
    }
}

#[tokio::test]
async fn an_unverified_email_is_reported_unverified() {
    let bob = signed_in(options(), "bob").await;
    assert_eq!(bob.subject, "bob");
    assert_eq!(bob.email.as_deref(), Some("bob@example.com"));
    assert!(!bob.email_verified);
    assert_eq!(bob.first_name, None);
}

#[tokio::test]
async fn a_code_is_redeemed_once() {
    let (_node, provider) = start(options());
    let code = code_for(provider.as_ref(), "ann").await;
    provider
        .exchange(&code_exchange(&code, NONCE))
        .await
        .unwrap();
    let replay = provider.exchange(&code_exchange(&code, NONCE)).await;
    assert!(matches!(replay, Err(OAuthError::Rejected(_))), "{replay:?}");
}

#[tokio::test]
async fn another_pkce_verifier_is_refused() {
    let (_node, provider) = start(options());
    let code = code_for(provider.as_ref(), "ann").await;
    let wrong = CodeExchange {
        pkce_verifier: "a-different-verifier-0123456789-0123456789-xyz".into(),
        ..code_exchange(&code, NONCE)
    };
    let result = provider.exchange(&wrong).await;
    assert!(matches!(result, Err(OAuthError::Rejected(_))), "{result:?}");
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_refused() {
    let (_node, provider) = start(options());
    let code = code_for(provider.as_ref(), "ann").await;
    let result = provider
        .exchange(&code_exchange(&code, "some-other-nonce"))
        .await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(ref why)) if why.contains("nonce")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let node = NodeOidcProvider::start(options());
    let mut config = ProviderConfig::new("custom_node", ProviderKind::Oidc, node.client_id());
    config.client_secret = ClientSecret::Shared("not-the-secret".into());
    config.issuer_url = Some(node.issuer().into());
    config.timeout = TIMEOUT;
    let provider = oauth::provider(&config).unwrap();
    let code = code_for(provider.as_ref(), "ann").await;
    let result = provider.exchange(&code_exchange(&code, NONCE)).await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(ref why)) if why.contains("invalid_client")),
        "{result:?}"
    );
}

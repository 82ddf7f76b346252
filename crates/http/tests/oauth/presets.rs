//! The Facebook, X and Discord presets against the user APIs the GitHub-style
//! provider also answers.

use std::sync::Arc;

use latch_core::ports::{ExternalIdentity, OAuthProvider};
use latch_http::{ClientSecret, ProviderConfig, ProviderKind, oauth};
use latch_testkit::oauth::{GitHubLikeProvider, OAuthUser, sign_in};

use crate::{REDIRECT_URI, TIMEOUT, authorization, code_exchange, param};

fn start() -> GitHubLikeProvider {
    let provider = GitHubLikeProvider::start([
        OAuthUser::new(2001, "ann")
            .with_name("Ann Lee")
            .with_email("ann@example.com", true),
        OAuthUser::new(2002, "bob")
            .with_name("Bob")
            .with_email("bob@example.com", false),
    ]);
    provider.allow_redirect_uri(REDIRECT_URI);
    provider
}

fn adapter(kind: ProviderKind, at: &GitHubLikeProvider) -> Arc<dyn OAuthProvider> {
    let mut config = ProviderConfig::new(kind.as_str(), kind, at.client_id());
    config.client_secret = ClientSecret::Shared(at.client_secret().into());
    config.authorize_url = Some(at.authorize_url());
    config.token_url = Some(at.token_url());
    config.api_base_url = Some(at.api_base_url());
    config.timeout = TIMEOUT;
    oauth::provider(&config).unwrap()
}

async fn sign_in_as(kind: ProviderKind, login: &str) -> (String, ExternalIdentity) {
    let at = start();
    at.log_in_as(login);
    let provider = adapter(kind, &at);
    let url = provider
        .authorize_url(&authorization("state-1", ""))
        .await
        .unwrap();
    let scope = param(&url, "scope").unwrap();
    let callback = sign_in(&url, login).await.unwrap();
    assert_eq!(callback.state().as_deref(), Some("state-1"));
    let identity = provider
        .exchange(&code_exchange(&callback.code().unwrap(), ""))
        .await
        .unwrap();
    (scope, identity)
}

#[tokio::test]
async fn facebook_emails_are_confirmed_ones() {
    let (scope, ann) = sign_in_as(ProviderKind::Facebook, "ann").await;
    assert_eq!(scope, "email public_profile");
    assert_eq!(ann.subject, "2001");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert!(ann.email_verified);
    assert_eq!(ann.first_name.as_deref(), Some("Ann"));
    assert_eq!(ann.last_name.as_deref(), Some("Lee"));
    assert!(ann.avatar_url.is_some());

    // Facebook leaves an unconfirmed email out altogether.
    let (_, bob) = sign_in_as(ProviderKind::Facebook, "bob").await;
    assert_eq!(bob.email, None);
    assert!(!bob.email_verified);
}

#[tokio::test]
async fn x_gives_a_username_and_no_email() {
    let (scope, ann) = sign_in_as(ProviderKind::Twitter, "ann").await;
    assert_eq!(scope, "users.read tweet.read");
    assert_eq!(ann.subject, "2001");
    assert_eq!(ann.username.as_deref(), Some("ann"));
    assert_eq!(ann.email, None);
    assert!(!ann.email_verified);
}

#[tokio::test]
async fn discord_emails_are_verified_only_when_discord_says_so() {
    let (scope, ann) = sign_in_as(ProviderKind::Discord, "ann").await;
    assert_eq!(scope, "identify email");
    assert_eq!(ann.subject, "2001");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert!(ann.email_verified);
    assert_eq!(
        ann.avatar_url.as_deref(),
        Some("https://cdn.discordapp.com/avatars/2001/a1b2c3d4e5f6.png")
    );
    let (_, bob) = sign_in_as(ProviderKind::Discord, "bob").await;
    assert_eq!(bob.email.as_deref(), Some("bob@example.com"));
    assert!(!bob.email_verified);
}

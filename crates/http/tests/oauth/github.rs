//! The GitHub preset against the GitHub-style provider: the whole flow, and
//! each way it can be refused or fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_core::ports::{CodeExchange, OAuthError, OAuthProvider};
use latch_http::{ClientSecret, ProviderConfig, ProviderKind, oauth};
use latch_testkit::oauth::{
    ErrorStyle, GitHubLikeProvider, OAuthUser, TokenEndpoint, pkce_challenge,
};

use crate::{REDIRECT_URI, TIMEOUT, VERIFIER, authorization, code_exchange, param};

fn users() -> Vec<OAuthUser> {
    vec![
        OAuthUser::new(1001, "ann")
            .with_name("Ann Lee")
            .with_email("ann@example.com", true),
        OAuthUser::new(1002, "bob").with_email("bob@example.com", false),
        OAuthUser::new(1003, "cyd"),
    ]
}

fn start() -> GitHubLikeProvider {
    let github = GitHubLikeProvider::start(users());
    github.allow_redirect_uri(REDIRECT_URI);
    github
}

fn config(github: &GitHubLikeProvider) -> ProviderConfig {
    let mut config = ProviderConfig::new("github", ProviderKind::GitHub, github.client_id());
    config.client_secret = ClientSecret::Shared(github.client_secret().into());
    config.authorize_url = Some(github.authorize_url());
    config.token_url = Some(github.token_url());
    config.api_base_url = Some(github.api_base_url());
    config.timeout = TIMEOUT;
    config
}

fn adapter(github: &GitHubLikeProvider) -> Arc<dyn OAuthProvider> {
    oauth::provider(&config(github)).unwrap()
}

/// The browser's request to the authorize URL, redirects not followed.
async fn visit(url: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
}

/// Runs the authorize step and returns the code from the callback.
async fn authorize(provider: &dyn OAuthProvider) -> String {
    let url = provider
        .authorize_url(&authorization("state-1", "unused"))
        .await
        .unwrap();
    let response = visit(&url).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("state-1"));
    param(&location, "code").expect("a code in the callback")
}

#[tokio::test]
async fn a_user_signs_in_and_the_verified_primary_email_comes_back() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    assert_eq!(provider.name(), "github");

    let url = provider
        .authorize_url(&authorization("state-1", "unused"))
        .await
        .unwrap();
    assert!(url.starts_with(&github.authorize_url()));
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(github.client_id())
    );
    assert_eq!(param(&url, "redirect_uri").as_deref(), Some(REDIRECT_URI));
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("read:user user:email")
    );
    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert!(!url.contains(VERIFIER));
    assert!(!url.contains(github.client_secret()));

    let response = visit(&url).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = param(&location, "code").unwrap();
    assert_eq!(param(&location, "state").as_deref(), Some("state-1"));
    let seen = github.authorizations();
    assert_eq!(
        seen[0].param("code_challenge"),
        Some(pkce_challenge(VERIFIER))
    );
    assert_eq!(
        seen[0].param("code_challenge_method").as_deref(),
        Some("S256")
    );

    let identity = provider
        .exchange(&code_exchange(&code, "unused"))
        .await
        .unwrap();
    assert_eq!(identity.subject, "1001");
    assert_eq!(identity.email.as_deref(), Some("ann@example.com"));
    assert!(identity.email_verified);
    assert_eq!(identity.first_name.as_deref(), Some("Ann"));
    assert_eq!(identity.last_name.as_deref(), Some("Lee"));
    assert_eq!(identity.username.as_deref(), Some("ann"));
    assert_eq!(
        identity.avatar_url.as_deref(),
        Some("https://avatars.example.com/u/1001")
    );
}

#[tokio::test]
async fn an_unverified_primary_email_is_reported_unverified() {
    let github = start();
    github.log_in_as("bob");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    let identity = provider.exchange(&code_exchange(&code, "")).await.unwrap();
    assert_eq!(identity.subject, "1002");
    assert_eq!(identity.email.as_deref(), Some("bob@example.com"));
    assert!(!identity.email_verified);
}

#[tokio::test]
async fn the_tokens_come_back_and_the_refresh_token_gets_new_ones_once() {
    let github = start();
    github.log_in_as("bob");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    let identity = provider.exchange(&code_exchange(&code, "")).await.unwrap();
    let tokens = identity.tokens.expect("tokens");
    assert!(tokens.access_token.starts_with("gho_"));
    assert_eq!(tokens.expires_in_secs, Some(28800));
    let refresh = tokens.refresh_token.expect("a refresh token");
    let renewed = provider.refresh(&refresh).await.unwrap();
    assert_ne!(renewed.access_token, tokens.access_token);
    assert_ne!(renewed.refresh_token.as_deref(), Some(refresh.as_str()));
    // The provider rotated it: the old one is spent.
    assert!(matches!(
        provider.refresh(&refresh).await,
        Err(latch_core::ports::OAuthError::Rejected(_))
    ));
    assert!(provider.refresh("").await.is_err());
}

#[tokio::test]
async fn a_user_without_email_signs_in_without_one() {
    let github = start();
    github.log_in_as("cyd");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    let identity = provider.exchange(&code_exchange(&code, "")).await.unwrap();
    assert_eq!(identity.subject, "1003");
    assert_eq!(identity.email, None);
    assert!(!identity.email_verified);
    assert_eq!(identity.first_name, None);
}

#[tokio::test]
async fn a_code_redeemed_with_another_verifier_is_refused_and_spent() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    let wrong = CodeExchange {
        pkce_verifier: "another-verifier-of-the-right-length-0123456789".into(),
        ..code_exchange(&code, "")
    };
    assert!(matches!(
        provider.exchange(&wrong).await,
        Err(OAuthError::Rejected(_))
    ));
    assert!(matches!(
        provider.exchange(&code_exchange(&code, "")).await,
        Err(OAuthError::Rejected(_))
    ));
}

#[tokio::test]
async fn a_code_is_single_use() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    provider.exchange(&code_exchange(&code, "")).await.unwrap();
    let replay = provider.exchange(&code_exchange(&code, "")).await;
    assert!(matches!(replay, Err(OAuthError::Rejected(_))), "{replay:?}");
}

#[tokio::test]
async fn unknown_codes_are_refused_however_the_error_is_sent() {
    let github = start();
    let provider = adapter(&github);
    for style in [ErrorStyle::GitHub, ErrorStyle::Standard, ErrorStyle::Form] {
        github.set_error_style(style);
        let result = provider.exchange(&code_exchange("made-up-code", "")).await;
        match result {
            Err(OAuthError::Rejected(why)) => {
                assert!(why.contains("bad_verification_code"), "{style:?}: {why}")
            }
            other => panic!("{style:?}: {other:?}"),
        }
    }
    assert_eq!(github.token_requests(), 3);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let github = start();
    github.log_in_as("ann");
    let mut config = config(&github);
    config.client_secret = ClientSecret::Shared("not-the-secret".into());
    let provider = oauth::provider(&config).unwrap();
    let code = authorize(provider.as_ref()).await;
    github.set_error_style(ErrorStyle::Standard);
    let result = provider.exchange(&code_exchange(&code, "")).await;
    assert!(matches!(result, Err(OAuthError::Rejected(_))), "{result:?}");
}

#[tokio::test]
async fn a_code_redeemed_for_another_redirect_uri_is_refused() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    let elsewhere = CodeExchange {
        redirect_uri: "http://127.0.0.1:9/elsewhere".into(),
        ..code_exchange(&code, "")
    };
    let result = provider.exchange(&elsewhere).await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(ref why)) if why.contains("redirect_uri_mismatch")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_user_who_refuses_comes_back_with_access_denied() {
    let github = start();
    github.log_in_as("ann");
    github.deny_access(true);
    let provider = adapter(&github);
    let url = provider
        .authorize_url(&authorization("state-9", ""))
        .await
        .unwrap();
    let response = visit(&url).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI));
    assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&location, "state").as_deref(), Some("state-9"));
    assert_eq!(param(&location, "code"), None);
}

#[tokio::test]
async fn an_unregistered_callback_gets_no_redirect() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    let mut request = authorization("state-1", "");
    request.redirect_uri = "http://127.0.0.1:9/not-registered".into();
    let url = provider.authorize_url(&request).await.unwrap();
    let response = visit(&url).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn a_failing_token_endpoint_makes_the_provider_unavailable() {
    let github = start();
    let provider = adapter(&github);
    for behaviour in [TokenEndpoint::ServerError, TokenEndpoint::Garbage] {
        github.set_token_endpoint(behaviour);
        let result = provider.exchange(&code_exchange("any-code", "")).await;
        assert!(
            matches!(result, Err(OAuthError::Unavailable(_))),
            "{behaviour:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out() {
    let github = start();
    github.set_token_endpoint(TokenEndpoint::Slow(Duration::from_secs(10)));
    let mut config = config(&github);
    config.timeout = Duration::from_millis(500);
    let provider = oauth::provider(&config).unwrap();
    let started = Instant::now();
    let result = provider.exchange(&code_exchange("any-code", "")).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(ref why)) if why.contains("timed out")),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_provider_that_is_down_is_unavailable() {
    let github = start();
    let provider = adapter(&github);
    drop(github);
    let result = provider.exchange(&code_exchange("any-code", "")).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_failing_user_api_makes_the_provider_unavailable() {
    let github = start();
    github.log_in_as("ann");
    let provider = adapter(&github);
    let code = authorize(provider.as_ref()).await;
    github.set_user_api_down(true);
    let result = provider.exchange(&code_exchange(&code, "")).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(_))),
        "{result:?}"
    );
}

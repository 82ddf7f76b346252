//! The port's contract from latch-testkit, for both adapters, each against
//! an identity provider that keeps the rules for codes.

use latch_http::{ClientSecret, ProviderConfig, ProviderKind, oauth};
use latch_testkit::oauth::{
    GitHubLikeProvider, NodeOidcOptions, NodeOidcProvider, OAuthContract, OAuthUser, OidcAccount,
    oauth_provider_contract,
};

use crate::{REDIRECT_URI, TIMEOUT};

const OTHER_REDIRECT_URI: &str = "http://127.0.0.1:9/other_callback";

fn contract(openid_connect: bool) -> OAuthContract {
    OAuthContract {
        redirect_uri: REDIRECT_URI.into(),
        other_redirect_uri: OTHER_REDIRECT_URI.into(),
        login: "ann".into(),
        openid_connect,
    }
}

#[tokio::test]
async fn oauth2_provider_keeps_the_contract() {
    for kind in [
        ProviderKind::GitHub,
        ProviderKind::Facebook,
        ProviderKind::Twitter,
        ProviderKind::Discord,
    ] {
        let at = GitHubLikeProvider::start([
            OAuthUser::new(7, "ann").with_email("ann@example.com", true)
        ]);
        at.allow_redirect_uri(REDIRECT_URI);
        at.allow_redirect_uri(OTHER_REDIRECT_URI);
        at.log_in_as("ann");
        let mut config = ProviderConfig::new(kind.as_str(), kind, at.client_id());
        config.client_secret = ClientSecret::Shared(at.client_secret().into());
        config.authorize_url = Some(at.authorize_url());
        config.token_url = Some(at.token_url());
        config.api_base_url = Some(at.api_base_url());
        config.timeout = TIMEOUT;
        oauth_provider_contract(oauth::provider(&config).unwrap(), contract(false)).await;
    }
}

#[tokio::test]
async fn oidc_provider_keeps_the_contract() {
    let mut options = NodeOidcOptions::new(
        REDIRECT_URI,
        vec![OidcAccount::new("ann", "ann@example.com")],
    );
    options.redirect_uris.push(OTHER_REDIRECT_URI.into());
    let node = NodeOidcProvider::start(options);
    let mut config = ProviderConfig::new("custom_node", ProviderKind::Oidc, node.client_id());
    config.client_secret = ClientSecret::Shared(node.client_secret().into());
    config.issuer_url = Some(node.issuer().into());
    config.timeout = TIMEOUT;
    oauth_provider_contract(oauth::provider(&config).unwrap(), contract(true)).await;
}

//! Identity providers for OAuth sign-in: the core's `OAuthProvider` port
//! over OAuth 2.0 and OpenID Connect.
//!
//! - [`OidcProvider`]: any OpenID Connect provider, by discovery from its
//!   issuer (the `oidc` kind, and the Google, Microsoft, GitLab, LinkedIn and
//!   Apple presets). The identity comes from the checked id_token.
//! - [`OAuth2Provider`]: providers without OpenID Connect (GitHub, Facebook,
//!   X, Discord). The identity comes from the provider's user API, called
//!   with the access token.
//! - [`provider`] builds either from a [`ProviderConfig`].
//!
//! Both run the authorization code flow with PKCE (S256) through `oauth2`,
//! over one reqwest client per provider that follows no redirect, bounds
//! each request by the configured timeout and reads at most 1 MiB per
//! response. Failures map to the port's errors: the provider refusing (an
//! OAuth `error` body, a 4xx, an id_token or profile that fails a check) is
//! `Rejected`; the provider failing (transport errors, timeouts, 5xx,
//! answers that are not the protocol) is `Unavailable`. Tokens, codes and
//! secrets are never logged nor put into error text.

mod apple;
mod code_flow;
mod config;
mod oidc;
mod plain;
mod profiles;
mod transport;

use std::sync::Arc;

use latch_core::ports::{OAuthError, OAuthProvider};

pub use config::{AppleClientKey, ClientSecret, ConfigError, ProviderConfig, ProviderKind};
pub use oidc::{CLOCK_SKEW, OidcProvider};
pub use plain::OAuth2Provider;

/// Builds the provider `config` describes. Nothing is fetched yet:
/// discovery happens on the first sign-in.
pub fn provider(config: &ProviderConfig) -> Result<Arc<dyn OAuthProvider>, ConfigError> {
    if config.kind.is_oidc() {
        Ok(Arc::new(OidcProvider::new(config)?))
    } else {
        Ok(Arc::new(OAuth2Provider::new(config)?))
    }
}

/// The client secret as each token request needs it.
pub(crate) enum Secret {
    None,
    Shared(String),
    Apple(apple::AppleSecretSigner),
}

impl Secret {
    /// `apple_audience` is the issuer the Apple secret is made for.
    fn from_config(config: &ProviderConfig, apple_audience: &str) -> Result<Self, ConfigError> {
        Ok(match &config.client_secret {
            ClientSecret::None => Self::None,
            ClientSecret::Shared(s) if s.is_empty() => Self::None,
            ClientSecret::Shared(s) => Self::Shared(s.clone()),
            ClientSecret::AppleKey(key) => Self::Apple(apple::AppleSecretSigner::new(
                key,
                &config.client_id,
                apple_audience,
            )?),
        })
    }

    fn current(&self) -> Result<Option<String>, OAuthError> {
        match self {
            Self::None => Ok(None),
            Self::Shared(s) => Ok(Some(s.clone())),
            Self::Apple(signer) => signer.secret().map(Some),
        }
    }

    fn shared(&self) -> Option<&str> {
        match self {
            Self::Shared(s) => Some(s),
            _ => None,
        }
    }
}

/// `None` for missing and blank values.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

//! `[oauth.providers.<name>]`: the identity providers, each with its kind
//! and its credentials (a shared client secret, or Apple's signing key).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use latch_http::oauth::ProviderKind;

use super::raw::ProviderSection;

/// One identity provider, parsed.
#[derive(Clone)]
pub struct OAuthProvider {
    /// As in the strategy `oauth_<name>`.
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub secret: ProviderSecret,
    /// Replaces the preset's scopes.
    pub scopes: Option<Vec<String>>,
    pub issuer_url: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_base_url: Option<String>,
    pub timeout: Duration,
}

impl OAuthProvider {
    /// The client as the runtime settings start with it: the secret stays
    /// in this file.
    pub fn credentials(&self) -> latch_core::model::OAuthCredentials {
        latch_core::model::OAuthCredentials {
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone().unwrap_or_default(),
            sealed_secret: String::new(),
        }
    }
}

/// How Latch authenticates to the provider.
#[derive(Clone)]
pub enum ProviderSecret {
    /// `client_secret` (possibly empty, which some presets refuse).
    Shared(String),
    /// Sign in with Apple: client secrets signed with this key, read at start.
    AppleKey {
        team_id: String,
        key_id: String,
        private_key_file: PathBuf,
    },
}

/// Parses every `[oauth.providers.*]`, in name order.
pub fn parse_providers<'a>(
    providers: impl IntoIterator<Item = (&'a String, &'a ProviderSection)>,
) -> anyhow::Result<Vec<OAuthProvider>> {
    providers
        .into_iter()
        .map(|(name, p)| parse_provider(name, p))
        .collect()
}

fn parse_provider(name: &str, p: &ProviderSection) -> anyhow::Result<OAuthProvider> {
    let key = format!("oauth.providers.{name}");
    if !latch_core::model::Strategy::is_provider_name(name) {
        bail!("{key}: provider names are lower-case letters, digits and _");
    }
    if p.client_id.trim().is_empty() {
        bail!("{key}.client_id is required");
    }
    if p.kind_name(name) == "oidc" && p.issuer_url.is_empty() {
        bail!("{key}.issuer_url is required for an OpenID Connect provider");
    }
    if !(1..=60).contains(&p.timeout_secs) {
        bail!("{key}.timeout_secs must be between 1 and 60");
    }
    let kind: ProviderKind = p
        .kind_name(name)
        .parse()
        .map_err(|e| anyhow::anyhow!("{key}.kind: {e}"))?;
    let secret = if p.apple_private_key_file.is_empty() {
        ProviderSecret::Shared(p.client_secret.clone())
    } else {
        ProviderSecret::AppleKey {
            team_id: p.apple_team_id.clone(),
            key_id: p.apple_key_id.clone(),
            private_key_file: PathBuf::from(&p.apple_private_key_file),
        }
    };
    let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
    Ok(OAuthProvider {
        name: name.to_owned(),
        kind,
        client_id: p.client_id.trim().to_owned(),
        secret,
        scopes: nonempty(&p.scopes).map(|s| s.split_whitespace().map(str::to_owned).collect()),
        issuer_url: nonempty(&p.issuer_url),
        authorize_url: nonempty(&p.authorize_url),
        token_url: nonempty(&p.token_url),
        api_base_url: nonempty(&p.api_base_url),
        timeout: Duration::from_secs(p.timeout_secs),
    })
}

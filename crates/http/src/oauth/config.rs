//! What the app hands over to enable one provider, and the presets.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use oauth2::url::{Host, Url};

/// Everything needed to build one provider. Fields other than the name,
/// kind and client id have defaults (see [`ProviderConfig::new`]).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The provider's name as in the strategy `oauth_<name>`: lowercase
    /// ASCII letters, digits and `_`. Presets are usually named after
    /// themselves (`google`); custom OpenID Connect providers `custom_<x>`.
    pub name: String,
    pub kind: ProviderKind,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Replaces the preset's scopes. For OpenID Connect `openid` is added
    /// when missing.
    pub scopes: Option<Vec<String>>,
    /// OpenID Connect: where discovery starts
    /// (`<issuer>/.well-known/openid-configuration`). Required for
    /// [`ProviderKind::Oidc`]; replaces a preset's issuer.
    pub issuer_url: Option<String>,
    /// Replaces the authorization endpoint (the preset's, or the one
    /// discovery gives).
    pub authorize_url: Option<String>,
    /// Replaces the token endpoint (the preset's, or the one discovery gives).
    pub token_url: Option<String>,
    /// OAuth 2.0 presets: the base of the user API (`https://api.github.com`,
    /// `https://graph.facebook.com/v23.0`, `https://api.x.com`,
    /// `https://discord.com/api/v10`). Refused for OpenID Connect kinds.
    pub api_base_url: Option<String>,
    /// OpenID Connect: when the id_token carries no email, ask the userinfo
    /// endpoint for it (and for missing names). On by default.
    pub userinfo: bool,
    /// The bound on each HTTP request to the provider.
    pub timeout: Duration,
}

impl ProviderConfig {
    /// A provider with its preset's endpoints and scopes, no client secret,
    /// userinfo on and a 10 second timeout.
    pub fn new(name: impl Into<String>, kind: ProviderKind, client_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            client_id: client_id.into(),
            client_secret: ClientSecret::None,
            scopes: None,
            issuer_url: None,
            authorize_url: None,
            token_url: None,
            api_base_url: None,
            userinfo: true,
            timeout: Duration::from_secs(10),
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Default)]
pub enum ClientSecret {
    /// A public client: the client id alone (with PKCE).
    #[default]
    None,
    /// The secret the provider issued (for Apple: a client secret JWT made
    /// elsewhere, which expires).
    Shared(String),
    /// Apple only: a fresh client secret JWT is signed with this key for
    /// each token request.
    AppleKey(AppleClientKey),
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Shared(_) => f.write_str("Shared(<redacted>)"),
            Self::AppleKey(key) => f.debug_tuple("AppleKey").field(key).finish(),
        }
    }
}

/// A Sign in with Apple private key (the `.p8` file Apple gives).
#[derive(Clone)]
pub struct AppleClientKey {
    /// The Apple Developer team id: the secret's `iss`.
    pub team_id: String,
    /// The key's id: the secret's `kid`.
    pub key_id: String,
    /// The `.p8` file's content: a PKCS#8 PEM EC P-256 private key.
    pub private_key_pem: String,
}

impl fmt::Debug for AppleClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleClientKey")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// Which protocol and presets a provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Any OpenID Connect provider, from `issuer_url` by discovery.
    Oidc,
    Google,
    Microsoft,
    GitLab,
    LinkedInOidc,
    Apple,
    GitHub,
    Facebook,
    /// X (Twitter), OAuth 2.0 with PKCE.
    Twitter,
    Discord,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 10] = [
        Self::Oidc,
        Self::Google,
        Self::Microsoft,
        Self::GitLab,
        Self::LinkedInOidc,
        Self::Apple,
        Self::GitHub,
        Self::Facebook,
        Self::Twitter,
        Self::Discord,
    ];

    /// The configuration name: `oidc`, `google`, `microsoft`, `gitlab`,
    /// `linkedin_oidc`, `apple`, `github`, `facebook`, `twitter`, `discord`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Google => "google",
            Self::Microsoft => "microsoft",
            Self::GitLab => "gitlab",
            Self::LinkedInOidc => "linkedin_oidc",
            Self::Apple => "apple",
            Self::GitHub => "github",
            Self::Facebook => "facebook",
            Self::Twitter => "twitter",
            Self::Discord => "discord",
        }
    }

    /// The preset a provider name stands for, if it is one (`google` is
    /// Google); `oidc` is no preset.
    pub fn preset_named(name: &str) -> Option<Self> {
        match name.parse() {
            Ok(Self::Oidc) | Err(_) => None,
            Ok(kind) => Some(kind),
        }
    }

    pub(crate) fn is_oidc(self) -> bool {
        matches!(
            self,
            Self::Oidc
                | Self::Google
                | Self::Microsoft
                | Self::GitLab
                | Self::LinkedInOidc
                | Self::Apple
        )
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "x" => Ok(Self::Twitter),
            _ => Self::ALL
                .into_iter()
                .find(|k| k.as_str() == s)
                .ok_or_else(|| ConfigError::UnknownKind(s.to_owned())),
        }
    }
}

/// Why a provider could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown OAuth provider kind `{0}`")]
    UnknownKind(String),
    #[error("provider name `{0}` must be 1 to 64 lowercase letters, digits or `_`")]
    InvalidName(String),
    #[error("`client_id` must not be empty")]
    MissingClientId,
    #[error("the {0} provider needs a client secret")]
    MissingClientSecret(ProviderKind),
    #[error("an Apple client key is only for the apple provider, not {0}")]
    AppleKeyNotApplicable(ProviderKind),
    #[error("the Apple client key is unusable: {0}")]
    InvalidAppleKey(String),
    #[error("an OpenID Connect provider of kind `oidc` needs `issuer_url`")]
    MissingIssuer,
    #[error("`{field}` does not apply to the {kind} provider")]
    NotApplicable {
        field: &'static str,
        kind: ProviderKind,
    },
    #[error("`{field}` is not a valid URL: {reason}")]
    InvalidUrl { field: &'static str, reason: String },
    #[error("`{field}` must be https (plain http only on loopback)")]
    InsecureUrl { field: &'static str },
    #[error("`scopes` must not be empty or contain blank scopes")]
    InvalidScopes,
    #[error("`timeout` must be more than zero")]
    InvalidTimeout,
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if latch_core::model::Strategy::is_provider_name(name) {
        Ok(())
    } else {
        Err(ConfigError::InvalidName(name.to_owned()))
    }
}

/// A URL Latch may send credentials to: https, or http on a loopback host
/// (for tests and local development).
pub(crate) fn parse_url(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        field,
        reason: e.to_string(),
    })?;
    if is_acceptable(&url) {
        Ok(url)
    } else if matches!(url.scheme(), "http" | "https") {
        Err(ConfigError::InsecureUrl { field })
    } else {
        Err(ConfigError::InvalidUrl {
            field,
            reason: "not an http(s) URL".to_owned(),
        })
    }
}

pub(crate) fn is_acceptable(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

pub(crate) fn scopes(
    config: &ProviderConfig,
    default: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let mut scopes: Vec<String> = match &config.scopes {
        Some(given) => {
            if given.is_empty() || given.iter().any(|s| s.trim().is_empty() || s.contains(' ')) {
                return Err(ConfigError::InvalidScopes);
            }
            given.clone()
        }
        None => default.iter().map(|s| (*s).to_owned()).collect(),
    };
    if config.kind.is_oidc() && !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    Ok(scopes)
}

pub(crate) fn check_common(config: &ProviderConfig) -> Result<(), ConfigError> {
    check_name(&config.name)?;
    if config.client_id.trim().is_empty() {
        return Err(ConfigError::MissingClientId);
    }
    if config.timeout.is_zero() {
        return Err(ConfigError::InvalidTimeout);
    }
    if matches!(config.client_secret, ClientSecret::AppleKey(_))
        && config.kind != ProviderKind::Apple
    {
        return Err(ConfigError::AppleKeyNotApplicable(config.kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
        }
        assert_eq!("x".parse::<ProviderKind>().unwrap(), ProviderKind::Twitter);
        assert_eq!(
            "okta".parse::<ProviderKind>(),
            Err(ConfigError::UnknownKind("okta".into()))
        );
        assert_eq!(
            ProviderKind::preset_named("google"),
            Some(ProviderKind::Google)
        );
        assert_eq!(ProviderKind::preset_named("oidc"), None);
        assert_eq!(ProviderKind::preset_named("custom_acme"), None);
    }

    #[test]
    fn names_are_strategy_suffixes() {
        assert!(check_name("custom_acme2").is_ok());
        for bad in ["", "Google", "custom-acme", "a b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_go_to_https_or_loopback_only() {
        assert!(parse_url("issuer_url", "https://accounts.google.com").is_ok());
        assert!(parse_url("issuer_url", "http://127.0.0.1:8080").is_ok());
        assert!(parse_url("issuer_url", "http://localhost/x").is_ok());
        assert!(parse_url("issuer_url", "http://[::1]:9/").is_ok());
        assert_eq!(
            parse_url("token_url", "http://idp.example.com/token"),
            Err(ConfigError::InsecureUrl { field: "token_url" })
        );
        assert!(matches!(
            parse_url("token_url", "ftp://idp.example.com/"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("token_url", "not a url"),
            Err(ConfigError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn openid_is_always_asked_of_oidc_providers() {
        let mut config = ProviderConfig::new("google", ProviderKind::Google, "id");
        config.scopes = Some(vec!["email".into()]);
        assert_eq!(scopes(&config, &[]).unwrap(), ["openid", "email"]);
        config.kind = ProviderKind::GitHub;
        assert_eq!(scopes(&config, &[]).unwrap(), ["email"]);
        config.scopes = Some(vec![]);
        assert_eq!(scopes(&config, &[]), Err(ConfigError::InvalidScopes));
        config.scopes = None;
        assert_eq!(scopes(&config, &["read:user"]).unwrap(), ["read:user"]);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut config = ProviderConfig::new("apple", ProviderKind::Apple, "id");
        config.client_secret = ClientSecret::Shared("s3cret".into());
        assert!(!format!("{config:?}").contains("s3cret"));
        config.client_secret = ClientSecret::AppleKey(AppleClientKey {
            team_id: "TEAM".into(),
            key_id: "KEY".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY-----xyz".into(),
        });
        let shown = format!("{config:?}");
        assert!(shown.contains("TEAM") && !shown.contains("xyz"));
    }
}

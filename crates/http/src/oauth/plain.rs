//! OAuth 2.0 providers without OpenID Connect: the code flow with PKCE,
//! then the provider's user API with the access token.

use async_trait::async_trait;
use oauth2::{AuthType, AuthUrl, TokenResponse as _, TokenUrl};

use latch_core::ports::{
    AuthorizationRequest, CodeExchange, ExternalIdentity, OAuthError, OAuthProvider, ProviderTokens,
};

use super::Secret;
use super::code_flow::{self, Endpoints};
use super::config::{self, ConfigError, ProviderConfig, ProviderKind};
use super::profiles::Profile;
use super::transport::Http;

/// A preset's endpoints and habits.
struct Preset {
    authorize: &'static str,
    token: &'static str,
    api_base: &'static str,
    scopes: &'static [&'static str],
    auth_type: AuthType,
    secret_required: bool,
    profile: Profile,
}

fn preset(kind: ProviderKind) -> Option<Preset> {
    Some(match kind {
        ProviderKind::GitHub => Preset {
            authorize: "https://github.com/login/oauth/authorize",
            token: "https://github.com/login/oauth/access_token",
            api_base: "https://api.github.com",
            scopes: &["read:user", "user:email"],
            auth_type: AuthType::RequestBody,
            secret_required: true,
            profile: Profile::GitHub,
        },
        ProviderKind::Facebook => Preset {
            authorize: "https://www.facebook.com/v23.0/dialog/oauth",
            token: "https://graph.facebook.com/v23.0/oauth/access_token",
            api_base: "https://graph.facebook.com/v23.0",
            scopes: &["email", "public_profile"],
            auth_type: AuthType::RequestBody,
            secret_required: true,
            profile: Profile::Facebook,
        },
        ProviderKind::Twitter => Preset {
            authorize: "https://x.com/i/oauth2/authorize",
            token: "https://api.x.com/2/oauth2/token",
            api_base: "https://api.x.com",
            scopes: &["users.read", "tweet.read"],
            // Confidential X clients authenticate with basic auth; public
            // ones (no secret) send their client id in the body.
            auth_type: AuthType::BasicAuth,
            secret_required: false,
            profile: Profile::Twitter,
        },
        ProviderKind::Discord => Preset {
            authorize: "https://discord.com/oauth2/authorize",
            token: "https://discord.com/api/oauth2/token",
            api_base: "https://discord.com/api/v10",
            scopes: &["identify", "email"],
            auth_type: AuthType::RequestBody,
            secret_required: true,
            profile: Profile::Discord,
        },
        _ => return None,
    })
}

/// An OAuth 2.0 provider with a known user API (GitHub, Facebook, X,
/// Discord).
pub struct OAuth2Provider {
    name: String,
    client_id: String,
    secret: Secret,
    endpoints: Endpoints,
    api_base: String,
    scopes: Vec<String>,
    profile: Profile,
    http: Http,
}

impl OAuth2Provider {
    pub fn new(config: &ProviderConfig) -> Result<Self, ConfigError> {
        config::check_common(config)?;
        let not_applicable = |field| ConfigError::NotApplicable {
            field,
            kind: config.kind,
        };
        let preset = preset(config.kind).ok_or(not_applicable("kind"))?;
        if config.issuer_url.is_some() {
            return Err(not_applicable("issuer_url"));
        }
        let secret = Secret::from_config(config, "")?;
        if preset.secret_required && matches!(secret, Secret::None) {
            return Err(ConfigError::MissingClientSecret(config.kind));
        }
        let url = |field, given: &Option<String>, default| {
            config::parse_url(field, given.as_deref().unwrap_or(default))
        };
        let authorize = url("authorize_url", &config.authorize_url, preset.authorize)?;
        let token = url("token_url", &config.token_url, preset.token)?;
        let api_base = url("api_base_url", &config.api_base_url, preset.api_base)?;
        Ok(Self {
            name: config.name.clone(),
            client_id: config.client_id.clone(),
            secret,
            endpoints: Endpoints {
                authorize: AuthUrl::from_url(authorize),
                token: TokenUrl::from_url(token),
                auth_type: preset.auth_type,
            },
            api_base: api_base.into(),
            scopes: config::scopes(config, preset.scopes)?,
            profile: preset.profile,
            http: Http::new(config.timeout).map_err(|e| ConfigError::HttpClient(e.to_string()))?,
        })
    }
}

#[async_trait]
impl OAuthProvider for OAuth2Provider {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn authorize_url(&self, request: &AuthorizationRequest) -> Result<String, OAuthError> {
        let client = code_flow::client(&self.client_id, None, &self.endpoints);
        code_flow::authorize_url(&client, request, &self.scopes, &[])
    }

    async fn exchange(&self, exchange: &CodeExchange) -> Result<ExternalIdentity, OAuthError> {
        let client = code_flow::client(&self.client_id, self.secret.current()?, &self.endpoints);
        let response = code_flow::redeem(&self.http, &client, exchange).await?;
        let access_token = response.access_token().secret();
        if access_token.is_empty() {
            return Err(OAuthError::Rejected(
                "the token response has an empty access token".into(),
            ));
        }
        let mut identity = self
            .profile
            .identity(
                &self.http,
                &self.api_base,
                access_token,
                self.secret.shared(),
            )
            .await?;
        identity.approved_scopes = code_flow::granted_scopes(&response, &self.scopes);
        identity.tokens = Some(code_flow::tokens(&response));
        Ok(identity)
    }

    async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, OAuthError> {
        let client = code_flow::client(&self.client_id, self.secret.current()?, &self.endpoints);
        code_flow::refresh(&self.http, &client, refresh_token).await
    }
}

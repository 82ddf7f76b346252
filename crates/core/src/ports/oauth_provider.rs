//! Identity providers reached over OAuth 2.0 (with PKCE) or OpenID Connect.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

/// What the provider's authorize URL must carry for one sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// Opaque, random, single use; echoed back to the callback.
    pub state: String,
    /// The PKCE code verifier (43 to 128 unreserved characters); the URL
    /// carries its S256 challenge, never the verifier itself.
    pub pkce_verifier: String,
    /// For OpenID Connect providers: the `nonce` the id_token must carry.
    pub nonce: String,
    /// Latch's callback URL, registered with the provider.
    pub redirect_uri: String,
}

/// What the callback hands back to exchange for an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeExchange {
    pub code: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
}

/// An identity a provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdentity {
    /// The provider's stable id for the user (`sub`, or a numeric user id).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified `email`. Unverified emails
    /// never link to an existing user.
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// The scopes the provider granted.
    pub approved_scopes: Vec<String>,
    /// What the token endpoint issued, for the application's server to call
    /// the provider's API with (`GET /v1/users/{id}/oauth_access_tokens/...`).
    pub tokens: Option<ProviderTokens>,
}

/// Tokens a provider's token endpoint issued.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ProviderTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// How long the access token lives, in seconds, if the provider said.
    pub expires_in_secs: Option<u64>,
}

/// Why a provider step failed; the text is for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The provider refused, or what it returned failed a check (a bad code,
    /// a PKCE mismatch, an id_token with the wrong issuer, audience, nonce,
    /// signature or lifetime, an unverifiable identity).
    #[error("rejected by the identity provider: {0}")]
    Rejected(String),
    /// The provider could not be reached, timed out, or answered something
    /// that is not a protocol response.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// One configured identity provider, e.g. `google` or `custom_acme`.
///
/// Contract: `authorize_url` returns the provider's authorization endpoint
/// with `response_type=code`, the client id, `redirect_uri`, the scopes,
/// `state`, `code_challenge` (S256 of the verifier) and, for OpenID Connect,
/// `nonce`. `exchange` redeems the code at the token endpoint with the
/// verifier and returns the identity only after every check passed: for
/// OpenID Connect the id_token's signature (from the provider's keys; never
/// `alg=none` or an HMAC keyed with public material), `iss`, `aud`, `exp` and
/// `nonce`. HTTP redirects are never followed and every request is bounded
/// in time.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait OAuthProvider: Send + Sync {
    /// The provider's name as in the strategy `oauth_<name>`.
    fn name(&self) -> String;

    async fn authorize_url(&self, request: &AuthorizationRequest) -> Result<String, OAuthError>;

    async fn exchange(&self, exchange: &CodeExchange) -> Result<ExternalIdentity, OAuthError>;

    /// New tokens for a refresh token (the `refresh_token` grant).
    async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, OAuthError>;
}

/// A provider's client as an operator sets it at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderClient<'a> {
    pub client_id: &'a str,
    /// `None`: the secret the provider was set up with.
    pub client_secret: Option<&'a str>,
    /// Empty: the provider's preset scopes.
    pub scopes: &'a [String],
}

/// Builds the provider `name` (as the deployment sets it up: its kind and
/// endpoints) with another client. Building fetches nothing; it fails, with
/// a reason to show, on a client the provider cannot take.
pub trait OAuthProviderFactory: Send + Sync {
    fn build(
        &self,
        name: &str,
        client: &ProviderClient<'_>,
    ) -> Result<std::sync::Arc<dyn OAuthProvider>, String>;
}

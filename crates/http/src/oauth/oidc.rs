//! Any OpenID Connect provider, found by discovery from its issuer.
//!
//! The discovery document and the key set are fetched on first use and
//! kept; when an id_token names a key the set does not have, the set is
//! fetched again, once for that exchange. The id_token must pass, in this
//! order: parsing; `openidconnect`'s checks of the signature (asymmetric
//! algorithms only, keys from the provider's set, never the client secret),
//! `aud`, `exp` (with [`CLOCK_SKEW`]), `iat` (not after now plus the skew)
//! and `nonce`; then `azp` (must be the client when present, and present when
//! there are several audiences) and `iss` by the provider's [`IssuerRule`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oauth2::url::Url;
use oauth2::{AuthType, AuthUrl, TokenResponse as _, TokenUrl};
use openidconnect::core::{
    CoreClientAuthMethod, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenClaims, IdTokenVerifier,
    IssuerUrl, JsonWebKeySetUrl, LocalizedClaim, Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use latch_core::ports::{
    AuthorizationRequest, CodeExchange, ExternalIdentity, OAuthError, OAuthProvider, ProviderTokens,
};

use super::code_flow::{self, Endpoints};
use super::config::{self, ConfigError, ProviderConfig, ProviderKind};
use super::transport::{Fetched, Http};
use super::{Secret, non_empty};

/// How far the id_token's `exp` and `iat` may be off Latch's clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The signature algorithms an id_token may use. Every HMAC algorithm is
/// left out: its key would be the client secret, or, in the classic attack,
/// public key material; `none` is never accepted by the verifier.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Which `iss` an id_token may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IssuerRule {
    /// Exactly the discovered issuer, which must be the configured one
    /// (trailing `/` aside). (Google's documented scheme-less
    /// `accounts.google.com` is not accepted: `openidconnect` reads `iss` as
    /// a URL. Google's code flow issues `https://accounts.google.com`.)
    Exact,
    /// Microsoft's multi-tenant endpoints (`common`, `organizations`)
    /// publish the issuer `https://login.microsoftonline.com/{tenantid}/v2.0`:
    /// the token's `iss` must be that template with `{tenantid}` replaced by
    /// the token's own `tid` claim (a GUID). A discovered issuer without the
    /// placeholder (a single tenant) must match exactly. The discovered
    /// issuer must be on the configured issuer's origin.
    MicrosoftTenant,
}

const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl IssuerRule {
    /// Whether discovery from `configured` may publish `discovered`.
    fn accepts_discovered(&self, configured: &Url, discovered: &str) -> bool {
        match self {
            Self::Exact => {
                configured.as_str().trim_end_matches('/') == discovered.trim_end_matches('/')
            }
            Self::MicrosoftTenant => {
                // The placeholder is not URL syntax; compare origins by hand.
                let origin = configured.origin().ascii_serialization();
                discovered
                    .strip_prefix(&origin)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }

    /// Whether an id_token from the provider that discovered `discovered`
    /// may carry `iss` (and, for Microsoft, `tid`).
    fn accepts_token(&self, discovered: &str, iss: &str, tid: Option<&str>) -> bool {
        match self {
            Self::Exact => iss == discovered,
            Self::MicrosoftTenant if discovered.contains(TENANT_PLACEHOLDER) => {
                tid.is_some_and(|tid| {
                    is_tenant_id(tid) && iss == discovered.replace(TENANT_PLACEHOLDER, tid)
                })
            }
            Self::MicrosoftTenant => iss == discovered,
        }
    }
}

/// A Microsoft tenant id: a GUID, so it cannot reshape the issuer URL.
fn is_tenant_id(tid: &str) -> bool {
    tid.len() == 36
        && tid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Claims outside the standard set that the checks need.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtraClaims {
    /// Microsoft's tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
}

impl AdditionalClaims for ExtraClaims {}

type LatchIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type LatchIdTokenClaims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// What discovery found, with the current key set.
#[derive(Clone)]
struct Discovered {
    issuer: String,
    endpoints: Endpoints,
    userinfo: Option<Url>,
    jwks_uri: JsonWebKeySetUrl,
    jwks: CoreJsonWebKeySet,
}

/// A preset's OpenID Connect settings.
struct Preset {
    issuer: &'static str,
    scopes: &'static [&'static str],
    rule: IssuerRule,
    authorize_params: &'static [(&'static str, &'static str)],
}

fn preset(kind: ProviderKind) -> Preset {
    const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];
    match kind {
        ProviderKind::Google => Preset {
            issuer: "https://accounts.google.com",
            scopes: OIDC_SCOPES,
            rule: IssuerRule::Exact,
            authorize_params: &[],
        },
        ProviderKind::Microsoft => Preset {
            issuer: "https://login.microsoftonline.com/common/v2.0",
            scopes: OIDC_SCOPES,
            rule: IssuerRule::MicrosoftTenant,
            authorize_params: &[],
        },
        ProviderKind::GitLab => Preset {
            issuer: "https://gitlab.com",
            scopes: OIDC_SCOPES,
            rule: IssuerRule::Exact,
            authorize_params: &[],
        },
        ProviderKind::LinkedInOidc => Preset {
            issuer: "https://www.linkedin.com/oauth",
            scopes: OIDC_SCOPES,
            rule: IssuerRule::Exact,
            authorize_params: &[],
        },
        ProviderKind::Apple => Preset {
            issuer: "https://appleid.apple.com",
            scopes: &["openid", "email", "name"],
            rule: IssuerRule::Exact,
            // Apple requires form_post whenever name or email is asked for:
            // the callback arrives as a POST.
            authorize_params: &[("response_mode", "form_post")],
        },
        _ => Preset {
            issuer: "",
            scopes: OIDC_SCOPES,
            rule: IssuerRule::Exact,
            authorize_params: &[],
        },
    }
}

/// An OpenID Connect provider (the `oidc` kind and the OIDC presets).
pub struct OidcProvider {
    name: String,
    client_id: String,
    secret: Secret,
    issuer: Url,
    rule: IssuerRule,
    scopes: Vec<String>,
    authorize_params: &'static [(&'static str, &'static str)],
    authorize_override: Option<AuthUrl>,
    token_override: Option<TokenUrl>,
    userinfo: bool,
    http: Http,
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

impl OidcProvider {
    /// Checks the configuration; nothing is fetched until first use.
    pub fn new(config: &ProviderConfig) -> Result<Self, ConfigError> {
        config::check_common(config)?;
        if !config.kind.is_oidc() {
            return Err(ConfigError::NotApplicable {
                field: "kind",
                kind: config.kind,
            });
        }
        if config.api_base_url.is_some() {
            return Err(ConfigError::NotApplicable {
                field: "api_base_url",
                kind: config.kind,
            });
        }
        let preset = preset(config.kind);
        let issuer = match (&config.issuer_url, config.kind) {
            (Some(url), _) => url.as_str(),
            (None, ProviderKind::Oidc) => return Err(ConfigError::MissingIssuer),
            (None, _) => preset.issuer,
        };
        let issuer = config::parse_url("issuer_url", issuer)?;
        let secret = Secret::from_config(config, issuer.as_str().trim_end_matches('/'))?;
        if config.kind == ProviderKind::Apple && matches!(secret, Secret::None) {
            return Err(ConfigError::MissingClientSecret(config.kind));
        }
        let authorize_override = config
            .authorize_url
            .as_deref()
            .map(|u| config::parse_url("authorize_url", u).map(AuthUrl::from_url))
            .transpose()?;
        let token_override = config
            .token_url
            .as_deref()
            .map(|u| config::parse_url("token_url", u).map(TokenUrl::from_url))
            .transpose()?;
        Ok(Self {
            name: config.name.clone(),
            client_id: config.client_id.clone(),
            secret,
            issuer,
            rule: preset.rule,
            scopes: config::scopes(config, preset.scopes)?,
            authorize_params: preset.authorize_params,
            authorize_override,
            token_override,
            userinfo: config.userinfo,
            http: Http::new(config.timeout).map_err(|e| ConfigError::HttpClient(e.to_string()))?,
            discovered: tokio::sync::Mutex::new(None),
        })
    }

    /// The cached discovery, fetching it the first time (and again after a
    /// failure).
    async fn discovered(&self) -> Result<Arc<Discovered>, OAuthError> {
        let mut slot = self.discovered.lock().await;
        if let Some(found) = slot.as_ref() {
            return Ok(Arc::clone(found));
        }
        let found = Arc::new(self.discover().await?);
        *slot = Some(Arc::clone(&found));
        Ok(found)
    }

    async fn discover(&self) -> Result<Discovered, OAuthError> {
        const WHAT: &str = "discovery";
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.as_str().trim_end_matches('/')
        );
        let fetched = self
            .http
            .fetch(self.http.get(&url))
            .await
            .map_err(|e| OAuthError::Unavailable(format!("{WHAT}: {e}")))?;
        let metadata: CoreProviderMetadata = document(fetched, WHAT)?;
        let issuer = metadata.issuer().as_str().to_owned();
        if !self.rule.accepts_discovered(&self.issuer, &issuer) {
            return Err(OAuthError::Unavailable(format!(
                "{WHAT}: the document names another issuer than {}",
                self.issuer
            )));
        }
        let authorize = match &self.authorize_override {
            Some(url) => url.clone(),
            None => metadata.authorization_endpoint().clone(),
        };
        let token = match (&self.token_override, metadata.token_endpoint()) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                return Err(OAuthError::Unavailable(format!(
                    "{WHAT}: no token endpoint"
                )));
            }
        };
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let jwks_uri = metadata.jwks_uri().clone();
        let urls = [authorize.url(), token.url(), jwks_uri.url()];
        if urls
            .into_iter()
            .chain(userinfo.as_ref())
            .any(|u| !config::is_acceptable(u))
        {
            return Err(OAuthError::Unavailable(format!(
                "{WHAT}: an endpoint is neither https nor loopback"
            )));
        }
        let auth_type = match metadata.token_endpoint_auth_methods_supported() {
            Some(methods)
                if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
            {
                AuthType::RequestBody
            }
            // RFC 8414 and OIDC Discovery: basic when unsaid.
            _ => AuthType::BasicAuth,
        };
        let jwks = self.fetch_jwks(&jwks_uri).await?;
        tracing::debug!(provider = %self.name, issuer = %issuer, "OpenID Connect discovery done");
        Ok(Discovered {
            issuer,
            endpoints: Endpoints {
                authorize,
                token,
                auth_type,
            },
            userinfo,
            jwks_uri,
            jwks,
        })
    }

    async fn fetch_jwks(&self, uri: &JsonWebKeySetUrl) -> Result<CoreJsonWebKeySet, OAuthError> {
        CoreJsonWebKeySet::fetch_async(uri, &self.http)
            .await
            .map_err(|e| OAuthError::Unavailable(format!("key set: {e}")))
    }

    /// Fetches the key set again, unless another exchange already did since
    /// `seen` was read.
    async fn refresh_jwks(&self, seen: &Arc<Discovered>) -> Result<Arc<Discovered>, OAuthError> {
        let mut slot = self.discovered.lock().await;
        if let Some(current) = slot.as_ref()
            && !Arc::ptr_eq(current, seen)
        {
            return Ok(Arc::clone(current));
        }
        let jwks = self.fetch_jwks(&seen.jwks_uri).await?;
        tracing::debug!(provider = %self.name, "key set fetched again for an unknown key id");
        let fresh = Arc::new(Discovered {
            jwks,
            ..Discovered::clone(seen)
        });
        *slot = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    fn verifier(&self, discovered: &Discovered) -> IdTokenVerifier<'static, CoreJsonWebKey> {
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
        // A public-client verifier: it holds no client secret, so no MAC
        // key exists even if an HMAC algorithm slipped through.
        IdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.clone()),
            // The `iss` check is done by `IssuerRule`, which knows
            // Microsoft's template; the library's would refuse it.
            IssuerUrl::from_url(self.issuer.clone()),
            discovered.jwks.clone(),
        )
        .require_issuer_match(false)
        .set_allowed_algs(ALLOWED_ALGS)
        // Other audiences are allowed only with `azp`, checked afterwards.
        .set_other_audience_verifier_fn(|_| true)
        .set_time_fn(move || chrono::Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > chrono::Utc::now() + skew {
                Err("issued in the future".to_owned())
            } else {
                Ok(())
            }
        })
    }

    fn verify(
        &self,
        discovered: &Discovered,
        token: &LatchIdToken,
        nonce: &Nonce,
    ) -> Result<LatchIdTokenClaims, ClaimsVerificationError> {
        token.claims(&self.verifier(discovered), nonce).cloned()
    }

    fn check_party_and_issuer(
        &self,
        discovered: &Discovered,
        claims: &LatchIdTokenClaims,
    ) -> Result<(), OAuthError> {
        let azp = claims.authorized_party().map(|p| p.as_str());
        if azp.is_some_and(|azp| azp != self.client_id) {
            return Err(OAuthError::Rejected(
                "id_token refused: azp is another client".into(),
            ));
        }
        if claims.audiences().len() > 1 && azp.is_none() {
            return Err(OAuthError::Rejected(
                "id_token refused: several audiences and no azp".into(),
            ));
        }
        let tid = claims.additional_claims().tid.as_deref();
        if !self
            .rule
            .accepts_token(&discovered.issuer, claims.issuer().as_str(), tid)
        {
            return Err(OAuthError::Rejected(
                "id_token refused: unexpected issuer".into(),
            ));
        }
        Ok(())
    }

    /// Fills what the id_token left out from the userinfo endpoint; the
    /// email's verification comes from the same answer.
    async fn fill_from_userinfo(
        &self,
        url: &Url,
        access_token: &str,
        identity: &mut ExternalIdentity,
    ) -> Result<(), OAuthError> {
        const WHAT: &str = "userinfo endpoint";
        let fetched = self
            .http
            .fetch(self.http.get(url.as_str()).bearer_auth(access_token))
            .await
            .map_err(|e| e.into_oauth(WHAT))?;
        if fetched
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/jwt"))
        {
            // Signed userinfo is not supported; the identity stays as the
            // id_token has it.
            tracing::debug!(provider = %self.name, "signed userinfo answer ignored");
            return Ok(());
        }
        let info: UserInfo = fetched.json(WHAT)?;
        if info.sub != identity.subject {
            return Err(OAuthError::Rejected(format!(
                "{WHAT}: answered for another subject"
            )));
        }
        if identity.email.is_none() {
            identity.email = non_empty(info.email);
            identity.email_verified = identity.email.is_some() && is_true(&info.email_verified);
        }
        fill(&mut identity.first_name, info.given_name);
        fill(&mut identity.last_name, info.family_name);
        fill(&mut identity.username, info.preferred_username);
        fill(&mut identity.avatar_url, info.picture);
        Ok(())
    }
}

fn fill(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = non_empty(value);
    }
}

/// A discovery or key document: anything but a readable 2xx means the
/// provider is not usable now.
fn document<T: serde::de::DeserializeOwned>(fetched: Fetched, what: &str) -> Result<T, OAuthError> {
    if !fetched.status.is_success() {
        return Err(OAuthError::Unavailable(format!(
            "{what}: answered HTTP {}",
            fetched.status
        )));
    }
    serde_json::from_slice(&fetched.body)
        .map_err(|e| OAuthError::Unavailable(format!("{what}: unreadable document ({e})")))
}

/// The userinfo answer, leniently read: unknown and odd claims are ignored.
#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default, deserialize_with = "lenient_string")]
    email: Option<String>,
    #[serde(default)]
    email_verified: serde_json::Value,
    #[serde(default, deserialize_with = "lenient_string")]
    given_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    family_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    preferred_username: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    picture: Option<String>,
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// `true`, or the string `"true"` as Apple sends it; nothing else.
fn is_true(value: &serde_json::Value) -> bool {
    matches!(value, serde_json::Value::Bool(true)) || value.as_str() == Some("true")
}

fn localized<T: std::ops::Deref<Target = String>>(
    claim: Option<&LocalizedClaim<T>>,
) -> Option<String> {
    let claim = claim?;
    // The untagged value, else the first localized one.
    let value = claim
        .get(None)
        .or_else(|| claim.iter().next().map(|(_, v)| v))?;
    non_empty(Some(value.to_string()))
}

fn identity(claims: &LatchIdTokenClaims) -> ExternalIdentity {
    let email = non_empty(claims.email().map(|e| e.to_string()));
    ExternalIdentity {
        tokens: None,
        subject: claims.subject().to_string(),
        email_verified: email.is_some() && claims.email_verified() == Some(true),
        email,
        first_name: localized(claims.given_name()),
        last_name: localized(claims.family_name()),
        username: non_empty(claims.preferred_username().map(|u| u.to_string())),
        avatar_url: localized(claims.picture()),
        approved_scopes: Vec::new(),
    }
}

#[async_trait]
impl OAuthProvider for OidcProvider {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn authorize_url(&self, request: &AuthorizationRequest) -> Result<String, OAuthError> {
        if request.nonce.is_empty() {
            return Err(OAuthError::Rejected("no nonce for the id_token".into()));
        }
        let discovered = self.discovered().await?;
        let client = code_flow::client(&self.client_id, None, &discovered.endpoints);
        let mut params = vec![("nonce", request.nonce.as_str())];
        params.extend_from_slice(self.authorize_params);
        code_flow::authorize_url(&client, request, &self.scopes, &params)
    }

    async fn exchange(&self, exchange: &CodeExchange) -> Result<ExternalIdentity, OAuthError> {
        if exchange.nonce.is_empty() {
            return Err(OAuthError::Rejected(
                "no nonce to check the id_token".into(),
            ));
        }
        let mut discovered = self.discovered().await?;
        let client = code_flow::client(
            &self.client_id,
            self.secret.current()?,
            &discovered.endpoints,
        );
        let response = code_flow::redeem(&self.http, &client, exchange).await?;
        let raw = response
            .extra_fields()
            .id_token
            .as_deref()
            .ok_or_else(|| OAuthError::Rejected("the token response has no id_token".into()))?;
        let token: LatchIdToken = raw
            .parse()
            .map_err(|_| OAuthError::Rejected("the id_token is malformed".into()))?;
        let nonce = Nonce::new(exchange.nonce.clone());
        let claims = match self.verify(&discovered, &token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys since they were read.
                discovered = self.refresh_jwks(&discovered).await?;
                self.verify(&discovered, &token, &nonce)
            }
            other => other,
        }
        .map_err(|e| {
            OAuthError::Rejected(match e {
                ClaimsVerificationError::SignatureVerification(why) => {
                    format!("id_token refused: signature: {why}")
                }
                other => format!("id_token refused: {other}"),
            })
        })?;
        self.check_party_and_issuer(&discovered, &claims)?;

        let mut identity = identity(&claims);
        if identity.subject.is_empty() {
            return Err(OAuthError::Rejected("id_token refused: empty sub".into()));
        }
        if self.userinfo
            && identity.email.is_none()
            && let Some(url) = &discovered.userinfo
        {
            let access_token = response.access_token().secret();
            self.fill_from_userinfo(url, access_token, &mut identity)
                .await?;
        }
        identity.approved_scopes = code_flow::granted_scopes(&response, &self.scopes);
        identity.tokens = Some(code_flow::tokens(&response));
        Ok(identity)
    }

    async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, OAuthError> {
        let discovered = self.discovered().await?;
        let client = code_flow::client(
            &self.client_id,
            self.secret.current()?,
            &discovered.endpoints,
        );
        code_flow::refresh(&self.http, &client, refresh_token).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    #[test]
    fn microsoft_issuers_are_the_template_with_the_tokens_own_tenant() {
        let rule = IssuerRule::MicrosoftTenant;
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let configured = Url::parse("https://login.microsoftonline.com/common/v2.0").unwrap();
        assert!(rule.accepts_discovered(&configured, template));
        assert!(!rule.accepts_discovered(&configured, "https://evil.example.com/{tenantid}/v2.0"));
        assert!(!rule.accepts_discovered(
            &configured,
            "https://login.microsoftonline.com.evil.example.com/{tenantid}/v2.0"
        ));

        let iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert!(rule.accepts_token(template, &iss, Some(TID)));
        assert!(!rule.accepts_token(template, &iss, None), "tid is required");
        let other = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert!(!rule.accepts_token(template, &iss, Some(other)));
        assert!(!rule.accepts_token(
            template,
            "https://login.microsoftonline.com/x/v2.0",
            Some("x")
        ));
        let sneaky = "a/../9188040d-6c67-4c5b-b112-36a304b66dad";
        assert!(!rule.accepts_token(
            template,
            &template.replace("{tenantid}", sneaky),
            Some(sneaky)
        ));
        // A single-tenant issuer is exact.
        assert!(rule.accepts_token(&iss, &iss, None));
        assert!(!rule.accepts_token(&iss, template, Some(TID)));
    }

    #[test]
    fn exact_issuers_are_the_configured_one() {
        let rule = IssuerRule::Exact;
        let configured = Url::parse("https://accounts.google.com").unwrap();
        assert!(rule.accepts_discovered(&configured, "https://accounts.google.com"));
        assert!(rule.accepts_discovered(&configured, "https://accounts.google.com/"));
        assert!(!rule.accepts_discovered(&configured, "https://accounts.google.com.evil"));
        let google = "https://accounts.google.com";
        assert!(rule.accepts_token(google, google, None));
        assert!(!rule.accepts_token(google, "https://accounts.google.com/", None));
        assert!(!rule.accepts_token(google, "https://evil.example.com", Some("x")));
    }

    #[test]
    fn only_a_literal_true_verifies_an_email() {
        assert!(is_true(&serde_json::json!(true)));
        assert!(is_true(&serde_json::json!("true")));
        for no in [
            serde_json::json!(false),
            serde_json::json!("false"),
            serde_json::json!("yes"),
            serde_json::json!(1),
            serde_json::Value::Null,
        ] {
            assert!(!is_true(&no), "{no}");
        }
    }
}

//! `latch-http`: outbound adapters over HTTP (reqwest).
//!
//! - [`HttpCodeSender`] implements the core's `CodeSender` port by POSTing
//!   each one-time code to a configured URL, so any email or SMS provider can
//!   be bridged: either as a JSON message signed with HMAC-SHA256, or in the
//!   Twilio Messages API's form format for SMS.
//! - [`oauth`] implements the core's `OAuthProvider` port: OpenID Connect
//!   providers by discovery ([`OidcProvider`]) and OAuth 2.0 providers with a
//!   known user API ([`OAuth2Provider`]), built from a [`ProviderConfig`] by
//!   [`oauth::provider`].
//! - [`HttpWebhookSender`] implements the core's `WebhookSender` port: it
//!   POSTs signed event bodies to webhook endpoints without following
//!   redirects, bounded by one timeout and a cap on the response read, and
//!   (unless [`WebhookSenderConfig`] allows it) never to loopback, private
//!   or link-local addresses, whether literal or resolved ([`webhooks`]).
//!
//! Invariant: depends on `latch-core` only among Latch crates; redirects are
//! never followed and every request has a timeout.
//!
//! # Enabling an OAuth provider
//!
//! The app builds one [`ProviderConfig`] per provider and calls
//! [`oauth::provider`], which checks it and returns an
//! `Arc<dyn OAuthProvider>`; nothing is fetched until the first sign-in.
//!
//! | field | meaning |
//! | --- | --- |
//! | `name` | the strategy suffix: `oauth_<name>`; `[a-z0-9_]{1,64}` |
//! | `kind` | [`ProviderKind`]: `oidc` (any OpenID Connect issuer), or a preset: `google`, `microsoft`, `gitlab`, `linkedin_oidc`, `apple`, `github`, `facebook`, `twitter` (or `x`), `discord` |
//! | `client_id` | as registered with the provider |
//! | `client_secret` | [`ClientSecret`]: `None` (public client), `Shared(secret)`, or for Apple `AppleKey { team_id, key_id, private_key_pem }` |
//! | `scopes` | replaces the preset's; OpenID Connect always gets `openid` |
//! | `issuer_url` | OpenID Connect issuer; required for `oidc`, replaces a preset's |
//! | `authorize_url`, `token_url` | replace the preset's or the discovered endpoint |
//! | `api_base_url` | OAuth 2.0 presets: the user API's base |
//! | `userinfo` | OpenID Connect: ask userinfo for a missing email (default on) |
//! | `timeout` | bound on each request to the provider (default 10 s) |
//!
//! Every URL must be https, or http on a loopback host, so a test can point
//! any preset at a server on `127.0.0.1`. A preset's default scopes:
//! `openid email profile` (Apple: `openid email name`), GitHub
//! `read:user user:email`, Facebook `email public_profile`, X
//! `users.read tweet.read`, Discord `identify email`.
//!
//! Apple answers the callback with a form POST (`response_mode=form_post`,
//! which the Apple preset's authorize URL carries) and sends the user's name
//! only in that POST's `user` field, never in the id_token: this adapter
//! returns Apple identities without names. Apple's client secret is a JWT:
//! with `ClientSecret::AppleKey` a fresh one (ES256, five minutes, `iss` the
//! team id, `sub` the client id, `aud` the issuer) is signed for each token
//! request; `ClientSecret::Shared` takes one made elsewhere, which stops
//! working when it expires (at most six months).
//!
//! Microsoft's multi-tenant issuers (`common`, `organizations`) publish
//! `https://login.microsoftonline.com/{tenantid}/v2.0` as their issuer: an
//! id_token is accepted only if its `iss` is exactly that with `{tenantid}`
//! replaced by the token's own `tid` claim, which must be a GUID. Any tenant
//! can sign in that way; configure a tenant's own issuer URL to allow that
//! tenant only. Microsoft's `email` claim is not verified by Microsoft, and
//! no `email_verified` comes with it, so it is reported unverified.

#![forbid(unsafe_code)]

pub mod oauth;
pub mod webhooks;

pub use oauth::{
    AppleClientKey, ClientSecret, ConfigError, OAuth2Provider, OidcProvider, ProviderConfig,
    ProviderKind,
};
pub use webhooks::{HttpWebhookSender, WebhookSenderConfig};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use latch_core::ports::{CodeDestination, CodeMessage, CodePurpose, CodeSender, SendError};

/// The header carrying `sha256=<hex HMAC of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-latch-signature";
/// The header carrying the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-latch-timestamp";

/// How messages are shaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFormat {
    /// A JSON document, signed with the shared secret.
    Json { secret: String },
    /// Twilio's Messages API: a form with `To`, `From`, `Body`, with basic
    /// auth. SMS only.
    Twilio {
        account_sid: String,
        auth_token: String,
        from: String,
    },
}

/// Sends codes by HTTP POST.
pub struct HttpCodeSender {
    client: reqwest::Client,
    url: String,
    format: HttpFormat,
}

impl HttpCodeSender {
    pub fn new(url: String, format: HttpFormat, timeout: Duration) -> Result<Self, SendError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| SendError(format!("http client: {e}")))?;
        Ok(Self {
            client,
            url,
            format,
        })
    }
}

/// The text a person reads.
fn text(message: &CodeMessage) -> String {
    let what = match message.purpose {
        CodePurpose::SignIn => "sign-in",
        CodePurpose::ResetPassword => "password reset",
        CodePurpose::SignUp => "verification",
        CodePurpose::SignUpAttemptNotice => {
            return "Someone tried to create a new account with this address, which already \
                    has an account. If that was you, sign in instead."
                .to_owned();
        }
    };
    format!(
        "Your {what} code is {}. It expires in {} minutes.",
        message.code, message.expires_in_minutes
    )
}

/// `sha256=` and the hex HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[async_trait]
impl CodeSender for HttpCodeSender {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError> {
        let request = match &self.format {
            HttpFormat::Json { secret } => {
                let (channel, to) = match &message.destination {
                    CodeDestination::Email(a) => ("email", a),
                    CodeDestination::Sms(n) => ("sms", n),
                };
                let purpose = message.purpose.as_str();
                let body = json!({
                    "channel": channel,
                    "to": to,
                    "code": message.code,
                    "purpose": purpose,
                    "expires_in_minutes": message.expires_in_minutes,
                    "text": text(message),
                })
                .to_string();
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                self.client
                    .post(&self.url)
                    .header("content-type", "application/json")
                    .header(TIMESTAMP_HEADER, timestamp.to_string())
                    .header(
                        SIGNATURE_HEADER,
                        signature(secret, timestamp, body.as_bytes()),
                    )
                    .body(body)
            }
            HttpFormat::Twilio {
                account_sid,
                auth_token,
                from,
            } => {
                let CodeDestination::Sms(to) = &message.destination else {
                    return Err(SendError("the twilio format sends SMS only".to_owned()));
                };
                self.client
                    .post(&self.url)
                    .basic_auth(account_sid, Some(auth_token))
                    .form(&[
                        ("To", to.as_str()),
                        ("From", from.as_str()),
                        ("Body", text(message).as_str()),
                    ])
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError(format!("request failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError(format!("the provider answered {status}")))
        }
    }
}

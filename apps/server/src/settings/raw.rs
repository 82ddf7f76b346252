//! The configuration as its files and `LATCH_*` variables spell it: flat
//! sections of strings and numbers, layered (embedded defaults, then
//! `--config FILE`, then the environment) and deserialized, not yet
//! validated. [`super::Settings`] is parsed from it; `latch config` prints it
//! with its secrets redacted.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

use latch_smtp::EmailTemplates;

/// The embedded defaults: every key, documented.
pub const DEFAULTS: &str = include_str!("../../../../config/default.toml");

/// Replaces a secret's text in `latch config`'s output.
pub const REDACTED: &str = "<redacted>";

/// Every section, as layered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub storage: StorageSection,
    pub instance: InstanceSection,
    pub sign_in: SignInSection,
    pub sign_up: SignUpSection,
    pub password: PasswordSection,
    pub codes: CodesSection,
    pub oauth: OAuthSection,
    pub rate_limits: RateLimitsSection,
    pub display: DisplaySection,
    pub webhooks: WebhooksSection,
    pub audit: AuditSection,
    pub runtime: RuntimeSection,
    pub dashboard: ListenerSection,
    pub metrics: ListenerSection,
    pub log: LogSection,
}

/// `[runtime]`: the settings kept as data, and how replicas follow them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    pub pinned: Vec<String>,
    pub poll_ms: u64,
}

/// `[dashboard]`, `[metrics]`: whether it is served, and where.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub enabled: bool,
    /// Empty for the main listener, else an address of its own.
    pub listen: String,
}

/// `[audit]`: how long the audit log keeps its entries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub keep_days: i64,
}

/// `[webhooks]`: how events reach applications.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    pub deliver_code_messages: bool,
    /// `auto`, `allow` or `forbid`.
    pub private_targets: String,
    pub timeout_secs: u64,
    pub max_response_kib: usize,
    pub retry_waits_secs: Vec<i64>,
    pub disable_after_hours: i64,
    pub keep_events_days: i64,
    /// `[webhooks.endpoints.<name>]`.
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, EndpointSection>,
}

/// One endpoint from configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    pub url: String,
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
}

/// `[display]`: the application's name, links and images, as the Frontend
/// API's environment shows them. Empty optional keys are unset; empty
/// `after_*` and `logo_link_url` keys are derived from the others.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DisplaySection {
    pub application_name: String,
    pub home_url: String,
    pub sign_in_url: String,
    pub sign_up_url: String,
    pub user_profile_url: String,
    pub after_sign_in_url: String,
    pub after_sign_up_url: String,
    pub after_sign_out_one_url: String,
    pub after_sign_out_all_url: String,
    pub after_switch_session_url: String,
    pub logo_link_url: String,
    pub logo_image_url: String,
    pub favicon_image_url: String,
    pub support_email: String,
    pub help_url: String,
    pub privacy_policy_url: String,
    pub terms_url: String,
}

/// `[rate_limits]`: requests per window; 0 requests turns a limit off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSection {
    pub create_client: u32,
    pub create_client_window_secs: i64,
    pub create_sign_in: u32,
    pub create_sign_in_window_secs: i64,
    pub create_sign_up: u32,
    pub create_sign_up_window_secs: i64,
    pub attempt: u32,
    pub attempt_window_secs: i64,
    pub prepare: u32,
    pub prepare_window_secs: i64,
    pub codes_per_destination: u32,
    pub codes_per_destination_window_secs: i64,
}

/// `[oauth]`: the callback, the flow's lifetime, linking, and the providers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSection {
    pub callback_url: String,
    pub flow_lifetime_secs: i64,
    pub link_verified_emails: bool,
    /// `[oauth.providers.<name>]`: each turns on `oauth_<name>`.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, ProviderSection>,
}

/// One identity provider. Only `client_id` is required; the rest default to
/// the preset `kind` names (by default the provider's own name, or `oidc`
/// for `custom_*` providers, which need `issuer_url`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    #[serde(default)]
    pub kind: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// Space-separated; empty: the preset's.
    #[serde(default)]
    pub scopes: String,
    #[serde(default)]
    pub issuer_url: String,
    #[serde(default)]
    pub authorize_url: String,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub api_base_url: String,
    /// Sign in with Apple: the key that signs client secrets, instead of a
    /// `client_secret`.
    #[serde(default)]
    pub apple_team_id: String,
    #[serde(default)]
    pub apple_key_id: String,
    #[serde(default)]
    pub apple_private_key_file: String,
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
    /// The name sign-in pages show; empty: the preset's, or one made from
    /// the provider's own name.
    #[serde(default)]
    pub display_name: String,
    /// An absolute http(s) URL of the provider's logo; empty: none.
    #[serde(default)]
    pub logo_url: String,
}

fn default_provider_timeout() -> u64 {
    10
}

impl ProviderSection {
    /// The preset (or `oidc`) this provider uses.
    pub fn kind_name<'a>(&'a self, name: &'a str) -> &'a str {
        match self.kind.as_str() {
            "" if name.starts_with("custom_") => "oidc",
            "" => name,
            kind => kind,
        }
    }
}

/// `[storage]`: the durable and flow stores and their connections.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Where users, clients and sessions live: "sqlite" or "postgres".
    pub durable: String,
    pub postgres_url: String,
    pub postgres_pool_size: usize,
    pub postgres_timeout_ms: u64,
    /// "disable" or "verify".
    pub postgres_tls: String,
    pub postgres_ca_file: String,
    /// Where sign-ins in progress live: "sqlite" or "redis".
    pub flow_store: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    pub redis_timeout_ms: u64,
}

/// `[codes]`: the code senders and their settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CodesSection {
    pub sender: String,
    pub http_url: String,
    pub http_format: String,
    pub http_secret: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    pub twilio_from: String,
    pub http_timeout_secs: u64,
    pub sms_sender: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub smtp_from: String,
    pub smtp_ca_file: String,
    pub smtp_timeout_secs: u64,
    pub smtp_sign_in_subject: String,
    pub smtp_sign_in_body: String,
    pub smtp_reset_password_subject: String,
    pub smtp_reset_password_body: String,
    pub smtp_sign_up_subject: String,
    pub smtp_sign_up_body: String,
    pub smtp_sign_up_notice_subject: String,
    pub smtp_sign_up_notice_body: String,
}

impl CodesSection {
    /// The four `smtp_*` message templates.
    pub fn smtp_templates(&self) -> EmailTemplates {
        EmailTemplates {
            sign_in_subject: self.smtp_sign_in_subject.clone(),
            sign_in_body: self.smtp_sign_in_body.clone(),
            reset_password_subject: self.smtp_reset_password_subject.clone(),
            reset_password_body: self.smtp_reset_password_body.clone(),
            sign_up_subject: self.smtp_sign_up_subject.clone(),
            sign_up_body: self.smtp_sign_up_body.clone(),
            sign_up_notice_subject: self.smtp_sign_up_notice_subject.clone(),
            sign_up_notice_body: self.smtp_sign_up_notice_body.clone(),
        }
    }
}

/// `[server]`: listening, origins, proxies, bodies, cookies, shutdown.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub addr: String,
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub max_body_bytes: usize,
    pub secure_cookies: bool,
    pub cookie_domain: String,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub geoip_file: String,
    pub shutdown_grace_secs: u64,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    pub max_connections: usize,
}

/// `[database]`: the SQLite file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub path: PathBuf,
    pub readers: usize,
    pub busy_timeout_ms: u64,
}

/// `[instance]`: environment, host, issuer and keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSection {
    pub environment: String,
    pub frontend_host: String,
    pub issuer: String,
    pub secret_key: String,
    pub encryption_key: String,
}

/// `[sign_in]`: identifiers, strategies, lifetimes, lockout, enumeration protection.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSection {
    pub email_address: bool,
    pub phone_number: bool,
    pub username: bool,
    pub password: bool,
    pub email_code: bool,
    pub phone_code: bool,
    pub totp: bool,
    pub backup_code: bool,
    pub email_code_second_factor: bool,
    pub password_min_length: usize,
    pub session_lifetime_secs: i64,
    pub session_token_lifetime_secs: i64,
    pub sign_in_lifetime_secs: i64,
    pub unused_client_lifetime_secs: i64,
    pub code_lifetime_secs: i64,
    pub max_code_attempts: u32,
    pub code_resend_cooldown_secs: i64,
    pub lockout_attempts: u32,
    pub lockout_duration_secs: i64,
    pub reverification_window_secs: i64,
    pub delete_self_enabled: bool,
    pub enumeration_protection: bool,
}

/// `[sign_up]`: the sign-up mode, what a sign-up must give and verify, and
/// the password rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpSection {
    /// "public" or "restricted".
    pub mode: String,
    pub require_email_address: bool,
    pub require_phone_number: bool,
    pub require_username: bool,
    pub require_password: bool,
    /// "off", "optional" or "required".
    pub first_name: String,
    pub last_name: String,
    pub verify_email_address: bool,
    pub verify_phone_number: bool,
    pub legal_consent_required: bool,
    pub password_may_match_identifier: bool,
}

/// `[password]`: argon2id cost and hash workers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSection {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_workers: usize,
}

/// `[log]`: filter and format.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub level: String,
    pub format: String,
}

impl RawSettings {
    /// Reads the layers: the embedded defaults, `file`, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        // Only LATCH_<SECTION>__<KEY> variables are configuration; others that
        // share the prefix (such as the LATCH_SECRET_KEY line `latch keys`
        // prints) are left alone.
        let variables: config::Map<String, String> = std::env::vars()
            .filter(|(name, _)| name.starts_with("LATCH_") && name.contains("__"))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("LATCH")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.allowed_origins")
                .with_list_parse_key("server.trusted_proxies")
                .try_parsing(true)
                .source(Some(variables)),
        );
        let mut raw: RawSettings = builder
            .build()
            .and_then(Config::try_deserialize)
            .context("invalid configuration")?;
        // An empty variable (LATCH_SERVER__ALLOWED_ORIGINS=) means no origins.
        raw.server.allowed_origins.retain(|o| !o.trim().is_empty());
        raw.server.trusted_proxies.retain(|o| !o.trim().is_empty());
        Ok(raw)
    }

    /// The embedded defaults alone.
    #[cfg(test)]
    pub fn defaults() -> anyhow::Result<Self> {
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .context("invalid embedded defaults")
    }

    /// A copy in which every secret that is set reads [`REDACTED`]: keys,
    /// passwords, tokens, client secrets and the passwords in URLs.
    pub fn redacted(&self) -> Self {
        let mut raw = self.clone();
        for secret in [
            &mut raw.instance.secret_key,
            &mut raw.instance.encryption_key,
            &mut raw.codes.http_secret,
            &mut raw.codes.twilio_auth_token,
            &mut raw.codes.smtp_password,
        ] {
            if !secret.is_empty() {
                *secret = REDACTED.to_owned();
            }
        }
        for provider in raw.oauth.providers.values_mut() {
            if !provider.client_secret.is_empty() {
                provider.client_secret = REDACTED.to_owned();
            }
        }
        for endpoint in raw.webhooks.endpoints.values_mut() {
            if !endpoint.secret.is_empty() {
                endpoint.secret = REDACTED.to_owned();
            }
            endpoint.url = redact_url(&endpoint.url);
        }
        raw.storage.postgres_url = redact_url(&raw.storage.postgres_url);
        raw.storage.redis_url = redact_url(&raw.storage.redis_url);
        raw
    }
}

/// `url` with the password of its user info and any `password` query
/// parameter replaced by [`REDACTED`].
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((before, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{before}?{}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

//! The typed configuration: embedded defaults, then `--config FILE`, then
//! `LATCH_<SECTION>__<KEY>` environment variables. Validated once at start;
//! a bad value stops start-up with a message naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

use latch_core::model::{self, Duration, IdentifierSettings, InstanceSettings, StrategySettings};
use latch_core::password::Argon2Settings;
use latch_smtp::{EmailTemplates, SmtpConfigError, SmtpSecurity};

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSection,
    pub instance: InstanceSection,
    pub sign_in: SignInSection,
    pub password: PasswordSection,
    pub codes: CodesSection,
    pub oauth: OAuthSection,
    pub rate_limits: RateLimitsSection,
    pub log: LogSettings,
}

/// `[rate_limits]`: requests per window; 0 requests turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSection {
    pub create_sign_in: u32,
    pub create_sign_in_window_secs: i64,
    pub attempt: u32,
    pub attempt_window_secs: i64,
    pub prepare: u32,
    pub prepare_window_secs: i64,
    pub codes_per_destination: u32,
    pub codes_per_destination_window_secs: i64,
}

impl RateLimitsSection {
    fn limits(&self) -> model::RateLimitSettings {
        let limit = |requests, secs| model::RateLimit::per_seconds(requests, secs);
        model::RateLimitSettings {
            create_sign_in: limit(self.create_sign_in, self.create_sign_in_window_secs),
            attempt: limit(self.attempt, self.attempt_window_secs),
            prepare: limit(self.prepare, self.prepare_window_secs),
            codes_per_destination: limit(
                self.codes_per_destination,
                self.codes_per_destination_window_secs,
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
}

impl CodesSection {
    /// The sender for SMS codes: `sms_sender`, or `sender` when it is empty.
    pub fn sms_sender(&self) -> &str {
        if self.sms_sender.is_empty() {
            &self.sender
        } else {
            &self.sms_sender
        }
    }

    /// The four `smtp_*` message templates.
    pub fn smtp_templates(&self) -> EmailTemplates {
        EmailTemplates {
            sign_in_subject: self.smtp_sign_in_subject.clone(),
            sign_in_body: self.smtp_sign_in_body.clone(),
            reset_password_subject: self.smtp_reset_password_subject.clone(),
            reset_password_body: self.smtp_reset_password_body.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: String,
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub max_body_bytes: usize,
    pub secure_cookies: bool,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub readers: usize,
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSection {
    pub environment: String,
    pub frontend_host: String,
    pub issuer: String,
    pub secret_key: String,
    pub encryption_key: String,
}

#[derive(Debug, Clone, Deserialize)]
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
    pub code_lifetime_secs: i64,
    pub max_code_attempts: u32,
    pub code_resend_cooldown_secs: i64,
    pub lockout_attempts: u32,
    pub lockout_duration_secs: i64,
    pub enumeration_protection: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSection {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub hash_workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

impl Settings {
    /// Reads the layers and validates the result.
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
        let mut settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .context("invalid configuration")?;
        // An empty variable (LATCH_SERVER__ALLOWED_ORIGINS=) means no origins.
        settings
            .server
            .allowed_origins
            .retain(|o| !o.trim().is_empty());
        settings
            .server
            .trusted_proxies
            .retain(|o| !o.trim().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        self.environment()?;
        if !self.instance.frontend_host.contains('.')
            || self.instance.frontend_host.contains(['/', ':', ' ', '$'])
        {
            bail!(
                "instance.frontend_host must be a host name with a dot, such as clerk.example.com"
            );
        }
        for origin in &self.server.allowed_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.trim_end_matches('/').ends_with("://");
            if !ok || origin.ends_with('/') {
                bail!(
                    "server.allowed_origins: {origin:?} is not an origin like https://app.example.com"
                );
            }
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes must be at least 1024");
        }
        if self.database.readers == 0 {
            bail!("database.readers must be at least 1");
        }
        const DAY: i64 = 86_400;
        let lifetimes = [
            (
                "sign_in.session_lifetime_secs",
                self.sign_in.session_lifetime_secs,
                3650 * DAY,
            ),
            (
                "sign_in.session_token_lifetime_secs",
                self.sign_in.session_token_lifetime_secs,
                DAY,
            ),
            (
                "sign_in.sign_in_lifetime_secs",
                self.sign_in.sign_in_lifetime_secs,
                30 * DAY,
            ),
            (
                "sign_in.code_lifetime_secs",
                self.sign_in.code_lifetime_secs,
                DAY,
            ),
            (
                "sign_in.code_resend_cooldown_secs",
                self.sign_in.code_resend_cooldown_secs,
                3600,
            ),
            (
                "sign_in.lockout_duration_secs",
                self.sign_in.lockout_duration_secs,
                30 * DAY,
            ),
        ];
        for (key, value, max) in lifetimes {
            if !(1..=max).contains(&value) {
                bail!("{key} must be between 1 and {max}");
            }
        }
        let r = &self.rate_limits;
        for (key, value) in [
            (
                "rate_limits.create_sign_in_window_secs",
                r.create_sign_in_window_secs,
            ),
            ("rate_limits.attempt_window_secs", r.attempt_window_secs),
            ("rate_limits.prepare_window_secs", r.prepare_window_secs),
            (
                "rate_limits.codes_per_destination_window_secs",
                r.codes_per_destination_window_secs,
            ),
        ] {
            if !(1..=DAY).contains(&value) {
                bail!("{key} must be between 1 and {DAY}");
            }
        }
        self.trusted_proxies()?;
        let most = latch_core::model::Password::MAX_BYTES;
        if !(1..=most).contains(&self.sign_in.password_min_length) {
            bail!("sign_in.password_min_length must be between 1 and {most}");
        }
        if !(self.sign_in.email_address || self.sign_in.phone_number || self.sign_in.username) {
            bail!("sign_in: at least one of email_address, phone_number, username must be on");
        }
        let p = &self.password;
        if !(1..=16).contains(&p.argon2_parallelism) {
            bail!("password.argon2_parallelism must be between 1 and 16");
        }
        if !(8 * p.argon2_parallelism..=latch_core::password::MAX_IMPORTED_MEMORY_KIB)
            .contains(&p.argon2_memory_kib)
        {
            bail!(
                "password.argon2_memory_kib must be between 8 x parallelism and {}",
                latch_core::password::MAX_IMPORTED_MEMORY_KIB
            );
        }
        if !(1..=64).contains(&p.argon2_iterations) {
            bail!("password.argon2_iterations must be between 1 and 64");
        }
        if p.hash_workers > 256 {
            bail!("password.hash_workers must be at most 256 (0 means one per CPU)");
        }
        if self.sign_in.lockout_attempts > 1000 {
            bail!("sign_in.lockout_attempts must be at most 1000 (0 turns lockout off)");
        }
        if !(1..=10).contains(&self.sign_in.max_code_attempts) {
            bail!("sign_in.max_code_attempts must be between 1 and 10");
        }
        let c = &self.codes;
        match c.sender.as_str() {
            "console" | "http" | "smtp" => {}
            other => bail!("codes.sender: {other:?} must be \"console\", \"http\" or \"smtp\""),
        }
        match c.sms_sender() {
            "console" | "http" => {}
            "smtp" if c.sms_sender.is_empty() => bail!(
                "codes.sms_sender must be \"console\" or \"http\" when codes.sender is \"smtp\": SMTP cannot send SMS"
            ),
            other => bail!(
                "codes.sms_sender: {other:?} must be \"console\" or \"http\", or empty for the same as codes.sender"
            ),
        }
        if c.sender == "http" || c.sms_sender() == "http" {
            if !(c.http_url.starts_with("http://") || c.http_url.starts_with("https://")) {
                bail!("codes.http_url must be an http(s) URL when the \"http\" sender is used");
            }
            match c.http_format.as_str() {
                "json" if c.http_secret.len() >= 16 => {}
                "json" => bail!(
                    "codes.http_secret must be at least 16 characters (it signs every message)"
                ),
                "twilio"
                    if !(c.twilio_account_sid.is_empty()
                        || c.twilio_auth_token.is_empty()
                        || c.twilio_from.is_empty()) => {}
                "twilio" => bail!(
                    "codes.twilio_account_sid, codes.twilio_auth_token and codes.twilio_from are needed for the twilio format"
                ),
                other => bail!("codes.http_format: {other:?} must be \"json\" or \"twilio\""),
            }
            if !(1..=60).contains(&c.http_timeout_secs) {
                bail!("codes.http_timeout_secs must be between 1 and 60");
            }
        }
        if c.sender == "smtp" {
            if c.smtp_host.trim().is_empty() {
                bail!("codes.smtp_host must be set when codes.sender is \"smtp\"");
            }
            if c.smtp_port == 0 {
                bail!("codes.smtp_port must be between 1 and 65535");
            }
            let Some(security) = SmtpSecurity::parse(&c.smtp_security) else {
                bail!(
                    "codes.smtp_security: {:?} must be \"starttls\", \"tls\" or \"plain\"",
                    c.smtp_security
                );
            };
            if c.smtp_username.is_empty() != c.smtp_password.is_empty() {
                bail!(
                    "codes.smtp_username and codes.smtp_password must both be set, or both empty"
                );
            }
            if !c.smtp_username.is_empty()
                && security == SmtpSecurity::Plain
                && !latch_core::model::is_loopback_host(&c.smtp_host)
            {
                bail!(
                    "codes.smtp_security: \"plain\" would send the SMTP password unencrypted to {:?}; use \"starttls\" or \"tls\" (plain AUTH is allowed only to a loopback host)",
                    c.smtp_host
                );
            }
            if c.smtp_from.trim().is_empty() {
                bail!("codes.smtp_from must be set when codes.sender is \"smtp\"");
            }
            if !(1..=120).contains(&c.smtp_timeout_secs) {
                bail!("codes.smtp_timeout_secs must be between 1 and 120");
            }
            match c.smtp_templates().validate() {
                Ok(()) => {}
                Err(SmtpConfigError::Template(name, problem)) => {
                    bail!("codes.smtp_{name} {problem}")
                }
                Err(other) => bail!("codes: {other}"),
            }
        }
        let st = &self.storage;
        match st.durable.as_str() {
            "sqlite" => {}
            "postgres" => {
                if !(st.postgres_url.starts_with("postgres://")
                    || st.postgres_url.starts_with("postgresql://"))
                {
                    bail!(
                        "storage.postgres_url must be a postgres:// URL when storage.durable is \"postgres\""
                    );
                }
                if st.flow_store != "redis" {
                    bail!(
                        "storage.flow_store must be \"redis\" when storage.durable is \"postgres\""
                    );
                }
                if !(1..=512).contains(&st.postgres_pool_size) {
                    bail!("storage.postgres_pool_size must be between 1 and 512");
                }
                if !(100..=60_000).contains(&st.postgres_timeout_ms) {
                    bail!("storage.postgres_timeout_ms must be between 100 and 60000");
                }
                match st.postgres_tls.as_str() {
                    "disable" => {}
                    "verify" => {
                        if !st.postgres_ca_file.is_empty()
                            && !Path::new(&st.postgres_ca_file).is_file()
                        {
                            bail!(
                                "storage.postgres_ca_file: {} is not a file",
                                st.postgres_ca_file
                            );
                        }
                    }
                    other => {
                        bail!("storage.postgres_tls: {other:?} must be \"disable\" or \"verify\"")
                    }
                }
            }
            other => bail!("storage.durable: {other:?} must be \"sqlite\" or \"postgres\""),
        }
        match st.flow_store.as_str() {
            "sqlite" => {}
            "redis" => {
                if !st.redis_url.starts_with("redis://") {
                    bail!(
                        "storage.redis_url must be a redis:// URL when storage.flow_store is \"redis\" (TLS to Redis is not built in: reach it on a private network)"
                    );
                }
                if !(100..=60_000).contains(&st.redis_timeout_ms) {
                    bail!("storage.redis_timeout_ms must be between 100 and 60000");
                }
            }
            other => bail!("storage.flow_store: {other:?} must be \"sqlite\" or \"redis\""),
        }
        let callback = &self.oauth.callback_url;
        if !(callback.is_empty()
            || callback.starts_with("https://")
            || callback.starts_with("http://"))
        {
            bail!(
                "oauth.callback_url must be an http(s) URL ending in /v1/oauth_callback, or empty"
            );
        }
        if !(60..=3600).contains(&self.oauth.flow_lifetime_secs) {
            bail!("oauth.flow_lifetime_secs must be between 60 and 3600");
        }
        for (name, p) in &self.oauth.providers {
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
        }
        let issuer = &self.instance.issuer;
        if !(issuer.is_empty() || issuer.starts_with("https://") || issuer.starts_with("http://"))
            || issuer.ends_with('/')
        {
            bail!(
                "instance.issuer must be a URL like https://clerk.example.com (no trailing slash), or empty"
            );
        }
        let secret = &self.instance.secret_key;
        if !(secret.is_empty() || secret.starts_with("sk_test_") || secret.starts_with("sk_live_"))
        {
            bail!("instance.secret_key must start with sk_test_ or sk_live_");
        }
        if !secret.is_empty() && secret.len() < 8 + 24 {
            bail!(
                "instance.secret_key is too short: use at least 24 random characters after the prefix"
            );
        }
        let key = &self.instance.encryption_key;
        if !key.is_empty()
            && let Err(why) = latch_core::secrets::SecretBox::from_base64(key)
        {
            bail!("instance.encryption_key: {why}; `openssl rand -base64 32` makes one");
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            bail!("log.format must be \"text\" or \"json\"");
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.addr.parse().with_context(|| {
            format!(
                "server.addr: {:?} is not an address like 127.0.0.1:3210",
                self.server.addr
            )
        })
    }

    pub fn environment(&self) -> anyhow::Result<model::Environment> {
        match self.instance.environment.as_str() {
            "development" => Ok(model::Environment::Development),
            "production" => Ok(model::Environment::Production),
            other => {
                bail!("instance.environment: {other:?} must be \"development\" or \"production\"")
            }
        }
    }

    pub fn instance_settings(&self) -> anyhow::Result<InstanceSettings> {
        let s = &self.sign_in;
        Ok(InstanceSettings {
            environment: self.environment()?,
            identifiers: IdentifierSettings {
                email_address: s.email_address,
                phone_number: s.phone_number,
                username: s.username,
            },
            strategies: StrategySettings {
                oauth_providers: self.oauth.providers.keys().cloned().collect(),
                password: s.password,
                email_code: s.email_code,
                phone_code: s.phone_code,
                totp: s.totp,
                backup_code: s.backup_code,
                email_code_second_factor: s.email_code_second_factor,
            },
            password_min_length: s.password_min_length,
            session_lifetime: Duration::seconds(s.session_lifetime_secs),
            session_token_lifetime: Duration::seconds(s.session_token_lifetime_secs),
            sign_in_lifetime: Duration::seconds(s.sign_in_lifetime_secs),
            code_lifetime: Duration::seconds(s.code_lifetime_secs),
            max_code_attempts: s.max_code_attempts,
            code_resend_cooldown: Duration::seconds(s.code_resend_cooldown_secs),
            lockout_attempts: s.lockout_attempts,
            lockout_duration: Duration::seconds(s.lockout_duration_secs),
            enumeration_protection: s.enumeration_protection,
            redirect_origins: self.server.allowed_origins.clone(),
            oauth_callback_url: self.oauth_callback_url(),
            oauth_flow_lifetime: Duration::seconds(self.oauth.flow_lifetime_secs),
            oauth_link_verified_emails: self.oauth.link_verified_emails,
            rate_limits: self.rate_limits.limits(),
        })
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<latch_api::client_ip::IpNet>> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))
            })
            .collect()
    }

    pub fn argon2(&self) -> Argon2Settings {
        Argon2Settings {
            memory_kib: self.password.argon2_memory_kib,
            iterations: self.password.argon2_iterations,
            parallelism: self.password.argon2_parallelism,
        }
    }

    pub fn hash_workers(&self) -> usize {
        match self.password.hash_workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }

    /// Latch's OAuth callback as browsers reach it.
    pub fn oauth_callback_url(&self) -> String {
        if self.oauth.callback_url.is_empty() {
            format!("{}/v1/oauth_callback", self.issuer())
        } else {
            self.oauth.callback_url.clone()
        }
    }

    pub fn issuer(&self) -> String {
        if self.instance.issuer.is_empty() {
            format!("https://{}", self.instance.frontend_host)
        } else {
            self.instance.issuer.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let s: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .unwrap();
        s.validate().unwrap();
        assert_eq!(s.instance_settings().unwrap(), InstanceSettings::default());
        assert_eq!(s.issuer(), "https://clerk.latch.localhost");
    }

    /// The message of the error that the defaults, changed by `edit`, stop at.
    fn codes_error(edit: impl FnOnce(&mut CodesSection)) -> String {
        let mut s: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .unwrap();
        edit(&mut s.codes);
        match s.validate() {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    /// The message the defaults, changed by `edit`, stop at ("" if none).
    fn error_with(edit: impl FnOnce(&mut Settings)) -> String {
        let mut s: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .unwrap();
        edit(&mut s);
        s.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn storage_tls_rate_limits_and_proxies_are_checked_naming_their_keys() {
        let postgres = |s: &mut Settings| {
            s.storage.durable = "postgres".into();
            s.storage.flow_store = "redis".into();
        };
        assert_eq!(error_with(postgres), "");
        let e = error_with(|s| {
            postgres(s);
            s.storage.postgres_tls = "prefer".into();
        });
        assert!(e.contains("storage.postgres_tls"), "{e}");
        let e = error_with(|s| {
            postgres(s);
            s.storage.postgres_tls = "verify".into();
            s.storage.postgres_ca_file = "/nonexistent/ca.pem".into();
        });
        assert!(e.contains("storage.postgres_ca_file"), "{e}");
        let e = error_with(|s| {
            postgres(s);
            s.storage.redis_url = "rediss://cache.internal:6380".into();
        });
        assert!(e.contains("storage.redis_url"), "{e}");
        let e = error_with(|s| s.rate_limits.prepare_window_secs = 0);
        assert!(e.contains("rate_limits.prepare_window_secs"), "{e}");
        let e = error_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/33".into()]);
        assert!(e.contains("server.trusted_proxies"), "{e}");
        assert_eq!(
            error_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/8".into(), "fd00::/8".into()]),
            ""
        );
    }

    fn smtp(c: &mut CodesSection) {
        c.sender = "smtp".into();
        c.sms_sender = "console".into();
        c.smtp_host = "smtp.example.com".into();
        c.smtp_from = "Latch <no-reply@example.com>".into();
    }

    #[test]
    fn smtp_settings_are_checked_naming_their_keys() {
        assert_eq!(codes_error(smtp), "");
        type Edit = fn(&mut CodesSection);
        let cases: [(Edit, &str); 10] = [
            (|c| c.sms_sender = String::new(), "codes.sms_sender must be"),
            (|c| c.sms_sender = "smtp".into(), "codes.sms_sender"),
            (|c| c.smtp_host = String::new(), "codes.smtp_host"),
            (|c| c.smtp_port = 0, "codes.smtp_port"),
            (|c| c.smtp_security = "ssl".into(), "codes.smtp_security"),
            (|c| c.smtp_username = "latch".into(), "codes.smtp_username"),
            (|c| c.smtp_from = " ".into(), "codes.smtp_from"),
            (|c| c.smtp_timeout_secs = 0, "codes.smtp_timeout_secs"),
            (
                |c| c.smtp_reset_password_body = "no code here".into(),
                "codes.smtp_reset_password_body must contain {code}",
            ),
            (
                |c| c.smtp_sign_in_subject = "two\nlines".into(),
                "codes.smtp_sign_in_subject must be one line",
            ),
        ];
        for (edit, key) in cases {
            let message = codes_error(|c| {
                smtp(c);
                edit(c);
            });
            assert!(message.contains(key), "{key}: {message}");
        }
        // AUTH without TLS only to this machine.
        let plain_auth = |host: &'static str| {
            move |c: &mut CodesSection| {
                smtp(c);
                c.smtp_host = host.into();
                c.smtp_security = "plain".into();
                c.smtp_username = "latch".into();
                c.smtp_password = "secret".into();
            }
        };
        assert!(codes_error(plain_auth("smtp.example.com")).contains("codes.smtp_security"));
        assert_eq!(codes_error(plain_auth("127.0.0.1")), "");
        assert_eq!(codes_error(plain_auth("localhost")), "");
    }

    #[test]
    fn sms_sender_may_differ_from_sender_and_its_settings_are_checked() {
        assert_eq!(codes_error(|c| c.sms_sender = "console".into()), "");
        // SMS by HTTP needs the HTTP settings even when email goes elsewhere.
        let message = codes_error(|c| {
            smtp(c);
            c.sms_sender = "http".into();
        });
        assert!(message.contains("codes.http_url"), "{message}");
        let message = codes_error(|c| c.sms_sender = "pigeon".into());
        assert!(message.contains("codes.sms_sender"), "{message}");
        let message = codes_error(|c| c.sender = "pigeon".into());
        assert!(message.contains("codes.sender"), "{message}");
    }

    #[test]
    fn the_default_smtp_templates_are_the_adapters_defaults() {
        let s: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .and_then(Config::try_deserialize)
            .unwrap();
        assert_eq!(s.codes.smtp_templates(), EmailTemplates::default());
    }

    #[test]
    fn overlays_in_the_repo_are_valid() {
        for overlay in ["development", "production", "test"] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../config")
                .join(format!("{overlay}.toml"));
            Settings::load(Some(&path)).unwrap();
        }
    }
}

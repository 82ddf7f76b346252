//! Wiring: builds the adapters the settings name and hands them to the core.

use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;

use latch_api::{ApiConfig, ApiState, SigningKeys};
use latch_core::model::{Environment, random_base62};
use latch_core::password::Argon2Hasher;
use latch_core::ports::{
    CodeSender, ConsoleCodeSender, InstanceStore, OsRandom, Random, SystemClock,
};
use latch_core::secrets::SecretBox;
use latch_core::service::{Latch, Ports};
use latch_http::{HttpCodeSender, HttpFormat};
use latch_sqlite::{SqliteConfig, SqliteStore};

use crate::settings::Settings;

/// The opened storage and the instance keys.
pub struct App {
    pub settings: Settings,
    pub store: SqliteStore,
    pub secret_key: String,
    pub secrets: Arc<SecretBox>,
}

impl App {
    /// Opens the database (applying migrations) and resolves the secret key.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let path = settings.database.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("database.path: cannot create {}", dir.display()))?;
        }
        let config = SqliteConfig {
            readers: settings.database.readers,
            busy_timeout: std::time::Duration::from_millis(settings.database.busy_timeout_ms),
        };
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, config))
            .await?
            .map_err(|e| {
                anyhow::anyhow!(
                    "database.path: cannot open {}: {e}",
                    settings.database.path.display()
                )
            })?;
        let secret_key = resolve_secret_key(&settings, &store).await?;
        let secrets = Arc::new(resolve_encryption_key(&settings, &store).await?);
        Ok(Self {
            settings,
            store,
            secret_key,
            secrets,
        })
    }

    /// `pk_test_`/`pk_live_` + base64(`host$`), as Clerk's SDKs parse it.
    pub fn publishable_key(&self) -> anyhow::Result<String> {
        let prefix = match self.settings.environment()? {
            Environment::Development => "pk_test_",
            Environment::Production => "pk_live_",
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}$", self.settings.instance.frontend_host));
        Ok(format!("{prefix}{encoded}"))
    }

    /// The use cases over this app's adapters.
    pub fn latch(&self) -> anyhow::Result<Latch> {
        let random: Arc<dyn Random> = Arc::new(OsRandom);
        let store = Arc::new(self.store.clone());
        let hasher = Argon2Hasher::new(
            self.settings.argon2(),
            self.settings.hash_workers(),
            random.clone(),
        )
        .map_err(|e| anyhow::anyhow!("password: {e}"))?;
        let ports = Ports {
            users: store.clone(),
            clients: store.clone(),
            sign_ins: store.clone(),
            instance: store,
            hasher: Arc::new(hasher),
            codes: self.code_sender()?,
            clock: Arc::new(SystemClock),
            random,
            secrets: self.secrets.clone(),
        };
        Ok(Latch::new(ports, self.settings.instance_settings()?))
    }

    /// The code sender the settings name.
    fn code_sender(&self) -> anyhow::Result<Arc<dyn CodeSender>> {
        let c = &self.settings.codes;
        Ok(match c.sender.as_str() {
            "http" => {
                let format = match c.http_format.as_str() {
                    "twilio" => HttpFormat::Twilio {
                        account_sid: c.twilio_account_sid.clone(),
                        auth_token: c.twilio_auth_token.clone(),
                        from: c.twilio_from.clone(),
                    },
                    _ => HttpFormat::Json {
                        secret: c.http_secret.clone(),
                    },
                };
                let timeout = std::time::Duration::from_secs(c.http_timeout_secs);
                Arc::new(
                    HttpCodeSender::new(c.http_url.clone(), format, timeout)
                        .map_err(|e| anyhow::anyhow!("codes: {e}"))?,
                )
            }
            _ => Arc::new(ConsoleCodeSender),
        })
    }

    /// The HTTP state: use cases, signing key and API configuration.
    pub async fn api_state(&self) -> anyhow::Result<ApiState> {
        let keys = SigningKeys::load_or_create(&self.store)
            .await
            .map_err(|e| anyhow::anyhow!("signing key: {e}"))?;
        let s = &self.settings;
        let config = ApiConfig {
            secret_key: self.secret_key.clone(),
            issuer: s.issuer(),
            allowed_origins: s.server.allowed_origins.clone(),
            allow_loopback_origins: s.environment()? == Environment::Development,
            max_body_bytes: s.server.max_body_bytes,
            secure_cookies: s.server.secure_cookies,
            cookie_max_age_secs: s.sign_in.session_lifetime_secs,
            instance_id: format!("ins_{}", &keys.kid()[4..]),
        };
        Ok(ApiState::new(self.latch()?, keys, config))
    }
}

/// The configured encryption key, or the one stored, or a new one.
async fn resolve_encryption_key(
    settings: &Settings,
    store: &SqliteStore,
) -> anyhow::Result<SecretBox> {
    let configured = &settings.instance.encryption_key;
    let key = if configured.is_empty() {
        store
            .get_or_insert("encryption_key", &SecretBox::generate_key(&OsRandom))
            .await
            .map_err(|e| anyhow::anyhow!("storing the encryption key: {e}"))?
    } else {
        configured.clone()
    };
    SecretBox::from_base64(&key).map_err(|why| anyhow::anyhow!("instance.encryption_key: {why}"))
}

/// The configured secret key, or the one stored for this environment, or a new one.
async fn resolve_secret_key(settings: &Settings, store: &SqliteStore) -> anyhow::Result<String> {
    if !settings.instance.secret_key.is_empty() {
        return Ok(settings.instance.secret_key.clone());
    }
    let (name, prefix) = match settings.environment()? {
        Environment::Development => ("secret_key_development", "sk_test_"),
        Environment::Production => ("secret_key_production", "sk_live_"),
    };
    // 48 base62 characters from the CSPRNG: about 285 bits.
    let fresh = format!("{prefix}{}", random_base62(48, &OsRandom));
    store
        .get_or_insert(name, &fresh)
        .await
        .map_err(|e| anyhow::anyhow!("storing the secret key: {e}"))
}

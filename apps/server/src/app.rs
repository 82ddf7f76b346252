//! Wiring: builds the adapters the settings name and hands them to the core.

use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;

use async_trait::async_trait;
use latch_api::{ApiConfig, ApiState, SigningKeys};
use latch_core::model::{Environment, random_base62};
use latch_core::ports::{
    ClientRepository, CodeDestination, CodeMessage, CodeSender, Counters, InstanceStore, Random,
    SendError, SignInStore, UserRepository,
};
use latch_core::secrets::SecretBox;
use latch_core::service::{Latch, OAuthProviders, Ports};
use latch_http::oauth::{self, AppleClientKey, ClientSecret, ProviderConfig, ProviderKind};
use latch_http::{HttpCodeSender, HttpFormat};
use latch_os::{Argon2Hasher, ConsoleCodeSender, OsRandom, SystemClock};
use latch_postgres::{PostgresConfig, PostgresStore, PostgresTls};
use latch_redis::{RedisConfig, RedisSignInStore};
use latch_smtp::{SmtpCodeSender, SmtpConfig, SmtpConfigError, SmtpCredentials, SmtpSecurity};
use latch_sqlite::{SqliteConfig, SqliteStore};

use crate::settings::{CodesSection, Settings};

/// The opened storage and the instance keys.
pub struct App {
    pub settings: Settings,
    /// Users, clients and sessions, and instance material.
    pub durable: Durable,
    pub secret_key: String,
    pub secrets: Arc<SecretBox>,
    /// Where sign-ins in progress and rate-limit counters live.
    pub flow: Flow,
}

impl App {
    /// Opens the database (applying migrations) and resolves the secret key.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let (durable, sqlite) = open_durable(&settings).await?;
        let secret_key = resolve_secret_key(&settings, &*durable.instance).await?;
        let secrets = Arc::new(resolve_encryption_key(&settings, &*durable.instance).await?);
        let flow = flow_store(&settings, sqlite).await?;
        Ok(Self {
            settings,
            durable,
            secret_key,
            secrets,
            flow,
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
        let hasher = Argon2Hasher::new(
            self.settings.argon2(),
            self.settings.hash_workers(),
            random.clone(),
        )
        .map_err(|e| anyhow::anyhow!("password: {e}"))?;
        let ports = Ports {
            users: self.durable.users.clone(),
            clients: self.durable.clients.clone(),
            sign_ins: self.flow.sign_ins.clone(),
            counters: self.flow.counters.clone(),
            instance: self.durable.instance.clone(),
            hasher: Arc::new(hasher),
            codes: self.code_sender()?,
            clock: Arc::new(SystemClock),
            random,
            secrets: self.secrets.clone(),
            oauth: self.oauth_providers()?,
        };
        Ok(Latch::new(ports, self.settings.instance_settings()?))
    }

    /// The identity providers of `[oauth.providers.*]`. Nothing is fetched
    /// yet: OpenID Connect discovery happens on first use.
    fn oauth_providers(&self) -> anyhow::Result<OAuthProviders> {
        let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        let mut providers = Vec::new();
        for (name, p) in &self.settings.oauth.providers {
            let key = format!("oauth.providers.{name}");
            let kind: ProviderKind = p
                .kind_name(name)
                .parse()
                .map_err(|e| anyhow::anyhow!("{key}.kind: {e}"))?;
            let mut config = ProviderConfig::new(name.as_str(), kind, p.client_id.trim());
            config.client_secret = if p.apple_private_key_file.is_empty() {
                ClientSecret::Shared(p.client_secret.clone())
            } else {
                let path = &p.apple_private_key_file;
                ClientSecret::AppleKey(AppleClientKey {
                    team_id: p.apple_team_id.clone(),
                    key_id: p.apple_key_id.clone(),
                    private_key_pem: std::fs::read_to_string(path).with_context(|| {
                        format!("{key}.apple_private_key_file: cannot read {path}")
                    })?,
                })
            };
            config.scopes =
                nonempty(&p.scopes).map(|s| s.split_whitespace().map(str::to_owned).collect());
            config.issuer_url = nonempty(&p.issuer_url);
            config.authorize_url = nonempty(&p.authorize_url);
            config.token_url = nonempty(&p.token_url);
            config.api_base_url = nonempty(&p.api_base_url);
            config.timeout = std::time::Duration::from_secs(p.timeout_secs);
            providers.push(oauth::provider(&config).map_err(|e| anyhow::anyhow!("{key}: {e}"))?);
        }
        Ok(OAuthProviders::new(providers))
    }

    /// The code senders the settings name: `codes.sender`, and
    /// `codes.sms_sender` for SMS when it names another one.
    fn code_sender(&self) -> anyhow::Result<Arc<dyn CodeSender>> {
        let c = &self.settings.codes;
        let email = named_code_sender(&c.sender, c)?;
        if c.sms_sender() == c.sender {
            return Ok(email);
        }
        let sms = named_code_sender(c.sms_sender(), c)?;
        Ok(Arc::new(CodeRouter { email, sms }))
    }

    /// The HTTP state: use cases, signing key and API configuration.
    pub async fn api_state(&self) -> anyhow::Result<ApiState> {
        let keys = SigningKeys::load_or_create(&*self.durable.instance)
            .await
            .map_err(|e| anyhow::anyhow!("signing key: {e}"))?;
        let s = &self.settings;
        let config = ApiConfig {
            secret_key: self.secret_key.clone(),
            issuer: s.issuer(),
            allowed_origins: s.server.allowed_origins.clone(),
            allow_loopback_origins: s.environment()? == Environment::Development,
            max_body_bytes: s.server.max_body_bytes,
            // Production cookies are Secure whatever the setting: a browser
            // only ever reaches a production instance over HTTPS.
            secure_cookies: s.server.secure_cookies || s.environment()? == Environment::Production,
            cookie_max_age_secs: s.sign_in.session_lifetime_secs,
            instance_id: format!("ins_{}", &keys.kid()[4..]),
            trusted_proxies: s.trusted_proxies()?,
        };
        Ok(ApiState::new(
            self.latch()?,
            keys,
            config,
            Arc::new(SystemClock),
            Arc::new(OsRandom),
        ))
    }
}

/// The durable stores the settings name.
#[derive(Clone)]
pub struct Durable {
    pub users: Arc<dyn UserRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub instance: Arc<dyn InstanceStore>,
}

/// Opens the durable store (applying migrations): the SQLite file, or
/// PostgreSQL. Returns the SQLite store too when it is the one, for a flow
/// store kept beside it.
pub async fn open_durable(settings: &Settings) -> anyhow::Result<(Durable, Option<SqliteStore>)> {
    if settings.storage.durable == "postgres" {
        let s = &settings.storage;
        let config = PostgresConfig {
            pool_size: s.postgres_pool_size,
            connect_timeout: std::time::Duration::from_millis(s.postgres_timeout_ms),
            statement_timeout: std::time::Duration::from_millis(s.postgres_timeout_ms),
            tls: match s.postgres_tls.as_str() {
                "verify" => PostgresTls::Verify {
                    ca_file: (!s.postgres_ca_file.is_empty())
                        .then(|| s.postgres_ca_file.clone().into()),
                },
                _ => PostgresTls::Disable,
            },
            ..PostgresConfig::new(s.postgres_url.clone())
        };
        let store = Arc::new(
            PostgresStore::connect(&config)
                .await
                .map_err(|e| anyhow::anyhow!("storage.postgres_url: {e}"))?,
        );
        let durable = Durable {
            users: store.clone(),
            clients: store.clone(),
            instance: store,
        };
        return Ok((durable, None));
    }
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
    let shared = Arc::new(store.clone());
    let durable = Durable {
        users: shared.clone(),
        clients: shared.clone(),
        instance: shared,
    };
    Ok((durable, Some(store)))
}

/// The short-lived state: sign-ins in progress and rate-limit counters,
/// kept in one store.
#[derive(Clone)]
pub struct Flow {
    pub sign_ins: Arc<dyn SignInStore>,
    pub counters: Arc<dyn Counters>,
}

impl Flow {
    fn of<S: SignInStore + Counters + 'static>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            sign_ins: store.clone(),
            counters: store,
        }
    }
}

/// The flow store the settings name: the SQLite database, or Redis.
async fn flow_store(settings: &Settings, sqlite: Option<SqliteStore>) -> anyhow::Result<Flow> {
    let s = &settings.storage;
    if s.flow_store != "redis" {
        let store = sqlite.ok_or_else(|| {
            anyhow::anyhow!(
                "storage.flow_store must be \"redis\" when storage.durable is \"postgres\""
            )
        })?;
        return Ok(Flow::of(store));
    }
    let config = RedisConfig {
        url: s.redis_url.clone(),
        key_prefix: s.redis_key_prefix.clone(),
        timeout: std::time::Duration::from_millis(s.redis_timeout_ms),
    };
    let redis = RedisSignInStore::connect(&config)
        .await
        .map_err(|e| anyhow::anyhow!("storage.redis_url: {e}"))?;
    Ok(Flow::of(redis))
}

/// The configured encryption key, or the one stored, or a new one.
async fn resolve_encryption_key(
    settings: &Settings,
    store: &dyn InstanceStore,
) -> anyhow::Result<SecretBox> {
    let configured = &settings.instance.encryption_key;
    let key = if configured.is_empty() {
        if settings.environment()? == Environment::Production {
            tracing::warn!(
                "instance.encryption_key is not set: the key that seals second factors is kept in the database itself"
            );
        }
        store
            .get_or_insert("encryption_key", &SecretBox::generate_key(&OsRandom))
            .await
            .map_err(|e| anyhow::anyhow!("storing the encryption key: {e}"))?
    } else {
        configured.clone()
    };
    let secrets = SecretBox::from_base64(&key)
        .map_err(|why| anyhow::anyhow!("instance.encryption_key: {why}"))?;
    // A digest of a constant under the key, kept from the first start: another
    // key would make every TOTP secret and backup code unusable.
    let check = secrets.digest("latch/key-check", "v1");
    let stored = store
        .get_or_insert("encryption_key_check", &check)
        .await
        .map_err(|e| anyhow::anyhow!("storing the encryption key check: {e}"))?;
    if stored != check {
        anyhow::bail!(
            "instance.encryption_key is not the key this database's second factors were sealed with; configure that key again"
        );
    }
    Ok(secrets)
}

/// One code sender, by its name in `[codes]`.
fn named_code_sender(name: &str, c: &CodesSection) -> anyhow::Result<Arc<dyn CodeSender>> {
    Ok(match name {
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
        "smtp" => {
            // Read here: adapters read no files themselves.
            let extra_root_certificates_pem = match c.smtp_ca_file.as_str() {
                "" => None,
                path => Some(
                    std::fs::read(path)
                        .with_context(|| format!("codes.smtp_ca_file: cannot read {path}"))?,
                ),
            };
            let credentials = (!c.smtp_username.is_empty()).then(|| SmtpCredentials {
                username: c.smtp_username.clone(),
                password: c.smtp_password.clone(),
            });
            let config = SmtpConfig {
                host: c.smtp_host.clone(),
                port: c.smtp_port,
                security: SmtpSecurity::parse(&c.smtp_security)
                    .context("codes.smtp_security is not valid")?,
                credentials,
                from: c.smtp_from.clone(),
                extra_root_certificates_pem,
                timeout: std::time::Duration::from_secs(c.smtp_timeout_secs),
                templates: c.smtp_templates(),
            };
            Arc::new(SmtpCodeSender::new(config).map_err(|e| {
                let key = match e {
                    SmtpConfigError::From(_) => "codes.smtp_from",
                    SmtpConfigError::Certificates(_) => "codes.smtp_ca_file",
                    _ => "codes",
                };
                anyhow::anyhow!("{key}: {e}")
            })?)
        }
        _ => Arc::new(ConsoleCodeSender),
    })
}

/// Hands email codes to one sender and SMS codes to another, so that email
/// can go by SMTP while SMS goes by HTTP (or to the log).
struct CodeRouter {
    email: Arc<dyn CodeSender>,
    sms: Arc<dyn CodeSender>,
}

#[async_trait]
impl CodeSender for CodeRouter {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError> {
        match message.destination {
            CodeDestination::Email(_) => self.email.send(message).await,
            CodeDestination::Sms(_) => self.sms.send(message).await,
        }
    }
}

/// The configured secret key, or the one stored for this environment, or a new one.
async fn resolve_secret_key(
    settings: &Settings,
    store: &dyn InstanceStore,
) -> anyhow::Result<String> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use latch_core::ports::CodePurpose;
    use latch_testkit::RecordingCodeSender;

    use super::*;

    fn message(destination: CodeDestination) -> CodeMessage {
        CodeMessage {
            destination,
            code: "123456".to_owned(),
            purpose: CodePurpose::SignIn,
            expires_in_minutes: 10,
        }
    }

    #[tokio::test]
    async fn the_router_sends_email_and_sms_codes_to_their_own_senders() {
        let email = Arc::new(RecordingCodeSender::default());
        let sms = Arc::new(RecordingCodeSender::default());
        let router = CodeRouter {
            email: email.clone(),
            sms: sms.clone(),
        };
        router
            .send(&message(CodeDestination::Email("ann@example.com".into())))
            .await
            .unwrap();
        router
            .send(&message(CodeDestination::Sms("+15550002222".into())))
            .await
            .unwrap();
        assert_eq!(
            email.last_code_to("ann@example.com").as_deref(),
            Some("123456")
        );
        assert_eq!(email.count(), 1);
        assert_eq!(sms.last_code_to("+15550002222").as_deref(), Some("123456"));
        assert_eq!(sms.count(), 1);
        sms.fail(true);
        assert!(
            router
                .send(&message(CodeDestination::Sms("+15550002222".into())))
                .await
                .is_err(),
            "a failure of the chosen sender is the router's failure"
        );
    }

    #[test]
    fn an_smtp_ca_file_that_cannot_be_read_or_holds_no_certificate_is_named() {
        let mut codes = Settings::load(None).unwrap().codes;
        codes.smtp_host = "smtp.example.com".to_owned();
        codes.smtp_from = "no-reply@example.com".to_owned();
        codes.smtp_ca_file = "/nonexistent/ca.pem".to_owned();
        let error = named_code_sender("smtp", &codes).err().unwrap();
        assert!(error.to_string().contains("codes.smtp_ca_file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        codes.smtp_ca_file = path.display().to_string();
        let error = named_code_sender("smtp", &codes).err().unwrap();
        assert!(error.to_string().contains("codes.smtp_ca_file"), "{error}");
        codes.smtp_ca_file = String::new();
        codes.smtp_from = "not a mailbox".to_owned();
        let error = named_code_sender("smtp", &codes).err().unwrap();
        assert!(error.to_string().contains("codes.smtp_from"), "{error}");
    }
}

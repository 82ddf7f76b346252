//! Wiring: builds the adapters the settings name and hands them to the core.
//! Every choice of the settings is matched exhaustively: a new kind of store
//! or sender is a compile error here until it is wired.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use latch_api::{ApiConfig, ApiState, SigningKeys};
use latch_core::model::Environment;
use latch_core::ports::{
    AuditLog, ClientRepository, CodeDestination, CodeMessage, CodeSender, Counters, InstanceStore,
    OAuthProviderFactory, OperatorStore, Outbox, ProviderClient, Random, Readiness, SendError,
    SettingsStore, SignInSteps, SignInStore, SignUpSteps, SignUpStore, UserRepository,
    WebhookStore,
};
use latch_core::secrets::SecretBox;
use latch_core::service::{OAuthProviders, Ports, Services};
use latch_http::HttpCodeSender;
use latch_http::oauth::{self, AppleClientKey, ClientSecret, ProviderConfig};
use latch_http::webhooks::HttpWebhookSender;
use latch_os::{Argon2Hasher, ConsoleCodeSender, OsRandom, SystemClock};
use latch_postgres::{PostgresConfig, PostgresStore};
use latch_redis::{RedisConfig, RedisSignInStore};
use latch_smtp::{SmtpCodeSender, SmtpConfig, SmtpConfigError};
use latch_sqlite::{SqliteConfig, SqliteStore};

use crate::settings::{
    Codes, EmailDelivery, FlowStore, HttpSender, OAuthProvider, Postgres, PostgresTls,
    ProviderSecret, Redis, Settings, SmsDelivery, SmtpSender, Sqlite, Storage,
};

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
    /// Opens the stores (applying migrations) and resolves the instance keys.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let (durable, flow) = open_storage(&settings.storage).await?;
        let secret_key = resolve_secret_key(&settings, &*durable.instance).await?;
        let secrets = Arc::new(resolve_encryption_key(&settings, &*durable.instance).await?);
        Ok(Self {
            settings,
            durable,
            secret_key,
            secrets,
            flow,
        })
    }

    /// The publishable key Clerk's SDKs are given.
    pub fn publishable_key(&self) -> String {
        let instance = &self.settings.instance;
        latch_api::api_keys::publishable_key(instance.environment, &instance.frontend_host)
    }

    /// The instance's signing keys (made and stored on first start).
    async fn keys(&self) -> anyhow::Result<SigningKeys> {
        SigningKeys::load_or_create(&*self.durable.instance)
            .await
            .map_err(|e| anyhow::anyhow!("signing key: {e}"))
    }

    /// The use cases over this app's adapters, with the webhook endpoints
    /// of the configuration in the store.
    pub async fn services(&self) -> anyhow::Result<Services> {
        self.services_with(&self.keys().await?).await
    }

    /// [`Self::services`] for an instance whose keys are already loaded.
    async fn services_with(&self, keys: &SigningKeys) -> anyhow::Result<Services> {
        let services = self.services_of(&instance_id(keys))?;
        services
            .webhooks
            .configure(self.settings.webhooks.endpoints.clone())
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "webhooks.endpoints: {}",
                    latch_api::error::ApiError::from(e).long_message
                )
            })?;
        if self.settings.instance.secret_key.is_none() {
            let name = latch_api::api_keys::secret_key_name(self.settings.instance.environment);
            services.secret_keys.start(name).await.map_err(|e| {
                anyhow::anyhow!(
                    "secret keys: {}",
                    latch_api::error::ApiError::from(e).long_message
                )
            })?;
        }
        services.instance.start().await.map_err(|e| {
            anyhow::anyhow!(
                "settings: {}",
                latch_api::error::ApiError::from(e).long_message
            )
        })?;
        Ok(services)
    }

    fn services_of(&self, instance_id: &str) -> anyhow::Result<Services> {
        let random: Arc<dyn Random> = Arc::new(OsRandom);
        let hashing = &self.settings.hashing;
        let hasher = Argon2Hasher::new(hashing.argon2, hashing.workers(), random.clone())
            .map_err(|e| anyhow::anyhow!("password: {e}"))?;
        let ports = Ports {
            users: self.durable.users.clone(),
            clients: self.durable.clients.clone(),
            sign_ins: self.flow.sign_ins.clone(),
            sign_in_steps: self.flow.sign_in_steps.clone(),
            sign_ups: self.flow.sign_ups.clone(),
            sign_up_steps: self.flow.sign_up_steps.clone(),
            counters: self.flow.counters.clone(),
            instance: self.durable.instance.clone(),
            hasher: Arc::new(hasher),
            codes: code_sender(&self.settings.codes)?,
            outbox: self.durable.outbox.clone(),
            clock: Arc::new(SystemClock),
            random,
            secrets: self.secrets.clone(),
            oauth: oauth_providers(&self.settings.oauth_providers)?,
            event_format: Arc::new(latch_api::render::ClerkEvents::new(
                self.settings.instance.issuer.clone(),
                instance_id.to_owned(),
                self.settings.server.geoip.clone(),
            )),
            webhook_store: self.durable.webhooks.clone(),
            audit: self.durable.audit.clone(),
            settings: self.durable.settings.clone(),
            operators: self.durable.operators.clone(),
            webhook_sender: Arc::new(
                HttpWebhookSender::new(self.settings.webhooks.sender.clone())
                    .map_err(|e| anyhow::anyhow!("webhooks: {e}"))?,
            ),
        };
        Ok(Services::new(ports, self.settings.policy.clone())
            .with_webhook_policy(self.settings.webhooks.policy.clone())
            .with_audit_retention(self.settings.audit_retention)
            .with_pinned_settings(self.settings.pinned.clone())
            .with_readiness(
                std::iter::once(self.durable.readiness.clone())
                    .chain(self.flow.readiness.clone())
                    .collect(),
            ))
    }

    /// The HTTP state: use cases, signing key and API configuration.
    pub async fn api_state(&self) -> anyhow::Result<ApiState> {
        let keys = self.keys().await?;
        let services = self.services_with(&keys).await?;
        let s = &self.settings;
        let production = match s.instance.environment {
            Environment::Development => false,
            Environment::Production => true,
        };
        let config = ApiConfig {
            secret_key: self.secret_key.clone(),
            issuer: s.instance.issuer.clone(),
            allowed_origins: s.server.allowed_origins.clone(),
            allow_loopback_origins: !production,
            max_body_bytes: s.server.max_body_bytes,
            // Production cookies are Secure whatever the setting: a browser
            // only ever reaches a production instance over HTTPS.
            secure_cookies: s.server.secure_cookies || production,
            cookie_domain: s.server.cookie_domain.clone(),
            publishable_key: self.publishable_key(),
            tls: s.server.tls.is_some(),
            instance_id: instance_id(&keys),
            trusted_proxies: s.server.trusted_proxies.clone(),
            connections: s.server.connections,
            geoip: s.server.geoip.clone(),
            settings_poll: s.settings_poll,
        };
        let state = ApiState::new(
            services,
            keys,
            config,
            Arc::new(SystemClock),
            Arc::new(OsRandom),
        );
        // A dashboard on a listener of its own is mounted there (`main`).
        Ok(match s.dashboard {
            crate::settings::Listener::Main => {
                state.with_pages(latch_dashboard::Dashboard::pages())
            }
            crate::settings::Listener::Off | crate::settings::Listener::Own(_) => state,
        })
    }
}

/// The instance's id, as the environment and events show it.
fn instance_id(keys: &SigningKeys) -> String {
    format!("ins_{}", &keys.kid()[4..])
}

/// The identity providers of `[oauth.providers.*]`, built again with the
/// client an operator sets at runtime. Nothing is fetched yet: OpenID
/// Connect discovery happens on first use.
fn oauth_providers(providers: &[OAuthProvider]) -> anyhow::Result<OAuthProviders> {
    let factory = FileProviders::read(providers)?;
    let mut built = Vec::with_capacity(providers.len());
    for p in providers {
        let client = ProviderClient {
            client_id: &p.client_id,
            client_secret: None,
            scopes: p.scopes.as_deref().unwrap_or_default(),
        };
        let provider = factory
            .build(&p.name, &client)
            .map_err(|e| anyhow::anyhow!("oauth.providers.{}: {e}", p.name))?;
        built.push(provider);
    }
    Ok(OAuthProviders::new(built).with_factory(Arc::new(factory)))
}

/// The file's providers, with each one's secret as read at start (an Apple
/// key file is read once).
struct FileProviders {
    by_name: std::collections::HashMap<String, (OAuthProvider, ClientSecret)>,
}

impl FileProviders {
    fn read(providers: &[OAuthProvider]) -> anyhow::Result<Self> {
        let mut by_name = std::collections::HashMap::new();
        for p in providers {
            let secret = match &p.secret {
                ProviderSecret::Shared(secret) => ClientSecret::Shared(secret.clone()),
                ProviderSecret::AppleKey {
                    team_id,
                    key_id,
                    private_key_file,
                } => ClientSecret::AppleKey(AppleClientKey {
                    team_id: team_id.clone(),
                    key_id: key_id.clone(),
                    private_key_pem: std::fs::read_to_string(private_key_file).with_context(
                        || {
                            format!(
                                "oauth.providers.{}.apple_private_key_file: cannot read {}",
                                p.name,
                                private_key_file.display()
                            )
                        },
                    )?,
                }),
            };
            by_name.insert(p.name.clone(), (p.clone(), secret));
        }
        Ok(Self { by_name })
    }
}

impl OAuthProviderFactory for FileProviders {
    fn build(
        &self,
        name: &str,
        client: &ProviderClient<'_>,
    ) -> Result<Arc<dyn latch_core::ports::OAuthProvider>, String> {
        let (p, file_secret) = self
            .by_name
            .get(name)
            .ok_or("the configuration file sets up no such provider")?;
        let mut config = ProviderConfig::new(p.name.as_str(), p.kind, client.client_id);
        config.client_secret = match (client.client_secret, file_secret) {
            (None, secret) => secret.clone(),
            (Some(_), ClientSecret::AppleKey(_)) => {
                return Err(
                    "this provider signs its client secrets with the key the configuration \
                     file names, and takes none"
                        .into(),
                );
            }
            (Some(secret), _) => ClientSecret::Shared(secret.to_owned()),
        };
        config.scopes = (!client.scopes.is_empty()).then(|| client.scopes.to_vec());
        config.issuer_url = p.issuer_url.clone();
        config.authorize_url = p.authorize_url.clone();
        config.token_url = p.token_url.clone();
        config.api_base_url = p.api_base_url.clone();
        config.timeout = p.timeout;
        oauth::provider(&config).map_err(|e| e.to_string())
    }
}

/// The durable stores the settings name.
#[derive(Clone)]
pub struct Durable {
    pub users: Arc<dyn UserRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub instance: Arc<dyn InstanceStore>,
    /// The delivery queue (one-time codes), beside the users it serves.
    pub outbox: Arc<dyn Outbox>,
    /// Events' webhook endpoints and messages, written with the changes.
    pub webhooks: Arc<dyn WebhookStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The runtime settings' versions and the lists.
    pub settings: Arc<dyn SettingsStore>,
    /// Who may open the dashboard.
    pub operators: Arc<dyn OperatorStore>,
    /// Whether it can serve, for `/readyz`.
    pub readiness: Arc<dyn Readiness>,
}

impl Durable {
    fn of<
        S: UserRepository
            + ClientRepository
            + InstanceStore
            + Outbox
            + WebhookStore
            + AuditLog
            + SettingsStore
            + OperatorStore
            + Readiness
            + 'static,
    >(
        store: S,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            users: store.clone(),
            clients: store.clone(),
            instance: store.clone(),
            outbox: store.clone(),
            webhooks: store.clone(),
            audit: store.clone(),
            settings: store.clone(),
            operators: store.clone(),
            readiness: store,
        }
    }
}

/// The short-lived state: sign-ins in progress and rate-limit counters,
/// kept in one store.
#[derive(Clone)]
pub struct Flow {
    pub sign_ins: Arc<dyn SignInStore>,
    /// A step's client, sign-in and user in one read: only when the flow
    /// state is kept in the durable store.
    pub sign_in_steps: Option<Arc<dyn SignInSteps>>,
    pub sign_ups: Arc<dyn SignUpStore>,
    /// A sign-up step's client and sign-up in one read, and its writes in
    /// one: likewise.
    pub sign_up_steps: Option<Arc<dyn SignUpSteps>>,
    pub counters: Arc<dyn Counters>,
    /// Whether it can serve, when it is a store of its own.
    pub readiness: Option<Arc<dyn Readiness>>,
}

impl Flow {
    /// The flow state in a store of its own.
    fn of<S: SignInStore + SignUpStore + Counters + Readiness + 'static>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            sign_ins: store.clone(),
            sign_in_steps: None,
            sign_ups: store.clone(),
            sign_up_steps: None,
            counters: store.clone(),
            readiness: Some(store),
        }
    }

    /// The flow state in the durable store.
    fn beside<S>(store: S) -> Self
    where
        S: SignInStore + SignInSteps + SignUpStore + SignUpSteps + Counters + 'static,
    {
        let store = Arc::new(store);
        Self {
            sign_ins: store.clone(),
            sign_in_steps: Some(store.clone()),
            sign_ups: store.clone(),
            sign_up_steps: Some(store.clone()),
            counters: store,
            readiness: None,
        }
    }
}

/// Opens the durable store (applying migrations) and the flow store beside it.
pub async fn open_storage(storage: &Storage) -> anyhow::Result<(Durable, Flow)> {
    match storage {
        Storage::Sqlite { database, flow } => {
            let store = open_sqlite(database).await?;
            let flow = match flow {
                FlowStore::Sqlite => Flow::beside(store.clone()),
                FlowStore::Redis(redis) => Flow::of(connect_redis(redis).await?),
            };
            Ok((Durable::of(store), flow))
        }
        Storage::Postgres { database, flow } => {
            let store = connect_postgres(database).await?;
            let flow = Flow::of(connect_redis(flow).await?);
            Ok((Durable::of(store), flow))
        }
    }
}

/// Brings the durable store to the latest schema; says where it is.
pub async fn migrate(storage: &Storage) -> anyhow::Result<String> {
    match storage {
        Storage::Sqlite { database, .. } => {
            let path = database.path.clone();
            create_parent_dir(&path)?;
            let version =
                tokio::task::spawn_blocking(move || latch_sqlite::migrate(&path)).await??;
            Ok(format!(
                "database {} is at schema version {version}",
                database.path.display()
            ))
        }
        Storage::Postgres { database, .. } => {
            // Connecting applies PostgreSQL's migrations.
            connect_postgres(database).await?;
            Ok(
                "the PostgreSQL database at storage.postgres_url is at the latest schema"
                    .to_owned(),
            )
        }
    }
}

/// `latch backup FILE`: an online copy of the SQLite database, checked.
pub async fn backup(storage: &Storage, to: &std::path::Path) -> anyhow::Result<String> {
    let database = sqlite_path(storage, "backup")?;
    let to_owned = to.to_owned();
    let snapshot =
        tokio::task::spawn_blocking(move || latch_sqlite::backup::backup(&database, &to_owned))
            .await?
            .map_err(|e| anyhow::anyhow!("backup: {e}"))?;
    Ok(format!(
        "backed up to {} and checked: {snapshot}",
        to.display()
    ))
}

/// `latch restore FILE`: the SQLite database replaced by a checked backup,
/// in a stopped instance.
pub async fn restore(storage: &Storage, from: &std::path::Path) -> anyhow::Result<String> {
    let database = sqlite_path(storage, "restore")?;
    create_parent_dir(&database)?;
    let (from_owned, shown) = (from.to_owned(), database.display().to_string());
    let snapshot =
        tokio::task::spawn_blocking(move || latch_sqlite::backup::restore(&from_owned, &database))
            .await?
            .map_err(|e| anyhow::anyhow!("restore: {e}"))?;
    Ok(format!(
        "restored {} from {} and checked: {snapshot}",
        shown,
        from.display()
    ))
}

/// The SQLite database's path, for the commands that work on its file.
fn sqlite_path(storage: &Storage, command: &str) -> anyhow::Result<std::path::PathBuf> {
    match storage {
        Storage::Sqlite { database, .. } => Ok(database.path.clone()),
        Storage::Postgres { .. } => anyhow::bail!(
            "{command} works on a SQLite database; back up PostgreSQL with its own tools (pg_dump, pg_restore)"
        ),
    }
}

fn create_parent_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("database.path: cannot create {}", dir.display()))?;
    }
    Ok(())
}

async fn open_sqlite(database: &Sqlite) -> anyhow::Result<SqliteStore> {
    create_parent_dir(&database.path)?;
    let config = SqliteConfig {
        readers: database.readers,
        busy_timeout: database.busy_timeout,
    };
    let path = database.path.clone();
    tokio::task::spawn_blocking(move || SqliteStore::open(&path, config))
        .await?
        .map_err(|e| {
            anyhow::anyhow!(
                "database.path: cannot open {}: {e}",
                database.path.display()
            )
        })
}

pub(crate) async fn connect_postgres(database: &Postgres) -> anyhow::Result<PostgresStore> {
    let config = PostgresConfig {
        pool_size: database.pool_size,
        connect_timeout: database.timeout,
        statement_timeout: database.timeout,
        tls: match &database.tls {
            PostgresTls::Disable => latch_postgres::PostgresTls::Disable,
            PostgresTls::Verify { ca_file } => latch_postgres::PostgresTls::Verify {
                ca_file: ca_file.clone(),
            },
        },
        ..PostgresConfig::new(database.url.clone())
    };
    PostgresStore::connect(&config)
        .await
        .map_err(|e| anyhow::anyhow!("storage.postgres_url: {e}"))
}

async fn connect_redis(redis: &Redis) -> anyhow::Result<RedisSignInStore> {
    let config = RedisConfig {
        url: redis.url.clone(),
        key_prefix: redis.key_prefix.clone(),
        timeout: redis.timeout,
    };
    RedisSignInStore::connect(&config)
        .await
        .map_err(|e| anyhow::anyhow!("storage.redis_url: {e}"))
}

/// The configured encryption key, or the one stored, or a new one.
async fn resolve_encryption_key(
    settings: &Settings,
    store: &dyn InstanceStore,
) -> anyhow::Result<SecretBox> {
    let key = match &settings.instance.encryption_key {
        Some(configured) => configured.clone(),
        None => {
            if settings.instance.environment == Environment::Production {
                tracing::warn!(
                    "instance.encryption_key is not set: the key that seals second factors is kept in the database itself"
                );
            }
            store
                .get_or_insert("encryption_key", &SecretBox::generate_key(&OsRandom))
                .await
                .map_err(|e| anyhow::anyhow!("storing the encryption key: {e}"))?
        }
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

/// The configured secret key, or the one stored for this environment, or a new one.
async fn resolve_secret_key(
    settings: &Settings,
    store: &dyn InstanceStore,
) -> anyhow::Result<String> {
    match &settings.instance.secret_key {
        Some(configured) => Ok(configured.clone()),
        None => latch_api::api_keys::load_or_create_secret_key(
            store,
            settings.instance.environment,
            &OsRandom,
        )
        .await
        .map_err(|e| anyhow::anyhow!("storing the secret key: {e}")),
    }
}

/// The code senders of `[codes]`: one for both routes when they are the
/// same, otherwise a router between the two.
fn code_sender(codes: &Codes) -> anyhow::Result<Arc<dyn CodeSender>> {
    let email: Arc<dyn CodeSender> = match &codes.email {
        EmailDelivery::Console => Arc::new(ConsoleCodeSender),
        EmailDelivery::Http(http) => http_code_sender(http)?,
        EmailDelivery::Smtp(smtp) => smtp_code_sender(smtp)?,
    };
    let sms: Arc<dyn CodeSender> = match (&codes.sms, &codes.email) {
        // Both routes read the same keys: one sender serves both.
        (SmsDelivery::Console, EmailDelivery::Console)
        | (SmsDelivery::Http(_), EmailDelivery::Http(_)) => return Ok(email),
        (SmsDelivery::Console, EmailDelivery::Http(_) | EmailDelivery::Smtp(_)) => {
            Arc::new(ConsoleCodeSender)
        }
        (SmsDelivery::Http(http), EmailDelivery::Console | EmailDelivery::Smtp(_)) => {
            http_code_sender(http)?
        }
    };
    Ok(Arc::new(CodeRouter { email, sms }))
}

fn http_code_sender(http: &HttpSender) -> anyhow::Result<Arc<dyn CodeSender>> {
    let sender = HttpCodeSender::new(http.url.clone(), http.format.clone(), http.timeout)
        .map_err(|e| anyhow::anyhow!("codes: {e}"))?;
    Ok(Arc::new(sender))
}

fn smtp_code_sender(smtp: &SmtpSender) -> anyhow::Result<Arc<dyn CodeSender>> {
    // Read here: adapters read no files themselves.
    let extra_root_certificates_pem = match &smtp.ca_file {
        None => None,
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("codes.smtp_ca_file: cannot read {}", path.display()))?,
        ),
    };
    let config = SmtpConfig {
        host: smtp.host.clone(),
        port: smtp.port,
        security: smtp.security,
        credentials: smtp.credentials.clone(),
        from: smtp.from.clone(),
        extra_root_certificates_pem,
        timeout: smtp.timeout,
        templates: smtp.templates.clone(),
    };
    let sender = SmtpCodeSender::new(config).map_err(|e| {
        let key = match e {
            SmtpConfigError::From(_) => "codes.smtp_from",
            SmtpConfigError::Certificates(_) => "codes.smtp_ca_file",
            SmtpConfigError::EmptyHost
            | SmtpConfigError::ZeroPort
            | SmtpConfigError::ZeroTimeout
            | SmtpConfigError::AuthWithoutTls(_)
            | SmtpConfigError::Template(..) => "codes",
        };
        anyhow::anyhow!("{key}: {e}")
    })?;
    Ok(Arc::new(sender))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use latch_core::ports::CodePurpose;
    use latch_testkit::RecordingCodeSender;

    use crate::settings::raw::{CodesSection, RawSettings};

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
        let mut codes = RawSettings::defaults().unwrap().codes;
        codes.sms_sender = "console".to_owned();
        codes.smtp_host = "smtp.example.com".to_owned();
        codes.smtp_from = "no-reply@example.com".to_owned();
        codes.smtp_ca_file = "/nonexistent/ca.pem".to_owned();
        let error = smtp_error(&codes);
        assert!(error.contains("codes.smtp_ca_file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        codes.smtp_ca_file = path.display().to_string();
        let error = smtp_error(&codes);
        assert!(error.contains("codes.smtp_ca_file"), "{error}");
        codes.smtp_ca_file = String::new();
        codes.smtp_from = "not a mailbox".to_owned();
        let error = smtp_error(&codes);
        assert!(error.contains("codes.smtp_from"), "{error}");
    }

    /// The error building the SMTP sender of `codes` stops at.
    fn smtp_error(codes: &CodesSection) -> String {
        let smtp = SmtpSender::try_from(codes).unwrap();
        smtp_code_sender(&smtp).err().unwrap().to_string()
    }
}

//! The configuration: embedded defaults, then `--config FILE`, then
//! `LATCH_<SECTION>__<KEY>` environment variables ([`raw`]), parsed section
//! by section into types in which a bad combination cannot be written. A bad
//! value stops start-up with a message naming its key.

pub mod codes;
pub mod display;
pub mod listener;
pub mod oauth;
pub mod raw;
pub mod server;
pub mod sign_in;
pub mod sign_up;
pub mod storage;
pub mod webhooks;

use latch_core::model::InstanceSettings;

pub use self::codes::{Codes, EmailDelivery, HttpSender, SmsDelivery, SmtpSender};
pub use self::listener::Listener;
pub use self::oauth::{OAuthProvider, ProviderSecret};
pub use self::raw::RawSettings;
pub use self::server::{Hashing, Instance, Log, LogFormat, Server};
pub use self::storage::{FlowStore, Postgres, PostgresTls, Redis, Sqlite, Storage};

/// The validated configuration. Not `Debug`: it holds secrets.
#[derive(Clone)]
pub struct Settings {
    pub server: Server,
    pub instance: Instance,
    pub storage: Storage,
    pub codes: Codes,
    pub hashing: Hashing,
    pub oauth_providers: Vec<OAuthProvider>,
    /// The core's rules for this instance.
    pub policy: InstanceSettings,
    pub webhooks: webhooks::Webhooks,
    /// How long audit entries are kept (`audit.keep_days`).
    pub audit_retention: latch_core::model::Duration,
    /// Runtime settings the file pins (`runtime.pinned`).
    pub pinned: Vec<String>,
    /// How often replicas look for changed settings (`runtime.poll_ms`).
    pub settings_poll: std::time::Duration,
    /// Where the operators' dashboard is served.
    pub dashboard: Listener,
    /// Where `/metrics` is served.
    pub metrics: Listener,
    pub log: Log,
}

impl Settings {
    /// Reads the layers and parses the result.
    #[cfg(test)]
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        Self::try_from(&RawSettings::load(file)?)
    }
}

impl TryFrom<&RawSettings> for Settings {
    type Error = anyhow::Error;

    fn try_from(raw: &RawSettings) -> anyhow::Result<Self> {
        let server = Server::try_from(&raw.server)?;
        let instance = Instance::try_from(&raw.instance)?;
        let display =
            display::display_settings(&raw.display, &raw.oauth.providers, &instance.issuer)?;
        let sign_up = sign_up::sign_up_settings(&raw.sign_up)?;
        let policy = sign_in::instance_settings(
            &raw.sign_in,
            &raw.rate_limits,
            &raw.oauth,
            &instance,
            &server.allowed_origins,
            display,
            sign_up,
        )?;
        sign_up::check(&policy)?;
        let webhooks = webhooks::Webhooks::parse(&raw.webhooks, instance.environment)?;
        let mut policy = policy;
        policy.deliver_code_messages = raw.webhooks.deliver_code_messages;
        if !(1..=36_500).contains(&raw.audit.keep_days) {
            anyhow::bail!("audit.keep_days must be between 1 and 36500");
        }
        if !(100..=60_000).contains(&raw.runtime.poll_ms) {
            anyhow::bail!("runtime.poll_ms must be between 100 and 60000");
        }
        let oauth_providers = oauth::parse_providers(&raw.oauth.providers)?;
        policy.oauth_credentials = oauth_providers
            .iter()
            .map(|p| (p.name.clone(), p.credentials()))
            .collect();
        let file_document = latch_core::model::UserManagement::of(
            &policy,
            raw.oauth.providers.keys().map(String::as_str),
        );
        if let Some(pin) = raw
            .runtime
            .pinned
            .iter()
            .find(|p| !file_document.has_path(p))
        {
            anyhow::bail!("runtime.pinned: {pin:?} is not a setting nor a group of settings");
        }
        let dashboard = Listener::parse("dashboard", &raw.dashboard, server.addr)?;
        let metrics = Listener::parse("metrics", &raw.metrics, server.addr)?;
        Ok(Self {
            dashboard,
            metrics,
            pinned: raw.runtime.pinned.clone(),
            settings_poll: std::time::Duration::from_millis(raw.runtime.poll_ms),
            webhooks,
            audit_retention: latch_core::model::Duration::days(raw.audit.keep_days),
            hashing: Hashing::try_from(&raw.password)?,
            codes: Codes::try_from(&raw.codes)?,
            storage: storage::parse(&raw.storage, &raw.database)?,
            oauth_providers,
            log: Log::try_from(&raw.log)?,
            server,
            instance,
            policy,
        })
    }
}

#[cfg(test)]
mod tests;

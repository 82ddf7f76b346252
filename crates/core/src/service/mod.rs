//! Use cases, grouped in one service per resource ([`Services`] holds them
//! all). A service holds only the ports it uses and is what inbound adapters
//! call; the shared steps of a sign-in (storing a step, starting a session,
//! lockout, codes, stand-ins) are crate-private parts the services compose.

mod addresses;
mod api_keys;
mod audit;
mod clients;
mod codes;
mod connections;
mod deliveries;
mod events;
mod handshakes;
mod lockout;
mod me;
mod oauth;
mod operators;
mod phantoms;
mod provider_tokens;
mod rate_limits;
mod reverification;
mod second_factors;
mod sessions;
mod settings;
mod sign_ins;
mod sign_ups;
mod steps;
mod users;
mod webhooks;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use addresses::{AddressKind, AddressView, Deleted, MAX_ADDRESSES, MyPhonePatch, NewAddress};
pub use api_keys::{KeyRing, MAX_KEY_OVERLAP, SecretKeys};
pub use audit::Audit;
pub use clients::{ClientSnapshot, Clients, Maintenance, Outcome, SessionView, SignInView};
pub use connections::{Connect, PendingConnection};
pub use deliveries::{CODE_KIND, Deliveries, DeliveryPolicy, DeliveryRound};
pub use events::{current_request, in_request};
pub use handshakes::{HANDSHAKE_NONCE_LIFETIME, HANDSHAKE_NONCE_REDEMPTIONS, Handshakes};
pub use me::{Account, BackupCodesView, ChangePassword, MePatch, TotpView};
pub use oauth::{CallbackRedirect, OAuth, OAuthCallback, OAuthProviders};
pub use operators::{MAX_LISTED_OPERATORS, OperatorView, Operators};
pub use provider_tokens::AccessTokenView;
pub use rate_limits::{RateLimits, Step, Throttled};
pub use reverification::{ReverificationAsked, ReverificationStatus, ReverificationView};
pub use second_factors::{AttemptSecondFactor, PrepareSecondFactor};
pub use sessions::{SessionTokenClaims, Sessions, SessionsPage};
pub use settings::{Instance, LiveSettings, MAX_LIST_ENTRIES, SettingsView};
pub use sign_ins::{AttemptFirstFactor, CreateSignIn, PrepareFirstFactor, ResetPassword, SignIns};
pub use sign_ups::{
    AttemptVerification, CreateSignUp, PrepareVerification, SignUpFields, SignUpView, SignUps,
    UpdateSignUp,
};
pub use users::{
    CreateUser, DryRun, ImportMode, ImportOutcome, ImportUser, PhoneNumberPatch, Users, UsersPage,
};
pub use webhooks::{
    EndpointPatch, MAX_DESCRIPTION_CHARS, MAX_URL_CHARS, NewEndpoint, WebhookPolicy, WebhookRound,
    Webhooks, sign as sign_webhook,
};

use codes::Codes;
use events::Events;
use lockout::Lockout;
use phantoms::Phantoms;
use steps::Steps;

use crate::error::{Error, Problem};
use crate::model::InstanceSettings;
use crate::ports::{
    AuditLog, ClientRepository, Clock, CodeSender, Counters, EventFormat, InstanceStore,
    OperatorStore, Outbox, PasswordHasher, Random, SettingsStore, SignInSteps, SignInStore,
    SignUpSteps, SignUpStore, UserRepository, WebhookSender, WebhookStore,
};
use crate::secrets::SecretBox;

/// The outbound ports the use cases need: what the binary wires, and what
/// [`Services::new`] hands each service a part of.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub sign_ins: Arc<dyn SignInStore>,
    /// A step's client, sign-in and user in one read, where one store keeps
    /// them all; `None` reads `clients`, `sign_ins` and `users` one by one.
    pub sign_in_steps: Option<Arc<dyn SignInSteps>>,
    /// Sign-ups in progress; kept with the sign-ins.
    pub sign_ups: Arc<dyn SignUpStore>,
    /// A sign-up's client and sign-up in one read, and its writes that
    /// change both in one, where one store keeps them all; `None` calls
    /// `clients` and `sign_ups` one by one.
    pub sign_up_steps: Option<Arc<dyn SignUpSteps>>,
    /// Rate-limit counters; kept with the flow store.
    pub counters: Arc<dyn Counters>,
    pub instance: Arc<dyn InstanceStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Sends what the outbox holds (one-time codes), off the request path.
    pub codes: Arc<dyn CodeSender>,
    /// The durable delivery queue; kept with the durable store.
    pub outbox: Arc<dyn Outbox>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Seals TOTP secrets and digests backup codes with the instance's key.
    pub secrets: Arc<SecretBox>,
    /// The identity providers OAuth strategies go to.
    pub oauth: OAuthProviders,
    /// How events are written down (Clerk's envelope and resources).
    pub event_format: Arc<dyn EventFormat>,
    /// Webhook endpoints and messages; kept with the durable store.
    pub webhook_store: Arc<dyn WebhookStore>,
    /// Posts webhook requests.
    pub webhook_sender: Arc<dyn WebhookSender>,
    /// The audit log; kept with the durable store.
    pub audit: Arc<dyn AuditLog>,
    /// The runtime settings' versions and the allow- and block-lists; kept
    /// with the durable store.
    pub settings: Arc<dyn SettingsStore>,
    /// Operator roles; kept with the durable store.
    pub operators: Arc<dyn OperatorStore>,
}

/// Every use case, one service per resource. Each service holds only the
/// ports (and the other services) it uses; inbound adapters hold this and
/// call the service a request is about.
#[derive(Clone)]
pub struct Services {
    /// The device behind a request: `/v1/client`, development browsers.
    pub clients: Clients,
    /// Sign-ins and their factors.
    pub sign_ins: SignIns,
    /// Sign-ups and their verifications.
    pub sign_ups: SignUps,
    /// OAuth callbacks and the claim of their result.
    pub oauth: OAuth,
    /// Sessions: the client's own and the Backend API's.
    pub sessions: Sessions,
    /// The Backend API's users.
    pub users: Users,
    /// The signed-in user's own account (`/v1/me`).
    pub account: Account,
    /// Per-IP rate limits.
    pub rate_limits: RateLimits,
    /// Housekeeping and health.
    pub maintenance: Maintenance,
    /// The outbox: its worker, and what operators see of it.
    pub deliveries: Deliveries,
    /// Handshake nonces, for applications' servers.
    pub handshakes: Handshakes,
    /// Webhook endpoints, their worker, and what operators see of them.
    pub webhooks: Webhooks,
    /// The audit log: what operators read, and the Backend API's writes.
    pub audit: Audit,
    /// The runtime settings and the allow- and block-lists.
    pub instance: Instance,
    /// The Backend API's secret keys, and their rotation.
    pub secret_keys: SecretKeys,
    /// Who may open the dashboard.
    pub operators: Operators,
    settings: LiveSettings,
}

impl Services {
    /// Builds every service over `ports`, under `settings` (the
    /// configuration file's) until [`Instance::start`] reads the store.
    pub fn new(ports: Ports, settings: InstanceSettings) -> Self {
        let base = Arc::new(settings.clone());
        let settings = LiveSettings::new(settings);
        let Ports {
            users,
            clients,
            sign_ins,
            sign_in_steps,
            sign_ups,
            sign_up_steps,
            counters,
            instance,
            hasher,
            codes,
            outbox,
            clock,
            random,
            secrets,
            oauth,
            event_format,
            webhook_store,
            webhook_sender,
            audit,
            settings: settings_store,
            operators,
        } = ports;
        let audit = Audit {
            log: audit,
            clock: clock.clone(),
            random: random.clone(),
            keep: crate::model::Duration::days(90),
            queued: Arc::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        let mut providers: Vec<String> = oauth.names();
        providers.extend(base.strategies.oauth_providers.iter().cloned());
        providers.sort();
        providers.dedup();
        let instance_service = Instance {
            live: settings.clone(),
            store: settings_store,
            base,
            providers: providers.into(),
            oauth: oauth.clone(),
            secrets: secrets.clone(),
            pins: Arc::new([]),
            audit: audit.clone(),
            clock: clock.clone(),
            random: random.clone(),
        };
        let operators = Operators {
            store: operators,
            users: users.clone(),
            audit: audit.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            setup_token: Arc::default(),
        };
        let secret_keys = SecretKeys {
            ring: Arc::default(),
            place: Arc::default(),
            store: instance.clone(),
            audit: audit.clone(),
            clock: clock.clone(),
        };
        let webhook_wake = Arc::new(tokio::sync::Notify::new());
        // Until the worker's first round looks, assume an endpoint.
        let webhooks_active = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let events = Events {
            active: webhooks_active.clone(),
            audit: audit.clone(),
            format: event_format,
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
            wake: webhook_wake.clone(),
        };
        let webhooks = Webhooks {
            store: webhook_store.clone(),
            sender: webhook_sender,
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            policy: WebhookPolicy::default(),
            wake: webhook_wake,
            active: webhooks_active,
        };
        let deliveries = Deliveries {
            outbox,
            sender: codes,
            webhook_store,
            events: events.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            policy: DeliveryPolicy::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        };
        let phantoms = Phantoms::new(secrets.clone(), hasher.clone(), random.clone());
        let rate_limits = RateLimits {
            audit: audit.clone(),
            counters: counters.clone(),
            clock: clock.clone(),
            settings: settings.clone(),
            secrets: secrets.clone(),
        };
        let client_service = Clients {
            events: events.clone(),
            client_repo: clients.clone(),
            sign_ins: sign_ins.clone(),
            sign_in_steps,
            sign_ups: sign_ups.clone(),
            users: users.clone(),
            clock: clock.clone(),
            random: random.clone(),
            phantoms: phantoms.clone(),
            rate_limits: rate_limits.clone(),
        };
        let user_service = Users {
            audit: audit.clone(),
            events: events.clone(),
            users: users.clone(),
            client_repo: clients.clone(),
            hasher: hasher.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let lockout = Lockout {
            audit: audit.clone(),
            users: users.clone(),
            clock: clock.clone(),
            settings: settings.clone(),
        };
        let steps = Steps {
            audit: audit.clone(),
            events: events.clone(),
            clients: client_service.clone(),
            client_repo: clients.clone(),
            sign_ins: sign_ins.clone(),
            users: users.clone(),
            hasher: hasher.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let codes = Codes {
            deliveries: deliveries.clone(),
            secrets: secrets.clone(),
            clients: client_service.clone(),
            rate_limits: rate_limits.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let oauth_service = OAuth {
            providers: oauth,
            clients: client_service.clone(),
            steps: steps.clone(),
            lockout: lockout.clone(),
            user_admin: user_service.clone(),
            users: users.clone(),
            sign_ins: sign_ins.clone(),
            client_repo: clients.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let sign_in_service = SignIns {
            audit: audit.clone(),
            clients: client_service.clone(),
            steps: steps.clone(),
            lockout: lockout.clone(),
            codes: codes.clone(),
            oauth: oauth_service.clone(),
            phantoms,
            user_admin: user_service.clone(),
            users: users.clone(),
            sign_ins: sign_ins.clone(),
            sign_ups: sign_ups.clone(),
            hasher: hasher.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let sign_up_service = SignUps {
            clients: client_service.clone(),
            codes: codes.clone(),
            oauth: oauth_service.clone(),
            sign_ins: sign_ins.clone(),
            users: users.clone(),
            client_repo: clients.clone(),
            sign_ups: sign_ups.clone(),
            steps: sign_up_steps,
            hasher: hasher.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let session_service = Sessions {
            events: events.clone(),
            clients: client_service.clone(),
            client_repo: clients.clone(),
            users: users.clone(),
            clock: clock.clone(),
            settings: settings.clone(),
        };
        let account = Account {
            audit: audit.clone(),
            events: events.clone(),
            codes: codes.clone(),
            oauth: oauth_service.clone(),
            sign_ins: sign_ins.clone(),
            clients: client_service.clone(),
            sessions: session_service.clone(),
            lockout: lockout.clone(),
            hasher: hasher.clone(),
            user_admin: user_service.clone(),
            client_repo: clients.clone(),
            users: users.clone(),
            secrets: secrets.clone(),
            clock: clock.clone(),
            random: random.clone(),
            settings: settings.clone(),
        };
        let handshakes = Handshakes {
            secrets,
            counters: counters.clone(),
            clock: clock.clone(),
            random,
        };
        let maintenance = Maintenance {
            users,
            client_repo: clients,
            sign_ins,
            sign_ups,
            counters,
            instance,
            clock,
            settings: settings.clone(),
            probes: Arc::new([]),
        };
        Self {
            clients: client_service,
            sign_ins: sign_in_service,
            sign_ups: sign_up_service,
            oauth: oauth_service,
            sessions: session_service,
            users: user_service,
            account,
            rate_limits,
            maintenance,
            deliveries,
            handshakes,
            webhooks,
            audit,
            instance: instance_service,
            secret_keys,
            operators,
            settings,
        }
    }

    /// The same services checking these stores' readiness.
    pub fn with_readiness(mut self, probes: Vec<Arc<dyn crate::ports::Readiness>>) -> Self {
        self.maintenance.probes = probes.into();
        self
    }

    /// The same services refusing runtime changes to `pins` (document
    /// paths: a group or one setting), which keep the file's values.
    pub fn with_pinned_settings(mut self, pins: Vec<String>) -> Self {
        self.instance.pins = pins.into();
        self
    }

    /// The same services keeping audit entries for `keep`.
    pub fn with_audit_retention(mut self, keep: crate::model::Duration) -> Self {
        self.audit.keep = keep;
        self
    }

    /// The same services with webhooks retried and kept under `policy`.
    pub fn with_webhook_policy(mut self, policy: WebhookPolicy) -> Self {
        self.webhooks.policy = policy;
        self
    }

    /// `GET`/`POST /v1/oauth_callback`: the flow the state names is a
    /// sign-up's or a sign-in's.
    pub async fn oauth_callback(&self, params: OAuthCallback) -> Result<CallbackRedirect, Error> {
        let names_sign_up = params
            .state
            .as_deref()
            .is_some_and(|state| crate::model::IdPrefix::SignUp.names(state));
        let names_connection = params
            .state
            .as_deref()
            .is_some_and(|state| crate::model::IdPrefix::ExternalAccount.names(state));
        if names_sign_up {
            self.sign_ups.oauth_callback(params).await
        } else if names_connection {
            self.account.connection_callback(params).await
        } else {
            self.oauth.oauth_callback(params).await
        }
    }

    /// A client claims its OAuth callback (`rotating_token_nonce`): its
    /// current sign-up's if one waits, else its sign-in's. Returns the
    /// client's new token if it rotated.
    pub async fn claim_oauth(
        &self,
        token: Option<&str>,
        nonce: &str,
        keep_token: bool,
        origin: &crate::model::SessionOrigin,
    ) -> Result<Option<String>, Error> {
        if let Some(new_token) = self
            .sign_ups
            .claim_oauth(token, nonce, keep_token, origin)
            .await?
        {
            return Ok(new_token);
        }
        self.oauth
            .claim_oauth(token, nonce, keep_token, origin)
            .await
    }

    /// The instance settings in force now.
    pub fn settings(&self) -> Arc<InstanceSettings> {
        self.settings.current()
    }

    /// The shared settings every service reads.
    pub fn live_settings(&self) -> &LiveSettings {
        &self.settings
    }
}

/// A new 256-bit client token, hex encoded.
fn new_token(random: &dyn Random) -> String {
    let mut bytes = [0u8; 32];
    random.fill(&mut bytes);
    hex(&bytes)
}

/// SHA-256 of a client token, hex encoded: what the client repository stores.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The token hash a client holds after a step: `new_token`'s when the step
/// gave it one, else `current` (the hash it had).
fn hash_after(new_token: Option<&str>, current: &str) -> String {
    new_token.map_or_else(|| current.to_owned(), token_hash)
}

/// `bytes` as lower-case hexadecimal, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A requested page size within Clerk's bounds (default 10, 1 to 500).
fn page_limit(requested: Option<u32>) -> Result<u32, Error> {
    match requested.unwrap_or(10) {
        limit @ 1..=500 => Ok(limit),
        _ => Err(Error::invalid(
            "limit",
            Problem::OutOfRange { min: 1, max: 500 },
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support;

//! Instance settings: Clerk's "User & authentication" page as a value.

use super::{Duration, IdentifierKind, Strategy};

/// Development instances allow test identities and dev browsers; production
/// instances do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}

/// Which identifiers may name an account at sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierSettings {
    pub email_address: bool,
    pub phone_number: bool,
    pub username: bool,
}

impl IdentifierSettings {
    pub fn allows(&self, kind: IdentifierKind) -> bool {
        match kind {
            IdentifierKind::EmailAddress => self.email_address,
            IdentifierKind::PhoneNumber => self.phone_number,
            IdentifierKind::Username => self.username,
        }
    }
}

/// Which verification strategies are turned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategySettings {
    pub password: bool,
    pub email_code: bool,
    pub phone_code: bool,
    pub totp: bool,
    pub backup_code: bool,
    /// Whether an email code may serve as a second factor.
    pub email_code_second_factor: bool,
    /// Enabled OAuth providers, by name (`google`, `github`, `custom_acme`, ...).
    pub oauth_providers: Vec<String>,
}

impl StrategySettings {
    /// Whether the instance accepts this strategy at all.
    pub fn allows(&self, strategy: &Strategy) -> bool {
        match strategy {
            Strategy::Password => self.password,
            Strategy::EmailCode => self.email_code,
            Strategy::PhoneCode => self.phone_code,
            Strategy::Totp => self.totp,
            Strategy::BackupCode => self.backup_code,
            Strategy::OAuth(provider) => self.oauth_providers.iter().any(|p| p == provider),
            Strategy::ResetPasswordEmailCode => self.password && self.email_code,
            Strategy::ResetPasswordPhoneCode => self.password && self.phone_code,
            Strategy::EmailLink | Strategy::Passkey | Strategy::Ticket => false,
        }
    }
}

/// At most `requests` per `window` for one subject; `requests = 0` turns
/// the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const OFF: Self = Self {
        requests: 0,
        window: Duration(0),
    };

    pub const fn per_seconds(requests: u32, seconds: i64) -> Self {
        Self {
            requests,
            window: Duration::seconds(seconds),
        }
    }

    pub fn is_on(self) -> bool {
        self.requests > 0 && self.window.0 > 0
    }
}

/// Request rate limits, counted through the `Counters` port, so that every
/// replica sharing a store shares the counts. The IP limits follow Clerk's
/// published Frontend API limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// New clients, per client IP: `POST`/`PUT /v1/client`, development
    /// browsers, and sign-ins started without a client. Clerk publishes no
    /// such limit; it bounds the rows one address can make.
    pub create_client: RateLimit,
    /// `POST /v1/client/sign_ins`, per client IP.
    pub create_sign_in: RateLimit,
    /// `attempt_first_factor`, `attempt_second_factor` and `reset_password`
    /// together, per client IP.
    pub attempt: RateLimit,
    /// `prepare_first_factor` and `prepare_second_factor`, per client IP.
    pub prepare: RateLimit,
    /// Codes sent to one email address or phone number, from any client.
    pub codes_per_destination: RateLimit,
}

impl RateLimitSettings {
    pub const OFF: Self = Self {
        create_client: RateLimit::OFF,
        create_sign_in: RateLimit::OFF,
        attempt: RateLimit::OFF,
        prepare: RateLimit::OFF,
        codes_per_destination: RateLimit::OFF,
    };
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            create_client: RateLimit::per_seconds(10, 60),
            create_sign_in: RateLimit::per_seconds(5, 10),
            attempt: RateLimit::per_seconds(3, 10),
            prepare: RateLimit::per_seconds(5, 10),
            codes_per_destination: RateLimit::per_seconds(5, 600),
        }
    }
}

/// Everything an instance decides about sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSettings {
    pub environment: Environment,
    pub identifiers: IdentifierSettings,
    pub strategies: StrategySettings,
    pub password_min_length: usize,
    /// How long a session lives from its creation.
    pub session_lifetime: Duration,
    /// How long a session token (JWT) lives.
    pub session_token_lifetime: Duration,
    /// How long an unfinished sign-in lives before it is abandoned; a client
    /// idle for as long with no active session is removed.
    pub sign_in_lifetime: Duration,
    /// How long a client that never started a sign-in nor held a session
    /// (a bare `POST /v1/client` or development browser) lives unchanged.
    pub unused_client_lifetime: Duration,
    /// How long a one-time code stays valid.
    pub code_lifetime: Duration,
    /// Wrong codes allowed before a code is burned.
    pub max_code_attempts: u32,
    /// How soon a code may be sent again to the same sign-in.
    pub code_resend_cooldown: Duration,
    /// Failed factor attempts (passwords, codes) that lock a user; 0 turns
    /// lockout off.
    pub lockout_attempts: u32,
    /// How long a lockout lasts.
    pub lockout_duration: Duration,
    /// How recently a session's factors must have been verified for a
    /// sensitive change of its own account (new backup codes, removing the
    /// authenticator app): the first factor, and the second if the user has
    /// one.
    pub reverification_window: Duration,
    /// Enumeration protection: an identifier that names no account gets a
    /// sign-in like any other, which fails at the factor as a wrong one does.
    pub enumeration_protection: bool,
    /// Browser origins (`scheme://host[:port]`) an OAuth flow may send the
    /// user back to. Development instances also allow loopback hosts.
    pub redirect_origins: Vec<String>,
    /// Latch's OAuth callback (`.../v1/oauth_callback`), as registered with
    /// the providers.
    pub oauth_callback_url: String,
    /// How long a started OAuth flow waits for its callback.
    pub oauth_flow_lifetime: Duration,
    /// Link a provider account to the one user who has its email address,
    /// when the provider says it verified that address.
    pub oauth_link_verified_emails: bool,
    pub rate_limits: RateLimitSettings,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            environment: Environment::Development,
            identifiers: IdentifierSettings {
                email_address: true,
                phone_number: true,
                username: true,
            },
            strategies: StrategySettings {
                password: true,
                email_code: true,
                phone_code: true,
                totp: true,
                backup_code: true,
                email_code_second_factor: false,
                oauth_providers: Vec::new(),
            },
            password_min_length: 8,
            session_lifetime: Duration::days(7),
            session_token_lifetime: Duration::seconds(60),
            sign_in_lifetime: Duration::days(1),
            unused_client_lifetime: Duration::minutes(60),
            code_lifetime: Duration::minutes(10),
            max_code_attempts: 3,
            code_resend_cooldown: Duration::seconds(30),
            lockout_attempts: 10,
            lockout_duration: Duration::minutes(60),
            reverification_window: Duration::minutes(10),
            enumeration_protection: false,
            redirect_origins: Vec::new(),
            oauth_callback_url: "https://clerk.latch.localhost/v1/oauth_callback".to_owned(),
            oauth_flow_lifetime: Duration::minutes(10),
            oauth_link_verified_emails: true,
            rate_limits: RateLimitSettings::default(),
        }
    }
}

//! Instance settings: Clerk's "User & authentication" page as a value.

use std::collections::BTreeMap;

use super::{AccessLists, Duration, EmailAddress, Identifier, IdentifierKind, Strategy};

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

/// Which identifiers accounts have, and which of those may name an account
/// at sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierSettings {
    pub email_address: bool,
    pub phone_number: bool,
    pub username: bool,
    /// Of the identifiers that are on, those a sign-in may start with
    /// (Clerk's "used for sign-in"); one that is on but not used for
    /// sign-in is still collected at sign-up and kept on the account.
    pub sign_in: SignInIdentifiers,
}

/// Which identifiers a sign-in may start with, if they are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInIdentifiers {
    pub email_address: bool,
    pub phone_number: bool,
    pub username: bool,
}

impl SignInIdentifiers {
    pub const ALL: Self = Self {
        email_address: true,
        phone_number: true,
        username: true,
    };
}

impl IdentifierSettings {
    /// Whether identifiers of this kind are on: accounts may have them.
    pub fn on(&self, kind: IdentifierKind) -> bool {
        match kind {
            IdentifierKind::EmailAddress => self.email_address,
            IdentifierKind::PhoneNumber => self.phone_number,
            IdentifierKind::Username => self.username,
        }
    }

    /// Whether an identifier of this kind may name an account at sign-in.
    pub fn allows(&self, kind: IdentifierKind) -> bool {
        self.on(kind)
            && match kind {
                IdentifierKind::EmailAddress => self.sign_in.email_address,
                IdentifierKind::PhoneNumber => self.sign_in.phone_number,
                IdentifierKind::Username => self.sign_in.username,
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
    /// Whether an SMS code (with `phone_code` on) may serve as a second
    /// factor.
    pub phone_code_second_factor: bool,
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
    /// `POST /v1/client/sign_ups` and `PATCH /v1/client/sign_ups/{id}`
    /// together, per client IP.
    pub create_sign_up: RateLimit,
    /// `attempt_first_factor`, `attempt_second_factor`, `reset_password`
    /// and a sign-up's `attempt_verification` together, per client IP.
    pub attempt: RateLimit,
    /// `prepare_first_factor`, `prepare_second_factor` and a sign-up's
    /// `prepare_verification` together, per client IP.
    pub prepare: RateLimit,
    /// Codes sent to one email address or phone number, from any client.
    pub codes_per_destination: RateLimit,
}

impl RateLimitSettings {
    pub const OFF: Self = Self {
        create_client: RateLimit::OFF,
        create_sign_in: RateLimit::OFF,
        create_sign_up: RateLimit::OFF,
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
            create_sign_up: RateLimit::per_seconds(5, 10),
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
    /// Whether users may delete their own account (`DELETE /v1/me`).
    pub delete_self_enabled: bool,
    /// Whether Latch sends the messages that carry one-time codes itself.
    /// Either way each one is announced as an `email.created` or
    /// `sms.created` event, so an application can send them instead.
    pub deliver_code_messages: bool,
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
    /// How the instance presents itself to the pages that sign users in.
    pub display: DisplaySettings,
    /// Who may sign up, and what a sign-up must give.
    pub sign_up: SignUpSettings,
    /// Whether the allow- and block-lists apply, and what else keeps
    /// identifiers out.
    pub restrictions: Restrictions,
    /// The allow- and block-lists themselves.
    pub lists: AccessLists,
    /// Each OAuth provider's credentials, by name: the configuration
    /// file's, or an operator's since.
    pub oauth_credentials: BTreeMap<String, OAuthCredentials>,
}

/// An OAuth provider's client: what an operator may change at runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuthCredentials {
    pub client_id: String,
    /// Empty: the provider's preset scopes.
    pub scopes: Vec<String>,
    /// The client secret sealed under the instance key; empty: the
    /// configuration file's.
    pub sealed_secret: String,
}

/// Clerk's restrictions: whether the allowlist and the blocklist of
/// identifiers (and email domains) apply, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restrictions {
    /// Only identifiers (or email domains) on the allowlist may sign up,
    /// and sign in unless `lists_skip_sign_in`.
    pub allowlist: bool,
    /// No identifier (or email domain) on the blocklist may sign up, nor
    /// sign in unless `lists_skip_sign_in`.
    pub blocklist: bool,
    /// The lists apply to sign-ups only (Clerk's
    /// `allowlist_blocklist_disabled_on_sign_in`).
    pub lists_skip_sign_in: bool,
    /// Email addresses with a `+tag` in their local part may not sign up.
    pub block_email_subaddresses: bool,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            environment: Environment::Development,
            identifiers: IdentifierSettings {
                email_address: true,
                phone_number: true,
                username: true,
                sign_in: SignInIdentifiers::ALL,
            },
            strategies: StrategySettings {
                password: true,
                email_code: true,
                phone_code: true,
                totp: true,
                backup_code: true,
                email_code_second_factor: false,
                phone_code_second_factor: true,
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
            delete_self_enabled: true,
            deliver_code_messages: true,
            enumeration_protection: false,
            redirect_origins: Vec::new(),
            oauth_callback_url: "https://clerk.latch.localhost/v1/oauth_callback".to_owned(),
            oauth_flow_lifetime: Duration::minutes(10),
            oauth_link_verified_emails: true,
            rate_limits: RateLimitSettings::default(),
            display: DisplaySettings::default(),
            sign_up: SignUpSettings::default(),
            restrictions: Restrictions::default(),
            lists: AccessLists::default(),
            oauth_credentials: BTreeMap::new(),
        }
    }
}

/// Who may sign up by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignUpMode {
    /// Anyone may sign up.
    Public,
    /// Nobody signs up by themselves: accounts are made through the Backend
    /// API.
    Restricted,
}

impl SignUpMode {
    /// Clerk's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Restricted => "restricted",
        }
    }
}

/// Whether a sign-up asks for a field, and whether it must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Not collected at all.
    Off,
    Optional,
    Required,
}

/// A field a sign-up may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SignUpField {
    EmailAddress,
    PhoneNumber,
    Username,
    Password,
    FirstName,
    LastName,
    /// Acceptance of the terms of service and privacy policy.
    LegalAccepted,
}

impl SignUpField {
    /// Every field, in the order Clerk lists them.
    pub const ALL: [Self; 7] = [
        Self::EmailAddress,
        Self::PhoneNumber,
        Self::Username,
        Self::Password,
        Self::FirstName,
        Self::LastName,
        Self::LegalAccepted,
    ];

    /// Clerk's name for the field (as in `missing_fields`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailAddress => "email_address",
            Self::PhoneNumber => "phone_number",
            Self::Username => "username",
            Self::Password => "password",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::LegalAccepted => "legal_accepted",
        }
    }

    /// The field that carries an identifier of this kind.
    pub fn of_identifier(kind: IdentifierKind) -> Self {
        match kind {
            IdentifierKind::EmailAddress => Self::EmailAddress,
            IdentifierKind::PhoneNumber => Self::PhoneNumber,
            IdentifierKind::Username => Self::Username,
        }
    }
}

/// What a sign-up needs (Clerk's sign-up settings). Which identifiers and
/// whether passwords exist at all is decided by [`IdentifierSettings`] and
/// [`StrategySettings`]: an attribute that is off there is off here,
/// whatever these say, and [`InstanceSettings::sign_up_problem`] refuses
/// settings that require it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUpSettings {
    pub mode: SignUpMode,
    pub require_email_address: bool,
    pub require_phone_number: bool,
    pub require_username: bool,
    pub require_password: bool,
    pub first_name: Requirement,
    pub last_name: Requirement,
    /// An email address given at sign-up must be verified by a code before
    /// the account is made.
    pub verify_email_address: bool,
    /// A phone number given at sign-up must be verified by a code before the
    /// account is made.
    pub verify_phone_number: bool,
    /// A sign-up must accept the terms of service and privacy policy.
    pub legal_consent_required: bool,
    /// Whether a password may be one of the account's identifiers; when it
    /// may not, [`SignUpSettings::refuses_password`] says which are refused.
    pub password_may_match_identifier: bool,
}

impl Default for SignUpSettings {
    fn default() -> Self {
        Self {
            mode: SignUpMode::Public,
            require_email_address: true,
            require_phone_number: false,
            require_username: false,
            require_password: true,
            first_name: Requirement::Optional,
            last_name: Requirement::Optional,
            verify_email_address: true,
            verify_phone_number: true,
            legal_consent_required: false,
            password_may_match_identifier: false,
        }
    }
}

impl SignUpSettings {
    /// Whether `password` is refused for an account with `identifiers`: the
    /// rule is on and the password, compared as identifiers are (trimmed,
    /// NFKC, lower case), is one of them, an email address's local part, or
    /// a phone number without its `+`.
    pub fn refuses_password(&self, password: &str, identifiers: &[Identifier]) -> bool {
        use unicode_normalization::UnicodeNormalization as _;
        if self.password_may_match_identifier {
            return false;
        }
        let password = password.nfkc().collect::<String>().trim().to_lowercase();
        identifiers.iter().any(|identifier| {
            let value = identifier.as_str();
            let alias = match identifier {
                Identifier::Email(_) => value.rsplit_once('@').map(|(local, _)| local),
                Identifier::Phone(_) => value.strip_prefix('+'),
                Identifier::Username(_) => None,
            };
            password == value || alias == Some(password.as_str())
        })
    }
}

/// A combination of sign-up settings that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SignUpProblem {
    /// A required field whose attribute is off (an identifier, or passwords).
    RequiredButOff(SignUpField),
    /// Verification at sign-up of an identifier that is on, while the code
    /// strategy that verifies it (`email_code`, `phone_code`) is off.
    VerificationWithoutStrategy(IdentifierKind),
    /// Nothing required guarantees a way to sign in: a verified email
    /// address or phone number, or a username with a password.
    NoWayToSignIn,
    /// Legal consent is required, but there are no terms or privacy policy
    /// to link to.
    LegalConsentWithoutTerms,
}

impl InstanceSettings {
    /// Whether a sign-up collects `field`, and whether it must.
    pub fn sign_up_requirement(&self, field: SignUpField) -> Requirement {
        let su = &self.sign_up;
        let attribute = |on: bool, required: bool| match (on, required) {
            (false, _) => Requirement::Off,
            (true, false) => Requirement::Optional,
            (true, true) => Requirement::Required,
        };
        match field {
            SignUpField::EmailAddress => {
                attribute(self.identifiers.email_address, su.require_email_address)
            }
            SignUpField::PhoneNumber => {
                attribute(self.identifiers.phone_number, su.require_phone_number)
            }
            SignUpField::Username => attribute(self.identifiers.username, su.require_username),
            SignUpField::Password => attribute(self.strategies.password, su.require_password),
            SignUpField::FirstName => su.first_name,
            SignUpField::LastName => su.last_name,
            SignUpField::LegalAccepted => attribute(su.legal_consent_required, true),
        }
    }

    /// The fields a sign-up must give before it can complete.
    pub fn required_fields(&self) -> Vec<SignUpField> {
        self.sign_up_fields(Requirement::Required)
    }

    /// The fields a sign-up may give but need not.
    pub fn optional_fields(&self) -> Vec<SignUpField> {
        self.sign_up_fields(Requirement::Optional)
    }

    fn sign_up_fields(&self, requirement: Requirement) -> Vec<SignUpField> {
        SignUpField::ALL
            .into_iter()
            .filter(|field| self.sign_up_requirement(*field) == requirement)
            .collect()
    }

    /// Whether an identifier of this kind given at sign-up must be verified
    /// (by a code) before the account is made.
    pub fn verifies_at_sign_up(&self, kind: IdentifierKind) -> bool {
        let su = &self.sign_up;
        match kind {
            IdentifierKind::EmailAddress => {
                self.identifiers.email_address
                    && su.verify_email_address
                    && self.strategies.email_code
            }
            IdentifierKind::PhoneNumber => {
                self.identifiers.phone_number
                    && su.verify_phone_number
                    && self.strategies.phone_code
            }
            IdentifierKind::Username => false,
        }
    }

    /// The first combination of sign-up settings that cannot work, if any.
    pub fn sign_up_problem(&self) -> Option<SignUpProblem> {
        let su = &self.sign_up;
        let required = [
            (
                SignUpField::EmailAddress,
                su.require_email_address,
                self.identifiers.email_address,
            ),
            (
                SignUpField::PhoneNumber,
                su.require_phone_number,
                self.identifiers.phone_number,
            ),
            (
                SignUpField::Username,
                su.require_username,
                self.identifiers.username,
            ),
            (
                SignUpField::Password,
                su.require_password,
                self.strategies.password,
            ),
        ];
        if let Some((field, ..)) = required
            .into_iter()
            .find(|(_, required, on)| *required && !on)
        {
            return Some(SignUpProblem::RequiredButOff(field));
        }
        let verified = [
            (
                IdentifierKind::EmailAddress,
                self.identifiers.email_address && su.verify_email_address,
                self.strategies.email_code,
            ),
            (
                IdentifierKind::PhoneNumber,
                self.identifiers.phone_number && su.verify_phone_number,
                self.strategies.phone_code,
            ),
        ];
        if let Some((kind, ..)) = verified.into_iter().find(|(_, verify, on)| *verify && !on) {
            return Some(SignUpProblem::VerificationWithoutStrategy(kind));
        }
        // An unverified address or number names no account at sign-in, so
        // only a verified one, or a username with a password, is a way in.
        let ids = &self.identifiers;
        let way_in = (su.require_email_address
            && self.verifies_at_sign_up(IdentifierKind::EmailAddress)
            && ids.allows(IdentifierKind::EmailAddress))
            || (su.require_phone_number
                && self.verifies_at_sign_up(IdentifierKind::PhoneNumber)
                && ids.allows(IdentifierKind::PhoneNumber))
            || (su.require_username && su.require_password && ids.allows(IdentifierKind::Username));
        if !way_in {
            return Some(SignUpProblem::NoWayToSignIn);
        }
        if su.legal_consent_required
            && self.display.terms_url.is_none()
            && self.display.privacy_policy_url.is_none()
        {
            return Some(SignUpProblem::LegalConsentWithoutTerms);
        }
        None
    }
}

/// The application's name, links and images, as the pages that sign users
/// in show them (Clerk's display configuration). Links to the application's
/// own pages may be paths (`/sign-in`), which browsers resolve against the
/// application's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplaySettings {
    pub application_name: String,
    pub home_url: String,
    pub sign_in_url: String,
    pub sign_up_url: String,
    pub user_profile_url: String,
    pub after_sign_in_url: String,
    pub after_sign_up_url: String,
    /// Where a browser goes when one of its sessions signs out and others
    /// remain.
    pub after_sign_out_one_url: String,
    /// Where a browser goes when its last session signs out.
    pub after_sign_out_all_url: String,
    pub after_switch_session_url: String,
    /// Where the logo links to.
    pub logo_link_url: String,
    pub logo_image_url: Option<String>,
    pub favicon_image_url: Option<String>,
    pub support_email: Option<String>,
    pub help_url: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_url: Option<String>,
    /// What each OAuth provider is called and shows, by provider name (as in
    /// `oauth_<name>`); a provider without an entry goes by
    /// [`DisplaySettings::provider`]'s defaults.
    pub oauth_providers: BTreeMap<String, ProviderDisplay>,
}

/// How an OAuth provider is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDisplay {
    pub name: String,
    pub logo_url: Option<String>,
}

/// Which form a display setting must take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayRule {
    /// Not empty, at most 256 characters, no control characters.
    Name,
    /// An absolute `http(s)` URL, or a path starting with one `/`.
    UrlOrPath,
    /// An absolute `http(s)` URL.
    Url,
    /// An email address.
    EmailAddress,
}

/// A display setting that breaks its rule: which one, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayProblem {
    /// The setting's name, e.g. `sign_in_url` or `oauth_providers.github.logo_url`.
    pub field: String,
    pub rule: DisplayRule,
}

impl DisplaySettings {
    /// The longest application or provider name.
    pub const NAME_MAX_CHARS: usize = 256;
    /// The longest URL.
    pub const URL_MAX_BYTES: usize = 2048;

    /// How `provider` (as in `oauth_<provider>`) is presented: its entry, or
    /// else the preset's name (`GitHub`), or else its name without `custom_`
    /// and with each word capitalised, and no logo.
    pub fn provider(&self, provider: &str) -> ProviderDisplay {
        if let Some(shown) = self.oauth_providers.get(provider) {
            return shown.clone();
        }
        ProviderDisplay {
            name: default_provider_name(provider),
            logo_url: None,
        }
    }

    /// The first setting that breaks its rule, if any.
    pub fn problem(&self) -> Option<DisplayProblem> {
        use DisplayRule::{EmailAddress as Email, Name, Url, UrlOrPath};
        let required = [
            ("application_name", &self.application_name, Name),
            ("home_url", &self.home_url, UrlOrPath),
            ("sign_in_url", &self.sign_in_url, UrlOrPath),
            ("sign_up_url", &self.sign_up_url, UrlOrPath),
            ("user_profile_url", &self.user_profile_url, UrlOrPath),
            ("after_sign_in_url", &self.after_sign_in_url, UrlOrPath),
            ("after_sign_up_url", &self.after_sign_up_url, UrlOrPath),
            (
                "after_sign_out_one_url",
                &self.after_sign_out_one_url,
                UrlOrPath,
            ),
            (
                "after_sign_out_all_url",
                &self.after_sign_out_all_url,
                UrlOrPath,
            ),
            (
                "after_switch_session_url",
                &self.after_switch_session_url,
                UrlOrPath,
            ),
            ("logo_link_url", &self.logo_link_url, UrlOrPath),
        ];
        let optional = [
            ("logo_image_url", &self.logo_image_url, Url),
            ("favicon_image_url", &self.favicon_image_url, Url),
            ("support_email", &self.support_email, Email),
            ("help_url", &self.help_url, Url),
            ("privacy_policy_url", &self.privacy_policy_url, Url),
            ("terms_url", &self.terms_url, Url),
        ];
        let problem = |field: &str, rule| {
            Some(DisplayProblem {
                field: field.to_owned(),
                rule,
            })
        };
        for (field, value, rule) in required {
            if !rule.admits(value) {
                return problem(field, rule);
            }
        }
        for (field, value, rule) in optional {
            if value.as_deref().is_some_and(|v| !rule.admits(v)) {
                return problem(field, rule);
            }
        }
        for (provider, shown) in &self.oauth_providers {
            if !Name.admits(&shown.name) {
                return problem(&format!("oauth_providers.{provider}.name"), Name);
            }
            if shown.logo_url.as_deref().is_some_and(|v| !Url.admits(v)) {
                return problem(&format!("oauth_providers.{provider}.logo_url"), Url);
            }
        }
        None
    }
}

impl DisplayRule {
    /// Whether `value` takes this form.
    pub fn admits(self, value: &str) -> bool {
        match self {
            Self::Name => {
                !value.trim().is_empty()
                    && value.chars().count() <= DisplaySettings::NAME_MAX_CHARS
                    && !value.chars().any(char::is_control)
            }
            Self::Url => is_absolute_url(value),
            Self::UrlOrPath => is_absolute_url(value) || is_path(value),
            Self::EmailAddress => EmailAddress::parse(value).is_ok(),
        }
    }
}

/// `http(s)://` and a host, with nothing a browser would read differently
/// (spaces, control characters, backslashes, user info).
fn is_absolute_url(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url_chars_ok(value) && !authority.is_empty() && !authority.contains('@')
}

/// A path on the application's own origin: one leading `/` (`//` would name
/// another host).
fn is_path(value: &str) -> bool {
    value.starts_with('/') && !value.starts_with("//") && url_chars_ok(value)
}

fn url_chars_ok(value: &str) -> bool {
    value.len() <= DisplaySettings::URL_MAX_BYTES
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
}

/// The name a provider preset goes by, or the provider's own name made
/// readable (`custom_acme_sso` is `Acme Sso`).
fn default_provider_name(provider: &str) -> String {
    let preset = match provider {
        "apple" => "Apple",
        "discord" => "Discord",
        "facebook" => "Facebook",
        "github" => "GitHub",
        "gitlab" => "GitLab",
        "google" => "Google",
        "linkedin_oidc" => "LinkedIn",
        "microsoft" => "Microsoft",
        "twitter" => "X / Twitter",
        _ => "",
    };
    if !preset.is_empty() {
        return preset.to_owned();
    }
    let bare = provider.strip_prefix("custom_").unwrap_or(provider);
    bare.split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the default instance (Frontend API at `https://clerk.latch.localhost`)
/// hosts its pages.
const HOSTED: &str = "https://clerk.latch.localhost";

impl Default for DisplaySettings {
    /// The pages are Latch's hosted ones.
    fn default() -> Self {
        Self {
            application_name: "Latch".to_owned(),
            home_url: "/".to_owned(),
            sign_in_url: format!("{HOSTED}/sign-in"),
            sign_up_url: format!("{HOSTED}/sign-up"),
            user_profile_url: format!("{HOSTED}/user"),
            after_sign_in_url: "/".to_owned(),
            after_sign_up_url: "/".to_owned(),
            after_sign_out_one_url: format!("{HOSTED}/sign-in#/choose"),
            after_sign_out_all_url: format!("{HOSTED}/sign-in"),
            after_switch_session_url: "/".to_owned(),
            logo_link_url: "/".to_owned(),
            logo_image_url: None,
            favicon_image_url: None,
            support_email: None,
            help_url: None,
            privacy_policy_url: None,
            terms_url: None,
            oauth_providers: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_or_a_path_where_paths_are_allowed() {
        for good in [
            "https://app.example.com/sign-in",
            "http://localhost:3000",
            "/",
            "/sign-in#/choose",
        ] {
            assert!(DisplayRule::UrlOrPath.admits(good), "{good}");
        }
        for bad in [
            "",
            "sign-in",
            "//evil.example",
            "javascript:alert(1)",
            "https://",
            "https://u@evil.example",
            "/a b",
            "ftp://x.example",
            "/a\\b",
        ] {
            assert!(!DisplayRule::UrlOrPath.admits(bad), "{bad}");
        }
        assert!(!DisplayRule::Url.admits("/logo.png"));
        assert!(DisplayRule::Url.admits("https://cdn.example.com/logo.png"));
    }

    #[test]
    fn the_defaults_keep_every_rule() {
        assert_eq!(DisplaySettings::default().problem(), None);
    }

    #[test]
    fn a_problem_names_its_field() {
        let mut display = DisplaySettings {
            support_email: Some("not an address".to_owned()),
            ..DisplaySettings::default()
        };
        assert_eq!(
            display.problem(),
            Some(DisplayProblem {
                field: "support_email".to_owned(),
                rule: DisplayRule::EmailAddress
            })
        );
        display.support_email = None;
        display.oauth_providers.insert(
            "custom_acme".to_owned(),
            ProviderDisplay {
                name: "Acme".to_owned(),
                logo_url: Some("logo.png".to_owned()),
            },
        );
        assert_eq!(
            display.problem().map(|p| p.field),
            Some("oauth_providers.custom_acme.logo_url".to_owned())
        );
    }

    fn sign_up(edit: impl FnOnce(&mut InstanceSettings)) -> InstanceSettings {
        let mut settings = InstanceSettings::default();
        edit(&mut settings);
        settings
    }

    #[test]
    fn by_default_a_sign_up_needs_a_verified_email_address_and_a_password() {
        use SignUpField::*;
        let settings = InstanceSettings::default();
        assert_eq!(settings.sign_up.mode, SignUpMode::Public);
        assert_eq!(settings.required_fields(), [EmailAddress, Password]);
        assert_eq!(
            settings.optional_fields(),
            [PhoneNumber, Username, FirstName, LastName]
        );
        assert!(settings.verifies_at_sign_up(IdentifierKind::EmailAddress));
        assert!(settings.verifies_at_sign_up(IdentifierKind::PhoneNumber));
        assert!(!settings.verifies_at_sign_up(IdentifierKind::Username));
        assert_eq!(settings.sign_up_problem(), None);
        let names: Vec<&str> = SignUpField::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "email_address",
                "phone_number",
                "username",
                "password",
                "first_name",
                "last_name",
                "legal_accepted"
            ]
        );
    }

    #[test]
    fn an_attribute_that_is_off_is_neither_required_nor_collected() {
        use SignUpField::*;
        let settings = sign_up(|s| {
            s.identifiers.phone_number = false;
            s.sign_up.require_phone_number = true;
            s.strategies.password = false;
            s.sign_up.first_name = Requirement::Off;
            s.sign_up.last_name = Requirement::Required;
        });
        assert_eq!(settings.sign_up_requirement(PhoneNumber), Requirement::Off);
        assert_eq!(settings.required_fields(), [EmailAddress, LastName]);
        assert_eq!(settings.optional_fields(), [Username]);
        assert!(!settings.verifies_at_sign_up(IdentifierKind::PhoneNumber));
        // Requiring what is off is refused, naming the field.
        assert_eq!(
            settings.sign_up_problem(),
            Some(SignUpProblem::RequiredButOff(PhoneNumber))
        );
        let no_password = sign_up(|s| s.strategies.password = false);
        assert_eq!(
            no_password.sign_up_problem(),
            Some(SignUpProblem::RequiredButOff(Password))
        );
    }

    #[test]
    fn a_verification_needs_its_code_strategy_unless_its_attribute_is_off() {
        let settings = sign_up(|s| s.strategies.phone_code = false);
        assert!(!settings.verifies_at_sign_up(IdentifierKind::PhoneNumber));
        assert_eq!(
            settings.sign_up_problem(),
            Some(SignUpProblem::VerificationWithoutStrategy(
                IdentifierKind::PhoneNumber
            ))
        );
        let phone_off = sign_up(|s| {
            s.strategies.phone_code = false;
            s.identifiers.phone_number = false;
        });
        assert_eq!(phone_off.sign_up_problem(), None);
        let unverified = sign_up(|s| {
            s.strategies.phone_code = false;
            s.sign_up.verify_phone_number = false;
        });
        assert_eq!(unverified.sign_up_problem(), None);
    }

    #[test]
    fn every_account_a_sign_up_makes_has_a_way_to_sign_in() {
        // An unverified address names no account at sign-in.
        let unverified_email = sign_up(|s| s.sign_up.verify_email_address = false);
        assert_eq!(
            unverified_email.sign_up_problem(),
            Some(SignUpProblem::NoWayToSignIn)
        );
        let nothing_required = sign_up(|s| s.sign_up.require_email_address = false);
        assert_eq!(
            nothing_required.sign_up_problem(),
            Some(SignUpProblem::NoWayToSignIn)
        );
        let username_without_password = sign_up(|s| {
            s.sign_up.require_email_address = false;
            s.sign_up.require_username = true;
            s.sign_up.require_password = false;
        });
        assert_eq!(
            username_without_password.sign_up_problem(),
            Some(SignUpProblem::NoWayToSignIn)
        );
        let username_and_password = sign_up(|s| {
            s.sign_up.require_email_address = false;
            s.sign_up.require_username = true;
        });
        assert_eq!(username_and_password.sign_up_problem(), None);
        let phone_only = sign_up(|s| {
            s.identifiers.email_address = false;
            s.identifiers.username = false;
            s.strategies.password = false;
            s.sign_up.require_email_address = false;
            s.sign_up.require_password = false;
            s.sign_up.require_phone_number = true;
        });
        assert_eq!(phone_only.sign_up_problem(), None);
        assert_eq!(phone_only.required_fields(), [SignUpField::PhoneNumber]);
    }

    #[test]
    fn legal_consent_is_a_required_field_with_terms_to_link_to() {
        let without_terms = sign_up(|s| s.sign_up.legal_consent_required = true);
        assert!(
            without_terms
                .required_fields()
                .contains(&SignUpField::LegalAccepted)
        );
        assert_eq!(
            without_terms.sign_up_problem(),
            Some(SignUpProblem::LegalConsentWithoutTerms)
        );
        let with_terms = sign_up(|s| {
            s.sign_up.legal_consent_required = true;
            s.display.privacy_policy_url = Some("https://acme.example/privacy".to_owned());
        });
        assert_eq!(with_terms.sign_up_problem(), None);
        assert!(
            !InstanceSettings::default()
                .optional_fields()
                .contains(&SignUpField::LegalAccepted)
        );
    }

    #[test]
    fn a_password_may_not_be_an_identifier_unless_allowed() {
        let identifiers = [
            Identifier::parse("Ada.Lovelace@example.com").unwrap(),
            Identifier::parse("+15555550100").unwrap(),
            Identifier::parse("ada_l").unwrap(),
        ];
        let rules = SignUpSettings::default();
        for refused in [
            "ada.lovelace@example.com",
            " ADA.LOVELACE@EXAMPLE.COM ",
            "ada.lovelace",
            "+15555550100",
            "15555550100",
            "Ada_L",
        ] {
            assert!(rules.refuses_password(refused, &identifiers), "{refused}");
        }
        for accepted in ["ada.lovelace1", "correct horse battery", "example.com"] {
            assert!(
                !rules.refuses_password(accepted, &identifiers),
                "{accepted}"
            );
        }
        assert!(!rules.refuses_password("ada_l", &[]));
        let lenient = SignUpSettings {
            password_may_match_identifier: true,
            ..SignUpSettings::default()
        };
        assert!(!lenient.refuses_password("ada_l", &identifiers));
    }

    #[test]
    fn providers_without_an_entry_get_a_readable_name() {
        let display = DisplaySettings::default();
        assert_eq!(display.provider("github").name, "GitHub");
        assert_eq!(display.provider("custom_acme_sso").name, "Acme Sso");
        assert_eq!(display.provider("custom_acme").logo_url, None);
    }
}

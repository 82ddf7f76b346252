//! Instance settings: Clerk's "User & authentication" page as a value.

use std::collections::BTreeMap;

use super::{Duration, EmailAddress, IdentifierKind, Strategy};

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
    /// How the instance presents itself to the pages that sign users in.
    pub display: DisplaySettings,
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
            display: DisplaySettings::default(),
        }
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

impl Default for DisplaySettings {
    fn default() -> Self {
        Self {
            application_name: "Latch".to_owned(),
            home_url: "/".to_owned(),
            sign_in_url: "/sign-in".to_owned(),
            sign_up_url: "/sign-up".to_owned(),
            user_profile_url: "/user".to_owned(),
            after_sign_in_url: "/".to_owned(),
            after_sign_up_url: "/".to_owned(),
            after_sign_out_one_url: "/sign-in#/choose".to_owned(),
            after_sign_out_all_url: "/sign-in".to_owned(),
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

    #[test]
    fn providers_without_an_entry_get_a_readable_name() {
        let display = DisplaySettings::default();
        assert_eq!(display.provider("github").name, "GitHub");
        assert_eq!(display.provider("custom_acme_sso").name, "Acme Sso");
        assert_eq!(display.provider("custom_acme").logo_url, None);
    }
}

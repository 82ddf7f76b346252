//! The settings an operator changes while the instance runs (Clerk's
//! "User & authentication" pages), as one document grouped the way Clerk's
//! dashboard groups them. The configuration file gives the rest of
//! [`InstanceSettings`] (environment, URLs, display, code delivery) and a new
//! instance's first document; the durable store keeps every version after.
//!
//! A change is a JSON merge patch (RFC 7396) over the current document: the
//! result is read back whole and checked as a whole ([`UserManagement::check`]),
//! so a change is refused with the field it breaks, and nothing half-applied
//! ever takes effect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Duration, IdentifierKind, InstanceSettings, OAuthCredentials, Password, RateLimit,
    RateLimitSettings, Requirement, Restrictions, SignInIdentifiers, SignUpField, SignUpMode,
    SignUpProblem,
};

const DAY: i64 = 86_400;

/// The runtime settings, by group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserManagement {
    pub email_address: AddressRules,
    pub phone_number: AddressRules,
    pub username: UsernameRules,
    pub password: PasswordRules,
    pub personal_information: NameRules,
    pub multi_factor: MultiFactor,
    /// The OAuth providers the configuration file sets up, by name: which
    /// of them are on, and their clients.
    pub sso: BTreeMap<String, SsoRules>,
    pub sign_up: SignUpRules,
    pub restrictions: RestrictionRules,
    pub attack_protection: AttackProtection,
    pub sessions: SessionRules,
    pub rate_limits: RateLimitRules,
}

/// An email address or a phone number as an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRules {
    /// Accounts may have one.
    pub enabled: bool,
    /// A sign-in may start with one.
    pub used_for_sign_in: bool,
    /// A sign-up must give one.
    pub required: bool,
    /// A sign-up must verify the one it gives, by code.
    pub verify_at_sign_up: bool,
    /// Codes sent to it: to sign in with, and to verify it.
    pub sign_in_with_code: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsernameRules {
    pub enabled: bool,
    pub used_for_sign_in: bool,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRules {
    /// Passwords exist: to sign in with, and to set.
    pub enabled: bool,
    /// A sign-up must set one.
    pub required: bool,
    pub min_length: usize,
    /// A password may equal one of the account's identifiers.
    pub may_match_identifier: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRules {
    pub first_name: Requirement,
    pub last_name: Requirement,
}

/// The second factors users may turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiFactor {
    pub phone_code: bool,
    pub totp: bool,
    pub backup_code: bool,
    pub email_code: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoRules {
    pub enabled: bool,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The scopes asked for; none: the provider's preset.
    pub scopes: Vec<String>,
    /// Write-only. Stored sealed under the instance key (empty: the
    /// configuration file's); always shown empty. See
    /// [`UserManagement::redacted`].
    pub client_secret: String,
}

impl SsoRules {
    /// The provider's client as these rules set it.
    pub fn client(&self) -> OAuthCredentials {
        OAuthCredentials {
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            sealed_secret: self.client_secret.clone(),
        }
    }
}

/// The longest client id, scope and client secret a provider may be given,
/// and the most scopes.
const MAX_CLIENT_ID: usize = 256;
const MAX_SCOPE: usize = 128;
const MAX_SCOPES: usize = 32;
pub const MAX_CLIENT_SECRET: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpRules {
    pub mode: SignUpMode,
    pub legal_consent_required: bool,
}

/// Clerk's restrictions (`/v1/instance/restrictions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictionRules {
    pub allowlist: bool,
    pub blocklist: bool,
    pub allowlist_blocklist_disabled_on_sign_in: bool,
    pub block_email_subaddresses: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackProtection {
    /// Failed factor attempts that lock a user; 0 turns lockout off.
    pub lockout_attempts: u32,
    pub lockout_duration_secs: i64,
    /// Wrong codes allowed before a code is burned.
    pub max_code_attempts: u32,
    pub enumeration_protection: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRules {
    pub lifetime_secs: i64,
    pub token_lifetime_secs: i64,
    /// How recently factors must have passed for a sensitive change.
    pub reverification_window_secs: i64,
    /// Users may delete their own account.
    pub delete_self_enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRules {
    pub create_client: LimitRule,
    pub create_sign_in: LimitRule,
    pub create_sign_up: LimitRule,
    pub attempt: LimitRule,
    pub prepare: LimitRule,
    pub codes_per_destination: LimitRule,
}

/// At most `requests` per `window_secs`; 0 requests turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    pub requests: u32,
    pub window_secs: i64,
}

impl LimitRule {
    fn of(limit: RateLimit) -> Self {
        Self {
            requests: limit.requests,
            window_secs: limit.window.as_secs(),
        }
    }

    fn limit(self) -> RateLimit {
        RateLimit::per_seconds(self.requests, self.window_secs)
    }
}

/// Why a document cannot be applied, at the field [`SettingsRefusal::path`]
/// names (dotted, as in the document: `email_address.required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRefusal {
    pub path: String,
    pub problem: SettingProblem,
}

/// What is wrong with a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettingProblem {
    /// No such setting.
    Unknown,
    /// The value is not of the setting's type (what it takes, in words).
    WrongType(String),
    /// A number outside these bounds.
    OutOfRange { min: i64, max: i64 },
    /// The configuration file pins this setting.
    Pinned,
    /// It would leave no way to sign in: no first factor with an
    /// identifier to use it.
    NoFirstFactor,
    /// It needs the setting at this path on.
    Needs(String),
    /// The sign-up settings would not work together.
    SignUp(SignUpProblem),
    /// A value the setting cannot take: what it must be, in words.
    Invalid(String),
}

impl SettingsRefusal {
    fn at(path: &str, problem: SettingProblem) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }
}

impl UserManagement {
    /// The document `settings` amount to; `providers` are the OAuth
    /// providers the configuration file sets up.
    pub fn of<'a>(
        settings: &InstanceSettings,
        providers: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let ids = &settings.identifiers;
        let st = &settings.strategies;
        let su = &settings.sign_up;
        let rl = &settings.rate_limits;
        let r = &settings.restrictions;
        Self {
            email_address: AddressRules {
                enabled: ids.email_address,
                used_for_sign_in: ids.allows(IdentifierKind::EmailAddress),
                required: su.require_email_address,
                verify_at_sign_up: su.verify_email_address,
                sign_in_with_code: st.email_code,
            },
            phone_number: AddressRules {
                enabled: ids.phone_number,
                used_for_sign_in: ids.allows(IdentifierKind::PhoneNumber),
                required: su.require_phone_number,
                verify_at_sign_up: su.verify_phone_number,
                sign_in_with_code: st.phone_code,
            },
            username: UsernameRules {
                enabled: ids.username,
                used_for_sign_in: ids.allows(IdentifierKind::Username),
                required: su.require_username,
            },
            password: PasswordRules {
                enabled: st.password,
                required: su.require_password,
                min_length: settings.password_min_length,
                may_match_identifier: su.password_may_match_identifier,
            },
            personal_information: NameRules {
                first_name: su.first_name,
                last_name: su.last_name,
            },
            multi_factor: MultiFactor {
                phone_code: st.phone_code && st.phone_code_second_factor,
                totp: st.totp,
                backup_code: st.backup_code,
                email_code: st.email_code && st.email_code_second_factor,
            },
            sso: providers
                .into_iter()
                .map(|name| {
                    let enabled = st.oauth_providers.iter().any(|p| p == name);
                    let credentials = settings
                        .oauth_credentials
                        .get(name)
                        .cloned()
                        .unwrap_or_default();
                    let rules = SsoRules {
                        enabled,
                        client_id: credentials.client_id,
                        scopes: credentials.scopes,
                        client_secret: credentials.sealed_secret,
                    };
                    (name.to_owned(), rules)
                })
                .collect(),
            sign_up: SignUpRules {
                mode: su.mode,
                legal_consent_required: su.legal_consent_required,
            },
            restrictions: RestrictionRules {
                allowlist: r.allowlist,
                blocklist: r.blocklist,
                allowlist_blocklist_disabled_on_sign_in: r.lists_skip_sign_in,
                block_email_subaddresses: r.block_email_subaddresses,
            },
            attack_protection: AttackProtection {
                lockout_attempts: settings.lockout_attempts,
                lockout_duration_secs: settings.lockout_duration.as_secs(),
                max_code_attempts: settings.max_code_attempts,
                enumeration_protection: settings.enumeration_protection,
            },
            sessions: SessionRules {
                lifetime_secs: settings.session_lifetime.as_secs(),
                token_lifetime_secs: settings.session_token_lifetime.as_secs(),
                reverification_window_secs: settings.reverification_window.as_secs(),
                delete_self_enabled: settings.delete_self_enabled,
            },
            rate_limits: RateLimitRules {
                create_client: LimitRule::of(rl.create_client),
                create_sign_in: LimitRule::of(rl.create_sign_in),
                create_sign_up: LimitRule::of(rl.create_sign_up),
                attempt: LimitRule::of(rl.attempt),
                prepare: LimitRule::of(rl.prepare),
                codes_per_destination: LimitRule::of(rl.codes_per_destination),
            },
        }
    }

    /// `base` (the configuration file's settings) with this document in
    /// force.
    pub fn apply(&self, base: &InstanceSettings) -> InstanceSettings {
        let mut s = base.clone();
        let (email, phone) = (&self.email_address, &self.phone_number);
        s.identifiers.email_address = email.enabled;
        s.identifiers.phone_number = phone.enabled;
        s.identifiers.username = self.username.enabled;
        s.identifiers.sign_in = SignInIdentifiers {
            email_address: email.used_for_sign_in,
            phone_number: phone.used_for_sign_in,
            username: self.username.used_for_sign_in,
        };
        s.strategies.password = self.password.enabled;
        s.strategies.email_code = email.sign_in_with_code;
        s.strategies.phone_code = phone.sign_in_with_code;
        s.strategies.totp = self.multi_factor.totp;
        s.strategies.backup_code = self.multi_factor.backup_code;
        s.strategies.email_code_second_factor = self.multi_factor.email_code;
        s.strategies.phone_code_second_factor = self.multi_factor.phone_code;
        s.strategies.oauth_providers = self
            .sso
            .iter()
            .filter(|(_, rules)| rules.enabled)
            .map(|(name, _)| name.clone())
            .collect();
        s.oauth_credentials = self
            .sso
            .iter()
            .map(|(name, rules)| (name.clone(), rules.client()))
            .collect();
        s.password_min_length = self.password.min_length;
        let su = &mut s.sign_up;
        su.mode = self.sign_up.mode;
        su.legal_consent_required = self.sign_up.legal_consent_required;
        su.require_email_address = email.required;
        su.require_phone_number = phone.required;
        su.require_username = self.username.required;
        su.require_password = self.password.required;
        su.verify_email_address = email.verify_at_sign_up;
        su.verify_phone_number = phone.verify_at_sign_up;
        su.first_name = self.personal_information.first_name;
        su.last_name = self.personal_information.last_name;
        su.password_may_match_identifier = self.password.may_match_identifier;
        let r = &self.restrictions;
        s.restrictions = Restrictions {
            allowlist: r.allowlist,
            blocklist: r.blocklist,
            lists_skip_sign_in: r.allowlist_blocklist_disabled_on_sign_in,
            block_email_subaddresses: r.block_email_subaddresses,
        };
        let ap = &self.attack_protection;
        s.lockout_attempts = ap.lockout_attempts;
        s.lockout_duration = Duration::seconds(ap.lockout_duration_secs);
        s.max_code_attempts = ap.max_code_attempts;
        s.enumeration_protection = ap.enumeration_protection;
        s.session_lifetime = Duration::seconds(self.sessions.lifetime_secs);
        s.session_token_lifetime = Duration::seconds(self.sessions.token_lifetime_secs);
        s.reverification_window = Duration::seconds(self.sessions.reverification_window_secs);
        s.delete_self_enabled = self.sessions.delete_self_enabled;
        let rl = &self.rate_limits;
        s.rate_limits = RateLimitSettings {
            create_client: rl.create_client.limit(),
            create_sign_in: rl.create_sign_in.limit(),
            create_sign_up: rl.create_sign_up.limit(),
            attempt: rl.attempt.limit(),
            prepare: rl.prepare.limit(),
            codes_per_destination: rl.codes_per_destination.limit(),
        };
        s
    }

    /// The first reason this document cannot be in force over `base`, if
    /// any: bounds, then combinations that cannot work.
    pub fn check(&self, base: &InstanceSettings) -> Result<(), SettingsRefusal> {
        self.check_bounds()?;
        let settings = self.apply(base);
        let ids = &settings.identifiers;
        let st = &settings.strategies;
        let pairs = [
            (
                "email_address.used_for_sign_in",
                self.email_address.used_for_sign_in,
                "email_address.enabled",
                self.email_address.enabled,
            ),
            (
                "phone_number.used_for_sign_in",
                self.phone_number.used_for_sign_in,
                "phone_number.enabled",
                self.phone_number.enabled,
            ),
            (
                "username.used_for_sign_in",
                self.username.used_for_sign_in,
                "username.enabled",
                self.username.enabled,
            ),
            (
                "multi_factor.email_code",
                self.multi_factor.email_code,
                "email_address.sign_in_with_code",
                self.email_address.sign_in_with_code,
            ),
            (
                "multi_factor.phone_code",
                self.multi_factor.phone_code,
                "phone_number.sign_in_with_code",
                self.phone_number.sign_in_with_code,
            ),
        ];
        let allowlist = (
            "restrictions.allowlist",
            self.restrictions.allowlist,
            "email_address.required",
            self.email_address.required || self.phone_number.required,
        );
        if let Some((path, _, needs, _)) = pairs
            .into_iter()
            .chain([allowlist])
            .find(|(_, on, _, needed)| *on && !needed)
        {
            return Err(SettingsRefusal::at(
                path,
                SettingProblem::Needs(needs.to_owned()),
            ));
        }
        let with_password = st.password
            && [
                IdentifierKind::EmailAddress,
                IdentifierKind::PhoneNumber,
                IdentifierKind::Username,
            ]
            .into_iter()
            .any(|kind| ids.allows(kind));
        let with_code = (st.email_code && ids.allows(IdentifierKind::EmailAddress))
            || (st.phone_code && ids.allows(IdentifierKind::PhoneNumber));
        if !(with_password || with_code || !st.oauth_providers.is_empty()) {
            let path = if !st.password {
                "password.enabled"
            } else {
                "email_address.used_for_sign_in"
            };
            return Err(SettingsRefusal::at(path, SettingProblem::NoFirstFactor));
        }
        if let Some(problem) = settings.sign_up_problem() {
            return Err(SettingsRefusal::at(
                sign_up_path(problem),
                SettingProblem::SignUp(problem),
            ));
        }
        Ok(())
    }

    fn check_bounds(&self) -> Result<(), SettingsRefusal> {
        self.check_clients()?;
        let ap = &self.attack_protection;
        let se = &self.sessions;
        let max_password = i64::try_from(Password::MAX_BYTES).unwrap_or(i64::MAX);
        let min_length = i64::try_from(self.password.min_length).unwrap_or(i64::MAX);
        let mut bounds = vec![
            ("password.min_length", min_length, 1, max_password),
            (
                "attack_protection.lockout_attempts",
                i64::from(ap.lockout_attempts),
                0,
                1000,
            ),
            (
                "attack_protection.lockout_duration_secs",
                ap.lockout_duration_secs,
                1,
                30 * DAY,
            ),
            (
                "attack_protection.max_code_attempts",
                i64::from(ap.max_code_attempts),
                1,
                10,
            ),
            ("sessions.lifetime_secs", se.lifetime_secs, 1, 3650 * DAY),
            (
                "sessions.token_lifetime_secs",
                se.token_lifetime_secs,
                1,
                DAY,
            ),
            (
                "sessions.reverification_window_secs",
                se.reverification_window_secs,
                1,
                DAY,
            ),
        ];
        let rl = &self.rate_limits;
        let limits = [
            ("rate_limits.create_client", rl.create_client),
            ("rate_limits.create_sign_in", rl.create_sign_in),
            ("rate_limits.create_sign_up", rl.create_sign_up),
            ("rate_limits.attempt", rl.attempt),
            ("rate_limits.prepare", rl.prepare),
            (
                "rate_limits.codes_per_destination",
                rl.codes_per_destination,
            ),
        ];
        let windows: Vec<String> = limits
            .iter()
            .map(|(path, _)| format!("{path}.window_secs"))
            .collect();
        for ((_, limit), path) in limits.iter().zip(&windows) {
            // A limit that is off (0 requests) may have no window.
            let min = i64::from(limit.requests > 0);
            bounds.push((path.as_str(), limit.window_secs, min, DAY));
        }
        for (path, value, min, max) in bounds {
            if !(min..=max).contains(&value) {
                return Err(SettingsRefusal::at(
                    path,
                    SettingProblem::OutOfRange { min, max },
                ));
            }
        }
        Ok(())
    }

    /// Each provider's client id and scopes: visible ASCII of bounded
    /// length. (Whether the provider takes them is its adapter's to say,
    /// when the service builds it.)
    fn check_clients(&self) -> Result<(), SettingsRefusal> {
        let visible = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
        };
        for (name, rules) in &self.sso {
            let id = &rules.client_id;
            if !(id.is_empty() || visible(id, MAX_CLIENT_ID)) {
                return Err(SettingsRefusal::at(
                    &format!("sso.{name}.client_id"),
                    SettingProblem::Invalid(format!(
                        "at most {MAX_CLIENT_ID} visible characters, without spaces"
                    )),
                ));
            }
            if rules.scopes.len() > MAX_SCOPES
                || !rules.scopes.iter().all(|scope| visible(scope, MAX_SCOPE))
            {
                return Err(SettingsRefusal::at(
                    &format!("sso.{name}.scopes"),
                    SettingProblem::Invalid(format!(
                        "at most {MAX_SCOPES} scopes, each 1 to {MAX_SCOPE} visible \
                         characters without spaces"
                    )),
                ));
            }
        }
        Ok(())
    }

    /// This document as operators see it: no client secret, sealed or not.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        for rules in out.sso.values_mut() {
            rules.client_secret.clear();
        }
        out
    }

    /// A stored document as operators see it (see [`redacted`](Self::redacted)).
    pub fn redact_stored(document: &mut Value) {
        let Some(Value::Object(sso)) = document.get_mut("sso") else {
            return;
        };
        for rules in sso.values_mut() {
            if let Some(secret) = rules.get_mut("client_secret") {
                *secret = Value::String(String::new());
            }
        }
    }

    /// This document with `patch` merged in (RFC 7396), read back whole. A
    /// key the document does not have, or a value of another type than the
    /// setting takes, is refused with its path.
    pub fn patched(&self, patch: &Value) -> Result<Self, SettingsRefusal> {
        let mut current = serde_json::to_value(self).unwrap_or(Value::Null);
        merge(&mut current, patch, "")?;
        serde_path_to_error::deserialize(current).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let what = inner
                .split_once(", expected ")
                .map_or(inner.as_str(), |(_, expected)| expected)
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned();
            SettingsRefusal::at(&path, SettingProblem::WrongType(what))
        })
    }

    /// The paths (dotted) of every setting that differs between `self` and
    /// `other`.
    pub fn changed_paths(&self, other: &Self) -> Vec<String> {
        let a = serde_json::to_value(self).unwrap_or(Value::Null);
        let b = serde_json::to_value(other).unwrap_or(Value::Null);
        let mut out = Vec::new();
        diff(&a, &b, "", &mut out);
        out
    }

    /// `self` with every setting under one of `pins` (dotted paths: a group
    /// or one setting) taken from `pinned`.
    pub fn with_pins(&self, pinned: &Self, pins: &[String]) -> Self {
        let mut doc = serde_json::to_value(self).unwrap_or(Value::Null);
        let from = serde_json::to_value(pinned).unwrap_or(Value::Null);
        for pin in pins {
            let pointer = format!("/{}", pin.replace('.', "/"));
            if let (Some(value), Some(slot)) = (from.pointer(&pointer), doc.pointer_mut(&pointer)) {
                *slot = value.clone();
            }
        }
        serde_json::from_value(doc).unwrap_or_else(|_| self.clone())
    }

    /// This document with a stored one laid over it: settings the stored
    /// document lacks (added to Latch since) keep this document's values;
    /// what it holds that this one does not (settings since removed), or
    /// holds with another type, is left out. `None` when what remains does
    /// not read as a document.
    pub fn over_stored(&self, stored: &Value) -> Option<Self> {
        let mut doc = serde_json::to_value(self).ok()?;
        overlay(&mut doc, stored);
        serde_json::from_value(doc).ok()
    }

    /// The document as stored.
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether `path` is a setting or a group of this document.
    pub fn has_path(&self, path: &str) -> bool {
        let doc = serde_json::to_value(self).unwrap_or(Value::Null);
        !path.is_empty()
            && doc
                .pointer(&format!("/{}", path.replace('.', "/")))
                .is_some()
    }
}

/// Which document field a sign-up problem is about.
fn sign_up_path(problem: SignUpProblem) -> &'static str {
    match problem {
        SignUpProblem::RequiredButOff(field) => match field {
            SignUpField::EmailAddress => "email_address.required",
            SignUpField::PhoneNumber => "phone_number.required",
            SignUpField::Username => "username.required",
            SignUpField::Password => "password.required",
            SignUpField::FirstName => "personal_information.first_name",
            SignUpField::LastName => "personal_information.last_name",
            SignUpField::LegalAccepted => "sign_up.legal_consent_required",
        },
        SignUpProblem::VerificationWithoutStrategy(IdentifierKind::PhoneNumber) => {
            "phone_number.verify_at_sign_up"
        }
        SignUpProblem::VerificationWithoutStrategy(_) => "email_address.verify_at_sign_up",
        SignUpProblem::NoWayToSignIn => "email_address.required",
        SignUpProblem::LegalConsentWithoutTerms => "sign_up.legal_consent_required",
    }
}

fn child(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Merges `patch` into `target` (RFC 7396), refusing keys `target` lacks and
/// a value where the document has a group, or a group where it has a value.
/// A `null` is refused too: no setting may be removed.
fn merge(target: &mut Value, patch: &Value, prefix: &str) -> Result<(), SettingsRefusal> {
    let Value::Object(patch) = patch else {
        return Err(SettingsRefusal::at(
            prefix,
            SettingProblem::WrongType("an object".into()),
        ));
    };
    let Value::Object(target) = target else {
        return Err(SettingsRefusal::at(
            prefix,
            SettingProblem::WrongType("a value, not an object".into()),
        ));
    };
    for (key, value) in patch {
        let Some(slot) = target.get_mut(key) else {
            // A key as given, cut to what an error may echo.
            let path = child(prefix, &super::truncate(key));
            return Err(SettingsRefusal::at(&path, SettingProblem::Unknown));
        };
        let path = child(prefix, key);
        match (slot.is_object(), value) {
            (true, Value::Object(_)) => merge(slot, value, &path)?,
            (true, _) => {
                return Err(SettingsRefusal::at(
                    &path,
                    SettingProblem::WrongType("an object".into()),
                ));
            }
            (false, Value::Object(_) | Value::Null) => {
                return Err(SettingsRefusal::at(
                    &path,
                    SettingProblem::WrongType(kind_of(slot).into()),
                ));
            }
            (false, _) => *slot = value.clone(),
        }
    }
    Ok(())
}

fn overlay(target: &mut Value, stored: &Value) {
    let (Value::Object(target), Value::Object(stored)) = (target, stored) else {
        return;
    };
    for (key, value) in stored {
        let Some(slot) = target.get_mut(key) else {
            continue;
        };
        if slot.is_object() {
            overlay(slot, value);
        } else if kind_of(slot) == kind_of(value) {
            *slot = value.clone();
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null => "a value",
    }
}

fn diff(a: &Value, b: &Value, prefix: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let empty = Map::new();
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = child(prefix, key);
                let (x, y) = (a.get(key), b.get(key));
                match (x, y) {
                    (Some(x), Some(y)) => diff(x, y, &path, out),
                    (Some(v), None) | (None, Some(v)) => {
                        diff(v, &Value::Object(empty.clone()), &path, out);
                    }
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(prefix.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests;

//! `auth_config`: which identifiers and strategies the instance has on.

use serde::Serialize;

use latch_core::model::{
    Environment, InstanceSettings, Requirement, SignUpField, Strategy, supported_identifiers,
};

use super::oauth_strategies;

/// Clerk's `Client.AuthConfig`.
#[derive(Debug, Serialize)]
pub struct AuthConfig {
    pub object: &'static str,
    pub id: String,
    pub first_name: Toggle,
    pub last_name: Toggle,
    pub email_address: Toggle,
    pub phone_number: Toggle,
    pub username: Toggle,
    pub password: Toggle,
    /// Groups of identifiers, one of which an account must have: the email
    /// address with the OAuth providers (which bring one), the phone
    /// number, the username.
    pub identification_requirements: Vec<Vec<String>>,
    /// What may identify a user at sign-in: the identifiers on and the OAuth
    /// strategies.
    pub identification_strategies: Vec<String>,
    /// Every first-factor strategy the instance accepts, sorted.
    pub first_factors: Vec<String>,
    pub second_factors: Vec<&'static str>,
    pub email_address_verification_strategies: Vec<&'static str>,
    pub single_session_mode: bool,
    pub enhanced_email_deliverability: bool,
    /// Development instances accept test identities (`+clerk_test`
    /// addresses, `+1 XXX 555 01XX` numbers) with the code `424242`.
    pub test_mode: bool,
    /// Development instances carry the client in the URL (development
    /// browsers).
    pub url_based_session_syncing: bool,
    pub claimed_at: Option<i64>,
    /// Sensitive changes to one's own account need recently verified factors.
    pub reverification: bool,
    pub native_settings: NativeSettings,
}

/// Whether an attribute is collected: Clerk's `"on"`/`"off"`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    On,
    Off,
}

impl From<bool> for Toggle {
    fn from(on: bool) -> Self {
        if on { Self::On } else { Self::Off }
    }
}

/// Clerk's `Client.NativeSettings`: native apps may use the Frontend API
/// (the `authorization` channel); trusted devices are not offered.
#[derive(Debug, Serialize)]
pub struct NativeSettings {
    pub object: &'static str,
    pub api_enabled: bool,
    pub trusted_device_sign_in_enabled: bool,
    pub trusted_device_enrollment_prompt_after_sign_in_enabled: bool,
    pub trusted_device_enrollment_prompt_after_sign_up_enabled: bool,
}

pub fn auth_config(settings: &InstanceSettings, instance_id: &str) -> AuthConfig {
    let ids = &settings.identifiers;
    let st = &settings.strategies;
    let oauth = oauth_strategies(settings);
    let mut requirements = Vec::new();
    let email_group: Vec<String> = ids
        .email_address
        .then(|| "email_address".to_owned())
        .into_iter()
        .chain(oauth.iter().cloned())
        .collect();
    if !email_group.is_empty() {
        requirements.push(email_group);
    }
    if ids.phone_number {
        requirements.push(vec!["phone_number".to_owned()]);
    }
    if ids.username {
        requirements.push(vec!["username".to_owned()]);
    }
    let mut identification_strategies: Vec<String> = supported_identifiers(settings)
        .iter()
        .map(|kind| kind.as_str().to_owned())
        .chain(oauth.iter().cloned())
        .collect();
    identification_strategies.sort();
    let mut first_factors: Vec<String> = [
        Strategy::Password,
        Strategy::EmailCode,
        Strategy::PhoneCode,
        Strategy::EmailLink,
        Strategy::ResetPasswordEmailCode,
        Strategy::ResetPasswordPhoneCode,
        Strategy::Passkey,
        Strategy::Ticket,
    ]
    .into_iter()
    .filter(|strategy| st.allows(strategy))
    .map(|strategy| strategy.name())
    .chain(oauth)
    .collect();
    first_factors.sort();
    let development = settings.environment == Environment::Development;
    AuthConfig {
        object: "auth_config",
        id: instance_id.to_owned(),
        first_name: (settings.sign_up_requirement(SignUpField::FirstName) != Requirement::Off)
            .into(),
        last_name: (settings.sign_up_requirement(SignUpField::LastName) != Requirement::Off).into(),
        email_address: ids.email_address.into(),
        phone_number: ids.phone_number.into(),
        username: ids.username.into(),
        password: st.password.into(),
        identification_requirements: requirements,
        identification_strategies,
        first_factors,
        second_factors: second_factors(settings),
        email_address_verification_strategies: (ids.email_address && st.email_code)
            .then_some("email_code")
            .into_iter()
            .collect(),
        single_session_mode: false,
        enhanced_email_deliverability: false,
        test_mode: development,
        url_based_session_syncing: development,
        claimed_at: None,
        // Off: a password change needs the current password as well as a
        // recent verification, so Clerk's screens ask for it (this flag is
        // what they read to leave it out). Sensitive changes still answer
        // `session_reverification_required`, which opens their prompt.
        reverification: false,
        native_settings: NativeSettings {
            object: "native_settings",
            api_enabled: true,
            trusted_device_sign_in_enabled: false,
            trusted_device_enrollment_prompt_after_sign_in_enabled: false,
            trusted_device_enrollment_prompt_after_sign_up_enabled: false,
        },
    }
}

/// The second factors a user may turn on, in the order Latch offers them.
pub fn second_factors(settings: &InstanceSettings) -> Vec<&'static str> {
    let st = &settings.strategies;
    [
        (st.phone_code && st.phone_code_second_factor, "phone_code"),
        (st.totp, "totp"),
        (st.backup_code, "backup_code"),
        (st.email_code && st.email_code_second_factor, "email_code"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

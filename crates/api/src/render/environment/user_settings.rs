//! `user_settings`: each attribute with how it is used and verified, the
//! OAuth providers, and the password, username and attack-protection rules.

use std::collections::BTreeMap;

use serde::Serialize;

use latch_core::model::{
    IdentifierKind, InstanceSettings, Password, Requirement, SignUpField, Strategy, Username,
};

/// Clerk's `Client.UserSettings`.
#[derive(Debug, Serialize)]
pub struct UserSettings {
    pub attributes: Attributes,
    /// By strategy (`oauth_<name>`), the enabled providers.
    pub social: BTreeMap<String, Social>,
    pub saml: Enabled,
    pub enterprise_sso: Enabled,
    pub sign_in: SignIn,
    pub sign_up: SignUp,
    pub restrictions: Restrictions,
    pub password_settings: PasswordSettings,
    pub username_settings: UsernameSettings,
    pub actions: Actions,
    pub attack_protection: AttackProtection,
    pub passkey_settings: PasskeySettings,
}

/// Clerk's `UserSettings.Attributes`.
#[derive(Debug, Serialize)]
pub struct Attributes {
    pub email_address: Attribute,
    pub phone_number: Attribute,
    pub username: Attribute,
    pub web3_wallet: Attribute,
    pub first_name: Attribute,
    pub last_name: Attribute,
    pub password: Attribute,
    pub authenticator_app: Attribute,
    pub ticket: Attribute,
    pub backup_code: Attribute,
    pub passkey: Attribute,
}

/// Clerk's `UserSettings.Attribute`.
#[derive(Debug, Serialize)]
pub struct Attribute {
    pub enabled: bool,
    /// A sign-up must give it.
    pub required: bool,
    pub used_for_first_factor: bool,
    pub first_factors: Vec<&'static str>,
    pub used_for_second_factor: bool,
    pub second_factors: Vec<&'static str>,
    /// How a value of the attribute is verified.
    pub verifications: Vec<&'static str>,
    /// A value given at sign-up is verified (by one of `verifications`)
    /// before the account is made.
    pub verify_at_sign_up: bool,
    pub immutable: bool,
}

impl Attribute {
    /// `enabled`, with its factors and verifications only if it is; not
    /// required, nor verified at sign-up (see [`Attribute::at_sign_up`]).
    fn new(
        enabled: bool,
        identifies: bool,
        first_factors: &[(bool, &'static str)],
        second_factors: &[(bool, &'static str)],
        verifications: &[(bool, &'static str)],
    ) -> Self {
        let on = |list: &[(bool, &'static str)]| -> Vec<&'static str> {
            if !enabled {
                return Vec::new();
            }
            list.iter().filter(|(on, _)| *on).map(|(_, s)| *s).collect()
        };
        let second_factors = on(second_factors);
        let verifications = on(verifications);
        Self {
            enabled,
            required: false,
            used_for_first_factor: enabled && identifies,
            first_factors: if identifies {
                on(first_factors)
            } else {
                Vec::new()
            },
            used_for_second_factor: !second_factors.is_empty(),
            second_factors,
            verify_at_sign_up: false,
            verifications,
            immutable: false,
        }
    }

    /// What a sign-up does with the attribute: `requirement` (off turns the
    /// attribute off), and whether a value given is verified.
    fn at_sign_up(mut self, requirement: Requirement, verify: bool) -> Self {
        if requirement == Requirement::Off {
            return Self::off();
        }
        self.required = requirement == Requirement::Required;
        self.verify_at_sign_up = verify && !self.verifications.is_empty();
        self
    }

    fn off() -> Self {
        Self::new(false, false, &[], &[], &[])
    }
}

/// Clerk's `UserSettings.Social`: one enabled OAuth provider.
#[derive(Debug, Serialize)]
pub struct Social {
    pub enabled: bool,
    pub required: bool,
    pub authenticatable: bool,
    pub block_email_subaddresses: bool,
    pub strategy: String,
    pub not_selectable: bool,
    pub deprecated: bool,
    pub name: String,
    pub logo_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct SignIn {
    pub second_factor: SecondFactorRule,
}

/// Two-factor is each user's choice: never required of all.
#[derive(Debug, Serialize)]
pub struct SecondFactorRule {
    pub required: bool,
}

/// Who may sign up, and whether they must accept the legal terms. Sign-ups
/// are progressive: one stays open, listing what it still misses, until
/// every required field is given.
#[derive(Debug, Serialize)]
pub struct SignUp {
    pub captcha_enabled: bool,
    pub captcha_widget_type: &'static str,
    pub custom_action_required: bool,
    pub progressive: bool,
    /// `public`, or `restricted`: accounts are made through the Backend API.
    pub mode: &'static str,
    pub legal_consent_enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct Restrictions {
    pub allowlist: Enabled,
    pub blocklist: Enabled,
    pub allowlist_blocklist_disabled_on_sign_in: Enabled,
    pub block_email_subaddresses: Enabled,
    pub block_disposable_email_domains: Enabled,
}

#[derive(Debug, Serialize)]
pub struct PasswordSettings {
    /// Passwords are not checked against breach lists.
    pub disable_hibp: bool,
    pub disable_password_reverification: bool,
    pub min_length: usize,
    pub max_length: usize,
    pub require_special_char: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub show_zxcvbn: bool,
    pub min_zxcvbn_strength: u8,
    pub enforce_hibp_on_sign_in: bool,
    pub allowed_special_characters: &'static str,
}

#[derive(Debug, Serialize)]
pub struct UsernameSettings {
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub allow_extended_special_characters: bool,
    pub allow_numeric_usernames: bool,
}

/// What users may do to their own account from clerk-js.
#[derive(Debug, Serialize)]
pub struct Actions {
    pub delete_self: bool,
    pub create_organization: bool,
    pub create_organizations_limit: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct AttackProtection {
    pub user_lockout: UserLockout,
    pub pii: Enabled,
    pub email_link: EmailLink,
    pub enumeration_protection: Enabled,
}

#[derive(Debug, Serialize)]
pub struct UserLockout {
    pub enabled: bool,
    pub max_attempts: u32,
    /// The lockout's length, in whole minutes rounded up.
    pub duration_in_minutes: i64,
}

#[derive(Debug, Serialize)]
pub struct EmailLink {
    pub require_same_client: bool,
}

/// Passkeys are not offered.
#[derive(Debug, Serialize)]
pub struct PasskeySettings {
    pub allow_autofill: bool,
    pub show_sign_in_button: bool,
    pub satisfies_second_factor: bool,
}

const OFF: Enabled = Enabled { enabled: false };

pub fn user_settings(settings: &InstanceSettings) -> UserSettings {
    let ids = &settings.identifiers;
    let st = &settings.strategies;
    let email_second = st.email_code && st.email_code_second_factor;
    let requirement = |field| settings.sign_up_requirement(field);
    let attributes = Attributes {
        email_address: Attribute::new(
            ids.email_address,
            ids.sign_in.email_address,
            &[(st.email_code, "email_code")],
            &[(email_second, "email_code")],
            &[(st.email_code, "email_code")],
        )
        .at_sign_up(
            requirement(SignUpField::EmailAddress),
            settings.verifies_at_sign_up(IdentifierKind::EmailAddress),
        ),
        phone_number: Attribute::new(
            ids.phone_number,
            ids.sign_in.phone_number,
            &[(st.phone_code, "phone_code")],
            &[(st.phone_code && st.phone_code_second_factor, "phone_code")],
            &[(st.phone_code, "phone_code")],
        )
        .at_sign_up(
            requirement(SignUpField::PhoneNumber),
            settings.verifies_at_sign_up(IdentifierKind::PhoneNumber),
        ),
        username: Attribute::new(ids.username, ids.sign_in.username, &[], &[], &[])
            .at_sign_up(requirement(SignUpField::Username), false),
        web3_wallet: Attribute::off(),
        first_name: Attribute::new(true, false, &[], &[], &[])
            .at_sign_up(requirement(SignUpField::FirstName), false),
        last_name: Attribute::new(true, false, &[], &[], &[])
            .at_sign_up(requirement(SignUpField::LastName), false),
        password: Attribute::new(st.password, false, &[], &[], &[])
            .at_sign_up(requirement(SignUpField::Password), false),
        authenticator_app: Attribute::new(
            st.totp,
            false,
            &[],
            &[(true, "totp")],
            &[(true, "totp")],
        ),
        ticket: Attribute::off(),
        backup_code: Attribute::new(st.backup_code, false, &[], &[(true, "backup_code")], &[]),
        passkey: Attribute::off(),
    };
    let social = settings
        .strategies
        .oauth_providers
        .iter()
        .map(|provider| {
            let strategy = Strategy::OAuth(provider.clone()).name();
            let shown = settings.display.provider(provider);
            let entry = Social {
                enabled: true,
                required: false,
                authenticatable: true,
                block_email_subaddresses: false,
                strategy: strategy.clone(),
                not_selectable: false,
                deprecated: false,
                name: shown.name,
                logo_url: shown.logo_url,
            };
            (strategy, entry)
        })
        .collect();
    let lockout_secs = settings.lockout_duration.as_secs();
    UserSettings {
        attributes,
        social,
        saml: OFF,
        enterprise_sso: OFF,
        sign_in: SignIn {
            second_factor: SecondFactorRule { required: false },
        },
        sign_up: SignUp {
            captcha_enabled: false,
            captcha_widget_type: "smart",
            custom_action_required: false,
            progressive: true,
            mode: settings.sign_up.mode.as_str(),
            legal_consent_enabled: settings.sign_up.legal_consent_required,
        },
        restrictions: Restrictions {
            allowlist: OFF,
            blocklist: OFF,
            allowlist_blocklist_disabled_on_sign_in: OFF,
            block_email_subaddresses: OFF,
            block_disposable_email_domains: OFF,
        },
        password_settings: PasswordSettings {
            disable_hibp: true,
            disable_password_reverification: true,
            min_length: settings.password_min_length,
            max_length: Password::MAX_BYTES,
            require_special_char: false,
            require_numbers: false,
            require_uppercase: false,
            require_lowercase: false,
            show_zxcvbn: false,
            min_zxcvbn_strength: 0,
            enforce_hibp_on_sign_in: false,
            allowed_special_characters: "",
        },
        username_settings: UsernameSettings {
            min_length: Some(Username::MIN_LEN),
            max_length: Some(Username::MAX_LEN),
            allow_extended_special_characters: false,
            allow_numeric_usernames: true,
        },
        actions: Actions {
            delete_self: settings.delete_self_enabled,
            create_organization: false,
            create_organizations_limit: None,
        },
        attack_protection: AttackProtection {
            user_lockout: UserLockout {
                enabled: settings.lockout_attempts > 0,
                max_attempts: settings.lockout_attempts,
                duration_in_minutes: (lockout_secs + 59) / 60,
            },
            pii: OFF,
            email_link: EmailLink {
                require_same_client: false,
            },
            enumeration_protection: Enabled {
                enabled: settings.enumeration_protection,
            },
        },
        passkey_settings: PasskeySettings {
            allow_autofill: false,
            show_sign_in_button: false,
            satisfies_second_factor: false,
        },
    }
}

//! A user and its parts: email addresses, phone numbers, external accounts,
//! its picture, and the public view sessions show of it.

use serde::Serialize;
use serde_json::Value;

use latch_core::model::{ExternalAccount, IdentificationRecord, Timestamp, User};

use super::sign_in::VerificationJson;
use super::{Audience, Renderer, millis};
use crate::avatar::default_avatar_url;

/// Clerk's `User` (Frontend and Backend API alike; the Backend API adds
/// private metadata).
#[derive(Serialize)]
pub(super) struct UserJson<'a> {
    object: &'static str,
    id: &'a str,
    external_id: Option<&'a str>,
    primary_email_address_id: Option<&'a str>,
    primary_phone_number_id: Option<&'a str>,
    primary_web3_wallet_id: Option<&'a str>,
    username: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    image_url: String,
    /// Deprecated by Clerk in favour of `image_url`; older SDKs read it.
    profile_image_url: String,
    has_image: bool,
    public_metadata: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_metadata: Option<&'a Value>,
    unsafe_metadata: &'a Value,
    email_addresses: Vec<Identification<'a>>,
    phone_numbers: Vec<Identification<'a>>,
    web3_wallets: [(); 0],
    passkeys: [(); 0],
    password_enabled: bool,
    two_factor_enabled: bool,
    totp_enabled: bool,
    backup_code_enabled: bool,
    mfa_enabled_at: Option<i64>,
    mfa_disabled_at: Option<i64>,
    password_last_updated_at: Option<i64>,
    external_accounts: Vec<ExternalAccountJson<'a>>,
    saml_accounts: [(); 0],
    enterprise_accounts: [(); 0],
    organization_memberships: [(); 0],
    last_sign_in_at: Option<i64>,
    banned: bool,
    locked: bool,
    deprovisioned: bool,
    lockout_expires_in_seconds: Option<i64>,
    verification_attempts_remaining: Option<u32>,
    delete_self_enabled: bool,
    create_organization_enabled: bool,
    /// Organizations are not offered: none may be created (Clerk's 0 would
    /// mean "unlimited" only where creating them is enabled).
    create_organizations_limit: u32,
    last_active_at: Option<i64>,
    legal_accepted_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl<'a> UserJson<'a> {
    pub(super) fn of(r: &Renderer<'_>, u: &'a User, audience: Audience, now: Timestamp) -> Self {
        let lockout = u.lockout_at(now);
        let image = Image::of_user(r, u);
        let max_attempts = r.settings().lockout_attempts;
        Self {
            object: "user",
            id: u.id.as_str(),
            external_id: u.external_id.as_deref(),
            primary_email_address_id: u.primary_email_address_id.as_deref(),
            primary_phone_number_id: u.primary_phone_number_id.as_deref(),
            primary_web3_wallet_id: None,
            username: u.username.as_ref().map(|n| n.as_str()),
            first_name: u.first_name.as_deref(),
            last_name: u.last_name.as_deref(),
            profile_image_url: image.url.clone(),
            image_url: image.url,
            has_image: image.has_image,
            public_metadata: &u.public_metadata,
            private_metadata: (audience == Audience::Backend).then_some(&u.private_metadata),
            unsafe_metadata: &u.unsafe_metadata,
            email_addresses: u
                .email_addresses
                .iter()
                .map(Identification::email)
                .collect(),
            phone_numbers: u
                .phone_numbers
                .iter()
                .map(|p| Identification::phone(u, p))
                .collect(),
            web3_wallets: [],
            passkeys: [],
            password_enabled: u.has_password(),
            two_factor_enabled: u.two_factor_enabled(),
            totp_enabled: u.totp_enabled(),
            backup_code_enabled: u.backup_code_enabled(),
            mfa_enabled_at: millis(u.mfa_enabled_at),
            mfa_disabled_at: millis(u.mfa_disabled_at),
            password_last_updated_at: millis(u.password_updated_at),
            external_accounts: u
                .external_accounts
                .iter()
                .map(|a| ExternalAccountJson::of(r, a))
                .collect(),
            saml_accounts: [],
            enterprise_accounts: [],
            organization_memberships: [],
            last_sign_in_at: millis(u.last_sign_in_at),
            banned: u.banned,
            locked: lockout.is_some(),
            deprovisioned: false,
            lockout_expires_in_seconds: lockout.flatten().map(|d| (d.0 + 999) / 1000),
            verification_attempts_remaining: u.verification_attempts_remaining(now, max_attempts),
            delete_self_enabled: r.settings().delete_self_enabled,
            create_organization_enabled: false,
            create_organizations_limit: 0,
            last_active_at: millis(u.last_sign_in_at),
            legal_accepted_at: millis(u.legal_accepted_at),
            created_at: u.created_at.millis(),
            updated_at: u.updated_at.millis(),
        }
    }
}

/// A user's picture: the one a linked identity provider has for the user,
/// or else Latch's default picture of the user's initials.
pub(super) struct Image {
    pub url: String,
    /// Whether the user has a picture of their own (not the default).
    pub has_image: bool,
}

impl Image {
    pub(super) fn of_user(r: &Renderer<'_>, u: &User) -> Self {
        let own = u
            .external_accounts
            .iter()
            .filter_map(|a| a.avatar_url.as_deref())
            .find(|url| url.starts_with("https://"));
        match own {
            Some(url) => Self {
                url: url.to_owned(),
                has_image: true,
            },
            None => Self::default_for(r, u.first_name.as_deref(), u.last_name.as_deref()),
        }
    }

    /// The default picture for these names.
    pub(super) fn default_for(
        r: &Renderer<'_>,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Self {
        Self {
            url: default_avatar_url(r.frontend_url(), first_name, last_name),
            has_image: false,
        }
    }
}

/// Clerk's `EmailAddress` and `PhoneNumber`, which share their shape but
/// for the value's key and the phone number's second-factor fields.
#[derive(Serialize)]
pub(super) struct Identification<'a> {
    id: &'a str,
    object: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
    reserved: bool,
    verification: Option<AddressVerification<'a>>,
    /// `@clerk/backend` dereferences this list: it must always be present.
    linked_to: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    matches_sso_connection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reserved_for_second_factor: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_second_factor: Option<bool>,
    /// Backup codes are shown once, when made, never with the number.
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_codes: Option<Option<()>>,
    created_at: i64,
    updated_at: i64,
}

impl<'a> Identification<'a> {
    fn common(r: &'a IdentificationRecord, object: &'static str) -> Self {
        Self {
            id: &r.id,
            object,
            email_address: None,
            phone_number: None,
            reserved: false,
            verification: match &r.verification {
                Some(v) => Some(AddressVerification::Code(VerificationJson::of(v))),
                None => r
                    .verified
                    .then_some(AddressVerification::Admin(AdminVerification::VERIFIED)),
            },
            linked_to: [],
            matches_sso_connection: None,
            reserved_for_second_factor: None,
            default_second_factor: None,
            backup_codes: None,
            created_at: r.created_at.millis(),
            updated_at: r.updated_at.millis(),
        }
    }

    pub(super) fn email(r: &'a IdentificationRecord) -> Self {
        Self {
            email_address: Some(&r.value),
            matches_sso_connection: Some(false),
            ..Self::common(r, "email_address")
        }
    }

    /// A phone number of `user`, with whether it is the default second factor.
    pub(super) fn phone(user: &User, r: &'a IdentificationRecord) -> Self {
        let default = user
            .default_second_factor_phone()
            .is_some_and(|d| d.id == r.id);
        Self {
            phone_number: Some(&r.value),
            reserved_for_second_factor: Some(r.reserved_for_second_factor),
            default_second_factor: Some(default),
            backup_codes: Some(None),
            ..Self::common(r, "phone_number")
        }
    }
}

/// How an address was (or is being) proved: by a code the user was sent,
/// or vouched for (at sign-up, by a provider or an operator).
#[derive(Serialize)]
#[serde(untagged)]
enum AddressVerification<'a> {
    Code(VerificationJson<'a>),
    Admin(AdminVerification),
}

/// The verification of an address an administrator vouched for.
#[derive(Serialize)]
struct AdminVerification {
    object: &'static str,
    status: &'static str,
    strategy: &'static str,
    attempts: Option<u32>,
    expire_at: Option<i64>,
}

impl AdminVerification {
    const VERIFIED: Self = Self {
        object: "verification_admin",
        status: "verified",
        strategy: "admin",
        attempts: None,
        expire_at: None,
    };
}

/// Clerk's `ExternalAccountWithVerification`: an account at an identity
/// provider.
#[derive(Serialize)]
pub(super) struct ExternalAccountJson<'a> {
    object: &'static str,
    id: &'a str,
    provider: String,
    identification_id: &'a str,
    provider_user_id: &'a str,
    approved_scopes: &'a str,
    email_address: &'a str,
    email_address_verified: bool,
    first_name: &'a str,
    last_name: &'a str,
    avatar_url: &'a str,
    image_url: Option<&'a str>,
    username: Option<&'a str>,
    phone_number: Option<&'a str>,
    public_metadata: Value,
    label: Option<&'a str>,
    verification: OAuthVerification,
    created_at: i64,
    updated_at: i64,
}

impl<'a> ExternalAccountJson<'a> {
    fn of(r: &Renderer<'_>, a: &'a ExternalAccount) -> Self {
        let strategy = format!("oauth_{}", a.provider);
        Self {
            object: "external_account",
            id: &a.id,
            provider: strategy.clone(),
            identification_id: &a.id,
            provider_user_id: &a.subject,
            approved_scopes: &a.approved_scopes,
            email_address: a.email.as_deref().unwrap_or_default(),
            email_address_verified: a.email_verified,
            first_name: a.first_name.as_deref().unwrap_or_default(),
            last_name: a.last_name.as_deref().unwrap_or_default(),
            avatar_url: a.avatar_url.as_deref().unwrap_or_default(),
            image_url: a.avatar_url.as_deref(),
            username: a.username.as_deref(),
            phone_number: None,
            public_metadata: Value::Object(serde_json::Map::new()),
            label: None,
            // The provider vouched for the account when it was last used; the
            // verification expired a flow's lifetime after.
            verification: OAuthVerification {
                object: "verification_oauth",
                status: "verified",
                strategy,
                attempts: None,
                expire_at: a.updated_at.plus(r.settings().oauth_flow_lifetime).millis(),
                external_verification_redirect_url: None,
            },
            created_at: a.created_at.millis(),
            updated_at: a.updated_at.millis(),
        }
    }
}

#[derive(Serialize)]
struct OAuthVerification {
    object: &'static str,
    status: &'static str,
    strategy: String,
    attempts: Option<u32>,
    expire_at: i64,
    /// While the account is being connected: where the browser approves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    external_verification_redirect_url: Option<String>,
}

impl<'a> ExternalAccountJson<'a> {
    /// An account being connected: nothing is known of it yet but its
    /// provider and where the browser goes to approve it.
    pub(super) fn pending(p: &'a latch_core::service::PendingConnection) -> Self {
        let strategy = format!("oauth_{}", p.provider);
        Self {
            object: "external_account",
            id: &p.id,
            provider: strategy.clone(),
            identification_id: &p.id,
            provider_user_id: "",
            approved_scopes: "",
            email_address: "",
            email_address_verified: false,
            first_name: "",
            last_name: "",
            avatar_url: "",
            image_url: None,
            username: None,
            phone_number: None,
            public_metadata: Value::Object(serde_json::Map::new()),
            label: None,
            verification: OAuthVerification {
                object: "verification_oauth",
                status: "unverified",
                strategy,
                attempts: None,
                expire_at: p.expire_at.millis(),
                external_verification_redirect_url: Some(p.external_url.clone()),
            },
            created_at: p.created_at.millis(),
            updated_at: p.created_at.millis(),
        }
    }
}

/// Clerk's `PublicUserData`: what a session shows of its user to anyone who
/// holds the session (the account switcher's line).
#[derive(Serialize)]
pub(super) struct PublicUserData<'a> {
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    image_url: String,
    has_image: bool,
    identifier: String,
    user_id: &'a str,
    username: Option<&'a str>,
}

impl<'a> PublicUserData<'a> {
    pub(super) fn of(r: &Renderer<'_>, u: &'a User) -> Self {
        let identifier = u
            .primary_email()
            .or(u.primary_phone())
            .map(|record| record.value.clone())
            .or_else(|| u.username.as_ref().map(|n| n.as_str().to_owned()))
            .unwrap_or_default();
        let image = Image::of_user(r, u);
        Self {
            first_name: u.first_name.as_deref(),
            last_name: u.last_name.as_deref(),
            image_url: image.url,
            has_image: image.has_image,
            identifier,
            user_id: u.id.as_str(),
            username: u.username.as_ref().map(|n| n.as_str()),
        }
    }
}

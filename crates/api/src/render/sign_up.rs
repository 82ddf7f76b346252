//! A sign-up: what it gathered, what it still needs, and the verifications
//! of its addresses.

use serde::Serialize;
use serde_json::Value;

use latch_core::model::{
    SignUp as SignUpModel, SignUpField, Strategy, Verifiable, VerificationStatus,
};
use latch_core::service::SignUpView;

use super::Renderer;
use super::sign_in::VerificationJson;

/// Clerk's `SignUp` (`sign_up_attempt`).
#[derive(Serialize)]
pub(super) struct SignUp<'a> {
    object: &'static str,
    id: &'a str,
    status: &'static str,
    required_fields: Vec<&'static str>,
    optional_fields: Vec<&'static str>,
    missing_fields: Vec<&'static str>,
    unverified_fields: Vec<&'static str>,
    verifications: Verifications<'a>,
    username: Option<&'a str>,
    email_address: Option<&'a str>,
    phone_number: Option<&'a str>,
    web3_wallet: Option<&'a str>,
    password_enabled: bool,
    /// What clerk-js reads; the schema's name is `password_enabled`.
    has_password: bool,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    unsafe_metadata: Value,
    public_metadata: Value,
    custom_action: bool,
    external_id: Option<&'a str>,
    created_session_id: Option<&'a str>,
    created_user_id: Option<&'a str>,
    abandon_at: i64,
    legal_accepted_at: Option<i64>,
}

impl<'a> SignUp<'a> {
    pub(super) fn of(r: &Renderer<'_>, view: &'a SignUpView) -> Self {
        let s = &view.sign_up;
        let settings = r.settings();
        let names =
            |fields: Vec<SignUpField>| fields.into_iter().map(SignUpField::as_str).collect();
        let required = s.required_fields(settings);
        let to_verify = Verifiable::proved_at_sign_up(settings);
        Self {
            object: "sign_up_attempt",
            id: s.id.as_str(),
            status: view.status.as_str(),
            missing_fields: names(s.missing_fields(&required)),
            required_fields: names(required),
            optional_fields: names(settings.optional_fields()),
            unverified_fields: s
                .unverified_fields(&to_verify)
                .into_iter()
                .map(|a| a.field().as_str())
                .collect(),
            verifications: Verifications {
                email_address: AddressVerification::of(s, Verifiable::EmailAddress),
                phone_number: AddressVerification::of(s, Verifiable::PhoneNumber),
                web3_wallet: None,
                external_account: s.external_verification().map(VerificationJson::of),
            },
            username: s.username(),
            email_address: s.email_address(),
            phone_number: s.phone_number(),
            web3_wallet: None,
            password_enabled: s.has_password(),
            has_password: s.has_password(),
            first_name: s.first_name(),
            last_name: s.last_name(),
            unsafe_metadata: s
                .unsafe_metadata()
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
            public_metadata: Value::Object(Default::default()),
            custom_action: false,
            external_id: None,
            created_session_id: s.created_session_id().map(|id| id.as_str()),
            created_user_id: s.created_user_id().map(|id| id.as_str()),
            abandon_at: s.abandon_at.millis(),
            legal_accepted_at: s.legal_accepted_at().map(|t| t.millis()),
        }
    }
}

#[derive(Serialize)]
struct Verifications<'a> {
    email_address: Option<AddressVerification>,
    phone_number: Option<AddressVerification>,
    web3_wallet: Option<()>,
    external_account: Option<VerificationJson<'a>>,
}

/// The verification of an address a sign-up gave: what was done, and what
/// the visitor does next (`needs_prepare`, `needs_attempt`, or nothing).
#[derive(Serialize)]
struct AddressVerification {
    object: &'static str,
    status: &'static str,
    strategy: String,
    attempts: Option<u32>,
    expire_at: Option<i64>,
    next_action: &'static str,
    supported_strategies: Vec<String>,
}

impl AddressVerification {
    /// For an address whose proof started: none before its first code,
    /// which tells Clerk's screens to ask for one (`unverified_fields` says
    /// the address must be proved).
    fn of(s: &SignUpModel, address: Verifiable) -> Option<Self> {
        let supported = vec![address.strategy().name()];
        s.verification(address).map(|v| match &v.strategy {
            // An email address the provider verified, on an OAuth sign-up.
            Strategy::OAuth(provider) => Self {
                object: "verification_from_oauth",
                status: v.status.as_str(),
                strategy: format!("from_oauth_{provider}"),
                attempts: None,
                expire_at: None,
                next_action: "",
                supported_strategies: Vec::new(),
            },
            _ => Self {
                object: "verification_otp",
                status: v.status.as_str(),
                strategy: v.strategy.name(),
                attempts: Some(v.attempts),
                expire_at: v.expire_at.map(|t| t.millis()),
                next_action: match v.status {
                    VerificationStatus::Verified => "",
                    VerificationStatus::Unverified if v.code.is_some() => "needs_attempt",
                    _ => "needs_prepare",
                },
                supported_strategies: supported,
            },
        })
    }
}

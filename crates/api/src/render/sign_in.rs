//! A sign-in: its status, the factors it offers, its verifications, and what
//! it shows of the user it names.

use serde::Serialize;

use latch_core::model::{Factor, Strategy, Verification, shown_user, supported_identifiers};
use latch_core::service::SignInView;

use super::Renderer;
use super::user::Image;

/// Clerk's `SignIn` (`sign_in_attempt`).
#[derive(Serialize)]
pub(super) struct SignIn<'a> {
    object: &'static str,
    id: &'a str,
    status: &'static str,
    supported_identifiers: Vec<&'static str>,
    supported_first_factors: Vec<FactorJson>,
    supported_second_factors: Option<Vec<FactorJson>>,
    first_factor_verification: Option<VerificationJson<'a>>,
    second_factor_verification: Option<VerificationJson<'a>>,
    identifier: Option<&'a str>,
    user_data: Option<UserData>,
    created_session_id: Option<&'a str>,
    abandon_at: i64,
    client_trust_state: Option<&'static str>,
}

impl<'a> SignIn<'a> {
    pub(super) fn of(r: &Renderer<'_>, view: &'a SignInView) -> Self {
        let s = &view.sign_in;
        // Real accounts and stand-ins alike: the one view of a sign-in's user.
        let shown = view
            .user
            .as_ref()
            .map(|user| shown_user(s, view.status, user, r.settings()));
        let (first_factors, second_factors, user_data) = match shown {
            Some(shown) => {
                // Only the shown names: a picture of the account's own would
                // tell a real account from a stand-in.
                let image =
                    Image::default_for(r, shown.first_name.as_deref(), shown.last_name.as_deref());
                (
                    shown
                        .first_factors
                        .into_iter()
                        .map(FactorJson::from)
                        .collect(),
                    shown
                        .second_factors
                        .map(|f| f.into_iter().map(FactorJson::from).collect()),
                    Some(UserData {
                        first_name: shown.first_name,
                        last_name: shown.last_name,
                        image_url: image.url,
                        has_image: image.has_image,
                    }),
                )
            }
            None => (Vec::new(), None, None),
        };
        Self {
            object: "sign_in_attempt",
            id: s.id.as_str(),
            status: view.status.as_str(),
            supported_identifiers: supported_identifiers(r.settings())
                .iter()
                .map(|k| k.as_str())
                .collect(),
            supported_first_factors: first_factors,
            supported_second_factors: second_factors,
            first_factor_verification: s.first_factor_verification().map(VerificationJson::of),
            second_factor_verification: s.second_factor_verification().map(VerificationJson::of),
            identifier: s.identifier(),
            user_data,
            created_session_id: s.created_session_id().map(|id| id.as_str()),
            abandon_at: s.abandon_at.millis(),
            client_trust_state: None,
        }
    }
}

/// What a sign-in shows of its user's profile.
#[derive(Serialize)]
struct UserData {
    first_name: Option<String>,
    last_name: Option<String>,
    image_url: String,
    has_image: bool,
}

/// Clerk's `SignInFactor`: a factor the sign-in offers.
#[derive(Serialize)]
struct FactorJson {
    strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    safe_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<bool>,
}

impl From<Factor> for FactorJson {
    fn from(f: Factor) -> Self {
        Self {
            strategy: f.strategy.name(),
            safe_identifier: f.safe_identifier,
            email_address_id: f.email_address_id,
            phone_number_id: f.phone_number_id,
            primary: f.primary,
            default: f.default,
        }
    }
}

/// Clerk's `Verification` of a sign-in factor, whose object names the kind.
#[derive(Serialize)]
pub(super) struct VerificationJson<'a> {
    object: &'static str,
    status: &'static str,
    strategy: String,
    attempts: u32,
    expire_at: Option<i64>,
    /// OAuth only: where the user goes to sign in at the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    external_verification_redirect_url: Option<Option<&'a str>>,
    /// Why the verification failed, for the kinds whose schema carries it
    /// (codes and OAuth; a wrong password or TOTP answers with an error).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<VerificationErrorJson>,
}

impl<'a> VerificationJson<'a> {
    pub(super) fn of(v: &'a Verification) -> Self {
        let (object, carries_error) = match &v.strategy {
            Strategy::Password => ("verification_password", false),
            Strategy::EmailCode
            | Strategy::PhoneCode
            | Strategy::ResetPasswordEmailCode
            | Strategy::ResetPasswordPhoneCode => ("verification_otp", true),
            Strategy::EmailLink => ("verification_link", true),
            Strategy::Passkey => ("verification_passkey", false),
            Strategy::Ticket => ("verification_ticket", false),
            Strategy::Totp => ("verification_totp", false),
            Strategy::BackupCode => ("verification_backup_code", false),
            Strategy::OAuth(_) => ("verification_oauth", true),
        };
        let oauth = matches!(v.strategy, Strategy::OAuth(_));
        Self {
            object,
            status: v.status.as_str(),
            strategy: v.strategy.name(),
            attempts: v.attempts,
            expire_at: v.expire_at.map(|t| t.millis()),
            external_verification_redirect_url: oauth.then_some(v.external_url.as_deref()),
            error: v
                .error
                .as_ref()
                .filter(|_| carries_error)
                .map(|e| VerificationErrorJson::of(e.clone())),
        }
    }
}

/// Clerk's error object inside a verification.
#[derive(Serialize)]
struct VerificationErrorJson {
    code: &'static str,
    message: String,
    long_message: String,
    meta: serde_json::Map<String, serde_json::Value>,
}

impl VerificationErrorJson {
    fn of(e: latch_core::model::VerificationError) -> Self {
        let e = crate::error::ApiError::from(e);
        Self {
            code: e.code.as_str(),
            message: e.message,
            long_message: e.long_message,
            meta: serde_json::Map::new(),
        }
    }
}

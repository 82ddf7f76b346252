//! `[sign_up]`: who may sign up and what a sign-up must give
//! ([`SignUpSettings`]). Its values are parsed here; whether they fit the
//! identifiers and strategies of `[sign_in]` and the links of `[display]` is
//! the core's rule ([`InstanceSettings::sign_up_problem`]), reported here
//! naming the keys to change.

use anyhow::bail;

use latch_core::model::{
    IdentifierKind, InstanceSettings, Requirement, SignUpMode, SignUpProblem, SignUpSettings,
};

use super::raw::SignUpSection;

/// The sign-up settings as written, each value checked.
pub fn sign_up_settings(s: &SignUpSection) -> anyhow::Result<SignUpSettings> {
    let mode = match s.mode.trim() {
        "public" => SignUpMode::Public,
        "restricted" => SignUpMode::Restricted,
        _ => bail!("sign_up.mode must be \"public\" or \"restricted\""),
    };
    Ok(SignUpSettings {
        mode,
        require_email_address: s.require_email_address,
        require_phone_number: s.require_phone_number,
        require_username: s.require_username,
        require_password: s.require_password,
        first_name: requirement("first_name", &s.first_name)?,
        last_name: requirement("last_name", &s.last_name)?,
        verify_email_address: s.verify_email_address,
        verify_phone_number: s.verify_phone_number,
        legal_consent_required: s.legal_consent_required,
        password_may_match_identifier: s.password_may_match_identifier,
    })
}

fn requirement(key: &str, value: &str) -> anyhow::Result<Requirement> {
    match value.trim() {
        "off" => Ok(Requirement::Off),
        "optional" => Ok(Requirement::Optional),
        "required" => Ok(Requirement::Required),
        _ => bail!("sign_up.{key} must be \"off\", \"optional\" or \"required\""),
    }
}

/// Stops start-up at the first sign-up setting that cannot work with the
/// rest, naming the keys involved.
pub fn check(settings: &InstanceSettings) -> anyhow::Result<()> {
    let Some(problem) = settings.sign_up_problem() else {
        return Ok(());
    };
    match problem {
        // The attributes are named alike in both sections.
        SignUpProblem::RequiredButOff(field) => {
            bail!("sign_up.require_{0} needs sign_in.{0} on", field.as_str())
        }
        SignUpProblem::VerificationWithoutStrategy(kind) => {
            let strategy = match kind {
                IdentifierKind::PhoneNumber => "phone_code",
                IdentifierKind::EmailAddress | IdentifierKind::Username => "email_code",
            };
            bail!(
                "sign_up.verify_{} needs sign_in.{strategy} on (codes verify it), or \
                 sign_in.{} off",
                kind.as_str(),
                kind.as_str()
            )
        }
        SignUpProblem::NoWayToSignIn => bail!(
            "sign_up: an account made by a sign-up must be able to sign in: turn on \
             require_email_address with verify_email_address, require_phone_number with \
             verify_phone_number, or require_username with require_password"
        ),
        SignUpProblem::LegalConsentWithoutTerms => bail!(
            "sign_up.legal_consent_required needs display.terms_url or \
             display.privacy_policy_url, for the sign-up to link to"
        ),
    }
}

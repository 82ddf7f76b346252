//! Clerk's JSON shapes for the domain objects. Timestamps are Unix milliseconds.

pub mod activity;
mod environment;

pub use environment::environment;

use serde_json::{Value, json};

use latch_core::model::{
    ExternalAccount, Factor, IdentificationRecord, InstanceSettings, Strategy, Timestamp, User,
    Verification, shown_user, supported_identifiers,
};
use latch_core::service::{ClientSnapshot, SessionView, SignInView};

/// Which API a user is rendered for: the Backend API also shows private metadata.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Frontend,
    Backend,
}

pub fn client(snapshot: &ClientSnapshot, settings: &InstanceSettings) -> Value {
    let c = &snapshot.client;
    json!({
        "object": "client",
        "id": c.id.as_str(),
        "sessions": snapshot.sessions.iter().map(session_fapi).collect::<Vec<_>>(),
        "sign_in": snapshot.sign_in.as_ref().map(|s| sign_in(s, settings)),
        "sign_up": null,
        "last_active_session_id": c.last_active_session_id.as_ref().map(|s| s.as_str()),
        "last_authentication_strategy": null,
        "cookie_expires_at": null,
        "captcha_bypass": false,
        "created_at": c.created_at.millis(),
        "updated_at": c.updated_at.millis(),
    })
}

pub fn sign_in(view: &SignInView, settings: &InstanceSettings) -> Value {
    let s = &view.sign_in;
    // Real accounts and stand-ins alike: the one view of a sign-in's user.
    let shown = view
        .user
        .as_ref()
        .map(|user| shown_user(s, view.status, user, settings));
    let (first_factors, second_factors, user_data) = match shown {
        Some(shown) => (
            shown.first_factors.iter().map(factor).collect::<Vec<_>>(),
            shown
                .second_factors
                .map_or(Value::Null, |f| f.iter().map(factor).collect()),
            json!({
                "first_name": shown.first_name,
                "last_name": shown.last_name,
                "image_url": "",
                "has_image": false,
            }),
        ),
        None => (Vec::new(), Value::Null, Value::Null),
    };
    json!({
        "object": "sign_in_attempt",
        "id": s.id.as_str(),
        "status": view.status.as_str(),
        "supported_identifiers": supported_identifiers(settings).iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "supported_first_factors": first_factors,
        "supported_second_factors": second_factors,
        "first_factor_verification": s.first_factor_verification().map(verification),
        "second_factor_verification": s.second_factor_verification().map(verification),
        "identifier": s.identifier(),
        "user_data": user_data,
        "created_session_id": s.created_session_id().map(|id| id.as_str()),
        "abandon_at": s.abandon_at.millis(),
        "client_trust_state": null,
    })
}

fn factor(f: &Factor) -> Value {
    let mut out = json!({ "strategy": f.strategy.name() });
    if let Some(v) = &f.safe_identifier {
        out["safe_identifier"] = json!(v);
    }
    if let Some(v) = &f.email_address_id {
        out["email_address_id"] = json!(v);
    }
    if let Some(v) = &f.phone_number_id {
        out["phone_number_id"] = json!(v);
    }
    if let Some(v) = f.primary {
        out["primary"] = json!(v);
    }
    if let Some(v) = f.default {
        out["default"] = json!(v);
    }
    out
}

fn verification(v: &Verification) -> Value {
    let object = match &v.strategy {
        Strategy::Password => "verification_password",
        Strategy::EmailCode
        | Strategy::PhoneCode
        | Strategy::ResetPasswordEmailCode
        | Strategy::ResetPasswordPhoneCode => "verification_otp",
        Strategy::EmailLink => "verification_link",
        Strategy::Passkey => "verification_passkey",
        Strategy::Ticket => "verification_ticket",
        Strategy::Totp => "verification_totp",
        Strategy::BackupCode => "verification_backup_code",
        Strategy::OAuth(_) => "verification_oauth",
    };
    let mut out = json!({
        "object": object,
        "status": v.status.as_str(),
        "strategy": v.strategy.name(),
        "attempts": v.attempts,
        "expire_at": v.expire_at.map(|t| t.millis()),
    });
    if let Strategy::OAuth(_) = v.strategy {
        out["external_verification_redirect_url"] = json!(v.external_url);
    }
    if let Some(e) = &v.error {
        let e = crate::error::ApiError::from(e.clone());
        out["error"] = json!({
            "code": e.code.as_str(),
            "message": e.message,
            "long_message": e.long_message,
            "meta": {},
        });
    }
    out
}

/// A session as the Frontend API shows it, with its user.
pub fn session_fapi(view: &SessionView) -> Value {
    let s = &view.session;
    let u = &view.user;
    let identifier = u
        .primary_email()
        .or(u.primary_phone())
        .map(|record| record.value.clone())
        .or_else(|| u.username.as_ref().map(|n| n.as_str().to_owned()));
    json!({
        "object": "session",
        "id": s.id.as_str(),
        "status": view.status.as_str(),
        "expire_at": s.expire_at.millis(),
        "abandon_at": s.expire_at.millis(),
        "last_active_at": s.last_active_at.millis(),
        "last_active_token": null,
        "last_active_organization_id": null,
        "actor": null,
        "tasks": null,
        "user": user(u, Audience::Frontend, view.now),
        "public_user_data": {
            "first_name": u.first_name,
            "last_name": u.last_name,
            "image_url": "",
            "has_image": false,
            "identifier": identifier,
        },
        "factor_verification_age": [
            view.now.since(s.first_factor_verified_at).0 / 60_000,
            s.second_factor_verified_at.map_or(-1, |t| view.now.since(t).0 / 60_000),
        ],
        "created_at": s.created_at.millis(),
        "updated_at": s.updated_at.millis(),
    })
}

/// A session as the Backend API shows it.
pub fn session_bapi(view: &SessionView) -> Value {
    let s = &view.session;
    json!({
        "object": "session",
        "id": s.id.as_str(),
        "user_id": s.user_id.as_str(),
        "client_id": s.client_id.as_str(),
        "actor": null,
        "status": view.status.as_str(),
        "last_active_organization_id": null,
        "last_active_at": s.last_active_at.millis(),
        "latest_activity": null,
        "expire_at": s.expire_at.millis(),
        "abandon_at": s.expire_at.millis(),
        "updated_at": s.updated_at.millis(),
        "created_at": s.created_at.millis(),
        "tasks": null,
    })
}

/// `now` decides whether the user shows as locked out.
pub fn user(u: &User, audience: Audience, now: Timestamp) -> Value {
    let lockout = u.lockout_at(now);
    let mut out = json!({
        "object": "user",
        "id": u.id.as_str(),
        "external_id": u.external_id,
        "primary_email_address_id": u.primary_email_address_id,
        "primary_phone_number_id": u.primary_phone_number_id,
        "primary_web3_wallet_id": null,
        "username": u.username.as_ref().map(|n| n.as_str()),
        "first_name": u.first_name,
        "last_name": u.last_name,
        "image_url": "",
        "profile_image_url": "",
        "has_image": false,
        "public_metadata": u.public_metadata,
        "unsafe_metadata": u.unsafe_metadata,
        "email_addresses": u.email_addresses.iter().map(|e| identification(e, "email_address")).collect::<Vec<_>>(),
        "phone_numbers": u.phone_numbers.iter().map(|p| phone_number(u, p)).collect::<Vec<_>>(),
        "web3_wallets": [],
        "passkeys": [],
        "password_enabled": u.has_password(),
        "two_factor_enabled": u.two_factor_enabled(),
        "totp_enabled": u.totp_enabled(),
        "backup_code_enabled": u.backup_code_enabled(),
        "mfa_enabled_at": null,
        "mfa_disabled_at": null,
        "password_last_updated_at": null,
        "external_accounts": u.external_accounts.iter().map(external_account).collect::<Vec<_>>(),
        "saml_accounts": [],
        "enterprise_accounts": [],
        "organization_memberships": [],
        "last_sign_in_at": u.last_sign_in_at.map(|t| t.millis()),
        "banned": u.banned,
        "locked": lockout.is_some(),
        "deprovisioned": false,
        "lockout_expires_in_seconds": lockout.flatten().map(|d| (d.0 + 999) / 1000),
        "verification_attempts_remaining": null,
        "delete_self_enabled": false,
        "create_organization_enabled": false,
        "create_organizations_limit": null,
        "last_active_at": u.last_sign_in_at.map(|t| t.millis()),
        "legal_accepted_at": null,
        "created_at": u.created_at.millis(),
        "updated_at": u.updated_at.millis(),
    });
    if audience == Audience::Backend {
        out["private_metadata"] = u.private_metadata.clone();
    }
    out
}

/// An account at an identity provider, as Clerk shows it.
fn external_account(a: &ExternalAccount) -> Value {
    json!({
        "object": "external_account",
        "id": a.id,
        "provider": format!("oauth_{}", a.provider),
        "identification_id": a.id,
        "provider_user_id": a.subject,
        "approved_scopes": "",
        "email_address": a.email.clone().unwrap_or_default(),
        "email_address_verified": a.email_verified,
        "first_name": a.first_name.clone().unwrap_or_default(),
        "last_name": a.last_name.clone().unwrap_or_default(),
        "avatar_url": a.avatar_url.clone().unwrap_or_default(),
        "image_url": a.avatar_url.clone().unwrap_or_default(),
        "username": a.username,
        "phone_number": null,
        "public_metadata": {},
        "label": null,
        "verification": {
            "object": "verification_oauth",
            "status": "verified",
            "strategy": format!("oauth_{}", a.provider),
            "attempts": null,
            "expire_at": null,
        },
        "created_at": a.created_at.millis(),
        "updated_at": a.updated_at.millis(),
    })
}

/// A phone number of `user`, with whether it is the default second factor.
pub fn phone_number(user: &User, r: &IdentificationRecord) -> Value {
    let mut out = identification(r, "phone_number");
    out["default_second_factor"] = json!(
        user.default_second_factor_phone()
            .is_some_and(|d| d.id == r.id)
    );
    out
}

fn identification(r: &IdentificationRecord, kind: &str) -> Value {
    let verification = if r.verified {
        json!({ "object": "verification_admin", "status": "verified", "strategy": "admin", "attempts": null, "expire_at": null })
    } else {
        Value::Null
    };
    let mut out = json!({
        "id": r.id,
        "object": kind,
        kind: r.value,
        "reserved": false,
        "verification": verification,
        // @clerk/backend dereferences this list: it must always be present.
        "linked_to": [],
        "created_at": r.created_at.millis(),
        "updated_at": r.updated_at.millis(),
    });
    if kind == "phone_number" {
        out["reserved_for_second_factor"] = json!(r.reserved_for_second_factor);
        out["default_second_factor"] = json!(false);
        out["backup_codes"] = Value::Null;
    } else {
        out["matches_sso_connection"] = json!(false);
    }
    out
}

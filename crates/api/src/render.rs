//! Clerk's JSON shapes for the domain objects. Timestamps are Unix milliseconds.

use serde_json::{Value, json};

use latch_core::model::{
    ExternalAccount, Factor, IdentificationRecord, InstanceSettings, Password, Strategy, Timestamp,
    User, Username, Verification, shown_user, supported_identifiers,
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

/// `GET /v1/environment`: the instance settings in Clerk's environment shape.
pub fn environment(settings: &InstanceSettings, instance_id: &str) -> Value {
    let ids = &settings.identifiers;
    let st = &settings.strategies;
    let on = |b: bool| if b { "on" } else { "off" };
    let attribute =
        |enabled: bool, first_factor: bool, first_factors: Vec<&str>, second_factors: Vec<&str>| {
            let second_factors = if enabled { second_factors } else { Vec::new() };
            json!({
                "enabled": enabled,
                "required": false,
                "used_for_first_factor": enabled && first_factor,
                "first_factors": if enabled { first_factors } else { Vec::new() },
                "used_for_second_factor": !second_factors.is_empty(),
                "second_factors": second_factors,
                "verifications": [],
                "verify_at_sign_up": false,
                "immutable": false,
            })
        };
    let mut email_factors = Vec::new();
    if st.email_code {
        email_factors.push("email_code");
    }
    let mut phone_factors = Vec::new();
    if st.phone_code {
        phone_factors.push("phone_code");
    }
    let email_second: Vec<&str> = (st.email_code && st.email_code_second_factor)
        .then_some("email_code")
        .into_iter()
        .collect();
    let phone_second: Vec<&str> = st.phone_code.then_some("phone_code").into_iter().collect();
    let second_factors: Vec<&str> = [
        (st.phone_code, "phone_code"),
        (st.totp, "totp"),
        (st.backup_code, "backup_code"),
        (st.email_code && st.email_code_second_factor, "email_code"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let mut social = serde_json::Map::new();
    for provider in &st.oauth_providers {
        let strategy = format!("oauth_{provider}");
        social.insert(
            strategy.clone(),
            json!({ "enabled": true, "required": false, "authenticatable": true, "block_email_subaddresses": false, "strategy": strategy, "not_selectable": false, "deprecated": false, "name": provider, "logo_url": null }),
        );
    }
    let identification_strategies: Vec<&str> = supported_identifiers(settings)
        .iter()
        .map(|k| k.as_str())
        .chain(st.password.then_some("password"))
        .collect();
    json!({
        "object": "environment",
        "id": instance_id,
        "auth_config": {
            "object": "auth_config",
            "id": instance_id,
            "first_name": "on",
            "last_name": "on",
            "email_address": on(ids.email_address),
            "phone_number": on(ids.phone_number),
            "username": on(ids.username),
            "password": on(st.password),
            "identification_requirements": [],
            "identification_strategies": identification_strategies,
            "first_factors": [],
            "second_factors": second_factors,
            "email_address_verification_strategies": [],
            "single_session_mode": false,
            "enhanced_email_deliverability": false,
            "test_mode": false,
            "url_based_session_syncing": false,
            "claimed_at": null,
            "reverification": false,
        },
        "display_config": {
            "object": "display_config",
            "id": instance_id,
            "instance_environment_type": settings.environment.as_str(),
            "application_name": "Latch",
            "branded": false,
            "captcha_public_key": null,
            "home_url": "",
            "sign_in_url": "",
            "sign_up_url": "",
            "after_sign_in_url": "",
            "after_sign_up_url": "",
            "after_sign_out_one_url": "",
            "after_sign_out_all_url": "",
        },
        "user_settings": {
            "attributes": {
                "email_address": attribute(ids.email_address, true, email_factors, email_second),
                "phone_number": attribute(ids.phone_number, true, phone_factors, phone_second),
                "username": attribute(ids.username, true, Vec::new(), Vec::new()),
                "web3_wallet": attribute(false, false, Vec::new(), Vec::new()),
                "first_name": attribute(true, false, Vec::new(), Vec::new()),
                "last_name": attribute(true, false, Vec::new(), Vec::new()),
                "password": attribute(st.password, false, Vec::new(), Vec::new()),
                "authenticator_app": attribute(st.totp, false, Vec::new(), vec!["totp"]),
                "ticket": attribute(false, false, Vec::new(), Vec::new()),
                "backup_code": attribute(st.backup_code, false, Vec::new(), vec!["backup_code"]),
                "passkey": attribute(false, false, Vec::new(), Vec::new()),
            },
            "social": social,
            "saml": { "enabled": false },
            "enterprise_sso": { "enabled": false },
            "sign_in": { "second_factor": { "required": false } },
            "sign_up": {
                "captcha_enabled": false,
                "captcha_widget_type": "smart",
                "custom_action_required": false,
                "progressive": true,
                "mode": "restricted",
                "legal_consent_enabled": false,
            },
            "restrictions": {
                "allowlist": { "enabled": false },
                "blocklist": { "enabled": false },
                "allowlist_blocklist_disabled_on_sign_in": { "enabled": false },
                "block_email_subaddresses": { "enabled": false },
                "block_disposable_email_domains": { "enabled": false },
            },
            "password_settings": {
                "disable_hibp": true,
                "disable_password_reverification": true,
                "min_length": settings.password_min_length,
                "max_length": Password::MAX_BYTES,
                "require_special_char": false,
                "require_numbers": false,
                "require_uppercase": false,
                "require_lowercase": false,
                "show_zxcvbn": false,
                "min_zxcvbn_strength": 0,
                "enforce_hibp_on_sign_in": false,
                "allowed_special_characters": "",
            },
            "username_settings": {
                "min_length": Username::MIN_LEN,
                "max_length": Username::MAX_LEN,
                "allow_extended_special_characters": false,
                "allow_numeric_usernames": true,
            },
            "actions": { "delete_self": false, "create_organization": false, "create_organizations_limit": false },
            "attack_protection": {
                "user_lockout": {
                    "enabled": settings.lockout_attempts > 0,
                    "max_attempts": settings.lockout_attempts,
                    "duration_in_minutes": settings.lockout_duration.as_secs() / 60,
                },
                "pii": { "enabled": false },
                "email_link": { "require_same_client": false },
                "enumeration_protection": { "enabled": settings.enumeration_protection },
            },
            "passkey_settings": { "allow_autofill": false, "show_sign_in_button": false, "satisfies_second_factor": false },
        },
        "organization_settings": { "enabled": false },
        "maintenance_mode": false,
    })
}

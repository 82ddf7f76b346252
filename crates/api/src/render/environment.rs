//! The environment: the instance's settings as Clerk's SDKs read them.

use serde_json::{Value, json};

use latch_core::model::{InstanceSettings, Password, Username, supported_identifiers};

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

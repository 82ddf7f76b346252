use serde_json::json;

use super::*;

fn defaults() -> InstanceSettings {
    let mut s = InstanceSettings::default();
    s.strategies.oauth_providers = vec!["github".into()];
    for (name, client_id) in [("github", "Iv1.github"), ("google", "123.apps.example")] {
        let client = OAuthCredentials {
            client_id: client_id.into(),
            scopes: vec!["openid".into()],
            sealed_secret: String::new(),
        };
        s.oauth_credentials.insert(name.into(), client);
    }
    s
}

fn document() -> UserManagement {
    UserManagement::of(&defaults(), ["github", "google"])
}

fn refusal(patch: serde_json::Value) -> SettingsRefusal {
    let base = defaults();
    match document().patched(&patch) {
        Err(refusal) => refusal,
        Ok(doc) => doc.check(&base).expect_err("the patch should be refused"),
    }
}

#[test]
fn a_document_of_the_settings_applies_back_to_the_same_settings() {
    let base = defaults();
    let doc = document();
    assert_eq!(doc.apply(&base), base);
    assert_eq!(doc.check(&base), Ok(()));
    assert!(doc.sso["github"].enabled);
    assert!(!doc.sso["google"].enabled);
    assert_eq!(doc.sso["google"].client_id, "123.apps.example");
    assert_eq!(doc.sso["google"].scopes, ["openid"]);
}

#[test]
fn a_patch_changes_only_what_it_names() {
    let doc = document()
        .patched(&json!({"phone_number": {"sign_in_with_code": false, "verify_at_sign_up": false}, "multi_factor": {"phone_code": false}}))
        .expect("valid patch");
    assert!(!doc.phone_number.sign_in_with_code);
    assert!(doc.phone_number.enabled);
    assert_eq!(
        document().changed_paths(&doc),
        [
            "multi_factor.phone_code",
            "phone_number.sign_in_with_code",
            "phone_number.verify_at_sign_up"
        ]
    );
    let settings = doc.apply(&defaults());
    assert!(!settings.strategies.phone_code);
    assert!(settings.strategies.email_code);
}

#[test]
fn unknown_settings_wrong_types_and_nulls_are_refused_with_their_path() {
    assert_eq!(
        refusal(json!({"email_address": {"colour": true}})),
        SettingsRefusal::at("email_address.colour", SettingProblem::Unknown)
    );
    assert_eq!(
        refusal(json!({"nonsense": 1})),
        SettingsRefusal::at("nonsense", SettingProblem::Unknown)
    );
    assert_eq!(
        refusal(json!({"email_address": {"enabled": "yes"}})),
        SettingsRefusal::at(
            "email_address.enabled",
            SettingProblem::WrongType("a boolean".into())
        )
    );
    assert_eq!(
        refusal(json!({"email_address": {"enabled": null}})).path,
        "email_address.enabled"
    );
    assert_eq!(refusal(json!({"sessions": 5})).path, "sessions");
    assert_eq!(
        refusal(json!({"sign_up": {"mode": "everyone"}})).path,
        "sign_up.mode"
    );
    assert_eq!(refusal(json!([1])).path, "");
    assert_eq!(
        refusal(json!({"sso": {"apple": {"enabled": true}}})),
        SettingsRefusal::at("sso.apple", SettingProblem::Unknown)
    );
}

#[test]
fn numbers_outside_their_bounds_are_refused() {
    for (patch, path) in [
        (
            json!({"password": {"min_length": 0}}),
            "password.min_length",
        ),
        (
            json!({"attack_protection": {"lockout_attempts": 1001}}),
            "attack_protection.lockout_attempts",
        ),
        (
            json!({"attack_protection": {"max_code_attempts": 0}}),
            "attack_protection.max_code_attempts",
        ),
        (
            json!({"sessions": {"token_lifetime_secs": 0}}),
            "sessions.token_lifetime_secs",
        ),
        (
            json!({"rate_limits": {"attempt": {"window_secs": 0}}}),
            "rate_limits.attempt.window_secs",
        ),
    ] {
        let refused = refusal(patch);
        assert_eq!(refused.path, path);
        assert!(matches!(refused.problem, SettingProblem::OutOfRange { .. }));
    }
    assert_eq!(
        refusal(json!({"attack_protection": {"lockout_attempts": -1}})).path,
        "attack_protection.lockout_attempts"
    );
}

/// Passwords off, and codes by email and SMS off as ways to sign in.
fn passwords_and_codes_off() -> serde_json::Value {
    json!({
        "password": {"enabled": false, "required": false},
        "email_address": {"used_for_sign_in": false},
        "phone_number": {"sign_in_with_code": false, "verify_at_sign_up": false},
        "multi_factor": {"phone_code": false}
    })
}

#[test]
fn the_last_way_to_sign_in_cannot_be_turned_off() {
    let mut base = defaults();
    base.strategies.oauth_providers.clear();
    let doc = UserManagement::of(&base, [])
        .patched(&passwords_and_codes_off())
        .expect("well-formed");
    assert_eq!(
        doc.check(&base),
        Err(SettingsRefusal::at(
            "password.enabled",
            SettingProblem::NoFirstFactor
        ))
    );
    // An OAuth provider is a way in (the sign-up rules still need one for
    // sign-ups made by form).
    let mut with_github = base.clone();
    with_github.strategies.oauth_providers = vec!["github".into()];
    let doc = UserManagement::of(&with_github, ["github"])
        .patched(&passwords_and_codes_off())
        .expect("well-formed");
    assert_eq!(
        doc.check(&with_github),
        Err(SettingsRefusal::at(
            "email_address.required",
            SettingProblem::SignUp(SignUpProblem::NoWayToSignIn)
        ))
    );
}

#[test]
fn a_setting_that_needs_another_names_both() {
    assert_eq!(
        refusal(json!({"username": {"enabled": false}})),
        SettingsRefusal::at(
            "username.used_for_sign_in",
            SettingProblem::Needs("username.enabled".into())
        )
    );
    assert_eq!(
        refusal(json!({"phone_number": {"sign_in_with_code": false, "verify_at_sign_up": false}})),
        SettingsRefusal::at(
            "multi_factor.phone_code",
            SettingProblem::Needs("phone_number.sign_in_with_code".into())
        )
    );
    assert_eq!(
        refusal(json!({"email_address": {"enabled": false, "used_for_sign_in": false}})),
        SettingsRefusal::at(
            "email_address.required",
            SettingProblem::SignUp(SignUpProblem::RequiredButOff(SignUpField::EmailAddress))
        )
    );
    assert_eq!(
        refusal(json!({"email_address": {"sign_in_with_code": false}})).path,
        "email_address.verify_at_sign_up"
    );
}

#[test]
fn pins_keep_the_file_s_values() {
    let file = document();
    let changed = file
        .patched(&json!({"sessions": {"lifetime_secs": 3600}, "password": {"min_length": 12}}))
        .expect("valid");
    let pinned = changed.with_pins(&file, &["sessions".into()]);
    assert_eq!(pinned.sessions, file.sessions);
    assert_eq!(pinned.password.min_length, 12);
    assert!(file.has_path("sessions"));
    assert!(file.has_path("rate_limits.attempt.requests"));
    assert!(!file.has_path("sessions.colour"));
    assert!(!file.has_path(""));
}

#[test]
fn an_identifier_not_used_for_sign_in_names_no_account_but_is_collected() {
    let doc = document()
        .patched(&json!({"username": {"used_for_sign_in": false}}))
        .expect("valid");
    let settings = doc.apply(&defaults());
    assert!(!settings.identifiers.allows(IdentifierKind::Username));
    assert!(settings.identifiers.on(IdentifierKind::Username));
    assert_eq!(
        settings.sign_up_requirement(SignUpField::Username),
        Requirement::Optional
    );
}

#[test]
fn a_client_secret_is_never_shown_sealed_or_not() {
    let mut doc = document();
    doc.sso.get_mut("github").unwrap().client_secret = "v1.sealed".into();
    assert_eq!(doc.redacted().sso["github"].client_secret, "");
    assert_eq!(doc.redacted().sso["github"].client_id, "Iv1.github");
    let mut stored = doc.to_stored();
    UserManagement::redact_stored(&mut stored);
    assert_eq!(stored["sso"]["github"]["client_secret"], "");
    assert_eq!(stored["sso"]["google"]["client_secret"], "");
}

#[test]
fn a_client_id_and_scopes_are_bounded_visible_words() {
    for (patch, path) in [
        (json!({"client_id": "two words"}), "sso.google.client_id"),
        (
            json!({"client_id": "x".repeat(257)}),
            "sso.google.client_id",
        ),
        (json!({"scopes": ["a b"]}), "sso.google.scopes"),
        (json!({"scopes": vec!["s"; 33]}), "sso.google.scopes"),
    ] {
        let refused = refusal(json!({"sso": {"google": patch}}));
        assert_eq!(refused.path, path);
        assert!(matches!(refused.problem, SettingProblem::Invalid(_)));
    }
    // An empty client id is the provider adapter's to refuse.
    let base = defaults();
    let doc = document()
        .patched(&json!({"sso": {"google": {"client_id": "", "scopes": []}}}))
        .unwrap();
    assert_eq!(doc.check(&base), Ok(()));
}

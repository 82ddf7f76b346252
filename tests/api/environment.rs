//! `/v1/environment`: every setting Clerk's environment can express shows in
//! it, in the shape of Clerk's `Client.Environment` schema.

use serde_json::{Value, json};

use latch_core::model::{
    DisplaySettings, Duration, Environment, InstanceSettings, ProviderDisplay, Requirement,
    SignUpMode,
};

use latch_http::oauth::{ClientSecret, ProviderConfig, ProviderKind, provider};

use crate::support::TestApp;

async fn environment_of(settings: InstanceSettings) -> Value {
    let app = TestApp::with(settings).await;
    let res = app.fapi("GET", "/v1/environment", "", &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

fn settings(edit: impl FnOnce(&mut InstanceSettings)) -> InstanceSettings {
    let mut s = InstanceSettings::default();
    edit(&mut s);
    s
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_environment_has_the_schemas_keys_and_no_others() {
    let env = environment_of(InstanceSettings::default()).await;
    // Client.Environment allows no `id` or `object` of its own.
    assert_eq!(
        keys(&env),
        [
            "api_keys_settings",
            "auth_config",
            "client_debug_mode",
            "display_config",
            "fraud_settings",
            "maintenance_mode",
            "organization_settings",
            "partitioned_cookies",
            "protect_config",
            "user_settings",
        ]
    );
    let display = &env["display_config"];
    for key in [
        "theme",
        "preferred_sign_in_strategy",
        "logo_image_url",
        "favicon_image_url",
        "user_profile_url",
        "waitlist_url",
        "oauth_consent_url",
        "after_switch_session_url",
        "after_join_waitlist_url",
        "organization_profile_url",
        "create_organization_url",
        "after_leave_organization_url",
        "after_create_organization_url",
        "logo_link_url",
        "support_email",
        "experimental_force_oauth_first",
        "clerk_js_version",
        "show_devmode_warning",
        "google_one_tap_client_id",
        "help_url",
        "privacy_policy_url",
        "terms_url",
        "logo_url",
        "favicon_url",
        "logo_image",
        "favicon_image",
        "captcha_widget_type",
        "captcha_public_key_invisible",
        "captcha_provider",
        "captcha_oauth_bypass",
    ] {
        assert!(
            display.get(key).is_some(),
            "display_config.{key}: {display}"
        );
    }
    assert_eq!(display.as_object().unwrap().len(), 44, "{display}");
    assert_eq!(
        env["auth_config"]["native_settings"],
        json!({
            "object": "native_settings",
            "api_enabled": true,
            "trusted_device_sign_in_enabled": false,
            "trusted_device_enrollment_prompt_after_sign_in_enabled": false,
            "trusted_device_enrollment_prompt_after_sign_up_enabled": false,
        })
    );
    assert_eq!(
        keys(&env["organization_settings"]),
        [
            "actions",
            "creator_role",
            "domains",
            "enabled",
            "max_allowed_memberships",
            "slug"
        ]
    );
    assert_eq!(env["organization_settings"]["enabled"], false);
    assert_eq!(
        keys(&env["user_settings"]["attributes"]["email_address"]),
        [
            "enabled",
            "first_factors",
            "immutable",
            "required",
            "second_factors",
            "used_for_first_factor",
            "used_for_second_factor",
            "verifications",
            "verify_at_sign_up",
        ]
    );
}

#[tokio::test]
async fn by_default_factors_and_verifications_follow_the_strategies() {
    let env = environment_of(InstanceSettings::default()).await;
    let auth = &env["auth_config"];
    assert_eq!(
        auth["first_factors"],
        json!([
            "email_code",
            "password",
            "phone_code",
            "reset_password_email_code",
            "reset_password_phone_code"
        ])
    );
    assert_eq!(
        auth["identification_requirements"],
        json!([["email_address"], ["phone_number"], ["username"]])
    );
    assert_eq!(
        auth["identification_strategies"],
        json!(["email_address", "phone_number", "username"])
    );
    assert_eq!(
        auth["email_address_verification_strategies"],
        json!(["email_code"])
    );
    assert_eq!(auth["password"], "on");
    let attrs = &env["user_settings"]["attributes"];
    assert_eq!(
        attrs["email_address"]["verifications"],
        json!(["email_code"])
    );
    assert_eq!(
        attrs["email_address"]["first_factors"],
        json!(["email_code"])
    );
    assert_eq!(attrs["email_address"]["second_factors"], json!([]));
    assert_eq!(
        attrs["phone_number"]["verifications"],
        json!(["phone_code"])
    );
    assert_eq!(
        attrs["phone_number"]["second_factors"],
        json!(["phone_code"])
    );
    assert_eq!(attrs["username"]["verifications"], json!([]));
    assert_eq!(attrs["authenticator_app"]["verifications"], json!(["totp"]));
    assert_eq!(
        attrs["backup_code"]["second_factors"],
        json!(["backup_code"])
    );
    assert_eq!(attrs["passkey"]["enabled"], false);
    assert_eq!(
        env["display_config"]["preferred_sign_in_strategy"],
        "password"
    );
}

#[tokio::test]
async fn turning_email_codes_off_takes_them_out_everywhere() {
    let env = environment_of(settings(|s| s.strategies.email_code = false)).await;
    let auth = &env["auth_config"];
    let first: Vec<&str> = auth["first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!first.contains(&"email_code"), "{first:?}");
    assert!(!first.contains(&"reset_password_email_code"), "{first:?}");
    assert!(first.contains(&"phone_code"), "{first:?}");
    assert_eq!(auth["email_address_verification_strategies"], json!([]));
    let email = &env["user_settings"]["attributes"]["email_address"];
    assert_eq!(email["enabled"], true);
    assert_eq!(email["verifications"], json!([]));
    assert_eq!(email["verify_at_sign_up"], false);
}

#[tokio::test]
async fn an_identifier_turned_off_is_off_with_its_requirement() {
    let env = environment_of(settings(|s| {
        s.identifiers.email_address = false;
        s.identifiers.username = false;
    }))
    .await;
    let auth = &env["auth_config"];
    assert_eq!(auth["email_address"], "off");
    assert_eq!(auth["username"], "off");
    assert_eq!(auth["phone_number"], "on");
    assert_eq!(
        auth["identification_requirements"],
        json!([["phone_number"]])
    );
    assert_eq!(auth["identification_strategies"], json!(["phone_number"]));
    let email = &env["user_settings"]["attributes"]["email_address"];
    assert_eq!(email["enabled"], false);
    assert_eq!(email["used_for_first_factor"], false);
    assert_eq!(email["verifications"], json!([]));
    assert_eq!(auth["email_address_verification_strategies"], json!([]));
}

#[tokio::test]
async fn without_passwords_the_preferred_strategy_is_a_code() {
    let env = environment_of(settings(|s| s.strategies.password = false)).await;
    assert_eq!(env["display_config"]["preferred_sign_in_strategy"], "otp");
    assert_eq!(env["auth_config"]["password"], "off");
    assert_eq!(
        env["user_settings"]["attributes"]["password"]["enabled"],
        false
    );
    let first = env["auth_config"]["first_factors"].as_array().unwrap();
    assert!(
        !first
            .iter()
            .any(|f| f == "password" || f.as_str().unwrap().starts_with("reset_password")),
        "{first:?}"
    );
}

#[tokio::test]
async fn email_codes_as_a_second_factor_show_on_the_email_address() {
    let env = environment_of(settings(|s| s.strategies.email_code_second_factor = true)).await;
    let email = &env["user_settings"]["attributes"]["email_address"];
    assert_eq!(email["second_factors"], json!(["email_code"]));
    assert_eq!(email["used_for_second_factor"], true);
    assert_eq!(
        env["auth_config"]["second_factors"],
        json!(["phone_code", "totp", "backup_code", "email_code"])
    );
}

#[tokio::test]
async fn lockout_password_length_and_enumeration_protection_show() {
    let env = environment_of(settings(|s| {
        s.lockout_attempts = 4;
        s.lockout_duration = Duration::seconds(90);
        s.password_min_length = 14;
        s.enumeration_protection = true;
    }))
    .await;
    let us = &env["user_settings"];
    assert_eq!(
        us["attack_protection"]["user_lockout"],
        json!({ "enabled": true, "max_attempts": 4, "duration_in_minutes": 2 })
    );
    assert_eq!(
        us["attack_protection"]["enumeration_protection"]["enabled"],
        true
    );
    assert_eq!(us["password_settings"]["min_length"], 14);
    assert_eq!(us["password_settings"]["max_length"], 72);
    assert_eq!(us["username_settings"]["min_length"], 4);
    assert_eq!(us["username_settings"]["max_length"], 64);

    let off = environment_of(settings(|s| s.lockout_attempts = 0)).await;
    assert_eq!(
        off["user_settings"]["attack_protection"]["user_lockout"]["enabled"],
        false
    );
}

#[tokio::test]
async fn production_instances_show_no_development_affordances() {
    let dev = environment_of(InstanceSettings::default()).await;
    assert_eq!(dev["display_config"]["show_devmode_warning"], true);
    assert_eq!(dev["auth_config"]["test_mode"], true);
    assert_eq!(dev["auth_config"]["url_based_session_syncing"], true);
    let prod = environment_of(settings(|s| s.environment = Environment::Production)).await;
    assert_eq!(
        prod["display_config"]["instance_environment_type"],
        "production"
    );
    assert_eq!(prod["display_config"]["show_devmode_warning"], false);
    assert_eq!(prod["auth_config"]["test_mode"], false);
    assert_eq!(prod["auth_config"]["url_based_session_syncing"], false);
}

#[tokio::test]
async fn display_settings_show_as_configured() {
    let default = environment_of(InstanceSettings::default()).await;
    let d = &default["display_config"];
    assert_eq!(d["application_name"], "Latch");
    assert_eq!(d["home_url"], "/");
    // Latch's hosted pages, unless the application has its own.
    assert_eq!(d["sign_in_url"], "https://clerk.latch.localhost/sign-in");
    assert_eq!(
        d["after_sign_out_one_url"],
        "https://clerk.latch.localhost/sign-in#/choose"
    );
    assert_eq!(d["logo_image_url"], Value::Null);
    assert_eq!(d["support_email"], Value::Null);

    let display = DisplaySettings {
        application_name: "Acme".to_owned(),
        home_url: "https://acme.example".to_owned(),
        sign_in_url: "https://acme.example/login".to_owned(),
        sign_up_url: "https://acme.example/join".to_owned(),
        user_profile_url: "/account".to_owned(),
        after_sign_in_url: "https://acme.example/dashboard".to_owned(),
        after_sign_up_url: "https://acme.example/welcome".to_owned(),
        after_sign_out_one_url: "https://acme.example/login#/choose".to_owned(),
        after_sign_out_all_url: "https://acme.example/bye".to_owned(),
        after_switch_session_url: "https://acme.example/switched".to_owned(),
        logo_link_url: "https://acme.example/home".to_owned(),
        logo_image_url: Some("https://cdn.acme.example/logo.png".to_owned()),
        favicon_image_url: Some("https://cdn.acme.example/favicon.ico".to_owned()),
        support_email: Some("help@acme.example".to_owned()),
        help_url: Some("https://acme.example/help".to_owned()),
        privacy_policy_url: Some("https://acme.example/privacy".to_owned()),
        terms_url: Some("https://acme.example/terms".to_owned()),
        oauth_providers: Default::default(),
    };
    let env = environment_of(settings(|s| s.display = display)).await;
    let d = &env["display_config"];
    for (key, value) in [
        ("application_name", "Acme"),
        ("home_url", "https://acme.example"),
        ("sign_in_url", "https://acme.example/login"),
        ("sign_up_url", "https://acme.example/join"),
        ("user_profile_url", "/account"),
        ("after_sign_in_url", "https://acme.example/dashboard"),
        ("after_sign_up_url", "https://acme.example/welcome"),
        (
            "after_sign_out_one_url",
            "https://acme.example/login#/choose",
        ),
        ("after_sign_out_all_url", "https://acme.example/bye"),
        ("after_switch_session_url", "https://acme.example/switched"),
        ("logo_link_url", "https://acme.example/home"),
        ("logo_image_url", "https://cdn.acme.example/logo.png"),
        ("logo_url", "https://cdn.acme.example/logo.png"),
        ("favicon_image_url", "https://cdn.acme.example/favicon.ico"),
        ("favicon_url", "https://cdn.acme.example/favicon.ico"),
        ("support_email", "help@acme.example"),
        ("help_url", "https://acme.example/help"),
        ("privacy_policy_url", "https://acme.example/privacy"),
        ("terms_url", "https://acme.example/terms"),
    ] {
        assert_eq!(d[key], value, "display_config.{key}");
    }
}

/// An app with OAuth providers of these names (never reached here).
async fn with_providers(settings: InstanceSettings, names: &[&str]) -> TestApp {
    let providers = names
        .iter()
        .map(|name| {
            let mut config = ProviderConfig::new(*name, ProviderKind::GitHub, "client-id");
            config.client_secret = ClientSecret::Shared("secret".to_owned());
            provider(&config).unwrap()
        })
        .collect();
    TestApp::with_oauth(settings, providers).await
}

#[tokio::test]
async fn oauth_providers_show_with_their_names_logos_and_factors() {
    let app = with_providers(
        settings(|s| {
            s.display.oauth_providers.insert(
                "custom_acme".to_owned(),
                ProviderDisplay {
                    name: "Acme SSO".to_owned(),
                    logo_url: Some("https://login.acme.example/logo.png".to_owned()),
                },
            );
        }),
        &["github", "custom_acme"],
    )
    .await;
    let env = app.fapi("GET", "/v1/environment", "", &[]).await.body;
    let social = &env["user_settings"]["social"];
    assert_eq!(keys(social), ["oauth_custom_acme", "oauth_github"]);
    assert_eq!(
        social["oauth_custom_acme"],
        json!({
            "enabled": true,
            "required": false,
            "authenticatable": true,
            "block_email_subaddresses": false,
            "strategy": "oauth_custom_acme",
            "not_selectable": false,
            "deprecated": false,
            "name": "Acme SSO",
            "logo_url": "https://login.acme.example/logo.png",
        })
    );
    assert_eq!(social["oauth_github"]["name"], "GitHub");
    assert_eq!(social["oauth_github"]["logo_url"], Value::Null);
    let auth = &env["auth_config"];
    assert_eq!(
        auth["identification_requirements"][0],
        json!(["email_address", "oauth_custom_acme", "oauth_github"])
    );
    let first: Vec<&str> = auth["first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        first.contains(&"oauth_github") && first.contains(&"oauth_custom_acme"),
        "{first:?}"
    );
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(first, sorted);
}

/// What `@clerk/ui`'s sign-up form reads of one attribute: enabled,
/// required, verified at sign-up.
fn form(attribute: &Value) -> (bool, bool, bool) {
    let flag = |key: &str| {
        attribute[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{key}: {attribute}"))
    };
    (flag("enabled"), flag("required"), flag("verify_at_sign_up"))
}

#[tokio::test]
async fn by_default_a_sign_up_needs_a_verified_email_address_and_a_password() {
    // Self-service sign-up is not served yet, so the default offers none.
    let env = environment_of(InstanceSettings::default()).await;
    let us = &env["user_settings"];
    assert_eq!(
        us["sign_up"],
        json!({
            "captcha_enabled": false,
            "captcha_widget_type": "smart",
            "custom_action_required": false,
            "progressive": true,
            "mode": "public",
            "legal_consent_enabled": false,
        })
    );
    let attrs = &us["attributes"];
    assert_eq!(form(&attrs["email_address"]), (true, true, true));
    assert_eq!(form(&attrs["password"]), (true, true, false));
    assert_eq!(form(&attrs["phone_number"]), (true, false, true));
    assert_eq!(form(&attrs["username"]), (true, false, false));
    assert_eq!(form(&attrs["first_name"]), (true, false, false));
    assert_eq!(form(&attrs["last_name"]), (true, false, false));
    assert_eq!(form(&attrs["authenticator_app"]), (true, false, false));
    assert_eq!(
        attrs["email_address"]["verifications"],
        json!(["email_code"])
    );
    assert_eq!(env["auth_config"]["first_name"], "on");
    assert_eq!(env["auth_config"]["last_name"], "on");
}

#[tokio::test]
async fn each_sign_up_setting_shows_in_the_environment() {
    let restricted = environment_of(settings(|s| s.sign_up.mode = SignUpMode::Restricted)).await;
    assert_eq!(restricted["user_settings"]["sign_up"]["mode"], "restricted");

    let env = environment_of(settings(|s| {
        s.sign_up.mode = SignUpMode::Public;
        s.sign_up.require_email_address = false;
        s.sign_up.require_phone_number = true;
        s.sign_up.require_username = true;
        s.sign_up.require_password = false;
        s.sign_up.verify_email_address = false;
        s.sign_up.first_name = Requirement::Required;
        s.sign_up.last_name = Requirement::Off;
        s.sign_up.legal_consent_required = true;
        s.display.terms_url = Some("https://acme.example/terms".to_owned());
    }))
    .await;
    let us = &env["user_settings"];
    assert_eq!(us["sign_up"]["legal_consent_enabled"], true);
    assert_eq!(us["sign_up"]["mode"], "public");
    let attrs = &us["attributes"];
    assert_eq!(form(&attrs["email_address"]), (true, false, false));
    // Not verified at sign-up, but still verifiable by code later.
    assert_eq!(
        attrs["email_address"]["verifications"],
        json!(["email_code"])
    );
    assert_eq!(form(&attrs["phone_number"]), (true, true, true));
    assert_eq!(form(&attrs["username"]), (true, true, false));
    assert_eq!(form(&attrs["password"]), (true, false, false));
    assert_eq!(form(&attrs["first_name"]), (true, true, false));
    assert_eq!(form(&attrs["last_name"]), (false, false, false));
    assert_eq!(env["auth_config"]["first_name"], "on");
    assert_eq!(env["auth_config"]["last_name"], "off");

    let unverified_phone =
        environment_of(settings(|s| s.sign_up.verify_phone_number = false)).await;
    let phone = &unverified_phone["user_settings"]["attributes"]["phone_number"];
    assert_eq!(form(phone), (true, false, false));
    assert_eq!(phone["verifications"], json!(["phone_code"]));
}

#[tokio::test]
async fn an_attribute_that_is_off_is_not_required_whatever_sign_up_says() {
    let env = environment_of(settings(|s| {
        s.identifiers.email_address = false;
        s.strategies.password = false;
        s.sign_up.require_email_address = true;
        s.sign_up.require_password = true;
    }))
    .await;
    let attrs = &env["user_settings"]["attributes"];
    assert_eq!(form(&attrs["email_address"]), (false, false, false));
    assert_eq!(form(&attrs["password"]), (false, false, false));
    // A code that is off verifies nothing at sign-up.
    let no_codes = environment_of(settings(|s| s.strategies.email_code = false)).await;
    assert_eq!(
        form(&no_codes["user_settings"]["attributes"]["email_address"]),
        (true, true, false)
    );
}

#[tokio::test]
async fn the_password_rules_show_as_they_are() {
    let env = environment_of(settings(|s| s.password_min_length = 12)).await;
    let rules = &env["user_settings"]["password_settings"];
    assert_eq!(rules["min_length"], 12);
    assert_eq!(rules["max_length"], 72);
    // Latch checks no character classes, strength or breach lists.
    for key in [
        "require_special_char",
        "require_numbers",
        "require_uppercase",
        "require_lowercase",
        "show_zxcvbn",
        "enforce_hibp_on_sign_in",
    ] {
        assert_eq!(rules[key], false, "{key}");
    }
    assert_eq!(rules["disable_hibp"], true);
}

#[tokio::test]
async fn get_and_patch_answer_alike() {
    let app = TestApp::new().await;
    let get = app.fapi("GET", "/v1/environment", "", &[]).await;
    let patch = app.fapi("PATCH", "/v1/environment", "", &[]).await;
    assert_eq!(get.status, 200);
    assert_eq!(patch.status, 200);
    assert_eq!(get.body, patch.body);
    assert_eq!(get.header("content-type"), Some("application/json"));
}

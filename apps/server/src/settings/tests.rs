//! Parsing: every value accepted, every bad one refused naming its key.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use latch_core::model::{Requirement, SignUpField, SignUpMode, SignUpSettings};
use latch_smtp::EmailTemplates;

use super::raw::CodesSection;
use super::*;

fn defaults() -> RawSettings {
    RawSettings::defaults().unwrap()
}

fn parse(raw: &RawSettings) -> Settings {
    match Settings::try_from(raw) {
        Ok(settings) => settings,
        Err(e) => panic!("{e:#}"),
    }
}

#[test]
fn embedded_defaults_are_valid() {
    let s = parse(&defaults());
    assert_eq!(s.policy, InstanceSettings::default());
    assert_eq!(s.instance.issuer, "https://clerk.latch.localhost");
}

/// The message of the error that the defaults, changed by `edit`, stop at.
fn codes_error(edit: impl FnOnce(&mut CodesSection)) -> String {
    error_with(|s| edit(&mut s.codes))
}

/// The message the defaults, changed by `edit`, stop at ("" if none).
fn error_with(edit: impl FnOnce(&mut RawSettings)) -> String {
    let mut s = defaults();
    edit(&mut s);
    Settings::try_from(&s)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn storage_tls_rate_limits_and_proxies_are_checked_naming_their_keys() {
    let postgres = |s: &mut RawSettings| {
        s.storage.durable = "postgres".into();
        s.storage.flow_store = "redis".into();
    };
    assert_eq!(error_with(postgres), "");
    let e = error_with(|s| {
        postgres(s);
        s.storage.postgres_tls = "prefer".into();
    });
    assert!(e.contains("storage.postgres_tls"), "{e}");
    let e = error_with(|s| {
        postgres(s);
        s.storage.postgres_tls = "verify".into();
        s.storage.postgres_ca_file = "/nonexistent/ca.pem".into();
    });
    assert!(e.contains("storage.postgres_ca_file"), "{e}");
    let e = error_with(|s| {
        postgres(s);
        s.storage.redis_url = "rediss://cache.internal:6380".into();
    });
    assert!(e.contains("storage.redis_url"), "{e}");
    let e = error_with(|s| s.rate_limits.prepare_window_secs = 0);
    assert!(e.contains("rate_limits.prepare_window_secs"), "{e}");
    let e = error_with(|s| s.rate_limits.create_client_window_secs = 0);
    assert!(e.contains("rate_limits.create_client_window_secs"), "{e}");
    let e = error_with(|s| s.sign_in.unused_client_lifetime_secs = 0);
    assert!(e.contains("sign_in.unused_client_lifetime_secs"), "{e}");
    let e = error_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/33".into()]);
    assert!(e.contains("server.trusted_proxies"), "{e}");
    assert_eq!(
        error_with(|s| s.server.trusted_proxies = vec!["10.0.0.0/8".into(), "fd00::/8".into()]),
        ""
    );
}

fn smtp(c: &mut CodesSection) {
    c.sender = "smtp".into();
    c.sms_sender = "console".into();
    c.smtp_host = "smtp.example.com".into();
    c.smtp_from = "Latch <no-reply@example.com>".into();
}

#[test]
fn smtp_settings_are_checked_naming_their_keys() {
    assert_eq!(codes_error(smtp), "");
    type Edit = fn(&mut CodesSection);
    let cases: [(Edit, &str); 10] = [
        (|c| c.sms_sender = String::new(), "codes.sms_sender must be"),
        (|c| c.sms_sender = "smtp".into(), "codes.sms_sender"),
        (|c| c.smtp_host = String::new(), "codes.smtp_host"),
        (|c| c.smtp_port = 0, "codes.smtp_port"),
        (|c| c.smtp_security = "ssl".into(), "codes.smtp_security"),
        (|c| c.smtp_username = "latch".into(), "codes.smtp_username"),
        (|c| c.smtp_from = " ".into(), "codes.smtp_from"),
        (|c| c.smtp_timeout_secs = 0, "codes.smtp_timeout_secs"),
        (
            |c| c.smtp_reset_password_body = "no code here".into(),
            "codes.smtp_reset_password_body must contain {code}",
        ),
        (
            |c| c.smtp_sign_in_subject = "two\nlines".into(),
            "codes.smtp_sign_in_subject must be one line",
        ),
    ];
    for (edit, key) in cases {
        let message = codes_error(|c| {
            smtp(c);
            edit(c);
        });
        assert!(message.contains(key), "{key}: {message}");
    }
    // AUTH without TLS only to this machine.
    let plain_auth = |host: &'static str| {
        move |c: &mut CodesSection| {
            smtp(c);
            c.smtp_host = host.into();
            c.smtp_security = "plain".into();
            c.smtp_username = "latch".into();
            c.smtp_password = "secret".into();
        }
    };
    assert!(codes_error(plain_auth("smtp.example.com")).contains("codes.smtp_security"));
    assert_eq!(codes_error(plain_auth("127.0.0.1")), "");
    assert_eq!(codes_error(plain_auth("localhost")), "");
}

#[test]
fn sms_sender_may_differ_from_sender_and_its_settings_are_checked() {
    assert_eq!(codes_error(|c| c.sms_sender = "console".into()), "");
    // SMS by HTTP needs the HTTP settings even when email goes elsewhere.
    let message = codes_error(|c| {
        smtp(c);
        c.sms_sender = "http".into();
    });
    assert!(message.contains("codes.http_url"), "{message}");
    let message = codes_error(|c| c.sms_sender = "pigeon".into());
    assert!(message.contains("codes.sms_sender"), "{message}");
    let message = codes_error(|c| c.sender = "pigeon".into());
    assert!(message.contains("codes.sender"), "{message}");
}

#[test]
fn the_default_smtp_templates_are_the_adapters_defaults() {
    assert_eq!(defaults().codes.smtp_templates(), EmailTemplates::default());
}

#[test]
fn overlays_in_the_repo_are_valid() {
    for overlay in ["development", "production", "test"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../config")
            .join(format!("{overlay}.toml"));
        if let Err(e) = Settings::load(Some(&path)) {
            panic!("{overlay}: {e:#}");
        }
    }
}

#[test]
fn every_storage_combination_parses_to_its_own_variant() {
    let sqlite = parse(&defaults()).storage;
    let Storage::Sqlite { database, flow } = sqlite else {
        panic!("the default is SQLite");
    };
    assert_eq!(database.path, PathBuf::from("data/latch.db"));
    assert_eq!(database.readers, 4);
    assert_eq!(flow, FlowStore::Sqlite);

    let mut raw = defaults();
    raw.storage.flow_store = "redis".into();
    let Storage::Sqlite {
        flow: FlowStore::Redis(redis),
        ..
    } = parse(&raw).storage
    else {
        panic!("SQLite with Redis beside it");
    };
    assert_eq!(redis.url, "redis://127.0.0.1:6379");
    assert_eq!(redis.key_prefix, "latch:");
    assert_eq!(redis.timeout, std::time::Duration::from_millis(2000));

    raw.storage.durable = "postgres".into();
    raw.storage.postgres_url = "postgresql://latch:pw@db.internal/latch".into();
    let Storage::Postgres { database, flow } = parse(&raw).storage else {
        panic!("PostgreSQL");
    };
    assert_eq!(database.url, "postgresql://latch:pw@db.internal/latch");
    assert_eq!(database.pool_size, 8);
    assert_eq!(database.tls, PostgresTls::Disable);
    assert_eq!(flow.url, "redis://127.0.0.1:6379");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "a file").unwrap();
    for (ca_file, expected) in [
        (String::new(), None),
        (ca.display().to_string(), Some(ca.clone())),
    ] {
        raw.storage.postgres_tls = "verify".into();
        raw.storage.postgres_ca_file = ca_file;
        let Storage::Postgres { database, .. } = parse(&raw).storage else {
            panic!("PostgreSQL");
        };
        assert_eq!(database.tls, PostgresTls::Verify { ca_file: expected });
    }
}

#[test]
fn bad_storage_combinations_and_values_are_refused_naming_their_keys() {
    type Edit = fn(&mut RawSettings);
    let cases: [(Edit, &str); 7] = [
        // PostgreSQL is shared by replicas; a flow store in SQLite would not be.
        (
            |s| s.storage.durable = "postgres".into(),
            "storage.flow_store must be \"redis\" when storage.durable is \"postgres\"",
        ),
        (|s| s.storage.durable = "mysql".into(), "storage.durable"),
        (
            |s| s.storage.flow_store = "memcached".into(),
            "storage.flow_store",
        ),
        (
            |s| {
                s.storage.durable = "postgres".into();
                s.storage.flow_store = "redis".into();
                s.storage.postgres_url = "mysql://db".into();
            },
            "storage.postgres_url",
        ),
        (
            |s| {
                s.storage.durable = "postgres".into();
                s.storage.flow_store = "redis".into();
                s.storage.postgres_pool_size = 0;
            },
            "storage.postgres_pool_size",
        ),
        (
            |s| {
                s.storage.flow_store = "redis".into();
                s.storage.redis_timeout_ms = 5;
            },
            "storage.redis_timeout_ms",
        ),
        (|s| s.database.readers = 0, "database.readers"),
    ];
    for (edit, key) in cases {
        let e = error_with(edit);
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn every_code_route_parses_with_its_own_settings() {
    let codes = parse(&defaults()).codes;
    assert!(matches!(codes.email, EmailDelivery::Console));
    assert!(matches!(codes.sms, SmsDelivery::Console));

    let http = |c: &mut CodesSection| {
        c.sender = "http".into();
        c.http_url = "https://codes.example.com/hook".into();
        c.http_secret = "0123456789abcdef".into();
    };
    let mut raw = defaults();
    http(&mut raw.codes);
    let codes = parse(&raw).codes;
    let EmailDelivery::Http(email) = codes.email else {
        panic!("email by HTTP");
    };
    assert_eq!(email.url, "https://codes.example.com/hook");
    assert_eq!(
        email.format,
        latch_http::HttpFormat::Json {
            secret: "0123456789abcdef".into()
        }
    );
    assert!(
        matches!(codes.sms, SmsDelivery::Http(_)),
        "SMS follows sender"
    );

    raw.codes.sms_sender = "console".into();
    assert!(matches!(parse(&raw).codes.sms, SmsDelivery::Console));

    raw.codes.http_format = "twilio".into();
    raw.codes.twilio_account_sid = "AC1".into();
    raw.codes.twilio_auth_token = "token".into();
    raw.codes.twilio_from = "+15550001111".into();
    let EmailDelivery::Http(twilio) = parse(&raw).codes.email else {
        panic!("HTTP");
    };
    assert!(matches!(
        twilio.format,
        latch_http::HttpFormat::Twilio { .. }
    ));

    let mut raw = defaults();
    smtp(&mut raw.codes);
    raw.codes.smtp_username = "latch".into();
    raw.codes.smtp_password = "pw".into();
    raw.codes.smtp_ca_file = "/etc/latch/ca.pem".into();
    let codes = parse(&raw).codes;
    let EmailDelivery::Smtp(smtp) = codes.email else {
        panic!("email by SMTP");
    };
    assert_eq!(smtp.host, "smtp.example.com");
    assert_eq!(smtp.port, 587);
    assert_eq!(smtp.security, latch_smtp::SmtpSecurity::StartTls);
    assert_eq!(
        smtp.credentials.map(|c| c.username).as_deref(),
        Some("latch")
    );
    assert_eq!(smtp.ca_file, Some(PathBuf::from("/etc/latch/ca.pem")));
    assert!(matches!(codes.sms, SmsDelivery::Console));
    for (name, security) in [
        ("tls", latch_smtp::SmtpSecurity::Tls),
        ("plain", latch_smtp::SmtpSecurity::Plain),
    ] {
        raw.codes.smtp_security = name.into();
        raw.codes.smtp_host = "127.0.0.1".into();
        let EmailDelivery::Smtp(smtp) = parse(&raw).codes.email else {
            panic!("email by SMTP");
        };
        assert_eq!(smtp.security, security);
    }
}

#[test]
fn http_sender_settings_are_checked_naming_their_keys() {
    let http = |c: &mut CodesSection| {
        c.sender = "http".into();
        c.http_url = "https://codes.example.com/hook".into();
        c.http_secret = "0123456789abcdef".into();
    };
    type Edit = fn(&mut CodesSection);
    let cases: [(Edit, &str); 5] = [
        (|c| c.http_url = "ftp://x".into(), "codes.http_url"),
        (|c| c.http_secret = "short".into(), "codes.http_secret"),
        (|c| c.http_format = "xml".into(), "codes.http_format"),
        (
            |c| c.http_format = "twilio".into(),
            "codes.twilio_account_sid",
        ),
        (|c| c.http_timeout_secs = 0, "codes.http_timeout_secs"),
    ];
    for (edit, key) in cases {
        let e = codes_error(|c| {
            http(c);
            edit(c);
        });
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn environments_log_formats_and_addresses_parse_and_bad_ones_are_named() {
    let mut raw = defaults();
    let s = parse(&raw);
    assert_eq!(
        s.instance.environment,
        latch_core::model::Environment::Development
    );
    assert_eq!(s.log.format, LogFormat::Text);
    assert_eq!(s.server.addr, "127.0.0.1:3210".parse().unwrap());
    assert_eq!(s.instance.secret_key, None);
    raw.instance.environment = "production".into();
    raw.log.format = "json".into();
    raw.instance.issuer = "https://auth.example.com".into();
    raw.server.addr = "[::1]:0".into();
    let s = parse(&raw);
    assert_eq!(
        s.instance.environment,
        latch_core::model::Environment::Production
    );
    assert_eq!(
        s.policy.environment,
        latch_core::model::Environment::Production
    );
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.instance.issuer, "https://auth.example.com");
    assert_eq!(
        s.policy.oauth_callback_url,
        "https://auth.example.com/v1/oauth_callback"
    );
    assert_eq!(s.server.addr, "[::1]:0".parse().unwrap());

    type Edit = fn(&mut RawSettings);
    let cases: [(Edit, &str); 5] = [
        (
            |s| s.instance.environment = "staging".into(),
            "instance.environment",
        ),
        (|s| s.log.format = "xml".into(), "log.format"),
        (|s| s.server.addr = "localhost".into(), "server.addr"),
        (|s| s.server.max_body_bytes = 10, "server.max_body_bytes"),
        (|s| s.password.hash_workers = 1000, "password.hash_workers"),
    ];
    for (edit, key) in cases {
        let e = error_with(edit);
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn oauth_providers_parse_with_their_kind_and_secret() {
    let mut raw = defaults();
    let provider = |client_id: &str| raw::ProviderSection {
        kind: String::new(),
        client_id: client_id.into(),
        client_secret: "shh".into(),
        scopes: "openid email".into(),
        issuer_url: "https://login.acme.example".into(),
        authorize_url: String::new(),
        token_url: String::new(),
        api_base_url: String::new(),
        apple_team_id: String::new(),
        apple_key_id: String::new(),
        apple_private_key_file: String::new(),
        timeout_secs: 10,
        display_name: String::new(),
        logo_url: String::new(),
    };
    raw.oauth
        .providers
        .insert("custom_acme".into(), provider("acme"));
    let mut apple = provider("com.example.app");
    apple.apple_team_id = "TEAM".into();
    apple.apple_key_id = "KEY".into();
    apple.apple_private_key_file = "/etc/latch/apple.p8".into();
    raw.oauth.providers.insert("apple".into(), apple);
    let s = parse(&raw);
    let names: Vec<&str> = s.oauth_providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["apple", "custom_acme"]);
    assert_eq!(
        s.oauth_providers[0].kind,
        latch_http::oauth::ProviderKind::Apple
    );
    assert!(matches!(
        &s.oauth_providers[0].secret,
        ProviderSecret::AppleKey { team_id, .. } if team_id == "TEAM"
    ));
    let acme = &s.oauth_providers[1];
    assert_eq!(acme.kind, latch_http::oauth::ProviderKind::Oidc);
    assert!(matches!(&acme.secret, ProviderSecret::Shared(s) if s == "shh"));
    assert_eq!(
        acme.scopes,
        Some(vec!["openid".to_owned(), "email".to_owned()])
    );
    assert_eq!(
        s.policy.strategies.oauth_providers,
        ["apple", "custom_acme"]
    );

    // Named by the preset, or by the provider's own name, with no logo.
    assert_eq!(s.policy.display.provider("apple").name, "Apple");
    assert_eq!(s.policy.display.oauth_providers["custom_acme"].name, "Acme");
    assert_eq!(
        s.policy.display.oauth_providers["custom_acme"].logo_url,
        None
    );
    let mut named = provider("acme");
    named.display_name = " Acme SSO ".into();
    named.logo_url = "https://login.acme.example/logo.png".into();
    raw.oauth.providers.insert("custom_acme".into(), named);
    let shown = &parse(&raw).policy.display.oauth_providers["custom_acme"];
    assert_eq!(shown.name, "Acme SSO");
    assert_eq!(
        shown.logo_url.as_deref(),
        Some("https://login.acme.example/logo.png")
    );
    let mut bad_logo = provider("acme");
    bad_logo.logo_url = "logo.png".into();
    let e = error_with(|s| {
        s.oauth.providers.insert("custom_acme".into(), bad_logo);
    });
    assert!(e.contains("oauth.providers.custom_acme.logo_url"), "{e}");

    raw.oauth.providers.insert("myspace".into(), provider("m"));
    let e = error_with(|s| *s = raw.clone());
    assert!(e.contains("oauth.providers.myspace.kind"), "{e}");
}

#[test]
fn display_settings_parse_with_their_derived_links() {
    let s = parse(&defaults()).policy.display;
    assert_eq!(s, latch_core::model::DisplaySettings::default());
    let mut raw = defaults();
    raw.display.application_name = "Acme".into();
    raw.display.home_url = "https://acme.example".into();
    raw.display.sign_in_url = "https://acme.example/login".into();
    raw.display.user_profile_url = "/account".into();
    raw.display.support_email = "help@acme.example".into();
    raw.display.logo_image_url = "https://cdn.acme.example/logo.png".into();
    raw.display.after_sign_up_url = "/welcome".into();
    let d = parse(&raw).policy.display;
    assert_eq!(d.application_name, "Acme");
    assert_eq!(d.user_profile_url, "/account");
    // Pages left empty are Latch's hosted ones, at the issuer.
    assert_eq!(d.sign_up_url, "https://clerk.latch.localhost/sign-up");
    assert_eq!(d.support_email.as_deref(), Some("help@acme.example"));
    assert_eq!(
        d.logo_image_url.as_deref(),
        Some("https://cdn.acme.example/logo.png")
    );
    assert_eq!(d.favicon_image_url, None);
    // Empty links follow the pages they default to.
    assert_eq!(d.after_sign_in_url, "https://acme.example");
    assert_eq!(d.after_sign_up_url, "/welcome");
    assert_eq!(d.after_switch_session_url, "https://acme.example");
    assert_eq!(d.logo_link_url, "https://acme.example");
    assert_eq!(d.after_sign_out_all_url, "https://acme.example/login");
    assert_eq!(
        d.after_sign_out_one_url,
        "https://acme.example/login#/choose"
    );
}

/// A change to `[display]`.
type DisplayEdit = fn(&mut raw::DisplaySection);

#[test]
fn bad_display_settings_are_refused_naming_their_keys() {
    let cases: [(&str, DisplayEdit); 9] = [
        ("display.application_name", |d| {
            d.application_name = " ".into()
        }),
        ("display.home_url", |d| d.home_url = "acme.example".into()),
        ("display.sign_in_url", |d| {
            d.sign_in_url = "//evil.example/sign-in".into()
        }),
        ("display.sign_up_url", |d| d.sign_up_url = "sign-up".into()),
        ("display.after_sign_in_url", |d| {
            d.after_sign_in_url = "javascript:alert(1)".into()
        }),
        ("display.logo_image_url", |d| {
            d.logo_image_url = "/logo.png".into()
        }),
        ("display.support_email", |d| d.support_email = "help".into()),
        ("display.terms_url", |d| {
            d.terms_url = "https://acme.example/a b".into()
        }),
        ("display.user_profile_url", |d| {
            d.user_profile_url = "https://user@evil.example".into()
        }),
    ];
    for (key, edit) in cases {
        let e = error_with(|s| edit(&mut s.display));
        assert!(e.starts_with(key), "{key}: {e}");
        assert!(e.contains("must be"), "{key}: {e}");
    }
}

#[test]
fn the_printed_configuration_shows_the_display_section() {
    let mut raw = defaults();
    raw.display.sign_in_url = "https://acme.example/login".into();
    let printed = toml::to_string(&raw.redacted()).unwrap();
    assert!(printed.contains("[display]"), "{printed}");
    assert!(
        printed.contains("sign_in_url = \"https://acme.example/login\""),
        "{printed}"
    );
    assert!(printed.contains("support_email = \"\""), "{printed}");
}

#[test]
fn the_printed_configuration_redacts_every_secret() {
    let mut raw = defaults();
    raw.instance.secret_key = "sk_test_secret-key-text".into();
    raw.instance.encryption_key = "encryption-key-text".into();
    raw.codes.http_secret = "http-secret-text".into();
    raw.codes.twilio_auth_token = "twilio-token-text".into();
    raw.codes.smtp_password = "smtp-password-text".into();
    raw.storage.postgres_url = "postgres://latch:pg-password-text@db:5432/latch".into();
    raw.storage.redis_url = "redis://:redis-password-text@cache:6379/0".into();
    let printed = toml::to_string(&raw.redacted()).unwrap();
    for secret in [
        "secret-key-text",
        "encryption-key-text",
        "http-secret-text",
        "twilio-token-text",
        "smtp-password-text",
        "pg-password-text",
        "redis-password-text",
    ] {
        assert!(!printed.contains(secret), "{secret} is printed");
    }
    assert!(
        printed.contains("postgres://latch:<redacted>@db:5432/latch"),
        "{printed}"
    );
    assert!(
        printed.contains("redis://:<redacted>@cache:6379/0"),
        "{printed}"
    );
    // What is not secret is printed as it is; empty secrets stay empty.
    assert!(
        printed.contains("frontend_host = \"clerk.latch.localhost\""),
        "{printed}"
    );
    let untouched = toml::to_string(&defaults().redacted()).unwrap();
    assert!(!untouched.contains(raw::REDACTED), "{untouched}");
}

#[test]
fn urls_lose_only_their_passwords() {
    for (url, expected) in [
        ("postgres://latch@db/latch", "postgres://latch@db/latch"),
        (
            "postgres://latch:pw@db/latch",
            "postgres://latch:<redacted>@db/latch",
        ),
        (
            "postgresql://db/latch?user=latch&password=pw&sslmode=disable",
            "postgresql://db/latch?user=latch&password=<redacted>&sslmode=disable",
        ),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        (
            "redis://u:p@h:1?password=x",
            "redis://u:<redacted>@h:1?password=<redacted>",
        ),
        ("not a url", "not a url"),
    ] {
        assert_eq!(raw::redact_url(url), expected);
    }
}

#[test]
fn connection_limits_default_parse_and_bad_ones_are_named() {
    let s = parse(&defaults());
    assert_eq!(
        s.server.connections,
        latch_api::ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    );
    let mut raw = defaults();
    raw.server.header_read_timeout_ms = 300;
    raw.server.idle_timeout_ms = 700;
    raw.server.body_read_timeout_ms = 500;
    raw.server.max_connections = 3;
    let c = parse(&raw).server.connections;
    assert_eq!(c.header_read_timeout, Duration::from_millis(300));
    assert_eq!(c.idle_timeout, Duration::from_millis(700));
    assert_eq!(c.body_read_timeout, Duration::from_millis(500));
    assert_eq!(c.max_connections, 3);

    type Edit = fn(&mut RawSettings);
    let cases: [(Edit, &str); 5] = [
        (
            |s| s.server.header_read_timeout_ms = 0,
            "server.header_read_timeout_ms",
        ),
        (|s| s.server.idle_timeout_ms = 99, "server.idle_timeout_ms"),
        (
            |s| s.server.body_read_timeout_ms = 3_600_001,
            "server.body_read_timeout_ms",
        ),
        (|s| s.server.max_connections = 0, "server.max_connections"),
        (
            |s| s.server.max_connections = 2_000_000,
            "server.max_connections",
        ),
    ];
    for (edit, key) in cases {
        let e = error_with(edit);
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn production_refuses_a_development_or_weak_secret_key() {
    let production = |key: &str| {
        error_with(|s| {
            s.instance.environment = "production".into();
            s.instance.frontend_host = "clerk.example.com".into();
            s.instance.secret_key = key.into();
        })
    };
    for key in [
        "sk_test_n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg".to_owned(),
        format!("sk_live_{}", "x".repeat(40)),
        "sk_live_n4bQgYhMfWWaLqgxVrQFaOTxsr".to_owned(),
    ] {
        let e = production(&key);
        assert!(e.contains("instance.secret_key"), "{key}: {e:?}");
    }
    assert_eq!(
        production("sk_live_n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg"),
        ""
    );
    // Development keeps its own, looser rule.
    assert_eq!(
        error_with(|s| s.instance.secret_key = "sk_test_configured0123456789abcdefghij".into()),
        ""
    );
}

#[test]
fn sign_up_settings_parse_as_written() {
    let mut raw = defaults();
    raw.sign_up.mode = "restricted".into();
    raw.sign_up.require_email_address = false;
    raw.sign_up.require_username = true;
    raw.sign_up.first_name = "required".into();
    raw.sign_up.last_name = " off ".into();
    raw.sign_up.verify_phone_number = false;
    raw.sign_up.legal_consent_required = true;
    raw.sign_up.password_may_match_identifier = true;
    raw.display.terms_url = "https://acme.example/terms".into();
    let s = parse(&raw).policy;
    assert_eq!(
        s.sign_up,
        SignUpSettings {
            mode: SignUpMode::Restricted,
            require_email_address: false,
            require_phone_number: false,
            require_username: true,
            require_password: true,
            first_name: Requirement::Required,
            last_name: Requirement::Off,
            verify_email_address: true,
            verify_phone_number: false,
            legal_consent_required: true,
            password_may_match_identifier: true,
        }
    );
    use SignUpField::*;
    assert_eq!(
        s.required_fields(),
        [Username, Password, FirstName, LegalAccepted]
    );
    assert_eq!(s.optional_fields(), [EmailAddress, PhoneNumber]);
}

#[test]
fn bad_sign_up_values_are_refused_naming_their_keys() {
    let e = error_with(|s| s.sign_up.mode = "waitlist".into());
    assert_eq!(e, "sign_up.mode must be \"public\" or \"restricted\"");
    let e = error_with(|s| s.sign_up.first_name = "yes".into());
    assert!(e.starts_with("sign_up.first_name must be"), "{e}");
    let e = error_with(|s| s.sign_up.last_name = String::new());
    assert!(e.starts_with("sign_up.last_name must be"), "{e}");
}

/// A change to the configuration.
type Edit = fn(&mut RawSettings);

#[test]
fn sign_up_settings_that_cannot_work_stop_start_up_naming_their_keys() {
    let cases: [(Edit, &str); 7] = [
        (
            |s| s.sign_in.email_address = false,
            "sign_up.require_email_address needs sign_in.email_address on",
        ),
        (
            |s| {
                s.sign_in.username = false;
                s.sign_up.require_username = true;
            },
            "sign_up.require_username needs sign_in.username on",
        ),
        (
            |s| s.sign_in.password = false,
            "sign_up.require_password needs sign_in.password on",
        ),
        (
            |s| s.sign_in.email_code = false,
            "sign_up.verify_email_address needs sign_in.email_code on",
        ),
        (
            |s| s.sign_in.phone_code = false,
            "sign_up.verify_phone_number needs sign_in.phone_code on",
        ),
        (
            |s| s.sign_up.verify_email_address = false,
            "sign_up: an account made by a sign-up must be able to sign in",
        ),
        (
            |s| s.sign_up.legal_consent_required = true,
            "sign_up.legal_consent_required needs display.terms_url or display.privacy_policy_url",
        ),
    ];
    for (edit, message) in cases {
        let e = error_with(edit);
        assert!(e.starts_with(message), "{message}: {e}");
    }
}

#[test]
fn sign_up_settings_that_fit_the_rest_start() {
    // A phone-only instance: no email, no username, no passwords.
    let e = error_with(|s| {
        s.sign_in.email_address = false;
        s.sign_in.username = false;
        s.sign_in.password = false;
        s.sign_up.require_email_address = false;
        s.sign_up.require_password = false;
        s.sign_up.require_phone_number = true;
    });
    assert_eq!(e, "");
    // A verification is moot while its identifier is off.
    let e = error_with(|s| {
        s.sign_in.phone_number = false;
        s.sign_in.phone_code = false;
    });
    assert_eq!(e, "");
    let e = error_with(|s| {
        s.sign_up.legal_consent_required = true;
        s.display.privacy_policy_url = "https://acme.example/privacy".into();
    });
    assert_eq!(e, "");
}

#[test]
fn the_printed_configuration_shows_the_sign_up_section() {
    let mut raw = defaults();
    raw.sign_up.mode = "restricted".into();
    let printed = toml::to_string(&raw.redacted()).unwrap();
    assert!(printed.contains("[sign_up]"), "{printed}");
    assert!(printed.contains("mode = \"restricted\""), "{printed}");
    assert!(
        printed.contains("password_may_match_identifier = false"),
        "{printed}"
    );
}

#[test]
fn a_geoip_table_is_read_at_start_and_a_bad_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("city.csv");
    std::fs::write(&good, "203.0.113.0,203.0.113.255,NZ,Wellington\n").unwrap();
    let mut s = defaults();
    s.server.geoip_file = good.display().to_string();
    let parsed = parse(&s);
    let table = parsed.server.geoip.expect("a table");
    assert_eq!(
        table.locate("203.0.113.8").and_then(|p| p.city.as_deref()),
        Some("Wellington")
    );
    assert!(parse(&defaults()).server.geoip.is_none(), "off by default");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "203.0.113.0,nowhere,NZ,Wellington\n").unwrap();
    let e = error_with(|s| s.server.geoip_file = bad.display().to_string());
    assert!(
        e.contains("server.geoip_file") && e.contains("line 1"),
        "{e}"
    );
    let e = error_with(|s| s.server.geoip_file = "/nonexistent/city.csv".into());
    assert!(e.contains("server.geoip_file"), "{e}");
}

#[test]
fn webhooks_forbid_private_targets_in_production_unless_told_and_bad_values_are_named() {
    let development = parse(&defaults());
    assert!(development.webhooks.sender.allow_private_targets);
    assert!(development.webhooks.endpoints.is_empty());
    let mut raw = defaults();
    raw.instance.environment = "production".into();
    assert!(!parse(&raw).webhooks.sender.allow_private_targets);
    raw.webhooks.private_targets = "allow".into();
    assert!(parse(&raw).webhooks.sender.allow_private_targets);
    let mut raw = defaults();
    raw.webhooks.private_targets = "forbid".into();
    assert!(!parse(&raw).webhooks.sender.allow_private_targets);

    let mut raw = defaults();
    raw.webhooks.endpoints.insert(
        "app".into(),
        super::raw::EndpointSection {
            url: "https://app.example.com/hooks".into(),
            secret: String::new(),
            event_types: vec!["user.created".into()],
            description: String::new(),
        },
    );
    let parsed = parse(&raw);
    assert_eq!(parsed.webhooks.endpoints.len(), 1);
    assert_eq!(
        parsed.webhooks.endpoints[0].id.as_deref(),
        Some("ep_config_app")
    );
    assert_eq!(
        parsed.webhooks.endpoints[0].secret, None,
        "made on first start"
    );

    for (edit, key) in [
        (
            (|s: &mut RawSettings| s.webhooks.private_targets = "sometimes".into())
                as fn(&mut RawSettings),
            "webhooks.private_targets",
        ),
        (|s| s.webhooks.timeout_secs = 0, "webhooks.timeout_secs"),
        (
            |s| s.webhooks.retry_waits_secs = vec![0],
            "webhooks.retry_waits_secs",
        ),
        (
            |s| s.webhooks.keep_events_days = 0,
            "webhooks.keep_events_days",
        ),
        (|s| s.audit.keep_days = 0, "audit.keep_days"),
    ] {
        let message = error_with(edit);
        assert!(message.contains(key), "{key}: {message}");
    }
}

#[test]
fn the_dashboard_is_served_beside_the_api_unless_moved_or_turned_off() {
    assert_eq!(parse(&defaults()).dashboard, Listener::Main);
    let mut raw = defaults();
    raw.dashboard.listen = "127.0.0.1:3001".into();
    assert_eq!(
        parse(&raw).dashboard,
        Listener::Own("127.0.0.1:3001".parse().unwrap())
    );
    raw.dashboard.enabled = false;
    assert_eq!(parse(&raw).dashboard, Listener::Off);
    let error = error_with(|s| s.dashboard.listen = "localhost".into());
    assert!(error.contains("dashboard.listen"), "{error}");
    let error = error_with(|s| s.dashboard.listen = s.server.addr.clone());
    assert!(error.contains("dashboard.listen"), "{error}");
}

#[test]
fn the_metrics_are_served_beside_the_api_unless_moved_or_turned_off() {
    assert_eq!(parse(&defaults()).metrics, Listener::Main);
    let mut raw = defaults();
    raw.metrics.listen = "127.0.0.1:9464".into();
    assert_eq!(
        parse(&raw).metrics,
        Listener::Own("127.0.0.1:9464".parse().unwrap())
    );
    raw.metrics.enabled = false;
    assert_eq!(parse(&raw).metrics, Listener::Off);
    let error = error_with(|s| s.metrics.listen = "nine".into());
    assert!(error.contains("metrics.listen"), "{error}");
}

#[test]
fn runtime_pins_must_name_settings_and_the_poll_its_bounds() {
    let e = error_with(|s| s.runtime.pinned = vec!["sessions.colour".into()]);
    assert_eq!(
        e,
        "runtime.pinned: \"sessions.colour\" is not a setting nor a group of settings"
    );
    let e = error_with(|s| s.runtime.poll_ms = 10);
    assert_eq!(e, "runtime.poll_ms must be between 100 and 60000");
    let mut raw = RawSettings::load(None).unwrap();
    raw.runtime.pinned = vec!["sessions".into(), "password.min_length".into()];
    raw.runtime.poll_ms = 250;
    let settings = Settings::try_from(&raw).unwrap();
    assert_eq!(settings.pinned, ["sessions", "password.min_length"]);
    assert_eq!(
        settings.settings_poll,
        std::time::Duration::from_millis(250)
    );
}

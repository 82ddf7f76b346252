//! The binary's own behaviour: configuration, keys, persistence, shutdown.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Server, http, latch, run};

pub(crate) fn keys(dir: &std::path::Path, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = latch(dir);
    cmd.envs(env.iter().copied()).arg("keys");
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    (get("LATCH_PUBLISHABLE_KEY="), get("LATCH_SECRET_KEY="))
}

/// Creates a user through the Backend API.
pub(crate) fn create_user(addr: &str, bearer: &str, json: &str) {
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1/users",
        &[
            ("authorization", bearer),
            ("content-type", "application/json"),
        ],
        json,
    );
    assert_eq!(status, 200, "{body}");
}

/// A one-call password sign-in in native mode; returns (client token, session id).
fn sign_in(addr: &str, form: &str) -> (String, String) {
    let (status, head, body) = http(
        addr,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        form,
    );
    assert_eq!(status, 200, "{body}");
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap()
        .to_owned();
    let sid = serde_json::from_str::<Value>(&body).unwrap()["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, sid)
}

#[test]
fn keys_are_generated_once_and_match_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (pk, sk) = keys(dir.path(), &[]);
    assert_eq!(
        pk, "pk_test_Y2xlcmsubGF0Y2gubG9jYWxob3N0JA==",
        "base64 of clerk.latch.localhost$"
    );
    assert!(sk.starts_with("sk_test_") && sk.len() > 40);
    assert_eq!(
        keys(dir.path(), &[]).1,
        sk,
        "the stored secret key is reused"
    );
    let (pk_live, sk_live) = keys(
        dir.path(),
        &[
            ("LATCH_INSTANCE__ENVIRONMENT", "production"),
            ("LATCH_INSTANCE__FRONTEND_HOST", "clerk.example.com"),
        ],
    );
    assert!(pk_live.starts_with("pk_live_") && sk_live.starts_with("sk_live_"));
    let (_, configured) = keys(
        dir.path(),
        &[(
            "LATCH_INSTANCE__SECRET_KEY",
            "sk_test_configured0123456789abcdefghij",
        )],
    );
    assert_eq!(configured, "sk_test_configured0123456789abcdefghij");
    // The lines `latch keys` prints can be exported without upsetting the config.
    let exported = [
        ("LATCH_SECRET_KEY", sk.as_str()),
        ("LATCH_PUBLISHABLE_KEY", "pk_test_x"),
    ];
    assert_eq!(keys(dir.path(), &exported).1, sk);
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("LATCH_SERVER__ADDR", "not-an-address", "server.addr"),
        (
            "LATCH_INSTANCE__ENVIRONMENT",
            "staging",
            "instance.environment",
        ),
        ("LATCH_SERVER__MAX_BODY_BYTES", "lots", "max_body_bytes"),
        (
            "LATCH_SIGN_IN__SESSION_LIFETIME_SECS",
            "-5",
            "sign_in.session_lifetime_secs",
        ),
        (
            "LATCH_SERVER__ALLOWED_ORIGINS",
            "localhost:3000",
            "server.allowed_origins",
        ),
        (
            "LATCH_INSTANCE__FRONTEND_HOST",
            "localhost",
            "instance.frontend_host",
        ),
        ("LATCH_SERVER__TYPO", "1", "typo"),
        ("LATCH_SIGNIN__PASSWORD", "false", "signin"),
        (
            "LATCH_PASSWORD__ARGON2_ITERATIONS",
            "0",
            "password.argon2_iterations",
        ),
        ("LATCH_INSTANCE__ISSUER", "notaurl", "instance.issuer"),
        ("LATCH_CODES__SENDER", "pigeon", "codes.sender"),
        (
            "LATCH_SIGN_IN__SESSION_LIFETIME_SECS",
            "9223372036854775807",
            "sign_in.session_lifetime_secs",
        ),
        (
            "LATCH_INSTANCE__SECRET_KEY",
            "sk_test_",
            "instance.secret_key",
        ),
        (
            "LATCH_INSTANCE__ENCRYPTION_KEY",
            "c2hvcnQ",
            "instance.encryption_key",
        ),
        (
            "LATCH_STORAGE__FLOW_STORE",
            "memcached",
            "storage.flow_store",
        ),
        // A flow store that cannot be reached.
        ("LATCH_STORAGE__FLOW_STORE", "redis", "storage.redis_url"),
        // An OpenID Connect provider without its issuer.
        (
            "LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_ID",
            "acme-client",
            "oauth.providers.custom_acme.issuer_url",
        ),
        // A preset that needs a client secret.
        (
            "LATCH_OAUTH__PROVIDERS__GITHUB__CLIENT_ID",
            "gh-client",
            "oauth.providers.github",
        ),
    ];
    for (var, value, key) in cases {
        let mut cmd = latch(dir.path());
        // Redis cases point at a port where nothing listens.
        cmd.env("LATCH_STORAGE__REDIS_URL", "redis://127.0.0.1:1")
            .env("LATCH_STORAGE__REDIS_TIMEOUT_MS", "500");
        cmd.env(var, value).arg("serve");
        let out = run(&mut cmd);
        assert!(!out.status.success(), "{var}={value} must stop start-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(key),
            "{var}={value}: the message names {key}: {stderr}"
        );
    }
    let mut cmd = latch(dir.path());
    let out = run(cmd.args(["--config", "/nonexistent/latch.toml", "serve"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/latch.toml"));
}

#[test]
fn production_refuses_to_start_with_a_development_or_weak_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    for key in [
        "sk_test_n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg".to_owned(),
        format!("sk_live_{}", "ab".repeat(20)),
    ] {
        let mut cmd = latch(dir.path());
        cmd.env("LATCH_INSTANCE__ENVIRONMENT", "production")
            .env("LATCH_INSTANCE__FRONTEND_HOST", "clerk.example.com")
            .env("LATCH_INSTANCE__SECRET_KEY", &key)
            .arg("serve");
        let out = run(&mut cmd);
        assert!(!out.status.success(), "{key} must stop start-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("instance.secret_key"), "{key}: {stderr}");
        assert!(!stderr.contains(&key), "the key is not printed: {stderr}");
    }
}

#[test]
fn a_config_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[instance]\nfrontend_host = \"auth.from-file.example\"\nsecret_key = \"sk_test_from_file_0123456789abcdefghij\"\n").unwrap();
    let mut cmd = latch(dir.path());
    let out = run(cmd.args(["--config", file.to_str().unwrap(), "keys"]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("LATCH_SECRET_KEY=sk_test_from_file_0123456789abcdefghij"),
        "{text}"
    );
    let mut cmd = latch(dir.path());
    let out = run(cmd
        .env(
            "LATCH_INSTANCE__SECRET_KEY",
            "sk_test_from_env_0123456789abcdefghijkl",
        )
        .args(["--config", file.to_str().unwrap(), "keys"]));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("LATCH_SECRET_KEY=sk_test_from_env_0123456789abcdefghijkl")
    );
}

#[test]
fn migrate_and_user_create_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(latch(dir.path()).arg("migrate"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema version"));
    let out = run(latch(dir.path()).args([
        "user",
        "create",
        "--email",
        "cli@example.com",
        "--username",
        "cli_user",
        "--password",
        "a long password",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .starts_with("user_")
    );
    let again = run(latch(dir.path()).args(["user", "create", "--email", "CLI@example.com"]));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));
}

/// stdout and stderr of a command that must succeed.
fn succeed(cmd: &mut std::process::Command) -> (String, String) {
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

#[test]
fn routes_prints_the_route_table() {
    let dir = tempfile::tempdir().unwrap();
    let (listing, _) = succeed(latch(dir.path()).arg("routes"));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines.len(),
        latch_api::routes::table().len() + 1,
        "a header and one line per route: {listing}"
    );
    for route in latch_api::routes::table() {
        assert!(
            lines.contains(&route.to_string().trim_end()),
            "latch routes lists {route}: {listing}"
        );
    }
    let attempt = lines
        .iter()
        .find(|l| l.contains("/v1/client/sign_ins/{id}/attempt_first_factor"))
        .expect("the first-factor attempt is listed");
    assert!(attempt.contains("POST"), "{attempt}");
    assert!(attempt.contains("attempt"), "names its limit: {attempt}");
    assert!(
        !dir.path().join("latch.db").exists(),
        "listing routes opens no database"
    );
}

#[test]
fn help_describes_every_command_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let (help, _) = succeed(latch(dir.path()).arg("--help"));
    for command in [
        "serve", "keys", "migrate", "config", "routes", "user", "copy",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "latch --help lists {command}: {help}"
        );
    }
    assert!(help.contains("--config <FILE>"), "{help}");
    for command in ["serve", "keys", "migrate", "config", "routes"] {
        let (help, _) = succeed(latch(dir.path()).args([command, "--help"]));
        assert!(
            help.contains(&format!("Usage: latch {command}")),
            "{command}: {help}"
        );
    }
    let (help, _) = succeed(latch(dir.path()).args(["copy", "--help"]));
    for option in [
        "--to <STORE>",
        "--postgres-url <URL>",
        "--resume",
        "--dry-run",
    ] {
        assert!(help.contains(option), "copy --help shows {option}: {help}");
    }
    let (help, _) = succeed(latch(dir.path()).args(["user", "create", "--help"]));
    for option in [
        "--email <EMAIL>",
        "--phone <PHONE>",
        "--username",
        "--password",
        "--first-name",
        "--last-name",
        "--config <FILE>",
    ] {
        assert!(
            help.contains(option),
            "user create --help shows {option}: {help}"
        );
    }
    assert!(
        !dir.path().join("latch.db").exists(),
        "asking for help opens no database"
    );
}

#[test]
fn unknown_commands_and_options_fail_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["serve", "--port", "80"],
        &["--verbose"],
        &["user", "delete"],
        &["user", "create", "--nickname", "x"],
    ] {
        let out = run(latch(dir.path()).args(args));
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: latch"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn config_prints_the_effective_values_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(
        &file,
        "[instance]\nfrontend_host = \"auth.from-file.example\"\n",
    )
    .unwrap();
    let secrets = [
        (
            "LATCH_INSTANCE__SECRET_KEY",
            "sk_test_envsecret0123456789abcdefghij",
            "envsecret",
        ),
        (
            "LATCH_INSTANCE__ENCRYPTION_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ",
        ),
        (
            "LATCH_CODES__SMTP_PASSWORD",
            "smtp-pass-word",
            "smtp-pass-word",
        ),
        (
            "LATCH_CODES__HTTP_SECRET",
            "http-secret-0123456789",
            "http-secret",
        ),
        (
            "LATCH_STORAGE__POSTGRES_URL",
            "postgres://latch:db-pass-word@db.internal:5432/latch",
            "db-pass-word",
        ),
        (
            "LATCH_OAUTH__PROVIDERS__GITHUB__CLIENT_SECRET",
            "gh-client-secret",
            "gh-client-secret",
        ),
    ];
    let mut cmd = latch(dir.path());
    cmd.args(["--config", file.to_str().unwrap(), "config"])
        .env("LATCH_CODES__SMTP_USERNAME", "mailer")
        .env("LATCH_OAUTH__PROVIDERS__GITHUB__CLIENT_ID", "gh-client")
        .env("LATCH_SERVER__MAX_BODY_BYTES", "70000");
    for (var, value, _) in secrets {
        cmd.env(var, value);
    }
    let (printed, _) = succeed(&mut cmd);
    for (var, _, text) in secrets {
        assert!(!printed.contains(text), "{var} is printed: {printed}");
    }
    assert!(printed.contains("secret_key = \"<redacted>\""), "{printed}");
    assert!(
        printed.contains("smtp_password = \"<redacted>\""),
        "{printed}"
    );
    assert!(
        printed.contains("client_secret = \"<redacted>\""),
        "{printed}"
    );
    assert!(
        printed.contains("postgres://latch:<redacted>@db.internal:5432/latch"),
        "{printed}"
    );
    // Values from every layer: the file, the environment and the defaults.
    for line in [
        "frontend_host = \"auth.from-file.example\"",
        "max_body_bytes = 70000",
        "smtp_username = \"mailer\"",
        "client_id = \"gh-client\"",
        "addr = \"127.0.0.1:0\"",
        "[oauth.providers.github]",
        "argon2_iterations = 2",
    ] {
        assert!(printed.lines().any(|l| l == line), "{line}: {printed}");
    }
    // A bad value stops it too, naming the key.
    let out = run(latch(dir.path())
        .env("LATCH_CODES__SENDER", "pigeon")
        .arg("config"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("codes.sender"));
}

#[test]
fn signing_key_and_sessions_survive_a_restart_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let bearer = format!("Bearer {sk}");
    let mut server = Server::start(latch(dir.path()));
    let addr = server.addr();
    let (status, _, body) = http(&addr, "GET", "/healthz", &[], "");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    create_user(
        &addr,
        &bearer,
        r#"{"email_address":["sam@example.com"],"password":"sam's password"}"#,
    );
    let (token, sid) = sign_in(
        &addr,
        "strategy=password&identifier=sam%40example.com&password=sam%27s+password",
    );
    let (_, _, jwks_before) = http(&addr, "GET", "/.well-known/jwks.json", &[], "");
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM exits cleanly: {status:?}");

    let server = Server::start(latch(dir.path()));
    let addr = server.addr();
    let (_, _, jwks_after) = http(&addr, "GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks_before, jwks_after, "the signing key is persisted");
    let (status, _, body) = http(
        &addr,
        "POST",
        &format!("/v1/client/sessions/{sid}/tokens?_is_native=1"),
        &[("authorization", &token)],
        "",
    );
    assert_eq!(
        status, 200,
        "the session and client survive the restart: {body}"
    );
    assert!(body.contains("\"jwt\""));
}

/// A native-mode Frontend API call; returns (status, the client token the
/// server sent, if any, and the JSON body).
pub(crate) fn native(
    addr: &str,
    path: &str,
    token: &str,
    form: &str,
) -> (u16, Option<String>, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, head, body) = http(
        addr,
        "POST",
        &format!("{path}{sep}_is_native=1"),
        &[
            ("authorization", token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        form,
    );
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .map(str::to_owned);
    (status, token, serde_json::from_str(&body).unwrap())
}

#[test]
fn second_factors_survive_a_restart_with_the_generated_encryption_key() {
    const TOTP_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let bearer = format!("Bearer {sk}");
    let mut server = Server::start(latch(dir.path()));
    create_user(
        &server.addr(),
        &bearer,
        &format!(
            r#"{{"email_address":["mo@example.com"],"password":"mo's password","totp_secret":"{TOTP_BASE32}","backup_codes":["first-code-1","second-code-2"]}}"#
        ),
    );
    assert!(server.terminate(Duration::from_secs(15)).success());

    let server = Server::start(latch(dir.path()));
    let addr = server.addr();
    let password = "strategy=password&identifier=mo%40example.com&password=mo%27s+password";
    let second = |step_form: String| {
        let (status, token, body) = native(&addr, "/v1/client/sign_ins", "", password);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["response"]["status"], "needs_second_factor");
        let id = body["response"]["id"].as_str().unwrap().to_owned();
        native(
            &addr,
            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
            &token.unwrap(),
            &step_form,
        )
    };
    let (status, _, body) = second("strategy=backup_code&code=first-code-1".into());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    let code = crate::support::totp_code_now(TOTP_BASE32);
    let (status, _, body) = second(format!("strategy=totp&code={code}"));
    assert_eq!(
        status, 200,
        "the sealed secret opens after a restart: {body}"
    );
    assert_eq!(body["response"]["status"], "complete");
    // Another key would make them unusable: start-up refuses it.
    drop(server);
    let mut cmd = latch(dir.path());
    cmd.env(
        "LATCH_INSTANCE__ENCRYPTION_KEY",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .arg("serve");
    let out = run(&mut cmd);
    assert!(!out.status.success(), "another key must stop start-up");
    assert!(String::from_utf8_lossy(&out.stderr).contains("instance.encryption_key"));
    // The key is in the database, not the secret.
    let db = std::fs::read(dir.path().join("latch.db")).unwrap();
    assert!(
        !db.windows(TOTP_BASE32.len())
            .any(|w| w == TOTP_BASE32.as_bytes())
    );
}

#[test]
fn sessions_expire_after_the_configured_lifetime_and_logs_can_be_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let mut cmd = latch(dir.path());
    cmd.env("LATCH_SIGN_IN__SESSION_LIFETIME_SECS", "1")
        .env("LATCH_LOG__FORMAT", "json")
        .env("LATCH_LOG__LEVEL", "info");
    let mut server = Server::start(cmd);
    let addr = server.addr();
    let bearer = format!("Bearer {sk}");
    create_user(
        &addr,
        &bearer,
        r#"{"username":"brief","password":"brief password"}"#,
    );
    let (token, sid) = sign_in(&addr, "identifier=brief&password=brief+password");
    let mint = |addr: &str| {
        http(
            addr,
            "POST",
            &format!("/v1/client/sessions/{sid}/tokens?_is_native=1"),
            &[("authorization", &token)],
            "",
        )
        .0
    };
    assert_eq!(mint(&addr), 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(mint(&addr), 401, "an expired session mints no token");
    let (_, _, session) = http(
        &addr,
        "GET",
        &format!("/v1/sessions/{sid}"),
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&session).unwrap()["status"],
        "expired"
    );

    assert!(server.terminate(Duration::from_secs(15)).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
        assert!(!line.contains(&token), "client tokens never reach the logs");
    }
}

#[test]
fn development_instances_allow_local_origins_and_production_does_not() {
    for (environment, allowed) in [("development", true), ("production", false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = latch(dir.path());
        cmd.env("LATCH_INSTANCE__ENVIRONMENT", environment);
        let server = Server::start(cmd);
        let (status, head, _) = http(
            &server.addr(),
            "GET",
            "/v1/environment",
            &[("origin", "http://localhost:4321")],
            "",
        );
        assert_eq!(status, 200);
        let allowed_origin = head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("access-control-allow-origin: http://localhost:4321"));
        assert_eq!(allowed_origin, allowed, "{environment}: {head}");
        let (_, head, _) = http(
            &server.addr(),
            "GET",
            "/v1/environment",
            &[("origin", "http://localhost.evil.example")],
            "",
        );
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("access-control-allow-origin"),
            "{environment}: {head}"
        );
        // Production cookies are Secure, and browsers are told to keep to
        // HTTPS, even with server.secure_cookies left off.
        let (_, head, _) = http(&server.addr(), "POST", "/v1/client", &[], "");
        let lower = head.to_ascii_lowercase();
        let cookie = lower
            .lines()
            .find(|l| l.starts_with("set-cookie: __client="))
            .unwrap_or_default()
            .to_owned();
        assert!(
            cookie.contains("httponly") && cookie.contains("samesite=lax"),
            "{head}"
        );
        assert_eq!(
            cookie.contains("; secure"),
            !allowed,
            "{environment}: {cookie}"
        );
        assert_eq!(
            lower.contains("strict-transport-security: max-age="),
            !allowed,
            "{environment}: {head}"
        );
    }
}

/// An HTTP code receiver on loopback that answers 200 at once: the bodies
/// it was sent arrive on the channel.
pub(crate) fn code_receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    code_receiver_with(
        std::time::Duration::ZERO,
        std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200)),
    )
}

/// An HTTP code receiver on loopback that waits `delay` before it answers
/// with the status `answer` holds; every body it was sent arrives on the
/// channel, whatever it answered.
pub(crate) fn code_receiver_with(
    delay: std::time::Duration,
    answer: std::sync::Arc<std::sync::atomic::AtomicU16>,
) -> (String, std::sync::mpsc::Receiver<Value>) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/codes", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (tx, answer) = (tx.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                std::thread::sleep(delay);
                let status = answer.load(std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                );
                if let Ok(doc) = serde_json::from_slice(&body) {
                    let _ = tx.send(doc);
                }
            });
        }
    });
    (url, rx)
}

#[test]
fn email_codes_travel_through_the_http_sender() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = code_receiver();
    let (_, sk) = keys(dir.path(), &[]);
    let mut cmd = latch(dir.path());
    cmd.env("LATCH_CODES__SENDER", "http")
        .env("LATCH_CODES__HTTP_URL", &url)
        .env("LATCH_CODES__HTTP_SECRET", "a shared secret of some length");
    let server = Server::start(cmd);
    let addr = server.addr();
    create_user(
        &addr,
        &format!("Bearer {sk}"),
        r#"{"email_address":["cody@example.com"]}"#,
    );
    let (status, head, body) = http(
        &addr,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "identifier=cody%40example.com&strategy=email_code",
    );
    assert_eq!(status, 200, "{body}");
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap()
        .to_owned();
    let id = serde_json::from_str::<Value>(&body).unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver got the code");
    assert_eq!(message["to"], "cody@example.com");
    let code = message["code"].as_str().unwrap();
    let form = format!("strategy=email_code&code={code}");
    let (status, _, body) = http(
        &addr,
        "POST",
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor?_is_native=1"),
        &[
            ("authorization", &token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &form,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["response"]["status"],
        "complete"
    );
}

#[test]
fn email_codes_travel_through_the_smtp_sender() {
    use latch_testkit::smtp::{ServerTls, SmtpServer, SmtpServerOptions, TestPki};

    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate();
    let smtp = SmtpServer::start(SmtpServerOptions {
        tls: ServerTls::StartTls,
        pki: Some(&pki),
        auth: Some(("latch", "relay password")),
    });
    let port = smtp.port().to_string();
    let ca_file = pki.ca_cert.display().to_string();
    let env = [
        ("LATCH_CODES__SENDER", "smtp"),
        ("LATCH_CODES__SMTP_HOST", "127.0.0.1"),
        ("LATCH_CODES__SMTP_PORT", port.as_str()),
        ("LATCH_CODES__SMTP_SECURITY", "starttls"),
        ("LATCH_CODES__SMTP_CA_FILE", ca_file.as_str()),
        ("LATCH_CODES__SMTP_USERNAME", "latch"),
        ("LATCH_CODES__SMTP_PASSWORD", "relay password"),
        ("LATCH_CODES__SMTP_FROM", "Latch <no-reply@latch.example>"),
    ];

    // SMTP cannot send SMS: without codes.sms_sender, start-up stops.
    let mut cmd = latch(dir.path());
    cmd.envs(env).arg("serve");
    let out = run(&mut cmd);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("codes.sms_sender"), "{stderr}");

    let (_, sk) = keys(dir.path(), &[]);
    let mut cmd = latch(dir.path());
    cmd.envs(env).env("LATCH_CODES__SMS_SENDER", "console");
    let server = Server::start(cmd);
    let addr = server.addr();
    create_user(
        &addr,
        &format!("Bearer {sk}"),
        r#"{"email_address":["mae@example.com"]}"#,
    );
    let (status, head, body) = http(
        &addr,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "identifier=mae%40example.com&strategy=email_code",
    );
    assert_eq!(status, 200, "{body}");
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap()
        .to_owned();
    let id = serde_json::from_str::<Value>(&body).unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = smtp.wait_for_message(1, Duration::from_secs(10));
    assert_eq!(mail.rcpt_tos, ["mae@example.com"]);
    assert_eq!(mail.mail_from, "no-reply@latch.example");
    assert!(mail.encrypted, "sent after STARTTLS");
    assert_eq!(mail.authenticated_as.as_deref(), Some("latch"));
    let code = mail
        .subject
        .strip_prefix("Your sign-in code is ")
        .unwrap()
        .to_owned();
    assert!(mail.body.contains(&code), "{}", mail.body);
    let form = format!("strategy=email_code&code={code}");
    let (status, _, body) = http(
        &addr,
        "POST",
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor?_is_native=1"),
        &[
            ("authorization", &token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &form,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["response"]["status"],
        "complete"
    );
}

#[test]
fn with_redis_as_the_flow_store_any_replica_serves_any_step() {
    latch_testkit::services::ensure_services();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("latch-e2e:{}:", std::process::id());
    let redis = [
        ("LATCH_STORAGE__FLOW_STORE", "redis"),
        ("LATCH_STORAGE__REDIS_URL", "redis://127.0.0.1:6379"),
        ("LATCH_STORAGE__REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let (_, sk) = keys(dir.path(), &redis);
    let bearer = format!("Bearer {sk}");
    let replica = || {
        let mut cmd = latch(dir.path());
        cmd.envs(redis.iter().copied());
        Server::start(cmd)
    };
    let (a, b) = (replica(), replica());
    create_user(
        &a.addr(),
        &bearer,
        r#"{"email_address":["rio@example.com"],"password":"rio's password"}"#,
    );
    // Identified on replica A...
    let (status, token, body) = native(
        &a.addr(),
        "/v1/client/sign_ins",
        "",
        "identifier=rio%40example.com",
    );
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    // ...and finished on replica B.
    let (status, _, body) = native(
        &b.addr(),
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        &token.unwrap(),
        "strategy=password&password=rio%27s+password",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");
}

/// Runs SQL as `postgres` on the machine's PostgreSQL.
pub(crate) fn psql(sql: &str) {
    let out = run(std::process::Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn replicas_sharing_postgres_and_redis_serve_one_sign_in() {
    latch_testkit::services::ensure_services();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("latch_e2e_{}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let prefix = format!("latch-e2e-pg:{}:", std::process::id());
    let env = [
        ("LATCH_STORAGE__DURABLE", "postgres"),
        ("LATCH_STORAGE__POSTGRES_URL", url.as_str()),
        ("LATCH_STORAGE__FLOW_STORE", "redis"),
        ("LATCH_STORAGE__REDIS_URL", "redis://127.0.0.1:6379"),
        ("LATCH_STORAGE__REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let mut migrate = latch(dir.path());
    migrate.envs(env.iter().copied()).arg("migrate");
    let out = run(&mut migrate);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, sk) = keys(dir.path(), &env);
    let bearer = format!("Bearer {sk}");
    let replica = || {
        let mut cmd = latch(dir.path());
        cmd.envs(env.iter().copied());
        Server::start(cmd)
    };
    let (a, b) = (replica(), replica());
    // The secret key and signing key are shared through PostgreSQL.
    let (_, sk_again) = keys(dir.path(), &env);
    assert_eq!(sk, sk_again);
    create_user(
        &a.addr(),
        &bearer,
        r#"{"email_address":["pia@example.com"],"password":"pia's password"}"#,
    );
    let (status, token, body) = native(
        &b.addr(),
        "/v1/client/sign_ins",
        "",
        "identifier=pia%40example.com",
    );
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let (status, token, body) = native(
        &a.addr(),
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        &token.unwrap(),
        "strategy=password&password=pia%27s+password",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A session started through A mints tokens on B.
    let (status, _, body) = native(
        &b.addr(),
        &format!("/v1/client/sessions/{session}/tokens"),
        &token.unwrap(),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["jwt"].is_string());
    drop((a, b));
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

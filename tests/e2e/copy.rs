//! `latch copy --to postgres`: an instance filled on SQLite through its
//! APIs, copied into a fresh PostgreSQL database, then served from
//! PostgreSQL and Redis with the same keys, users, sessions and settings.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary::{create_user, keys, native};
use crate::cluster::{Shared, forget, psql_at};
use crate::support::{Server, http, latch, run};

const TOTP_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const USERS: usize = 6;

/// A fresh PostgreSQL database and Redis key prefix, dropped with it.
struct Target {
    shared: Shared,
    database: String,
}

impl Target {
    fn new() -> Self {
        let shared = Shared::machine();
        let database = format!("latch_copy_{}", std::process::id());
        let target = Self { shared, database };
        target.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            target.database
        ));
        target.admin(&format!("CREATE DATABASE {}", target.database));
        target
    }

    fn admin(&self, sql: &str) -> String {
        psql_at(self.shared.postgres_port, "postgres", sql)
    }

    fn sql(&self, sql: &str) -> String {
        psql_at(self.shared.postgres_port, &self.database, sql)
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.shared.postgres_port, self.database
        )
    }

    /// The settings that serve the instance from this database and Redis.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LATCH_STORAGE__DURABLE", "postgres".to_owned()),
            ("LATCH_STORAGE__POSTGRES_URL", self.url()),
            ("LATCH_STORAGE__FLOW_STORE", "redis".to_owned()),
            ("LATCH_STORAGE__REDIS_URL", self.shared.redis_url.clone()),
            (
                "LATCH_STORAGE__REDIS_KEY_PREFIX",
                format!("{}:", self.database),
            ),
        ]
    }

    /// Rows per table, for the tables of `tables`.
    fn counts(&self, tables: &[String]) -> BTreeMap<String, u64> {
        tables
            .iter()
            .map(|t| {
                let n = self.sql(&format!("SELECT COUNT(*) FROM {t}"));
                (t.clone(), n.parse().unwrap())
            })
            .collect()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        forget(
            self.shared.postgres_port,
            &self.database,
            &self.shared.redis_url,
            &format!("{}:", self.database),
        );
    }
}

/// `latch copy --to postgres ARGS` on the SQLite instance in `dir`.
fn copy(dir: &Path, target: &Target, args: &[&str]) -> Output {
    let url = target.url();
    let mut cmd = latch(dir);
    cmd.args(["copy", "--to", "postgres", "--postgres-url", &url])
        .args(args);
    run(&mut cmd)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The rows per table a dry run plans to copy (flow state left out).
fn planned(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains("not copied"))
        .map(|l| {
            let (table, rest) = l.trim().split_once(": ").unwrap();
            let rows = rest.trim_end_matches(" rows").parse().unwrap();
            (table.to_owned(), rows)
        })
        .collect()
}

/// A Backend API call; (status, JSON body).
fn bapi(addr: &str, bearer: &str, method: &str, path: &str, json: &str) -> (u16, Value) {
    let (status, _, body) = http(
        addr,
        method,
        path,
        &[
            ("authorization", bearer),
            ("content-type", "application/json"),
        ],
        json,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A one-call password sign-in on a new native client.
fn password_sign_in(addr: &str, email: &str, password: &str) -> (u16, Option<String>, Value) {
    let form = serde_urlencoded::to_string([
        ("strategy", "password"),
        ("identifier", email),
        ("password", password),
    ])
    .unwrap();
    native(addr, "/v1/client/sign_ins", "", &form)
}

fn user_password(i: usize) -> String {
    format!("the password of user {i}")
}

fn totp_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    latch_core::model::TotpSecret::parse_base32(TOTP_BASE32)
        .unwrap()
        .code_at_step(latch_core::model::step_at(latch_core::model::Timestamp(
            now,
        )))
}

/// What the SQLite instance held before the copy.
struct Before {
    bearer: String,
    /// A signed-in session: (client token, session id).
    session: (String, String),
    jwks: Value,
    webhook: (String, String),
}

/// Fills the SQLite instance in `dir` through its APIs, then stops it.
fn populate(dir: &Path) -> Before {
    let (_, sk) = keys(dir, &[]);
    let bearer = format!("Bearer {sk}");
    let mut server = Server::start(latch(dir));
    let addr = server.addr();
    for i in 0..USERS - 1 {
        let json = serde_json::json!({
            "email_address": [format!("user{i}@example.com")],
            "password": user_password(i),
            "first_name": format!("Ünïcode {i}"),
        });
        create_user(&addr, &bearer, &json.to_string());
    }
    create_user(
        &addr,
        &bearer,
        &format!(
            r#"{{"email_address":["totp@example.com"],"password":"the totp user's password","totp_secret":"{TOTP_BASE32}","backup_codes":["first-code-1","second-code-2"]}}"#
        ),
    );
    let (status, token, body) = password_sign_in(&addr, "user0@example.com", &user_password(0));
    assert_eq!(status, 200, "{body}");
    let session = (
        token.unwrap(),
        body["response"]["created_session_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // A second session on another client, for another user.
    let (status, _, body) = password_sign_in(&addr, "user1@example.com", &user_password(1));
    assert_eq!(status, 200, "{body}");
    let (status, body) = bapi(
        &addr,
        &bearer,
        "PATCH",
        "/v1/instance/user_management",
        r#"{"attack_protection":{"lockout_attempts":7}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = bapi(
        &addr,
        &bearer,
        "POST",
        "/v1/allowlist_identifiers",
        r#"{"identifier":"kept@example.com"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = bapi(
        &addr,
        &bearer,
        "POST",
        "/v1/webhooks/endpoints",
        r#"{"url":"http://127.0.0.1:9/hooks","event_types":["user.updated"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let webhook = (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    );
    let (status, _, jwks) = http(&addr, "GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(status, 200);
    assert!(server.terminate(Duration::from_secs(15)).success());
    Before {
        bearer,
        session,
        jwks: serde_json::from_str(&jwks).unwrap(),
        webhook,
    }
}

#[test]
fn a_sqlite_instance_copied_to_postgres_keeps_its_users_sessions_settings_and_keys() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let before = populate(dir.path());
    let target = Target::new();

    // A dry run prints the plan and writes nothing, not even the schema.
    let out = copy(dir.path(), &target, &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan_text = text(&out.stdout);
    let plan = planned(&plan_text);
    assert_eq!(plan["users"], USERS as u64, "{plan_text}");
    assert_eq!(plan["sessions"], 2, "{plan_text}");
    assert_eq!(plan["backup_codes"], 2, "{plan_text}");
    assert!(plan_text.contains("sign_ins: "), "{plan_text}");
    assert!(!plan.contains_key("sign_ins"), "flow state is not copied");
    assert_eq!(
        target.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"),
        "0",
        "a dry run writes nothing"
    );

    // The copy: every table's count and digest checked.
    let out = copy(dir.path(), &target, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for table in plan.keys() {
        let rows = plan[table];
        assert!(
            stdout.contains(&format!("\n{table}: {rows} rows, digest ok")),
            "{table}: {stdout}"
        );
    }
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    let tables: Vec<String> = plan.keys().cloned().collect();
    assert_eq!(target.counts(&tables), plan, "counts match the source");
    assert_eq!(
        target.sql("SELECT COUNT(*) FROM latch_copy WHERE finished_at IS NOT NULL"),
        "1"
    );

    // Into a target that now holds rows, a copy without --resume is refused
    // and changes nothing.
    let marker = target.sql("SELECT source, started_at, finished_at FROM latch_copy");
    let out = copy(dir.path(), &target, &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("already holds rows") && stderr.contains(" rows)"),
        "{stderr}"
    );
    assert_eq!(target.counts(&tables), plan);
    assert_eq!(
        target.sql("SELECT source, started_at, finished_at FROM latch_copy"),
        marker
    );

    // A copy stopped midway (rows of some tables missing) resumes and ends
    // identical.
    target.sql("DELETE FROM backup_codes; DELETE FROM sessions; DELETE FROM webhook_endpoints");
    let out = copy(dir.path(), &target, &["--resume"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("sessions: 2 rows copied (2 new, 0 already there)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "users: {USERS} rows copied (0 new, {USERS} already there)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("backup_codes: 2 rows, digest ok"),
        "{stdout}"
    );
    assert_eq!(target.counts(&tables), plan);

    // The check sees a row that differs, and fails.
    target.sql("UPDATE users SET first_name = 'changed' WHERE first_name = 'Ünïcode 2'");
    let out = copy(dir.path(), &target, &["--resume"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("users: MISMATCH"), "{stdout}");
    assert!(stdout.contains("sessions: 2 rows, digest ok"), "{stdout}");
    assert!(text(&out.stderr).contains("differs from the source in one table: users"));
    target.sql("UPDATE users SET first_name = 'Ünïcode 2' WHERE first_name = 'changed'");

    // A target holding rows of another instance is refused even with --resume.
    let other = tempfile::tempdir().unwrap();
    keys(other.path(), &[]);
    let out = copy(other.path(), &target, &["--resume"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no copy from this SQLite database wrote"),
        "{}",
        text(&out.stderr)
    );

    // The instance served from PostgreSQL and Redis, with no key configured:
    // every key came with the copy.
    let mut cmd = latch(dir.path());
    cmd.envs(target.env());
    let server = Server::start(cmd);
    let addr = server.addr();
    let bearer = &before.bearer;
    let (status, users) = bapi(&addr, bearer, "GET", "/v1/users?limit=100", "");
    assert_eq!(status, 200, "the old secret key is accepted: {users}");
    assert_eq!(users.as_array().unwrap().len(), USERS);
    let (_, _, jwks) = http(&addr, "GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(
        serde_json::from_str::<Value>(&jwks).unwrap(),
        before.jwks,
        "the same signing key"
    );

    // A session made before the copy still mints a token.
    let (token, sid) = &before.session;
    let (status, _, body) = http(
        &addr,
        "POST",
        &format!("/v1/client/sessions/{sid}/tokens?_is_native=1"),
        &[("authorization", token)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["jwt"].is_string());

    // A copied user signs in by password.
    let (status, _, body) = password_sign_in(&addr, "user3@example.com", &user_password(3));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");

    // The TOTP user signs in with a code from the sealed secret.
    let (status, token, body) =
        password_sign_in(&addr, "totp@example.com", "the totp user's password");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "needs_second_factor");
    let id = body["response"]["id"].as_str().unwrap();
    let (status, _, body) = native(
        &addr,
        &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
        &token.unwrap(),
        &format!("strategy=totp&code={}", totp_now()),
    );
    assert_eq!(status, 200, "the sealed secret opens: {body}");
    assert_eq!(body["response"]["status"], "complete");

    // The settings, the allowlist and the webhook endpoint came along.
    let (status, body) = bapi(&addr, bearer, "GET", "/v1/instance/user_management", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["settings"]["attack_protection"]["lockout_attempts"], 7,
        "{body}"
    );
    assert_eq!(body["version"], 2, "{body}");
    let (_, list) = bapi(&addr, bearer, "GET", "/v1/allowlist_identifiers", "");
    assert!(list.to_string().contains("kept@example.com"), "{list}");
    let (webhook, secret) = &before.webhook;
    let (status, body) = bapi(
        &addr,
        bearer,
        "GET",
        &format!("/v1/webhooks/endpoints/{webhook}/secret"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(&body["key"], secret, "the sealed signing secret opens");
    // New rows take numbers after the copied ones.
    let (status, body) = bapi(
        &addr,
        bearer,
        "POST",
        "/v1/users",
        r#"{"email_address":["after@example.com"],"password":"made after the copy"}"#,
    );
    assert_eq!(status, 200, "{body}");
    drop(server);
    eprintln!("copy e2e took {:?}", started.elapsed());
}

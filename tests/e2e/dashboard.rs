//! The dashboard as the binary serves it: the operator role from the
//! command line, the first-run token in the log, and `[dashboard]` moving
//! it to a listener of its own or turning it off.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::binary::keys;
use crate::support::{Server, http, latch, run};

const PASSWORD: &str = "correct horse battery";

/// Runs `latch` with `args` in `dir`; returns (success, stdout, stderr).
fn command(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = run(latch(dir).args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn create_user(dir: &Path, email: &str) {
    let (ok, _, err) = command(
        dir,
        &["user", "create", "--email", email, "--password", PASSWORD],
    );
    assert!(ok, "{err}");
}

#[test]
fn operators_are_granted_and_revoked_from_the_command_line_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "ann@example.com");
    create_user(dir.path(), "bob@example.com");

    let (ok, out, err) = command(dir.path(), &["admin", "grant", "ann@example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains("is now an operator"), "{out}");
    let (ok, out, _) = command(dir.path(), &["admin", "grant", "ann@example.com"]);
    assert!(ok);
    assert!(out.contains("was already an operator"), "{out}");
    let (ok, _, err) = command(dir.path(), &["admin", "grant", "nobody@example.com"]);
    assert!(!ok, "no such user");
    assert!(!err.is_empty());
    let (ok, _, err) = command(dir.path(), &["admin", "grant", "not an address"]);
    assert!(!ok, "a bad address is refused");
    assert!(!err.is_empty());

    let (ok, _, err) = command(dir.path(), &["admin", "revoke", "ann@example.com"]);
    assert!(!ok, "the last operator keeps the role");
    assert!(err.contains("last operator"), "{err}");
    let (ok, _, err) = command(dir.path(), &["admin", "grant", "bob@example.com"]);
    assert!(ok, "{err}");
    let (ok, out, err) = command(dir.path(), &["admin", "revoke", "ann@example.com"]);
    assert!(ok, "{err}");
    assert!(out.contains("no longer an operator"), "{out}");
    let (ok, _, err) = command(dir.path(), &["admin", "revoke", "ann@example.com"]);
    assert!(!ok);
    assert!(err.contains("not an operator"), "{err}");

    // Each change is in the audit log, made by Latch itself.
    let (_, sk) = keys(dir.path(), &[]);
    let server = Server::start(latch(dir.path()));
    let (status, _, body) = http(
        &server.addr(),
        "GET",
        "/v1/audit_log?action=operator.granted,operator.revoked",
        &[("authorization", &format!("Bearer {sk}"))],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let actions: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("operator.revoked", "system"),
            ("operator.granted", "system"),
            ("operator.granted", "system"),
        ]
    );
}

/// `latch serve` with `env`; returns the server, the dashboard's own URL
/// (if it has a listener of its own) and what it wrote to its log.
fn serve(
    dir: &Path,
    env: &[(&str, &str)],
) -> (Child, String, Option<String>, mpsc::Receiver<String>) {
    let mut child = latch(dir)
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log_tx, log) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut main = None;
    let mut own = None;
    let wants_own = env.iter().any(|(k, _)| *k == "LATCH_DASHBOARD__LISTEN");
    while main.is_none() || (wants_own && own.is_none()) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("latch prints its addresses");
        if let Some(url) = line.strip_prefix("latch listening on ") {
            main = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("latch dashboard listening on ") {
            own = Some(url.to_owned());
        }
    }
    (child, main.unwrap_or_default(), own, log)
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Lines of the log so far (waiting a moment for the first).
fn log_lines(log: &mpsc::Receiver<String>) -> String {
    let mut lines = Vec::new();
    if let Ok(first) = log.recv_timeout(Duration::from_secs(2)) {
        lines.push(first);
    }
    lines.extend(log.try_iter());
    lines.join("\n")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn the_dashboard_moves_to_a_listener_of_its_own_or_turns_off() {
    let dir = tempfile::tempdir().unwrap();
    let (child, main, own, log) = serve(dir.path(), &[("LATCH_DASHBOARD__LISTEN", "127.0.0.1:0")]);
    let own = own.expect("the dashboard's own listener");
    assert_ne!(own, main);
    let (status, head, body) = http(&host(&own), "GET", "/dashboard", &[], "");
    assert_eq!(status, 200, "{head}");
    assert!(body.contains("setup token"), "the first-run page: {body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'")
    );
    let (status, _, _) = http(&host(&own), "GET", "/v1/environment", &[], "");
    assert_eq!(
        status, 404,
        "the dashboard's listener serves the dashboard only"
    );
    let (status, _, _) = http(&host(&main), "GET", "/dashboard", &[], "");
    assert_eq!(status, 404, "and the main one no longer serves it");
    let (status, _, _) = http(&host(&main), "GET", "/v1/environment", &[], "");
    assert_eq!(status, 200);
    let logged = log_lines(&log);
    assert!(
        logged.contains("setup_token="),
        "the first-run token is logged: {logged}"
    );
    stop(child);

    // Once an operator exists, no token is printed.
    create_user(dir.path(), "ann@example.com");
    let (ok, _, err) = command(dir.path(), &["admin", "grant", "ann@example.com"]);
    assert!(ok, "{err}");
    let (child, main, _, log) = serve(dir.path(), &[]);
    let (status, _, _) = http(&host(&main), "GET", "/dashboard/sign-in", &[], "");
    assert_eq!(status, 200, "beside the API by default");
    let (status, head, _) = http(&host(&main), "GET", "/dashboard", &[], "");
    assert_eq!(status, 303, "an operator exists: sign in first ({head})");
    assert!(!log_lines(&log).contains("setup_token="));
    stop(child);

    let (child, main, _, _) = serve(dir.path(), &[("LATCH_DASHBOARD__ENABLED", "false")]);
    let (status, _, _) = http(&host(&main), "GET", "/dashboard/sign-in", &[], "");
    assert_eq!(status, 404, "turned off");
    stop(child);
}

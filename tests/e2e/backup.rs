//! `latch backup` while the server writes, and `latch restore` into a
//! stopped instance: every change acknowledged before the backup is in it,
//! and the restored instance serves the same users, sessions and keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::binary::{create_user, keys, native};
use crate::support::{Server, http, latch, run};

fn latch_cmd(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = run(latch(dir).args(args));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_stopped_instance() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let bearer = format!("Bearer {sk}");
    let mut server = Server::start(latch(dir.path()));
    let addr = server.addr();
    create_user(
        &addr,
        &bearer,
        r#"{"email_address":["kept@example.com"],"password":"a kept password"}"#,
    );
    let form = "strategy=password&identifier=kept%40example.com&password=a+kept+password";
    let (status, token, body) = native(&addr, "/v1/client/sign_ins", "", form);
    assert_eq!(status, 200, "{body}");
    let (token, session) = (
        token.unwrap(),
        body["response"]["created_session_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // Users keep being created while the backup runs.
    let writing = Arc::new(AtomicBool::new(true));
    let made = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (addr, bearer) = (addr.clone(), bearer.clone());
        let (writing, made) = (writing.clone(), made.clone());
        std::thread::spawn(move || {
            while writing.load(Ordering::SeqCst) {
                let n = made.load(Ordering::SeqCst);
                let json = format!(r#"{{"email_address":["busy{n}@example.com"]}}"#);
                create_user(&addr, &bearer, &json);
                made.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // Acknowledged before the backup starts: in it.
    let acknowledged = made.load(Ordering::SeqCst);
    let saved = tempfile::tempdir().unwrap();
    let file = saved.path().join("latch-backup.db");
    let file_arg = file.to_str().unwrap();
    let (ok, said) = latch_cmd(dir.path(), &["backup", file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("checked: schema version"), "{said}");
    writing.store(false, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(
        made.load(Ordering::SeqCst) > acknowledged && acknowledged > 0,
        "the server was written to before and while the backup ran"
    );
    let (ok, said) = latch_cmd(dir.path(), &["backup", file_arg]);
    assert!(!ok && said.contains("never overwrites"), "{said}");

    // Not under a running server.
    let (ok, said) = latch_cmd(dir.path(), &["restore", file_arg]);
    assert!(!ok && said.contains("running Latch"), "{said}");
    assert!(server.terminate(Duration::from_secs(15)).success());

    // A file that is not a Latch database is refused.
    let junk = saved.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let (ok, said) = latch_cmd(fresh.path(), &["restore", junk.to_str().unwrap()]);
    assert!(
        !ok && said.contains("not a readable SQLite database"),
        "{said}"
    );

    let (ok, said) = latch_cmd(fresh.path(), &["restore", file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("restored"), "{said}");
    let restored = Server::start(latch(fresh.path()));
    let addr = restored.addr();
    // The same secret key, signing key and session.
    let (status, _, body) = http(
        &addr,
        "GET",
        "/v1/users?email_address=kept@example.com",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let users: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(1));
    let (status, _, body) = http(
        &addr,
        "POST",
        &format!("/v1/client/sessions/{session}/tokens?_is_native=1"),
        &[("authorization", &token)],
        "",
    );
    assert_eq!(status, 200, "the session from before the backup: {body}");
    let (status, _, body) = http(
        &addr,
        "GET",
        "/v1/users/count",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let count = serde_json::from_str::<Value>(&body).unwrap()["total_count"]
        .as_u64()
        .unwrap();
    assert!(
        count as usize > acknowledged,
        "{count} users restored, {acknowledged} acknowledged before the backup (and the first)"
    );
    let (status, _, body) = native(&addr, "/v1/client/sign_ins", "", form);
    assert_eq!(
        (status, &body["response"]["status"]),
        (200, &Value::from("complete"))
    );
}

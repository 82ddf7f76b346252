//! `latch import clerk FILE` on 10,000 users of Clerk's dashboard export:
//! a dry run writes nothing, the import keeps every valid user under its
//! Clerk id with the password digest of its hasher and its authenticator
//! app, reports every refused row, and a second run changes nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary::{keys, native};
use crate::support::{Server, http, latch};

const USERS: usize = 10_000;
const PASSWORD: &str = "correct horse battery";
const TOTP_BASE32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const HEADER: &str = "id,first_name,last_name,username,primary_email_address,primary_phone_number,\
verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,\
totp_secret,password_digest,password_hasher";

fn clerk_id(i: usize) -> String {
    format!("user_2Imp{i:06}QxZ7mVbKd3LpRt9W")
}

fn email(i: usize) -> String {
    format!("person{i}@example.com")
}

/// The digests of [`PASSWORD`] the rows take, by hasher.
fn digest(hasher: &str) -> String {
    if hasher == "argon2id" {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        return argon2::Argon2::default()
            .hash_password(
                PASSWORD.as_bytes(),
                &SaltString::encode_b64(b"import-test-salt").unwrap(),
            )
            .unwrap()
            .to_string();
    }
    latch_testkit::fixtures::IMPORTED_DIGESTS
        .iter()
        .find(|(h, _)| *h == hasher)
        .map(|(_, d)| (*d).to_owned())
        .unwrap()
}

/// Which rows are refused, and why; every other row is imported.
fn refused(i: usize) -> Option<&'static str> {
    match (i % 500, i % 1000) {
        (499, 499) => Some("invalid email_address"),
        (499, _) if i % 2000 == 999 => Some("invalid password_hasher"),
        (499, _) => Some("invalid password_digest"),
        (_, 998) => Some("email address belongs to another user"),
        (_, 0) if i % 2000 == 1000 => Some("malformed row"),
        _ => None,
    }
}

/// Clerk's dashboard export of [`USERS`] users: a mix of hashers, users
/// without a password, authenticator apps, unverified addresses, phone
/// numbers, an address given twice, and malformed rows.
fn export() -> String {
    let digests: Vec<(&str, String)> = [
        "bcrypt",
        "argon2id",
        "pbkdf2_sha256_django",
        "scrypt_firebase",
    ]
    .into_iter()
    .map(|h| (h, digest(h)))
    .collect();
    let mut csv = format!("{HEADER}\n");
    for i in 0..USERS {
        let id = clerk_id(i);
        let mut primary = email(i);
        let (mut hasher, mut digest) = match i % 10 {
            0 | 1 | 6 | 7 => digests[0].clone(),
            2 => digests[1].clone(),
            3 => digests[2].clone(),
            4 => digests[3].clone(),
            _ => ("", String::new()),
        };
        let totp = if i % 10 == 6 { TOTP_BASE32 } else { "" };
        let (unverified, phone) = if i % 10 == 7 {
            (format!("old{i}@example.com"), format!("+1415{i:07}"))
        } else {
            (String::new(), String::new())
        };
        let username = if i % 10 >= 8 {
            format!("member_{i}")
        } else {
            String::new()
        };
        match refused(i) {
            Some("invalid email_address") => primary = format!("person{i}.example.com"),
            Some("invalid password_hasher") => (hasher, digest) = ("md5", digests[0].1.clone()),
            Some("invalid password_digest") => {
                (hasher, digest) = ("bcrypt", "$2b$04$not-a-digest".into())
            }
            Some("email address belongs to another user") => primary = email(i - 1),
            Some("malformed row") => {
                csv.push_str(&format!("{id},Row,Short\n"));
                continue;
            }
            _ => {}
        }
        // Names with a comma and a quote, quoted as Clerk writes them.
        csv.push_str(&format!(
            "{id},\"Ann, {i}\",\"O\"\"Neil\",{username},{primary},{phone},{primary},{unverified},{phone},,{totp},\"{digest}\",{hasher}\n"
        ));
    }
    csv
}

/// Runs `latch import clerk` (and `args`) on `file` in `dir`; its output
/// and how long it took.
fn import(dir: &Path, file: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let child = latch(dir)
        .args(["import", "clerk"])
        .args(args)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait(child, Duration::from_secs(300));
    (output, started.elapsed())
}

fn wait(child: std::process::Child, within: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(within)
        .unwrap_or_else(|_| {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("latch import did not finish within {within:?}");
        })
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The summary a run of the export must end with, `imported` users
/// imported and the rest refused as [`refused`] says.
fn summary(verbs: (&str, &str), imported: usize, already: usize) -> Vec<String> {
    let mut reasons = std::collections::BTreeMap::new();
    for reason in (0..USERS).filter_map(refused) {
        *reasons.entry(reason.to_owned()).or_insert(0) += 1;
    }
    if already > 0 {
        reasons.insert("already imported".into(), already);
    }
    let skipped: usize = reasons.values().sum();
    let mut lines = vec![format!("{} {imported}, {} {skipped}", verbs.0, verbs.1)];
    lines.extend(
        reasons
            .iter()
            .map(|(reason, n)| format!("  {} {n}: {reason}", verbs.1)),
    );
    lines
}

/// The summary lines of `out`, the time taken left out.
fn summary_of(out: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("import") && l.contains(", ") && l.ends_with(" s)"))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let first = lines[start];
    let first = first[..first.rfind(" (").unwrap()].to_owned();
    let first = first
        .trim_start_matches("dry run, nothing written: ")
        .to_owned();
    std::iter::once(first)
        .chain(lines[start + 1..].iter().map(|l| (*l).to_owned()))
        .collect()
}

fn get(addr: &str, bearer: &str, path: &str) -> Value {
    let (status, _, body) = http(addr, "GET", path, &[("authorization", bearer)], "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Signs user `i` in by password (and TOTP code when asked for one);
/// returns the user id of the session.
fn sign_in(addr: &str, i: usize) -> String {
    let form = format!(
        "strategy=password&identifier={}&password={}",
        email(i).replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let (status, token, body) = native(addr, "/v1/client/sign_ins", "", &form);
    assert_eq!(status, 200, "user {i}: {body}");
    let body = if body["response"]["status"] == "needs_second_factor" {
        let id = body["response"]["id"].as_str().unwrap();
        let code = crate::support::totp_code_now(TOTP_BASE32);
        let (status, _, body) = native(
            addr,
            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
            &token.unwrap(),
            &format!("strategy=totp&code={code}"),
        );
        assert_eq!(status, 200, "user {i}, TOTP: {body}");
        body
    } else {
        body
    };
    assert_eq!(body["response"]["status"], "complete", "user {i}: {body}");
    body["client"]["sessions"][0]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_clerk_export_of_ten_thousand_users_imports_once_and_signs_them_in() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let bearer = format!("Bearer {sk}");
    let file = dir.path().join("clerk-users.csv");
    std::fs::write(&file, export()).unwrap();
    let imported = (0..USERS).filter(|i| refused(*i).is_none()).count();
    assert_eq!(imported, USERS - 35);

    let (out, dry_took) = import(dir.path(), &file, &["--dry-run"]);
    let text = stdout(&out);
    assert!(text.contains("dry run, nothing written"), "{text}");
    assert_eq!(
        summary_of(&text),
        summary(("would import", "would skip"), imported, 0)
    );
    // Each refused row is named with its number (the header is row 1).
    assert!(
        text.contains(&format!(
            "row {} ({}): would skip: email address belongs to another user",
            998 + 2,
            clerk_id(998)
        )),
        "{text}"
    );
    assert!(text.contains("progress: 10000/10000 rows"), "{text}");

    let (out, took) = import(dir.path(), &file, &[]);
    let text = stdout(&out);
    assert_eq!(
        summary_of(&text),
        summary(("imported", "skipped"), imported, 0),
        "the dry run wrote nothing"
    );
    assert!(
        text.contains(&format!(
            "row {} ({}): skipped: invalid password_hasher",
            999 + 2,
            clerk_id(999)
        )),
        "{text}"
    );
    eprintln!("10,000 rows: dry run {dry_took:?}, import {took:?}");

    let server = Server::start(latch(dir.path()));
    let addr = server.addr();
    let count = get(&addr, &bearer, "/v1/users/count");
    assert_eq!(count["total_count"], imported);
    // One user of each hasher by password, and one with an authenticator app.
    for (i, kind) in [
        (10, "bcrypt"),
        (12, "argon2id"),
        (13, "pbkdf2_sha256_django"),
        (14, "scrypt_firebase"),
        (16, "bcrypt and TOTP"),
    ] {
        assert_eq!(sign_in(&addr, i), clerk_id(i), "{kind}");
    }
    let seventeen = get(&addr, &bearer, &format!("/v1/users/{}", clerk_id(17)));
    // An address nobody proved shows no verification.
    let statuses: Vec<(&str, bool)> = seventeen["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["email_address"].as_str().unwrap(),
                e["verification"]["status"] == "verified",
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("person17@example.com", true), ("old17@example.com", false)]
    );
    assert_eq!(seventeen["first_name"], "Ann, 17");
    assert_eq!(seventeen["last_name"], "O\"Neil");
    assert_eq!(
        seventeen["phone_numbers"][0]["phone_number"],
        "+14150000017"
    );
    assert_eq!(
        seventeen["primary_email_address_id"],
        seventeen["email_addresses"][0]["id"]
    );
    let user_before = get(&addr, &bearer, &format!("/v1/users/{}", clerk_id(21)));

    // A second run: every user is there already, nothing changes.
    let (out, _) = import(dir.path(), &file, &[]);
    let text = stdout(&out);
    assert_eq!(
        summary_of(&text),
        summary(("imported", "skipped"), 0, imported)
    );
    // Rows imported before are counted, not listed one by one.
    assert!(!text.contains(": skipped: already imported"), "{text}");
    assert_eq!(get(&addr, &bearer, "/v1/users/count"), count);
    assert_eq!(
        get(&addr, &bearer, &format!("/v1/users/{}", clerk_id(21))),
        user_before
    );
}

#[test]
fn an_unreadable_export_fails_and_a_json_one_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sk) = keys(dir.path(), &[]);
    let missing = dir.path().join("missing.csv");
    let (out, _) = import(dir.path(), &missing, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"id\": ").unwrap();
    let (out, _) = import(dir.path(), &broken, &[]);
    assert!(!out.status.success());

    // As the Backend API lists users: no digests, but everything else.
    let file = dir.path().join("users.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"id":"{}","object":"user","first_name":"Jo","email_addresses":[
                {{"id":"idn_1","object":"email_address","email_address":"jo@example.com",
                  "verification":{{"status":"verified","strategy":"email_code"}},"linked_to":[]}},
                {{"id":"idn_2","object":"email_address","email_address":"jo@old.example.com",
                  "verification":{{"status":"unverified","strategy":"email_code"}},"linked_to":[]}}],
              "primary_email_address_id":"idn_1","phone_numbers":[],"username":"jo_jo",
              "public_metadata":{{"plan":"pro"}},"private_metadata":{{"crm":42}},"unsafe_metadata":{{}},
              "banned":true,"legal_accepted_at":1690000000000,"created_at":1680000000000,
              "external_id":"ext-9","password_enabled":true}},
             {{"object":"user"}}]"#,
            clerk_id(1)
        ),
    )
    .unwrap();
    let (out, _) = import(dir.path(), &file, &[]);
    let text = stdout(&out);
    assert!(text.contains("imported 1, skipped 1"), "{text}");
    assert!(text.contains("row 2: skipped: malformed row"), "{text}");
    let server = Server::start(latch(dir.path()));
    let user = get(
        &server.addr(),
        &format!("Bearer {sk}"),
        &format!("/v1/users/{}", clerk_id(1)),
    );
    assert_eq!(user["username"], "jo_jo");
    assert_eq!(user["public_metadata"]["plan"], "pro");
    assert_eq!(user["private_metadata"]["crm"], 42);
    assert_eq!(user["external_id"], "ext-9");
    assert_eq!(user["banned"], true);
    assert_eq!(user["created_at"], 1_680_000_000_000_i64);
    assert_eq!(user["legal_accepted_at"], 1_690_000_000_000_i64);
    assert_eq!(
        user["email_addresses"][0]["verification"]["status"],
        "verified"
    );
    assert_eq!(user["email_addresses"][1]["verification"], Value::Null);
}

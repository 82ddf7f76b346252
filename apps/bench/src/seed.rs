//! Users written straight into latch's store, row by row as latch writes a
//! user created with one verified email address and a password: no request
//! and no hash per user. Every user shares one password and so one argon2id
//! digest (hashed once, with latch's settings), so each sign-in still
//! verifies a full hash.
//!
//! Ids have latch's shape (a prefix, `_`, 27 base62 characters): the first
//! six characters are the user's index in base62, so ids sort in index order
//! and rows go in primary-key order; the other 21 are mixed from the index.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use latch_core::model::Password;
use latch_core::password::Argon2Settings;
use latch_core::ports::PasswordHasher;
use latch_os::{Argon2Hasher, OsRandom};

use crate::scenarios::PasswordUser;

/// The password of every seeded user.
pub const PASSWORD: &str = "bench scale password";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Base62 characters after the prefix, as latch's ids have.
const ID_CHARS: usize = 27;
/// Leading characters holding the index (62^6 is about 5.7 * 10^10).
const INDEX_CHARS: usize = 6;
/// Users per transaction on SQLite.
const BATCH: u64 = 100_000;

/// An id with `prefix` for the user at `index`.
fn id(prefix: &str, index: u64) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + ID_CHARS);
    out.push_str(prefix);
    out.push('_');
    let mut digits = [0u8; INDEX_CHARS];
    let mut rest = index;
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(rest % 62) as usize];
        rest /= 62;
    }
    out.extend(digits.iter().map(|&b| b as char));
    // splitmix64 over the index: the tail looks random, and differs by prefix
    // only through the prefix itself.
    let mut state = index ^ 0x5eed_1a7c_4b3e_0000;
    let mut word = 0u64;
    for n in 0..ID_CHARS - INDEX_CHARS {
        if n.is_multiple_of(10) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word = z ^ (z >> 31);
        }
        out.push(ALPHABET[(word % 62) as usize] as char);
        word /= 62;
    }
    out
}

/// The id of the user at `index` (`user_...`).
pub fn user_id(index: u64) -> String {
    id("user", index)
}

/// The id of the email address of the user at `index` (`idn_...`).
pub fn email_id(index: u64) -> String {
    id("idn", index)
}

/// The email address of the user at `index`, already normalised (lower
/// case), zero-padded so addresses sort in index order.
pub fn email(index: u64) -> String {
    format!("scale{index:09}@example.com")
}

/// `k` indexes spread evenly over `0..n` (the middle of `k` equal slices),
/// so lookups reach across the whole index rather than one corner.
pub fn spread(n: u64, k: usize) -> Vec<u64> {
    let k = (k as u64).min(n);
    (0..k).map(|j| ((2 * j + 1) * n) / (2 * k)).collect()
}

/// The seeded users at `indexes`, as the sign-in flows take them.
pub fn users_at(indexes: &[u64]) -> Vec<PasswordUser> {
    indexes
        .iter()
        .map(|&i| PasswordUser {
            email: email(i),
            password: PASSWORD.to_owned(),
        })
        .collect()
}

/// The argon2id digest (PHC string) of [`PASSWORD`] with latch's default
/// settings: the one hash seeding costs.
pub async fn digest() -> Result<String> {
    let hasher = Argon2Hasher::new(Argon2Settings::default(), 1, Arc::new(OsRandom))?;
    Ok(hasher.hash(&Password::parse(PASSWORD, 8)?).await?)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Creation times: one millisecond apart, the last one now.
fn created_at(first: i64, index: u64) -> i64 {
    first + i64::try_from(index).unwrap_or(i64::MAX)
}

/// Writes `n` users into the SQLite database at `path` (made by `latch
/// keys`, latch not running): no journal and no syncs during the load,
/// 100,000 users per transaction in primary-key order, then back to WAL.
pub fn sqlite(path: &Path, n: u64, digest: &str) -> Result<()> {
    let mut conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0))?;
    if mode != "off" {
        bail!("journal_mode is {mode}, not off");
    }
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;
    let first = now_ms() - i64::try_from(n).unwrap_or(0);
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let tx = conn.transaction()?;
        {
            let mut user = tx.prepare(
                "INSERT INTO users (id, username, password_digest, first_name, last_name, external_id, \
                 primary_email_address_id, primary_phone_number_id, public_metadata, private_metadata, \
                 unsafe_metadata, banned, last_sign_in_at, created_at, updated_at, totp_secret, \
                 totp_pending_secret, password_updated_at, mfa_enabled_at, mfa_disabled_at, locked_until, \
                 totp_last_step, failed_attempts, attempts_in_flight, attempt_window_ends_at, \
                 legal_accepted_at) \
                 VALUES (?1, NULL, ?2, NULL, NULL, NULL, ?3, NULL, '{}', '{}', '{}', 0, NULL, ?4, ?4, \
                 NULL, NULL, ?4, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL)",
            )?;
            let mut address = tx.prepare(
                "INSERT INTO email_addresses (id, user_id, value, verified, reserved_for_second_factor, \
                 position, created_at, updated_at, verification) \
                 VALUES (?1, ?2, ?3, 1, 0, 0, ?4, ?4, NULL)",
            )?;
            for i in start..end {
                let (uid, eid, at) = (user_id(i), email_id(i), created_at(first, i));
                user.execute(rusqlite::params![uid, digest, eid, at])?;
                address.execute(rusqlite::params![eid, uid, email(i), at])?;
            }
        }
        tx.commit()?;
        start = end;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if mode != "wal" {
        bail!("journal_mode is {mode}, not wal");
    }
    Ok(())
}

/// Writes `n` users into the PostgreSQL database at `url` (migrated by
/// `latch keys`): one `psql` session, two `COPY ... FROM STDIN` in one
/// transaction, rows in primary-key order.
pub fn postgres(url: &str, n: u64, digest: &str) -> Result<()> {
    let mut child = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-X", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting psql")?;
    let stdin = child.stdin.take().context("psql stdin")?;
    let digest = digest.to_owned();
    let writer = std::thread::spawn(move || -> Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdin);
        let first = now_ms() - i64::try_from(n).unwrap_or(0);
        writeln!(w, "SET synchronous_commit = off;\nBEGIN;")?;
        writeln!(
            w,
            "COPY users (id, password_digest, primary_email_address_id, public_metadata, \
             private_metadata, unsafe_metadata, banned, created_at, updated_at, password_updated_at, \
             failed_attempts, attempts_in_flight) FROM STDIN;"
        )?;
        for i in 0..n {
            let at = created_at(first, i);
            writeln!(
                w,
                "{}\t{digest}\t{}\t{{}}\t{{}}\t{{}}\tf\t{at}\t{at}\t{at}\t0\t0",
                user_id(i),
                email_id(i)
            )?;
        }
        writeln!(w, "\\.")?;
        writeln!(
            w,
            "COPY email_addresses (id, user_id, value, verified, reserved_for_second_factor, position, \
             created_at, updated_at) FROM STDIN;"
        )?;
        for i in 0..n {
            let at = created_at(first, i);
            writeln!(
                w,
                "{}\t{}\t{}\tt\tf\t0\t{at}\t{at}",
                email_id(i),
                user_id(i),
                email(i)
            )?;
        }
        writeln!(w, "\\.\nCOMMIT;\nANALYZE users;\nANALYZE email_addresses;")?;
        w.flush()?;
        Ok(())
    });
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the COPY writer panicked"))?;
    let status = child.wait()?;
    written?;
    if !status.success() {
        bail!("psql (seeding) failed: {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base62(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn ids_have_latchs_shape() {
        for i in [0, 1, 61, 62, 9_999_999, 62u64.pow(6) - 1] {
            let u = user_id(i);
            let rest = u.strip_prefix("user_").unwrap();
            assert_eq!(rest.len(), 27, "{u}");
            assert!(base62(rest), "{u}");
            let e = email_id(i);
            let rest = e.strip_prefix("idn_").unwrap();
            assert_eq!(rest.len(), 27, "{e}");
            assert!(base62(rest), "{e}");
        }
        assert_eq!(&user_id(0)["user_".len()..][..6], "000000");
        assert_eq!(&user_id(63)["user_".len()..][..6], "000011");
    }

    #[test]
    fn ids_and_emails_sort_in_index_order_and_differ() {
        let indexes = [0u64, 1, 9, 10, 61, 62, 1000, 999_999, 1_000_000, 9_999_999];
        for pair in indexes.windows(2) {
            assert!(user_id(pair[0]) < user_id(pair[1]));
            assert!(email_id(pair[0]) < email_id(pair[1]));
            assert!(email(pair[0]) < email(pair[1]));
        }
        let ids: std::collections::HashSet<_> = (0..10_000).map(user_id).collect();
        assert_eq!(ids.len(), 10_000);
        // The tails are not all alike.
        let tails: std::collections::HashSet<_> =
            (0..1000).map(|i| user_id(i)[11..].to_owned()).collect();
        assert_eq!(tails.len(), 1000);
    }

    #[test]
    fn emails_are_normalised() {
        let e = email(42);
        assert_eq!(e, "scale000000042@example.com");
        assert_eq!(e, e.trim().to_lowercase());
    }

    #[test]
    fn spread_reaches_across_the_range() {
        let n = 10_000_000;
        let s = spread(n, 32);
        assert_eq!(s.len(), 32);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(s[0] < n / 32 && s[31] >= n - n / 32 && s[31] < n);
        let gaps: Vec<u64> = s.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g.abs_diff(n / 32) <= 1));
        // Fewer users than asked for: each one once.
        assert_eq!(spread(3, 32), vec![0, 1, 2]);
        assert_eq!(spread(1000, 64).len(), 64);
        assert!(spread(0, 8).is_empty());
    }
}

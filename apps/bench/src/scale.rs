//! The `scale` rows: password sign-in and signed-in `GET /v1/client` with
//! many users in the store (SQLite; PostgreSQL with Redis), each beside the
//! same rows with 1,000 users on the same storage. Users are written
//! straight into the store (see `seed`), not through the API.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use crate::load::Window;
use crate::report::{Report, Summary};
use crate::scenarios::{GetClient, PasswordSignIn, PasswordUser, SignedIn};
use crate::server::{Latch, Setup};
use crate::{GET_CONCURRENCY, Options, http, load, log_outcome, progress, scenarios, seed};

/// Users in the store for the rows each large row is compared with.
pub const BASELINE_USERS: u64 = 1000;
pub const SIGN_IN_CONCURRENCY: usize = 32;
/// Users the rows use, spread over the whole id range: the sign-ins take
/// them round-robin, and each signs in one client for `GET /v1/client`.
const CHOSEN_USERS: usize = GET_CONCURRENCY;
/// A row at scale passes when its throughput is at least this share of the
/// 1,000-user row's.
const WITHIN: f64 = 0.9;
/// PostgreSQL (trust authentication on loopback) and Redis.
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const REDIS_HOST: &str = "127.0.0.1";
const REDIS_PORT: &str = "6379";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Sqlite,
    Postgres,
}

impl Storage {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL + Redis",
        }
    }
}

/// Both rows on one store holding `users` users.
pub struct Measured {
    pub storage: Storage,
    pub users: u64,
    /// Seconds spent writing the users into the store.
    pub seed_secs: f64,
    pub sign_in: Summary,
    /// latch's VmRSS after the sign-in row, in KiB.
    pub sign_in_rss_kib: u64,
    pub get: Summary,
    /// latch's VmRSS after the `GET /v1/client` row, in KiB.
    pub get_rss_kib: u64,
    /// The database's size after both rows: SQLite's files, or
    /// `pg_database_size`.
    pub database_bytes: u64,
}

/// For each storage with a user count above zero: the rows with
/// [`BASELINE_USERS`], then with the count asked for.
pub async fn rows(opts: &Options, report: &mut Report) -> Result<()> {
    let t = Instant::now();
    let digest = seed::digest().await?;
    progress(&format!(
        "scale: one argon2id digest for every seeded user in {:.2} s",
        t.elapsed().as_secs_f64()
    ));
    for (storage, n) in [
        (Storage::Sqlite, opts.scale_sqlite_users),
        (Storage::Postgres, opts.scale_postgres_users),
    ] {
        if n == 0 {
            continue;
        }
        for users in [BASELINE_USERS.min(n), n] {
            let m = match storage {
                Storage::Sqlite => on_sqlite(opts, users, &digest).await?,
                Storage::Postgres => on_postgres(opts, users, &digest).await?,
            };
            report.scale.push(m);
        }
    }
    Ok(())
}

fn timed_progress(what: &str, secs: f64) {
    progress(&format!("scale: {what} in {secs:.1} s"));
}

async fn on_sqlite(opts: &Options, users: u64, digest: &str) -> Result<Measured> {
    let setup = Setup::new(&opts.latch)?;
    setup.keys().await?;
    let path = setup.database_path();
    progress(&format!(
        "scale: writing {users} users into {}",
        path.display()
    ));
    let t = Instant::now();
    let digest_owned = digest.to_owned();
    tokio::task::spawn_blocking(move || seed::sqlite(&path, users, &digest_owned)).await??;
    let seed_secs = t.elapsed().as_secs_f64();
    timed_progress(&format!("{users} users written (SQLite)"), seed_secs);
    let latch = setup.serve().await?;
    let (sign_in, get) = measure(opts, &latch, Storage::Sqlite, users).await;
    let database_bytes = latch.database_bytes();
    let stopped = latch.stop().await;
    let ((sign_in, sign_in_rss_kib), (get, get_rss_kib)) = (sign_in?, get?);
    stopped?;
    Ok(Measured {
        storage: Storage::Sqlite,
        users,
        seed_secs,
        sign_in,
        sign_in_rss_kib,
        get,
        get_rss_kib,
        database_bytes,
    })
}

/// A fresh database and Redis key prefix, both removed afterwards whatever
/// happened.
async fn on_postgres(opts: &Options, users: u64, digest: &str) -> Result<Measured> {
    let name = format!("latch_scale_{}_{users}", std::process::id());
    let prefix = format!("latch-bench-scale-{}-{users}:", std::process::id());
    psql(
        &format!("{POSTGRES}/postgres"),
        &format!("CREATE DATABASE {name}"),
    )
    .await?;
    let result = on_postgres_database(opts, users, digest, &name, &prefix).await;
    let dropped = psql(
        &format!("{POSTGRES}/postgres"),
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    let unlinked = unlink_redis_keys(&prefix).await;
    let m = result?;
    dropped?;
    unlinked?;
    Ok(m)
}

async fn on_postgres_database(
    opts: &Options,
    users: u64,
    digest: &str,
    name: &str,
    prefix: &str,
) -> Result<Measured> {
    let url = format!("{POSTGRES}/{name}");
    let setup = Setup::new(&opts.latch)?
        .env("LATCH_STORAGE__DURABLE", "postgres")
        .env("LATCH_STORAGE__POSTGRES_URL", &url)
        .env("LATCH_STORAGE__FLOW_STORE", "redis")
        .env(
            "LATCH_STORAGE__REDIS_URL",
            &format!("redis://{REDIS_HOST}:{REDIS_PORT}"),
        )
        .env("LATCH_STORAGE__REDIS_KEY_PREFIX", prefix);
    setup.keys().await?;
    progress(&format!(
        "scale: writing {users} users into PostgreSQL {name}"
    ));
    let t = Instant::now();
    let (url_owned, digest_owned) = (url.clone(), digest.to_owned());
    tokio::task::spawn_blocking(move || seed::postgres(&url_owned, users, &digest_owned)).await??;
    let seed_secs = t.elapsed().as_secs_f64();
    timed_progress(&format!("{users} users written (PostgreSQL)"), seed_secs);
    let latch = setup.serve().await?;
    let (sign_in, get) = measure(opts, &latch, Storage::Postgres, users).await;
    let size = psql(&url, "SELECT pg_database_size(current_database())").await;
    let stopped = latch.stop().await;
    let ((sign_in, sign_in_rss_kib), (get, get_rss_kib)) = (sign_in?, get?);
    stopped?;
    Ok(Measured {
        storage: Storage::Postgres,
        users,
        seed_secs,
        sign_in,
        sign_in_rss_kib,
        get,
        get_rss_kib,
        database_bytes: size?.parse().context("pg_database_size")?,
    })
}

type Row = Result<(Summary, u64)>;

/// One seeded user checked in full, clients signed in, then both rows (each
/// with latch's VmRSS after it).
async fn measure(opts: &Options, latch: &Latch, storage: Storage, users: u64) -> (Row, Row) {
    let chosen = seed::users_at(&seed::spread(users, CHOSEN_USERS));
    let clients = match prepare(latch, &chosen).await {
        Ok(c) => c,
        Err(e) => {
            let e = e.context(format!("{} users on {}", users, storage.name()));
            return (Err(e), Err(anyhow::anyhow!("not measured")));
        }
    };
    let label = format!("{users} users, {}", storage.name());
    let window = opts.window();
    let sign_in = row(
        opts,
        latch,
        &format!("password sign-in c={SIGN_IN_CONCURRENCY}, {label}"),
        window,
        || PasswordSignIn::vus(latch.addr, &chosen, SIGN_IN_CONCURRENCY),
    )
    .await;
    let get = row(
        opts,
        latch,
        &format!("GET /v1/client c={GET_CONCURRENCY}, {label}"),
        window,
        || GetClient::vus(latch.addr, &clients),
    )
    .await;
    (sign_in, get)
}

async fn row<V, F, Fut>(opts: &Options, latch: &Latch, name: &str, window: Window, vus: F) -> Row
where
    V: load::Vu,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Vec<V>>>,
{
    let mut outs = Vec::new();
    for run in 1..=opts.runs {
        let o = load::run(vus().await?, window, latch.pid).await?;
        log_outcome(name, run, opts.runs, &o);
        outs.push(o);
    }
    let (rss, _) = latch.memory_kib()?;
    progress(&format!(
        "scale: latch VmRSS {:.1} MiB after {name}",
        rss as f64 / 1024.0
    ));
    Ok((Summary::of(&outs), rss))
}

/// The first chosen user's password sign-in checked in full (it completes,
/// `GET /v1/client` shows its session, a token is minted), then one client
/// per chosen user signed in by password.
async fn prepare(latch: &Latch, chosen: &[PasswordUser]) -> Result<Vec<SignedIn>> {
    let first = chosen.first().context("no users")?;
    let mut conn = http::Conn::open(latch.addr).await?;
    let signed_in = scenarios::password_sign_in(&mut conn, first)
        .await
        .with_context(|| format!("signing {} in", first.email))?;
    scenarios::check_signed_in(&mut conn, &signed_in).await?;
    let chosen = Arc::new(chosen.to_vec());
    let mut tasks = Vec::new();
    const TASKS: usize = 4;
    for k in 0..TASKS {
        let (chosen, addr) = (Arc::clone(&chosen), latch.addr);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for user in chosen.iter().skip(k).step_by(TASKS) {
                // A new connection carries no client: each sign-in makes one.
                let mut conn = http::Conn::open(addr).await?;
                out.push(scenarios::password_sign_in(&mut conn, user).await?);
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.extend(task.await??);
    }
    Ok(clients)
}

/// `sql` through `psql` on `url`: its output, unaligned and trimmed.
async fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .await
        .context("running psql")?;
    if !out.status.success() {
        bail!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Removes every Redis key under `prefix`.
async fn unlink_redis_keys(prefix: &str) -> Result<()> {
    let redis = ["-h", REDIS_HOST, "-p", REDIS_PORT];
    let out = Command::new("redis-cli")
        .args(redis)
        .args(["--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .await
        .context("running redis-cli")?;
    if !out.status.success() {
        bail!("redis-cli --scan failed: {}", out.status);
    }
    let text = String::from_utf8(out.stdout)?;
    let keys: Vec<&str> = text.lines().filter(|k| !k.is_empty()).collect();
    for chunk in keys.chunks(500) {
        let status = Command::new("redis-cli")
            .args(redis)
            .arg("UNLINK")
            .args(chunk)
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("redis-cli UNLINK failed: {status}");
        }
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The share of the 1,000-user row's throughput, when both were measured.
fn ratio(all: &[Measured], m: &Measured, rate: impl Fn(&Measured) -> f64) -> Option<f64> {
    let base = all
        .iter()
        .find(|b| b.storage == m.storage && b.users == BASELINE_USERS)?;
    (m.users != BASELINE_USERS).then(|| rate(m) / rate(base))
}

/// Thousands separated by commas.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The rows of the results table.
pub fn table_rows(out: &mut String, all: &[Measured]) {
    for m in all {
        let users = count(m.users);
        let store = m.storage.name();
        let seeded = format!(
            "seeded in {:.1} s; database {:.1} MiB",
            m.seed_secs,
            mib(m.database_bytes)
        );
        for (what, per, c, s, rss, pick) in [
            (
                "password sign-in",
                "sign-in",
                SIGN_IN_CONCURRENCY,
                &m.sign_in,
                m.sign_in_rss_kib,
                (|m: &Measured| m.sign_in.rate) as fn(&Measured) -> f64,
            ),
            (
                "signed-in `GET /v1/client`",
                "request",
                GET_CONCURRENCY,
                &m.get,
                m.get_rss_kib,
                |m: &Measured| m.get.rate,
            ),
        ] {
            let mut notes = match ratio(all, m, pick) {
                Some(r) => format!(
                    "**{:.1}% of the {} users row**; ",
                    100.0 * r,
                    count(BASELINE_USERS)
                ),
                None => String::new(),
            };
            let _ = write!(
                notes,
                "VmRSS after {:.1} MiB; {seeded}",
                rss as f64 / 1024.0
            );
            Report::load_row(
                out,
                &format!("{what}, {users} users, {store}"),
                c,
                "req/s",
                s,
                Some(per),
                &notes,
            );
        }
    }
}

/// The rows of the targets table: each large row within 10% of its
/// 1,000-user row.
pub fn targets(out: &mut String, all: &[Measured]) {
    for m in all.iter().filter(|m| m.users != BASELINE_USERS) {
        let store = m.storage.name();
        for (what, pick) in [
            (
                format!("password sign-in c={SIGN_IN_CONCURRENCY}"),
                (|m: &Measured| m.sign_in.rate) as fn(&Measured) -> f64,
            ),
            (
                format!("GET /v1/client c={GET_CONCURRENCY}"),
                |m: &Measured| m.get.rate,
            ),
        ] {
            let target = format!(
                "{what} with {} users on {store} within 10% of {} users",
                count(m.users),
                count(BASELINE_USERS)
            );
            match ratio(all, m, pick) {
                Some(r) => {
                    let _ = writeln!(
                        out,
                        "| {target} | {:.1}% | {} |",
                        100.0 * r,
                        if r >= WITHIN { "pass" } else { "**miss**" }
                    );
                }
                None => {
                    let _ = writeln!(out, "| {target} | - | not measured |");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(10_000_000), "10,000,000");
        assert_eq!(count(123_456), "123,456");
    }
}

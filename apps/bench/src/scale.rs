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
    /// On a large store: the median over runs of each run's throughput
    /// over the 1,000-user store's run right before it (NaN otherwise).
    pub sign_in_paired: f64,
    pub get_paired: f64,
}

/// A latch serving a seeded store.
struct Store {
    latch: Latch,
    users: u64,
    seed_secs: f64,
}

/// For each storage with a user count above zero: a store with
/// [`BASELINE_USERS`] and one with the count asked for, both served at
/// once, their runs alternating (the machine's speed drifts over the
/// minutes a row takes, less between two runs back to back).
pub async fn rows(opts: &Options, report: &mut Report) -> Result<()> {
    let t = Instant::now();
    let digest = seed::digest().await?;
    progress(&format!(
        "scale: one argon2id digest for every seeded user in {:.2} s",
        t.elapsed().as_secs_f64()
    ));
    if opts.scale_sqlite_users > 0 {
        report
            .scale
            .extend(on_sqlite(opts, opts.scale_sqlite_users, &digest).await?);
    }
    if opts.scale_postgres_users > 0 {
        report
            .scale
            .extend(on_postgres(opts, opts.scale_postgres_users, &digest).await?);
    }
    Ok(())
}

fn timed_progress(what: &str, secs: f64) {
    progress(&format!("scale: {what} in {secs:.1} s"));
}

async fn on_sqlite(opts: &Options, users: u64, digest: &str) -> Result<[Measured; 2]> {
    let base = sqlite_store(opts, BASELINE_USERS.min(users), digest).await?;
    let large = sqlite_store(opts, users, digest).await?;
    let measured = measure(opts, Storage::Sqlite, &base, &large).await;
    let sizes = [base.latch.database_bytes(), large.latch.database_bytes()];
    let (stopped_base, stopped_large) = (base.latch.stop().await, large.latch.stop().await);
    let measured = measured?;
    stopped_base?;
    stopped_large?;
    Ok(with_sizes(measured, sizes))
}

async fn sqlite_store(opts: &Options, users: u64, digest: &str) -> Result<Store> {
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
    Ok(Store {
        latch: setup.serve().await?,
        users,
        seed_secs,
    })
}

/// Fresh databases and Redis key prefixes, all removed afterwards whatever
/// happened.
async fn on_postgres(opts: &Options, users: u64, digest: &str) -> Result<[Measured; 2]> {
    let names = [BASELINE_USERS.min(users), users]
        .map(|n| format!("latch_scale_{}_{n}", std::process::id()));
    let prefixes = [BASELINE_USERS.min(users), users]
        .map(|n| format!("latch-bench-scale-{}-{n}:", std::process::id()));
    let mut created = Ok(());
    for name in &names {
        created = psql(
            &format!("{POSTGRES}/postgres"),
            &format!("CREATE DATABASE {name}"),
        )
        .await
        .map(|_| ());
        if created.is_err() {
            break;
        }
    }
    let result = match created {
        Ok(()) => on_postgres_databases(opts, users, digest, &names, &prefixes).await,
        Err(e) => Err(e),
    };
    let mut cleaned = Ok(());
    for (name, prefix) in names.iter().zip(&prefixes) {
        let dropped = psql(
            &format!("{POSTGRES}/postgres"),
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
        let unlinked = unlink_redis_keys(prefix).await;
        cleaned = cleaned.and(dropped.map(|_| ())).and(unlinked);
    }
    let m = result?;
    cleaned?;
    Ok(m)
}

async fn on_postgres_databases(
    opts: &Options,
    users: u64,
    digest: &str,
    names: &[String; 2],
    prefixes: &[String; 2],
) -> Result<[Measured; 2]> {
    let base = postgres_store(
        opts,
        BASELINE_USERS.min(users),
        digest,
        &names[0],
        &prefixes[0],
    );
    let base = base.await?;
    let large = match postgres_store(opts, users, digest, &names[1], &prefixes[1]).await {
        Ok(large) => large,
        Err(e) => {
            let _ = base.latch.stop().await;
            return Err(e);
        }
    };
    let measured = measure(opts, Storage::Postgres, &base, &large).await;
    let mut sizes = [0; 2];
    for (size, name) in sizes.iter_mut().zip(names) {
        let url = format!("{POSTGRES}/{name}");
        if let Ok(bytes) = psql(&url, "SELECT pg_database_size(current_database())").await {
            *size = bytes.parse().context("pg_database_size")?;
        }
    }
    let (stopped_base, stopped_large) = (base.latch.stop().await, large.latch.stop().await);
    let measured = measured?;
    stopped_base?;
    stopped_large?;
    Ok(with_sizes(measured, sizes))
}

async fn postgres_store(
    opts: &Options,
    users: u64,
    digest: &str,
    name: &str,
    prefix: &str,
) -> Result<Store> {
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
    Ok(Store {
        latch: setup.serve().await?,
        users,
        seed_secs,
    })
}

/// Both stores' rows with their databases' sizes, read after the rows.
fn with_sizes(mut pair: [Measured; 2], sizes: [u64; 2]) -> [Measured; 2] {
    for (m, size) in pair.iter_mut().zip(sizes) {
        m.database_bytes = size;
    }
    pair
}

/// On each store one seeded user checked in full and clients signed in;
/// then each row, its runs alternating between the two stores (the
/// 1,000-user store's first), with each latch's VmRSS after it.
async fn measure(
    opts: &Options,
    storage: Storage,
    base: &Store,
    large: &Store,
) -> Result<[Measured; 2]> {
    let mut chosen = Vec::new();
    let mut clients = Vec::new();
    for store in [base, large] {
        let users = seed::users_at(&seed::spread(store.users, CHOSEN_USERS));
        clients.push(
            prepare(&store.latch, &users)
                .await
                .with_context(|| format!("{} users on {}", store.users, storage.name()))?,
        );
        chosen.push(users);
    }
    let labels = [base, large].map(|store| format!("{} users, {}", store.users, storage.name()));
    let window = opts.window();
    let sign_ins = paired(
        opts,
        [&base.latch, &large.latch],
        labels
            .each_ref()
            .map(|l| format!("password sign-in c={SIGN_IN_CONCURRENCY}, {l}")),
        window,
        |k| PasswordSignIn::vus([base, large][k].latch.addr, &chosen[k], SIGN_IN_CONCURRENCY),
    )
    .await?;
    let gets = paired(
        opts,
        [&base.latch, &large.latch],
        labels
            .each_ref()
            .map(|l| format!("GET /v1/client c={GET_CONCURRENCY}, {l}")),
        window,
        |k| GetClient::vus([base, large][k].latch.addr, &clients[k]),
    )
    .await?;
    let [
        (sign_in_base, sign_in_rss_base),
        (sign_in_large, sign_in_rss_large),
    ] = sign_ins.rows;
    let [(get_base, get_rss_base), (get_large, get_rss_large)] = gets.rows;
    Ok([
        Measured {
            storage,
            users: base.users,
            seed_secs: base.seed_secs,
            sign_in: sign_in_base,
            sign_in_rss_kib: sign_in_rss_base,
            get: get_base,
            get_rss_kib: get_rss_base,
            database_bytes: 0,
            sign_in_paired: f64::NAN,
            get_paired: f64::NAN,
        },
        Measured {
            storage,
            users: large.users,
            seed_secs: large.seed_secs,
            sign_in: sign_in_large,
            sign_in_rss_kib: sign_in_rss_large,
            get: get_large,
            get_rss_kib: get_rss_large,
            database_bytes: 0,
            sign_in_paired: sign_ins.ratio,
            get_paired: gets.ratio,
        },
    ])
}

/// A row on both stores: each one's summary and latch's VmRSS after it,
/// and the median of the large store's runs over the base store's.
struct Paired {
    rows: [(Summary, u64); 2],
    ratio: f64,
}

async fn paired<V, F, Fut>(
    opts: &Options,
    latches: [&Latch; 2],
    names: [String; 2],
    window: Window,
    vus: F,
) -> Result<Paired>
where
    V: load::Vu,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Vec<V>>>,
{
    let mut outs = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    for run in 1..=opts.runs {
        for (k, latch) in latches.iter().enumerate() {
            let o = load::run(vus(k).await?, window, latch.pid).await?;
            log_outcome(&names[k], run, opts.runs, &o);
            outs[k].push(o);
        }
        ratios.push(outs[1][run - 1].rate() / outs[0][run - 1].rate());
    }
    let row = |k: usize| -> Result<(Summary, u64)> {
        let (rss, _) = latches[k].memory_kib()?;
        progress(&format!(
            "scale: latch VmRSS {:.1} MiB after {}",
            rss as f64 / 1024.0,
            names[k]
        ));
        Ok((Summary::of(&outs[k]), rss))
    };
    Ok(Paired {
        rows: [row(0)?, row(1)?],
        ratio: load::median(&ratios),
    })
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

/// The share of the 1,000-user row's throughput, when both were measured:
/// the median of the paired runs' ratios where there is one, else of the
/// rows' medians.
fn ratio(
    all: &[Measured],
    m: &Measured,
    rate: impl Fn(&Measured) -> f64,
    paired: impl Fn(&Measured) -> f64,
) -> Option<f64> {
    if m.users == BASELINE_USERS {
        return None;
    }
    if paired(m).is_finite() {
        return Some(paired(m));
    }
    let base = all
        .iter()
        .find(|b| b.storage == m.storage && b.users == BASELINE_USERS)?;
    Some(rate(m) / rate(base))
}

type Pick = fn(&Measured) -> f64;

/// A row's median throughput and its paired share.
const SIGN_IN: (Pick, Pick) = (|m| m.sign_in.rate, |m| m.sign_in_paired);
const GET: (Pick, Pick) = (|m| m.get.rate, |m| m.get_paired);

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
        for (what, per, c, s, rss, (pick, paired)) in [
            (
                "password sign-in",
                "sign-in",
                SIGN_IN_CONCURRENCY,
                &m.sign_in,
                m.sign_in_rss_kib,
                SIGN_IN,
            ),
            (
                "signed-in `GET /v1/client`",
                "request",
                GET_CONCURRENCY,
                &m.get,
                m.get_rss_kib,
                GET,
            ),
        ] {
            let mut notes = match ratio(all, m, pick, paired) {
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
        for (what, (pick, paired)) in [
            (format!("password sign-in c={SIGN_IN_CONCURRENCY}"), SIGN_IN),
            (format!("GET /v1/client c={GET_CONCURRENCY}"), GET),
        ] {
            let target = format!(
                "{what} with {} users on {store} within 10% of {} users",
                count(m.users),
                count(BASELINE_USERS)
            );
            match ratio(all, m, pick, paired) {
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

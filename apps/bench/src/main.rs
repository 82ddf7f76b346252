//! `latch-bench`: the benchmark behind `just bench` (BENCHMARKS.md says what
//! each row measures).
//!
//! It measures the argon2id ceiling in this process and with @node-rs/argon2
//! in Node, and the RSA-2048 signing ceiling beside the token mints, then
//! starts the release `latch` on a fresh temporary database,
//! seeds users through the Backend API, drives closed-loop load over
//! loopback, stops it, and prints medians over runs as a markdown table (also
//! written to `<target>/bench/results.md`). Last, the scale rows repeat two
//! of those rows on stores holding many users, written straight into them.

#![forbid(unsafe_code)]

mod distributed;
mod hashing;
mod http;
mod load;
mod report;
mod scale;
mod scenarios;
mod seed;
mod server;
mod signing;
mod signup;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::load::{Outcome, Window};
use crate::report::{Report, Summary};
use crate::scenarios::{EmailCodeFlow, GetClient, MintToken, PasswordSignIn};
use crate::server::Latch;

const USAGE: &str = "\
usage: latch-bench [--runs N] [--secs S] [--warmup S] [--sessions N] [--hashes N]
                   [--threads N] [--latch PATH] [--node-dir DIR] [--out FILE]
                   [--only ROWS] [--quick] [--skip-node]
                   [--scale-sqlite-users N] [--scale-postgres-users N]

  --runs N       runs per row, medians reported (BENCH_RUNS, default 3)
  --secs S       measured seconds per run (BENCH_SECS, default 5)
  --warmup S     warm-up seconds before each run (BENCH_WARMUP_SECS, default 1)
  --sessions N   sessions created for the memory row (BENCH_SESSIONS, default 100000)
  --hashes N     sequential hashes per single-thread run (BENCH_HASHES, default 20)
  --threads N    the generator's tokio worker threads (BENCH_THREADS, default: CPUs)
  --latch PATH   the latch binary (BENCH_LATCH, default: beside this binary)
  --node-dir DIR the @node-rs/argon2 folder (BENCH_NODE_DIR, default bench/node)
  --out FILE     the markdown results (BENCH_OUT, default <target>/bench/results.md)
  --only ROWS    a comma-separated subset of argon2,node,load,postgres,memory,scale
                 (BENCH_ONLY, default all; postgres and scale need PostgreSQL on
                 127.0.0.1 port BENCH_PG_PORT (default 5432; scale: 5432) with trust
                 auth for `postgres`, Redis on 127.0.0.1:6379, psql, createdb,
                 dropdb and redis-cli), or `email`: only the email-code rows
                 of load, on a server of their own
  --quick        1 run of 2 s, 0.5 s warm-up, 10000 sessions, 5 hashes
  --skip-node    leave out the @node-rs/argon2 rows (BENCH_SKIP_NODE=1)
  --scale-sqlite-users N    users written into SQLite for the scale rows
                 (BENCH_SCALE_SQLITE_USERS, default 10000000; 0 leaves SQLite out)
  --scale-postgres-users N  users written into PostgreSQL for the scale rows
                 (BENCH_SCALE_POSTGRES_USERS, default 1000000; 0 leaves PostgreSQL out)";

/// Password users seeded (each costs one hash at creation).
const PASSWORD_USERS: usize = 32;
/// Test identities seeded (no hash); every email-code flow uses one.
const TEST_USERS: usize = 1000;
const PASSWORD_CONCURRENCY: [usize; 3] = [1, 8, 32];
const GET_CONCURRENCY: usize = 64;
/// Password sign-ins running beside GET /v1/client to keep the hash pool busy.
const BACKGROUND_SIGN_INS: usize = 8;
const MINT_CONCURRENCY: usize = 32;
const EMAIL_CODE_CONCURRENCY: usize = 16;
/// The email-code flow again with enough flows in flight to keep every core
/// busy (at 16 the flows' waits on the writer leave some idle): its capacity.
const EMAIL_CODE_SATURATING: usize = 64;
/// The groups of rows, in the order they run.
const ROWS: &str = "argon2,node,load,postgres,memory,scale";
/// A group outside the default: the last rows of `load` by themselves.
const EMAIL_ONLY: &str = "email";

pub struct Options {
    pub runs: usize,
    pub secs: f64,
    pub warmup: f64,
    pub sessions: usize,
    pub hashes: usize,
    pub threads: usize,
    pub latch: PathBuf,
    pub node_dir: PathBuf,
    pub out: PathBuf,
    pub only: Vec<String>,
    pub cpus: usize,
    pub scale_sqlite_users: u64,
    pub scale_postgres_users: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
        _ => Ok(default),
    }
}

impl Options {
    fn parse() -> Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default_latch = server::sibling_binary("latch")?;
        let target = default_latch
            .parent()
            .and_then(|release| release.parent())
            .map(|t| t.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("target"));
        let mut o = Self {
            runs: env_or("BENCH_RUNS", 3)?,
            secs: env_or("BENCH_SECS", 5.0)?,
            warmup: env_or("BENCH_WARMUP_SECS", 1.0)?,
            sessions: env_or("BENCH_SESSIONS", 100_000)?,
            hashes: env_or("BENCH_HASHES", 20)?,
            threads: env_or("BENCH_THREADS", cpus)?,
            latch: env_or("BENCH_LATCH", default_latch)?,
            node_dir: env_or("BENCH_NODE_DIR", PathBuf::from("bench/node"))?,
            out: env_or("BENCH_OUT", target.join("bench/results.md"))?,
            only: env_or("BENCH_ONLY", String::from(ROWS))?
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
            cpus,
            scale_sqlite_users: env_or("BENCH_SCALE_SQLITE_USERS", 10_000_000)?,
            scale_postgres_users: env_or("BENCH_SCALE_POSTGRES_USERS", 1_000_000)?,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--runs" => o.runs = value("--runs")?.parse()?,
                "--secs" => o.secs = value("--secs")?.parse()?,
                "--warmup" => o.warmup = value("--warmup")?.parse()?,
                "--sessions" => o.sessions = value("--sessions")?.parse()?,
                "--hashes" => o.hashes = value("--hashes")?.parse()?,
                "--threads" => o.threads = value("--threads")?.parse()?,
                "--latch" => o.latch = value("--latch")?.into(),
                "--node-dir" => o.node_dir = value("--node-dir")?.into(),
                "--out" => o.out = value("--out")?.into(),
                "--skip-node" => o.only.retain(|r| r != "node"),
                "--scale-sqlite-users" => {
                    o.scale_sqlite_users = value("--scale-sqlite-users")?.parse()?
                }
                "--scale-postgres-users" => {
                    o.scale_postgres_users = value("--scale-postgres-users")?.parse()?
                }
                "--only" => {
                    o.only = value("--only")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .collect()
                }
                "--quick" => {
                    o.runs = 1;
                    o.secs = 2.0;
                    o.warmup = 0.5;
                    o.sessions = 10_000;
                    o.hashes = 5;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if let Some(bad) = o
            .only
            .iter()
            .find(|r| *r != EMAIL_ONLY && !ROWS.split(',').any(|k| k == *r))
        {
            bail!("--only: unknown rows {bad:?}\n{USAGE}");
        }
        if std::env::var("BENCH_SKIP_NODE").is_ok_and(|v| !v.is_empty() && v != "0") {
            o.only.retain(|r| r != "node");
        }
        if o.runs == 0 || o.secs <= 0.0 || o.warmup < 0.0 || o.threads == 0 {
            bail!("runs, secs and threads must be positive\n{USAGE}");
        }
        Ok(o)
    }

    fn wants(&self, rows: &str) -> bool {
        self.only.iter().any(|r| r == rows)
    }

    fn window(&self) -> Window {
        Window {
            warmup: Duration::from_secs_f64(self.warmup),
            measure: Duration::from_secs_f64(self.secs),
        }
    }
}

fn main() {
    if let Err(err) = start() {
        eprintln!("latch-bench: {err:#}");
        std::process::exit(1);
    }
}

fn start() -> Result<()> {
    let opts = Options::parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?
        .block_on(run(opts))
}

async fn run(opts: Options) -> Result<()> {
    let started = Instant::now();
    let mut report = Report::new(&opts);
    if opts.wants("postgres") {
        distributed::preflight().await?;
    }
    if opts.wants("argon2") {
        latch_hash_rows(&opts, &mut report).await?;
    }
    if opts.wants("node") {
        node_hash_rows(&opts, &mut report).await?;
    }
    if opts.wants("load") {
        load_rows(&opts, &mut report).await?;
    } else if opts.wants(EMAIL_ONLY) {
        email_rows_alone(&opts, &mut report).await?;
    }
    if opts.wants("postgres") {
        distributed::rows(&opts, &mut report).await?;
    }
    if opts.wants("memory") {
        memory_row(&opts, &mut report).await?;
    }
    if opts.wants("scale") {
        scale::rows(&opts, &mut report).await?;
    }
    report.total_secs = started.elapsed().as_secs_f64();
    let text = report.markdown();
    println!("\n{text}");
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, &text).with_context(|| format!("writing {}", opts.out.display()))?;
    eprintln!("written to {}", opts.out.display());
    Ok(())
}

fn progress(what: &str) {
    eprintln!("[bench] {what}");
}

async fn latch_hash_rows(opts: &Options, report: &mut Report) -> Result<()> {
    let mut single = Vec::new();
    let mut ceiling = Vec::new();
    for run in 1..=opts.runs {
        let ms = hashing::median_ms(&hashing::latch_single(opts.hashes).await?);
        let rate = hashing::latch_ceiling(opts.cpus, opts.secs).await?;
        progress(&format!(
            "argon2 latch-core run {run}/{}: {ms:.1} ms/hash single, {rate:.1} hashes/s on {} workers",
            opts.runs, opts.cpus
        ));
        single.push(ms);
        ceiling.push(rate);
    }
    report.latch_single_ms = load::median(&single);
    report.ceiling = load::median(&ceiling);
    Ok(())
}

async fn node_hash_rows(opts: &Options, report: &mut Report) -> Result<()> {
    let version = hashing::node_package_version(&opts.node_dir)?;
    let mut single = Vec::new();
    let mut pool = Vec::new();
    for run in 1..=opts.runs {
        let ms = hashing::median_ms(&hashing::node_single(&opts.node_dir, opts.hashes).await?);
        let rate = hashing::node_pool(&opts.node_dir, opts.cpus, opts.secs).await?;
        progress(&format!(
            "argon2 @node-rs/argon2 run {run}/{}: {ms:.1} ms/hash single, {rate:.1} hashes/s on {} threads",
            opts.runs, opts.cpus
        ));
        single.push(ms);
        pool.push(rate);
    }
    report.node = Some(report::NodeArgon2 {
        version,
        single_ms: load::median(&single),
        pool: load::median(&pool),
    });
    Ok(())
}

fn log_outcome(what: &str, run: usize, runs: usize, o: &Outcome) {
    progress(&format!(
        "{what} run {run}/{runs}: {:.0}/s p50 {:.2} ms p99 {:.2} ms, CPU latch {:.0}% generator {:.0}% machine {:.0}%{}",
        o.rate(),
        o.quantile_ms(0.5),
        o.quantile_ms(0.99),
        o.cpu.server,
        o.cpu.bench,
        o.cpu.machine,
        if o.errors > 0 {
            format!(
                ", {} errors (first: {})",
                o.errors,
                o.first_error.as_deref().unwrap_or("")
            )
        } else {
            String::new()
        }
    ));
}

/// What the load rows run on, made through the Backend API: the password
/// users, the test identities, and clients signed in by email code for
/// the client-read and mint rows; one of each flow is checked in full
/// before any load.
pub(crate) struct Fixtures {
    pub users: Vec<scenarios::PasswordUser>,
    pub emails: Arc<Vec<String>>,
    pub clients: Vec<scenarios::SignedIn>,
}

/// Seeds [`Fixtures`] on `latch` (`label` prefixes the progress line).
pub(crate) async fn fixtures(latch: &Latch, cpus: usize, label: &str) -> Result<Fixtures> {
    let addr = latch.addr;
    let users = scenarios::password_users(PASSWORD_USERS);
    let emails = Arc::new(scenarios::test_identities(TEST_USERS));
    progress(&format!(
        "{label}seeding {PASSWORD_USERS} password users and {TEST_USERS} test identities"
    ));
    let bodies = users
        .iter()
        .map(|u| serde_json::json!({"email_address": [u.email], "password": u.password}))
        .collect();
    scenarios::seed(addr, &latch.secret_key, bodies, cpus).await?;
    let bodies = emails
        .iter()
        .map(|e| serde_json::json!({"email_address": [e]}))
        .collect();
    scenarios::seed(addr, &latch.secret_key, bodies, 8).await?;
    let mut conn = http::Conn::open(addr).await?;
    scenarios::password_sign_in(&mut conn, &users[0]).await?;
    let clients = scenarios::sign_in_many(
        addr,
        Arc::clone(&emails),
        GET_CONCURRENCY.max(MINT_CONCURRENCY),
        8,
        true,
    )
    .await?;
    scenarios::check_signed_in(&mut conn, &clients[0]).await?;
    Ok(Fixtures {
        users,
        emails,
        clients,
    })
}

/// The argon2 and RSA-2048 ceilings of this moment, one after the other
/// (a sign-in's answer carries one signature beside its hash: its new
/// session's token), logged as measured `when`.
async fn ceilings(opts: &Options, when: &str) -> Result<(f64, f64)> {
    let hashes = hashing::latch_ceiling(opts.cpus, opts.secs).await?;
    progress(&format!(
        "argon2 ceiling {when}: {hashes:.1} hashes/s on {} workers",
        opts.cpus
    ));
    let signatures = rsa_ceiling(opts, when).await?;
    Ok((hashes, signatures))
}

/// The RSA-2048 signing ceiling of this moment, logged as measured `when`.
async fn rsa_ceiling(opts: &Options, when: &str) -> Result<f64> {
    let (cpus, secs) = (opts.cpus, opts.secs);
    let signatures =
        tokio::task::spawn_blocking(move || signing::rsa_ceiling(cpus, secs)).await??;
    progress(&format!(
        "RSA-2048 ceiling {when}: {signatures:.0} signatures/s on {cpus} threads"
    ));
    Ok(signatures)
}

async fn load_rows(opts: &Options, report: &mut Report) -> Result<()> {
    let window = opts.window();
    progress(&format!("starting {}", opts.latch.display()));
    let latch = Latch::start(&opts.latch).await?;
    let (addr, pid) = (latch.addr, latch.pid);
    let Fixtures {
        users,
        emails,
        clients,
    } = fixtures(&latch, opts.cpus, "").await?;

    for c in PASSWORD_CONCURRENCY {
        let name = format!("password sign-in c={c}");
        let mut outs = Vec::new();
        // Every sign-in, warm-ups included, against the store's counters.
        let steps = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let before = writer::read(addr).await?;
        let mut ratios = Vec::new();
        let (mut with_signature, mut signature_bounds, mut hash_alone_us) =
            (Vec::new(), Vec::new(), Vec::new());
        // At c=32, each run between two measurements of the ceilings (the
        // one after a run is the one before the next) and against their
        // mean: the machine's speed drifts within minutes, and the hash
        // rows at the start are further away still.
        let mut last = if c == 32 {
            Some(ceilings(opts, &format!("before {name} run 1/{}", opts.runs)).await?)
        } else {
            None
        };
        for run in 1..=opts.runs {
            let vus = PasswordSignIn::vus(addr, &users, c)
                .await?
                .into_iter()
                .map(|inner| distributed::Counted {
                    inner,
                    steps: Arc::clone(&steps),
                })
                .collect();
            let o = load::run(vus, window, pid).await?;
            log_outcome(&name, run, opts.runs, &o);
            if let Some((hashes_before, signatures_before)) = last {
                let after =
                    ceilings(opts, &format!("after {name} run {run}/{}", opts.runs)).await?;
                let hashes = (hashes_before + after.0) / 2.0;
                let signatures = (signatures_before + after.1) / 2.0;
                last = Some(after);
                ratios.push(o.rate() / hashes);
                with_signature.push(load::share_with_signature(o.rate(), hashes, signatures));
                signature_bounds.push(load::signature_bound(hashes, signatures));
                hash_alone_us.push(opts.cpus as f64 * 1e6 / hashes);
            }
            outs.push(o);
        }
        if c == 32 {
            report.password_paired = load::median(&ratios);
            report.password_with_signature = load::median(&with_signature);
            report.signature_bound = load::median(&signature_bounds);
            report.password_hash_alone_us = load::median(&hash_alone_us);
        }
        let used = writer::between(
            &before,
            &writer::read(addr).await?,
            steps.load(std::sync::atomic::Ordering::Relaxed),
        );
        report.password.push((c, Summary::of(&outs), used));
    }
    signup::row(opts, report, addr, pid, &users).await?;

    let name = format!("GET /v1/client c={GET_CONCURRENCY}");
    let mut outs = Vec::new();
    for run in 1..=opts.runs {
        let o = load::run(
            GetClient::vus(addr, &clients[..GET_CONCURRENCY]).await?,
            window,
            pid,
        )
        .await?;
        log_outcome(&name, run, opts.runs, &o);
        outs.push(o);
    }
    report.get_alone = Some(Summary::of(&outs));

    let mut gets = Vec::new();
    let mut sign_ins = Vec::new();
    for run in 1..=opts.runs {
        let (g, s) = load::run_pair(
            GetClient::vus(addr, &clients[..GET_CONCURRENCY]).await?,
            PasswordSignIn::vus(addr, &users, BACKGROUND_SIGN_INS).await?,
            window,
            pid,
        )
        .await?;
        log_outcome(
            &format!("{name} + password sign-ins c={BACKGROUND_SIGN_INS}"),
            run,
            opts.runs,
            &g,
        );
        progress(&format!(
            "  password sign-ins meanwhile: {:.0}/s p50 {:.2} ms p99 {:.2} ms",
            s.rate(),
            s.quantile_ms(0.5),
            s.quantile_ms(0.99)
        ));
        gets.push(g);
        sign_ins.push(s);
    }
    report.get_saturated = Some((Summary::of(&gets), Summary::of(&sign_ins)));

    let name = format!("session token mint c={MINT_CONCURRENCY}");
    let mut outs = Vec::new();
    // Each run's mints between two measurements of the ceiling (the one
    // after a run is the one before the next) and against their mean: the
    // machine's speed drifts between runs, less across one.
    let mut last = rsa_ceiling(opts, &format!("before {name} run 1/{}", opts.runs)).await?;
    let mut ceilings = vec![last];
    let mut ratios = Vec::new();
    for run in 1..=opts.runs {
        let o = load::run(
            MintToken::vus(addr, &clients[..MINT_CONCURRENCY]).await?,
            window,
            pid,
        )
        .await?;
        log_outcome(&name, run, opts.runs, &o);
        let after = rsa_ceiling(opts, &format!("after {name} run {run}/{}", opts.runs)).await?;
        ratios.push(o.rate() / ((last + after) / 2.0));
        ceilings.push(after);
        last = after;
        outs.push(o);
    }
    report.mint = Some(Summary::of(&outs));
    report.rsa_ceiling = load::median(&ceilings);
    report.mint_ratio = load::median(&ratios);

    email_code_rows(opts, report, &latch, emails).await?;
    progress("stopping latch");
    latch.stop().await
}

/// The email-code rows, at both concurrencies, with the writer's use.
async fn email_code_rows(
    opts: &Options,
    report: &mut Report,
    latch: &Latch,
    emails: Arc<Vec<String>>,
) -> Result<()> {
    for c in [EMAIL_CODE_CONCURRENCY, EMAIL_CODE_SATURATING] {
        let name = format!("email-code sign-in flow c={c}");
        let mut outs = Vec::new();
        // Every flow, warm-ups included, against the writer's counters.
        let flows = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let before = writer::read(latch.addr).await?;
        for run in 1..=opts.runs {
            let vus = EmailCodeFlow::vus(latch.addr, Arc::clone(&emails), c)
                .await?
                .into_iter()
                .map(|inner| distributed::Counted {
                    inner,
                    steps: Arc::clone(&flows),
                })
                .collect();
            let o = load::run(vus, opts.window(), latch.pid).await?;
            log_outcome(&name, run, opts.runs, &o);
            outs.push(o);
        }
        let used = writer::between(
            &before,
            &writer::read(latch.addr).await?,
            flows.load(std::sync::atomic::Ordering::Relaxed),
        );
        progress(&format!(
            "  SQLite writer: busy {:.1}% of the time, {:.1} writes per flow, {:.1} writes per transaction; {:.1} store calls per flow",
            used.occupancy * 100.0,
            used.writes_per_step,
            used.writes_per_transaction,
            used.store_calls_per_step
        ));
        report.email_code.push((c, Summary::of(&outs), used));
    }

    Ok(())
}

/// `--only email`: the email-code rows on a server of their own, seeded as
/// the load rows' is.
async fn email_rows_alone(opts: &Options, report: &mut Report) -> Result<()> {
    progress(&format!("starting {}", opts.latch.display()));
    let latch = Latch::start(&opts.latch).await?;
    let fixtures = fixtures(&latch, opts.cpus, "").await?;
    email_code_rows(opts, report, &latch, fixtures.emails).await?;
    progress("stopping latch");
    latch.stop().await
}

async fn memory_row(opts: &Options, report: &mut Report) -> Result<()> {
    progress(&format!(
        "memory: a fresh latch, {} sessions by email code",
        opts.sessions
    ));
    let latch = Latch::start(&opts.latch).await?;
    let emails = Arc::new(scenarios::test_identities(TEST_USERS));
    let bodies = emails
        .iter()
        .map(|e| serde_json::json!({"email_address": [e]}))
        .collect();
    scenarios::seed(latch.addr, &latch.secret_key, bodies, 8).await?;
    let (rss_before, _) = latch.memory_kib()?;
    let t = Instant::now();
    scenarios::sign_in_many(
        latch.addr,
        emails,
        opts.sessions,
        EMAIL_CODE_CONCURRENCY,
        false,
    )
    .await?;
    let secs = t.elapsed().as_secs_f64();
    let (rss, hwm) = latch.memory_kib()?;
    let db = latch.database_bytes();
    progress(&format!(
        "memory: {} sessions in {secs:.1} s; VmRSS {:.1} MiB (peak {:.1}, {:.1} before); database {:.1} MiB",
        opts.sessions,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        db as f64 / 1048576.0
    ));
    report.memory = Some(report::Memory {
        sessions: opts.sessions,
        secs,
        rss_before_kib: rss_before,
        rss_kib: rss,
        hwm_kib: hwm,
        database_bytes: db,
    });
    latch.stop().await
}

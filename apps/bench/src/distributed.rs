//! The `postgres` rows: the same release latch with its durable state in
//! PostgreSQL and its flows in Redis, as replicas run it, on a new database
//! and key prefix; some of the load rows again, each with the Redis
//! commands and PostgreSQL transactions (and statements, when the server
//! loads `pg_stat_statements`) it cost per step.
//!
//! PostgreSQL and Redis are the machine's, on loopback: `psql`, `createdb`,
//! `dropdb` and `redis-cli` do everything but count Redis's commands, which
//! MONITOR does on a plain connection, so the bench links no client.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::process::Command;

use crate::load::{self, Outcome, Vu};
use crate::report::{Report, Summary};
use crate::scenarios::{EmailCodeFlow, GetClient, MintToken, PasswordSignIn};
use crate::server::Latch;
use crate::{
    EMAIL_CODE_CONCURRENCY, GET_CONCURRENCY, MINT_CONCURRENCY, Options, log_outcome, progress,
    signing,
};

const PG_HOST: &str = "127.0.0.1";
/// PostgreSQL's port on `PG_HOST`: `BENCH_PG_PORT`, default 5432.
fn pg_port() -> &'static str {
    static PORT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PORT.get_or_init(|| {
        std::env::var("BENCH_PG_PORT")
            .ok()
            .filter(|p| p.parse::<u16>().is_ok())
            .unwrap_or_else(|| "5432".to_owned())
    })
}
const REDIS_HOST: &str = "127.0.0.1";
const REDIS_PORT: u16 = 6379;
const PASSWORD_CONCURRENCY: usize = 32;
/// A PostgreSQL backend sends its counts to `pg_stat_database` at most once
/// a second while busy, and an idle one up to 10 s after its last
/// transaction: the wait after a row before its counts are read.
const STATS_SETTLE: Duration = Duration::from_secs(11);
/// How long latch is watched doing nothing, for its own background rate.
const IDLE_SPAN: Duration = Duration::from_secs(5);

/// Counts read at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    at: Instant,
    /// `xact_commit` of the bench's database in `pg_stat_database`.
    xacts: u64,
    /// Commands latch's own connections sent Redis, seen by MONITOR.
    commands: u64,
    /// Calls of the database's top-level statements in `pg_stat_statements`.
    statements: Option<u64>,
}

/// Counts per second, or per step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub commands: f64,
    pub xacts: f64,
    pub statements: Option<f64>,
}

/// One counter's delta, less what latch does on its own over `secs`
/// (`background` per second), per step.
pub fn per_step(delta: u64, background: f64, secs: f64, steps: u64) -> f64 {
    if steps == 0 {
        return f64::NAN;
    }
    let work = delta as f64 - background * secs;
    work.max(0.0) / steps as f64
}

impl Counters {
    /// Counts from `earlier` to `self` per step.
    pub fn per_step(&self, earlier: &Counters, background: &Rates, steps: u64) -> Rates {
        let secs = self.at.duration_since(earlier.at).as_secs_f64();
        Rates {
            commands: per_step(
                self.commands.saturating_sub(earlier.commands),
                background.commands,
                secs,
                steps,
            ),
            xacts: per_step(
                self.xacts.saturating_sub(earlier.xacts),
                background.xacts,
                secs,
                steps,
            ),
            statements: self.statements.zip(earlier.statements).map(|(b, a)| {
                per_step(
                    b.saturating_sub(a),
                    background.statements.unwrap_or(0.0),
                    secs,
                    steps,
                )
            }),
        }
    }

    /// What latch did on its own from `earlier` to `self`, per second.
    pub fn rates_per_sec(&self, earlier: &Counters) -> Rates {
        let secs = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let rate = |b: u64, a: u64| b.saturating_sub(a) as f64 / secs;
        Rates {
            commands: rate(self.commands, earlier.commands),
            xacts: rate(self.xacts, earlier.xacts),
            statements: self
                .statements
                .zip(earlier.statements)
                .map(|(b, a)| rate(b, a)),
        }
    }
}

/// A new database (and, with `pg_stat_statements`, a second one to read it
/// from) and Redis key prefix; dropped and deleted when dropped.
struct Services {
    database: String,
    /// Where `pg_stat_statements` is read (so that reading it adds nothing
    /// to the bench's database), when the server loads it.
    stats_database: Option<String>,
    prefix: String,
}

async fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

async fn psql(database: &str, sql: &str) -> Result<String> {
    output(
        "psql",
        &[
            "-h",
            PG_HOST,
            "-p",
            pg_port(),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
    )
    .await
}

async fn createdb(name: &str) -> Result<()> {
    output(
        "createdb",
        &["-h", PG_HOST, "-p", pg_port(), "-U", "postgres", name],
    )
    .await
    .map(|_| ())
}

/// The client of a MONITOR line (`+1733443200.123456 [0 127.0.0.1:51234]
/// "GET" "k"`): its address, or `lua` for a command a script ran.
fn monitor_client(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once('[')?;
    let (inside, _) = rest.split_once(']')?;
    inside.split_whitespace().nth(1)
}

/// The local ports of the IPv4 connections to `port` among `inodes`, from a
/// /proc/<pid>/net/tcp table.
fn ports_to(net_tcp: &str, inodes: &HashSet<u64>, port: u16) -> Vec<u16> {
    let hex_port = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    net_tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(9)?.parse().ok()?;
            (inodes.contains(&inode) && hex_port(fields.get(2)?)? == port)
                .then(|| hex_port(fields[1]))
                .flatten()
        })
        .collect()
}

/// The local ports of `pid`'s connections to Redis.
fn redis_ports_of(pid: u32) -> Vec<u16> {
    let inodes: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.ok()?.path()).ok()?;
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))
        .map(|table| ports_to(&table, &inodes, REDIS_PORT))
        .unwrap_or_default()
}

/// Counts the commands latch's connections send Redis, from MONITOR. Redis's
/// own `total_commands_processed` counts every client of the server, and
/// the machine's Redis has others.
struct RedisMonitor {
    commands: Arc<AtomicU64>,
    /// Kept open: dropping it would end the connection.
    _writer: OwnedWriteHalf,
    task: tokio::task::JoinHandle<()>,
}

impl RedisMonitor {
    async fn start(latch_pid: u32) -> Result<Self> {
        let stream = TcpStream::connect((REDIS_HOST, REDIS_PORT))
            .await
            .context("connecting to Redis")?;
        let (reader, mut writer) = stream.into_split();
        writer.write_all(b"MONITOR\r\n").await?;
        let mut lines = BufReader::new(reader).lines();
        let ok = lines.next_line().await?.unwrap_or_default();
        if ok.trim() != "+OK" {
            bail!("Redis answered MONITOR with {ok:?}");
        }
        let commands = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&commands);
        let task = tokio::spawn(async move {
            // Ports seen so far: latch's, and other clients'. A port not seen
            // before is looked up among latch's sockets (only when a
            // connection is new).
            let (mut latch, mut others) = (HashSet::new(), HashSet::new());
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(port) = monitor_client(&line)
                    .and_then(|c| c.strip_prefix("127.0.0.1:"))
                    .and_then(|p| p.parse::<u16>().ok())
                else {
                    continue;
                };
                if !latch.contains(&port) && !others.contains(&port) {
                    latch.extend(redis_ports_of(latch_pid));
                    if !latch.contains(&port) {
                        others.insert(port);
                    }
                }
                if latch.contains(&port) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            commands,
            _writer: writer,
            task,
        })
    }
}

impl Drop for RedisMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Services {
    async fn create() -> Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "latch_bench_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let preload = psql("postgres", "SHOW shared_preload_libraries").await?;
        createdb(&name).await?;
        let mut services = Self {
            database: name.clone(),
            stats_database: None,
            prefix: format!("{name}:"),
        };
        if preload.split(',').any(|l| l.trim() == "pg_stat_statements") {
            let stats = format!("{name}_stats");
            createdb(&stats).await?;
            services.stats_database = Some(stats.clone());
            psql(&stats, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
        }
        Ok(services)
    }

    fn latch_env(&self) -> Vec<(String, String)> {
        [
            ("LATCH_STORAGE__DURABLE", "postgres".to_owned()),
            (
                "LATCH_STORAGE__POSTGRES_URL",
                format!(
                    "postgres://postgres@{PG_HOST}:{}/{}",
                    pg_port(),
                    self.database
                ),
            ),
            ("LATCH_STORAGE__FLOW_STORE", "redis".to_owned()),
            (
                "LATCH_STORAGE__REDIS_URL",
                format!("redis://{REDIS_HOST}:{REDIS_PORT}"),
            ),
            ("LATCH_STORAGE__REDIS_KEY_PREFIX", self.prefix.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Reads every counter (from the `postgres` database, so that reading
    /// adds no transaction to the bench's).
    async fn counters(&self, redis: &RedisMonitor) -> Result<Counters> {
        if redis.task.is_finished() {
            bail!("the MONITOR connection to Redis closed");
        }
        let xacts = psql(
            "postgres",
            &format!(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = '{}'",
                self.database
            ),
        )
        .await?
        .parse()
        .context("xact_commit")?;
        let statements = match &self.stats_database {
            Some(stats) => Some(
                psql(
                    stats,
                    &format!(
                        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
                         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{}')",
                        self.database
                    ),
                )
                .await?
                .parse()
                .context("pg_stat_statements calls")?,
            ),
            None => None,
        };
        Ok(Counters {
            at: Instant::now(),
            xacts,
            commands: redis.commands.load(Ordering::Relaxed),
            statements,
        })
    }

    /// Drops the databases and unlinks the prefix's keys.
    fn remove(&mut self) -> Result<()> {
        let redis = |args: &[&str]| -> Result<String> {
            let out = std::process::Command::new("redis-cli")
                .args(["-h", REDIS_HOST, "-p", &REDIS_PORT.to_string()])
                .args(args)
                .output()?;
            if !out.status.success() {
                bail!("redis-cli {}: {:?}", args.join(" "), out.status);
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let pattern = format!("{}*", self.prefix);
        let keys = redis(&["--scan", "--pattern", &pattern])?;
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        for chunk in keys.chunks(500) {
            let mut args = vec!["UNLINK"];
            args.extend(chunk);
            redis(&args)?;
        }
        for db in std::iter::once(&self.database).chain(&self.stats_database) {
            let status = std::process::Command::new("dropdb")
                .args([
                    "-h",
                    PG_HOST,
                    "-p",
                    pg_port(),
                    "-U",
                    "postgres",
                    "--force",
                    "--if-exists",
                    db,
                ])
                .status()?;
            if !status.success() {
                bail!("dropdb {db}: {status}");
            }
        }
        self.stats_database = None;
        self.database.clear();
        Ok(())
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if !self.database.is_empty()
            && let Err(err) = self.remove()
        {
            eprintln!(
                "latch-bench: removing database {} and keys {}*: {err:#}",
                self.database, self.prefix
            );
        }
    }
}

/// A virtual user whose steps (warm-up ones, failed ones and all) are counted.
pub(crate) struct Counted<V> {
    pub(crate) inner: V,
    pub(crate) steps: Arc<AtomicU64>,
}

impl<V: Vu> Vu for Counted<V> {
    async fn step(&mut self) -> Result<()> {
        let result = self.inner.step().await;
        self.steps.fetch_add(1, Ordering::Relaxed);
        result
    }
}

/// What bounds a row, which its share is given of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Argon2,
    Rsa,
    Unstated,
}

/// What a row is: its name, virtual users, what a step is counted as.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub c: usize,
    pub unit: &'static str,
    /// One step, for the counts per step ("sign-in", "flow").
    pub per: &'static str,
    /// Requests in one step.
    pub requests: usize,
    pub bound: Bound,
}

/// One row on PostgreSQL and Redis, with medians over its runs and its
/// counts per step over all of them.
pub struct Row {
    pub spec: Spec,
    pub summary: Summary,
    pub counts: Rates,
    /// Steps done over the row (warm-ups included), which the counts divide.
    pub steps: u64,
}

/// What the `postgres` group measured.
pub struct Rows {
    pub rows: Vec<Row>,
    /// RSA-2048 signatures per second on every core, beside these mints.
    pub rsa_ceiling: f64,
    /// What latch did with nothing asked of it, per second.
    pub background: Rates,
    pub statements: bool,
    pub server_version: String,
}

/// The rows' counting: readings before and after, steps in between.
struct Tally {
    before: Counters,
    steps: Arc<AtomicU64>,
}

struct Bench<'a> {
    opts: &'a Options,
    services: &'a Services,
    redis: &'a RedisMonitor,
    pid: u32,
    background: Rates,
    rows: Vec<Row>,
}

impl Bench<'_> {
    async fn begin(&self) -> Result<Tally> {
        Ok(Tally {
            before: self.services.counters(self.redis).await?,
            steps: Arc::new(AtomicU64::new(0)),
        })
    }

    async fn run<V: Vu>(&self, name: &str, run: usize, vus: Vec<V>, t: &Tally) -> Result<Outcome> {
        let vus = vus
            .into_iter()
            .map(|inner| Counted {
                inner,
                steps: Arc::clone(&t.steps),
            })
            .collect();
        let o = load::run(vus, self.opts.window(), self.pid).await?;
        log_outcome(&format!("postgres: {name}"), run, self.opts.runs, &o);
        Ok(o)
    }

    /// Waits for PostgreSQL's counts, reads them, and keeps the row.
    /// A row of `spec` over every run: `vus` makes each run's virtual users.
    async fn row<V, F, Fut>(&mut self, spec: Spec, mut vus: F) -> Result<()>
    where
        V: Vu,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<V>>>,
    {
        let t = self.begin().await?;
        let mut outs = Vec::new();
        for run in 1..=self.opts.runs {
            outs.push(self.run(spec.name, run, vus().await?, &t).await?);
        }
        self.end(t, &outs, spec).await
    }

    async fn end(&mut self, t: Tally, outs: &[Outcome], spec: Spec) -> Result<()> {
        tokio::time::sleep(STATS_SETTLE).await;
        let after = self.services.counters(self.redis).await?;
        let steps = t.steps.load(Ordering::Relaxed);
        let counts = after.per_step(&t.before, &self.background, steps);
        progress(&format!(
            "postgres: {}: {steps} steps; per {}: {:.2} Redis commands, {:.2} PostgreSQL transactions{}",
            spec.name,
            spec.per,
            counts.commands,
            counts.xacts,
            counts
                .statements
                .map_or(String::new(), |s| format!(", {s:.2} statements"))
        ));
        self.rows.push(Row {
            spec,
            summary: Summary::of(outs),
            counts,
            steps,
        });
        Ok(())
    }
}

/// Checks that PostgreSQL and Redis answer, so that a run that wants the
/// `postgres` rows fails at once rather than after the rows before them.
pub async fn preflight() -> Result<()> {
    psql("postgres", "SELECT 1").await.with_context(|| {
        format!(
            "the postgres rows need PostgreSQL on {PG_HOST}:{}",
            pg_port()
        )
    })?;
    TcpStream::connect((REDIS_HOST, REDIS_PORT))
        .await
        .with_context(|| format!("the postgres rows need Redis on {REDIS_HOST}:{REDIS_PORT}"))?;
    Ok(())
}

/// The `postgres` group: a new database and key prefix, latch on them,
/// seeded as the load rows' latch is, then four rows.
pub async fn rows(opts: &Options, report: &mut Report) -> Result<()> {
    let services = Services::create().await?;
    let server_version = psql("postgres", "SHOW server_version").await?;
    // "15.20 (Debian 15.20-0+deb12u1)": the number is enough.
    let server_version = server_version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    progress(&format!(
        "postgres: database {} (PostgreSQL {server_version} on {PG_HOST}:{}), Redis keys {}*; starting {}",
        services.database,
        pg_port(),
        services.prefix,
        opts.latch.display()
    ));
    let latch = Latch::start_with(&opts.latch, &services.latch_env()).await?;
    let (addr, pid) = (latch.addr, latch.pid);
    let crate::Fixtures {
        users,
        emails,
        clients,
    } = crate::fixtures(&latch, opts.cpus, "postgres: ").await?;

    progress(&format!(
        "postgres: {} s for the statistics to settle, then {} s of latch left alone",
        STATS_SETTLE.as_secs(),
        IDLE_SPAN.as_secs()
    ));
    let redis = RedisMonitor::start(pid).await?;
    tokio::time::sleep(STATS_SETTLE).await;
    let idle0 = services.counters(&redis).await?;
    tokio::time::sleep(IDLE_SPAN).await;
    let idle1 = services.counters(&redis).await?;
    let background = idle1.rates_per_sec(&idle0);
    progress(&format!(
        "postgres: latch alone: {:.2} Redis commands/s, {:.2} transactions/s",
        background.commands, background.xacts
    ));
    let mut bench = Bench {
        opts,
        services: &services,
        redis: &redis,
        pid,
        background,
        rows: Vec::new(),
    };

    let spec = Spec {
        name: "password sign-in",
        c: PASSWORD_CONCURRENCY,
        unit: "req/s",
        per: "sign-in",
        requests: 1,
        bound: Bound::Argon2,
    };
    bench
        .row(spec, || PasswordSignIn::vus(addr, &users, spec.c))
        .await?;

    let spec = Spec {
        name: "signed-in `GET /v1/client`",
        c: GET_CONCURRENCY,
        unit: "req/s",
        per: "request",
        requests: 1,
        bound: Bound::Unstated,
    };
    bench
        .row(spec, || GetClient::vus(addr, &clients[..spec.c]))
        .await?;

    let spec = Spec {
        name: "session token mint",
        c: MINT_CONCURRENCY,
        unit: "tokens/s",
        per: "token",
        requests: 1,
        bound: Bound::Rsa,
    };
    let t = bench.begin().await?;
    let mut outs = Vec::new();
    let mut ceilings = Vec::new();
    for run in 1..=opts.runs {
        let (cpus, secs) = (opts.cpus, opts.secs);
        let ceiling =
            tokio::task::spawn_blocking(move || signing::rsa_ceiling(cpus, secs)).await??;
        progress(&format!(
            "postgres: RSA-2048 ceiling run {run}/{}: {ceiling:.0} signatures/s on {cpus} threads",
            opts.runs
        ));
        ceilings.push(ceiling);
        let vus = MintToken::vus(addr, &clients[..spec.c]).await?;
        outs.push(bench.run(spec.name, run, vus, &t).await?);
    }
    bench.end(t, &outs, spec).await?;

    let spec = Spec {
        name: "email-code sign-in (create, prepare, attempt)",
        c: EMAIL_CODE_CONCURRENCY,
        unit: "flows/s",
        per: "flow",
        requests: 3,
        bound: Bound::Unstated,
    };
    bench
        .row(spec, || {
            EmailCodeFlow::vus(addr, Arc::clone(&emails), spec.c)
        })
        .await?;

    let rows = std::mem::take(&mut bench.rows);
    drop(redis);
    progress("postgres: stopping latch");
    latch.stop().await?;
    report.postgres = Some(Rows {
        rows,
        rsa_ceiling: load::median(&ceilings),
        background,
        statements: services.stats_database.is_some(),
        server_version,
    });
    drop(services);
    Ok(())
}

impl Rows {
    /// The rows of the table.
    pub fn markdown(&self, report: &Report, out: &mut String) {
        for row in &self.rows {
            let spec = &row.spec;
            let mut notes = String::new();
            match spec.bound {
                Bound::Argon2 => notes.push_str(&report.of_ceiling(row.summary.rate)),
                Bound::Rsa if self.rsa_ceiling.is_finite() => {
                    let _ = write!(
                        notes,
                        "{:.1}% of the RSA-2048 ceiling ({:.0} signatures/s, measured before each run)",
                        100.0 * row.summary.rate / self.rsa_ceiling,
                        self.rsa_ceiling
                    );
                }
                _ => {}
            }
            if spec.requests > 1 {
                if !notes.is_empty() {
                    notes.push_str("; ");
                }
                let _ = write!(
                    notes,
                    "latency of the whole flow ({} requests)",
                    spec.requests
                );
            }
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            let _ = write!(
                notes,
                "per {}: **{:.2} Redis commands, {:.2} PostgreSQL transactions{}** (over {} steps)",
                spec.per,
                row.counts.commands,
                row.counts.xacts,
                row.counts
                    .statements
                    .map_or(String::new(), |s| format!(", {s:.2} statements")),
                row.steps
            );
            Report::load_row(
                out,
                &format!("PostgreSQL + Redis: {}", spec.name),
                spec.c,
                spec.unit,
                &row.summary,
                Some(spec.per),
                &notes,
            );
        }
    }

    /// What the PostgreSQL rows count, under the table.
    pub fn explained(&self) -> String {
        format!(
            "PostgreSQL + Redis rows: latch on PostgreSQL {} (a new database, pool of \
             `storage.postgres_pool_size`) and Redis (a new key prefix), both on loopback. \
             Per step: the commands latch's connections sent Redis (seen by MONITOR) and the \
             database's `xact_commit` from `pg_stat_database`, read before a row's first run and \
             {} s after its last (PostgreSQL publishes a backend's counts up to 10 s late), less \
             latch's background rate alone ({:.2} commands/s, {:.2} transactions/s) over that \
             span, divided by every step its virtual users finished in it (warm-ups and errors \
             too). The other CPU of these rows includes PostgreSQL's and Redis's. {}\n\n",
            self.server_version,
            STATS_SETTLE.as_secs(),
            self.background.commands,
            self.background.xacts,
            if self.statements {
                "Statements: calls of the database's top-level statements in `pg_stat_statements`, \
                 counted the same way."
            } else {
                "The server does not load `pg_stat_statements`, so statements per request are not \
                 counted here: they are those of README's \"Round trips per request\" table \
                 (measured by `tests/e2e/round_trips.rs`)."
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64, xacts: u64, commands: u64) -> Counters {
        Counters {
            at: base + Duration::from_secs(secs),
            xacts,
            commands,
            statements: None,
        }
    }

    #[test]
    fn counts_per_step_leave_out_the_bench_and_the_background() {
        // 1,000 steps over 10 s: 4,000 transactions and 3,000 commands of
        // theirs, and latch's own 20 transactions and 5 commands.
        let base = Instant::now();
        let before = at(base, 0, 100, 50);
        let after = at(base, 10, 100 + 4000 + 20, 50 + 3000 + 5);
        let background = Rates {
            commands: 0.5,
            xacts: 2.0,
            statements: None,
        };
        let r = after.per_step(&before, &background, 1000);
        assert!((r.xacts - 4.0).abs() < 1e-9, "{}", r.xacts);
        assert!((r.commands - 3.0).abs() < 1e-9, "{}", r.commands);
        assert_eq!(r.statements, None);
    }

    #[test]
    fn background_rates_per_second() {
        let base = Instant::now();
        let r = at(base, 5, 110, 10).rates_per_sec(&at(base, 0, 100, 0));
        assert!((r.xacts - 2.0).abs() < 1e-9);
        assert!((r.commands - 2.0).abs() < 1e-9);
    }

    #[test]
    fn no_steps_no_count_and_never_below_zero() {
        assert!(per_step(10, 0.0, 1.0, 0).is_nan());
        assert_eq!(per_step(5, 10.0, 1.0, 3), 0.0);
        assert_eq!(per_step(6, 0.0, 1.0, 3), 2.0);
    }

    #[test]
    fn monitor_lines_name_their_client() {
        let line = r#"+1733443200.123456 [0 127.0.0.1:51234] "EVALSHA" "abc" "1" "p:k""#;
        assert_eq!(monitor_client(line), Some("127.0.0.1:51234"));
        let lua = r#"+1733443200.123457 [0 lua] "INCR" "p:k""#;
        assert_eq!(monitor_client(lua), Some("lua"));
        assert_eq!(monitor_client("+OK"), None);
    }

    #[test]
    fn finds_the_local_ports_of_connections_to_redis() {
        // Two sockets of the process: one to 6379 (0x18EB) from 54321
        // (0xD431), one to 5432 (0x1538); a third socket is another's.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:D431 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0 20 4 30 10 -1
   1: 0100007F:D432 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1
   2: 0100007F:D433 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
";
        let inodes: HashSet<u64> = [111, 222].into_iter().collect();
        assert_eq!(ports_to(table, &inodes, 6379), vec![54321]);
    }
}

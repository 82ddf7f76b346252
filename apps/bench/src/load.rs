//! The closed-loop load generator: N virtual users, each repeating its
//! scenario back to back for a warm-up and then a measured window, recording
//! the latency of every step that starts inside the window.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One virtual user: owns its connection and state, and does one step
/// (a request, or a whole flow) per call.
pub trait Vu: Send + 'static {
    fn step(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// Warm-up and measured durations.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latencies of the steps started in the window, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub cpu: CpuShare,
}

impl Outcome {
    /// Steps per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.latencies_us.len() as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The q-quantile (nearest rank) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_us, q) as f64 / 1000.0
    }
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU used in the measured window, in percent of one core (so up to
/// 100 x CPUs), by the server and by this generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuShare {
    pub server: f64,
    pub bench: f64,
    /// Every process on the machine (from /proc/stat), these two included.
    pub machine: f64,
    /// The server's share by its threads' roles (part of `server`).
    pub roles: Roles,
}

/// A server's CPU by the roles its threads are named for: hashing
/// (`latch-argon2-*`), the SQLite writer and readers; the rest serves
/// requests (HTTP, JSON, tokens) and runs its background work.
#[derive(Debug, Default, Clone, Copy)]
pub struct Roles {
    pub hashing: f64,
    pub writer: f64,
    pub readers: f64,
}

impl Roles {
    fn ticks(pid: u32) -> Result<Roles> {
        let mut roles = Roles::default();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let dir = task?.path();
            // A thread that ended since the listing counts for nothing.
            let (Ok(comm), Ok(ticks)) = (
                std::fs::read_to_string(dir.join("comm")),
                stat_ticks(&dir.join("stat").to_string_lossy()),
            ) else {
                continue;
            };
            let ticks = ticks as f64;
            match comm.trim_end() {
                name if name.starts_with("latch-argon2-") => roles.hashing += ticks,
                "sqlite-writer" => roles.writer += ticks,
                "sqlite-reader" => roles.readers += ticks,
                _ => {}
            }
        }
        Ok(roles)
    }

    /// From `earlier` to `self` in percent of one core over `wall` ticks.
    fn share_since(&self, earlier: &Roles, wall: f64) -> Roles {
        let share = |now: f64, then: f64| 100.0 * (now - then).max(0.0) / wall;
        Roles {
            hashing: share(self.hashing, earlier.hashing),
            writer: share(self.writer, earlier.writer),
            readers: share(self.readers, earlier.readers),
        }
    }
}

/// The share of the argon2 ceiling (`hashes` per second on every core) that
/// a step doing one hash and one RSA signature (`signatures` per second on
/// every core) and nothing else reaches: the cores' time per step is
/// `1/hashes + 1/signatures`.
pub fn signature_bound(hashes: f64, signatures: f64) -> f64 {
    signatures / (signatures + hashes)
}

/// `rate` steps per second against the ceiling of a hash and a signature
/// each (see [`signature_bound`]).
pub fn share_with_signature(rate: f64, hashes: f64, signatures: f64) -> f64 {
    rate * (1.0 / hashes + 1.0 / signatures)
}

/// Runs `vus` in a closed loop from `t0`: warm-up, then the measured window.
pub async fn closed_loop<V: Vu>(vus: Vec<V>, t0: Instant, window: Window) -> Result<Outcome> {
    let from = t0 + window.warmup;
    let until = from + window.measure;
    let mut tasks = Vec::with_capacity(vus.len());
    for mut vu in vus {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let start = Instant::now();
                if start >= until {
                    break;
                }
                let result = vu.step().await;
                let took = start.elapsed();
                if start < from {
                    continue;
                }
                match result {
                    Ok(()) => latencies.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
                    Err(err) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!("{err:#}"));
                        }
                        // Don't spin on a persistent failure.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut out = Outcome {
        seconds: window.measure.as_secs_f64(),
        ..Outcome::default()
    };
    for task in tasks {
        let (latencies, errors, first_error) = task.await.context("virtual user")?;
        out.latencies_us.extend(latencies);
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
    }
    out.latencies_us.sort_unstable();
    if out.latencies_us.is_empty() {
        bail!(
            "no request succeeded: {}",
            out.first_error.as_deref().unwrap_or("no request was made")
        );
    }
    Ok(out)
}

/// The CPU share of the server and of this process over [t0 + warmup, end).
pub async fn cpu_in_window(server_pid: u32, t0: Instant, window: Window) -> Result<CpuShare> {
    tokio::time::sleep_until((t0 + window.warmup).into()).await;
    let (s0, r0, b0, m0, w0) = (
        cpu_ticks(server_pid)?,
        Roles::ticks(server_pid)?,
        own_cpu_ticks()?,
        machine_busy_ticks()?,
        Instant::now(),
    );
    tokio::time::sleep_until((t0 + window.warmup + window.measure).into()).await;
    let (s1, r1, b1, m1) = (
        cpu_ticks(server_pid)?,
        Roles::ticks(server_pid)?,
        own_cpu_ticks()?,
        machine_busy_ticks()?,
    );
    let wall = w0.elapsed().as_secs_f64() * clock_ticks_per_sec();
    Ok(CpuShare {
        server: 100.0 * (s1.saturating_sub(s0)) as f64 / wall,
        bench: 100.0 * (b1.saturating_sub(b0)) as f64 / wall,
        machine: 100.0 * (m1.saturating_sub(m0)) as f64 / wall,
        roles: r1.share_since(&r0, wall),
    })
}

/// A closed loop with the CPU shares of its window.
pub async fn run<V: Vu>(vus: Vec<V>, window: Window, server_pid: u32) -> Result<Outcome> {
    let t0 = Instant::now();
    let (mut out, cpu) = tokio::try_join!(
        closed_loop(vus, t0, window),
        cpu_in_window(server_pid, t0, window)
    )?;
    out.cpu = cpu;
    Ok(out)
}

/// Two closed loops over the same window (the first one's CPU shares cover both).
pub async fn run_pair<A: Vu, B: Vu>(
    a: Vec<A>,
    b: Vec<B>,
    window: Window,
    server_pid: u32,
) -> Result<(Outcome, Outcome)> {
    let t0 = Instant::now();
    let (mut a, b, cpu) = tokio::try_join!(
        closed_loop(a, t0, window),
        closed_loop(b, t0, window),
        cpu_in_window(server_pid, t0, window)
    )?;
    a.cpu = cpu;
    Ok((a, b))
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

fn own_cpu_ticks() -> Result<u64> {
    stat_ticks("/proc/self/stat")
}

fn stat_ticks(path: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Busy time of all CPUs together (everything but idle and iowait), in clock ticks.
pub fn machine_busy_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok(ticks.iter().sum::<u64>() - idle)
}

/// USER_HZ, from `getconf CLK_TCK` (100 on Linux unless asked otherwise).
pub fn clock_ticks_per_sec() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn a_signature_beside_each_hash_lowers_the_reachable_share() {
        // 200 hashes/s and 4,000 signatures/s on the same cores: a step of
        // one of each takes 1/200 + 1/4000 core-seconds.
        let bound = signature_bound(200.0, 4000.0);
        assert!((bound - 4000.0 / 4200.0).abs() < 1e-12);
        let at_bound = bound * 200.0;
        assert!((share_with_signature(at_bound, 200.0, 4000.0) - 1.0).abs() < 1e-12);
        assert!((share_with_signature(190.0, 200.0, 4000.0) - 0.9975).abs() < 1e-12);
    }

    #[test]
    fn a_servers_cpu_is_split_by_its_threads_names() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = |name: &str| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
                .unwrap()
        };
        let before = Roles::ticks(std::process::id()).unwrap();
        let threads = [busy("latch-argon2-0"), busy("sqlite-writer")];
        // Until both threads have run for a clock tick (10 s at most on a
        // busy machine).
        let t0 = Instant::now();
        let share = loop {
            std::thread::sleep(Duration::from_millis(50));
            let share = Roles::ticks(std::process::id())
                .unwrap()
                .share_since(&before, 100.0);
            if (share.hashing > 0.0 && share.writer > 0.0) || t0.elapsed().as_secs() >= 10 {
                break share;
            }
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        assert!(share.hashing > 0.0, "{share:?}");
        assert!(share.writer > 0.0, "{share:?}");
        assert_eq!(share.readers, 0.0, "{share:?}");
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(own_cpu_ticks().is_ok());
        assert!(machine_busy_ticks().is_ok());
    }
}

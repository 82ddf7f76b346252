//! argon2id at Latch's cost: latch-core's hasher in this process, and
//! @node-rs/argon2 in Node for comparison.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use latch_core::model::Password;
use latch_core::password::Argon2Settings;
use latch_core::ports::PasswordHasher;
use latch_os::{Argon2Hasher, OsRandom};

use crate::load::median;

const PASSWORD: &str = "bench password 0001";

/// Per-hash times in ms of `count` sequential hashes on one worker.
pub async fn latch_single(count: usize) -> Result<Vec<f64>> {
    let hasher = Argon2Hasher::new(Argon2Settings::default(), 1, Arc::new(OsRandom))?;
    let password = Password::parse(PASSWORD, 8)?;
    hasher.hash(&password).await?; // warm-up
    let mut ms = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let t = Instant::now();
        hasher.hash(&password).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(ms)
}

/// Verifications per second with `workers` workers and twice as many calls
/// in flight, for `seconds` (a verification is one argon2 hash, as a
/// password sign-in does).
pub async fn latch_ceiling(workers: usize, seconds: f64) -> Result<f64> {
    let hasher = Arc::new(Argon2Hasher::new(
        Argon2Settings::default(),
        workers,
        Arc::new(OsRandom),
    )?);
    let digest = hasher.hash(&Password::parse(PASSWORD, 8)?).await?;
    let in_flight = 2 * workers;
    // Warm-up: every worker once.
    for _ in 0..workers {
        hasher.verify(PASSWORD, Some(digest.clone())).await?;
    }
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let (hasher, digest, done) = (Arc::clone(&hasher), digest.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if !hasher.verify(PASSWORD, Some(digest.clone())).await? {
                    bail!("the password did not verify");
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64())
}

/// Per-hash times in ms of `count` sequential `hashSync` calls in Node.
pub async fn node_single(node_dir: &Path, count: usize) -> Result<Vec<f64>> {
    let json = node(node_dir, &["single", &count.to_string()], 1).await?;
    json["ms"]
        .as_array()
        .context("no ms in node output")?
        .iter()
        .map(|v| v.as_f64().context("ms not a number"))
        .collect()
}

/// Hashes per second of Node's async `hash` with `threads` libuv threads and
/// twice as many calls in flight, for `seconds`.
pub async fn node_pool(node_dir: &Path, threads: usize, seconds: f64) -> Result<f64> {
    let json = node(
        node_dir,
        &["pool", &seconds.to_string(), &(2 * threads).to_string()],
        threads,
    )
    .await?;
    let hashes = json["hashes"].as_f64().context("no hashes")?;
    let secs = json["seconds"].as_f64().context("no seconds")?;
    Ok(hashes / secs)
}

/// The pinned @node-rs/argon2 version, from its installed package.json.
pub fn node_package_version(node_dir: &Path) -> Result<String> {
    let path = node_dir.join("node_modules/@node-rs/argon2/package.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} missing: run `npm ci` in {}",
            path.display(),
            node_dir.display()
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    Ok(json["version"].as_str().unwrap_or("?").to_owned())
}

async fn node(node_dir: &Path, args: &[&str], threads: usize) -> Result<serde_json::Value> {
    let out = tokio::process::Command::new("node")
        .arg("argon2.mjs")
        .args(args)
        .env("UV_THREADPOOL_SIZE", threads.to_string())
        .current_dir(node_dir)
        .output()
        .await
        .context("running node")?;
    if !out.status.success() {
        bail!(
            "node argon2.mjs {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("node printed no JSON")
}

/// The median of per-hash times.
pub fn median_ms(ms: &[f64]) -> f64 {
    median(ms)
}

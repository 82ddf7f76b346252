//! The release `latch` binary on a fresh temporary database, with rate limits off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running latch; killed if dropped without `stop`.
pub struct Latch {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub secret_key: String,
    dir: tempfile::TempDir,
}

fn command(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LATCH_SERVER__ADDR", "127.0.0.1:0")
        .env("LATCH_DATABASE__PATH", dir.join("latch.db"))
        .env("LATCH_LOG__LEVEL", "warn")
        // One client IP sends everything: per-IP and per-destination limits off.
        .env("LATCH_RATE_LIMITS__CREATE_CLIENT", "0")
        .env("LATCH_RATE_LIMITS__CREATE_SIGN_IN", "0")
        .env("LATCH_RATE_LIMITS__CREATE_SIGN_UP", "0")
        .env("LATCH_RATE_LIMITS__ATTEMPT", "0")
        .env("LATCH_RATE_LIMITS__PREPARE", "0")
        .env("LATCH_RATE_LIMITS__CODES_PER_DESTINATION", "0");
    // Settings given to the bench (e.g. LATCH_PASSWORD__HASH_WORKERS=1) reach
    // latch too, except where it listens and keeps its database.
    cmd.envs(passed_on()).current_dir(dir).kill_on_drop(true);
    cmd
}

/// A latch not started yet: its folder (the SQLite database's, or the
/// working folder when the data lives elsewhere) and the settings it gets
/// beside the bench's own, for commands run before `serve` (e.g. `keys`,
/// which creates the database, then rows written straight into it).
pub struct Setup {
    bin: PathBuf,
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

impl Setup {
    /// A fresh temporary folder (under TMPDIR) for `bin`.
    pub fn new(bin: &Path) -> Result<Self> {
        Ok(Self {
            bin: bin.to_path_buf(),
            dir: tempfile::Builder::new().prefix("latch-bench-").tempdir()?,
            envs: Vec::new(),
        })
    }

    /// A setting for every command, over the bench's defaults.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The SQLite database latch uses (when durable storage is SQLite).
    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("latch.db")
    }

    fn command(&self) -> Command {
        let mut cmd = command(&self.bin, self.dir.path());
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// `latch keys` (which creates the database and the secret key): the
    /// secret key.
    pub async fn keys(&self) -> Result<String> {
        let keys = self
            .command()
            .arg("keys")
            .stderr(Stdio::inherit())
            .output()
            .await
            .with_context(|| format!("running {} keys", self.bin.display()))?;
        if !keys.status.success() {
            bail!("`latch keys` failed: {:?}", keys.status);
        }
        Ok(String::from_utf8(keys.stdout)?
            .lines()
            .find_map(|l| l.strip_prefix("LATCH_SECRET_KEY="))
            .context("`latch keys` printed no LATCH_SECRET_KEY")?
            .to_owned())
    }

    /// `latch keys`, then `latch serve`, waiting for its "listening" line.
    pub async fn serve(self) -> Result<Latch> {
        let secret_key = self.keys().await?;
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} serve", self.bin.display()))?;
        let pid = child.id().context("latch exited at once")?;
        let stdout = child.stdout.take().context("latch stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("latch listening on http://") {
                    return Ok(url.to_owned());
                }
            }
            bail!("latch exited before listening")
        })
        .await
        .context("latch did not print its address within 60 s")??;
        // Keep draining stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Latch {
            child,
            pid,
            addr: url.parse().with_context(|| format!("address {url:?}"))?,
            secret_key,
            dir: self.dir,
        })
    }
}

impl Latch {
    /// `latch keys` (which creates the database and the secret key), then
    /// `latch serve`, waiting for its "listening" line.
    pub async fn start(bin: &Path) -> Result<Self> {
        Setup::new(bin)?.serve().await
    }

    /// `start` with more settings, e.g. another storage (`LATCH_STORAGE__*`);
    /// they win over the defaults and over what the bench passes on.
    pub async fn start_with(bin: &Path, extra: &[(String, String)]) -> Result<Self> {
        extra
            .iter()
            .fold(Setup::new(bin)?, |setup, (name, value)| {
                setup.env(name, value)
            })
            .serve()
            .await
    }

    /// VmRSS and VmHWM (peak) from /proc/<pid>/status, in KiB.
    pub fn memory_kib(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The size of the database files (main file and WAL), in bytes.
    pub fn database_bytes(&self) -> u64 {
        ["latch.db", "latch.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// SIGTERM, then wait for the exit (SIGKILL after 30 s).
    pub async fn stop(mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("latch exited with {status} after SIGTERM");
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("latch did not stop within 30 s of SIGTERM")
            }
        }
    }
}

/// The LATCH_* variables of this process that latch gets too (all but
/// where it listens and keeps its database).
pub fn passed_on() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| {
            name.starts_with("LATCH_")
                && !matches!(
                    name.as_str(),
                    "LATCH_SERVER__ADDR" | "LATCH_DATABASE__PATH" | "LATCH_SECRET_KEY"
                )
        })
        .collect()
}

/// The `latch` binary beside this one (both built by `cargo build --release`).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the bench binary has no folder")?;
    Ok(dir.join(name))
}

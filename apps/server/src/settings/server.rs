//! `[server]`, `[instance]`, `[password]` and `[log]`: where Latch listens,
//! which instance it is, how it hashes passwords and how it logs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};

use latch_api::ConnectionLimits;
use latch_api::client_ip::IpNet;
use latch_core::model::Environment;
use latch_core::password::{Argon2Settings, MAX_VERIFIED_MEMORY_KIB};
use latch_core::secrets::SecretBox;

use super::raw::{InstanceSection, LogSection, PasswordSection, ServerSection};

/// `[server]`, parsed.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    /// Exact origins, each `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    pub secure_cookies: bool,
    /// The `Domain` of `__client_uat` on Frontend API answers, if any.
    pub cookie_domain: Option<String>,
    /// HTTPS, when a certificate and key are configured.
    pub tls: Option<std::sync::Arc<latch_api::tls::ServerConfig>>,
    /// How long requests in flight may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Connections, head, idle and body timeouts.
    pub connections: ConnectionLimits,
    /// Where addresses are (`geoip_file`), if a table is configured.
    pub geoip: Option<std::sync::Arc<latch_api::geoip::GeoIp>>,
}

/// A timeout key in milliseconds, between 100 ms and an hour.
fn timeout(key: &str, ms: u64) -> anyhow::Result<Duration> {
    if !(100..=3_600_000).contains(&ms) {
        bail!("server.{key} must be between 100 and 3600000 (milliseconds)");
    }
    Ok(Duration::from_millis(ms))
}

impl TryFrom<&ServerSection> for Server {
    type Error = anyhow::Error;

    fn try_from(s: &ServerSection) -> anyhow::Result<Self> {
        let addr = s.addr.parse().with_context(|| {
            format!(
                "server.addr: {:?} is not an address like 127.0.0.1:3210",
                s.addr
            )
        })?;
        for origin in &s.allowed_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.trim_end_matches('/').ends_with("://");
            if !ok || origin.ends_with('/') {
                bail!(
                    "server.allowed_origins: {origin:?} is not an origin like https://app.example.com"
                );
            }
        }
        let cookie_domain = s
            .cookie_domain
            .trim()
            .trim_start_matches('.')
            .to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !cookie_domain.is_empty() && !cookie_domain.split('.').all(label_ok) {
            bail!(
                "server.cookie_domain: {:?} is not a domain like example.com",
                s.cookie_domain
            );
        }
        let tls = match (s.tls_cert_file.trim(), s.tls_key_file.trim()) {
            ("", "") => None,
            ("", _) | (_, "") => {
                bail!(
                    "server.tls_cert_file and server.tls_key_file go together: set both or neither"
                )
            }
            (cert, key) => {
                let read = |name: &str, path: &str| {
                    std::fs::read(path)
                        .with_context(|| format!("server.{name}: cannot read {path:?}"))
                };
                let config = latch_api::tls::server_config(
                    &read("tls_cert_file", cert)?,
                    &read("tls_key_file", key)?,
                )
                .map_err(|e| anyhow::anyhow!("server.tls_cert_file / tls_key_file: {e}"))?;
                Some(config)
            }
        };
        if s.max_body_bytes < 1024 {
            bail!("server.max_body_bytes must be at least 1024");
        }
        let trusted_proxies = s
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
        if !(1..=1_000_000).contains(&s.max_connections) {
            bail!("server.max_connections must be between 1 and 1000000");
        }
        let connections = ConnectionLimits {
            header_read_timeout: timeout("header_read_timeout_ms", s.header_read_timeout_ms)?,
            idle_timeout: timeout("idle_timeout_ms", s.idle_timeout_ms)?,
            body_read_timeout: timeout("body_read_timeout_ms", s.body_read_timeout_ms)?,
            max_connections: s.max_connections,
        };
        let geoip = match s.geoip_file.trim() {
            "" => None,
            path => {
                let table = latch_api::geoip::GeoIp::load(std::path::Path::new(path))
                    .map_err(|e| anyhow::anyhow!("server.geoip_file: {e}"))?;
                Some(std::sync::Arc::new(table))
            }
        };
        Ok(Self {
            geoip,
            addr,
            allowed_origins: s.allowed_origins.clone(),
            trusted_proxies,
            max_body_bytes: s.max_body_bytes,
            secure_cookies: s.secure_cookies || tls.is_some(),
            tls,
            cookie_domain: (!cookie_domain.is_empty()).then_some(cookie_domain),
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
            connections,
        })
    }
}

/// `[instance]`, parsed.
#[derive(Clone)]
pub struct Instance {
    pub environment: Environment,
    /// The host the publishable key names.
    pub frontend_host: String,
    /// The `iss` of session tokens: the configured one, or
    /// `https://<frontend_host>`.
    pub issuer: String,
    /// The configured secret key; `None`: the stored (or a new) one.
    pub secret_key: Option<String>,
    /// The configured encryption key (base64); `None`: the stored (or a new) one.
    pub encryption_key: Option<String>,
}

/// `instance.environment`, parsed.
pub fn parse_environment(name: &str) -> anyhow::Result<Environment> {
    match name {
        "development" => Ok(Environment::Development),
        "production" => Ok(Environment::Production),
        other => {
            bail!("instance.environment: {other:?} must be \"development\" or \"production\"")
        }
    }
}

impl TryFrom<&InstanceSection> for Instance {
    type Error = anyhow::Error;

    fn try_from(s: &InstanceSection) -> anyhow::Result<Self> {
        let environment = parse_environment(&s.environment)?;
        if !s.frontend_host.contains('.') || s.frontend_host.contains(['/', ':', ' ', '$']) {
            bail!(
                "instance.frontend_host must be a host name with a dot, such as clerk.example.com"
            );
        }
        let issuer = &s.issuer;
        if !(issuer.is_empty() || issuer.starts_with("https://") || issuer.starts_with("http://"))
            || issuer.ends_with('/')
        {
            bail!(
                "instance.issuer must be a URL like https://clerk.example.com (no trailing slash), or empty"
            );
        }
        let secret = &s.secret_key;
        if !(secret.is_empty() || secret.starts_with("sk_test_") || secret.starts_with("sk_live_"))
        {
            bail!("instance.secret_key must start with sk_test_ or sk_live_");
        }
        if !secret.is_empty() && secret.len() < 8 + 24 {
            bail!(
                "instance.secret_key is too short: use at least 24 random characters after the prefix"
            );
        }
        if !secret.is_empty()
            && let Some(why) = latch_api::api_keys::secret_key_problem(secret, environment)
        {
            bail!("instance.secret_key: {why}");
        }
        let key = &s.encryption_key;
        if !key.is_empty()
            && let Err(why) = SecretBox::from_base64(key)
        {
            bail!("instance.encryption_key: {why}; `openssl rand -base64 32` makes one");
        }
        let nonempty = |v: &String| (!v.is_empty()).then(|| v.clone());
        Ok(Self {
            environment,
            issuer: nonempty(issuer).unwrap_or_else(|| format!("https://{}", s.frontend_host)),
            frontend_host: s.frontend_host.clone(),
            secret_key: nonempty(secret),
            encryption_key: nonempty(key),
        })
    }
}

/// `[password]`, parsed: the argon2id cost and how many hashes run at once.
#[derive(Clone)]
pub struct Hashing {
    pub argon2: Argon2Settings,
    /// 0: one per CPU.
    pub workers: usize,
}

impl Hashing {
    /// How many hashes run at once.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

impl TryFrom<&PasswordSection> for Hashing {
    type Error = anyhow::Error;

    fn try_from(p: &PasswordSection) -> anyhow::Result<Self> {
        if !(1..=16).contains(&p.argon2_parallelism) {
            bail!("password.argon2_parallelism must be between 1 and 16");
        }
        if !(8 * p.argon2_parallelism..=MAX_VERIFIED_MEMORY_KIB).contains(&p.argon2_memory_kib) {
            bail!(
                "password.argon2_memory_kib must be between 8 x parallelism and {MAX_VERIFIED_MEMORY_KIB}"
            );
        }
        if !(1..=64).contains(&p.argon2_iterations) {
            bail!("password.argon2_iterations must be between 1 and 64");
        }
        if p.hash_workers > 256 {
            bail!("password.hash_workers must be at most 256 (0 means one per CPU)");
        }
        Ok(Self {
            argon2: Argon2Settings {
                memory_kib: p.argon2_memory_kib,
                iterations: p.argon2_iterations,
                parallelism: p.argon2_parallelism,
            },
            workers: p.hash_workers,
        })
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// `[log]`, parsed.
#[derive(Debug, Clone)]
pub struct Log {
    /// A tracing filter; checked when logging starts.
    pub level: String,
    pub format: LogFormat,
}

impl TryFrom<&LogSection> for Log {
    type Error = anyhow::Error;

    fn try_from(l: &LogSection) -> anyhow::Result<Self> {
        let format = match l.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => bail!("log.format must be \"text\" or \"json\""),
        };
        Ok(Self {
            level: l.level.clone(),
            format,
        })
    }
}

//! Several `latch` replicas sharing one PostgreSQL database and one Redis
//! key prefix, as a deployment behind a load balancer runs them.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::binary::{keys, native};
use crate::support::{Server, http, latch, run};

/// Where a cluster's shared state lives.
pub struct Shared {
    /// PostgreSQL's port on 127.0.0.1 (trust auth for `postgres`).
    pub postgres_port: u16,
    pub redis_url: String,
}

impl Shared {
    /// The machine's PostgreSQL and Redis.
    pub fn machine() -> Self {
        latch_testkit::services::ensure_services();
        Self {
            postgres_port: 5432,
            redis_url: "redis://127.0.0.1:6379".into(),
        }
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    pub database: String,
    postgres_port: u16,
    /// `Bearer <secret key>` for the Backend API.
    pub bearer: String,
    pub replicas: Vec<Server>,
}

/// Runs SQL on `database` at `port` as `postgres`; returns what it printed,
/// unaligned and without headers.
pub fn psql_at(port: u16, database: &str, sql: &str) -> String {
    let out = run(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        database,
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]));
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "latch_cluster_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Cluster {
    /// Creates a fresh database and key prefix, migrates, and starts
    /// `replicas` processes with `env` on top of the shared settings.
    pub fn start(shared: &Shared, replicas: usize, env: &[(&str, &str)]) -> Self {
        let database = unique_name();
        psql_at(
            shared.postgres_port,
            "postgres",
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        );
        psql_at(
            shared.postgres_port,
            "postgres",
            &format!("CREATE DATABASE {database}"),
        );
        let mut all: Vec<(String, String)> = [
            ("LATCH_STORAGE__DURABLE", "postgres".to_owned()),
            (
                "LATCH_STORAGE__POSTGRES_URL",
                format!(
                    "postgres://postgres@127.0.0.1:{}/{database}",
                    shared.postgres_port
                ),
            ),
            ("LATCH_STORAGE__POSTGRES_TIMEOUT_MS", "1000".to_owned()),
            ("LATCH_STORAGE__FLOW_STORE", "redis".to_owned()),
            ("LATCH_STORAGE__REDIS_URL", shared.redis_url.clone()),
            ("LATCH_STORAGE__REDIS_KEY_PREFIX", format!("{database}:")),
            ("LATCH_STORAGE__REDIS_TIMEOUT_MS", "1000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Self {
            dir,
            env: all,
            database,
            postgres_port: shared.postgres_port,
            bearer: String::new(),
            replicas: Vec::new(),
        };
        let mut migrate = cluster.command();
        migrate.arg("migrate");
        let out = run(&mut migrate);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: Vec<(&str, &str)> = cluster
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (_, sk) = keys(cluster.dir.path(), &env);
        cluster.bearer = format!("Bearer {sk}");
        for _ in 0..replicas {
            let server = cluster.spawn();
            cluster.replicas.push(server);
        }
        cluster
    }

    /// A `latch` command with the cluster's settings.
    pub fn command(&self) -> Command {
        let mut cmd = latch(self.dir.path());
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts one more replica.
    pub fn spawn(&self) -> Server {
        Server::start(self.command())
    }

    pub fn addr(&self, replica: usize) -> String {
        self.replicas[replica % self.replicas.len()].addr()
    }

    /// SQL on the cluster's database.
    pub fn sql(&self, sql: &str) -> String {
        psql_at(self.postgres_port, &self.database, sql)
    }

    /// A Backend API call on `replica`; returns (status, JSON body).
    pub fn bapi(&self, replica: usize, method: &str, path: &str, json: &str) -> (u16, Value) {
        let (status, _, body) = http(
            &self.addr(replica),
            method,
            path,
            &[
                ("authorization", &self.bearer),
                ("content-type", "application/json"),
            ],
            json,
        );
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A native Frontend API POST on `replica`.
    pub fn fapi(
        &self,
        replica: usize,
        path: &str,
        token: &str,
        form: &str,
    ) -> (u16, Option<String>, Value) {
        native(&self.addr(replica), path, token, form)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.replicas.clear();
        // Best effort: the server may be the one a test stopped.
        let redis = self
            .env
            .iter()
            .find(|(k, _)| k == "LATCH_STORAGE__REDIS_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        forget(
            self.postgres_port,
            &self.database,
            &redis,
            &format!("{}:", self.database),
        );
    }
}

/// Drops `database` and deletes the Redis keys under `prefix`, best effort
/// (for `Drop`, where a failure must not panic).
pub fn forget(postgres_port: u16, database: &str, redis: &str, prefix: &str) {
    let _ = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &postgres_port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        ])
        .output();
    if let Ok(out) = Command::new("redis-cli")
        .args(["-u", redis, "--scan", "--pattern", &format!("{prefix}*")])
        .output()
    {
        let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        if !keys.is_empty() {
            let _ = Command::new("redis-cli")
                .args(["-u", redis, "DEL"])
                .args(&keys)
                .output();
        }
    }
}

//! `[storage]` and `[database]`: where users, clients and sessions live
//! (SQLite or PostgreSQL), and where sign-ins in progress and rate-limit
//! counters live (beside SQLite, or in Redis). PostgreSQL is shared by
//! replicas, so its flow store can only be Redis: the type says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use super::raw::{DatabaseSection, StorageSection};

/// The durable store and the flow store beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// One SQLite file; the flow store in it or in Redis.
    Sqlite { database: Sqlite, flow: FlowStore },
    /// PostgreSQL, shared by every replica, with Redis for the flow store.
    Postgres { database: Postgres, flow: Redis },
}

/// `[database]`: the SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sqlite {
    pub path: PathBuf,
    /// Reader connections beside the one writer (at least 1).
    pub readers: usize,
    pub busy_timeout: Duration,
}

/// Where sign-ins in progress live beside a SQLite durable store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowStore {
    /// In the SQLite database itself.
    Sqlite,
    Redis(Redis),
}

/// `storage.postgres_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postgres {
    /// A postgres:// URL; may carry a password.
    pub url: String,
    pub pool_size: usize,
    /// Both the connect and the statement timeout.
    pub timeout: Duration,
    pub tls: PostgresTls,
}

/// `storage.postgres_tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresTls {
    /// Plain TCP.
    Disable,
    /// TLS required and verified, against the system's roots and `ca_file`.
    Verify { ca_file: Option<PathBuf> },
}

/// `storage.redis_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redis {
    /// A redis:// URL.
    pub url: String,
    pub key_prefix: String,
    pub timeout: Duration,
}

/// Parses `[storage]`, with `[database]` for SQLite.
pub fn parse(st: &StorageSection, db: &DatabaseSection) -> anyhow::Result<Storage> {
    // Checked whichever store is used, as it always was.
    let sqlite = parse_sqlite(db)?;
    match st.durable.as_str() {
        "sqlite" => {
            let flow = match st.flow_store.as_str() {
                "sqlite" => FlowStore::Sqlite,
                "redis" => FlowStore::Redis(parse_redis(st)?),
                other => bail!("storage.flow_store: {other:?} must be \"sqlite\" or \"redis\""),
            };
            Ok(Storage::Sqlite {
                database: sqlite,
                flow,
            })
        }
        "postgres" => {
            let database = parse_postgres(st)?;
            if st.flow_store != "redis" {
                bail!("storage.flow_store must be \"redis\" when storage.durable is \"postgres\"");
            }
            Ok(Storage::Postgres {
                database,
                flow: parse_redis(st)?,
            })
        }
        other => bail!("storage.durable: {other:?} must be \"sqlite\" or \"postgres\""),
    }
}

fn parse_sqlite(db: &DatabaseSection) -> anyhow::Result<Sqlite> {
    if db.readers == 0 {
        bail!("database.readers must be at least 1");
    }
    Ok(Sqlite {
        path: db.path.clone(),
        readers: db.readers,
        busy_timeout: Duration::from_millis(db.busy_timeout_ms),
    })
}

pub(crate) fn parse_postgres(st: &StorageSection) -> anyhow::Result<Postgres> {
    if !(st.postgres_url.starts_with("postgres://") || st.postgres_url.starts_with("postgresql://"))
    {
        bail!(
            "storage.postgres_url must be a postgres:// URL when storage.durable is \"postgres\""
        );
    }
    if !(1..=512).contains(&st.postgres_pool_size) {
        bail!("storage.postgres_pool_size must be between 1 and 512");
    }
    if !(100..=60_000).contains(&st.postgres_timeout_ms) {
        bail!("storage.postgres_timeout_ms must be between 100 and 60000");
    }
    let tls = match st.postgres_tls.as_str() {
        "disable" => PostgresTls::Disable,
        "verify" => {
            let ca_file = match st.postgres_ca_file.as_str() {
                "" => None,
                path if Path::new(path).is_file() => Some(PathBuf::from(path)),
                path => bail!("storage.postgres_ca_file: {path} is not a file"),
            };
            PostgresTls::Verify { ca_file }
        }
        other => bail!("storage.postgres_tls: {other:?} must be \"disable\" or \"verify\""),
    };
    Ok(Postgres {
        url: st.postgres_url.clone(),
        pool_size: st.postgres_pool_size,
        timeout: Duration::from_millis(st.postgres_timeout_ms),
        tls,
    })
}

fn parse_redis(st: &StorageSection) -> anyhow::Result<Redis> {
    if !st.redis_url.starts_with("redis://") {
        bail!(
            "storage.redis_url must be a redis:// URL when storage.flow_store is \"redis\" (TLS to Redis is not built in: reach it on a private network)"
        );
    }
    if !(100..=60_000).contains(&st.redis_timeout_ms) {
        bail!("storage.redis_timeout_ms must be between 100 and 60000");
    }
    Ok(Redis {
        url: st.redis_url.clone(),
        key_prefix: st.redis_key_prefix.clone(),
        timeout: Duration::from_millis(st.redis_timeout_ms),
    })
}

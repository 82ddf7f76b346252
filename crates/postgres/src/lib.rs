//! `latch-postgres`: Latch's durable repositories on PostgreSQL, for
//! deployments that run several replicas against one database.
//!
//! [`PostgresStore`] implements [`UserRepository`], [`ClientRepository`],
//! [`InstanceStore`], [`Outbox`] and [`WebhookStore`] from `latch-core`; the
//! app holds it once and hands out `Arc<dyn Port>` clones. Sign-ins stay in
//! the flow store (memory, Redis).
//!
//! - `migrations`: numbered SQL files in `migrations/`, tracked in the
//!   `latch_schema_migrations` table and applied by [`PostgresStore::connect`]
//!   under an advisory lock, so replicas starting together apply each once.
//! - `users`, `clients`, `instance`, `outbox`, `webhooks`: one module per
//!   port; `webhooks` also writes the events the other modules' writes take.
//! - [`import`]: rows copied in from another store (`latch copy`):
//!   batched idempotent inserts, the check's digest, sequences advanced,
//!   and the `latch_copy` marker naming the source.
//! - `error`: PostgreSQL and pool errors to `StoreError` (a taken
//!   email/phone/username -> `Duplicate(kind)`, a linked external account ->
//!   `ExternalAccountTaken`, connection failures and timeouts ->
//!   `Unavailable`, the rest `Other`).
//!
//! Invariants:
//! - Depends on `latch-core` only among Latch crates; never on another adapter.
//! - Every connection has a bounded connect timeout and a `statement_timeout`;
//!   waiting for a pooled connection is bounded too, and so is each port
//!   operation as a whole. Past any of them the port answers `Unavailable`.
//! - [`PostgresTls::Verify`] never falls back to plain TCP: the server must
//!   speak TLS with a certificate that chains to a trusted root and names
//!   the host connected to.
//! - A write touching several rows (a user and its identifications, backup
//!   codes and external accounts; a session and its client) is one
//!   transaction; an aggregate read is one statement, so one snapshot and one
//!   round trip.
//! - The events a write takes, and their webhook messages, are stored in
//!   that write's transaction, and only when its change is: a refused insert,
//!   a lost compare-and-set, a session already ended or a user already gone
//!   stores none.
//! - A claim of deliveries or webhook messages is one statement that locks
//!   the due rows it takes with `FOR UPDATE SKIP LOCKED`, so replicas
//!   claiming at once never share one.
//! - Every conditional change (a compare-and-set on `updated_at` or a token
//!   hash, ending an active session, a TOTP step, a digest upgrade) tests its
//!   condition in the `UPDATE`'s `WHERE`, never in a read before it. Under
//!   read committed a blocked `UPDATE` re-checks its `WHERE` against the row
//!   that won, so racing requests cannot undo each other.
//! - Values are stored as the domain normalised them, so plain `UNIQUE`
//!   columns are the case-insensitive uniqueness the ports ask for.

#![forbid(unsafe_code)]

mod audit;
mod clients;
mod error;
pub mod import;
mod instance;
mod migrations;
mod operators;
mod outbox;
mod readiness;
mod settings;
mod users;
mod webhooks;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use latch_core::error::StoreError;
#[cfg(doc)]
use latch_core::ports::{ClientRepository, InstanceStore, Outbox, UserRepository, WebhookStore};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use crate::error::DbError;

/// Where and how to reach PostgreSQL; the app builds it from its settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq-style URL or key-value string, e.g.
    /// `postgres://latch@db.internal:5432/latch`.
    pub url: String,
    /// Connections kept open at most (at least 1).
    pub pool_size: usize,
    /// How long opening a connection, or waiting for a free one, may take.
    pub connect_timeout: Duration,
    /// How long one statement may run (`statement_timeout`), lock waits included.
    pub statement_timeout: Duration,
    pub tls: PostgresTls,
}

/// Whether connections are encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresTls {
    /// Plain TCP, for a database on loopback or a private network. Any
    /// `sslmode` in the URL is overridden.
    Disable,
    /// TLS required, the server's certificate verified against the system's
    /// roots and, if given, the CA certificates in this PEM file, and its
    /// name checked against the host connected to.
    Verify { ca_file: Option<std::path::PathBuf> },
}

impl PostgresConfig {
    /// A configuration for `url` with the defaults of a small deployment.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            tls: PostgresTls::Disable,
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresConfig")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Latch's durable repositories on one PostgreSQL database. Cloning is cheap
/// and shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The most one port operation may take.
    deadline: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database and applies pending migrations; fails with
    /// `Unavailable` if the database cannot be reached within
    /// `connect_timeout`.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        pg.connect_timeout(config.connect_timeout);
        let timeout = format!(
            "-c statement_timeout={}",
            config.statement_timeout.as_millis().max(1)
        );
        let options = match pg.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {timeout}"),
            _ => timeout,
        };
        pg.options(options);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &config.tls {
            PostgresTls::Disable => {
                pg.ssl_mode(SslMode::Disable);
                Manager::from_config(pg, NoTls, manager_config)
            }
            PostgresTls::Verify { ca_file } => {
                pg.ssl_mode(SslMode::Require);
                Manager::from_config(pg, tls_connector(ca_file.as_deref())?, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Other(format!("cannot build the connection pool: {e}")))?;
        let store = Self {
            pool,
            deadline: config.connect_timeout + config.statement_timeout,
        };
        let mut client = store.client().await?;
        migrations::apply(&mut client).await?;
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<Object, DbError> {
        Ok(self.pool.get().await?)
    }

    /// Runs one port operation within its deadline, so a server that stops
    /// answering without closing its connections (a stopped process, a
    /// network partition) holds a request no longer than a connection wait
    /// plus one statement. Timed under the port of the module that calls
    /// it.
    #[track_caller]
    fn bounded<T>(
        &self,
        run: impl std::future::Future<Output = Result<T, DbError>>,
    ) -> impl std::future::Future<Output = Result<T, StoreError>> {
        let port = latch_core::metrics::port_of(std::panic::Location::caller().file());
        let deadline = self.deadline;
        async move {
            let started = std::time::Instant::now();
            let result = match tokio::time::timeout(deadline, run).await {
                Ok(result) => result.map_err(StoreError::from),
                Err(_) => Err(StoreError::Unavailable(format!(
                    "postgres: no answer within {} ms",
                    deadline.as_millis()
                ))),
            };
            let seconds = started.elapsed().as_secs_f64();
            latch_core::metrics::store_call("postgres", port, seconds, result.as_ref().err());
            result
        }
    }
}

/// OpenSSL with peer and host-name verification (its defaults for a client
/// connector), TLS 1.2 at least, trusting the system's roots and `ca_file`.
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<postgres_openssl::MakeTlsConnector, StoreError> {
    use openssl::ssl::{SslConnector, SslMethod, SslVersion};
    let tls_error = |e: openssl::error::ErrorStack| StoreError::Other(format!("TLS setup: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls_error)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls_error)?;
    if let Some(path) = ca_file {
        builder.set_ca_file(path).map_err(|e| {
            StoreError::Other(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
    }
    Ok(postgres_openssl::MakeTlsConnector::new(builder.build()))
}

/// The schema version this build of the adapter migrates to.
pub fn schema_version() -> u32 {
    migrations::latest()
}

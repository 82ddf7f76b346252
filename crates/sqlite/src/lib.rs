//! `latch-sqlite`: Latch's embedded storage, every durable port on one SQLite file.
//!
//! [`SqliteStore`] implements [`UserRepository`], [`ClientRepository`],
//! [`SignInStore`], [`SignUpStore`], [`InstanceStore`], `Counters` and
//! [`Outbox`] from `latch-core`; the app holds it once and hands out
//! `Arc<dyn Port>` clones.
//!
//! - `pool`: one writer connection on a thread of its own, committing the
//!   writes queued together in one transaction, and [`SqliteConfig::readers`]
//!   reader connections, each on a thread of its own, so reads never queue
//!   behind a write.
//! - `migrations`: numbered SQL files in `migrations/`, tracked with
//!   `PRAGMA user_version`, applied by [`SqliteStore::open`] and [`migrate`].
//! - `users`, `clients`, `instance`, `counters`, `outbox`: one module per
//!   port; `flows`: the flow store's two ports (sign-ins and sign-ups), one
//!   table each, written once over the kind of flow.
//! - [`export`]: the whole database read out in one read transaction, as
//!   typed rows in batches, for `latch copy`.
//! - `error`: SQLite errors to `StoreError` (busy/locked -> `Unavailable`, a
//!   taken email/phone/username -> `Duplicate(kind)`, the rest `Other`).
//!
//! Invariants:
//! - Depends on `latch-core` only among Latch crates; never on another adapter.
//! - Nothing blocks the async runtime: every statement runs on the writer's
//!   or a reader's thread, and callers wait for it on the async side.
//! - The file is in WAL mode with `foreign_keys=ON`, a busy timeout and
//!   `synchronous=NORMAL` on every connection.
//! - Every write is one `BEGIN IMMEDIATE` transaction, so a write touching several
//!   rows (a user and its identifications, a session and its client) is atomic, and
//!   every read of an aggregate sees one snapshot.
//! - Writes are as narrow as the ports ask: a single-column change is one
//!   `UPDATE` of that column, and every conditional change (ending an active
//!   session, a sign-in's compare-and-set on its version, a password digest
//!   upgrade) tests its condition in the `UPDATE`'s `WHERE`, never in a read
//!   before it, so racing requests cannot undo each other.
//! - Values are stored as the domain normalised them (lower-cased email, E.164
//!   phone, lower-cased username): plain `UNIQUE` columns are therefore the
//!   case-insensitive uniqueness the ports ask for.

#![forbid(unsafe_code)]

mod audit;
pub mod backup;
mod clients;
mod counters;
mod error;
pub mod export;
mod flows;
mod instance;
mod migrations;
mod operators;
mod outbox;
#[cfg(test)]
mod plans;
mod pool;
mod readiness;
mod settings;
mod sign_in_steps;
mod sign_up_steps;
mod users;
mod webhooks;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latch_core::error::StoreError;
#[cfg(doc)]
use latch_core::ports::{
    ClientRepository, InstanceStore, Outbox, SignInStore, SignUpStore, UserRepository,
};

/// Tuning of the SQLite adapter; `Default` suits a small deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// Reader connections, so reads run while a write is in progress (at least 1).
    pub readers: usize,
    /// How long a statement waits for a lock held by another connection or process
    /// before failing with `StoreError::Unavailable`.
    pub busy_timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Every durable Latch port on one SQLite file. Cloning is cheap and shares the
/// connections.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<pool::Pool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending
    /// migrations. Blocks while it does: call it at start-up, before serving.
    /// The parent directory must exist.
    pub fn open(path: &Path, config: SqliteConfig) -> Result<Self, StoreError> {
        Ok(Self {
            pool: Arc::new(pool::Pool::open(path, config)?),
        })
    }
}

/// Applies pending migrations to the database at `path` (created if missing) and
/// returns its schema version; for the `latch migrate` command. Blocking.
pub fn migrate(path: &Path) -> Result<u32, StoreError> {
    let mut conn = pool::open_writer(path, &SqliteConfig::default())?;
    Ok(migrations::apply(&mut conn)?)
}

/// The schema version this build of the adapter migrates to.
pub fn schema_version() -> u32 {
    migrations::latest()
}

//! Connections: one writer behind an async mutex, a few readers behind a
//! semaphore. Every use runs on tokio's blocking pool; waiting for a connection
//! happens on the async side, so queued callers hold no blocking thread.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use latch_core::error::StoreError;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::SqliteConfig;
use crate::error::DbError;

/// Enough for every statement text the adapter builds, filter variants included.
const STATEMENT_CACHE_CAPACITY: usize = 128;

pub(crate) struct Pool {
    path: PathBuf,
    config: SqliteConfig,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    /// Idle readers. A permit of `reader_permits` entitles its holder to one.
    readers: Mutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
    /// The shared lock that tells a restore the database is in use.
    _in_use: Option<std::fs::File>,
}

impl Pool {
    /// Opens the writer (applying migrations first) and the readers.
    pub(crate) fn open(path: &Path, config: SqliteConfig) -> Result<Self, StoreError> {
        let mut writer = open_writer(path, &config)?;
        crate::migrations::apply(&mut writer)?;
        let reader_count = config.readers.max(1);
        let readers = (0..reader_count)
            .map(|_| open_reader(path, &config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            path: path.to_owned(),
            config,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Mutex::new(readers),
            reader_permits: Arc::new(Semaphore::new(reader_count)),
            _in_use: crate::backup::hold_shared(path),
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on a reader,
    /// timed under the port of the module that calls it.
    #[track_caller]
    pub(crate) fn read<T, F>(
        self: &Arc<Self>,
        f: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let port = caller_port();
        let pool = Arc::clone(self);
        timed(port, async move { pool.read_untimed(f).await })
    }

    async fn read_untimed<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let permit = Arc::clone(&self.reader_permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite reader pool is closed".to_owned()))?;
        let pool = Arc::clone(self);
        blocking(move || {
            let _permit = permit;
            let mut conn = match pool.take_reader() {
                Some(conn) => conn,
                // A reader is lost only if a closure panicked while holding it.
                None => open_reader(&pool.path, &pool.config)?,
            };
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            pool.return_reader(conn);
            result
        })
        .await
    }

    /// The one row `sql` names by its single parameter `key`, mapped by `row`.
    #[track_caller]
    pub(crate) fn read_one<T: Send + 'static>(
        self: &Arc<Self>,
        sql: &'static str,
        key: String,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'static {
        let port = caller_port();
        let pool = Arc::clone(self);
        timed(port, async move {
            pool.read_untimed(move |tx| {
                Ok(rusqlite::OptionalExtension::optional(
                    tx.prepare_cached(sql)?.query_row([key.as_str()], row),
                )?)
            })
            .await
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer and commits;
    /// an error rolls everything back. Timed as [`read`](Self::read) is.
    #[track_caller]
    pub(crate) fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        timed(caller_port(), self.write_untimed(f))
    }

    async fn write_untimed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.writer).lock_owned().await;
        blocking(move || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    /// Whether the database takes writes: the write lock is taken and given
    /// back at once. A writer busy now is writing, which says as much, so a
    /// check never queues behind the writes it would delay.
    pub(crate) async fn writable(&self) -> Result<(), StoreError> {
        let Ok(conn) = Arc::clone(&self.writer).try_lock_owned() else {
            return Ok(());
        };
        blocking(move || {
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            Ok(())
        })
        .await
    }

    fn take_reader(&self) -> Option<Connection> {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn return_reader(&self, conn: Connection) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

/// The port of the adapter module whose call is being made.
#[track_caller]
fn caller_port() -> &'static str {
    latch_core::metrics::port_of(std::panic::Location::caller().file())
}

/// `call`, with its time and failure recorded under `port`.
async fn timed<T>(
    port: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = call.await;
    let seconds = started.elapsed().as_secs_f64();
    latch_core::metrics::store_call("sqlite", port, seconds, result.as_ref().err());
    result
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(join) => Err(StoreError::Other(format!("sqlite task failed: {join}"))),
    }
}

/// A read-write connection in WAL mode. Used by the pool's writer and by
/// [`crate::migrate`].
pub(crate) fn open_writer(path: &Path, config: &SqliteConfig) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, config)?;
    // WAL is a property of the file: set once by the writer, readers inherit it.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(
            StoreError::Other(format!("sqlite refused WAL journal mode (got {mode})")).into(),
        );
    }
    Ok(conn)
}

fn open_reader(path: &Path, config: &SqliteConfig) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, config)?;
    // Readers must never write: a bug that tries fails loudly instead of
    // racing the writer.
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn configure(conn: &Connection, config: &SqliteConfig) -> Result<(), DbError> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(())
}

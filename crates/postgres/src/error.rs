//! From tokio-postgres and pool errors to the port's [`StoreError`].

use deadpool_postgres::PoolError;
use latch_core::error::StoreError;
use tokio_postgres::error::SqlState;

/// What the adapter's internals return, so `?` works on PostgreSQL, pool,
/// serde_json and port errors alike; it becomes a [`StoreError`] at the port
/// boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DbError> for StoreError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Store(err) => err,
            DbError::Json(err) => StoreError::Other(format!("stored JSON is invalid: {err}")),
            DbError::Postgres(err) => from_postgres(&err),
            DbError::Pool(err) => from_pool(err),
        }
    }
}

fn from_pool(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => from_postgres(&err),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(err.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

fn from_postgres(err: &tokio_postgres::Error) -> StoreError {
    let Some(db) = err.as_db_error() else {
        // Not the server's answer: the connection failed, closed or timed out,
        // or a value did not convert (a bug, not an outage).
        let io = std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>());
        return if err.is_closed() || io {
            StoreError::Unavailable(with_causes(err))
        } else {
            StoreError::Other(with_causes(err))
        };
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION
        && let Some(taken) = db.constraint().and_then(latch_sql::unique::by_constraint)
    {
        return taken;
    }
    if unavailable(code) {
        return StoreError::Unavailable(err.to_string());
    }
    StoreError::Other(err.to_string())
}

/// The error and its causes, which say what went wrong (a TLS handshake
/// error names the certificate problem only in its source).
fn with_causes(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Codes that say the database cannot serve now, rather than that the
/// request is wrong: timeouts, shutdowns, overload, lost connections, and
/// deadlocks (the other transaction went on; a retry may succeed).
fn unavailable(code: &SqlState) -> bool {
    [
        SqlState::QUERY_CANCELED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::READ_ONLY_SQL_TRANSACTION,
    ]
    .contains(code)
        // Class 08: connection exceptions.
        || code.code().starts_with("08")
}

/// The tables a conditional write can name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Clients,
    Sessions,
    Users,
}

/// Whether the row `id` exists in `table`.
pub(crate) async fn row_exists(
    tx: &deadpool_postgres::Transaction<'_>,
    table: Table,
    id: &str,
) -> Result<bool, DbError> {
    let sql = match table {
        Table::Clients => "SELECT 1 FROM clients WHERE id = $1",
        Table::Sessions => "SELECT 1 FROM sessions WHERE id = $1",
        Table::Users => "SELECT 1 FROM users WHERE id = $1",
    };
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&stmt, &[&id]).await?.is_some())
}

/// After a compare-and-set write changed nothing: `Conflict` when the row is
/// there (its condition failed), `NotFound` when it is not.
pub(crate) async fn lost_or_missing(
    tx: &deadpool_postgres::Transaction<'_>,
    table: Table,
    id: &str,
) -> DbError {
    match row_exists(tx, table, id).await {
        Ok(true) => StoreError::Conflict.into(),
        Ok(false) => StoreError::NotFound.into(),
        Err(err) => err,
    }
}

/// A tokio-postgres row as the shared row shapes read it.
pub(crate) struct PostgresColumns<'a>(pub &'a tokio_postgres::Row);

impl latch_sql::rows::Columns for PostgresColumns<'_> {
    type Error = DbError;

    fn text(&self, index: usize) -> Result<String, DbError> {
        Ok(self.0.try_get(index)?)
    }

    fn optional_text(&self, index: usize) -> Result<Option<String>, DbError> {
        Ok(self.0.try_get(index)?)
    }

    fn integer(&self, index: usize) -> Result<i64, DbError> {
        Ok(self.0.try_get(index)?)
    }

    fn optional_integer(&self, index: usize) -> Result<Option<i64>, DbError> {
        Ok(self.0.try_get(index)?)
    }

    fn flag(&self, index: usize) -> Result<bool, DbError> {
        Ok(self.0.try_get(index)?)
    }

    fn invalid(&self, _index: usize, why: StoreError) -> DbError {
        DbError::Store(why)
    }
}

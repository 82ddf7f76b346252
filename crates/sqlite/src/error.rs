//! From rusqlite's errors to the port's [`StoreError`].

use latch_core::error::StoreError;
use rusqlite::ErrorCode;

/// What the blocking closures return, so `?` works on rusqlite, serde_json and
/// port errors alike; it becomes a [`StoreError`] at the port boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
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
            DbError::Sqlite(err) => from_sqlite(err),
        }
    }
}

fn from_sqlite(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &err {
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Unavailable(err.to_string());
            }
            ErrorCode::ConstraintViolation
                if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                // `UNIQUE constraint failed: <table>.<column>[, ...]`, stable
                // since SQLite 3.8.
                if let Some(taken) = message
                    .as_deref()
                    .and_then(|m| m.strip_prefix("UNIQUE constraint failed: "))
                    .and_then(latch_sql::unique::by_columns)
                {
                    return taken;
                }
            }
            _ => {}
        }
    }
    StoreError::Other(err.to_string())
}

/// The tables a conditional write can name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Clients,
    Sessions,
    SignIns,
    SignUps,
    Users,
}

/// Whether the row `id` exists in `table`.
pub(crate) fn row_exists(
    conn: &rusqlite::Connection,
    table: Table,
    id: &str,
) -> Result<bool, DbError> {
    let sql = match table {
        Table::Clients => "SELECT 1 FROM clients WHERE id = ?1",
        Table::Sessions => "SELECT 1 FROM sessions WHERE id = ?1",
        Table::SignIns => "SELECT 1 FROM sign_ins WHERE id = ?1",
        Table::SignUps => "SELECT 1 FROM sign_ups WHERE id = ?1",
        Table::Users => "SELECT 1 FROM users WHERE id = ?1",
    };
    Ok(rusqlite::OptionalExtension::optional(
        conn.prepare_cached(sql)?.query_row([id], |_| Ok(())),
    )?
    .is_some())
}

/// After a compare-and-set write changed nothing: `Conflict` when the row is
/// there (its condition failed), `NotFound` when it is not. Run in the write's
/// own transaction, so the row cannot appear or vanish in between.
pub(crate) fn lost_or_missing(conn: &rusqlite::Connection, table: Table, id: &str) -> DbError {
    match row_exists(conn, table, id) {
        Ok(true) => StoreError::Conflict.into(),
        Ok(false) => StoreError::NotFound.into(),
        Err(err) => err,
    }
}

/// A rusqlite row as the shared row shapes read it.
pub(crate) struct SqliteColumns<'a, 'b>(pub &'a rusqlite::Row<'b>);

impl latch_sql::rows::Columns for SqliteColumns<'_, '_> {
    type Error = rusqlite::Error;

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.0.get(index)
    }

    fn optional_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.0.get(index)
    }

    fn integer(&self, index: usize) -> rusqlite::Result<i64> {
        self.0.get(index)
    }

    fn optional_integer(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.0.get(index)
    }

    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.0.get(index)
    }

    fn invalid(&self, index: usize, why: StoreError) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(why))
    }
}

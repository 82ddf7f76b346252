//! From rusqlite's errors to the port's [`StoreError`].

use latch_core::error::StoreError;
use latch_core::model::IdentifierKind;
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
                if let Some(kind) = message.as_deref().and_then(taken_identifier) {
                    return StoreError::Duplicate(kind);
                }
                // An external account another user linked first.
                if message
                    .as_deref()
                    .is_some_and(|m| m.contains("external_accounts.provider"))
                {
                    return StoreError::ExternalAccountTaken;
                }
            }
            _ => {}
        }
    }
    StoreError::Other(err.to_string())
}

/// The identifier kind a UNIQUE violation is about, read from SQLite's message
/// (`UNIQUE constraint failed: <table>.<column>`, stable since SQLite 3.8).
/// Other unique columns (ids, token hashes) are not identifiers and stay `Other`.
fn taken_identifier(message: &str) -> Option<IdentifierKind> {
    let column = message.strip_prefix("UNIQUE constraint failed: ")?;
    match column {
        "email_addresses.value" => Some(IdentifierKind::EmailAddress),
        "phone_numbers.value" => Some(IdentifierKind::PhoneNumber),
        "users.username" => Some(IdentifierKind::Username),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_the_identifier() {
        assert_eq!(
            taken_identifier("UNIQUE constraint failed: email_addresses.value"),
            Some(IdentifierKind::EmailAddress)
        );
        assert_eq!(
            taken_identifier("UNIQUE constraint failed: phone_numbers.value"),
            Some(IdentifierKind::PhoneNumber)
        );
        assert_eq!(
            taken_identifier("UNIQUE constraint failed: users.username"),
            Some(IdentifierKind::Username)
        );
        assert_eq!(
            taken_identifier("UNIQUE constraint failed: clients.token_hash"),
            None
        );
        assert_eq!(taken_identifier("UNIQUE constraint failed: users.id"), None);
    }
}

/// The tables a conditional write can name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Clients,
    Sessions,
    SignIns,
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

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

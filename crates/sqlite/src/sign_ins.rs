//! [`SignInStore`]: each sign-in as one JSON document, with its id, client,
//! `abandon_at` and version in columns for lookups, purging and the
//! compare-and-set of [`SignInStore::replace`].

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{SignIn, SignInId, Timestamp};
use latch_core::ports::SignInStore;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::error::{Table, lost_or_missing};

/// The columns of one sign-in, ready to bind.
struct SignInRow {
    id: SignInId,
    client_id: String,
    abandon_at: i64,
    version: i64,
    data: String,
}

impl SignInRow {
    fn of(sign_in: &SignIn) -> Result<Self, StoreError> {
        Ok(Self {
            id: sign_in.id.clone(),
            client_id: sign_in.client_id.as_str().to_owned(),
            abandon_at: sign_in.abandon_at.0,
            version: column_version(sign_in.version())?,
            data: serde_json::to_string(sign_in)
                .map_err(|e| StoreError::Other(format!("cannot serialise sign-in: {e}")))?,
        })
    }
}

/// SQLite integers are signed; a version past `i64::MAX` would take 2^63
/// changes to one sign-in, so refusing it is only a guard.
fn column_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Other(format!("sign-in version {version} does not fit SQLite")))
}

#[async_trait]
impl SignInStore for SqliteStore {
    async fn insert(&self, sign_in: &SignIn) -> Result<(), StoreError> {
        let row = SignInRow::of(sign_in)?;
        // A taken id violates the primary key, which `error` reports as `Other`:
        // ids are random, so a clash is a bug, not a race to win.
        self.pool
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO sign_ins (id, client_id, abandon_at, version, data) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    row.id.as_str(),
                    row.client_id,
                    row.abandon_at,
                    row.version,
                    row.data
                ])?;
                Ok(())
            })
            .await
    }

    async fn replace(&self, sign_in: &SignIn, expected_version: u64) -> Result<(), StoreError> {
        let row = SignInRow::of(sign_in)?;
        let expected = column_version(expected_version)?;
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE sign_ins SET client_id = ?2, abandon_at = ?3, version = ?4, data = ?5 \
                         WHERE id = ?1 AND version = ?6",
                    )?
                    .execute(params![
                        row.id.as_str(),
                        row.client_id,
                        row.abandon_at,
                        row.version,
                        row.data,
                        expected
                    ])?;
                if changed == 0 {
                    return Err(lost_or_missing(tx, Table::SignIns, row.id.as_str()));
                }
                Ok(())
            })
            .await
    }

    async fn get(&self, id: &SignInId) -> Result<Option<SignIn>, StoreError> {
        let id = id.clone();
        self.pool
            .read(move |tx| {
                let data: Option<String> = tx
                    .prepare_cached("SELECT data FROM sign_ins WHERE id = ?1")?
                    .query_row([id.as_str()], |row| row.get(0))
                    .optional()?;
                match data {
                    Some(data) => Ok(Some(serde_json::from_str(&data)?)),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn delete(&self, id: &SignInId) -> Result<(), StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                tx.prepare_cached("DELETE FROM sign_ins WHERE id = ?1")?
                    .execute([id.as_str()])?;
                Ok(())
            })
            .await
    }

    async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let purged = tx
                    .prepare_cached("DELETE FROM sign_ins WHERE abandon_at < ?1")?
                    .execute([now.0])?;
                Ok(u64::try_from(purged).unwrap_or(u64::MAX))
            })
            .await
    }
}

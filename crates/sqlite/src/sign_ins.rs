//! [`SignInStore`]: each sign-in as one JSON document, with its id, client and
//! `abandon_at` in columns for lookups and purging.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{SignIn, SignInId, Timestamp};
use latch_core::ports::SignInStore;
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;

#[async_trait]
impl SignInStore for SqliteStore {
    async fn put(&self, sign_in: &SignIn) -> Result<(), StoreError> {
        let data = serde_json::to_string(sign_in)
            .map_err(|e| StoreError::Other(format!("cannot serialise sign-in: {e}")))?;
        let (id, client_id, abandon_at) = (
            sign_in.id.clone(),
            sign_in.client_id.clone(),
            sign_in.abandon_at,
        );
        self.pool
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO sign_ins (id, client_id, abandon_at, data) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, \
                     abandon_at = excluded.abandon_at, data = excluded.data",
                )?
                .execute(params![id.as_str(), client_id.as_str(), abandon_at.0, data])?;
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

//! [`Counters`]: one row per key with its count and the end of its window.
//! The hit is a single upsert that starts a new window when the stored one
//! has ended, inside the writer's transaction, so concurrent hits from any
//! process on the file each see their own count.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Duration, Timestamp};
use latch_core::ports::{Counters, WindowCount};
use rusqlite::params;

use crate::SqliteStore;

#[async_trait]
impl Counters for SqliteStore {
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let key = key.to_owned();
        let window_ends = now.0.saturating_add(window.0.max(1));
        self.pool
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO counters (key, count, window_ends) VALUES (?1, 1, ?3) \
                     ON CONFLICT (key) DO UPDATE SET \
                       count = CASE WHEN window_ends <= ?2 THEN 1 ELSE count + 1 END, \
                       window_ends = CASE WHEN window_ends <= ?2 THEN ?3 ELSE window_ends END",
                )?
                .execute(params![key, now.0, window_ends])?;
                // Read back in the same transaction rather than by
                // `RETURNING`, which SQLite serves through a temporary table.
                let (count, ends): (i64, i64) = tx
                    .prepare_cached("SELECT count, window_ends FROM counters WHERE key = ?1")?
                    .query_row([&key], |row| Ok((row.get(0)?, row.get(1)?)))?;
                Ok(WindowCount {
                    count: u64::try_from(count).unwrap_or_default(),
                    resets_in: Duration(ends.saturating_sub(now.0).max(0)),
                })
            })
            .await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let n = tx
                    .prepare_cached("DELETE FROM counters WHERE window_ends <= ?1")?
                    .execute(params![now.0])?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }
}

//! [`InstanceStore`]: a key-value table whose values, once written, stay.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::ports::InstanceStore;
use rusqlite::params;

use crate::SqliteStore;

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.pool
            .read_one(
                "SELECT value FROM instance WHERE key = ?1",
                key.to_owned(),
                |row| row.get(0),
            )
            .await
    }

    async fn get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        // One immediate transaction: another process sharing the file either
        // committed first (and its value is read back) or waits for this one.
        self.pool
            .write(move |tx| {
                tx.prepare_cached("INSERT INTO instance (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")?
                    .execute(params![key.as_str(), value.as_str()])?;
                Ok(tx.prepare_cached("SELECT value FROM instance WHERE key = ?1")?.query_row([key.as_str()], |row| row.get(0))?)
            })
            .await
    }

    async fn compare_and_set<'a>(
        &self,
        key: &str,
        expected: Option<&'a str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let (key, expected, value) = (
            key.to_owned(),
            expected.map(str::to_owned),
            value.to_owned(),
        );
        self.pool
            .write(move |tx| {
                let changed = match &expected {
                    Some(expected) => tx
                        .prepare_cached(
                            "UPDATE instance SET value = ?3 WHERE key = ?1 AND value = ?2",
                        )?
                        .execute(params![key, expected, value])?,
                    None => tx
                        .prepare_cached(
                            "INSERT INTO instance (key, value) VALUES (?1, ?2) \
                             ON CONFLICT (key) DO NOTHING",
                        )?
                        .execute(params![key, value])?,
                };
                Ok(changed == 1)
            })
            .await
    }
}

//! [`InstanceStore`]: instance-wide key-value material.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::ports::InstanceStore;

use crate::PostgresStore;
use crate::error::DbError;

#[async_trait]
impl InstanceStore for PostgresStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT value FROM instance WHERE key = $1")
                .await?;
            let row = client.query_opt(&stmt, &[&key]).await?;
            Ok::<_, DbError>(row.map(|row| row.try_get(0)).transpose()?)
        };
        self.bounded(run).await
    }

    async fn get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let run = async {
            let client = self.client().await?;
            // One statement: the no-op update locks and returns the row another
            // replica committed first; a racing insert waits for it and does the same.
            let stmt = client
                .prepare_cached(
                    "INSERT INTO instance (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = instance.value RETURNING value",
                )
                .await?;
            let row = client.query_one(&stmt, &[&key, &value]).await?;
            Ok::<_, DbError>(row.try_get(0)?)
        };
        self.bounded(run).await
    }

    async fn compare_and_set<'a>(
        &self,
        key: &str,
        expected: Option<&'a str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let run = async {
            let client = self.client().await?;
            let changed = match expected {
                Some(expected) => {
                    let stmt = client
                        .prepare_cached(
                            "UPDATE instance SET value = $3 WHERE key = $1 AND value = $2",
                        )
                        .await?;
                    client.execute(&stmt, &[&key, &expected, &value]).await?
                }
                None => {
                    let stmt = client
                        .prepare_cached(
                            "INSERT INTO instance (key, value) VALUES ($1, $2) \
                             ON CONFLICT (key) DO NOTHING",
                        )
                        .await?;
                    client.execute(&stmt, &[&key, &value]).await?
                }
            };
            Ok::<_, DbError>(changed == 1)
        };
        self.bounded(run).await
    }
}

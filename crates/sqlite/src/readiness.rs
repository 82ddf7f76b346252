//! `/readyz` for SQLite: the schema is this build's, and the database takes
//! writes (the write lock can be taken, or this instance is writing).

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::ports::Readiness;

use crate::SqliteStore;

#[async_trait]
impl Readiness for SqliteStore {
    fn part(&self) -> &'static str {
        "sqlite"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let latest = crate::migrations::latest();
        let version = self
            .pool
            .read(|tx| Ok(tx.pragma_query_value(None, "user_version", |row| row.get::<_, u32>(0))?))
            .await?;
        if version != latest {
            return Err(StoreError::Other(format!(
                "the schema is at version {version}, this build's is {latest}"
            )));
        }
        self.pool.writable().await
    }
}

//! `/readyz` for SQLite: the writer can take the database's write lock
//! (the file is writable and no other process holds it) and the schema is
//! this build's.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::ports::Readiness;

use crate::SqliteStore;
use crate::error::DbError;

#[async_trait]
impl Readiness for SqliteStore {
    fn part(&self) -> &'static str {
        "sqlite"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let latest = crate::migrations::latest();
        // An immediate transaction takes the write lock; committing it
        // writes nothing.
        self.pool
            .write(move |tx| {
                let version: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
                if version == latest {
                    Ok(())
                } else {
                    Err(DbError::Store(StoreError::Other(format!(
                        "the schema is at version {version}, this build's is {latest}"
                    ))))
                }
            })
            .await
    }
}

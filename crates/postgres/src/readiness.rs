//! `/readyz` for PostgreSQL: a pooled connection answers, and the schema is
//! this build's.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::ports::Readiness;

use crate::PostgresStore;
use crate::error::DbError;

#[async_trait]
impl Readiness for PostgresStore {
    fn part(&self) -> &'static str {
        "postgres"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let latest = i64::from(crate::migrations::latest());
        let run = async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::bigint FROM latch_schema_migrations",
                    &[],
                )
                .await?;
            Ok::<i64, DbError>(row.try_get(0)?)
        };
        let version = self.bounded(run).await?;
        if version == latest {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "the schema is at version {version}, this build's is {latest}"
            )))
        }
    }
}

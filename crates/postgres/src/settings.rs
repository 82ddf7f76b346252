//! [`SettingsStore`]: settings versions keyed by their number (a racing
//! writer of the same version inserts nothing), and the lists; every change
//! bumps the one generation row in the same transaction.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{AccessList, ListEntry, Timestamp};
use latch_core::ports::{SettingsStore, SettingsVersion};
use latch_sql::settings::{
    BUMP_GENERATION, ENTRY_COLUMNS, VERSION_COLUMNS, document_column, list_entry, version,
    version_column,
};
use serde_json::Value;

use crate::PostgresStore;
use crate::error::{DbError, PostgresColumns};

#[async_trait]
impl SettingsStore for PostgresStore {
    async fn latest(&self) -> Result<Option<SettingsVersion>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM settings_versions ORDER BY version DESC LIMIT 1"
                ))
                .await?;
            let row = db.query_opt(&stmt, &[]).await?;
            row.map(|row| version(&PostgresColumns(&row))).transpose()
        };
        self.bounded(run).await
    }

    async fn save(
        &self,
        after: u64,
        document: &Value,
        changed_by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let after = version_column(after)?;
        let document = document_column(document);
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            // A writer racing for the same version waits for the other's
            // commit, then inserts nothing.
            let stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO settings_versions ({VERSION_COLUMNS}) \
                     SELECT $1::BIGINT + 1, $2, $3::BIGINT, $4 \
                     WHERE (SELECT COALESCE(MAX(version), 0) FROM settings_versions) = $1::BIGINT \
                     ON CONFLICT (version) DO NOTHING"
                ))
                .await?;
            let inserted = tx
                .execute(&stmt, &[&after, &document, &at.0, &changed_by])
                .await?;
            if inserted == 1 {
                let bump = tx.prepare_cached(BUMP_GENERATION).await?;
                tx.execute(&bump, &[]).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(inserted == 1)
        };
        self.bounded(run).await
    }

    async fn history(&self, limit: u32) -> Result<Vec<SettingsVersion>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM settings_versions ORDER BY version DESC LIMIT $1"
                ))
                .await?;
            let rows = db.query(&stmt, &[&i64::from(limit)]).await?;
            rows.iter()
                .map(|row| version(&PostgresColumns(row)))
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached("SELECT generation FROM settings_generation WHERE id = 1")
                .await?;
            let generation: i64 = db.query_one(&stmt, &[]).await?.try_get(0)?;
            Ok::<_, DbError>(u64::try_from(generation).unwrap_or(0))
        };
        self.bounded(run).await
    }

    async fn entries(&self, list: AccessList) -> Result<Vec<ListEntry>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM access_list WHERE list = $1 \
                     ORDER BY created_at, id"
                ))
                .await?;
            let rows = db.query(&stmt, &[&list.as_str()]).await?;
            rows.iter()
                .map(|row| list_entry(&PostgresColumns(row)))
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }

    async fn add_entry(&self, entry: &ListEntry) -> Result<bool, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO access_list ({ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (list, identifier) DO NOTHING"
                ))
                .await?;
            let added = tx
                .execute(
                    &stmt,
                    &[
                        &entry.id,
                        &entry.list.as_str(),
                        &entry.identifier,
                        &entry.kind.as_str(),
                        &entry.created_at.0,
                    ],
                )
                .await?;
            if added == 1 {
                let bump = tx.prepare_cached(BUMP_GENERATION).await?;
                tx.execute(&bump, &[]).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(added == 1)
        };
        self.bounded(run).await
    }

    async fn remove_entry(&self, list: AccessList, id: &str) -> Result<bool, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let stmt = tx
                .prepare_cached("DELETE FROM access_list WHERE list = $1 AND id = $2")
                .await?;
            let removed = tx.execute(&stmt, &[&list.as_str(), &id]).await?;
            if removed == 1 {
                let bump = tx.prepare_cached(BUMP_GENERATION).await?;
                tx.execute(&bump, &[]).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(removed == 1)
        };
        self.bounded(run).await
    }
}

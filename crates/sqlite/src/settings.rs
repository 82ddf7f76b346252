//! [`SettingsStore`]: settings versions appended in the writer's
//! transaction (the version number is the primary key, so two writers of
//! the same version cannot both commit), and the lists; every change bumps
//! the one generation row in the same transaction.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{AccessList, ListEntry, Timestamp};
use latch_core::ports::{SettingsStore, SettingsVersion};
use latch_sql::settings::{
    BUMP_GENERATION, ENTRY_COLUMNS, VERSION_COLUMNS, document_column, list_entry, version,
    version_column,
};
use rusqlite::{OptionalExtension as _, params};
use serde_json::Value;

use crate::SqliteStore;
use crate::error::SqliteColumns;

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn latest(&self) -> Result<Option<SettingsVersion>, StoreError> {
        self.pool
            .read(|tx| {
                Ok(tx
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLUMNS} FROM settings_versions ORDER BY version DESC LIMIT 1"
                    ))?
                    .query_row([], |row| version(&SqliteColumns(row)))
                    .optional()?)
            })
            .await
    }

    async fn save(
        &self,
        after: u64,
        document: &Value,
        changed_by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let next = version_column(after)? + 1;
        let (document, changed_by) = (document_column(document), changed_by.to_owned());
        self.pool
            .write(move |tx| {
                let latest: i64 = tx
                    .prepare_cached("SELECT COALESCE(MAX(version), 0) FROM settings_versions")?
                    .query_row([], |row| row.get(0))?;
                if latest != next - 1 {
                    return Ok(false);
                }
                tx.prepare_cached(&format!(
                    "INSERT INTO settings_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4)"
                ))?
                .execute(params![next, document, at.0, changed_by])?;
                tx.prepare_cached(BUMP_GENERATION)?.execute([])?;
                Ok(true)
            })
            .await
    }

    async fn history(&self, limit: u32) -> Result<Vec<SettingsVersion>, StoreError> {
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {VERSION_COLUMNS} FROM settings_versions ORDER BY version DESC LIMIT ?1"
                ))?;
                let rows = stmt.query_map([limit], |row| version(&SqliteColumns(row)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        let generation: i64 = self
            .pool
            .read(|tx| {
                Ok(tx
                    .prepare_cached("SELECT generation FROM settings_generation WHERE id = 1")?
                    .query_row([], |row| row.get(0))?)
            })
            .await?;
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    async fn entries(&self, list: AccessList) -> Result<Vec<ListEntry>, StoreError> {
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM access_list WHERE list = ?1 \
                     ORDER BY created_at, id"
                ))?;
                let rows =
                    stmt.query_map([list.as_str()], |row| list_entry(&SqliteColumns(row)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn add_entry(&self, entry: &ListEntry) -> Result<bool, StoreError> {
        let entry = entry.clone();
        self.pool
            .write(move |tx| {
                let added = tx
                    .prepare_cached(&format!(
                        "INSERT INTO access_list ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (list, identifier) DO NOTHING"
                    ))?
                    .execute(params![
                        entry.id,
                        entry.list.as_str(),
                        entry.identifier,
                        entry.kind.as_str(),
                        entry.created_at.0
                    ])?;
                if added == 1 {
                    tx.prepare_cached(BUMP_GENERATION)?.execute([])?;
                }
                Ok(added == 1)
            })
            .await
    }

    async fn remove_entry(&self, list: AccessList, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.pool
            .write(move |tx| {
                let removed = tx
                    .prepare_cached("DELETE FROM access_list WHERE list = ?1 AND id = ?2")?
                    .execute(params![list.as_str(), id])?;
                if removed == 1 {
                    tx.prepare_cached(BUMP_GENERATION)?.execute([])?;
                }
                Ok(removed == 1)
            })
            .await
    }
}

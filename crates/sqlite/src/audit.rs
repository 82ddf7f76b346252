//! [`AuditLog`]: one insert per entry; the table refuses updates (a
//! trigger), and only retention deletes.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{AuditEntry, AuditQuery, Timestamp};
use latch_core::ports::AuditLog;
use latch_sql::audit::{AUDIT_COLUMNS, actions_filter, detail_column, entry};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::SqliteColumns;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.pool
            .write(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?;
                for e in &entries {
                    stmt.execute(params![
                        e.id,
                        e.at.0,
                        e.action.as_str(),
                        e.actor.as_str(),
                        e.user_id,
                        e.client_ip,
                        e.user_agent,
                        detail_column(&e.detail)
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn query(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        let q = q.clone();
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {AUDIT_COLUMNS}, seq FROM audit_log \
                     WHERE (?1 IS NULL OR user_id = ?1) \
                       AND (?2 = '' OR instr(?2, ',' || action || ',') > 0) \
                       AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4) \
                       AND (?5 IS NULL OR seq < ?5) \
                     ORDER BY seq DESC LIMIT ?6"
                ))?;
                let rows = stmt.query_map(
                    params![
                        q.user_id,
                        actions_filter(&q.actions),
                        q.since.map(|t| t.0),
                        q.until.map(|t| t.0),
                        q.before,
                        i64::from(q.limit)
                    ],
                    |row| Ok((row.get::<_, i64>(8)?, entry(&SqliteColumns(row))?)),
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn purge(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let n = tx
                    .prepare_cached("DELETE FROM audit_log WHERE at < ?1")?
                    .execute([before.0])?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }
}

//! [`AuditLog`]: one insert per entry; the table refuses updates (a
//! trigger), and only retention deletes.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{AuditEntry, AuditQuery, Timestamp};
use latch_core::ports::AuditLog;
use latch_sql::audit::{AUDIT_COLUMNS, actions_filter, detail_column, entry};

use crate::PostgresStore;
use crate::error::{DbError, PostgresColumns};

#[async_trait]
impl AuditLog for PostgresStore {
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let run = async {
            let db = self.client().await?;
            // One statement for the batch, its columns as arrays.
            let stmt = db
                .prepare_cached(&format!(
                    "INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT {AUDIT_COLUMNS} FROM \
                     unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                     $6::TEXT[], $7::TEXT[], $8::TEXT[]) WITH ORDINALITY \
                     AS t(id, at, action, actor, user_id, client_ip, user_agent, detail, n) \
                     ORDER BY n"
                ))
                .await?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let ats: Vec<i64> = entries.iter().map(|e| e.at.0).collect();
            let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
            let actors: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
            let users: Vec<Option<&str>> = entries.iter().map(|e| e.user_id.as_deref()).collect();
            let ips: Vec<Option<&str>> = entries.iter().map(|e| e.client_ip.as_deref()).collect();
            let agents: Vec<Option<&str>> =
                entries.iter().map(|e| e.user_agent.as_deref()).collect();
            let details: Vec<String> = entries.iter().map(|e| detail_column(&e.detail)).collect();
            db.execute(
                &stmt,
                &[
                    &ids, &ats, &actions, &actors, &users, &ips, &agents, &details,
                ],
            )
            .await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn query(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {AUDIT_COLUMNS}, seq FROM audit_log \
                     WHERE ($1::TEXT IS NULL OR user_id = $1) \
                       AND ($2 = '' OR position(',' || action || ',' in $2) > 0) \
                       AND ($3::BIGINT IS NULL OR at >= $3) AND ($4::BIGINT IS NULL OR at < $4) \
                       AND ($5::BIGINT IS NULL OR seq < $5) \
                     ORDER BY seq DESC LIMIT $6"
                ))
                .await?;
            let rows = db
                .query(
                    &stmt,
                    &[
                        &q.user_id,
                        &actions_filter(&q.actions),
                        &q.since.map(|t| t.0),
                        &q.until.map(|t| t.0),
                        &q.before,
                        &i64::from(q.limit),
                    ],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get::<_, i64>(8)?, entry(&PostgresColumns(row))?)))
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }

    async fn purge(&self, before: Timestamp) -> Result<u64, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached("DELETE FROM audit_log WHERE at < $1")
                .await?;
            Ok::<_, DbError>(db.execute(&stmt, &[&before.0]).await?)
        };
        self.bounded(run).await
    }
}

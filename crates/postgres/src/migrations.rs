//! Schema migrations: numbered SQL files, applied in order, each recorded in
//! `latch_schema_migrations`.

use deadpool_postgres::Object;
use latch_core::error::StoreError;

use crate::error::DbError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only; never edit one
/// that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_attempt_windows.sql"),
    include_str!("../migrations/0003_clients_by_updated_at.sql"),
    include_str!("../migrations/0004_deliveries.sql"),
    include_str!("../migrations/0005_account_history.sql"),
    include_str!("../migrations/0006_client_sign_ups.sql"),
    include_str!("../migrations/0007_legal_acceptance.sql"),
    include_str!("../migrations/0008_accounts.sql"),
    include_str!("../migrations/0009_webhooks.sql"),
    include_str!("../migrations/0010_audit_log.sql"),
    include_str!("../migrations/0011_settings.sql"),
    include_str!("../migrations/0012_operators.sql"),
    include_str!("../migrations/0013_copy.sql"),
];

/// The advisory lock that serialises migrating replicas ("latch" in ASCII).
const MIGRATION_LOCK: i64 = 0x006c_6174_6368;

/// The schema version this build writes.
pub(crate) fn latest() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Brings the database to [`latest`] in one transaction that first takes an
/// advisory lock: a second replica starting at the same time waits, then
/// finds the migrations recorded and applies none. DDL is transactional in
/// PostgreSQL, so a failing migration leaves nothing behind.
pub(crate) async fn apply(client: &mut Object) -> Result<u32, DbError> {
    let target = latest();
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS latch_schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM latch_schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if current > i64::from(target) {
        return Err(StoreError::Other(format!(
            "database schema version {current} is newer than this build supports ({target})"
        ))
        .into());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO latch_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, "applied postgres migration");
    }
    tx.commit().await?;
    Ok(target)
}

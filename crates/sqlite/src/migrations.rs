//! Schema migrations: numbered SQL files, applied in order, the version kept in
//! `PRAGMA user_version`.

use latch_core::error::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::DbError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only; never edit one
/// that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_sign_in_versions.sql"),
    include_str!("../migrations/0003_lockout.sql"),
    include_str!("../migrations/0004_second_factors.sql"),
    include_str!("../migrations/0005_external_accounts.sql"),
    include_str!("../migrations/0006_counters.sql"),
    include_str!("../migrations/0007_attempt_windows.sql"),
    include_str!("../migrations/0008_clients_by_updated_at.sql"),
    include_str!("../migrations/0009_deliveries.sql"),
    include_str!("../migrations/0010_account_history.sql"),
    include_str!("../migrations/0011_sign_ups.sql"),
    include_str!("../migrations/0012_client_sign_ups.sql"),
    include_str!("../migrations/0013_legal_acceptance.sql"),
    include_str!("../migrations/0014_accounts.sql"),
    include_str!("../migrations/0015_webhooks.sql"),
    include_str!("../migrations/0016_audit_log.sql"),
    include_str!("../migrations/0017_settings.sql"),
    include_str!("../migrations/0018_operators.sql"),
];

/// The schema version this build writes.
pub(crate) fn latest() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Brings the database to [`latest`] in one immediate transaction, so two
/// processes starting together cannot both apply a migration. Returns the
/// version afterwards.
pub(crate) fn apply(conn: &mut Connection) -> Result<u32, DbError> {
    let target = latest();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > target {
        return Err(StoreError::Other(format!(
            "database schema version {current} is newer than this build supports ({target})"
        ))
        .into());
    }
    if current == target {
        return Ok(current);
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tracing::info!(version = index + 1, "applied sqlite migration");
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(target)
}

//! [`OperatorStore`]: one row per operator; every conditional grant or
//! revocation tests its condition in its own statement, inside the one
//! writer's immediate transaction.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Timestamp, UserId};
use latch_core::ports::{Operator, OperatorStore, Revoked};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::error::DbError;

/// Inserts `operator` if `condition` (SQL over `?1`, the user) holds and
/// the user exists; `NotFound` when the user does not.
fn insert_if(
    tx: &Transaction<'_>,
    operator: &Operator,
    condition: &'static str,
) -> Result<bool, DbError> {
    let inserted = tx
        .prepare_cached(&format!(
            "INSERT INTO operators (user_id, granted_at, granted_by) \
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) AND {condition} \
             ON CONFLICT (user_id) DO NOTHING"
        ))?
        .execute(params![
            operator.user_id.0,
            operator.granted_at.0,
            operator.granted_by.as_ref().map(|u| u.0.as_str())
        ])?;
    if inserted == 1 {
        return Ok(true);
    }
    let user = tx
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([operator.user_id.0.as_str()], |_| Ok(()))
        .optional()?;
    match user {
        Some(()) => Ok(false),
        None => Err(StoreError::NotFound.into()),
    }
}

fn operator(row: &rusqlite::Row<'_>) -> rusqlite::Result<Operator> {
    Ok(Operator {
        user_id: UserId(row.get(0)?),
        granted_at: Timestamp(row.get(1)?),
        granted_by: row.get::<_, Option<String>>(2)?.map(UserId),
    })
}

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn grant(&self, operator: &Operator) -> Result<bool, StoreError> {
        let operator = operator.clone();
        self.pool
            .write(move |tx| insert_if(tx, &operator, "1"))
            .await
    }

    async fn grant_first(&self, operator: &Operator) -> Result<bool, StoreError> {
        let operator = operator.clone();
        self.pool
            .write(move |tx| insert_if(tx, &operator, "NOT EXISTS (SELECT 1 FROM operators)"))
            .await
    }

    async fn revoke(&self, user_id: &UserId) -> Result<Revoked, StoreError> {
        let user_id = user_id.0.clone();
        self.pool
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached(
                        "DELETE FROM operators WHERE user_id = ?1 \
                         AND (SELECT COUNT(*) FROM operators) > 1",
                    )?
                    .execute([user_id.as_str()])?;
                if deleted == 1 {
                    return Ok(Revoked::Revoked);
                }
                let held = tx
                    .prepare_cached("SELECT 1 FROM operators WHERE user_id = ?1")?
                    .query_row([user_id.as_str()], |_| Ok(()))
                    .optional()?;
                Ok(match held {
                    Some(()) => Revoked::LastOperator,
                    None => Revoked::NotOperator,
                })
            })
            .await
    }

    async fn is_operator(&self, user_id: &UserId) -> Result<bool, StoreError> {
        let found = self
            .pool
            .read_one(
                "SELECT 1 FROM operators WHERE user_id = ?1",
                user_id.0.clone(),
                |_| Ok(()),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn list(&self, limit: u32) -> Result<Vec<Operator>, StoreError> {
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "SELECT user_id, granted_at, granted_by FROM operators \
                     ORDER BY granted_at, user_id LIMIT ?1",
                )?;
                let rows = stmt.query_map([i64::from(limit)], operator)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.pool
            .read(|tx| {
                let n: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM operators")?
                    .query_row([], |row| row.get(0))?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }
}

//! [`OperatorStore`]: one row per operator. A first grant and a revocation
//! depend on the other rows, so each takes a lock on the table that only
//! they (and plain grants) contend for, and tests its condition after it:
//! racing replicas never make two first operators nor leave none.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use latch_core::error::StoreError;
use latch_core::model::{Timestamp, UserId};
use latch_core::ports::{Operator, OperatorStore, Revoked};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbError;

/// Serialises first grants and revocations with each other and with
/// grants (which take `ROW EXCLUSIVE` by inserting); reads go on.
const LOCK: &str = "LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE";

async fn insert(tx: &Transaction<'_>, operator: &Operator, first: bool) -> Result<bool, DbError> {
    if first {
        tx.batch_execute(LOCK).await?;
    }
    let stmt = tx
        .prepare_cached(if first {
            "INSERT INTO operators (user_id, granted_at, granted_by) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
             AND NOT EXISTS (SELECT 1 FROM operators) \
             ON CONFLICT (user_id) DO NOTHING"
        } else {
            "INSERT INTO operators (user_id, granted_at, granted_by) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
             ON CONFLICT (user_id) DO NOTHING"
        })
        .await?;
    let granted_by = operator.granted_by.as_ref().map(|u| u.0.as_str());
    let inserted = tx
        .execute(
            &stmt,
            &[&operator.user_id.0, &operator.granted_at.0, &granted_by],
        )
        .await?;
    if inserted == 1 {
        return Ok(true);
    }
    let stmt = tx
        .prepare_cached("SELECT 1 FROM users WHERE id = $1")
        .await?;
    match tx.query_opt(&stmt, &[&operator.user_id.0]).await? {
        Some(_) => Ok(false),
        None => Err(StoreError::NotFound.into()),
    }
}

fn operator(row: &Row) -> Result<Operator, DbError> {
    Ok(Operator {
        user_id: UserId(row.try_get(0)?),
        granted_at: Timestamp(row.try_get(1)?),
        granted_by: row.try_get::<_, Option<String>>(2)?.map(UserId),
    })
}

impl PostgresStore {
    async fn grant_with(&self, operator: &Operator, first: bool) -> Result<bool, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let granted = insert(&tx, operator, first).await?;
            tx.commit().await?;
            Ok::<_, DbError>(granted)
        };
        self.bounded(run).await
    }
}

#[async_trait]
impl OperatorStore for PostgresStore {
    async fn grant(&self, operator: &Operator) -> Result<bool, StoreError> {
        self.grant_with(operator, false).await
    }

    async fn grant_first(&self, operator: &Operator) -> Result<bool, StoreError> {
        self.grant_with(operator, true).await
    }

    async fn revoke(&self, user_id: &UserId) -> Result<Revoked, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            tx.batch_execute(LOCK).await?;
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM operators WHERE user_id = $1 \
                     AND (SELECT COUNT(*) FROM operators) > 1",
                )
                .await?;
            let revoked = if tx.execute(&stmt, &[&user_id.0]).await? == 1 {
                Revoked::Revoked
            } else {
                let stmt = tx
                    .prepare_cached("SELECT 1 FROM operators WHERE user_id = $1")
                    .await?;
                match tx.query_opt(&stmt, &[&user_id.0]).await? {
                    Some(_) => Revoked::LastOperator,
                    None => Revoked::NotOperator,
                }
            };
            tx.commit().await?;
            Ok::<_, DbError>(revoked)
        };
        self.bounded(run).await
    }

    async fn is_operator(&self, user_id: &UserId) -> Result<bool, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT 1 FROM operators WHERE user_id = $1")
                .await?;
            Ok::<_, DbError>(client.query_opt(&stmt, &[&user_id.0]).await?.is_some())
        };
        self.bounded(run).await
    }

    async fn list(&self, limit: u32) -> Result<Vec<Operator>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT user_id, granted_at, granted_by FROM operators \
                     ORDER BY granted_at, user_id LIMIT $1",
                )
                .await?;
            let rows = client.query(&stmt, &[&i64::from(limit)]).await?;
            rows.iter().map(operator).collect::<Result<Vec<_>, _>>()
        };
        self.bounded(run).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT COUNT(*) FROM operators")
                .await?;
            let n: i64 = client.query_one(&stmt, &[]).await?.try_get(0)?;
            Ok::<_, DbError>(u64::try_from(n).unwrap_or_default())
        };
        self.bounded(run).await
    }
}

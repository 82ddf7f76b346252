//! [`Outbox`]: the delivery queue, one row per delivery. A claim is one
//! statement that locks the due rows it takes (`FOR UPDATE SKIP LOCKED`) and
//! leases them, so replicas claiming at once never share a delivery; every
//! other change tests its lease in the `UPDATE`'s `WHERE`. A delivery is
//! enqueued with the events it causes, in one transaction.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{NewEvent, Timestamp};
use latch_core::ports::{
    ClaimedDelivery, DeliveryCounts, DeliveryRecord, DeliveryStatus, Lease, NewDelivery, Outbox,
};

use crate::PostgresStore;
use crate::error::DbError;
use crate::webhooks::write_events;

const CLAIM: &str = "WITH unfinished AS ( \
       UPDATE deliveries SET status = 'dead', payload = NULL, lease_token = NULL, \
       lease_until = NULL, due_at = $1, updated_at = $1, \
       last_error = coalesce(last_error, 'the last attempt did not finish') \
       WHERE status = 'pending' AND lease_until <= $1 AND attempts >= max_attempts \
     ), due AS ( \
       SELECT id FROM deliveries WHERE status = 'pending' AND due_at <= $1 \
       AND (lease_until IS NULL OR lease_until <= $1) AND attempts < max_attempts \
       ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED \
     ) \
     UPDATE deliveries d SET lease_token = $2, lease_until = $3, attempts = d.attempts + 1, \
       updated_at = $1 \
     FROM due WHERE d.id = due.id \
     RETURNING d.id, d.kind, d.payload, d.attempts, d.max_attempts, d.expire_at, d.created_at";

const FAIL: &str = "UPDATE deliveries SET \
       status = CASE WHEN $4::BIGINT IS NULL OR attempts >= max_attempts \
         THEN 'dead' ELSE 'pending' END, \
       payload = CASE WHEN $4::BIGINT IS NULL OR attempts >= max_attempts \
         THEN NULL ELSE payload END, \
       due_at = CASE WHEN $4::BIGINT IS NULL OR attempts >= max_attempts \
         THEN $5 ELSE $4::BIGINT END, \
       lease_token = NULL, lease_until = NULL, last_error = $3, updated_at = $5 \
     WHERE id = $1 AND status = 'pending' AND lease_token = $2 \
     RETURNING status";

pub(crate) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl Outbox for PostgresStore {
    async fn enqueue(&self, delivery: &NewDelivery, events: &[NewEvent]) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO deliveries (id, kind, payload, status, attempts, max_attempts, \
                     due_at, expire_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $7, $7) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .await?;
            let inserted = tx
                .execute(
                    &stmt,
                    &[
                        &delivery.id,
                        &delivery.kind,
                        &delivery.payload,
                        &i64::from(delivery.max_attempts.max(1)),
                        &delivery.due_at.0,
                        &delivery.expire_at.map(|t| t.0),
                        &delivery.created_at.0,
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict.into());
            }
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(CLAIM).await?;
            let rows = client
                .query(
                    &stmt,
                    &[&now.0, &lease.token, &lease.until.0, &i64::from(limit)],
                )
                .await?;
            let mut claimed = rows
                .iter()
                .map(|row| {
                    Ok(ClaimedDelivery {
                        id: row.try_get(0)?,
                        kind: row.try_get(1)?,
                        payload: row.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
                        attempts: count(row.try_get(3)?),
                        max_attempts: count(row.try_get(4)?),
                        expire_at: row.try_get::<_, Option<i64>>(5)?.map(Timestamp),
                        created_at: Timestamp(row.try_get(6)?),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            claimed.sort_by(|a, b| a.id.cmp(&b.id));
            Ok::<_, DbError>(claimed)
        };
        self.bounded(run).await
    }

    async fn complete(
        &self,
        id: &str,
        lease_token: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE deliveries SET status = 'delivered', payload = NULL, \
                     lease_token = NULL, lease_until = NULL, due_at = $3, updated_at = $3 \
                     WHERE id = $1 AND status = 'pending' AND lease_token = $2",
                )
                .await?;
            if client.execute(&stmt, &[&id, &lease_token, &now.0]).await? == 0 {
                return Err(self.lost_or_missing(&client, id).await);
            }
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn fail(
        &self,
        id: &str,
        lease_token: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<DeliveryStatus, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(FAIL).await?;
            let row = client
                .query_opt(
                    &stmt,
                    &[&id, &lease_token, &error, &retry_at.map(|t| t.0), &now.0],
                )
                .await?;
            match row {
                Some(row) => parse_status(&row.try_get::<_, String>(0)?),
                None => Err(self.lost_or_missing(&client, id).await),
            }
        };
        self.bounded(run).await
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, kind, status, attempts, max_attempts, due_at, last_error, \
                     created_at, updated_at FROM deliveries \
                     WHERE $1::TEXT IS NULL OR status = $1::TEXT \
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .await?;
            let rows = client
                .query(
                    &stmt,
                    &[&status.map(DeliveryStatus::as_str), &i64::from(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(DeliveryRecord {
                        id: row.try_get(0)?,
                        kind: row.try_get(1)?,
                        status: parse_status(&row.try_get::<_, String>(2)?)?,
                        attempts: count(row.try_get(3)?),
                        max_attempts: count(row.try_get(4)?),
                        due_at: Timestamp(row.try_get(5)?),
                        last_error: row.try_get(6)?,
                        created_at: Timestamp(row.try_get(7)?),
                        updated_at: Timestamp(row.try_get(8)?),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }

    async fn counts(&self) -> Result<DeliveryCounts, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT status, count(*) FROM deliveries GROUP BY status")
                .await?;
            let mut counts = DeliveryCounts::default();
            for row in client.query(&stmt, &[]).await? {
                let n = u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or_default();
                match parse_status(&row.try_get::<_, String>(0)?)? {
                    DeliveryStatus::Pending => counts.pending = n,
                    DeliveryStatus::Delivered => counts.delivered = n,
                    DeliveryStatus::Dead => counts.dead = n,
                }
            }
            Ok::<_, DbError>(counts)
        };
        self.bounded(run).await
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<u64, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "DELETE FROM deliveries WHERE status IN ('delivered', 'dead') \
                     AND updated_at < $1",
                )
                .await?;
            Ok::<_, DbError>(client.execute(&stmt, &[&before.0]).await?)
        };
        self.bounded(run).await
    }
}

impl PostgresStore {
    /// After a conditional write changed nothing: `Conflict` if the delivery
    /// is there (no longer pending under that lease), `NotFound` if not.
    async fn lost_or_missing(&self, client: &deadpool_postgres::Object, id: &str) -> DbError {
        let exists = async {
            let stmt = client
                .prepare_cached("SELECT 1 FROM deliveries WHERE id = $1")
                .await?;
            Ok::<_, DbError>(client.query_opt(&stmt, &[&id]).await?.is_some())
        };
        match exists.await {
            Ok(true) => StoreError::Conflict.into(),
            Ok(false) => StoreError::NotFound.into(),
            Err(err) => err,
        }
    }
}

fn parse_status(name: &str) -> Result<DeliveryStatus, DbError> {
    DeliveryStatus::parse(name)
        .ok_or_else(|| StoreError::Other(format!("unknown delivery status {name:?}")).into())
}

//! [`Outbox`]: the delivery queue, one row per delivery. Every change is one
//! `UPDATE` whose `WHERE` holds its condition (due and not leased, still
//! leased by this token) inside the writer's transaction, so workers in any
//! process on the file never share a delivery while its lease holds.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{NewEvent, Timestamp};
use latch_core::ports::{
    ClaimedDelivery, DeliveryCounts, DeliveryRecord, DeliveryStatus, Lease, NewDelivery, Outbox,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::error::DbError;
use crate::webhooks::write_events;

#[async_trait]
impl Outbox for SqliteStore {
    async fn enqueue(&self, delivery: &NewDelivery, events: &[NewEvent]) -> Result<(), StoreError> {
        let (d, events) = (delivery.clone(), events.to_vec());
        self.pool
            .write(move |tx| {
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO deliveries (id, kind, payload, status, attempts, max_attempts, \
                         due_at, expire_at, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?6, ?7, ?7) \
                         ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute(params![
                        d.id,
                        d.kind,
                        d.payload,
                        d.max_attempts.max(1),
                        d.due_at.0,
                        d.expire_at.map(|t| t.0),
                        d.created_at.0
                    ])?;
                if inserted == 0 {
                    return Err(StoreError::Conflict.into());
                }
                write_events(tx, &events)
            })
            .await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let lease = lease.clone();
        self.pool
            .write(move |tx| {
                // A worker that died holding a last attempt: nothing is left to try.
                tx.prepare_cached(
                    "UPDATE deliveries SET status = 'dead', payload = NULL, lease_token = NULL, \
                     lease_until = NULL, due_at = ?1, updated_at = ?1, \
                     last_error = coalesce(last_error, 'the last attempt did not finish') \
                     WHERE status = 'pending' AND lease_until <= ?1 AND attempts >= max_attempts",
                )?
                .execute(params![now.0])?;
                let mut stmt = tx.prepare_cached(
                    "UPDATE deliveries SET lease_token = ?2, lease_until = ?3, \
                     attempts = attempts + 1, updated_at = ?1 \
                     WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' \
                       AND due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) \
                       AND attempts < max_attempts ORDER BY due_at, id LIMIT ?4) \
                     RETURNING id, kind, payload, attempts, max_attempts, expire_at, created_at",
                )?;
                let rows = stmt.query_map(
                    params![now.0, lease.token, lease.until.0, i64::from(limit)],
                    |row| {
                        Ok(ClaimedDelivery {
                            id: row.get(0)?,
                            kind: row.get(1)?,
                            payload: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            attempts: row.get(3)?,
                            max_attempts: row.get(4)?,
                            expire_at: row.get::<_, Option<i64>>(5)?.map(Timestamp),
                            created_at: Timestamp(row.get(6)?),
                        })
                    },
                )?;
                let mut claimed = rows.collect::<Result<Vec<_>, _>>()?;
                claimed.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(claimed)
            })
            .await
    }

    async fn complete(
        &self,
        id: &str,
        lease_token: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, token) = (id.to_owned(), lease_token.to_owned());
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE deliveries SET status = 'delivered', payload = NULL, \
                         lease_token = NULL, lease_until = NULL, due_at = ?3, updated_at = ?3 \
                         WHERE id = ?1 AND status = 'pending' AND lease_token = ?2",
                    )?
                    .execute(params![id, token, now.0])?;
                if changed == 0 {
                    return Err(lost_or_missing(tx, &id)?.into());
                }
                Ok(())
            })
            .await
    }

    async fn fail(
        &self,
        id: &str,
        lease_token: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<DeliveryStatus, StoreError> {
        let (id, token, error) = (id.to_owned(), lease_token.to_owned(), error.to_owned());
        self.pool
            .write(move |tx| {
                let status: Option<String> = tx
                    .prepare_cached(
                        "UPDATE deliveries SET \
                           status = CASE WHEN ?4 IS NULL OR attempts >= max_attempts \
                             THEN 'dead' ELSE 'pending' END, \
                           payload = CASE WHEN ?4 IS NULL OR attempts >= max_attempts \
                             THEN NULL ELSE payload END, \
                           due_at = CASE WHEN ?4 IS NULL OR attempts >= max_attempts \
                             THEN ?5 ELSE ?4 END, \
                           lease_token = NULL, lease_until = NULL, last_error = ?3, updated_at = ?5 \
                         WHERE id = ?1 AND status = 'pending' AND lease_token = ?2 \
                         RETURNING status",
                    )?
                    .query_row(
                        params![id, token, error, retry_at.map(|t| t.0), now.0],
                        |row| row.get(0),
                    )
                    .optional()?;
                match status {
                    Some(status) => parse_status(&status),
                    None => Err(lost_or_missing(tx, &id)?.into()),
                }
            })
            .await
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let status = status.map(DeliveryStatus::as_str);
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, kind, status, attempts, max_attempts, due_at, last_error, \
                     created_at, updated_at FROM deliveries \
                     WHERE ?1 IS NULL OR status = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![status, i64::from(limit)], |row| {
                    Ok((
                        row.get::<_, String>(2)?,
                        DeliveryRecord {
                            id: row.get(0)?,
                            kind: row.get(1)?,
                            status: DeliveryStatus::Pending,
                            attempts: row.get(3)?,
                            max_attempts: row.get(4)?,
                            due_at: Timestamp(row.get(5)?),
                            last_error: row.get(6)?,
                            created_at: Timestamp(row.get(7)?),
                            updated_at: Timestamp(row.get(8)?),
                        },
                    ))
                })?;
                let mut records = Vec::new();
                for row in rows {
                    let (status, mut record) = row?;
                    record.status = parse_status(&status)?;
                    records.push(record);
                }
                Ok(records)
            })
            .await
    }

    async fn counts(&self) -> Result<DeliveryCounts, StoreError> {
        self.pool
            .read(move |tx| {
                let mut stmt =
                    tx.prepare_cached("SELECT status, count(*) FROM deliveries GROUP BY status")?;
                let rows = stmt.query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?;
                let mut counts = DeliveryCounts::default();
                for row in rows {
                    let (status, n) = row?;
                    let n = u64::try_from(n).unwrap_or_default();
                    match parse_status(&status)? {
                        DeliveryStatus::Pending => counts.pending = n,
                        DeliveryStatus::Delivered => counts.delivered = n,
                        DeliveryStatus::Dead => counts.dead = n,
                    }
                }
                Ok(counts)
            })
            .await
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let n = tx
                    .prepare_cached(
                        "DELETE FROM deliveries WHERE status IN ('delivered', 'dead') \
                         AND updated_at < ?1",
                    )?
                    .execute(params![before.0])?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }
}

fn parse_status(name: &str) -> Result<DeliveryStatus, DbError> {
    DeliveryStatus::parse(name)
        .ok_or_else(|| StoreError::Other(format!("unknown delivery status {name:?}")).into())
}

/// After a conditional write changed nothing: `Conflict` if the delivery is
/// there (no longer pending under that lease), `NotFound` if it is not.
fn lost_or_missing(tx: &Transaction<'_>, id: &str) -> Result<StoreError, DbError> {
    let exists = tx
        .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(if exists {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

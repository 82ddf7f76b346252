//! [`WebhookStore`]: events, endpoints, messages and attempts. Events are
//! written by [`write_events`] inside the transaction of the change that
//! caused them, which also makes their messages. A claim is one statement
//! that locks the due messages it takes (`FOR UPDATE SKIP LOCKED`) and leases
//! them, so replicas claiming at once never share a message; recording an
//! attempt tests its lease in the `UPDATE`'s `WHERE`, and writes the attempt
//! and the endpoint's failing run in the same transaction.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use latch_core::error::StoreError;
use latch_core::model::{
    MessageStatus, NewEvent, Timestamp, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};
use latch_core::ports::{AttemptOutcome, ClaimedMessage, Lease, MessageQuery, WebhookStore};
use latch_sql::webhooks::{ATTEMPT_COLUMNS, ENDPOINT_COLUMNS, MESSAGE_COLUMNS, event_types_column};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::{DbError, PostgresColumns};
use crate::outbox::count;

/// Stores `events` and, for each, a pending message to every enabled
/// endpoint that receives its type, in one statement: called inside the
/// transaction of the change the events describe, so they are stored if
/// and only if it is. The endpoints are read `FOR KEY SHARE`, so an endpoint
/// deleted meanwhile is skipped rather than failing the change.
pub(crate) async fn write_events(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "WITH ev AS ( \
               INSERT INTO events (id, type, body, created_at) \
               SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
               RETURNING id, type, created_at) \
             INSERT INTO webhook_messages (event_id, endpoint_id, status, attempts, due_at, \
               created_at, updated_at) \
             SELECT ev.id, e.id, 'pending', 0, ev.created_at, ev.created_at, ev.created_at \
             FROM ev JOIN webhook_endpoints e ON NOT e.disabled \
               AND (e.event_types = '' OR position(',' || ev.type || ',' in e.event_types) > 0) \
             FOR KEY SHARE OF e",
        )
        .await?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let bodies: Vec<&str> = events.iter().map(|e| e.sealed_body.as_str()).collect();
    let created: Vec<i64> = events.iter().map(|e| e.created_at.0).collect();
    tx.execute(&stmt, &[&ids, &types, &bodies, &created])
        .await?;
    Ok(())
}

fn endpoint(row: &Row) -> Result<WebhookEndpoint, DbError> {
    latch_sql::webhooks::endpoint(&PostgresColumns(row))
}

fn message(row: &Row) -> Result<WebhookMessage, DbError> {
    latch_sql::webhooks::message(&PostgresColumns(row))
}

/// Leases up to `$4` pending messages due at `$1` whose lease is free or ran
/// out, of enabled endpoints, oldest due first, under the token `$2` until
/// `$3`, counting an attempt on each. Only the messages are locked (`OF m`):
/// a claimer skips the messages another holds, never a whole endpoint. A row
/// another claim leased and committed meanwhile is re-checked against its
/// new lease and left out.
const CLAIM: &str = "WITH due AS ( \
       SELECT m.event_id, m.endpoint_id FROM webhook_messages m \
       JOIN webhook_endpoints e ON e.id = m.endpoint_id \
       WHERE m.status = 'pending' AND m.due_at <= $1 \
         AND (m.lease_until IS NULL OR m.lease_until <= $1) \
         AND NOT e.disabled \
       ORDER BY m.due_at, m.event_id LIMIT $4 \
       FOR UPDATE OF m SKIP LOCKED \
     ) \
     UPDATE webhook_messages m SET lease_token = $2, lease_until = $3, \
       attempts = m.attempts + 1, updated_at = $1 \
     FROM due, events ev, webhook_endpoints e \
     WHERE m.event_id = due.event_id AND m.endpoint_id = due.endpoint_id \
       AND ev.id = m.event_id AND e.id = m.endpoint_id \
     RETURNING m.event_id, m.endpoint_id, ev.body, e.url, e.secret, m.attempts";

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn create_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING"
                ))
                .await?;
            let inserted = db
                .execute(
                    &stmt,
                    &[
                        &e.id,
                        &e.url,
                        &e.description,
                        &e.sealed_secret,
                        &event_types_column(&e.event_types),
                        &e.disabled,
                        &e.disabled_reason,
                        &e.failing_since.map(|t| t.0),
                        &e.created_at.0,
                        &e.updated_at.0,
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict.into());
            }
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get_endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
                ))
                .await?;
            db.query_opt(&stmt, &[&id])
                .await?
                .as_ref()
                .map(endpoint)
                .transpose()
        };
        self.bounded(run).await
    }

    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
                ))
                .await?;
            db.query(&stmt, &[])
                .await?
                .iter()
                .map(endpoint)
                .collect::<Result<Vec<_>, _>>()
        };
        self.bounded(run).await
    }

    async fn update_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(
                    "UPDATE webhook_endpoints SET url = $2, description = $3, secret = $4, \
                     event_types = $5, disabled = $6, disabled_reason = $7, \
                     failing_since = $8, updated_at = $9 WHERE id = $1",
                )
                .await?;
            let changed = db
                .execute(
                    &stmt,
                    &[
                        &e.id,
                        &e.url,
                        &e.description,
                        &e.sealed_secret,
                        &event_types_column(&e.event_types),
                        &e.disabled,
                        &e.disabled_reason,
                        &e.failing_since.map(|t| t.0),
                        &e.updated_at.0,
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let run = async {
            let db = self.client().await?;
            // Its messages and their attempts go with it (ON DELETE CASCADE).
            let stmt = db
                .prepare_cached("DELETE FROM webhook_endpoints WHERE id = $1")
                .await?;
            Ok::<_, DbError>(db.execute(&stmt, &[&id]).await? > 0)
        };
        self.bounded(run).await
    }

    async fn claim_messages(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db.prepare_cached(CLAIM).await?;
            let rows = db
                .query(
                    &stmt,
                    &[&now.0, &lease.token, &lease.until.0, &i64::from(limit)],
                )
                .await?;
            let mut claimed = rows
                .iter()
                .map(|row| {
                    Ok(ClaimedMessage {
                        event_id: row.try_get(0)?,
                        endpoint_id: row.try_get(1)?,
                        sealed_body: row.try_get(2)?,
                        url: row.try_get(3)?,
                        sealed_secret: row.try_get(4)?,
                        attempts: count(row.try_get(5)?),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            claimed.sort_by(|a, b| a.event_id.cmp(&b.event_id));
            Ok::<_, DbError>(claimed)
        };
        self.bounded(run).await
    }

    async fn record_attempt(
        &self,
        attempt: &WebhookAttempt,
        lease_token: &str,
        outcome: AttemptOutcome,
        disable_if_failing_since: Timestamp,
        disable_reason: &str,
    ) -> Result<(), StoreError> {
        let a = attempt;
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let (status, due_at) = match outcome {
                AttemptOutcome::Delivered => (MessageStatus::Delivered, a.at),
                AttemptOutcome::RetryAt(at) => (MessageStatus::Pending, at),
                AttemptOutcome::Failed => (MessageStatus::Failed, a.at),
            };
            let status_code = a.status_code.map(i64::from);
            // The lease test is in the UPDATE itself: of a worker whose lease
            // ran out and the one that claimed after it, only the holder of
            // the current lease changes the message.
            let stmt = tx
                .prepare_cached(
                    "UPDATE webhook_messages SET status = $4, due_at = $5, lease_token = NULL, \
                     lease_until = NULL, last_status_code = $6, last_error = $7, updated_at = $8 \
                     WHERE event_id = $1 AND endpoint_id = $2 AND status = 'pending' \
                       AND lease_token = $3",
                )
                .await?;
            let changed = tx
                .execute(
                    &stmt,
                    &[
                        &a.event_id,
                        &a.endpoint_id,
                        &lease_token,
                        &status.as_str(),
                        &due_at.0,
                        &status_code,
                        &a.error,
                        &a.at.0,
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::Conflict.into());
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO webhook_attempts (id, event_id, endpoint_id, status_code, error, \
                     duration_ms, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &a.id,
                    &a.event_id,
                    &a.endpoint_id,
                    &status_code,
                    &a.error,
                    &a.duration_ms,
                    &a.at.0,
                ],
            )
            .await?;
            if outcome == AttemptOutcome::Delivered {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET failing_since = NULL \
                         WHERE id = $1 AND failing_since IS NOT NULL",
                    )
                    .await?;
                tx.execute(&stmt, &[&a.endpoint_id]).await?;
            } else {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) \
                         WHERE id = $1",
                    )
                    .await?;
                tx.execute(&stmt, &[&a.endpoint_id, &a.at.0]).await?;
                let stmt = tx
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET disabled = TRUE, disabled_reason = $3, \
                         updated_at = $4 \
                         WHERE id = $1 AND NOT disabled AND failing_since < $2",
                    )
                    .await?;
                tx.execute(
                    &stmt,
                    &[
                        &a.endpoint_id,
                        &disable_if_failing_since.0,
                        &disable_reason,
                        &a.at.0,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<WebhookMessage>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m \
                     JOIN events ev ON ev.id = m.event_id \
                     WHERE m.event_id = $1 AND m.endpoint_id = $2"
                ))
                .await?;
            db.query_opt(&stmt, &[&event_id, &endpoint_id])
                .await?
                .as_ref()
                .map(message)
                .transpose()
        };
        self.bounded(run).await
    }

    async fn list_messages(&self, query: &MessageQuery) -> Result<Vec<WebhookMessage>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m \
                     JOIN events ev ON ev.id = m.event_id \
                     WHERE ($1::TEXT IS NULL OR m.endpoint_id = $1::TEXT) \
                       AND ($2::TEXT IS NULL OR m.status = $2::TEXT) \
                     ORDER BY m.created_at DESC, ev.seq DESC, m.endpoint_id LIMIT $3"
                ))
                .await?;
            db.query(
                &stmt,
                &[
                    &query.endpoint_id,
                    &query.status.map(MessageStatus::as_str),
                    &i64::from(query.limit),
                ],
            )
            .await?
            .iter()
            .map(message)
            .collect::<Result<Vec<_>, _>>()
        };
        self.bounded(run).await
    }

    async fn list_attempts(
        &self,
        event_id: &str,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(&format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts \
                     WHERE event_id = $1 AND endpoint_id = $2 \
                     ORDER BY at DESC, seq DESC LIMIT $3"
                ))
                .await?;
            db.query(&stmt, &[&event_id, &endpoint_id, &i64::from(limit)])
                .await?
                .iter()
                .map(|row| latch_sql::webhooks::attempt(&PostgresColumns(row)))
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }

    async fn replay_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(
                    "UPDATE webhook_messages SET status = 'pending', attempts = 0, due_at = $3, \
                     lease_token = NULL, lease_until = NULL, updated_at = $3 \
                     WHERE event_id = $1 AND endpoint_id = $2",
                )
                .await?;
            if db
                .execute(&stmt, &[&event_id, &endpoint_id, &now.0])
                .await?
                == 0
            {
                return Err(StoreError::NotFound.into());
            }
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn replay_range(
        &self,
        endpoint_id: &str,
        event_types: &[String],
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let types = if event_types.is_empty() {
            String::new()
        } else {
            format!(",{},", event_types.join(","))
        };
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let stmt = tx
                .prepare_cached(
                    "UPDATE webhook_messages SET status = 'pending', attempts = 0, due_at = $4, \
                     lease_token = NULL, lease_until = NULL, updated_at = $4 \
                     WHERE endpoint_id = $1 AND (status = 'failed' OR (status = 'pending' \
                       AND attempts > 0 AND (lease_until IS NULL OR lease_until <= $4))) \
                       AND event_id IN \
                       (SELECT id FROM events WHERE created_at >= $2 AND created_at < $3)",
                )
                .await?;
            let replayed = tx
                .execute(&stmt, &[&endpoint_id, &since.0, &until.0, &now.0])
                .await?;
            // A message a concurrent replay made first is left as it made it.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO webhook_messages (event_id, endpoint_id, status, attempts, \
                     due_at, created_at, updated_at) \
                     SELECT ev.id, $1, 'pending', 0, $4, $4, $4 FROM events ev \
                     WHERE ev.created_at >= $2 AND ev.created_at < $3 \
                       AND ($5::TEXT = '' OR strpos($5::TEXT, ',' || ev.type || ',') > 0) \
                       AND NOT EXISTS (SELECT 1 FROM webhook_messages m \
                         WHERE m.event_id = ev.id AND m.endpoint_id = $1) \
                     ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                )
                .await?;
            let made = tx
                .execute(&stmt, &[&endpoint_id, &since.0, &until.0, &now.0, &types])
                .await?;
            tx.commit().await?;
            Ok::<_, DbError>(replayed + made)
        };
        self.bounded(run).await
    }

    async fn purge_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        let run = async {
            let db = self.client().await?;
            // Their messages and attempts go with them (ON DELETE CASCADE).
            let stmt = db
                .prepare_cached(
                    "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS \
                     (SELECT 1 FROM webhook_messages m \
                      WHERE m.event_id = events.id AND m.status = 'pending')",
                )
                .await?;
            Ok::<_, DbError>(db.execute(&stmt, &[&before.0]).await?)
        };
        self.bounded(run).await
    }
}

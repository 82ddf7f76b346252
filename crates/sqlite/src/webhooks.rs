//! [`WebhookStore`]: events, endpoints, messages and attempts. Events are
//! written by [`write_events`] inside the transaction of the change that
//! caused them, which also makes their messages; every other change is one
//! conditional statement inside the writer's transaction.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{
    MessageStatus, NewEvent, Timestamp, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};
use latch_core::ports::{AttemptOutcome, ClaimedMessage, Lease, MessageQuery, WebhookStore};
use latch_sql::webhooks::{ATTEMPT_COLUMNS, ENDPOINT_COLUMNS, MESSAGE_COLUMNS, event_types_column};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::SqliteStore;
use crate::error::{DbError, SqliteColumns};

/// Stores `events` and, for each, a pending message to every enabled
/// endpoint that receives its type: called inside the transaction of the
/// change the events describe.
pub(crate) fn write_events(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<(), DbError> {
    for e in events {
        tx.prepare_cached(
            "INSERT INTO events (id, type, body, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            e.id,
            e.event_type.as_str(),
            e.sealed_body,
            e.created_at.0
        ])?;
        tx.prepare_cached(
            "INSERT INTO webhook_messages (event_id, endpoint_id, status, attempts, due_at, \
             created_at, updated_at) \
             SELECT ?1, id, 'pending', 0, ?3, ?3, ?3 FROM webhook_endpoints \
             WHERE disabled = 0 AND (event_types = '' OR instr(event_types, ',' || ?2 || ',') > 0)",
        )?
        .execute(params![e.id, e.event_type.as_str(), e.created_at.0])?;
    }
    Ok(())
}

fn endpoint(row: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    latch_sql::webhooks::endpoint(&SqliteColumns(row))
}

fn message(row: &Row<'_>) -> rusqlite::Result<WebhookMessage> {
    latch_sql::webhooks::message(&SqliteColumns(row))
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.pool.write(move |tx| write_events(tx, &events)).await
    }

    async fn create_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        let e = e.clone();
        self.pool
            .write(move |tx| {
                let inserted = tx
                    .prepare_cached(&format!(
                        "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"
                    ))?
                    .execute(params![
                        e.id,
                        e.url,
                        e.description,
                        e.sealed_secret,
                        event_types_column(&e.event_types),
                        e.disabled,
                        e.disabled_reason,
                        e.failing_since.map(|t| t.0),
                        e.created_at.0,
                        e.updated_at.0
                    ])?;
                if inserted == 0 {
                    return Err(StoreError::Conflict.into());
                }
                Ok(())
            })
            .await
    }

    async fn get_endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let id = id.to_owned();
        self.pool
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(&format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
                    ))?
                    .query_row([id], endpoint)
                    .optional()?)
            })
            .await
    }

    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
                ))?;
                let rows = stmt.query_map([], endpoint)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn update_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        let e = e.clone();
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET url = ?2, description = ?3, secret = ?4, \
                         event_types = ?5, disabled = ?6, disabled_reason = ?7, \
                         failing_since = ?8, updated_at = ?9 WHERE id = ?1",
                    )?
                    .execute(params![
                        e.id,
                        e.url,
                        e.description,
                        e.sealed_secret,
                        event_types_column(&e.event_types),
                        e.disabled,
                        e.disabled_reason,
                        e.failing_since.map(|t| t.0),
                        e.updated_at.0
                    ])?;
                if changed == 0 {
                    return Err(StoreError::NotFound.into());
                }
                Ok(())
            })
            .await
    }

    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.pool
            .write(move |tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM webhook_endpoints WHERE id = ?1")?
                    .execute([id])?
                    > 0)
            })
            .await
    }

    async fn claim_messages(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let lease = lease.clone();
        // A read first: the worker wakes after every stored event, and most
        // find nothing due (no endpoint, or already sent), which then costs
        // no turn of the single writer.
        let due = self
            .pool
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(
                        "SELECT 1 FROM webhook_messages WHERE status = 'pending' AND due_at <= ?1 \
                         AND (lease_until IS NULL OR lease_until <= ?1) LIMIT 1",
                    )?
                    .query_row([now.0], |_| Ok(()))
                    .optional()?
                    .is_some())
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.pool
            .write(move |tx| {
                let claimed: Vec<(String, String, u32)> = {
                    let mut stmt = tx.prepare_cached(
                        "UPDATE webhook_messages SET lease_token = ?2, lease_until = ?3, \
                         attempts = attempts + 1, updated_at = ?1 \
                         WHERE (event_id, endpoint_id) IN ( \
                           SELECT m.event_id, m.endpoint_id FROM webhook_messages m \
                           JOIN webhook_endpoints e ON e.id = m.endpoint_id \
                           WHERE m.status = 'pending' AND m.due_at <= ?1 \
                             AND (m.lease_until IS NULL OR m.lease_until <= ?1) \
                             AND e.disabled = 0 \
                           ORDER BY m.due_at, m.event_id LIMIT ?4) \
                         RETURNING event_id, endpoint_id, attempts",
                    )?;
                    let rows = stmt.query_map(
                        params![now.0, lease.token, lease.until.0, i64::from(limit)],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                    )?;
                    rows.collect::<Result<_, _>>()?
                };
                let mut out = Vec::with_capacity(claimed.len());
                for (event_id, endpoint_id, attempts) in claimed {
                    let (sealed_body, url, sealed_secret) = tx
                        .prepare_cached(
                            "SELECT ev.body, e.url, e.secret FROM events ev, webhook_endpoints e \
                             WHERE ev.id = ?1 AND e.id = ?2",
                        )?
                        .query_row(params![event_id, endpoint_id], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })?;
                    out.push(ClaimedMessage {
                        event_id,
                        endpoint_id,
                        sealed_body,
                        url,
                        sealed_secret,
                        attempts,
                    });
                }
                out.sort_by(|a, b| a.event_id.cmp(&b.event_id));
                Ok(out)
            })
            .await
    }

    async fn record_attempt(
        &self,
        attempt: &WebhookAttempt,
        lease_token: &str,
        outcome: AttemptOutcome,
        disable_if_failing_since: Timestamp,
        disable_reason: &str,
    ) -> Result<(), StoreError> {
        let (a, token, reason) = (
            attempt.clone(),
            lease_token.to_owned(),
            disable_reason.to_owned(),
        );
        self.pool
            .write(move |tx| {
                let (status, due_at) = match outcome {
                    AttemptOutcome::Delivered => (MessageStatus::Delivered, a.at),
                    AttemptOutcome::RetryAt(at) => (MessageStatus::Pending, at),
                    AttemptOutcome::Failed => (MessageStatus::Failed, a.at),
                };
                let changed = tx
                    .prepare_cached(
                        "UPDATE webhook_messages SET status = ?4, due_at = ?5, lease_token = NULL, \
                         lease_until = NULL, last_status_code = ?6, last_error = ?7, updated_at = ?8 \
                         WHERE event_id = ?1 AND endpoint_id = ?2 AND status = 'pending' \
                           AND lease_token = ?3",
                    )?
                    .execute(params![
                        a.event_id,
                        a.endpoint_id,
                        token,
                        status.as_str(),
                        due_at.0,
                        a.status_code,
                        a.error,
                        a.at.0
                    ])?;
                if changed == 0 {
                    return Err(StoreError::Conflict.into());
                }
                tx.prepare_cached(
                    "INSERT INTO webhook_attempts (id, event_id, endpoint_id, status_code, error, \
                     duration_ms, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    a.id,
                    a.event_id,
                    a.endpoint_id,
                    a.status_code,
                    a.error,
                    a.duration_ms,
                    a.at.0
                ])?;
                if outcome == AttemptOutcome::Delivered {
                    tx.prepare_cached(
                        "UPDATE webhook_endpoints SET failing_since = NULL \
                         WHERE id = ?1 AND failing_since IS NOT NULL",
                    )?
                    .execute([&a.endpoint_id])?;
                } else {
                    tx.prepare_cached(
                        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?2) \
                         WHERE id = ?1",
                    )?
                    .execute(params![a.endpoint_id, a.at.0])?;
                    tx.prepare_cached(
                        "UPDATE webhook_endpoints SET disabled = 1, disabled_reason = ?3, \
                         updated_at = ?4 \
                         WHERE id = ?1 AND disabled = 0 AND failing_since < ?2",
                    )?
                    .execute(params![
                        a.endpoint_id,
                        disable_if_failing_since.0,
                        reason,
                        a.at.0
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn get_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<WebhookMessage>, StoreError> {
        let (event_id, endpoint_id) = (event_id.to_owned(), endpoint_id.to_owned());
        self.pool
            .read(move |tx| {
                let row = tx
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m \
                         JOIN events ev ON ev.id = m.event_id \
                         WHERE m.event_id = ?1 AND m.endpoint_id = ?2"
                    ))?
                    .query_row(params![event_id, endpoint_id], message)
                    .optional()?;
                Ok(row)
            })
            .await
    }

    async fn list_messages(&self, query: &MessageQuery) -> Result<Vec<WebhookMessage>, StoreError> {
        let query = query.clone();
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m \
                     JOIN events ev ON ev.id = m.event_id \
                     WHERE (?1 IS NULL OR m.endpoint_id = ?1) AND (?2 IS NULL OR m.status = ?2) \
                     ORDER BY m.created_at DESC, ev.seq DESC, m.endpoint_id LIMIT ?3"
                ))?;
                let rows = stmt.query_map(
                    params![
                        query.endpoint_id,
                        query.status.map(MessageStatus::as_str),
                        i64::from(query.limit)
                    ],
                    message,
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn list_attempts(
        &self,
        event_id: &str,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        let (event_id, endpoint_id) = (event_id.to_owned(), endpoint_id.to_owned());
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts \
                     WHERE event_id = ?1 AND endpoint_id = ?2 \
                     ORDER BY at DESC, rowid DESC LIMIT ?3"
                ))?;
                let rows = stmt
                    .query_map(params![event_id, endpoint_id, i64::from(limit)], |row| {
                        latch_sql::webhooks::attempt(&SqliteColumns(row))
                    })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn replay_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (event_id, endpoint_id) = (event_id.to_owned(), endpoint_id.to_owned());
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE webhook_messages SET status = 'pending', attempts = 0, due_at = ?3, \
                         lease_token = NULL, lease_until = NULL, updated_at = ?3 \
                         WHERE event_id = ?1 AND endpoint_id = ?2",
                    )?
                    .execute(params![event_id, endpoint_id, now.0])?;
                if changed == 0 {
                    return Err(StoreError::NotFound.into());
                }
                Ok(())
            })
            .await
    }

    async fn replay_range(
        &self,
        endpoint_id: &str,
        event_types: &[String],
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        let types = if event_types.is_empty() {
            String::new()
        } else {
            format!(",{},", event_types.join(","))
        };
        self.pool
            .write(move |tx| {
                let replayed = tx
                    .prepare_cached(
                        "UPDATE webhook_messages SET status = 'pending', attempts = 0, due_at = ?4, \
                         lease_token = NULL, lease_until = NULL, updated_at = ?4 \
                         WHERE endpoint_id = ?1 AND (status = 'failed' OR (status = 'pending' \
                           AND attempts > 0 AND (lease_until IS NULL OR lease_until <= ?4))) \
                           AND event_id IN \
                           (SELECT id FROM events WHERE created_at >= ?2 AND created_at < ?3)",
                    )?
                    .execute(params![endpoint_id, since.0, until.0, now.0])?;
                let made = tx
                    .prepare_cached(
                        "INSERT INTO webhook_messages (event_id, endpoint_id, status, attempts, \
                         due_at, created_at, updated_at) \
                         SELECT ev.id, ?1, 'pending', 0, ?4, ?4, ?4 FROM events ev \
                         WHERE ev.created_at >= ?2 AND ev.created_at < ?3 \
                           AND (?5 = '' OR instr(?5, ',' || ev.type || ',') > 0) \
                           AND NOT EXISTS (SELECT 1 FROM webhook_messages m \
                             WHERE m.event_id = ev.id AND m.endpoint_id = ?1)",
                    )?
                    .execute(params![endpoint_id, since.0, until.0, now.0, types])?;
                Ok(u64::try_from(replayed + made).unwrap_or_default())
            })
            .await
    }

    async fn purge_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let n = tx
                    .prepare_cached(
                        "DELETE FROM events WHERE created_at < ?1 AND NOT EXISTS \
                         (SELECT 1 FROM webhook_messages m \
                          WHERE m.event_id = events.id AND m.status = 'pending')",
                    )?
                    .execute(params![before.0])?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }
}

//! [`ClientRepository`]: clients and their sessions.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, NewEvent, Session, SessionId, SessionStatus, SignInId, SignUpId, Standing,
    Timestamp, User,
};
use latch_core::ports::{ClientRepository, ClientWithSessions, DigestUpgrade, SessionQuery};
use latch_sql::{client_columns, session_columns};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::{DbError, PostgresColumns, Table, lost_or_missing, row_exists};
use crate::webhooks::write_events;

const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// What [`ClientRepository::insert_session`] does to the session's client.
const ROTATE_CLIENT: &str = "UPDATE clients SET token_hash = $2, last_active_session_id = $3, sign_in_id = NULL, \
     sign_up_id = NULL, \
     updated_at = $4, last_authentication_strategy = COALESCE($6, last_authentication_strategy) \
     WHERE id = $1 AND token_hash = $5";

#[async_trait]
impl ClientRepository for PostgresStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(concat!(
                    "INSERT INTO clients (",
                    client_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .await?;
            db.execute(
                &stmt,
                &[
                    &client.id.as_str(),
                    &client.token_hash,
                    &client.sign_in_id.as_ref().map(SignInId::as_str),
                    &client
                        .last_active_session_id
                        .as_ref()
                        .map(SessionId::as_str),
                    &client.created_at.0,
                    &client.updated_at.0,
                    &client.last_authentication_strategy,
                    &client.sign_up_id.as_ref().map(SignUpId::as_str),
                ],
            )
            .await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.one_client(
            concat!("SELECT ", client_columns!(), " FROM clients WHERE id = $1"),
            id.as_str(),
        )
        .await
    }

    async fn find_client_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Client>, StoreError> {
        // Only the current hash is stored, so a rotated-out token cannot match.
        self.one_client(
            concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE token_hash = $1"
            ),
            token_hash,
        )
        .await
    }

    async fn rotate_token(
        &self,
        client: &ClientId,
        expected_token_hash: &str,
        new_token_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            let stmt = tx
                .prepare_cached(
                    "UPDATE clients SET token_hash = $2, updated_at = $3 \
                     WHERE id = $1 AND token_hash = $4",
                )
                .await?;
            let changed = tx
                .execute(
                    &stmt,
                    &[
                        &client.as_str(),
                        &new_token_hash,
                        &at.0,
                        &expected_token_hash,
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(lost_or_missing(&tx, Table::Clients, client.as_str()).await);
            }
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn set_current_sign_in(
        &self,
        client: &ClientId,
        sign_in: Option<SignInId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let sign_in = sign_in.as_ref().map(SignInId::as_str);
        self.change(
            "UPDATE clients SET sign_in_id = $2, updated_at = $3 WHERE id = $1",
            &[&client.as_str(), &sign_in, &at.0],
        )
        .await
    }

    async fn set_current_sign_up(
        &self,
        client: &ClientId,
        sign_up: Option<SignUpId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let sign_up = sign_up.as_ref().map(SignUpId::as_str);
        self.change(
            "UPDATE clients SET sign_up_id = $2, updated_at = $3 WHERE id = $1",
            &[&client.as_str(), &sign_up, &at.0],
        )
        .await
    }

    async fn set_last_active_session(
        &self,
        client: &ClientId,
        session: Option<SessionId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let session = session.as_ref().map(SessionId::as_str);
        self.change(
            "UPDATE clients SET last_active_session_id = $2, updated_at = $3 WHERE id = $1",
            &[&client.as_str(), &session, &at.0],
        )
        .await
    }

    async fn purge_idle_clients(
        &self,
        idle_before: Timestamp,
        unused_before: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let run = async {
            let db = self.client().await?;
            // One statement: a client a concurrent sign-in is rotating is locked
            // by it, and re-checked against its new `updated_at`, `sign_in_id`
            // and `last_active_session_id` once free (every write that gives
            // a client a sign-in or a session moves `updated_at` too). The
            // first condition is the index's range.
            let stmt = db
                .prepare_cached(
                    "DELETE FROM clients WHERE updated_at < GREATEST($1::BIGINT, $2::BIGINT)
                     AND (updated_at < $1 OR (
                         sign_in_id IS NULL AND sign_up_id IS NULL AND last_active_session_id IS NULL
                         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.client_id = clients.id)))
                     AND NOT EXISTS (
                         SELECT 1 FROM sessions s
                         WHERE s.client_id = clients.id AND s.status = 'active' AND s.expire_at > $3)",
                )
                .await?;
            Ok::<_, DbError>(
                db.execute(&stmt, &[&idle_before.0, &unused_before.0, &now.0])
                    .await?,
            )
        };
        self.bounded(run).await
    }

    async fn delete_client(&self, id: &ClientId) -> Result<(), StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            // Only sessions still active become `removed`; an ended, revoked or
            // expired session keeps the status that says how it finished.
            let stmt = tx
                .prepare_cached(
                    "UPDATE sessions SET status = $2 WHERE client_id = $1 AND status = $3",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &id.as_str(),
                    &SessionStatus::Removed.as_str(),
                    &SessionStatus::Active.as_str(),
                ],
            )
            .await?;
            let stmt = tx
                .prepare_cached("DELETE FROM clients WHERE id = $1")
                .await?;
            tx.execute(&stmt, &[&id.as_str()]).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn insert_session(
        &self,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
    ) -> Result<Standing, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            // The user's row first, as a ban or lock takes it: the standing
            // returned is the one after any such write racing this one.
            let standing = crate::users::record_sign_in(
                &tx,
                &session.user_id,
                session.created_at,
                upgrade.as_ref(),
            )
            .await?;
            start_session(&tx, session, expected_token_hash, new_token_hash).await?;
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(standing)
        };
        self.bounded(run).await
    }

    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            // A taken identifier fails the insert, and the transaction with
            // it: no user, no session, no rotation.
            crate::users::insert_user(&tx, user).await?;
            start_session(&tx, session, expected_token_hash, new_token_hash).await?;
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db
                .prepare_cached(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE id = $1"
                ))
                .await?;
            db.query_opt(&stmt, &[&id.as_str()])
                .await?
                .as_ref()
                .map(session_from_row)
                .transpose()
        };
        self.bounded(run).await
    }

    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.change(
            "UPDATE sessions SET last_active_at = $2, updated_at = $2 WHERE id = $1",
            &[&id.as_str(), &at.0],
        )
        .await
    }

    async fn reverify_session(
        &self,
        id: &SessionId,
        first: bool,
        second: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.change(
            "UPDATE sessions SET \
             first_factor_verified_at = CASE WHEN $2 THEN $4 ELSE first_factor_verified_at END, \
             second_factor_verified_at = CASE WHEN $3 THEN $4 ELSE second_factor_verified_at END, \
             updated_at = $4 WHERE id = $1",
            &[&id.as_str(), &first, &second, &at.0],
        )
        .await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        status: SessionStatus,
        at: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let run = async {
            let mut db = self.client().await?;
            let tx = db.transaction().await?;
            // The status test is in the UPDATE itself, so of two requests ending
            // one session only the first changes it; the other, blocked on the
            // row, re-checks it and sees 0 rows.
            let stmt = tx
                .prepare_cached(
                    "UPDATE sessions SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4",
                )
                .await?;
            let changed = tx
                .execute(
                    &stmt,
                    &[
                        &id.as_str(),
                        &status.as_str(),
                        &at.0,
                        &SessionStatus::Active.as_str(),
                    ],
                )
                .await?;
            let ended = if changed > 0 {
                write_events(&tx, events).await?;
                true
            } else if row_exists(&tx, Table::Sessions, id.as_str()).await? {
                false
            } else {
                return Err(StoreError::NotFound.into());
            };
            tx.commit().await?;
            Ok::<_, DbError>(ended)
        };
        self.bounded(run).await
    }

    async fn find_client_with_sessions(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError> {
        // Only the current hash is stored, so a rotated-out token cannot match.
        let find = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE token_hash = $1"
        );
        self.client_with_sessions(find, token_hash, now).await
    }

    async fn get_client_with_sessions(
        &self,
        id: &ClientId,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError> {
        let find = concat!("SELECT ", client_columns!(), " FROM clients WHERE id = $1");
        self.client_with_sessions(find, id.as_str(), now).await
    }

    async fn find_active_session(
        &self,
        token_hash: &str,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1 \
             AND client_id = (SELECT id FROM clients WHERE token_hash = $2) \
             AND status = $3 AND expire_at > $4 \
             AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id)"
        );
        let found = self
            .sessions(
                sql,
                &[
                    &id.as_str(),
                    &token_hash,
                    &SessionStatus::Active.as_str(),
                    &now.0,
                ],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    async fn sessions_of_client(&self, client_id: &ClientId) -> Result<Vec<Session>, StoreError> {
        self.sessions(
            concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE client_id = $1 ORDER BY created_at ASC, id ASC"
            ),
            &[&client_id.as_str()],
        )
        .await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        // A zero limit means the caller set none; LIMIT NULL is no limit.
        let limit = (query.limit > 0).then(|| i64::from(query.limit));
        let offset = i64::from(query.offset);
        let (filter, mut params) = session_filter(query);
        params.push(&limit);
        params.push(&offset);
        let sql = format!(
            concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions{} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}"
            ),
            filter,
            params.len() - 1,
            params.len()
        );
        self.sessions(&sql, &params).await
    }

    async fn count_sessions(&self, query: &SessionQuery) -> Result<u64, StoreError> {
        let run = async {
            let db = self.client().await?;
            let (filter, params) = session_filter(query);
            let stmt = db
                .prepare_cached(&format!("SELECT COUNT(*) FROM sessions{filter}"))
                .await?;
            let count: i64 = db.query_one(&stmt, &params).await?.try_get(0)?;
            Ok::<_, DbError>(u64::try_from(count).unwrap_or_default())
        };
        self.bounded(run).await
    }
}

impl PostgresStore {
    /// The client `find` (one parameter, `key`) selects, with its sessions
    /// active at `now` and their users: three statements.
    async fn client_with_sessions(
        &self,
        find: &str,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let find = db.prepare_cached(find).await?;
            let Some(client) = db
                .query_opt(&find, &[&key])
                .await?
                .as_ref()
                .map(client_from_row)
                .transpose()?
            else {
                return Ok(None);
            };
            let active = db
                .prepare_cached(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE client_id = $1 AND status = $2 AND expire_at > $3 \
                     ORDER BY created_at ASC, id ASC"
                ))
                .await?;
            let sessions = db
                .query(
                    &active,
                    &[&client.id.as_str(), &SessionStatus::Active.as_str(), &now.0],
                )
                .await?
                .iter()
                .map(session_from_row)
                .collect::<Result<Vec<_>, DbError>>()?;
            let ids: Vec<&str> = sessions.iter().map(|s| s.user_id.as_str()).collect();
            let users = if ids.is_empty() {
                Vec::new()
            } else {
                let select = db.prepare_cached(crate::users::SELECT_USERS).await?;
                db.query(&select, &[&ids])
                    .await?
                    .iter()
                    .map(crate::users::user_from_row)
                    .collect::<Result<Vec<_>, DbError>>()?
            };
            Ok::<_, DbError>(Some(ClientWithSessions::pair(client, sessions, &users)))
        };
        self.bounded(run).await
    }

    async fn one_client(&self, sql: &str, key: &str) -> Result<Option<Client>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db.prepare_cached(sql).await?;
            db.query_opt(&stmt, &[&key])
                .await?
                .as_ref()
                .map(client_from_row)
                .transpose()
        };
        self.bounded(run).await
    }

    /// Runs an `UPDATE` by id: `NotFound` if it changed no row.
    async fn change(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<(), StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db.prepare_cached(sql).await?;
            if db.execute(&stmt, params).await? == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn sessions(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Session>, StoreError> {
        let run = async {
            let db = self.client().await?;
            let stmt = db.prepare_cached(sql).await?;
            db.query(&stmt, params)
                .await?
                .iter()
                .map(session_from_row)
                .collect::<Result<Vec<_>, DbError>>()
        };
        self.bounded(run).await
    }
}

fn client_from_row(row: &Row) -> Result<Client, DbError> {
    latch_sql::rows::client(&PostgresColumns(row))
}

fn session_from_row(row: &Row) -> Result<Session, DbError> {
    latch_sql::rows::session(&PostgresColumns(row))
}

/// The `WHERE` clause of a [`SessionQuery`] and its parameters.
fn session_filter(query: &SessionQuery) -> (String, Vec<&(dyn ToSql + Sync)>) {
    let mut clauses = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    if let Some(user_id) = &query.user_id {
        params.push(user_id);
        clauses.push(format!("user_id = ${}", params.len()));
    }
    if let Some(client_id) = &query.client_id {
        params.push(client_id);
        clauses.push(format!("client_id = ${}", params.len()));
    }
    // The effective status at `now`, as `Session::status_at` computes it: an
    // active session is expired from its `expire_at` on.
    match query.status {
        None => {}
        Some(SessionStatus::Active) => {
            params.push(&ACTIVE);
            params.push(&query.now.0);
            clauses.push(format!(
                "(status = ${} AND expire_at > ${})",
                params.len() - 1,
                params.len()
            ));
        }
        Some(SessionStatus::Expired) => {
            params.push(&EXPIRED);
            params.push(&ACTIVE);
            params.push(&query.now.0);
            clauses.push(format!(
                "(status = ${} OR (status = ${} AND expire_at <= ${}))",
                params.len() - 2,
                params.len() - 1,
                params.len()
            ));
        }
        Some(status) => {
            params.push(status_name(status));
            clauses.push(format!("status = ${}", params.len()));
        }
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (filter, params)
}

const ACTIVE: &str = "active";
const EXPIRED: &str = "expired";
const ENDED: &str = "ended";
const REMOVED: &str = "removed";
const REVOKED: &str = "revoked";

/// The stored name of `status` as a parameter that outlives the query.
fn status_name(status: SessionStatus) -> &'static &'static str {
    match status {
        SessionStatus::Active => &ACTIVE,
        SessionStatus::Expired => &EXPIRED,
        SessionStatus::Ended => &ENDED,
        SessionStatus::Removed => &REMOVED,
        SessionStatus::Revoked => &REVOKED,
    }
}

/// Rotates the session's client (only if its token is still `expected`) and
/// stores the session, in the caller's transaction. The client goes first:
/// a missing client or a lost race fails before anything is written, and a
/// failing session insert fails the rotation with it, so it is both or
/// neither.
async fn start_session(
    tx: &Transaction<'_>,
    session: &Session,
    expected: &str,
    new_token_hash: &str,
) -> Result<(), DbError> {
    let stmt = tx.prepare_cached(ROTATE_CLIENT).await?;
    let changed = tx
        .execute(
            &stmt,
            &[
                &session.client_id.as_str(),
                &new_token_hash,
                &session.id.as_str(),
                &session.created_at.0,
                &expected,
                &session.origin.strategy,
            ],
        )
        .await?;
    if changed == 0 {
        return Err(lost_or_missing(tx, Table::Clients, session.client_id.as_str()).await);
    }
    let stmt = tx.prepare_cached(INSERT_SESSION).await?;
    tx.execute(
        &stmt,
        &[
            &session.id.as_str(),
            &session.client_id.as_str(),
            &session.user_id.as_str(),
            &session.status.as_str(),
            &session.last_active_at.0,
            &session.expire_at.0,
            &session.first_factor_verified_at.0,
            &session.second_factor_verified_at.map(|t| t.0),
            &session.created_at.0,
            &session.updated_at.0,
            &session.origin.strategy,
            &session.origin.ip_address,
            &session.origin.user_agent,
        ],
    )
    .await?;
    Ok(())
}

//! [`ClientRepository`]: clients and their sessions.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, Session, SessionId, SessionStatus, SignInId, SignUpId, Standing, Timestamp,
    User,
};
use latch_core::ports::{ClientRepository, ClientWithSessions, DigestUpgrade, SessionQuery};
use latch_sql::{client_columns, session_columns};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::SqliteStore;
use crate::error::{DbError, SqliteColumns, Table, lost_or_missing, row_exists};
use crate::webhooks::write_events;
use latch_core::model::NewEvent;

const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
);

/// What [`ClientRepository::insert_session`] does to the session's client.
const ROTATE_CLIENT: &str = "UPDATE clients SET token_hash = ?2, last_active_session_id = ?3, sign_in_id = NULL, \
     sign_up_id = NULL, \
     updated_at = ?4, last_authentication_strategy = COALESCE(?6, last_authentication_strategy) \
     WHERE id = ?1 AND token_hash = ?5";

/// Sets a client's current sign-up (or none) and `updated_at`.
pub(crate) const SET_CURRENT_SIGN_UP: &str =
    "UPDATE clients SET sign_up_id = ?2, updated_at = ?3 WHERE id = ?1";

/// Sets a client's current sign-in (or none) and `updated_at`.
pub(crate) const SET_CURRENT_SIGN_IN: &str =
    "UPDATE clients SET sign_in_id = ?2, updated_at = ?3 WHERE id = ?1";

#[async_trait]
impl ClientRepository for SqliteStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let client = client.clone();
        self.pool
            .write(move |tx| insert_client_on(tx, &client))
            .await
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = concat!("SELECT ", client_columns!(), " FROM clients WHERE id = ?1");
        self.pool.read_one(sql, id.0.clone(), client_from_row).await
    }

    async fn find_client_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Client>, StoreError> {
        // Only the current hash is stored, so a rotated-out token cannot match.
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE token_hash = ?1"
        );
        self.pool
            .read_one(sql, token_hash.to_owned(), client_from_row)
            .await
    }

    async fn rotate_token(
        &self,
        client: &ClientId,
        expected_token_hash: &str,
        new_token_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (client, expected, new) = (
            client.clone(),
            expected_token_hash.to_owned(),
            new_token_hash.to_owned(),
        );
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE clients SET token_hash = ?2, updated_at = ?3 \
                         WHERE id = ?1 AND token_hash = ?4",
                    )?
                    .execute(params![client.as_str(), new, at.0, expected])?;
                if changed == 0 {
                    return Err(lost_or_missing(tx, Table::Clients, client.as_str()));
                }
                Ok(())
            })
            .await
    }

    async fn set_current_sign_in(
        &self,
        client: &ClientId,
        sign_in: Option<SignInId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.set_on_client(SET_CURRENT_SIGN_IN, client, sign_in.map(|id| id.0), at)
            .await
    }

    async fn set_current_sign_up(
        &self,
        client: &ClientId,
        sign_up: Option<SignUpId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.set_on_client(SET_CURRENT_SIGN_UP, client, sign_up.map(|id| id.0), at)
            .await
    }

    async fn set_last_active_session(
        &self,
        client: &ClientId,
        session: Option<SessionId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE clients SET last_active_session_id = ?2, updated_at = ?3 WHERE id = ?1";
        self.set_on_client(sql, client, session.map(|id| id.0), at)
            .await
    }

    async fn purge_idle_clients(
        &self,
        idle_before: Timestamp,
        unused_before: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                // The first condition is the index's range; one write
                // transaction, so no request changes a client meanwhile.
                let purged = tx
                    .prepare_cached(
                        "DELETE FROM clients WHERE updated_at < max(?1, ?2)
                         AND (updated_at < ?1 OR (
                             sign_in_id IS NULL AND sign_up_id IS NULL AND last_active_session_id IS NULL
                             AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.client_id = clients.id)))
                         AND NOT EXISTS (
                             SELECT 1 FROM sessions s
                             WHERE s.client_id = clients.id AND s.status = 'active' AND s.expire_at > ?3)",
                    )?
                    .execute([idle_before.0, unused_before.0, now.0])?;
                Ok(u64::try_from(purged).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn delete_client(&self, id: &ClientId) -> Result<(), StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                // Only sessions still active become `removed`; an ended, revoked or
                // expired session keeps the status that says how it finished.
                tx.prepare_cached(
                    "UPDATE sessions SET status = ?2 WHERE client_id = ?1 AND status = ?3",
                )?
                .execute(params![
                    id.as_str(),
                    SessionStatus::Removed.as_str(),
                    SessionStatus::Active.as_str()
                ])?;
                tx.prepare_cached("DELETE FROM clients WHERE id = ?1")?
                    .execute([id.as_str()])?;
                Ok(())
            })
            .await
    }

    async fn insert_session(
        &self,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
    ) -> Result<Standing, StoreError> {
        let (session, events) = (session.clone(), events.to_vec());
        let (expected, new_token_hash) =
            (expected_token_hash.to_owned(), new_token_hash.to_owned());
        self.pool
            .write(move |tx| {
                insert_session_on(
                    tx,
                    &session,
                    (&expected, &new_token_hash),
                    upgrade.as_ref(),
                    &events,
                )
            })
            .await
    }

    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let (user, session, events) = (user.clone(), session.clone(), events.to_vec());
        let (expected, new_token_hash) =
            (expected_token_hash.to_owned(), new_token_hash.to_owned());
        self.pool
            .write(move |tx| {
                insert_user_with_session_on(
                    tx,
                    &user,
                    &session,
                    (&expected, &new_token_hash),
                    &events,
                )
            })
            .await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = ?1"
        );
        self.pool
            .read_one(sql, id.0.clone(), session_from_row)
            .await
    }

    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE sessions SET last_active_at = ?2, updated_at = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id.as_str(), at.0])?;
                found(changed)
            })
            .await
    }

    async fn reverify_session(
        &self,
        id: &SessionId,
        first: bool,
        second: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE sessions SET \
                         first_factor_verified_at = CASE WHEN ?2 THEN ?4 ELSE first_factor_verified_at END, \
                         second_factor_verified_at = CASE WHEN ?3 THEN ?4 ELSE second_factor_verified_at END, \
                         updated_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![id.as_str(), first, second, at.0])?;
                found(changed)
            })
            .await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        status: SessionStatus,
        at: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let (id, events) = (id.clone(), events.to_vec());
        self.pool
            .write(move |tx| {
                // The status test is in the UPDATE itself, so of two requests ending
                // one session only the first changes it; the other sees 0 rows.
                let changed = tx
                    .prepare_cached(
                        "UPDATE sessions SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = ?4",
                    )?
                    .execute(params![
                        id.as_str(),
                        status.as_str(),
                        at.0,
                        SessionStatus::Active.as_str()
                    ])?;
                if changed > 0 {
                    write_events(tx, &events)?;
                    return Ok(true);
                }
                if row_exists(tx, Table::Sessions, id.as_str())? {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound.into())
                }
            })
            .await
    }

    async fn find_client_with_sessions(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.pool
            .read(move |tx| client_with_sessions_by_token(tx, &token_hash, now))
            .await
    }

    async fn get_client_with_sessions(
        &self,
        id: &ClientId,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError> {
        let sql = concat!("SELECT ", client_columns!(), " FROM clients WHERE id = ?1");
        let id = id.clone();
        self.pool
            .read(move |tx| client_with_sessions(tx, sql, id.as_str(), now))
            .await
    }

    async fn find_active_session(
        &self,
        token_hash: &str,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let (token_hash, id) = (token_hash.to_owned(), id.clone());
        self.pool
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(FIND_ACTIVE_SESSION)?
                    .query_row(
                        params![
                            id.as_str(),
                            token_hash,
                            SessionStatus::Active.as_str(),
                            now.0
                        ],
                        session_from_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn sessions_of_client(&self, client_id: &ClientId) -> Result<Vec<Session>, StoreError> {
        let client_id = client_id.clone();
        self.pool
            .read(move |tx| {
                let sql = concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE client_id = ?1 ORDER BY created_at ASC, id ASC"
                );
                Ok(tx
                    .prepare_cached(sql)?
                    .query_map([client_id.as_str()], session_from_row)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        let query = query.clone();
        self.pool
            .read(move |tx| {
                let (filter, mut values) = session_filter(&query);
                let sql = format!(
                    concat!(
                        "SELECT ",
                        session_columns!(),
                        " FROM sessions{} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
                    ),
                    filter
                );
                // LIMIT -1 is SQLite for "no limit"; a zero limit means the caller set none.
                values.push(Value::Integer(if query.limit == 0 {
                    -1
                } else {
                    i64::from(query.limit)
                }));
                values.push(Value::Integer(i64::from(query.offset)));
                Ok(tx
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(values), session_from_row)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn count_sessions(&self, query: &SessionQuery) -> Result<u64, StoreError> {
        let query = query.clone();
        self.pool
            .read(move |tx| {
                let (filter, values) = session_filter(&query);
                let sql = format!("SELECT COUNT(*) FROM sessions{filter}");
                let count: i64 = tx
                    .prepare_cached(&sql)?
                    .query_row(params_from_iter(values), |row| row.get(0))?;
                Ok(u64::try_from(count).unwrap_or_default())
            })
            .await
    }
}

fn write_client_row(conn: &Connection, sql: &str, client: &Client) -> Result<usize, DbError> {
    Ok(conn.prepare_cached(sql)?.execute(params![
        client.id.as_str(),
        client.token_hash,
        client.sign_in_id.as_ref().map(SignInId::as_str),
        client
            .last_active_session_id
            .as_ref()
            .map(SessionId::as_str),
        client.created_at.0,
        client.updated_at.0,
        client.last_authentication_strategy,
        client.sign_up_id.as_ref().map(SignUpId::as_str),
    ])?)
}

/// `Ok` if an `UPDATE` by id changed its row, `NotFound` if there was none.
fn found(changed: usize) -> Result<(), DbError> {
    if changed == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

impl SqliteStore {
    /// Runs `sql`, an update of one column of the client `?1` to `?2` with
    /// `updated_at` `?3`; `NotFound` when the client does not exist.
    async fn set_on_client(
        &self,
        sql: &'static str,
        client: &ClientId,
        value: Option<String>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let client = client.clone();
        self.pool
            .write(move |tx| set_on(tx, sql, &client, value.as_deref(), at))
            .await
    }
}

/// [`SqliteStore::set_on_client`]'s update, on `conn`.
pub(crate) fn set_on(
    conn: &Connection,
    sql: &str,
    client: &ClientId,
    value: Option<&str>,
    at: Timestamp,
) -> Result<(), DbError> {
    let changed = conn
        .prepare_cached(sql)?
        .execute(params![client.as_str(), value, at.0])?;
    found(changed)
}

/// `insert_client` on `conn`.
pub(crate) fn insert_client_on(conn: &Connection, client: &Client) -> Result<(), DbError> {
    let sql = concat!(
        "INSERT INTO clients (",
        client_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    );
    write_client_row(conn, sql, client)?;
    Ok(())
}

/// `insert_user_with_session` on `tx`: the user stored, its first session
/// started and its client rotated from `tokens.0` to `tokens.1`, `events`
/// stored.
pub(crate) fn insert_user_with_session_on(
    tx: &rusqlite::Transaction<'_>,
    user: &User,
    session: &Session,
    (expected, new_token_hash): (&str, &str),
    events: &[NewEvent],
) -> Result<(), DbError> {
    // A taken identifier fails the insert, and the transaction with it: no
    // user, no session, no rotation.
    crate::users::insert_user(tx, user)?;
    start_session(tx, session, expected, new_token_hash)?;
    write_events(tx, events)
}

/// `insert_session` on `tx`: the user's sign-in recorded, the session
/// stored and its client rotated from `tokens.0` to `tokens.1`, `events`
/// stored; the user's standing as the same step left it.
pub(crate) fn insert_session_on(
    tx: &rusqlite::Transaction<'_>,
    session: &Session,
    tokens: (&str, &str),
    upgrade: Option<&DigestUpgrade>,
    events: &[NewEvent],
) -> Result<Standing, DbError> {
    let standing = crate::users::record_sign_in(tx, &session.user_id, session.created_at, upgrade)?;
    start_session(tx, session, tokens.0, tokens.1)?;
    write_events(tx, events)?;
    Ok(standing)
}

/// Rotates the session's client (only if its token is still `expected`) and
/// stores the session, in the caller's transaction. The client goes first:
/// a missing client or a lost race fails before anything is written, and a
/// failing session insert fails the rotation with it, so it is both or
/// neither.
fn start_session(
    tx: &Connection,
    session: &Session,
    expected: &str,
    new_token_hash: &str,
) -> Result<(), DbError> {
    let changed = tx.prepare_cached(ROTATE_CLIENT)?.execute(params![
        session.client_id.as_str(),
        new_token_hash,
        session.id.as_str(),
        session.created_at.0,
        expected,
        session.origin.strategy,
    ])?;
    if changed == 0 {
        return Err(lost_or_missing(
            tx,
            Table::Clients,
            session.client_id.as_str(),
        ));
    }
    write_session_row(tx, INSERT_SESSION, session)?;
    Ok(())
}

fn write_session_row(conn: &Connection, sql: &str, session: &Session) -> Result<usize, DbError> {
    Ok(conn.prepare_cached(sql)?.execute(params![
        session.id.as_str(),
        session.client_id.as_str(),
        session.user_id.as_str(),
        session.status.as_str(),
        session.last_active_at.0,
        session.expire_at.0,
        session.first_factor_verified_at.0,
        session.second_factor_verified_at.map(|t| t.0),
        session.created_at.0,
        session.updated_at.0,
        session.origin.strategy,
        session.origin.ip_address,
        session.origin.user_agent,
    ])?)
}

/// The client whose current token has this hash, with its sessions active
/// at `now` and their users.
pub(crate) fn client_with_sessions_by_token(
    conn: &Connection,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<ClientWithSessions>, DbError> {
    // Only the current hash is stored, so a rotated-out token cannot match.
    let sql = concat!(
        "SELECT ",
        client_columns!(),
        " FROM clients WHERE token_hash = ?1"
    );
    client_with_sessions(conn, sql, token_hash, now)
}

/// The client `find` (one parameter, `key`) selects, with its sessions active
/// at `now` and their users, in the caller's read transaction.
fn client_with_sessions(
    conn: &Connection,
    find: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<ClientWithSessions>, DbError> {
    let Some(client) = conn
        .prepare_cached(find)?
        .query_row([key], client_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    let active = concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE client_id = ?1 AND status = ?2 AND expire_at > ?3 \
         ORDER BY created_at ASC, id ASC"
    );
    let sessions = conn
        .prepare_cached(active)?
        .query_map(
            params![client.id.as_str(), SessionStatus::Active.as_str(), now.0],
            session_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&str> = sessions.iter().map(|s| s.user_id.as_str()).collect();
    let users = crate::users::load_users(conn, &ids)?;
    Ok(Some(ClientWithSessions::pair(client, sessions, &users)))
}

/// A session by id (?1), if the client whose token hash is ?2 holds it,
/// it is stored with status ?3, `expire_at` is after ?4, and its user exists.
const FIND_ACTIVE_SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = ?1 \
     AND client_id = (SELECT id FROM clients WHERE token_hash = ?2) \
     AND status = ?3 AND expire_at > ?4 \
     AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id)"
);

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<Client> {
    latch_sql::rows::client(&SqliteColumns(row))
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    latch_sql::rows::session(&SqliteColumns(row))
}

/// The `WHERE` clause of a [`SessionQuery`] and its parameters.
fn session_filter(query: &SessionQuery) -> (String, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(user_id) = &query.user_id {
        clauses.push("user_id = ?");
        values.push(Value::Text(user_id.clone()));
    }
    if let Some(client_id) = &query.client_id {
        clauses.push("client_id = ?");
        values.push(Value::Text(client_id.clone()));
    }
    // The effective status at `now`, as `Session::status_at` computes it: an
    // active session is expired from its `expire_at` on.
    match query.status {
        None => {}
        Some(SessionStatus::Active) => {
            clauses.push("(status = ? AND expire_at > ?)");
            values.push(status_value(SessionStatus::Active));
            values.push(Value::Integer(query.now.0));
        }
        Some(SessionStatus::Expired) => {
            clauses.push("(status = ? OR (status = ? AND expire_at <= ?))");
            values.push(status_value(SessionStatus::Expired));
            values.push(status_value(SessionStatus::Active));
            values.push(Value::Integer(query.now.0));
        }
        Some(status) => {
            clauses.push("status = ?");
            values.push(status_value(status));
        }
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (filter, values)
}

fn status_value(status: SessionStatus) -> Value {
    Value::Text(status.as_str().to_owned())
}

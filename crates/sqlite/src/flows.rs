//! The flow store: [`SignInStore`] and [`SignUpStore`], one table per kind
//! of flow (`sign_ins`, `sign_ups`) of one shape: each flow as one JSON
//! document, with its id, client, `abandon_at` and version in columns for
//! lookups, purging and the compare-and-set of `replace`. The statements are
//! written once, over [`Flow`]; each port is bound to its table by
//! `flow_store!`.

use std::sync::Arc;

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{SignIn, SignInId, SignUp, SignUpId, Timestamp};
use latch_core::ports::{SignInStore, SignUpStore};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SqliteStore;
use crate::error::{DbError, Table, lost_or_missing};
use crate::pool::Pool;

/// The statements of one flow table.
pub(crate) struct Statements {
    insert: &'static str,
    replace: &'static str,
    get: &'static str,
    delete: &'static str,
    purge: &'static str,
}

/// The statements on table `$table`, as literals so the statement cache
/// keeps them.
macro_rules! statements {
    ($table:literal) => {
        Statements {
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (id, client_id, abandon_at, version, data) VALUES (?1, ?2, ?3, ?4, ?5)"
            ),
            replace: concat!(
                "UPDATE ",
                $table,
                " SET client_id = ?2, abandon_at = ?3, version = ?4, data = ?5 \
                 WHERE id = ?1 AND version = ?6"
            ),
            get: concat!("SELECT data FROM ", $table, " WHERE id = ?1"),
            delete: concat!("DELETE FROM ", $table, " WHERE id = ?1"),
            purge: concat!("DELETE FROM ", $table, " WHERE abandon_at < ?1"),
        }
    };
}

/// A kind of flow kept in a table of its own.
pub(crate) trait Flow: Serialize + DeserializeOwned + Send + 'static {
    /// What errors call it: `sign-in`.
    const NAME: &'static str;
    const TABLE: Table;
    const SQL: Statements;

    /// Sets a client's current flow of this kind and `updated_at`.
    const SET_CURRENT: &'static str;

    fn id(&self) -> &str;
    fn client_id(&self) -> &str;
    fn abandon_at(&self) -> Timestamp;
    fn version(&self) -> u64;
}

/// The columns of one flow, ready to bind.
pub(crate) struct FlowRow {
    id: String,
    client_id: String,
    abandon_at: i64,
    version: i64,
    data: String,
}

impl FlowRow {
    pub(crate) fn of<F: Flow>(flow: &F) -> Result<Self, StoreError> {
        Ok(Self {
            id: flow.id().to_owned(),
            client_id: flow.client_id().to_owned(),
            abandon_at: flow.abandon_at().0,
            version: column_version::<F>(flow.version())?,
            data: serde_json::to_string(flow)
                .map_err(|e| StoreError::Other(format!("cannot serialise {}: {e}", F::NAME)))?,
        })
    }
}

/// SQLite integers are signed; a version past `i64::MAX` would take 2^63
/// changes to one flow, so refusing it is only a guard.
fn column_version<F: Flow>(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| {
        StoreError::Other(format!("{} version {version} does not fit SQLite", F::NAME))
    })
}

async fn insert<F: Flow>(pool: &Arc<Pool>, flow: &F) -> Result<(), StoreError> {
    let row = FlowRow::of(flow)?;
    pool.write(move |tx| insert_row::<F>(tx, &row)).await
}

/// A new flow made its client's current one of its kind, on `conn`: with
/// `new_client` (made for it, naming it already), or as the stored client's
/// current one at `at`; and `previous`, the one it replaces, deleted. The
/// client gone is `NotFound`.
pub(crate) fn start_row<F: Flow>(
    conn: &Connection,
    row: &FlowRow,
    new_client: Option<&latch_core::model::Client>,
    previous: Option<&str>,
    at: Timestamp,
) -> Result<(), DbError> {
    match new_client {
        Some(client) => crate::clients::insert_client_on(conn, client)?,
        None => crate::clients::set_on(
            conn,
            F::SET_CURRENT,
            &latch_core::model::ClientId(row.client_id.clone()),
            Some(&row.id),
            at,
        )?,
    }
    insert_row::<F>(conn, row)?;
    if let Some(previous) = previous {
        delete_row::<F>(conn, previous)?;
    }
    Ok(())
}

/// The client whose current token has `token_hash`, with its sessions
/// active at `now`, and flow `id` if it is that client's, read on `conn`;
/// `None` when no client has the token.
pub(crate) fn client_and_flow<F: Flow>(
    conn: &Connection,
    token_hash: &str,
    id: &str,
    now: Timestamp,
) -> Result<Option<(latch_core::ports::ClientWithSessions, Option<F>)>, DbError> {
    let Some(found) = crate::clients::client_with_sessions_by_token(conn, token_hash, now)? else {
        return Ok(None);
    };
    let flow = load::<F>(conn, id)?.filter(|flow| flow.client_id() == found.client.id.as_str());
    Ok(Some((found, flow)))
}

/// The insert of `insert`, on `conn`.
pub(crate) fn insert_row<F: Flow>(conn: &Connection, row: &FlowRow) -> Result<(), DbError> {
    // A taken id violates the primary key, which `error` reports as `Other`:
    // ids are random, so a clash is a bug, not a race to win.
    conn.prepare_cached(F::SQL.insert)?.execute(params![
        row.id,
        row.client_id,
        row.abandon_at,
        row.version,
        row.data
    ])?;
    Ok(())
}

async fn replace<F: Flow>(
    pool: &Arc<Pool>,
    flow: &F,
    expected_version: u64,
) -> Result<(), StoreError> {
    let row = FlowRow::of(flow)?;
    let expected = column_version::<F>(expected_version)?;
    pool.write(move |tx| replace_row::<F>(tx, &row, expected))
        .await
}

/// The compare-and-set of `replace`, on `tx`.
pub(crate) fn replace_row<F: Flow>(
    tx: &Transaction<'_>,
    row: &FlowRow,
    expected: i64,
) -> Result<(), DbError> {
    let changed = tx.prepare_cached(F::SQL.replace)?.execute(params![
        row.id,
        row.client_id,
        row.abandon_at,
        row.version,
        row.data,
        expected
    ])?;
    if changed == 0 {
        return Err(lost_or_missing(tx, F::TABLE, &row.id));
    }
    Ok(())
}

/// `flow`'s row and the version the store must still hold for it to
/// replace the stored one: the one before its own (what its
/// `next_version` left).
pub(crate) fn replacement<F: Flow>(flow: &F) -> Result<(FlowRow, i64), StoreError> {
    let expected = flow
        .version()
        .checked_sub(1)
        .ok_or_else(|| StoreError::Other(format!("a {} at version 0 replaces nothing", F::NAME)))?;
    Ok((FlowRow::of(flow)?, column_version::<F>(expected)?))
}

async fn get<F: Flow>(pool: &Arc<Pool>, id: &str) -> Result<Option<F>, StoreError> {
    let id = id.to_owned();
    pool.read(move |tx| load::<F>(tx, &id)).await
}

/// Flow `id` as stored, read on `conn`.
pub(crate) fn load<F: Flow>(conn: &Connection, id: &str) -> Result<Option<F>, DbError> {
    let data: Option<String> = conn
        .prepare_cached(F::SQL.get)?
        .query_row([id], |row| row.get(0))
        .optional()?;
    match data {
        Some(data) => Ok(Some(serde_json::from_str(&data)?)),
        None => Ok(None),
    }
}

async fn delete<F: Flow>(pool: &Arc<Pool>, id: &str) -> Result<(), StoreError> {
    let id = id.to_owned();
    pool.write(move |tx| delete_row::<F>(tx, &id)).await
}

/// The delete of `delete` (of an id that may not exist), on `conn`.
pub(crate) fn delete_row<F: Flow>(conn: &Connection, id: &str) -> Result<(), DbError> {
    conn.prepare_cached(F::SQL.delete)?.execute([id])?;
    Ok(())
}

async fn purge_abandoned<F: Flow>(pool: &Arc<Pool>, now: Timestamp) -> Result<u64, StoreError> {
    pool.write(move |tx| {
        let purged = tx.prepare_cached(F::SQL.purge)?.execute([now.0])?;
        Ok(u64::try_from(purged).unwrap_or(u64::MAX))
    })
    .await
}

/// Makes `$flow` a [`Flow`] kept in `$table` and implements `$port` for
/// [`SqliteStore`] through it.
macro_rules! flow_store {
    ($port:ident, $flow:ty, $id:ty, $name:literal, $table:literal, $variant:ident, $current:path) => {
        impl Flow for $flow {
            const NAME: &'static str = $name;
            const TABLE: Table = Table::$variant;
            const SQL: Statements = statements!($table);
            const SET_CURRENT: &'static str = $current;

            fn id(&self) -> &str {
                self.id.as_str()
            }
            fn client_id(&self) -> &str {
                self.client_id.as_str()
            }
            fn abandon_at(&self) -> Timestamp {
                self.abandon_at
            }
            fn version(&self) -> u64 {
                <$flow>::version(self)
            }
        }

        #[async_trait]
        impl $port for SqliteStore {
            async fn insert(&self, flow: &$flow) -> Result<(), StoreError> {
                insert(&self.pool, flow).await
            }

            async fn replace(&self, flow: &$flow, expected_version: u64) -> Result<(), StoreError> {
                replace(&self.pool, flow, expected_version).await
            }

            async fn get(&self, id: &$id) -> Result<Option<$flow>, StoreError> {
                get(&self.pool, id.as_str()).await
            }

            async fn delete(&self, id: &$id) -> Result<(), StoreError> {
                delete::<$flow>(&self.pool, id.as_str()).await
            }

            async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError> {
                purge_abandoned::<$flow>(&self.pool, now).await
            }
        }
    };
}

flow_store!(
    SignInStore,
    SignIn,
    SignInId,
    "sign-in",
    "sign_ins",
    SignIns,
    crate::clients::SET_CURRENT_SIGN_IN
);
flow_store!(
    SignUpStore,
    SignUp,
    SignUpId,
    "sign-up",
    "sign_ups",
    SignUps,
    crate::clients::SET_CURRENT_SIGN_UP
);

//! [`UserRepository`]: a user row plus its email addresses and phone numbers,
//! written and read as one aggregate.

use std::collections::HashMap;

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{
    Duration, ExternalAccount, IdentificationRecord, Identifier, Standing, Timestamp, User, UserId,
    Username,
};
use latch_core::ports::{AttemptSlot, DigestUpgrade, PassedAttempt, UserQuery, UserRepository};
use latch_sql::user_columns;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::SqliteStore;
use crate::error::{DbError, SqliteColumns, Table, lost_or_missing};
use crate::webhooks::write_events;
use latch_core::model::NewEvent;

/// The ids in the JSON array `?1`, one row each, as the column `wanted`:
/// joined (`CROSS JOIN`, so SQLite loops over the ids and looks each up by
/// its index) where `IN (SELECT value FROM json_each(?1))` would first copy
/// the list into a temporary B-tree, a page cache of its own, per statement.
/// SQLite flattens the subquery, and its one column leaves the other table's
/// column names unambiguous.
macro_rules! wanted {
    () => {
        "(SELECT value AS wanted FROM json_each(?1))"
    };
}

const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
     ?20, ?21, ?22, ?23, ?24, ?25)"
);

const UPDATE_USER: &str = "UPDATE users SET username = ?2, password_digest = ?3, first_name = ?4, last_name = ?5, \
     external_id = ?6, primary_email_address_id = ?7, primary_phone_number_id = ?8, public_metadata = ?9, \
     private_metadata = ?10, unsafe_metadata = ?11, banned = ?12, last_sign_in_at = ?13, created_at = ?14, \
     updated_at = ?15, totp_secret = ?16, totp_pending_secret = ?17, password_updated_at = ?18, \
     mfa_enabled_at = ?19, mfa_disabled_at = ?20 WHERE id = ?1 AND updated_at = ?21";

const SELECT_USER: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1");

/// The two identification tables, which share one shape.
#[derive(Debug, Clone, Copy)]
enum Identifications {
    Email,
    Phone,
}

impl Identifications {
    const BOTH: [Self; 2] = [Self::Email, Self::Phone];

    fn of(self, user: &User) -> &[IdentificationRecord] {
        match self {
            Self::Email => &user.email_addresses,
            Self::Phone => &user.phone_numbers,
        }
    }

    fn of_mut(self, user: &mut User) -> &mut Vec<IdentificationRecord> {
        match self {
            Self::Email => &mut user.email_addresses,
            Self::Phone => &mut user.phone_numbers,
        }
    }

    fn delete_of_user(self) -> &'static str {
        match self {
            Self::Email => "DELETE FROM email_addresses WHERE user_id = ?1",
            Self::Phone => "DELETE FROM phone_numbers WHERE user_id = ?1",
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Self::Email => {
                "INSERT INTO email_addresses (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at, verification) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            }
            Self::Phone => {
                "INSERT INTO phone_numbers (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at, verification) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            }
        }
    }

    /// Frees the value `?1` for the user `?2`: another user's unverified
    /// claim on it is dropped (a claim proves nothing, so it cannot hold an
    /// address against its owner), and that user's `updated_at` moves, so a
    /// write of theirs made from an earlier read is refused as stale (values
    /// are unique, so each subquery finds one record at most). A
    /// verified record of another user stays, and the insert that follows
    /// fails on the column's uniqueness.
    fn release_claims(self) -> [&'static str; 2] {
        match self {
            Self::Email => [
                "UPDATE users SET updated_at = updated_at + 1, \
                 primary_email_address_id = CASE WHEN primary_email_address_id = \
                 (SELECT id FROM email_addresses WHERE value = ?1 AND user_id <> ?2 AND verified = 0) \
                 THEN NULL ELSE primary_email_address_id END \
                 WHERE id = (SELECT user_id FROM email_addresses WHERE value = ?1 AND user_id <> ?2 AND verified = 0)",
                "DELETE FROM email_addresses WHERE value = ?1 AND user_id <> ?2 AND verified = 0",
            ],
            Self::Phone => [
                "UPDATE users SET updated_at = updated_at + 1, \
                 primary_phone_number_id = CASE WHEN primary_phone_number_id = \
                 (SELECT id FROM phone_numbers WHERE value = ?1 AND user_id <> ?2 AND verified = 0) \
                 THEN NULL ELSE primary_phone_number_id END \
                 WHERE id = (SELECT user_id FROM phone_numbers WHERE value = ?1 AND user_id <> ?2 AND verified = 0)",
                "DELETE FROM phone_numbers WHERE value = ?1 AND user_id <> ?2 AND verified = 0",
            ],
        }
    }

    /// Records of the users whose ids are in the JSON array `?1` (see
    /// [`wanted!`]), each with its position.
    fn select_of_users(self) -> &'static str {
        match self {
            Self::Email => concat!(
                "SELECT user_id, id, value, verified, reserved_for_second_factor, created_at, updated_at, \
                 verification, position FROM ",
                wanted!(),
                " CROSS JOIN email_addresses ON user_id = wanted"
            ),
            Self::Phone => concat!(
                "SELECT user_id, id, value, verified, reserved_for_second_factor, created_at, updated_at, \
                 verification, position FROM ",
                wanted!(),
                " CROSS JOIN phone_numbers ON user_id = wanted"
            ),
        }
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn insert(&self, user: &User, events: &[NewEvent]) -> Result<(), StoreError> {
        let (user, events) = (user.clone(), events.to_vec());
        self.pool
            .write(move |tx| {
                insert_user(tx, &user)?;
                write_events(tx, &events)
            })
            .await
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.clone();
        self.pool.read(move |tx| load_user(tx, id.as_str())).await
    }

    async fn find_by_identifier(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<User>, StoreError> {
        let identifier = identifier.clone();
        self.pool
            .read(move |tx| {
                let sql = match &identifier {
                    Identifier::Email(_) => "SELECT user_id FROM email_addresses WHERE value = ?1",
                    // Numbers kept for the second factor do not name an account.
                    Identifier::Phone(_) => {
                        "SELECT user_id FROM phone_numbers WHERE value = ?1 AND reserved_for_second_factor = 0"
                    }
                    Identifier::Username(_) => "SELECT id FROM users WHERE username = ?1",
                };
                let user_id: Option<String> =
                    tx.prepare_cached(sql)?.query_row([identifier.as_str()], |row| row.get(0)).optional()?;
                match user_id {
                    Some(id) => load_user(tx, &id),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn find_by_external_account(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        let (provider, subject) = (provider.to_owned(), subject.to_owned());
        self.pool
            .read(move |tx| {
                let user_id: Option<String> = tx
                    .prepare_cached(
                        "SELECT user_id FROM external_accounts WHERE provider = ?1 AND subject = ?2",
                    )?
                    .query_row([provider.as_str(), subject.as_str()], |row| row.get(0))
                    .optional()?;
                match user_id {
                    Some(user_id) => load_user(tx, &user_id),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn find_by_identification_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_owned();
        self.pool
            .read(move |tx| {
                let user_id: Option<String> = tx
                    .prepare_cached(
                        "SELECT user_id FROM email_addresses WHERE id = ?1 \
                         UNION ALL SELECT user_id FROM phone_numbers WHERE id = ?1",
                    )?
                    .query_row([id.as_str()], |row| row.get(0))
                    .optional()?;
                match user_id {
                    Some(user_id) => load_user(tx, &user_id),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn update(
        &self,
        user: &User,
        expected_updated_at: Timestamp,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let (user, events) = (user.clone(), events.to_vec());
        self.pool
            .write(move |tx| {
                // The compare-and-set is in the UPDATE itself.
                let mut values = user_values(&user)?;
                values.push(Value::Integer(expected_updated_at.0));
                if tx
                    .prepare_cached(UPDATE_USER)?
                    .execute(params_from_iter(values))?
                    == 0
                {
                    return Err(lost_or_missing(tx, Table::Users, user.id.as_str()));
                }
                // Delete and re-insert rather than upsert by id: an update may move a
                // value between two of the user's own records, which an upsert would
                // refuse as a duplicate halfway through.
                for table in Identifications::BOTH {
                    tx.prepare_cached(table.delete_of_user())?
                        .execute([user.id.as_str()])?;
                }
                insert_identifications(tx, &user)?;
                tx.prepare_cached("DELETE FROM backup_codes WHERE user_id = ?1")?
                    .execute([user.id.as_str()])?;
                insert_backup_codes(tx, &user)?;
                tx.prepare_cached("DELETE FROM external_accounts WHERE user_id = ?1")?
                    .execute([user.id.as_str()])?;
                insert_external_accounts(tx, &user)?;
                write_events(tx, &events)
            })
            .await
    }

    async fn take_attempt(
        &self,
        id: &UserId,
        now: Timestamp,
        max_attempts: u32,
        window: Duration,
    ) -> Result<AttemptSlot, StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                let ends = now.plus(window).0;
                let args = params![id.as_str(), now.0, max_attempts, ends];
                // The user's row, or else the stand-in's record, made here:
                // the same statement on either.
                let mut table = AttemptTable::Users;
                let mut taken = tx.prepare_cached(&take_sql(table))?.execute(args)?;
                if taken == 0 && !exists(tx, table, &id)? {
                    table = AttemptTable::Records;
                    tx.prepare_cached(
                        "INSERT INTO attempt_records (id) VALUES (?1) ON CONFLICT (id) DO NOTHING",
                    )?
                    .execute([id.as_str()])?;
                    taken = tx.prepare_cached(&take_sql(table))?.execute(args)?;
                }
                if taken == 1 {
                    return Ok(AttemptSlot::Granted);
                }
                match lock_of(tx, table, &id)? {
                    Some(until) if until > now => Ok(AttemptSlot::Locked(until)),
                    _ => Ok(AttemptSlot::Exhausted),
                }
            })
            .await
    }

    async fn settle_attempt(
        &self,
        id: &UserId,
        failed: bool,
        now: Timestamp,
        max_attempts: u32,
        lock_for: Duration,
    ) -> Result<Option<Timestamp>, StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                let mut table = AttemptTable::Users;
                if !exists(tx, table, &id)? {
                    table = AttemptTable::Records;
                    if !exists(tx, table, &id)? {
                        return Err(StoreError::NotFound.into());
                    }
                }
                settle_on(tx, table, &id, failed, now, max_attempts, lock_for)?;
                Ok(lock_of(tx, table, &id)?.filter(|t| *t > now))
            })
            .await
    }

    async fn attempt_lock(
        &self,
        id: &UserId,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let id = id.clone();
        self.pool
            .read(move |tx| {
                let lock: Option<Option<i64>> = tx
                    .prepare_cached(
                        "SELECT locked_until FROM users WHERE id = ?1
                         UNION ALL
                         SELECT locked_until FROM attempt_records WHERE id = ?1
                         LIMIT 1",
                    )?
                    .query_row([id.as_str()], |row| row.get(0))
                    .optional()?;
                Ok(lock.flatten().map(Timestamp).filter(|t| *t > now))
            })
            .await
    }

    async fn purge_attempt_records(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.pool
            .write(move |tx| {
                let dropped = tx
                    .prepare_cached(
                        "DELETE FROM attempt_records
                         WHERE COALESCE(attempt_window_ends_at, 0) <= ?1
                           AND COALESCE(locked_until, 0) <= ?1",
                    )?
                    .execute([now.0])?;
                Ok(u64::try_from(dropped).unwrap_or(u64::MAX))
            })
            .await
    }

    async fn set_lock(
        &self,
        id: &UserId,
        locked_until: Option<Timestamp>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let (id, events) = (id.clone(), events.to_vec());
        self.pool
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE users SET locked_until = ?2, failed_attempts = 0 WHERE id = ?1",
                    )?
                    .execute(params![id.as_str(), locked_until.map(|t| t.0)])?;
                if changed == 0 {
                    return Err(StoreError::NotFound.into());
                }
                write_events(tx, &events)
            })
            .await
    }

    async fn use_totp_step(&self, id: &UserId, step: i64) -> Result<bool, StoreError> {
        let id = id.clone();
        self.pool
            .write(move |tx| {
                // The comparison is in the UPDATE: of two racing uses, one changes the row.
                let changed = tx
                    .prepare_cached(
                        "UPDATE users SET totp_last_step = ?2 \
                         WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
                    )?
                    .execute(params![id.as_str(), step])?;
                if changed == 0 {
                    user_must_exist(tx, &id)?;
                }
                Ok(changed == 1)
            })
            .await
    }

    async fn consume_backup_code(
        &self,
        id: &UserId,
        digest: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        let digest = digest.to_owned();
        self.pool
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached("DELETE FROM backup_codes WHERE user_id = ?1 AND digest = ?2")?
                    .execute(params![id.as_str(), digest])?;
                if deleted == 0 {
                    user_must_exist(tx, &id)?;
                    return Ok(false);
                }
                tx.prepare_cached(
                    "UPDATE users SET updated_at = MAX(?2, updated_at + 1) WHERE id = ?1",
                )?
                .execute(params![id.as_str(), now.0])?;
                Ok(true)
            })
            .await
    }

    async fn delete(&self, id: &UserId, events: &[NewEvent]) -> Result<bool, StoreError> {
        let (id, events) = (id.clone(), events.to_vec());
        // Identifications and sessions go with the row (ON DELETE CASCADE).
        self.pool
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([id.as_str()])?
                    > 0;
                if deleted {
                    write_events(tx, &events)?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let query = query.clone();
        self.pool
            .read(move |tx| {
                let (filter, mut values) = user_filter(&query)?;
                let direction = if query.oldest_first { "ASC" } else { "DESC" };
                let sql = format!(
                    concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users{} ORDER BY created_at {}, id {} LIMIT ? OFFSET ?"
                    ),
                    filter, direction, direction
                );
                // LIMIT -1 is SQLite for "no limit"; a zero limit means the caller set none.
                values.push(Value::Integer(if query.limit == 0 {
                    -1
                } else {
                    i64::from(query.limit)
                }));
                values.push(Value::Integer(i64::from(query.offset)));
                let mut users = tx
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(values), user_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                attach_parts(tx, &mut users)?;
                Ok(users)
            })
            .await
    }

    async fn count(&self, query: &UserQuery) -> Result<u64, StoreError> {
        let query = query.clone();
        self.pool
            .read(move |tx| {
                let (filter, values) = user_filter(&query)?;
                let sql = format!("SELECT COUNT(*) FROM users{filter}");
                let count: i64 = tx
                    .prepare_cached(&sql)?
                    .query_row(params_from_iter(values), |row| row.get(0))?;
                Ok(u64::try_from(count).unwrap_or_default())
            })
            .await
    }
}

/// Inserts `user` with all its parts, in the caller's transaction.
pub(crate) fn insert_user(tx: &Connection, user: &User) -> Result<(), DbError> {
    let mut values = user_values(user)?;
    values.push(time(user.locked_until));
    values.push(user.totp_last_step.map_or(Value::Null, Value::Integer));
    values.push(Value::Integer(i64::from(user.failed_attempts)));
    values.push(time(user.attempt_window_ends_at));
    values.push(time(user.legal_accepted_at));
    tx.prepare_cached(INSERT_USER)?
        .execute(params_from_iter(values))?;
    insert_identifications(tx, user)?;
    insert_backup_codes(tx, user)?;
    insert_external_accounts(tx, user)
}

/// The values of `user` in `user_columns!` order up to `mfa_disabled_at`, for
/// [`INSERT_USER`] (which adds the lockout and TOTP step columns) and
/// [`UPDATE_USER`] (which never writes those).
fn user_values(user: &User) -> Result<Vec<Value>, DbError> {
    let [public, private, unsafe_] = latch_sql::rows::metadata(user)?;
    let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::Text(s.to_owned()));
    Ok(vec![
        Value::Text(user.id.as_str().to_owned()),
        text(user.username.as_ref().map(Username::as_str)),
        text(user.password_digest.as_deref()),
        text(user.first_name.as_deref()),
        text(user.last_name.as_deref()),
        text(user.external_id.as_deref()),
        text(user.primary_email_address_id.as_deref()),
        text(user.primary_phone_number_id.as_deref()),
        Value::Text(public),
        Value::Text(private),
        Value::Text(unsafe_),
        Value::Integer(i64::from(user.banned)),
        time(user.last_sign_in_at),
        Value::Integer(user.created_at.0),
        Value::Integer(user.updated_at.0),
        text(user.totp_secret.as_deref()),
        text(user.totp_pending_secret.as_deref()),
        time(user.password_updated_at),
        time(user.mfa_enabled_at),
        time(user.mfa_disabled_at),
    ])
}

fn time(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |t| Value::Integer(t.0))
}

fn insert_backup_codes(conn: &Connection, user: &User) -> Result<(), DbError> {
    let mut insert = conn
        .prepare_cached("INSERT OR IGNORE INTO backup_codes (user_id, digest) VALUES (?1, ?2)")?;
    for digest in &user.backup_codes {
        insert.execute(params![user.id.as_str(), digest])?;
    }
    Ok(())
}

/// Fills the backup code digests of `users` with one query.
fn attach_backup_codes(
    conn: &Connection,
    users: &mut [User],
    ids: &str,
    index: &HashMap<String, usize>,
) -> Result<(), DbError> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT user_id, digest FROM ",
        wanted!(),
        " CROSS JOIN backup_codes ON user_id = wanted"
    ))?;
    let mut rows = stmt.query([ids])?;
    while let Some(row) = rows.next()? {
        let user_id: String = row.get(0)?;
        if let Some(&i) = index.get(&user_id) {
            users[i].backup_codes.push(row.get(1)?);
        }
    }
    for user in users.iter_mut() {
        user.backup_codes.sort_unstable();
    }
    Ok(())
}

fn insert_external_accounts(conn: &Connection, user: &User) -> Result<(), DbError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO external_accounts (id, user_id, provider, subject, email, email_verified, first_name, \
         last_name, username, avatar_url, position, created_at, updated_at, approved_scopes, tokens) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for (position, a) in user.external_accounts.iter().enumerate() {
        insert.execute(params![
            a.id,
            user.id.as_str(),
            a.provider,
            a.subject,
            a.email,
            a.email_verified,
            a.first_name,
            a.last_name,
            a.username,
            a.avatar_url,
            i64::try_from(position).unwrap_or(i64::MAX),
            a.created_at.0,
            a.updated_at.0,
            a.approved_scopes,
            a.tokens,
        ])?;
    }
    Ok(())
}

/// Fills the external accounts of `users` with one query.
fn attach_external_accounts(
    conn: &Connection,
    users: &mut [User],
    ids: &str,
    index: &HashMap<String, usize>,
) -> Result<(), DbError> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT user_id, id, provider, subject, email, email_verified, first_name, last_name, username, \
         avatar_url, created_at, updated_at, approved_scopes, tokens, position FROM ",
        wanted!(),
        " CROSS JOIN external_accounts ON user_id = wanted"
    ))?;
    let mut rows = stmt.query([ids])?;
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        let user_id: String = row.get(0)?;
        let account = ExternalAccount {
            id: row.get(1)?,
            provider: row.get(2)?,
            subject: row.get(3)?,
            email: row.get(4)?,
            email_verified: row.get(5)?,
            first_name: row.get(6)?,
            last_name: row.get(7)?,
            username: row.get(8)?,
            avatar_url: row.get(9)?,
            approved_scopes: row.get(12)?,
            tokens: row.get(13)?,
            created_at: Timestamp(row.get(10)?),
            updated_at: Timestamp(row.get(11)?),
        };
        if let Some(&i) = index.get(&user_id) {
            found.push((i, row.get::<_, i64>(14)?, account));
        }
    }
    for (i, account) in in_position_order(found) {
        users[i].external_accounts.push(account);
    }
    Ok(())
}

/// Rows found for users (by their index in the slice being filled), in
/// each user's stored order: the statements name no order, so the rows'
/// positions give it.
fn in_position_order<T>(mut found: Vec<(usize, i64, T)>) -> impl Iterator<Item = (usize, T)> {
    found.sort_by_key(|&(i, position, _)| (i, position));
    found.into_iter().map(|(i, _, item)| (i, item))
}

/// Fills the parts of `users` read from tables of their own (addresses,
/// phone numbers, backup codes, external accounts): one statement per
/// table, whatever their number, all bound to the same ids (a JSON array
/// for [`wanted!`]) and filled by each id's position in `users`.
fn attach_parts(conn: &Connection, users: &mut [User]) -> Result<(), DbError> {
    if users.is_empty() {
        return Ok(());
    }
    let index: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.0.clone(), i))
        .collect();
    let ids = wanted_ids(users.iter().map(|u| u.id.as_str()))?;
    attach_identifications(conn, users, &ids, &index)?;
    attach_backup_codes(conn, users, &ids, &index)?;
    attach_external_accounts(conn, users, &ids, &index)
}

/// `ids` as the JSON array [`wanted!`] reads, each once: the join yields a
/// row per element, so a repeated id would repeat its rows.
fn wanted_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Result<String, DbError> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<&str> = ids.filter(|id| seen.insert(*id)).collect();
    Ok(serde_json::to_string(&ids)?)
}

/// `NotFound` unless the user exists.
fn user_must_exist(conn: &Connection, id: &UserId) -> Result<(), DbError> {
    let found = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([id.as_str()], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| StoreError::NotFound.into())
}

fn insert_identifications(conn: &Connection, user: &User) -> Result<(), DbError> {
    for table in Identifications::BOTH {
        let mut insert = conn.prepare_cached(table.insert())?;
        let [bump, drop] = table.release_claims();
        for (position, record) in table.of(user).iter().enumerate() {
            conn.prepare_cached(bump)?
                .execute(params![record.value, user.id.as_str()])?;
            conn.prepare_cached(drop)?
                .execute(params![record.value, user.id.as_str()])?;
            let verification = record
                .verification
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?;
            insert.execute(params![
                record.id,
                user.id.as_str(),
                record.value,
                record.verified,
                record.reserved_for_second_factor,
                i64::try_from(position).unwrap_or(i64::MAX),
                record.created_at.0,
                record.updated_at.0,
                verification,
            ])?;
        }
    }
    Ok(())
}

/// The users with these ids that exist, in no particular order, with all
/// their parts: six statements whatever their number.
pub(crate) fn load_users(conn: &Connection, ids: &[&str]) -> Result<Vec<User>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = wanted_ids(ids.iter().copied())?;
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM ",
        wanted!(),
        " CROSS JOIN users ON id = wanted"
    );
    let mut users = conn
        .prepare_cached(sql)?
        .query_map([ids], user_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    attach_parts(conn, &mut users)?;
    Ok(users)
}

pub(crate) fn load_user(conn: &Connection, id: &str) -> Result<Option<User>, DbError> {
    let Some(user) = conn
        .prepare_cached(SELECT_USER)?
        .query_row([id], user_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    let mut users = [user];
    attach_parts(conn, &mut users)?;
    let [user] = users;
    Ok(Some(user))
}

/// Fills the identifications of `users` with one query per table, whatever
/// their number.
fn attach_identifications(
    conn: &Connection,
    users: &mut [User],
    ids: &str,
    index: &HashMap<String, usize>,
) -> Result<(), DbError> {
    for table in Identifications::BOTH {
        let mut stmt = conn.prepare_cached(table.select_of_users())?;
        let mut rows = stmt.query([ids])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            let user_id: String = row.get(0)?;
            let record = IdentificationRecord {
                id: row.get(1)?,
                value: row.get(2)?,
                verified: row.get(3)?,
                reserved_for_second_factor: row.get(4)?,
                created_at: Timestamp(row.get(5)?),
                updated_at: Timestamp(row.get(6)?),
                verification: row
                    .get::<_, Option<String>>(7)?
                    .map(|json| serde_json::from_str(&json))
                    .transpose()?,
            };
            if let Some(&i) = index.get(&user_id) {
                found.push((i, row.get::<_, i64>(8)?, record));
            }
        }
        for (i, record) in in_position_order(found) {
            table.of_mut(&mut users[i]).push(record);
        }
    }
    Ok(())
}

/// A user row without its identifications, which [`attach_identifications`] adds.
fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    latch_sql::rows::user(&SqliteColumns(row))
}

/// The `WHERE` clause of a [`UserQuery`] and its parameters: each non-empty list
/// is one condition (any of its values), and the conditions all apply. Lists are
/// bound as one JSON array each, so the statement text depends only on which
/// lists are set and stays cacheable.
fn user_filter(query: &UserQuery) -> Result<(String, Vec<Value>), DbError> {
    let conditions: [(&[String], &str); 5] = [
        (&query.user_ids, "id IN (SELECT value FROM json_each(?))"),
        (
            &query.email_addresses,
            "id IN (SELECT user_id FROM email_addresses WHERE value IN (SELECT value FROM json_each(?)))",
        ),
        (
            &query.phone_numbers,
            "id IN (SELECT user_id FROM phone_numbers WHERE value IN (SELECT value FROM json_each(?)))",
        ),
        (
            &query.usernames,
            "username IN (SELECT value FROM json_each(?))",
        ),
        (
            &query.external_ids,
            "external_id IN (SELECT value FROM json_each(?))",
        ),
    ];
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    for (list, clause) in conditions {
        if !list.is_empty() {
            clauses.push(clause);
            values.push(Value::Text(serde_json::to_string(list)?));
        }
    }
    if let Some(text) = query.query.as_deref().filter(|t| !t.is_empty()) {
        // `instr` rather than LIKE: the text's `%` and `_` are plain.
        clauses.push(
            "(instr(lower(id), ?) > 0 OR instr(lower(COALESCE(username, '')), ?) > 0 \
             OR instr(lower(COALESCE(first_name, '')), ?) > 0 \
             OR instr(lower(COALESCE(last_name, '')), ?) > 0 \
             OR id IN (SELECT user_id FROM email_addresses WHERE instr(value, ?) > 0) \
             OR id IN (SELECT user_id FROM phone_numbers WHERE instr(value, ?) > 0))",
        );
        values.extend(std::iter::repeat_n(Value::Text(text.to_owned()), 6));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    Ok((filter, values))
}

/// Where an id's attempt record is kept: a user's row, or a record of its own.
#[derive(Debug, Clone, Copy)]
enum AttemptTable {
    Users,
    Records,
}

impl AttemptTable {
    fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Records => "attempt_records",
        }
    }
}

/// [`UserRepository::take_attempt`]'s rule, one statement, the same text on
/// both tables: ?1 id, ?2 now, ?3 the attempts allowed, ?4 when a window
/// opened now ends. The condition and the count are one statement, so racing
/// attempts each see the record the one before left. Every `SET` reads the
/// row as it was.
fn take_sql(table: AttemptTable) -> String {
    let stale = "COALESCE(attempt_window_ends_at, 0) <= ?2";
    format!(
        "UPDATE {t} SET
             failed_attempts = CASE WHEN {stale} THEN 0 ELSE failed_attempts END,
             attempts_in_flight = CASE WHEN {stale} THEN 1 ELSE attempts_in_flight + 1 END,
             attempt_window_ends_at = CASE WHEN {stale} THEN ?4 ELSE attempt_window_ends_at END
         WHERE id = ?1 AND (locked_until IS NULL OR locked_until <= ?2)
           AND ({stale} OR failed_attempts + attempts_in_flight < ?3)",
        t = table.name()
    )
}

/// Settles `id`'s attempt in `table`, in the caller's transaction, by
/// [`settle_sql`]'s rule.
fn settle_on(
    tx: &Connection,
    table: AttemptTable,
    id: &UserId,
    failed: bool,
    now: Timestamp,
    max_attempts: u32,
    lock_for: Duration,
) -> Result<(), DbError> {
    let until = now.plus(lock_for);
    tx.prepare_cached(&settle_sql(table))?.execute(params![
        id.as_str(),
        now.0,
        max_attempts,
        until.0,
        failed
    ])?;
    Ok(())
}

/// Settles a user's attempt whose check passed, in the caller's
/// transaction, as `settle_attempt` does with `failed` false.
pub(crate) fn settle_passed_on(tx: &Connection, passed: &PassedAttempt) -> Result<(), DbError> {
    settle_on(
        tx,
        AttemptTable::Users,
        &passed.user_id,
        false,
        passed.at,
        passed.max_attempts,
        passed.lock_for,
    )
}

/// [`UserRepository::settle_attempt`]'s rule, one statement, the same text on
/// both tables: ?1 id, ?2 now, ?3 the attempts allowed, ?4 the end of a lock
/// set now, ?5 whether the check failed.
fn settle_sql(table: AttemptTable) -> String {
    let locks = "(?5 AND failed_attempts + 1 >= ?3)";
    format!(
        "UPDATE {t} SET
             locked_until = CASE WHEN {locks} THEN ?4 ELSE locked_until END,
             failed_attempts = CASE WHEN {locks} THEN 0
                                    WHEN ?5 THEN failed_attempts + 1
                                    ELSE failed_attempts END,
             attempts_in_flight = CASE WHEN {locks} THEN 0
                                       ELSE MAX(attempts_in_flight - 1, 0) END,
             attempt_window_ends_at = CASE WHEN {locks} THEN NULL
                                           ELSE attempt_window_ends_at END
         WHERE id = ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
        t = table.name()
    )
}

fn exists(tx: &Connection, table: AttemptTable, id: &UserId) -> Result<bool, DbError> {
    Ok(tx
        .prepare_cached(&format!("SELECT 1 FROM {} WHERE id = ?1", table.name()))?
        .query_row([id.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn lock_of(
    tx: &Connection,
    table: AttemptTable,
    id: &UserId,
) -> Result<Option<Timestamp>, DbError> {
    let lock: Option<Option<i64>> = tx
        .prepare_cached(&format!(
            "SELECT locked_until FROM {} WHERE id = ?1",
            table.name()
        ))?
        .query_row([id.as_str()], |row| row.get(0))
        .optional()?;
    Ok(lock.flatten().map(Timestamp))
}

/// Records a sign-in on user `id` in `tx`, as `ClientRepository::insert_session`
/// describes it, and returns the user's standing as the write left it;
/// `NotFound` if there is no such user.
pub(crate) fn record_sign_in(
    tx: &Connection,
    id: &UserId,
    at: Timestamp,
    upgrade: Option<&DigestUpgrade>,
) -> Result<Standing, DbError> {
    // updated_at only moves forward, so a compare-and-set update that read
    // the user before this sees it changed.
    let updated = tx
        .prepare_cached(
            "UPDATE users SET last_sign_in_at = ?2, updated_at = MAX(?2, updated_at + 1), \
             failed_attempts = 0 WHERE id = ?1",
        )?
        .execute(params![id.as_str(), at.0])?;
    if updated == 0 {
        return Err(StoreError::NotFound.into());
    }
    // Read back in the same transaction rather than by `RETURNING`, which
    // SQLite serves through a temporary table of its own.
    let standing = tx
        .prepare_cached("SELECT banned, locked_until FROM users WHERE id = ?1")?
        .query_row([id.as_str()], |row| {
            Ok(Standing {
                banned: row.get(0)?,
                locked_until: row.get::<_, Option<i64>>(1)?.map(Timestamp),
            })
        })?;
    if let Some(upgrade) = upgrade {
        // Compared in the UPDATE: a digest an admin set since the password
        // verified stays, and a NULL digest never matches.
        tx.prepare_cached(
            "UPDATE users SET password_digest = ?3 WHERE id = ?1 AND password_digest = ?2",
        )?
        .execute(params![id.as_str(), upgrade.old, upgrade.new])?;
    }
    Ok(standing)
}

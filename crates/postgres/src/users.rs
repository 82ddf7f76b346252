//! [`UserRepository`]: a user row plus its email addresses, phone numbers,
//! backup codes and external accounts, written and read as one aggregate.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use latch_core::error::StoreError;
use latch_core::model::{
    Duration, ExternalAccount, IdentificationRecord, Identifier, NewEvent, Standing, Timestamp,
    User, UserId, Username,
};
use latch_core::ports::{AttemptSlot, DigestUpgrade, UserQuery, UserRepository};
use latch_sql::rows::metadata;
use latch_sql::user_columns;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::{DbError, PostgresColumns, Table, lost_or_missing};
use crate::webhooks::write_events;

const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
     $20, $21, $22, $23, $24, $25)"
);

/// Never writes `locked_until`, `failed_attempts`, `attempt_window_ends_at` or `totp_last_step`: those
/// belong to the lockout and TOTP operations.
const UPDATE_USER: &str = "UPDATE users SET username = $2, password_digest = $3, first_name = $4, last_name = $5, \
     external_id = $6, primary_email_address_id = $7, primary_phone_number_id = $8, public_metadata = $9, \
     private_metadata = $10, unsafe_metadata = $11, banned = $12, last_sign_in_at = $13, created_at = $14, \
     updated_at = $15, totp_secret = $16, totp_pending_secret = $17, password_updated_at = $18, \
     mfa_enabled_at = $19, mfa_disabled_at = $20 WHERE id = $1 AND updated_at = $21";

/// A user with all its parts in one statement, so in one snapshot and one
/// round trip: the user's columns, then its email addresses, phone numbers,
/// backup code digests and external accounts as JSON arrays, in order.
macro_rules! user_aggregate {
    () => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", (SELECT COALESCE(json_agg(json_build_array(id, value, verified, reserved_for_second_factor, \
             created_at, updated_at, verification) ORDER BY position), '[]')::text FROM email_addresses WHERE user_id = users.id), \
             (SELECT COALESCE(json_agg(json_build_array(id, value, verified, reserved_for_second_factor, \
             created_at, updated_at, verification) ORDER BY position), '[]')::text FROM phone_numbers WHERE user_id = users.id), \
             (SELECT COALESCE(json_agg(digest ORDER BY digest), '[]')::text FROM backup_codes WHERE user_id = users.id), \
             (SELECT COALESCE(json_agg(json_build_array(id, provider, subject, email, email_verified, first_name, \
             last_name, username, avatar_url, created_at, updated_at, approved_scopes, tokens) ORDER BY position), \
             '[]')::text \
             FROM external_accounts WHERE user_id = users.id) \
             FROM users"
        )
    };
}

const SELECT_USER: &str = concat!(user_aggregate!(), " WHERE id = $1");

/// The users among the ids in `$1` (a text array), each with all its parts.
pub(crate) const SELECT_USERS: &str = concat!(user_aggregate!(), " WHERE id = ANY($1)");

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

    fn delete_of_user(self) -> &'static str {
        match self {
            Self::Email => "DELETE FROM email_addresses WHERE user_id = $1",
            Self::Phone => "DELETE FROM phone_numbers WHERE user_id = $1",
        }
    }

    /// Frees the value `$1` for the user `$2`: another user's unverified
    /// claim on it is dropped (a claim proves nothing, so it cannot hold an
    /// address against its owner), and that user's `updated_at` moves, so a
    /// write of theirs made from an earlier read is refused as stale. A
    /// verified record of another user stays, and the insert that follows
    /// fails on the column's uniqueness.
    fn release_claims(self) -> &'static str {
        match self {
            Self::Email => {
                "WITH dropped AS (DELETE FROM email_addresses \
                 WHERE value = $1 AND user_id <> $2 AND NOT verified RETURNING id, user_id) \
                 UPDATE users SET updated_at = users.updated_at + 1, \
                 primary_email_address_id = CASE WHEN users.primary_email_address_id = dropped.id \
                 THEN NULL ELSE users.primary_email_address_id END \
                 FROM dropped WHERE users.id = dropped.user_id"
            }
            Self::Phone => {
                "WITH dropped AS (DELETE FROM phone_numbers \
                 WHERE value = $1 AND user_id <> $2 AND NOT verified RETURNING id, user_id) \
                 UPDATE users SET updated_at = users.updated_at + 1, \
                 primary_phone_number_id = CASE WHEN users.primary_phone_number_id = dropped.id \
                 THEN NULL ELSE users.primary_phone_number_id END \
                 FROM dropped WHERE users.id = dropped.user_id"
            }
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Self::Email => {
                "INSERT INTO email_addresses (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at, verification) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            }
            Self::Phone => {
                "INSERT INTO phone_numbers (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at, verification) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            }
        }
    }
}

#[async_trait]
impl UserRepository for PostgresStore {
    async fn insert(&self, user: &User, events: &[NewEvent]) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            insert_user(&tx, user).await?;
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(SELECT_USER).await?;
            client
                .query_opt(&stmt, &[&id.as_str()])
                .await?
                .as_ref()
                .map(user_from_row)
                .transpose()
        };
        self.bounded(run).await
    }

    async fn find_by_identifier(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<User>, StoreError> {
        let sql = match identifier {
            Identifier::Email(_) => "SELECT user_id FROM email_addresses WHERE value = $1",
            // Numbers kept for the second factor do not name an account.
            Identifier::Phone(_) => {
                "SELECT user_id FROM phone_numbers WHERE value = $1 AND NOT reserved_for_second_factor"
            }
            Identifier::Username(_) => "SELECT id FROM users WHERE username = $1",
        };
        self.find_by(sql, &[&identifier.as_str()]).await
    }

    async fn find_by_external_account(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError> {
        self.find_by(
            "SELECT user_id FROM external_accounts WHERE provider = $1 AND subject = $2",
            &[&provider, &subject],
        )
        .await
    }

    async fn find_by_identification_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.find_by(
            "SELECT user_id FROM email_addresses WHERE id = $1 \
             UNION ALL SELECT user_id FROM phone_numbers WHERE id = $1",
            &[&id],
        )
        .await
    }

    async fn update(
        &self,
        user: &User,
        expected_updated_at: Timestamp,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let [public, private, unsafe_] = metadata(user)?;
            let username = user.username.as_ref().map(Username::as_str);
            let last_sign_in_at = user.last_sign_in_at.map(|t| t.0);
            let [password_updated_at, mfa_enabled_at, mfa_disabled_at] = [
                user.password_updated_at,
                user.mfa_enabled_at,
                user.mfa_disabled_at,
            ]
            .map(|at| at.map(|t| t.0));
            let id = user.id.as_str();
            // The compare-and-set is in the UPDATE itself; it also locks the
            // row, so the rewrite of the parts below cannot interleave with
            // another update of this user.
            let stmt = tx.prepare_cached(UPDATE_USER).await?;
            let changed = tx
                .execute(
                    &stmt,
                    &[
                        &id,
                        &username,
                        &user.password_digest,
                        &user.first_name,
                        &user.last_name,
                        &user.external_id,
                        &user.primary_email_address_id,
                        &user.primary_phone_number_id,
                        &public,
                        &private,
                        &unsafe_,
                        &user.banned,
                        &last_sign_in_at,
                        &user.created_at.0,
                        &user.updated_at.0,
                        &user.totp_secret,
                        &user.totp_pending_secret,
                        &password_updated_at,
                        &mfa_enabled_at,
                        &mfa_disabled_at,
                        &expected_updated_at.0,
                    ],
                )
                .await?;
            if changed == 0 {
                return Err(lost_or_missing(&tx, Table::Users, id).await);
            }
            // Delete and re-insert rather than upsert by id: an update may move a
            // value between two of the user's own records, which an upsert would
            // refuse as a duplicate halfway through.
            for sql in [
                Identifications::Email.delete_of_user(),
                Identifications::Phone.delete_of_user(),
                "DELETE FROM backup_codes WHERE user_id = $1",
                "DELETE FROM external_accounts WHERE user_id = $1",
            ] {
                let stmt = tx.prepare_cached(sql).await?;
                tx.execute(&stmt, &[&id]).await?;
            }
            insert_parts(&tx, user).await?;
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn take_attempt(
        &self,
        id: &UserId,
        now: Timestamp,
        max_attempts: u32,
        window: Duration,
    ) -> Result<AttemptSlot, StoreError> {
        let run = async {
            let client = self.client().await?;
            let ends = now.plus(window).0;
            let max = i64::from(max_attempts);
            let args: [&(dyn ToSql + Sync); 4] = [&id.as_str(), &now.0, &max, &ends];
            // A user's row in one statement; a stand-in's record, made first
            // if need be, with the same statement on its own table.
            let stmt = client
                .prepare_cached(&take_sql(AttemptTable::Users))
                .await?;
            let row = match client.query_opt(&stmt, &args).await? {
                Some(row) => row,
                None => {
                    let make = client
                        .prepare_cached(
                            "INSERT INTO attempt_records (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
                        )
                        .await?;
                    client.execute(&make, &[&id.as_str()]).await?;
                    let stmt = client
                        .prepare_cached(&take_sql(AttemptTable::Records))
                        .await?;
                    client
                        .query_opt(&stmt, &args)
                        .await?
                        .ok_or(StoreError::NotFound)?
                }
            };
            let taken: bool = row.try_get(0)?;
            let locked_until: Option<i64> = row.try_get(1)?;
            Ok::<_, DbError>(match locked_until {
                _ if taken => AttemptSlot::Granted,
                Some(until) if until > now.0 => AttemptSlot::Locked(Timestamp(until)),
                _ => AttemptSlot::Exhausted,
            })
        };
        self.bounded(run).await
    }

    async fn settle_attempt(
        &self,
        id: &UserId,
        failed: bool,
        now: Timestamp,
        max_attempts: u32,
        lock_for: Duration,
    ) -> Result<Option<Timestamp>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let until = now.plus(lock_for).0;
            let max = i64::from(max_attempts);
            let args: [&(dyn ToSql + Sync); 5] = [&id.as_str(), &now.0, &max, &until, &failed];
            let mut row = None;
            for table in [AttemptTable::Users, AttemptTable::Records] {
                let stmt = client.prepare_cached(&settle_sql(table)).await?;
                row = client.query_opt(&stmt, &args).await?;
                if row.is_some() {
                    break;
                }
            }
            let locked_until: Option<i64> = row.ok_or(StoreError::NotFound)?.try_get(0)?;
            Ok::<_, DbError>(locked_until.map(Timestamp).filter(|t| *t > now))
        };
        self.bounded(run).await
    }

    async fn attempt_lock(
        &self,
        id: &UserId,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT COALESCE(
                         (SELECT locked_until FROM users WHERE id = $1),
                         (SELECT locked_until FROM attempt_records WHERE id = $1))",
                )
                .await?;
            let lock: Option<i64> = client.query_one(&stmt, &[&id.as_str()]).await?.try_get(0)?;
            Ok::<_, DbError>(lock.map(Timestamp).filter(|t| *t > now))
        };
        self.bounded(run).await
    }

    async fn purge_attempt_records(&self, now: Timestamp) -> Result<u64, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "DELETE FROM attempt_records
                     WHERE COALESCE(attempt_window_ends_at, 0) <= $1
                       AND COALESCE(locked_until, 0) <= $1",
                )
                .await?;
            Ok::<_, DbError>(client.execute(&stmt, &[&now.0]).await?)
        };
        self.bounded(run).await
    }

    async fn set_lock(
        &self,
        id: &UserId,
        locked_until: Option<Timestamp>,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let stmt = tx
                .prepare_cached(
                    "UPDATE users SET locked_until = $2, failed_attempts = 0 WHERE id = $1",
                )
                .await?;
            let changed = tx
                .execute(&stmt, &[&id.as_str(), &locked_until.map(|t| t.0)])
                .await?;
            if changed == 0 {
                return Err(StoreError::NotFound.into());
            }
            write_events(&tx, events).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn use_totp_step(&self, id: &UserId, step: i64) -> Result<bool, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // The comparison is in the UPDATE: of two racing uses, one changes the row.
            let stmt = tx
                .prepare_cached(
                    "UPDATE users SET totp_last_step = $2 \
                     WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                )
                .await?;
            let changed = tx.execute(&stmt, &[&id.as_str(), &step]).await?;
            if changed == 0 {
                user_must_exist(&tx, id).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(changed == 1)
        };
        self.bounded(run).await
    }

    async fn consume_backup_code(
        &self,
        id: &UserId,
        digest: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // Of racing deletes of one row, the blocked one finds it gone.
            let stmt = tx
                .prepare_cached("DELETE FROM backup_codes WHERE user_id = $1 AND digest = $2")
                .await?;
            if tx.execute(&stmt, &[&id.as_str(), &digest]).await? == 0 {
                user_must_exist(&tx, id).await?;
                return Ok(false);
            }
            let stmt = tx
                .prepare_cached(
                    "UPDATE users SET updated_at = GREATEST($2::BIGINT, updated_at + 1) WHERE id = $1",
                )
                .await?;
            tx.execute(&stmt, &[&id.as_str(), &now.0]).await?;
            tx.commit().await?;
            Ok::<_, DbError>(true)
        };
        self.bounded(run).await
    }

    async fn delete(&self, id: &UserId, events: &[NewEvent]) -> Result<bool, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // Identifications, backup codes, external accounts and sessions go
            // with the row (ON DELETE CASCADE).
            let stmt = tx.prepare_cached("DELETE FROM users WHERE id = $1").await?;
            let deleted = tx.execute(&stmt, &[&id.as_str()]).await? > 0;
            if deleted {
                write_events(&tx, events).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(deleted)
        };
        self.bounded(run).await
    }

    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let run = async {
            let client = self.client().await?;
            // A zero limit means the caller set none; LIMIT NULL is no limit.
            let limit = (query.limit > 0).then(|| i64::from(query.limit));
            let offset = i64::from(query.offset);
            let (filter, mut params) = user_filter(query);
            params.push(&limit);
            params.push(&offset);
            let direction = if query.oldest_first { "ASC" } else { "DESC" };
            let sql = format!(
                concat!(
                    user_aggregate!(),
                    "{} ORDER BY created_at {}, id {} LIMIT ${} OFFSET ${}"
                ),
                filter,
                direction,
                direction,
                params.len() - 1,
                params.len()
            );
            let stmt = client.prepare_cached(&sql).await?;
            client
                .query(&stmt, &params)
                .await?
                .iter()
                .map(user_from_row)
                .collect::<Result<Vec<_>, _>>()
        };
        self.bounded(run).await
    }

    async fn count(&self, query: &UserQuery) -> Result<u64, StoreError> {
        let run = async {
            let client = self.client().await?;
            let (filter, params) = user_filter(query);
            let stmt = client
                .prepare_cached(&format!("SELECT COUNT(*) FROM users{filter}"))
                .await?;
            let count: i64 = client.query_one(&stmt, &params).await?.try_get(0)?;
            Ok::<_, DbError>(u64::try_from(count).unwrap_or_default())
        };
        self.bounded(run).await
    }
}

impl PostgresStore {
    /// The user whose id the one-column query `sql` returns, if any, read
    /// with its parts in the same statement.
    async fn find_by(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<User>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&format!(
                    concat!(user_aggregate!(), " WHERE id IN ({})"),
                    sql
                ))
                .await?;
            client
                .query_opt(&stmt, params)
                .await?
                .as_ref()
                .map(user_from_row)
                .transpose()
        };
        self.bounded(run).await
    }
}

fn position(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// Inserts the user's identifications, backup codes and external accounts.
/// Inserts `user` with all its parts, in the caller's transaction.
pub(crate) async fn insert_user(tx: &Transaction<'_>, user: &User) -> Result<(), DbError> {
    let [public, private, unsafe_] = metadata(user)?;
    let username = user.username.as_ref().map(Username::as_str);
    let last_sign_in_at = user.last_sign_in_at.map(|t| t.0);
    let locked_until = user.locked_until.map(|t| t.0);
    let [
        password_updated_at,
        mfa_enabled_at,
        mfa_disabled_at,
        window_ends_at,
        legal_accepted_at,
    ] = [
        user.password_updated_at,
        user.mfa_enabled_at,
        user.mfa_disabled_at,
        user.attempt_window_ends_at,
        user.legal_accepted_at,
    ]
    .map(|at| at.map(|t| t.0));
    let failed_attempts = i64::from(user.failed_attempts);
    let stmt = tx.prepare_cached(INSERT_USER).await?;
    tx.execute(
        &stmt,
        &[
            &user.id.as_str(),
            &username,
            &user.password_digest,
            &user.first_name,
            &user.last_name,
            &user.external_id,
            &user.primary_email_address_id,
            &user.primary_phone_number_id,
            &public,
            &private,
            &unsafe_,
            &user.banned,
            &last_sign_in_at,
            &user.created_at.0,
            &user.updated_at.0,
            &user.totp_secret,
            &user.totp_pending_secret,
            &password_updated_at,
            &mfa_enabled_at,
            &mfa_disabled_at,
            &locked_until,
            &user.totp_last_step,
            &failed_attempts,
            &window_ends_at,
            &legal_accepted_at,
        ],
    )
    .await?;
    insert_parts(tx, user).await
}

async fn insert_parts(tx: &Transaction<'_>, user: &User) -> Result<(), DbError> {
    let user_id = user.id.as_str();
    for table in Identifications::BOTH {
        let stmt = tx.prepare_cached(table.insert()).await?;
        let release = tx.prepare_cached(table.release_claims()).await?;
        for (index, record) in table.of(user).iter().enumerate() {
            tx.execute(&release, &[&record.value, &user_id]).await?;
            let verification = record
                .verification
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?;
            tx.execute(
                &stmt,
                &[
                    &record.id,
                    &user_id,
                    &record.value,
                    &record.verified,
                    &record.reserved_for_second_factor,
                    &position(index),
                    &record.created_at.0,
                    &record.updated_at.0,
                    &verification,
                ],
            )
            .await?;
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO backup_codes (user_id, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .await?;
    for digest in &user.backup_codes {
        tx.execute(&stmt, &[&user_id, digest]).await?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO external_accounts (id, user_id, provider, subject, email, email_verified, first_name, \
             last_name, username, avatar_url, position, created_at, updated_at, approved_scopes, tokens) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .await?;
    for (index, a) in user.external_accounts.iter().enumerate() {
        tx.execute(
            &stmt,
            &[
                &a.id,
                &user_id,
                &a.provider,
                &a.subject,
                &a.email,
                &a.email_verified,
                &a.first_name,
                &a.last_name,
                &a.username,
                &a.avatar_url,
                &position(index),
                &a.created_at.0,
                &a.updated_at.0,
                &a.approved_scopes,
                &a.tokens,
            ],
        )
        .await?;
    }
    Ok(())
}

/// `NotFound` unless the user exists.
async fn user_must_exist(tx: &Transaction<'_>, id: &UserId) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached("SELECT 1 FROM users WHERE id = $1")
        .await?;
    match tx.query_opt(&stmt, &[&id.as_str()]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound.into()),
    }
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
/// both tables: $1 id, $2 now, $3 the attempts allowed, $4 when a window
/// opened now ends. The condition and the count are one `UPDATE` (a blocked
/// one re-checks its `WHERE` against the row the other wrote); the outer
/// `SELECT` sees the row as it was, which is enough for its lock. No row:
/// `$1` has no record in this table.
fn take_sql(table: AttemptTable) -> String {
    let stale = "COALESCE(attempt_window_ends_at, 0) <= $2::BIGINT";
    format!(
        "WITH taken AS (
             UPDATE {t} SET
                 failed_attempts = CASE WHEN {stale} THEN 0 ELSE failed_attempts END,
                 attempts_in_flight = CASE WHEN {stale} THEN 1 ELSE attempts_in_flight + 1 END,
                 attempt_window_ends_at = CASE WHEN {stale} THEN $4::BIGINT
                                               ELSE attempt_window_ends_at END
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2::BIGINT)
               AND ({stale} OR failed_attempts + attempts_in_flight < $3::BIGINT)
             RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM taken), locked_until FROM {t} WHERE id = $1",
        t = table.name()
    )
}

/// [`UserRepository::settle_attempt`]'s rule, one statement, the same text on
/// both tables: $1 id, $2 now, $3 the attempts allowed, $4 the end of a lock
/// set now, $5 whether the check failed. The outer `SELECT` reads the row as
/// the `UPDATE` left it, or as it is when locked and nothing changed. No row:
/// `$1` has no record in this table.
fn settle_sql(table: AttemptTable) -> String {
    let locks = "($5 AND failed_attempts + 1 >= $3::BIGINT)";
    format!(
        "WITH settled AS (
             UPDATE {t} SET
                 locked_until = CASE WHEN {locks} THEN $4::BIGINT ELSE locked_until END,
                 failed_attempts = CASE WHEN {locks} THEN 0
                                        WHEN $5 THEN failed_attempts + 1
                                        ELSE failed_attempts END,
                 attempts_in_flight = CASE WHEN {locks} THEN 0
                                           ELSE GREATEST(attempts_in_flight - 1, 0) END,
                 attempt_window_ends_at = CASE WHEN {locks} THEN NULL
                                               ELSE attempt_window_ends_at END
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2::BIGINT)
             RETURNING locked_until
         )
         SELECT locked_until FROM settled
         UNION ALL
         SELECT locked_until FROM {t} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM settled)",
        t = table.name()
    )
}

/// A row of `user_aggregate!`: the user's columns, then its parts as JSON.
pub(crate) fn user_from_row(row: &Row) -> Result<User, DbError> {
    let identifications = |index: usize| -> Result<Vec<IdentificationRecord>, DbError> {
        let text: String = row.try_get(index)?;
        type Record = (String, String, bool, bool, i64, i64, Option<String>);
        let rows: Vec<Record> = serde_json::from_str(&text)?;
        rows.into_iter()
            .map(
                |(id, value, verified, reserved, created_at, updated_at, verification)| {
                    Ok(IdentificationRecord {
                        id,
                        value,
                        verified,
                        reserved_for_second_factor: reserved,
                        verification: verification
                            .map(|json| serde_json::from_str(&json))
                            .transpose()?,
                        created_at: Timestamp(created_at),
                        updated_at: Timestamp(updated_at),
                    })
                },
            )
            .collect()
    };
    type AccountRow = (
        String,
        String,
        String,
        Option<String>,
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        i64,
        String,
        Option<String>,
    );
    let accounts: Vec<AccountRow> = serde_json::from_str(&row.try_get::<_, String>(28)?)?;
    let external_accounts = accounts
        .into_iter()
        .map(
            |(
                id,
                provider,
                subject,
                email,
                email_verified,
                first_name,
                last_name,
                username,
                avatar_url,
                created_at,
                updated_at,
                approved_scopes,
                tokens,
            )| ExternalAccount {
                id,
                provider,
                subject,
                email,
                email_verified,
                first_name,
                last_name,
                username,
                avatar_url,
                approved_scopes,
                tokens,
                created_at: Timestamp(created_at),
                updated_at: Timestamp(updated_at),
            },
        )
        .collect();
    Ok(User {
        email_addresses: identifications(25)?,
        phone_numbers: identifications(26)?,
        external_accounts,
        backup_codes: serde_json::from_str(&row.try_get::<_, String>(27)?)?,
        ..latch_sql::rows::user(&PostgresColumns(row))?
    })
}

/// The `WHERE` clause of a [`UserQuery`] and its parameters: each non-empty
/// list is one condition (any of its values), and the conditions all apply.
/// Lists are bound as one array each, so the statement text depends only on
/// which lists are set and stays cacheable.
fn user_filter(query: &UserQuery) -> (String, Vec<&(dyn ToSql + Sync)>) {
    let conditions: [(&Vec<String>, &str); 5] = [
        (&query.user_ids, "id = ANY($)"),
        (
            &query.email_addresses,
            "id IN (SELECT user_id FROM email_addresses WHERE value = ANY($))",
        ),
        (
            &query.phone_numbers,
            "id IN (SELECT user_id FROM phone_numbers WHERE value = ANY($))",
        ),
        (&query.usernames, "username = ANY($)"),
        (&query.external_ids, "external_id = ANY($)"),
    ];
    let mut clauses = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for (list, clause) in conditions {
        if !list.is_empty() {
            params.push(list);
            clauses.push(clause.replace('$', &format!("${}", params.len())));
        }
    }
    if let Some(text) = query.query.as_ref().filter(|t| !t.is_empty()) {
        params.push(text);
        // `strpos` rather than LIKE: the text's `%` and `_` are plain.
        clauses.push(
            "(strpos(lower(id), $) > 0 OR strpos(lower(COALESCE(username, '')), $) > 0 \
             OR strpos(lower(COALESCE(first_name, '')), $) > 0 \
             OR strpos(lower(COALESCE(last_name, '')), $) > 0 \
             OR id IN (SELECT user_id FROM email_addresses WHERE strpos(value, $) > 0) \
             OR id IN (SELECT user_id FROM phone_numbers WHERE strpos(value, $) > 0))"
                .replace('$', &format!("${}", params.len())),
        );
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (filter, params)
}

/// Records a sign-in on user `id` in `tx`, as `ClientRepository::insert_session`
/// describes it, and returns the user's standing as the write left it;
/// `NotFound` if there is no such user.
pub(crate) async fn record_sign_in(
    tx: &Transaction<'_>,
    id: &UserId,
    at: Timestamp,
    upgrade: Option<&DigestUpgrade>,
) -> Result<Standing, DbError> {
    // updated_at only moves forward, so a compare-and-set update that read
    // the user before this sees it changed; the digest is replaced only
    // while it is the one that verified (an admin's new one stays, and NULL
    // never matches).
    let stmt = tx
        .prepare_cached(
            "UPDATE users SET last_sign_in_at = $2, \
             updated_at = GREATEST($2::BIGINT, updated_at + 1), failed_attempts = 0, \
             password_digest = CASE WHEN $3::TEXT IS NOT NULL AND password_digest = $3 \
                                    THEN $4 ELSE password_digest END \
             WHERE id = $1 RETURNING banned, locked_until",
        )
        .await?;
    let (old, new) = match upgrade {
        Some(u) => (Some(u.old.as_str()), Some(u.new.as_str())),
        None => (None, None),
    };
    // A ban or lock written before this waits for, or is waited for by,
    // this row's lock: what it returns is the standing after both.
    let row = tx
        .query_opt(&stmt, &[&id.as_str(), &at.0, &old, &new])
        .await?
        .ok_or(StoreError::NotFound)?;
    let locked_until: Option<i64> = row.try_get(1)?;
    Ok(Standing {
        banned: row.try_get(0)?,
        locked_until: locked_until.map(Timestamp),
    })
}

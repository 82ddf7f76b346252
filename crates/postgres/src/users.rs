//! [`UserRepository`]: a user row plus its email addresses, phone numbers,
//! backup codes and external accounts, written and read as one aggregate.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use latch_core::error::StoreError;
use latch_core::model::{
    Duration, ExternalAccount, IdentificationRecord, Identifier, Timestamp, User, UserId, Username,
};
use latch_core::ports::{DigestUpgrade, UserQuery, UserRepository};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::{DbError, Table, lost_or_missing};

/// The `users` columns in the order [`user_from_row`] reads them.
macro_rules! user_columns {
    () => {
        "id, username, password_digest, first_name, last_name, external_id, primary_email_address_id, \
         primary_phone_number_id, public_metadata, private_metadata, unsafe_metadata, banned, last_sign_in_at, \
         created_at, updated_at, totp_secret, totp_pending_secret, locked_until, totp_last_step"
    };
}

const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
);

/// Never writes `locked_until`, `failed_attempts` or `totp_last_step`: those
/// belong to the lockout and TOTP operations.
const UPDATE_USER: &str = "UPDATE users SET username = $2, password_digest = $3, first_name = $4, last_name = $5, \
     external_id = $6, primary_email_address_id = $7, primary_phone_number_id = $8, public_metadata = $9, \
     private_metadata = $10, unsafe_metadata = $11, banned = $12, last_sign_in_at = $13, created_at = $14, \
     updated_at = $15, totp_secret = $16, totp_pending_secret = $17 WHERE id = $1 AND updated_at = $18";

const SELECT_USER: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

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
            Self::Email => "DELETE FROM email_addresses WHERE user_id = $1",
            Self::Phone => "DELETE FROM phone_numbers WHERE user_id = $1",
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Self::Email => {
                "INSERT INTO email_addresses (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            }
            Self::Phone => {
                "INSERT INTO phone_numbers (id, user_id, value, verified, reserved_for_second_factor, position, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            }
        }
    }

    /// Records of the users whose ids are in the array `$1`, in order.
    fn select_of_users(self) -> &'static str {
        match self {
            Self::Email => {
                "SELECT user_id, id, value, verified, reserved_for_second_factor, created_at, updated_at \
                 FROM email_addresses WHERE user_id = ANY($1) ORDER BY user_id, position"
            }
            Self::Phone => {
                "SELECT user_id, id, value, verified, reserved_for_second_factor, created_at, updated_at \
                 FROM phone_numbers WHERE user_id = ANY($1) ORDER BY user_id, position"
            }
        }
    }
}

#[async_trait]
impl UserRepository for PostgresStore {
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let [public, private, unsafe_] = metadata(user)?;
            let username = user.username.as_ref().map(Username::as_str);
            let last_sign_in_at = user.last_sign_in_at.map(|t| t.0);
            let locked_until = user.locked_until.map(|t| t.0);
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
                    &locked_until,
                    &user.totp_last_step,
                ],
            )
            .await?;
            insert_parts(&tx, user).await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = crate::read_transaction(&mut client).await?;
            load_user(&tx, id.as_str()).await
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

    async fn update(&self, user: &User, expected_updated_at: Timestamp) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let [public, private, unsafe_] = metadata(user)?;
            let username = user.username.as_ref().map(Username::as_str);
            let last_sign_in_at = user.last_sign_in_at.map(|t| t.0);
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
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn record_sign_in(
        &self,
        id: &UserId,
        at: Timestamp,
        upgrade: Option<DigestUpgrade>,
    ) -> Result<(), StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            // updated_at only moves forward, so a compare-and-set update that
            // read the user before this sees it changed.
            let stmt = tx
                .prepare_cached(
                    "UPDATE users SET last_sign_in_at = $2, \
                     updated_at = GREATEST($2::BIGINT, updated_at + 1), failed_attempts = 0 WHERE id = $1",
                )
                .await?;
            if tx.execute(&stmt, &[&id.as_str(), &at.0]).await? == 0 {
                return Err(StoreError::NotFound.into());
            }
            if let Some(upgrade) = upgrade {
                // Compared in the UPDATE: a digest an admin set since the
                // password verified stays, and a NULL digest never matches.
                let stmt = tx
                    .prepare_cached(
                        "UPDATE users SET password_digest = $3 WHERE id = $1 AND password_digest = $2",
                    )
                    .await?;
                tx.execute(&stmt, &[&id.as_str(), &upgrade.old, &upgrade.new])
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(())
        };
        self.bounded(run).await
    }

    async fn record_failed_attempt(
        &self,
        id: &UserId,
        now: Timestamp,
        max_attempts: u32,
        lock_for: Duration,
    ) -> Result<Option<Timestamp>, StoreError> {
        let run = async {
            let client = self.client().await?;
            let until = now.plus(lock_for);
            // One statement counts and locks: racing failures are all counted
            // (a blocked UPDATE re-reads the row the other one wrote). The
            // outer SELECT reads the row as the UPDATE left it, or as it is
            // when the user is locked and the UPDATE changed nothing.
            let stmt = client
                .prepare_cached(
                    "WITH counted AS (
                         UPDATE users SET
                             locked_until = CASE WHEN failed_attempts + 1 >= $3::BIGINT THEN $4::BIGINT
                                            ELSE locked_until END,
                             failed_attempts = CASE WHEN failed_attempts + 1 >= $3::BIGINT THEN 0
                                               ELSE failed_attempts + 1 END
                         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2::BIGINT)
                         RETURNING locked_until
                     )
                     SELECT locked_until FROM counted
                     UNION ALL
                     SELECT locked_until FROM users WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM counted)",
                )
                .await?;
            let row = client
                .query_opt(
                    &stmt,
                    &[&id.as_str(), &now.0, &i64::from(max_attempts), &until.0],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            let locked_until: Option<i64> = row.try_get(0)?;
            Ok::<_, DbError>(locked_until.map(Timestamp).filter(|t| *t > now))
        };
        self.bounded(run).await
    }

    async fn set_lock(
        &self,
        id: &UserId,
        locked_until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let run = async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "UPDATE users SET locked_until = $2, failed_attempts = 0 WHERE id = $1",
                )
                .await?;
            let changed = client
                .execute(&stmt, &[&id.as_str(), &locked_until.map(|t| t.0)])
                .await?;
            if changed == 0 {
                return Err(StoreError::NotFound.into());
            }
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

    async fn delete(&self, id: &UserId) -> Result<bool, StoreError> {
        let run = async {
            let client = self.client().await?;
            // Identifications, backup codes, external accounts and sessions go
            // with the row (ON DELETE CASCADE).
            let stmt = client
                .prepare_cached("DELETE FROM users WHERE id = $1")
                .await?;
            Ok::<_, DbError>(client.execute(&stmt, &[&id.as_str()]).await? > 0)
        };
        self.bounded(run).await
    }

    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = crate::read_transaction(&mut client).await?;
            // A zero limit means the caller set none; LIMIT NULL is no limit.
            let limit = (query.limit > 0).then(|| i64::from(query.limit));
            let offset = i64::from(query.offset);
            let (filter, mut params) = user_filter(query);
            params.push(&limit);
            params.push(&offset);
            let direction = if query.oldest_first { "ASC" } else { "DESC" };
            let sql = format!(
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users{} ORDER BY created_at {}, id {} LIMIT ${} OFFSET ${}"
                ),
                filter,
                direction,
                direction,
                params.len() - 1,
                params.len()
            );
            let stmt = tx.prepare_cached(&sql).await?;
            let mut users = tx
                .query(&stmt, &params)
                .await?
                .iter()
                .map(user_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            attach_parts(&tx, &mut users).await?;
            Ok::<_, DbError>(users)
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
    /// with its parts in one snapshot.
    async fn find_by(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<User>, StoreError> {
        let run = async {
            let mut client = self.client().await?;
            let tx = crate::read_transaction(&mut client).await?;
            let stmt = tx.prepare_cached(sql).await?;
            match tx.query_opt(&stmt, params).await? {
                Some(row) => {
                    let user_id: String = row.try_get(0)?;
                    load_user(&tx, &user_id).await
                }
                None => Ok(None),
            }
        };
        self.bounded(run).await
    }
}

/// The three metadata columns as JSON text.
fn metadata(user: &User) -> Result<[String; 3], DbError> {
    Ok([
        serde_json::to_string(&user.public_metadata)?,
        serde_json::to_string(&user.private_metadata)?,
        serde_json::to_string(&user.unsafe_metadata)?,
    ])
}

fn position(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// Inserts the user's identifications, backup codes and external accounts.
async fn insert_parts(tx: &Transaction<'_>, user: &User) -> Result<(), DbError> {
    let user_id = user.id.as_str();
    for table in Identifications::BOTH {
        let stmt = tx.prepare_cached(table.insert()).await?;
        for (index, record) in table.of(user).iter().enumerate() {
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
             last_name, username, avatar_url, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            ],
        )
        .await?;
    }
    Ok(())
}

async fn load_user(tx: &Transaction<'_>, id: &str) -> Result<Option<User>, DbError> {
    let stmt = tx.prepare_cached(SELECT_USER).await?;
    let Some(row) = tx.query_opt(&stmt, &[&id]).await? else {
        return Ok(None);
    };
    let mut users = [user_from_row(&row)?];
    attach_parts(tx, &mut users).await?;
    let [user] = users;
    Ok(Some(user))
}

/// Fills the identifications, backup codes and external accounts of `users`
/// with one query per table, whatever their number.
async fn attach_parts(tx: &Transaction<'_>, users: &mut [User]) -> Result<(), DbError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.0.clone()).collect();
    let index: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    for table in Identifications::BOTH {
        let stmt = tx.prepare_cached(table.select_of_users()).await?;
        for row in tx.query(&stmt, &[&ids]).await? {
            let user_id: String = row.try_get(0)?;
            let record = IdentificationRecord {
                id: row.try_get(1)?,
                value: row.try_get(2)?,
                verified: row.try_get(3)?,
                reserved_for_second_factor: row.try_get(4)?,
                created_at: Timestamp(row.try_get(5)?),
                updated_at: Timestamp(row.try_get(6)?),
            };
            if let Some(&i) = index.get(&user_id) {
                table.of_mut(&mut users[i]).push(record);
            }
        }
    }
    let stmt = tx
        .prepare_cached(
            "SELECT user_id, digest FROM backup_codes WHERE user_id = ANY($1) ORDER BY user_id, digest",
        )
        .await?;
    for row in tx.query(&stmt, &[&ids]).await? {
        let user_id: String = row.try_get(0)?;
        if let Some(&i) = index.get(&user_id) {
            users[i].backup_codes.push(row.try_get(1)?);
        }
    }
    let stmt = tx
        .prepare_cached(
            "SELECT user_id, id, provider, subject, email, email_verified, first_name, last_name, username, \
             avatar_url, created_at, updated_at FROM external_accounts \
             WHERE user_id = ANY($1) ORDER BY user_id, position",
        )
        .await?;
    for row in tx.query(&stmt, &[&ids]).await? {
        let user_id: String = row.try_get(0)?;
        let account = ExternalAccount {
            id: row.try_get(1)?,
            provider: row.try_get(2)?,
            subject: row.try_get(3)?,
            email: row.try_get(4)?,
            email_verified: row.try_get(5)?,
            first_name: row.try_get(6)?,
            last_name: row.try_get(7)?,
            username: row.try_get(8)?,
            avatar_url: row.try_get(9)?,
            created_at: Timestamp(row.try_get(10)?),
            updated_at: Timestamp(row.try_get(11)?),
        };
        if let Some(&i) = index.get(&user_id) {
            users[i].external_accounts.push(account);
        }
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

/// A user row without its parts, which [`attach_parts`] adds.
fn user_from_row(row: &Row) -> Result<User, DbError> {
    let username = row
        .try_get::<_, Option<String>>(1)?
        .map(|raw| Username::parse(&raw))
        .transpose()
        .map_err(|e| StoreError::Other(format!("stored username is invalid: {e}")))?;
    Ok(User {
        id: UserId(row.try_get(0)?),
        email_addresses: Vec::new(),
        phone_numbers: Vec::new(),
        primary_email_address_id: row.try_get(6)?,
        primary_phone_number_id: row.try_get(7)?,
        username,
        external_accounts: Vec::new(),
        password_digest: row.try_get(2)?,
        first_name: row.try_get(3)?,
        last_name: row.try_get(4)?,
        external_id: row.try_get(5)?,
        public_metadata: json_column(row, 8)?,
        private_metadata: json_column(row, 9)?,
        unsafe_metadata: json_column(row, 10)?,
        banned: row.try_get(11)?,
        last_sign_in_at: row.try_get::<_, Option<i64>>(12)?.map(Timestamp),
        created_at: Timestamp(row.try_get(13)?),
        updated_at: Timestamp(row.try_get(14)?),
        totp_secret: row.try_get(15)?,
        totp_pending_secret: row.try_get(16)?,
        locked_until: row.try_get::<_, Option<i64>>(17)?.map(Timestamp),
        totp_last_step: row.try_get(18)?,
        backup_codes: Vec::new(),
    })
}

fn json_column(row: &Row, index: usize) -> Result<serde_json::Value, DbError> {
    let text: String = row.try_get(index)?;
    Ok(serde_json::from_str(&text)?)
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
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (filter, params)
}

//! Rows as plain stored values, and the domain types they hold.
//!
//! A driver exposes a row through [`Columns`] (text, integers, booleans by
//! position); the rules for what the values mean (a stored username is
//! parsed again, metadata is JSON text, timestamps are milliseconds) and
//! which position holds which field are written here once.

use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, Session, SessionId, SessionStatus, SignInId, Timestamp, User, UserId,
    Username,
};

/// A row's columns read by position, as a driver reads them.
pub trait Columns {
    /// What the driver reports when a column cannot be read.
    type Error;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn optional_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn integer(&self, index: usize) -> Result<i64, Self::Error>;
    fn optional_integer(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
    /// The error for a value at `index` that was read but means nothing valid.
    fn invalid(&self, index: usize, why: StoreError) -> Self::Error;
}

/// The client in a row of [`client_columns!`](crate::client_columns).
pub fn client<C: Columns>(row: &C) -> Result<Client, C::Error> {
    Ok(Client {
        id: ClientId(row.text(0)?),
        token_hash: row.text(1)?,
        sign_in_id: row.optional_text(2)?.map(SignInId),
        last_active_session_id: row.optional_text(3)?.map(SessionId),
        created_at: Timestamp(row.integer(4)?),
        updated_at: Timestamp(row.integer(5)?),
    })
}

/// The session in a row of [`session_columns!`](crate::session_columns).
pub fn session<C: Columns>(row: &C) -> Result<Session, C::Error> {
    let status = session_status(&row.text(3)?).map_err(|why| row.invalid(3, why))?;
    Ok(Session {
        id: SessionId(row.text(0)?),
        client_id: ClientId(row.text(1)?),
        user_id: UserId(row.text(2)?),
        status,
        last_active_at: Timestamp(row.integer(4)?),
        expire_at: Timestamp(row.integer(5)?),
        first_factor_verified_at: Timestamp(row.integer(6)?),
        second_factor_verified_at: row.optional_integer(7)?.map(Timestamp),
        created_at: Timestamp(row.integer(8)?),
        updated_at: Timestamp(row.integer(9)?),
    })
}

/// The user in a row starting with [`user_columns!`](crate::user_columns),
/// without the parts other tables hold.
pub fn user<C: Columns>(row: &C) -> Result<User, C::Error> {
    UserRow::read(row)?
        .into_user()
        .map_err(|why| row.invalid(0, why))
}

/// A `users` row's stored values, in [`user_columns!`](crate::user_columns) order.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub username: Option<String>,
    pub password_digest: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    /// JSON text.
    pub public_metadata: String,
    /// JSON text.
    pub private_metadata: String,
    /// JSON text.
    pub unsafe_metadata: String,
    pub banned: bool,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub locked_until: Option<i64>,
    pub totp_last_step: Option<i64>,
}

impl UserRow {
    /// The values of a row starting with [`user_columns!`](crate::user_columns).
    pub fn read<C: Columns>(row: &C) -> Result<Self, C::Error> {
        Ok(Self {
            id: row.text(0)?,
            username: row.optional_text(1)?,
            password_digest: row.optional_text(2)?,
            first_name: row.optional_text(3)?,
            last_name: row.optional_text(4)?,
            external_id: row.optional_text(5)?,
            primary_email_address_id: row.optional_text(6)?,
            primary_phone_number_id: row.optional_text(7)?,
            public_metadata: row.text(8)?,
            private_metadata: row.text(9)?,
            unsafe_metadata: row.text(10)?,
            banned: row.flag(11)?,
            last_sign_in_at: row.optional_integer(12)?,
            created_at: row.integer(13)?,
            updated_at: row.integer(14)?,
            totp_secret: row.optional_text(15)?,
            totp_pending_secret: row.optional_text(16)?,
            locked_until: row.optional_integer(17)?,
            totp_last_step: row.optional_integer(18)?,
        })
    }

    /// The user this row stores, without the parts other tables hold
    /// (identifications, external accounts, backup codes).
    pub fn into_user(self) -> Result<User, StoreError> {
        let username = self
            .username
            .map(|raw| Username::parse(&raw))
            .transpose()
            .map_err(|e| StoreError::Other(format!("stored username is invalid: {e}")))?;
        Ok(User {
            username,
            password_digest: self.password_digest,
            first_name: self.first_name,
            last_name: self.last_name,
            external_id: self.external_id,
            primary_email_address_id: self.primary_email_address_id,
            primary_phone_number_id: self.primary_phone_number_id,
            public_metadata: json(&self.public_metadata)?,
            private_metadata: json(&self.private_metadata)?,
            unsafe_metadata: json(&self.unsafe_metadata)?,
            banned: self.banned,
            last_sign_in_at: self.last_sign_in_at.map(Timestamp),
            totp_secret: self.totp_secret,
            totp_pending_secret: self.totp_pending_secret,
            locked_until: self.locked_until.map(Timestamp),
            totp_last_step: self.totp_last_step,
            updated_at: Timestamp(self.updated_at),
            ..User::blank(UserId(self.id), Timestamp(self.created_at))
        })
    }
}

/// The public, private and unsafe metadata of `user` as the JSON text stored.
pub fn metadata(user: &User) -> Result<[String; 3], serde_json::Error> {
    Ok([
        serde_json::to_string(&user.public_metadata)?,
        serde_json::to_string(&user.private_metadata)?,
        serde_json::to_string(&user.unsafe_metadata)?,
    ])
}

/// The session status stored as `stored`.
pub fn session_status(stored: &str) -> Result<SessionStatus, StoreError> {
    SessionStatus::parse(stored)
        .ok_or_else(|| StoreError::Other(format!("unknown session status {stored:?}")))
}

fn json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Other(format!("stored JSON is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UserRow {
        UserRow {
            id: "user_1".into(),
            username: Some("ada_01".into()),
            password_digest: Some("$argon2id$digest".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            external_id: Some("ext_1".into()),
            primary_email_address_id: Some("idn_1".into()),
            primary_phone_number_id: None,
            public_metadata: r#"{"role":"admin"}"#.into(),
            private_metadata: "{}".into(),
            unsafe_metadata: r#"{"n":1}"#.into(),
            banned: true,
            last_sign_in_at: Some(5),
            created_at: 1,
            updated_at: 2,
            totp_secret: Some("sealed".into()),
            totp_pending_secret: None,
            locked_until: Some(9),
            totp_last_step: Some(7),
        }
    }

    #[test]
    fn a_row_holds_every_user_column() {
        let user = row().into_user().unwrap();
        assert_eq!(user.id, UserId("user_1".into()));
        assert_eq!(user.username.as_ref().map(Username::as_str), Some("ada_01"));
        assert_eq!(user.public_metadata, serde_json::json!({ "role": "admin" }));
        assert_eq!(user.unsafe_metadata, serde_json::json!({ "n": 1 }));
        assert!(user.banned);
        assert_eq!(user.last_sign_in_at, Some(Timestamp(5)));
        assert_eq!(
            (user.created_at, user.updated_at),
            (Timestamp(1), Timestamp(2))
        );
        assert_eq!(user.locked_until, Some(Timestamp(9)));
        assert_eq!(user.totp_last_step, Some(7));
        assert!(user.email_addresses.is_empty() && user.backup_codes.is_empty());
        let [public, private, unsafe_] = metadata(&user).unwrap();
        assert_eq!(
            (public.as_str(), private.as_str(), unsafe_.as_str()),
            (r#"{"role":"admin"}"#, "{}", r#"{"n":1}"#)
        );
    }

    /// A row as a list of JSON values, standing in for a driver's row.
    struct Values(Vec<serde_json::Value>);

    impl Columns for Values {
        type Error = String;
        fn text(&self, i: usize) -> Result<String, String> {
            self.0[i]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("{i}: not text"))
        }
        fn optional_text(&self, i: usize) -> Result<Option<String>, String> {
            if self.0[i].is_null() {
                Ok(None)
            } else {
                self.text(i).map(Some)
            }
        }
        fn integer(&self, i: usize) -> Result<i64, String> {
            self.0[i].as_i64().ok_or(format!("{i}: not an integer"))
        }
        fn optional_integer(&self, i: usize) -> Result<Option<i64>, String> {
            if self.0[i].is_null() {
                Ok(None)
            } else {
                self.integer(i).map(Some)
            }
        }
        fn flag(&self, i: usize) -> Result<bool, String> {
            self.0[i].as_bool().ok_or(format!("{i}: not a flag"))
        }
        fn invalid(&self, i: usize, why: StoreError) -> String {
            format!("{i}: {why}")
        }
    }

    #[test]
    fn rows_are_read_by_column_position() {
        use serde_json::json;
        let client = client(&Values(vec![
            json!("client_1"),
            json!("hash"),
            json!("sia_1"),
            json!(null),
            json!(1),
            json!(2),
        ]))
        .unwrap();
        assert_eq!(client.sign_in_id, Some(SignInId("sia_1".into())));
        assert_eq!(client.last_active_session_id, None);
        assert_eq!(
            (client.created_at, client.updated_at),
            (Timestamp(1), Timestamp(2))
        );
        let mut values = vec![
            json!("sess_1"),
            json!("client_1"),
            json!("user_1"),
            json!("revoked"),
            json!(3),
            json!(4),
            json!(5),
            json!(null),
            json!(6),
            json!(7),
        ];
        let session = session(&Values(values.clone())).unwrap();
        assert_eq!(session.status, SessionStatus::Revoked);
        assert_eq!(session.expire_at, Timestamp(4));
        assert_eq!(session.second_factor_verified_at, None);
        values[3] = json!("gone");
        assert_eq!(
            session_of(values),
            Err("3: store failure: unknown session status \"gone\"".to_owned())
        );
        let read = UserRow::read(&Values(vec![
            json!("user_1"),
            json!("ada_01"),
            json!("$argon2id$digest"),
            json!("Ada"),
            json!(null),
            json!("ext_1"),
            json!("idn_1"),
            json!(null),
            json!(r#"{"role":"admin"}"#),
            json!("{}"),
            json!(r#"{"n":1}"#),
            json!(true),
            json!(5),
            json!(1),
            json!(2),
            json!("sealed"),
            json!(null),
            json!(9),
            json!(7),
        ]))
        .unwrap();
        assert_eq!(read, row());
    }

    fn session_of(values: Vec<serde_json::Value>) -> Result<SessionStatus, String> {
        session(&Values(values)).map(|s| s.status)
    }

    #[test]
    fn bad_stored_values_are_store_errors() {
        let bad_name = UserRow {
            username: Some("a".into()),
            ..row()
        };
        assert!(matches!(bad_name.into_user(), Err(StoreError::Other(_))));
        let bad_json = UserRow {
            public_metadata: "{".into(),
            ..row()
        };
        assert!(matches!(bad_json.into_user(), Err(StoreError::Other(_))));
        assert_eq!(session_status("active"), Ok(SessionStatus::Active));
        assert!(matches!(session_status("gone"), Err(StoreError::Other(_))));
    }
}

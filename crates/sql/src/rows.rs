//! Rows as plain stored values, and the domain types they hold.
//!
//! A driver reads a row's columns into these shapes (text, integers,
//! booleans); the rules for what the values mean (a stored username is
//! parsed again, metadata is JSON text, timestamps are milliseconds) are
//! written here once.

use latch_core::error::StoreError;
use latch_core::model::{SessionStatus, Timestamp, User, UserId, Username};

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

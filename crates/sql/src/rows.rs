//! Reading clients, sessions and users from a row's columns, and the
//! stored form of user metadata.
//!
//! A driver exposes a row through [`Columns`] (text, integers, booleans by
//! position); the rules for what the values mean (a stored username is
//! parsed again, metadata is JSON text, timestamps are milliseconds) and
//! which position holds which field are written here once.

use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, Session, SessionId, SessionOrigin, SessionStatus, SignInId, SignUpId,
    Timestamp, User, UserId, Username,
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
        last_authentication_strategy: row.optional_text(6)?,
        sign_up_id: row.optional_text(7)?.map(SignUpId),
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
        origin: SessionOrigin {
            strategy: row.optional_text(10)?,
            ip_address: row.optional_text(11)?,
            user_agent: row.optional_text(12)?,
        },
    })
}

/// The user in a row starting with [`user_columns!`](crate::user_columns),
/// without the parts other tables hold (identifications, external accounts,
/// backup codes).
pub fn user<C: Columns>(row: &C) -> Result<User, C::Error> {
    let username = row
        .optional_text(1)?
        .map(|raw| Username::parse(&raw))
        .transpose()
        .map_err(|e| {
            row.invalid(
                1,
                StoreError::Other(format!("stored username is invalid: {e}")),
            )
        })?;
    let json = |index: usize| -> Result<serde_json::Value, C::Error> {
        serde_json::from_str(&row.text(index)?).map_err(|e| {
            row.invalid(
                index,
                StoreError::Other(format!("stored JSON is invalid: {e}")),
            )
        })
    };
    Ok(User {
        username,
        password_digest: row.optional_text(2)?,
        first_name: row.optional_text(3)?,
        last_name: row.optional_text(4)?,
        external_id: row.optional_text(5)?,
        primary_email_address_id: row.optional_text(6)?,
        primary_phone_number_id: row.optional_text(7)?,
        public_metadata: json(8)?,
        private_metadata: json(9)?,
        unsafe_metadata: json(10)?,
        banned: row.flag(11)?,
        last_sign_in_at: row.optional_integer(12)?.map(Timestamp),
        updated_at: Timestamp(row.integer(14)?),
        totp_secret: row.optional_text(15)?,
        totp_pending_secret: row.optional_text(16)?,
        password_updated_at: row.optional_integer(17)?.map(Timestamp),
        mfa_enabled_at: row.optional_integer(18)?.map(Timestamp),
        mfa_disabled_at: row.optional_integer(19)?.map(Timestamp),
        locked_until: row.optional_integer(20)?.map(Timestamp),
        totp_last_step: row.optional_integer(21)?,
        failed_attempts: u32::try_from(row.integer(22)?).unwrap_or(0),
        attempt_window_ends_at: row.optional_integer(23)?.map(Timestamp),
        legal_accepted_at: row.optional_integer(24)?.map(Timestamp),
        ..User::blank(UserId(row.text(0)?), Timestamp(row.integer(13)?))
    })
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
fn session_status(stored: &str) -> Result<SessionStatus, StoreError> {
    SessionStatus::parse(stored)
        .ok_or_else(|| StoreError::Other(format!("unknown session status {stored:?}")))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A row as a list of JSON values, standing in for a driver's row.
    struct Values(Vec<Value>);

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

    fn user_values() -> Vec<Value> {
        vec![
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
            json!(3),
            json!(4),
            json!(null),
            json!(9),
            json!(7),
            json!(2),
            json!(11),
            json!(12),
        ]
    }

    #[test]
    fn a_user_row_holds_every_user_column() {
        let user = user(&Values(user_values())).unwrap();
        assert_eq!(user.id, UserId("user_1".into()));
        assert_eq!(user.username.as_ref().map(Username::as_str), Some("ada_01"));
        assert_eq!(user.password_digest.as_deref(), Some("$argon2id$digest"));
        assert_eq!(user.external_id.as_deref(), Some("ext_1"));
        assert_eq!(user.primary_email_address_id.as_deref(), Some("idn_1"));
        assert_eq!(user.public_metadata, json!({ "role": "admin" }));
        assert_eq!(user.unsafe_metadata, json!({ "n": 1 }));
        assert!(user.banned);
        assert_eq!(user.last_sign_in_at, Some(Timestamp(5)));
        assert_eq!(
            (user.created_at, user.updated_at),
            (Timestamp(1), Timestamp(2))
        );
        assert_eq!(user.totp_secret.as_deref(), Some("sealed"));
        assert_eq!(user.locked_until, Some(Timestamp(9)));
        assert_eq!(user.totp_last_step, Some(7));
        assert_eq!(user.password_updated_at, Some(Timestamp(3)));
        assert_eq!(
            (user.mfa_enabled_at, user.mfa_disabled_at),
            (Some(Timestamp(4)), None)
        );
        assert_eq!(
            (user.failed_attempts, user.attempt_window_ends_at),
            (2, Some(Timestamp(11)))
        );
        assert_eq!(user.legal_accepted_at, Some(Timestamp(12)));
        assert!(user.email_addresses.is_empty() && user.backup_codes.is_empty());
        let [public, private, unsafe_] = metadata(&user).unwrap();
        assert_eq!(
            (public.as_str(), private.as_str(), unsafe_.as_str()),
            (r#"{"role":"admin"}"#, "{}", r#"{"n":1}"#)
        );
    }

    #[test]
    fn bad_stored_user_values_are_invalid_at_their_column() {
        let mut bad_name = user_values();
        bad_name[1] = json!("a");
        assert!(user(&Values(bad_name)).unwrap_err().starts_with("1: "));
        let mut bad_json = user_values();
        bad_json[9] = json!("{");
        assert!(user(&Values(bad_json)).unwrap_err().starts_with("9: "));
        let mut not_text = user_values();
        not_text[0] = json!(1);
        assert_eq!(user(&Values(not_text)), Err("0: not text".to_owned()));
    }

    #[test]
    fn clients_and_sessions_are_read_by_column_position() {
        let client = client(&Values(vec![
            json!("client_1"),
            json!("hash"),
            json!("sia_1"),
            json!(null),
            json!(1),
            json!(2),
            json!("oauth_github"),
            json!("sua_1"),
        ]))
        .unwrap();
        assert_eq!(
            client.last_authentication_strategy.as_deref(),
            Some("oauth_github")
        );
        assert_eq!(client.token_hash, "hash");
        assert_eq!(client.sign_in_id, Some(SignInId("sia_1".into())));
        assert_eq!(client.sign_up_id, Some(SignUpId("sua_1".into())));
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
            json!("password"),
            json!("203.0.113.9"),
            json!(null),
        ];
        let read = session(&Values(values.clone())).unwrap();
        assert_eq!(read.status, SessionStatus::Revoked);
        assert_eq!(read.last_active_at, Timestamp(3));
        assert_eq!(read.expire_at, Timestamp(4));
        assert_eq!(read.second_factor_verified_at, None);
        assert_eq!(
            read.origin,
            SessionOrigin {
                strategy: Some("password".into()),
                ip_address: Some("203.0.113.9".into()),
                user_agent: None,
            }
        );
        values[3] = json!("gone");
        assert_eq!(
            session(&Values(values)).map(|s| s.status),
            Err("3: store failure: unknown session status \"gone\"".to_owned())
        );
    }
}

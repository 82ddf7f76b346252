//! Test data with fixed ids and timestamps, valid by construction.
//!
//! Values go through the domain parsers, so what a fixture stores is what
//! the domain would store: lower-cased emails, E.164 phone numbers, lower-cased
//! usernames.

use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, EmailAddress, IdentificationRecord, InstanceSettings, PhoneNumber, Session,
    SessionId, SessionStatus, SignIn, SignInId, SignUp, SignUpId, Timestamp, User, UserId,
    Username,
};
use latch_core::ports::{ClientRepository, UserRepository};
use serde_json::json;

/// The instant every fixture is built at (2023-11-14T22:13:20Z).
pub const T0: Timestamp = Timestamp(1_700_000_000_000);

/// `T0` plus `millis`.
pub fn at(millis: i64) -> Timestamp {
    Timestamp(T0.0 + millis)
}

/// A user `id` with one verified, primary email address `email` (id
/// `idn_<id>_email`), created at [`T0`], no password.
pub fn user(id: &str, email: &str) -> User {
    let email = email_address(&format!("idn_{id}_email"), email);
    User {
        primary_email_address_id: Some(email.id.clone()),
        email_addresses: vec![email],
        ..User::blank(UserId(id.to_owned()), T0)
    }
}

/// A user with every field set: two email addresses, a sign-in phone number and
/// one reserved for the second factor, a username, a password digest, names,
/// an external id, metadata and the time legal terms were accepted.
pub fn full_user(
    id: &str,
    email: &str,
    second_email: &str,
    phone: &str,
    second_factor_phone: &str,
    username: &str,
) -> User {
    let mut user = user(id, email);
    user.email_addresses.push(IdentificationRecord {
        verified: false,
        ..email_address(&format!("idn_{id}_email_2"), second_email)
    });
    let phone = phone_number(&format!("idn_{id}_phone"), phone);
    user.primary_phone_number_id = Some(phone.id.clone());
    user.phone_numbers = vec![
        phone,
        IdentificationRecord {
            reserved_for_second_factor: true,
            verification: None,
            ..phone_number(&format!("idn_{id}_phone_2fa"), second_factor_phone)
        },
    ];
    user.username = Some(self::username(username));
    user.password_digest =
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned());
    user.first_name = Some("Ada".to_owned());
    user.last_name = Some("Lovelace".to_owned());
    user.external_id = Some(format!("ext_{id}"));
    user.public_metadata = json!({ "role": "admin", "tags": ["a", "b"] });
    user.private_metadata = json!({ "note": "ünïcødé ✓", "n": 42 });
    user.unsafe_metadata = json!({ "theme": { "dark": true } });
    user.banned = false;
    user.last_sign_in_at = Some(at(500));
    user.legal_accepted_at = Some(at(400));
    user.updated_at = at(1_000);
    user
}

/// A verified email address record, normalised by [`EmailAddress::parse`].
pub fn email_address(id: &str, value: &str) -> IdentificationRecord {
    let value = EmailAddress::parse(value).expect("fixture email address is valid");
    record(id, value.as_str())
}

/// A verified phone number record for signing in, normalised to E.164.
pub fn phone_number(id: &str, value: &str) -> IdentificationRecord {
    let value = PhoneNumber::parse(value).expect("fixture phone number is valid");
    record(id, value.as_str())
}

/// A username, normalised by [`Username::parse`].
pub fn username(value: &str) -> Username {
    Username::parse(value).expect("fixture username is valid")
}

fn record(id: &str, value: &str) -> IdentificationRecord {
    IdentificationRecord {
        id: id.to_owned(),
        value: value.to_owned(),
        verified: true,
        reserved_for_second_factor: false,
        verification: None,
        created_at: T0,
        updated_at: T0,
    }
}

/// A deterministic stand-in for the SHA-256 (hex) of a client token.
pub fn token_hash(n: u64) -> String {
    format!("{n:064x}")
}

/// A client `id` whose token hashes to [`token_hash`]`(token)`, created at [`T0`].
pub fn client(id: &str, token: u64) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        token_hash: token_hash(token),
        sign_in_id: None,
        sign_up_id: None,
        last_active_session_id: None,
        last_authentication_strategy: None,
        created_at: T0,
        updated_at: T0,
    }
}

/// An active session of `user_id` on `client_id`, created at `created_at`,
/// lasting seven days.
pub fn session(id: &str, client_id: &str, user_id: &str, created_at: Timestamp) -> Session {
    Session {
        id: SessionId(id.to_owned()),
        client_id: ClientId(client_id.to_owned()),
        user_id: UserId(user_id.to_owned()),
        status: SessionStatus::Active,
        last_active_at: created_at,
        expire_at: Timestamp(created_at.0 + 7 * 86_400_000),
        first_factor_verified_at: created_at,
        second_factor_verified_at: None,
        created_at,
        updated_at: created_at,
        origin: Default::default(),
    }
}

/// A fresh sign-in on `client_id`, started at [`T0`] with the default lifetime.
pub fn sign_in(id: &str, client_id: &str) -> SignIn {
    SignIn::new(
        SignInId(id.to_owned()),
        ClientId(client_id.to_owned()),
        T0,
        &InstanceSettings::default(),
    )
}

/// A fresh sign-up `id` on client `client_id`, started at [`T0`] with the
/// sign-in's default lifetime.
pub fn sign_up(id: &str, client_id: &str) -> SignUp {
    SignUp::new(
        SignUpId(id.to_owned()),
        ClientId(client_id.to_owned()),
        T0,
        InstanceSettings::default().sign_in_lifetime,
    )
}

/// Stores user `user_<n>` (email `u<n>@example.com`), client `client_<n>` and
/// its session `sess_<n>` started at `at(n)`: the per-task write of tests that
/// race many writers on one store.
pub async fn insert_numbered_session<S>(store: &S, n: u64) -> Result<(), StoreError>
where
    S: UserRepository + ClientRepository + ?Sized,
{
    let user_id = format!("user_{n}");
    let client_id = format!("client_{n}");
    UserRepository::insert(store, &user(&user_id, &format!("u{n}@example.com")), &[]).await?;
    store.insert_client(&client(&client_id, n * 2)).await?;
    let millis = i64::try_from(n).unwrap_or(i64::MAX);
    let session = session(&format!("sess_{n}"), &client_id, &user_id, at(millis));
    store
        .insert_session(&session, &token_hash(n * 2), &token_hash(n * 2 + 1), &[])
        .await
}

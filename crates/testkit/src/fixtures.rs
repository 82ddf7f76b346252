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
        .insert_session(
            &session,
            &token_hash(n * 2),
            &token_hash(n * 2 + 1),
            None,
            &[],
        )
        .await
        .map(|_| ())
}

/// Digests of "correct horse battery" made by the reference
/// implementations (bcrypt, Django, Python's hashlib and `cryptography`):
/// the output of `scripts/hash-vectors.py`, as (hasher, digest).
pub const IMPORTED_DIGESTS: [(&str, &str); 8] = [
    (
        "bcrypt",
        "$2b$04$HErsAOq9sJzaVZsbMhpvMeScNJlmqEeKSdhyax4wwe8HS5UOzyTle",
    ),
    (
        "bcrypt",
        "$2a$05$rtrXgBVCtin9UQr1O/naC.rzBnO9QdnWoxzCAQtLzQRxLZ/T8LMjG",
    ),
    (
        "pbkdf2_sha256_django",
        "pbkdf2_sha256$1000$ImportedSalt2024$o569+K0CaRFaEpwd9KWGltkmnCrqfBcZZ5LsZCI4ZPs=",
    ),
    (
        "pbkdf2_sha256",
        "pbkdf2_sha256$1000$AHNhbHT/Ynl0ZXM=$OrV6JioxpuGxqN0K5zrn/GKp0gNqiqYxV537Z/np0D8=",
    ),
    (
        "pbkdf2_sha512",
        "pbkdf2_sha512$1000$plainsalt$d76a28633a643173ba295d45a3e8044206be05c913fa14a51b09aee5d55f422f0ecdb073ca161e77891728730f1248dffe94ffca62cedf3ccbb62b4428d65f78",
    ),
    (
        "pbkdf2_sha512_hex",
        "pbkdf2_sha512_hex$1000$000102030405060708090a0b0c0d0e0f$4e8c45522e72ddfa6b6515bf57a0aea51dae20361fbb2e6b96c17d67813ae3c944ebc970e65ce6b9caeefc774fbe60490d22eba15875436c42be3a9df0d23fe9",
    ),
    (
        "scrypt_firebase",
        "rbaUGB4JJZYH2JQVEHrRbPaqthduPqjkBbBfanVv4HdntnCwFyWdDWLqvSw/xAeReAHr1ZKmABsUvP4moY3+og==$dXNlciBzYWx0IQ==$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$Bw==$8$10",
    ),
    (
        "sha256",
        "9028ea0d15decaa35b2da21c0290af3b1a5ba0a30a591906f89b5074e209ea72",
    ),
];

/// Firebase's published example digest (the firebase/scrypt README), of
/// "user1password", in Clerk's `scrypt_firebase` format.
pub const FIREBASE_EXAMPLE: &str = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$42xEC+ixf3L2lw==$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$8$14";

/// 72 "a"s under bcrypt, from `scripts/hash-vectors.py` (`bcrypt_72`).
pub const BCRYPT_72: &str = "$2b$04$jV1AKCuc5f9/6YdP3wsHPuthhjj6xlcl7oPrpR7/k.YAXQSqSRzXW";

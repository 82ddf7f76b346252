//! Test fixtures shared by the sign-in modules' tests.

use crate::model::{
    ClientId, IdentificationRecord, InstanceSettings, SignIn, SignInId, Timestamp, User, UserId,
};

pub(super) fn user() -> User {
    User {
        email_addresses: vec![IdentificationRecord {
            id: "idn_1".into(),
            value: "alice@example.com".into(),
            verified: true,
            reserved_for_second_factor: false,
            verification: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }],
        primary_email_address_id: Some("idn_1".into()),
        password_digest: Some("$argon2id$...".into()),
        ..User::blank(UserId("user_1".into()), Timestamp(0))
    }
}

pub(super) fn sign_in(now: i64) -> SignIn {
    SignIn::new(
        SignInId("sia_1".into()),
        ClientId("client_1".into()),
        Timestamp(now),
        &InstanceSettings::default(),
    )
}

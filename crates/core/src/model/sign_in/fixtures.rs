//! Test fixtures shared by the sign-in modules' tests.

use crate::model::{
    ClientId, IdentificationRecord, InstanceSettings, SignIn, SignInId, Timestamp, User, UserId,
};

pub(super) fn user() -> User {
    User {
        id: UserId("user_1".into()),
        email_addresses: vec![IdentificationRecord {
            id: "idn_1".into(),
            value: "alice@example.com".into(),
            verified: true,
            reserved_for_second_factor: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }],
        phone_numbers: vec![],
        primary_email_address_id: Some("idn_1".into()),
        primary_phone_number_id: None,
        username: None,
        external_accounts: Vec::new(),
        password_digest: Some("$argon2id$...".into()),
        first_name: None,
        last_name: None,
        external_id: None,
        public_metadata: serde_json::json!({}),
        private_metadata: serde_json::json!({}),
        unsafe_metadata: serde_json::json!({}),
        banned: false,
        locked_until: None,
        totp_secret: None,
        totp_pending_secret: None,
        totp_last_step: None,
        backup_codes: Vec::new(),
        last_sign_in_at: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
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

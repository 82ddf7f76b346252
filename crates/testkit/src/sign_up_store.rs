//! The [`SignUpStore`] contract.

use std::sync::Arc;

use latch_core::model::{
    CodeAttempt, SentCode, SessionId, SignUpChange, SignUpStatus, Timestamp, UserId, Verifiable,
    VerificationStatus,
};
use latch_core::ports::SignUpStore;
use serde_json::json;

use crate::fixtures::{self, at};
use crate::flow_store::{self, round_trip};

/// Runs the whole [`SignUpStore`] contract against `store`, which must be fresh
/// and empty.
///
/// Covers the rules every flow store port keeps, as the sign-in contract
/// does: `insert` refusing (storing nothing) an id that exists; `replace` as
/// a compare-and-set on the version (`Conflict` from a stale or future
/// version, changing nothing; `NotFound` for an unknown id; of many racing
/// replaces from one version exactly one wins); `delete`; and
/// `purge_abandoned` dropping exactly the sign-ups whose `abandon_at` is
/// before `now`. Then `get` returning the sign-up exactly as stored, every
/// field and both verifications (a code sent, attempts counted, one proved)
/// included, up to its completion.
pub async fn sign_up_store_contract(store: Arc<dyn SignUpStore>) {
    flow_store::contract(&store).await;
    every_field_round_trips(&*store).await;
}

fn sent_code(digest: &str, target_id: &str, sent_at: Timestamp) -> SentCode {
    SentCode {
        digest: digest.to_owned(),
        target_id: target_id.to_owned(),
        sent_at,
    }
}

async fn every_field_round_trips(store: &(dyn SignUpStore + 'static)) {
    let metadata = json!({ "plan": "pro", "seats": [1, 2] });
    let mut sign_up = fixtures::sign_up("sua_states", "client_1");
    store.insert(&sign_up).await.expect("insert a new sign-up");

    let stored = round_trip(store, &mut sign_up, "gathered", |s| {
        let everything = SignUpChange {
            email_address: Some(Some("ada@example.com".to_owned())),
            phone_number: Some(Some("+15555550100".to_owned())),
            username: Some(Some("ada".to_owned())),
            first_name: Some(Some("Ada".to_owned())),
            last_name: Some(Some("Lovelace".to_owned())),
            password_digest: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$ZGlnZXN0".to_owned()),
            unsafe_metadata: Some(metadata.clone()),
            legal_accepted: Some(true),
        };
        s.apply(everything, at(10)).expect("gather every field");
        s.code_sent(
            Verifiable::EmailAddress,
            sent_code("email-digest", "idn_email", at(11)),
            at(600_011),
            at(11),
        )
        .expect("send the email code");
        s.code_sent(
            Verifiable::PhoneNumber,
            sent_code("phone-digest", "idn_phone", at(12)),
            at(600_012),
            at(12),
        )
        .expect("send the phone code");
        assert_eq!(
            s.count_code_attempt(Verifiable::PhoneNumber, 3, at(13)),
            Ok(CodeAttempt::Check("phone-digest".to_owned()))
        );
    })
    .await;
    assert_eq!(stored.version(), 1);
    assert_eq!(stored.email_address(), Some("ada@example.com"));
    assert_eq!(stored.phone_number(), Some("+15555550100"));
    assert_eq!(stored.username(), Some("ada"));
    assert_eq!(stored.first_name(), Some("Ada"));
    assert_eq!(stored.last_name(), Some("Lovelace"));
    assert!(stored.has_password());
    assert_eq!(stored.unsafe_metadata(), Some(&metadata));
    assert_eq!(stored.legal_accepted_at(), Some(at(10)));
    let phone = stored
        .verification(Verifiable::PhoneNumber)
        .expect("the phone code's verification is kept");
    assert_eq!(phone.attempts, 1, "a counted attempt is kept");
    assert_eq!(phone.expire_at, Some(at(600_012)));
    assert_eq!(
        phone.code,
        Some(sent_code("phone-digest", "idn_phone", at(12))),
        "the sent code is kept"
    );
    assert_eq!(stored.status_at(at(14)), SignUpStatus::MissingRequirements);

    let stored = round_trip(store, &mut sign_up, "email proved", |s| {
        assert_eq!(
            s.count_code_attempt(Verifiable::EmailAddress, 3, at(20)),
            Ok(CodeAttempt::Check("email-digest".to_owned()))
        );
        s.code_passed(Verifiable::EmailAddress, at(20))
            .expect("the email code passes");
    })
    .await;
    assert_eq!(
        stored
            .verification(Verifiable::EmailAddress)
            .map(|v| v.status),
        Some(VerificationStatus::Verified)
    );
    assert!(!stored.is_verified(Verifiable::PhoneNumber));

    let user_id = UserId("user_ada".to_owned());
    let session_id = SessionId("sess_ada".to_owned());
    let stored = round_trip(store, &mut sign_up, "completed", |s| {
        s.complete(user_id.clone(), session_id.clone(), at(30))
            .expect("complete");
    })
    .await;
    assert_eq!(stored.version(), 3);
    assert_eq!(stored.status_at(at(31)), SignUpStatus::Complete);
    assert_eq!(stored.created_user_id(), Some(&user_id));
    assert_eq!(stored.created_session_id(), Some(&session_id));
}

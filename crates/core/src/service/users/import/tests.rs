use super::*;
use crate::error::{Problem, StoreError};
use crate::model::EventType;
use crate::password::imported::ImportHasher;
use crate::service::test_support::{Mocks, NOW, user};

const CLERK_ID: &str = "user_2abcDEF3ghiJKL4mnoPQR5stuVW";
const BCRYPT: &str = "$2b$04$HErsAOq9sJzaVZsbMhpvMeScNJlmqEeKSdhyax4wwe8HS5UOzyTle";
const TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn exported() -> ImportUser {
    ImportUser {
        id: CLERK_ID.into(),
        user: CreateUser {
            email_addresses: vec!["Ann@Example.com".into()],
            password_digest: Some(BCRYPT.into()),
            password_hasher: Some("bcrypt".into()),
            first_name: Some("Ann".into()),
            public_metadata: Some(serde_json::json!({ "plan": "pro" })),
            totp_secret: Some(TOTP.into()),
            ..Default::default()
        },
        // Given twice, verified once: verified.
        unverified_email_addresses: vec!["old@example.com".into(), "ann@example.com".into()],
        unverified_phone_numbers: vec!["+15550001111".into()],
        primary_email_address: Some("ann@example.com".into()),
        banned: true,
        legal_accepted_at: Some(Timestamp(NOW.0 - 5_000)),
        created_at: Some(Timestamp(NOW.0 - 10_000)),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_exported_user_is_stored_under_its_id_as_it_was_without_hashing() {
    let mut m = Mocks::new();
    m.hasher.expect_hash().never();
    m.hasher.expect_verify().never();
    m.users.expect_get().times(1).returning(|_| Ok(None));
    let stored = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = stored.clone();
    m.users
        .expect_insert()
        .times(1)
        .returning(move |u, events| {
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].event_type, EventType::UserCreated);
            *keep.lock().unwrap() = Some(u.clone());
            Ok(())
        });
    let outcome = m
        .services()
        .users
        .import_user(exported(), ImportMode::Write)
        .await
        .unwrap();
    let ImportOutcome::Imported(user) = outcome else {
        panic!("imported: {outcome:?}");
    };
    let u = stored.lock().unwrap().take().unwrap();
    assert_eq!(*user, u);
    let emails: Vec<_> = u
        .email_addresses
        .iter()
        .map(|e| (e.value.as_str(), e.verified))
        .collect();
    assert_eq!(u.id.as_str(), CLERK_ID);
    assert_eq!(
        emails,
        [("ann@example.com", true), ("old@example.com", false)]
    );
    assert_eq!(
        u.primary_email_address_id.as_deref(),
        Some(u.email_addresses[0].id.as_str())
    );
    assert!(!u.phone_numbers[0].verified);
    // An unverified number is no primary one unless named so.
    assert_eq!(u.primary_phone_number_id, None);
    // As given: bcrypt strings name their hasher themselves.
    assert_eq!(u.password_digest.as_deref(), Some(BCRYPT));
    assert!(u.totp_secret.as_deref().is_some_and(|s| !s.contains(TOTP)));
    assert_eq!(u.mfa_enabled_at, Some(NOW));
    assert!(u.banned);
    assert_eq!(u.legal_accepted_at, Some(Timestamp(NOW.0 - 5_000)));
    assert_eq!(
        (u.created_at, u.updated_at),
        (Timestamp(NOW.0 - 10_000), NOW)
    );
    assert_eq!(u.public_metadata, serde_json::json!({ "plan": "pro" }));
}

#[tokio::test]
async fn a_user_whose_id_exists_is_left_as_it_is() {
    let mut m = Mocks::new();
    m.users.expect_get().returning(|_| {
        Ok(Some(User {
            id: UserId(CLERK_ID.into()),
            ..user()
        }))
    });
    m.users.expect_insert().never();
    m.users.expect_update().never();
    let services = m.services();
    for mode in [
        ImportMode::Write,
        ImportMode::DryRun(&mut DryRun::default()),
    ] {
        assert_eq!(
            services.users.import_user(exported(), mode).await.unwrap(),
            ImportOutcome::AlreadyImported
        );
    }
}

#[tokio::test]
async fn a_taken_identifier_refuses_the_user() {
    let mut m = Mocks::new();
    m.users.expect_get().returning(|_| Ok(None));
    m.users
        .expect_insert()
        .returning(|_, _| Err(StoreError::Duplicate(IdentifierKind::EmailAddress)));
    let err = m
        .services()
        .users
        .import_user(exported(), ImportMode::Write)
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdentifierTaken(IdentifierKind::EmailAddress));
}

#[tokio::test]
async fn malformed_users_are_refused_before_anything_is_read_or_written() {
    let mut m = Mocks::new();
    m.users.expect_get().never();
    m.users.expect_insert().never();
    let services = m.services();
    let refused = |change: fn(&mut ImportUser)| {
        let mut params = exported();
        change(&mut params);
        let services = services.clone();
        async move {
            services
                .users
                .import_user(params, ImportMode::Write)
                .await
                .unwrap_err()
        }
    };
    assert_eq!(
        refused(|u| u.id = "usr_123".into()).await,
        Error::invalid("id", Problem::NotUserId)
    );
    assert_eq!(
        refused(|u| u.id = "user_12-3".into()).await,
        Error::invalid("id", Problem::NotUserId)
    );
    assert_eq!(
        refused(|u| u.unverified_email_addresses[1] = "not an address".into())
            .await
            .param(),
        Some("email_address")
    );
    assert_eq!(
        refused(|u| u.user.password_hasher = Some("md5".into())).await,
        Error::invalid("password_hasher", Problem::UnknownPasswordHasher)
    );
    assert_eq!(
        refused(|u| u.user.password_digest = Some("$2b$04$short".into())).await,
        Error::invalid(
            "password_digest",
            Problem::MalformedDigest(ImportHasher::Bcrypt)
        )
    );
    assert_eq!(
        refused(|u| u.user.password_hasher = None).await,
        Error::param_nil("password_hasher")
    );
    assert_eq!(
        refused(|u| u.user.totp_secret = Some("not base32!".into())).await,
        Error::invalid("totp_secret", Problem::NotBase32)
    );
    assert_eq!(
        refused(|u| {
            u.user.email_addresses.clear();
            u.unverified_email_addresses.clear();
            u.unverified_phone_numbers.clear();
        })
        .await,
        Error::param_nil("email_address")
    );
}

/// One more user of the dry run `plan`.
async fn plan_one(
    services: &crate::service::Services,
    plan: &mut DryRun,
    params: ImportUser,
) -> Result<ImportOutcome, Error> {
    services
        .users
        .import_user(params, ImportMode::DryRun(plan))
        .await
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_checks_each_user_against_those_before_it() {
    let mut m = Mocks::new();
    m.users.expect_get().returning(|_| Ok(None));
    m.users.expect_insert().never();
    // Someone else holds taken@example.com, verified; nobody else anything.
    m.users.expect_find_by_identifier().returning(|identifier| {
        Ok((identifier.as_str() == "taken@example.com").then(|| User {
            email_addresses: vec![IdentificationRecord {
                value: "taken@example.com".into(),
                ..user().email_addresses[0].clone()
            }],
            ..user()
        }))
    });
    let services = m.services();
    let mut plan = DryRun::default();
    let with = |id: &str, email: &str, verified: bool| {
        let email = vec![email.to_owned()];
        let (verified, unverified) = if verified {
            (email, vec![])
        } else {
            (vec![], email)
        };
        ImportUser {
            id: id.into(),
            user: CreateUser {
                email_addresses: verified,
                ..Default::default()
            },
            unverified_email_addresses: unverified,
            ..Default::default()
        }
    };
    let first = plan_one(
        &services,
        &mut plan,
        with("user_a", "ann@example.com", true),
    )
    .await
    .unwrap();
    assert!(matches!(first, ImportOutcome::Imported(u) if u.id.as_str() == "user_a"));
    assert_eq!(
        plan_one(
            &services,
            &mut plan,
            with("user_a", "other@example.com", true)
        )
        .await
        .unwrap(),
        ImportOutcome::AlreadyImported,
        "the same id twice in a file"
    );
    for taken in ["ann@example.com", "taken@example.com"] {
        assert_eq!(
            plan_one(&services, &mut plan, with("user_b", taken, false))
                .await
                .unwrap_err(),
            Error::IdentifierTaken(IdentifierKind::EmailAddress),
            "{taken}"
        );
    }
    // An unverified claim gives way to a later user, as in the store.
    plan_one(
        &services,
        &mut plan,
        with("user_c", "claim@example.com", false),
    )
    .await
    .unwrap();
    assert!(matches!(
        plan_one(
            &services,
            &mut plan,
            with("user_d", "claim@example.com", true)
        )
        .await
        .unwrap(),
        ImportOutcome::Imported(_)
    ));
}

//! The port contracts from `latch-testkit`, run against `SqliteStore` on a fresh
//! file each, and what only SQLite has: migrations, WAL, reopening, concurrent
//! writers, lock timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use latch_core::error::StoreError;
use latch_core::model::{
    Client, ClientId, Identifier, SessionId, SignInId, Timestamp, User, UserId,
};
use latch_core::ports::{ClientRepository, InstanceStore, SignInStore, UserQuery, UserRepository};
use latch_sqlite::{SqliteConfig, SqliteStore, migrate, schema_version};
use latch_testkit::fixtures::{self, at};
use tempfile::TempDir;

/// A fresh database file in its own directory, removed on drop.
struct TestDb {
    dir: TempDir,
}

impl TestDb {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("latch.db")
    }

    fn open(&self) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open(&self.path(), SqliteConfig::default()).unwrap())
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path()).unwrap()
    }
}

// The port contracts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_repository_contract() {
    let db = TestDb::new();
    latch_testkit::user_repository_contract(db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_repository_contract() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::client_repository_contract(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_contract_with_two_processes_worth_of_connections() {
    let db = TestDb::new();
    latch_testkit::counters_contract(db.open(), db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_store_contract() {
    let db = TestDb::new();
    latch_testkit::sign_in_store_contract(db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_steps_contract() {
    let db = TestDb::new();
    latch_testkit::sign_in_steps_contract(&*db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_steps_contract() {
    let db = TestDb::new();
    latch_testkit::sign_up_steps_contract(&*db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_store_contract() {
    let db = TestDb::new();
    latch_testkit::sign_up_store_contract(db.open()).await;
}

#[tokio::test]
async fn sign_ins_and_sign_ups_are_kept_apart() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::flow_kinds_apart_contract(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_store_contract() {
    let db = TestDb::new();
    latch_testkit::instance_store_contract(db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_contract_with_two_processes_worth_of_connections() {
    let db = TestDb::new();
    latch_testkit::outbox_contract(db.open(), db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_store_contract_with_two_processes_worth_of_connections() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::webhook_store_contract(latch_testkit::WebhookHandles {
        a: store.clone(),
        b: db.open(),
        users: store.clone(),
        clients: store,
    })
    .await;
}

#[tokio::test]
async fn audit_log_contract() {
    let db = TestDb::new();
    latch_testkit::audit_log_contract(&*db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_store_contract() {
    let db = TestDb::new();
    latch_testkit::settings_store_contract(db.open(), db.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_store_contract() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::operator_store_contract(&*store, &*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_first_grants_race_from_two_processes_worth_of_connections() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::operator_first_grant_race(&*store, &*db.open(), &*store).await;
}

#[tokio::test]
async fn the_audit_log_refuses_changes() {
    let db = TestDb::new();
    let store = db.open();
    latch_testkit::audit_log_contract(&*store).await;
    let refused = db
        .raw()
        .execute("UPDATE audit_log SET action = 'sign_in.succeeded'", []);
    assert!(
        refused.unwrap_err().to_string().contains("append-only"),
        "an entry cannot be rewritten"
    );
}

/// The payload column as stored.
fn stored_payload(db: &TestDb, id: &str) -> Option<String> {
    db.raw()
        .query_row("SELECT payload FROM deliveries WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn a_delivery_payload_is_wiped_once_delivered_or_dead() {
    use latch_core::ports::{Lease, NewDelivery, Outbox};
    let db = TestDb::new();
    let store = db.open();
    for id in ["dlv_sent", "dlv_dead"] {
        let new = NewDelivery {
            id: id.into(),
            kind: "code".into(),
            payload: "v1.sealed".into(),
            max_attempts: 2,
            due_at: at(0),
            expire_at: None,
            created_at: at(0),
        };
        store.enqueue(&new, &[]).await.unwrap();
        assert_eq!(stored_payload(&db, id).as_deref(), Some("v1.sealed"));
    }
    let lease = Lease {
        token: "w".into(),
        until: at(60_000),
    };
    assert_eq!(store.claim_due(at(0), &lease, 10).await.unwrap().len(), 2);
    store.complete("dlv_sent", "w", at(1)).await.unwrap();
    store
        .fail("dlv_dead", "w", "refused", None, at(1))
        .await
        .unwrap();
    assert_eq!(stored_payload(&db, "dlv_sent"), None);
    assert_eq!(stored_payload(&db, "dlv_dead"), None);
}

#[tokio::test]
async fn contracts_hold_with_a_single_reader() {
    let db = TestDb::new();
    let store = Arc::new(
        SqliteStore::open(
            &db.path(),
            SqliteConfig {
                readers: 0,
                ..SqliteConfig::default()
            },
        )
        .unwrap(),
    );
    latch_testkit::user_repository_contract(store.clone()).await;
}

// SQLite specifics.

fn user_version(conn: &rusqlite::Connection) -> u32 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[test]
fn migrations_are_idempotent() {
    let db = TestDb::new();
    assert_eq!(
        migrate(&db.path()),
        Ok(schema_version()),
        "migrate creates and migrates a new file"
    );
    assert_eq!(
        migrate(&db.path()),
        Ok(schema_version()),
        "migrating again changes nothing"
    );
    drop(SqliteStore::open(&db.path(), SqliteConfig::default()).unwrap());
    drop(SqliteStore::open(&db.path(), SqliteConfig::default()).unwrap());
    assert_eq!(user_version(&db.raw()), schema_version());
    assert!(schema_version() >= 1);
}

/// A file at schema version 1 (before sign-ins had versions) migrates: the
/// sign-ins it held, in a JSON shape the new `SignIn` cannot read, are dropped;
/// everything else stays and the new sign-ins work.
#[tokio::test]
async fn a_version_1_file_migrates() {
    let db = TestDb::new();
    {
        let raw = db.raw();
        raw.execute_batch(include_str!("../migrations/0001_init.sql"))
            .unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
        raw.execute_batch(
            r#"INSERT INTO clients VALUES ('client_1', 'hash_1', 'sia_old', NULL, 1, 2);
               INSERT INTO sign_ins VALUES ('sia_old', 'client_1', 9999999999999,
                 '{"id":"sia_old","client_id":"client_1","status":"NeedsIdentifier"}');"#,
        )
        .unwrap();
    }
    let store = db.open();
    assert_eq!(user_version(&db.raw()), schema_version());
    assert_eq!(
        SignInStore::get(&*store, &SignInId("sia_old".into())).await,
        Ok(None),
        "a version 1 sign-in is dropped, not served as an error"
    );
    let client = store
        .get_client(&ClientId("client_1".into()))
        .await
        .unwrap()
        .expect("clients survive the migration");
    assert_eq!(client.token_hash, "hash_1");
    latch_testkit::sign_in_store_contract(store).await;
}

#[test]
fn a_newer_schema_is_refused() {
    let db = TestDb::new();
    migrate(&db.path()).unwrap();
    db.raw()
        .pragma_update(None, "user_version", schema_version() + 1)
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&db.path(), SqliteConfig::default()),
        Err(StoreError::Other(_))
    ));
    assert!(matches!(migrate(&db.path()), Err(StoreError::Other(_))));
}

#[test]
fn a_missing_directory_is_an_error() {
    let db = TestDb::new();
    let path = db.dir.path().join("missing").join("latch.db");
    assert!(SqliteStore::open(&path, SqliteConfig::default()).is_err());
}

#[test]
fn the_file_is_in_wal_mode() {
    let db = TestDb::new();
    let _store = db.open();
    let mode: String = db
        .raw()
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn data_survives_reopening() {
    let db = TestDb::new();
    let user = fixtures::full_user(
        "user_1",
        "one@example.com",
        "one.work@example.com",
        "+15555550100",
        "+15555550101",
        "user_one",
    );
    let session = fixtures::session("sess_1", "client_1", "user_1", at(10));
    let client = Client {
        last_active_session_id: Some(session.id.clone()),
        updated_at: session.created_at,
        ..fixtures::client("client_1", 2)
    };
    let mut sign_in = fixtures::sign_in("sia_1", "client_1");
    {
        let store = db.open();
        UserRepository::insert(&*store, &user, &[]).await.unwrap();
        store
            .insert_client(&fixtures::client("client_1", 1))
            .await
            .unwrap();
        store
            .insert_session(
                &session,
                &fixtures::token_hash(1),
                &fixtures::token_hash(2),
                None,
                &[],
            )
            .await
            .unwrap();
        SignInStore::insert(&*store, &sign_in).await.unwrap();
        sign_in.updated_at = at(20);
        let expected = sign_in.next_version();
        store.replace(&sign_in, expected).await.unwrap();
        store.get_or_insert("secret_key", "sk_1").await.unwrap();
    }
    // The session's start recorded the sign-in on the user.
    let user = User {
        last_sign_in_at: Some(session.created_at),
        updated_at: Timestamp(user.updated_at.0 + 1),
        ..user
    };
    let store = db.open();
    assert_eq!(
        UserRepository::get(&*store, &UserId("user_1".into())).await,
        Ok(Some(user.clone()))
    );
    assert_eq!(
        store
            .find_by_identifier(&Identifier::parse("user_one").unwrap())
            .await,
        Ok(Some(user))
    );
    assert_eq!(
        store.get_client(&ClientId("client_1".into())).await,
        Ok(Some(client))
    );
    assert_eq!(
        store.get_session(&SessionId("sess_1".into())).await,
        Ok(Some(session))
    );
    assert_eq!(
        SignInStore::get(&*store, &SignInId("sia_1".into())).await,
        Ok(Some(sign_in))
    );
    assert_eq!(
        InstanceStore::get(&*store, "secret_key").await,
        Ok(Some("sk_1".to_owned()))
    );
}

/// Many tasks write at once through one store and through a second store on
/// the same file (as a second process would): nothing fails with a busy error,
/// nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_do_not_fail() {
    let db = TestDb::new();
    let first = db.open();
    let second = db.open();
    SignInStore::insert(&*first, &fixtures::sign_in("sia_shared", "client_shared"))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64u64 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.spawn(async move {
            fixtures::insert_numbered_session(&*store, i).await?;
            let client_id = format!("client_{i}");
            let mut sign_in = fixtures::sign_in(&format!("sia_{i}"), &client_id);
            SignInStore::insert(&*store, &sign_in).await?;
            // Both stores compare-and-set one sign-in: exactly one wins.
            let mut shared = fixtures::sign_in("sia_shared", "client_shared");
            shared.updated_at = at(i as i64);
            let expected = shared.next_version();
            match store.replace(&shared, expected).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
            sign_in.updated_at = at(1);
            let expected = sign_in.next_version();
            store.replace(&sign_in, expected).await?;
            store.get_or_insert("shared", &format!("v{i}")).await?;
            // Reads interleave with the writes.
            UserRepository::count(&*store, &UserQuery::default()).await?;
            Ok::<_, StoreError>(())
        });
    }
    for result in tasks.join_all().await {
        assert_eq!(result, Ok(()));
    }
    assert_eq!(
        UserRepository::count(&*first, &UserQuery::default()).await,
        Ok(64)
    );
    assert_eq!(second.count_sessions(&Default::default()).await, Ok(64));
    let shared = SignInStore::get(&*second, &SignInId("sia_shared".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shared.version(),
        1,
        "one compare-and-set from version 0 won, across stores"
    );
    let shared = InstanceStore::get(&*first, "shared").await.unwrap();
    assert_eq!(
        InstanceStore::get(&*second, "shared").await.unwrap(),
        shared
    );
}

/// A lock held past the busy timeout is `Unavailable`, not a generic failure;
/// reads go on meanwhile (WAL).
#[tokio::test]
async fn a_held_lock_is_unavailable_and_reads_go_on() {
    let db = TestDb::new();
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(50),
        ..SqliteConfig::default()
    };
    let store = SqliteStore::open(&db.path(), config).unwrap();
    UserRepository::insert(&store, &fixtures::user("user_1", "one@example.com"), &[])
        .await
        .unwrap();

    let blocker = db.raw();
    blocker
        .execute_batch("BEGIN EXCLUSIVE; DELETE FROM instance;")
        .unwrap();
    let write =
        UserRepository::insert(&store, &fixtures::user("user_2", "two@example.com"), &[]).await;
    assert!(
        matches!(write, Err(StoreError::Unavailable(_))),
        "got {write:?}"
    );
    assert!(
        UserRepository::get(&store, &UserId("user_1".into()))
            .await
            .unwrap()
            .is_some(),
        "reads are not blocked"
    );
    blocker.execute_batch("ROLLBACK").unwrap();

    UserRepository::insert(&store, &fixtures::user("user_2", "two@example.com"), &[])
        .await
        .unwrap();
    assert_eq!(
        UserRepository::count(&store, &UserQuery::default()).await,
        Ok(2)
    );
}

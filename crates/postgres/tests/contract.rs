//! The port contracts from `latch-testkit`, run against `PostgresStore` on the
//! machine's PostgreSQL (127.0.0.1:5432, user `postgres`), each test in a
//! database of its own that is dropped afterwards; and what only PostgreSQL
//! has: migrations shared by replicas, an unreachable server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_core::error::StoreError;
use latch_core::model::{Duration as Lock, UserId};
use latch_core::ports::{ClientRepository, InstanceStore, UserQuery, UserRepository};
use latch_postgres::{PostgresConfig, PostgresStore, schema_version};
use latch_testkit::fixtures::{self, at};
use tokio_postgres::NoTls;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A fresh database, dropped (even after a failed assertion) on drop.
struct TestDb {
    name: String,
}

impl TestDb {
    async fn new() -> Self {
        latch_testkit::services::ensure_services();
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!("latch_test_{}", u64::from_le_bytes(bytes));
        admin(&format!("CREATE DATABASE {name}")).await;
        Self { name }
    }

    fn config(&self) -> PostgresConfig {
        PostgresConfig {
            pool_size: 4,
            ..PostgresConfig::new(format!("{SERVER}/{}", self.name))
        }
    }

    async fn open(&self) -> Arc<PostgresStore> {
        Arc::new(PostgresStore::connect(&self.config()).await.unwrap())
    }

    async fn raw(&self) -> tokio_postgres::Client {
        connect(&format!("{SERVER}/{}", self.name)).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs outside any async context we could await in: a thread
        // with its own runtime does the work and is joined.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(admin(&sql));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database");
        }
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn admin(sql: &str) {
    connect(&format!("{SERVER}/postgres"))
        .await
        .batch_execute(sql)
        .await
        .unwrap();
}

// The port contracts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_store_contract() {
    let db = TestDb::new().await;
    latch_testkit::instance_store_contract(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_contract_with_two_replicas_worth_of_pools() {
    let db = TestDb::new().await;
    latch_testkit::outbox_contract(db.open().await, db.open().await).await;
    // Delivered and dead deliveries keep no payload.
    let raw = db.raw().await;
    let kept: i64 = raw
        .query_one(
            "SELECT count(*) FROM deliveries WHERE status <> 'pending' AND payload IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 0);
}

/// Two stores on one database, as two replicas hold them: the claims of
/// both never share a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_store_contract_with_two_replicas_worth_of_pools() {
    let db = TestDb::new().await;
    let store = db.open().await;
    latch_testkit::webhook_store_contract(latch_testkit::WebhookHandles {
        a: store.clone(),
        b: db.open().await,
        users: store.clone(),
        clients: store,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_contract() {
    let db = TestDb::new().await;
    latch_testkit::audit_log_contract(&*db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_store_contract() {
    let db = TestDb::new().await;
    latch_testkit::settings_store_contract(db.open().await, db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_store_contract() {
    let db = TestDb::new().await;
    let store = db.open().await;
    latch_testkit::operator_store_contract(&*store, &*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_first_grants_race_from_two_replicas_worth_of_pools() {
    let db = TestDb::new().await;
    let store = db.open().await;
    latch_testkit::operator_first_grant_race(&*store, &*db.open().await, &*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_refuses_changes() {
    let db = TestDb::new().await;
    latch_testkit::audit_log_contract(&*db.open().await).await;
    let refused = db
        .raw()
        .await
        .execute("UPDATE audit_log SET action = 'sign_in.succeeded'", &[])
        .await;
    assert!(
        format!("{:?}", refused.unwrap_err()).contains("append-only"),
        "an entry cannot be rewritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_repository_contract() {
    let db = TestDb::new().await;
    latch_testkit::user_repository_contract(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_repository_contract() {
    let db = TestDb::new().await;
    let store = db.open().await;
    latch_testkit::client_repository_contract(store.clone(), store).await;
}

#[tokio::test]
async fn user_repository_contract_with_a_single_connection() {
    let db = TestDb::new().await;
    let store = PostgresStore::connect(&PostgresConfig {
        pool_size: 1,
        ..db.config()
    })
    .await
    .unwrap();
    latch_testkit::user_repository_contract(Arc::new(store)).await;
}

// PostgreSQL specifics.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once() {
    let db = TestDb::new().await;
    let config = db.config();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let config = config.clone();
        tasks.spawn(async move { PostgresStore::connect(&config).await.map(drop) });
    }
    for result in tasks.join_all().await {
        assert_eq!(result, Ok(()));
    }
    let rows = db
        .raw()
        .await
        .query(
            "SELECT version FROM latch_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        versions,
        (1..=i64::from(schema_version())).collect::<Vec<_>>()
    );
    // Connecting again applies nothing and keeps the data.
    let store = db.open().await;
    store.get_or_insert("secret_key", "sk_1").await.unwrap();
    let store = db.open().await;
    assert_eq!(
        InstanceStore::get(&*store, "secret_key").await,
        Ok(Some("sk_1".to_owned()))
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = TestDb::new().await;
    drop(db.open().await);
    db.raw()
        .await
        .execute(
            "INSERT INTO latch_schema_migrations (version) VALUES ($1)",
            &[&(i64::from(schema_version()) + 1)],
        )
        .await
        .unwrap();
    assert!(matches!(
        PostgresStore::connect(&db.config()).await,
        Err(StoreError::Other(_))
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_timeout() {
    let config = PostgresConfig {
        connect_timeout: Duration::from_secs(2),
        ..PostgresConfig::new("postgres://postgres@127.0.0.1:1/postgres")
    };
    let started = Instant::now();
    let result = PostgresStore::connect(&config).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// A statement blocked past `statement_timeout` (here by a lock another
/// connection holds) is `Unavailable`, not a generic failure.
#[tokio::test]
async fn a_statement_past_its_timeout_is_unavailable() {
    let db = TestDb::new().await;
    let config = PostgresConfig {
        statement_timeout: Duration::from_millis(200),
        ..db.config()
    };
    let store = PostgresStore::connect(&config).await.unwrap();
    let mut blocker = db.raw().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE instance IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let result = store.get_or_insert("k", "v").await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    tx.rollback().await.unwrap();
    assert_eq!(store.get_or_insert("k", "v").await, Ok("v".to_owned()));
}

/// Two stores on one database, as two replicas would be, write at once:
/// nothing fails but lost compare-and-sets, exactly one of the racing
/// updates of one user wins, every failed attempt is counted, and both agree
/// on instance values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_write_concurrently() {
    let db = TestDb::new().await;
    let first = db.open().await;
    let second = db.open().await;
    let shared = fixtures::user("user_shared", "shared@example.com");
    UserRepository::insert(&*first, &shared, &[]).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32u64 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            fixtures::insert_numbered_session(&*store, i).await?;
            // Every task updates the shared user from the same read: one wins.
            let mut changed = shared.clone();
            changed.first_name = Some(format!("name {i}"));
            changed.updated_at = at(shared.updated_at.0 + 1 + i as i64);
            let won = match store.update(&changed, shared.updated_at, &[]).await {
                Ok(()) => true,
                Err(StoreError::Conflict) => false,
                Err(e) => return Err(e),
            };
            store
                .take_attempt(&shared.id, at(0), 1000, Lock::seconds(60))
                .await?;
            store
                .settle_attempt(&shared.id, true, at(0), 1000, Lock::seconds(60))
                .await?;
            store.get_or_insert("shared", &format!("v{i}")).await?;
            UserRepository::count(&*store, &UserQuery::default()).await?;
            Ok::<_, StoreError>(won)
        });
    }
    let results = tasks.join_all().await;
    let wins = results
        .iter()
        .map(|r| r.clone().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1, "one compare-and-set from the same read won");
    assert_eq!(
        UserRepository::count(&*first, &UserQuery::default()).await,
        Ok(33)
    );
    assert_eq!(second.count_sessions(&Default::default()).await, Ok(32));
    let failures: i64 = db
        .raw()
        .await
        .query_one(
            "SELECT failed_attempts FROM users WHERE id = $1",
            &[&"user_shared"],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 32, "every racing failure is counted");
    let value = InstanceStore::get(&*first, "shared").await.unwrap();
    assert!(value.is_some());
    assert_eq!(InstanceStore::get(&*second, "shared").await.unwrap(), value);
    assert!(
        UserRepository::get(&*second, &UserId("user_shared".into()))
            .await
            .unwrap()
            .unwrap()
            .first_name
            .is_some()
    );
}

// `latch copy`'s import.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_rows_of_every_type_read_back_with_the_digest_they_went_in_with() {
    use latch_postgres::import::OnConflict;
    use latch_sql::transfer::{ColumnType, TableDigest, Value};
    let db = TestDb::new().await;
    let store = db.open().await;
    db.raw()
        .await
        .batch_execute(
            "CREATE TABLE every_type (
                 id    TEXT PRIMARY KEY,
                 seq   BIGSERIAL NOT NULL,
                 big   BIGINT,
                 int   INTEGER,
                 small SMALLINT,
                 flag  BOOLEAN NOT NULL,
                 real  DOUBLE PRECISION,
                 doc   JSONB,
                 bytes BYTEA
             )",
        )
        .await
        .unwrap();
    let mut importer = store.importer().await.unwrap();
    let tables = importer.tables().await.unwrap();
    let table = tables.iter().find(|t| t.name == "every_type").unwrap();
    assert_eq!(table.primary_key, ["id"]);
    let seq = table.column("seq").unwrap();
    assert!(seq.may_be_omitted && seq.ty == Some(ColumnType::BigInt));
    assert_eq!(table.column("doc").unwrap().ty, Some(ColumnType::Jsonb));
    let columns: Vec<String> = ["id", "big", "int", "small", "flag", "real", "doc", "bytes"]
        .map(str::to_owned)
        .into();
    let row = |id: &str, flag: bool| {
        vec![
            Value::Text(id.to_owned()),
            Value::Integer(i64::MIN),
            Value::Integer(i64::from(i32::MAX)),
            Value::Integer(-7),
            Value::Boolean(flag),
            Value::Real(0.1),
            Value::Json(serde_json::json!({"z": [1, "two"], "a": null})),
            Value::Blob(vec![0, 1, 255]),
        ]
    };
    // "B" sorts before "a" bytewise, as SQLite orders text, whatever the
    // database's collation says.
    let rows = vec![
        row("a", true),
        row("B", false),
        vec![
            Value::Text("c".into()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Boolean(false),
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    ];
    let new = importer
        .insert(table, &columns, &rows, OnConflict::Skip)
        .await
        .unwrap();
    assert_eq!(new, 3);
    let again = importer
        .insert(table, &columns, &rows[..1], OnConflict::Skip)
        .await
        .unwrap();
    assert_eq!(again, 0, "a row already there is skipped");
    let mut expected = TableDigest::new();
    for r in [&rows[1], &rows[0], &rows[2]] {
        expected.add(r);
    }
    assert_eq!(
        importer.digest(table, &columns).await.unwrap(),
        expected.finish()
    );
    // A row written over is only for tables the migrations seed.
    let changed = vec![row("a", false)];
    importer
        .insert(table, &columns, &changed, OnConflict::Overwrite)
        .await
        .unwrap();
    let flag: bool = db
        .raw()
        .await
        .query_one("SELECT flag FROM every_type WHERE id = 'a'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!flag);

    db.raw()
        .await
        .batch_execute("INSERT INTO every_type (id, seq, flag) VALUES ('d', 41, true)")
        .await
        .unwrap();
    let moved = importer.advance_sequences().await.unwrap();
    assert!(moved.contains(&"every_type.seq".to_owned()), "{moved:?}");
    assert!(moved.contains(&"events.seq".to_owned()), "{moved:?}");
    let next: i64 = db
        .raw()
        .await
        .query_one(
            "INSERT INTO every_type (id, flag) VALUES ('e', true) RETURNING seq",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 42);
    assert_eq!(importer.count("every_type").await.unwrap(), 5);

    assert!(importer.markers().await.unwrap().is_empty());
    importer.mark_started("source-1", 10).await.unwrap();
    importer.mark_started("source-1", 20).await.unwrap();
    importer.mark_finished("source-1", 30).await.unwrap();
    let markers = importer.markers().await.unwrap();
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (
            markers[0].source.as_str(),
            markers[0].started_at,
            markers[0].finished_at
        ),
        ("source-1", 10, Some(30))
    );
}

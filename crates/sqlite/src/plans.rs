//! What SQLite makes of the adapter's statements: every statement the port
//! contracts run is planned without a temporary B-tree (an `IN` list, a
//! sort, an automatic index), each of which costs a page cache and its
//! allocations per execution, unless it is one of the few [`ALLOWED`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::pool::statement_log;
use crate::{SqliteConfig, SqliteStore};

/// Opcodes that build a temporary B-tree or sorter while a statement runs.
const TEMPORARY: [&str; 3] = ["OpenEphemeral", "SorterOpen", "OpenAutoindex"];

/// What a group of statements serves, and which statements are in it.
type Allowance = (&'static str, fn(&str) -> bool);

/// The statements that may build one, by what they serve: none of them runs
/// for a sign-in, a sign-up, a client read or a token.
const ALLOWED: [Allowance; 4] = [
    (
        "the user list's filters, search and totals (Backend API, dashboard)",
        |sql| {
            sql.starts_with("SELECT COUNT(*) FROM users WHERE")
                || (sql.contains(" FROM users WHERE ") && sql.ends_with("LIMIT ? OFFSET ?"))
        },
    ),
    ("the lists an operator reads", |sql| {
        [
            "SELECT id, kind, status, attempts, max_attempts, due_at, last_error",
            "SELECT m.event_id, ev.type, m.endpoint_id",
            "SELECT user_id, granted_at, granted_by FROM operators",
            "SELECT id, list, identifier, kind, created_at FROM access_list",
            "SELECT id, url, description, secret, event_types",
        ]
        .iter()
        .any(|start| sql.starts_with(start))
    }),
    (
        "the outbox's and the webhooks' batches: leases, retries, replays, purges",
        |sql| {
            [
                "UPDATE deliveries ",
                "DELETE FROM deliveries ",
                "UPDATE webhook_messages ",
                "INSERT INTO webhook_messages ",
            ]
            .iter()
            .any(|start| sql.starts_with(start))
        },
    ),
    (
        "a user deleted, a user's backup codes replaced, the first operator",
        |sql| {
            [
                "DELETE FROM users WHERE id = ?1",
                "DELETE FROM backup_codes WHERE user_id = ?1",
                "INSERT INTO operators ",
            ]
            .iter()
            .any(|start| sql.starts_with(start))
        },
    ),
];

/// The opcodes of `sql` that build a temporary structure, as planned on `conn`.
fn temporaries(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    // Planned as run: every parameter bound (to NULL; the plan is the same).
    let unbound = vec![rusqlite::types::Value::Null; explain.parameter_count()];
    let opcodes = explain
        .query_map(rusqlite::params_from_iter(unbound), |row| {
            row.get::<_, String>(1)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    opcodes
        .into_iter()
        .filter(|op| TEMPORARY.contains(&op.as_str()))
        .collect()
}

/// A new database file in a folder of its own (the contracts expect an
/// empty store).
fn fresh() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("latch.db"), SqliteConfig::default()).unwrap();
    (dir, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracts_statements_build_no_temporary_b_tree() {
    let log = statement_log::start();
    // What opening a file runs (the migrations): once, not per request.
    drop(fresh());
    let opening: BTreeSet<String> = log.lock().unwrap().drain(..).collect();
    let mut dirs = Vec::new();
    let mut open = || {
        let (dir, store) = fresh();
        dirs.push(dir);
        store
    };
    let (a, b) = (open(), open());
    latch_testkit::user_repository_contract(a).await;
    latch_testkit::client_repository_contract(b.clone(), b).await;
    let (a, b) = (open(), open());
    latch_testkit::counters_contract(a.clone(), a).await;
    latch_testkit::sign_in_store_contract(b).await;
    let (a, b) = (open(), open());
    latch_testkit::sign_in_steps_contract(&*a).await;
    latch_testkit::sign_up_store_contract(b).await;
    let (a, b) = (open(), open());
    latch_testkit::flow_kinds_apart_contract(a.clone(), a).await;
    latch_testkit::instance_store_contract(b).await;
    let (a, b) = (open(), open());
    latch_testkit::outbox_contract(a.clone(), a).await;
    latch_testkit::webhook_store_contract(latch_testkit::WebhookHandles {
        a: b.clone(),
        b: b.clone(),
        users: b.clone(),
        clients: b,
    })
    .await;
    let (a, b, c) = (open(), open(), open());
    latch_testkit::audit_log_contract(&*a).await;
    latch_testkit::settings_store_contract(b.clone(), b).await;
    latch_testkit::operator_store_contract(&*c, &*c).await;
    let (_dir, a) = fresh();
    latch_testkit::sign_up_steps_contract(&*a).await;

    let statements: BTreeSet<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|sql| !sql.trim_start().starts_with("--") && !opening.contains(*sql))
        .cloned()
        .collect();
    assert!(
        statements.len() > 50,
        "{} statements logged",
        statements.len()
    );
    let conn = rusqlite::Connection::open(dirs[0].path().join("latch.db")).unwrap();
    let mut offenders = Vec::new();
    let mut used = [false; ALLOWED.len()];
    for sql in &statements {
        let found = temporaries(&conn, sql);
        if found.is_empty() {
            continue;
        }
        match ALLOWED.iter().position(|(_, allows)| allows(sql)) {
            Some(i) => used[i] = true,
            None => offenders.push(format!("{found:?}: {sql}")),
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
    // Each allowance still names something (or it would hide the next one).
    for ((what, _), used) in ALLOWED.iter().zip(used) {
        assert!(used, "nothing builds a temporary B-tree for {what}");
    }
}

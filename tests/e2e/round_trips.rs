//! How many PostgreSQL statements and Redis commands one request costs, on
//! a replica whose statements are prepared and scripts loaded: the figures
//! the README's "Scaling out" section gives for sizing a deployment. The
//! test prints them and holds them to those figures.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::cluster::{Cluster, Shared};
use crate::private::{PrivatePostgres, PrivateRedis};
use crate::support::http;

/// Round trips of `request` as (PostgreSQL statements, Redis commands):
/// statements as pg_stat_statements counts the top-level ones, commands as
/// Redis's MONITOR shows those clients sent (not those a script ran). The
/// outbox's worker polls on its own schedule, and none of these requests
/// queues a delivery: statements on `deliveries` are not theirs. The
/// webhook worker, woken by the events a request stores, claims its
/// messages in a statement of its own (leasing them): not the request's
/// either; the request's own event write is counted, and so is the insert
/// of its audit entry, which the audit writer makes just after it (with
/// other requests' entries, under load). Each replica's poll reads
/// `settings_generation` and the secret keys' rows of `instance` once a
/// second, on no request's behalf (no measured request reads `instance`),
/// and the gauge of active sessions counts them every half minute (no
/// measured request counts sessions).
fn cost(cluster: &Cluster, redis_port: u16, request: impl FnOnce()) -> (u64, u64) {
    cluster.sql("SELECT pg_stat_statements_reset()");
    let mut monitor = TcpStream::connect(("127.0.0.1", redis_port)).unwrap();
    monitor.write_all(b"MONITOR\r\n").unwrap();
    let mut reader = BufReader::new(monitor.try_clone().unwrap());
    let mut ok = String::new();
    reader.read_line(&mut ok).unwrap();
    assert_eq!(ok.trim(), "+OK");
    request();
    monitor
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut commands = 0;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if !line.contains(" lua]") {
            commands += 1;
        }
        line.clear();
    }
    let statements: u64 = cluster
        .sql(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query NOT ILIKE '%pg_stat_statements%' \
             AND query NOT ILIKE '%deliveries%' \
             AND query NOT ILIKE '%lease_until%' \
             AND query NOT ILIKE '%settings_generation%' \
             AND query NOT ILIKE '%FROM instance WHERE key%' \
             AND query NOT ILIKE 'SELECT COUNT(*) FROM sessions%'",
        )
        .parse()
        .unwrap();
    (statements, commands)
}

fn native(addr: &str, path: &str, token: &str, form: &str) -> (u16, Option<String>, Value) {
    crate::binary::native(addr, path, token, form)
}

#[test]
fn round_trips_per_request_stay_as_documented() {
    let pg =
        PrivatePostgres::start_with(|_| "-c shared_preload_libraries=pg_stat_statements".into());
    let redis_server = PrivateRedis::start();
    let redis_port: u16 = redis_server
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let shared = Shared {
        postgres_port: pg.port,
        redis_url: redis_server.url(),
    };
    // Rate limits on (each counted limit is a Redis command: a sign-in that
    // makes its client counts the sign-in and the new client), high enough.
    let cluster = Cluster::start(
        &shared,
        1,
        &[
            ("LATCH_RATE_LIMITS__CREATE_CLIENT", "1000"),
            ("LATCH_RATE_LIMITS__CREATE_SIGN_IN", "1000"),
            ("LATCH_RATE_LIMITS__ATTEMPT", "1000"),
            ("LATCH_RATE_LIMITS__PREPARE", "1000"),
        ],
    );
    cluster.sql("CREATE EXTENSION pg_stat_statements");
    let addr = cluster.addr(0);
    let (status, body) = cluster.bapi(
        0,
        "POST",
        "/v1/users",
        r#"{"email_address":["rob@example.com"],"password":"round trip password"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let one_step = "strategy=password&identifier=rob%40example.com&password=round+trip+password";
    let two_step = |token: &mut String| {
        let (status, t, body) = native(
            &addr,
            "/v1/client/sign_ins",
            "",
            "identifier=rob%40example.com",
        );
        assert_eq!(status, 200, "{body}");
        let id = body["response"]["id"].as_str().unwrap().to_owned();
        *token = t.unwrap();
        id
    };
    // Warm up: every statement prepared, every script loaded.
    for _ in 0..2 {
        assert_eq!(native(&addr, "/v1/client/sign_ins", "", one_step).0, 200);
        let mut token = String::new();
        let id = two_step(&mut token);
        let (status, _, _) = native(
            &addr,
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &token,
            "strategy=password&password=round+trip+password",
        );
        assert_eq!(status, 200);
    }

    let mut session = (String::new(), String::new());
    let one_step_cost = cost(&cluster, redis_port, || {
        let (status, token, body) = native(&addr, "/v1/client/sign_ins", "", one_step);
        assert_eq!(status, 200, "{body}");
        session = (
            body["response"]["created_session_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            token.unwrap(),
        );
    });
    let mut token = String::new();
    let mut id = String::new();
    let create_cost = cost(&cluster, redis_port, || id = two_step(&mut token));
    let attempt_cost = cost(&cluster, redis_port, || {
        let (status, _, body) = native(
            &addr,
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &token,
            "strategy=password&password=round+trip+password",
        );
        assert_eq!(status, 200, "{body}");
    });
    let (sid, client_token) = session;
    let mint_cost = cost(&cluster, redis_port, || {
        let (status, _, body) = native(
            &addr,
            &format!("/v1/client/sessions/{sid}/tokens"),
            &client_token,
            "",
        );
        assert_eq!(status, 200, "{body}");
    });
    let client_cost = cost(&cluster, redis_port, || {
        let (status, _, body) = http(
            &addr,
            "GET",
            "/v1/client?_is_native=1",
            &[("authorization", &client_token)],
            "",
        );
        assert_eq!(status, 200, "{body}");
    });
    let table = [
        (
            "POST /v1/client/sign_ins (identifier + password)",
            one_step_cost,
            (11, 3),
        ),
        (
            "POST /v1/client/sign_ins (identifier only)",
            create_cost,
            (2, 3),
        ),
        (
            "POST .../attempt_first_factor (password)",
            attempt_cost,
            (12, 3),
        ),
        ("POST /v1/client/sessions/{id}/tokens", mint_cost, (1, 0)),
        ("GET /v1/client (signed in)", client_cost, (3, 0)),
    ];
    for (request, (pg, redis), _) in &table {
        println!("{request}: {pg} PostgreSQL statements, {redis} Redis commands");
    }
    for (request, measured, documented) in table {
        assert!(
            measured.0 <= documented.0 && measured.1 <= documented.1,
            "{request}: measured {measured:?} round trips, the README says {documented:?}"
        );
    }
}

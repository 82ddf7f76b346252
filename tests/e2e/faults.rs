//! Dependencies failing under a running cluster: Redis or PostgreSQL stopped
//! (their own private processes, so no other test is disturbed) and a
//! replica killed with SIGKILL mid-load.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{Cluster, Shared, psql_at};
use crate::private::{PrivatePostgres, PrivateRedis, wait_for};

/// An HTTP exchange that reports a refused or cut connection instead of
/// panicking: `None` when no answer came.
fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, Value)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_owned(), serde_json::from_str(body).ok()?))
}

/// `GET /readyz` on `addr`: its status and the part named `part`'s check.
fn readiness(addr: &str, part: &str) -> (u16, String) {
    let (status, _, body) = try_http(addr, "GET", "/readyz", &[], "").expect("an answer");
    (
        status,
        body["checks"][part].as_str().unwrap_or("").to_owned(),
    )
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

/// A one-step password sign-in on `addr`; the answer, and how long it took.
fn password_sign_in(addr: &str, email: &str) -> (Option<(u16, String, Value)>, Duration) {
    let started = Instant::now();
    let answer = try_http(
        addr,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &format!("strategy=password&identifier={email}&password=fault+tolerant+password"),
    );
    (answer, started.elapsed())
}

/// `POST /v1/client/sign_ins` with an identifier alone: a sign-in that must
/// be stored to go on.
fn identify(addr: &str, email: &str) -> (Option<(u16, String, Value)>, Duration) {
    let started = Instant::now();
    let answer = try_http(
        addr,
        "POST",
        "/v1/client/sign_ins?_is_native=1",
        &[
            ("authorization", ""),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &format!("identifier={email}"),
    );
    (answer, started.elapsed())
}

fn create_user(cluster: &Cluster, email: &str) -> (u16, Value) {
    cluster.bapi(
        0,
        "POST",
        "/v1/users",
        &format!(r#"{{"email_address":["{email}"],"password":"fault tolerant password"}}"#),
    )
}

/// The bound on an answer while a dependency is down: a 1 s store timeout
/// (the cluster's setting) and some slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

#[test]
fn with_redis_stopped_requests_get_503_quickly_leave_nothing_and_recover() {
    let mut redis = PrivateRedis::start();
    let shared = Shared {
        redis_url: redis.url(),
        ..Shared::machine()
    };
    let cluster = Cluster::start(&shared, 2, &[]);
    assert_eq!(create_user(&cluster, "ray@example.com").0, 200);
    let addr = cluster.addr(0);
    let (answer, _) = password_sign_in(&addr, "ray%40example.com");
    assert_eq!(answer.unwrap().0, 200);
    let clients = cluster.sql("SELECT count(*) FROM clients");
    assert_eq!(readiness(&addr, "redis"), (200, "ok".to_owned()));
    assert_eq!(readiness(&addr, "postgres"), (200, "ok".to_owned()));

    redis.down();
    for replica in 0..2 {
        let started = Instant::now();
        let ready = readiness(&cluster.addr(replica), "redis");
        assert_eq!(ready, (503, "unavailable".to_owned()), "replica {replica}");
        assert!(started.elapsed() < BOUND);
        let ready = readiness(&cluster.addr(replica), "postgres");
        assert_eq!(ready.1, "ok", "the part that works says so");
    }
    for replica in 0..2 {
        let (answer, took) = identify(&cluster.addr(replica), "ray%40example.com");
        let (status, _, body) = answer.expect("an answer, not a hang or a cut");
        assert_eq!(
            (status, error_code(&body)),
            (503, "service_unavailable"),
            "{body}"
        );
        assert!(took < BOUND, "answered in {took:?}");
    }
    assert_eq!(
        cluster.sql("SELECT count(*) FROM clients"),
        clients,
        "no client was left without its sign-in"
    );
    // What needs only PostgreSQL goes on: the Backend API, and a password
    // sign-in in one step, whose session is the only state it leaves.
    let (status, body) = cluster.bapi(1, "GET", "/v1/users?email_address=ray@example.com", "");
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(1)));
    let (answer, _) = password_sign_in(&addr, "ray%40example.com");
    assert_eq!(answer.unwrap().0, 200);

    redis.up();
    // Each replica reconnects on its own schedule: every one must be back
    // within the bound, whichever comes first.
    for replica in 0..2 {
        let addr = cluster.addr(replica);
        wait_for(
            Duration::from_secs(15),
            &format!("sign-ins work again on replica {replica}"),
            || {
                let (answer, _) = identify(&addr, "ray%40example.com");
                answer.is_some_and(|(status, _, _)| status == 200)
            },
        );
        assert_eq!(readiness(&addr, "redis"), (200, "ok".to_owned()));
    }
}

#[test]
fn with_postgres_stopped_requests_get_503_quickly_leave_nothing_and_recover() {
    let pg = PrivatePostgres::start();
    let shared = Shared {
        postgres_port: pg.port,
        ..Shared::machine()
    };
    let cluster = Cluster::start(&shared, 2, &[]);
    assert_eq!(create_user(&cluster, "pam@example.com").0, 200);
    let (answer, _) = password_sign_in(&cluster.addr(0), "pam%40example.com");
    let (status, head, body) = answer.unwrap();
    assert_eq!(status, 200, "{body}");
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap()
        .to_owned();
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mint = |replica: usize| {
        let started = Instant::now();
        let answer = try_http(
            &cluster.addr(replica),
            "POST",
            &format!("/v1/client/sessions/{session}/tokens?_is_native=1"),
            &[("authorization", &token)],
            "",
        );
        (answer, started.elapsed())
    };

    assert_eq!(
        readiness(&cluster.addr(0), "postgres"),
        (200, "ok".to_owned())
    );
    pg.down();
    for replica in 0..2 {
        let started = Instant::now();
        let ready = readiness(&cluster.addr(replica), "postgres");
        assert_eq!(ready, (503, "unavailable".to_owned()), "replica {replica}");
        assert!(started.elapsed() < BOUND);
    }
    let (answer, took) = password_sign_in(&cluster.addr(1), "pam%40example.com");
    let (status, _, body) = answer.expect("an answer");
    assert_eq!(
        (status, error_code(&body)),
        (503, "service_unavailable"),
        "{body}"
    );
    assert!(took < BOUND, "answered in {took:?}");
    let (answer, took) = mint(0);
    let (status, _, body) = answer.expect("an answer");
    assert_eq!(
        (status, error_code(&body)),
        (503, "service_unavailable"),
        "{body}"
    );
    assert!(took < BOUND, "answered in {took:?}");
    let started = Instant::now();
    let (status, body) = create_user(&cluster, "pia@example.com");
    assert_eq!(
        (status, error_code(&body)),
        (503, "service_unavailable"),
        "{body}"
    );
    assert!(started.elapsed() < BOUND);

    pg.up();
    // Each replica's pool reconnects on its own: every one must be back.
    for replica in 0..2 {
        wait_for(
            Duration::from_secs(15),
            &format!("tokens mint again on replica {replica}"),
            || mint(replica).0.is_some_and(|(status, _, _)| status == 200),
        );
        let ready = readiness(&cluster.addr(replica), "postgres");
        assert_eq!(ready, (200, "ok".to_owned()), "replica {replica}");
    }
    // The user refused during the outage does not exist, in whole or in part.
    assert_eq!(
        psql_at(
            pg.port,
            &cluster.database,
            "SELECT count(*) FROM email_addresses WHERE value = 'pia@example.com'"
        ),
        "0"
    );
    assert_eq!(create_user(&cluster, "pia@example.com").0, 200);
}

#[test]
fn a_replica_killed_mid_load_loses_nothing_it_acknowledged() {
    let mut cluster = Cluster::start(&Shared::machine(), 3, &[]);
    let addrs: Vec<String> = (0..3).map(|i| cluster.addr(i)).collect();
    let bearer = cluster.bearer.clone();
    let stop = std::sync::atomic::AtomicBool::new(false);
    // Each worker creates users and signs them in, spread over the replicas,
    // and keeps what was acknowledged: (user id, session id, client token).
    let acknowledged: Vec<(String, Option<(String, String)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (addrs, bearer, stop) = (&addrs, &bearer, &stop);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        let email = format!("w{w}n{n}@example.com");
                        let addr = &addrs[(w + n) % 3];
                        let created = try_http(
                            addr,
                            "POST",
                            "/v1/users",
                            &[
                                ("authorization", bearer),
                                ("content-type", "application/json"),
                            ],
                            &format!(r#"{{"email_address":["{email}"],"password":"fault tolerant password"}}"#),
                        );
                        let Some((200, _, user)) = created else { continue };
                        let id = user["id"].as_str().unwrap().to_owned();
                        let signed_in = password_sign_in(&addrs[(w + n + 1) % 3], &email.replace('@', "%40")).0;
                        let session = match signed_in {
                            Some((200, head, body)) => Some((
                                body["response"]["created_session_id"].as_str().unwrap().to_owned(),
                                head.lines()
                                    .find_map(|l| l.strip_prefix("authorization: "))
                                    .unwrap()
                                    .to_owned(),
                            )),
                            _ => None,
                        };
                        done.push((id, session));
                    }
                    done
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // SIGKILL: no shutdown, requests in flight are cut.
        let mut victim = cluster.replicas.remove(1);
        victim.child.kill().unwrap();
        victim.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let sessions = acknowledged.iter().filter(|(_, s)| s.is_some()).count();
    assert!(
        acknowledged.len() >= 8 && sessions >= 4,
        "the load made progress: {} users, {sessions} sessions",
        acknowledged.len()
    );
    for (i, (user, session)) in acknowledged.iter().enumerate() {
        let replica = i % 2;
        let (status, body) = cluster.bapi(replica, "GET", &format!("/v1/users/{user}"), "");
        assert_eq!(status, 200, "acknowledged user {user} is there: {body}");
        if let Some((session, token)) = session {
            let (status, _, body) = cluster.fapi(
                replica,
                &format!("/v1/client/sessions/{session}/tokens"),
                token,
                "",
            );
            assert_eq!(status, 200, "acknowledged session {session} mints: {body}");
        }
    }
    // Whatever was cut mid-request is whole or absent: every user has its
    // email address.
    assert_eq!(
        cluster.sql(
            "SELECT count(*) FROM users u WHERE NOT EXISTS \
             (SELECT 1 FROM email_addresses e WHERE e.user_id = u.id)"
        ),
        "0"
    );
}

//! Webhooks from the real binary: a replica killed with SIGKILL in the
//! middle of a burst loses no event of a change it acknowledged, and three
//! replicas deliver each event of a burst exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use latch_testkit::receiver::{Received, Receiver};
use serde_json::Value;

use crate::binary::{keys, native};
use crate::cluster::{Cluster, Shared};
use crate::support::{Server, http, latch};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A receiver served by its own runtime, for these blocking tests.
fn receiver() -> (tokio::runtime::Runtime, Receiver) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(Receiver::start());
    (runtime, receiver)
}

/// The endpoint, and a short request limit: a message the killed replica
/// held is sent again once its lease (twice the limit and 30 s) runs out.
fn endpoint_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LATCH_WEBHOOKS__ENDPOINTS__APP__URL", url.to_owned()),
        ("LATCH_WEBHOOKS__ENDPOINTS__APP__SECRET", SECRET.to_owned()),
        ("LATCH_WEBHOOKS__TIMEOUT_SECS", "2".to_owned()),
    ]
}

/// (type, data.id) of each request received, and its svix-id.
fn events(got: &[Received]) -> Vec<((String, String), String)> {
    got.iter()
        .map(|r| {
            let e = r.json();
            (
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["data"]["id"].as_str().unwrap().to_owned(),
                ),
                r.header("svix-id").to_owned(),
            )
        })
        .collect()
}

/// Waits (at most `within`) until `done` holds for what `receiver` got.
fn wait_until(
    receiver: &Receiver,
    within: Duration,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + within;
    loop {
        let got = receiver.received();
        if done(&got) || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request that may find the server gone: `None` then.
fn attempt<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    std::panic::catch_unwind(f).ok()
}

#[test]
fn a_replica_killed_mid_burst_loses_no_event_of_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, receiver) = receiver();
    let env = endpoint_env(&receiver.url());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, sk) = keys(dir.path(), &env_refs);
    let bearer = format!("Bearer {sk}");
    let start = || {
        let mut cmd = latch(dir.path());
        cmd.envs(env_refs.iter().copied());
        Server::start(cmd)
    };
    let mut server = start();
    let addr = server.addr();
    let pid = server.child.id();
    // The burst runs until the server dies under it, 1.5 s in.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    });
    let mut acknowledged: BTreeSet<(String, String)> = BTreeSet::new();
    for i in 0.. {
        let email = format!("burst{i}@example.com");
        // Every fourth user gets a password and signs in (a password costs
        // a hash; the others make the burst dense).
        let signs_in = i % 4 == 0;
        let password = if signs_in {
            r#","password":"a burst password""#
        } else {
            ""
        };
        let json = format!(r#"{{"email_address":["{email}"]{password}}}"#);
        let (addr2, bearer2) = (addr.clone(), bearer.clone());
        let Some((status, _, body)) = attempt(move || {
            http(
                &addr2,
                "POST",
                "/v1/users",
                &[
                    ("authorization", &bearer2),
                    ("content-type", "application/json"),
                ],
                &json,
            )
        }) else {
            break;
        };
        if status != 200 {
            break;
        }
        let user: Value = serde_json::from_str(&body).unwrap();
        acknowledged.insert(("user.created".into(), user["id"].as_str().unwrap().into()));
        if !signs_in {
            continue;
        }
        let addr2 = addr.clone();
        let form = format!(
            "strategy=password&identifier={}&password=a+burst+password",
            email.replace('@', "%40")
        );
        let Some((status, _, body)) =
            attempt(move || native(&addr2, "/v1/client/sign_ins", "", &form))
        else {
            break;
        };
        if status != 200 {
            break;
        }
        let session = body["response"]["created_session_id"].as_str().unwrap();
        acknowledged.insert(("session.created".into(), session.into()));
    }
    killer.join().unwrap();
    let _ = server.child.wait();
    assert!(acknowledged.len() >= 4, "the burst ran: {acknowledged:?}");

    let _restarted = start();
    // The lease is 34 s; the wait leaves room for a slow machine.
    let got = wait_until(&receiver, Duration::from_secs(90), |got| {
        let seen: BTreeSet<_> = events(got).into_iter().map(|(e, _)| e).collect();
        acknowledged.is_subset(&seen)
    });
    let received = events(&got);
    let seen: BTreeSet<_> = received.iter().map(|(e, _)| e.clone()).collect();
    let missing: Vec<_> = acknowledged.difference(&seen).collect();
    assert!(missing.is_empty(), "events lost: {missing:?}");
    // A repeat (a delivery whose outcome the kill lost) has its event's svix-id.
    let mut ids: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (event, id) in received {
        ids.entry(event).or_default().insert(id);
    }
    assert!(
        ids.values().all(|set| set.len() == 1),
        "one svix-id per event: {ids:?}"
    );
    println!(
        "{} changes acknowledged before SIGKILL, {} requests received, all delivered",
        acknowledged.len(),
        got.len()
    );
}

#[test]
fn three_replicas_deliver_each_event_of_a_burst_exactly_once() {
    let (_runtime, receiver) = receiver();
    let env = endpoint_env(&receiver.url());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start(&Shared::machine(), 3, &env_refs);
    const USERS: usize = 500;
    // 500 users made and 500 renamed, spread over the replicas by 4 callers:
    // 1,000 events.
    std::thread::scope(|scope| {
        for caller in 0..4 {
            let cluster = &cluster;
            scope.spawn(move || {
                for i in (caller..USERS).step_by(4) {
                    let (status, body) = cluster.bapi(
                        i,
                        "POST",
                        "/v1/users",
                        &format!(r#"{{"email_address":["many{i}@example.com"]}}"#),
                    );
                    assert_eq!(status, 200, "{body}");
                    let id = body["id"].as_str().unwrap();
                    let (status, body) = cluster.bapi(
                        i + 1,
                        "PATCH",
                        &format!("/v1/users/{id}"),
                        r#"{"first_name":"Renamed"}"#,
                    );
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    wait_until(&receiver, Duration::from_secs(120), |got| {
        got.len() >= 2 * USERS
    });
    // Anything sent twice would arrive by now too.
    std::thread::sleep(Duration::from_secs(2));
    let got = receiver.received();
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("svix-id")).collect();
    assert_eq!(ids.len(), 2 * USERS, "every event delivered");
    assert_eq!(got.len(), 2 * USERS, "and each once");
    let pending = cluster.sql("SELECT count(*) FROM webhook_messages WHERE status <> 'delivered'");
    assert_eq!(pending, "0");
    println!("1,000 events over 3 replicas: each delivered once");
}

/// The audit entries of `action` (newest first) on the cluster.
fn audit(cluster: &Cluster, action: &str) -> Vec<Value> {
    let (status, body) = cluster.bapi(0, "GET", &format!("/v1/audit_log?action={action}"), "");
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[test]
fn every_kind_of_audit_entry_is_recorded_on_postgresql() {
    use latch_core::model::{Timestamp, TotpSecret, step_at};
    const TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let cluster = Cluster::start(
        &Shared::machine(),
        1,
        &[
            ("LATCH_RATE_LIMITS__CREATE_SIGN_IN", "20"),
            ("LATCH_SIGN_IN__LOCKOUT_ATTEMPTS", "2"),
        ],
    );
    let (status, body) = cluster.bapi(
        0,
        "POST",
        "/v1/users",
        r#"{"email_address":["pg@example.com"],"password":"a postgres password"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let user = body["id"].as_str().unwrap().to_owned();
    let sign_in = |password: &str| {
        cluster.fapi(
            0,
            "/v1/client/sign_ins",
            "",
            &format!("strategy=password&identifier=pg%40example.com&password={password}"),
        )
    };
    assert_eq!(sign_in("wrong+guess").0, 422);
    assert_eq!(sign_in("a+postgres+password").0, 200);
    cluster.bapi(
        0,
        "PATCH",
        &format!("/v1/users/{user}"),
        &format!(r#"{{"totp_secret":"{TOTP}"}}"#),
    );
    // Second factor: a wrong code, then the right one.
    let (_, token, body) = sign_in("a+postgres+password");
    let (token, id) = (
        token.unwrap(),
        body["response"]["id"].as_str().unwrap().to_owned(),
    );
    let second = |code: &str| {
        cluster.fapi(
            0,
            &format!("/v1/client/sign_ins/{id}/attempt_second_factor"),
            &token,
            &format!("strategy=totp&code={code}"),
        )
    };
    second("000000");
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let code = TotpSecret::parse_base32(TOTP)
        .unwrap()
        .code_at_step(step_at(now));
    assert_eq!(second(&code).0, 200);
    cluster.bapi(0, "DELETE", &format!("/v1/users/{user}/totp"), "");
    cluster.bapi(
        0,
        "PATCH",
        &format!("/v1/users/{user}"),
        r#"{"password":"another postgres password"}"#,
    );
    for path in ["lock", "unlock", "ban", "unban"] {
        let (status, body) = cluster.bapi(0, "POST", &format!("/v1/users/{user}/{path}"), "");
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..2 {
        sign_in("wrong+again");
    }
    for _ in 0..25 {
        cluster.fapi(0, "/v1/client/sign_ins", "", "identifier=pg%40example.com");
    }
    for action in [
        "sign_in.failed",
        "sign_in.succeeded",
        "second_factor.added",
        "second_factor.failed",
        "second_factor.passed",
        "second_factor.removed",
        "password.changed",
        "user.locked",
        "user.unlocked",
        "user.banned",
        "user.unbanned",
        "session.revoked",
        "rate_limit.hit",
        "backend.write",
    ] {
        let found = audit(&cluster, action);
        assert!(!found.is_empty(), "no {action} entry");
        if action != "rate_limit.hit" {
            assert!(
                found.iter().any(|e| e["user_id"] == user.as_str()),
                "{action}: {found:?}"
            );
        }
    }
    let locked = audit(&cluster, "user.locked");
    assert!(
        locked
            .iter()
            .any(|e| e["detail"]["reason"] == "failed_attempts"),
        "{locked:?}"
    );
    let everything =
        cluster.sql("SELECT string_agg(detail || coalesce(user_agent, ''), ' ') FROM audit_log");
    for secret in ["postgres password", "postgres+password", TOTP, &code] {
        assert!(!everything.contains(secret), "{secret} is in the audit log");
    }
}

#[test]
fn operators_list_and_replay_messages_from_the_command_line() {
    use crate::support::run;
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, receiver) = receiver();
    receiver.answer(500);
    let env = endpoint_env(&receiver.url());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, sk) = keys(dir.path(), &env_refs);
    let command = || {
        let mut cmd = latch(dir.path());
        cmd.envs(env_refs.iter().copied());
        cmd
    };
    let mut server = Server::start(command());
    let (status, _, body) = http(
        &server.addr(),
        "POST",
        "/v1/users",
        &[
            ("authorization", &format!("Bearer {sk}")),
            ("content-type", "application/json"),
        ],
        r#"{"email_address":["cli@example.com"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        wait_until(&receiver, Duration::from_secs(10), |g| !g.is_empty()).len(),
        1
    );
    server.terminate(Duration::from_secs(10));

    let out = run(command().args(["webhooks", "list", "--secrets"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("ep_config_app"), "{listing}");
    assert!(listing.contains(SECRET), "{listing}");
    assert!(
        listing.contains("user.created\tpending\t1 attempts"),
        "{listing}"
    );
    assert!(listing.contains("the endpoint answered 500"), "{listing}");

    let event = listing
        .lines()
        .find(|l| l.contains("user.created"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = run(command().args([
        "webhooks",
        "replay",
        "--endpoint",
        "ep_config_app",
        "--event",
        &event,
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pending"));
    let out = run(command().args([
        "webhooks",
        "replay",
        "--endpoint",
        "ep_none",
        "--since",
        "0",
    ]));
    assert!(!out.status.success(), "an unknown endpoint is refused");

    // The next server sends the replayed message at once.
    receiver.answer(204);
    let _server = Server::start(command());
    let got = wait_until(&receiver, Duration::from_secs(15), |g| g.len() >= 2);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].header("svix-id"), event);
}

#[test]
fn a_replica_killed_mid_delivery_leaves_its_message_to_another_after_the_lease() {
    let (_runtime, receiver) = receiver();
    receiver.answer(0); // the first request never gets an answer
    let env = endpoint_env(&receiver.url());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cluster = Cluster::start(&Shared::machine(), 1, &env_refs);
    let (status, body) = cluster.bapi(
        0,
        "POST",
        "/v1/users",
        r#"{"email_address":["midway@example.com"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let first = wait_until(&receiver, Duration::from_secs(10), |g| !g.is_empty());
    assert_eq!(first.len(), 1, "the replica is sending");
    // Killed while its request waits for an answer: nothing is recorded.
    cluster.replicas[0].child.kill().unwrap();
    let _ = cluster.replicas[0].child.wait();
    let leased = cluster.sql(
        "SELECT status || ' ' || attempts || ' ' || (lease_until IS NOT NULL) FROM webhook_messages",
    );
    assert_eq!(
        leased, "pending 1 true",
        "held under the dead replica's lease"
    );
    receiver.answer(204);
    let started = Instant::now();
    let _other = cluster.spawn();
    let got = wait_until(&receiver, Duration::from_secs(90), |g| g.len() >= 2);
    assert_eq!(got.len(), 2, "sent again once the lease ran out");
    assert_eq!(
        got[1].header("svix-id"),
        got[0].header("svix-id"),
        "the same svix-id: receivers drop the repeat"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.sql("SELECT status FROM webhook_messages") != "delivered" {
        assert!(Instant::now() < deadline, "the delivery is recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "resent by the other replica {:.1} s after it started",
        started.elapsed().as_secs_f64()
    );
}

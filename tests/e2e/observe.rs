//! What operators see of a running binary: `/metrics` scraped and parsed
//! after a run of sign-ins, `/metrics` on a listener of its own, request
//! ids, and a debug log of a whole run that holds no password, code, token
//! or key.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::binary::{code_receiver, create_user, keys, native};
use crate::support::{Server, http, latch};

/// One sample of the exposition: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text format strictly: every line is a comment or a
/// sample whose value reads as a number.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels = BTreeMap::new();
                // Label values Latch writes hold no `,` or `"`.
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("{line}"));
                    labels.insert(k.to_owned(), v.to_owned());
                }
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "{line}"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The sum of `name`'s samples having every label of `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn scrape(addr: &str) -> Vec<Sample> {
    let (status, head, body) = http(addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse_exposition(&body)
}

/// The code sender's settings: codes posted to `url`, signed with
/// [`CODES_SECRET`].
fn http_codes(url: &str) -> [(&'static str, &str); 3] {
    [
        ("LATCH_CODES__SENDER", "http"),
        ("LATCH_CODES__HTTP_URL", url),
        ("LATCH_CODES__HTTP_SECRET", CODES_SECRET),
    ]
}

const CODES_SECRET: &str = "a shared secret of some length";

#[test]
fn metrics_scraped_after_a_run_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = code_receiver();
    let [sender, to, secret] = http_codes(&url);
    // Four sign-ins per 10 s: the fifth is refused.
    let env = [
        sender,
        to,
        secret,
        ("LATCH_RATE_LIMITS__CREATE_SIGN_IN", "4"),
    ];
    let (_, sk) = keys(dir.path(), &env);
    let mut cmd = latch(dir.path());
    cmd.envs(env);
    let server = Server::start(cmd);
    let addr = server.addr();
    let bearer = format!("Bearer {sk}");
    create_user(
        &addr,
        &bearer,
        r#"{"email_address":["mia@example.com"],"phone_number":["+14155552671"],"password":"mia's long password"}"#,
    );
    let good = "strategy=password&identifier=mia%40example.com&password=mia%27s+long+password";
    let (status, _, body) = native(&addr, "/v1/client/sign_ins", "", good);
    assert_eq!(
        (status, &body["response"]["status"]),
        (200, &Value::from("complete"))
    );
    let (status, _, _) = native(
        &addr,
        "/v1/client/sign_ins",
        "",
        "strategy=email_code&identifier=mia%40example.com",
    );
    assert_eq!(status, 200);
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("the code was sent");
    // Not one of the test numbers (555-0100 to 555-0199), which get no SMS.
    let (status, _, body) = native(
        &addr,
        "/v1/client/sign_ins",
        "",
        "strategy=phone_code&identifier=%2B14155552671",
    );
    assert_eq!(status, 200, "{body}");
    received
        .recv_timeout(Duration::from_secs(10))
        .expect("the SMS code was sent");
    let bad = "strategy=password&identifier=mia%40example.com&password=wrong";
    let (status, _, _) = native(&addr, "/v1/client/sign_ins", "", bad);
    assert_eq!(status, 422);
    let (status, _, _) = native(&addr, "/v1/client/sign_ins", "", bad);
    assert_eq!(status, 429, "the sign-in limit");

    // The delivery is counted once its outcome is recorded.
    let mut samples = scrape(&addr);
    for _ in 0..50 {
        if total(
            &samples,
            "latch_code_deliveries_total",
            &[("outcome", "sent")],
        ) >= 2.0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        samples = scrape(&addr);
    }
    let sign_ins = [("route", "/v1/client/sign_ins"), ("method", "POST")];
    assert_eq!(
        total(
            &samples,
            "latch_http_requests_total",
            &[sign_ins[0], sign_ins[1], ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        total(
            &samples,
            "latch_http_requests_total",
            &[sign_ins[0], ("status", "429")]
        ),
        1.0
    );
    assert!(
        total(
            &samples,
            "latch_http_request_duration_seconds_count",
            &[sign_ins[0]]
        ) >= 4.0
    );
    assert!(
        samples
            .iter()
            .any(|s| s.name == "latch_http_request_duration_seconds_bucket"
                && s.labels.get("le").map(String::as_str) == Some("+Inf")),
        "latencies are histograms"
    );
    let step = |strategy: &str, outcome: &str| {
        total(
            &samples,
            "latch_flow_steps_total",
            &[
                ("flow", "sign_in"),
                ("step", "create_sign_in"),
                ("strategy", strategy),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(step("password", "complete"), 1.0);
    assert_eq!(step("password", "form_password_incorrect"), 1.0);
    assert_eq!(step("email_code", "needs_first_factor"), 1.0);
    assert_eq!(step("phone_code", "needs_first_factor"), 1.0);
    assert_eq!(
        total(
            &samples,
            "latch_rate_limit_refusals_total",
            &[("limit", "create_sign_in")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            "latch_code_deliveries_total",
            &[("kind", "email"), ("outcome", "sent")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            "latch_code_deliveries_total",
            &[("kind", "sms"), ("outcome", "sent")]
        ),
        1.0,
        "each code under its own channel"
    );
    assert!(total(&samples, "latch_password_hash_wait_seconds_count", &[]) >= 3.0);
    assert!(
        total(
            &samples,
            "latch_store_call_seconds_count",
            &[("store", "sqlite"), ("port", "users")]
        ) >= 1.0
    );
    // The writer's batches: every write counted, never more transactions.
    let writes = total(&samples, "latch_sqlite_writes_total", &[]);
    let transactions = total(&samples, "latch_sqlite_write_transactions_total", &[]);
    assert!(writes >= 3.0, "{writes} writes");
    assert!(
        (1.0..=writes).contains(&transactions),
        "{transactions} transactions for {writes} writes"
    );
    assert!(total(&samples, "latch_sqlite_writer_busy_seconds_sum", &[]) > 0.0);
    assert_eq!(total(&samples, "latch_settings_version", &[]), 1.0);
    // Read at start, before the sign-in: the gauge is there.
    assert!(samples.iter().any(|s| s.name == "latch_active_sessions"));
    // No label carries what a client sent as a path: routes are patterns.
    assert!(
        samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .all(|route| !route.contains("sia_") && !route.contains("sess_")),
    );
}

/// Starts `serve` with `env`; the main and the metrics listeners' addresses.
fn serve_with_metrics_listener(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    let mut child = latch(dir)
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut main, mut own) = (None, None);
    for line in lines.map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("latch listening on http://") {
            main = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("latch metrics listening on http://") {
            own = Some(url.to_owned());
        }
        if main.is_some() && own.is_some() {
            break;
        }
    }
    (child, main.unwrap(), own.unwrap())
}

#[test]
fn metrics_move_to_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, main, own) =
        serve_with_metrics_listener(dir.path(), &[("LATCH_METRICS__LISTEN", "127.0.0.1:0")]);
    let (status, _, _) = http(&main, "GET", "/metrics", &[], "");
    assert_eq!(status, 404, "not beside the API");
    let (status, _, _) = http(&main, "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    let samples = scrape(&own);
    assert_eq!(
        total(
            &samples,
            "latch_http_requests_total",
            &[("route", "/healthz")]
        ),
        1.0
    );
    let (status, _, _) = http(&own, "GET", "/v1/environment", &[], "");
    assert_eq!(status, 404, "the metrics listener serves nothing else");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_debug_log_of_a_whole_run_names_each_request_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = code_receiver();
    let env = http_codes(&url);
    let (_, sk) = keys(dir.path(), &env);
    let mut cmd = latch(dir.path());
    cmd.envs(env)
        .env("LATCH_LOG__LEVEL", "debug")
        .env("LATCH_LOG__FORMAT", "json");
    let mut server = Server::start(cmd);
    let addr = server.addr();
    let bearer = format!("Bearer {sk}");
    let password = "Zebra-Quantum-Lantern-42";
    create_user(
        &addr,
        &bearer,
        &format!(r#"{{"email_address":["lee@example.com"],"password":"{password}"}}"#),
    );
    let form = format!("strategy=password&identifier=lee%40example.com&password={password}");
    let (status, token, body) = native(&addr, "/v1/client/sign_ins", "", &form);
    assert_eq!(status, 200, "{body}");
    let token = token.unwrap();
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, head, jwt) = http(
        &addr,
        "POST",
        &format!("/v1/client/sessions/{session}/tokens?_is_native=1"),
        &[("authorization", &token), ("x-request-id", "edge-4711")],
        "",
    );
    assert_eq!(status, 200);
    let request_id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("every answer names its request")
        .to_owned();
    let jwt: Value = serde_json::from_str(&jwt).unwrap();
    let jwt = jwt["jwt"].as_str().unwrap().to_owned();
    let (status, _, body) = native(
        &addr,
        "/v1/client/sign_ins",
        "",
        "strategy=email_code&identifier=lee%40example.com",
    );
    assert_eq!(status, 200, "{body}");
    let code = received.recv_timeout(Duration::from_secs(10)).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // A wrong password, and an unknown route: errors are logged too.
    let wrong = "strategy=password&identifier=lee%40example.com&password=Wrong-Horse-Battery";
    assert_eq!(native(&addr, "/v1/client/sign_ins", "", wrong).0, 422);
    assert_eq!(http(&addr, "GET", "/v1/nowhere", &[], "").0, 404);

    assert!(server.terminate(Duration::from_secs(15)).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let secrets = [
        ("password", password),
        ("wrong password", "Wrong-Horse-Battery"),
        ("client token", token.as_str()),
        ("session token", jwt.as_str()),
        ("one-time code", code.as_str()),
        ("secret key", sk.as_str()),
        ("code sender secret", CODES_SECRET),
    ];
    let mut requests = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        for (what, secret) in secrets {
            assert!(!line.contains(secret), "the {what} is in the log: {line}");
        }
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if entry["fields"]["message"] == "request" {
            requests.push(entry);
        }
    }
    let minted = requests
        .iter()
        .find(|e| e["span"]["id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("the request {request_id} is logged: {requests:?}"));
    let fields = &minted["fields"];
    assert_eq!(fields["route"], "/v1/client/sessions/{id}/tokens");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["ip"], "127.0.0.1");
    assert!(fields["ms"].as_f64().is_some(), "{minted}");
    assert_eq!(
        minted["span"]["upstream"], "edge-4711",
        "a proxy's id beside ours"
    );
    assert!(
        requests
            .iter()
            .any(|e| e["fields"]["route"] == "unmatched" && e["fields"]["status"] == 404)
    );
}

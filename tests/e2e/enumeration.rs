//! Enumeration protection against the real binary, with the real argon2
//! parameters: a wrong password for an unknown identifier takes as long as
//! one for a known account, judged by a two-sample Kolmogorov–Smirnov test.

use std::time::{Duration, Instant};

use crate::binary::{create_user, keys};
use crate::support::{Server, http, latch};

/// Largest distance between the two samples' empirical distributions.
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

#[test]
fn the_statistics_tell_apart_what_differs_and_not_what_does_not() {
    let same: Vec<f64> = (0..40).map(|i| 25.0 + f64::from(i % 7)).collect();
    assert!(ks_statistic(&same, &same) < 1e-9);
    let slower: Vec<f64> = same.iter().map(|x| x + 20.0).collect();
    assert!((ks_statistic(&same, &slower) - 1.0).abs() < 1e-9);
}

#[test]
fn a_wrong_password_for_an_unknown_identifier_takes_as_long_as_for_a_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("LATCH_SIGN_IN__ENUMERATION_PROTECTION", "true"),
        // High enough that the known account never locks during the test,
        // while every attempt is still counted.
        ("LATCH_SIGN_IN__LOCKOUT_ATTEMPTS", "1000"),
    ];
    let (_, sk) = keys(dir.path(), &env);
    let mut cmd = latch(dir.path());
    cmd.envs(env);
    let server = Server::start(cmd);
    let addr = server.addr();
    create_user(
        &addr,
        &format!("Bearer {sk}"),
        r#"{"email_address":["kai@example.com"],"password":"kai's real password"}"#,
    );
    let attempt = |email: &str| {
        let started = Instant::now();
        let (status, _, body) = http(
            &addr,
            "POST",
            "/v1/client/sign_ins?_is_native=1",
            &[
                ("authorization", ""),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &format!("strategy=password&identifier={email}&password=a+wrong+guess"),
        );
        let took = started.elapsed();
        assert_eq!(status, 422, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errors"][0]["code"], "form_password_incorrect");
        took
    };
    // Warm up both paths (the stand-in's digest is made on first use).
    for _ in 0..3 {
        attempt("kai%40example.com");
        attempt("nobody%40example.com");
    }
    const N: usize = 40;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..N {
        // Interleaved, alternating which goes first, so drift hits both.
        let pair = if i % 2 == 0 {
            let k = attempt("kai%40example.com");
            (k, attempt(&format!("nobody{i}%40example.com")))
        } else {
            let u = attempt(&format!("nobody{i}%40example.com"));
            (attempt("kai%40example.com"), u)
        };
        known.push(pair.0.as_secs_f64() * 1000.0);
        unknown.push(pair.1.as_secs_f64() * 1000.0);
    }
    let d = ks_statistic(&known, &unknown);
    // The critical value at a 0.1 % significance level for two samples of N.
    let critical = 1.949 * ((2 * N) as f64 / (N * N) as f64).sqrt();
    println!(
        "known median {:.2} ms, unknown median {:.2} ms, KS D = {d:.3} (critical {critical:.3})",
        median(&known),
        median(&unknown)
    );
    assert!(
        d < critical,
        "the timings differ: D = {d:.3} >= {critical:.3}; known {known:?}, unknown {unknown:?}"
    );
    assert!(median(&known) > Duration::from_millis(1).as_secs_f64() * 1000.0);
}

/// `value` with what must differ between a real account's answer and a
/// stand-in's made comparable: ids become their prefix and length, times a
/// placeholder (this server's clock moves), the typed identifier too; trace
/// ids go. Everything else must be equal.
fn comparable(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, v) in map {
                if key == "clerk_trace_id" {
                    continue;
                }
                let v = match v {
                    Value::String(id) if key == "id" || key.ends_with("_id") => {
                        let prefix = id.split_once('_').map_or("", |(p, _)| p);
                        Value::String(format!("{prefix}_ ({} chars)", id.len()))
                    }
                    Value::Number(_) if key.ends_with("_at") => Value::String("a time".into()),
                    Value::String(_) if key == "identifier" => Value::String("typed".into()),
                    other => comparable(other),
                };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

/// One Frontend API call in native mode: (status, client token, body).
fn fapi(addr: &str, path: &str, token: &str, form: &str) -> (u16, String, serde_json::Value) {
    let (status, head, body) = http(
        addr,
        "POST",
        &format!("{path}?_is_native=1"),
        &[
            ("authorization", token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        form,
    );
    let token = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| token.to_owned());
    (status, token, serde_json::from_str(&body).unwrap())
}

#[test]
fn a_real_account_and_a_stand_in_read_alike_over_http_until_the_first_factor() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("LATCH_SIGN_IN__ENUMERATION_PROTECTION", "true")];
    let (_, sk) = keys(dir.path(), &env);
    let mut cmd = latch(dir.path());
    cmd.envs(env);
    let server = Server::start(cmd);
    let addr = server.addr();
    // A name, a phone, two emails, a username, and no password.
    create_user(
        &addr,
        &format!("Bearer {sk}"),
        r#"{"first_name":"Kai","last_name":"Real","email_address":["kai.work@example.com","kai.real@example.com"],"phone_number":["+15550001111"],"username":"kaireal"}"#,
    );
    // Each stand-in's identifier masks as the real one does.
    for (real, stand_in, code) in [
        (
            "kai.real%40example.com",
            "kai.fool%40example.com",
            Some("email_code"),
        ),
        ("%2B15550001111", "%2B15550021111", Some("phone_code")),
        ("kaireal", "kaifool", None),
    ] {
        let mut steps = Vec::new();
        for identifier in [real, stand_in] {
            let mut answers = Vec::new();
            let (status, token, created) = fapi(
                &addr,
                "/v1/client/sign_ins",
                "",
                &format!("identifier={identifier}"),
            );
            assert_eq!(status, 200, "{created}");
            let id = created["response"]["id"].as_str().unwrap().to_owned();
            let step = |name: &str| format!("/v1/client/sign_ins/{id}/{name}");
            answers.push(("create", status, created.clone()));
            if let Some(strategy) = code {
                let factor = created["response"]["supported_first_factors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["strategy"] == strategy)
                    .unwrap()
                    .clone();
                let (param, target) = ["email_address_id", "phone_number_id"]
                    .into_iter()
                    .find_map(|p| Some((p, factor[p].as_str()?.to_owned())))
                    .unwrap();
                let (s, _, b) = fapi(
                    &addr,
                    &step("prepare_first_factor"),
                    &token,
                    &format!("strategy={strategy}&{param}={target}"),
                );
                answers.push(("prepare", s, b));
                let (s, _, b) = fapi(
                    &addr,
                    &step("attempt_first_factor"),
                    &token,
                    &format!("strategy={strategy}&code=000000"),
                );
                answers.push(("wrong code", s, b));
            }
            let (s, _, b) = fapi(
                &addr,
                &step("attempt_first_factor"),
                &token,
                "strategy=password&password=a+wrong+guess",
            );
            answers.push(("wrong password", s, b));
            let (s, _, b) = fapi(
                &addr,
                "/v1/client/sign_ins",
                "",
                &format!("strategy=password&identifier={identifier}&password=a+wrong+guess"),
            );
            answers.push(("one-call wrong password", s, b));
            steps.push(answers);
        }
        let (real_answers, stand_in_answers) = (&steps[0], &steps[1]);
        assert_eq!(
            real_answers[0].2["response"]["user_data"]["first_name"],
            serde_json::Value::Null
        );
        for ((name, rs, rb), (_, ss, sb)) in real_answers.iter().zip(stand_in_answers) {
            assert_eq!(
                (rs, comparable(rb)),
                (ss, comparable(sb)),
                "{real}, {name}\nreal:     {rb}\nstand-in: {sb}"
            );
        }
        let last = real_answers.last().unwrap();
        assert_eq!(last.1, 422, "{}", last.2);
        assert_eq!(last.2["errors"][0]["code"], "form_password_incorrect");
    }
}

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

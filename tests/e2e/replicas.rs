//! Three real replicas sharing PostgreSQL and Redis: any replica serves any
//! step, and every count that guards an account (wrong codes, lockout, rate
//! limits) is one count however the requests are spread.

use std::time::Duration;

use serde_json::Value;

use crate::binary::code_receiver;
use crate::cluster::{Cluster, Shared};

const PASSWORD: &str = "a replica's password";
const PASSWORD_FORM: &str = "a+replica%27s+password";

fn create_user(cluster: &Cluster, email: &str) -> String {
    let (status, body) = cluster.bapi(
        0,
        "POST",
        "/v1/users",
        &format!(r#"{{"email_address":["{email}"],"password":"{PASSWORD}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

/// Identifies `email` on `replica`; returns (client token, sign-in id, body).
fn identify(cluster: &Cluster, replica: usize, form: &str) -> (String, String, Value) {
    let (status, token, body) = cluster.fapi(replica, "/v1/client/sign_ins", "", form);
    assert_eq!(status, 200, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    (token.unwrap(), id, body)
}

fn email_address_id(body: &Value) -> String {
    body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == "email_code")
        .unwrap()["email_address_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn attempt(cluster: &Cluster, replica: usize, token: &str, id: &str, form: &str) -> (u16, Value) {
    let (status, _, body) = cluster.fapi(
        replica,
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        token,
        form,
    );
    (status, body)
}

#[test]
fn a_sign_in_created_on_a_is_prepared_on_b_and_attempted_on_c() {
    let (url, received) = code_receiver();
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[
            ("LATCH_CODES__SENDER", "http"),
            ("LATCH_CODES__HTTP_URL", &url),
            ("LATCH_CODES__HTTP_SECRET", "a shared secret of some length"),
        ],
    );
    create_user(&cluster, "abc@example.com");
    let (token, id, body) = identify(&cluster, 0, "identifier=abc%40example.com");
    let (status, _, body) = cluster.fapi(
        1,
        &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
        &token,
        &format!(
            "strategy=email_code&email_address_id={}",
            email_address_id(&body)
        ),
    );
    assert_eq!(status, 200, "{body}");
    let message = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let code = message["code"].as_str().unwrap();
    let (status, token, body) = cluster.fapi(
        2,
        &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
        &token,
        &format!("strategy=email_code&code={code}"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    let session = body["response"]["created_session_id"].as_str().unwrap();
    // The session, made on C, mints tokens on A and B.
    for replica in [0, 1] {
        let (status, _, body) = cluster.fapi(
            replica,
            &format!("/v1/client/sessions/{session}/tokens"),
            token.as_deref().unwrap(),
            "",
        );
        assert_eq!(status, 200, "{body}");
        assert!(body["jwt"].is_string());
    }
}

#[test]
fn wrong_codes_and_lockout_are_counted_across_replicas() {
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[
            ("LATCH_SIGN_IN__MAX_CODE_ATTEMPTS", "3"),
            ("LATCH_SIGN_IN__LOCKOUT_ATTEMPTS", "4"),
        ],
    );
    // Codes: a development test identity gets 424242, so the right code is
    // known; three wrong ones over three replicas spend it.
    create_user(&cluster, "kit+clerk_test@example.com");
    let code_sign_in = |wrong: usize| {
        let (token, id, _) = identify(
            &cluster,
            0,
            "identifier=kit%2Bclerk_test%40example.com&strategy=email_code",
        );
        for replica in 0..wrong {
            let (status, body) = attempt(
                &cluster,
                replica,
                &token,
                &id,
                "strategy=email_code&code=111111",
            );
            assert_eq!(status, 422, "{body}");
        }
        attempt(
            &cluster,
            wrong,
            &token,
            &id,
            "strategy=email_code&code=424242",
        )
    };
    let (status, body) = code_sign_in(2);
    assert_eq!(status, 200, "two wrong codes leave the third try: {body}");
    let (status, body) = code_sign_in(3);
    assert_eq!(
        (status, error_code(&body)),
        (422, "verification_failed"),
        "three wrong codes on three replicas spend the code: {body}"
    );

    // Lockout: four failures lock, wherever they happen.
    create_user(&cluster, "lee@example.com");
    create_user(&cluster, "lou@example.com");
    let password_sign_in = |replica: usize, email: &str, password: &str| {
        let (status, _, body) = cluster.fapi(
            replica,
            "/v1/client/sign_ins",
            "",
            &format!("strategy=password&identifier={email}&password={password}"),
        );
        (status, body)
    };
    for replica in 0..3 {
        let (status, body) = password_sign_in(replica, "lee%40example.com", "wrong");
        assert_eq!(
            error_code(&body),
            "form_password_incorrect",
            "{status} {body}"
        );
    }
    let (status, body) = password_sign_in(0, "lee%40example.com", PASSWORD_FORM);
    assert_eq!(status, 200, "three failures do not lock: {body}");
    for replica in 0..4 {
        let (_, body) = password_sign_in(replica, "lou%40example.com", "wrong");
        assert_eq!(error_code(&body), "form_password_incorrect", "{body}");
    }
    for replica in 0..3 {
        let (status, body) = password_sign_in(replica, "lou%40example.com", PASSWORD_FORM);
        assert_eq!(
            (status, error_code(&body)),
            (403, "user_locked"),
            "the fourth failure locked the user on every replica: {body}"
        );
    }
}

#[test]
fn rate_limits_are_one_allowance_for_all_replicas() {
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[
            ("LATCH_RATE_LIMITS__CREATE_SIGN_IN", "5"),
            ("LATCH_RATE_LIMITS__CREATE_SIGN_IN_WINDOW_SECS", "60"),
        ],
    );
    create_user(&cluster, "rae@example.com");
    let mut statuses = Vec::new();
    for i in 0..9 {
        let (status, _, body) = cluster.fapi(
            i % 3,
            "/v1/client/sign_ins",
            "",
            "identifier=rae%40example.com",
        );
        if status == 429 {
            assert_eq!(error_code(&body), "too_many_requests");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429, 429],
        "five in all, not five per replica"
    );
}

/// Each answer's status and error code, for failure messages.
fn summary(answers: &[(u16, Value)]) -> Vec<(u16, String)> {
    answers
        .iter()
        .map(|(s, b)| (*s, error_code(b).to_owned()))
        .collect()
}

/// Runs `n` requests at once, spread round-robin over the replicas; returns
/// each (status, body).
fn at_once(
    cluster: &Cluster,
    n: usize,
    request: impl Fn(&str) -> (u16, Value) + Sync,
) -> Vec<(u16, Value)> {
    let addrs: Vec<String> = (0..3).map(|i| cluster.addr(i)).collect();
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (addr, barrier, request) = (&addrs[i % 3], &barrier, &request);
                scope.spawn(move || {
                    barrier.wait();
                    request(addr)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn fifty_concurrent_wrong_attempts_over_three_replicas_evaluate_at_most_the_limit() {
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[
            ("LATCH_SIGN_IN__MAX_CODE_ATTEMPTS", "3"),
            ("LATCH_RATE_LIMITS__ATTEMPT", "3"),
            ("LATCH_RATE_LIMITS__ATTEMPT_WINDOW_SECS", "60"),
        ],
    );
    // Passwords: the per-IP attempt limit lets exactly three be checked, and
    // only those three count toward the user's lockout.
    create_user(&cluster, "pat@example.com");
    let (token, id, _) = identify(&cluster, 0, "identifier=pat%40example.com");
    let answers = at_once(&cluster, 50, |addr| {
        let (status, _, body) = crate::binary::native(
            addr,
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &token,
            "strategy=password&password=wrong",
        );
        (status, body)
    });
    let checked = answers
        .iter()
        .filter(|(_, b)| error_code(b) == "form_password_incorrect")
        .count();
    let throttled = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((checked, throttled), (3, 47), "{:?}", summary(&answers));
    assert_eq!(
        cluster.sql("SELECT failed_attempts FROM users WHERE id IN (SELECT user_id FROM email_addresses WHERE value = 'pat@example.com')"),
        "3",
        "only the checked passwords counted toward lockout"
    );
}

#[test]
fn fifty_concurrent_guesses_from_anywhere_check_exactly_the_lockout_allowance() {
    // No per-IP limit here, as for guesses spread over many addresses: the
    // lockout alone bounds what is checked.
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[("LATCH_SIGN_IN__LOCKOUT_ATTEMPTS", "5")],
    );
    create_user(&cluster, "gus@example.com");
    let answers = at_once(&cluster, 50, |addr| {
        let (status, _, body) = crate::binary::native(
            addr,
            "/v1/client/sign_ins",
            "",
            "strategy=password&identifier=gus%40example.com&password=a+guess",
        );
        (status, body)
    });
    let checked = answers
        .iter()
        .filter(|(_, b)| error_code(b) == "form_password_incorrect")
        .count();
    assert_eq!(checked, 5, "{:?}", summary(&answers));
    assert!(
        answers.iter().all(|(s, b)| *s == 422
            || (*s, error_code(b)) == (403, "user_locked")
            || (*s, error_code(b)) == (429, "too_many_requests")),
        "{answers:?}"
    );
    let (status, _, body) = cluster.fapi(
        1,
        "/v1/client/sign_ins",
        "",
        &format!("strategy=password&identifier=gus%40example.com&password={PASSWORD_FORM}"),
    );
    assert_eq!(
        (status, error_code(&body)),
        (403, "user_locked"),
        "the five failures locked the account: {body}"
    );
}

#[test]
fn fifty_concurrent_wrong_codes_over_three_replicas_check_at_most_the_limit() {
    // Lockout out of the way: the sign-in's own code limit is under test.
    let cluster = Cluster::start(
        &Shared::machine(),
        3,
        &[
            ("LATCH_SIGN_IN__MAX_CODE_ATTEMPTS", "3"),
            ("LATCH_SIGN_IN__LOCKOUT_ATTEMPTS", "100"),
        ],
    );
    create_user(&cluster, "cat+clerk_test@example.com");
    let (token, id, _) = identify(
        &cluster,
        0,
        "identifier=cat%2Bclerk_test%40example.com&strategy=email_code",
    );
    let answers = at_once(&cluster, 50, |addr| {
        let (status, _, body) = crate::binary::native(
            addr,
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
            &token,
            "strategy=email_code&code=111111",
        );
        (status, body)
    });
    assert!(
        answers.iter().all(|(s, _)| *s != 200),
        "{:?}",
        summary(&answers)
    );
    let checked = answers
        .iter()
        .filter(|(_, b)| error_code(b) == "form_code_incorrect")
        .count();
    // The rest lost the race for the sign-in's attempt count or came after
    // the code was spent: refused without being compared.
    assert!(
        answers.iter().all(|(_, b)| matches!(
            error_code(b),
            "form_code_incorrect" | "conflict" | "verification_failed"
        )),
        "{:?}",
        summary(&answers)
    );
    assert!((1..=3).contains(&checked), "{checked} codes were checked");
    let (status, _, body) = crate::support::http(
        &cluster.addr(1),
        "GET",
        &format!("/v1/client/sign_ins/{id}?_is_native=1"),
        &[("authorization", &token)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let attempts = body["response"]["first_factor_verification"]["attempts"]
        .as_u64()
        .unwrap();
    assert!(
        attempts as usize >= checked && attempts <= 4,
        "{attempts} attempts counted for {checked} checked"
    );
    // The right code now works only if a try is left.
    let (status, body) = attempt(&cluster, 2, &token, &id, "strategy=email_code&code=424242");
    if attempts < 3 {
        assert_eq!(status, 200, "{body}");
    } else {
        assert_eq!(
            (status, error_code(&body)),
            (422, "verification_failed"),
            "{body}"
        );
    }
}

#[test]
fn a_session_revoked_through_b_mints_no_token_on_a() {
    let cluster = Cluster::start(&Shared::machine(), 3, &[]);
    create_user(&cluster, "rev@example.com");
    let (status, token, body) = cluster.fapi(
        0,
        "/v1/client/sign_ins",
        "",
        &format!("strategy=password&identifier=rev%40example.com&password={PASSWORD_FORM}"),
    );
    assert_eq!(status, 200, "{body}");
    let token = token.unwrap();
    let session = body["response"]["created_session_id"].as_str().unwrap();
    let mint = |replica| {
        cluster.fapi(
            replica,
            &format!("/v1/client/sessions/{session}/tokens"),
            &token,
            "",
        )
    };
    assert_eq!(mint(0).0, 200);
    let (status, body) = cluster.bapi(1, "POST", &format!("/v1/sessions/{session}/revoke"), "");
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")));
    for replica in [0, 2] {
        let (status, _, body) = mint(replica);
        assert_eq!(
            (status, error_code(&body)),
            (401, "authentication_invalid"),
            "{body}"
        );
    }
}

/// `GET /v1/environment` on `replica`.
fn environment(cluster: &Cluster, replica: usize) -> Value {
    let (status, _, body) =
        crate::support::http(&cluster.addr(replica), "GET", "/v1/environment", &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_strategy_turned_off_through_one_replica_is_refused_on_the_others_within_two_seconds() {
    let cluster = Cluster::start(&Shared::machine(), 3, &[]);
    create_user(&cluster, "set@example.com");
    let form = format!("strategy=password&identifier=set%40example.com&password={PASSWORD_FORM}");
    for replica in [1, 2] {
        let (status, _, body) = cluster.fapi(replica, "/v1/client/sign_ins", "", &form);
        assert_eq!(
            (status, &body["response"]["status"]),
            (200, &Value::from("complete"))
        );
    }
    let (status, body) = cluster.bapi(
        0,
        "PATCH",
        "/v1/instance/user_management",
        r#"{"password":{"enabled":false,"required":false}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let changed = std::time::Instant::now();
    let mut pending = vec![1, 2];
    while !pending.is_empty() {
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "replicas {pending:?} still take passwords two seconds after the change"
        );
        pending.retain(|&replica| {
            let (status, _, body) = cluster.fapi(replica, "/v1/client/sign_ins", "", &form);
            (status, error_code(&body)) != (422, "strategy_for_user_invalid")
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    let followed = changed.elapsed();
    for replica in 0..3 {
        let env = environment(&cluster, replica);
        assert_eq!(
            env["user_settings"]["attributes"]["password"]["enabled"], false,
            "replica {replica}"
        );
    }
    // The version every replica reads is the one stored.
    for replica in 0..3 {
        let (_, body) = cluster.bapi(replica, "GET", "/v1/instance/user_management", "");
        assert_eq!(body["version"], 2, "replica {replica}: {body}");
    }
    eprintln!("replicas followed the change in {followed:?}");
}

/// The query of `url` (`?...`), as the provider sent the browser back.
fn query_of(url: &str) -> String {
    url.find('?')
        .map(|i| url[i..].to_owned())
        .unwrap_or_default()
}

/// The value of `name` in `url`'s query.
fn param_of(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[test]
fn an_oauth_client_changed_through_one_replica_signs_in_through_the_other() {
    use latch_testkit::oauth::{GitHubLikeProvider, OAuthUser, sign_in};
    let idp = GitHubLikeProvider::start([
        OAuthUser::new(1001, "alice").with_email("alice@example.com", true)
    ]);
    let (authorize, token, api) = (idp.authorize_url(), idp.token_url(), idp.api_base_url());
    // The file names a client the provider has retired.
    let env = [
        ("LATCH_OAUTH__PROVIDERS__GITHUB__CLIENT_ID", "Iv1.retired"),
        (
            "LATCH_OAUTH__PROVIDERS__GITHUB__CLIENT_SECRET",
            "a-retired-secret",
        ),
        (
            "LATCH_OAUTH__PROVIDERS__GITHUB__AUTHORIZE_URL",
            authorize.as_str(),
        ),
        ("LATCH_OAUTH__PROVIDERS__GITHUB__TOKEN_URL", token.as_str()),
        ("LATCH_OAUTH__PROVIDERS__GITHUB__API_BASE_URL", api.as_str()),
    ];
    let cluster = Cluster::start(&Shared::machine(), 2, &env);
    let user = create_user(&cluster, "alice@example.com");
    let form = "strategy=oauth_github&redirect_url=http%3A%2F%2Flocalhost%3A3000%2Fsso-callback";
    let start = |replica: usize| {
        let (token, id, body) = identify(&cluster, replica, form);
        let url =
            body["response"]["first_factor_verification"]["external_verification_redirect_url"]
                .as_str()
                .unwrap()
                .to_owned();
        (token, id, url)
    };
    let (_, _, url) = start(1);
    assert_eq!(param_of(&url, "client_id").as_deref(), Some("Iv1.retired"));
    let callback_url = param_of(&url, "redirect_uri").unwrap();
    idp.allow_redirect_uri(&callback_url);

    let patch = serde_json::json!({"sso": {"github": {
        "client_id": idp.client_id(),
        "client_secret": idp.client_secret(),
    }}});
    let (status, body) = cluster.bapi(
        0,
        "PATCH",
        "/v1/instance/user_management",
        &patch.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let changed = std::time::Instant::now();
    assert_eq!(body["settings"]["sso"]["github"]["client_secret"], "");
    // At rest the secret is sealed; no read shows it.
    let stored =
        cluster.sql("SELECT document::text FROM settings_versions ORDER BY version DESC LIMIT 1");
    assert!(!stored.contains(idp.client_secret()), "{stored}");
    assert!(
        stored.replace(' ', "").contains("\"client_secret\":\"v1."),
        "{stored}"
    );
    let (_, versions) = cluster.bapi(1, "GET", "/v1/instance/user_management/versions", "");
    assert!(
        !versions.to_string().contains("\"client_secret\":\"v1."),
        "{versions}"
    );

    // The other replica redirects with the new client within two seconds.
    let (token, id, url) = loop {
        let started = start(1);
        if param_of(&started.2, "client_id").as_deref() == Some(idp.client_id()) {
            break started;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "replica 1 still sends the retired client two seconds after the change"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    idp.log_in_as("alice");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let back = runtime
        .block_on(sign_in(&url, "alice"))
        .expect("the provider approves the new client");
    assert!(back.url.starts_with(&callback_url), "{}", back.url);
    // The callback redeems the code with the new secret.
    let (status, head, body) = crate::support::http(
        &cluster.addr(1),
        "GET",
        &format!("/v1/oauth_callback{}", query_of(&back.url)),
        &[],
        "",
    );
    assert_eq!(status, 303, "{head}{body}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_owned();
    let nonce = param_of(&location, "rotating_token_nonce").expect(&location);
    let (status, _, body) = crate::support::http(
        &cluster.addr(1),
        "GET",
        &format!("/v1/client/sign_ins/{id}?rotating_token_nonce={nonce}&_is_native=1"),
        &[("authorization", &token)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response"]["status"], "complete", "{body}");
    assert_eq!(body["client"]["sessions"][0]["user"]["id"], user.as_str());
    assert_eq!(idp.token_requests(), 1);
}

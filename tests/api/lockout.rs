//! Lockout: failed passwords and codes count per user; enough lock the account.

use latch_core::model::InstanceSettings;
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

async fn sign_in_with(app: &TestApp, password: &str) -> crate::support::Resp {
    app.new_sign_in(&[("identifier", "lou@example.com"), ("password", password)])
        .await
}

#[tokio::test]
async fn failed_attempts_lock_the_user_and_nothing_is_evaluated_while_locked() {
    let settings = InstanceSettings {
        lockout_attempts: 3,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    let user = app.user("lou@example.com", None).await;
    // Two failures, then a success: the count starts again.
    for _ in 0..2 {
        sign_in_with(&app, "wrong password").await.assert_error(
            422,
            "form_password_incorrect",
            Some("password"),
        );
    }
    let ok = sign_in_with(&app, PASSWORD).await;
    assert_eq!(ok.status, 200);
    app.fapi(
        "POST",
        "/v1/client/sessions?_method=DELETE",
        &ok.token(),
        &[],
    )
    .await;
    for _ in 0..3 {
        sign_in_with(&app, "wrong password").await.assert_error(
            422,
            "form_password_incorrect",
            Some("password"),
        );
    }
    // Locked: even the right password is not looked at.
    let locked = sign_in_with(&app, PASSWORD).await;
    locked.assert_error(403, "user_locked", None);
    let seconds = locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"]
        .as_i64()
        .unwrap();
    assert!((3500..=3600).contains(&seconds), "{seconds}");
    let shown = app
        .bapi("GET", &format!("/v1/users/{user}"), None)
        .await
        .body;
    assert_eq!(shown["locked"], true);
    assert!(shown["lockout_expires_in_seconds"].as_i64().unwrap() > 3500);
    // A two-step sign-in and a code are refused too.
    let (res, token) = {
        let res = app.new_sign_in(&[("identifier", "lou@example.com")]).await;
        let token = res.token();
        (res, token)
    };
    let id = res.body["response"]["id"].as_str().unwrap();
    app.sign_in_step(
        &token,
        id,
        "prepare_first_factor",
        &[("strategy", "email_code")],
    )
    .await
    .assert_error(403, "user_locked", None);
    app.sign_in_step(
        &token,
        id,
        "attempt_first_factor",
        &[("strategy", "password"), ("password", PASSWORD)],
    )
    .await
    .assert_error(403, "user_locked", None);

    // The Backend API unlocks.
    let unlocked = app
        .bapi("POST", &format!("/v1/users/{user}/unlock"), None)
        .await;
    assert_eq!(
        (
            unlocked.body["locked"].clone(),
            unlocked.body["lockout_expires_in_seconds"].clone()
        ),
        (json!(false), json!(null))
    );
    assert_eq!(sign_in_with(&app, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let settings = InstanceSettings {
        lockout_attempts: 2,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    app.user("lou@example.com", None).await;
    let res = app
        .new_sign_in(&[
            ("identifier", "lou@example.com"),
            ("strategy", "email_code"),
        ])
        .await;
    let (token, id) = (
        res.token(),
        res.body["response"]["id"].as_str().unwrap().to_owned(),
    );
    let code = app.codes.last_code_to("lou@example.com").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    for _ in 0..2 {
        app.fapi(
            "POST",
            &path,
            &token,
            &[("strategy", "email_code"), ("code", wrong)],
        )
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    }
    app.fapi(
        "POST",
        &path,
        &token,
        &[("strategy", "email_code"), ("code", &code)],
    )
    .await
    .assert_error(403, "user_locked", None);
}

#[tokio::test]
async fn the_backend_api_locks_until_unlocked() {
    let app = TestApp::new().await;
    let user = app.user("lou@example.com", None).await;
    let locked = app
        .bapi("POST", &format!("/v1/users/{user}/lock"), None)
        .await;
    assert_eq!(locked.status, 200);
    assert_eq!(
        (
            locked.body["locked"].clone(),
            locked.body["lockout_expires_in_seconds"].clone()
        ),
        (json!(true), json!(null))
    );
    let refused = sign_in_with(&app, PASSWORD).await;
    refused.assert_error(403, "user_locked", None);
    assert!(refused.body["errors"][0]["meta"]["lockout_expires_in_seconds"].is_null());
    app.bapi("POST", "/v1/users/user_nobody/lock", None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.bapi("GET", &format!("/v1/users/{user}/lock"), None)
        .await
        .assert_error(405, "method_not_allowed", None);
}

/// `n` password sign-ins for `identifier` at once, each on a client of its
/// own; their answers, in the order they were started.
pub(crate) async fn at_once(
    app: &std::sync::Arc<TestApp>,
    n: usize,
    identifier: &'static str,
    password: &'static str,
) -> Vec<crate::support::Resp> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = std::sync::Arc::clone(app);
        set.spawn(async move {
            let res = app
                .new_sign_in(&[("identifier", identifier), ("password", password)])
                .await;
            (i, res)
        });
    }
    let mut answers: Vec<_> = set.join_all().await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, res)| res).collect()
}

/// (status, code) of each answer, sorted, for comparing outcomes as a whole.
pub(crate) fn outcomes(answers: &[crate::support::Resp]) -> Vec<(u16, String)> {
    let mut seen: Vec<(u16, String)> = answers
        .iter()
        .map(|res| {
            let code = res.body["errors"][0]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (res.status.as_u16(), code)
        })
        .collect();
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_right_passwords_all_sign_in_with_an_allowance_of_three() {
    let app = std::sync::Arc::new(
        TestApp::with(InstanceSettings {
            lockout_attempts: 3,
            ..Default::default()
        })
        .await,
    );
    app.user("lou@example.com", None).await;
    let answers = at_once(&app, 20, "lou@example.com", PASSWORD).await;
    assert_eq!(
        outcomes(&answers),
        vec![(200, String::new()); 20],
        "checks in flight never refuse a right password"
    );
    for res in &answers {
        assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_wrong_guesses_check_exactly_the_allowance_then_lock() {
    use std::sync::atomic::Ordering;
    let app = std::sync::Arc::new(
        TestApp::with(InstanceSettings {
            lockout_attempts: 3,
            ..Default::default()
        })
        .await,
    );
    app.user("lou@example.com", None).await;
    let before = app.hasher.verifies.load(Ordering::SeqCst);
    let answers = at_once(&app, 20, "lou@example.com", "a wrong guess").await;
    assert_eq!(
        app.hasher.verifies.load(Ordering::SeqCst) - before,
        3,
        "exactly the allowance is checked"
    );
    let mut expected = vec![(403, "user_locked".to_owned()); 17];
    expected.extend(vec![(422, "form_password_incorrect".to_owned()); 3]);
    expected.sort();
    assert_eq!(outcomes(&answers), expected);
    // Locked now for the whole lockout period, even for the right password.
    let locked = sign_in_with(&app, PASSWORD).await;
    locked.assert_error(403, "user_locked", None);
    assert_eq!(
        locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
        3600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_right_password_racing_wrong_guesses_signs_in_while_the_account_is_not_locked() {
    let app = std::sync::Arc::new(
        TestApp::with(InstanceSettings {
            lockout_attempts: 3,
            ..Default::default()
        })
        .await,
    );
    app.user("lou@example.com", None).await;
    // Two wrong guesses race ten right passwords: the guesses leave one
    // attempt, which every right password in turn takes and gives back.
    let right = {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move { at_once(&app, 10, "lou@example.com", PASSWORD).await })
    };
    let wrong = at_once(&app, 2, "lou@example.com", "a wrong guess").await;
    let right = right.await.unwrap();
    assert_eq!(outcomes(&right), vec![(200, String::new()); 10]);
    assert_eq!(
        outcomes(&wrong),
        vec![(422, "form_password_incorrect".to_owned()); 2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_whose_client_goes_away_gives_its_attempt_back() {
    use tokio::io::AsyncWriteExt as _;
    let settings = InstanceSettings {
        lockout_attempts: 3,
        ..Default::default()
    };
    // Hashes at the instance's own cost, so a check takes a while.
    let app = TestApp::with_hash_cost(settings, Default::default()).await;
    app.user("lou@example.com", None).await;
    let server = app.serve(latch_api::ConnectionLimits::default()).await;
    // As many sign-ins as there are attempts, each from a client that goes
    // away while its password is being checked.
    let body = format!(
        "strategy=password&identifier=lou%40example.com&password={}",
        PASSWORD.replace(' ', "+")
    );
    let request = format!(
        "POST /v1/client/sign_ins?_is_native=1 HTTP/1.1\r\nhost: latch\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut gone = Vec::new();
    for _ in 0..3 {
        let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(request.as_bytes()).await.unwrap();
        gone.push(conn);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    drop(gone);
    // Their attempts are given back: the account is neither busy nor
    // locked, and the right password signs in.
    let res = sign_in_with(&app, PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

//! Requests racing on one sign-in, client, session or user: the outcome is
//! always one a sequential order could give.

use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;

use crate::support::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_completes_once_however_many_attempts_race() {
    let app = Arc::new(TestApp::new().await);
    let user = app.user("race@example.com", None).await;
    let res = app.new_sign_in(&[("identifier", "race@example.com")]).await;
    let token = res.token();
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let mut set = JoinSet::new();
    for _ in 0..8 {
        let (app, token, id) = (Arc::clone(&app), token.clone(), id.clone());
        set.spawn(async move {
            let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
            app.fapi(
                "POST",
                &path,
                &token,
                &[("strategy", "password"), ("password", PASSWORD)],
            )
            .await
        });
    }
    let mut rotated = 0;
    while let Some(res) = set.join_next().await {
        let res = res.unwrap();
        match res.status.as_u16() {
            // The winner, and losers that found the sign-in complete: all see
            // it complete, and only the winner gets a new token.
            200 => {
                assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
                rotated += usize::from(res.header("authorization").is_some());
            }
            // Losers that lost the race outright, found the user signed in
            // already, or came after the winner rotated the client token away.
            400 | 404 | 409 | 422 => assert!(res.header("authorization").is_none()),
            other => panic!("unexpected {other}: {}", res.body),
        }
    }
    assert_eq!(
        rotated, 1,
        "exactly one attempt completes the sign-in and rotates the token"
    );
    let sessions = app
        .bapi("GET", &format!("/v1/sessions?user_id={user}"), None)
        .await;
    assert_eq!(
        sessions.body.as_array().unwrap().len(),
        1,
        "one sign-in, one session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_attempts_racing_are_all_counted() {
    let app = Arc::new(TestApp::new().await);
    app.user("count@example.com", None).await;
    let res = app
        .new_sign_in(&[("identifier", "count@example.com")])
        .await;
    let token = res.token();
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let mut set = JoinSet::new();
    for _ in 0..6 {
        let (app, token, id) = (Arc::clone(&app), token.clone(), id.clone());
        set.spawn(async move {
            let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
            app.fapi(
                "POST",
                &path,
                &token,
                &[("strategy", "password"), ("password", "wrong password")],
            )
            .await
            .status
        });
    }
    while let Some(status) = set.join_next().await {
        assert_eq!(status.unwrap(), 422);
    }
    let read = app.read_sign_in(&token, &id).await;
    assert_eq!(
        read.body["response"]["first_factor_verification"]["attempts"],
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_out_while_a_sign_in_completes_never_revives_the_old_token() {
    let app = Arc::new(TestApp::new().await);
    app.user("rot@example.com", None).await;
    for _ in 0..10 {
        let res = app.new_sign_in(&[("identifier", "rot@example.com")]).await;
        let old = res.token();
        let id = res.body["response"]["id"].as_str().unwrap().to_owned();
        let attempt = {
            let (app, old, id) = (Arc::clone(&app), old.clone(), id.clone());
            tokio::spawn(async move {
                let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
                app.fapi(
                    "POST",
                    &path,
                    &old,
                    &[("strategy", "password"), ("password", PASSWORD)],
                )
                .await
            })
        };
        let sign_out = {
            let (app, old) = (Arc::clone(&app), old.clone());
            tokio::spawn(async move {
                app.fapi("POST", "/v1/client/sessions?_method=DELETE", &old, &[])
                    .await
            })
        };
        let done = attempt.await.unwrap();
        sign_out.await.unwrap();
        assert_eq!(done.status, 200, "{}", done.body);
        let new = done.token();
        assert!(
            app.fapi("GET", "/v1/client", &old, &[]).await.body["client"].is_null(),
            "the old token is dead"
        );
        assert!(
            !app.fapi("GET", "/v1/client", &new, &[]).await.body["client"].is_null(),
            "the new token works"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_changed_during_a_sign_in_stays_changed() {
    let app = Arc::new(TestApp::new().await);
    let user = app.user("pw@example.com", None).await;
    for round in 0..5 {
        let old = if round == 0 {
            PASSWORD.to_owned()
        } else {
            format!("new password {}", round - 1)
        };
        let new = format!("new password {round}");
        let sign_in = {
            let (app, old) = (Arc::clone(&app), old.clone());
            tokio::spawn(async move {
                app.new_sign_in(&[("identifier", "pw@example.com"), ("password", &old)])
                    .await
            })
        };
        let patch = app
            .bapi(
                "PATCH",
                &format!("/v1/users/{user}"),
                Some(json!({ "password": new })),
            )
            .await;
        assert_eq!(patch.status, 200);
        sign_in.await.unwrap();
        let with_new = app
            .new_sign_in(&[("identifier", "pw@example.com"), ("password", &new)])
            .await;
        assert_eq!(
            with_new.status, 200,
            "round {round}: the admin's new password works: {}",
            with_new.body
        );
        let with_old = app
            .new_sign_in(&[("identifier", "pw@example.com"), ("password", &old)])
            .await;
        with_old.assert_error(422, "form_password_incorrect", Some("password"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_touch_racing_a_revoke_leaves_the_session_revoked() {
    let app = Arc::new(TestApp::new().await);
    app.user("rev@example.com", None).await;
    for _ in 0..10 {
        let (token, sid) = app.sign_in("rev@example.com").await;
        let touch = {
            let (app, token, sid) = (Arc::clone(&app), token.clone(), sid.clone());
            tokio::spawn(async move {
                app.fapi(
                    "POST",
                    &format!("/v1/client/sessions/{sid}/touch"),
                    &token,
                    &[],
                )
                .await
            })
        };
        let revoke = app
            .bapi("POST", &format!("/v1/sessions/{sid}/revoke"), None)
            .await;
        assert_eq!(revoke.body["status"], "revoked");
        touch.await.unwrap();
        assert_eq!(
            app.bapi("GET", &format!("/v1/sessions/{sid}"), None)
                .await
                .body["status"],
            "revoked"
        );
        app.fapi(
            "POST",
            &format!("/v1/client/sessions/{sid}/tokens"),
            &token,
            &[],
        )
        .await
        .assert_error(401, "authentication_invalid", None);
        // Sign out so the next round can sign the same user in on a new client.
        app.fapi("POST", "/v1/client/sessions?_method=DELETE", &token, &[])
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sign_ins_on_one_client_never_double_a_session_or_hand_out_dead_tokens() {
    let app = Arc::new(TestApp::new().await);
    let user = app.user("twice@example.com", None).await;
    for _ in 0..5 {
        let token = app.fapi("PUT", "/v1/client", "", &[]).await.token();
        let mut set = JoinSet::new();
        for _ in 0..3 {
            let (app, token) = (Arc::clone(&app), token.clone());
            set.spawn(async move {
                let form = [("identifier", "twice@example.com"), ("password", PASSWORD)];
                app.fapi("POST", "/v1/client/sign_ins", &token, &form).await
            });
        }
        let mut issued = Vec::new();
        while let Some(res) = set.join_next().await {
            let res = res.unwrap();
            assert!(
                matches!(res.status.as_u16(), 200 | 400 | 409),
                "{}: {}",
                res.status,
                res.body
            );
            if let Some(new) = res.header("authorization") {
                issued.push(new.to_owned());
            }
        }
        // Requests that came after the rotation present an unknown token and
        // get a client of their own; no client ever holds two sessions of the
        // user, and every token handed out works.
        assert!(!issued.is_empty());
        for token in &issued {
            let client = app.fapi("GET", "/v1/client", token, &[]).await;
            assert_eq!(
                client.body["client"]["sessions"].as_array().unwrap().len(),
                1,
                "{}",
                client.body
            );
            app.fapi("POST", "/v1/client/sessions?_method=DELETE", token, &[])
                .await;
        }
    }
    let active = app
        .bapi(
            "GET",
            &format!("/v1/sessions?user_id={user}&status=active"),
            None,
        )
        .await;
    assert_eq!(active.body, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_user_updates_all_land() {
    let app = Arc::new(TestApp::new().await);
    let user = app.user("patch@example.com", None).await;
    for round in 0..5 {
        let new_password = format!("round {round} password");
        let bodies = [
            json!({ "password": new_password }),
            json!({ "first_name": format!("First {round}") }),
            json!({ "public_metadata": { "round": round } }),
            json!({ "last_name": format!("Last {round}") }),
        ];
        let mut set = JoinSet::new();
        for body in bodies {
            let (app, user) = (Arc::clone(&app), user.clone());
            set.spawn(async move {
                app.bapi("PATCH", &format!("/v1/users/{user}"), Some(body))
                    .await
                    .status
            });
        }
        while let Some(status) = set.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        let stored = app
            .bapi("GET", &format!("/v1/users/{user}"), None)
            .await
            .body;
        assert_eq!(stored["first_name"], format!("First {round}"));
        assert_eq!(stored["last_name"], format!("Last {round}"));
        assert_eq!(stored["public_metadata"], json!({ "round": round }));
        let signed_in = app
            .new_sign_in(&[
                ("identifier", "patch@example.com"),
                ("password", &new_password),
            ])
            .await;
        assert_eq!(
            signed_in.status, 200,
            "round {round}: the new password landed: {}",
            signed_in.body
        );
    }
}

/// A right code racing wrong ones on one sign-in: every attempt answered
/// as right or wrong was counted on the sign-in first, so no more are
/// answered than the code allows, and the sign-in completes at most once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_code_attempts_are_each_counted_before_they_are_answered() {
    let app = Arc::new(TestApp::new().await);
    for round in 0..4 {
        let email = format!("codes{round}@example.com");
        app.user(&email, None).await;
        let (token, id, _) = app.identify(&email).await;
        let prepared = app
            .prepare_first_factor(&token, &id, "email_code", &[])
            .await;
        assert_eq!(prepared.status, 200, "{}", prepared.body);
        let code = app.codes.last_code_to(&email).unwrap();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let mut set = JoinSet::new();
        for i in 0..6 {
            let (app, token, id) = (Arc::clone(&app), token.clone(), id.clone());
            let guess = if i == round {
                code.clone()
            } else {
                wrong.to_owned()
            };
            set.spawn(async move {
                app.attempt_first_factor_code(&token, &id, "email_code", &guess)
                    .await
            });
        }
        let (mut incorrect, mut completed, mut winner) = (0, 0, None);
        while let Some(res) = set.join_next().await {
            let res = res.unwrap();
            if res.status == 200 && res.body["response"]["status"] == "complete" {
                if let Some(t) = res.header("authorization") {
                    completed += 1;
                    winner = Some(t.to_owned());
                }
            } else if res.body["errors"][0]["code"] == "form_code_incorrect" {
                incorrect += 1;
            } else {
                // Past the limit, a lost race, the account busy, or after
                // the winner rotated the client's token away: no verdict.
                assert!(
                    matches!(res.status.as_u16(), 400 | 404 | 409 | 422 | 429),
                    "{}: {}",
                    res.status,
                    res.body
                );
                assert!(res.header("authorization").is_none());
            }
        }
        assert!(completed <= 1, "one completion at most");
        assert!(
            incorrect + completed <= 3,
            "no more verdicts than the code allows: {incorrect} wrong, {completed} right"
        );
        let read = app
            .read_sign_in(winner.as_deref().unwrap_or(&token), &id)
            .await;
        assert_eq!(read.status, 200, "{}", read.body);
        let counted = read.body["response"]["first_factor_verification"]["attempts"]
            .as_u64()
            .unwrap();
        assert!(
            counted >= incorrect + completed,
            "{counted} counted, {incorrect} wrong and {completed} right answered"
        );
    }
}

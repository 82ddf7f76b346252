//! Webhooks: every change announced with Clerk's event shape, signed as
//! `verifyWebhook` checks it, retried until the receiver takes it, and
//! managed through the Backend API.

use std::time::Duration;

use latch_core::model::InstanceSettings;
use latch_core::service::sign_webhook;
use latch_testkit::receiver::{Received, Receiver};
use serde_json::{Value, json};

use crate::support::TestApp;

const WAIT: Duration = Duration::from_secs(5);

/// Checks the Svix headers of `r` under `secret`; returns the event.
fn verified(r: &Received, secret: &str) -> Value {
    let (id, timestamp) = (r.header("svix-id"), r.header("svix-timestamp"));
    assert!(id.starts_with("msg_"), "{r:?}");
    let expected = sign_webhook(secret, id, timestamp, &r.body).unwrap();
    assert_eq!(r.header("svix-signature"), format!("v1,{expected}"));
    assert_eq!(r.header("content-type"), "application/json");
    r.json()
}

/// Failures of `data` against the Backend API document's schema `name`.
fn against_schema(name: &str, data: &Value) -> Vec<String> {
    let document = latch_testkit::openapi::Document::bapi();
    let schema = document.schema(name).unwrap();
    document
        .validate(schema, data, &crate::openapi::allowed)
        .iter()
        .map(|f| format!("{name}: {f}"))
        .collect()
}

/// The types of the events received, in order.
fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn each_change_is_announced_signed_in_clerks_shape() {
    let app = TestApp::new().await;
    let receiver = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(&receiver.url(), &[]).await;
    let user_id = app.user("wanda@example.com", Some("wanda")).await;
    let (token, session) = app.sign_in("wanda@example.com").await;
    let ended = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{session}/end"),
            &token,
            &[],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let (_, second) = app.sign_in("wanda").await;
    assert_eq!(
        app.bapi("POST", &format!("/v1/users/{user_id}/ban"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.bapi("DELETE", &format!("/v1/users/{user_id}"), None)
            .await
            .status,
        200
    );
    let round = app.send_webhooks().await;
    assert_eq!(round.delivered, 7, "{round:?}");
    let got = receiver.wait_for(7, WAIT).await;
    let events: Vec<Value> = got.iter().map(|r| verified(r, &secret)).collect();
    let mut seen = types(&events);
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "session.created",
            "session.created",
            "session.ended",
            "session.revoked",
            "user.created",
            "user.deleted",
            "user.updated",
        ]
    );
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.header("svix-id")).collect();
    assert_eq!(ids.len(), 7, "each event has its own svix-id");
    for e in &events {
        assert_eq!(e["object"], "event");
        assert_eq!(e["instance_id"], "ins_test");
        assert!(e["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
        assert!(e["event_attributes"]["http_request"]["client_ip"].is_string());
        assert!(e["event_attributes"]["http_request"]["user_agent"].is_string());
    }
    let find = |t: &str| events.iter().find(|e| e["type"] == t).unwrap();
    let created = &find("user.created")["data"];
    assert_eq!(created["object"], "user");
    assert_eq!(created["id"], user_id.as_str());
    assert_eq!(created["username"], "wanda");
    assert_eq!(
        created["email_addresses"][0]["email_address"],
        "wanda@example.com"
    );
    assert!(
        created["private_metadata"].is_object(),
        "the Backend API's user"
    );
    assert_eq!(find("user.updated")["data"]["banned"], true);
    // Each resource as Clerk's Backend API document declares it.
    let mut failures = Vec::new();
    for e in &events {
        match e["type"].as_str().unwrap() {
            "user.created" | "user.updated" => failures.extend(against_schema("User", &e["data"])),
            "user.deleted" => failures.extend(against_schema("DeletedObject", &e["data"])),
            _ => {
                let mut session = e["data"].clone();
                let user = session.as_object_mut().unwrap().remove("user").unwrap();
                failures.extend(against_schema("Session", &session));
                failures.extend(against_schema("User", &user));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        find("user.deleted")["data"],
        json!({ "deleted": true, "id": user_id, "object": "user" })
    );
    let ended = &find("session.ended")["data"];
    assert_eq!(ended["object"], "session");
    assert_eq!(ended["id"], session.as_str());
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["user_id"], user_id.as_str());
    assert_eq!(ended["user"]["id"], user_id.as_str());
    let revoked = &find("session.revoked")["data"];
    assert_eq!(revoked["id"], second.as_str());
    assert_eq!(revoked["status"], "revoked");
    // The administrator's ban came from the Backend API caller's address.
    assert_eq!(
        find("user.updated")["event_attributes"]["http_request"]["client_ip"],
        "127.0.0.1"
    );
    assert_eq!(app.send_webhooks().await.delivered, 0, "each is sent once");
}

#[tokio::test]
async fn a_receiver_that_is_down_slow_or_failing_gets_the_message_later() {
    let app = TestApp::new().await;
    let receiver = Receiver::start().await;
    // Down: nothing listens where the endpoint points.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    let (endpoint, secret) = app.webhook_endpoint(&down, &[]).await;
    app.user("xena@example.com", None).await;
    assert_eq!(app.send_webhooks().await.retrying, 1);
    // It moves to a receiver that answers 500.
    receiver.answer(500);
    let moved = app
        .bapi(
            "PATCH",
            &format!("/v1/webhooks/endpoints/{endpoint}"),
            Some(json!({ "url": receiver.url() })),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(app.send_webhooks().await.retrying, 1);
    assert_eq!(app.send_webhooks().await.retrying, 0, "not before its wait");
    app.clock.advance(Duration::from_secs(300));
    receiver.answer(0); // no answer at all: the request times out
    assert_eq!(app.send_webhooks().await.retrying, 1);
    app.clock.advance(Duration::from_secs(1800));
    receiver.answer(200);
    assert_eq!(app.send_webhooks().await.delivered, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.header("svix-id") == got[0].header("svix-id")),
        "a retry keeps its svix-id, so receivers drop repeats"
    );
    verified(&got[2], &secret);

    let base = format!("/v1/webhooks/endpoints/{endpoint}");
    let listed = app.bapi("GET", &format!("{base}/messages"), None).await;
    let message = &listed.body["data"][0];
    assert_eq!(message["status"], "delivered", "{}", listed.body);
    assert_eq!(message["attempts"], 4);
    assert_eq!(message["last_status_code"], 200);
    let event = message["event_id"].as_str().unwrap();
    let attempts = app
        .bapi("GET", &format!("{base}/messages/{event}/attempts"), None)
        .await;
    let codes: Vec<Value> = attempts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(
        codes,
        [json!(200), Value::Null, json!(500), Value::Null],
        "newest first"
    );
    assert!(
        attempts.body["data"][3]["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{}",
        attempts.body
    );
    assert!(
        attempts.body["data"][1]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{}",
        attempts.body
    );
}

#[tokio::test]
async fn a_message_that_failed_every_attempt_is_replayed_and_a_dead_endpoint_disabled() {
    let app = TestApp::new().await;
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let (endpoint, _) = app.webhook_endpoint(&receiver.url(), &[]).await;
    app.user("yara@example.com", None).await;
    // The whole schedule: 8 attempts over about 28 hours.
    let mut attempts = 0;
    for _ in 0..12 {
        let round = app.send_webhooks().await;
        attempts += round.retrying + round.failed;
        if round.failed == 1 {
            break;
        }
        app.clock.advance(Duration::from_secs(10 * 3600));
    }
    assert_eq!(attempts, 8);
    let base = format!("/v1/webhooks/endpoints/{endpoint}");
    let failed = app
        .bapi("GET", &format!("{base}/messages?status=failed"), None)
        .await;
    assert_eq!(failed.body["data"].as_array().unwrap().len(), 1);
    let event = failed.body["data"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.answer(204);
    let replayed = app
        .bapi("POST", &format!("{base}/messages/{event}/replay"), None)
        .await;
    assert_eq!(replayed.body["status"], "pending", "{}", replayed.body);
    assert_eq!(app.send_webhooks().await.delivered, 1);

    // Failing for more than five days disables the endpoint; it says why,
    // and what happened meanwhile is replayed by range once it is back.
    receiver.answer(500);
    let start = latch_core::ports::Clock::now(&*app.clock).0;
    app.user("zora@example.com", None).await;
    app.send_webhooks().await;
    app.clock.advance(Duration::from_secs(6 * 86_400));
    app.user("zeno@example.com", None).await;
    app.send_webhooks().await;
    let shown = app.bapi("GET", &base, None).await;
    assert_eq!(shown.body["disabled"], true, "{}", shown.body);
    assert!(
        shown.body["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("120 hours")
    );
    app.user("zuri@example.com", None).await;
    assert_eq!(
        app.send_webhooks().await,
        Default::default(),
        "a disabled endpoint gets nothing"
    );
    receiver.answer(200);
    let enabled = app
        .bapi("PATCH", &base, Some(json!({ "disabled": false })))
        .await;
    assert_eq!(enabled.body["disabled"], false);
    let replay = app
        .bapi(
            "POST",
            &format!("{base}/replay"),
            Some(json!({ "since": start })),
        )
        .await;
    assert_eq!(replay.body["messages"], 3, "{}", replay.body);
    assert_eq!(app.send_webhooks().await.delivered, 3);
    let emails: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.header("svix-id") != event)
        .filter(|r| {
            r.json()["data"]["email_addresses"][0]["email_address"]
                .as_str()
                .is_some_and(|e| e.starts_with('z'))
        })
        .map(|r| {
            r.json()["data"]["email_addresses"][0]["email_address"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for email in ["zora@example.com", "zeno@example.com", "zuri@example.com"] {
        assert!(emails.iter().any(|e| e == email), "{email} in {emails:?}");
    }
}

#[tokio::test]
async fn endpoints_receive_only_the_types_they_subscribe_to() {
    let app = TestApp::new().await;
    let (all, users) = (Receiver::start().await, Receiver::start().await);
    app.webhook_endpoint(&all.url(), &[]).await;
    app.webhook_endpoint(&users.url(), &["user.created", "user.deleted"])
        .await;
    let id = app.user("ann@example.com", None).await;
    app.sign_in("ann@example.com").await;
    app.bapi("DELETE", &format!("/v1/users/{id}"), None).await;
    app.send_webhooks().await;
    let all_types: Vec<Value> = all
        .wait_for(4, WAIT)
        .await
        .iter()
        .map(Received::json)
        .collect();
    let user_types: Vec<Value> = users
        .wait_for(2, WAIT)
        .await
        .iter()
        .map(Received::json)
        .collect();
    assert_eq!(
        all_types.len(),
        4,
        "created, session created, revoked, deleted"
    );
    let mut got = types(&user_types);
    got.sort_unstable();
    assert_eq!(got, ["user.created", "user.deleted"]);
}

#[tokio::test]
async fn code_messages_are_announced_and_may_be_left_to_the_application() {
    let settings = InstanceSettings {
        deliver_code_messages: false,
        ..InstanceSettings::default()
    };
    let app = TestApp::with(settings).await;
    let receiver = Receiver::start().await;
    app.webhook_endpoint(&receiver.url(), &["email.created", "sms.created"])
        .await;
    app.user("bea@example.com", None).await;
    let (token, id, _) = app.identify("bea@example.com").await;
    let prepared = app
        .prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    app.deliver().await;
    assert_eq!(app.codes.count(), 0, "Latch sends nothing itself");
    app.send_webhooks().await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let email = &got[0].json()["data"];
    assert_eq!(email["object"], "email");
    assert_eq!(email["to_email_address"], "bea@example.com");
    assert_eq!(email["delivered_by_clerk"], false);
    assert_eq!(email["slug"], "verification_code");
    let code = email["data"]["otp_code"].as_str().unwrap();
    assert!(email["body"].as_str().unwrap().contains(code));
    // The application delivered it; the code signs in.
    let done = app
        .attempt_first_factor_code(&token, &id, "email_code", code)
        .await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn endpoints_are_managed_and_bad_input_changes_nothing() {
    let app = TestApp::new().await;
    let base = "/v1/webhooks/endpoints";
    for (body, param, code) in [
        (json!({}), "url", "form_param_nil"),
        (
            json!({ "url": "javascript:alert(1)" }),
            "url",
            "form_param_format_invalid",
        ),
        (
            json!({ "url": "https://a.example/", "event_types": ["user.exploded"] }),
            "event_types",
            "form_param_value_invalid",
        ),
        (
            json!({ "url": "https://a.example/", "secret": "whsec_bm8=" }),
            "secret",
            "form_param_format_invalid",
        ),
        (
            json!({ "url": "https://a.example/", "event_types": [1] }),
            "event_types",
            "form_param_format_invalid",
        ),
    ] {
        app.bapi("POST", base, Some(body))
            .await
            .assert_error(422, code, Some(param));
    }
    assert_eq!(
        app.bapi("GET", base, None).await.body["total_count"],
        0,
        "nothing was made"
    );
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let made = app
        .bapi(
            "POST",
            base,
            Some(
                json!({ "url": "https://a.example/hook", "secret": secret, "description": "app" }),
            ),
        )
        .await;
    assert_eq!(made.body["secret"], secret);
    assert_eq!(made.body["event_types"], json!([]));
    let one = format!("{base}/{}", made.body["id"].as_str().unwrap());
    assert_eq!(
        app.bapi("GET", &format!("{one}/secret"), None).await.body["key"],
        secret
    );
    let rotated = app
        .bapi("POST", &format!("{one}/rotate_secret"), None)
        .await;
    let new_secret = rotated.body["key"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let patched = app
        .bapi(
            "PATCH",
            &one,
            Some(json!({ "url": "https://b.example/hook", "event_types": ["session.created"] })),
        )
        .await;
    assert_eq!(patched.body["url"], "https://b.example/hook");
    assert_eq!(patched.body["event_types"], json!(["session.created"]));
    assert_eq!(patched.body["description"], "app", "kept");
    app.bapi("PATCH", &one, Some(json!({ "url": "not a url" })))
        .await
        .assert_error(422, "form_param_format_invalid", Some("url"));
    assert_eq!(
        app.bapi("GET", &one, None).await.body["url"],
        "https://b.example/hook",
        "a refused change changes nothing"
    );
    app.bapi(
        "POST",
        &format!("{one}/replay"),
        Some(json!({ "since": 10, "until": 5 })),
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("until"));
    assert_eq!(app.bapi("DELETE", &one, None).await.body["deleted"], true);
    app.bapi("GET", &one, None)
        .await
        .assert_error(404, "resource_not_found", None);
    // Without the secret key, nothing.
    assert_eq!(app.request("GET", base, &[], None).await.status, 401);
}

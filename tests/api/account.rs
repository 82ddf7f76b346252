//! The signed-in user's own profile through `PATCH /v1/me`.

use serde_json::json;

use crate::support::{Resp, TestApp};

async fn patch(app: &TestApp, token: &str, session: &str, form: &[(&str, &str)]) -> Resp {
    let path = format!("/v1/me?_clerk_session_id={session}");
    app.fapi("PATCH", &path, token, form).await
}

#[tokio::test]
async fn a_user_changes_their_names_username_and_unsafe_metadata() {
    let app = TestApp::new().await;
    let id = app.user("ada@example.com", Some("ada_l")).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let res = patch(
        &app,
        &token,
        &session,
        &[
            ("first_name", " Ada "),
            ("last_name", "Lovelace"),
            ("username", "Countess"),
            ("unsafe_metadata", r#"{"theme":"dark"}"#),
        ],
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let me = &res.body["response"];
    assert_eq!(
        (me["first_name"].as_str(), me["last_name"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(me["username"], "countess");
    assert_eq!(me["unsafe_metadata"], json!({ "theme": "dark" }));
    // The Backend API sees it; an empty value clears a name.
    assert_eq!(app.user_json(&id).await["username"], "countess");
    let res = patch(&app, &token, &session, &[("last_name", "")]).await;
    assert_eq!(res.body["response"]["last_name"], serde_json::Value::Null);
    assert_eq!(res.body["response"]["first_name"], "Ada", "untouched");
}

#[tokio::test]
async fn what_is_not_the_users_own_or_is_taken_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", Some("ada_l")).await;
    let bob = app.user("bob@example.com", Some("bob_b")).await;
    let bobs_email = app.user_json(&bob).await["email_addresses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, session) = app.sign_in("ada@example.com").await;
    patch(&app, &token, &session, &[("username", "bob_b")])
        .await
        .assert_error(422, "form_identifier_exists", Some("username"));
    patch(
        &app,
        &token,
        &session,
        &[("primary_email_address_id", &bobs_email)],
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("primary_email_address_id"),
    );
    patch(&app, &token, &session, &[("unsafe_metadata", "[1]")])
        .await
        .assert_error(422, "form_param_format_invalid", Some("unsafe_metadata"));
    let user = app.user_json(&ada).await;
    assert_eq!(user["username"], "ada_l");
    // Signed out, nothing.
    let res = app
        .fapi("PATCH", "/v1/me", "", &[("first_name", "Eve")])
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
}

#[tokio::test]
async fn an_unverified_address_cannot_become_primary() {
    let app = TestApp::new().await;
    let res = app
        .post_user(json!({
            "email_address": ["ada@example.com", "ada.work@example.com"],
            "password": crate::support::PASSWORD,
        }))
        .await;
    let id = res.body["id"].as_str().unwrap().to_owned();
    app.set_verified(&id, "ada.work@example.com", false).await;
    let work = app.user_json(&id).await["email_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["email_address"] == "ada.work@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, session) = app.sign_in("ada@example.com").await;
    patch(
        &app,
        &token,
        &session,
        &[("primary_email_address_id", &work)],
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("primary_email_address_id"),
    );
    app.set_verified(&id, "ada.work@example.com", true).await;
    let res = patch(
        &app,
        &token,
        &session,
        &[("primary_email_address_id", &work)],
    )
    .await;
    assert_eq!(
        res.body["response"]["primary_email_address_id"],
        work.as_str(),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn unsafe_metadata_merges_deeply() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let path = format!("/v1/me/metadata?_clerk_session_id={session}");
    let first = [(
        "unsafe_metadata",
        r#"{"theme":"dark","plan":{"tier":"free","seats":1}}"#,
    )];
    let res = app.fapi("PATCH", &path, &token, &first).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let second = [("unsafe_metadata", r#"{"theme":null,"plan":{"tier":"pro"}}"#)];
    let res = app.fapi("PATCH", &path, &token, &second).await;
    assert_eq!(
        res.body["response"]["unsafe_metadata"],
        json!({ "plan": { "tier": "pro", "seats": 1 } })
    );
    app.fapi("PATCH", &path, &token, &[]).await.assert_error(
        422,
        "form_param_nil",
        Some("unsafe_metadata"),
    );
    // Too large: refused by name, the metadata as it was.
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(9000));
    app.fapi("PATCH", &path, &token, &[("unsafe_metadata", &big)])
        .await
        .assert_error(422, "form_param_value_invalid", Some("unsafe_metadata"));
}

#[tokio::test]
async fn a_user_sees_their_sessions_everywhere_and_revokes_a_lost_one() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (laptop, laptop_session) = app.sign_in("ada@example.com").await;
    let (phone, phone_session) = app.sign_in("ada@example.com").await;
    let (_, bobs) = app.sign_in("bob@example.com").await;
    let me = |rest: &str| format!("/v1/me{rest}?_clerk_session_id={phone_session}");
    let res = app.fapi("GET", &me("/sessions/active"), &phone, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let ids: Vec<&str> = res
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&laptop_session.as_str()) && ids.contains(&phone_session.as_str()));
    let activity = &res.body[0]["latest_activity"];
    assert_eq!(activity["object"], "session_activity");
    assert_eq!(activity["ip_address"], "127.0.0.1");

    // Another user's session does not exist here.
    let path = format!("/v1/me/sessions/{bobs}/revoke?_clerk_session_id={phone_session}");
    app.fapi("POST", &path, &phone, &[])
        .await
        .assert_error(404, "resource_not_found", None);
    // The lost laptop's session is revoked: it mints no more tokens.
    let path = format!("/v1/me/sessions/{laptop_session}/revoke?_clerk_session_id={phone_session}");
    let res = app.fapi("POST", &path, &phone, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["status"], "revoked");
    assert!(
        res.body["response"]["latest_activity"]["id"].is_string(),
        "the device's row keeps its details: {}",
        res.body
    );
    let tokens = format!("/v1/client/sessions/{laptop_session}/tokens");
    assert_ne!(app.fapi("POST", &tokens, &laptop, &[]).await.status, 200);
    let res = app.fapi("GET", &me("/sessions/active"), &phone, &[]).await;
    assert_eq!(res.body.as_array().unwrap().len(), 1);
    // All sessions, revoked ones too.
    let res = app.fapi("GET", &me("/sessions"), &phone, &[]).await;
    assert_eq!(res.body.as_array().unwrap().len(), 2, "{}", res.body);
    // Signed out: nothing.
    assert_eq!(
        app.fapi("GET", "/v1/me/sessions/active", "", &[])
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_may_sign_out_the_other_sessions() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (other, other_session) = app.sign_in("ada@example.com").await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let path = format!("/v1/me/change_password?_clerk_session_id={session}");
    let post = |form: Vec<(&'static str, String)>| {
        let (app, path, token) = (&app, path.clone(), token.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.fapi("POST", &path, &token, &form).await
        }
    };
    let current = crate::support::PASSWORD.to_owned();
    post(vec![("new_password", "a brand new secret".into())])
        .await
        .assert_error(422, "form_param_nil", Some("current_password"));
    post(vec![
        ("current_password", "not it at all".into()),
        ("new_password", "a brand new secret".into()),
    ])
    .await
    .assert_error(422, "form_password_incorrect", Some("password"));
    post(vec![
        ("current_password", current.clone()),
        ("new_password", "short".into()),
    ])
    .await
    .assert_error(422, "form_password_length_too_short", Some("password"));
    let res = post(vec![
        ("current_password", current.clone()),
        ("new_password", "a brand new secret".into()),
        ("sign_out_of_other_sessions", "true".into()),
    ])
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    // The other session is signed out; this one stays.
    let tokens = |sid: &str| format!("/v1/client/sessions/{sid}/tokens");
    assert_ne!(
        app.fapi("POST", &tokens(&other_session), &other, &[])
            .await
            .status,
        200
    );
    assert_eq!(
        app.fapi("POST", &tokens(&session), &token, &[])
            .await
            .status,
        200
    );
    // The old password no longer signs in; the new one does.
    let res = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "ada@example.com"),
            ("password", &current),
        ])
        .await;
    res.assert_error(422, "form_password_incorrect", Some("password"));
    let res = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "ada@example.com"),
            ("password", "a brand new secret"),
        ])
        .await;
    assert_eq!(res.body["response"]["status"], "complete", "{}", res.body);
}

#[tokio::test]
async fn a_session_verified_long_ago_must_verify_again_to_change_the_password() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let path = format!("/v1/me/change_password?_clerk_session_id={session}");
    let form = [
        ("current_password", crate::support::PASSWORD),
        ("new_password", "a brand new secret"),
    ];
    let res = app.fapi("POST", &path, &token, &form).await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(res.error().0, "session_reverification_required");
}

#[tokio::test]
async fn the_password_goes_only_when_another_way_in_remains() {
    let app = TestApp::new().await;
    app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let path = format!("/v1/me/remove_password?_clerk_session_id={session}");
    let res = app
        .fapi(
            "POST",
            &path,
            &token,
            &[("current_password", crate::support::PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["response"]["password_enabled"], false);
    // Once gone, nothing to remove.
    let res = app
        .fapi(
            "POST",
            &path,
            &token,
            &[("current_password", crate::support::PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.body);

    // With no code strategy and no provider account, the password is the
    // last way in.
    let mut settings = latch_core::model::InstanceSettings::default();
    settings.strategies.email_code = false;
    settings.strategies.phone_code = false;
    settings.sign_up.verify_email_address = false;
    settings.sign_up.verify_phone_number = false;
    let app = TestApp::with(settings).await;
    app.user("bob@example.com", None).await;
    let (token, session) = app.sign_in("bob@example.com").await;
    let path = format!("/v1/me/remove_password?_clerk_session_id={session}");
    app.fapi(
        "POST",
        &path,
        &token,
        &[("current_password", crate::support::PASSWORD)],
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("password"));
}

#[tokio::test]
async fn a_user_deletes_their_own_account_and_every_session_ends() {
    let app = TestApp::new().await;
    let id = app.user("ada@example.com", None).await;
    let (laptop, laptop_session) = app.sign_in("ada@example.com").await;
    let (phone, phone_session) = app.sign_in("ada@example.com").await;
    let path = format!("/v1/me?_clerk_session_id={laptop_session}");

    // Long after signing in, the factor first.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let res = app.fapi("DELETE", &path, &laptop, &[]).await;
    res.assert_error(403, "session_reverification_required", None);
    let verify = format!("/v1/client/sessions/{laptop_session}/verify/attempt_first_factor");
    let form = [
        ("strategy", "password"),
        ("password", crate::support::PASSWORD),
    ];
    assert_eq!(app.fapi("POST", &verify, &laptop, &form).await.status, 200);

    let res = app.fapi("DELETE", &path, &laptop, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["response"],
        json!({ "object": "user", "id": id, "deleted": true })
    );
    assert_eq!(res.body["client"]["sessions"], json!([]));
    let user = app.bapi("GET", &format!("/v1/users/{id}"), None).await;
    assert_eq!(user.status, 404, "{}", user.body);
    // The other device's session mints no more tokens.
    let tokens = format!("/v1/client/sessions/{phone_session}/tokens");
    let res = app.fapi("POST", &tokens, &phone, &[]).await;
    assert!(
        [401, 404].contains(&res.status.as_u16()),
        "{} {}",
        res.status,
        res.body
    );
    assert!(res.body["jwt"].is_null());
    // The address names nobody and can sign up again.
    app.new_sign_in(&[("identifier", "ada@example.com")])
        .await
        .assert_error(422, "form_identifier_not_found", Some("identifier"));
}

#[tokio::test]
async fn an_instance_may_keep_users_from_deleting_themselves() {
    let settings = latch_core::model::InstanceSettings {
        delete_self_enabled: false,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    let id = app.user("ada@example.com", None).await;
    let (token, session) = app.sign_in("ada@example.com").await;
    let me = app
        .fapi(
            "GET",
            &format!("/v1/me?_clerk_session_id={session}"),
            &token,
            &[],
        )
        .await;
    assert_eq!(me.body["response"]["delete_self_enabled"], false);
    let env = app.fapi("GET", "/v1/environment", "", &[]).await;
    assert_eq!(env.body["user_settings"]["actions"]["delete_self"], false);
    app.fapi(
        "DELETE",
        &format!("/v1/me?_clerk_session_id={session}"),
        &token,
        &[],
    )
    .await
    .assert_error(403, "delete_self_not_enabled", None);
    assert_eq!(app.user_json(&id).await["id"], id.as_str());
}

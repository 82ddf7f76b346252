//! The instance's runtime settings through the Backend API: read, changed as
//! a whole and refused by field, in force at once on this replica and on
//! another one after its next poll, audited; Clerk's restrictions and its
//! allow- and block-lists, enforced at sign-up and sign-in.

use latch_core::model::InstanceSettings;
use serde_json::{Value, json};

use crate::second_factors::{assert_waiting, attempt, totp_code, totp_user};
use crate::sign_ups::{create, public};
use crate::support::{PASSWORD, Resp, TestApp};

const SETTINGS: &str = "/v1/instance/user_management";

async fn read(app: &TestApp) -> Value {
    let res = app.bapi("GET", SETTINGS, None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}\"", res.body["version"]).as_str())
    );
    res.body
}

async fn patch(app: &TestApp, body: Value) -> Resp {
    app.bapi("PATCH", SETTINGS, Some(body)).await
}

async fn environment(app: &TestApp) -> Value {
    let res = app.fapi("GET", "/v1/environment", "", &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

#[tokio::test]
async fn a_change_is_in_force_at_once_and_shows_in_the_environment() {
    let app = TestApp::with(public()).await;
    let before = read(&app).await;
    assert_eq!(before["object"], "user_management_settings");
    assert_eq!(
        before["settings"]["phone_number"]["sign_in_with_code"],
        true
    );
    let env = environment(&app).await;
    assert_eq!(
        env["user_settings"]["attributes"]["phone_number"]["used_for_first_factor"],
        true
    );

    // Phone codes off: the environment drops them, and a phone-code sign-in
    // is refused.
    let res = patch(
        &app,
        json!({
            "phone_number": {"sign_in_with_code": false, "verify_at_sign_up": false},
            "multi_factor": {"phone_code": false}
        }),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let version = res.body["version"].as_u64().unwrap();
    assert!(version > before["version"].as_u64().unwrap());
    assert_eq!(
        res.body["settings"]["phone_number"]["sign_in_with_code"],
        false
    );
    assert_eq!(read(&app).await["version"], version);
    let env = environment(&app).await;
    let phone = &env["user_settings"]["attributes"]["phone_number"];
    assert_eq!(phone["first_factors"], json!([]), "{phone}");
    assert_eq!(phone["second_factors"], json!([]), "{phone}");

    app.user("ann@example.com", None).await;
    let sign_in = app
        .new_sign_in(&[
            ("identifier", "ann@example.com"),
            ("strategy", "phone_code"),
        ])
        .await;
    sign_in.assert_error(422, "strategy_for_user_invalid", Some("strategy"));

    // And back on.
    let res = patch(
        &app,
        json!({"phone_number": {"sign_in_with_code": true}, "multi_factor": {"phone_code": true}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let env = environment(&app).await;
    assert_eq!(
        env["user_settings"]["attributes"]["phone_number"]["first_factors"],
        json!(["phone_code"])
    );
}

#[tokio::test]
async fn a_refused_change_names_its_field_and_changes_nothing() {
    let app = TestApp::with(public()).await;
    let before = read(&app).await;
    for (body, status, code, param) in [
        (
            json!({"email_address": {"colour": true}}),
            422,
            "form_param_unknown",
            "email_address.colour",
        ),
        (
            json!({"password": {"min_length": "long"}}),
            422,
            "form_param_format_invalid",
            "password.min_length",
        ),
        (
            json!({"password": {"min_length": 0}}),
            422,
            "form_param_value_invalid",
            "password.min_length",
        ),
        (
            json!({"sessions": {"token_lifetime_secs": null}}),
            422,
            "form_param_format_invalid",
            "sessions.token_lifetime_secs",
        ),
        (
            json!({"sign_up": {"mode": "everyone"}}),
            422,
            "form_param_format_invalid",
            "sign_up.mode",
        ),
        (
            json!({"username": {"enabled": false}}),
            422,
            "form_param_value_invalid",
            "username.used_for_sign_in",
        ),
        (
            json!({"email_address": {"enabled": false, "used_for_sign_in": false}}),
            422,
            "form_param_value_invalid",
            "email_address.required",
        ),
        (
            json!({
                "password": {"enabled": false, "required": false},
                "email_address": {"used_for_sign_in": false, "required": false},
                "username": {"used_for_sign_in": false},
                "phone_number": {"used_for_sign_in": false}
            }),
            422,
            "form_param_value_invalid",
            "password.enabled",
        ),
        (
            json!({"restrictions": {"allowlist": true}, "email_address": {"required": false}, "phone_number": {"required": false}, "username": {"required": true}}),
            422,
            "form_param_value_invalid",
            "restrictions.allowlist",
        ),
    ] {
        let res = patch(&app, body.clone()).await;
        res.assert_error(status, code, Some(param));
        let long = res.body["errors"][0]["long_message"].as_str().unwrap();
        assert!(long.contains(param.split('.').next().unwrap()), "{long}");
    }
    let res = app
        .request(
            "PATCH",
            SETTINGS,
            &[(
                "authorization",
                &format!("Bearer {}", crate::support::SECRET),
            )],
            Some(("application/x-www-form-urlencoded", "password=1".into())),
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert_eq!(read(&app).await, before, "nothing changed");
    // Nothing stored: no version beyond the first.
    let versions = app.bapi("GET", &format!("{SETTINGS}/versions"), None).await;
    assert!(
        versions.body["data"].as_array().unwrap().len() <= 1,
        "{}",
        versions.body
    );
}

#[tokio::test]
async fn a_change_against_a_stale_version_is_refused() {
    let app = TestApp::with(public()).await;
    let version = read(&app).await["version"].as_u64().unwrap();
    let auth = format!("Bearer {}", crate::support::SECRET);
    let send = |if_match: String, length: u32| {
        let auth = auth.clone();
        let app = &app;
        async move {
            app.request(
                "PATCH",
                SETTINGS,
                &[("authorization", &auth), ("if-match", &if_match)],
                Some((
                    "application/json",
                    json!({"password": {"min_length": length}}).to_string(),
                )),
            )
            .await
        }
    };
    let ok = send(format!("\"{version}\""), 10).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let stale = send(format!("\"{version}\""), 12).await;
    stale.assert_error(409, "conflict", None);
    assert_eq!(
        stale.body["errors"][0]["meta"]["current_version"],
        ok.body["version"]
    );
    assert_eq!(read(&app).await["settings"]["password"]["min_length"], 10);
    send("nonsense".into(), 12).await.assert_error(
        422,
        "form_param_format_invalid",
        Some("If-Match"),
    );
}

#[tokio::test]
async fn another_replica_follows_a_change_at_its_next_poll() {
    let a = TestApp::with(public()).await;
    let b = a.reopen().await;
    let res = patch(&a, json!({"username": {"used_for_sign_in": false}})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    // B has not polled yet: its settings are the old ones.
    let env = environment(&b).await;
    assert_eq!(
        env["user_settings"]["attributes"]["username"]["used_for_first_factor"],
        true
    );
    assert!(b.services().instance.refresh().await.unwrap(), "b reloads");
    let env = environment(&b).await;
    assert_eq!(
        env["user_settings"]["attributes"]["username"]["used_for_first_factor"],
        false
    );
    b.user("ann@example.com", Some("ann_user")).await;
    b.new_sign_in(&[("identifier", "ann_user")])
        .await
        .assert_error(422, "form_param_value_invalid", Some("identifier"));
    assert!(
        !b.services().instance.refresh().await.unwrap(),
        "nothing new"
    );
}

#[tokio::test]
async fn every_change_is_audited_with_its_actor_and_fields() {
    let app = TestApp::with(public()).await;
    patch(&app, json!({"attack_protection": {"lockout_attempts": 5}})).await;
    let res = app
        .bapi("GET", "/v1/audit_log?action=settings.changed", None)
        .await;
    let entries = res.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", res.body);
    assert_eq!(entries[0]["actor"], "backend");
    assert_eq!(
        entries[0]["detail"]["changed"],
        "attack_protection.lockout_attempts"
    );
    let versions = app.bapi("GET", &format!("{SETTINGS}/versions"), None).await;
    let latest = &versions.body["data"][0];
    assert_eq!(latest["changed_by"], "backend");
    assert_eq!(
        latest["settings"]["attack_protection"]["lockout_attempts"],
        5
    );
    // A patch that changes nothing stores nothing.
    let before = versions.body["data"].as_array().unwrap().len();
    patch(&app, json!({"attack_protection": {"lockout_attempts": 5}})).await;
    let after = app.bapi("GET", &format!("{SETTINGS}/versions"), None).await;
    assert_eq!(after.body["data"].as_array().unwrap().len(), before);
}

#[tokio::test]
async fn a_sign_in_under_way_meets_the_new_settings_at_its_next_step() {
    let app = TestApp::with(public()).await;
    app.user("ann@example.com", None).await;
    let (token, id, _) = app.identify("ann@example.com").await;
    let res = patch(
        &app,
        json!({"password": {"enabled": false, "required": false}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .sign_in_step(
            &token,
            &id,
            "attempt_first_factor",
            &[("strategy", "password"), ("password", PASSWORD)],
        )
        .await;
    res.assert_error(422, "strategy_for_user_invalid", Some("strategy"));
}

#[tokio::test]
async fn a_user_whose_only_second_factor_is_turned_off_cannot_finish_signing_in() {
    let app = TestApp::with(InstanceSettings::default()).await;
    totp_user(&app, "tina@example.com").await;
    let res = patch(&app, json!({"multi_factor": {"totp": false}})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    // The password passes; the account still needs its second factor, and
    // none is on: the sign-in waits, offering nothing, and a TOTP code is
    // refused.
    let (token, id, res) = app.password_sign_in("tina@example.com").await;
    assert_waiting(&res);
    assert_eq!(res.body["response"]["supported_second_factors"], json!([]));
    let code = totp_code(&app, 0);
    attempt(&app, &token, &id, "totp", &code)
        .await
        .assert_error(422, "strategy_for_user_invalid", Some("strategy"));
    // Turned back on, the same account signs in.
    patch(&app, json!({"multi_factor": {"totp": true}})).await;
    let (token, id, res) = app.password_sign_in("tina@example.com").await;
    assert_waiting(&res);
    let done = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    assert_eq!(done.body["response"]["status"], "complete", "{}", done.body);
}

#[tokio::test]
async fn the_blocklist_and_allowlist_keep_identifiers_out() {
    let app = TestApp::with(public()).await;
    app.user("eve@blocked.example", None).await;
    let add = |list: &'static str, identifier: &'static str| {
        let app = &app;
        async move {
            app.bapi(
                "POST",
                &format!("/v1/{list}_identifiers"),
                Some(json!({ "identifier": identifier })),
            )
            .await
        }
    };
    let blocked = add("blocklist", "*@blocked.example").await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    assert_eq!(blocked.body["object"], "blocklist_identifier");
    assert_eq!(blocked.body["identifier"], "blocked.example");
    add("blocklist", "blocked.example").await.assert_error(
        400,
        "duplicate_record",
        Some("identifier"),
    );
    add("blocklist", "not an address").await.assert_error(
        422,
        "form_param_format_invalid",
        Some("identifier"),
    );

    // Listed but the blocklist is off: nothing changes yet.
    let (_, _, res) = app.password_sign_in("eve@blocked.example").await;
    assert_eq!(res.body["response"]["status"], "complete");

    let res = app
        .bapi(
            "PATCH",
            "/v1/instance/restrictions",
            Some(json!({"blocklist": true})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["object"], "instance_restrictions");
    assert_eq!(res.body["blocklist"], true);
    app.new_sign_in(&[("identifier", "eve@blocked.example")])
        .await
        .assert_error(403, "not_allowed_access", None);
    // An unknown address at the domain is refused the same way.
    app.new_sign_in(&[("identifier", "nobody@blocked.example")])
        .await
        .assert_error(403, "not_allowed_access", None);
    create(
        &app,
        "",
        &[
            ("email_address", "new@blocked.example"),
            ("password", PASSWORD),
        ],
    )
    .await
    .assert_error(403, "not_allowed_access", None);
    let ok = create(
        &app,
        "",
        &[
            ("email_address", "new@open.example"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Sign-ins may skip the lists.
    app.bapi(
        "PATCH",
        "/v1/instance/restrictions",
        Some(json!({"allowlist_blocklist_disabled_on_sign_in": true})),
    )
    .await;
    let (_, _, res) = app.password_sign_in("eve@blocked.example").await;
    assert_eq!(res.body["response"]["status"], "complete");

    // The allowlist: only listed addresses sign up.
    let allowed = add("allowlist", "ann@example.com").await;
    assert_eq!(allowed.body["object"], "allowlist_identifier");
    app.bapi(
        "PATCH",
        "/v1/instance/restrictions",
        Some(json!({"allowlist": true, "blocklist": false})),
    )
    .await;
    create(
        &app,
        "",
        &[("email_address", "bob@example.com"), ("password", PASSWORD)],
    )
    .await
    .assert_error(403, "not_allowed_access", None);
    let ok = create(
        &app,
        "",
        &[("email_address", "ann@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Lists read back as Clerk shapes them, and entries are removed once.
    let list = app.bapi("GET", "/v1/allowlist_identifiers", None).await;
    let entries = list.body.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let id = entries[0]["id"].as_str().unwrap();
    let list = app.bapi("GET", "/v1/blocklist_identifiers", None).await;
    assert_eq!(list.body["total_count"], 1);
    let gone = app
        .bapi("DELETE", &format!("/v1/allowlist_identifiers/{id}"), None)
        .await;
    assert_eq!(gone.body["deleted"], true);
    app.bapi("DELETE", &format!("/v1/allowlist_identifiers/{id}"), None)
        .await
        .assert_error(404, "resource_not_found", None);
    create(
        &app,
        "",
        &[("email_address", "ann@example.com"), ("password", PASSWORD)],
    )
    .await
    .assert_error(403, "not_allowed_access", None);
    let audit = app
        .bapi("GET", "/v1/audit_log?action=restriction_list.changed", None)
        .await;
    assert_eq!(
        audit.body["data"].as_array().unwrap().len(),
        3,
        "{}",
        audit.body
    );
    app.bapi(
        "PATCH",
        "/v1/instance/restrictions",
        Some(json!({"block_disposable_email_domains": true})),
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("block_disposable_email_domains"),
    );
}

#[tokio::test]
async fn subaddresses_may_be_kept_from_signing_up() {
    let app = TestApp::with(public()).await;
    let res = app
        .bapi(
            "PATCH",
            "/v1/instance/restrictions",
            Some(json!({"block_email_subaddresses": true})),
        )
        .await;
    assert_eq!(res.body["block_email_subaddresses"], true, "{}", res.body);
    create(
        &app,
        "",
        &[
            ("email_address", "ann+news@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await
    .assert_error(403, "not_allowed_access", None);
}

#[tokio::test]
async fn clerk_s_instance_routes_answer_in_clerk_s_shapes() {
    let app = TestApp::with(public()).await;
    let res = app.bapi("GET", "/v1/instance", None).await;
    assert_eq!(res.body["object"], "instance");
    assert_eq!(res.body["environment_type"], "development");
    let res = app.bapi("PATCH", "/v1/instance", Some(json!({}))).await;
    assert_eq!(res.status, 204);
    let res = app
        .bapi("PATCH", "/v1/instance", Some(json!({"test_mode": true})))
        .await;
    assert_eq!(res.status, 204, "restating what is in force is accepted");
    app.bapi("PATCH", "/v1/instance", Some(json!({"hibp": true})))
        .await
        .assert_error(422, "form_param_value_invalid", Some("hibp"));
    app.bapi("PATCH", "/v1/instance", Some(json!({"colour": 1})))
        .await
        .assert_error(422, "form_param_unknown", Some("colour"));
}

#[tokio::test]
async fn the_client_cookie_lives_as_long_as_the_session_lifetime_in_force() {
    let app = TestApp::with(public()).await;
    let new_client_cookie = || async {
        let res = app
            .request(
                "POST",
                "/v1/client",
                &[("origin", crate::support::ORIGIN)],
                None,
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.header("set-cookie").unwrap().to_owned()
    };
    let week = 7 * 86_400;
    assert!(
        new_client_cookie()
            .await
            .contains(&format!("Max-Age={week}"))
    );
    patch(&app, json!({"sessions": {"lifetime_secs": 3600}})).await;
    let cookie = new_client_cookie().await;
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");
}

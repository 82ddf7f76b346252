//! Second factors over HTTP: phone codes to reserved numbers, TOTP, backup
//! codes and email codes, and the Backend API that turns them on and off.

use latch_core::model::{InstanceSettings, TotpSecret, step_at};
use latch_core::ports::Clock as _;
use serde_json::{Value, json};

use crate::support::{PASSWORD, Resp, TestApp};

/// RFC 6238's SHA-1 test secret, "12345678901234567890", in base32.
pub(crate) const TOTP_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

const BACKUP_CODES: [&str; 10] = [
    "k7m2p9qa", "x3n8v1cd", "h5t6w2ee", "b9r4s7ff", "m1q8z3gg", "c6y2u5hh", "p4j9k1ii", "w8e3d6jj",
    "n2f7g4kk", "t5h1l8mm",
];

/// The TOTP code of [`TOTP_BASE32`] `offset` steps from the app's now.
pub(crate) fn totp_code(app: &TestApp, offset: i64) -> String {
    totp_code_of(app, TOTP_BASE32, offset)
}

/// Creates a user with a password and `extra` Backend API fields.
async fn mfa_user(app: &TestApp, email: &str, extra: Value) -> Value {
    let mut body = json!({ "email_address": [email], "password": PASSWORD });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = app.post_user(body).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

/// A user with [`TOTP_BASE32`] as their authenticator app.
pub(crate) async fn totp_user(app: &TestApp, email: &str) -> Value {
    mfa_user(app, email, json!({ "totp_secret": TOTP_BASE32 })).await
}

/// A user with [`BACKUP_CODES`].
async fn backup_user(app: &TestApp, email: &str) -> Value {
    mfa_user(app, email, json!({ "backup_codes": BACKUP_CODES })).await
}

/// A user with both [`TOTP_BASE32`] and [`BACKUP_CODES`].
async fn totp_and_backup_user(app: &TestApp, email: &str) -> Value {
    let extra = json!({ "totp_secret": TOTP_BASE32, "backup_codes": BACKUP_CODES });
    mfa_user(app, email, extra).await
}

/// A user whose phone number +15555550242 is their second factor.
async fn phone_user(app: &TestApp, email: &str) -> Value {
    mfa_user(app, email, json!({ "phone_number": ["+15555550242"] })).await
}

async fn second(app: &TestApp, token: &str, id: &str, step: &str, form: &[(&str, &str)]) -> Resp {
    app.fapi(
        "POST",
        &format!("/v1/client/sign_ins/{id}/{step}_second_factor"),
        token,
        form,
    )
    .await
}

/// Prepares the sign-in's second factor of `strategy`.
async fn prepare(app: &TestApp, token: &str, id: &str, strategy: &str) -> Resp {
    second(app, token, id, "prepare", &[("strategy", strategy)]).await
}

/// Attempts `code` as the sign-in's second factor of `strategy`.
pub(crate) async fn attempt(
    app: &TestApp,
    token: &str,
    id: &str,
    strategy: &str,
    code: &str,
) -> Resp {
    let form = [("strategy", strategy), ("code", code)];
    second(app, token, id, "attempt", &form).await
}

fn strategies(factors: &Value) -> Vec<&str> {
    factors
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["strategy"].as_str().unwrap())
        .collect()
}

/// The sign-in waits for its second factor, with no session yet.
pub(crate) fn assert_waiting(res: &Resp) {
    let s = &res.body["response"];
    assert_eq!(s["status"], "needs_second_factor", "{}", res.body);
    assert!(s["created_session_id"].is_null());
    assert_eq!(res.body["client"]["sessions"], json!([]), "no session yet");
    assert_eq!(s["first_factor_verification"]["status"], "verified");
}

/// The sign-in completed and its session is on the client.
pub(crate) fn assert_complete(res: &Resp) -> String {
    assert_eq!(res.status, 200, "{}", res.body);
    let s = &res.body["response"];
    assert_eq!(s["status"], "complete", "{}", res.body);
    assert_eq!(s["second_factor_verification"]["status"], "verified");
    let session = s["created_session_id"].as_str().unwrap().to_owned();
    assert_eq!(res.body["client"]["sessions"][0]["id"], session.as_str());
    session
}

#[tokio::test]
async fn password_then_totp() {
    let app = TestApp::new().await;
    let user = totp_user(&app, "tina@example.com").await;
    assert_eq!(user["totp_enabled"], true);
    assert_eq!(user["two_factor_enabled"], true);
    assert_eq!(user["backup_code_enabled"], false);
    assert!(
        user.get("totp_secret").is_none(),
        "the secret is never shown"
    );

    let (token, id, res) = app.password_sign_in("tina@example.com").await;
    assert_waiting(&res);
    assert_eq!(
        res.body["response"]["supported_second_factors"],
        json!([{ "strategy": "totp" }])
    );
    // A wrong code is refused and counted; the sign-in still waits.
    let wrong = attempt(&app, &token, &id, "totp", "000000").await;
    wrong.assert_error(422, "form_code_incorrect", Some("code"));
    let current = app.read_sign_in(&token, &id).await;
    assert_eq!(
        current.body["response"]["second_factor_verification"]["attempts"],
        1
    );
    assert_eq!(
        current.body["response"]["second_factor_verification"]["object"],
        "verification_totp"
    );
    // Missing pieces are named.
    second(&app, &token, &id, "attempt", &[("strategy", "totp")])
        .await
        .assert_error(422, "form_param_nil", Some("code"));
    second(&app, &token, &id, "attempt", &[("code", "123456")])
        .await
        .assert_error(422, "form_param_nil", Some("strategy"));

    let code = totp_code(&app, 0);
    let done = attempt(&app, &token, &id, "totp", &code).await;
    let session = assert_complete(&done);
    assert_ne!(done.token(), token, "the token rotates");
    let age = &done.body["client"]["sessions"][0]["factor_verification_age"];
    assert_eq!(age[1], 0, "the second factor was just verified: {age}");

    // The same code does not work twice, not even on another device.
    let (token2, id2, _) = app.password_sign_in("tina@example.com").await;
    attempt(&app, &token2, &id2, "totp", &code)
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    // Nor does a code of a step before the one used.
    attempt(&app, &token2, &id2, "totp", &totp_code(&app, -1))
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    // A code of the next step does (one step of drift).
    let next = attempt(&app, &token2, &id2, "totp", &totp_code(&app, 1)).await;
    assert_ne!(assert_complete(&next), session);
}

#[tokio::test]
async fn totp_secrets_are_sealed_at_rest() {
    let app = TestApp::new().await;
    totp_and_backup_user(&app, "sam@example.com").await;
    let bytes = app.database_bytes();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(TOTP_BASE32.as_bytes()));
    assert!(!contains(b"12345678901234567890"));
    assert!(!contains(BACKUP_CODES[0].as_bytes()));
}

#[tokio::test]
async fn password_then_phone_code_to_a_reserved_number() {
    let app = TestApp::new().await;
    let user = phone_user(&app, "paul@example.com").await;
    assert_eq!(user["two_factor_enabled"], false);
    let phone_id = user["phone_numbers"][0]["id"].as_str().unwrap().to_owned();
    let reserved = app
        .bapi(
            "PATCH",
            &format!("/v1/phone_numbers/{phone_id}"),
            Some(json!({ "reserved_for_second_factor": true })),
        )
        .await;
    assert_eq!(reserved.status, 200, "{}", reserved.body);
    assert_eq!(reserved.body["object"], "phone_number");
    assert_eq!(reserved.body["reserved_for_second_factor"], true);
    assert_eq!(reserved.body["default_second_factor"], true);
    let read = app
        .bapi("GET", &format!("/v1/phone_numbers/{phone_id}"), None)
        .await;
    assert_eq!(read.body, reserved.body);
    let user_id = user["id"].as_str().unwrap();
    let user = app.user_json(user_id).await;
    assert_eq!(user["two_factor_enabled"], true);
    // A number kept for the second factor no longer names the account.
    app.new_sign_in(&[("identifier", "+15555550242")])
        .await
        .assert_error(422, "form_identifier_not_found", Some("identifier"));

    let (token, id, res) = app.password_sign_in("paul@example.com").await;
    assert_waiting(&res);
    assert_eq!(
        res.body["response"]["supported_second_factors"],
        json!([{
            "strategy": "phone_code",
            "phone_number_id": phone_id,
            "safe_identifier": "+1******0242",
            "primary": true,
            "default": true,
        }])
    );
    // A code must be prepared before it is attempted.
    attempt(&app, &token, &id, "phone_code", "123456")
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    let prepared = prepare(&app, &token, &id, "phone_code").await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let v = &prepared.body["response"]["second_factor_verification"];
    assert_eq!(v["object"], "verification_otp");
    assert_eq!(v["status"], "unverified");
    let code = app
        .codes
        .last_code_to("+15555550242")
        .expect("a code was sent");
    let wrong = if code == "111111" { "222222" } else { "111111" };
    attempt(&app, &token, &id, "phone_code", wrong)
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    let done = attempt(&app, &token, &id, "phone_code", &code).await;
    assert_complete(&done);
    // Once complete, no further step is taken.
    let again = attempt(&app, &done.token(), &id, "phone_code", &code).await;
    assert_eq!(again.status, 422, "{}", again.body);
}

#[tokio::test]
async fn password_then_backup_code() {
    let app = TestApp::new().await;
    let user = backup_user(&app, "bea@example.com").await;
    assert_eq!(user["backup_code_enabled"], true);
    assert_eq!(user["two_factor_enabled"], true);
    let (token, id, res) = app.password_sign_in("bea@example.com").await;
    assert_waiting(&res);
    assert_eq!(
        strategies(&res.body["response"]["supported_second_factors"]),
        ["backup_code"]
    );
    prepare(&app, &token, &id, "backup_code")
        .await
        .assert_error(422, "form_param_value_invalid", Some("strategy"));
    attempt(&app, &token, &id, "backup_code", "zzzzzzzz")
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    // Codes are read without case or dashes.
    let done = attempt(&app, &token, &id, "backup_code", "K7M2-P9QA").await;
    assert_complete(&done);
    assert_eq!(
        done.body["response"]["second_factor_verification"]["object"],
        "verification_backup_code"
    );
    // Used once, gone: the next sign-in cannot use it, but can use another.
    let (token2, id2, _) = app.password_sign_in("bea@example.com").await;
    attempt(&app, &token2, &id2, "backup_code", "k7m2p9qa")
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    let other = attempt(&app, &token2, &id2, "backup_code", BACKUP_CODES[1]).await;
    assert_complete(&other);
}

#[tokio::test]
async fn racing_uses_of_one_backup_code_exactly_one_wins() {
    let app = TestApp::new().await;
    let user = backup_user(&app, "rae@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    for (round, code) in BACKUP_CODES.iter().copied().enumerate().take(3) {
        let (t1, s1, _) = app.password_sign_in("rae@example.com").await;
        let (t2, s2, _) = app.password_sign_in("rae@example.com").await;
        let form = [("strategy", "backup_code"), ("code", code)];
        let (a, b) = tokio::join!(
            second(&app, &t1, &s1, "attempt", &form),
            second(&app, &t2, &s2, "attempt", &form),
        );
        let wins = [&a, &b].iter().filter(|r| r.status == 200).count();
        assert_eq!(wins, 1, "round {round}: {} / {}", a.body, b.body);
        let loser = if a.status == 200 { &b } else { &a };
        loser.assert_error(422, "form_code_incorrect", Some("code"));
        let sessions = app
            .bapi(
                "GET",
                &format!("/v1/sessions?user_id={user_id}&status=active"),
                None,
            )
            .await;
        assert_eq!(
            sessions.body.as_array().unwrap().len(),
            round + 1,
            "{}",
            sessions.body
        );
    }
}

#[tokio::test]
async fn email_codes_are_second_factors_where_turned_on() {
    let mut settings = InstanceSettings::default();
    settings.strategies.email_code_second_factor = true;
    let app = TestApp::with(settings).await;
    totp_user(&app, "eve@example.com").await;
    let (token, id, res) = app.password_sign_in("eve@example.com").await;
    assert_eq!(
        strategies(&res.body["response"]["supported_second_factors"]),
        ["totp", "email_code"]
    );
    let prepared = prepare(&app, &token, &id, "email_code").await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("eve@example.com").unwrap();
    let done = attempt(&app, &token, &id, "email_code", &code).await;
    assert_complete(&done);

    // After an email code as the first factor, an email code is no second factor.
    let (token, id, _) = app.identify("eve@example.com").await;
    app.prepare_first_factor(&token, &id, "email_code", &[])
        .await;
    let code = app.codes.last_code_to("eve@example.com").unwrap();
    let first = app
        .attempt_first_factor_code(&token, &id, "email_code", &code)
        .await;
    assert_waiting(&first);
    assert_eq!(
        strategies(&first.body["response"]["supported_second_factors"]),
        ["totp"]
    );
    let token = first.token();
    prepare(&app, &token, &id, "email_code").await.assert_error(
        422,
        "strategy_for_user_invalid",
        Some("strategy"),
    );
}

#[tokio::test]
async fn second_factor_failures_lock_the_user() {
    let settings = InstanceSettings {
        lockout_attempts: 3,
        ..InstanceSettings::default()
    };
    let app = TestApp::with(settings).await;
    let user = totp_and_backup_user(&app, "lou@example.com").await;
    let (token, id, _) = app.password_sign_in("lou@example.com").await;
    for (strategy, code) in [
        ("totp", "000000"),
        ("backup_code", "nope-nope"),
        ("totp", "999999"),
    ] {
        attempt(&app, &token, &id, strategy, code)
            .await
            .assert_error(422, "form_code_incorrect", Some("code"));
    }
    // Locked: not even a right code is looked at.
    let locked = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    locked.assert_error(403, "user_locked", None);
    assert!(
        locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"]
            .as_i64()
            .unwrap()
            > 3500
    );
    let user_id = user["id"].as_str().unwrap();
    let read = app.bapi("GET", &format!("/v1/users/{user_id}"), None).await;
    assert_eq!(read.body["locked"], true);
    // Unlocked: this sign-in spent its attempts (TOTP and backup codes share
    // them), so the right code is not even looked at; a new sign-in works.
    app.bapi("POST", &format!("/v1/users/{user_id}/unlock"), None)
        .await;
    attempt(&app, &token, &id, "totp", &totp_code(&app, 0))
        .await
        .assert_error(422, "verification_failed", Some("code"));
    let (token, id, _) = app.password_sign_in("lou@example.com").await;
    let done = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    assert_complete(&done);
}

#[tokio::test]
async fn the_backend_api_turns_second_factors_on_and_off() {
    let app = TestApp::new().await;
    let user = phone_user(&app, "max@example.com").await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let phone_id = user["phone_numbers"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{user_id}");

    let updated = app
        .bapi(
            "PATCH",
            &path,
            Some(json!({ "totp_secret": TOTP_BASE32, "backup_codes": BACKUP_CODES })),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["totp_enabled"], true);
    assert_eq!(updated.body["backup_code_enabled"], true);
    app.bapi(
        "PATCH",
        &format!("/v1/phone_numbers/{phone_id}"),
        Some(json!({ "reserved_for_second_factor": true })),
    )
    .await;
    let (_, _, res) = app.password_sign_in("max@example.com").await;
    assert_eq!(
        strategies(&res.body["response"]["supported_second_factors"]),
        ["phone_code", "totp", "backup_code"]
    );

    // One at a time.
    let off = app.bapi("DELETE", &format!("{path}/totp"), None).await;
    assert_eq!(off.body, json!({ "user_id": user_id }));
    let read = app.bapi("GET", &path, None).await.body;
    assert_eq!(
        (
            read["totp_enabled"].clone(),
            read["two_factor_enabled"].clone()
        ),
        (json!(false), json!(true))
    );
    app.bapi("DELETE", &format!("{path}/backup_code"), None)
        .await;
    assert_eq!(
        app.bapi("GET", &path, None).await.body["backup_code_enabled"],
        false
    );

    // All at once: the reserved number becomes an ordinary one again.
    app.bapi("PATCH", &path, Some(json!({ "totp_secret": TOTP_BASE32 })))
        .await;
    let off = app.bapi("DELETE", &format!("{path}/mfa"), None).await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body, json!({ "user_id": user_id }));
    let read = app.bapi("GET", &path, None).await.body;
    assert_eq!(read["two_factor_enabled"], false);
    assert_eq!(read["totp_enabled"], false);
    assert_eq!(
        read["phone_numbers"][0]["reserved_for_second_factor"],
        false
    );
    let (_, _, res) = app.password_sign_in("max@example.com").await;
    assert_eq!(res.body["response"]["status"], "complete");
    assert_eq!(
        res.body["response"]["supported_second_factors"],
        Value::Null
    );

    // totp_secret: null turns TOTP off through an update too.
    app.bapi("PATCH", &path, Some(json!({ "totp_secret": TOTP_BASE32 })))
        .await;
    let cleared = app
        .bapi("PATCH", &path, Some(json!({ "totp_secret": null })))
        .await;
    assert_eq!(cleared.body["totp_enabled"], false);

    for p in [
        "/v1/users/user_nobody/mfa",
        "/v1/users/user_nobody/totp",
        "/v1/users/user_nobody/backup_code",
    ] {
        app.bapi("DELETE", p, None)
            .await
            .assert_error(404, "resource_not_found", None);
    }
    app.bapi("GET", "/v1/phone_numbers/idn_nobody", None)
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn invalid_second_factor_input_changes_nothing() {
    let app = TestApp::new().await;
    let user = phone_user(&app, "ida@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let email_id = user["email_addresses"][0]["id"].as_str().unwrap();
    let phone_id = user["phone_numbers"][0]["id"].as_str().unwrap();
    let path = format!("/v1/users/{user_id}");
    let before = app.bapi("GET", &path, None).await.body;
    let cases = [
        (json!({ "totp_secret": "not base32!" }), "totp_secret"),
        (json!({ "totp_secret": "JBSWY3DPEHPK3PXP" }), "totp_secret"),
        (
            json!({ "backup_codes": ["$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"] }),
            "backup_codes",
        ),
        (json!({ "backup_codes": ["abc"] }), "backup_codes"),
        (
            json!({ "totp_secret": TOTP_BASE32, "backup_codes": ["x"] }),
            "backup_codes",
        ),
    ];
    for (body, param) in cases {
        let res = app.bapi("PATCH", &path, Some(body.clone())).await;
        assert_eq!(res.status, 422, "{body}: {}", res.body);
        assert_eq!(
            res.error().1.as_deref(),
            Some(param),
            "{body}: {}",
            res.body
        );
        let created = app
            .post_user(json!({ "email_address": ["new@example.com"], "totp_secret": body["totp_secret"], "backup_codes": body["backup_codes"] }))
            .await;
        assert_eq!(created.status, 422, "{body}: {}", created.body);
    }
    let app = &app;
    let patch = |body: Value, id: &str| {
        let path = format!("/v1/phone_numbers/{id}");
        async move { app.bapi("PATCH", &path, Some(body)).await }
    };
    patch(
        json!({ "verified": false, "reserved_for_second_factor": true }),
        phone_id,
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("verified"));
    patch(
        json!({ "reserved_for_second_factor": "sometimes" }),
        phone_id,
    )
    .await
    .assert_error(
        422,
        "form_param_format_invalid",
        Some("reserved_for_second_factor"),
    );
    patch(json!({ "primary": false }), phone_id)
        .await
        .assert_error(422, "form_param_value_invalid", Some("primary"));
    // An email address's id is no phone number.
    patch(json!({ "reserved_for_second_factor": true }), email_id)
        .await
        .assert_error(404, "resource_not_found", None);
    assert_eq!(app.bapi("GET", &path, None).await.body, before);
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

#[tokio::test]
async fn disabled_second_factors_are_refused_and_not_advertised() {
    let mut settings = InstanceSettings::default();
    settings.strategies.totp = false;
    settings.strategies.backup_code = false;
    let app = TestApp::with(settings).await;
    let res = app
        .post_user(json!({ "email_address": ["off@example.com"], "totp_secret": TOTP_BASE32 }))
        .await;
    res.assert_error(422, "form_param_value_invalid", Some("totp_secret"));
    let res = app
        .post_user(json!({ "email_address": ["off@example.com"], "backup_codes": BACKUP_CODES }))
        .await;
    res.assert_error(422, "form_param_value_invalid", Some("backup_codes"));
    let env = app.fapi("GET", "/v1/environment", "", &[]).await.body;
    assert_eq!(env["auth_config"]["second_factors"], json!(["phone_code"]));
    assert_eq!(
        env["user_settings"]["attributes"]["authenticator_app"]["used_for_second_factor"],
        false
    );

    let on = TestApp::new().await;
    let env = on.fapi("GET", "/v1/environment", "", &[]).await.body;
    assert_eq!(
        env["auth_config"]["second_factors"],
        json!(["phone_code", "totp", "backup_code"])
    );
    assert_eq!(
        env["user_settings"]["attributes"]["authenticator_app"]["second_factors"],
        json!(["totp"])
    );
}

#[tokio::test]
async fn a_password_reset_then_asks_for_the_second_factor() {
    let app = TestApp::new().await;
    totp_user(&app, "ria@example.com").await;
    let (token, id, _) = app.identify("ria@example.com").await;
    let strategy = "reset_password_email_code";
    app.prepare_first_factor(&token, &id, strategy, &[]).await;
    let code = app.codes.last_code_to("ria@example.com").unwrap();
    let verified = app
        .attempt_first_factor_code(&token, &id, strategy, &code)
        .await;
    assert_eq!(verified.body["response"]["status"], "needs_new_password");
    let token = verified.token();
    let new_password = [("password", "a brand new password")];
    let reset = app
        .sign_in_step(&token, &id, "reset_password", &new_password)
        .await;
    assert_waiting(&reset);
    assert_eq!(
        strategies(&reset.body["response"]["supported_second_factors"]),
        ["totp"]
    );
    let done = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    assert_complete(&done);
}

/// The strings of a JSON array.
fn strings(array: &Value) -> Vec<String> {
    array
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// The TOTP code of a base32 secret, `offset` steps from the app's now.
fn totp_code_of(app: &TestApp, secret: &str, offset: i64) -> String {
    TotpSecret::parse_base32(secret)
        .unwrap()
        .code_at_step(step_at(app.clock.now()) + offset)
}

#[tokio::test]
async fn users_enrol_an_authenticator_app_and_get_backup_codes() {
    let app = TestApp::new().await;
    let user_id = app.user("nia@example.com", None).await;
    let (token, session) = app.sign_in("nia@example.com").await;
    let me = |method: &'static str, path: &'static str, form: Vec<(&'static str, String)>| {
        let token = token.clone();
        let session = session.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.fapi(
                method,
                &format!("/v1/me{path}?_clerk_session_id={session}"),
                &token,
                &form,
            )
            .await
        }
    };

    let read = me("GET", "", vec![]).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["response"]["id"], user_id.as_str());
    assert!(read.body["response"].get("private_metadata").is_none());

    let created = me("POST", "/totp", vec![]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let totp = &created.body["response"];
    assert_eq!(totp["object"], "totp");
    assert_eq!(totp["verified"], false);
    let secret = totp["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = totp["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Latch:nia%40example.com?secret="),
        "{uri}"
    );
    assert!(uri.contains(&secret));
    // Not on until verified: sign-ins still need only the password.
    let user = app.user_json(&user_id).await;
    assert_eq!(user["totp_enabled"], false);

    me(
        "POST",
        "/totp/attempt_verification",
        vec![("code", "000000".into())],
    )
    .await
    .assert_error(422, "form_code_incorrect", Some("code"));
    me("POST", "/totp/attempt_verification", vec![])
        .await
        .assert_error(422, "form_param_nil", Some("code"));
    let code = totp_code_of(&app, &secret, 0);
    let verified = me(
        "POST",
        "/totp/attempt_verification",
        vec![("code", code.clone())],
    )
    .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.body["response"]["verified"], true);
    assert!(
        verified.body["response"]["secret"].is_null(),
        "shown only once"
    );
    let backup = strings(&verified.body["response"]["backup_codes"]);
    assert_eq!(
        backup.len(),
        10,
        "a first set of backup codes comes with it"
    );
    let user = app.user_json(&user_id).await;
    assert_eq!(user["totp_enabled"], true);
    assert_eq!(user["backup_code_enabled"], true);
    assert_eq!(user["two_factor_enabled"], true);
    me("POST", "/totp", vec![])
        .await
        .assert_error(400, "totp_already_enabled", None);

    // The next sign-in asks for the second factor; the enrolment code is spent.
    let (t2, s2, res) = app.password_sign_in("nia@example.com").await;
    assert_waiting(&res);
    attempt(&app, &t2, &s2, "totp", &code).await.assert_error(
        422,
        "form_code_incorrect",
        Some("code"),
    );
    let done = attempt(&app, &t2, &s2, "backup_code", &backup[0]).await;
    assert_complete(&done);

    // A new set replaces the old one.
    let fresh = me("POST", "/backup_codes", vec![]).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["response"]["object"], "backup_code");
    let fresh = strings(&fresh.body["response"]["codes"]);
    assert_eq!(fresh.len(), 10);
    let (t3, s3, _) = app.password_sign_in("nia@example.com").await;
    attempt(&app, &t3, &s3, "backup_code", &backup[1])
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    let done = attempt(&app, &t3, &s3, "backup_code", &fresh[0]).await;
    assert_complete(&done);

    // Removing the app.
    let removed = me("DELETE", "/totp", vec![]).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body["response"]["deleted"], true);
    let user = app.user_json(&user_id).await;
    assert_eq!(user["totp_enabled"], false);
    me("DELETE", "/totp", vec![])
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn only_a_signed_in_user_manages_their_second_factors() {
    let app = TestApp::new().await;
    app.user("oz@example.com", None).await;
    app.user("pat@example.com", None).await;
    // No client, or a client without a session.
    app.fapi("POST", "/v1/me/totp", "", &[]).await.assert_error(
        401,
        "authentication_invalid",
        None,
    );
    let (token, _, _) = app.identify("oz@example.com").await;
    app.fapi("POST", "/v1/me/backup_codes", &token, &[])
        .await
        .assert_error(401, "authentication_invalid", None);
    // Another client's session is not this client's.
    let (oz_token, oz_session) = app.sign_in("oz@example.com").await;
    let (pat_token, _) = app.sign_in("pat@example.com").await;
    app.fapi(
        "POST",
        &format!("/v1/me/totp?_clerk_session_id={oz_session}"),
        &pat_token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    // An ended session is no longer signed in.
    app.bapi("POST", &format!("/v1/sessions/{oz_session}/revoke"), None)
        .await;
    app.fapi(
        "POST",
        &format!("/v1/me/totp?_clerk_session_id={oz_session}"),
        &oz_token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    app.fapi("PUT", "/v1/me/totp", &pat_token, &[])
        .await
        .assert_error(405, "method_not_allowed", None);

    // Turned off on the instance.
    let mut settings = InstanceSettings::default();
    settings.strategies.totp = false;
    let off = TestApp::with(settings).await;
    off.user("quin@example.com", None).await;
    let (token, _) = off.sign_in("quin@example.com").await;
    off.fapi("POST", "/v1/me/totp", &token, &[])
        .await
        .assert_error(403, "feature_not_enabled", None);
}

#[tokio::test]
async fn parallel_guesses_cannot_exceed_the_attempt_limit() {
    let app = TestApp::new().await;
    totp_user(&app, "gus@example.com").await;
    let (token, id, _) = app.password_sign_in("gus@example.com").await;
    let guess = |code: &'static str| {
        let (app, token, id) = (&app, &token, &id);
        async move { attempt(app, token, id, "totp", code).await }
    };
    let all = tokio::join!(
        guess("000001"),
        guess("000002"),
        guess("000003"),
        guess("000004"),
        guess("000005"),
        guess("000006"),
    );
    let all = [all.0, all.1, all.2, all.3, all.4, all.5];
    let evaluated = all
        .iter()
        .filter(|r| r.error().0 == "form_code_incorrect")
        .count();
    assert!(evaluated <= 3, "{evaluated} guesses were evaluated");
    for r in &all {
        assert!(
            ["form_code_incorrect", "verification_failed", "conflict"]
                .contains(&r.error().0.as_str()),
            "{}",
            r.body
        );
    }
    let state = app.read_sign_in(&token, &id).await;
    assert!(
        state.body["response"]["second_factor_verification"]["attempts"]
            .as_u64()
            .unwrap()
            <= 3
    );
}

#[tokio::test]
async fn numbers_are_reserved_for_the_second_factor_only_where_phone_codes_are_on() {
    let settings = InstanceSettings {
        strategies: latch_core::model::StrategySettings {
            phone_code: false,
            ..InstanceSettings::default().strategies
        },
        ..InstanceSettings::default()
    };
    let app = TestApp::with(settings).await;
    let user = phone_user(&app, "pip@example.com").await;
    let phone_id = user["phone_numbers"][0]["id"].as_str().unwrap();
    app.bapi(
        "PATCH",
        &format!("/v1/phone_numbers/{phone_id}"),
        Some(json!({ "reserved_for_second_factor": true })),
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("reserved_for_second_factor"),
    );
    let read = app
        .bapi("GET", &format!("/v1/phone_numbers/{phone_id}"), None)
        .await;
    assert_eq!(read.body["reserved_for_second_factor"], false);
}

#[tokio::test]
async fn unverified_addresses_are_no_second_factor() {
    let mut settings = InstanceSettings::default();
    settings.strategies.email_code_second_factor = true;
    let app = TestApp::with(settings).await;
    let extra = json!({
        "email_address": ["ewa@example.com", "ewa.old@example.com"],
        "phone_number": ["+15550006666"],
        "totp_secret": TOTP_BASE32,
    });
    let user = mfa_user(&app, "ewa@example.com", extra).await;
    let user_id = user["id"].as_str().unwrap();
    let phone_id = user["phone_numbers"][0]["id"].as_str().unwrap();
    let reserved = app
        .bapi(
            "PATCH",
            &format!("/v1/phone_numbers/{phone_id}"),
            Some(json!({ "reserved_for_second_factor": true })),
        )
        .await;
    assert_eq!(reserved.status, 200, "{}", reserved.body);

    // A code goes to the second address while it is verified...
    let (token, id, res) = app.password_sign_in("ewa@example.com").await;
    assert_waiting(&res);
    let old_email = res.body["response"]["supported_second_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["safe_identifier"] == "e***d@example.com")
        .unwrap()["email_address_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = [("strategy", "email_code"), ("email_address_id", &old_email)];
    let prepared = second(&app, &token, &id, "prepare", &form).await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    let code = app.codes.last_code_to("ewa.old@example.com").unwrap();
    // ... then it and the reserved number are no longer verified.
    app.set_verified(user_id, "ewa.old@example.com", false)
        .await;
    app.set_verified(user_id, "+15550006666", false).await;

    attempt(&app, &token, &id, "email_code", &code)
        .await
        .assert_error(422, "strategy_for_user_invalid", Some("strategy"));
    let read = app.read_sign_in(&token, &id).await;
    assert_waiting(&read);
    assert_eq!(
        read.body["response"]["supported_second_factors"],
        json!([
            { "strategy": "totp" },
            {
                "strategy": "email_code",
                "email_address_id": user["email_addresses"][0]["id"],
                "safe_identifier": "e***a@example.com",
                "primary": true,
            },
        ])
    );
    prepare(&app, &token, &id, "phone_code").await.assert_error(
        422,
        "strategy_for_user_invalid",
        Some("strategy"),
    );
    second(&app, &token, &id, "prepare", &form)
        .await
        .assert_error(422, "form_param_value_invalid", Some("email_address_id"));
    assert_eq!(app.codes.count(), 1, "nothing more was sent");
}

#[tokio::test]
async fn new_backup_codes_and_removing_the_app_need_a_recent_verification() {
    let app = TestApp::new().await;
    let user = totp_and_backup_user(&app, "rey@example.com").await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (token, id, _) = app.password_sign_in("rey@example.com").await;
    let done = attempt(&app, &token, &id, "totp", &totp_code(&app, 0)).await;
    let session = assert_complete(&done);
    let token = done.token();
    let me = |method: &'static str, path: &'static str| {
        let (app, token, session) = (&app, token.clone(), session.clone());
        async move {
            app.fapi(
                method,
                &format!("/v1/me{path}?_clerk_session_id={session}"),
                &token,
                &[],
            )
            .await
        }
    };
    // Ten minutes after the sign-in: still recent enough.
    app.clock.advance(std::time::Duration::from_secs(10 * 60));
    let fresh = me("POST", "/backup_codes").await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let codes = strings(&fresh.body["response"]["codes"]);
    // A minute later, both changes are refused with Clerk's error, and
    // change nothing.
    app.clock.advance(std::time::Duration::from_secs(60));
    for (method, path) in [("POST", "/backup_codes"), ("DELETE", "/totp")] {
        let refused = me(method, path).await;
        refused.assert_error(403, "session_reverification_required", None);
        assert_eq!(
            refused.body["errors"][0]["meta"]["reverification"],
            json!({ "level": "second_factor", "after_minutes": 10 }),
            "{method} {path}"
        );
    }
    let shown = app.user_json(&user_id).await;
    assert_eq!(
        (
            shown["totp_enabled"].clone(),
            shown["backup_code_enabled"].clone()
        ),
        (json!(true), json!(true))
    );
    let (t2, s2, _) = app.password_sign_in("rey@example.com").await;
    assert_complete(&attempt(&app, &t2, &s2, "backup_code", &codes[0]).await);
    // Reading the account needs no reverification.
    assert_eq!(me("GET", "").await.status, 200);
}

#[tokio::test]
async fn a_session_signed_in_with_the_password_alone_reverifies_at_the_first_factor() {
    let app = TestApp::new().await;
    app.user("sol@example.com", None).await;
    let (token, session) = app.sign_in("sol@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let refused = app
        .fapi(
            "POST",
            &format!("/v1/me/backup_codes?_clerk_session_id={session}"),
            &token,
            &[],
        )
        .await;
    refused.assert_error(403, "session_reverification_required", None);
    assert_eq!(
        refused.body["errors"][0]["meta"]["reverification"],
        json!({ "level": "first_factor", "after_minutes": 10 })
    );
    // A new sign-in is a fresh verification.
    let (token, session) = app.sign_in("sol@example.com").await;
    let fresh = app
        .fapi(
            "POST",
            &format!("/v1/me/backup_codes?_clerk_session_id={session}"),
            &token,
            &[],
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
}

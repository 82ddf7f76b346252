//! Enumeration protection (`enumeration_protection`): an identifier that
//! names no account answers exactly as one that does, up to the failed
//! factor; nothing is sent to it and nothing can sign it in.

use latch_core::model::InstanceSettings;
use serde_json::{Map, Value};

use crate::support::{PASSWORD, Resp, TestApp};

fn protected() -> InstanceSettings {
    InstanceSettings {
        enumeration_protection: true,
        ..InstanceSettings::default()
    }
}

/// The body with what differs between any two sign-ins blanked out: ids,
/// times, trace ids and the identifier itself. What is left must match.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let blank = key == "id"
                    || key.ends_with("_id")
                    || key.ends_with("_at")
                    || key == "identifier"
                    || key == "safe_identifier";
                if key == "clerk_trace_id" {
                    continue;
                }
                let v = if blank && !v.is_null() {
                    Value::String("…".into())
                } else {
                    shape(v)
                };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn same(known: &Resp, unknown: &Resp) {
    assert_eq!(
        known.status, unknown.status,
        "{}\n{}",
        known.body, unknown.body
    );
    assert_eq!(
        shape(&known.body),
        shape(&unknown.body),
        "known:   {}\nunknown: {}",
        known.body,
        unknown.body
    );
}

async fn identify(app: &TestApp, identifier: &str) -> Resp {
    app.new_sign_in(&[("identifier", identifier)]).await
}

fn factor_id(res: &Resp, strategy: &str, field: &str) -> String {
    res.body["response"]["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["strategy"] == strategy)
        .unwrap()[field]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_unknown_identifier_gets_a_sign_in_shaped_like_a_known_one() {
    let app = TestApp::with(protected()).await;
    // Each real account has the one identifier compared; a username stand-in
    // offers the password only, as an account with no email address does.
    app.user("kim@example.com", None).await;
    for identification in [
        serde_json::json!({ "phone_number": ["+15550001111"], "password": PASSWORD }),
        serde_json::json!({ "username": "kimberly", "password": PASSWORD }),
    ] {
        let res = app.bapi("POST", "/v1/users", Some(identification)).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    for (known, unknown) in [
        ("kim@example.com", "nobody@example.com"),
        ("+15550001111", "+15550002222"),
        ("kimberly", "nobody_here"),
    ] {
        let k = identify(&app, known).await;
        let u = identify(&app, unknown).await;
        assert_eq!(k.status, 200, "{}", k.body);
        same(&k, &u);
        assert_eq!(u.body["response"]["identifier"], unknown);
    }
    // The stand-in's ids are the same every time, as a real account's are.
    let first = identify(&app, "nobody@example.com").await;
    let again = identify(&app, "nobody@example.com").await;
    assert_eq!(
        factor_id(&first, "email_code", "email_address_id"),
        factor_id(&again, "email_code", "email_address_id")
    );
    // Without protection the answer is Clerk's usual one.
    let open = TestApp::new().await;
    identify(&open, "nobody@example.com").await.assert_error(
        422,
        "form_identifier_not_found",
        Some("identifier"),
    );
}

#[tokio::test]
async fn a_wrong_password_reads_the_same_for_an_unknown_identifier() {
    let app = TestApp::with(protected()).await;
    app.user("kim@example.com", None).await;
    let one_call = |identifier: &'static str| {
        let app = &app;
        async move {
            app.new_sign_in(&[
                ("strategy", "password"),
                ("identifier", identifier),
                ("password", "not the password"),
            ])
            .await
        }
    };
    let k = one_call("kim@example.com").await;
    let u = one_call("nobody@example.com").await;
    k.assert_error(422, "form_password_incorrect", Some("password"));
    same(&k, &u);
    // In two steps as well.
    let mut answers = Vec::new();
    for identifier in ["kim@example.com", "nobody@example.com"] {
        let res = identify(&app, identifier).await;
        let id = res.body["response"]["id"].as_str().unwrap().to_owned();
        answers.push(
            app.fapi(
                "POST",
                &format!("/v1/client/sign_ins/{id}/attempt_first_factor"),
                &res.token(),
                &[("strategy", "password"), ("password", "not the password")],
            )
            .await,
        );
    }
    answers[0].assert_error(422, "form_password_incorrect", Some("password"));
    same(&answers[0], &answers[1]);
    // Nobody signs in as the stand-in, whatever password is tried.
    let u = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "nobody@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    u.assert_error(422, "form_password_incorrect", Some("password"));
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        1
    );
}

#[tokio::test]
async fn a_code_for_an_unknown_identifier_answers_the_same_and_goes_nowhere() {
    let app = TestApp::with(protected()).await;
    app.user("kim@example.com", None).await;
    let mut prepared = Vec::new();
    let mut attempts = Vec::new();
    for identifier in ["kim@example.com", "nobody@example.com"] {
        let res = identify(&app, identifier).await;
        let id = res.body["response"]["id"].as_str().unwrap().to_owned();
        let email_id = factor_id(&res, "email_code", "email_address_id");
        let token = res.token();
        prepared.push(
            app.sign_in_step(
                &token,
                &id,
                "prepare_first_factor",
                &[("strategy", "email_code"), ("email_address_id", &email_id)],
            )
            .await,
        );
        attempts.push(
            app.sign_in_step(
                &token,
                &id,
                "attempt_first_factor",
                &[("strategy", "email_code"), ("code", "000000")],
            )
            .await,
        );
    }
    assert_eq!(prepared[0].status, 200, "{}", prepared[0].body);
    same(&prepared[0], &prepared[1]);
    assert_eq!(app.codes.count(), 1, "only the real account got a code");
    attempts[0].assert_error(422, "form_code_incorrect", Some("code"));
    same(&attempts[0], &attempts[1]);
}

#[tokio::test]
async fn a_test_identity_with_no_account_cannot_pass_with_the_test_code() {
    let app = TestApp::with(protected()).await;
    let res = identify(&app, "ghost+clerk_test@example.com").await;
    let id = res.body["response"]["id"].as_str().unwrap().to_owned();
    let email_id = factor_id(&res, "email_code", "email_address_id");
    let token = res.token();
    let prepared = app
        .sign_in_step(
            &token,
            &id,
            "prepare_first_factor",
            &[("strategy", "email_code"), ("email_address_id", &email_id)],
        )
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    app.sign_in_step(
        &token,
        &id,
        "attempt_first_factor",
        &[("strategy", "email_code"), ("code", "424242")],
    )
    .await
    .assert_error(422, "form_code_incorrect", Some("code"));
}

#[tokio::test]
async fn an_account_without_a_password_answers_as_a_wrong_password_does() {
    let app = TestApp::with(protected()).await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({ "email_address": ["oauth.only@example.com"] })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.new_sign_in(&[
        ("strategy", "password"),
        ("identifier", "oauth.only@example.com"),
        ("password", "a guess at it"),
    ])
    .await
    .assert_error(422, "form_password_incorrect", Some("password"));
}

#[tokio::test]
async fn an_unknown_identifier_locks_after_as_many_failures_as_an_account() {
    let app = TestApp::with(InstanceSettings {
        lockout_attempts: 3,
        ..protected()
    })
    .await;
    app.user("kim@example.com", None).await;
    let guess = |identifier: &'static str| {
        let app = &app;
        async move {
            app.new_sign_in(&[
                ("strategy", "password"),
                ("identifier", identifier),
                ("password", "a wrong guess"),
            ])
            .await
        }
    };
    for _ in 0..3 {
        let k = guess("kim@example.com").await;
        let u = guess("nobody@example.com").await;
        k.assert_error(422, "form_password_incorrect", Some("password"));
        same(&k, &u);
    }
    let k = guess("kim@example.com").await;
    let u = guess("nobody@example.com").await;
    for locked in [&k, &u] {
        locked.assert_error(403, "user_locked", None);
        let left = locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"]
            .as_i64()
            .unwrap();
        assert!((3590..=3600).contains(&left), "{}", locked.body);
    }
}

/// `value` with what must differ between a real account's answer and a
/// stand-in's made comparable: every id becomes its prefix and length (the
/// same kind of id, made the same way), the typed identifier a placeholder,
/// and trace ids go. Everything else, times included (the clock stands
/// still), must be equal.
fn comparable(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                if key == "clerk_trace_id" {
                    continue;
                }
                let v = match v {
                    Value::String(id) if key == "id" || key.ends_with("_id") => {
                        let prefix = id.split_once('_').map_or("", |(p, _)| p);
                        Value::String(format!("{prefix}_ ({} chars)", id.len()))
                    }
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

/// The same status, and the same body field by field (see [`comparable`]).
fn alike(step: &str, real: &Resp, stand_in: &Resp) {
    assert_eq!(
        real.status, stand_in.status,
        "{step}\nreal:     {}\nstand-in: {}",
        real.body, stand_in.body
    );
    assert_eq!(
        comparable(&real.body),
        comparable(&stand_in.body),
        "{step}\nreal:     {}\nstand-in: {}",
        real.body,
        stand_in.body
    );
}

/// The id of the first listed factor of `strategy` with an address, if any.
fn listed_target(res: &Resp, strategy: &str) -> Option<(&'static str, String)> {
    let factor = res.body["response"]["supported_first_factors"]
        .as_array()?
        .iter()
        .find(|f| f["strategy"] == strategy)?;
    ["email_address_id", "phone_number_id"]
        .into_iter()
        .find_map(|param| Some((param, factor[param].as_str()?.to_owned())))
}

#[tokio::test]
async fn before_its_first_factor_a_real_account_reads_as_a_stand_in_field_by_field() {
    let app = TestApp::with(protected()).await;
    // A name, a phone, two emails, a username, and no password.
    let created = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({
                "first_name": "Kim",
                "last_name": "Real",
                "email_address": ["kim.work@example.com", "kim.real@example.com"],
                "phone_number": ["+15550001111"],
                "username": "kimreal",
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    // Each stand-in's identifier is masked as the real one is.
    for (kind, real, stand_in, code) in [
        (
            "email",
            "kim.real@example.com",
            "kim.fool@example.com",
            Some("email_code"),
        ),
        ("phone", "+15550001111", "+15550021111", Some("phone_code")),
        ("username", "kimreal", "kimfool", None),
    ] {
        let (r, s) = (identify(&app, real).await, identify(&app, stand_in).await);
        assert_eq!(r.status, 200, "{}", r.body);
        alike(&format!("{kind}: create"), &r, &s);
        assert_eq!(r.body["response"]["identifier"], real);
        assert_eq!(s.body["response"]["identifier"], stand_in);
        let data = &r.body["response"]["user_data"];
        assert!(
            data["first_name"].is_null() && data["last_name"].is_null(),
            "{data}"
        );
        let listed = r.body["response"]["supported_first_factors"].clone();
        assert_eq!(listed[0]["strategy"], "password", "{listed}");

        let (r_token, r_id) = (
            r.token(),
            r.body["response"]["id"].as_str().unwrap().to_owned(),
        );
        let (s_token, s_id) = (
            s.token(),
            s.body["response"]["id"].as_str().unwrap().to_owned(),
        );
        if let Some(strategy) = code {
            let prepare = |token: String, id: String, res: &Resp| {
                let target = listed_target(res, strategy).unwrap();
                let app = &app;
                async move {
                    app.prepare_first_factor(&token, &id, strategy, &[(target.0, &target.1)])
                        .await
                }
            };
            let (rp, sp) = (
                prepare(r_token.clone(), r_id.clone(), &r).await,
                prepare(s_token.clone(), s_id.clone(), &s).await,
            );
            assert_eq!(rp.status, 200, "{}", rp.body);
            alike(&format!("{kind}: prepare"), &rp, &sp);
            // The code went to the typed identifier, and only there.
            assert!(app.codes.last_code_to(real).is_some(), "{kind}");
            let (rw, sw) = (
                app.attempt_first_factor_code(&r_token, &r_id, strategy, "000000")
                    .await,
                app.attempt_first_factor_code(&s_token, &s_id, strategy, "000000")
                    .await,
            );
            rw.assert_error(422, "form_code_incorrect", Some("code"));
            alike(&format!("{kind}: wrong code"), &rw, &sw);
        } else {
            // Nothing but the password: no address of the account is offered.
            assert_eq!(listed, serde_json::json!([{ "strategy": "password" }]));
            let (rp, sp) = (
                app.prepare_first_factor(&r_token, &r_id, "email_code", &[])
                    .await,
                app.prepare_first_factor(&s_token, &s_id, "email_code", &[])
                    .await,
            );
            rp.assert_error(422, "form_param_value_invalid", Some("email_address_id"));
            alike(&format!("{kind}: prepare"), &rp, &sp);
        }
        let wrong = [("strategy", "password"), ("password", "not the password")];
        let (rw, sw) = (
            app.sign_in_step(&r_token, &r_id, "attempt_first_factor", &wrong)
                .await,
            app.sign_in_step(&s_token, &s_id, "attempt_first_factor", &wrong)
                .await,
        );
        rw.assert_error(422, "form_password_incorrect", Some("password"));
        alike(&format!("{kind}: wrong password"), &rw, &sw);
        let (rr, sr) = (
            app.read_sign_in(&r_token, &r_id).await,
            app.read_sign_in(&s_token, &s_id).await,
        );
        alike(&format!("{kind}: read after"), &rr, &sr);
    }
    // Only the two typed addresses ever got a code.
    assert_eq!(app.codes.count(), 2);
    assert!(app.codes.last_code_to("kim.work@example.com").is_none());

    // The lockout numbers too, on an account of the same shape that no
    // other identifier has guessed at: every wrong password up to the lock,
    // the lock itself (with `lockout_expires_in_seconds`), the lock a while
    // later, and the first guess once it has ended.
    let created = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({
                "first_name": "Lee",
                "last_name": "Real",
                "email_address": ["lee.real@example.com", "lee.work@example.com"],
                "phone_number": ["+15550003333"],
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let allowance = InstanceSettings::default().lockout_attempts;
    for guess in 1..=allowance + 1 {
        let (r, s) = (
            wrong_guess(&app, "lee.real@example.com").await,
            wrong_guess(&app, "lee.fool@example.com").await,
        );
        alike(&format!("lockout: guess {guess}"), &r, &s);
        if guess > allowance {
            r.assert_error(403, "user_locked", None);
            assert!(
                r.body["errors"][0]["meta"]["lockout_expires_in_seconds"].is_number(),
                "{}",
                r.body
            );
        }
    }
    app.clock.advance(std::time::Duration::from_secs(1800));
    let (r, s) = (
        wrong_guess(&app, "lee.real@example.com").await,
        wrong_guess(&app, "lee.fool@example.com").await,
    );
    r.assert_error(403, "user_locked", None);
    alike("lockout: half-way through the lock", &r, &s);
    app.clock.advance(std::time::Duration::from_secs(1801));
    let (r, s) = (
        wrong_guess(&app, "lee.real@example.com").await,
        wrong_guess(&app, "lee.fool@example.com").await,
    );
    r.assert_error(422, "form_password_incorrect", Some("password"));
    alike("lockout: after the lock", &r, &s);
}

#[tokio::test]
async fn once_its_first_factor_passes_the_account_shows_itself() {
    let mut settings = protected();
    settings.strategies.email_code_second_factor = true;
    let app = TestApp::with(settings).await;
    let created = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({
                "first_name": "Kim",
                "email_address": ["kim.real@example.com", "kim.work@example.com"],
                "password": PASSWORD,
                "backup_codes": ["k7m2p9qa"],
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let passed = app
        .new_sign_in(&[
            ("strategy", "password"),
            ("identifier", "kim.work@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    let s = &passed.body["response"];
    assert_eq!(s["status"], "needs_second_factor", "{}", passed.body);
    assert_eq!(s["user_data"]["first_name"], "Kim");
    let emails: Vec<&str> = s["supported_first_factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["strategy"] == "email_code")
        .map(|f| f["safe_identifier"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["k***l@example.com", "k***k@example.com"]);
}

#[tokio::test]
async fn an_account_without_a_password_is_offered_one_and_guesses_count_toward_its_lock() {
    let app = TestApp::with(InstanceSettings {
        lockout_attempts: 3,
        ..protected()
    })
    .await;
    let res = app
        .bapi(
            "POST",
            "/v1/users",
            Some(serde_json::json!({ "email_address": ["nopass@example.com"] })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let user = res.body["id"].as_str().unwrap().to_owned();
    let (r, s) = (
        identify(&app, "nopass@example.com").await,
        identify(&app, "nopes@example.com").await,
    );
    alike("create", &r, &s);
    assert_eq!(
        r.body["response"]["supported_first_factors"][0]["strategy"],
        "password"
    );
    let (token, id) = (
        r.token(),
        r.body["response"]["id"].as_str().unwrap().to_owned(),
    );
    let wrong = [("strategy", "password"), ("password", "a guess at it")];
    for _ in 0..3 {
        app.sign_in_step(&token, &id, "attempt_first_factor", &wrong)
            .await
            .assert_error(422, "form_password_incorrect", Some("password"));
    }
    app.sign_in_step(&token, &id, "attempt_first_factor", &wrong)
        .await
        .assert_error(403, "user_locked", None);
    assert_eq!(app.user_json(&user).await["locked"], true);
}

#[tokio::test]
async fn an_unverified_address_answers_as_an_unknown_one() {
    let app = TestApp::with(protected()).await;
    let user = app.user("lee@example.com", None).await;
    app.set_verified(&user, "lee@example.com", false).await;
    // "lee" and "lone" mask alike.
    let (r, s) = (
        identify(&app, "lee@example.com").await,
        identify(&app, "lone@example.com").await,
    );
    alike("create", &r, &s);
    let (token, id) = (
        r.token(),
        r.body["response"]["id"].as_str().unwrap().to_owned(),
    );
    let target = listed_target(&r, "email_code").unwrap();
    let prepared = app
        .prepare_first_factor(&token, &id, "email_code", &[(target.0, &target.1)])
        .await;
    assert_eq!(prepared.status, 200, "{}", prepared.body);
    assert_eq!(
        app.codes.count(),
        0,
        "nothing goes to an unverified address"
    );
    // Not even the right password signs in through it.
    app.new_sign_in(&[
        ("strategy", "password"),
        ("identifier", "lee@example.com"),
        ("password", PASSWORD),
    ])
    .await
    .assert_error(422, "form_password_incorrect", Some("password"));
}

/// A wrong password for `identifier`, in a sign-in of its own.
async fn wrong_guess(app: &TestApp, identifier: &str) -> Resp {
    app.new_sign_in(&[
        ("strategy", "password"),
        ("identifier", identifier),
        ("password", "a wrong guess"),
    ])
    .await
}

#[tokio::test]
async fn failures_are_forgotten_and_locks_last_alike_for_an_account_and_a_stand_in() {
    let app = TestApp::with(InstanceSettings {
        lockout_attempts: 3,
        ..protected()
    })
    .await;
    app.user("kim@example.com", None).await;
    let both = || async {
        let k = wrong_guess(&app, "kim@example.com").await;
        let u = wrong_guess(&app, "nobody@example.com").await;
        same(&k, &u);
        k
    };
    // Two failures, then the lockout period passes: they are forgotten.
    for _ in 0..2 {
        both()
            .await
            .assert_error(422, "form_password_incorrect", Some("password"));
    }
    app.clock.advance(std::time::Duration::from_secs(61 * 60));
    for _ in 0..3 {
        both()
            .await
            .assert_error(422, "form_password_incorrect", Some("password"));
    }
    // The third failure of the new window locked both, for as long.
    app.clock.advance(std::time::Duration::from_secs(10 * 60));
    let locked = both().await;
    locked.assert_error(403, "user_locked", None);
    assert_eq!(
        locked.body["errors"][0]["meta"]["lockout_expires_in_seconds"],
        50 * 60
    );
    // And both end together.
    app.clock.advance(std::time::Duration::from_secs(50 * 60));
    both()
        .await
        .assert_error(422, "form_password_incorrect", Some("password"));
}

#[tokio::test]
async fn a_locked_stand_in_refuses_every_factor_step_as_a_locked_account_does() {
    let app = TestApp::with(InstanceSettings {
        lockout_attempts: 2,
        ..protected()
    })
    .await;
    app.user("kim@example.com", None).await;
    for _ in 0..2 {
        same(
            &wrong_guess(&app, "kim@example.com").await,
            &wrong_guess(&app, "nobody@example.com").await,
        );
    }
    // A sign-in that names a code strategy at creation.
    let create = |identifier: &'static str| {
        let app = &app;
        async move {
            app.new_sign_in(&[("identifier", identifier), ("strategy", "email_code")])
                .await
        }
    };
    let (k, u) = (
        create("kim@example.com").await,
        create("nobody@example.com").await,
    );
    k.assert_error(403, "user_locked", None);
    same(&k, &u);
    // Preparing and attempting a factor of a sign-in made before.
    let k = identify(&app, "kim@example.com").await;
    let u = identify(&app, "nobody@example.com").await;
    same(&k, &u);
    for (step, form) in [
        ("prepare_first_factor", vec![("strategy", "email_code")]),
        (
            "attempt_first_factor",
            vec![("strategy", "password"), ("password", PASSWORD)],
        ),
    ] {
        let answer = |res: &Resp| {
            let (token, id) = (
                res.token(),
                res.body["response"]["id"].as_str().unwrap().to_owned(),
            );
            let form = form.clone();
            let app = &app;
            async move { app.sign_in_step(&token, &id, step, &form).await }
        };
        let (ka, ua) = (answer(&k).await, answer(&u).await);
        ka.assert_error(403, "user_locked", None);
        same(&ka, &ua);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_wrong_guesses_get_the_same_answers_for_an_account_and_a_stand_in() {
    use std::sync::atomic::Ordering;
    let app = std::sync::Arc::new(
        TestApp::with(InstanceSettings {
            lockout_attempts: 3,
            ..protected()
        })
        .await,
    );
    app.user("kim@example.com", None).await;
    let mut seen = Vec::new();
    for identifier in ["kim@example.com", "nobody@example.com"] {
        let before = app.hasher.verifies.load(Ordering::SeqCst);
        let answers = crate::lockout::at_once(&app, 20, identifier, "a wrong guess").await;
        let checked = app.hasher.verifies.load(Ordering::SeqCst) - before;
        let locked = wrong_guess(&app, identifier).await;
        locked.assert_error(403, "user_locked", None);
        seen.push((
            checked,
            crate::lockout::outcomes(&answers),
            shape(&locked.body),
        ));
    }
    assert_eq!(seen[0].0, 3, "the account checks exactly its allowance");
    assert_eq!(seen[0], seen[1]);
}

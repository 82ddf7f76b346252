//! The Backend API: users and authentication by secret key.

use serde_json::json;

use crate::support::{SECRET, TestApp};

#[tokio::test]
async fn the_secret_key_is_required() {
    let app = TestApp::new().await;
    for auth in [
        None,
        Some("Bearer sk_test_wrong"),
        Some(SECRET),
        Some("Bearer "),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let res = app.request("GET", "/v1/users", &headers, None).await;
        res.assert_error(401, "authentication_invalid", None);
    }
    assert_eq!(app.bapi("GET", "/v1/users", None).await.status, 200);
    let lower = format!("bearer {SECRET}");
    assert_eq!(
        app.request("GET", "/v1/users", &[("authorization", &lower)], None)
            .await
            .status,
        200,
        "the scheme is case-insensitive"
    );
}

#[tokio::test]
async fn create_read_update_delete_users() {
    let app = TestApp::new().await;
    let created = app
        .bapi(
            "POST",
            "/v1/users",
            Some(json!({
                "email_address": ["Pat@Example.com", "pat@work.example"],
                "phone_number": ["+15555550111"],
                "username": "Pat_01",
                "password": "long enough password",
                "first_name": "Pat",
                "public_metadata": { "plan": "pro" },
                "private_metadata": { "note": 1 },
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let u = &created.body;
    let id = u["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("user_"));
    assert_eq!(u["object"], "user");
    assert_eq!(u["username"], "pat_01");
    assert_eq!(u["email_addresses"][0]["email_address"], "pat@example.com");
    assert_eq!(u["email_addresses"][0]["linked_to"], json!([]));
    assert_eq!(u["phone_numbers"][0]["phone_number"], "+15555550111");
    assert_eq!(u["phone_numbers"][0]["linked_to"], json!([]));
    assert_eq!(u["primary_email_address_id"], u["email_addresses"][0]["id"]);
    assert_eq!(u["password_enabled"], true);
    assert_eq!(u["two_factor_enabled"], false);
    assert_eq!(u["private_metadata"], json!({ "note": 1 }));
    assert!(u.get("password_digest").is_none() && !created.body.to_string().contains("argon2"));

    assert_eq!(
        app.bapi("GET", &format!("/v1/users/{id}"), None).await.body["id"],
        id.as_str()
    );
    let listed = app
        .bapi(
            "GET",
            "/v1/users?email_address=PAT@example.com&limit=5",
            None,
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body,
        json!({ "object": "total_count", "total_count": 1 })
    );

    let patched = app
        .bapi(
            "PATCH",
            &format!("/v1/users/{id}"),
            Some(json!({ "first_name": "Patricia", "username": null })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["first_name"], "Patricia");
    assert!(patched.body["username"].is_null());
    let second_email = created.body["email_addresses"][1]["id"].clone();
    let primary = app
        .bapi(
            "PATCH",
            &format!("/v1/users/{id}"),
            Some(json!({ "primary_email_address_id": second_email })),
        )
        .await;
    assert_eq!(primary.body["primary_email_address_id"], second_email);
    app.bapi(
        "PATCH",
        &format!("/v1/users/{id}"),
        Some(json!({ "primary_email_address_id": "idn_nope" })),
    )
    .await
    .assert_error(
        422,
        "form_param_value_invalid",
        Some("primary_email_address_id"),
    );

    let deleted = app.bapi("DELETE", &format!("/v1/users/{id}"), None).await;
    assert_eq!(
        deleted.body,
        json!({ "object": "user", "id": id, "deleted": true })
    );
    app.bapi("GET", &format!("/v1/users/{id}"), None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.bapi("DELETE", &format!("/v1/users/{id}"), None)
        .await
        .assert_error(404, "resource_not_found", None);
    app.bapi(
        "PATCH",
        &format!("/v1/users/{id}"),
        Some(json!({ "first_name": "x" })),
    )
    .await
    .assert_error(404, "resource_not_found", None);
    let after = app.new_sign_in(&[("identifier", "pat@example.com")]).await;
    after.assert_error(422, "form_identifier_not_found", Some("identifier"));
}

#[tokio::test]
async fn duplicates_and_bad_values_are_refused_and_store_nothing() {
    let app = TestApp::new().await;
    app.user("quinn@example.com", Some("quinn")).await;
    let post = |body: serde_json::Value| {
        let app = &app;
        async move { app.bapi("POST", "/v1/users", Some(body)).await }
    };
    post(json!({ "email_address": ["QUINN@example.com"] }))
        .await
        .assert_error(422, "form_identifier_exists", Some("email_address"));
    post(json!({ "email_address": ["other@example.com"], "username": "QUINN" }))
        .await
        .assert_error(422, "form_identifier_exists", Some("username"));
    post(json!({ "email_address": ["x@example.com"], "password": "short" }))
        .await
        .assert_error(422, "form_password_length_too_short", Some("password"));
    post(json!({ "email_address": ["x@example.com"], "password": "x".repeat(73) }))
        .await
        .assert_error(
            422,
            "form_password_size_in_bytes_exceeded",
            Some("password"),
        );
    post(json!({ "email_address": ["not-an-email"] }))
        .await
        .assert_error(422, "form_param_format_invalid", Some("email_address"));
    post(json!({ "phone_number": ["5555550100"] }))
        .await
        .assert_error(422, "form_param_format_invalid", Some("phone_number"));
    post(json!({ "username": "a b c d" })).await.assert_error(
        422,
        "form_param_format_invalid",
        Some("username"),
    );
    post(json!({}))
        .await
        .assert_error(422, "form_param_nil", Some("email_address"));
    post(json!({ "email_address": "y@example.com", "public_metadata": [1] }))
        .await
        .assert_error(422, "form_param_format_invalid", Some("public_metadata"));
    post(json!({ "email_address": [1] })).await.assert_error(
        422,
        "form_param_format_invalid",
        Some("email_address"),
    );
    let skip = post(json!({ "email_address": ["z@example.com"], "password": "short", "skip_password_checks": true })).await;
    assert_eq!(
        skip.status, 200,
        "skip_password_checks allows a short password"
    );
    assert_eq!(
        app.bapi("GET", "/v1/users/count", None).await.body["total_count"],
        2
    );

    let taken = app.bapi("GET", "/v1/users?username=quinn", None).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = skip.body["id"].as_str().unwrap().to_owned();
    app.bapi(
        "PATCH",
        &format!("/v1/users/{other}"),
        Some(json!({ "username": "quinn" })),
    )
    .await
    .assert_error(422, "form_identifier_exists", Some("username"));
    assert!(
        app.bapi("GET", &format!("/v1/users/{other}"), None)
            .await
            .body["username"]
            .is_null()
    );
    assert_eq!(
        app.bapi("GET", &format!("/v1/users/{taken}"), None)
            .await
            .body["username"],
        "quinn"
    );
}

#[tokio::test]
async fn listing_orders_and_paginates() {
    let app = TestApp::new().await;
    for i in 0..5 {
        app.user(&format!("user{i}@example.com"), None).await;
        app.clock.advance(std::time::Duration::from_millis(2));
    }
    let page = app
        .bapi("GET", "/v1/users?limit=2&offset=1", None)
        .await
        .body;
    let emails: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email_addresses"][0]["email_address"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["user3@example.com", "user2@example.com"]);
    let oldest = app
        .bapi("GET", "/v1/users?order_by=%2Bcreated_at&limit=1", None)
        .await
        .body;
    assert_eq!(
        oldest[0]["email_addresses"][0]["email_address"],
        "user0@example.com"
    );
    app.bapi("GET", "/v1/users?limit=0", None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("limit"));
    app.bapi("GET", "/v1/users?limit=501", None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("limit"));
    app.bapi("GET", "/v1/users?limit=abc", None)
        .await
        .assert_error(422, "form_param_format_invalid", Some("limit"));
    app.bapi("GET", "/v1/users?order_by=name", None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("order_by"));
}

/// An argon2 PHC string of `password` made elsewhere, at this cost.
fn foreign_digest(
    algorithm: argon2::Algorithm,
    (m, t, p): (u32, u32, u32),
    hash_len: usize,
    password: &str,
) -> String {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    argon2::Argon2::new(
        algorithm,
        argon2::Version::V0x13,
        argon2::Params::new(m, t, p, Some(hash_len)).unwrap(),
    )
    .hash_password(
        password.as_bytes(),
        &SaltString::encode_b64(b"an imported salt").unwrap(),
    )
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn imported_digests_above_the_cost_ceiling_are_refused_and_store_nothing() {
    let app = TestApp::new().await;
    // Claimed parameters are enough: the ceiling is checked before any hash.
    let claimed = |variant: &str, m: u32, t: u32, p: u32| {
        format!(
            "$argon2{variant}$v=19$m={m},t={t},p={p}$YW4gaW1wb3J0ZWQgc2FsdA$\
             YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU"
        )
    };
    for (label, digest, hasher) in [
        ("memory", claimed("id", 65_537, 1, 1), "argon2id"),
        ("iterations", claimed("id", 1_024, 11, 1), "argon2id"),
        ("lanes", claimed("id", 1_024, 1, 9), "argon2id"),
        (
            "memory x iterations",
            claimed("id", 65_536, 5, 1),
            "argon2id",
        ),
        (
            "the review's costlier digest",
            claimed("id", 65_536, 8, 1),
            "argon2id",
        ),
        (
            "the review's 255 lanes",
            claimed("id", 262_144, 2, 255),
            "argon2id",
        ),
        ("argon2i", claimed("i", 65_536, 8, 1), "argon2i"),
        (
            "hash length",
            foreign_digest(argon2::Algorithm::Argon2id, (64, 1, 1), 12, "pw"),
            "argon2id",
        ),
    ] {
        let res = import(&app, "imported@example.com", &digest, hasher).await;
        assert_eq!(res.status, 422, "{label}: {}", res.body);
        assert_eq!(
            res.body["errors"][0]["meta"]["param_name"], "password_digest",
            "{label}: {}",
            res.body
        );
    }
    let listed = app.bapi("GET", "/v1/users", None).await;
    assert_eq!(listed.body, json!([]), "nothing was stored");
}

/// The start of the digests the test app makes: m=256, t=1, p=1, 32-byte hashes.
const TODAY: &str = "$argon2id$v=19$m=256,t=1,p=1$";

/// `POST /v1/users` for `email` with a password digest made by `hasher`.
async fn import(app: &TestApp, email: &str, digest: &str, hasher: &str) -> crate::support::Resp {
    app.post_user(json!({
        "email_address": [email],
        "password_digest": digest,
        "password_hasher": hasher,
    }))
    .await
}

/// Creates a user with an imported password digest; returns its id.
async fn imported_user(app: &TestApp, email: &str, digest: &str, hasher: &str) -> String {
    let created = import(app, email, digest, hasher).await;
    assert_eq!(created.status, 200, "{hasher}: {}", created.body);
    assert_eq!(created.body["password_enabled"], true, "{hasher}");
    created.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_imported_digest_not_made_as_today_is_rehashed_at_the_first_sign_in() {
    let app = TestApp::new().await;
    for (n, (label, algorithm, cost, hash_len, hasher)) in [
        (
            "costlier",
            argon2::Algorithm::Argon2id,
            (1_024, 3, 2),
            32,
            "argon2id",
        ),
        (
            "argon2i",
            argon2::Algorithm::Argon2i,
            (256, 1, 1),
            32,
            "argon2i",
        ),
        (
            "another hash length",
            argon2::Algorithm::Argon2id,
            (256, 1, 1),
            64,
            "argon2id",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("imported{n}@example.com");
        let imported = foreign_digest(algorithm, cost, hash_len, crate::support::PASSWORD);
        let id = imported_user(&app, &email, &imported, hasher).await;
        assert_eq!(app.stored_digest(&id).await, Some(imported.clone()));
        let (_, _, signed_in) = app.password_sign_in(&email).await;
        assert_eq!(signed_in.status, 200, "{label}: {}", signed_in.body);
        let stored = app.stored_digest(&id).await.unwrap();
        assert!(stored.starts_with(TODAY), "{label}: {stored}");
        // The new digest is of the same password.
        let (_, _, again) = app.password_sign_in(&email).await;
        assert_eq!(again.status, 200, "{label}: {}", again.body);
    }
}

#[tokio::test]
async fn digests_from_other_hashers_sign_in_once_then_become_argon2id() {
    let app = TestApp::new().await;
    for (n, (hasher, digest)) in latch_testkit::fixtures::IMPORTED_DIGESTS
        .into_iter()
        .enumerate()
    {
        let email = format!("moved{n}@example.com");
        let id = imported_user(&app, &email, digest, hasher).await;
        let imported = app.stored_digest(&id).await.unwrap();
        // A wrong password fails and leaves the digest as it was.
        let res = app
            .new_sign_in(&[
                ("strategy", "password"),
                ("identifier", &email),
                ("password", "correct horse batterx"),
            ])
            .await;
        assert_eq!(res.status, 422, "{hasher}: {}", res.body);
        assert_eq!(res.body["errors"][0]["code"], "form_password_incorrect");
        assert_eq!(app.stored_digest(&id).await, Some(imported.clone()));
        // The right one signs in and replaces it with the instance's own.
        let (_, _, signed_in) = app.password_sign_in(&email).await;
        assert_eq!(
            signed_in.body["response"]["status"], "complete",
            "{hasher}: {}",
            signed_in.body
        );
        let stored = app.stored_digest(&id).await.unwrap();
        assert!(stored.starts_with(TODAY), "{hasher}: {stored}");
        let (_, _, again) = app.password_sign_in(&email).await;
        assert_eq!(again.body["response"]["status"], "complete", "{hasher}");
    }
}

#[tokio::test]
async fn malformed_and_costly_digests_of_other_hashers_are_refused_and_store_nothing() {
    let app = TestApp::new().await;
    let hash32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let bcrypt = latch_testkit::fixtures::IMPORTED_DIGESTS[0].1;
    let firebase = latch_testkit::fixtures::FIREBASE_EXAMPLE;
    for (label, hasher, digest) in [
        (
            "bcrypt cost 14",
            "bcrypt",
            bcrypt.replacen("$04$", "$14$", 1),
        ),
        ("bcrypt cut short", "bcrypt", bcrypt[..40].to_owned()),
        ("bcrypt $2x$", "bcrypt", bcrypt.replacen("$2b$", "$2x$", 1)),
        (
            "pbkdf2 iterations",
            "pbkdf2_sha256_django",
            format!("pbkdf2_sha256$1200001$salt${hash32}"),
        ),
        (
            "pbkdf2 under another name",
            "pbkdf2_sha256_django",
            format!("pbkdf2_sha1$1000$salt${hash32}"),
        ),
        (
            "pbkdf2 salt not base64",
            "pbkdf2_sha256",
            format!("pbkdf2_sha256$1000$not base64!${hash32}"),
        ),
        (
            "pbkdf2_sha512 iterations",
            "pbkdf2_sha512",
            format!("pbkdf2_sha512$350001$salt${}", "ab".repeat(64)),
        ),
        (
            "scrypt memory",
            "scrypt_firebase",
            firebase.replacen("$8$14", "$8$17", 1),
        ),
        (
            "scrypt fields",
            "scrypt_firebase",
            firebase.replacen("$8$14", "$8", 1),
        ),
        ("sha256 length", "sha256", "9f86d081".to_owned()),
        (
            "an argon2 digest as bcrypt",
            "bcrypt",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA".to_owned(),
        ),
    ] {
        let res = import(&app, "refused@example.com", &digest, hasher).await;
        res.assert_error(422, "form_param_format_invalid", Some("password_digest"));
        assert!(
            res.body["errors"][0]["long_message"]
                .as_str()
                .unwrap()
                .contains(hasher),
            "{label}: {}",
            res.body
        );
    }
    let md5 = "5f4dcc3b5aa765d61d8327deb882cf99";
    let res = import(&app, "refused@example.com", md5, "md5").await;
    res.assert_error(422, "form_param_value_invalid", Some("password_hasher"));
    let listed = app.bapi("GET", "/v1/users", None).await;
    assert_eq!(listed.body, json!([]), "nothing was stored");
}

#[tokio::test]
async fn an_operator_adds_changes_and_removes_a_users_addresses() {
    let app = TestApp::new().await;
    let id = app.user("ada@example.com", None).await;
    let bob = app.user("bob@example.com", None).await;
    let add = |body: serde_json::Value| app.bapi("POST", "/v1/email_addresses", Some(body));
    let res =
        add(json!({ "user_id": id, "email_address": "Ada@Work.example", "verified": true })).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["email_address"], "ada@work.example");
    let work = res.body["id"].as_str().unwrap().to_owned();
    // Another user's verified address, and an unknown user.
    add(json!({ "user_id": id, "email_address": "bob@example.com" }))
        .await
        .assert_error(422, "form_identifier_exists", Some("email_address"));
    add(json!({ "user_id": "user_nobody", "email_address": "x@example.com" }))
        .await
        .assert_error(404, "resource_not_found", None);
    // Made primary, then removed: the primary hands back.
    let path = format!("/v1/email_addresses/{work}");
    let res = app
        .bapi("PATCH", &path, Some(json!({ "primary": true })))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        app.user_json(&id).await["primary_email_address_id"],
        work.as_str()
    );
    let res = app.bapi("DELETE", &path, None).await;
    assert_eq!(
        res.body,
        json!({ "object": "email_address", "id": work, "deleted": true })
    );
    let user = app.user_json(&id).await;
    assert_eq!(user["email_addresses"].as_array().unwrap().len(), 1);
    assert_eq!(
        user["primary_email_address_id"],
        user["email_addresses"][0]["id"]
    );
    // A phone number kept for the second factor from the start.
    let res = app
        .bapi(
            "POST",
            "/v1/phone_numbers",
            Some(json!({ "user_id": bob, "phone_number": "+14155552675", "verified": true, "reserved_for_second_factor": true })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["reserved_for_second_factor"], true);
    assert_eq!(app.user_json(&bob).await["two_factor_enabled"], true);
    let phone = res.body["id"].as_str().unwrap().to_owned();
    let res = app
        .bapi("DELETE", &format!("/v1/phone_numbers/{phone}"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(app.user_json(&bob).await["two_factor_enabled"], false);
}

#[tokio::test]
async fn metadata_merges_deeply_through_the_backend_api() {
    let app = TestApp::new().await;
    let res = app
        .post_user(json!({
            "email_address": ["ada@example.com"],
            "public_metadata": { "plan": "free", "limits": { "seats": 1, "projects": 2 } },
            "private_metadata": { "stripe": "cus_1" },
        }))
        .await;
    let id = res.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{id}/metadata");
    let res = app
        .bapi(
            "PATCH",
            &path,
            Some(json!({ "public_metadata": { "plan": "pro", "limits": { "seats": 5 }, "trial": null } })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["public_metadata"],
        json!({ "plan": "pro", "limits": { "seats": 5, "projects": 2 } })
    );
    assert_eq!(
        res.body["private_metadata"],
        json!({ "stripe": "cus_1" }),
        "untouched"
    );
    app.bapi("PATCH", &path, Some(json!({ "unsafe_metadata": "x" })))
        .await
        .assert_error(422, "form_param_format_invalid", Some("unsafe_metadata"));
}

#[tokio::test]
async fn the_backend_api_checks_a_users_password_and_codes_under_the_lockout_rule() {
    let settings = latch_core::model::InstanceSettings {
        lockout_attempts: 2,
        ..Default::default()
    };
    let app = TestApp::with(settings).await;
    let res = app
        .post_user(json!({
            "email_address": ["ada@example.com"],
            "password": crate::support::PASSWORD,
            "backup_codes": ["k7m2p9qa", "x3n8v1cd"],
        }))
        .await;
    let id = res.body["id"].as_str().unwrap().to_owned();
    let verify = format!("/v1/users/{id}/verify_password");
    let res = app
        .bapi(
            "POST",
            &verify,
            Some(json!({ "password": crate::support::PASSWORD })),
        )
        .await;
    assert_eq!(res.body, json!({ "verified": true }));
    let totp = format!("/v1/users/{id}/verify_totp");
    let res = app
        .bapi("POST", &totp, Some(json!({ "code": "k7m2p9qa" })))
        .await;
    assert_eq!(
        res.body,
        json!({ "verified": true, "code_type": "backup_code" })
    );
    // Spent.
    app.bapi("POST", &totp, Some(json!({ "code": "k7m2p9qa" })))
        .await
        .assert_error(422, "form_code_incorrect", Some("code"));
    // One more wrong guess locks the user, as at sign-in.
    app.bapi("POST", &verify, Some(json!({ "password": "not it" })))
        .await
        .assert_error(422, "form_password_incorrect", Some("password"));
    assert_eq!(app.user_json(&id).await["locked"], true);
    let res = app
        .bapi(
            "POST",
            &verify,
            Some(json!({ "password": crate::support::PASSWORD })),
        )
        .await;
    assert_eq!(
        res.status, 403,
        "a locked user's right password is refused too"
    );
}

#[tokio::test]
async fn an_operator_signs_a_user_out_everywhere_without_a_ban() {
    let app = TestApp::new().await;
    let ada = app.user("ada@example.com", None).await;
    app.user("bob@example.com", None).await;
    let (laptop, laptop_session) = app.sign_in("ada@example.com").await;
    app.sign_in("ada@example.com").await;
    let (bob, bob_session) = app.sign_in("bob@example.com").await;
    let res = app
        .bapi("DELETE", &format!("/v1/sessions?user_id={ada}"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let revoked = res.body.as_array().unwrap();
    assert_eq!(revoked.len(), 2);
    assert!(revoked.iter().all(|s| s["status"] == "revoked"));
    let tokens = format!("/v1/client/sessions/{laptop_session}/tokens");
    assert_ne!(app.fapi("POST", &tokens, &laptop, &[]).await.status, 200);
    // Bob is untouched, and Ada may sign in again (no ban).
    let tokens = format!("/v1/client/sessions/{bob_session}/tokens");
    assert_eq!(app.fapi("POST", &tokens, &bob, &[]).await.status, 200);
    app.sign_in("ada@example.com").await;
    // A second call finds nothing more to revoke; bad input changes nothing.
    let res = app
        .bapi("DELETE", &format!("/v1/sessions?user_id={ada}"), None)
        .await;
    assert_eq!(res.body.as_array().unwrap().len(), 1);
    app.bapi("DELETE", "/v1/sessions", None).await.assert_error(
        422,
        "form_param_nil",
        Some("user_id"),
    );
    app.bapi("DELETE", "/v1/sessions?user_id=user_nobody", None)
        .await
        .assert_error(404, "resource_not_found", None);
}

#[tokio::test]
async fn users_are_found_by_any_part_of_an_identifier_or_a_name() {
    let app = TestApp::new().await;
    let ann = app.user("ann.smith@example.com", Some("annie")).await;
    let bob = app.user("bob@example.org", Some("bobby")).await;
    let found = |query: &str| {
        let app = &app;
        let path = format!("/v1/users?query={query}");
        async move {
            let res = app.bapi("GET", &path, None).await;
            assert_eq!(res.status, 200, "{}", res.body);
            let mut ids: Vec<String> = res
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(found("SMITH").await, std::slice::from_ref(&ann));
    assert_eq!(found("bobb").await, std::slice::from_ref(&bob));
    assert_eq!(
        found(&ann[5..12]).await,
        std::slice::from_ref(&ann),
        "a part of the id"
    );
    let mut both = vec![ann.clone(), bob.clone()];
    both.sort();
    assert_eq!(found("%40example.").await, both);
    assert!(found("zzz").await.is_empty());
    let count = app
        .bapi("GET", "/v1/users/count?query=example.org", None)
        .await;
    assert_eq!(count.body["total_count"], 1, "{}", count.body);
    let long = "a".repeat(257);
    app.bapi("GET", &format!("/v1/users?query={long}"), None)
        .await
        .assert_error(422, "form_param_value_invalid", Some("query"));
}

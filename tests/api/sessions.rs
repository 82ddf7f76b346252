//! `/v1/client/sessions/...`, session tokens and the JWKS.

use base64::Engine as _;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;

use crate::support::{ORIGIN, TestApp, jwt_claims};

#[tokio::test]
async fn tokens_are_rs256_jwts_with_clerks_claims_verifiable_by_the_jwks() {
    let app = TestApp::new().await;
    let user_id = app.user("leo@example.com", None).await;
    let (token, sid) = app.sign_in("leo@example.com").await;
    let res = app
        .request(
            "POST",
            &format!("/v1/client/sessions/{sid}/tokens?_is_native=1"),
            &[("authorization", &token), ("origin", ORIGIN)],
            Some((
                "application/x-www-form-urlencoded",
                "organization_id=".into(),
            )),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["object"], "token");
    let jwt = res.body["jwt"].as_str().unwrap();
    let claims = jwt_claims(jwt);
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["iss"], "https://clerk.latch.test");
    assert_eq!(claims["azp"], ORIGIN);
    assert_eq!(claims["v"], 2);
    assert_eq!(claims["fva"], serde_json::json!([0, -1]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert!(claims["nbf"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());

    // Verify the signature with the key published at both JWKS routes.
    let jwks = app
        .request("GET", "/.well-known/jwks.json", &[], None)
        .await
        .body;
    let bapi_jwks = app.bapi("GET", "/v1/jwks", None).await.body;
    assert_eq!(jwks, bapi_jwks);
    let key = &jwks["keys"][0];
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], key["kid"]);
    assert_eq!(header["alg"], "RS256");
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let rsa = Rsa::from_public_components(
        BigNum::from_slice(&b64(&key["n"])).unwrap(),
        BigNum::from_slice(&b64(&key["e"])).unwrap(),
    )
    .unwrap();
    let public = PKey::from_rsa(rsa).unwrap();
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    verifier.update(signed.as_bytes()).unwrap();
    assert!(
        verifier
            .verify(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(signature)
                    .unwrap()
            )
            .unwrap()
    );

    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{sid}/tokens/custom_template"),
        &token,
        &[],
    )
    .await
    .assert_error(404, "resource_not_found", None);

    // Without an allowed origin (native apps, servers) `azp` names the Frontend API.
    let native = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{sid}/tokens"),
            &token,
            &[],
        )
        .await;
    assert_eq!(
        jwt_claims(native.body["jwt"].as_str().unwrap())["azp"],
        "https://clerk.latch.test"
    );
}

#[tokio::test]
async fn touch_end_remove_and_sign_out() {
    let app = TestApp::new().await;
    app.user("mia@example.com", None).await;
    app.user("mia.work@example.com", None).await;
    let (token, first) = app.sign_in("mia@example.com").await;
    let sign_in_as = |identifier: &'static str, token: String| {
        let app = &app;
        async move {
            let form = [
                ("strategy", "password"),
                ("identifier", identifier),
                ("password", crate::support::PASSWORD),
            ];
            app.fapi("POST", "/v1/client/sign_ins", &token, &form).await
        }
    };
    // The same user again on this client: refused, naming the session.
    let again = sign_in_as("mia@example.com", token.clone()).await;
    again.assert_error(400, "identifier_already_signed_in", None);
    assert_eq!(
        again.body["errors"][0]["meta"]["session_id"],
        first.as_str()
    );
    // Another user on the same client: a second session.
    let res = sign_in_as("mia.work@example.com", token.clone()).await;
    let token = res.token();
    let second = res.body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(res.body["client"]["sessions"].as_array().unwrap().len(), 2);

    let touched = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{first}/touch"),
            &token,
            &[("active_organization_id", ""), ("intent", "select_session")],
        )
        .await;
    assert_eq!(touched.status, 200);
    assert_eq!(touched.body["response"]["id"], first.as_str());
    assert_eq!(touched.body["response"]["object"], "session");
    assert_eq!(
        touched.body["client"]["last_active_session_id"],
        first.as_str()
    );

    let ended = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{first}/end"),
            &token,
            &[],
        )
        .await;
    assert_eq!(ended.body["response"]["status"], "ended");
    assert_eq!(
        ended.body["client"]["sessions"].as_array().unwrap().len(),
        1
    );
    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{first}/tokens"),
        &token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{first}/touch"),
        &token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);

    let removed = app
        .fapi(
            "POST",
            &format!("/v1/client/sessions/{second}/remove"),
            &token,
            &[],
        )
        .await;
    assert_eq!(removed.body["response"]["status"], "removed");
    assert!(removed.body["client"]["last_active_session_id"].is_null());

    let (token, third) = app.sign_in("mia@example.com").await;
    let out = app
        .fapi("POST", "/v1/client/sessions?_method=DELETE", &token, &[])
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["client"]["sessions"], serde_json::json!([]));
    let listed = app
        .bapi("GET", &format!("/v1/sessions/{third}"), None)
        .await;
    assert_eq!(listed.body["status"], "ended");
}

#[tokio::test]
async fn sessions_of_other_clients_are_not_found() {
    let app = TestApp::new().await;
    app.user("ned@example.com", None).await;
    let (_, sid) = app.sign_in("ned@example.com").await;
    let (other, _) = app.sign_in("ned@example.com").await;
    for action in ["touch", "end", "remove", "tokens"] {
        app.fapi(
            "POST",
            &format!("/v1/client/sessions/{sid}/{action}"),
            &other,
            &[],
        )
        .await
        .assert_error(404, "resource_not_found", None);
        app.fapi(
            "POST",
            &format!("/v1/client/sessions/{sid}/{action}"),
            "",
            &[],
        )
        .await
        .assert_error(404, "resource_not_found", None);
    }
    let still = app.bapi("GET", &format!("/v1/sessions/{sid}"), None).await;
    assert_eq!(still.body["status"], "active");
}

#[tokio::test]
async fn revoked_sessions_mint_no_token() {
    let app = TestApp::new().await;
    let user = app.user("olga@example.com", None).await;
    let (token, sid) = app.sign_in("olga@example.com").await;
    let list = app
        .bapi(
            "GET",
            &format!("/v1/sessions?user_id={user}&status=active&paginated=true"),
            None,
        )
        .await;
    assert_eq!(list.body["total_count"], 1);
    assert_eq!(list.body["data"][0]["id"], sid.as_str());
    assert_eq!(list.body["data"][0]["user_id"], user.as_str());
    let revoked = app
        .bapi("POST", &format!("/v1/sessions/{sid}/revoke"), None)
        .await;
    assert_eq!(revoked.body["status"], "revoked");
    app.fapi(
        "POST",
        &format!("/v1/client/sessions/{sid}/tokens"),
        &token,
        &[],
    )
    .await
    .assert_error(401, "authentication_invalid", None);
    let client = app.fapi("GET", "/v1/client", &token, &[]).await;
    assert_eq!(client.body["client"]["sessions"], serde_json::json!([]));
    let bare = app
        .bapi("GET", &format!("/v1/sessions?user_id={user}"), None)
        .await;
    assert_eq!(bare.body[0]["status"], "revoked");
    for status in ["abandoned", "pending"] {
        let none = app
            .bapi(
                "GET",
                &format!("/v1/sessions?user_id={user}&status={status}&paginated=true"),
                None,
            )
            .await;
        assert_eq!(
            none.body,
            serde_json::json!({ "data": [], "total_count": 0 }),
            "{status}"
        );
    }
    app.bapi("GET", "/v1/sessions", None).await.assert_error(
        422,
        "form_param_nil",
        Some("user_id"),
    );
    app.bapi(
        "GET",
        &format!("/v1/sessions?user_id={user}&status=sleepy"),
        None,
    )
    .await
    .assert_error(422, "form_param_value_invalid", Some("status"));
    app.bapi("GET", "/v1/sessions/sess_nope", None)
        .await
        .assert_error(404, "resource_not_found", None);
}

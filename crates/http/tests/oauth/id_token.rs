//! The OpenID Connect provider against an issuer that serves whatever
//! id_token the test signs: each forgery is refused, the right token is
//! accepted, and discovery, keys, client authentication and userinfo work
//! as the provider publishes them.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::{Value, json};

use latch_core::ports::{ExternalIdentity, OAuthError, OAuthProvider};
use latch_http::{AppleClientKey, ClientSecret, ProviderConfig, ProviderKind, oauth};
use latch_testkit::oauth::{Signing, TestOidcIssuer, TokenReply, pkce_challenge, sign_in};

use crate::{REDIRECT_URI, TIMEOUT, VERIFIER, authorization, code_exchange, param};

const NONCE: &str = "n-0S6_WzA2Mj";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn config(issuer: &TestOidcIssuer) -> ProviderConfig {
    let mut config = ProviderConfig::new("custom_test", ProviderKind::Oidc, issuer.client_id());
    config.client_secret = ClientSecret::Shared(issuer.client_secret().into());
    config.issuer_url = Some(issuer.issuer());
    config.timeout = TIMEOUT;
    config
}

fn adapter(issuer: &TestOidcIssuer) -> Arc<dyn OAuthProvider> {
    oauth::provider(&config(issuer)).unwrap()
}

/// Redeems a code while the issuer answers with `id_token`.
async fn exchange_with(
    issuer: &TestOidcIssuer,
    provider: &dyn OAuthProvider,
    id_token: String,
) -> Result<ExternalIdentity, OAuthError> {
    issuer.issue_id_token(id_token);
    provider.exchange(&code_exchange("code-1", NONCE)).await
}

async fn accepted(claims: Value, signing: Signing) -> ExternalIdentity {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let token = issuer.sign(&claims_for(&issuer, claims), signing);
    exchange_with(&issuer, provider.as_ref(), token)
        .await
        .unwrap()
}

async fn refused(claims: Value, signing: Signing) -> String {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let token = issuer.sign(&claims_for(&issuer, claims), signing);
    match exchange_with(&issuer, provider.as_ref(), token).await {
        Err(OAuthError::Rejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The issuer's good claims with `changes` applied (`null` removes one).
fn claims_for(issuer: &TestOidcIssuer, changes: Value) -> Value {
    let mut claims = issuer.claims(NONCE);
    if let Value::Object(changes) = changes {
        for (name, value) in changes {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(&name);
            } else {
                claims[name] = value;
            }
        }
    }
    claims
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_well_signed_token_gives_the_identity() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let token = issuer.sign(&issuer.claims(NONCE), Signing::Rs256);
    let identity = exchange_with(&issuer, provider.as_ref(), token)
        .await
        .unwrap();
    assert_eq!(
        identity,
        ExternalIdentity {
            tokens: identity.tokens.clone(),
            subject: "user-1".into(),
            email: Some("ann@example.com".into()),
            email_verified: true,
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            username: Some("ann".into()),
            avatar_url: Some("https://pictures.example.com/ann.png".into()),
            approved_scopes: vec!["openid".into(), "email".into(), "profile".into()],
        }
    );
    let request = &issuer.token_requests()[0];
    assert_eq!(
        request.field("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(request.field("code").as_deref(), Some("code-1"));
    assert_eq!(request.field("code_verifier").as_deref(), Some(VERIFIER));
    assert_eq!(request.field("redirect_uri").as_deref(), Some(REDIRECT_URI));
    // Basic auth unless discovery says otherwise; the secret stays out of
    // the body.
    assert!(
        request
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(request.field("client_secret"), None);
    // id_token had the email: no userinfo call.
    assert!(issuer.userinfo_tokens().is_empty());
}

#[tokio::test]
async fn the_authorize_url_comes_from_discovery_with_nonce_and_pkce() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let url = provider
        .authorize_url(&authorization("state-1", NONCE))
        .await
        .unwrap();
    assert!(url.starts_with(&format!("{}/authorize?", issuer.issuer())));
    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(issuer.client_id())
    );
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("openid email profile")
    );
    assert_eq!(param(&url, "state").as_deref(), Some("state-1"));
    assert_eq!(param(&url, "nonce").as_deref(), Some(NONCE));
    assert_eq!(
        param(&url, "code_challenge"),
        Some(pkce_challenge(VERIFIER))
    );
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&url, "response_mode"), None);
    // The issuer's authorize endpoint sends the browser back with a code.
    let callback = sign_in(&url, "ann").await.unwrap();
    assert_eq!(callback.state().as_deref(), Some("state-1"));
    assert!(callback.code().is_some());
}

#[tokio::test]
async fn other_asymmetric_algorithms_are_accepted() {
    for signing in [Signing::Ps256, Signing::Es256] {
        let identity = accepted(json!({}), signing.clone()).await;
        assert_eq!(identity.subject, "user-1", "{signing:?}");
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let why = refused(json!({ "aud": "someone-else" }), Signing::Rs256).await;
    assert!(why.contains("audience"), "{why}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let why = refused(json!({ "iss": "https://evil.example.com" }), Signing::Rs256).await;
    assert!(why.contains("issuer"), "{why}");
}

#[tokio::test]
async fn a_token_with_another_nonce_or_none_is_refused() {
    let why = refused(json!({ "nonce": "replayed" }), Signing::Rs256).await;
    assert!(why.contains("nonce"), "{why}");
    refused(json!({ "nonce": null }), Signing::Rs256).await;
}

#[tokio::test]
async fn an_expired_token_is_refused_beyond_the_allowed_skew() {
    let why = refused(
        json!({ "exp": now() - 120, "iat": now() - 420 }),
        Signing::Rs256,
    )
    .await;
    assert!(why.contains("expired"), "{why}");
    // Within a minute of skew it still passes.
    accepted(
        json!({ "exp": now() - 30, "iat": now() - 330 }),
        Signing::Rs256,
    )
    .await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let why = refused(
        json!({ "iat": now() + 600, "exp": now() + 900 }),
        Signing::Rs256,
    )
    .await;
    assert!(why.contains("future"), "{why}");
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let why = refused(json!({}), Signing::None).await;
    assert!(why.contains("signature"), "{why}");
}

#[tokio::test]
async fn hmac_tokens_are_refused_whatever_the_key() {
    for signing in [Signing::Hs256WithPublicKey, Signing::Hs256WithClientSecret] {
        let why = refused(json!({}), signing).await;
        assert!(why.contains("HS256"), "{why}");
    }
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    for signing in [Signing::ForeignKey, Signing::Tampered] {
        let why = refused(json!({}), signing).await;
        assert!(why.contains("signature"), "{why}");
    }
}

#[tokio::test]
async fn an_unknown_key_id_is_refused_after_one_refresh_of_the_keys() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let token = issuer.sign(&issuer.claims(NONCE), Signing::UnknownKid);
    let result = exchange_with(&issuer, provider.as_ref(), token).await;
    assert!(
        matches!(result, Err(OAuthError::Rejected(ref why)) if why.contains("No matching key")),
        "{result:?}"
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn discovery_and_keys_are_fetched_once_and_refreshed_when_keys_rotate() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    for _ in 0..2 {
        let token = issuer.sign(&issuer.claims(NONCE), Signing::Rs256);
        exchange_with(&issuer, provider.as_ref(), token)
            .await
            .unwrap();
    }
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));

    let kid = issuer.rotate_keys();
    let token = issuer.sign(&issuer.claims(NONCE), Signing::Rs256Key(kid));
    exchange_with(&issuer, provider.as_ref(), token)
        .await
        .unwrap();
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 2));
}

#[tokio::test]
async fn several_audiences_need_this_client_as_authorized_party() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let audiences = json!([issuer.client_id(), "another-client"]);
    let cases = [
        (json!({ "aud": audiences }), false),
        (json!({ "aud": audiences, "azp": issuer.client_id() }), true),
        (json!({ "aud": audiences, "azp": "another-client" }), false),
        (json!({ "azp": "another-client" }), false),
    ];
    for (changes, passes) in cases {
        let token = issuer.sign(&claims_for(&issuer, changes.clone()), Signing::Rs256);
        let result = exchange_with(&issuer, provider.as_ref(), token).await;
        assert_eq!(result.is_ok(), passes, "{changes}: {result:?}");
        if !passes {
            assert!(matches!(result, Err(OAuthError::Rejected(_))));
        }
    }
}

#[tokio::test]
async fn a_missing_or_malformed_id_token_is_refused() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    issuer.issue_no_id_token();
    let result = provider.exchange(&code_exchange("code-1", NONCE)).await;
    assert!(matches!(result, Err(OAuthError::Rejected(_))), "{result:?}");
    for garbage in ["not-a-jwt", "a.b.c", ""] {
        let result = exchange_with(&issuer, provider.as_ref(), garbage.into()).await;
        assert!(
            matches!(result, Err(OAuthError::Rejected(_))),
            "{garbage}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_email_is_verified_only_by_a_true_claim() {
    let unsaid = accepted(json!({ "email_verified": null }), Signing::Rs256).await;
    assert_eq!(unsaid.email.as_deref(), Some("ann@example.com"));
    assert!(!unsaid.email_verified);
    let denied = accepted(json!({ "email_verified": false }), Signing::Rs256).await;
    assert!(!denied.email_verified);
    // Apple sends the boolean as a string.
    let apple = accepted(json!({ "email_verified": "true" }), Signing::Rs256).await;
    assert!(apple.email_verified);
    let apple = accepted(json!({ "email_verified": "false" }), Signing::Rs256).await;
    assert!(!apple.email_verified);
}

#[tokio::test]
async fn client_secret_post_is_used_when_discovery_offers_only_that() {
    let issuer = TestOidcIssuer::start();
    issuer.set_token_endpoint_auth_methods(&["client_secret_post", "private_key_jwt"]);
    let provider = adapter(&issuer);
    let token = issuer.sign(&issuer.claims(NONCE), Signing::Rs256);
    exchange_with(&issuer, provider.as_ref(), token)
        .await
        .unwrap();
    let request = &issuer.token_requests()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.field("client_id").as_deref(),
        Some(issuer.client_id())
    );
    assert_eq!(
        request.field("client_secret").as_deref(),
        Some(issuer.client_secret())
    );
}

#[tokio::test]
async fn a_missing_email_is_asked_of_userinfo() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let bare = json!({ "email": null, "email_verified": null, "given_name": null });
    let token = issuer.sign(&claims_for(&issuer, bare.clone()), Signing::Rs256);

    issuer.set_userinfo(Some(json!({
        "sub": "user-1", "email": "ann@example.com", "email_verified": true, "given_name": "Ann",
    })));
    let identity = exchange_with(&issuer, provider.as_ref(), token.clone())
        .await
        .unwrap();
    assert_eq!(identity.email.as_deref(), Some("ann@example.com"));
    assert!(identity.email_verified);
    assert_eq!(identity.first_name.as_deref(), Some("Ann"));
    assert!(issuer.userinfo_tokens()[0].starts_with("at-"));

    issuer.set_userinfo(Some(json!({ "sub": "user-1", "email": "ann@example.com" })));
    let identity = exchange_with(&issuer, provider.as_ref(), token.clone())
        .await
        .unwrap();
    assert_eq!(identity.email.as_deref(), Some("ann@example.com"));
    assert!(
        !identity.email_verified,
        "userinfo did not say it is verified"
    );

    issuer.set_userinfo(Some(json!({
        "sub": "someone-else", "email": "eve@example.com", "email_verified": true,
    })));
    let result = exchange_with(&issuer, provider.as_ref(), token.clone()).await;
    assert!(matches!(result, Err(OAuthError::Rejected(_))), "{result:?}");

    // With userinfo off, the identity stays as the id_token has it.
    let mut config = config(&issuer);
    config.userinfo = false;
    let quiet = oauth::provider(&config).unwrap();
    let identity = exchange_with(&issuer, quiet.as_ref(), token).await.unwrap();
    assert_eq!(identity.email, None);
    assert!(!identity.email_verified);
}

#[tokio::test]
async fn token_endpoint_errors_are_refusals_and_breakage_is_unavailability() {
    let issuer = TestOidcIssuer::start();
    let provider = adapter(&issuer);
    let raw = |status: u16, content_type: &str, body: &str| TokenReply::Raw {
        status,
        content_type: content_type.into(),
        body: body.into(),
    };
    let refusals = [
        raw(400, "application/json", r#"{"error":"invalid_grant"}"#),
        raw(401, "application/json", r#"{"error":"invalid_client"}"#),
        raw(
            400,
            "application/x-www-form-urlencoded",
            "error=invalid_grant",
        ),
        raw(403, "text/html", "<h1>Forbidden</h1>"),
    ];
    for reply in refusals {
        issuer.set_token_reply(reply.clone());
        let result = provider.exchange(&code_exchange("code-1", NONCE)).await;
        assert!(
            matches!(result, Err(OAuthError::Rejected(_))),
            "{reply:?}: {result:?}"
        );
    }
    let breakage = [
        raw(503, "text/html", "<h1>Service Unavailable</h1>"),
        raw(200, "application/json", "{\"access_token\":"),
        raw(200, "text/html", "<html>hello</html>"),
    ];
    for reply in breakage {
        issuer.set_token_reply(reply.clone());
        let result = provider.exchange(&code_exchange("code-1", NONCE)).await;
        assert!(
            matches!(result, Err(OAuthError::Unavailable(_))),
            "{reply:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_not_trusted() {
    let issuer = TestOidcIssuer::start();
    issuer.set_discovery_issuer("https://accounts.example.com");
    let provider = adapter(&issuer);
    let result = provider.authorize_url(&authorization("s", NONCE)).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_issuer_that_is_down_is_unavailable_and_retried_later() {
    let issuer = TestOidcIssuer::start();
    let mut config = config(&issuer);
    config.issuer_url = Some("http://127.0.0.1:9".into());
    let provider = oauth::provider(&config).unwrap();
    let result = provider.authorize_url(&authorization("s", NONCE)).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(_))),
        "{result:?}"
    );
    let provider = adapter(&issuer);
    drop(issuer);
    let result = provider.exchange(&code_exchange("code-1", NONCE)).await;
    assert!(
        matches!(result, Err(OAuthError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn microsoft_tokens_name_their_own_tenant_in_the_issuer() {
    let issuer = TestOidcIssuer::start();
    let base = issuer.issuer();
    issuer.set_discovery_issuer(format!("{base}/{{tenantid}}/v2.0"));
    let mut config = config(&issuer);
    config.name = "microsoft".into();
    config.kind = ProviderKind::Microsoft;
    config.issuer_url = Some(format!("{base}/common/v2.0"));
    let microsoft = oauth::provider(&config).unwrap();
    let tenant_iss = format!("{base}/{TENANT}/v2.0");
    let cases = [
        (json!({ "iss": tenant_iss, "tid": TENANT }), true),
        (json!({ "iss": tenant_iss }), false),
        (
            json!({ "iss": tenant_iss, "tid": "9188040d-6c67-4c5b-b112-36a304b66dad" }),
            false,
        ),
        (
            json!({ "iss": format!("{base}/{{tenantid}}/v2.0"), "tid": TENANT }),
            false,
        ),
    ];
    for (changes, passes) in cases {
        let token = issuer.sign(&claims_for(&issuer, changes.clone()), Signing::Rs256);
        let result = exchange_with(&issuer, microsoft.as_ref(), token).await;
        assert_eq!(result.is_ok(), passes, "{changes}: {result:?}");
    }
}

#[tokio::test]
async fn apple_gets_a_signed_client_secret_and_a_form_post_callback() {
    let issuer = TestOidcIssuer::start();
    issuer.set_token_endpoint_auth_methods(&["client_secret_post"]);
    let key = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let pem = PKey::from_ec_key(key.clone())
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    let mut config = config(&issuer);
    config.name = "apple".into();
    config.kind = ProviderKind::Apple;
    config.client_secret = ClientSecret::AppleKey(AppleClientKey {
        team_id: "TEAM123456".into(),
        key_id: "KEY1234567".into(),
        private_key_pem: String::from_utf8(pem).unwrap(),
    });
    let apple = oauth::provider(&config).unwrap();

    let url = apple
        .authorize_url(&authorization("state-1", NONCE))
        .await
        .unwrap();
    assert_eq!(param(&url, "response_mode").as_deref(), Some("form_post"));
    assert_eq!(param(&url, "scope").as_deref(), Some("openid email name"));

    let token = issuer.sign(
        &claims_for(
            &issuer,
            json!({ "email_verified": "true", "given_name": null }),
        ),
        Signing::Rs256,
    );
    let identity = exchange_with(&issuer, apple.as_ref(), token).await.unwrap();
    assert!(identity.email_verified);

    let secret = issuer.token_requests()[0].field("client_secret").unwrap();
    let parts: Vec<&str> = secret.split('.').collect();
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    assert_eq!(decode(parts[0])["kid"], "KEY1234567");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "TEAM123456");
    assert_eq!(claims["sub"], issuer.client_id());
    assert_eq!(claims["aud"], issuer.issuer());
    let raw = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signature = EcdsaSig::from_private_components(
        openssl::bn::BigNum::from_slice(&raw[..32]).unwrap(),
        openssl::bn::BigNum::from_slice(&raw[32..]).unwrap(),
    )
    .unwrap();
    let digest = hash(
        MessageDigest::sha256(),
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
    )
    .unwrap();
    assert!(signature.verify(&digest, &key).unwrap());
}

#[tokio::test]
async fn every_oidc_preset_can_be_pointed_at_another_issuer() {
    for kind in [
        ProviderKind::GitLab,
        ProviderKind::LinkedInOidc,
        ProviderKind::Google,
    ] {
        let issuer = TestOidcIssuer::start();
        let mut config = config(&issuer);
        config.name = kind.as_str().into();
        config.kind = kind;
        let provider = oauth::provider(&config).unwrap();
        let url = provider
            .authorize_url(&authorization("s", NONCE))
            .await
            .unwrap();
        assert!(url.starts_with(&issuer.issuer()), "{kind}: {url}");
        let token = issuer.sign(&issuer.claims(NONCE), Signing::Rs256);
        let identity = exchange_with(&issuer, provider.as_ref(), token)
            .await
            .unwrap();
        assert_eq!(identity.subject, "user-1", "{kind}");
    }
}

//! A hostile-but-real OpenID Connect issuer: discovery, a key set, an
//! authorize endpoint, a token endpoint answering whatever id_token the test
//! made (well signed or not), and userinfo, over HTTP on loopback.
//!
//! The discovery document is served under any path ending in
//! `/.well-known/openid-configuration`, so the issuer can pose as a tenant
//! path (Microsoft's `/common/v2.0`); what it names as `issuer` is settable.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_json::{Value, json};
use warp::http::{Method, StatusCode};

use super::server::{Reply, Request, Served, find, json, now_secs, random_token, redirect, reply};

/// How a test id_token is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the first published RSA key.
    Rs256,
    /// RS256 with the published RSA key of this `kid` (see
    /// [`TestOidcIssuer::rotate_keys`]).
    Rs256Key(String),
    /// PS256 with the first published RSA key.
    Ps256,
    /// ES256 with the published P-256 key.
    Es256,
    /// RS256 with the first key, but a `kid` the key set does not have.
    UnknownKid,
    /// RS256 naming the first key's `kid`, signed by a key never published.
    ForeignKey,
    /// Well signed, then the payload swapped for another.
    Tampered,
    /// `alg: none` and an empty signature.
    None,
    /// HS256 keyed with the first RSA key's public PEM: the key confusion
    /// attack.
    Hs256WithPublicKey,
    /// HS256 keyed with the client secret, which OpenID Connect allows and
    /// Latch does not.
    Hs256WithClientSecret,
}

struct RsaKey {
    kid: String,
    key: PKey<Private>,
}

/// What the token endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenReply {
    /// 200 JSON with an access token and the id_token set by
    /// [`TestOidcIssuer::issue_id_token`] (none if none was set).
    Normal,
    /// Exactly this.
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
}

/// One token request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
}

impl TokenRequest {
    pub fn field(&self, name: &str) -> Option<String> {
        find(&self.form, name)
    }
}

struct State {
    rsa: Vec<RsaKey>,
    discovery_issuer: Option<String>,
    auth_methods: Option<Vec<String>>,
    id_token: Option<String>,
    token_reply: TokenReply,
    userinfo: Option<Value>,
    discovery_fetches: usize,
    jwks_fetches: usize,
    authorizations: Vec<Vec<(String, String)>>,
    token_requests: Vec<TokenRequest>,
    userinfo_tokens: Vec<String>,
}

struct Shared {
    client_id: String,
    client_secret: String,
    base: Mutex<String>,
    ec: EcKey<Private>,
    foreign: PKey<Private>,
    state: Mutex<State>,
}

/// The issuer; stops when dropped.
pub struct TestOidcIssuer {
    shared: Arc<Shared>,
    served: Served,
}

fn rsa_key(kid: &str) -> RsaKey {
    RsaKey {
        kid: kid.to_owned(),
        key: PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestOidcIssuer {
    /// Starts an issuer at `http://127.0.0.1:<port>` with one RSA and one
    /// P-256 key, a fresh client id and secret, and no id_token to give yet.
    pub fn start() -> Self {
        let shared = Arc::new(Shared {
            client_id: format!("client-{}", random_token(6)),
            client_secret: random_token(24),
            base: Mutex::new(String::new()),
            ec: EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
            foreign: rsa_key("foreign").key,
            state: Mutex::new(State {
                rsa: vec![rsa_key("rsa-1")],
                discovery_issuer: None,
                auth_methods: None,
                id_token: None,
                token_reply: TokenReply::Normal,
                userinfo: None,
                discovery_fetches: 0,
                jwks_fetches: 0,
                authorizations: Vec::new(),
                token_requests: Vec::new(),
                userinfo_tokens: Vec::new(),
            }),
        });
        let handler_state = Arc::clone(&shared);
        let served = Served::start(move |request| {
            let shared = Arc::clone(&handler_state);
            async move { shared.handle(&request) }
        });
        *shared.base.lock().unwrap() = served.base_url();
        Self { shared, served }
    }

    /// `http://127.0.0.1:<port>`: the issuer, unless told otherwise.
    pub fn issuer(&self) -> String {
        self.served.base_url()
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap())
    }

    /// Claims that pass every check for `nonce`: this issuer, this client,
    /// subject `user-1`, issued now, expiring in five minutes, with a
    /// verified email and names.
    pub fn claims(&self, nonce: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.issuer(),
            "aud": self.client_id(),
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "ann@example.com",
            "email_verified": true,
            "given_name": "Ann",
            "family_name": "Lee",
            "preferred_username": "ann",
            "picture": "https://pictures.example.com/ann.png",
        })
    }

    /// A compact JWS of `claims`, signed as `signing` says.
    pub fn sign(&self, claims: &Value, signing: Signing) -> String {
        let state = self.shared.state.lock().unwrap();
        let first = &state.rsa[0];
        let rsa_by_kid = |kid: &str| {
            state
                .rsa
                .iter()
                .find(|k| k.kid == kid)
                .unwrap_or_else(|| panic!("no published key {kid}"))
        };
        let payload = b64(claims.to_string());
        let input = |header: Value| format!("{}.{payload}", b64(header.to_string()));
        let header = |alg: &str, kid: &str| json!({ "alg": alg, "kid": kid, "typ": "JWT" });
        match signing {
            Signing::Rs256 => rs(&first.key, input(header("RS256", &first.kid)), false),
            Signing::Rs256Key(kid) => {
                let key = rsa_by_kid(&kid);
                rs(&key.key, input(header("RS256", &key.kid)), false)
            }
            Signing::Ps256 => rs(&first.key, input(header("PS256", &first.kid)), true),
            Signing::Es256 => {
                let input = input(header("ES256", "ec-1"));
                let digest = hash(MessageDigest::sha256(), input.as_bytes()).unwrap();
                let sig = EcdsaSig::sign(&digest, &self.shared.ec).unwrap();
                let mut raw = sig.r().to_vec_padded(32).unwrap();
                raw.extend(sig.s().to_vec_padded(32).unwrap());
                format!("{input}.{}", b64(raw))
            }
            Signing::UnknownKid => rs(&first.key, input(header("RS256", "not-published")), false),
            Signing::ForeignKey => rs(
                &self.shared.foreign,
                input(header("RS256", &first.kid)),
                false,
            ),
            Signing::Tampered => {
                let good = rs(&first.key, input(header("RS256", &first.kid)), false);
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                let mut other = claims.clone();
                other["sub"] = json!("someone-else");
                parts[1] = b64(other.to_string());
                parts.join(".")
            }
            Signing::None => format!("{}.", input(json!({ "alg": "none", "typ": "JWT" }))),
            Signing::Hs256WithPublicKey => {
                let public_pem = first.key.public_key_to_pem().unwrap();
                hs(&public_pem, input(header("HS256", &first.kid)))
            }
            Signing::Hs256WithClientSecret => hs(
                self.shared.client_secret.as_bytes(),
                input(json!({ "alg": "HS256", "typ": "JWT" })),
            ),
        }
    }

    /// The token endpoint answers with this id_token from now on.
    pub fn issue_id_token(&self, id_token: impl Into<String>) {
        self.with(|s| s.id_token = Some(id_token.into()));
    }

    /// The token endpoint answers without an id_token from now on.
    pub fn issue_no_id_token(&self) {
        self.with(|s| s.id_token = None);
    }

    pub fn set_token_reply(&self, token_reply: TokenReply) {
        self.with(|s| s.token_reply = token_reply);
    }

    /// Publishes one more RSA key and returns its `kid`.
    pub fn rotate_keys(&self) -> String {
        self.with(|s| {
            let kid = format!("rsa-{}", s.rsa.len() + 1);
            s.rsa.push(rsa_key(&kid));
            kid
        })
    }

    /// What discovery names as the issuer (default: [`Self::issuer`]).
    pub fn set_discovery_issuer(&self, issuer: impl Into<String>) {
        self.with(|s| s.discovery_issuer = Some(issuer.into()));
    }

    /// `token_endpoint_auth_methods_supported` (default: absent).
    pub fn set_token_endpoint_auth_methods(&self, methods: &[&str]) {
        self.with(|s| s.auth_methods = Some(methods.iter().map(|m| (*m).to_owned()).collect()));
    }

    /// What the userinfo endpoint answers (default: 404).
    pub fn set_userinfo(&self, claims: Option<Value>) {
        self.with(|s| s.userinfo = claims);
    }

    pub fn discovery_fetches(&self) -> usize {
        self.with(|s| s.discovery_fetches)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.with(|s| s.jwks_fetches)
    }

    /// The query of every authorize request, oldest first.
    pub fn authorizations(&self) -> Vec<Vec<(String, String)>> {
        self.with(|s| s.authorizations.clone())
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.with(|s| s.token_requests.clone())
    }

    /// The access tokens userinfo was called with.
    pub fn userinfo_tokens(&self) -> Vec<String> {
        self.with(|s| s.userinfo_tokens.clone())
    }
}

fn rs(key: &PKey<Private>, input: String, pss: bool) -> String {
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    if pss {
        signer.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
            .unwrap();
    }
    signer.update(input.as_bytes()).unwrap();
    let signature = signer.sign_to_vec().unwrap();
    format!("{input}.{}", b64(signature))
}

fn hs(key: &[u8], input: String) -> String {
    let key = PKey::hmac(key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signer.sign_to_vec().unwrap()))
}

impl Shared {
    fn handle(&self, request: &Request) -> Reply {
        let base = self.base.lock().unwrap().clone();
        let mut state = self.state.lock().unwrap();
        match (&request.method, request.path.as_str()) {
            (&Method::GET, path) if path.ends_with("/.well-known/openid-configuration") => {
                state.discovery_fetches += 1;
                let mut doc = json!({
                    "issuer": state.discovery_issuer.clone().unwrap_or_else(|| base.clone()),
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "userinfo_endpoint": format!("{base}/userinfo"),
                    "jwks_uri": format!("{base}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                    "code_challenge_methods_supported": ["S256"],
                });
                if let Some(methods) = &state.auth_methods {
                    doc["token_endpoint_auth_methods_supported"] = json!(methods);
                }
                json(StatusCode::OK, &doc)
            }
            (&Method::GET, "/jwks") => {
                state.jwks_fetches += 1;
                let mut keys: Vec<Value> = state
                    .rsa
                    .iter()
                    .map(|k| {
                        let rsa = k.key.rsa().unwrap();
                        json!({
                            "kty": "RSA", "use": "sig", "kid": k.kid,
                            "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec()),
                        })
                    })
                    .collect();
                let mut x = BigNum::new().unwrap();
                let mut y = BigNum::new().unwrap();
                let mut ctx = BigNumContext::new().unwrap();
                self.ec
                    .public_key()
                    .affine_coordinates(self.ec.group(), &mut x, &mut y, &mut ctx)
                    .unwrap();
                keys.push(json!({
                    "kty": "EC", "use": "sig", "kid": "ec-1", "crv": "P-256",
                    "x": b64(x.to_vec_padded(32).unwrap()), "y": b64(y.to_vec_padded(32).unwrap()),
                }));
                json(StatusCode::OK, &json!({ "keys": keys }))
            }
            (&Method::GET, "/authorize") => {
                state.authorizations.push(request.query.clone());
                let Some(redirect_uri) = request.param("redirect_uri") else {
                    return reply(StatusCode::BAD_REQUEST, "text/plain", "no redirect_uri");
                };
                let mut url = reqwest::Url::parse(&redirect_uri).unwrap();
                url.query_pairs_mut()
                    .append_pair("code", &random_token(12))
                    .append_pair("state", &request.param("state").unwrap_or_default());
                redirect(url.as_str())
            }
            (&Method::POST, "/token") => {
                state.token_requests.push(TokenRequest {
                    authorization: request.header("authorization"),
                    form: request.form(),
                });
                match &state.token_reply {
                    TokenReply::Raw {
                        status,
                        content_type,
                        body,
                    } => reply(
                        StatusCode::from_u16(*status).unwrap(),
                        content_type,
                        body.clone(),
                    ),
                    TokenReply::Normal => {
                        let mut doc = json!({
                            "access_token": format!("at-{}", random_token(16)),
                            "token_type": "Bearer",
                            "expires_in": 300,
                        });
                        if let Some(id_token) = &state.id_token {
                            doc["id_token"] = json!(id_token);
                        }
                        json(StatusCode::OK, &doc)
                    }
                }
            }
            (&Method::GET, "/userinfo") => {
                if let Some(token) = request.bearer() {
                    state.userinfo_tokens.push(token);
                }
                match &state.userinfo {
                    Some(claims) => json(StatusCode::OK, claims),
                    None => json(StatusCode::NOT_FOUND, &json!({ "error": "not_found" })),
                }
            }
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found"),
        }
    }
}

//! A real OpenID Connect provider: the `oidc-provider` npm package (OpenID
//! Certified), run by `oidc/provider.mjs` under Node on a free loopback
//! port, with one confidential client, PKCE required, and test accounts.
//! `oidc/setup.sh` installs it (pinned by `oidc/package-lock.json`).
//!
//! Sign in through it with [`super::browser::sign_in`]: it answers the
//! package's development login page (any password; the login is the
//! account's `sub`) and its consent page.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command};

use serde_json::json;

use super::server::random_token;
use crate::process::spawn_listening;

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Runs `oidc/setup.sh`: `npm ci` when the install is missing or stale.
pub fn install_oidc_provider() {
    let status = Command::new("bash")
        .arg(oidc_dir().join("setup.sh"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "crates/testkit/oidc/setup.sh failed");
}

/// An account at the provider; its claims are served as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcAccount {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_username: Option<String>,
    pub picture: Option<String>,
}

impl OidcAccount {
    /// An account with a verified email and names.
    pub fn new(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: true,
            given_name: Some("Ann".to_owned()),
            family_name: Some("Lee".to_owned()),
            preferred_username: Some(sub.to_owned()),
            picture: Some(format!("https://pictures.example.com/{sub}.png")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut claims = json!({ "sub": self.sub });
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(value) = value {
                claims[name] = json!(value);
            }
        };
        put("email", &self.email);
        put("given_name", &self.given_name);
        put("family_name", &self.family_name);
        put("preferred_username", &self.preferred_username);
        put("picture", &self.picture);
        if self.email.is_some() {
            claims["email_verified"] = json!(self.email_verified);
        }
        claims
    }
}

/// How the provider is started.
#[derive(Debug, Clone)]
pub struct NodeOidcOptions {
    /// The client's registered redirect URIs.
    pub redirect_uris: Vec<String>,
    pub accounts: Vec<OidcAccount>,
    /// `RS256`, `PS256`, `ES256` or `EdDSA`.
    pub id_token_alg: &'static str,
    /// `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: &'static str,
    /// Whether scope claims (email, names) are in the id_token as well as at
    /// userinfo; by default the provider serves them at userinfo only.
    pub claims_in_id_token: bool,
}

impl NodeOidcOptions {
    pub fn new(redirect_uri: &str, accounts: Vec<OidcAccount>) -> Self {
        Self {
            redirect_uris: vec![redirect_uri.to_owned()],
            accounts,
            id_token_alg: "RS256",
            token_endpoint_auth_method: "client_secret_basic",
            claims_in_id_token: false,
        }
    }
}

/// The running provider; stopped when dropped.
pub struct NodeOidcProvider {
    child: Child,
    // Held open: the provider exits when its standard input closes.
    _stdin: ChildStdin,
    issuer: String,
    client_id: String,
    client_secret: String,
}

impl NodeOidcProvider {
    /// Installs the package if needed, starts the provider and waits until
    /// it serves.
    pub fn start(options: NodeOidcOptions) -> Self {
        install_oidc_provider();
        let client_id = format!("latch-{}", random_token(6));
        let client_secret = random_token(32);
        let settings = json!({
            "clientId": client_id,
            "clientSecret": client_secret,
            "redirectUris": options.redirect_uris,
            "accounts": options.accounts.iter().map(OidcAccount::to_json).collect::<Vec<_>>(),
            "idTokenAlg": options.id_token_alg,
            "tokenEndpointAuthMethod": options.token_endpoint_auth_method,
            "claimsInIdToken": options.claims_in_id_token,
        });
        let (child, stdin, port) = spawn_listening(
            Command::new("node")
                .arg(oidc_dir().join("provider.mjs"))
                .arg(settings.to_string())
                .current_dir(oidc_dir()),
            "the OpenID Connect test provider (Node.js 20 or newer)",
        );
        Self {
            child,
            _stdin: stdin,
            issuer: format!("http://127.0.0.1:{port}"),
            client_id,
            client_secret,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
}

impl Drop for NodeOidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

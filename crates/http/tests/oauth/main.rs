//! The OAuth and OpenID Connect adapters against real providers on
//! loopback, started by the tests: the GitHub-style provider and the
//! hostile OpenID Connect issuer from latch-testkit, and the certified
//! `oidc-provider` under Node. One binary, so one link step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod certified;
mod config;
mod contract;
mod github;
mod id_token;
mod presets;

use std::time::Duration;

use latch_core::ports::{AuthorizationRequest, CodeExchange};

/// Latch's callback as the providers see it; nothing listens there, since
/// the tests read the redirect themselves.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/v1/oauth_callback";

/// A PKCE verifier of the allowed shape (43 to 128 unreserved characters).
pub const VERIFIER: &str = "k3Jd8Q-n5.Zr_0pLw~Vb7Xc2Tf9Hs4Ma6Ye1Ug0Ri8Oq";

pub const TIMEOUT: Duration = Duration::from_secs(3);

pub fn authorization(state: &str, nonce: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        state: state.into(),
        pkce_verifier: VERIFIER.into(),
        nonce: nonce.into(),
        redirect_uri: REDIRECT_URI.into(),
    }
}

pub fn code_exchange(code: &str, nonce: &str) -> CodeExchange {
    CodeExchange {
        code: code.into(),
        pkce_verifier: VERIFIER.into(),
        nonce: nonce.into(),
        redirect_uri: REDIRECT_URI.into(),
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

//! Identity providers for OAuth adapter tests, all over real HTTP on
//! loopback:
//!
//! - [`GitHubLikeProvider`]: a GitHub-style OAuth 2.0 provider written here,
//!   with switches for failure modes; it also answers the Facebook, X and
//!   Discord user APIs.
//! - [`TestOidcIssuer`]: an OpenID Connect issuer that serves id_tokens the
//!   test crafts, well or badly signed, to check the verifier.
//! - [`NodeOidcProvider`]: a real, certified OpenID Connect provider (the
//!   `oidc-provider` npm package under Node), installed by `oidc/setup.sh`.
//! - [`sign_in`]: the browser's part between the authorize URL and the
//!   callback.
//! - [`oauth_provider_contract`]: the `OAuthProvider` port's contract, for
//!   an adapter wired to one of these providers.

mod browser;
mod contract;
mod github_like;
mod node_oidc;
mod oidc_issuer;
mod server;

pub use browser::{Callback, Stopped, sign_in};
pub use contract::{OAuthContract, oauth_provider_contract};
pub use github_like::{AuthorizeRecord, ErrorStyle, GitHubLikeProvider, OAuthUser, TokenEndpoint};
pub use node_oidc::{NodeOidcOptions, NodeOidcProvider, OidcAccount, install_oidc_provider};
pub use oidc_issuer::{Signing, TestOidcIssuer, TokenReply, TokenRequest};

/// The S256 PKCE challenge of a verifier, as a provider computes it.
pub fn pkce_challenge(verifier: &str) -> String {
    server::s256(verifier)
}

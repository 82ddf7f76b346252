//! Use cases. [`Latch`] holds the ports and the instance settings; its methods
//! are grouped by resource in the submodules and are what inbound adapters call.

mod clients;
mod codes;
mod me;
mod oauth;
mod phantoms;
mod rate_limits;
mod second_factors;
mod sessions;
mod sign_ins;
mod users;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use clients::{ClientSnapshot, Outcome, SessionView, SignInView};
pub use me::{BackupCodesView, TotpView};
pub use oauth::{CallbackRedirect, OAuthCallback, OAuthProviders};
pub use rate_limits::Throttled;
pub use second_factors::{AttemptSecondFactor, PrepareSecondFactor};
pub use sessions::{SessionTokenClaims, SessionsPage};
pub use sign_ins::{AttemptFirstFactor, CreateSignIn, PrepareFirstFactor, ResetPassword};
pub use users::{CreateUser, PhoneNumberPatch, UsersPage};

use crate::error::{Error, Problem};
use crate::model::InstanceSettings;
use crate::ports::{
    ClientRepository, Clock, CodeSender, Counters, InstanceStore, PasswordHasher, Random,
    SignInStore, UserRepository,
};
use crate::secrets::SecretBox;

/// The outbound ports the use cases need.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub sign_ins: Arc<dyn SignInStore>,
    /// Rate-limit counters; kept with the flow store.
    pub counters: Arc<dyn Counters>,
    pub instance: Arc<dyn InstanceStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub codes: Arc<dyn CodeSender>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Seals TOTP secrets and digests backup codes with the instance's key.
    pub secrets: Arc<SecretBox>,
    /// The identity providers OAuth strategies go to.
    pub oauth: OAuthProviders,
}

/// The application: ports plus settings, and every use case as a method.
#[derive(Clone)]
pub struct Latch {
    ports: Ports,
    settings: Arc<InstanceSettings>,
    /// See `phantoms`: made on first use.
    phantom_digest: Arc<tokio::sync::OnceCell<String>>,
}

impl Latch {
    pub fn new(ports: Ports, settings: InstanceSettings) -> Self {
        Self {
            ports,
            settings: Arc::new(settings),
            phantom_digest: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    /// Whether storage answers; for health checks.
    pub async fn health(&self) -> Result<(), Error> {
        self.ports.instance.get("health").await?;
        Ok(())
    }

    /// A new 256-bit client token, hex encoded.
    fn new_token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.ports.random.fill(&mut bytes);
        hex(&bytes)
    }
}

/// SHA-256 of a client token, hex encoded: what the client repository stores.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A requested page size within Clerk's bounds (default 10, 1 to 500).
fn page_limit(requested: Option<u32>) -> Result<u32, Error> {
    match requested.unwrap_or(10) {
        limit @ 1..=500 => Ok(limit),
        _ => Err(Error::invalid(
            "limit",
            Problem::OutOfRange { min: 1, max: 500 },
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support;

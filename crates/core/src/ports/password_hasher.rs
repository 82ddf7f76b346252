//! Password hashing.

use async_trait::async_trait;
use mockall::automock;

use crate::error::Error;
use crate::model::Password;

/// Hashes and verifies passwords. Implementations MUST NOT run the hash on the
/// async runtime's threads, and verifying against `None` MUST cost the same as a
/// real verification and return `false`.
#[automock]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for the password.
    async fn hash(&self, password: &Password) -> Result<String, Error>;

    /// Whether `password` matches `digest`; `None` stands for a user without a
    /// password or an unknown user.
    async fn verify(&self, password: &str, digest: Option<String>) -> Result<bool, Error>;
}

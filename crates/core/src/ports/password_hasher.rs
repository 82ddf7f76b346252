//! Password hashing.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::Error;
use crate::model::Password;

/// Hashes and verifies passwords. Implementations MUST NOT run the hash on the
/// async runtime's threads, and verifying against `None` MUST cost the same as a
/// real verification and return `false`.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for the password.
    async fn hash(&self, password: &Password) -> Result<String, Error>;

    /// Whether `password` matches `digest`; `None` stands for a user without a
    /// password or an unknown user.
    /// Whether a digest that just verified should be replaced by one with the
    /// current parameters (it is weaker or of another kind).
    fn needs_rehash(&self, digest: &str) -> bool;

    async fn verify(&self, password: &str, digest: Option<String>) -> Result<bool, Error>;
}

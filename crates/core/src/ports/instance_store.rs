//! Instance-wide secrets and settings that are generated once and kept.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;

/// A small key-value store for instance material such as the secret key and the
/// token signing key.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait InstanceStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key` unless a value is there already, and returns
    /// the value that is stored afterwards. Two replicas racing MUST end with the
    /// same value.
    async fn get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;

    /// Stores `value` under `key` if the value stored there is `expected`
    /// (`None`: no value yet); returns whether it did. Of two replicas
    /// replacing the same value, exactly one MUST succeed.
    async fn compare_and_set<'a>(
        &self,
        key: &str,
        expected: Option<&'a str>,
        value: &str,
    ) -> Result<bool, StoreError>;
}

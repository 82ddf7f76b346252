//! Short-lived storage of sign-in attempts (the flow store).

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{SignIn, SignInId, Timestamp};

/// Sign-ins in progress. They are state, not records: an adapter MAY drop a
/// sign-in after its `abandon_at`. Every change is a compare-and-set on the
/// sign-in's version, so two requests racing on one sign-in cannot both win.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// Stores a new sign-in. MUST fail (storing nothing) if the id exists.
    async fn insert(&self, sign_in: &SignIn) -> Result<(), StoreError>;

    /// Replaces the stored sign-in with `sign_in` if and only if the stored
    /// one's version is `expected_version`, atomically. MUST fail with
    /// `Conflict` (changing nothing) otherwise, and with `NotFound` if the
    /// sign-in does not exist.
    async fn replace(&self, sign_in: &SignIn, expected_version: u64) -> Result<(), StoreError>;

    async fn get(&self, id: &SignInId) -> Result<Option<SignIn>, StoreError>;

    async fn delete(&self, id: &SignInId) -> Result<(), StoreError>;

    /// Drops sign-ins whose `abandon_at` is before `now`; returns how many.
    async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError>;
}

//! Short-lived storage of sign-ups in progress (the flow store, beside
//! sign-ins).

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{SignUp, SignUpId, Timestamp};

/// Sign-ups in progress: state, not records, kept by the same rules as
/// [`SignInStore`](super::SignInStore). An adapter MAY drop a sign-up after
/// its `abandon_at`; every change is a compare-and-set on its version.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SignUpStore: Send + Sync {
    /// Stores a new sign-up. MUST fail (storing nothing) if the id exists.
    async fn insert(&self, sign_up: &SignUp) -> Result<(), StoreError>;

    /// Replaces the stored sign-up with `sign_up` if and only if the stored
    /// one's version is `expected_version`, atomically. MUST fail with
    /// `Conflict` (changing nothing) otherwise, and with `NotFound` if the
    /// sign-up does not exist.
    async fn replace(&self, sign_up: &SignUp, expected_version: u64) -> Result<(), StoreError>;

    async fn get(&self, id: &SignUpId) -> Result<Option<SignUp>, StoreError>;

    async fn delete(&self, id: &SignUpId) -> Result<(), StoreError>;

    /// Drops sign-ups whose `abandon_at` is before `now`; returns how many.
    async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError>;
}

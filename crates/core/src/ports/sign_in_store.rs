//! Short-lived storage of sign-in attempts (the flow store).

use async_trait::async_trait;
use mockall::automock;

use crate::error::StoreError;
use crate::model::{SignIn, SignInId, Timestamp};

/// Sign-ins in progress. They are state, not records: an adapter MAY drop a
/// sign-in after its `abandon_at`.
#[automock]
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// Inserts or replaces the sign-in with this id.
    async fn put(&self, sign_in: &SignIn) -> Result<(), StoreError>;

    async fn get(&self, id: &SignInId) -> Result<Option<SignIn>, StoreError>;

    async fn delete(&self, id: &SignInId) -> Result<(), StoreError>;

    /// Drops sign-ins abandoned before `now`; returns how many.
    async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError>;
}

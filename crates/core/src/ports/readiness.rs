//! Whether a store can serve: reachable, answering, writable where it
//! must be, and at the schema this build expects.

use async_trait::async_trait;

use crate::error::StoreError;

/// A store's readiness check, for `/readyz`. Cheap: one round trip.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// The part it checks, as the answer names it (`sqlite`, `postgres`,
    /// `redis`).
    fn part(&self) -> &'static str;

    async fn ready(&self) -> Result<(), StoreError>;
}

//! Operators: the users who may open the dashboard, kept beside the users
//! they are (a user's deletion takes its role with it).

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Timestamp, UserId};

/// A user's operator role, as granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub user_id: UserId,
    pub granted_at: Timestamp,
    /// The operator who granted it; `None` when Latch itself did (the
    /// command line, the first-run setup).
    pub granted_by: Option<UserId>,
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The role is gone.
    Revoked,
    /// The user was no operator: nothing changed.
    NotOperator,
    /// The user is the last operator: nothing changed.
    LastOperator,
}

/// Storage of operator roles.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Grants the role. Returns `false` and changes nothing (not even
    /// `granted_at`) if the user already holds it. MUST fail with
    /// `StoreError::NotFound` if no such user exists.
    async fn grant(&self, operator: &Operator) -> Result<bool, StoreError>;

    /// Grants the role only while no operator exists at all, tested in the
    /// write itself: of racing first grants (on any replica) one succeeds.
    /// Returns whether this one did; `StoreError::NotFound` as in `grant`.
    async fn grant_first(&self, operator: &Operator) -> Result<bool, StoreError>;

    /// Takes the role away unless the user is the only operator left,
    /// tested in the write itself: racing revocations never leave none.
    async fn revoke(&self, user_id: &UserId) -> Result<Revoked, StoreError>;

    async fn is_operator(&self, user_id: &UserId) -> Result<bool, StoreError>;

    /// Operators, oldest grant first, at most `limit`.
    async fn list(&self, limit: u32) -> Result<Vec<Operator>, StoreError>;

    async fn count(&self) -> Result<u64, StoreError>;
}

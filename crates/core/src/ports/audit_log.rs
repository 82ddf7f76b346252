//! The audit log's storage: appended to, read by operators, and trimmed by
//! retention; nothing else changes it.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{AuditEntry, AuditQuery, Timestamp};

#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `entries`, in order, in one transaction. Entries are never
    /// changed afterwards.
    async fn append(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    /// Entries matching `query`, newest first, each with its sequence
    /// number (the cursor of the next page: pass it as `before`).
    async fn query(&self, query: &AuditQuery) -> Result<Vec<(i64, AuditEntry)>, StoreError>;

    /// Deletes entries made before `before`; returns how many.
    async fn purge(&self, before: Timestamp) -> Result<u64, StoreError>;
}

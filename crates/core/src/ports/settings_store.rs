//! The instance's runtime settings and its allow- and block-lists, kept in
//! the durable store that every replica shares.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use serde_json::Value;

use crate::model::{AccessList, ListEntry, Timestamp};

/// One stored version of the settings document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsVersion {
    /// 1 for the first version, one more for each after.
    pub version: u64,
    /// The document as stored (a JSON object). Read through the
    /// configuration file's document, so settings a later Latch added take
    /// the file's values.
    pub document: Value,
    pub changed_at: Timestamp,
    /// Who made the change, as the audit log names actors (`system`,
    /// `backend`; `operator:<user id>` for one through the dashboard).
    pub changed_by: String,
}

/// Versioned settings and the identifier lists.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The latest version, if any was stored.
    async fn latest(&self) -> Result<Option<SettingsVersion>, StoreError>;

    /// Stores `document` as version `after + 1`, if `after` is the latest
    /// version (0: none yet). When another version was stored first it
    /// stores nothing and returns `false`: two replicas saving at once MUST
    /// end with exactly one of them stored under each version.
    async fn save(
        &self,
        after: u64,
        document: &Value,
        changed_by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` versions, newest first.
    async fn history(&self, limit: u32) -> Result<Vec<SettingsVersion>, StoreError>;

    /// A number that grows whenever the settings or a list change, read
    /// cheaply: what each replica polls to know it must reload.
    async fn generation(&self) -> Result<u64, StoreError>;

    /// Every entry of `list`, oldest first.
    async fn entries(&self, list: AccessList) -> Result<Vec<ListEntry>, StoreError>;

    /// Adds `entry` to its list; `false` (and nothing stored) when the list
    /// holds its identifier already.
    async fn add_entry(&self, entry: &ListEntry) -> Result<bool, StoreError>;

    /// Removes the entry `id` from `list`; `false` when there is none.
    async fn remove_entry(&self, list: AccessList, id: &str) -> Result<bool, StoreError>;
}

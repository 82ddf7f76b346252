//! Fixed-window counters: what rate limits count with.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Duration, Timestamp};

/// The state of one counter's window after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// Time left until the window ends and the count starts again.
    pub resets_in: Duration,
}

/// Counters shared by every replica that uses the same store. A counter is
/// named by a key and counts hits in fixed windows: the first hit after a
/// window ended starts a new one of the given length.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds one hit to `key` and returns its window's count and remaining
    /// time, atomically: of any number of concurrent hits, on any replica,
    /// each sees a different count. A window MUST end no later than `window`
    /// after its first hit (measured by `now` or the store's own clock), and
    /// the key MUST NOT outlive its window by more than a purge interval.
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError>;

    /// Drops counters whose window ended before `now`; returns how many. A
    /// store that expires keys by itself MAY return 0.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;
}

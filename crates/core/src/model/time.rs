//! Instants and spans in milliseconds, as Clerk's wire format counts them.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Duration(pub i64);

impl Duration {
    pub const fn seconds(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }
    pub const fn minutes(m: i64) -> Self {
        Self(m.saturating_mul(60_000))
    }
    pub const fn hours(h: i64) -> Self {
        Self(h.saturating_mul(3_600_000))
    }
    pub const fn days(d: i64) -> Self {
        Self(d.saturating_mul(86_400_000))
    }
    pub fn as_secs(self) -> i64 {
        self.0 / 1000
    }
}

impl Timestamp {
    /// An instant that never comes: an admin lock.
    pub const FOREVER: Timestamp = Timestamp(i64::MAX);

    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
    /// Time elapsed from `earlier` to `self`, zero if negative.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }
}

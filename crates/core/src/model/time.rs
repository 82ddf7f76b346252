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

    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian calendar).
    pub fn rfc3339(self) -> String {
        let secs = self.secs();
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // The civil date of a count of days since 1970-01-01 (Howard
        // Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

//! The wall clock.

use latch_core::model::Timestamp;
use latch_core::ports::Clock;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock set before 1970 reads as the epoch rather than failing.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_present_in_milliseconds_and_never_goes_back() {
        let first = SystemClock.now();
        // 2025-01-01 and 2100-01-01: a reading in seconds or nanoseconds
        // would fall outside.
        assert!(first.0 > 1_735_689_600_000, "{first:?}");
        assert!(first.0 < 4_102_444_800_000, "{first:?}");
        assert!(SystemClock.now() >= first);
    }
}

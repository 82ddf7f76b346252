//! The wall clock.

use std::future::Future;
use std::pin::Pin;

use latch_core::model::{Duration, Timestamp};
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

    fn pause(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let millis = u64::try_from(duration.0).unwrap_or(0);
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(millis)))
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

    #[tokio::test]
    async fn pauses_for_about_the_time_asked() {
        let started = std::time::Instant::now();
        SystemClock.pause(Duration(30)).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(30));
    }
}

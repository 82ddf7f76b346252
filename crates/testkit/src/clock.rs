//! A clock that tests move by hand.

use std::sync::Mutex;

use latch_core::model::{Duration, Timestamp};
use latch_core::ports::Clock;

/// A [`Clock`] that stands still until a test moves it, so a test of an
/// expiry crosses it by moving the clock rather than by sleeping. Shared as
/// `Arc<ManualClock>`: the test keeps one handle, the code under test the other.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// Where every new clock starts: 2025-01-01T00:00:00Z.
    pub const START: Timestamp = Timestamp(1_735_689_600_000);

    /// A clock at [`ManualClock::START`].
    pub fn new() -> Self {
        Self::at(Self::START)
    }

    /// A clock at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let mut now = self.lock();
        *now = now.plus(Duration(millis));
    }

    /// Puts the clock at `now` (backwards too, to test a clock that steps back).
    pub fn set(&self, now: Timestamp) {
        *self.lock() = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A test that panicked while holding the lock cannot leave a torn value.
        self.now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }

    /// Waits in real time and leaves the clock where it is: what a use case
    /// waits for is other tasks' work, not an expiry.
    fn pause(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        let millis = u64::try_from(duration.0).unwrap_or(0);
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(millis)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration as Std;

    #[test]
    fn stands_still_until_moved() {
        let clock = ManualClock::new();
        assert_eq!(clock.now(), ManualClock::START);
        assert_eq!(clock.now(), ManualClock::START);
    }

    #[test]
    fn advance_moves_forward_by_exactly_the_span() {
        let clock = ManualClock::new();
        clock.advance(Std::from_secs(90));
        assert_eq!(clock.now(), Timestamp(ManualClock::START.0 + 90_000));
        clock.advance(Std::from_millis(1));
        assert_eq!(clock.now(), Timestamp(ManualClock::START.0 + 90_001));
        // Far beyond any real lifetime saturates instead of wrapping.
        clock.advance(Std::MAX);
        assert_eq!(clock.now(), Timestamp(i64::MAX));
    }

    #[test]
    fn set_puts_it_anywhere() {
        let clock = ManualClock::at(Timestamp(5_000));
        assert_eq!(clock.now(), Timestamp(5_000));
        clock.set(Timestamp(1_000));
        assert_eq!(clock.now(), Timestamp(1_000));
    }

    #[test]
    fn every_handle_sees_a_move() {
        let clock = Arc::new(ManualClock::new());
        let held: Arc<dyn Clock> = clock.clone();
        clock.advance(Std::from_secs(60));
        assert_eq!(held.now(), Timestamp(ManualClock::START.0 + 60_000));
    }
}

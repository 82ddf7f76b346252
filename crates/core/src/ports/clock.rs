//! The current time.

#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use std::future::Future;
use std::pin::Pin;

use crate::model::{Duration, Timestamp};

/// Tells the time. Every expiry, lifetime and token claim reads it here, so
/// tests can pin it.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Completes once about `duration` of real time has passed, for a use
    /// case that waits for concurrent work elsewhere to finish. It need not
    /// move [`now`](Self::now): a clock a test holds still stays still.
    fn pause(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

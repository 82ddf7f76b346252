//! The current time.

#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::model::Timestamp;

/// Tells the time. Every expiry, lifetime and token claim reads it here, so
/// tests can pin it.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

//! Randomness for ids, tokens and codes.

#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

/// A source of random bytes. Adapters used outside tests MUST be a CSPRNG.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom fails only when the OS has no entropy source at all, which no
        // supported platform lacks; refusing to run then is the only safe answer.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system CSPRNG is available");
    }
}

//! Randomness for ids, tokens and codes.

#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

/// A source of random bytes. Adapters used outside tests MUST be a CSPRNG.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// For the core's own tests: a different stream on every call (SHA-256 of a
/// process-wide counter), so tests that need distinct values get them without
/// the operating system.
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FreshRandom;

#[cfg(test)]
impl Random for FreshRandom {
    fn fill(&self, buf: &mut [u8]) {
        use sha2::{Digest, Sha256};
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        for chunk in buf.chunks_mut(32) {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let block = Sha256::digest(n.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

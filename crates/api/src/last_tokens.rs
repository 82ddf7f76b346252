//! The tokens client answers carry as their sessions' `last_active_token`.
//!
//! A client's own answer (its sign-in completing, `setActive`, a page load's
//! `GET /v1/client`) carries a token for its last active session, so that
//! the SDK does not ask for one straight after. Minting is an RSA signature,
//! several times the cost of the rest of a client read; a token minted for a
//! session and page is therefore reused by later answers while more than
//! half of its lifetime is left, and minted anew after. `POST .../tokens`
//! always mints: an SDK asking for a token wants a fresh one.
//!
//! The cache is per process and bounded: when full, entries past their
//! reuse time go, and if none have, all do. Reusing a token only ever hands
//! out a token its session's client was already given, for a session still
//! active as the answer is rendered.

use std::collections::HashMap;
use std::sync::Mutex;

use latch_core::model::{SessionId, Timestamp};

/// Sessions and pages whose last token is kept.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct LastTokens {
    entries: Mutex<HashMap<(SessionId, String), Minted>>,
}

/// A token and its lifetime.
#[derive(Clone)]
pub struct Minted {
    pub jwt: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Minted {
    /// Whether the token may still be handed out at `now`: more than half
    /// of its lifetime is left.
    fn reusable_at(&self, now: Timestamp) -> bool {
        let half = (self.expires_at.0 - self.issued_at.0) / 2;
        now.0 >= self.issued_at.0 && now.0 < self.issued_at.0 + half
    }
}

impl LastTokens {
    /// The token for `session` and `azp`: the kept one if still reusable at
    /// `now`, else the one `mint` makes (kept for later), or `None` when
    /// `mint` makes none.
    pub fn get_or_mint(
        &self,
        session: &SessionId,
        azp: &str,
        now: Timestamp,
        mint: impl FnOnce() -> Option<Minted>,
    ) -> Option<String> {
        let key = (session.clone(), azp.to_owned());
        if let Some(kept) = self.lock().get(&key).filter(|m| m.reusable_at(now)) {
            return Some(kept.jwt.clone());
        }
        // Minted outside the lock: two answers racing both mint, and the
        // later one is kept, which is as good.
        let minted = mint()?;
        let jwt = minted.jwt.clone();
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, m| m.reusable_at(now));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, minted);
        Some(jwt)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SessionId, String), Minted>> {
        // A panic while holding the lock leaves nothing half-written here.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minted(jwt: &str, at: i64) -> Option<Minted> {
        Some(Minted {
            jwt: jwt.to_owned(),
            issued_at: Timestamp(at),
            expires_at: Timestamp(at + 60_000),
        })
    }

    #[test]
    fn a_token_is_reused_for_half_its_lifetime_then_minted_anew() {
        let cache = LastTokens::default();
        let s = SessionId("sess_1".into());
        let page = "https://app.example";
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(0), || minted("one", 0)),
            Some("one".into())
        );
        let unused = || -> Option<Minted> { panic!("minted again") };
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(29_999), unused),
            Some("one".into())
        );
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(30_000), || minted("two", 30_000)),
            Some("two".into())
        );
        // Another page gets its own token (its `azp` differs).
        assert_eq!(
            cache.get_or_mint(&s, "https://other.example", Timestamp(30_001), || {
                minted("three", 30_001)
            }),
            Some("three".into())
        );
        // A time before the kept token (a clock set back) mints anew.
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(10_000), || minted("four", 10_000)),
            Some("four".into())
        );
        // Nothing minted, nothing handed out.
        let t = SessionId("sess_2".into());
        assert_eq!(cache.get_or_mint(&t, page, Timestamp(0), || None), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = LastTokens::default();
        for i in 0..CAPACITY + 5 {
            let s = SessionId(format!("sess_{i}"));
            cache.get_or_mint(&s, "p", Timestamp(0), || minted("t", 0));
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
        // Past their reuse time, the old entries make room first.
        for i in 0..10 {
            let s = SessionId(format!("late_{i}"));
            cache.get_or_mint(&s, "p", Timestamp(40_000), || minted("t", 40_000));
        }
        assert!(cache.len() <= 10 + 5, "{}", cache.len());
    }
}

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
//! Nor is a token reused once its client has changed since it was issued
//! (in whole seconds, as `__client_uat` tells it): server-side SDKs refuse
//! a session token whose `iat` is before `__client_uat`, and a browser's
//! cookies carry the last token its client was given.
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
    /// `now` and issued no earlier (in whole seconds) than `changed_at`, the
    /// client's last change, else the one `mint` makes (kept for later), or
    /// `None` when `mint` makes none.
    pub fn get_or_mint(
        &self,
        session: &SessionId,
        azp: &str,
        now: Timestamp,
        changed_at: Timestamp,
        mint: impl FnOnce() -> Option<Minted>,
    ) -> Option<String> {
        let key = (session.clone(), azp.to_owned());
        let kept = self
            .lock()
            .get(&key)
            .filter(|m| m.reusable_at(now) && m.issued_at.secs() >= changed_at.secs())
            .map(|m| m.jwt.clone());
        if let Some(kept) = kept {
            return Some(kept);
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
            cache.get_or_mint(&s, page, Timestamp(0), Timestamp(0), || minted("one", 0)),
            Some("one".into())
        );
        let unused = || -> Option<Minted> { panic!("minted again") };
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(29_999), Timestamp(0), unused),
            Some("one".into())
        );
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(30_000), Timestamp(0), || minted(
                "two", 30_000
            )),
            Some("two".into())
        );
        // Another page gets its own token (its `azp` differs).
        assert_eq!(
            cache.get_or_mint(
                &s,
                "https://other.example",
                Timestamp(30_001),
                Timestamp(0),
                || { minted("three", 30_001) }
            ),
            Some("three".into())
        );
        // A time before the kept token (a clock set back) mints anew.
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(10_000), Timestamp(0), || minted(
                "four", 10_000
            )),
            Some("four".into())
        );
        // Nothing minted, nothing handed out.
        let t = SessionId("sess_2".into());
        assert_eq!(
            cache.get_or_mint(&t, page, Timestamp(0), Timestamp(0), || None),
            None
        );
    }

    #[test]
    fn a_token_issued_before_its_clients_last_change_is_not_reused() {
        let cache = LastTokens::default();
        let s = SessionId("sess_1".into());
        let page = "https://app.example";
        let unused = || -> Option<Minted> { panic!("minted again") };
        // Issued at 100.900 s; the client changes at 100.950 s: same second,
        // `iat` is not before `__client_uat`, the token is reused.
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(100_900), Timestamp(100_900), || minted(
                "one", 100_900
            )),
            Some("one".into())
        );
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(100_960), Timestamp(100_950), unused),
            Some("one".into())
        );
        // The client changes again at 101.010 s: a token of 100 s is older
        // than that `__client_uat` (101), a new one is minted.
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(101_020), Timestamp(101_010), || minted(
                "two", 101_020
            )),
            Some("two".into())
        );
        assert_eq!(
            cache.get_or_mint(&s, page, Timestamp(101_500), Timestamp(101_010), unused),
            Some("two".into())
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = LastTokens::default();
        for i in 0..CAPACITY + 5 {
            let s = SessionId(format!("sess_{i}"));
            cache.get_or_mint(&s, "p", Timestamp(0), Timestamp(0), || minted("t", 0));
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
        // Past their reuse time, the old entries make room first.
        for i in 0..10 {
            let s = SessionId(format!("late_{i}"));
            cache.get_or_mint(&s, "p", Timestamp(40_000), Timestamp(0), || {
                minted("t", 40_000)
            });
        }
        assert!(cache.len() <= 10 + 5, "{}", cache.len());
    }
}

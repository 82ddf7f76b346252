//! Handshake nonces: what an application's server exchanges, through the
//! Backend API, for the cookie directives a Frontend API handshake made.
//!
//! A nonce is the directives sealed with the instance key and an expiry, so
//! any replica can open it without shared storage; the flow store's
//! counters bound how often each one is redeemed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Resource};
use crate::model::{Duration, Timestamp};
use crate::ports::{Clock, Counters, Random};
use crate::secrets::SecretBox;

/// How long a handshake nonce can be redeemed.
pub const HANDSHAKE_NONCE_LIFETIME: Duration = Duration::seconds(60);

/// How many times, within its lifetime: the page the handshake came back
/// to keeps the nonce in its URL until clerk-js has loaded and taken it
/// out, so a reload before then redeems it again (a spent nonce would sign
/// that page out). A few, not any number.
pub const HANDSHAKE_NONCE_REDEMPTIONS: u64 = 3;

const SEAL_CONTEXT: &str = "handshake-nonce";

/// Handshake nonces: issued by the Frontend API's handshake, redeemed once
/// by the Backend API's `handshake_payload`.
#[derive(Clone)]
pub struct Handshakes {
    pub(super) secrets: Arc<SecretBox>,
    pub(super) counters: Arc<dyn Counters>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
}

/// What a nonce seals.
#[derive(Serialize, Deserialize)]
struct Sealed {
    directives: Vec<String>,
    /// Unix milliseconds after which the nonce is refused.
    expire_at: i64,
}

impl Handshakes {
    /// A nonce for `directives` (cookie lines the application's server sets).
    pub fn issue(&self, directives: Vec<String>) -> Result<String, Error> {
        let sealed = Sealed {
            directives,
            expire_at: self.clock.now().plus(HANDSHAKE_NONCE_LIFETIME).0,
        };
        let plain = serde_json::to_vec(&sealed).map_err(|_| Error::internal("handshake nonce"))?;
        self.secrets.seal(&plain, SEAL_CONTEXT, &*self.random)
    }

    /// The directives of `nonce`, at most [`HANDSHAKE_NONCE_REDEMPTIONS`]
    /// times: a nonce that is unknown to this instance's key, expired or
    /// spent is not found.
    pub async fn redeem(&self, nonce: &str) -> Result<Vec<String>, Error> {
        let missing = || Error::NotFound(Resource::Handshake);
        let plain = self
            .secrets
            .open(nonce, SEAL_CONTEXT)
            .map_err(|_| missing())?;
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| missing())?;
        let now = self.clock.now();
        if now >= Timestamp(sealed.expire_at) {
            return Err(missing());
        }
        // Every redemption counts, on any replica.
        let key = format!("hs:{}", self.secrets.digest(SEAL_CONTEXT, nonce));
        let seen = self
            .counters
            .hit(&key, HANDSHAKE_NONCE_LIFETIME, now)
            .await?;
        if seen.count > HANDSHAKE_NONCE_REDEMPTIONS {
            return Err(missing());
        }
        Ok(sealed.directives)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::service::test_support::{Mocks, NOW};

    #[tokio::test]
    async fn a_nonce_gives_its_directives_a_few_times_and_names_nothing_else() {
        let mut m = Mocks::new();
        m.counters = crate::ports::MockCounters::new();
        let mut seen = 0;
        m.counters.expect_hit().returning(move |key, window, _| {
            assert!(key.starts_with("hs:"));
            assert_eq!(window, HANDSHAKE_NONCE_LIFETIME);
            seen += 1;
            Ok(crate::ports::WindowCount {
                count: seen,
                resets_in: window,
            })
        });
        let services = m.services();
        let h = &services.handshakes;
        let nonce = h.issue(vec!["__session=a; Path=/".into()]).unwrap();
        assert!(!nonce.contains("__session"), "sealed, not readable");
        for _ in 0..HANDSHAKE_NONCE_REDEMPTIONS {
            assert_eq!(h.redeem(&nonce).await.unwrap(), ["__session=a; Path=/"]);
        }
        assert_eq!(
            h.redeem(&nonce).await,
            Err(Error::NotFound(Resource::Handshake)),
            "spent"
        );
        let other = h.issue(vec!["__client_uat=0".into()]).unwrap();
        assert_ne!(other, nonce);
        for bad in ["", "garbage", &nonce[..nonce.len() - 2]] {
            assert_eq!(
                h.redeem(bad).await,
                Err(Error::NotFound(Resource::Handshake)),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn an_expired_nonce_is_refused() {
        let services = Mocks::new().services();
        let mut h = services.handshakes.clone();
        let nonce = h.issue(vec!["__client_uat=0".into()]).unwrap();
        let mut later = crate::ports::MockClock::new();
        later
            .expect_now()
            .return_const(NOW.plus(HANDSHAKE_NONCE_LIFETIME));
        h.clock = Arc::new(later);
        assert_eq!(
            h.redeem(&nonce).await,
            Err(Error::NotFound(Resource::Handshake))
        );
    }
}

//! The Backend API's secret keys: the one in force, and the one it replaced
//! while its overlap lasts, so that servers holding the old key keep working
//! until they are given the new one. Kept in the instance store, read by
//! every replica at each settings poll.

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Audit;
use crate::error::{Error, Problem};
use crate::model::{AuditAction, Duration, Timestamp};
use crate::ports::{Clock, InstanceStore};

/// The longest a replaced key may keep working.
pub const MAX_KEY_OVERLAP: Duration = Duration::days(7);

/// The keys accepted now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRing {
    pub current: String,
    /// The key `current` replaced, and until when it is still accepted.
    pub previous: Option<(String, Timestamp)>,
}

/// The replaced key as stored beside the current one.
#[derive(Serialize, Deserialize)]
struct Previous {
    key: String,
    until: i64,
}

/// The secret keys, shared by every request.
#[derive(Clone)]
pub struct SecretKeys {
    pub(super) ring: Arc<ArcSwap<KeyRing>>,
    /// Where the current key is stored (`None`: the configuration file
    /// sets it, and it cannot be rotated here).
    pub(super) place: Arc<RwLock<Option<String>>>,
    pub(super) store: Arc<dyn InstanceStore>,
    pub(super) audit: Audit,
    pub(super) clock: Arc<dyn Clock>,
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl SecretKeys {
    /// Accepts `key` alone until [`start`](Self::start) reads the store: for
    /// a key the configuration file sets, that is all there is.
    pub fn seed(&self, key: &str) {
        if self.ring.load().current.is_empty() {
            self.ring.store(Arc::new(KeyRing {
                current: key.to_owned(),
                previous: None,
            }));
        }
    }

    /// Reads the keys stored under `name` from now on (and allows rotating
    /// them).
    pub async fn start(&self, name: &str) -> Result<(), Error> {
        *self.place.write().unwrap_or_else(|e| e.into_inner()) = Some(name.to_owned());
        self.refresh().await
    }

    fn place(&self) -> Option<String> {
        self.place.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn previous_name(name: &str) -> String {
        format!("{name}_previous")
    }

    /// Reads the stored keys again; what each replica runs every poll.
    pub async fn refresh(&self) -> Result<(), Error> {
        let Some(name) = self.place() else {
            return Ok(());
        };
        let Some(current) = self.store.get(&name).await? else {
            return Ok(());
        };
        let previous = self
            .store
            .get(&Self::previous_name(&name))
            .await?
            .and_then(|text| serde_json::from_str::<Previous>(&text).ok())
            .filter(|p| !p.key.is_empty())
            .map(|p| (p.key, Timestamp(p.until)));
        let ring = KeyRing { current, previous };
        if **self.ring.load() != ring {
            self.ring.store(Arc::new(ring));
        }
        Ok(())
    }

    /// Whether `given` is a key accepted now: the current one, or the
    /// previous one within its overlap. Compared in constant time.
    pub fn accepts(&self, given: &str) -> bool {
        let ring = self.ring.load();
        if ring.current.is_empty() {
            return false;
        }
        let current = equal(given, &ring.current);
        let previous = ring
            .previous
            .as_ref()
            .is_some_and(|(key, until)| equal(given, key) && self.clock.now() < *until);
        current | previous
    }

    /// The keys accepted now.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// Whether the keys are Latch's to rotate (not set by the file).
    pub fn rotatable(&self) -> bool {
        self.place().is_some()
    }

    /// Makes `new_key` the current key; the one it replaces is accepted for
    /// `overlap` more (none: at once refused). Another rotation racing this
    /// one wins or loses whole (`Conflict`).
    pub async fn rotate(&self, new_key: &str, overlap: Duration) -> Result<(), Error> {
        let Some(name) = self.place() else {
            return Err(Error::invalid("secret_key", Problem::SecretKeyConfigured));
        };
        if overlap.0 < 0 || overlap > MAX_KEY_OVERLAP {
            return Err(Error::invalid(
                "overlap",
                Problem::OutOfRange {
                    min: 0,
                    max: u64::try_from(MAX_KEY_OVERLAP.as_secs()).unwrap_or(u64::MAX),
                },
            ));
        }
        let current = self
            .store
            .get(&name)
            .await?
            .ok_or_else(|| Error::internal("no secret key is stored"))?;
        let previous_name = Self::previous_name(&name);
        let stored_previous = self.store.get(&previous_name).await?;
        let previous = Previous {
            key: current.clone(),
            until: self.clock.now().plus(overlap).0,
        };
        let text =
            serde_json::to_string(&previous).map_err(|e| Error::Internal(e.to_string().into()))?;
        // The old key's overlap first, so that no moment has it refused
        // while servers still send it; then the new key, if the old one is
        // still the current one.
        if !self
            .store
            .compare_and_set(&previous_name, stored_previous.as_deref(), &text)
            .await?
        {
            return Err(Error::Conflict);
        }
        if !self
            .store
            .compare_and_set(&name, Some(&current), new_key)
            .await?
        {
            return Err(Error::Conflict);
        }
        let overlap_secs = overlap.as_secs().to_string();
        self.audit
            .record(
                AuditAction::SecretKeyRotated,
                None,
                &[("overlap_secs", &overlap_secs)],
            )
            .await;
        self.refresh().await
    }
}

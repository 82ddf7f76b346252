//! The outbox: a durable queue of messages delivered off the request path
//! (one-time codes; each delivery has a `kind`). Webhook messages have
//! their own store, [`WebhookStore`](super::WebhookStore), which keeps them
//! per endpoint with their attempts.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{NewEvent, Timestamp};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry (possibly leased by a worker).
    Pending,
    /// Handed to its channel; its payload is gone.
    Delivered,
    /// Given up on after its last attempt (or expired); its payload is gone.
    Dead,
}

impl DeliveryStatus {
    /// The name stored and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The status stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// A message to put on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: String,
    /// What the payload is (`code`, later `webhook`): which worker sends it.
    pub kind: String,
    /// The message, sealed with the instance key: stores never see it plain.
    pub payload: String,
    /// Attempts before the delivery is dead (at least 1).
    pub max_attempts: u32,
    /// No attempt before this.
    pub due_at: Timestamp,
    /// After this, sending is pointless (a code that has expired).
    pub expire_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A delivery a worker holds the lease of, with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: String,
    pub kind: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub expire_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A delivery as operators see it: everything but its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When the next attempt may start (pending), or when it stopped.
    pub due_at: Timestamp,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How many deliveries are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// A worker's hold on the deliveries it claimed: until `until`, no other
/// claim returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub until: Timestamp,
}

/// The durable delivery queue. Every change is one atomic step in the store,
/// so workers on any number of replicas can share it.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Stores a new pending delivery with no attempt yet. MUST fail (storing
    /// nothing) with `Conflict` if the id exists. `events` are stored with it
    /// in the same transaction.
    async fn enqueue(&self, delivery: &NewDelivery, events: &[NewEvent]) -> Result<(), StoreError>;

    /// Atomically leases up to `limit` pending deliveries that are due at
    /// `now` and not leased (or whose lease ran out), oldest due first, and
    /// counts an attempt on each. A delivery whose lease ran out on its last
    /// attempt becomes dead (payload wiped) instead of being claimed. Two
    /// concurrent claims MUST NOT return the same delivery.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Marks a delivery leased under `lease_token` delivered and wipes its
    /// payload. MUST fail with `Conflict` (changing nothing) if it is not
    /// pending under that lease, and `NotFound` if it does not exist.
    async fn complete(&self, id: &str, lease_token: &str, now: Timestamp)
    -> Result<(), StoreError>;

    /// Records a failed attempt of a delivery leased under `lease_token`:
    /// `error` is kept, and it is pending again at `retry_at`, or dead (its
    /// payload wiped) when `retry_at` is `None` or its attempts reached its
    /// maximum. Returns the status it now has. Same errors as `complete`.
    async fn fail(
        &self,
        id: &str,
        lease_token: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<DeliveryStatus, StoreError>;

    /// Up to `limit` deliveries in `status` (any when `None`), newest first,
    /// without their payloads.
    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    async fn counts(&self) -> Result<DeliveryCounts, StoreError>;

    /// Deletes delivered and dead deliveries last changed before `before`;
    /// returns how many.
    async fn purge_finished(&self, before: Timestamp) -> Result<u64, StoreError>;
}

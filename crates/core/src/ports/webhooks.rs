//! Webhooks: the endpoints, the messages each event makes for them, and the
//! HTTP requests that deliver them.
//!
//! Events are written by the repositories, in the transaction of the change
//! that causes them (each write that changes a user or a session takes the
//! events it causes). The same write makes one pending message for each
//! enabled endpoint that receives the event's type, so no event is ever
//! missed by an endpoint that existed when it happened.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{
    MessageStatus, NewEvent, Timestamp, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};
use crate::ports::Lease;

/// A message a worker holds the lease of, with what delivering it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub event_id: String,
    pub endpoint_id: String,
    /// The event's body, sealed.
    pub sealed_body: String,
    pub url: String,
    /// The endpoint's signing secret, sealed.
    pub sealed_secret: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// What becomes of a message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; try again at this time.
    RetryAt(Timestamp),
    /// Failed for the last time.
    Failed,
}

/// Filters for listing messages; newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageQuery {
    pub endpoint_id: Option<String>,
    pub status: Option<MessageStatus>,
    pub limit: u32,
}

/// The durable side of webhooks. Every change is one atomic step in the
/// store, so workers on any number of replicas can share it.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores events that go with no other change (a code's message when
    /// Latch does not deliver it), with their messages, in one transaction.
    async fn append_events(&self, events: &[NewEvent]) -> Result<(), StoreError>;

    /// MUST fail with `Conflict` (storing nothing) if the id exists.
    async fn create_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    async fn get_endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Every endpoint, oldest first.
    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Replaces the endpoint's fields (all but its id and creation time).
    /// MUST fail with `NotFound` if it does not exist.
    async fn update_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// Deletes the endpoint with its messages and their attempts; returns
    /// whether it existed.
    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError>;

    /// Atomically leases up to `limit` pending messages due at `now` whose
    /// lease is free (or ran out), of enabled endpoints, oldest due first,
    /// and counts an attempt on each. Two concurrent claims MUST NOT return
    /// the same message.
    async fn claim_messages(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError>;

    /// Records `attempt` of a message leased under `lease_token` and applies
    /// `outcome` to it, in one transaction. The endpoint's failing run ends
    /// on a delivery and starts at the first failure; when its failing run
    /// began before `disable_if_failing_since`, the endpoint is disabled
    /// with `disable_reason`. MUST fail with `Conflict` (changing nothing) if
    /// the message is not pending under that lease.
    async fn record_attempt(
        &self,
        attempt: &WebhookAttempt,
        lease_token: &str,
        outcome: AttemptOutcome,
        disable_if_failing_since: Timestamp,
        disable_reason: &str,
    ) -> Result<(), StoreError>;

    async fn get_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<WebhookMessage>, StoreError>;

    async fn list_messages(&self, query: &MessageQuery) -> Result<Vec<WebhookMessage>, StoreError>;

    /// The attempts of one message, newest first.
    async fn list_attempts(
        &self,
        event_id: &str,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<WebhookAttempt>, StoreError>;

    /// Makes the message pending again, due at `now`, with no attempt and no
    /// lease (its past attempts stay listed). MUST fail with `NotFound` if
    /// it does not exist.
    async fn replay_message(
        &self,
        event_id: &str,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Replays to one endpoint the events of `[since, until)` that it
    /// receives: its failed messages, and its pending ones that failed an
    /// attempt and are not leased, become pending at once with no attempt
    /// (as `replay_message`), and events it has no message for (it was
    /// disabled, or did not exist) get one. Returns how many messages that
    /// is.
    async fn replay_range(
        &self,
        endpoint_id: &str,
        event_types: &[String],
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Deletes events made before `before` that have no pending message,
    /// with their messages and attempts; returns how many events.
    async fn purge_events(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// What the receiver did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// Its status, when it answered.
    pub status: Option<u16>,
    /// Why no answer came (refused, timed out, a forbidden address), or
    /// what was wrong with it.
    pub error: Option<String>,
}

/// Posts signed event bodies to endpoints.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` as JSON to `url` with these headers. MUST NOT follow
    /// redirects; MUST give up after the adapter's timeout.
    async fn post(&self, url: &str, headers: &[(String, String)], body: &str) -> WebhookResponse;

    /// Why `url` would never be sent to, when that shows without resolving
    /// a name (a scheme it does not speak, a forbidden address written in
    /// the URL, `localhost`): checked as an endpoint is saved. Names are
    /// still checked on every request.
    fn refuses(&self, url: &str) -> Option<String>;
}

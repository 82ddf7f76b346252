//! Events: what changed, written in the same transaction as the change, and
//! the webhook endpoints they are delivered to.

use super::time::Timestamp;

/// The kinds of event Latch announces, named as Clerk names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    SessionCreated,
    SessionEnded,
    SessionRemoved,
    SessionRevoked,
    EmailCreated,
    SmsCreated,
}

impl EventType {
    pub const ALL: [Self; 9] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::SessionCreated,
        Self::SessionEnded,
        Self::SessionRemoved,
        Self::SessionRevoked,
        Self::EmailCreated,
        Self::SmsCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::SessionCreated => "session.created",
            Self::SessionEnded => "session.ended",
            Self::SessionRemoved => "session.removed",
            Self::SessionRevoked => "session.revoked",
            Self::EmailCreated => "email.created",
            Self::SmsCreated => "sms.created",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// An event to store with the change that causes it. Its id is the
/// `svix-id` every endpoint receives it under, so receivers can drop a
/// repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: EventType,
    /// The body every endpoint receives, byte for byte, sealed with the
    /// instance key (it may carry a one-time code or personal data).
    pub sealed_body: String,
    pub created_at: Timestamp,
}

/// A URL that receives events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    /// The signing secret (`whsec_…`), sealed with the instance key.
    pub sealed_secret: String,
    /// The types it receives; empty for every type.
    pub event_types: Vec<EventType>,
    /// A disabled endpoint gets no new messages and no attempts.
    pub disabled: bool,
    /// Why it was disabled, when Latch disabled it.
    pub disabled_reason: Option<String>,
    /// When its current run of failed attempts began.
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    /// Whether it receives events of this type.
    pub fn receives(&self, event_type: EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(&event_type)
    }
}

/// Where one event's delivery to one endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    /// Waiting for an attempt (possibly leased by a worker).
    Pending,
    /// An attempt got a 2xx answer.
    Delivered,
    /// Every attempt failed; it waits for a replay.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One event's delivery to one endpoint, as operators see it. It is named by
/// its event's id and its endpoint's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub status: MessageStatus,
    /// Attempts since it was made or last replayed.
    pub attempts: u32,
    /// When the next attempt may start (pending), or when it finished.
    pub due_at: Timestamp,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why it failed, when it did (no answer, or a status outside 2xx).
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: Timestamp,
}

impl WebhookAttempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

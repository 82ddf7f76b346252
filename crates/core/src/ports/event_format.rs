//! The wire shape of events: Clerk's event envelope around the resource as
//! the Backend API shows it. The core decides what happened; this port
//! writes it down.

use std::sync::Arc;

use crate::model::{EventType, InstanceSettings, RequestContext, Session, Timestamp, User, UserId};
use crate::ports::CodeMessage;

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub enum EventSubject<'a> {
    /// The user as the change left it.
    User(&'a User),
    /// A user that no longer exists, with the id it had in the
    /// application's own records.
    DeletedUser {
        id: &'a UserId,
        external_id: Option<&'a str>,
    },
    /// The session as the change left it, with its user when known.
    Session {
        session: &'a Session,
        user: Option<&'a User>,
    },
    /// A one-time code's message; `id` names it, `delivered_by_latch` says
    /// whether Latch sends it too.
    Message {
        id: &'a str,
        message: &'a CodeMessage,
        delivered_by_latch: bool,
    },
}

/// Renders events. Pure: no I/O, the same input gives the same text.
pub trait EventFormat: Send + Sync {
    /// The body receivers get for an event of `event_type` about `subject`,
    /// made at `at` for the request `context` describes.
    fn body(
        &self,
        event_type: EventType,
        subject: EventSubject<'_>,
        context: &RequestContext,
        settings: &Arc<InstanceSettings>,
        at: Timestamp,
    ) -> String;
}

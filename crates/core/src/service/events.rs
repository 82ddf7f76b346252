//! The events a change causes, made before the write that stores them with
//! it, and the request behind them.
//!
//! The request's context (who, from which address and user agent) is set
//! once by the inbound adapter around the whole use case ([`in_request`]),
//! so that every event a use case causes says where it came from without
//! threading it through every call.

use std::future::Future;
use std::sync::Arc;

use super::LiveSettings;
use crate::error::Error;
use crate::model::{
    EventType, IdPrefix, NewEvent, RequestContext, Session, SessionStatus, Timestamp, User,
    new_ordered_id,
};
use crate::ports::{ClientRepository, Clock, CodeMessage, EventFormat, EventSubject, Random};
use crate::secrets::SecretBox;

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `work` (a use case) for the request `context` describes.
pub async fn in_request<F: Future>(context: RequestContext, work: F) -> F::Output {
    REQUEST.scope(context, work).await
}

/// The request the current use case runs for; Latch itself outside one.
pub fn current_request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// What an event's sealed body is bound to: only this event opens it.
pub(crate) fn event_context(id: &str) -> String {
    format!("event/{id}")
}

/// Makes events. Cheap to clone; every service that changes users or
/// sessions holds one.
#[derive(Clone)]
pub(crate) struct Events {
    /// Where a revoked session is recorded.
    pub audit: super::Audit,
    pub format: Arc<dyn EventFormat>,
    pub secrets: Arc<SecretBox>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub settings: LiveSettings,
    /// Rung after events are stored, so this process's webhook worker
    /// starts at once, while any endpoint is enabled.
    pub wake: Arc<tokio::sync::Notify>,
    /// [`super::Webhooks`]'s view of whether any endpoint is enabled.
    pub active: Arc<std::sync::atomic::AtomicBool>,
}

impl Events {
    fn make(&self, event_type: EventType, subject: EventSubject<'_>) -> Result<NewEvent, Error> {
        let now = self.clock.now();
        let id = new_ordered_id(IdPrefix::Event, now, &*self.random);
        let body = self.format.body(
            event_type,
            subject,
            &current_request(),
            &self.settings.current(),
            now,
        );
        let sealed_body = self
            .secrets
            .seal(body.as_bytes(), &event_context(&id), &*self.random)?;
        Ok(NewEvent {
            id,
            event_type,
            sealed_body,
            created_at: now,
        })
    }

    /// `user.created` or `user.updated`, with the user as the write leaves it.
    pub fn user(&self, event_type: EventType, user: &User) -> Result<NewEvent, Error> {
        self.make(event_type, EventSubject::User(user))
    }

    pub fn user_deleted(&self, user: &User) -> Result<NewEvent, Error> {
        self.make(
            EventType::UserDeleted,
            EventSubject::DeletedUser {
                id: &user.id,
                external_id: user.external_id.as_deref(),
            },
        )
    }

    pub fn session_created(&self, session: &Session, user: &User) -> Result<NewEvent, Error> {
        self.make(
            EventType::SessionCreated,
            EventSubject::Session {
                session,
                user: Some(user),
            },
        )
    }

    /// `email.created` or `sms.created` for a code's message.
    pub fn message(
        &self,
        id: &str,
        message: &CodeMessage,
        delivered_by_latch: bool,
    ) -> Result<NewEvent, Error> {
        let event_type = match message.destination {
            crate::ports::CodeDestination::Email(_) => EventType::EmailCreated,
            crate::ports::CodeDestination::Sms(_) => EventType::SmsCreated,
        };
        self.make(
            event_type,
            EventSubject::Message {
                id,
                message,
                delivered_by_latch,
            },
        )
    }

    /// Says that events were stored: the worker looks for messages now.
    pub fn stored(&self) {
        if self.active.load(std::sync::atomic::Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Ends `session` with `status` (`Ended`, `Removed`, `Revoked`) if it is
    /// still active, with its event (showing `user` when known); returns
    /// whether it changed.
    pub async fn end_session(
        &self,
        repo: &dyn ClientRepository,
        session: &Session,
        user: Option<&User>,
        status: SessionStatus,
        at: Timestamp,
    ) -> Result<bool, Error> {
        let event_type = match status {
            SessionStatus::Removed => EventType::SessionRemoved,
            SessionStatus::Revoked => EventType::SessionRevoked,
            _ => EventType::SessionEnded,
        };
        let ended = Session {
            status,
            updated_at: at,
            ..session.clone()
        };
        let event = self.make(
            event_type,
            EventSubject::Session {
                session: &ended,
                user,
            },
        )?;
        let changed = repo
            .end_session(&session.id, status, at, std::slice::from_ref(&event))
            .await?;
        if changed {
            self.stored();
            if status == SessionStatus::Revoked {
                self.audit
                    .record(
                        crate::model::AuditAction::SessionRevoked,
                        Some(session.user_id.as_str()),
                        &[("session_id", session.id.as_str())],
                    )
                    .await;
            }
        }
        Ok(changed)
    }
}

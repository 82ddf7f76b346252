//! A client: one browser or device.

use super::{ClientId, Session, SessionId, SignInId, SignUpId, Timestamp};

/// A browser or device. Its token is a bearer secret held by the device; only its
/// SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub token_hash: String,
    pub sign_in_id: Option<SignInId>,
    /// The sign-up in progress on this client, if any.
    pub sign_up_id: Option<SignUpId>,
    pub last_active_session_id: Option<SessionId>,
    /// The first-factor strategy of the last sign-in that completed here.
    pub last_authentication_strategy: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Client {
    /// The client as the start of `session` leaves it (what
    /// `ClientRepository::insert_session` stores): the token hash
    /// `token_hash`, the session as the last active one, no sign-in or
    /// sign-up in progress, the session's strategy as the last one when it
    /// names one, and `updated_at` at the session's start.
    #[must_use]
    pub fn with_session_started(&self, session: &Session, token_hash: &str) -> Self {
        Self {
            token_hash: token_hash.to_owned(),
            sign_in_id: None,
            sign_up_id: None,
            last_active_session_id: Some(session.id.clone()),
            last_authentication_strategy: session
                .origin
                .strategy
                .clone()
                .or_else(|| self.last_authentication_strategy.clone()),
            updated_at: session.created_at,
            ..self.clone()
        }
    }
}

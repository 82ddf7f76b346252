//! A client: one browser or device.

use super::{ClientId, SessionId, SignInId, SignUpId, Timestamp};

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

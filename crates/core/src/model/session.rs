//! Sessions: what a completed sign-in becomes.

use super::{ClientId, SessionId, Timestamp, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Active,
    Ended,
    Removed,
    Revoked,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Removed => "removed",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "ended" => Self::Ended,
            "removed" => Self::Removed,
            "revoked" => Self::Revoked,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A signed-in user on one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The stored status; read [`Session::status_at`] for the effective one.
    pub status: SessionStatus,
    pub last_active_at: Timestamp,
    pub expire_at: Timestamp,
    pub first_factor_verified_at: Timestamp,
    pub second_factor_verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Session {
    /// The status at `now`: an active session past its lifetime is expired.
    pub fn status_at(&self, now: Timestamp) -> SessionStatus {
        if self.status == SessionStatus::Active && now >= self.expire_at {
            SessionStatus::Expired
        } else {
            self.status
        }
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.status_at(now) == SessionStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_sessions_expire_at_their_lifetime() {
        let s = Session {
            id: SessionId("sess_1".into()),
            client_id: ClientId("client_1".into()),
            user_id: UserId("user_1".into()),
            status: SessionStatus::Active,
            last_active_at: Timestamp(0),
            expire_at: Timestamp(1000),
            first_factor_verified_at: Timestamp(0),
            second_factor_verified_at: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        assert!(s.is_active(Timestamp(999)));
        assert_eq!(s.status_at(Timestamp(1000)), SessionStatus::Expired);
        let ended = Session {
            status: SessionStatus::Ended,
            ..s
        };
        assert_eq!(ended.status_at(Timestamp(5000)), SessionStatus::Ended);
    }
}

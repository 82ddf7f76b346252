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

/// How and where a session started: the first-factor strategy of its
/// sign-in, and the address and User-Agent of the request that completed
/// it, as far as they were known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    pub strategy: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionOrigin {
    /// Longest User-Agent kept; the rest is cut off at a character boundary.
    pub const MAX_USER_AGENT: usize = 512;

    /// The origin of a request from `ip_address` with `user_agent`; the
    /// strategy is the sign-in's, filled in as its session is made.
    pub fn of_request(ip_address: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.filter(|ua| !ua.is_empty()).map(|ua| {
            let mut end = ua.len().min(Self::MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        Self {
            strategy: None,
            ip_address,
            user_agent,
        }
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
    /// How and where the session started.
    pub origin: SessionOrigin,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who a new session is for, how its factors were verified, and where it
/// starts: what [`Session::started`] needs.
#[derive(Debug, Clone)]
pub struct SessionStart {
    pub id: SessionId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub first_factor_verified_at: Timestamp,
    pub second_factor_verified_at: Option<Timestamp>,
    /// Its `strategy` names the factor it was signed in (or up) with.
    pub origin: SessionOrigin,
}

impl Session {
    /// A session active from `now`, for `lifetime`.
    pub fn started(start: SessionStart, lifetime: super::Duration, now: Timestamp) -> Self {
        Self {
            id: start.id,
            client_id: start.client_id,
            user_id: start.user_id,
            status: SessionStatus::Active,
            last_active_at: now,
            expire_at: now.plus(lifetime),
            first_factor_verified_at: start.first_factor_verified_at,
            second_factor_verified_at: start.second_factor_verified_at,
            origin: start.origin,
            created_at: now,
            updated_at: now,
        }
    }

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
            origin: Default::default(),
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

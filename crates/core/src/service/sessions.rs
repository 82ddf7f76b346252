//! Sessions: the client's own (touch, end, remove, tokens) and the Backend
//! API's (list, read, revoke).

use std::sync::Arc;

use super::LiveSettings;
use super::{ClientSnapshot, Clients, Outcome, SessionView, page_limit};
use crate::error::{Error, Resource};
use crate::model::{Client, Duration, Session, SessionId, SessionStatus, Timestamp, User};
use crate::ports::{ClientRepository, Clock, SessionQuery, UserRepository};

/// What a session token says, before the wire adds issuer and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTokenClaims {
    pub session_id: SessionId,
    pub user_id: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// Minutes since the first and the second factor passed; -1 for none.
    pub factor_ages_minutes: [i64; 2],
}

impl SessionTokenClaims {
    /// The claims of a token for `view`'s session issued at `view.now`,
    /// living `lifetime`; `None` unless the session is active then.
    pub fn of(view: &SessionView, lifetime: Duration) -> Option<Self> {
        Self::of_session(&view.session, view.now, lifetime)
    }

    /// [`Self::of`] for `session` as seen at `now`.
    pub fn of_session(session: &Session, now: Timestamp, lifetime: Duration) -> Option<Self> {
        if !session.is_active(now) {
            return None;
        }
        let age = |at: Timestamp| now.since(at).0 / 60_000;
        Some(Self {
            session_id: session.id.clone(),
            user_id: session.user_id.0.clone(),
            issued_at: now,
            expires_at: now.plus(lifetime),
            factor_ages_minutes: [
                age(session.first_factor_verified_at),
                session.second_factor_verified_at.map_or(-1, age),
            ],
        })
    }
}

/// One page of sessions and the total across pages.
#[derive(Debug, Clone)]
pub struct SessionsPage {
    pub sessions: Vec<SessionView>,
    pub total_count: u64,
}

/// Sessions: the client's own (touch, end, remove, tokens) and the Backend
/// API's (list, read, revoke).
#[derive(Clone)]
pub struct Sessions {
    /// Makes the events its writes store.
    pub(super) events: super::Events,
    pub(super) clients: Clients,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: LiveSettings,
}

impl Sessions {
    /// `POST /v1/client/sessions/{id}/touch`: marks the session the client's
    /// active one and records activity.
    pub async fn touch_session(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<Outcome<SessionView>, Error> {
        let (client, mut session, user) = self.client_session(token, id).await?;
        let now = self.clock.now();
        if !session.is_active(now) {
            return Err(inactive_session());
        }
        self.client_repo.touch_session(&session.id, now).await?;
        self.client_repo
            .set_last_active_session(&client.id, Some(session.id.clone()), now)
            .await?;
        session.last_active_at = now;
        session.updated_at = now;
        let view = SessionView::at(session, user, now);
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST /v1/client/sessions/{id}/end` (`Ended`) and `/remove` (`Removed`).
    pub async fn close_session(
        &self,
        token: Option<&str>,
        id: &str,
        status: SessionStatus,
    ) -> Result<Outcome<SessionView>, Error> {
        let (client, session, user) = self.client_session(token, id).await?;
        let now = self.clock.now();
        let session = self.end_session(session, &user, status, now).await?;
        if client.last_active_session_id.as_ref() == Some(&session.id) {
            self.client_repo
                .set_last_active_session(&client.id, None, now)
                .await?;
        }
        let view = SessionView::at(session, user, now);
        self.clients.outcome(view, &client.id, None).await
    }

    /// `DELETE /v1/client/sessions`: signs the client out of every session.
    pub async fn end_all_sessions(
        &self,
        token: Option<&str>,
    ) -> Result<Outcome<ClientSnapshot>, Error> {
        let client = self.clients.require_client(token, Resource::Client).await?;
        self.clients
            .end_sessions_of(&client, SessionStatus::Ended)
            .await?;
        self.client_repo
            .set_last_active_session(&client.id, None, self.clock.now())
            .await?;
        let outcome = self.clients.outcome((), &client.id, None).await?;
        let snapshot = outcome.client.ok_or(Error::NotFound(Resource::Client))?;
        Ok(Outcome {
            response: snapshot.clone(),
            client: Some(snapshot),
            new_token: None,
        })
    }

    /// Moves an active session to `status` and returns it as stored afterwards
    /// (a session another request ended first keeps that request's status).
    pub(super) async fn end_session(
        &self,
        session: Session,
        user: &User,
        status: SessionStatus,
        now: Timestamp,
    ) -> Result<Session, Error> {
        if !session.is_active(now)
            || !self
                .events
                .end_session(&*self.client_repo, &session, Some(user), status, now)
                .await?
        {
            return Ok(self
                .client_repo
                .get_session(&session.id)
                .await?
                .unwrap_or(session));
        }
        Ok(Session {
            status,
            updated_at: now,
            ..session
        })
    }

    /// `POST /v1/client/sessions/{id}/tokens`: the claims of a fresh session
    /// token. Only an active session of this client gets one.
    pub async fn session_token(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<SessionTokenClaims, Error> {
        let now = self.clock.now();
        let lifetime = self.settings.current().session_token_lifetime;
        // The common case in one read: this client's session, active, of a
        // user who still exists; nothing else of either is needed.
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let active = self
                .client_repo
                .find_active_session(&super::token_hash(token), &SessionId(id.to_owned()), now)
                .await?;
            if let Some(claims) =
                active.and_then(|s| SessionTokenClaims::of_session(&s, now, lifetime))
            {
                return Ok(claims);
            }
        }
        // Not an active session of this client: say which of the two it is.
        let (_, session, user) = self.client_session(token, id).await?;
        let view = SessionView::at(session, user, now);
        SessionTokenClaims::of(&view, lifetime).ok_or_else(inactive_session)
    }

    /// `GET /v1/sessions` (Backend API): filtered by user or client.
    pub async fn list_sessions(
        &self,
        mut query: SessionQuery,
        limit: Option<u32>,
    ) -> Result<SessionsPage, Error> {
        if query.user_id.is_none() && query.client_id.is_none() {
            return Err(Error::param_nil("user_id"));
        }
        query.limit = page_limit(limit)?;
        let now = self.clock.now();
        query.now = now;
        let total_count = self.client_repo.count_sessions(&query).await?;
        let mut sessions = Vec::new();
        for session in self.client_repo.list_sessions(&query).await? {
            if let Some(user) = self.users.get(&session.user_id).await? {
                sessions.push(SessionView::at(session, user, now));
            }
        }
        Ok(SessionsPage {
            sessions,
            total_count,
        })
    }

    /// How many sessions are active now, across the instance; kept as the
    /// `latch_active_sessions` gauge too (read periodically, not per scrape).
    pub async fn count_active(&self) -> Result<u64, Error> {
        let query = SessionQuery {
            status: Some(crate::model::SessionStatus::Active),
            now: self.clock.now(),
            ..SessionQuery::default()
        };
        let count = self.client_repo.count_sessions(&query).await?;
        crate::metrics::active_sessions(count);
        Ok(count)
    }

    /// The instance's active sessions, newest first, up to `limit` (1 to
    /// 500), with how many are active in all: what an operator sees of
    /// "active now". Not a Backend API route (Clerk's list needs a user or
    /// a client).
    pub async fn active_now(&self, limit: u32) -> Result<SessionsPage, Error> {
        let now = self.clock.now();
        let query = SessionQuery {
            status: Some(crate::model::SessionStatus::Active),
            now,
            limit: page_limit(Some(limit))?,
            ..SessionQuery::default()
        };
        let total_count = self.client_repo.count_sessions(&query).await?;
        let mut sessions = Vec::new();
        for session in self.client_repo.list_sessions(&query).await? {
            if let Some(user) = self.users.get(&session.user_id).await? {
                sessions.push(SessionView::at(session, user, now));
            }
        }
        Ok(SessionsPage {
            sessions,
            total_count,
        })
    }

    /// `GET /v1/sessions/{id}` (Backend API).
    pub async fn get_session(&self, id: &str) -> Result<SessionView, Error> {
        let (session, user) = self.session_with_user(id).await?;
        let now = self.clock.now();
        Ok(SessionView::at(session, user, now))
    }

    /// `POST /v1/sessions/{id}/revoke` (Backend API): an active session becomes
    /// revoked and mints no more tokens; others are returned as they are.
    pub async fn revoke_session(&self, id: &str) -> Result<SessionView, Error> {
        let (session, user) = self.session_with_user(id).await?;
        let now = self.clock.now();
        let session = self
            .end_session(session, &user, SessionStatus::Revoked, now)
            .await?;
        Ok(SessionView::at(session, user, now))
    }

    /// `DELETE /v1/sessions?user_id=` (Backend API): every active session
    /// of the user, on every client, revoked (the user signed out
    /// everywhere, without a ban); returns them as they now stand.
    pub async fn revoke_sessions_of_user(
        &self,
        user_id: Option<&str>,
    ) -> Result<Vec<SessionView>, Error> {
        let user_id = user_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::param_nil("user_id"))?;
        let user = self
            .users
            .get(&crate::model::UserId(user_id.to_owned()))
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        let mut revoked = Vec::new();
        // Pages of active sessions until none is left; bounded, as every
        // round ends what it read.
        for _ in 0..64 {
            let now = self.clock.now();
            let query = SessionQuery {
                user_id: Some(user_id.to_owned()),
                status: Some(SessionStatus::Active),
                now,
                limit: 500,
                ..Default::default()
            };
            let active = self.client_repo.list_sessions(&query).await?;
            if active.is_empty() {
                return Ok(revoked);
            }
            for session in active {
                let session = self
                    .end_session(session, &user, SessionStatus::Revoked, now)
                    .await?;
                revoked.push(SessionView::at(session, user.clone(), now));
            }
        }
        Err(Error::internal(
            "sessions kept appearing while they were revoked",
        ))
    }

    async fn session_with_user(&self, id: &str) -> Result<(Session, User), Error> {
        let session = self
            .client_repo
            .get_session(&SessionId(id.to_owned()))
            .await?
            .ok_or(Error::NotFound(Resource::Session))?;
        let user = self
            .users
            .get(&session.user_id)
            .await?
            .ok_or(Error::NotFound(Resource::Session))?;
        Ok((session, user))
    }

    /// A session of the requesting client, with its user; other clients'
    /// sessions do not exist for it.
    async fn client_session(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<(Client, Session, User), Error> {
        let client = self
            .clients
            .require_client(token, Resource::Session)
            .await?;
        let (session, user) = self.session_with_user(id).await?;
        if session.client_id != client.id {
            return Err(Error::NotFound(Resource::Session));
        }
        Ok((client, session, user))
    }
}

fn inactive_session() -> Error {
    Error::SessionInactive
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::model::{ClientId, UserId};
    use crate::service::test_support::{Mocks, NOW, TOKEN, client, session, user};

    fn mocks_with(status: SessionStatus, owner: &str) -> Mocks {
        let mut m = Mocks::new();
        m.clients
            .expect_find_client_by_token_hash()
            .returning(|_| Ok(Some(client())));
        // The one read finds only this client's active sessions.
        let found =
            (status == SessionStatus::Active && owner == "client_1").then(|| session(status));
        m.clients
            .expect_find_active_session()
            .returning(move |_, _, _| Ok(found.clone()));
        let owner = ClientId(owner.to_owned());
        m.clients.expect_get_session().returning(move |_| {
            Ok(Some(Session {
                client_id: owner.clone(),
                ..session(status)
            }))
        });
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m
    }

    #[tokio::test]
    async fn active_sessions_mint_claims_with_factor_ages() {
        let claims = mocks_with(SessionStatus::Active, "client_1")
            .services()
            .sessions
            .session_token(Some(TOKEN), "sess_1")
            .await
            .unwrap();
        assert_eq!(claims.user_id, "user_1");
        assert_eq!(claims.issued_at, NOW);
        assert_eq!(claims.expires_at, Timestamp(NOW.0 + 60_000));
        assert_eq!(claims.factor_ages_minutes, [5, -1]);
    }

    #[tokio::test]
    async fn an_active_session_mints_from_one_read() {
        let mut m = Mocks::new();
        m.clients
            .expect_find_active_session()
            .withf(|hash, id, now| {
                hash == super::super::token_hash(TOKEN) && id.as_str() == "sess_1" && *now == NOW
            })
            .times(1)
            .returning(|_, _, _| Ok(Some(session(SessionStatus::Active))));
        // No other read is expected: a second one would fail the mock.
        let claims = m
            .services()
            .sessions
            .session_token(Some(TOKEN), "sess_1")
            .await
            .unwrap();
        assert_eq!(claims.session_id.as_str(), "sess_1");
        assert_eq!(claims.user_id, "user_1");
    }

    #[tokio::test]
    async fn a_token_that_names_no_client_mints_nothing() {
        let mut m = Mocks::new();
        m.clients
            .expect_find_active_session()
            .returning(|_, _, _| Ok(None));
        m.clients
            .expect_find_client_by_token_hash()
            .returning(|_| Ok(None));
        let err = m
            .services()
            .sessions
            .session_token(Some(TOKEN), "sess_1")
            .await
            .unwrap_err();
        assert_eq!(err, Error::NotFound(Resource::Session));
    }

    #[tokio::test]
    async fn ended_revoked_removed_and_expired_sessions_mint_nothing() {
        for status in [
            SessionStatus::Ended,
            SessionStatus::Revoked,
            SessionStatus::Removed,
            SessionStatus::Expired,
        ] {
            let err = mocks_with(status, "client_1")
                .services()
                .sessions
                .session_token(Some(TOKEN), "sess_1")
                .await
                .unwrap_err();
            assert_eq!(err, Error::SessionInactive, "{status:?}");
        }
    }

    #[tokio::test]
    async fn another_clients_session_is_not_found() {
        let err = mocks_with(SessionStatus::Active, "client_2")
            .services()
            .sessions
            .session_token(Some(TOKEN), "sess_1")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
        let err = mocks_with(SessionStatus::Active, "client_1")
            .services()
            .sessions
            .session_token(None, "sess_1")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
    }

    #[tokio::test]
    async fn revoking_an_active_session_stores_revoked() {
        let mut m = mocks_with(SessionStatus::Active, "client_1");
        m.clients
            .expect_end_session()
            .withf(|_, status, _, _| *status == SessionStatus::Revoked)
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let view = m
            .services()
            .sessions
            .revoke_session("sess_1")
            .await
            .unwrap();
        assert_eq!(view.status, SessionStatus::Revoked);
        assert_eq!(view.user.id, UserId("user_1".into()));
    }

    #[tokio::test]
    async fn listing_sessions_needs_a_user_or_client() {
        let err = Mocks::new()
            .services()
            .sessions
            .list_sessions(SessionQuery::default(), None)
            .await
            .unwrap_err();
        assert_eq!(err, Error::param_nil("user_id"));
    }
}

//! Clients: resolving the device behind a request, and its snapshot.

use std::net::IpAddr;
use std::sync::Arc;

use super::LiveSettings;
use super::{Phantoms, RateLimits, SignUpView, Throttled, new_token, token_hash};
use crate::error::{Error, Resource};
use crate::model::{
    Client, ClientId, Duration, IdPrefix, Session, SessionStatus, SignIn, SignInId, SignInStatus,
    Timestamp, User, new_ordered_id,
};
use crate::ports::{
    ClientRepository, ClientWithSessions, Clock, Counters, InstanceStore, Random, SignInSteps,
    SignInStore, SignUpStore, UserRepository,
};

/// A sign-in together with the user it identified, as of `now`.
#[derive(Debug, Clone)]
pub struct SignInView {
    pub sign_in: SignIn,
    pub status: SignInStatus,
    pub user: Option<User>,
}

/// A session with its user, as of `now`.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    pub status: SessionStatus,
    pub user: User,
    pub now: Timestamp,
}

impl SessionView {
    /// The session as of `now`.
    pub fn at(session: Session, user: User, now: Timestamp) -> Self {
        Self {
            status: session.status_at(now),
            session,
            user,
            now,
        }
    }
}

/// Everything Clerk shows of a client: its current sign-in and sign-up, and
/// its active sessions.
#[derive(Debug, Clone)]
pub struct ClientSnapshot {
    pub client: Client,
    pub sign_in: Option<SignInView>,
    pub sign_up: Option<SignUpView>,
    pub sessions: Vec<SessionView>,
    pub now: Timestamp,
}

/// The result of a client-scoped use case: its own response, the client as it
/// stands afterwards, and the client's new token when it was created or rotated.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub response: T,
    pub client: Option<ClientSnapshot>,
    pub new_token: Option<String>,
}

/// The device behind a request: finding, creating and forgetting clients,
/// and what every client-scoped answer carries (the client with its current
/// sign-in and active sessions). Other services build their answers here.
#[derive(Clone)]
pub struct Clients {
    /// Makes the events its writes store.
    pub(super) events: super::Events,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) sign_ins: Arc<dyn SignInStore>,
    /// A step's client, sign-in and user in one read, when one store keeps them.
    pub(super) sign_in_steps: Option<Arc<dyn SignInSteps>>,
    pub(super) sign_ups: Arc<dyn SignUpStore>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    /// For the user of a sign-in whose identifier names no account.
    pub(super) phantoms: Phantoms,
    /// New clients made on the way (a sign-in without one) count here.
    pub(super) rate_limits: RateLimits,
}

/// Housekeeping and health: what runs beside the requests.
#[derive(Clone)]
pub struct Maintenance {
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) sign_ins: Arc<dyn SignInStore>,
    pub(super) sign_ups: Arc<dyn SignUpStore>,
    pub(super) counters: Arc<dyn Counters>,
    pub(super) instance: Arc<dyn InstanceStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: LiveSettings,
    /// The stores' readiness checks (none: the durable store's `health`).
    pub(super) probes: Arc<[Arc<dyn crate::ports::Readiness>]>,
}

impl Maintenance {
    /// Whether storage answers; for health checks.
    pub async fn health(&self) -> Result<(), Error> {
        self.instance.get("health").await?;
        Ok(())
    }

    /// Each store's readiness, checked at once, by part.
    pub async fn readiness(&self) -> Vec<(&'static str, Result<(), crate::error::StoreError>)> {
        if self.probes.is_empty() {
            let health = self.instance.get("health").await.map(|_| ());
            return vec![("store", health)];
        }
        let checks = self
            .probes
            .iter()
            .map(|probe| async move { (probe.part(), probe.ready().await) });
        futures_util::future::join_all(checks).await
    }

    /// Housekeeping, run periodically: drops sign-ins and sign-ups past
    /// their lifetime (an abandoned sign-up leaves nothing behind),
    /// clients idle for as long that hold no active session (anonymous
    /// visitors would otherwise pile up), and sooner, clients that were
    /// never used (no sign-in, no session), which anyone can make for free.
    /// Returns how many sign-ins and sign-ups together, and how many clients.
    pub async fn purge_stale(&self) -> Result<(u64, u64), Error> {
        let now = self.clock.now();
        let sign_ins =
            self.sign_ins.purge_abandoned(now).await? + self.sign_ups.purge_abandoned(now).await?;
        self.counters.purge_expired(now).await?;
        self.users.purge_attempt_records(now).await?;
        let before = |lifetime: Duration| Timestamp(now.0.saturating_sub(lifetime.0));
        let clients = self
            .client_repo
            .purge_idle_clients(
                before(self.settings.current().sign_in_lifetime),
                before(self.settings.current().unused_client_lifetime),
                now,
            )
            .await?;
        Ok((sign_ins, clients))
    }
}

impl Clients {
    /// The client a token names, if any. Unknown tokens name no client.
    pub async fn find_client(&self, token: Option<&str>) -> Result<Option<Client>, Error> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        Ok(self
            .client_repo
            .find_client_by_token_hash(&token_hash(token))
            .await?)
    }

    /// The client a token names with its sessions active at `now` and
    /// their users, in one read, if any.
    async fn find_client_with_sessions(
        &self,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, Error> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        Ok(self
            .client_repo
            .find_client_with_sessions(&token_hash(token), now)
            .await?)
    }

    /// [`find_client_with_sessions`](Self::find_client_with_sessions) for a
    /// client that must own a resource: `what` is not found without it.
    pub(crate) async fn require_client_with_sessions(
        &self,
        token: Option<&str>,
        what: Resource,
    ) -> Result<ClientWithSessions, Error> {
        self.find_client_with_sessions(token, self.clock.now())
            .await?
            .ok_or(Error::NotFound(what))
    }

    /// Deletes a client this request created and could not finish; a
    /// failure is logged, as the idle-client purge removes it later anyway.
    pub(crate) async fn forget_client(&self, id: &ClientId) {
        if let Err(err) = self.client_repo.delete_client(id).await {
            tracing::warn!(client = %id, error = %err, "could not remove an unfinished client");
        }
    }

    /// The client a token names, or a new one with a new token, only made,
    /// not stored: the caller stores it (with
    /// [`ClientRepository::insert_client`]) before anything that refers to
    /// it, and may give it its current sign-in or sign-up in the same
    /// write. A new client counts against the per-IP allowance of new
    /// clients of `ip`, as `POST /v1/client` does: a token that names
    /// nothing must not be a way around it.
    pub(crate) async fn find_or_make_client(
        &self,
        token: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<(Client, Option<String>), Error> {
        if let Some(client) = self.find_client(token).await? {
            return Ok((client, None));
        }
        self.rate_limits
            .throttle_limit(Throttled::CreateClient, ip)
            .await?;
        let (client, token) = self.new_client();
        Ok((client, Some(token)))
    }

    async fn insert_new_client(&self) -> Result<(Client, String), Error> {
        let (client, token) = self.new_client();
        self.client_repo.insert_client(&client).await?;
        Ok((client, token))
    }

    /// A new client and its token, not stored yet.
    fn new_client(&self) -> (Client, String) {
        let now = self.clock.now();
        let token = new_token(&*self.random);
        let client = Client {
            id: ClientId(new_ordered_id(IdPrefix::Client, now, &*self.random)),
            token_hash: token_hash(&token),
            sign_in_id: None,
            sign_up_id: None,
            last_active_session_id: None,
            last_authentication_strategy: None,
            created_at: now,
            updated_at: now,
        };
        (client, token)
    }

    /// `GET /v1/client`: the current client, or none. The client and its
    /// sessions with their users are one read of the repository.
    pub async fn get_client(&self, token: Option<&str>) -> Result<Option<ClientSnapshot>, Error> {
        let now = self.clock.now();
        match self.find_client_with_sessions(token, now).await? {
            Some(found) => Ok(Some(self.snapshot_of(found, now, None, None).await?)),
            None => Ok(None),
        }
    }

    /// The snapshot of a client read with its sessions. `known` is the
    /// client's current sign-in when the caller already holds it.
    async fn snapshot_of(
        &self,
        found: ClientWithSessions,
        now: Timestamp,
        known: Option<&SignInView>,
        known_sign_up: Option<&SignUpView>,
    ) -> Result<ClientSnapshot, Error> {
        let sign_in = match known {
            Some(view) if found.client.sign_in_id.as_ref() == Some(&view.sign_in.id) => {
                Some(view.clone())
            }
            _ => self.current_sign_in(&found.client, now).await?,
        };
        let sign_up = match known_sign_up {
            Some(view) if found.client.sign_up_id.as_ref() == Some(&view.sign_up.id) => {
                Some(view.clone())
            }
            _ => self.current_sign_up(&found.client, now).await?,
        };
        let sessions = found
            .sessions
            .into_iter()
            .filter(|(session, _)| session.is_active(now))
            .map(|(session, user)| SessionView::at(session, user, now))
            .collect();
        Ok(ClientSnapshot {
            client: found.client,
            sign_in,
            sign_up,
            sessions,
            now,
        })
    }

    /// `PUT`/`POST /v1/client`: a brand-new client with its own token. (The
    /// route's step is counted against the per-IP allowance of new clients.)
    pub async fn create_client(&self) -> Result<Outcome<ClientSnapshot>, Error> {
        let (client, token) = self.insert_new_client().await?;
        // Just made: no sign-in and no sessions to read.
        let snapshot = ClientSnapshot {
            now: client.created_at,
            client,
            sign_in: None,
            sign_up: None,
            sessions: Vec::new(),
        };
        Ok(Outcome {
            response: snapshot.clone(),
            client: Some(snapshot),
            new_token: Some(token),
        })
    }

    /// `POST /v1/dev_browser`: a development browser is a client reached through
    /// the `__clerk_db_jwt` parameter; returns its token.
    pub async fn create_dev_browser(&self) -> Result<String, Error> {
        Ok(self.insert_new_client().await?.1)
    }

    /// `DELETE /v1/client`: forgets the client; its active sessions are removed.
    pub async fn delete_client(
        &self,
        token: Option<&str>,
    ) -> Result<Outcome<Option<ClientSnapshot>>, Error> {
        let Some(client) = self.find_client(token).await? else {
            return Ok(Outcome {
                response: None,
                client: None,
                new_token: None,
            });
        };
        // Its sessions end first, each with its event.
        self.end_sessions_of(&client, SessionStatus::Removed)
            .await?;
        self.client_repo.delete_client(&client.id).await?;
        if let Some(id) = &client.sign_in_id {
            self.sign_ins.delete(id).await?;
        }
        if let Some(id) = &client.sign_up_id {
            self.sign_ups.delete(id).await?;
        }
        let now = self.clock.now();
        let emptied = Client {
            sign_in_id: None,
            sign_up_id: None,
            last_active_session_id: None,
            updated_at: now,
            ..client
        };
        let snapshot = ClientSnapshot {
            client: emptied,
            sign_in: None,
            sign_up: None,
            sessions: Vec::new(),
            now,
        };
        Ok(Outcome {
            response: Some(snapshot),
            client: None,
            new_token: None,
        })
    }

    /// Moves every active session of the client to `status`.
    pub(crate) async fn end_sessions_of(
        &self,
        client: &Client,
        status: SessionStatus,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let Some(held) = self
            .client_repo
            .get_client_with_sessions(&client.id, now)
            .await?
        else {
            return Ok(());
        };
        for (session, user) in &held.sessions {
            self.events
                .end_session(&*self.client_repo, session, Some(user), status, now)
                .await?;
        }
        Ok(())
    }

    /// The client's current sign-in, if it still exists.
    async fn current_sign_in(
        &self,
        client: &Client,
        now: Timestamp,
    ) -> Result<Option<SignInView>, Error> {
        let Some(id) = &client.sign_in_id else {
            return Ok(None);
        };
        match self.sign_ins.get(id).await? {
            Some(sign_in) => Ok(Some(self.sign_in_view(sign_in, now).await?)),
            None => Ok(None),
        }
    }

    /// The client's current sign-up, if it still exists.
    async fn current_sign_up(
        &self,
        client: &Client,
        now: Timestamp,
    ) -> Result<Option<SignUpView>, Error> {
        let Some(id) = &client.sign_up_id else {
            return Ok(None);
        };
        Ok(self
            .sign_ups
            .get(id)
            .await?
            .map(|sign_up| SignUpView::at(sign_up, now)))
    }

    pub(crate) async fn sign_in_view(
        &self,
        sign_in: SignIn,
        now: Timestamp,
    ) -> Result<SignInView, Error> {
        let user = self.user_of(&sign_in).await?;
        Ok(SignInView {
            status: sign_in.status_at(now),
            sign_in,
            user,
        })
    }

    /// The user a sign-in is for: the stored one, or for a sign-in whose
    /// identifier names no account, its stand-in.
    pub(crate) async fn user_of(&self, sign_in: &SignIn) -> Result<Option<User>, Error> {
        if sign_in.is_phantom() {
            let identifier = sign_in
                .identifier()
                .ok_or_else(|| Error::internal("phantom sign-in without identifier"))?;
            return Ok(Some(self.phantoms.phantom_user(identifier).await?));
        }
        match sign_in.user_id() {
            Some(id) => Ok(self.users.get(id).await?),
            None => Ok(None),
        }
    }

    /// The client that must own a resource; a missing client owns nothing.
    pub(crate) async fn require_client(
        &self,
        token: Option<&str>,
        what: Resource,
    ) -> Result<Client, Error> {
        self.find_client(token).await?.ok_or(Error::NotFound(what))
    }

    /// Wraps a response with the client as it is now, read afresh (the
    /// client, its sessions and their users in one read).
    pub(crate) async fn outcome<T>(
        &self,
        response: T,
        client: &ClientId,
        new_token: Option<String>,
    ) -> Result<Outcome<T>, Error> {
        Ok(Outcome {
            client: self.snapshot_now(client, None).await?,
            response,
            new_token,
        })
    }

    /// A sign-up's step answered with its client as it is now, read afresh
    /// but for the sign-up itself: where it is the client's current one,
    /// `view` (the sign-up as this request left it) stands for it, one
    /// read less.
    pub(crate) async fn sign_up_outcome(
        &self,
        view: SignUpView,
        client: &ClientId,
        new_token: Option<String>,
    ) -> Result<Outcome<SignUpView>, Error> {
        Ok(Outcome {
            client: self.snapshot_now(client, Some(&view)).await?,
            response: view,
            new_token,
        })
    }

    /// [`sign_up_outcome`](Self::sign_up_outcome) for a step that knows
    /// the client as it left it (`found`): as the step read it when it
    /// changed nothing of it, or as its own write left it. Not read again.
    pub(crate) async fn sign_up_outcome_from(
        &self,
        view: SignUpView,
        found: ClientWithSessions,
        new_token: Option<String>,
    ) -> Result<Outcome<SignUpView>, Error> {
        let now = self.clock.now();
        Ok(Outcome {
            client: Some(self.snapshot_of(found, now, None, Some(&view)).await?),
            response: view,
            new_token,
        })
    }

    /// The client as it is now, if it still exists (its current sign-up
    /// taken from `known_sign_up` where that is it).
    async fn snapshot_now(
        &self,
        client: &ClientId,
        known_sign_up: Option<&SignUpView>,
    ) -> Result<Option<ClientSnapshot>, Error> {
        let now = self.clock.now();
        match self
            .client_repo
            .get_client_with_sessions(client, now)
            .await?
        {
            Some(found) => Ok(Some(
                self.snapshot_of(found, now, None, known_sign_up).await?,
            )),
            None => Ok(None),
        }
    }

    /// A sign-in as of `now`, wrapped with its client as it is now. The
    /// client is read with its sessions and their users; the sign-in's user
    /// is taken from there when one of those sessions is theirs, and the
    /// client's current sign-in is this one when it is.
    pub(crate) async fn sign_in_outcome(
        &self,
        sign_in: SignIn,
        client: &ClientId,
        new_token: Option<String>,
        now: Timestamp,
    ) -> Result<Outcome<SignInView>, Error> {
        self.sign_in_outcome_knowing(sign_in, client, new_token, now, None)
            .await
    }

    /// [`sign_in_outcome`](Self::sign_in_outcome) given the sign-in's user
    /// as this request read it (`known`), when nothing the request did since
    /// can have changed what the answer shows of it: one read less.
    pub(crate) async fn sign_in_outcome_knowing(
        &self,
        sign_in: SignIn,
        client: &ClientId,
        new_token: Option<String>,
        now: Timestamp,
        known: Option<User>,
    ) -> Result<Outcome<SignInView>, Error> {
        let found = self
            .client_repo
            .get_client_with_sessions(client, self.clock.now())
            .await?;
        self.sign_in_outcome_from(sign_in, found, new_token, now, known)
            .await
    }

    /// [`sign_in_outcome_knowing`](Self::sign_in_outcome_knowing) with the
    /// client and its active sessions as this request holds them (`found`),
    /// when nothing it wrote changed them: no read of the client.
    pub(crate) async fn sign_in_outcome_from(
        &self,
        sign_in: SignIn,
        found: Option<ClientWithSessions>,
        new_token: Option<String>,
        now: Timestamp,
        known: Option<User>,
    ) -> Result<Outcome<SignInView>, Error> {
        let read_with_client = match (&found, sign_in.user_id()) {
            (Some(found), Some(id)) if !sign_in.is_phantom() => found
                .sessions
                .iter()
                .find(|(_, user)| &user.id == id)
                .map(|(_, user)| user.clone()),
            _ => None,
        };
        let known = known.filter(|user| {
            sign_in.is_phantom() || sign_in.user_id().is_some_and(|id| *id == user.id)
        });
        let user = match read_with_client.or(known) {
            Some(user) => Some(user),
            None => self.user_of(&sign_in).await?,
        };
        let view = SignInView {
            status: sign_in.status_at(now),
            sign_in,
            user,
        };
        let client = match found {
            Some(found) => {
                let now = self.clock.now();
                Some(self.snapshot_of(found, now, Some(&view), None).await?)
            }
            None => None,
        };
        Ok(Outcome {
            response: view,
            client,
            new_token,
        })
    }
}

impl Clients {
    /// Stores `sign_in` as its client's current sign-in: with
    /// `new_client`, that client too (made for this sign-in and naming it
    /// already); and deletes `previous`, the sign-in it replaces. One write
    /// where one store keeps the clients and the sign-ins.
    pub(crate) async fn store_new_sign_in(
        &self,
        sign_in: &SignIn,
        new_client: Option<&Client>,
        previous: Option<&SignInId>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(steps) = &self.sign_in_steps {
            return Ok(steps
                .start_sign_in(sign_in, new_client.cloned(), previous.cloned(), now)
                .await?);
        }
        match new_client {
            Some(client) => {
                self.client_repo.insert_client(client).await?;
                self.sign_ins.insert(sign_in).await?;
            }
            None => {
                self.sign_ins.insert(sign_in).await?;
                self.client_repo
                    .set_current_sign_in(&sign_in.client_id, Some(sign_in.id.clone()), now)
                    .await?;
            }
        }
        if let Some(previous) = previous {
            self.sign_ins.delete(previous).await?;
        }
        Ok(())
    }

    /// Stores a changed sign-in if no other request changed it first.
    pub(crate) async fn replace_sign_in(&self, sign_in: &mut SignIn) -> Result<(), Error> {
        let expected = sign_in.next_version();
        Ok(self.sign_ins.replace(sign_in, expected).await?)
    }
}

impl Clients {
    /// A user already signed in on this client cannot sign in there again.
    pub(super) async fn refuse_if_signed_in(
        &self,
        client: &Client,
        user: &User,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let sessions = self.client_repo.sessions_of_client(&client.id).await?;
        refuse_if_signed_in_at(sessions.iter(), user, now)
    }

    /// What a step on the requesting client's sign-in `id` starts from: the
    /// client with its active sessions (and their users), the sign-in (as
    /// [`client_sign_in`](Self::client_sign_in) finds it) and its user (as
    /// [`user_of`](Self::user_of) does); one read where one store keeps
    /// them all.
    pub(super) async fn sign_in_step(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<(ClientWithSessions, SignIn, Option<User>), Error> {
        let missing = || Error::NotFound(Resource::SignIn);
        let token = token.filter(|t| !t.is_empty()).ok_or_else(missing)?;
        let (hash, id, now) = (token_hash(token), SignInId(id.to_owned()), self.clock.now());
        let Some(steps) = &self.sign_in_steps else {
            let found = self
                .client_repo
                .find_client_with_sessions(&hash, now)
                .await?
                .ok_or_else(missing)?;
            let sign_in = self
                .sign_ins
                .get(&id)
                .await?
                .filter(|s| s.client_id == found.client.id)
                .ok_or_else(missing)?;
            let user = self.user_of(&sign_in).await?;
            return Ok((found, sign_in, user));
        };
        let step = steps
            .read_sign_in_step(&hash, &id, now)
            .await?
            .ok_or_else(missing)?;
        let sign_in = step.sign_in.ok_or_else(missing)?;
        let user = if sign_in.is_phantom() {
            self.user_of(&sign_in).await?
        } else {
            step.user
        };
        Ok((step.found, sign_in, user))
    }

    /// The requesting client and its sign-in with this id; another client's
    /// sign-in does not exist for it.
    pub(super) async fn client_sign_in(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<(Client, SignIn), Error> {
        let client = self.require_client(token, Resource::SignIn).await?;
        let sign_in = self.sign_ins.get(&SignInId(id.to_owned())).await?;
        let sign_in = sign_in
            .filter(|s| s.client_id == client.id)
            .ok_or(Error::NotFound(Resource::SignIn))?;
        Ok((client, sign_in))
    }
}

/// [`Clients::refuse_if_signed_in`] over sessions already read with the
/// client (as its active ones).
pub(super) fn refuse_if_among(
    sessions: &[(Session, User)],
    user: &User,
    now: Timestamp,
) -> Result<(), Error> {
    refuse_if_signed_in_at(sessions.iter().map(|(session, _)| session), user, now)
}

/// A session of `user` among `sessions` still active at `now` refuses a
/// new sign-in of that user on the client.
fn refuse_if_signed_in_at<'a>(
    mut sessions: impl Iterator<Item = &'a Session>,
    user: &User,
    now: Timestamp,
) -> Result<(), Error> {
    match sessions.find(|s| s.user_id == user.id && s.is_active(now)) {
        Some(session) => Err(Error::AlreadySignedIn {
            session_id: session.id.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::{Duration, RateLimit};
    use crate::ports::{MockCounters, WindowCount};
    use crate::service::CreateSignIn;
    use crate::service::test_support::{Mocks, NOW};

    #[tokio::test]
    async fn unused_clients_are_purged_sooner_than_idle_ones() {
        let mut m = Mocks::new();
        m.settings.sign_in_lifetime = Duration::days(1);
        m.settings.unused_client_lifetime = Duration::minutes(60);
        m.sign_ins.expect_purge_abandoned().returning(|_| Ok(2));
        m.sign_ups.expect_purge_abandoned().returning(|_| Ok(1));
        m.users.expect_purge_attempt_records().returning(|_| Ok(0));
        m.clients
            .expect_purge_idle_clients()
            .withf(|idle_before, unused_before, now| {
                *idle_before == Timestamp(NOW.0 - 86_400_000)
                    && *unused_before == Timestamp(NOW.0 - 3_600_000)
                    && *now == NOW
            })
            .times(1)
            .returning(|_, _, _| Ok(5));
        assert_eq!(m.services().maintenance.purge_stale().await, Ok((3, 5)));
    }

    /// Counters that expect one hit, on `ip`'s allowance of new clients,
    /// and find it spent.
    fn new_clients_spent(ip: &'static str) -> MockCounters {
        let mut counters = MockCounters::new();
        let key = format!("rl:create_client:{ip}");
        counters
            .expect_hit()
            .withf(move |k, window, _| k == key && *window == Duration::seconds(60))
            .times(1)
            .returning(|_, _, _| {
                Ok(WindowCount {
                    count: 11,
                    resets_in: Duration::seconds(42),
                })
            });
        counters
    }

    #[tokio::test]
    async fn a_sign_in_that_must_create_its_client_counts_a_new_client_and_is_refused_past_the_allowance()
     {
        let mut m = Mocks::new();
        m.settings.rate_limits.create_client = RateLimit::per_seconds(10, 60);
        m.counters = new_clients_spent("192.0.2.7");
        // The token names no client: one would be made.
        m.clients
            .expect_find_client_by_token_hash()
            .returning(|_| Ok(None));
        m.nothing_created();
        let err = m
            .services()
            .sign_ins
            .create_sign_in(
                Some("a token that names nothing"),
                CreateSignIn {
                    client_ip: Some("192.0.2.7".parse().unwrap()),
                    ..CreateSignIn::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::Throttled {
                retry_after_secs: 42
            }
        );
    }

    #[tokio::test]
    async fn a_sign_in_on_a_known_client_counts_no_new_client() {
        let mut m = Mocks::new();
        m.settings.rate_limits.create_client = RateLimit::per_seconds(10, 60);
        m.counters = MockCounters::new(); // any hit would fail the test
        m.client_found().client_reads_back();
        m.clients.expect_insert_client().never();
        m.sign_ins.expect_insert().times(1).returning(|_| Ok(()));
        m.clients
            .expect_set_current_sign_in()
            .returning(|_, _, _| Ok(()));
        let created = m
            .services()
            .sign_ins
            .create_sign_in(
                Some(crate::service::test_support::TOKEN),
                CreateSignIn {
                    client_ip: Some("192.0.2.7".parse().unwrap()),
                    ..CreateSignIn::default()
                },
            )
            .await;
        assert!(created.is_ok(), "{created:?}");
    }
}

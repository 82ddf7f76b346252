//! What every step of a sign-in shares once its factor passed: storing the
//! sign-in against racing requests, counting failed attempts, rotating the
//! client's token, and starting the session it completed with, for a user
//! still admitted to one.

use std::sync::Arc;

use super::LiveSettings;
use super::lockout::{Passed, user_locked};
use super::{Clients, Outcome, SignInView, new_token, token_hash};
use crate::error::{Error, Resource, StoreError};
use crate::model::{
    Client, ClientId, FactorSlot, IdPrefix, Password, Session, SessionId, SessionOrigin,
    SessionStart, SessionStatus, SignIn, SignInId, SignInStatus, Standing, Strategy, Timestamp,
    User, new_ordered_id,
};
use crate::ports::{
    ClientRepository, ClientWithSessions, Clock, DigestUpgrade, PasswordHasher, Random,
    SignInStore, UserRepository,
};

/// What every step of a sign-in shares once its factor passed: storing it
/// against racing requests, counting failures, and starting the session.
#[derive(Clone)]
pub(crate) struct Steps {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    /// Makes the events its writes store.
    pub(super) events: super::Events,
    pub(super) clients: Clients,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) sign_ins: Arc<dyn SignInStore>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

impl Steps {
    /// After a factor passed (in memory): stores the sign-in if no other
    /// request changed it first, then starts the session it completed with,
    /// or, if it did not complete, rotates the client's token. A loser of the
    /// race whose rival completed the sign-in answers with that result; if the
    /// session cannot start (or the token rotate), the sign-in goes back to
    /// where it was.
    pub(super) async fn finish_step(
        &self,
        mut sign_in: SignIn,
        step: PassedStep<'_>,
        now: Timestamp,
    ) -> Result<Outcome<SignInView>, Error> {
        let client_id = &step.client.id;
        // Where one store keeps the sign-in with the client and the user, a
        // sign-in that completes is stored with its session in one write.
        let together = step.session.is_some() && self.clients.sign_in_steps.is_some();
        if together {
            sign_in.next_version();
        } else if let Err(err) = self.clients.replace_sign_in(&mut sign_in).await {
            return self.after_lost_race(err, client_id, &sign_in.id, now).await;
        }
        let started = match &step.session {
            Some(session) => {
                let completes = if together {
                    Completes::Stored {
                        sign_in: &sign_in,
                        passed: step.passed,
                    }
                } else {
                    Completes::Nothing
                };
                self.start(
                    session,
                    step.user,
                    step.password,
                    &step.client.token_hash,
                    step.keep_token,
                    completes,
                )
                .await
            }
            // A factor passed: whoever holds the client's token from before
            // (one planted in the browser, say) does not hold it after.
            None => self
                .rotate_token(step.client, step.keep_token, now)
                .await
                .map_err(NotStarted::Stored),
        };
        let new_token = match started {
            Ok(token) => token,
            // Nothing of this step was stored.
            Err(NotStarted::Refused(err)) if together => return Err(err),
            Err(NotStarted::Lost(err)) if together => {
                return self.after_lost_race(err, client_id, &sign_in.id, now).await;
            }
            Err(not_started) => {
                let mut restored = step.before;
                restored.set_version(sign_in.version());
                if let Err(undo) = self.clients.replace_sign_in(&mut restored).await {
                    tracing::warn!(sign_in = %restored.id, error = %undo, "could not restore a sign-in");
                }
                return Err(not_started.into_error());
            }
        };
        // A new session on a client whose sessions this request read: the
        // client is answered as the session's start left it, without
        // reading it back.
        if let (Some(session), Some(held)) = (&step.session, step.sessions) {
            let left = client_after(
                step.client,
                held,
                session,
                step.user,
                new_token.as_deref(),
                now,
            );
            return self
                .clients
                .sign_in_outcome_from(sign_in, Some(left), new_token, now, None)
                .await;
        }
        self.clients
            .sign_in_outcome(sign_in, client_id, new_token, now)
            .await
    }
}

impl Steps {
    /// The session a sign-in that passed its factors becomes (not yet stored).
    pub(super) fn new_session(
        &self,
        sign_in: &SignIn,
        user: &User,
        origin: &SessionOrigin,
        now: Timestamp,
    ) -> Result<Session, Error> {
        let strategy = sign_in
            .first_factor_verification()
            .map(|v| v.strategy.name());
        let start = SessionStart {
            id: SessionId(new_ordered_id(IdPrefix::Session, now, &*self.random)),
            client_id: sign_in.client_id.clone(),
            user_id: user.id.clone(),
            first_factor_verified_at: sign_in.first_factor_verified_at().unwrap_or(now),
            second_factor_verified_at: sign_in.second_factor_verified_at(),
            origin: SessionOrigin {
                strategy,
                ..origin.clone()
            },
        };
        Ok(Session::started(
            start,
            self.settings.current().session_lifetime,
            now,
        ))
    }

    /// Stores the session, rotating the client's token (unless `keep_token`)
    /// and recording the sign-in on the user (upgrading a weak password
    /// digest) in the same step, with what `completes` names: a sign-in
    /// completed by the request that made it goes after the client made
    /// for it and the session (the client's current sign-in it replaces
    /// deleted), all in the session's one write where one store keeps the
    /// sign-ins with the clients and the users. Returns the client's new
    /// token, if it has one.
    ///
    /// Every path to a session comes through here, so this is where the
    /// user's standing is checked: on `user` as this request read it, before
    /// anything is written, and again on the standing the store returns as it
    /// records the sign-in. A ban or lock stored before that write ends the
    /// new session; one stored after it finds the session there to revoke.
    pub(super) async fn start_session(
        &self,
        session: &Session,
        user: &User,
        password: Option<&str>,
        presented_token_hash: &str,
        keep_token: bool,
        completes: Completes<'_>,
    ) -> Result<Option<String>, Error> {
        self.start(
            session,
            user,
            password,
            presented_token_hash,
            keep_token,
            completes,
        )
        .await
        .map_err(NotStarted::into_error)
    }

    /// [`start_session`](Self::start_session), storing what `completes`
    /// names beside the session (in the same write where the store keeps
    /// all of it); says how far it got when the session did not start.
    async fn start(
        &self,
        session: &Session,
        user: &User,
        password: Option<&str>,
        presented_token_hash: &str,
        keep_token: bool,
        completes: Completes<'_>,
    ) -> Result<Option<String>, NotStarted> {
        admit(user.standing(), session.created_at).map_err(NotStarted::Refused)?;
        let token = (!keep_token).then(|| new_token(&*self.random));
        let new_hash = super::hash_after(token.as_deref(), presented_token_hash);
        let upgrade = match (password, &user.password_digest) {
            (Some(password), Some(old)) if self.hasher.needs_rehash(old) => {
                self.stronger_digest(password, old).await
            }
            _ => None,
        };
        // Rotates only the token this request presented: of two requests racing
        // on one client, one rotates and the other gets `Conflict`.
        let event = self
            .events
            .session_created(session, user)
            .map_err(NotStarted::Refused)?;
        let steps = self.clients.sign_in_steps.as_ref();
        let stored = match (&completes, steps) {
            (Completes::Stored { sign_in, passed }, Some(steps)) => {
                steps
                    .complete_sign_in(
                        sign_in,
                        session,
                        presented_token_hash,
                        &new_hash,
                        upgrade,
                        &[event],
                        passed.map(Passed::attempt),
                    )
                    .await
            }
            (Completes::New(new), Some(steps)) => {
                steps
                    .complete_new_sign_in(
                        new.sign_in,
                        new.client.cloned(),
                        new.previous.cloned(),
                        session,
                        presented_token_hash,
                        &new_hash,
                        upgrade,
                        &[event],
                        new.passed.map(Passed::attempt),
                    )
                    .await
            }
            (completes, _) => {
                if let Completes::New(NewCompleted {
                    client: Some(client),
                    ..
                }) = completes
                {
                    self.client_repo
                        .insert_client(client)
                        .await
                        .map_err(|err| NotStarted::Lost(err.into()))?;
                }
                self.client_repo
                    .insert_session(session, presented_token_hash, &new_hash, upgrade, &[event])
                    .await
            }
        };
        let admitted = match stored {
            Ok(standing) => {
                if steps.is_some()
                    && let Some(passed) = completes.passed()
                {
                    passed.settled_by_write();
                }
                self.events.stored();
                admit(standing, session.created_at)
            }
            // Without the user there is no session either.
            Err(StoreError::NotFound)
                if self
                    .users
                    .get(&user.id)
                    .await
                    .map_err(|err| NotStarted::Lost(err.into()))?
                    .is_none() =>
            {
                return Err(NotStarted::Lost(Error::IdentifierNotFound));
            }
            Err(err) => return Err(NotStarted::Lost(err.into())),
        };
        if let Err(refused) = admitted {
            self.end_refused_session(session, user).await;
            // A sign-in stored with the session is not kept for one that
            // did not start.
            if let (Completes::New(new), Some(_)) = (&completes, steps)
                && let Err(err) = self.sign_ins.delete(&new.sign_in.id).await
            {
                tracing::warn!(sign_in = %new.sign_in.id, error = %err, "could not delete a sign-in whose session was refused");
            }
            return Err(NotStarted::Stored(refused));
        }
        if let (Completes::New(new), None) = (&completes, steps) {
            // The session and the token exist: the device must get them
            // even if keeping the finished sign-in fails.
            if let Err(err) = self.sign_ins.insert(new.sign_in).await {
                tracing::warn!(sign_in = %new.sign_in.id, error = %err, "could not store a completed sign-in");
            }
            // A client has at most one current sign-in: the completed one
            // replaced it.
            if let Some(previous) = new.previous {
                self.sign_ins
                    .delete(previous)
                    .await
                    .map_err(|err| NotStarted::Lost(err.into()))?;
            }
        }
        self.audit
            .record(
                crate::model::AuditAction::SignInSucceeded,
                Some(user.id.as_str()),
                &[
                    ("strategy", session.origin.strategy.as_deref().unwrap_or("")),
                    ("session_id", session.id.as_str()),
                ],
            )
            .await;
        Ok(token)
    }

    /// Ends a session whose user turned out not to be admitted (logged if
    /// that fails: the next token request checks the session's user too).
    async fn end_refused_session(&self, session: &Session, user: &User) {
        if let Err(err) = self
            .events
            .end_session(
                &*self.client_repo,
                session,
                Some(user),
                SessionStatus::Revoked,
                self.clock.now(),
            )
            .await
        {
            tracing::warn!(session = %session.id, error = %err, "could not end a session refused at its start");
        }
    }

    /// Gives the client a new token in place of the one this request
    /// presented (unless `keep_token`), as a compare-and-set: of two requests
    /// racing on one client, one rotates and the other gets `Conflict`.
    /// Returns the new token, if there is one.
    pub(super) async fn rotate_token(
        &self,
        client: &Client,
        keep_token: bool,
        now: Timestamp,
    ) -> Result<Option<String>, Error> {
        if keep_token {
            return Ok(None);
        }
        let token = new_token(&*self.random);
        self.client_repo
            .rotate_token(&client.id, &client.token_hash, &token_hash(&token), now)
            .await?;
        Ok(Some(token))
    }

    /// A digest with today's parameters for a password that just verified
    /// against a weaker one; `None` (logged) if hashing fails.
    async fn stronger_digest(&self, password: &str, old: &str) -> Option<DigestUpgrade> {
        let password = Password::parse(password, 1).ok()?;
        match self.hasher.hash(&password).await {
            Ok(new) => Some(DigestUpgrade {
                old: old.to_owned(),
                new,
            }),
            Err(err) => {
                tracing::warn!(error = %err, "could not upgrade a password digest");
                None
            }
        }
    }

    /// After losing the compare-and-set on a sign-in: if a racing request
    /// completed it, answer with that; otherwise report the conflict.
    pub(super) async fn after_lost_race(
        &self,
        err: Error,
        client: &ClientId,
        id: &SignInId,
        now: Timestamp,
    ) -> Result<Outcome<SignInView>, Error> {
        match self.sign_ins.get(id).await? {
            Some(current) if current.status_at(now) == SignInStatus::Complete => {
                self.clients
                    .sign_in_outcome(current, client, None, now)
                    .await
            }
            _ => Err(err),
        }
    }

    /// Counts a failed attempt, retrying when another attempt raced this one so
    /// that no failure goes uncounted.
    pub(super) async fn count_failed_attempt(
        &self,
        slot: FactorSlot,
        mut sign_in: SignIn,
        strategy: Strategy,
    ) -> Result<(), Error> {
        // Each lost race means another attempt was stored: bounded by the racers.
        for _ in 0..32 {
            sign_in.factor_failed(slot, strategy.clone(), self.clock.now())?;
            let expected = sign_in.next_version();
            match self.sign_ins.replace(&sign_in, expected).await {
                Err(StoreError::Conflict) => {
                    sign_in = self
                        .sign_ins
                        .get(&sign_in.id)
                        .await?
                        .ok_or(Error::NotFound(Resource::SignIn))?;
                }
                other => return Ok(other?),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Stores a changed sign-in (compare-and-set) and answers with it and
    /// its client, `found` as this request read it (nothing here changes
    /// the client or its sessions); `user` is the sign-in's user as this
    /// request read it, if nothing it did since has changed the user.
    pub(super) async fn store_and_show(
        &self,
        mut sign_in: SignIn,
        found: ClientWithSessions,
        now: Timestamp,
        user: Option<User>,
    ) -> Result<Outcome<SignInView>, Error> {
        self.clients.replace_sign_in(&mut sign_in).await?;
        self.clients
            .sign_in_outcome_from(sign_in, Some(found), None, now, user)
            .await
    }
}

/// What a session's write stores beside it, where one store keeps the
/// sign-ins with the clients and the users: the sign-in it completes, and
/// the lockout attempt whose check passed, settled.
pub(super) enum Completes<'a> {
    /// Nothing: a sign-in the session completes was stored on its own.
    Nothing,
    /// A stored sign-in this session completes, at its next version.
    Stored {
        sign_in: &'a SignIn,
        passed: Option<&'a Passed>,
    },
    /// A sign-in completed by the request that made it.
    New(NewCompleted<'a>),
}

impl Completes<'_> {
    /// The attempt the write settles, if any.
    fn passed(&self) -> Option<&Passed> {
        match self {
            Completes::Nothing => None,
            Completes::Stored { passed, .. } => *passed,
            Completes::New(new) => new.passed,
        }
    }
}

/// A sign-in completed by the request that made it, with what its storing
/// changes.
pub(super) struct NewCompleted<'a> {
    pub(super) sign_in: &'a SignIn,
    /// The client made for this request, not yet stored.
    pub(super) client: Option<&'a Client>,
    /// The client's current sign-in, which this one replaces.
    pub(super) previous: Option<&'a SignInId>,
    /// The password's attempt, which passed.
    pub(super) passed: Option<&'a Passed>,
}

/// Why a session did not start, by how far its start got.
enum NotStarted {
    /// Refused before anything was written.
    Refused(Error),
    /// Its write stored nothing: a compare-and-set lost, or a record gone.
    Lost(Error),
    /// Written, then refused (the session is ended), or the token's
    /// rotation failed after what came before it was stored.
    Stored(Error),
}

impl NotStarted {
    fn into_error(self) -> Error {
        match self {
            Self::Refused(err) | Self::Lost(err) | Self::Stored(err) => err,
        }
    }
}

/// May a user with this standing get a session at `now`: the one rule every
/// way to a session (a sign-in's last step, a reset password, an OAuth
/// callback) passes. A banned user may not; a locked one may not until the
/// lock ends.
pub(super) fn admit(standing: Standing, now: Timestamp) -> Result<(), Error> {
    if standing.banned {
        return Err(Error::UserBanned);
    }
    if let Some(remaining) = standing.lockout_at(now) {
        return Err(user_locked(remaining));
    }
    Ok(())
}

/// The client with its sessions as the start of `session` (of `user`, giving
/// the client `new_token` if the step made one) leaves them, given its
/// sessions as this request read them (`held`): those still active at `now`,
/// then the new one, its user with the sign-in recorded.
pub(super) fn client_after(
    client: &Client,
    held: &[(Session, User)],
    session: &Session,
    user: &User,
    new_token: Option<&str>,
    now: Timestamp,
) -> ClientWithSessions {
    let mut sessions: Vec<(Session, User)> = held
        .iter()
        .filter(|(held, _)| held.is_active(now))
        .cloned()
        .collect();
    sessions.push((session.clone(), user.signed_in_at(session.created_at)));
    let token_hash = super::hash_after(new_token, &client.token_hash);
    ClientWithSessions {
        client: client.with_session_started(session, &token_hash),
        sessions,
    }
}

/// What [`Steps::finish_step`] needs besides the sign-in.
pub(super) struct PassedStep<'a> {
    pub client: &'a Client,
    /// The client's active sessions with their users, as this request read
    /// them with the client, when it did.
    pub sessions: Option<&'a [(Session, User)]>,
    /// The sign-in as it was before the factor passed, to restore.
    pub before: SignIn,
    /// The session the sign-in completed with, if it did.
    pub session: Option<Session>,
    pub user: &'a User,
    /// The password that passed, for upgrading a weak digest.
    pub password: Option<&'a str>,
    pub keep_token: bool,
    /// The attempt whose check passed, which the session's write may
    /// settle (the caller settles it if nothing did).
    pub passed: Option<&'a Passed>,
}

//! A sign-in's steps where one store keeps the clients, the users and the
//! sign-ins: a new sign-in stored with its client's change, what a step
//! acts on read at once, and a completed sign-in stored with the session it
//! starts, in one write.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Client, NewEvent, Session, SignIn, SignInId, Standing, Timestamp, User};

use super::{ClientWithSessions, DigestUpgrade, PassedAttempt};

/// The records a step on a sign-in (a factor's preparation or attempt, or
/// the sign-in shown) starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInStep {
    /// The requesting client, with its sessions active at the read's `now`.
    pub found: ClientWithSessions,
    /// The sign-in asked for, if it exists and is this client's.
    pub sign_in: Option<SignIn>,
    /// That sign-in's user, if it names one that exists and the sign-in is
    /// not a stand-in's (whose user is never stored).
    pub user: Option<User>,
}

/// Single reads and writes for what [`ClientRepository`](super::ClientRepository),
/// [`SignInStore`](super::SignInStore) and
/// [`UserRepository`](super::UserRepository) each do a part of. Only a
/// store that keeps all three implements it; without one, the service calls
/// the three ports one by one.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SignInSteps: Send + Sync {
    /// `None` when no client's current token has this SHA-256 (hex);
    /// otherwise that client as `ClientRepository::find_client_with_sessions`
    /// reads it at `now`, sign-in `id` as `SignInStore::get` reads it if its
    /// `client_id` is that client's, and the user `SignIn::user_id` names
    /// as `UserRepository::get` reads it unless the sign-in is a stand-in's.
    /// One consistent snapshot of all three.
    async fn read_sign_in_step(
        &self,
        token_hash: &str,
        id: &SignInId,
        now: Timestamp,
    ) -> Result<Option<SignInStep>, StoreError>;

    /// Stores `sign_in` as `SignInStore::replace` does, expecting the
    /// stored version to be the one before `sign_in`'s (what
    /// `SignIn::next_version` left), and in the same transaction does what
    /// `ClientRepository::insert_session` does with the other arguments
    /// (answering what it answers), and settles `passed` (the attempt whose
    /// check completed the sign-in) as `UserRepository::settle_attempt`
    /// does with `failed` false. All or nothing: it MUST fail storing
    /// nothing with `Conflict` when the stored sign-in's version is another
    /// or the client's token hash is no longer `expected_token_hash`, and
    /// with `NotFound` when the sign-in, the client or the user is gone.
    #[allow(clippy::too_many_arguments)]
    async fn complete_sign_in(
        &self,
        sign_in: &SignIn,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
        passed: Option<PassedAttempt>,
    ) -> Result<Standing, StoreError>;

    /// A sign-in completed by the request that made it (a password given
    /// with the identifier), in one transaction: stores `new_client` as
    /// `ClientRepository::insert_client` does when there is one (a client
    /// made for this request); does what `ClientRepository::insert_session`
    /// does with `session` and the arguments after it up to `events`,
    /// answering what it answers; stores `sign_in` as `SignInStore::insert`
    /// does; deletes sign-in `previous` (the client's current one, which
    /// this replaces) as `SignInStore::delete` does; and settles `passed` as
    /// `complete_sign_in` does. All or nothing: it MUST fail storing
    /// nothing when any part fails, with `Conflict` when the client's token
    /// hash is no longer `expected_token_hash` and `NotFound` when the
    /// client (not a new one) or the user is gone.
    #[allow(clippy::too_many_arguments)]
    async fn complete_new_sign_in(
        &self,
        sign_in: &SignIn,
        new_client: Option<Client>,
        previous: Option<SignInId>,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
        passed: Option<PassedAttempt>,
    ) -> Result<Standing, StoreError>;

    /// Makes `sign_in` its client's current sign-in, in one transaction:
    /// stores it as `SignInStore::insert` does; stores `new_client` as
    /// `ClientRepository::insert_client` does when there is one (a client
    /// made for this sign-in, already naming it), else sets the stored
    /// client's current sign-in as `ClientRepository::set_current_sign_in`
    /// does, at `at`; and deletes sign-in `previous` (the one it replaces)
    /// as `SignInStore::delete` does. All or nothing: it MUST fail storing
    /// nothing when any part fails, with `NotFound` when the client (not a
    /// new one) is gone.
    async fn start_sign_in(
        &self,
        sign_in: &SignIn,
        new_client: Option<Client>,
        previous: Option<SignInId>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}

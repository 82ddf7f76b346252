//! A sign-up's steps where one store keeps the clients, the users and the
//! sign-ups: a new sign-up stored with its client's change, what a step
//! acts on read at once, and a completed sign-up stored with the user and
//! the session it makes, in one write.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Client, NewEvent, Session, SignUp, SignUpId, Timestamp, User};

use super::ClientWithSessions;

/// The records a step on a sign-up (a verification's preparation or
/// attempt, a change, or the sign-up shown) starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct SignUpStep {
    /// The requesting client, with its sessions active at the read's `now`.
    pub found: ClientWithSessions,
    /// The sign-up asked for, if it exists and is this client's.
    pub sign_up: Option<SignUp>,
}

/// Single reads and writes for what [`ClientRepository`](super::ClientRepository)
/// and [`SignUpStore`](super::SignUpStore) each do a part of. Only a store
/// that keeps the clients, the users and the sign-ups implements it;
/// without one, the service calls the ports one by one.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait SignUpSteps: Send + Sync {
    /// `None` when no client's current token has this SHA-256 (hex);
    /// otherwise that client as `ClientRepository::find_client_with_sessions`
    /// reads it at `now`, and sign-up `id` as `SignUpStore::get` reads it
    /// if its `client_id` is that client's. One consistent snapshot.
    async fn read_sign_up_step(
        &self,
        token_hash: &str,
        id: &SignUpId,
        now: Timestamp,
    ) -> Result<Option<SignUpStep>, StoreError>;

    /// Makes `sign_up` its client's current sign-up, in one transaction:
    /// stores it as `SignUpStore::insert` does; stores `new_client` as
    /// `ClientRepository::insert_client` does when there is one (a client
    /// made for this sign-up, already naming it), else sets the stored
    /// client's current sign-up as `ClientRepository::set_current_sign_up`
    /// does, at `at`; and deletes sign-up `previous` (the one it replaces)
    /// as `SignUpStore::delete` does. All or nothing: it MUST fail storing
    /// nothing when any part fails, with `NotFound` when the client (not a
    /// new one) is gone.
    async fn start_sign_up(
        &self,
        sign_up: &SignUp,
        new_client: Option<Client>,
        previous: Option<SignUpId>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Stores the completed `sign_up` as `SignUpStore::replace` does,
    /// expecting the stored version to be the one before its own (what
    /// `SignUp::next_version` left), and in the same transaction does what
    /// `ClientRepository::insert_user_with_session` does with the other
    /// arguments. All or nothing: it MUST fail storing nothing with
    /// `Conflict` when the stored sign-up's version is another or the
    /// client's token hash is no longer `expected_token_hash`, with
    /// `Duplicate(kind)` when one of the user's identifiers is taken, and
    /// with `NotFound` when the sign-up or the client is gone.
    async fn complete_sign_up(
        &self,
        sign_up: &SignUp,
        user: &User,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;
}

//! Durable storage of clients and their sessions.
//!
//! Writes are narrow on purpose: each one changes only the columns its use
//! case owns, so two requests racing on one client or session cannot undo each
//! other (a sign-out cannot bring back a rotated token, a touch cannot revive a
//! revoked session).

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{
    Client, ClientId, NewEvent, Session, SessionId, SessionStatus, SignInId, SignUpId, Standing,
    Timestamp, User,
};

/// A stronger digest to store in place of a weaker one that just verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestUpgrade {
    pub old: String,
    pub new: String,
}

/// A client with the sessions it holds that are active at some moment, each
/// with its user.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientWithSessions {
    pub client: Client,
    /// Oldest first.
    pub sessions: Vec<(Session, User)>,
}

impl ClientWithSessions {
    /// Pairs each of `sessions` (kept in order) with its user from `users`;
    /// a session whose user is not among them is left out.
    pub fn pair(client: Client, sessions: Vec<Session>, users: &[User]) -> Self {
        let sessions = sessions
            .into_iter()
            .filter_map(|session| {
                let user = users.iter().find(|u| u.id == session.user_id)?;
                Some((session, user.clone()))
            })
            .collect();
        Self { client, sessions }
    }
}

/// Filters for listing sessions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// The effective status at `now`: `Active` means stored active and not
    /// past `expire_at`; `Expired` means stored expired or active but past it.
    pub status: Option<SessionStatus>,
    pub now: Timestamp,
    pub limit: u32,
    pub offset: u32,
}

/// Clients (devices) and the sessions they hold.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait ClientRepository: Send + Sync {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Finds the client whose current token has this SHA-256 (hex). Earlier
    /// tokens of a rotated client MUST NOT match.
    async fn find_client_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Client>, StoreError>;

    /// Replaces the client's token hash and sets `updated_at`, nothing else,
    /// as a compare-and-set: it MUST fail with `Conflict` (storing nothing) if
    /// the token hash is no longer `expected_token_hash`, and with `NotFound`
    /// if the client does not exist.
    async fn rotate_token(
        &self,
        client: &ClientId,
        expected_token_hash: &str,
        new_token_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Sets the client's current sign-in (or none) and `updated_at`, nothing
    /// else. MUST fail with `NotFound` if the client does not exist.
    async fn set_current_sign_in(
        &self,
        client: &ClientId,
        sign_in: Option<SignInId>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Sets the client's current sign-up (or none) and `updated_at`, nothing
    /// else. MUST fail with `NotFound` if the client does not exist.
    async fn set_current_sign_up(
        &self,
        client: &ClientId,
        sign_up: Option<SignUpId>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Sets the client's last active session (or none) and `updated_at`,
    /// nothing else. MUST fail with `NotFound` if the client does not exist.
    async fn set_last_active_session(
        &self,
        client: &ClientId,
        session: Option<SessionId>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Deletes the clients that hold no session active at `now` and were last
    /// changed before `idle_before`, or, for a client unused (no current
    /// sign-in, no last active session and no session at all), before
    /// `unused_before`; their sessions stay. Returns how many. A client that
    /// a racing request gives a sign-in or a session MUST NOT be taken as
    /// unused.
    async fn purge_idle_clients(
        &self,
        idle_before: Timestamp,
        unused_before: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Deletes the client; its sessions stay, the active ones marked `removed`.
    async fn delete_client(&self, id: &ClientId) -> Result<(), StoreError>;

    /// In one atomic step: stores the new session; on its client sets the
    /// token hash to `new_token_hash`, the last active session to this one, the
    /// current sign-in and sign-up to none, the last authentication strategy
    /// to the session's (when it names one) and `updated_at`; and records the
    /// sign-in on the session's user: clears the failure count, sets
    /// `last_sign_in_at` to the session's `created_at` and moves `updated_at`
    /// past its stored value (to `created_at`, or one millisecond later than
    /// it was), and, with `upgrade`, replaces the password digest if and only
    /// if it still equals `upgrade.old`. All or nothing.
    ///
    /// Returns the user's standing as the same step left it (read in the
    /// write, so a ban or lock stored before it shows). The rotation is a
    /// compare-and-set: it MUST fail with `Conflict` (storing nothing) if the
    /// client's token hash is no longer `expected_token_hash` (another
    /// request rotated it first), and with `NotFound` (storing nothing) if
    /// the client or the user is gone. `events` are stored with it, as
    /// `UserRepository::insert` stores them.
    async fn insert_session(
        &self,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
    ) -> Result<Standing, StoreError>;

    /// [`insert_session`](Self::insert_session) for a user that does not
    /// exist yet: stores `user` (as `UserRepository::insert` does) and its
    /// first session, and rotates the client, all in one transaction. MUST
    /// fail storing nothing with `Duplicate(kind)` when one of the user's
    /// identifiers is taken, and as `insert_session` does when the client's
    /// token moved or the client is gone.
    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Records activity: sets `last_active_at` and `updated_at` only. MUST fail
    /// with `NotFound` if the session does not exist.
    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError>;

    /// Records that the session's factors were verified again at `at`: the
    /// first factor's time when `first`, the second's when `second`, and
    /// `updated_at`. MUST fail with `NotFound` if the session does not exist.
    async fn reverify_session(
        &self,
        id: &SessionId,
        first: bool,
        second: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Moves the session to `status` (`Ended`, `Removed`, `Revoked`) if and only
    /// if its stored status is `Active`, in one atomic step; returns whether it
    /// changed. `events` are stored if and only if it changed. MUST fail
    /// with `NotFound` if the session does not exist.
    async fn end_session(
        &self,
        id: &SessionId,
        status: SessionStatus,
        at: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, StoreError>;

    /// The client whose current token has this SHA-256 (hex), as
    /// [`Self::find_client_by_token_hash`] finds it, with its sessions active
    /// at `now` (stored active, `expire_at` after `now`), each with its user; a
    /// session whose user is gone is left out. One consistent read where the
    /// store allows: what `GET /v1/client` shows.
    async fn find_client_with_sessions(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError>;

    /// [`Self::find_client_with_sessions`] for the client with this id.
    async fn get_client_with_sessions(
        &self,
        id: &ClientId,
        now: Timestamp,
    ) -> Result<Option<ClientWithSessions>, StoreError>;

    /// Session `id` if it belongs to the client whose current token has this
    /// SHA-256 (hex), is active at `now` (as
    /// [`Self::find_client_with_sessions`] counts it) and its user still
    /// exists: what a session token is minted for, in one read.
    async fn find_active_session(
        &self,
        token_hash: &str,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError>;

    /// The sessions of one client, oldest first.
    async fn sessions_of_client(&self, client_id: &ClientId) -> Result<Vec<Session>, StoreError>;

    /// Sessions matching `query`, newest first, paginated.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError>;

    /// How many sessions match `query`, ignoring pagination.
    async fn count_sessions(&self, query: &SessionQuery) -> Result<u64, StoreError>;
}

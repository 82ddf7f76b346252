//! Durable storage of users.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Duration, Identifier, NewEvent, Timestamp, User, UserId};

/// An attempt [`UserRepository::take_attempt`] granted whose check
/// passed, for a write that settles it with its own changes as
/// [`UserRepository::settle_attempt`] does with `failed` false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedAttempt {
    pub user_id: UserId,
    /// When it settles: nothing changes while the user is locked at `at`.
    pub at: Timestamp,
    pub max_attempts: u32,
    pub lock_for: Duration,
}

/// What [`UserRepository::take_attempt`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptSlot {
    /// The attempt is counted; check the factor, then settle it.
    Granted,
    /// The user is locked until then: check nothing.
    Locked(Timestamp),
    /// Every attempt left is taken by checks still in flight.
    Exhausted,
}

/// Filters for listing users; empty vectors do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserQuery {
    pub user_ids: Vec<String>,
    pub email_addresses: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub usernames: Vec<String>,
    pub external_ids: Vec<String>,
    /// Users any of whose id, username, first or last name, email
    /// addresses or phone numbers contains this text, compared in lower
    /// case (Clerk's `query`). Given in lower case.
    pub query: Option<String>,
    /// Newest first unless set.
    pub oldest_first: bool,
    pub limit: u32,
    pub offset: u32,
}

/// Users with their email addresses and phone numbers, stored as one aggregate.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user. MUST fail with `StoreError::Duplicate(kind)` and store
    /// nothing if any of its email addresses, phone numbers or its username
    /// belongs to another user, and with `ExternalAccountTaken` if one of its
    /// external accounts is linked to another user (`update` likewise).
    ///
    /// Every write that takes `events` stores them (with their webhook
    /// messages, as [`WebhookStore`](super::WebhookStore) describes) in the
    /// same transaction, if and only if the change itself is stored.
    async fn insert(&self, user: &User, events: &[NewEvent]) -> Result<(), StoreError>;

    async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Finds the user an identifier names. Phone numbers reserved for the second
    /// factor MUST NOT match.
    async fn find_by_identifier(&self, identifier: &Identifier)
    -> Result<Option<User>, StoreError>;

    /// The user an account at `provider` with this subject is linked to.
    async fn find_by_external_account(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<User>, StoreError>;

    /// The user holding the email address or phone number record with this id.
    async fn find_by_identification_id(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Replaces the stored user with `user`, identifications, backup codes and
    /// external accounts included,
    /// atomically, if and only if the stored `updated_at` is still
    /// `expected_updated_at` (a compare-and-set: callers make every write's
    /// `updated_at` later than the one it replaces). MUST fail, changing
    /// nothing, with `Conflict` when another write came first, `Duplicate` on a
    /// taken identifier, and `NotFound` if the user does not exist.
    async fn update(
        &self,
        user: &User,
        expected_updated_at: Timestamp,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;

    /// Takes one of the attempts `id` has left before a factor is checked,
    /// atomically. An id is a user's (the record is kept in the user's row)
    /// or any other, such as a stand-in's of enumeration protection (the
    /// record is kept on its own, made by the first take): both follow the
    /// same rule, with the same numbers.
    ///
    /// The record holds the failures of the current window, the checks in
    /// flight, when the window ends and the lock. Unless locked at `now`:
    /// if the window has ended (or none is open) a new one of length
    /// `window` opens at `now` with no failures and this one check in
    /// flight, and the attempt is `Granted`; else if failures plus checks
    /// in flight are fewer than `max_attempts`, one more check is in flight
    /// and the attempt is `Granted`; else `Exhausted`. So of any number of
    /// concurrent attempts on any replica, at most `max_attempts` are
    /// checked before a lock.
    async fn take_attempt(
        &self,
        id: &UserId,
        now: Timestamp,
        max_attempts: u32,
        window: Duration,
    ) -> Result<AttemptSlot, StoreError>;

    /// Settles an attempt [`take_attempt`](Self::take_attempt) granted,
    /// atomically: the check is no longer in flight; a failure is counted,
    /// and the one that brings the window's failures to `max_attempts`
    /// locks `id` until `now + lock_for` and clears the record (failures,
    /// checks in flight, window). Nothing changes while `id` is locked.
    /// Returns the lock in force afterwards, if any. MUST fail with
    /// `NotFound` for an id that has neither a user nor a record.
    async fn settle_attempt(
        &self,
        id: &UserId,
        failed: bool,
        now: Timestamp,
        max_attempts: u32,
        lock_for: Duration,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// The lock on `id`'s attempts in force at `now`, read from its record
    /// when `id` names no user (a user's lock is `User::locked_until`).
    async fn attempt_lock(
        &self,
        id: &UserId,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Drops the attempt records of ids that name no user whose window and
    /// lock both ended before `now`; returns how many.
    async fn purge_attempt_records(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Sets or lifts (`None`) a lock and clears the failure count. MUST fail
    /// with `NotFound` for an unknown user.
    async fn set_lock(
        &self,
        id: &UserId,
        locked_until: Option<Timestamp>,
        events: &[NewEvent],
    ) -> Result<(), StoreError>;

    /// Records that the TOTP code of time step `step` was accepted,
    /// atomically: returns true if and only if no code of this step or a later
    /// one was accepted before, so that each code works once. MUST fail with
    /// `NotFound` for an unknown user.
    async fn use_totp_step(&self, id: &UserId, step: i64) -> Result<bool, StoreError>;

    /// Removes the backup code with this digest, atomically, and moves
    /// `updated_at` past its stored value (to `now`, or one millisecond later
    /// than it was) so that an update read before sees a conflict. Returns
    /// whether the code was there: of racing uses of one code exactly one
    /// gets `true`.
    async fn consume_backup_code(
        &self,
        id: &UserId,
        digest: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Deletes the user, its identifications and its sessions. Returns whether
    /// it existed (and stores `events` only if it did).
    async fn delete(&self, id: &UserId, events: &[NewEvent]) -> Result<bool, StoreError>;

    /// Users matching `query`, newest first, paginated.
    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, StoreError>;

    /// How many users match `query`, ignoring pagination.
    async fn count(&self, query: &UserQuery) -> Result<u64, StoreError>;
}

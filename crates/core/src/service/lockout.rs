//! Lockout: no factor is checked for a locked user, every password or code
//! check takes one of the attempts the user has left and settles it after,
//! and a ban shows only once a factor has passed.
//!
//! One rule for accounts and stand-ins alike (the store keeps the same
//! record for both, see `UserRepository::take_attempt`): failures count in
//! a window of `lockout_duration` that opens with the first check after the
//! last one ended, and are forgotten when it ends; the failure that brings
//! the window's count to `lockout_attempts` locks for `lockout_duration`.
//! A check takes an attempt before it runs, so at most `lockout_attempts`
//! guesses are checked per window, however many race on however many
//! replicas. A check that finds every attempt left held by checks still in
//! flight waits for them to settle rather than being refused: a right
//! password is refused only when the account is locked (or, past a bounded
//! wait, busy).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::LiveSettings;
use crate::error::{Error, StoreError};
use crate::model::{Duration, Timestamp, User};
use crate::ports::{AttemptSlot, Clock, PassedAttempt, UserRepository};

/// How long a check waits, in all, for checks in flight that hold every
/// attempt left, before it is answered as busy.
const WAIT_FOR_SLOT: Duration = Duration(5_000);
/// The first pause between looks; each one after is twice as long, up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration(5);
const LONGEST_PAUSE: Duration = Duration(100);

/// Lockout: no factor is checked for a locked user, and every check takes
/// one of the attempts the user has left.
#[derive(Clone)]
pub(crate) struct Lockout {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: LiveSettings,
}

impl Lockout {
    /// No factor is even evaluated while the user is locked.
    pub(super) fn refuse_if_locked(&self, user: &User) -> Result<(), Error> {
        match user.lockout_at(self.clock.now()) {
            None => Ok(()),
            Some(remaining) => Err(user_locked(remaining)),
        }
    }

    /// [`refuse_if_locked`](Self::refuse_if_locked) for a user who may be a
    /// stand-in (`stand_in`), whose lock is kept in its attempt record, so
    /// that a locked stand-in is refused where a locked account is.
    pub(super) async fn refuse_if_locked_as(
        &self,
        user: &User,
        stand_in: bool,
    ) -> Result<(), Error> {
        if !stand_in || self.settings.current().lockout_attempts == 0 {
            return self.refuse_if_locked(user);
        }
        let now = self.clock.now();
        match self.users.attempt_lock(&user.id, now).await? {
            None => Ok(()),
            Some(until) => Err(locked_until(until, now)),
        }
    }

    /// Checks a factor of `user` on one of the attempts lockout allows:
    /// the attempt is taken before `check` runs and settled after it, so
    /// concurrent guesses on any replica check at most the allowed number,
    /// a wrong password or code counts toward the lock, and anything else
    /// gives the attempt back. While checks in flight hold every attempt
    /// left, this waits for them (up to [`WAIT_FOR_SLOT`]).
    ///
    /// Its outcome is recorded in the audit log as `what` describes it.
    pub(super) async fn guarded<T>(
        &self,
        user: &User,
        what: super::audit::Check,
        check: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let (value, passed) = self.guarded_passing(user, what, check).await?;
        self.settle(passed).await;
        Ok(value)
    }

    /// [`guarded`](Self::guarded) for a check whose pass the caller acts on
    /// in a write that can settle the attempt too: a passed attempt comes
    /// back unsettled (none when lockout is off), and the caller hands it
    /// to that write and then to [`settle`](Self::settle), which settles it
    /// unless the write did. A check that fails is settled here.
    pub(super) async fn guarded_passing<T>(
        &self,
        user: &User,
        what: super::audit::Check,
        check: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<(T, Option<Passed>), Error> {
        let result = self.guarded_unrecorded(user, &what, check).await;
        self.audit
            .checked(user, &what, result.as_ref().map(|_| ()))
            .await;
        result
    }

    /// Settles an attempt that passed, unless the write that acted on it
    /// already did.
    pub(super) async fn settle(&self, passed: Option<Passed>) {
        let Some(passed) = passed.filter(|p| !p.settled.load(Ordering::Acquire)) else {
            return;
        };
        let PassedAttempt {
            user_id,
            max_attempts,
            lock_for,
            ..
        } = passed.attempt;
        let settled = self
            .users
            .settle_attempt(&user_id, false, self.clock.now(), max_attempts, lock_for)
            .await;
        match settled {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(err) => {
                tracing::warn!(user = %user_id, error = %err, "could not settle a factor attempt")
            }
        }
    }

    async fn guarded_unrecorded<T>(
        &self,
        user: &User,
        what: &super::audit::Check,
        check: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<(T, Option<Passed>), Error> {
        let max = self.settings.current().lockout_attempts;
        if max == 0 {
            return Ok((check.await?, None));
        }
        let lock_for = self.settings.current().lockout_duration;
        let mut waited = Duration(0);
        let mut pause = FIRST_PAUSE;
        loop {
            let now = self.clock.now();
            let slot = self
                .users
                .take_attempt(&user.id, now, max, lock_for)
                .await?;
            match slot {
                AttemptSlot::Granted => break,
                AttemptSlot::Locked(until) => return Err(locked_until(until, now)),
                AttemptSlot::Exhausted if waited.0 < WAIT_FOR_SLOT.0 => {
                    self.clock.pause(pause).await;
                    waited = Duration(waited.0 + pause.0);
                    pause = Duration((pause.0 * 2).min(LONGEST_PAUSE.0));
                }
                AttemptSlot::Exhausted => return Err(Error::AccountBusy),
            }
        }
        let result = check.await;
        if let Ok(value) = result {
            return Ok((
                value,
                Some(Passed {
                    attempt: PassedAttempt {
                        user_id: user.id.clone(),
                        at: self.clock.now(),
                        max_attempts: max,
                        lock_for,
                    },
                    settled: AtomicBool::new(false),
                }),
            ));
        }
        let failed = matches!(
            &result,
            Err(Error::PasswordIncorrect | Error::CodeIncorrect)
        );
        let settled = self
            .users
            .settle_attempt(&user.id, failed, self.clock.now(), max, lock_for)
            .await;
        match settled {
            Ok(Some(until)) if failed => {
                crate::metrics::account_locked();
                tracing::info!(user = %user.id, until = until.millis(), "user locked after failed attempts");
                if !what.stand_in {
                    let until = until.millis().to_string();
                    self.audit
                        .record(
                            crate::model::AuditAction::UserLocked,
                            Some(user.id.as_str()),
                            &[("reason", "failed_attempts"), ("until", &until)],
                        )
                        .await;
                }
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(err) => {
                tracing::warn!(user = %user.id, error = %err, "could not settle a factor attempt")
            }
        }
        result.map(|value| (value, None))
    }
}

/// An attempt whose check passed, not yet settled: the write that acts on
/// the pass may settle it with its own changes
/// ([`PassedAttempt`]), and [`Lockout::settle`] settles it otherwise.
#[derive(Debug)]
#[must_use = "an attempt that passed is settled by a write or by `Lockout::settle`"]
pub(crate) struct Passed {
    attempt: PassedAttempt,
    settled: AtomicBool,
}

impl Passed {
    /// What a write settles the attempt with.
    pub(crate) fn attempt(&self) -> PassedAttempt {
        self.attempt.clone()
    }

    /// The write that was given [`attempt`](Self::attempt) has stored it.
    pub(crate) fn settled_by_write(&self) {
        self.settled.store(true, Ordering::Release);
    }
}

/// The account is locked until `until`, as seen at `now`.
fn locked_until(until: Timestamp, now: Timestamp) -> Error {
    user_locked((until != Timestamp::FOREVER).then(|| until.since(now)))
}

/// A banned user is told so only once a factor has passed: until then a
/// banned account answers as any other does.
pub(crate) fn refuse_if_banned(user: &User) -> Result<(), Error> {
    if user.banned {
        return Err(Error::UserBanned);
    }
    Ok(())
}

/// The account is locked, with the seconds left (none for a lock without end).
pub(crate) fn user_locked(remaining: Option<crate::model::Duration>) -> Error {
    crate::metrics::locked_out();
    Error::UserLocked {
        expires_in_secs: remaining.map(|d| (d.0 + 999) / 1000),
    }
}

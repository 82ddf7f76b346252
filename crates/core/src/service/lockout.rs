//! Lockout: no factor is checked for a locked user, every password or code
//! check takes one of the attempts the user has left and settles it after,
//! and a ban shows only once a factor has passed.

use std::sync::Arc;

use super::Phantoms;
use crate::error::{Error, StoreError};
use crate::model::{InstanceSettings, User};
use crate::ports::{AttemptSlot, Clock, UserRepository};

/// Lockout: no factor is checked for a locked user, and every check takes
/// one of the attempts the user has left.
#[derive(Clone)]
pub(crate) struct Lockout {
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Arc<InstanceSettings>,
    pub(super) phantoms: Phantoms,
}

impl Lockout {
    /// No factor is even evaluated while the user is locked.
    pub(super) fn refuse_if_locked(&self, user: &User) -> Result<(), Error> {
        match user.lockout_at(self.clock.now()) {
            None => Ok(()),
            Some(remaining) => Err(user_locked(remaining)),
        }
    }

    /// Checks a factor of `user` on one of the attempts lockout allows:
    /// the attempt is taken before `check` runs and settled after it, so
    /// concurrent guesses on any replica check at most the allowed number,
    /// a wrong password or code counts toward the lock, and anything else
    /// gives the attempt back.
    pub(super) async fn guarded<T>(
        &self,
        user: &User,
        check: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let max = self.settings.lockout_attempts;
        if max == 0 {
            return check.await;
        }
        let now = self.clock.now();
        let taken = match self.users.take_attempt(&user.id, now, max).await {
            // A stand-in has no account row (the store still did the work,
            // so its check costs what a real one does): it locks like one,
            // on a counter.
            Err(StoreError::NotFound) => self.phantoms.phantom_attempt(user, max, now).await?,
            other => other?,
        };
        match taken {
            AttemptSlot::Granted => {}
            AttemptSlot::Locked(until) => return Err(user_locked(Some(until.since(now)))),
            AttemptSlot::Exhausted => {
                return Err(Error::AccountBusy);
            }
        }
        let result = check.await;
        let failed = matches!(
            &result,
            Err(Error::PasswordIncorrect | Error::CodeIncorrect)
        );
        let settled = self
            .users
            .settle_attempt(
                &user.id,
                failed,
                self.clock.now(),
                max,
                self.settings.lockout_duration,
            )
            .await;
        match settled {
            Ok(Some(until)) if failed => {
                tracing::info!(user = %user.id, until = until.millis(), "user locked after failed attempts")
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(err) => {
                tracing::warn!(user = %user.id, error = %err, "could not settle a factor attempt")
            }
        }
        result
    }
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
    Error::UserLocked {
        expires_in_secs: remaining.map(|d| (d.0 + 999) / 1000),
    }
}

//! The sign-in state machine.
//!
//! `needs_identifier -> needs_first_factor -> (needs_second_factor) -> complete`,
//! or `abandoned` once its lifetime passes. Transitions are methods that check
//! the current state and either move to the next one or return a typed error.
//!
//! The parts: [`strategy`] names the ways to pass a factor, [`verification`]
//! holds a factor's state and the code-attempt transitions, [`oauth`] the
//! OAuth flow records and their transitions, [`factors`] the policy of which
//! factors are offered.

mod factors;
#[cfg(test)]
mod fixtures;
mod oauth;
mod strategy;
mod verification;

use serde::{Deserialize, Serialize};

pub use factors::{
    Factor, ShownUser, identifier_only, identifies, offered_user, shown_user,
    supported_first_factors, supported_identifiers, supported_second_factors,
};
pub(crate) use oauth::OAuthParts;
pub use oauth::{OAuthClaim, OAuthFlow, OAuthStateError, ProviderAccount, SealedTokens};
pub use strategy::Strategy;
pub use verification::{
    CodeAttempt, SentCode, Verification, VerificationError, VerificationStatus,
};

use super::{ClientId, InstanceSettings, SessionId, SignInId, Timestamp, User, UserId};
use crate::error::{Error, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInStatus {
    NeedsIdentifier,
    NeedsFirstFactor,
    NeedsSecondFactor,
    NeedsNewPassword,
    Complete,
    Abandoned,
}

impl SignInStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeedsIdentifier => "needs_identifier",
            Self::NeedsFirstFactor => "needs_first_factor",
            Self::NeedsSecondFactor => "needs_second_factor",
            Self::NeedsNewPassword => "needs_new_password",
            Self::Complete => "complete",
            Self::Abandoned => "abandoned",
        }
    }
}

/// A sign-in attempt on one client. Its state changes only through the
/// transition methods, each of which checks the current state first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub id: SignInId,
    pub client_id: ClientId,
    status: SignInStatus,
    /// The identifier as the user gave it, normalised.
    identifier: Option<String>,
    user_id: Option<UserId>,
    first_factor_verification: Option<Verification>,
    second_factor_verification: Option<Verification>,
    first_factor_verified_at: Option<Timestamp>,
    second_factor_verified_at: Option<Timestamp>,
    /// Set when the first factor passes for a user with two-factor on.
    second_factor_required: bool,
    /// Set when a reset code passed, until the new password is set.
    #[serde(default)]
    awaiting_new_password: bool,
    /// An OAuth redirect waiting for its callback.
    #[serde(default)]
    oauth: Option<OAuthFlow>,
    /// An OAuth callback waiting for its client to claim it.
    #[serde(default)]
    oauth_claim: Option<OAuthClaim>,
    /// The provider account an OAuth factor found no user for, waiting for
    /// a sign-up to take it over.
    #[serde(default)]
    transfer: Option<ProviderAccount>,
    /// Identified by an identifier that names no account, under enumeration
    /// protection: it looks like any other and can never pass a factor.
    #[serde(default)]
    phantom: bool,
    created_session_id: Option<SessionId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub abandon_at: Timestamp,
    /// Bumped by every stored change; the flow store compares it.
    version: u64,
}

/// Which of a sign-in's two factors a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorSlot {
    First,
    Second,
}

/// What passing a first factor leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFirstFactor {
    NeedsSecondFactor,
    ReadyToComplete,
}

impl SignIn {
    /// A fresh sign-in that waits for an identifier.
    pub fn new(
        id: SignInId,
        client_id: ClientId,
        now: Timestamp,
        settings: &InstanceSettings,
    ) -> Self {
        Self {
            id,
            client_id,
            status: SignInStatus::NeedsIdentifier,
            identifier: None,
            user_id: None,
            first_factor_verification: None,
            second_factor_verification: None,
            first_factor_verified_at: None,
            second_factor_verified_at: None,
            second_factor_required: false,
            awaiting_new_password: false,
            oauth: None,
            oauth_claim: None,
            transfer: None,
            phantom: false,
            created_session_id: None,
            created_at: now,
            updated_at: now,
            abandon_at: now.plus(settings.sign_in_lifetime),
            version: 0,
        }
    }

    pub fn identifier(&self) -> Option<&str> {
        self.identifier.as_deref()
    }
    pub fn user_id(&self) -> Option<&UserId> {
        self.user_id.as_ref()
    }
    pub fn first_factor_verification(&self) -> Option<&Verification> {
        self.first_factor_verification.as_ref()
    }
    pub fn second_factor_verification(&self) -> Option<&Verification> {
        self.second_factor_verification.as_ref()
    }
    pub fn first_factor_verified_at(&self) -> Option<Timestamp> {
        self.first_factor_verified_at
    }
    pub fn second_factor_verified_at(&self) -> Option<Timestamp> {
        self.second_factor_verified_at
    }
    pub fn created_session_id(&self) -> Option<&SessionId> {
        self.created_session_id.as_ref()
    }
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Takes the version of a copy read later, to write this state back over it.
    pub fn set_version(&mut self, version: u64) {
        self.version = version;
    }

    /// Marks a change about to be stored; returns the version the store must
    /// still hold for the change to apply.
    pub fn next_version(&mut self) -> u64 {
        let expected = self.version;
        self.version += 1;
        expected
    }

    /// The status at `now`: an unfinished sign-in past its lifetime is abandoned.
    pub fn status_at(&self, now: Timestamp) -> SignInStatus {
        if self.status != SignInStatus::Complete && now >= self.abandon_at {
            SignInStatus::Abandoned
        } else {
            self.status
        }
    }

    /// Names the user this sign-in is for.
    pub fn identify(
        &mut self,
        identifier: String,
        user: &User,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_status(
            now,
            &[
                SignInStatus::NeedsIdentifier,
                SignInStatus::NeedsFirstFactor,
            ],
        )?;
        self.identifier = Some(identifier);
        self.user_id = Some(user.id.clone());
        self.phantom = false;
        self.first_factor_verification = None;
        self.status = SignInStatus::NeedsFirstFactor;
        self.updated_at = now;
        Ok(())
    }

    /// Names an identifier that has no account, for a sign-in that must look
    /// like a real one: `user` is the stand-in shown in its place.
    pub fn identify_phantom(
        &mut self,
        identifier: String,
        user: &User,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.identify(identifier, user, now)?;
        self.phantom = true;
        Ok(())
    }

    /// Whether the identifier names no account (see [`Self::identify_phantom`]).
    pub fn is_phantom(&self) -> bool {
        self.phantom
    }

    /// Checks that a first-factor step may happen now and returns the user it is for.
    pub fn ready_for_first_factor(&self, now: Timestamp) -> Result<&UserId, Error> {
        self.expect_status(now, &[SignInStatus::NeedsFirstFactor])?;
        self.user_id
            .as_ref()
            .ok_or_else(|| Error::internal("identified sign-in without user"))
    }

    /// Checks that a second-factor step may happen now and returns the user it is for.
    pub fn ready_for_second_factor(&self, now: Timestamp) -> Result<&UserId, Error> {
        self.expect_status(now, &[SignInStatus::NeedsSecondFactor])?;
        self.user_id
            .as_ref()
            .ok_or_else(|| Error::internal("identified sign-in without user"))
    }

    /// Checks that a step for `slot` may happen now and returns the user it is for.
    pub fn ready_for(&self, slot: FactorSlot, now: Timestamp) -> Result<&UserId, Error> {
        match slot {
            FactorSlot::First => self.ready_for_first_factor(now),
            FactorSlot::Second => self.ready_for_second_factor(now),
        }
    }

    /// The verification of `slot`, if any step was taken for it.
    pub fn verification(&self, slot: FactorSlot) -> Option<&Verification> {
        match slot {
            FactorSlot::First => self.first_factor_verification.as_ref(),
            FactorSlot::Second => self.second_factor_verification.as_ref(),
        }
    }

    fn verification_slot(&mut self, slot: FactorSlot) -> &mut Option<Verification> {
        match slot {
            FactorSlot::First => &mut self.first_factor_verification,
            FactorSlot::Second => &mut self.second_factor_verification,
        }
    }

    /// Records a passed first factor; the sign-in then needs a second factor or
    /// is ready to complete.
    pub fn first_factor_passed(
        &mut self,
        strategy: Strategy,
        needs_second_factor: bool,
        now: Timestamp,
    ) -> Result<AfterFirstFactor, Error> {
        self.ready_for_first_factor(now)?;
        if self.phantom {
            // Unreachable by design (no factor of a stand-in can match);
            // kept so that no path can ever sign one in.
            return Err(Error::internal("a phantom sign-in cannot pass a factor"));
        }
        self.mark_verified(FactorSlot::First, strategy);
        self.first_factor_verified_at = Some(now);
        Ok(self.after_first_factor(needs_second_factor, now))
    }

    /// Where a sign-in goes once its first factor (or a reset's new
    /// password) is done: on to the second factor, or ready to complete.
    fn after_first_factor(
        &mut self,
        needs_second_factor: bool,
        now: Timestamp,
    ) -> AfterFirstFactor {
        self.second_factor_required = needs_second_factor;
        self.updated_at = now;
        if needs_second_factor {
            self.status = SignInStatus::NeedsSecondFactor;
            AfterFirstFactor::NeedsSecondFactor
        } else {
            AfterFirstFactor::ReadyToComplete
        }
    }

    /// A reset code passed: the sign-in now needs a new password.
    pub fn reset_code_passed(&mut self, strategy: Strategy, now: Timestamp) -> Result<(), Error> {
        self.first_factor_passed(strategy, false, now)?;
        self.status = SignInStatus::NeedsNewPassword;
        self.awaiting_new_password = true;
        Ok(())
    }

    /// Checks that a new password may be set now and returns the user it is for.
    pub fn ready_for_new_password(&self, now: Timestamp) -> Result<&UserId, Error> {
        self.expect_status(now, &[SignInStatus::NeedsNewPassword])?;
        if !self.awaiting_new_password {
            return Err(Error::invalid("password", Problem::NewPasswordAlreadySet));
        }
        self.user_id
            .as_ref()
            .ok_or_else(|| Error::internal("identified sign-in without user"))
    }

    /// The new password is stored: the sign-in needs the second factor or is
    /// ready to complete.
    pub fn new_password_set(
        &mut self,
        needs_second_factor: bool,
        now: Timestamp,
    ) -> Result<AfterFirstFactor, Error> {
        self.ready_for_new_password(now)?;
        self.awaiting_new_password = false;
        Ok(self.after_first_factor(needs_second_factor, now))
    }

    /// Records a passed second factor; the sign-in is then ready to complete.
    pub fn second_factor_passed(
        &mut self,
        strategy: Strategy,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ready_for_second_factor(now)?;
        self.mark_verified(FactorSlot::Second, strategy);
        self.second_factor_verified_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// Whether every required factor has passed and no session exists yet.
    pub fn is_ready_to_complete(&self, now: Timestamp) -> bool {
        let verified =
            |v: Option<&Verification>| v.is_some_and(|v| v.status == VerificationStatus::Verified);
        let status = self.status_at(now);
        let first = verified(self.first_factor_verification.as_ref());
        let second =
            !self.second_factor_required || verified(self.second_factor_verification.as_ref());
        matches!(
            status,
            SignInStatus::NeedsFirstFactor
                | SignInStatus::NeedsSecondFactor
                | SignInStatus::NeedsNewPassword
        ) && first
            && second
            && !self.awaiting_new_password
    }

    /// Marks the sign-in complete with the session it creates.
    pub fn complete(&mut self, session_id: SessionId, now: Timestamp) -> Result<(), Error> {
        if !self.is_ready_to_complete(now) {
            return Err(self
                .expect_status(now, &[])
                .err()
                .unwrap_or_else(|| Error::internal("sign-in not ready")));
        }
        self.status = SignInStatus::Complete;
        self.created_session_id = Some(session_id);
        self.updated_at = now;
        Ok(())
    }

    fn expect_status(&self, now: Timestamp, allowed: &[SignInStatus]) -> Result<(), Error> {
        let status = self.status_at(now);
        if allowed.contains(&status) {
            return Ok(());
        }
        Err(match status {
            SignInStatus::Abandoned => Error::SignInAbandoned,
            SignInStatus::NeedsIdentifier => Error::param_nil("identifier"),
            status => Error::StepNotAllowed { status },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Duration;
    use crate::model::sign_in::fixtures::{sign_in, user};

    #[test]
    fn happy_path_without_second_factor() {
        let mut s = sign_in(0);
        assert_eq!(s.status_at(Timestamp(0)), SignInStatus::NeedsIdentifier);
        assert_eq!(
            s.ready_for_first_factor(Timestamp(1)).unwrap_err(),
            Error::param_nil("identifier")
        );
        s.identify("alice@example.com".into(), &user(), Timestamp(1))
            .unwrap();
        assert_eq!(s.status_at(Timestamp(1)), SignInStatus::NeedsFirstFactor);
        assert_eq!(
            s.ready_for_first_factor(Timestamp(2)).unwrap().as_str(),
            "user_1"
        );
        assert!(
            s.complete(SessionId("sess_0".into()), Timestamp(2))
                .is_err(),
            "no factor passed yet"
        );
        s.factor_failed(FactorSlot::First, Strategy::Password, Timestamp(2))
            .unwrap();
        assert_eq!(s.first_factor_verification().unwrap().attempts, 1);
        let next = s
            .first_factor_passed(Strategy::Password, false, Timestamp(3))
            .unwrap();
        assert_eq!(next, AfterFirstFactor::ReadyToComplete);
        let v = s.first_factor_verification().unwrap();
        assert_eq!((v.status, v.attempts), (VerificationStatus::Verified, 2));
        s.complete(SessionId("sess_1".into()), Timestamp(4))
            .unwrap();
        assert!(
            s.complete(SessionId("sess_2".into()), Timestamp(5))
                .is_err(),
            "a sign-in completes once"
        );
        assert!(
            s.first_factor_passed(Strategy::Password, false, Timestamp(5))
                .is_err()
        );
        assert_eq!(s.status_at(Timestamp(i64::MAX)), SignInStatus::Complete);
        assert!(s.ready_for_first_factor(Timestamp(5)).is_err());
    }

    #[test]
    fn second_factor_is_required_when_the_user_has_one() {
        let mut s = sign_in(0);
        s.identify("alice".into(), &user(), Timestamp(1)).unwrap();
        let next = s
            .first_factor_passed(Strategy::Password, true, Timestamp(2))
            .unwrap();
        assert_eq!(next, AfterFirstFactor::NeedsSecondFactor);
        assert_eq!(s.status_at(Timestamp(2)), SignInStatus::NeedsSecondFactor);
        assert!(s.ready_for_first_factor(Timestamp(2)).is_err());
        assert!(!s.is_ready_to_complete(Timestamp(2)));
        assert!(
            s.complete(SessionId("sess_1".into()), Timestamp(2))
                .is_err(),
            "no session before the second factor"
        );
        s.second_factor_passed(Strategy::Totp, Timestamp(3))
            .unwrap();
        assert!(s.is_ready_to_complete(Timestamp(3)));
        s.complete(SessionId("sess_1".into()), Timestamp(3))
            .unwrap();
        assert_eq!(s.status_at(Timestamp(3)), SignInStatus::Complete);
        assert_eq!(s.second_factor_verified_at(), Some(Timestamp(3)));
    }

    #[test]
    fn a_reset_needs_its_code_then_a_new_password_before_completing() {
        let mut s = sign_in(0);
        s.identify("alice".into(), &user(), Timestamp(1)).unwrap();
        assert!(
            s.ready_for_new_password(Timestamp(1)).is_err(),
            "no code passed yet"
        );
        s.reset_code_passed(Strategy::ResetPasswordEmailCode, Timestamp(2))
            .unwrap();
        assert_eq!(s.status_at(Timestamp(2)), SignInStatus::NeedsNewPassword);
        assert!(
            !s.is_ready_to_complete(Timestamp(2)),
            "not before the new password"
        );
        assert!(
            s.complete(SessionId("sess_1".into()), Timestamp(2))
                .is_err()
        );
        assert_eq!(
            s.new_password_set(false, Timestamp(3)).unwrap(),
            AfterFirstFactor::ReadyToComplete
        );
        assert!(s.new_password_set(false, Timestamp(3)).is_err(), "set once");
        s.complete(SessionId("sess_1".into()), Timestamp(4))
            .unwrap();
        assert_eq!(s.status_at(Timestamp(4)), SignInStatus::Complete);
        // With two-factor on, the second factor comes next.
        let mut t = sign_in(0);
        t.identify("alice".into(), &user(), Timestamp(1)).unwrap();
        t.reset_code_passed(Strategy::ResetPasswordPhoneCode, Timestamp(2))
            .unwrap();
        assert_eq!(
            t.new_password_set(true, Timestamp(3)).unwrap(),
            AfterFirstFactor::NeedsSecondFactor
        );
        assert_eq!(t.status_at(Timestamp(3)), SignInStatus::NeedsSecondFactor);
        assert!(!t.is_ready_to_complete(Timestamp(3)));
    }

    #[test]
    fn every_stored_change_bumps_the_version() {
        let mut s = sign_in(0);
        assert_eq!(s.version(), 0);
        assert_eq!(s.next_version(), 0);
        assert_eq!(s.next_version(), 1);
        assert_eq!(s.version(), 2);
    }

    #[test]
    fn unfinished_sign_ins_are_abandoned() {
        let mut s = sign_in(0);
        let later = Timestamp(0).plus(Duration::days(1));
        assert_eq!(s.status_at(later), SignInStatus::Abandoned);
        let err = s.identify("alice".into(), &user(), later).unwrap_err();
        assert_eq!(err, Error::SignInAbandoned);
    }
}

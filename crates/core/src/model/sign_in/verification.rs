//! Verifications: one factor's status, attempt count and sent code, and the
//! sign-in transitions that send codes and count attempts.

use serde::{Deserialize, Serialize};

use super::{FactorSlot, SignIn, Strategy};
use crate::error::{Error, Problem};
use crate::model::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationStatus {
    Unverified,
    Verified,
    Failed,
    Expired,
    Transferable,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Verified => "verified",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Transferable => "transferable",
        }
    }
}

/// One factor of a sign-in: its strategy, status and attempt count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub strategy: Strategy,
    pub status: VerificationStatus,
    pub attempts: u32,
    pub expire_at: Option<Timestamp>,
    /// The one-time code sent for this verification, while it is usable.
    #[serde(default)]
    pub code: Option<SentCode>,
    /// OAuth: the provider URL the user must visit, until the callback.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Why the verification failed or cannot go on, as shown to the client.
    #[serde(default)]
    pub error: Option<VerificationError>,
}

/// Why a verification failed or cannot go on (Clerk shows it as
/// `verification.error`): a domain error, turned into wire text by the API.
pub type VerificationError = Error;

/// A one-time code that was sent: only its digest is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentCode {
    /// SHA-256 of the sign-in id and the code, hex.
    pub digest: String,
    /// The email address or phone number record it went to.
    pub target_id: String,
    pub sent_at: Timestamp,
}

/// What a code attempt may go on to compare, once counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAttempt {
    /// Compare against this digest.
    Check(String),
    /// The code's lifetime is over; the verification is now `expired`.
    Expired,
    /// Too many wrong codes; the verification is `failed` until prepared again.
    Failed,
}

impl Verification {
    /// A code was sent: a fresh verification waiting for it, with no
    /// attempts yet.
    pub fn code_sent(strategy: Strategy, code: SentCode, expire_at: Timestamp) -> Self {
        Self {
            strategy,
            status: VerificationStatus::Unverified,
            attempts: 0,
            expire_at: Some(expire_at),
            code: Some(code),
            external_url: None,
            error: None,
        }
    }

    /// Counts a code attempt before it is compared, so that no attempt goes
    /// uncounted: past `max_attempts` the code is burned, and past its
    /// lifetime it is expired. `None` when no code is waiting.
    pub fn count_code_attempt(&mut self, max_attempts: u32, now: Timestamp) -> Option<CodeAttempt> {
        match self.status {
            VerificationStatus::Failed => return Some(CodeAttempt::Failed),
            VerificationStatus::Expired => return Some(CodeAttempt::Expired),
            _ => {}
        }
        let code = self.code.clone()?;
        Some(if self.expire_at.is_some_and(|at| now >= at) {
            self.status = VerificationStatus::Expired;
            self.code = None;
            CodeAttempt::Expired
        } else {
            self.attempts = self.attempts.saturating_add(1);
            if self.attempts > max_attempts {
                self.status = VerificationStatus::Failed;
                self.code = None;
                CodeAttempt::Failed
            } else {
                if self.attempts == max_attempts {
                    // This is the last try: whatever its outcome, the code is spent.
                    self.code = None;
                    self.status = VerificationStatus::Failed;
                }
                CodeAttempt::Check(code.digest)
            }
        })
    }

    /// The code compared equal: verified, keeping its count and expiry.
    pub fn code_passed(&mut self) {
        self.status = VerificationStatus::Verified;
        self.code = None;
        self.error = None;
    }
}

impl SignIn {
    /// A code was sent for `slot`: any earlier code is replaced and the
    /// attempt count starts again.
    pub fn code_sent(
        &mut self,
        slot: FactorSlot,
        strategy: Strategy,
        code: SentCode,
        expire_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ready_for(slot, now)?;
        *self.verification_slot(slot) = Some(Verification::code_sent(strategy, code, expire_at));
        self.updated_at = now;
        Ok(())
    }

    /// Counts a code attempt before it is compared, so that no attempt goes
    /// uncounted: past `max_attempts` the code is burned. Errors when no code
    /// was prepared for `strategy`.
    pub fn count_code_attempt(
        &mut self,
        slot: FactorSlot,
        strategy: &Strategy,
        max_attempts: u32,
        now: Timestamp,
    ) -> Result<CodeAttempt, Error> {
        self.ready_for(slot, now)?;
        let not_prepared = || Error::invalid("strategy", Problem::NotPrepared(strategy.clone()));
        let v = self
            .verification_slot(slot)
            .as_mut()
            .filter(|v| &v.strategy == strategy)
            .ok_or_else(not_prepared)?;
        let outcome = v
            .count_code_attempt(max_attempts, now)
            .ok_or_else(not_prepared)?;
        self.updated_at = now;
        Ok(outcome)
    }

    /// Records a failed attempt at `slot` (a password, TOTP or backup code;
    /// code attempts are counted by [`count_code_attempt`](Self::count_code_attempt)).
    pub fn factor_failed(
        &mut self,
        slot: FactorSlot,
        strategy: Strategy,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ready_for(slot, now)?;
        let attempts = attempts_after(self.verification(slot), &strategy);
        *self.verification_slot(slot) = Some(Verification {
            strategy,
            status: VerificationStatus::Unverified,
            attempts,
            expire_at: None,
            code: None,
            external_url: None,
            error: None,
        });
        self.updated_at = now;
        Ok(())
    }

    /// Reserves one attempt at `strategy` for `slot` before it is evaluated
    /// (for TOTP and backup codes; one-time codes have
    /// [`count_code_attempt`](Self::count_code_attempt)). Returns false, and
    /// changes nothing, when `max_attempts` were already made: the sign-in
    /// must start again.
    pub fn reserve_attempt(
        &mut self,
        slot: FactorSlot,
        strategy: &Strategy,
        max_attempts: u32,
        now: Timestamp,
    ) -> Result<bool, Error> {
        self.ready_for(slot, now)?;
        // TOTP and backup codes share one count, so switching between them
        // does not start it again.
        let made = match self.verification(slot) {
            Some(v) if matches!(v.strategy, Strategy::Totp | Strategy::BackupCode) => v.attempts,
            _ => 0,
        };
        if made >= max_attempts {
            return Ok(false);
        }
        *self.verification_slot(slot) = Some(Verification {
            strategy: strategy.clone(),
            status: VerificationStatus::Unverified,
            attempts: made + 1,
            expire_at: None,
            code: None,
            external_url: None,
            error: None,
        });
        self.updated_at = now;
        Ok(true)
    }

    /// Marks `slot` verified by `strategy`, keeping the count of an attempt
    /// that was counted before it was evaluated.
    pub(super) fn mark_verified(&mut self, slot: FactorSlot, strategy: Strategy) {
        let reserved = matches!(strategy, Strategy::Totp | Strategy::BackupCode);
        let (attempts, expire_at) = match self.verification(slot) {
            // A code attempt was counted before it was compared, as is a TOTP
            // or backup code attempt; anything else is counted here.
            Some(v) if v.strategy == strategy && v.expire_at.is_some() => (v.attempts, v.expire_at),
            Some(v) if v.strategy == strategy && reserved && v.attempts > 0 => (v.attempts, None),
            previous => (attempts_after(previous, &strategy), None),
        };
        *self.verification_slot(slot) = Some(Verification {
            strategy,
            status: VerificationStatus::Verified,
            attempts,
            expire_at,
            code: None,
            external_url: None,
            error: None,
        });
    }
}

/// The attempt count after one more attempt at `strategy`.
fn attempts_after(previous: Option<&Verification>, strategy: &Strategy) -> u32 {
    match previous {
        Some(v) if &v.strategy == strategy => v.attempts.saturating_add(1),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sign_in::fixtures::{sign_in, user};

    #[test]
    fn codes_expire_are_counted_before_comparing_and_burn_at_the_limit() {
        let mut s = sign_in(0);
        s.identify("alice@example.com".into(), &user(), Timestamp(1))
            .unwrap();
        let sent = |at: i64| SentCode {
            digest: "d".into(),
            target_id: "idn_1".into(),
            sent_at: Timestamp(at),
        };
        assert!(
            s.count_code_attempt(FactorSlot::First, &Strategy::EmailCode, 3, Timestamp(2))
                .is_err(),
            "nothing prepared"
        );
        s.code_sent(
            FactorSlot::First,
            Strategy::EmailCode,
            sent(2),
            Timestamp(600_002),
            Timestamp(2),
        )
        .unwrap();
        for attempt in 1..=2 {
            assert_eq!(
                s.count_code_attempt(FactorSlot::First, &Strategy::EmailCode, 3, Timestamp(10))
                    .unwrap(),
                CodeAttempt::Check("d".into())
            );
            assert_eq!(s.first_factor_verification().unwrap().attempts, attempt);
        }
        // The third try may still be compared, but it spends the code.
        assert_eq!(
            s.count_code_attempt(FactorSlot::First, &Strategy::EmailCode, 3, Timestamp(10))
                .unwrap(),
            CodeAttempt::Check("d".into())
        );
        assert_eq!(
            s.first_factor_verification().unwrap().status,
            VerificationStatus::Failed
        );
        assert_eq!(
            s.count_code_attempt(FactorSlot::First, &Strategy::EmailCode, 3, Timestamp(10))
                .unwrap(),
            CodeAttempt::Failed
        );
        // Preparing again replaces the code and starts the count again.
        s.code_sent(
            FactorSlot::First,
            Strategy::EmailCode,
            sent(20),
            Timestamp(600_020),
            Timestamp(20),
        )
        .unwrap();
        assert_eq!(s.first_factor_verification().unwrap().attempts, 0);
        assert_eq!(
            s.count_code_attempt(
                FactorSlot::First,
                &Strategy::EmailCode,
                3,
                Timestamp(600_020)
            )
            .unwrap(),
            CodeAttempt::Expired
        );
        assert_eq!(
            s.first_factor_verification().unwrap().status,
            VerificationStatus::Expired
        );
        // A passed code keeps its count.
        s.code_sent(
            FactorSlot::First,
            Strategy::EmailCode,
            sent(30),
            Timestamp(600_030),
            Timestamp(30),
        )
        .unwrap();
        s.count_code_attempt(FactorSlot::First, &Strategy::EmailCode, 3, Timestamp(31))
            .unwrap();
        s.first_factor_passed(Strategy::EmailCode, false, Timestamp(32))
            .unwrap();
        let v = s.first_factor_verification().unwrap();
        assert_eq!(
            (v.status, v.attempts, v.code.is_none()),
            (VerificationStatus::Verified, 1, true)
        );
    }

    #[test]
    fn second_factor_codes_count_like_first_factor_codes() {
        let mut s = sign_in(1);
        s.identify("alice@example.com".into(), &user(), Timestamp(1))
            .unwrap();
        s.first_factor_passed(Strategy::Password, true, Timestamp(2))
            .unwrap();
        // No code was prepared for the second factor yet.
        assert!(
            s.count_code_attempt(FactorSlot::Second, &Strategy::PhoneCode, 3, Timestamp(3))
                .is_err()
        );
        // A first-factor step is out of order now.
        assert!(
            s.code_sent(
                FactorSlot::First,
                Strategy::EmailCode,
                SentCode {
                    digest: "d".into(),
                    target_id: "idn_1".into(),
                    sent_at: Timestamp(3),
                },
                Timestamp(600_003),
                Timestamp(3),
            )
            .is_err()
        );
        s.code_sent(
            FactorSlot::Second,
            Strategy::PhoneCode,
            SentCode {
                digest: "d".into(),
                target_id: "idn_p2".into(),
                sent_at: Timestamp(3),
            },
            Timestamp(600_003),
            Timestamp(3),
        )
        .unwrap();
        assert_eq!(
            s.count_code_attempt(FactorSlot::Second, &Strategy::PhoneCode, 3, Timestamp(4))
                .unwrap(),
            CodeAttempt::Check("d".into())
        );
        assert!(!s.is_ready_to_complete(Timestamp(4)));
        s.second_factor_passed(Strategy::PhoneCode, Timestamp(5))
            .unwrap();
        let v = s.second_factor_verification().unwrap();
        assert_eq!((v.status, v.attempts), (VerificationStatus::Verified, 1));
        assert!(s.is_ready_to_complete(Timestamp(5)));
        assert_eq!(
            s.first_factor_verification().unwrap().strategy,
            Strategy::Password
        );
    }
}

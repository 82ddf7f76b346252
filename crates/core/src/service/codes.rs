//! One-time codes for either factor: choosing where a code goes, putting it
//! on the outbox, and checking an attempt.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::LiveSettings;
use super::{Clients, Deliveries, RateLimits, hex};
use crate::error::{Error, Problem};
use crate::model::{
    CodeAttempt, Environment, FactorSlot, SentCode, SignIn, Strategy, Timestamp, User,
};
use crate::ports::{Clock, CodeDestination, CodeMessage, CodePurpose, Random};
use crate::secrets::SecretBox;

/// The code a development instance accepts for its test identities.
const TEST_CODE: &str = "424242";

/// One-time codes on a sign-in: where they go, queueing them for delivery
/// (within the per-destination limit), and checking an attempt.
#[derive(Clone)]
pub(crate) struct Codes {
    pub(super) deliveries: Deliveries,
    /// Keys the codes' digests.
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clients: Clients,
    pub(super) rate_limits: RateLimits,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

impl Codes {
    /// Queues a new code for `strategy` to one of the user's addresses and
    /// records its digest on the sign-in's `slot` (in memory; the caller
    /// stores it). The request waits for the queue's insert only, never for
    /// the receiver: the outbox's worker delivers it.
    pub(crate) async fn send_code(
        &self,
        slot: FactorSlot,
        sign_in: &mut SignIn,
        user: &User,
        strategy: Strategy,
        target_id: Option<&str>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let (target_id, destination) = code_target(slot, sign_in, user, &strategy, target_id)?;
        let previous = sign_in
            .verification(slot)
            .filter(|v| v.strategy == strategy)
            .and_then(|v| v.code.as_ref());
        self.refuse_if_recently_sent(previous, now)?;
        let purpose = match strategy {
            Strategy::ResetPasswordEmailCode | Strategy::ResetPasswordPhoneCode => {
                CodePurpose::ResetPassword
            }
            _ => CodePurpose::SignIn,
        };
        // A stand-in's codes reach no one.
        let recipient = if sign_in.is_phantom() {
            Recipient::Nobody
        } else {
            Recipient::Owner
        };
        let code = self.issue(destination, purpose, recipient, now).await?;
        let sent = SentCode {
            digest: code_digest(&self.secrets, sign_in.id.as_str(), &code),
            target_id,
            sent_at: now,
        };
        sign_in.code_sent(
            slot,
            strategy,
            sent,
            now.plus(self.settings.current().code_lifetime),
            now,
        )
    }

    /// A code sent within the resend cool-down of `previous` is refused.
    pub(crate) fn refuse_if_recently_sent(
        &self,
        previous: Option<&SentCode>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(code) = previous {
            let ready_at = code
                .sent_at
                .plus(self.settings.current().code_resend_cooldown);
            if now < ready_at {
                let retry_after_secs =
                    u64::try_from((ready_at.since(now).0 + 999) / 1000).unwrap_or(1);
                return Err(Error::CodeRecentlySent { retry_after_secs });
            }
        }
        Ok(())
    }

    /// Makes a code for `destination` (within its per-destination limit) and
    /// queues what `recipient` is to receive; returns the code, which the
    /// caller records as a digest. A code that was not queued is never
    /// valid: on an error nothing is to be recorded.
    pub(crate) async fn issue(
        &self,
        destination: CodeDestination,
        purpose: CodePurpose,
        recipient: Recipient,
        now: Timestamp,
    ) -> Result<String, Error> {
        self.rate_limits.throttle_destination(&destination).await?;
        let test_identity = self.settings.current().environment == Environment::Development
            && is_test_identity(&destination);
        let code = match recipient {
            // No six digits can match it (not even a test identity's).
            Recipient::Nobody | Recipient::NoticeOnly => {
                let mut secret = [0u8; 32];
                self.random.fill(&mut secret);
                hex(&secret)
            }
            Recipient::Owner if test_identity => TEST_CODE.to_owned(),
            Recipient::Owner => six_digits(&*self.random),
        };
        let message = match recipient {
            Recipient::Nobody => None,
            Recipient::Owner if test_identity => None,
            Recipient::Owner => Some(CodeMessage {
                destination,
                code: code.clone(),
                purpose,
                expires_in_minutes: self.settings.current().code_lifetime.as_secs() / 60,
            }),
            Recipient::NoticeOnly => Some(CodeMessage {
                destination,
                code: String::new(),
                purpose: CodePurpose::SignUpAttemptNotice,
                expires_in_minutes: 0,
            }),
        };
        if let Some(message) = message {
            self.deliveries
                .enqueue_code(&message, now.plus(self.settings.current().code_lifetime))
                .await?;
        }
        Ok(code)
    }

    /// Counts the attempt on `sign_in`, then compares the code in constant
    /// time; no answer leaves before its attempt is stored. `store_pass`
    /// says who stores a code that passes: this check, or a caller that
    /// stores the sign-in in its own write whenever the code passes, before
    /// it answers (one write fewer). Any other answer is stored here first.
    /// A caller's write that loses its race answers as a lost count here
    /// would, so a racing guess learns nothing more from either.
    pub(crate) async fn check_code(
        &self,
        slot: FactorSlot,
        sign_in: &mut SignIn,
        strategy: &Strategy,
        code: Option<String>,
        store_pass: StorePass,
    ) -> Result<(), Error> {
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let now = self.clock.now();
        let unchanged = sign_in.clone();
        let outcome = sign_in.count_code_attempt(
            slot,
            strategy,
            self.settings.current().max_code_attempts,
            now,
        )?;
        let answer = match outcome {
            CodeAttempt::Expired => Err(Error::CodeExpired),
            CodeAttempt::Failed => Err(Error::CodeAttemptsExhausted),
            CodeAttempt::Check(expected) => self.compare(sign_in.id.as_str(), &code, &expected),
        };
        // An attempt on a code already spent or expired changes nothing, so
        // it writes nothing: it must not make a racing attempt that counted
        // before it, with the right code, lose its own write.
        let stored_by_caller = answer.is_ok() && store_pass == StorePass::ByCaller;
        if *sign_in != unchanged && !stored_by_caller {
            self.clients.replace_sign_in(sign_in).await?;
        }
        answer
    }

    /// Compares a code given for the flow `flow_id` with the digest of the
    /// one sent, in constant time.
    pub(crate) fn compare(&self, flow_id: &str, code: &str, expected: &str) -> Result<(), Error> {
        let given = code_digest(&self.secrets, flow_id, code.trim());
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(code_incorrect())
        }
    }
}

/// Where a code check that passes has its attempt stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorePass {
    /// By the check, before it answers.
    Here,
    /// By the caller's write, before it answers.
    ByCaller,
}

/// Who receives what [`Codes::issue`] queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipient {
    /// The owner of the address: the code itself.
    Owner,
    /// No one: a stand-in's code, which nothing can match.
    Nobody,
    /// The owner of an address someone tried to sign up with, which is
    /// already theirs: a notice, and no code (none can match).
    NoticeOnly,
}

/// The code does not match.
pub(crate) fn code_incorrect() -> Error {
    Error::CodeIncorrect
}

/// The address record a code for `strategy` goes to: the one named, or the
/// one the sign-in was identified with, or the primary one. It must be the
/// user's. Phone numbers kept for the second factor take only second-factor
/// codes, and they are the only numbers that do.
fn code_target(
    slot: FactorSlot,
    sign_in: &SignIn,
    user: &User,
    strategy: &Strategy,
    named: Option<&str>,
) -> Result<(String, CodeDestination), Error> {
    let (records, param, primary) = match strategy {
        Strategy::EmailCode | Strategy::ResetPasswordEmailCode => (
            &user.email_addresses,
            "email_address_id",
            user.primary_email_address_id.as_deref(),
        ),
        Strategy::PhoneCode | Strategy::ResetPasswordPhoneCode => (
            &user.phone_numbers,
            "phone_number_id",
            user.primary_phone_number_id.as_deref(),
        ),
        _ => return Err(Error::internal("code strategy")),
    };
    let is_phone = matches!(
        strategy,
        Strategy::PhoneCode | Strategy::ResetPasswordPhoneCode
    );
    let usable = |r: &&crate::model::IdentificationRecord| {
        !is_phone || r.reserved_for_second_factor == (slot == FactorSlot::Second)
    };
    let record = match named.filter(|n| !n.is_empty()) {
        Some(id) => records.iter().filter(usable).find(|r| r.id == id),
        None if slot == FactorSlot::Second && is_phone => user.default_second_factor_phone(),
        None => records
            .iter()
            .filter(usable)
            .find(|r| Some(r.value.as_str()) == sign_in.identifier())
            .or_else(|| {
                records
                    .iter()
                    .filter(usable)
                    .find(|r| Some(r.id.as_str()) == primary)
            })
            .or_else(|| records.iter().find(usable)),
    }
    .ok_or_else(|| Error::invalid(param, Problem::NotAccountAddress))?;
    let destination = match strategy {
        Strategy::EmailCode | Strategy::ResetPasswordEmailCode => {
            CodeDestination::Email(record.value.clone())
        }
        _ => CodeDestination::Sms(record.value.clone()),
    };
    Ok((record.id.clone(), destination))
}

/// Development test identities: emails containing `+clerk_test` and phone
/// numbers `+1 XXX 555 0100` to `0199`.
fn is_test_identity(destination: &CodeDestination) -> bool {
    match destination {
        CodeDestination::Email(address) => address.contains("+clerk_test"),
        CodeDestination::Sms(number) => {
            let digits = number.as_bytes();
            number.len() == 12
                && number.starts_with("+1")
                && &digits[5..8] == b"555"
                && &digits[8..10] == b"01"
        }
    }
}

/// Six decimal digits, each uniform (bytes of 250 and above are redrawn).
fn six_digits(random: &dyn Random) -> String {
    let mut out = String::with_capacity(6);
    let mut bytes = [0u8; 16];
    while out.len() < 6 {
        random.fill(&mut bytes);
        for b in bytes.iter().filter(|b| **b < 250) {
            if out.len() < 6 {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    out
}

/// Codes are kept as a digest of the flow's id (a sign-in's or a sign-up's)
/// and the code keyed with the instance key: six digits under a plain hash
/// fall to anyone who reads the flow store, under a key they do not.
pub(crate) fn code_digest(secrets: &SecretBox, flow_id: &str, code: &str) -> String {
    secrets.digest(CODE_DIGEST_CONTEXT, &format!("{flow_id}:{code}"))
}

/// The context of codes' keyed digests.
const CODE_DIGEST_CONTEXT: &str = "sign-in-code";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FreshRandom;

    #[test]
    fn codes_are_six_uniform_digits() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            let code = six_digits(&FreshRandom);
            assert_eq!(code.len(), 6);
            for c in code.bytes() {
                counts[usize::from(c - b'0')] += 1;
            }
        }
        // 1200 expected per digit.
        assert!(
            counts.iter().all(|n| (1000..1400).contains(n)),
            "{counts:?}"
        );
    }

    #[test]
    fn code_digests_are_keyed_and_bound_to_their_sign_in() {
        use sha2::{Digest, Sha256};
        let sign_in = crate::service::test_support::sign_in_started(crate::model::Timestamp(0));
        let key = SecretBox::new(&[1; 32]);
        let id = sign_in.id.as_str();
        let digest = code_digest(&key, id, "123456");
        assert_eq!(digest, code_digest(&key, id, "123456"));
        // What an offline reader of the flow store could brute-force.
        let plain = hex(&Sha256::digest(format!("{}:123456", sign_in.id).as_bytes()));
        assert_ne!(digest, plain, "not a plain hash");
        assert_ne!(
            digest,
            code_digest(&SecretBox::new(&[2; 32]), id, "123456"),
            "another key makes another digest: it does not verify"
        );
        assert_ne!(digest, code_digest(&key, id, "123457"));
    }

    #[test]
    fn test_identities() {
        assert!(is_test_identity(&CodeDestination::Email(
            "jane+clerk_test@example.com".into()
        )));
        assert!(!is_test_identity(&CodeDestination::Email(
            "jane@example.com".into()
        )));
        assert!(is_test_identity(&CodeDestination::Sms(
            "+12015550100".into()
        )));
        assert!(is_test_identity(&CodeDestination::Sms(
            "+12015550199".into()
        )));
        assert!(!is_test_identity(&CodeDestination::Sms(
            "+12015550200".into()
        )));
        assert!(!is_test_identity(&CodeDestination::Sms(
            "+442015550100".into()
        )));
    }
}

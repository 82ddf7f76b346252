//! The sign-in state machine.
//!
//! `needs_identifier -> needs_first_factor -> (needs_second_factor) -> complete`,
//! or `abandoned` once its lifetime passes. Transitions are methods that check
//! the current state and either move to the next one or return a typed error.

use serde::{Deserialize, Serialize};

use super::{
    ClientId, IdentifierKind, InstanceSettings, SessionId, SignInId, Timestamp, User, UserId,
};
use crate::error::{Error, ErrorCode, ErrorKind};

/// Every sign-in verification strategy Clerk names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    Password,
    EmailCode,
    PhoneCode,
    EmailLink,
    ResetPasswordEmailCode,
    ResetPasswordPhoneCode,
    Passkey,
    Ticket,
    Totp,
    BackupCode,
    /// `oauth_<provider>`, e.g. `oauth_google` or `oauth_custom_acme`.
    OAuth(String),
}

impl Strategy {
    /// Reads a strategy name; `None` when Clerk has no such strategy.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "password" => Self::Password,
            "email_code" => Self::EmailCode,
            "phone_code" => Self::PhoneCode,
            "email_link" => Self::EmailLink,
            "reset_password_email_code" => Self::ResetPasswordEmailCode,
            "reset_password_phone_code" => Self::ResetPasswordPhoneCode,
            "passkey" => Self::Passkey,
            "ticket" => Self::Ticket,
            "totp" => Self::Totp,
            "backup_code" => Self::BackupCode,
            other => {
                let provider = other.strip_prefix("oauth_")?;
                if !Self::is_provider_name(provider) {
                    return None;
                }
                Self::OAuth(provider.to_owned())
            }
        })
    }

    /// The longest OAuth provider name, the part after `oauth_`.
    pub const PROVIDER_NAME_MAX_LEN: usize = 64;

    /// Whether `name` may name an OAuth provider: 1 to 64 lower-case ASCII
    /// letters, digits and `_`.
    pub fn is_provider_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= Self::PROVIDER_NAME_MAX_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    pub fn name(&self) -> String {
        match self {
            Self::OAuth(provider) => format!("oauth_{provider}"),
            other => other.static_name().to_owned(),
        }
    }

    fn static_name(&self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::EmailCode => "email_code",
            Self::PhoneCode => "phone_code",
            Self::EmailLink => "email_link",
            Self::ResetPasswordEmailCode => "reset_password_email_code",
            Self::ResetPasswordPhoneCode => "reset_password_phone_code",
            Self::Passkey => "passkey",
            Self::Ticket => "ticket",
            Self::Totp => "totp",
            Self::BackupCode => "backup_code",
            Self::OAuth(_) => "oauth",
        }
    }

    /// Whether this strategy can pass the first factor.
    pub fn is_first_factor(&self) -> bool {
        !matches!(self, Self::Totp | Self::BackupCode)
    }

    /// Whether this strategy can pass the second factor.
    pub fn is_second_factor(&self) -> bool {
        matches!(
            self,
            Self::PhoneCode | Self::Totp | Self::BackupCode | Self::EmailCode
        )
    }
}

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

/// An error kept on a verification (Clerk shows it as `verification.error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationError {
    pub code: String,
    pub message: String,
    pub long_message: String,
}

/// An OAuth first factor in progress: what the callback needs, kept with
/// the sign-in until one callback uses it or it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthFlow {
    /// SHA-256 (hex) of the secret part of `state`.
    pub state_digest: String,
    pub pkce_verifier: String,
    pub nonce: String,
    /// Where the callback sends the browser.
    pub redirect_url: String,
    /// Where the callback sends the browser once the sign-in is complete.
    pub action_complete_redirect_url: Option<String>,
    pub expire_at: Timestamp,
    /// For browsers that name their client by cookie: the SHA-256 of the
    /// client token that started the flow. The callback must come from a
    /// browser holding it, so that a victim sent to the provider with an
    /// attacker's link cannot sign in on the attacker's client.
    #[serde(default)]
    pub client_binding: Option<String>,
}

/// An OAuth first factor the provider vouched for, in a flow no browser
/// cookie binds: it counts only once the client that started the flow
/// presents the nonce the callback handed to `redirect_url`. So a stranger
/// who sends someone their own authorize link gains nothing: the nonce goes
/// to that person's browser, not to the stranger's client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClaim {
    /// SHA-256 (hex) of the nonce.
    pub nonce_digest: String,
    pub user_id: UserId,
    pub expire_at: Timestamp,
}

/// Why a callback's `state` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthStateError {
    /// No flow waits: never started, already used, or another state.
    Unknown,
    /// The flow's time is over; it is gone now. Carries its redirect URL.
    Expired(String),
}

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

/// A factor the identified user can use, as listed in `supported_*_factors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub strategy: Strategy,
    pub safe_identifier: Option<String>,
    pub email_address_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub primary: Option<bool>,
    /// Second factors: whether this is the one the user gets by default.
    pub default: Option<bool>,
}

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
        *self.verification_slot(slot) = Some(Verification {
            strategy,
            status: VerificationStatus::Unverified,
            attempts: 0,
            expire_at: Some(expire_at),
            code: Some(code),
            external_url: None,
            error: None,
        });
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
        let not_prepared = || {
            Error::param_value_invalid(
                "strategy",
                format!("Prepare the {} verification first.", strategy.name()),
            )
        };
        let v = self
            .verification_slot(slot)
            .as_mut()
            .filter(|v| &v.strategy == strategy)
            .ok_or_else(not_prepared)?;
        match v.status {
            VerificationStatus::Failed => return Ok(CodeAttempt::Failed),
            VerificationStatus::Expired => return Ok(CodeAttempt::Expired),
            _ => {}
        }
        let Some(code) = v.code.clone() else {
            return Err(not_prepared());
        };
        let outcome = if v.expire_at.is_some_and(|at| now >= at) {
            v.status = VerificationStatus::Expired;
            v.code = None;
            CodeAttempt::Expired
        } else {
            v.attempts = v.attempts.saturating_add(1);
            if v.attempts > max_attempts {
                v.status = VerificationStatus::Failed;
                v.code = None;
                CodeAttempt::Failed
            } else {
                if v.attempts == max_attempts {
                    // This is the last try: whatever its outcome, the code is spent.
                    v.code = None;
                    v.status = VerificationStatus::Failed;
                }
                CodeAttempt::Check(code.digest)
            }
        };
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
    fn mark_verified(&mut self, slot: FactorSlot, strategy: Strategy) {
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
        self.second_factor_required = needs_second_factor;
        self.updated_at = now;
        if needs_second_factor {
            self.status = SignInStatus::NeedsSecondFactor;
            Ok(AfterFirstFactor::NeedsSecondFactor)
        } else {
            Ok(AfterFirstFactor::ReadyToComplete)
        }
    }

    /// An OAuth redirect was prepared: the first factor waits for the
    /// provider's callback. A sign-in not yet identified stays so until the
    /// provider names its user.
    pub fn oauth_started(
        &mut self,
        strategy: Strategy,
        flow: OAuthFlow,
        external_url: String,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_status(
            now,
            &[
                SignInStatus::NeedsIdentifier,
                SignInStatus::NeedsFirstFactor,
            ],
        )?;
        self.first_factor_verification = Some(Verification {
            strategy,
            status: VerificationStatus::Unverified,
            attempts: 0,
            expire_at: Some(flow.expire_at),
            code: None,
            external_url: Some(external_url),
            error: None,
        });
        self.oauth = Some(flow);
        self.updated_at = now;
        Ok(())
    }

    /// Takes the waiting OAuth flow if `state_digest` is its state's, in
    /// constant time. Single use: afterwards no flow waits (the caller stores
    /// the sign-in with a compare-and-set, so one of racing callbacks wins).
    pub fn take_oauth_flow(
        &mut self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<OAuthFlow, OAuthStateError> {
        let matches = self.oauth.as_ref().is_some_and(|flow| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                flow.state_digest.as_bytes(),
                state_digest.as_bytes(),
            ))
        });
        if !matches {
            return Err(OAuthStateError::Unknown);
        }
        let flow = self.oauth.take().ok_or(OAuthStateError::Unknown)?;
        self.updated_at = now;
        if now >= flow.expire_at {
            if let Some(v) = self.first_factor_verification.as_mut() {
                v.status = VerificationStatus::Expired;
                v.external_url = None;
            }
            return Err(OAuthStateError::Expired(flow.redirect_url));
        }
        Ok(flow)
    }

    /// The provider vouched for `user`: it is this sign-in's user and its
    /// OAuth first factor passed. Fails, changing nothing, if the sign-in was
    /// identified as another user.
    pub fn oauth_passed(
        &mut self,
        user: &User,
        needs_second_factor: bool,
        now: Timestamp,
    ) -> Result<AfterFirstFactor, Error> {
        if self.user_id.as_ref().is_some_and(|id| *id != user.id) {
            return Err(Error::param_value_invalid(
                "strategy",
                "The account at the provider belongs to another user than this sign-in's.",
            ));
        }
        let strategy = self
            .first_factor_verification
            .as_ref()
            .map(|v| v.strategy.clone())
            .filter(|s| matches!(s, Strategy::OAuth(_)))
            .ok_or_else(|| Error::internal("OAuth callback without an OAuth verification"))?;
        self.expect_status(
            now,
            &[
                SignInStatus::NeedsIdentifier,
                SignInStatus::NeedsFirstFactor,
            ],
        )?;
        self.user_id = Some(user.id.clone());
        self.status = SignInStatus::NeedsFirstFactor;
        self.first_factor_passed(strategy, needs_second_factor, now)
    }

    /// The provider vouched for a user; the client must now claim it with
    /// the nonce whose digest `claim` holds.
    pub fn oauth_awaiting_claim(&mut self, claim: OAuthClaim, now: Timestamp) {
        if let Some(v) = self.first_factor_verification.as_mut() {
            v.external_url = None;
        }
        self.oauth_claim = Some(claim);
        self.updated_at = now;
    }

    /// Takes the waiting claim if `nonce_digest` is its nonce's, in constant
    /// time, and returns the user it is for. Single use, like the state.
    pub fn take_oauth_claim(
        &mut self,
        nonce_digest: &str,
        now: Timestamp,
    ) -> Result<UserId, OAuthStateError> {
        let matches = self.oauth_claim.as_ref().is_some_and(|claim| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                claim.nonce_digest.as_bytes(),
                nonce_digest.as_bytes(),
            ))
        });
        if !matches {
            return Err(OAuthStateError::Unknown);
        }
        let claim = self.oauth_claim.take().ok_or(OAuthStateError::Unknown)?;
        self.updated_at = now;
        if now >= claim.expire_at {
            if let Some(v) = self.first_factor_verification.as_mut() {
                v.status = VerificationStatus::Expired;
            }
            return Err(OAuthStateError::Expired(String::new()));
        }
        Ok(claim.user_id)
    }

    /// The OAuth first factor ended without a user: `Failed`, or
    /// `Transferable` (no account yet: a sign-up may take it over).
    pub fn oauth_ended(
        &mut self,
        status: VerificationStatus,
        error: VerificationError,
        now: Timestamp,
    ) {
        self.oauth = None;
        self.oauth_claim = None;
        if let Some(v) = self.first_factor_verification.as_mut() {
            v.status = status;
            v.external_url = None;
            v.error = Some(error);
        }
        self.updated_at = now;
    }

    /// The OAuth flow waiting for its callback, if any.
    pub fn oauth_flow(&self) -> Option<&OAuthFlow> {
        self.oauth.as_ref()
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
            return Err(Error::param_value_invalid(
                "password",
                "The new password is already set.",
            ));
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
        self.second_factor_required = needs_second_factor;
        self.updated_at = now;
        if needs_second_factor {
            self.status = SignInStatus::NeedsSecondFactor;
            Ok(AfterFirstFactor::NeedsSecondFactor)
        } else {
            Ok(AfterFirstFactor::ReadyToComplete)
        }
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
            SignInStatus::Abandoned => Error::new(
                ErrorKind::Unprocessable,
                ErrorCode::VerificationExpired,
                "This sign-in has expired",
                "This sign-in attempt was abandoned. Please start a new sign-in.",
            ),
            SignInStatus::NeedsIdentifier => Error::param_nil("identifier"),
            other => Error::new(
                ErrorKind::Unprocessable,
                ErrorCode::FormParamValueInvalid,
                "is invalid",
                format!(
                    "This sign-in cannot take this step while its status is {}.",
                    other.as_str()
                ),
            ),
        })
    }
}

fn attempts_after(previous: Option<&Verification>, strategy: &Strategy) -> u32 {
    match previous {
        Some(v) if &v.strategy == strategy => v.attempts.saturating_add(1),
        _ => 1,
    }
}

/// The identifiers the instance accepts at sign-in, in Clerk's order.
pub fn supported_identifiers(settings: &InstanceSettings) -> Vec<IdentifierKind> {
    [
        IdentifierKind::EmailAddress,
        IdentifierKind::PhoneNumber,
        IdentifierKind::Username,
    ]
    .into_iter()
    .filter(|k| settings.identifiers.allows(*k))
    .collect()
}

/// The first factors `user` can pass on this instance.
pub fn supported_first_factors(user: &User, settings: &InstanceSettings) -> Vec<Factor> {
    let mut factors = Vec::new();
    if settings.strategies.password && user.has_password() {
        factors.push(Factor {
            strategy: Strategy::Password,
            safe_identifier: None,
            email_address_id: None,
            phone_number_id: None,
            primary: None,
            default: None,
        });
    }
    let email_factor = |strategy: Strategy, email: &crate::model::IdentificationRecord| Factor {
        strategy,
        safe_identifier: Some(mask_email(&email.value)),
        email_address_id: Some(email.id.clone()),
        phone_number_id: None,
        primary: Some(user.primary_email_address_id.as_deref() == Some(email.id.as_str())),
        default: None,
    };
    let phone_factor = |strategy: Strategy, phone: &crate::model::IdentificationRecord| Factor {
        strategy,
        safe_identifier: Some(mask_phone(&phone.value)),
        email_address_id: None,
        phone_number_id: Some(phone.id.clone()),
        primary: Some(user.primary_phone_number_id.as_deref() == Some(phone.id.as_str())),
        default: None,
    };
    let phones = || {
        user.phone_numbers
            .iter()
            .filter(|p| !p.reserved_for_second_factor)
    };
    for (strategy, for_emails) in [
        (Strategy::EmailCode, true),
        (Strategy::PhoneCode, false),
        (Strategy::ResetPasswordEmailCode, true),
        (Strategy::ResetPasswordPhoneCode, false),
    ] {
        if !settings.strategies.allows(&strategy) {
            continue;
        }
        if for_emails {
            factors.extend(
                user.email_addresses
                    .iter()
                    .map(|e| email_factor(strategy.clone(), e)),
            );
        } else {
            factors.extend(phones().map(|p| phone_factor(strategy.clone(), p)));
        }
    }
    factors.extend(
        settings
            .strategies
            .oauth_providers
            .iter()
            .map(|provider| Factor {
                strategy: Strategy::OAuth(provider.clone()),
                safe_identifier: None,
                email_address_id: None,
                phone_number_id: None,
                primary: None,
                default: None,
            }),
    );
    factors
}

/// The second factors `user` can pass on this instance after passing the
/// first factor with `first`. An email code is a second factor only where
/// the instance turns it on, and never after an email-borne first factor.
pub fn supported_second_factors(
    user: &User,
    settings: &InstanceSettings,
    first: Option<&Strategy>,
) -> Vec<Factor> {
    let mut factors = Vec::new();
    if settings.strategies.phone_code {
        let default_phone = user.default_second_factor_phone().map(|p| p.id.as_str());
        factors.extend(
            user.phone_numbers
                .iter()
                .filter(|p| p.reserved_for_second_factor)
                .map(|p| Factor {
                    strategy: Strategy::PhoneCode,
                    safe_identifier: Some(mask_phone(&p.value)),
                    email_address_id: None,
                    phone_number_id: Some(p.id.clone()),
                    primary: Some(user.primary_phone_number_id.as_deref() == Some(p.id.as_str())),
                    default: Some(default_phone == Some(p.id.as_str())),
                }),
        );
    }
    let bare = |strategy: Strategy| Factor {
        strategy,
        safe_identifier: None,
        email_address_id: None,
        phone_number_id: None,
        primary: None,
        default: None,
    };
    if settings.strategies.totp && user.totp_enabled() {
        factors.push(bare(Strategy::Totp));
    }
    if settings.strategies.backup_code && user.backup_code_enabled() {
        factors.push(bare(Strategy::BackupCode));
    }
    let email_first = matches!(
        first,
        Some(Strategy::EmailCode | Strategy::EmailLink | Strategy::ResetPasswordEmailCode)
    );
    if settings.strategies.email_code
        && settings.strategies.email_code_second_factor
        && !email_first
    {
        factors.extend(user.email_addresses.iter().map(|e| Factor {
            strategy: Strategy::EmailCode,
            safe_identifier: Some(mask_email(&e.value)),
            email_address_id: Some(e.id.clone()),
            phone_number_id: None,
            primary: Some(user.primary_email_address_id.as_deref() == Some(e.id.as_str())),
            default: None,
        }));
    }
    factors
}

/// `alice@example.com` -> `a***e@example.com`.
fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return "***".to_owned();
    };
    let mut chars = local.chars();
    let first = chars.next().unwrap_or('*');
    match chars.last() {
        Some(last) if local.chars().count() > 2 => format!("{first}***{last}@{domain}"),
        _ => format!("{first}***@{domain}"),
    }
}

/// `+15555550100` -> `+1*******0100`.
fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i + 4 >= n { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Duration, IdentificationRecord};

    fn user() -> User {
        User {
            email_addresses: vec![IdentificationRecord {
                id: "idn_1".into(),
                value: "alice@example.com".into(),
                verified: true,
                reserved_for_second_factor: false,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            }],
            primary_email_address_id: Some("idn_1".into()),
            password_digest: Some("$argon2id$...".into()),
            ..User::blank(UserId("user_1".into()), Timestamp(0))
        }
    }

    fn sign_in(now: i64) -> SignIn {
        SignIn::new(
            SignInId("sia_1".into()),
            ClientId("client_1".into()),
            Timestamp(now),
            &InstanceSettings::default(),
        )
    }

    #[test]
    fn every_clerk_strategy_round_trips() {
        for name in [
            "password",
            "email_code",
            "phone_code",
            "email_link",
            "reset_password_email_code",
            "reset_password_phone_code",
            "passkey",
            "ticket",
            "totp",
            "backup_code",
            "oauth_google",
            "oauth_custom_acme",
        ] {
            assert_eq!(
                Strategy::parse(name).map(|s| s.name()).as_deref(),
                Some(name)
            );
        }
        for bad in ["", "oauth_", "oauth_Google", "pass word", "oauth_a/b"] {
            assert_eq!(Strategy::parse(bad), None, "{bad}");
        }
        assert!(Strategy::Totp.is_second_factor() && !Strategy::Totp.is_first_factor());
    }

    #[test]
    fn happy_path_without_second_factor() {
        let mut s = sign_in(0);
        assert_eq!(s.status_at(Timestamp(0)), SignInStatus::NeedsIdentifier);
        assert_eq!(
            s.ready_for_first_factor(Timestamp(1)).unwrap_err().code,
            ErrorCode::FormParamNil
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
        assert_eq!(err.code, ErrorCode::VerificationExpired);
    }

    #[test]
    fn factors_follow_user_and_settings() {
        let mut settings = InstanceSettings::default();
        settings.strategies.email_code = false;
        settings.strategies.phone_code = false;
        let u = user();
        let f = supported_first_factors(&u, &settings);
        assert_eq!(
            f.iter().map(|f| f.strategy.name()).collect::<Vec<_>>(),
            ["password"]
        );
        settings.strategies.email_code = true;
        let f = supported_first_factors(&u, &settings);
        // With email codes on, a password user can also reset it by email code.
        assert_eq!(
            f.iter().map(|f| f.strategy.name()).collect::<Vec<_>>(),
            ["password", "email_code", "reset_password_email_code"]
        );
        assert_eq!(f[1].safe_identifier.as_deref(), Some("a***e@example.com"));
        assert_eq!(f[1].primary, Some(true));
        let no_password = User {
            password_digest: None,
            ..u
        };
        settings.strategies.email_code = false;
        assert!(supported_first_factors(&no_password, &settings).is_empty());
        settings.identifiers.phone_number = false;
        assert_eq!(
            supported_identifiers(&settings),
            [IdentifierKind::EmailAddress, IdentifierKind::Username]
        );
    }

    #[test]
    fn masks() {
        assert_eq!(mask_phone("+15555550100"), "+1******0100");
        assert_eq!(mask_email("ab@x.io"), "a***@x.io");
    }

    #[test]
    fn second_factors_follow_the_user_and_the_instance() {
        let mut u = user();
        u.phone_numbers = vec![
            IdentificationRecord {
                id: "idn_p1".into(),
                value: "+15555550100".into(),
                verified: true,
                reserved_for_second_factor: false,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
            IdentificationRecord {
                id: "idn_p2".into(),
                value: "+15555550123".into(),
                verified: true,
                reserved_for_second_factor: true,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
        ];
        u.totp_secret = Some("v1.sealed".into());
        u.backup_codes = vec!["digest".into()];
        assert!(u.two_factor_enabled());
        let mut settings = InstanceSettings::default();
        let names = |factors: Vec<Factor>| {
            factors
                .iter()
                .map(|f| f.strategy.name())
                .collect::<Vec<_>>()
        };
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(
            names(factors.clone()),
            ["phone_code", "totp", "backup_code"]
        );
        // Only the reserved number, which is the default, masked.
        assert_eq!(factors[0].phone_number_id.as_deref(), Some("idn_p2"));
        assert_eq!(factors[0].default, Some(true));
        assert_eq!(factors[0].safe_identifier.as_deref(), Some("+1******0123"));

        settings.strategies.email_code_second_factor = true;
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(
            names(factors),
            ["phone_code", "totp", "backup_code", "email_code"]
        );
        // Never a second email code after an email-borne first factor.
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::EmailCode));
        assert_eq!(names(factors), ["phone_code", "totp", "backup_code"]);

        settings.strategies.totp = false;
        settings.strategies.phone_code = false;
        settings.strategies.email_code_second_factor = false;
        let factors = supported_second_factors(&u, &settings, Some(&Strategy::Password));
        assert_eq!(names(factors), ["backup_code"]);

        // Without any second factor, two-factor is off.
        let plain = user();
        assert!(!plain.two_factor_enabled());
        assert!(supported_second_factors(&plain, &InstanceSettings::default(), None).is_empty());
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

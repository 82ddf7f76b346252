//! The sign-up state machine.
//!
//! A sign-up gathers what the instance asks of a new account (identifiers,
//! a password, names, legal consent), proves the addresses it must by code,
//! and completes by creating the user and its first session together. Until
//! then nothing of it is an account: its addresses name nobody and are taken
//! by nobody. `missing_requirements -> complete`, or `abandoned` once its
//! lifetime passes.

use serde::{Deserialize, Serialize};

use super::sign_in::{
    CodeAttempt, OAuthClaim, OAuthFlow, OAuthParts, OAuthStateError, ProviderAccount, SentCode,
    Strategy, Verification, VerificationError, VerificationStatus,
};
use super::{
    ClientId, Duration, IdentifierKind, InstanceSettings, SessionId, SignUpField, SignUpId,
    Timestamp, UserId,
};
use crate::error::{Error, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignUpStatus {
    MissingRequirements,
    Complete,
    Abandoned,
}

impl SignUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingRequirements => "missing_requirements",
            Self::Complete => "complete",
            Self::Abandoned => "abandoned",
        }
    }
}

/// An address a sign-up proves by a code sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verifiable {
    EmailAddress,
    PhoneNumber,
}

impl Verifiable {
    pub const ALL: [Self; 2] = [Self::EmailAddress, Self::PhoneNumber];

    /// The address an identifier of this kind is, if it is one.
    pub fn of(kind: IdentifierKind) -> Option<Self> {
        match kind {
            IdentifierKind::EmailAddress => Some(Self::EmailAddress),
            IdentifierKind::PhoneNumber => Some(Self::PhoneNumber),
            IdentifierKind::Username => None,
        }
    }

    pub fn kind(self) -> IdentifierKind {
        match self {
            Self::EmailAddress => IdentifierKind::EmailAddress,
            Self::PhoneNumber => IdentifierKind::PhoneNumber,
        }
    }

    /// The addresses `settings` has sign-ups prove before they complete.
    pub fn proved_at_sign_up(settings: &InstanceSettings) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|a| settings.verifies_at_sign_up(a.kind()))
            .collect()
    }

    pub fn field(self) -> SignUpField {
        match self {
            Self::EmailAddress => SignUpField::EmailAddress,
            Self::PhoneNumber => SignUpField::PhoneNumber,
        }
    }

    /// The strategy whose code proves it.
    pub fn strategy(self) -> Strategy {
        match self {
            Self::EmailAddress => Strategy::EmailCode,
            Self::PhoneNumber => Strategy::PhoneCode,
        }
    }
}

/// A sign-up attempt on one client. Its state changes only through its
/// methods, each of which checks that the sign-up is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUp {
    pub id: SignUpId,
    pub client_id: ClientId,
    status: SignUpStatus,
    /// Normalised, as parsed.
    email_address: Option<String>,
    phone_number: Option<String>,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// The argon2id digest of the chosen password; the password itself is
    /// never kept.
    password_digest: Option<String>,
    unsafe_metadata: Option<serde_json::Value>,
    legal_accepted_at: Option<Timestamp>,
    email_verification: Option<Verification>,
    phone_verification: Option<Verification>,
    created_user_id: Option<UserId>,
    created_session_id: Option<SessionId>,
    /// Enumeration protection: the addresses this sign-up gave that already
    /// belong to an account. Such a sign-up answers as any other, but codes
    /// for those addresses reach nobody (their owner gets a notice instead)
    /// and it never completes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    taken: Vec<Verifiable>,
    /// OAuth: the verification of the provider account (`external_account`
    /// on the wire).
    #[serde(default)]
    external_verification: Option<Verification>,
    /// OAuth: the redirect waiting for its callback.
    #[serde(default)]
    oauth: Option<OAuthFlow>,
    /// OAuth: a callback waiting for its client to claim it.
    #[serde(default)]
    oauth_claim: Option<OAuthClaim>,
    /// OAuth: the provider account the visitor proved, linked to the user
    /// at completion; or, when it is already a user's, the one a sign-in
    /// takes over.
    #[serde(default)]
    external_account: Option<ProviderAccount>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub abandon_at: Timestamp,
    /// Bumped by every stored change; the flow store compares it.
    version: u64,
}

/// A change to what a sign-up gathered: `Some` sets a field (an empty value
/// clears it), `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignUpChange {
    pub email_address: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub username: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub password_digest: Option<String>,
    pub unsafe_metadata: Option<serde_json::Value>,
    pub legal_accepted: Option<bool>,
}

impl SignUp {
    /// A fresh sign-up that has gathered nothing, living `lifetime`.
    pub fn new(id: SignUpId, client_id: ClientId, now: Timestamp, lifetime: Duration) -> Self {
        Self {
            id,
            client_id,
            status: SignUpStatus::MissingRequirements,
            email_address: None,
            phone_number: None,
            username: None,
            first_name: None,
            last_name: None,
            password_digest: None,
            unsafe_metadata: None,
            legal_accepted_at: None,
            email_verification: None,
            phone_verification: None,
            created_user_id: None,
            created_session_id: None,
            taken: Vec::new(),
            external_verification: None,
            oauth: None,
            oauth_claim: None,
            external_account: None,
            created_at: now,
            updated_at: now,
            abandon_at: now.plus(lifetime),
            version: 0,
        }
    }

    pub fn email_address(&self) -> Option<&str> {
        self.email_address.as_deref()
    }
    pub fn phone_number(&self) -> Option<&str> {
        self.phone_number.as_deref()
    }
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
    pub fn first_name(&self) -> Option<&str> {
        self.first_name.as_deref()
    }
    pub fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }
    pub fn password_digest(&self) -> Option<&str> {
        self.password_digest.as_deref()
    }
    pub fn has_password(&self) -> bool {
        self.password_digest.is_some()
    }
    pub fn unsafe_metadata(&self) -> Option<&serde_json::Value> {
        self.unsafe_metadata.as_ref()
    }
    pub fn legal_accepted_at(&self) -> Option<Timestamp> {
        self.legal_accepted_at
    }
    pub fn created_user_id(&self) -> Option<&UserId> {
        self.created_user_id.as_ref()
    }
    pub fn created_session_id(&self) -> Option<&SessionId> {
        self.created_session_id.as_ref()
    }
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The verification of the provider account, for OAuth sign-ups.
    pub fn external_verification(&self) -> Option<&Verification> {
        self.external_verification.as_ref()
    }

    /// The provider account the sign-up proved (or that a sign-in may take
    /// over, when the verification is `transferable`).
    pub fn external_account(&self) -> Option<&ProviderAccount> {
        self.external_account.as_ref()
    }

    /// The fields this sign-up must give under `settings`: a sign-up by a
    /// provider account needs no password.
    pub fn required_fields(&self, settings: &InstanceSettings) -> Vec<SignUpField> {
        let mut required = settings.required_fields();
        if self.external_account.is_some() {
            required.retain(|f| *f != SignUpField::Password);
        }
        required
    }

    /// Whether a provider account is in play that has not been proved (an
    /// OAuth flow under way, failed, or ending in a transfer): such a
    /// sign-up does not complete.
    pub fn awaits_provider(&self) -> bool {
        self.external_verification
            .as_ref()
            .is_some_and(|v| v.status != VerificationStatus::Verified)
    }

    /// An OAuth redirect was prepared: the provider account's verification
    /// waits for the callback.
    pub fn oauth_started(
        &mut self,
        strategy: Strategy,
        flow: OAuthFlow,
        external_url: String,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_open(now)?;
        self.external_verification = Some(Verification {
            strategy,
            status: VerificationStatus::Unverified,
            attempts: 0,
            expire_at: Some(flow.expire_at),
            code: None,
            external_url: Some(external_url),
            error: None,
        });
        self.external_account = None;
        self.oauth_claim = None;
        self.oauth = Some(flow);
        self.updated_at = now;
        Ok(())
    }

    /// Takes the waiting OAuth flow if `state_digest` is its state's (see
    /// [`OAuthParts::take_flow`]); an expired one leaves the verification
    /// expired.
    pub fn take_oauth_flow(
        &mut self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<OAuthFlow, OAuthStateError> {
        self.oauth_parts().take_flow(state_digest, now)
    }

    /// The provider vouched for an account; the client must now claim it
    /// with the nonce whose digest `claim` holds.
    pub fn oauth_awaiting_claim(&mut self, claim: OAuthClaim, now: Timestamp) {
        self.oauth_parts().await_claim(claim, now);
    }

    /// Whether a callback waits for this sign-up's client to claim it.
    pub fn awaits_claim(&self) -> bool {
        self.oauth_claim.is_some()
    }

    /// Takes the waiting claim if `nonce_digest` is its nonce's.
    pub fn take_oauth_claim(
        &mut self,
        nonce_digest: &str,
        now: Timestamp,
    ) -> Result<OAuthClaim, OAuthStateError> {
        self.oauth_parts().take_claim(nonce_digest, now)
    }

    fn oauth_parts(&mut self) -> OAuthParts<'_> {
        OAuthParts {
            flow: &mut self.oauth,
            claim: &mut self.oauth_claim,
            verification: self.external_verification.as_mut(),
            updated_at: &mut self.updated_at,
        }
    }

    /// The visitor proved `account` at its provider: it will be the new
    /// user's. Its email address, when the instance collects one and none
    /// was given, becomes the sign-up's, proved when the provider verified
    /// it; its names fill those not given, when `names` are collected.
    pub fn provider_verified(
        &mut self,
        strategy: Strategy,
        account: ProviderAccount,
        email: bool,
        names: bool,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_open(now)?;
        if email
            && let Some(address) = account.email.clone()
            && self.email_address.as_ref().is_none_or(|a| *a == address)
        {
            if self.email_address.as_deref() != Some(&address) {
                self.email_verification = None;
            }
            self.email_address = Some(address);
            if account.email_verified {
                self.email_verification = Some(Verification {
                    strategy: strategy.clone(),
                    status: VerificationStatus::Verified,
                    attempts: 0,
                    expire_at: None,
                    code: None,
                    external_url: None,
                    error: None,
                });
            }
        }
        if names {
            if self.first_name.is_none() {
                self.first_name = account.first_name.clone();
            }
            if self.last_name.is_none() {
                self.last_name = account.last_name.clone();
            }
        }
        // The flow's end, or for an account taken over, when it was.
        let expire_at = self
            .external_verification
            .as_ref()
            .and_then(|v| v.expire_at)
            .unwrap_or(now);
        self.external_verification = Some(Verification {
            strategy,
            status: VerificationStatus::Verified,
            attempts: 0,
            expire_at: Some(expire_at),
            code: None,
            external_url: None,
            error: None,
        });
        self.oauth = None;
        self.oauth_claim = None;
        self.external_account = Some(account);
        self.updated_at = now;
        Ok(())
    }

    /// The provider account is already a user's: a sign-in takes it over
    /// (`signIn.create({ transfer: true })`), and the verification says so
    /// (`transferable`, `external_account_exists`).
    pub fn transferable_to_sign_in(&mut self, account: ProviderAccount, now: Timestamp) {
        self.oauth_ended(
            VerificationStatus::Transferable,
            Error::ExternalAccountExists,
            now,
        );
        self.external_account = Some(account);
    }

    /// The provider account a sign-in may take over, while the sign-up is
    /// open and its verification is `transferable`.
    pub fn transferable_account(&self, now: Timestamp) -> Option<&ProviderAccount> {
        let transferable = self
            .external_verification
            .as_ref()
            .is_some_and(|v| v.status == VerificationStatus::Transferable);
        self.external_account
            .as_ref()
            .filter(|_| transferable && self.status_at(now) == SignUpStatus::MissingRequirements)
    }

    /// The OAuth verification ended without an account to make: `status`
    /// (failed, expired) and why.
    pub fn oauth_ended(
        &mut self,
        status: VerificationStatus,
        error: VerificationError,
        now: Timestamp,
    ) {
        self.oauth = None;
        self.oauth_claim = None;
        if let Some(v) = self.external_verification.as_mut() {
            v.status = status;
            v.external_url = None;
            v.error = Some(error);
        }
        self.updated_at = now;
    }

    /// Whether an address this sign-up gave is an account's (see the field).
    pub fn is_phantom(&self) -> bool {
        !self.taken.is_empty()
    }

    /// Whether `address`, as given, is an account's.
    pub fn is_taken(&self, address: Verifiable) -> bool {
        self.taken.contains(&address)
    }

    /// Records whether `address`, as now given, is an account's.
    pub fn set_taken(&mut self, address: Verifiable, taken: bool) {
        self.taken.retain(|a| *a != address);
        if taken {
            self.taken.push(address);
        }
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

    /// The status at `now`: an unfinished sign-up past its lifetime is abandoned.
    pub fn status_at(&self, now: Timestamp) -> SignUpStatus {
        if self.status != SignUpStatus::Complete && now >= self.abandon_at {
            SignUpStatus::Abandoned
        } else {
            self.status
        }
    }

    /// The verification of `address`, if a code was asked for.
    pub fn verification(&self, address: Verifiable) -> Option<&Verification> {
        match address {
            Verifiable::EmailAddress => self.email_verification.as_ref(),
            Verifiable::PhoneNumber => self.phone_verification.as_ref(),
        }
    }

    fn verification_slot(&mut self, address: Verifiable) -> &mut Option<Verification> {
        match address {
            Verifiable::EmailAddress => &mut self.email_verification,
            Verifiable::PhoneNumber => &mut self.phone_verification,
        }
    }

    /// Whether `address` has been proved by its code.
    pub fn is_verified(&self, address: Verifiable) -> bool {
        self.verification(address)
            .is_some_and(|v| v.status == VerificationStatus::Verified)
    }

    /// The value gathered for `field`, as a flag: whether it is there.
    pub fn has(&self, field: SignUpField) -> bool {
        match field {
            SignUpField::EmailAddress => self.email_address.is_some(),
            SignUpField::PhoneNumber => self.phone_number.is_some(),
            SignUpField::Username => self.username.is_some(),
            SignUpField::Password => self.password_digest.is_some(),
            SignUpField::FirstName => self.first_name.is_some(),
            SignUpField::LastName => self.last_name.is_some(),
            SignUpField::LegalAccepted => self.legal_accepted_at.is_some(),
        }
    }

    /// Of `required`, the fields not gathered yet.
    pub fn missing_fields(&self, required: &[SignUpField]) -> Vec<SignUpField> {
        required.iter().copied().filter(|f| !self.has(*f)).collect()
    }

    /// Of the addresses in `verify`, those gathered but not proved yet.
    pub fn unverified_fields(&self, verify: &[Verifiable]) -> Vec<Verifiable> {
        verify
            .iter()
            .copied()
            .filter(|a| self.has(a.field()) && !self.is_verified(*a))
            .collect()
    }

    /// Applies `change`. An address that changes loses its verification:
    /// a code proves the address it was sent to, no other.
    pub fn apply(&mut self, change: SignUpChange, now: Timestamp) -> Result<(), Error> {
        self.expect_open(now)?;
        let blank = |v: Option<String>| v.filter(|s| !s.is_empty());
        if let Some(email) = change.email_address {
            let email = blank(email);
            if email != self.email_address {
                self.email_verification = None;
            }
            self.email_address = email;
        }
        if let Some(phone) = change.phone_number {
            let phone = blank(phone);
            if phone != self.phone_number {
                self.phone_verification = None;
            }
            self.phone_number = phone;
        }
        if let Some(username) = change.username {
            self.username = blank(username);
        }
        if let Some(first_name) = change.first_name {
            self.first_name = blank(first_name);
        }
        if let Some(last_name) = change.last_name {
            self.last_name = blank(last_name);
        }
        if let Some(digest) = change.password_digest {
            self.password_digest = Some(digest);
        }
        if let Some(metadata) = change.unsafe_metadata {
            self.unsafe_metadata = Some(metadata);
        }
        match change.legal_accepted {
            Some(true) if self.legal_accepted_at.is_none() => self.legal_accepted_at = Some(now),
            Some(false) => self.legal_accepted_at = None,
            _ => {}
        }
        self.updated_at = now;
        Ok(())
    }

    /// A code was sent to `address`: any earlier code is replaced and the
    /// attempt count starts again. The address must have been gathered.
    pub fn code_sent(
        &mut self,
        address: Verifiable,
        code: SentCode,
        expire_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_open(now)?;
        if !self.has(address.field()) {
            return Err(Error::param_nil(address.field().as_str()));
        }
        *self.verification_slot(address) =
            Some(Verification::code_sent(address.strategy(), code, expire_at));
        self.updated_at = now;
        Ok(())
    }

    /// Counts a code attempt at `address` before it is compared (see
    /// [`Verification::count_code_attempt`]). Errors when no code was sent.
    pub fn count_code_attempt(
        &mut self,
        address: Verifiable,
        max_attempts: u32,
        now: Timestamp,
    ) -> Result<CodeAttempt, Error> {
        self.expect_open(now)?;
        let strategy = address.strategy();
        let not_prepared = || Error::invalid("strategy", Problem::NotPrepared(strategy.clone()));
        let outcome = self
            .verification_slot(address)
            .as_mut()
            .ok_or_else(not_prepared)?
            .count_code_attempt(max_attempts, now)
            .ok_or_else(not_prepared)?;
        self.updated_at = now;
        Ok(outcome)
    }

    /// The code sent to `address` compared equal.
    pub fn code_passed(&mut self, address: Verifiable, now: Timestamp) -> Result<(), Error> {
        self.expect_open(now)?;
        let strategy = address.strategy();
        self.verification_slot(address)
            .as_mut()
            .ok_or_else(|| Error::invalid("strategy", Problem::NotPrepared(strategy)))?
            .code_passed();
        self.updated_at = now;
        Ok(())
    }

    /// Whether the sign-up has everything `required` and every address in
    /// `verify` proved.
    pub fn is_ready(&self, required: &[SignUpField], verify: &[Verifiable]) -> bool {
        self.missing_fields(required).is_empty() && self.unverified_fields(verify).is_empty()
    }

    /// Marks the sign-up complete with the user and session it created.
    pub fn complete(
        &mut self,
        user_id: UserId,
        session_id: SessionId,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.expect_open(now)?;
        if self.is_phantom() {
            return Err(Error::internal("a phantom sign-up never completes"));
        }
        self.status = SignUpStatus::Complete;
        self.created_user_id = Some(user_id);
        self.created_session_id = Some(session_id);
        self.updated_at = now;
        Ok(())
    }

    /// A sign-up takes steps only while it is open.
    pub fn expect_open(&self, now: Timestamp) -> Result<(), Error> {
        match self.status_at(now) {
            SignUpStatus::MissingRequirements => Ok(()),
            SignUpStatus::Abandoned => Err(Error::SignUpAbandoned),
            SignUpStatus::Complete => Err(Error::SignUpComplete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [SignUpField; 2] = [SignUpField::EmailAddress, SignUpField::Password];
    const VERIFY: [Verifiable; 1] = [Verifiable::EmailAddress];

    fn sign_up() -> SignUp {
        SignUp::new(
            SignUpId("sua_1".into()),
            ClientId("client_1".into()),
            Timestamp(0),
            Duration::days(1),
        )
    }

    fn email(address: &str) -> SignUpChange {
        SignUpChange {
            email_address: Some(Some(address.into())),
            ..SignUpChange::default()
        }
    }

    fn code(at: i64) -> SentCode {
        SentCode {
            digest: "d".into(),
            target_id: "sua_1".into(),
            sent_at: Timestamp(at),
        }
    }

    #[test]
    fn fields_are_gathered_then_the_address_proved_then_it_completes() {
        let mut s = sign_up();
        assert_eq!(s.missing_fields(&REQUIRED), REQUIRED);
        s.apply(email("ada@example.com"), Timestamp(1)).unwrap();
        assert_eq!(s.missing_fields(&REQUIRED), [SignUpField::Password]);
        assert_eq!(s.unverified_fields(&VERIFY), VERIFY);
        let password = SignUpChange {
            password_digest: Some("$argon2id$d".into()),
            ..SignUpChange::default()
        };
        s.apply(password, Timestamp(2)).unwrap();
        assert!(s.missing_fields(&REQUIRED).is_empty());
        assert!(!s.is_ready(&REQUIRED, &VERIFY));
        s.code_sent(
            Verifiable::EmailAddress,
            code(3),
            Timestamp(600_003),
            Timestamp(3),
        )
        .unwrap();
        assert_eq!(
            s.count_code_attempt(Verifiable::EmailAddress, 3, Timestamp(4))
                .unwrap(),
            CodeAttempt::Check("d".into())
        );
        s.code_passed(Verifiable::EmailAddress, Timestamp(4))
            .unwrap();
        assert!(s.is_ready(&REQUIRED, &VERIFY));
        s.complete(
            UserId("user_1".into()),
            SessionId("sess_1".into()),
            Timestamp(5),
        )
        .unwrap();
        assert_eq!(s.status_at(Timestamp(5)), SignUpStatus::Complete);
        assert_eq!(s.created_user_id().map(UserId::as_str), Some("user_1"));
        // A complete sign-up takes no more changes, and is never abandoned.
        assert_eq!(
            s.apply(email("eve@example.com"), Timestamp(6)),
            Err(Error::SignUpComplete)
        );
        assert_eq!(s.status_at(Timestamp::FOREVER), SignUpStatus::Complete);
    }

    #[test]
    fn a_changed_address_loses_its_proof() {
        let mut s = sign_up();
        s.apply(email("ada@example.com"), Timestamp(1)).unwrap();
        s.code_sent(
            Verifiable::EmailAddress,
            code(1),
            Timestamp(600_001),
            Timestamp(1),
        )
        .unwrap();
        s.code_passed(Verifiable::EmailAddress, Timestamp(2))
            .unwrap();
        assert!(s.is_verified(Verifiable::EmailAddress));
        // The same address again keeps it; another one does not.
        s.apply(email("ada@example.com"), Timestamp(3)).unwrap();
        assert!(s.is_verified(Verifiable::EmailAddress));
        s.apply(email("eve@example.com"), Timestamp(4)).unwrap();
        assert!(!s.is_verified(Verifiable::EmailAddress));
        assert_eq!(s.verification(Verifiable::EmailAddress), None);
    }

    #[test]
    fn codes_need_an_address_and_a_sent_code() {
        let mut s = sign_up();
        assert_eq!(
            s.code_sent(Verifiable::PhoneNumber, code(1), Timestamp(9), Timestamp(1)),
            Err(Error::param_nil("phone_number"))
        );
        assert!(matches!(
            s.count_code_attempt(Verifiable::EmailAddress, 3, Timestamp(1)),
            Err(Error::InvalidParam { .. })
        ));
    }

    #[test]
    fn an_open_sign_up_is_abandoned_at_the_end_of_its_lifetime() {
        let mut s = sign_up();
        let end = Timestamp(0).plus(Duration::days(1));
        assert_eq!(
            s.status_at(Timestamp(end.0 - 1)),
            SignUpStatus::MissingRequirements
        );
        assert_eq!(s.status_at(end), SignUpStatus::Abandoned);
        assert_eq!(
            s.apply(email("a@example.com"), end),
            Err(Error::SignUpAbandoned)
        );
        assert_eq!(
            s.complete(UserId("u".into()), SessionId("s".into()), end),
            Err(Error::SignUpAbandoned)
        );
    }

    #[test]
    fn legal_consent_keeps_when_it_was_first_given() {
        let mut s = sign_up();
        let accept = |yes: bool| SignUpChange {
            legal_accepted: Some(yes),
            ..SignUpChange::default()
        };
        s.apply(accept(true), Timestamp(5)).unwrap();
        s.apply(accept(true), Timestamp(9)).unwrap();
        assert_eq!(s.legal_accepted_at(), Some(Timestamp(5)));
        s.apply(accept(false), Timestamp(10)).unwrap();
        assert!(!s.has(SignUpField::LegalAccepted));
    }

    #[test]
    fn a_sign_up_round_trips_as_stored_state() {
        let mut s = sign_up();
        s.apply(email("ada@example.com"), Timestamp(1)).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SignUp>(&text).unwrap(), s);
        assert!(!text.contains("password\""), "{text}");
    }
}

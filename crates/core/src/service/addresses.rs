//! `/v1/me/email_addresses` and `/v1/me/phone_numbers`: the addresses a
//! signed-in user adds to their own account, proves with a code, makes
//! primary, keeps for the second factor, or removes.
//!
//! An address added here is a claim until its code is verified: it names
//! nobody and gets no sign-in code. A claim never holds an address against
//! whoever proves it (the store drops another user's unverified claim when
//! an address is written), and a verified address has exactly one owner
//! (the store's uniqueness).

use std::sync::Mutex;

use super::codes::{Recipient, code_digest};
use super::me::Account;
use super::{Outcome, Users};
use crate::error::{Error, Problem, Resource};
use crate::model::{
    CodeAttempt, EmailAddress, IdPrefix, IdentificationRecord, IdentifierKind, InstanceSettings,
    PhoneNumber, SentCode, Strategy, Timestamp, User, Verification, new_id,
};
use crate::ports::{CodeDestination, CodePurpose, Random};

/// The most email addresses (or phone numbers) a user may add to their own
/// account.
pub const MAX_ADDRESSES: usize = 10;

/// Which of a user's two lists of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Email,
    Phone,
}

impl AddressKind {
    fn records(self, user: &User) -> &[IdentificationRecord] {
        match self {
            Self::Email => &user.email_addresses,
            Self::Phone => &user.phone_numbers,
        }
    }

    fn records_mut(self, user: &mut User) -> &mut Vec<IdentificationRecord> {
        match self {
            Self::Email => &mut user.email_addresses,
            Self::Phone => &mut user.phone_numbers,
        }
    }

    fn primary_mut(self, user: &mut User) -> &mut Option<String> {
        match self {
            Self::Email => &mut user.primary_email_address_id,
            Self::Phone => &mut user.primary_phone_number_id,
        }
    }

    /// The one strategy that proves an address of this kind.
    pub fn strategy(self) -> Strategy {
        match self {
            Self::Email => Strategy::EmailCode,
            Self::Phone => Strategy::PhoneCode,
        }
    }

    fn identifier(self) -> IdentifierKind {
        match self {
            Self::Email => IdentifierKind::EmailAddress,
            Self::Phone => IdentifierKind::PhoneNumber,
        }
    }

    fn not_found(self) -> Error {
        match self {
            Self::Email => Error::NotFound(Resource::EmailAddress),
            Self::Phone => Error::NotFound(Resource::PhoneNumber),
        }
    }

    fn destination(self, value: &str) -> CodeDestination {
        match self {
            Self::Email => CodeDestination::Email(value.to_owned()),
            Self::Phone => CodeDestination::Sms(value.to_owned()),
        }
    }

    /// The address given as this kind's parameter, required and normalised.
    fn parse(self, raw: Option<String>) -> Result<String, Error> {
        let raw = raw
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Error::param_nil(self.identifier().param_name()))?;
        Ok(match self {
            Self::Email => EmailAddress::parse(&raw)?.as_str().to_owned(),
            Self::Phone => PhoneNumber::parse(&raw)?.as_str().to_owned(),
        })
    }

    /// A new record of this kind for `value`, with a fresh id.
    fn new_record(
        self,
        value: String,
        verified: bool,
        reserved_for_second_factor: bool,
        now: Timestamp,
        random: &dyn Random,
    ) -> IdentificationRecord {
        let prefix = match self {
            Self::Email => IdPrefix::EmailAddress,
            Self::Phone => IdPrefix::PhoneNumber,
        };
        IdentificationRecord {
            id: new_id(prefix, random),
            value,
            verified,
            reserved_for_second_factor,
            verification: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Adds `record` to `user`, who must not have its value already.
    fn add(self, user: &mut User, record: &IdentificationRecord) -> Result<(), Error> {
        if self.records(user).iter().any(|r| r.value == record.value) {
            return Err(Error::IdentifierTaken(self.identifier()));
        }
        self.records_mut(user).push(record.clone());
        Ok(())
    }

    /// Removes the record `id` from `user`; a primary one hands over to the
    /// next verified record of the kind that signs in.
    fn remove(self, user: &mut User, id: &str) -> Result<(), Error> {
        let records = self.records_mut(user);
        let len = records.len();
        records.retain(|r| r.id != id);
        if records.len() == len {
            return Err(self.not_found());
        }
        if self.primary_mut(user).as_deref() == Some(id) {
            let next = next_primary(self.records(user), id);
            *self.primary_mut(user) = next;
        }
        Ok(())
    }

    /// Whether the instance lets users keep addresses of this kind: as an
    /// identifier, or (phone numbers) for second-factor codes.
    fn enabled(self, settings: &InstanceSettings) -> bool {
        match self {
            Self::Email => settings.identifiers.email_address,
            Self::Phone => settings.identifiers.phone_number || settings.strategies.phone_code,
        }
    }
}

/// One address of a user, as the `/v1/me` address routes answer it.
#[derive(Debug, Clone)]
pub struct AddressView {
    pub user: User,
    pub kind: AddressKind,
    pub record: IdentificationRecord,
}

/// What a deletion answers: the id of what is gone.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub id: String,
    pub kind: AddressKind,
}

/// `PATCH /v1/me/phone_numbers/{id}`.
#[derive(Debug, Clone, Default)]
pub struct MyPhonePatch {
    pub reserved_for_second_factor: Option<bool>,
    pub default_second_factor: Option<bool>,
}

impl Account {
    /// `GET /v1/me/email_addresses` (and `phone_numbers`): the user, whose
    /// lists they are.
    pub async fn my_addresses(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<User, Error> {
        let (_, user) = self.me(token, session_id).await?;
        Ok(user)
    }

    /// `GET /v1/me/email_addresses/{id}` (or `phone_numbers`).
    pub async fn my_address(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        kind: AddressKind,
        id: &str,
    ) -> Result<Outcome<AddressView>, Error> {
        let (client, user) = self.me(token, session_id).await?;
        let view = view_of(user, kind, id)?;
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST /v1/me/email_addresses` (or `phone_numbers`): an unverified
    /// address on the user, to be proved with a code. One the user already
    /// has, or another user has verified, is `form_identifier_exists`.
    pub async fn add_address(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        kind: AddressKind,
        value: Option<String>,
    ) -> Result<Outcome<AddressView>, Error> {
        let param = kind.identifier().param_name();
        let value = kind.parse(value)?;
        if !kind.enabled(&self.settings.current()) {
            return Err(Error::invalid(
                param,
                Problem::IdentifierNotEnabled(kind.identifier()),
            ));
        }
        let (client, user) = self.me(token, session_id).await?;
        // Unproved: no second factor either; a number is kept for one once
        // verified (`PATCH`).
        let record = kind.new_record(value, false, false, self.clock.now(), &*self.random);
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                // Each claim can be sent codes: a user holds only so many.
                if kind.records(&user).len() >= MAX_ADDRESSES {
                    return Err(Error::invalid(
                        param,
                        Problem::TooManyAddresses { max: MAX_ADDRESSES },
                    ));
                }
                kind.add(&mut user, &record)?;
                Ok(user)
            })
            .await?;
        let view = view_of(user, kind, &record.id)?;
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST .../{id}/prepare_verification`: a code to the address, under
    /// the sign-in code rules (lifetime, resend cool-down, per-destination
    /// limit, test identities in development only).
    pub async fn prepare_address(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        kind: AddressKind,
        id: &str,
        strategy: Option<String>,
    ) -> Result<Outcome<AddressView>, Error> {
        let strategy = strategy
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::param_nil("strategy"))?;
        if Strategy::parse(&strategy) != Some(kind.strategy()) {
            let shown = Strategy::parse(&strategy).unwrap_or(Strategy::Ticket);
            return Err(Error::invalid(
                "strategy",
                Problem::StrategyNotEnabled(shown),
            ));
        }
        let (client, user) = self.me(token, session_id).await?;
        let record = view_of(user.clone(), kind, id)?.record;
        if record.verified {
            return Err(Error::AlreadyVerified);
        }
        let now = self.clock.now();
        self.codes.refuse_if_recently_sent(
            record.verification.as_ref().and_then(|v| v.code.as_ref()),
            now,
        )?;
        let code = self
            .codes
            .issue(
                kind.destination(&record.value),
                CodePurpose::SignUp,
                Recipient::Owner,
                now,
            )
            .await?;
        let sent = SentCode {
            digest: code_digest(&self.secrets, &record.id, &code),
            target_id: record.id.clone(),
            sent_at: now,
        };
        let expire_at = now.plus(self.settings.current().code_lifetime);
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                let record = unverified(&mut user, kind, id, &record.value)?;
                record.verification = Some(Verification::code_sent(
                    kind.strategy(),
                    sent.clone(),
                    expire_at,
                ));
                record.updated_at = now;
                Ok(user)
            })
            .await?;
        let view = view_of(user, kind, id)?;
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST .../{id}/attempt_verification`: the attempt is counted in the
    /// same write that verifies the address, so no attempt goes uncounted
    /// and a code verifies at most once. The first verified address of its
    /// kind becomes primary.
    pub async fn attempt_address(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        kind: AddressKind,
        id: &str,
        code: Option<String>,
    ) -> Result<Outcome<AddressView>, Error> {
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let (client, user) = self.me(token, session_id).await?;
        let value = view_of(user.clone(), kind, id)?.record.value;
        let now = self.clock.now();
        let max = self.settings.current().max_code_attempts;
        // What the last run of the change decided; the write keeps the count.
        let verdict: Mutex<Result<(), Error>> = Mutex::new(Ok(()));
        let user =
            self.user_admin
                .write_user(user, |mut user| {
                    let record = unverified(&mut user, kind, id, &value)?;
                    let verification = record.verification.as_mut().ok_or_else(|| {
                        Error::invalid("code", Problem::NotPrepared(kind.strategy()))
                    })?;
                    let outcome = verification.count_code_attempt(max, now).ok_or_else(|| {
                        Error::invalid("code", Problem::NotPrepared(kind.strategy()))
                    })?;
                    let result = match outcome {
                        CodeAttempt::Expired => Err(Error::CodeExpired),
                        CodeAttempt::Failed => Err(Error::CodeAttemptsExhausted),
                        CodeAttempt::Check(expected) => self.codes.compare(id, &code, &expected),
                    };
                    if result.is_ok() {
                        verification.code_passed();
                        record.verified = true;
                    }
                    record.updated_at = now;
                    let verified = result.is_ok();
                    if verified && kind.primary_mut(&mut user).is_none() {
                        *kind.primary_mut(&mut user) = Some(id.to_owned());
                    }
                    if let Ok(mut slot) = verdict.lock() {
                        *slot = result;
                    }
                    Ok(user)
                })
                .await?;
        let verdict = verdict
            .into_inner()
            .map_err(|_| Error::internal("a code attempt's verdict was lost"))?;
        verdict?;
        let view = view_of(user, kind, id)?;
        self.clients.outcome(view, &client.id, None).await
    }

    /// `PATCH /v1/me/phone_numbers/{id}`: keep a verified number for the
    /// second factor (or stop: a sensitive change), or make it the default
    /// one.
    pub async fn update_my_phone(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        id: &str,
        patch: MyPhonePatch,
    ) -> Result<Outcome<AddressView>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        let kind = AddressKind::Phone;
        let current = view_of(user.clone(), kind, id)?.record;
        let reserve = patch.reserved_for_second_factor;
        let strategies = &self.settings.current().strategies;
        if reserve == Some(true) && !(strategies.phone_code && strategies.phone_code_second_factor)
        {
            return Err(Error::SecondFactorNotEnabled(Strategy::PhoneCode));
        }
        if reserve == Some(false) && current.reserved_for_second_factor {
            self.require_recent_verification(&user, &session)?;
        }
        let now = self.clock.now();
        let settings = self.settings.current().clone();
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                let before = user.clone();
                let index = user
                    .phone_numbers
                    .iter()
                    .position(|p| p.id == id)
                    .ok_or_else(|| kind.not_found())?;
                let record = &mut user.phone_numbers[index];
                if let Some(reserved) = reserve {
                    if reserved && !record.verified {
                        return Err(Error::invalid(
                            "reserved_for_second_factor",
                            Problem::UnverifiedSecondFactorPhone,
                        ));
                    }
                    record.reserved_for_second_factor = reserved;
                    record.updated_at = now;
                }
                if reserve == Some(true) && user.primary_phone_number_id.as_deref() == Some(id) {
                    // A number kept for the second factor signs nobody in:
                    // another verified one becomes primary, if any.
                    user.primary_phone_number_id = next_primary(&user.phone_numbers, id);
                }
                if patch.default_second_factor == Some(true) {
                    if !user.phone_numbers[index].reserved_for_second_factor {
                        return Err(Error::invalid(
                            "default_second_factor",
                            Problem::UnverifiedSecondFactorPhone,
                        ));
                    }
                    // The first reserved number is the default one.
                    let record = user.phone_numbers.remove(index);
                    user.phone_numbers.insert(0, record);
                }
                keep_a_way_in(&before, &user, &settings, "reserved_for_second_factor")?;
                Ok(user)
            })
            .await?;
        let view = view_of(user, kind, id)?;
        self.clients.outcome(view, &client.id, None).await
    }

    /// `DELETE /v1/me/email_addresses/{id}` (or `phone_numbers`): a
    /// sensitive change. The last address the user signs in with stays; a
    /// primary one hands over to another verified address of its kind.
    pub async fn delete_address(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        kind: AddressKind,
        id: &str,
    ) -> Result<Outcome<Deleted>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        let record = view_of(user.clone(), kind, id)?.record;
        // Dropping a claim that was never proved is not sensitive.
        if record.verified {
            self.require_recent_verification(&user, &session)?;
        }
        let settings = self.settings.current().clone();
        let param = kind.identifier().param_name();
        self.user_admin
            .write_user(user, |mut user| {
                let before = user.clone();
                kind.remove(&mut user, id)?;
                keep_a_way_in(&before, &user, &settings, param)?;
                Ok(user)
            })
            .await?;
        let deleted = Deleted {
            id: id.to_owned(),
            kind,
        };
        self.clients.outcome(deleted, &client.id, None).await
    }
}

/// `POST /v1/email_addresses` and `POST /v1/phone_numbers`: an address an
/// operator adds to a user.
#[derive(Debug, Clone, Default)]
pub struct NewAddress {
    pub user_id: Option<String>,
    pub value: Option<String>,
    pub verified: bool,
    pub primary: bool,
    pub reserved_for_second_factor: bool,
}

/// The Backend API's addresses: what an operator (or the application's
/// server) adds, reads, changes and removes, on any user, with no
/// reverification and no way-in rule (an operator may leave a user with no
/// way in, as Clerk lets them).
impl Users {
    /// `GET /v1/email_addresses/{id}` (or `phone_numbers`): the address and
    /// its user.
    pub async fn get_address(&self, kind: AddressKind, id: &str) -> Result<AddressView, Error> {
        let user = self.address_owner(kind, id).await?;
        view_of(user, kind, id)
    }

    /// `POST /v1/email_addresses` (or `phone_numbers`).
    pub async fn create_address(
        &self,
        kind: AddressKind,
        params: NewAddress,
    ) -> Result<AddressView, Error> {
        let user_id = params
            .user_id
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::param_nil("user_id"))?;
        let value = kind.parse(params.value)?;
        let reserved = kind == AddressKind::Phone && params.reserved_for_second_factor;
        if reserved && !params.verified {
            return Err(Error::invalid(
                "reserved_for_second_factor",
                Problem::UnverifiedSecondFactorPhone,
            ));
        }
        if reserved && params.primary {
            return Err(Error::invalid("primary", Problem::PrimaryPhoneReserved));
        }
        let user = self.get_user(&user_id).await?;
        let now = self.clock.now();
        let record = kind.new_record(value, params.verified, reserved, now, &*self.random);
        let user = self
            .write_user(user, |mut user| {
                kind.add(&mut user, &record)?;
                let first = kind.primary_mut(&mut user).is_none() && record.verified && !reserved;
                if params.primary || first {
                    *kind.primary_mut(&mut user) = Some(record.id.clone());
                }
                Ok(user)
            })
            .await?;
        view_of(user, kind, &record.id)
    }

    /// `PATCH /v1/email_addresses/{id}`: verified, or primary.
    pub async fn update_email_address(
        &self,
        id: &str,
        verified: Option<bool>,
        primary: Option<bool>,
    ) -> Result<AddressView, Error> {
        let kind = AddressKind::Email;
        let user = self.address_owner(kind, id).await?;
        let now = self.clock.now();
        let user = self
            .write_user(user, |mut user| {
                let record = user
                    .email_addresses
                    .iter_mut()
                    .find(|r| r.id == id)
                    .ok_or_else(|| kind.not_found())?;
                if let Some(verified) = verified {
                    record.verified = verified;
                    record.updated_at = now;
                }
                if primary == Some(true) {
                    user.primary_email_address_id = Some(id.to_owned());
                }
                Ok(user)
            })
            .await?;
        view_of(user, kind, id)
    }

    /// `DELETE /v1/email_addresses/{id}` (or `phone_numbers`): a primary
    /// address hands over to another verified one of its kind.
    pub async fn delete_address(&self, kind: AddressKind, id: &str) -> Result<Deleted, Error> {
        let user = self.address_owner(kind, id).await?;
        self.write_user(user, |mut user| {
            kind.remove(&mut user, id)?;
            Ok(user)
        })
        .await?;
        Ok(Deleted {
            id: id.to_owned(),
            kind,
        })
    }

    /// The user with the address `id` of `kind`.
    async fn address_owner(&self, kind: AddressKind, id: &str) -> Result<User, Error> {
        self.users
            .find_by_identification_id(id)
            .await?
            .filter(|u| kind.records(u).iter().any(|r| r.id == id))
            .ok_or_else(|| kind.not_found())
    }
}

/// The address `id` of `kind` on `user`, still unverified and still for
/// `value` (a claim dropped and re-made is another claim).
fn unverified<'u>(
    user: &'u mut User,
    kind: AddressKind,
    id: &str,
    value: &str,
) -> Result<&'u mut IdentificationRecord, Error> {
    let record = kind
        .records_mut(user)
        .iter_mut()
        .find(|r| r.id == id && r.value == value)
        .ok_or_else(|| kind.not_found())?;
    if record.verified {
        return Err(Error::AlreadyVerified);
    }
    Ok(record)
}

fn view_of(user: User, kind: AddressKind, id: &str) -> Result<AddressView, Error> {
    let record = kind
        .records(&user)
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| kind.not_found())?;
    Ok(AddressView { user, kind, record })
}

/// The next primary once `leaving` is not: the first other verified record
/// that signs in (not kept for the second factor).
fn next_primary(records: &[IdentificationRecord], leaving: &str) -> Option<String> {
    records
        .iter()
        .find(|r| r.id != leaving && r.verified && !r.reserved_for_second_factor)
        .map(|r| r.id.clone())
}

/// A change may not take the last way in from a user who had one.
pub(super) fn keep_a_way_in(
    before: &User,
    after: &User,
    settings: &InstanceSettings,
    param: &'static str,
) -> Result<(), Error> {
    if ways_in(before, settings) && !ways_in(after, settings) {
        return Err(Error::invalid(param, Problem::LastWayIn));
    }
    Ok(())
}

/// Whether `user` can sign in on this instance: a password with an
/// identifier it goes with, a code to a verified address that signs in, or
/// an enabled provider's account.
pub(super) fn ways_in(user: &User, settings: &InstanceSettings) -> bool {
    let ids = &settings.identifiers;
    let strategies = &settings.strategies;
    let email = ids.email_address && user.email_addresses.iter().any(|e| e.verified);
    let phone = ids.phone_number
        && user
            .phone_numbers
            .iter()
            .any(|p| p.verified && !p.reserved_for_second_factor);
    let username = ids.username && user.username.is_some();
    let password = strategies.password && user.has_password() && (email || phone || username);
    let code = (strategies.email_code && email) || (strategies.phone_code && phone);
    let provider = user
        .external_accounts
        .iter()
        .any(|a| strategies.oauth_providers.contains(&a.provider));
    password || code || provider
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::model::{Client, ExternalAccount, SessionStatus, Timestamp};
    use crate::service::codes::code_digest;
    use crate::service::test_support::{Mocks, NOW, TOKEN, client, session, user};

    fn settings() -> InstanceSettings {
        InstanceSettings::default()
    }

    #[test]
    fn a_way_in_is_a_password_with_its_identifier_a_code_or_a_provider() {
        let s = settings();
        let with_password = user();
        assert!(ways_in(&with_password, &s));
        let mut no_email_identifier = s.clone();
        no_email_identifier.identifiers.email_address = false;
        assert!(
            !ways_in(&with_password, &no_email_identifier),
            "a password alone names nobody"
        );
        let mut unverified = user();
        unverified.email_addresses[0].verified = false;
        assert!(
            !ways_in(&unverified, &s),
            "an unproved address is no way in"
        );
        let mut reserved_phone = User {
            password_digest: None,
            ..unverified.clone()
        };
        reserved_phone.phone_numbers.push(IdentificationRecord {
            reserved_for_second_factor: true,
            ..user().email_addresses[0].clone()
        });
        assert!(
            !ways_in(&reserved_phone, &s),
            "a second-factor number signs nobody in"
        );
        let mut codes_off = s.clone();
        codes_off.strategies.email_code = false;
        let passwordless = User {
            password_digest: None,
            ..user()
        };
        assert!(ways_in(&passwordless, &s));
        assert!(!ways_in(&passwordless, &codes_off));
        let mut linked = passwordless.clone();
        linked.external_accounts.push(ExternalAccount {
            id: "eac_1".into(),
            provider: "github".into(),
            subject: "1".into(),
            email: None,
            email_verified: false,
            first_name: None,
            last_name: None,
            username: None,
            avatar_url: None,
            approved_scopes: String::new(),
            tokens: None,
            created_at: NOW,
            updated_at: NOW,
        });
        assert!(
            !ways_in(&linked, &codes_off),
            "a provider turned off is no way in"
        );
        codes_off.strategies.oauth_providers = vec!["github".into()];
        assert!(ways_in(&linked, &codes_off));
        // Only a change that takes the last one away is refused.
        assert!(keep_a_way_in(&with_password, &unverified, &s, "email_address").is_err());
        assert!(keep_a_way_in(&unverified, &unverified, &s, "email_address").is_ok());
    }

    /// A signed-in client whose user has claimed `work@example.com` and was
    /// sent `code` for it, `attempts` times tried.
    fn claimed(code: &str, attempts: u32) -> (Mocks, Arc<Mutex<Vec<User>>>) {
        let mut m = Mocks::new();
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                last_active_session_id: Some(crate::model::SessionId("sess_1".into())),
                ..client()
            }))
        });
        m.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![session(SessionStatus::Active)]));
        m.clients
            .expect_get_client_with_sessions()
            .returning(|_, _| Ok(None));
        let secrets = crate::secrets::SecretBox::new(&[7; 32]);
        let mut verification = Verification::code_sent(
            Strategy::EmailCode,
            SentCode {
                digest: code_digest(&secrets, "idn_work", code),
                target_id: "idn_work".into(),
                sent_at: NOW,
            },
            Timestamp(NOW.0 + 600_000),
        );
        verification.attempts = attempts;
        let mut stored = user();
        stored.email_addresses.push(IdentificationRecord {
            id: "idn_work".into(),
            value: "work@example.com".into(),
            verified: false,
            verification: Some(verification),
            ..user().email_addresses[0].clone()
        });
        m.users
            .expect_get()
            .returning(move |_| Ok(Some(stored.clone())));
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        m.users.expect_update().returning(move |u, _, _| {
            sink.lock().unwrap().push(u.clone());
            Ok(())
        });
        (m, written)
    }

    #[tokio::test]
    async fn a_wrong_code_is_counted_in_the_one_write_and_the_right_one_verifies() {
        let (m, written) = claimed("123456", 0);
        let err = m
            .services()
            .account
            .attempt_address(
                Some(TOKEN),
                None,
                AddressKind::Email,
                "idn_work",
                Some("654321".into()),
            )
            .await
            .unwrap_err();
        assert_eq!(err, Error::CodeIncorrect);
        let writes = written.lock().unwrap().clone();
        assert_eq!(writes.len(), 1, "the attempt is stored");
        let record = &writes[0].email_addresses[1];
        assert!(!record.verified);
        assert_eq!(record.verification.as_ref().unwrap().attempts, 1);

        let (m, written) = claimed("123456", 0);
        let out = m
            .services()
            .account
            .attempt_address(
                Some(TOKEN),
                None,
                AddressKind::Email,
                "idn_work",
                Some("123456".into()),
            )
            .await
            .unwrap();
        assert!(out.response.record.verified);
        let writes = written.lock().unwrap().clone();
        assert_eq!(writes.len(), 1);
        assert!(writes[0].email_addresses[1].verified);
    }

    #[tokio::test]
    async fn past_the_allowed_attempts_even_the_right_code_fails() {
        let (m, written) = claimed("123456", 3);
        let err = m
            .services()
            .account
            .attempt_address(
                Some(TOKEN),
                None,
                AddressKind::Email,
                "idn_work",
                Some("123456".into()),
            )
            .await
            .unwrap_err();
        assert_eq!(err, Error::CodeAttemptsExhausted);
        assert!(!written.lock().unwrap()[0].email_addresses[1].verified);
    }

    #[tokio::test]
    async fn the_last_address_that_signs_in_stays() {
        let mut m = Mocks::new();
        m.settings.strategies.email_code = false;
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                last_active_session_id: Some(crate::model::SessionId("sess_1".into())),
                ..client()
            }))
        });
        m.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![session(SessionStatus::Active)]));
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m.users.expect_update().never();
        let err = m
            .services()
            .account
            .delete_address(Some(TOKEN), None, AddressKind::Email, "idn_1")
            .await
            .unwrap_err();
        assert_eq!(err, Error::invalid("email_address", Problem::LastWayIn));
    }
}

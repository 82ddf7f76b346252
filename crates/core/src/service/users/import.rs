//! Users brought over from another Clerk instance, under the ids they had
//! there, so that the foreign keys of the applications that move with them
//! stay valid.
//!
//! An import is not a sign-up: the user is stored as it was, password digest
//! as given (never hashed here), addresses verified or not as they were. It
//! is announced with `user.created`, as Clerk's own import does, so that the
//! endpoints configured before an import hear of every user.

use std::collections::{HashMap, HashSet};

use super::{CreateUser, Profile, Users, dedup, email_value, phone_value};
use crate::error::Error;
use crate::model::{
    IdPrefix, IdentificationRecord, Identifier, IdentifierKind, Timestamp, User, UserId, Username,
};

/// A user as another instance exported it.
#[derive(Debug, Default, Clone)]
pub struct ImportUser {
    /// Its id there (`user_...`), kept as its id here.
    pub id: String,
    /// What `POST /v1/users` would be given for it: the addresses there
    /// are the verified ones; a password digest is stored as given (a plain
    /// password, which Clerk's exports never hold, is hashed as there).
    pub user: CreateUser,
    /// Addresses its owner never proved, kept unverified.
    pub unverified_email_addresses: Vec<String>,
    pub unverified_phone_numbers: Vec<String>,
    /// Which email address is primary; the first verified one when `None`.
    pub primary_email_address: Option<String>,
    /// Which phone number is primary; the first verified one when `None`.
    pub primary_phone_number: Option<String>,
    pub banned: bool,
    pub legal_accepted_at: Option<Timestamp>,
    /// When the user signed up there; now when `None` (or later than now).
    pub created_at: Option<Timestamp>,
}

/// Whether an import writes, or only says what it would do.
#[derive(Debug)]
pub enum ImportMode<'a> {
    Write,
    /// Nothing is written; the plan so far checks the next user as the
    /// store would once the users before it were stored.
    DryRun(&'a mut DryRun),
}

/// What a dry run has planned so far: the ids and the identifiers its users
/// would hold.
#[derive(Debug, Default)]
pub struct DryRun {
    ids: HashSet<String>,
    /// Each identifier planned, and whether it holds against a later claim
    /// (a verified address, a username); an unverified claim gives way, as
    /// it does in the store.
    held: HashMap<(IdentifierKind, String), bool>,
}

/// What became of one imported user.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// Stored under its own id (in a dry run: would be), as shown.
    Imported(Box<User>),
    /// A user with this id exists already: nothing was changed.
    AlreadyImported,
}

impl Users {
    /// Stores a user exported by another instance under its own id, with
    /// the checks of [`Users::create_user`]. A user whose id is taken is
    /// left as it is; one whose identifier belongs to another user is
    /// refused with [`Error::IdentifierTaken`].
    pub async fn import_user(
        &self,
        params: ImportUser,
        mode: ImportMode<'_>,
    ) -> Result<ImportOutcome, Error> {
        let id = UserId::parse_kept(&params.id)?;
        let user = self.imported(id, params).await?;
        let planned_before = match &mode {
            ImportMode::DryRun(plan) => plan.ids.contains(user.id.as_str()),
            ImportMode::Write => false,
        };
        if planned_before || self.users.get(&user.id).await?.is_some() {
            return Ok(ImportOutcome::AlreadyImported);
        }
        match mode {
            ImportMode::Write => {
                let now = user.updated_at;
                let id = user.id.clone();
                match self.insert_new_user(user, now).await {
                    Ok(stored) => Ok(ImportOutcome::Imported(Box::new(stored))),
                    // Stored meanwhile by another import of the same user.
                    Err(err) => match self.users.get(&id).await? {
                        Some(_) => Ok(ImportOutcome::AlreadyImported),
                        None => Err(err),
                    },
                }
            }
            ImportMode::DryRun(plan) => {
                self.check_identifiers(&user, plan).await?;
                plan.ids.insert(user.id.as_str().to_owned());
                for (kind, value, holds) in identifiers(&user) {
                    let held = plan.held.entry((kind, value)).or_insert(holds);
                    *held |= holds;
                }
                Ok(ImportOutcome::Imported(Box::new(user)))
            }
        }
    }

    /// The user `import` describes, checked, with id `id`.
    async fn imported(&self, id: UserId, import: ImportUser) -> Result<User, Error> {
        let now = self.clock.now();
        let mut params = import.user;
        let emails = addresses(
            &params.email_addresses,
            &import.unverified_email_addresses,
            email_value,
        )?;
        let phones = addresses(
            &params.phone_numbers,
            &import.unverified_phone_numbers,
            phone_value,
        )?;
        // A blank username is none, as a blank CSV column is.
        params.username = params.username.filter(|u| !u.trim().is_empty());
        let profile = Profile::take_from(&mut params, !emails.is_empty() || !phones.is_empty())?;
        let stored_form = |value: Option<String>, form: fn(&str) -> Result<String, Error>| {
            value.as_deref().map(form).transpose()
        };
        let primary_email = stored_form(import.primary_email_address, email_value)?;
        let primary_phone = stored_form(import.primary_phone_number, phone_value)?;
        params.password_digest = params.password_digest.filter(|d| !d.trim().is_empty());
        let password_digest = self.password_digest_of(&params).await?;
        let totp_secret = self.seal_totp_secret(&id, params.totp_secret.as_deref())?;
        let backup_codes = self.backup_code_digests(&id, &params.backup_codes)?;
        let created_at = import.created_at.filter(|at| at.0 <= now.0).unwrap_or(now);
        let email_addresses = self.records(IdPrefix::EmailAddress, emails, created_at);
        let phone_numbers = self.records(IdPrefix::PhoneNumber, phones, created_at);
        Ok(User {
            primary_email_address_id: primary(&email_addresses, primary_email.as_deref()),
            primary_phone_number_id: primary(&phone_numbers, primary_phone.as_deref()),
            email_addresses,
            phone_numbers,
            password_digest,
            totp_secret,
            backup_codes,
            banned: import.banned,
            legal_accepted_at: import.legal_accepted_at,
            created_at,
            ..profile.on(User::blank(id, now))
        })
    }

    /// Refuses `user` when an identifier of its would be another's once the
    /// store and the plan so far are taken together.
    async fn check_identifiers(&self, user: &User, plan: &DryRun) -> Result<(), Error> {
        for (kind, value, _) in identifiers(user) {
            if plan.held.get(&(kind, value.clone())) == Some(&true) {
                return Err(Error::IdentifierTaken(kind));
            }
            let identifier = match kind {
                IdentifierKind::EmailAddress => {
                    Identifier::Email(crate::model::EmailAddress::parse(&value)?)
                }
                IdentifierKind::PhoneNumber => {
                    Identifier::Phone(crate::model::PhoneNumber::parse(&value)?)
                }
                IdentifierKind::Username => Identifier::Username(Username::parse(&value)?),
            };
            let Some(owner) = self.users.find_by_identifier(&identifier).await? else {
                continue;
            };
            let holds = match kind {
                IdentifierKind::EmailAddress => held(&owner.email_addresses, &value),
                IdentifierKind::PhoneNumber => held(&owner.phone_numbers, &value),
                IdentifierKind::Username => true,
            };
            if owner.id != user.id && holds {
                return Err(Error::IdentifierTaken(kind));
            }
        }
        Ok(())
    }
}

/// The addresses in their stored form, each once, verified ones first (an
/// address given as both is verified).
fn addresses(
    verified: &[String],
    unverified: &[String],
    stored_form: fn(&str) -> Result<String, Error>,
) -> Result<Vec<(String, bool)>, Error> {
    let proved = dedup(verified.iter().map(|v| stored_form(v)))?;
    let claimed = dedup(unverified.iter().map(|v| stored_form(v)))?;
    let claimed = claimed.into_iter().filter(|v| !proved.contains(v));
    Ok(proved
        .iter()
        .cloned()
        .map(|v| (v, true))
        .chain(claimed.map(|v| (v, false)))
        .collect())
}

/// The id of the record named primary, or else of the first verified one.
fn primary(records: &[IdentificationRecord], named: Option<&str>) -> Option<String> {
    named
        .and_then(|value| records.iter().find(|r| r.value == value))
        .or_else(|| records.iter().find(|r| r.verified))
        .map(|r| r.id.clone())
}

/// Whether a verified record of `value` is among `records`.
fn held(records: &[IdentificationRecord], value: &str) -> bool {
    records.iter().any(|r| r.value == value && r.verified)
}

/// Every identifier of `user`, with whether it holds against a later claim.
fn identifiers(user: &User) -> Vec<(IdentifierKind, String, bool)> {
    let records = |kind, records: &[IdentificationRecord]| {
        records
            .iter()
            .map(|r| (kind, r.value.clone(), r.verified))
            .collect::<Vec<_>>()
    };
    let mut out = records(IdentifierKind::EmailAddress, &user.email_addresses);
    out.extend(records(IdentifierKind::PhoneNumber, &user.phone_numbers));
    out.extend(
        user.username
            .iter()
            .map(|u| (IdentifierKind::Username, u.as_str().to_owned(), true)),
    );
    out
}

#[cfg(test)]
mod tests;

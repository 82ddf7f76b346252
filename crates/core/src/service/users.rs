//! Users through the Backend API.

use std::sync::Arc;

use super::LiveSettings;
use super::page_limit;
use crate::error::{Error, Problem, Resource, StoreError};
use crate::model::{AuditAction, EventType};
use crate::model::{
    EmailAddress, IdPrefix, IdentificationRecord, Password, PhoneNumber, Strategy, Timestamp,
    TotpSecret, User, UserId, UserPatch, Username, new_id, parse_backup_codes,
};
use crate::ports::{ClientRepository, Clock, PasswordHasher, Random, UserQuery, UserRepository};
use crate::secrets::SecretBox;

mod import;
pub use import::{DryRun, ImportMode, ImportOutcome, ImportUser};

/// The Backend API's users, and the writes of a user other services share.
#[derive(Clone)]
pub struct Users {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    /// Makes the events its writes store.
    pub(super) events: super::Events,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

/// `POST /v1/users`.
#[derive(Debug, Default, Clone)]
pub struct CreateUser {
    pub email_addresses: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// An existing argon2 PHC string to import instead of a password.
    pub password_digest: Option<String>,
    pub password_hasher: Option<String>,
    pub skip_password_checks: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub public_metadata: Option<serde_json::Value>,
    pub private_metadata: Option<serde_json::Value>,
    pub unsafe_metadata: Option<serde_json::Value>,
    /// A TOTP secret in base32, to turn TOTP on.
    pub totp_secret: Option<String>,
    /// Plain backup codes, to turn backup codes on.
    pub backup_codes: Vec<String>,
}

/// `PATCH /v1/phone_numbers/{id}`: `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct PhoneNumberPatch {
    pub verified: Option<bool>,
    pub primary: Option<bool>,
    pub reserved_for_second_factor: Option<bool>,
}

/// One page of users.
#[derive(Debug, Clone)]
pub struct UsersPage {
    pub users: Vec<User>,
}

const NAME_MAX_CHARS: usize = 256;

impl Users {
    /// Creates a user. Emails and phone numbers given here count as verified;
    /// the first of each is primary.
    pub async fn create_user(&self, mut params: CreateUser) -> Result<User, Error> {
        let now = self.clock.now();
        let emails = dedup(params.email_addresses.iter().map(|e| email_value(e)))?;
        let phones = dedup(params.phone_numbers.iter().map(|p| phone_value(p)))?;
        // Everything cheap is checked before the password is hashed.
        let has_address = !emails.is_empty() || !phones.is_empty();
        let profile = Profile::take_from(&mut params, has_address)?;
        let password_digest = self.password_digest_of(&params).await?;
        let id = UserId(new_id(IdPrefix::User, &*self.random));
        let totp_secret = self.seal_totp_secret(&id, params.totp_secret.as_deref())?;
        let backup_codes = self.backup_code_digests(&id, &params.backup_codes)?;
        let verified = |values: Vec<String>| values.into_iter().map(|v| (v, true));
        let email_addresses = self.records(IdPrefix::EmailAddress, verified(emails), now);
        let phone_numbers = self.records(IdPrefix::PhoneNumber, verified(phones), now);
        let user = User {
            primary_email_address_id: email_addresses.first().map(|e| e.id.clone()),
            primary_phone_number_id: phone_numbers.first().map(|p| p.id.clone()),
            email_addresses,
            phone_numbers,
            password_digest,
            totp_secret,
            backup_codes,
            ..profile.on(User::blank(id, now))
        };
        self.insert_new_user(user, now).await
    }

    /// The digest a new user's password is kept as: the password hashed,
    /// or the digest of another hasher checked; not both.
    async fn password_digest_of(&self, params: &CreateUser) -> Result<Option<String>, Error> {
        Ok(match (&params.password, &params.password_digest) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "password_digest",
                    Problem::PasswordAndDigest,
                ));
            }
            (Some(password), None) => Some(
                self.hash_new_password(password, params.skip_password_checks)
                    .await?,
            ),
            (None, Some(digest)) => {
                Some(imported_digest(digest, params.password_hasher.as_deref())?)
            }
            (None, None) => None,
        })
    }

    /// Stores a user made here as new: its history stamped, `user.created`
    /// announced with it.
    async fn insert_new_user(&self, mut user: User, now: Timestamp) -> Result<User, Error> {
        user.stamp_changes(&User::blank(user.id.clone(), now), now);
        let event = self.events.user(EventType::UserCreated, &user)?;
        self.users.insert(&user, &[event]).await?;
        self.events.stored();
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> Result<User, Error> {
        self.users
            .get(&UserId(id.to_owned()))
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// `GET /v1/users`: newest first, `limit` 1..=500 (default 10).
    pub async fn list_users(
        &self,
        mut query: UserQuery,
        limit: Option<u32>,
    ) -> Result<UsersPage, Error> {
        query.limit = page_limit(limit)?;
        let query = normalised(query);
        Ok(UsersPage {
            users: self.users.list(&query).await?,
        })
    }

    pub async fn count_users(&self, query: UserQuery) -> Result<u64, Error> {
        let query = normalised(query);
        Ok(self.users.count(&query).await?)
    }

    /// `PATCH /v1/users/{id}`: applies only what the patch names, on the user as
    /// stored at the moment of writing, so concurrent updates and sign-ins are
    /// never undone.
    pub async fn update_user(&self, id: &str, patch: UserPatch) -> Result<User, Error> {
        let sets_password = patch.password.is_some();
        let user = self.update_user_where(id, patch, |_| Ok(())).await?;
        if sets_password {
            self.audit
                .record(AuditAction::PasswordChanged, Some(id), &[])
                .await;
        }
        Ok(user)
    }

    /// As [`Self::update_user`], only while `guard` accepts the user as
    /// stored: it runs on every read, so a write that lands in between (a ban,
    /// say) is seen before the patch is applied.
    pub(crate) async fn update_user_where(
        &self,
        id: &str,
        patch: UserPatch,
        guard: impl Fn(&User) -> Result<(), Error>,
    ) -> Result<User, Error> {
        let stored = self.get_user(id).await?;
        guard(&stored)?;
        // Checked before the costly or random steps, which are done once
        // whatever the retries.
        apply_patch(stored.clone(), &patch)?;
        let new_digest = match &patch.password {
            Some(password) => Some(
                self.hash_new_password(password, patch.skip_password_checks)
                    .await?,
            ),
            None => None,
        };
        let totp_secret = match &patch.totp_secret {
            Some(secret) => Some(self.seal_totp_secret(&stored.id, secret.as_deref())?),
            None => None,
        };
        let backup_codes = match &patch.backup_codes {
            Some(codes) => Some(self.backup_code_digests(&stored.id, codes)?),
            None => None,
        };
        self.write_user(stored, |stored| {
            guard(&stored)?;
            let mut user = apply_patch(stored, &patch)?;
            if let Some(digest) = &new_digest {
                user.password_digest = Some(digest.clone());
            }
            if let Some(secret) = &totp_secret {
                user.totp_secret = secret.clone();
                // An enrolment in progress is replaced too.
                user.totp_pending_secret = None;
            }
            if let Some(codes) = &backup_codes {
                user.backup_codes = codes.clone();
            }
            Ok(user)
        })
        .await
    }

    /// `DELETE /v1/users/{id}/mfa`: TOTP and backup codes go, and phone
    /// numbers reserved for the second factor become ordinary numbers.
    pub async fn disable_mfa(&self, id: &str) -> Result<User, Error> {
        self.write_user(self.get_user(id).await?, |mut user| {
            user.totp_secret = None;
            user.totp_pending_secret = None;
            user.backup_codes.clear();
            for phone in &mut user.phone_numbers {
                phone.reserved_for_second_factor = false;
            }
            Ok(user)
        })
        .await
    }

    /// `DELETE /v1/users/{id}/totp`.
    pub async fn delete_totp(&self, id: &str) -> Result<User, Error> {
        self.write_user(self.get_user(id).await?, |mut user| {
            user.totp_secret = None;
            user.totp_pending_secret = None;
            Ok(user)
        })
        .await
    }

    /// `DELETE /v1/users/{id}/backup_code`.
    pub async fn delete_backup_codes(&self, id: &str) -> Result<User, Error> {
        self.write_user(self.get_user(id).await?, |mut user| {
            user.backup_codes.clear();
            Ok(user)
        })
        .await
    }

    /// `DELETE /v1/users/{id}/external_accounts/{account}`: the provider
    /// account no longer signs this user in.
    pub async fn delete_external_account(&self, id: &str, account: &str) -> Result<(), Error> {
        let user = self.get_user(id).await?;
        if !user.external_accounts.iter().any(|a| a.id == account) {
            return Err(Error::NotFound(Resource::ExternalAccount));
        }
        self.write_user(user, |mut user| {
            user.external_accounts.retain(|a| a.id != account);
            Ok(user)
        })
        .await?;
        Ok(())
    }

    /// `GET /v1/phone_numbers/{id}`: the phone number and its user.
    pub async fn get_phone_number(&self, id: &str) -> Result<(User, IdentificationRecord), Error> {
        let user = self.phone_number_owner(id).await?;
        let record = phone_record(&user, id)?.clone();
        Ok((user, record))
    }

    /// `PATCH /v1/phone_numbers/{id}`: marks it verified, primary, or
    /// reserved for the second factor (only a verified number can be).
    pub async fn update_phone_number(
        &self,
        id: &str,
        patch: PhoneNumberPatch,
    ) -> Result<(User, IdentificationRecord), Error> {
        if patch.reserved_for_second_factor == Some(true) {
            self.require_strategy(&Strategy::PhoneCode, "reserved_for_second_factor")?;
        }
        let stored = self.phone_number_owner(id).await?;
        let now = self.clock.now();
        let user = self
            .write_user(stored, |mut user| {
                let record = user
                    .phone_numbers
                    .iter_mut()
                    .find(|p| p.id == id)
                    .ok_or(Error::NotFound(Resource::PhoneNumber))?;
                if let Some(verified) = patch.verified {
                    record.verified = verified;
                }
                if let Some(reserved) = patch.reserved_for_second_factor {
                    record.reserved_for_second_factor = reserved;
                }
                if record.reserved_for_second_factor && !record.verified {
                    let param = if patch.verified == Some(false) {
                        "verified"
                    } else {
                        "reserved_for_second_factor"
                    };
                    return Err(Error::invalid(param, Problem::UnverifiedSecondFactorPhone));
                }
                record.updated_at = now;
                match patch.primary {
                    Some(true) => user.primary_phone_number_id = Some(id.to_owned()),
                    Some(false) if user.primary_phone_number_id.as_deref() == Some(id) => {
                        return Err(Error::invalid("primary", Problem::PrimaryPhoneReserved));
                    }
                    _ => {}
                }
                Ok(user)
            })
            .await?;
        let record = phone_record(&user, id)?.clone();
        Ok((user, record))
    }

    /// Writes `change(user)` over the stored user with a compare-and-set,
    /// re-reading and re-applying the change whenever another write came
    /// first, so that concurrent updates and sign-ins are never undone.
    pub(super) async fn write_user(
        &self,
        mut stored: User,
        change: impl Fn(User) -> Result<User, Error>,
    ) -> Result<User, Error> {
        for _ in 0..16 {
            let read_at = stored.updated_at;
            let id = stored.id.clone();
            let before = stored.clone();
            let mut user = change(stored)?;
            user.updated_at = Timestamp(self.clock.now().0.max(read_at.0 + 1));
            user.stamp_changes(&before, user.updated_at);
            let event = self.events.user(EventType::UserUpdated, &user)?;
            match self.users.update(&user, read_at, &[event]).await {
                Err(StoreError::Conflict) => stored = self.get_user(id.as_str()).await?,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                other => {
                    other?;
                    self.events.stored();
                    self.record_second_factor_changes(&before, &user).await;
                    return Ok(user);
                }
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// `second_factor.added` and `.removed` for each kind of second factor a
    /// write gave or took away.
    async fn record_second_factor_changes(&self, before: &User, after: &User) {
        let kinds = |u: &User| {
            [
                ("totp", u.totp_enabled()),
                ("backup_code", u.backup_code_enabled()),
                (
                    "phone_code",
                    u.phone_numbers.iter().any(|p| p.reserved_for_second_factor),
                ),
            ]
        };
        for ((kind, had), (_, has)) in kinds(before).into_iter().zip(kinds(after)) {
            let action = match (had, has) {
                (false, true) => AuditAction::SecondFactorAdded,
                (true, false) => AuditAction::SecondFactorRemoved,
                _ => continue,
            };
            self.audit
                .record(action, Some(after.id.as_str()), &[("strategy", kind)])
                .await;
        }
    }

    async fn phone_number_owner(&self, id: &str) -> Result<User, Error> {
        self.users
            .find_by_identification_id(id)
            .await?
            .filter(|u| u.phone_numbers.iter().any(|p| p.id == id))
            .ok_or(Error::NotFound(Resource::PhoneNumber))
    }

    /// A TOTP secret given in base32, sealed for `user`; `None` for none.
    fn seal_totp_secret(
        &self,
        user: &UserId,
        secret: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let Some(secret) = secret.filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        self.require_strategy(&Strategy::Totp, "totp_secret")?;
        let secret = TotpSecret::parse_base32(secret)?;
        let sealed = self
            .secrets
            .seal(secret.as_bytes(), user.as_str(), &*self.random)?;
        Ok(Some(sealed))
    }

    /// The keyed digests backup codes are kept as.
    pub(super) fn backup_code_digests(
        &self,
        user: &UserId,
        codes: &[String],
    ) -> Result<Vec<String>, Error> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        self.require_strategy(&Strategy::BackupCode, "backup_codes")?;
        Ok(parse_backup_codes(codes)?
            .iter()
            .map(|code| self.secrets.digest(user.as_str(), code))
            .collect())
    }

    fn require_strategy(&self, strategy: &Strategy, param: &'static str) -> Result<(), Error> {
        if self.settings.current().strategies.allows(strategy) {
            return Ok(());
        }
        Err(Error::invalid(
            param,
            Problem::StrategyNotEnabled(strategy.clone()),
        ))
    }

    /// `POST /v1/users/{id}/lock`: locked until unlocked.
    pub async fn lock_user(&self, id: &str) -> Result<User, Error> {
        let user = self.set_lock(id, Some(Timestamp::FOREVER)).await?;
        self.audit
            .record(
                AuditAction::UserLocked,
                Some(id),
                &[("reason", "administrator")],
            )
            .await;
        Ok(user)
    }

    /// `POST /v1/users/{id}/unlock`: lifts any lock and clears the failure count.
    pub async fn unlock_user(&self, id: &str) -> Result<User, Error> {
        let user = self.set_lock(id, None).await?;
        self.audit
            .record(AuditAction::UserUnlocked, Some(id), &[])
            .await;
        Ok(user)
    }

    /// `POST /v1/users/{id}/ban`: the user can no longer sign in, and every
    /// session it has is revoked.
    pub async fn ban_user(&self, id: &str) -> Result<User, Error> {
        let user = self
            .write_user(self.get_user(id).await?, |mut user| {
                user.banned = true;
                Ok(user)
            })
            .await?;
        self.audit
            .record(AuditAction::UserBanned, Some(id), &[])
            .await;
        self.revoke_sessions_of(&user.id).await?;
        Ok(user)
    }

    /// `POST /v1/users/{id}/unban`.
    pub async fn unban_user(&self, id: &str) -> Result<User, Error> {
        let user = self
            .write_user(self.get_user(id).await?, |mut user| {
                user.banned = false;
                Ok(user)
            })
            .await?;
        self.audit
            .record(AuditAction::UserUnbanned, Some(id), &[])
            .await;
        Ok(user)
    }

    /// Revokes every active session of the user.
    pub(crate) async fn revoke_sessions_of(&self, user: &UserId) -> Result<(), Error> {
        let now = self.clock.now();
        let shown = self.users.get(user).await?;
        let query = crate::ports::SessionQuery {
            user_id: Some(user.0.clone()),
            status: Some(crate::model::SessionStatus::Active),
            now,
            limit: 500,
            ..Default::default()
        };
        // Pages of active sessions until none is left; bounded, as every
        // round ends what it read.
        for _ in 0..64 {
            let active = self.client_repo.list_sessions(&query).await?;
            if active.is_empty() {
                return Ok(());
            }
            for session in active {
                self.events
                    .end_session(
                        &*self.client_repo,
                        &session,
                        shown.as_ref(),
                        crate::model::SessionStatus::Revoked,
                        now,
                    )
                    .await?;
            }
        }
        Err(Error::internal(
            "sessions kept appearing while they were revoked",
        ))
    }

    async fn set_lock(&self, id: &str, until: Option<Timestamp>) -> Result<User, Error> {
        // The event shows the user as the lock leaves it.
        let locked = User {
            locked_until: until,
            failed_attempts: 0,
            ..self.get_user(id).await?
        };
        let event = self.events.user(EventType::UserUpdated, &locked)?;
        match self
            .users
            .set_lock(&UserId(id.to_owned()), until, &[event])
            .await
        {
            Err(StoreError::NotFound) => Err(Error::NotFound(Resource::User)),
            other => {
                other?;
                self.events.stored();
                self.get_user(id).await
            }
        }
    }

    /// `DELETE /v1/users/{id}`: the user, its identifications and sessions go.
    /// Its active sessions are revoked first, each with its event.
    pub async fn delete_user(&self, id: &str) -> Result<(), Error> {
        let user = self.get_user(id).await?;
        self.revoke_sessions_of(&user.id).await?;
        let event = self.events.user_deleted(&user)?;
        if self.users.delete(&user.id, &[event]).await? {
            self.events.stored();
            Ok(())
        } else {
            Err(Error::NotFound(Resource::User))
        }
    }

    async fn hash_new_password(&self, raw: &str, skip_checks: bool) -> Result<String, Error> {
        let min = if skip_checks {
            1
        } else {
            self.settings.current().password_min_length
        };
        let password = Password::parse(raw, min)?;
        self.hasher.hash(&password).await
    }

    /// New records of these values, each verified or not.
    fn records(
        &self,
        prefix: IdPrefix,
        values: impl IntoIterator<Item = (String, bool)>,
        now: Timestamp,
    ) -> Vec<IdentificationRecord> {
        values
            .into_iter()
            .map(|(value, verified)| IdentificationRecord {
                id: new_id(prefix, &*self.random),
                value,
                verified,
                reserved_for_second_factor: false,
                verification: None,
                created_at: now,
                updated_at: now,
            })
            .collect()
    }
}

fn phone_record<'u>(user: &'u User, id: &str) -> Result<&'u IdentificationRecord, Error> {
    user.phone_numbers
        .iter()
        .find(|p| p.id == id)
        .ok_or(Error::NotFound(Resource::PhoneNumber))
}

/// The patch applied to `user` in memory, the password, TOTP secret and
/// backup codes excepted.
fn apply_patch(mut user: User, patch: &UserPatch) -> Result<User, Error> {
    if let Some(username) = &patch.username {
        user.username = username
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(Username::parse)
            .transpose()?;
    }
    if let Some(v) = &patch.first_name {
        user.first_name = name(v.clone(), "first_name")?;
    }
    if let Some(v) = &patch.last_name {
        user.last_name = name(v.clone(), "last_name")?;
    }
    if let Some(v) = &patch.external_id {
        user.external_id = name(v.clone(), "external_id")?;
    }
    if let Some(id) = &patch.primary_email_address_id {
        if !user.email_addresses.iter().any(|e| &e.id == id) {
            return Err(Error::invalid(
                "primary_email_address_id",
                Problem::NoSuchEmailAddress,
            ));
        }
        user.primary_email_address_id = Some(id.clone());
    }
    if let Some(id) = &patch.primary_phone_number_id {
        if !user.phone_numbers.iter().any(|p| &p.id == id) {
            return Err(Error::invalid(
                "primary_phone_number_id",
                Problem::NoSuchPhoneNumber,
            ));
        }
        user.primary_phone_number_id = Some(id.clone());
    }
    if let Some(v) = &patch.public_metadata {
        user.public_metadata = metadata(Some(v.clone()), "public_metadata")?;
    }
    if let Some(v) = &patch.private_metadata {
        user.private_metadata = metadata(Some(v.clone()), "private_metadata")?;
    }
    if let Some(v) = &patch.unsafe_metadata {
        user.unsafe_metadata = metadata(Some(v.clone()), "unsafe_metadata")?;
    }
    Ok(user)
}

/// Filters in the stored form: emails and usernames lower-cased, phone numbers
/// in E.164 where they parse (others are kept and match nothing).
fn normalised(mut query: UserQuery) -> UserQuery {
    let lower = |values: &[String]| {
        values
            .iter()
            .map(|v| v.trim().to_lowercase())
            .collect::<Vec<_>>()
    };
    query.email_addresses = lower(&query.email_addresses);
    query.usernames = lower(&query.usernames);
    query.phone_numbers = query
        .phone_numbers
        .iter()
        .map(|p| {
            PhoneNumber::parse(p)
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|_| p.clone())
        })
        .collect();
    query
}

fn dedup(values: impl Iterator<Item = Result<String, Error>>) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let value = value?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// An email address in its stored form.
fn email_value(raw: &str) -> Result<String, Error> {
    EmailAddress::parse(raw).map(|e| e.as_str().to_owned())
}

/// A phone number in its stored form (E.164).
fn phone_value(raw: &str) -> Result<String, Error> {
    PhoneNumber::parse(raw).map(|p| p.as_str().to_owned())
}

/// The checked username, names and metadata of a new user, however it
/// comes.
struct Profile {
    username: Option<Username>,
    first_name: Option<String>,
    last_name: Option<String>,
    external_id: Option<String>,
    /// Public, private and unsafe, in that order.
    metadata: [serde_json::Value; 3],
}

impl Profile {
    /// The profile taken out of `params`; refused when the user would have
    /// no identifier at all (`has_address` says whether it has an address).
    fn take_from(params: &mut CreateUser, has_address: bool) -> Result<Self, Error> {
        let username = params
            .username
            .as_deref()
            .map(Username::parse)
            .transpose()?;
        if !has_address && username.is_none() {
            return Err(Error::param_nil("email_address"));
        }
        Ok(Self {
            username,
            first_name: name(params.first_name.take(), "first_name")?,
            last_name: name(params.last_name.take(), "last_name")?,
            external_id: name(params.external_id.take(), "external_id")?,
            metadata: [
                metadata(params.public_metadata.take(), "public_metadata")?,
                metadata(params.private_metadata.take(), "private_metadata")?,
                metadata(params.unsafe_metadata.take(), "unsafe_metadata")?,
            ],
        })
    }

    /// `user` with this username, names and metadata.
    fn on(self, user: User) -> User {
        let [public_metadata, private_metadata, unsafe_metadata] = self.metadata;
        User {
            username: self.username,
            first_name: self.first_name,
            last_name: self.last_name,
            external_id: self.external_id,
            public_metadata,
            private_metadata,
            unsafe_metadata,
            ..user
        }
    }
}

pub(super) fn name(value: Option<String>, param: &'static str) -> Result<Option<String>, Error> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > NAME_MAX_CHARS => Err(Error::invalid(
            param,
            Problem::TooLong {
                max_chars: NAME_MAX_CHARS,
            },
        )),
        other => Ok(other),
    }
}

/// Metadata must be a JSON object of at most 8 KiB, as in Clerk.
pub(super) fn metadata(
    value: Option<serde_json::Value>,
    param: &'static str,
) -> Result<serde_json::Value, Error> {
    let value = value.unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    if !value.is_object() {
        return Err(Error::invalid(param, Problem::NotJsonObject));
    }
    if value.to_string().len() > 8 * 1024 {
        return Err(Error::invalid(param, Problem::TooLarge { max_kib: 8 }));
    }
    Ok(value)
}

/// Accepts a digest in one of the formats of the hashers Clerk names, within
/// the cost bounds of [`crate::password`]: argon2 PHC strings are kept as they
/// are, the others in the stored form of [`crate::password::imported`].
fn imported_digest(digest: &str, hasher: Option<&str>) -> Result<String, Error> {
    use crate::password::imported::{ImportHasher, stored_form};
    let hasher = match hasher.map(ImportHasher::parse) {
        Some(Some(hasher)) => hasher,
        Some(None) => {
            return Err(Error::invalid(
                "password_hasher",
                Problem::UnknownPasswordHasher,
            ));
        }
        None => return Err(Error::param_nil("password_hasher")),
    };
    if digest.len() > 512 {
        return Err(Error::invalid("password_digest", Problem::DigestTooLong));
    }
    match hasher {
        ImportHasher::Argon2id | ImportHasher::Argon2i => {
            crate::password::validate_imported_digest(digest).map(|()| digest.to_owned())
        }
        _ => stored_form(hasher, digest),
    }
    .map_err(|problem| Error::invalid("password_digest", problem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::model::IdentifierKind;
    use crate::model::Timestamp;
    use crate::service::test_support::{Mocks, NOW, user};

    fn params(email: &str) -> CreateUser {
        CreateUser {
            email_addresses: vec![email.into()],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn creating_a_user_normalises_and_hashes_once() {
        let mut m = Mocks::new();
        m.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok("$argon2id$new".into()));
        m.users
            .expect_insert()
            .withf(|u, _| {
                u.email_addresses.len() == 1
                    && u.email_addresses[0].value == "ann@example.com"
                    && u.email_addresses[0].verified
                    && u.primary_email_address_id.as_deref()
                        == Some(u.email_addresses[0].id.as_str())
                    && u.password_digest.as_deref() == Some("$argon2id$new")
                    && u.public_metadata == serde_json::json!({})
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let params = CreateUser {
            email_addresses: vec!["Ann@Example.com".into(), "ann@example.com".into()],
            password: Some("long enough".into()),
            ..Default::default()
        };
        let user = m.services().users.create_user(params).await.unwrap();
        assert!(user.id.as_str().starts_with("user_"));
    }

    #[tokio::test]
    async fn invalid_users_are_refused_before_hashing_or_storing() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().never();
        m.users.expect_insert().never();
        let services = m.services();
        let err = services
            .users
            .create_user(CreateUser::default())
            .await
            .unwrap_err();
        assert_eq!(err, Error::param_nil("email_address"));
        let err = services
            .users
            .create_user(CreateUser {
                password: Some("short".into()),
                ..params("a@b.co")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PasswordTooShort { .. }));
        let both = CreateUser {
            password: Some("long enough".into()),
            password_digest: Some("$argon2id$x".into()),
            ..params("a@b.co")
        };
        assert_eq!(
            services.users.create_user(both).await.unwrap_err(),
            Error::invalid("password_digest", Problem::PasswordAndDigest)
        );
        let digest = CreateUser {
            password_digest: Some("$2b$10$bcrypt".into()),
            password_hasher: Some("argon2id".into()),
            ..params("a@b.co")
        };
        assert_eq!(
            services.users.create_user(digest).await.unwrap_err(),
            Error::invalid("password_digest", Problem::DigestNotAccepted)
        );
        let metadata = CreateUser {
            public_metadata: Some(serde_json::json!("text")),
            ..params("a@b.co")
        };
        assert_eq!(
            services
                .users
                .create_user(metadata)
                .await
                .unwrap_err()
                .param(),
            Some("public_metadata")
        );
    }

    #[tokio::test]
    async fn a_taken_identifier_is_form_identifier_exists() {
        let mut m = Mocks::new();
        m.users
            .expect_insert()
            .returning(|_, _| Err(StoreError::Duplicate(IdentifierKind::Username)));
        let err = m
            .services()
            .users
            .create_user(CreateUser {
                username: Some("taken".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err, Error::IdentifierTaken(IdentifierKind::Username));
        assert_eq!(err.param(), Some("username"));
    }

    #[tokio::test]
    async fn imported_argon2_digests_are_kept_as_they_are() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().never();
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let imported = argon2::Argon2::default()
            .hash_password(
                b"from elsewhere",
                &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
            )
            .unwrap()
            .to_string();
        let expected = imported.clone();
        m.users
            .expect_insert()
            .withf(move |u, _| u.password_digest.as_deref() == Some(expected.as_str()))
            .returning(|_, _| Ok(()));
        let params = CreateUser {
            password_digest: Some(imported),
            password_hasher: Some("argon2id".into()),
            ..params("b@b.co")
        };
        assert!(
            m.services()
                .users
                .create_user(params)
                .await
                .unwrap()
                .has_password()
        );
    }

    #[tokio::test]
    async fn digests_of_other_hashers_are_stored_in_a_form_that_names_them() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().never();
        let sha256 = "9028ea0d15decaa35b2da21c0290af3b1a5ba0a30a591906f89b5074e209ea72";
        m.users
            .expect_insert()
            .withf(move |u, _| {
                u.password_digest.as_deref() == Some(&format!("$latch-import$sha256${sha256}"))
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let services = m.services();
        let import = |hasher: &str, digest: &str| CreateUser {
            password_digest: Some(digest.into()),
            password_hasher: Some(hasher.into()),
            ..params("c@b.co")
        };
        assert!(
            services
                .users
                .create_user(import("sha256", sha256))
                .await
                .is_ok()
        );
        use crate::password::imported::ImportHasher;
        for (hasher, digest, problem) in [
            (
                "sha256",
                "abc",
                Problem::MalformedDigest(ImportHasher::Sha256),
            ),
            (
                "bcrypt",
                "$2b$31$HErsAOq9sJzaVZsbMhpvMeScNJlmqEeKSdhyax4wwe8HS5UOzyTle",
                Problem::DigestTooCostly(ImportHasher::Bcrypt),
            ),
            ("argon2id", sha256, Problem::DigestNotAccepted),
        ] {
            assert_eq!(
                services
                    .users
                    .create_user(import(hasher, digest))
                    .await
                    .unwrap_err(),
                Error::invalid("password_digest", problem),
                "{hasher}"
            );
        }
        assert_eq!(
            services
                .users
                .create_user(import("md5", sha256))
                .await
                .unwrap_err(),
            Error::invalid("password_hasher", Problem::UnknownPasswordHasher)
        );
    }

    #[tokio::test]
    async fn updates_apply_only_what_is_given_and_retry_a_lost_race_without_rehashing() {
        let mut m = Mocks::new();
        // The second read sees a sign-in recorded meanwhile.
        let reads = std::sync::atomic::AtomicUsize::new(0);
        m.users.expect_get().returning(move |_| {
            let n = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut u = user();
            if n > 0 {
                u.last_sign_in_at = Some(Timestamp(NOW.0 + 5));
                u.updated_at = Timestamp(NOW.0 + 5);
            }
            Ok(Some(u))
        });
        m.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok("$argon2id$changed".into()));
        let mut seq = mockall::Sequence::new();
        m.users
            .expect_update()
            .withf(|_, read_at, _| *read_at == NOW)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Err(StoreError::Conflict));
        m.users
            .expect_update()
            .withf(|u, read_at, _| {
                *read_at == Timestamp(NOW.0 + 5)
                    && u.updated_at > *read_at
                    && u.first_name.as_deref() == Some("Alice")
                    && u.last_name.is_none()
                    && u.password_digest.as_deref() == Some("$argon2id$changed")
                    && u.last_sign_in_at == Some(Timestamp(NOW.0 + 5))
                    && u.email_addresses == user().email_addresses
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(()));
        let patch = UserPatch {
            first_name: Some(Some(" Alice ".into())),
            password: Some("a new password".into()),
            ..Default::default()
        };
        m.services()
            .users
            .update_user("user_1", patch)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_invalid_patch_is_refused_before_hashing() {
        let mut m = Mocks::new();
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m.hasher.expect_hash().never();
        m.users.expect_update().never();
        let patch = UserPatch {
            username: Some(Some("no spaces allowed".into())),
            password: Some("a new password".into()),
            ..Default::default()
        };
        let err = m
            .services()
            .users
            .update_user("user_1", patch)
            .await
            .unwrap_err();
        assert_eq!(err.param(), Some("username"));
    }

    #[tokio::test]
    async fn unknown_users_are_not_found() {
        let mut m = Mocks::new();
        m.users.expect_get().returning(|_| Ok(None));
        m.users.expect_delete().returning(|_, _| Ok(false));
        m.clients.expect_list_sessions().returning(|_| Ok(vec![]));
        let services = m.services();
        assert_eq!(
            services.users.get_user("user_x").await.unwrap_err(),
            Error::NotFound(Resource::User)
        );
        assert!(matches!(
            services
                .users
                .update_user("user_x", UserPatch::default())
                .await
                .unwrap_err(),
            Error::NotFound(_)
        ));
        assert!(matches!(
            services.users.delete_user("user_x").await.unwrap_err(),
            Error::NotFound(_)
        ));
    }

    #[tokio::test]
    async fn a_ban_is_announced_with_its_write_and_each_revoked_session_with_its_own() {
        use crate::model::{EventType, SessionStatus};
        use crate::service::test_support::session;
        let mut m = Mocks::new();
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m.users
            .expect_update()
            .times(1)
            .withf(|u, _, events| {
                u.banned && events.len() == 1 && events[0].event_type == EventType::UserUpdated
            })
            .returning(|_, _, _| Ok(()));
        let listed = std::sync::atomic::AtomicBool::new(false);
        m.clients.expect_list_sessions().returning(move |_| {
            // The first page has the one active session; then none is left.
            if listed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                Ok(vec![])
            } else {
                Ok(vec![session(SessionStatus::Active)])
            }
        });
        m.clients
            .expect_end_session()
            .times(1)
            .withf(|_, status, _, events| {
                *status == SessionStatus::Revoked
                    && events.len() == 1
                    && events[0].event_type == EventType::SessionRevoked
            })
            .returning(|_, _, _, _| Ok(true));
        m.services().users.ban_user("user_1").await.unwrap();
    }
}

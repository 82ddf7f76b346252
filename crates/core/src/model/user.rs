//! Users and their identifications.

use super::{EmailAddress, Identifier, PhoneNumber, Timestamp, UserId, Username};

/// An email address or phone number attached to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentificationRecord {
    pub id: String,
    /// The normalised value (lower-cased email, E.164 phone number).
    pub value: String,
    pub verified: bool,
    /// Phone numbers only: kept for the second factor, not for signing in.
    pub reserved_for_second_factor: bool,
    /// The code the user was sent to prove the address they added to their
    /// account, and what became of it; `None` for an address vouched for
    /// otherwise (at sign-up, by a provider, by an operator).
    pub verification: Option<super::Verification>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An account at an identity provider, linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    pub id: String,
    /// The provider's name as in `oauth_<provider>`, e.g. `google`.
    pub provider: String,
    /// The provider's stable id for the account.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// The scopes the provider granted, space-separated as OAuth writes them.
    pub approved_scopes: String,
    /// The provider's tokens for the account, sealed under the instance key
    /// ([`crate::model::SealedTokens`]); `None` when the provider gave none.
    pub tokens: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email_addresses: Vec<IdentificationRecord>,
    pub phone_numbers: Vec<IdentificationRecord>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub username: Option<Username>,
    /// Accounts at identity providers that sign this user in.
    pub external_accounts: Vec<ExternalAccount>,
    /// argon2id PHC string; `None` when the user has no password.
    pub password_digest: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub public_metadata: serde_json::Value,
    pub private_metadata: serde_json::Value,
    pub unsafe_metadata: serde_json::Value,
    pub banned: bool,
    /// Until when the user is locked out; `Timestamp::FOREVER` for an admin
    /// lock. Written only by the lockout ports, never by updates.
    pub locked_until: Option<Timestamp>,
    /// The TOTP secret, sealed with the instance's encryption key and bound
    /// to this user's id; `None` when TOTP is off.
    pub totp_secret: Option<String>,
    /// A TOTP secret the user is enrolling, sealed like `totp_secret`: it
    /// becomes `totp_secret` once a code from it is verified.
    pub totp_pending_secret: Option<String>,
    /// The last TOTP time step whose code was accepted. Written only by
    /// `UserRepository::use_totp_step`, never by updates.
    pub totp_last_step: Option<i64>,
    /// Keyed digests of the unused backup codes.
    pub backup_codes: Vec<String>,
    pub last_sign_in_at: Option<Timestamp>,
    /// When the password was last set; `None` while the user has none set.
    pub password_updated_at: Option<Timestamp>,
    /// When two-factor last turned on, and last turned off.
    pub mfa_enabled_at: Option<Timestamp>,
    pub mfa_disabled_at: Option<Timestamp>,
    /// Failed factor attempts in the lockout window open until
    /// `attempt_window_ends_at`. Written only by the lockout ports.
    pub failed_attempts: u32,
    pub attempt_window_ends_at: Option<Timestamp>,
    /// When the user accepted the terms of service and privacy policy (at
    /// sign-up, on an instance that asks).
    pub legal_accepted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// The user as a sign-in recorded at `at` leaves it (what
    /// `ClientRepository::insert_session` stores besides a digest upgrade):
    /// no failures counted, `last_sign_in_at` at `at`, and `updated_at` past
    /// its value (at `at`, or a millisecond later than it was).
    #[must_use]
    pub fn signed_in_at(&self, at: Timestamp) -> Self {
        Self {
            failed_attempts: 0,
            last_sign_in_at: Some(at),
            updated_at: Timestamp(at.0.max(self.updated_at.0 + 1)),
            ..self.clone()
        }
    }

    /// A user with `id` and nothing else: no identifications, no password,
    /// empty metadata, created and updated at `at`.
    pub fn blank(id: UserId, at: Timestamp) -> Self {
        Self {
            id,
            email_addresses: Vec::new(),
            phone_numbers: Vec::new(),
            primary_email_address_id: None,
            primary_phone_number_id: None,
            username: None,
            external_accounts: Vec::new(),
            password_digest: None,
            first_name: None,
            last_name: None,
            external_id: None,
            public_metadata: serde_json::json!({}),
            private_metadata: serde_json::json!({}),
            unsafe_metadata: serde_json::json!({}),
            banned: false,
            locked_until: None,
            totp_secret: None,
            totp_pending_secret: None,
            totp_last_step: None,
            backup_codes: Vec::new(),
            last_sign_in_at: None,
            password_updated_at: None,
            mfa_enabled_at: None,
            mfa_disabled_at: None,
            failed_attempts: 0,
            attempt_window_ends_at: None,
            legal_accepted_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// Factor attempts left before a lockout at `now`, for an instance that
    /// locks after `max_attempts` failures; `None` when lockout is off. A
    /// locked user has none left; a closed window counts no failures.
    pub fn verification_attempts_remaining(
        &self,
        now: Timestamp,
        max_attempts: u32,
    ) -> Option<u32> {
        if max_attempts == 0 {
            return None;
        }
        if self.lockout_at(now).is_some() {
            return Some(0);
        }
        let open = self.attempt_window_ends_at.is_some_and(|end| end > now);
        let failed = if open { self.failed_attempts } else { 0 };
        Some(max_attempts.saturating_sub(failed))
    }

    /// Stamps the history a change from `before` to this user makes at `now`:
    /// when the password was set, when two-factor turned on or off.
    pub fn stamp_changes(&mut self, before: &User, now: Timestamp) {
        if self.password_digest.is_none() {
            self.password_updated_at = None;
        } else if self.password_digest != before.password_digest {
            self.password_updated_at = Some(now);
        }
        match (before.two_factor_enabled(), self.two_factor_enabled()) {
            (false, true) => self.mfa_enabled_at = Some(now),
            (true, false) => self.mfa_disabled_at = Some(now),
            _ => {}
        }
    }

    pub fn has_password(&self) -> bool {
        self.password_digest.is_some()
    }

    /// Two-factor is on when the user has any second factor: TOTP, backup
    /// codes, or a phone number reserved for it.
    pub fn two_factor_enabled(&self) -> bool {
        self.totp_enabled()
            || self.backup_code_enabled()
            || self
                .phone_numbers
                .iter()
                .any(|p| p.reserved_for_second_factor)
    }

    pub fn totp_enabled(&self) -> bool {
        self.totp_secret.is_some()
    }

    pub fn backup_code_enabled(&self) -> bool {
        !self.backup_codes.is_empty()
    }

    /// The phone number a second-factor code goes to unless another is named:
    /// the primary number if it is reserved, else the first reserved one.
    pub fn default_second_factor_phone(&self) -> Option<&IdentificationRecord> {
        let mut reserved = self
            .phone_numbers
            .iter()
            .filter(|p| p.reserved_for_second_factor);
        self.primary_phone()
            .filter(|p| p.reserved_for_second_factor)
            .or_else(|| reserved.next())
    }

    /// Whether `identifier` is this user's: a verified address (a claim never
    /// proved holds nothing against whoever proves it), or the username.
    pub fn holds(&self, identifier: &Identifier) -> bool {
        match identifier {
            Identifier::Email(address) => self.email(address).is_some_and(|e| e.verified),
            Identifier::Phone(number) => self.phone(number).is_some_and(|p| p.verified),
            Identifier::Username(name) => self.username.as_ref() == Some(name),
        }
    }

    pub fn email(&self, email: &EmailAddress) -> Option<&IdentificationRecord> {
        self.email_addresses
            .iter()
            .find(|e| e.value == email.as_str())
    }

    pub fn phone(&self, phone: &PhoneNumber) -> Option<&IdentificationRecord> {
        self.phone_numbers
            .iter()
            .find(|p| p.value == phone.as_str())
    }

    /// The remaining lockout at `now`: `None` when not locked, `Some(None)`
    /// when locked until unlocked, `Some(Some(d))` when it ends in `d`.
    pub fn lockout_at(&self, now: Timestamp) -> Option<Option<super::Duration>> {
        self.standing().lockout_at(now)
    }

    /// Whether the user may be given a session, as this copy of it says.
    pub fn standing(&self) -> Standing {
        Standing {
            banned: self.banned,
            locked_until: self.locked_until,
        }
    }

    pub fn external_account(&self, provider: &str, subject: &str) -> Option<&ExternalAccount> {
        self.external_accounts
            .iter()
            .find(|a| a.provider == provider && a.subject == subject)
    }

    pub fn primary_email(&self) -> Option<&IdentificationRecord> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses.iter().find(|e| e.id == id)
    }

    pub fn primary_phone(&self) -> Option<&IdentificationRecord> {
        let id = self.primary_phone_number_id.as_deref()?;
        self.phone_numbers.iter().find(|p| p.id == id)
    }
}

/// The validated content of a new user, before ids are assigned.
#[derive(Debug, Default)]
pub struct NewUser {
    pub email_addresses: Vec<EmailAddress>,
    pub phone_numbers: Vec<PhoneNumber>,
    pub username: Option<Username>,
    pub password_digest: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_id: Option<String>,
    pub public_metadata: Option<serde_json::Value>,
    pub private_metadata: Option<serde_json::Value>,
    pub unsafe_metadata: Option<serde_json::Value>,
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub username: Option<Option<String>>,
    pub password: Option<String>,
    pub skip_password_checks: bool,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub public_metadata: Option<serde_json::Value>,
    pub private_metadata: Option<serde_json::Value>,
    pub unsafe_metadata: Option<serde_json::Value>,
    /// A TOTP secret in base32; `Some(None)` turns TOTP off.
    pub totp_secret: Option<Option<String>>,
    /// Plain backup codes replacing the current ones; an empty list removes them.
    pub backup_codes: Option<Vec<String>>,
}

/// What decides whether a user may get a session: a ban, and a lock that has
/// not yet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub banned: bool,
    pub locked_until: Option<Timestamp>,
}

impl Standing {
    /// The remaining lock at `now`, as [`User::lockout_at`] gives it.
    pub fn lockout_at(&self, now: Timestamp) -> Option<Option<super::Duration>> {
        let until = self.locked_until.filter(|until| *until > now)?;
        Some((until != Timestamp::FOREVER).then(|| until.since(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User::blank(UserId("user_1".into()), Timestamp(0))
    }

    #[test]
    fn setting_or_changing_a_password_stamps_it_and_removing_it_clears_it() {
        let before = user();
        let mut after = User {
            password_digest: Some("$argon2id$one".into()),
            ..before.clone()
        };
        after.stamp_changes(&before, Timestamp(5));
        assert_eq!(after.password_updated_at, Some(Timestamp(5)));
        let mut same = after.clone();
        same.stamp_changes(&after, Timestamp(9));
        assert_eq!(same.password_updated_at, Some(Timestamp(5)), "unchanged");
        let mut removed = User {
            password_digest: None,
            ..after.clone()
        };
        removed.stamp_changes(&after, Timestamp(12));
        assert_eq!(removed.password_updated_at, None);
    }

    #[test]
    fn two_factor_turning_on_and_off_is_stamped() {
        let before = user();
        let mut on = User {
            totp_secret: Some("sealed".into()),
            ..before.clone()
        };
        on.stamp_changes(&before, Timestamp(3));
        assert_eq!(
            (on.mfa_enabled_at, on.mfa_disabled_at),
            (Some(Timestamp(3)), None)
        );
        let mut more = User {
            backup_codes: vec!["digest".into()],
            ..on.clone()
        };
        more.stamp_changes(&on, Timestamp(4));
        assert_eq!(more.mfa_enabled_at, Some(Timestamp(3)), "already on");
        let mut off = User {
            totp_secret: None,
            backup_codes: Vec::new(),
            ..more.clone()
        };
        off.stamp_changes(&more, Timestamp(8));
        assert_eq!(
            (off.mfa_enabled_at, off.mfa_disabled_at),
            (Some(Timestamp(3)), Some(Timestamp(8)))
        );
    }

    #[test]
    fn attempts_remaining_count_the_open_window_only() {
        let mut u = user();
        assert_eq!(u.verification_attempts_remaining(Timestamp(0), 0), None);
        assert_eq!(u.verification_attempts_remaining(Timestamp(0), 5), Some(5));
        u.failed_attempts = 2;
        u.attempt_window_ends_at = Some(Timestamp(100));
        assert_eq!(u.verification_attempts_remaining(Timestamp(50), 5), Some(3));
        assert_eq!(
            u.verification_attempts_remaining(Timestamp(100), 5),
            Some(5)
        );
        u.locked_until = Some(Timestamp(500));
        assert_eq!(u.verification_attempts_remaining(Timestamp(50), 5), Some(0));
    }
}

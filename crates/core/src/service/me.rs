//! `/v1/me`: a signed-in user turning on their own second factors: enrolling
//! an authenticator app (TOTP) and getting a fresh set of backup codes.

use std::sync::Arc;

use super::LiveSettings;
use super::addresses::keep_a_way_in;
use super::{Clients, Outcome, Users};
use crate::error::{Error, Problem, Resource, ReverificationLevel};
use crate::model::{
    Client, Session, SessionId, Strategy, Timestamp, TotpSecret, User, UserId, UserPatch,
    generate_backup_codes,
};

use crate::ports::{ClientRepository, Clock, Random, UserRepository};
use crate::secrets::SecretBox;

/// The signed-in user's own account (`/v1/me`).
#[derive(Clone)]
pub struct Account {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    /// Makes the events its writes store.
    pub(super) events: super::Events,
    /// Codes that prove the addresses a user adds.
    pub(super) codes: super::Codes,
    /// Provider accounts a user connects.
    pub(super) oauth: super::OAuth,
    /// Where a connection's OAuth flow waits for its callback.
    pub(super) sign_ins: Arc<dyn crate::ports::SignInStore>,
    pub(super) clients: Clients,
    /// Ending the user's sessions.
    pub(super) sessions: super::Sessions,
    /// Checking the current password, under the lockout rule.
    pub(super) lockout: super::Lockout,
    pub(super) hasher: Arc<dyn crate::ports::PasswordHasher>,
    /// The writes of a user, shared with the Backend API's.
    pub(super) user_admin: Users,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Latch";

/// A TOTP enrolment as `/v1/me/totp` shows it. The secret and URI are shown
/// only when it is created; backup codes only when verifying it made them.
#[derive(Debug, Clone)]
pub struct TotpView {
    pub user: User,
    pub secret: Option<String>,
    pub uri: Option<String>,
    pub verified: bool,
    pub backup_codes: Option<Vec<String>>,
}

/// `PATCH /v1/me`: what a user may change of their own profile. `None`
/// leaves a field; for the names and the username, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct MePatch {
    pub username: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    /// Must name one of the user's verified email addresses.
    pub primary_email_address_id: Option<String>,
    /// Must name one of the user's verified phone numbers, not one kept for
    /// the second factor.
    pub primary_phone_number_id: Option<String>,
    pub unsafe_metadata: Option<serde_json::Value>,
}

/// `POST /v1/me/change_password`.
#[derive(Debug, Default, Clone)]
pub struct ChangePassword {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    /// Revoke every other session of the user, on every client.
    pub sign_out_of_other_sessions: bool,
}

/// A fresh set of backup codes, shown once.
#[derive(Debug, Clone)]
pub struct BackupCodesView {
    pub user: User,
    pub codes: Vec<String>,
}

impl Account {
    /// `GET /v1/me`: the user of the client's session.
    pub async fn get_me(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Outcome<User>, Error> {
        let (client, user) = self.me(token, session_id).await?;
        self.clients.outcome(user, &client.id, None).await
    }

    /// `PATCH /v1/me`: the user's names, username, primary addresses and
    /// unsafe metadata. A username another user has is
    /// `form_identifier_exists`; a primary address must be the user's own,
    /// verified (one kept for the second factor is not a way to sign in).
    pub async fn update_me(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        patch: MePatch,
    ) -> Result<Outcome<User>, Error> {
        let (client, user) = self.me(token, session_id).await?;
        if matches!(&patch.username, Some(Some(u)) if !u.is_empty())
            && !self.settings.current().identifiers.username
        {
            return Err(Error::invalid(
                "username",
                Problem::IdentifierNotEnabled(crate::model::IdentifierKind::Username),
            ));
        }
        let email = patch.primary_email_address_id.clone();
        let phone = patch.primary_phone_number_id.clone();
        let clears_username = matches!(patch.username, Some(None));
        let user_patch = UserPatch {
            username: patch.username,
            first_name: patch.first_name,
            last_name: patch.last_name,
            primary_email_address_id: patch.primary_email_address_id,
            primary_phone_number_id: patch.primary_phone_number_id,
            unsafe_metadata: patch.unsafe_metadata,
            ..UserPatch::default()
        };
        let settings = self.settings.current().clone();
        let usable = move |u: &User| -> Result<(), Error> {
            if clears_username {
                let without = User {
                    username: None,
                    ..u.clone()
                };
                keep_a_way_in(u, &without, &settings, "username")?;
            }
            if let Some(id) = &email
                && !u.email_addresses.iter().any(|e| &e.id == id && e.verified)
            {
                return Err(Error::invalid(
                    "primary_email_address_id",
                    Problem::NoSuchEmailAddress,
                ));
            }
            if let Some(id) = &phone
                && !u
                    .phone_numbers
                    .iter()
                    .any(|p| &p.id == id && p.verified && !p.reserved_for_second_factor)
            {
                return Err(Error::invalid(
                    "primary_phone_number_id",
                    Problem::NoSuchPhoneNumber,
                ));
            }
            Ok(())
        };
        let user = self
            .user_admin
            .update_user_where(user.id.as_str(), user_patch, usable)
            .await?;
        self.clients.outcome(user, &client.id, None).await
    }

    /// `POST /v1/me/change_password`: a sensitive change (the session's
    /// factors verified recently). The current password must be given and
    /// right when the user has one (a wrong one counts toward the lockout);
    /// the new one follows the password rules. Other sessions may be signed
    /// out with it.
    pub async fn change_password(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        params: ChangePassword,
    ) -> Result<Outcome<User>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        self.require_recent_verification(&user, &session)?;
        let new_password = params
            .new_password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::param_nil("new_password"))?;
        crate::model::Password::parse(&new_password, self.settings.current().password_min_length)?;
        if let Some(digest) = user.password_digest.clone() {
            self.check_password(&user, digest, params.current_password, "current_password")
                .await?;
        }
        let patch = UserPatch {
            password: Some(new_password),
            ..UserPatch::default()
        };
        let user = self
            .user_admin
            .update_user_where(user.id.as_str(), patch, |_| Ok(()))
            .await?;
        self.audit
            .record(
                crate::model::AuditAction::PasswordChanged,
                Some(user.id.as_str()),
                &[],
            )
            .await;
        if params.sign_out_of_other_sessions {
            self.revoke_other_sessions(&user, &session).await?;
        }
        self.clients.outcome(user, &client.id, None).await
    }

    /// `POST /v1/me/remove_password`: only when another way to sign in
    /// remains (a verified address with a code strategy on, or a linked
    /// provider account), and with the current password.
    pub async fn remove_password(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        current_password: Option<String>,
    ) -> Result<Outcome<User>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        self.require_recent_verification(&user, &session)?;
        let Some(digest) = user.password_digest.clone() else {
            return Err(Error::NoPassword);
        };
        let passwordless = User {
            password_digest: None,
            ..user.clone()
        };
        if !super::addresses::ways_in(&passwordless, &self.settings.current()) {
            return Err(Error::invalid("password", Problem::LastWayIn));
        }
        self.check_password(&user, digest, current_password, "current_password")
            .await?;
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                let before = user.clone();
                user.password_digest = None;
                keep_a_way_in(&before, &user, &self.settings.current(), "password")?;
                Ok(user)
            })
            .await?;
        self.clients.outcome(user, &client.id, None).await
    }

    /// The user's password (its `digest`), given as `param` and right,
    /// checked under the lockout rule (a wrong one counts as any wrong
    /// password does).
    pub(super) async fn check_password(
        &self,
        user: &User,
        digest: String,
        given: Option<String>,
        param: &'static str,
    ) -> Result<(), Error> {
        let given = given
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Error::param_nil(param))?;
        let check = async {
            if self.hasher.verify(&given, Some(digest)).await? {
                Ok(())
            } else {
                Err(Error::PasswordIncorrect)
            }
        };
        let what = super::audit::Check::new(super::audit::Stage::Verification, Strategy::Password);
        self.lockout.guarded(user, what, check).await
    }

    /// Revokes every active session of `user` but `keep`.
    async fn revoke_other_sessions(&self, user: &User, keep: &Session) -> Result<(), Error> {
        let now = self.clock.now();
        let active = Some(crate::model::SessionStatus::Active);
        for session in self
            .client_repo
            .list_sessions(&sessions_of(user, active, now))
            .await?
        {
            if session.id != keep.id {
                self.events
                    .end_session(
                        &*self.client_repo,
                        &session,
                        Some(user),
                        crate::model::SessionStatus::Revoked,
                        now,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// `GET /v1/me/sessions` (and `/active`): the user's sessions on every
    /// client, newest first; with `active_only`, those active now.
    pub async fn my_sessions(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<super::SessionView>, Error> {
        let (_, user) = self.me(token, session_id).await?;
        let now = self.clock.now();
        let active = active_only.then_some(crate::model::SessionStatus::Active);
        Ok(self
            .client_repo
            .list_sessions(&sessions_of(&user, active, now))
            .await?
            .into_iter()
            .map(|session| super::SessionView::at(session, user.clone(), now))
            .collect())
    }

    /// `POST /v1/me/sessions/{id}/revoke`: one of the user's own sessions,
    /// on any client (a lost laptop), is revoked and mints no more tokens.
    /// Another user's session does not exist for them.
    pub async fn revoke_my_session(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        target: &str,
    ) -> Result<Outcome<super::SessionView>, Error> {
        let (client, user) = self.me(token, session_id).await?;
        let session = self
            .client_repo
            .get_session(&SessionId(target.to_owned()))
            .await?
            .filter(|s| s.user_id == user.id)
            .ok_or(Error::NotFound(Resource::Session))?;
        let now = self.clock.now();
        let session = self
            .sessions
            .end_session(session, &user, crate::model::SessionStatus::Revoked, now)
            .await?;
        let view = super::SessionView::at(session, user, now);
        self.clients.outcome(view, &client.id, None).await
    }

    /// `DELETE /v1/me`: the user deletes their own account, where the
    /// instance allows it, with a recent verification. The user goes with
    /// their addresses and every session, on every client.
    pub async fn delete_me(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Outcome<UserId>, Error> {
        if !self.settings.current().delete_self_enabled {
            return Err(Error::SelfDeletionDisabled);
        }
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        self.require_recent_verification(&user, &session)?;
        // Revoked first, so no token is minted for a session of a user who
        // is being deleted.
        self.user_admin.revoke_sessions_of(&user.id).await?;
        self.user_admin.delete_user(user.id.as_str()).await?;
        tracing::info!(user = %user.id, "a user deleted their own account");
        self.clients.outcome(user.id, &client.id, None).await
    }

    /// `PATCH /v1/users/{id}/metadata` (Backend API): each metadata given is
    /// deep-merged into the user's, as `PATCH /v1/me/metadata` does.
    pub async fn merge_user_metadata(
        &self,
        id: &str,
        public: Option<serde_json::Value>,
        private: Option<serde_json::Value>,
        unsafe_metadata: Option<serde_json::Value>,
    ) -> Result<User, Error> {
        for (name, patch) in [
            ("public_metadata", &public),
            ("private_metadata", &private),
            ("unsafe_metadata", &unsafe_metadata),
        ] {
            if patch.as_ref().is_some_and(|p| !p.is_object()) {
                return Err(Error::invalid(name, Problem::NotJsonObject));
            }
        }
        let user = self.user_admin.get_user(id).await?;
        self.user_admin
            .write_user(user, |mut user| {
                let merge = |base: &serde_json::Value,
                             patch: &Option<serde_json::Value>,
                             name: &'static str| {
                    match patch {
                        Some(patch) => {
                            super::users::metadata(Some(deep_merge(base.clone(), patch)), name)
                        }
                        None => Ok(base.clone()),
                    }
                };
                user.public_metadata = merge(&user.public_metadata, &public, "public_metadata")?;
                user.private_metadata =
                    merge(&user.private_metadata, &private, "private_metadata")?;
                user.unsafe_metadata =
                    merge(&user.unsafe_metadata, &unsafe_metadata, "unsafe_metadata")?;
                Ok(user)
            })
            .await
    }

    /// `POST /v1/users/{id}/verify_password` (Backend API): whether the
    /// password is the user's, checked under the lockout rule as any other
    /// guess (an application's server relaying guesses gets no more of
    /// them than a browser does).
    pub async fn verify_user_password(
        &self,
        id: &str,
        password: Option<String>,
    ) -> Result<(), Error> {
        let user = self.user_admin.get_user(id).await?;
        let Some(digest) = user.password_digest.clone() else {
            return Err(Error::NoPassword);
        };
        self.check_password(&user, digest, password, "password")
            .await
    }

    /// `POST /v1/users/{id}/verify_totp` (Backend API): a TOTP code, or a
    /// backup code (which is spent), under the lockout rule; returns which.
    pub async fn verify_user_second_factor(
        &self,
        id: &str,
        code: Option<String>,
    ) -> Result<Strategy, Error> {
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let user = self.user_admin.get_user(id).await?;
        if !user.totp_enabled() && !user.backup_code_enabled() {
            return Err(Error::StrategyNotForUser(Strategy::Totp));
        }
        let now = self.clock.now();
        let check = async {
            if user.totp_enabled()
                && super::second_factors::totp_passes(
                    &*self.users,
                    &self.secrets,
                    &user,
                    &code,
                    now,
                )
                .await
                .is_ok()
            {
                return Ok(Strategy::Totp);
            }
            if user.backup_code_enabled() {
                super::second_factors::backup_code_passes(
                    &*self.users,
                    &self.secrets,
                    &user,
                    &code,
                    now,
                )
                .await?;
                return Ok(Strategy::BackupCode);
            }
            Err(super::codes::code_incorrect())
        };
        let what = super::audit::Check::any(super::audit::Stage::Verification);
        self.lockout.guarded(&user, what, check).await
    }

    /// `PATCH /v1/me/metadata`: `unsafe_metadata` deep-merged into the
    /// user's: objects merge key by key, a `null` removes its key, any other
    /// value replaces. The result keeps metadata's limits.
    pub async fn merge_metadata(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        unsafe_metadata: Option<serde_json::Value>,
    ) -> Result<Outcome<User>, Error> {
        let patch = unsafe_metadata.ok_or_else(|| Error::param_nil("unsafe_metadata"))?;
        if !patch.is_object() {
            return Err(Error::invalid("unsafe_metadata", Problem::NotJsonObject));
        }
        let (client, user) = self.me(token, session_id).await?;
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                let merged = deep_merge(user.unsafe_metadata.clone(), &patch);
                user.unsafe_metadata = super::users::metadata(Some(merged), "unsafe_metadata")?;
                Ok(user)
            })
            .await?;
        self.clients.outcome(user, &client.id, None).await
    }

    /// `POST /v1/me/totp`: a new secret to add to an authenticator app. It
    /// takes effect once a code from it is verified.
    pub async fn create_totp(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Outcome<TotpView>, Error> {
        self.require_feature(&Strategy::Totp)?;
        let (client, user) = self.me(token, session_id).await?;
        if user.totp_enabled() {
            return Err(Error::TotpAlreadyEnabled);
        }
        let secret = TotpSecret::generate(&*self.random);
        let sealed = self
            .secrets
            .seal(secret.as_bytes(), user.id.as_str(), &*self.random)?;
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                user.totp_pending_secret = Some(sealed.clone());
                Ok(user)
            })
            .await?;
        let encoded = secret.to_base32();
        let view = TotpView {
            uri: Some(otpauth_uri(&account_label(&user), &encoded)),
            secret: Some(encoded),
            verified: false,
            backup_codes: None,
            user,
        };
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST /v1/me/totp/attempt_verification`: a code from the new secret
    /// turns TOTP on. Users without backup codes get a first set with it.
    pub async fn verify_totp(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        code: Option<String>,
    ) -> Result<Outcome<TotpView>, Error> {
        self.require_feature(&Strategy::Totp)?;
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let sealed = user
            .totp_pending_secret
            .clone()
            .ok_or(Error::NotFound(Resource::Totp))?;
        let secret = TotpSecret::from_bytes(self.secrets.open(&sealed, user.id.as_str())?);
        let now = self.clock.now();
        let step = secret
            .matching_step(&code, now)
            .ok_or_else(super::codes::code_incorrect)?;
        let new_codes = (self.settings.current().strategies.backup_code
            && !user.backup_code_enabled())
        .then(|| generate_backup_codes(&*self.random));
        let digests = match &new_codes {
            Some(codes) => Some(self.user_admin.backup_code_digests(&user.id, codes)?),
            None => None,
        };
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                // Only the secret that was verified is turned on.
                if user.totp_pending_secret.as_deref() != Some(sealed.as_str()) {
                    return Err(Error::NotFound(Resource::Totp));
                }
                user.totp_secret = user.totp_pending_secret.take();
                if let Some(digests) = &digests {
                    user.backup_codes = digests.clone();
                }
                Ok(user)
            })
            .await?;
        // The code that proved the enrolment is spent: it cannot also sign in.
        self.users.use_totp_step(&user.id, step).await?;
        // And it proved the second factor on this session just now.
        self.client_repo
            .reverify_session(&session.id, false, true, now)
            .await?;
        let view = TotpView {
            user,
            secret: None,
            uri: None,
            verified: true,
            backup_codes: new_codes,
        };
        self.clients.outcome(view, &client.id, None).await
    }

    /// `DELETE /v1/me/totp`: removes the authenticator app (and any
    /// enrolment in progress).
    pub async fn delete_own_totp(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Outcome<User>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        if user.totp_secret.is_none() && user.totp_pending_secret.is_none() {
            return Err(Error::NotFound(Resource::Totp));
        }
        self.require_recent_verification(&user, &session)?;
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                user.totp_secret = None;
                user.totp_pending_secret = None;
                Ok(user)
            })
            .await?;
        self.clients.outcome(user, &client.id, None).await
    }

    /// `POST /v1/me/backup_codes`: ten new codes replace any earlier ones.
    pub async fn create_backup_codes(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Outcome<BackupCodesView>, Error> {
        self.require_feature(&Strategy::BackupCode)?;
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        self.require_recent_verification(&user, &session)?;
        let codes = generate_backup_codes(&*self.random);
        let digests = self.user_admin.backup_code_digests(&user.id, &codes)?;
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                user.backup_codes = digests.clone();
                Ok(user)
            })
            .await?;
        let view = BackupCodesView { user, codes };
        self.clients.outcome(view, &client.id, None).await
    }

    /// The client and the user of its session named `session_id` (or of its
    /// last active session), which must be active.
    pub(super) async fn me(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<(Client, User), Error> {
        let (client, user, _) = self.me_with_session(token, session_id).await?;
        Ok((client, user))
    }

    /// A sensitive change needs a factor verified within
    /// `reverification_window`: a second factor when the user has one this
    /// instance takes (as Clerk's default `second_factor` level asks), else
    /// the first.
    pub(super) fn require_recent_verification(
        &self,
        user: &User,
        session: &Session,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let window = self.settings.current().reverification_window;
        let recent = |at: Timestamp| now.since(at).0 <= window.0;
        let (level, verified) = if self.has_second_factor(user) {
            (
                ReverificationLevel::SecondFactor,
                session.second_factor_verified_at.is_some_and(recent),
            )
        } else {
            (
                ReverificationLevel::FirstFactor,
                recent(session.first_factor_verified_at),
            )
        };
        if verified {
            return Ok(());
        }
        Err(Error::ReverificationRequired {
            level,
            // Whole minutes, rounded up: a window under a minute is not 0.
            after_minutes: (window.0 + 59_999) / 60_000,
        })
    }

    /// [`me`](Self::me), with the session.
    pub(super) async fn me_with_session(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<(Client, User, Session), Error> {
        let signed_out = || Error::NotSignedIn;
        let client = self
            .clients
            .find_client(token)
            .await?
            .ok_or_else(signed_out)?;
        let wanted = match session_id.filter(|s| !s.is_empty()) {
            Some(id) => SessionId(id.to_owned()),
            None => client
                .last_active_session_id
                .clone()
                .ok_or_else(signed_out)?,
        };
        let now = self.clock.now();
        let session = self
            .client_repo
            .sessions_of_client(&client.id)
            .await?
            .into_iter()
            .find(|s| s.id == wanted && s.is_active(now))
            .ok_or_else(signed_out)?;
        let user = self
            .users
            .get(&session.user_id)
            .await?
            .ok_or_else(signed_out)?;
        Ok((client, user, session))
    }

    fn require_feature(&self, strategy: &Strategy) -> Result<(), Error> {
        if self.settings.current().strategies.allows(strategy) {
            return Ok(());
        }
        Err(Error::SecondFactorNotEnabled(strategy.clone()))
    }
}

/// What an authenticator app lists the account as.
fn account_label(user: &User) -> String {
    user.primary_email()
        .or(user.primary_phone())
        .map(|r| r.value.clone())
        .or_else(|| user.username.as_ref().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| user.id.as_str().to_owned())
}

/// The `otpauth://` URI authenticator apps read (usually from a QR code).
fn otpauth_uri(account: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
        issuer = percent_encode(TOTP_ISSUER),
        account = percent_encode(account),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query of `user`'s sessions (in `status` at `now`, if given), on every
/// client, newest first: all of them a person can hold.
fn sessions_of(
    user: &User,
    status: Option<crate::model::SessionStatus>,
    now: Timestamp,
) -> crate::ports::SessionQuery {
    crate::ports::SessionQuery {
        user_id: Some(user.id.as_str().to_owned()),
        client_id: None,
        status,
        now,
        limit: 500,
        offset: 0,
    }
}

/// `patch` merged into `base`, as Clerk merges metadata: objects key by key
/// (recursively), a `null` removing its key, anything else replacing.
fn deep_merge(base: serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (base, patch) {
        (Value::Object(mut base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(key);
                } else {
                    let merged = deep_merge(base.remove(key).unwrap_or(Value::Null), value);
                    base.insert(key.clone(), merged);
                }
            }
            Value::Object(base)
        }
        (_, patch) => patch.clone(),
    }
}

#[cfg(test)]
mod merge_tests {
    use super::deep_merge;
    use serde_json::json;

    #[test]
    fn metadata_merges_deeply_and_null_removes() {
        let base = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "e": [1] });
        let patch = json!({ "a": null, "b": { "c": 20, "x": true }, "e": [2], "f": "new" });
        assert_eq!(
            deep_merge(base, &patch),
            json!({ "b": { "c": 20, "d": 3, "x": true }, "e": [2], "f": "new" })
        );
        assert_eq!(
            deep_merge(json!("scalar"), &json!({ "k": 1 })),
            json!({ "k": 1 })
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::model::{Client, SessionStatus, step_at};
    use crate::ports::FreshRandom;
    use crate::secrets::SecretBox;
    use crate::service::test_support::{Mocks, NOW, TOKEN, client, session, user};

    const SECRET: &[u8] = b"12345678901234567890";

    /// A signed-in client whose user is enrolling `SECRET`.
    fn enrolling() -> Mocks {
        let mut m = Mocks::new();
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                last_active_session_id: Some(SessionId("sess_1".into())),
                ..client()
            }))
        });
        m.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![session(SessionStatus::Active)]));
        m.clients
            .expect_get_client_with_sessions()
            .returning(|_, _| Ok(None));
        let pending = SecretBox::new(&[7; 32])
            .seal(SECRET, "user_1", &FreshRandom)
            .unwrap();
        m.users.expect_get().returning(move |_| {
            Ok(Some(User {
                totp_pending_secret: Some(pending.clone()),
                ..user()
            }))
        });
        m
    }

    fn code(offset: i64) -> Option<String> {
        Some(TotpSecret::from_bytes(SECRET.to_vec()).code_at_step(step_at(NOW) + offset))
    }

    #[tokio::test]
    async fn a_verified_code_turns_totp_on_and_is_spent() {
        let mut m = enrolling();
        m.users
            .expect_update()
            .withf(|u, expected, _| {
                u.totp_secret.is_some()
                    && u.totp_pending_secret.is_none()
                    && u.backup_codes.len() == 10
                    && *expected == NOW
                    && u.updated_at > NOW
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        m.users
            .expect_use_totp_step()
            .withf(|_, step| *step == step_at(NOW) + 1)
            .times(1)
            .returning(|_, _| Ok(true));
        m.clients
            .expect_reverify_session()
            .withf(|id, first, second, at| {
                id.as_str() == "sess_1" && !*first && *second && *at == NOW
            })
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let out = m
            .services()
            .account
            .verify_totp(Some(TOKEN), None, code(1))
            .await
            .unwrap();
        assert!(out.response.verified);
        assert_eq!(out.response.backup_codes.map(|c| c.len()), Some(10));
        assert!(out.response.secret.is_none());
    }

    #[tokio::test]
    async fn a_wrong_code_changes_nothing() {
        for wrong in [code(2), code(-2), Some("abcdef".into())] {
            let mut m = enrolling();
            m.users.expect_update().never();
            m.users.expect_use_totp_step().never();
            let err = m
                .services()
                .account
                .verify_totp(Some(TOKEN), None, wrong)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::CodeIncorrect));
        }
    }

    #[tokio::test]
    async fn a_session_that_ended_manages_nothing() {
        let mut m = Mocks::new();
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                last_active_session_id: Some(SessionId("sess_1".into())),
                ..client()
            }))
        });
        m.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![session(SessionStatus::Revoked)]));
        m.users.expect_update().never();
        let err = m
            .services()
            .account
            .create_backup_codes(Some(TOKEN), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotSignedIn | Error::SessionInactive));
    }

    #[test]
    fn otpauth_uris_encode_the_account() {
        assert_eq!(
            otpauth_uri("jo+x@example.com", "ABC"),
            "otpauth://totp/Latch:jo%2Bx%40example.com?secret=ABC&issuer=Latch&algorithm=SHA1&digits=6&period=30"
        );
    }
}

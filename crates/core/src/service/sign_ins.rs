//! Sign-ins: create, read, and the first factor.

use std::sync::Arc;

use super::LiveSettings;
use super::lockout::{Passed, refuse_if_banned};
use super::steps::{PassedStep, admit};
use super::{Clients, Codes, Lockout, OAuth, Outcome, Phantoms, SignInView, Steps, Users};
use crate::error::{Error, Problem};
use crate::model::{
    AfterFirstFactor, Client, FactorSlot, IdPrefix, Identifier, Session, SessionOrigin, SignIn,
    SignInId, Strategy, Timestamp, User, identifies, new_ordered_id, offered_user,
};
use crate::ports::{
    ClientWithSessions, Clock, PasswordHasher, Random, SignInStore, SignUpStore, UserRepository,
};
use crate::secrets::SecretBox;

/// Sign-ins and their factors: `/v1/client/sign_ins/...`.
#[derive(Clone)]
pub struct SignIns {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    pub(super) clients: Clients,
    pub(super) steps: Steps,
    pub(super) lockout: Lockout,
    pub(super) codes: Codes,
    /// Starting an OAuth first factor.
    pub(super) oauth: OAuth,
    pub(super) phantoms: Phantoms,
    /// Setting a new password after a reset.
    pub(super) user_admin: Users,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) sign_ins: Arc<dyn SignInStore>,
    /// The sign-up a transfer takes its provider account from.
    pub(super) sign_ups: Arc<dyn SignUpStore>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

/// `POST /v1/client/sign_ins`.
#[derive(Debug, Default, Clone)]
pub struct CreateSignIn {
    pub identifier: Option<String>,
    pub strategy: Option<String>,
    pub password: Option<String>,
    /// OAuth: where the provider's callback sends the browser.
    pub redirect_url: Option<String>,
    /// OAuth: where the callback sends the browser once the sign-in is complete.
    pub action_complete_redirect_url: Option<String>,
    /// OAuth: the client token travels in a cookie, so the callback must come
    /// with the same cookie.
    pub bind_oauth_to_cookie: bool,
    /// Keep the device's token when a session starts instead of rotating it:
    /// for development browsers, whose token is their identity in URLs.
    pub keep_token: bool,
    /// The address the request came from: a client made for the sign-in
    /// counts against its allowance of new clients.
    pub client_ip: Option<std::net::IpAddr>,
    /// The request's address and User-Agent, kept on the session it starts.
    pub origin: SessionOrigin,
    /// Sign in the user whose provider account the client's sign-up proved
    /// (its verification is `transferable`, `external_account_exists`).
    pub transfer: bool,
}

/// `POST /v1/client/sign_ins/{id}/prepare_first_factor`.
#[derive(Debug, Default, Clone)]
pub struct PrepareFirstFactor {
    pub strategy: Option<String>,
    pub email_address_id: Option<String>,
    pub phone_number_id: Option<String>,
    /// OAuth, as in [`CreateSignIn`].
    pub redirect_url: Option<String>,
    pub action_complete_redirect_url: Option<String>,
    pub bind_oauth_to_cookie: bool,
}

/// `POST /v1/client/sign_ins/{id}/reset_password`.
#[derive(Debug, Default, Clone)]
pub struct ResetPassword {
    pub password: Option<String>,
    pub sign_out_of_other_sessions: bool,
    /// As in [`CreateSignIn::keep_token`].
    pub keep_token: bool,
    /// As in [`CreateSignIn::origin`].
    pub origin: SessionOrigin,
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor`.
#[derive(Debug, Default, Clone)]
pub struct AttemptFirstFactor {
    pub strategy: Option<String>,
    pub password: Option<String>,
    pub code: Option<String>,
    /// As in [`CreateSignIn::keep_token`].
    pub keep_token: bool,
    /// As in [`CreateSignIn::origin`].
    pub origin: SessionOrigin,
}

impl SignIns {
    /// Starts a sign-in on the client (creating the client if needed). With an
    /// identifier the sign-in is identified; with `strategy=password` and a
    /// password too, the first factor is attempted in the same call. On any
    /// error nothing is stored.
    pub async fn create_sign_in(
        &self,
        token: Option<&str>,
        params: CreateSignIn,
    ) -> Result<Outcome<SignInView>, Error> {
        if params.transfer {
            return self.transfer_from_sign_up(token, params).await;
        }
        // A password without a strategy is the password strategy, as in Clerk.
        let strategy = match params.strategy.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => Some(self.first_factor_strategy(raw)?),
            None if params.password.is_some() => Some(self.first_factor_strategy("password")?),
            None => None,
        };
        let password = match &strategy {
            None => None,
            Some(Strategy::Password) => {
                if params.identifier.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::param_nil("identifier"));
                }
                Some(
                    params
                        .password
                        .clone()
                        .ok_or_else(|| Error::param_nil("password"))?,
                )
            }
            // A code strategy with an identifier sends the code at once.
            Some(
                Strategy::EmailCode
                | Strategy::PhoneCode
                | Strategy::ResetPasswordEmailCode
                | Strategy::ResetPasswordPhoneCode,
            ) => {
                if params.identifier.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::param_nil("identifier"));
                }
                None
            }
            // OAuth needs no identifier: the provider names the user.
            Some(oauth @ Strategy::OAuth(_)) => {
                self.oauth.check_oauth_start(
                    oauth,
                    params.redirect_url.as_deref(),
                    params.action_complete_redirect_url.as_deref(),
                )?;
                None
            }
            Some(other) => return Err(not_yet_supported(other)),
        };
        let mut phantom = false;
        let identified = match params.identifier.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => match self.lookup_identifier(raw).await {
                Ok((normalised, user, is_phantom)) => {
                    phantom = is_phantom;
                    Some((normalised, user))
                }
                Err(err) => {
                    // An unknown account costs what a known one does.
                    if let Some(password) = &password {
                        self.hasher.verify(password, None).await?;
                    }
                    if err == Error::IdentifierNotFound {
                        let strategy = strategy.as_ref().map_or_else(String::new, Strategy::name);
                        self.audit
                            .record(
                                crate::model::AuditAction::SignInFailed,
                                None,
                                &[
                                    ("strategy", &strategy),
                                    ("reason", "identifier_not_found"),
                                    ("account", "none"),
                                ],
                            )
                            .await;
                    }
                    return Err(err);
                }
            },
            None => None,
        };
        // No factor is evaluated for a locked user.
        if let (Some(_), Some((_, user))) = (&strategy, &identified) {
            self.lockout.refuse_if_locked_as(user, phantom).await?;
        }
        // The password is checked before anything is written, so a wrong one
        // leaves no client and no sign-in behind (only the lockout count).
        // Its attempt is settled with the session's write where that can,
        // and after the rest otherwise.
        let mut passed = None;
        if let (Some(password), Some((_, user))) = (&password, &identified) {
            let what = super::audit::Check::new(super::audit::Stage::SignIn, Strategy::Password)
                .of_stand_in(phantom);
            passed = self
                .lockout
                .guarded_passing(user, what, self.check_password(user, password))
                .await?
                .1;
        }
        let result = self
            .create_checked(
                token,
                params,
                strategy,
                identified,
                phantom,
                password,
                passed.as_ref(),
            )
            .await;
        self.lockout.settle(passed).await;
        result
    }

    /// [`create_sign_in`](Self::create_sign_in) once its identifier was
    /// looked up and its password (if any) checked: what it stores.
    #[allow(clippy::too_many_arguments)]
    async fn create_checked(
        &self,
        token: Option<&str>,
        params: CreateSignIn,
        strategy: Option<Strategy>,
        identified: Option<(String, User)>,
        phantom: bool,
        password: Option<String>,
        passed: Option<&Passed>,
    ) -> Result<Outcome<SignInView>, Error> {
        let now = self.clock.now();
        // A new client is stored below, with the sign-in's first write.
        let (client, new_token) = self
            .clients
            .find_or_make_client(token, params.client_ip)
            .await?;
        let created = new_token.is_some().then(|| client.id.clone());
        let is_new = created.is_some();
        let result = async move {
            let mut new_token = new_token;
            // A client made for this request has no sessions to look at.
            if let (Some((_, user)), false) = (&identified, is_new) {
                self.clients.refuse_if_signed_in(&client, user).await?;
            }
            let mut sign_in = SignIn::new(
                SignInId(new_ordered_id(IdPrefix::SignIn, now, &*self.random)),
                client.id.clone(),
                now,
                &self.settings.current(),
            );
            let mut session = None;
            if let Some((normalised, user)) = &identified {
                if phantom {
                    sign_in.identify_phantom(normalised.clone(), user, now)?;
                } else {
                    sign_in.identify(normalised.clone(), user, now)?;
                }
                match &strategy {
                    Some(Strategy::Password) => {
                        session = self.pass_first_factor(
                            &mut sign_in,
                            user,
                            Strategy::Password,
                            &params.origin,
                        )?;
                    }
                    Some(
                        code @ (Strategy::EmailCode
                        | Strategy::PhoneCode
                        | Strategy::ResetPasswordEmailCode
                        | Strategy::ResetPasswordPhoneCode),
                    ) => {
                        let offered = offered_user(&sign_in, user, &self.settings.current());
                        self.codes
                            .send_code(
                                FactorSlot::First,
                                &mut sign_in,
                                &offered,
                                code.clone(),
                                None,
                                now,
                            )
                            .await?;
                    }
                    _ => {}
                }
            }
            if let Some(oauth @ Strategy::OAuth(_)) = &strategy {
                let binding = params
                    .bind_oauth_to_cookie
                    .then(|| super::hash_after(new_token.as_deref(), &client.token_hash));
                self.oauth
                    .start_oauth(
                        &mut sign_in,
                        oauth.clone(),
                        params.redirect_url.clone(),
                        params.action_complete_redirect_url.clone(),
                        binding,
                        now,
                    )
                    .await?;
            }
            // The client as this request leaves it, when it knows it whole.
            let mut left = None;
            match (&session, &identified) {
                (Some(session), Some((_, user))) => {
                    new_token = self
                        .steps
                        .start_session(
                            session,
                            user,
                            password.as_deref(),
                            &client.token_hash,
                            params.keep_token,
                            super::steps::Completes::New(super::steps::NewCompleted {
                                sign_in: &sign_in,
                                client: is_new.then_some(&client),
                                previous: client.sign_in_id.as_ref(),
                                passed,
                            }),
                        )
                        .await?;
                    // Made here: it holds no other session.
                    if is_new {
                        left = Some(super::steps::client_after(
                            &client,
                            &[],
                            session,
                            user,
                            new_token.as_deref(),
                            now,
                        ));
                    }
                }
                // A new client is stored with its current sign-in.
                _ if is_new => {
                    let client = Client {
                        sign_in_id: Some(sign_in.id.clone()),
                        ..client.clone()
                    };
                    self.clients
                        .store_new_sign_in(&sign_in, Some(&client), None, now)
                        .await?;
                    // Made here, with a token no one else holds yet: it is
                    // as written, with no sessions.
                    left = Some(ClientWithSessions {
                        client,
                        sessions: Vec::new(),
                    });
                }
                _ => {
                    // A client has at most one current sign-in: the new one
                    // replaces it.
                    self.clients
                        .store_new_sign_in(&sign_in, None, client.sign_in_id.as_ref(), now)
                        .await?;
                    // The password passed and the second factor is next: the
                    // client's token rotates, as for any factor that passes
                    // (a client made for this request has a fresh one).
                    if sign_in.first_factor_verified_at().is_some() && !is_new {
                        new_token = self
                            .steps
                            .rotate_token(&client, params.keep_token, now)
                            .await?;
                    }
                }
            }
            // Without a password checked, nothing here changed the user.
            let known = match (&password, &identified) {
                (None, Some((_, user))) => Some(user.clone()),
                _ => None,
            };
            match left {
                Some(left) => {
                    self.clients
                        .sign_in_outcome_from(sign_in, Some(left), new_token, now, known)
                        .await
                }
                None => {
                    self.clients
                        .sign_in_outcome_knowing(sign_in, &client.id, new_token, now, known)
                        .await
                }
            }
        }
        .await;
        // A client made for this request goes again if the sign-in could not
        // be stored (a flow store that is down), so nothing half-made stays.
        if let (Err(_), Some(id)) = (&result, created) {
            self.clients.forget_client(&id).await;
        }
        result
    }

    /// `GET /v1/client/sign_ins/{id}`.
    pub async fn get_sign_in(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<Outcome<SignInView>, Error> {
        // What the answer shows, read once: the client with its sessions,
        // the sign-in and its user.
        let (found, sign_in, user) = self.clients.sign_in_step(token, id).await?;
        self.clients
            .sign_in_outcome_from(sign_in, Some(found), None, self.clock.now(), user)
            .await
    }

    /// Attempts the first factor. A wrong password counts an attempt and
    /// changes nothing else.
    pub async fn attempt_first_factor(
        &self,
        token: Option<&str>,
        id: &str,
        params: AttemptFirstFactor,
    ) -> Result<Outcome<SignInView>, Error> {
        let (found, mut sign_in, strategy, user, now) = self
            .first_factor_step(token, id, params.strategy.as_deref())
            .await?;
        super::clients::refuse_if_among(&found.sessions, &user, now)?;
        let ClientWithSessions { client, sessions } = found;
        // The factor is checked first; what follows is the same for every
        // strategy. Its attempt is settled with the session's write where
        // that can, and after the rest otherwise.
        let (password, passed) = match &strategy {
            Strategy::Password => {
                let password = params
                    .password
                    .ok_or_else(|| Error::param_nil("password"))?;
                let what =
                    super::audit::Check::new(super::audit::Stage::SignIn, Strategy::Password)
                        .of_stand_in(sign_in.is_phantom());
                match self
                    .lockout
                    .guarded_passing(&user, what, self.check_password(&user, &password))
                    .await
                {
                    Ok(((), passed)) => (Some(password), passed),
                    Err(err) => {
                        if err == Error::PasswordIncorrect {
                            self.steps
                                .count_failed_attempt(
                                    FactorSlot::First,
                                    sign_in,
                                    Strategy::Password,
                                )
                                .await?;
                        }
                        return Err(err);
                    }
                }
            }
            Strategy::EmailCode
            | Strategy::PhoneCode
            | Strategy::ResetPasswordEmailCode
            | Strategy::ResetPasswordPhoneCode => {
                self.refuse_if_target_withdrawn(FactorSlot::First, &sign_in, &user, &strategy)?;
                let what = super::audit::Check::new(super::audit::Stage::SignIn, strategy.clone())
                    .of_stand_in(sign_in.is_phantom());
                let ((), passed) = self
                    .lockout
                    .guarded_passing(
                        &user,
                        what,
                        // Stored by `finish_step` below when it passes.
                        self.codes.check_code(
                            FactorSlot::First,
                            &mut sign_in,
                            &strategy,
                            params.code,
                            super::codes::StorePass::ByCaller,
                        ),
                    )
                    .await?;
                (None, passed)
            }
            other => return Err(not_yet_supported(other)),
        };
        let passed_ref = passed.as_ref();
        let result = async {
            if matches!(
                strategy,
                Strategy::ResetPasswordEmailCode | Strategy::ResetPasswordPhoneCode
            ) {
                // A reset code proves the user; the new password comes next.
                refuse_if_banned(&user)?;
                let before = sign_in.clone();
                sign_in.reset_code_passed(strategy, now)?;
                let step = PassedStep {
                    client: &client,
                    sessions: Some(&sessions),
                    before,
                    session: None,
                    user: &user,
                    password: None,
                    keep_token: params.keep_token,
                    passed: passed_ref,
                };
                return self.steps.finish_step(sign_in, step, now).await;
            }
            let before = sign_in.clone();
            let session = self.pass_first_factor(&mut sign_in, &user, strategy, &params.origin)?;
            let step = PassedStep {
                client: &client,
                sessions: Some(&sessions),
                before,
                session,
                user: &user,
                password: password.as_deref(),
                keep_token: params.keep_token,
                passed: passed_ref,
            };
            self.steps.finish_step(sign_in, step, now).await
        }
        .await;
        self.lockout.settle(passed).await;
        result
    }
}

impl SignIns {
    /// `POST /v1/client/sign_ins/{id}/prepare_first_factor`: sends a code for
    /// `email_code` and `phone_code`; password needs no preparation.
    pub async fn prepare_first_factor(
        &self,
        token: Option<&str>,
        id: &str,
        params: PrepareFirstFactor,
    ) -> Result<Outcome<SignInView>, Error> {
        let (found, mut sign_in, strategy, user, now) = self
            .first_factor_step(token, id, params.strategy.as_deref())
            .await?;
        let target = match strategy {
            Strategy::Password => {
                return Err(Error::invalid(
                    "strategy",
                    Problem::NeedsNoPreparation(Strategy::Password),
                ));
            }
            Strategy::EmailCode | Strategy::ResetPasswordEmailCode => params.email_address_id,
            Strategy::PhoneCode | Strategy::ResetPasswordPhoneCode => params.phone_number_id,
            oauth @ Strategy::OAuth(_) => {
                let binding = params
                    .bind_oauth_to_cookie
                    .then(|| found.client.token_hash.clone());
                self.oauth
                    .start_oauth(
                        &mut sign_in,
                        oauth,
                        params.redirect_url,
                        params.action_complete_redirect_url,
                        binding,
                        now,
                    )
                    .await?;
                return self
                    .steps
                    .store_and_show(sign_in, found, now, Some(user))
                    .await;
            }
            other => return Err(not_yet_supported(&other)),
        };
        let offered = offered_user(&sign_in, &user, &self.settings.current());
        self.codes
            .send_code(
                FactorSlot::First,
                &mut sign_in,
                &offered,
                strategy,
                target.as_deref(),
                now,
            )
            .await?;
        self.steps
            .store_and_show(sign_in, found, now, Some(user))
            .await
    }

    /// `POST /v1/client/sign_ins/{id}/reset_password`: sets the new password
    /// (same rules as any password), optionally signs the user out of every
    /// other session, and completes the sign-in (or asks for the second factor).
    pub async fn reset_password(
        &self,
        token: Option<&str>,
        id: &str,
        params: ResetPassword,
    ) -> Result<Outcome<SignInView>, Error> {
        let (client, mut sign_in) = self.clients.client_sign_in(token, id).await?;
        let now = self.clock.now();
        let user_id = sign_in.ready_for_new_password(now)?.clone();
        let password = params
            .password
            .ok_or_else(|| Error::param_nil("password"))?;
        let patch = crate::model::UserPatch {
            password: Some(password),
            ..Default::default()
        };
        // A banned or locked user sets no password and gets no session, however
        // long the sign-in waited here.
        let user = self
            .user_admin
            .update_user_where(user_id.as_str(), patch, |user| admit(user.standing(), now))
            .await?;
        self.audit
            .record(
                crate::model::AuditAction::PasswordReset,
                Some(user.id.as_str()),
                &[],
            )
            .await;
        if params.sign_out_of_other_sessions {
            self.user_admin.revoke_sessions_of(&user.id).await?;
        }
        let session = match sign_in.new_password_set(user.two_factor_enabled(), now)? {
            AfterFirstFactor::NeedsSecondFactor => None,
            AfterFirstFactor::ReadyToComplete => {
                Some(
                    self.steps
                        .new_session(&sign_in, &user, &params.origin, now)?,
                )
            }
        };
        if let Some(session) = &session {
            sign_in.complete(session.id.clone(), now)?;
        }
        if let Err(err) = self.clients.replace_sign_in(&mut sign_in).await {
            return self
                .steps
                .after_lost_race(err, &client.id, &sign_in.id, now)
                .await;
        }
        let new_token = match &session {
            Some(session) => {
                self.steps
                    .start_session(
                        session,
                        &user,
                        None,
                        &client.token_hash,
                        params.keep_token,
                        super::steps::Completes::Nothing,
                    )
                    .await?
            }
            None => None,
        };
        self.clients
            .sign_in_outcome(sign_in, &client.id, new_token, now)
            .await
    }

    /// Reads a first-factor strategy and checks that the instance allows it.
    fn first_factor_strategy(&self, raw: &str) -> Result<Strategy, Error> {
        let strategy = Strategy::parse(raw)
            .filter(Strategy::is_first_factor)
            .ok_or_else(|| Error::invalid("strategy", Problem::NotFirstFactor(truncate(raw))))?;
        if !self.settings.current().strategies.allows(&strategy) {
            return Err(Error::StrategyNotEnabled(strategy));
        }
        Ok(strategy)
    }

    /// Parses an identifier, checks the instance accepts its kind, and finds the user.
    /// The normalised identifier and its user; under enumeration protection
    /// an identifier with no account gets its stand-in (the flag is set).
    async fn lookup_identifier(&self, raw: &str) -> Result<(String, User, bool), Error> {
        let identifier = Identifier::parse(raw)?;
        let settings = self.settings.current();
        if !settings.identifiers.allows(identifier.kind()) {
            return Err(Error::invalid(
                "identifier",
                Problem::IdentifierNotEnabled(identifier.kind()),
            ));
        }
        // The lists judge the identifier as given, before any account is
        // looked up: the answer says nothing of whether one exists.
        if !settings
            .restrictions
            .admit(&settings.lists, std::slice::from_ref(&identifier), false)
        {
            return Err(Error::NotAllowedAccess);
        }
        // An address that is not verified names nobody: it answers as an
        // unknown identifier does.
        let user = self
            .users
            .find_by_identifier(&identifier)
            .await?
            .filter(|user| identifies(&identifier, user));
        match user {
            Some(user) => Ok((identifier.as_str().to_owned(), user, false)),
            None if self.settings.current().enumeration_protection => {
                let user = self.phantoms.phantom_user(identifier.as_str()).await?;
                Ok((identifier.as_str().to_owned(), user, true))
            }
            None => Err(Error::IdentifierNotFound),
        }
    }

    /// Verifies the password at full cost whatever the user has, then answers.
    async fn check_password(&self, user: &User, password: &str) -> Result<(), Error> {
        let digest = user
            .password_digest
            .clone()
            .filter(|_| self.settings.current().strategies.password);
        let has_digest = digest.is_some();
        let matched = self.hasher.verify(password, digest).await?;
        if !has_digest
            && self.settings.current().enumeration_protection
            && self.settings.current().strategies.password
        {
            // Whether an account has a password is the account's business.
            return Err(Error::PasswordIncorrect);
        }
        if !has_digest {
            return Err(Error::NoPassword);
        }
        if !matched {
            tracing::info!(user = %user.id, "wrong password");
            return Err(Error::PasswordIncorrect);
        }
        Ok(())
    }

    /// In memory: marks the first factor passed and, when no second factor is
    /// needed, completes the sign-in with a new session, returned to be stored.
    fn pass_first_factor(
        &self,
        sign_in: &mut SignIn,
        user: &User,
        strategy: Strategy,
        origin: &SessionOrigin,
    ) -> Result<Option<Session>, Error> {
        refuse_if_banned(user)?;
        let now = self.clock.now();
        match sign_in.first_factor_passed(strategy, user.two_factor_enabled(), now)? {
            AfterFirstFactor::NeedsSecondFactor => Ok(None),
            AfterFirstFactor::ReadyToComplete => {
                let session = self.steps.new_session(sign_in, user, origin, now)?;
                sign_in.complete(session.id.clone(), now)?;
                Ok(Some(session))
            }
        }
    }
}

impl SignIns {
    /// `signIn.create({ transfer: true })`: the client's sign-up proved a
    /// provider account that is a user's; that user signs in, the provider's
    /// word being the first factor, as on an OAuth callback (a second
    /// factor is still asked for when the user has one).
    async fn transfer_from_sign_up(
        &self,
        token: Option<&str>,
        params: CreateSignIn,
    ) -> Result<Outcome<SignInView>, Error> {
        let nothing = || Error::invalid("transfer", Problem::NothingToTransfer);
        let client = self.clients.find_client(token).await?.ok_or_else(nothing)?;
        let now = self.clock.now();
        let sign_up_id = client.sign_up_id.clone().ok_or_else(nothing)?;
        let account = self
            .sign_ups
            .get(&sign_up_id)
            .await?
            .filter(|s| s.client_id == client.id)
            .and_then(|s| s.transferable_account(now).cloned())
            .ok_or_else(nothing)?;
        let user = self
            .oauth
            .sign_in_owner(&account, None)
            .await?
            .ok_or(Error::ExternalAccountNotFound)?;
        self.lockout.refuse_if_locked(&user)?;
        refuse_if_banned(&user)?;
        self.clients.refuse_if_signed_in(&client, &user).await?;
        let mut sign_in = SignIn::new(
            SignInId(new_ordered_id(IdPrefix::SignIn, now, &*self.random)),
            client.id.clone(),
            now,
            &self.settings.current(),
        );
        let strategy = Strategy::OAuth(account.provider.clone());
        let session = match sign_in.transferred(&user, strategy, user.two_factor_enabled(), now)? {
            AfterFirstFactor::NeedsSecondFactor => None,
            AfterFirstFactor::ReadyToComplete => {
                let session = self
                    .steps
                    .new_session(&sign_in, &user, &params.origin, now)?;
                sign_in.complete(session.id.clone(), now)?;
                Some(session)
            }
        };
        let new_token = match &session {
            Some(session) => {
                let token = self
                    .steps
                    .start_session(
                        session,
                        &user,
                        None,
                        &client.token_hash,
                        params.keep_token,
                        super::steps::Completes::Nothing,
                    )
                    .await?;
                if let Err(err) = self.sign_ins.insert(&sign_in).await {
                    tracing::warn!(sign_in = %sign_in.id, error = %err, "could not store a completed sign-in");
                }
                // A client has at most one current sign-in: the completed
                // one replaced it.
                if let Some(previous) = &client.sign_in_id {
                    self.sign_ins.delete(previous).await?;
                }
                token
            }
            None => {
                self.clients
                    .store_new_sign_in(&sign_in, None, client.sign_in_id.as_ref(), now)
                    .await?;
                // The first factor passed: the token rotates.
                self.steps
                    .rotate_token(&client, params.keep_token, now)
                    .await?
            }
        };
        self.clients
            .sign_in_outcome(sign_in, &client.id, new_token, now)
            .await
    }

    /// What every first-factor step starts with: the client (with its
    /// active sessions, in the same read) and its sign-in, ready for a first
    /// factor; the strategy, allowed; and its user, not locked.
    async fn first_factor_step(
        &self,
        token: Option<&str>,
        id: &str,
        strategy: Option<&str>,
    ) -> Result<(ClientWithSessions, SignIn, Strategy, User, Timestamp), Error> {
        let (client, sign_in, user) = self.clients.sign_in_step(token, id).await?;
        let strategy =
            self.first_factor_strategy(strategy.ok_or_else(|| Error::param_nil("strategy"))?)?;
        let now = self.clock.now();
        sign_in.ready_for_first_factor(now)?;
        let user = user.ok_or(Error::IdentifierNotFound)?;
        // The identifier must still name the account: an address unverified
        // since the sign-in was identified signs nobody in.
        if !sign_in.is_phantom()
            && let Some(identifier) = sign_in.identifier()
            && !identifies(&Identifier::parse(identifier)?, &user)
        {
            return Err(Error::IdentifierNotFound);
        }
        self.lockout
            .refuse_if_locked_as(&user, sign_in.is_phantom())
            .await?;
        Ok((client, sign_in, strategy, user, now))
    }

    /// A code counts only while the address it went to is still offered:
    /// one unverified since it was sent passes nothing.
    pub(super) fn refuse_if_target_withdrawn(
        &self,
        slot: FactorSlot,
        sign_in: &SignIn,
        user: &User,
        strategy: &Strategy,
    ) -> Result<(), Error> {
        let Some(target) = sign_in
            .verification(slot)
            .filter(|v| &v.strategy == strategy)
            .and_then(|v| v.code.as_ref())
            .map(|c| c.target_id.as_str())
        else {
            // Nothing sent: the check itself says so.
            return Ok(());
        };
        let offered = offered_user(sign_in, user, &self.settings.current());
        let mut records = offered.email_addresses.iter().chain(&offered.phone_numbers);
        if records.any(|r| r.id == target) {
            Ok(())
        } else {
            Err(Error::StrategyNotForUser(strategy.clone()))
        }
    }
}

pub(super) fn not_yet_supported(strategy: &Strategy) -> Error {
    Error::StrategyNotSupported(strategy.clone())
}

pub(super) use crate::model::truncate;

#[cfg(test)]
mod tests;

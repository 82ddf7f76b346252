//! Sign-ups: a visitor gathers what the instance asks of a new account,
//! proves the addresses it must by code, and completes by creating the user
//! and its first session in one step. Until then nothing of it is an
//! account: its addresses name nobody and are reserved by nobody, so two
//! sign-ups may race for one address and the store decides which completes.

use std::sync::Arc;

use super::LiveSettings;
use super::codes::{Recipient, code_digest};
use super::oauth::{digest, expired, from_its_browser, state_invalid, state_parts};
use super::{CallbackRedirect, Clients, Codes, OAuth, OAuthCallback, Outcome, new_token};
use crate::error::{Error, Problem, Resource};
use crate::model::{
    Client, ClientId, CodeAttempt, EmailAddress, IdPrefix, IdentificationRecord, Identifier,
    NewEvent, OAuthStateError, Password, PhoneNumber, ProviderAccount, Requirement, SentCode,
    Session, SessionId, SessionOrigin, SessionStart, SignUp, SignUpChange, SignUpField, SignUpId,
    SignUpMode, SignUpStatus, Strategy, Timestamp, User, UserId, Username, Verifiable,
    VerificationStatus, new_id, new_ordered_id,
};
use crate::ports::{
    ClientRepository, ClientWithSessions, Clock, CodeDestination, CodePurpose, PasswordHasher,
    Random, SignInStore, SignUpSteps, SignUpStore, UserRepository,
};
use crate::secrets::SecretBox;

/// Sign-ups: `/v1/client/sign_ups/...`.
#[derive(Clone)]
pub struct SignUps {
    pub(super) clients: Clients,
    pub(super) codes: Codes,
    /// OAuth sign-ups: the redirect, and what the provider vouches for.
    pub(super) oauth: OAuth,
    /// The sign-in a transfer takes its provider account from.
    pub(super) sign_ins: Arc<dyn SignInStore>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) sign_ups: Arc<dyn SignUpStore>,
    /// A step's client and sign-up in one read, and the writes that change
    /// both in one, when one store keeps them all.
    pub(super) steps: Option<Arc<dyn SignUpSteps>>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

/// A sign-up as of `now`.
#[derive(Debug, Clone)]
pub struct SignUpView {
    pub sign_up: SignUp,
    pub status: SignUpStatus,
}

impl SignUpView {
    pub fn at(sign_up: SignUp, now: Timestamp) -> Self {
        Self {
            status: sign_up.status_at(now),
            sign_up,
        }
    }
}

/// What a sign-up gathers, as `create` and `update` take it: `None` leaves
/// a field as it is, an empty string clears it.
#[derive(Debug, Default, Clone)]
pub struct SignUpFields {
    pub email_address: Option<String>,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
    pub unsafe_metadata: Option<serde_json::Value>,
    pub legal_accepted: Option<bool>,
}

/// `POST /v1/client/sign_ups`.
#[derive(Debug, Default, Clone)]
pub struct CreateSignUp {
    pub fields: SignUpFields,
    /// `oauth_<provider>`: the account is proved at the provider.
    pub strategy: Option<String>,
    /// OAuth: where the provider's callback sends the browser, and where
    /// once the sign-up is complete.
    pub redirect_url: Option<String>,
    pub action_complete_redirect_url: Option<String>,
    /// OAuth: the client token travels in a cookie, so the callback must
    /// come with the same cookie.
    pub bind_oauth_to_cookie: bool,
    /// Take over the provider account of the client's sign-in, which found
    /// no user for it (`transferable`).
    pub transfer: bool,
    /// As in [`super::CreateSignIn::keep_token`].
    pub keep_token: bool,
    /// As in [`super::CreateSignIn::client_ip`].
    pub client_ip: Option<std::net::IpAddr>,
    /// As in [`super::CreateSignIn::origin`].
    pub origin: SessionOrigin,
}

/// `PATCH /v1/client/sign_ups/{id}`.
#[derive(Debug, Default, Clone)]
pub struct UpdateSignUp {
    pub fields: SignUpFields,
    /// OAuth, as in [`CreateSignUp`]: a sign-up that goes on at a provider.
    pub strategy: Option<String>,
    pub redirect_url: Option<String>,
    pub action_complete_redirect_url: Option<String>,
    pub bind_oauth_to_cookie: bool,
    pub keep_token: bool,
    pub origin: SessionOrigin,
}

/// `POST /v1/client/sign_ups/{id}/prepare_verification`.
#[derive(Debug, Default, Clone)]
pub struct PrepareVerification {
    pub strategy: Option<String>,
}

/// `POST /v1/client/sign_ups/{id}/attempt_verification`.
#[derive(Debug, Default, Clone)]
pub struct AttemptVerification {
    pub strategy: Option<String>,
    pub code: Option<String>,
    pub keep_token: bool,
    pub origin: SessionOrigin,
}

/// A change read and checked, ready to apply: what an address it gives
/// turned out to be (an account's or not) goes with it.
struct CheckedChange {
    change: SignUpChange,
    taken: Vec<(Verifiable, bool)>,
}

impl SignUps {
    /// Starts a sign-up on the client (creating the client if needed),
    /// replacing the client's current one. What it gives is checked before
    /// anything is written; a sign-up that needs nothing more (no address to
    /// prove) completes at once.
    pub async fn create_sign_up(
        &self,
        token: Option<&str>,
        params: CreateSignUp,
    ) -> Result<Outcome<SignUpView>, Error> {
        self.refuse_if_restricted()?;
        let oauth = self.oauth_strategy(
            params.strategy.as_deref(),
            params.redirect_url.as_deref(),
            params.action_complete_redirect_url.as_deref(),
        )?;
        let checked = self.check_change(None, params.fields).await?;
        let now = self.clock.now();
        // A new client is made here and stored with its current sign-up.
        let (client, new_token) = self
            .clients
            .find_or_make_client(token, params.client_ip)
            .await?;
        let mut stored_new = None;
        let result = async {
            let mut sign_up = SignUp::new(
                SignUpId(new_ordered_id(IdPrefix::SignUp, now, &*self.random)),
                client.id.clone(),
                now,
                self.settings.current().sign_in_lifetime,
            );
            apply(&mut sign_up, checked, now)?;
            let transferred = match params.transfer {
                true => Some(self.take_over_sign_in(&client, &mut sign_up, now).await?),
                false => None,
            };
            if let Some(strategy) = oauth {
                let binding = params
                    .bind_oauth_to_cookie
                    .then(|| super::hash_after(new_token.as_deref(), &client.token_hash));
                self.start_oauth(
                    &mut sign_up,
                    strategy,
                    &params.redirect_url,
                    &params.action_complete_redirect_url,
                    binding,
                    now,
                )
                .await?;
            }
            // A client has at most one current sign-up: the new one replaces it.
            let new_client = new_token.is_some().then(|| Client {
                sign_up_id: Some(sign_up.id.clone()),
                ..client.clone()
            });
            stored_new = new_client.as_ref().map(|c| c.id.clone());
            self.store_new_sign_up(
                &sign_up,
                new_client.as_ref(),
                client.sign_up_id.as_ref(),
                now,
            )
            .await?;
            // The sign-in the account came from is done with.
            if let Some(sign_in) = transferred {
                self.client_repo
                    .set_current_sign_in(&client.id, None, now)
                    .await?;
                self.sign_ins.delete(&sign_in).await?;
            }
            let step = Finish {
                client: new_client.as_ref().unwrap_or(&client),
                keep_token: params.keep_token,
                origin: &params.origin,
            };
            let done = self.finish_step(sign_up, false, &step, now).await?;
            let token = done.new_token.clone().or(new_token.clone());
            match new_client {
                // Made here, with a token no one else holds yet: it is as
                // this request left it, with no other sessions.
                Some(made) => {
                    let left = done.client_after(
                        ClientWithSessions {
                            client: made,
                            sessions: Vec::new(),
                        },
                        now,
                    );
                    self.clients
                        .sign_up_outcome_from(SignUpView::at(done.sign_up, now), left, token)
                        .await
                }
                None => self.outcome(done.sign_up, &client.id, token, now).await,
            }
        }
        .await;
        // A client made for this request goes again if the sign-up could not
        // be finished, so nothing half-made stays.
        if let (Err(_), Some(id)) = (&result, stored_new) {
            self.clients.forget_client(&id).await;
        }
        result
    }

    /// `GET /v1/client/sign_ups/{id}`.
    pub async fn get_sign_up(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<Outcome<SignUpView>, Error> {
        let (found, sign_up) = self.client_sign_up(token, id).await?;
        self.outcome_as_read(sign_up, found, self.clock.now()).await
    }

    /// `PATCH /v1/client/sign_ups/{id}`: gives or changes fields; completes
    /// the sign-up when that was all it needed.
    pub async fn update_sign_up(
        &self,
        token: Option<&str>,
        id: &str,
        params: UpdateSignUp,
    ) -> Result<Outcome<SignUpView>, Error> {
        self.refuse_if_restricted()?;
        let oauth = self.oauth_strategy(
            params.strategy.as_deref(),
            params.redirect_url.as_deref(),
            params.action_complete_redirect_url.as_deref(),
        )?;
        let (found, mut sign_up) = self.client_sign_up(token, id).await?;
        let now = self.clock.now();
        sign_up.expect_open(now)?;
        let checked = self.check_change(Some(&sign_up), params.fields).await?;
        apply(&mut sign_up, checked, now)?;
        if let Some(strategy) = oauth {
            let binding = params
                .bind_oauth_to_cookie
                .then(|| found.client.token_hash.clone());
            self.start_oauth(
                &mut sign_up,
                strategy,
                &params.redirect_url,
                &params.action_complete_redirect_url,
                binding,
                now,
            )
            .await?;
        }
        let step = Finish {
            client: &found.client,
            keep_token: params.keep_token,
            origin: &params.origin,
        };
        let done = self.finish_step(sign_up, true, &step, now).await?;
        self.step_outcome(done, found, now).await
    }

    /// `POST .../prepare_verification`: sends a code to the address the
    /// strategy proves (`email_code`, `phone_code`).
    pub async fn prepare_verification(
        &self,
        token: Option<&str>,
        id: &str,
        params: PrepareVerification,
    ) -> Result<Outcome<SignUpView>, Error> {
        let (found, mut sign_up) = self.client_sign_up(token, id).await?;
        let address = self.verification_strategy(params.strategy.as_deref())?;
        let now = self.clock.now();
        sign_up.expect_open(now)?;
        let destination = match address {
            Verifiable::EmailAddress => sign_up
                .email_address()
                .map(|a| CodeDestination::Email(a.to_owned())),
            Verifiable::PhoneNumber => sign_up
                .phone_number()
                .map(|n| CodeDestination::Sms(n.to_owned())),
        }
        .ok_or_else(|| Error::param_nil(address.field().as_str()))?;
        let previous = sign_up.verification(address).and_then(|v| v.code.as_ref());
        self.codes.refuse_if_recently_sent(previous, now)?;
        let recipient = if sign_up.is_taken(address) {
            Recipient::NoticeOnly
        } else {
            Recipient::Owner
        };
        let code = self
            .codes
            .issue(destination, CodePurpose::SignUp, recipient, now)
            .await?;
        let sent = SentCode {
            digest: code_digest(&self.secrets, sign_up.id.as_str(), &code),
            target_id: sign_up.id.as_str().to_owned(),
            sent_at: now,
        };
        sign_up.code_sent(
            address,
            sent,
            now.plus(self.settings.current().code_lifetime),
            now,
        )?;
        self.replace(&mut sign_up).await?;
        // A code changes the sign-up only: the client is as the step read it.
        self.outcome_as_read(sign_up, found, now).await
    }

    /// `POST .../attempt_verification`: the attempt is counted on the stored
    /// sign-up before it is answered; a code that matches proves its
    /// address in the same write, and completes the sign-up when that was
    /// all it needed.
    pub async fn attempt_verification(
        &self,
        token: Option<&str>,
        id: &str,
        params: AttemptVerification,
    ) -> Result<Outcome<SignUpView>, Error> {
        let (found, mut sign_up) = self.client_sign_up(token, id).await?;
        let address = self.verification_strategy(params.strategy.as_deref())?;
        let code = params
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let now = self.clock.now();
        sign_up.expect_open(now)?;
        let unchanged = sign_up.clone();
        let outcome =
            sign_up.count_code_attempt(address, self.settings.current().max_code_attempts, now)?;
        let answer = match outcome {
            CodeAttempt::Expired => Err(Error::CodeExpired),
            CodeAttempt::Failed => Err(Error::CodeAttemptsExhausted),
            CodeAttempt::Check(expected) => {
                self.codes.compare(sign_up.id.as_str(), &code, &expected)
            }
        };
        if answer.is_ok() {
            sign_up.code_passed(address, now)?;
        }
        // The count, and the proof of a right code, in one write before the
        // answer: with the user and session it completes the sign-up with,
        // when it does. An attempt on a spent or expired code changes
        // nothing and writes nothing, so that it cannot make a racing right
        // code lose its write.
        let changed = sign_up != unchanged;
        if let Err(err) = answer {
            if changed {
                self.replace(&mut sign_up).await?;
            }
            return Err(err);
        }
        let step = Finish {
            client: &found.client,
            keep_token: params.keep_token,
            origin: &params.origin,
        };
        let done = self.finish_step(sign_up, changed, &step, now).await?;
        self.step_outcome(done, found, now).await
    }
}

impl SignUps {
    /// `GET`/`POST /v1/oauth_callback` for a sign-up's flow: checks the
    /// state, exchanges the code, and takes what the provider vouches for.
    /// An account no user has proves the sign-up's (which completes if it
    /// needs nothing more); one that is a user's makes the sign-up
    /// transferable to a sign-in. A flow no cookie binds waits for its
    /// client to claim it, as sign-ins do.
    pub async fn oauth_callback(&self, params: OAuthCallback) -> Result<CallbackRedirect, Error> {
        let (id, secret) = state_parts(params.state.as_deref())?;
        let mut sign_up = self
            .sign_ups
            .get(&SignUpId(id.to_owned()))
            .await?
            .ok_or_else(state_invalid)?;
        let now = self.clock.now();
        let flow = match sign_up.take_oauth_flow(&digest(secret), now) {
            Ok(flow) => flow,
            Err(OAuthStateError::Unknown) => return Err(state_invalid()),
            Err(OAuthStateError::Expired(redirect_url)) => {
                self.replace(&mut sign_up)
                    .await
                    .map_err(|_| state_invalid())?;
                return Ok(expired(redirect_url));
            }
        };
        // Storing the taken flow makes the state single use.
        self.replace(&mut sign_up)
            .await
            .map_err(|_| state_invalid())?;
        let back = |failure: Option<Error>| CallbackRedirect {
            location: flow.redirect_url.clone(),
            new_token: None,
            failure,
        };
        let strategy = match sign_up.external_verification().map(|v| &v.strategy) {
            Some(s @ Strategy::OAuth(_)) => s.clone(),
            _ => return Err(state_invalid()),
        };
        if !from_its_browser(&flow, params.cookie_token.as_deref()) {
            let err = self.end_oauth(sign_up, Error::OAuthClientMismatch).await;
            return Ok(back(Some(err)));
        }
        let account = match self.oauth.provider_account(&strategy, &flow, &params).await {
            Ok(account) => account,
            Err(err) => return Ok(back(Some(self.end_oauth(sign_up, err).await))),
        };
        if flow.client_binding.is_none() {
            // The client that started the flow claims it with a nonce only
            // this browser gets.
            let (claim, redirect) = self.oauth.claim_for(&flow, None, Some(account), now);
            sign_up.oauth_awaiting_claim(claim, now);
            if let Err(err) = self.replace(&mut sign_up).await {
                return Ok(back(Some(err)));
            }
            return Ok(redirect);
        }
        let client = match self.client_repo.get_client(&sign_up.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Ok(back(Some(Error::NotFound(Resource::Client)))),
            Err(err) => return Ok(back(Some(err.into()))),
        };
        let finish = Finish {
            client: &client,
            keep_token: false,
            origin: &params.origin,
        };
        match self
            .provider_proved(sign_up, strategy, account, &finish, now)
            .await
        {
            Ok((done, new_token)) => Ok(CallbackRedirect {
                location: match (done.status_at(now), &flow.action_complete_redirect_url) {
                    (SignUpStatus::Complete, Some(url)) => url.clone(),
                    _ => flow.redirect_url.clone(),
                },
                new_token,
                failure: None,
            }),
            Err(err) => Ok(back(Some(err))),
        }
    }

    /// A client claims the OAuth callback of its current sign-up with the
    /// nonce the callback sent to its `redirect_url`. `None` when its
    /// current sign-up (if any) has no callback waiting: the claim may be a
    /// sign-in's. Otherwise the client's new token, if it rotated.
    pub async fn claim_oauth(
        &self,
        token: Option<&str>,
        nonce: &str,
        keep_token: bool,
        origin: &SessionOrigin,
    ) -> Result<Option<Option<String>>, Error> {
        let invalid = || Error::oauth_state_invalid("rotating_token_nonce");
        let Some(client) = self.clients.find_client(token).await? else {
            return Ok(None);
        };
        let Some(id) = &client.sign_up_id else {
            return Ok(None);
        };
        let Some(mut sign_up) = self
            .sign_ups
            .get(id)
            .await?
            .filter(|s| s.client_id == client.id && s.awaits_claim())
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        let claim = match sign_up.take_oauth_claim(&digest(nonce), now) {
            Ok(claim) => claim,
            Err(OAuthStateError::Unknown) => return Err(invalid()),
            Err(OAuthStateError::Expired(_)) => {
                self.replace(&mut sign_up).await.map_err(|_| invalid())?;
                return Err(invalid());
            }
        };
        // Single use: of racing claims, one stores this.
        self.replace(&mut sign_up).await.map_err(|_| invalid())?;
        let account = claim.account.ok_or_else(invalid)?;
        let strategy = Strategy::OAuth(account.provider.clone());
        let finish = Finish {
            client: &client,
            keep_token,
            origin,
        };
        let (_, new_token) = self
            .provider_proved(sign_up, strategy, account, &finish, now)
            .await?;
        Ok(Some(new_token))
    }

    /// What the provider vouched for, for a stored sign-up: an account that
    /// is a user's makes it transferable to a sign-in; one no user has is
    /// the new user's, and the sign-up completes if it needs nothing more.
    async fn provider_proved(
        &self,
        mut sign_up: SignUp,
        strategy: Strategy,
        account: ProviderAccount,
        finish: &Finish<'_>,
        now: Timestamp,
    ) -> Result<(SignUp, Option<String>), Error> {
        if self.oauth.owner_of(&account).await?.is_some() {
            sign_up.transferable_to_sign_in(account, now);
            self.replace(&mut sign_up).await?;
            return Ok((sign_up, None));
        }
        self.take_account(&mut sign_up, strategy, account, now)
            .await?;
        self.replace(&mut sign_up).await?;
        let done = self.finish_step(sign_up, false, finish, now).await?;
        Ok((done.sign_up, done.new_token))
    }

    /// Makes `account` the sign-up's (in memory), with its email address
    /// and names where the instance collects them. An email address that
    /// is already an account's is not taken: the visitor gives another.
    async fn take_account(
        &self,
        sign_up: &mut SignUp,
        strategy: Strategy,
        account: ProviderAccount,
        now: Timestamp,
    ) -> Result<(), Error> {
        let collects =
            |field| self.settings.current().sign_up_requirement(field) != Requirement::Off;
        // The address as identifiers are kept (normalised), or none.
        let address = account
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok());
        let settings = self.settings.current();
        if let Some(address) = &address
            && !settings.restrictions.admit(
                &settings.lists,
                &[Identifier::Email(address.clone())],
                true,
            )
        {
            return Err(Error::NotAllowedAccess);
        }
        let email = match &address {
            Some(address) if collects(SignUpField::EmailAddress) => self
                .users
                .find_by_identifier(&Identifier::Email(address.clone()))
                .await?
                .is_none(),
            _ => false,
        };
        let names = collects(SignUpField::FirstName) || collects(SignUpField::LastName);
        let account = ProviderAccount {
            email: address.map(|e| e.as_str().to_owned()),
            ..account
        };
        sign_up.provider_verified(strategy, account, email, names, now)?;
        sign_up.set_taken(Verifiable::EmailAddress, false);
        Ok(())
    }

    /// `signUp.create({ transfer: true })`: takes over the provider account
    /// of the client's sign-in, which found no user for it. Returns that
    /// sign-in's id, which the caller retires once the sign-up is stored.
    async fn take_over_sign_in(
        &self,
        client: &Client,
        sign_up: &mut SignUp,
        now: Timestamp,
    ) -> Result<crate::model::SignInId, Error> {
        let nothing = || Error::invalid("transfer", Problem::NothingToTransfer);
        let sign_in_id = client.sign_in_id.clone().ok_or_else(nothing)?;
        let sign_in = self
            .sign_ins
            .get(&sign_in_id)
            .await?
            .filter(|s| s.client_id == client.id)
            .ok_or_else(nothing)?;
        let account = sign_in
            .transferable_account(now)
            .cloned()
            .ok_or_else(nothing)?;
        // Someone may have taken it since.
        if self.oauth.owner_of(&account).await?.is_some() {
            return Err(Error::ExternalAccountTaken);
        }
        let strategy = Strategy::OAuth(account.provider.clone());
        self.take_account(sign_up, strategy, account, now).await?;
        Ok(sign_in_id)
    }

    /// Records that the OAuth verification failed; returns the error for the
    /// browser's redirect (a failure to store is logged).
    async fn end_oauth(&self, mut sign_up: SignUp, err: Error) -> Error {
        tracing::info!(sign_up = %sign_up.id, error = %err, "OAuth sign-up did not complete");
        sign_up.oauth_ended(VerificationStatus::Failed, err.clone(), self.clock.now());
        if let Err(store) = self.replace(&mut sign_up).await {
            tracing::warn!(sign_up = %sign_up.id, error = %store, "could not record the OAuth outcome");
        }
        err
    }

    /// Reads an OAuth strategy for a sign-up and checks what starting it
    /// needs; `None` when none is given. Other strategies are not ways to
    /// sign up here.
    fn oauth_strategy(
        &self,
        raw: Option<&str>,
        redirect_url: Option<&str>,
        action_complete_redirect_url: Option<&str>,
    ) -> Result<Option<Strategy>, Error> {
        let Some(raw) = raw.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match Strategy::parse(raw) {
            Some(strategy @ Strategy::OAuth(_)) => {
                self.oauth.check_oauth_start(
                    &strategy,
                    redirect_url,
                    action_complete_redirect_url,
                )?;
                Ok(Some(strategy))
            }
            Some(other) => Err(Error::StrategyNotSupported(other)),
            None => Err(Error::invalid(
                "strategy",
                Problem::NotFirstFactor(crate::model::truncate(raw)),
            )),
        }
    }

    /// Starts the OAuth flow of a sign-up (in memory; the caller stores it).
    async fn start_oauth(
        &self,
        sign_up: &mut SignUp,
        strategy: Strategy,
        redirect_url: &Option<String>,
        action_complete_redirect_url: &Option<String>,
        binding: Option<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let (flow, url) = self
            .oauth
            .new_flow(
                &strategy,
                sign_up.id.as_str(),
                redirect_url.clone(),
                action_complete_redirect_url.clone(),
                binding,
                now,
            )
            .await?;
        sign_up.oauth_started(strategy, flow, url, now)
    }
}

/// What completing a sign-up needs besides the sign-up.
struct Finish<'a> {
    client: &'a Client,
    keep_token: bool,
    origin: &'a SessionOrigin,
}

/// What completing a sign-up makes, to be stored together.
struct Made {
    user: User,
    session: Session,
    /// The client's new token, unless it keeps its own.
    token: Option<String>,
    /// The client's token hash once stored.
    new_hash: String,
    events: [NewEvent; 2],
}

/// How a step on a sign-up ended: the sign-up as stored, and, when the
/// step completed it, the client's new token (unless it kept its own) and
/// the session it started with its user.
struct Completion {
    sign_up: SignUp,
    new_token: Option<String>,
    started: Option<(Session, User)>,
}

impl Completion {
    fn not_started(sign_up: SignUp) -> Self {
        Self {
            sign_up,
            new_token: None,
            started: None,
        }
    }

    /// The client with its sessions as this step leaves it, given them as
    /// the step held them (`held`): unchanged unless it started a session.
    fn client_after(&self, held: ClientWithSessions, now: Timestamp) -> ClientWithSessions {
        match &self.started {
            Some((session, user)) => super::steps::client_after(
                &held.client,
                &held.sessions,
                session,
                user,
                self.new_token.as_deref(),
                now,
            ),
            None => held,
        }
    }
}

impl SignUps {
    /// No self-service sign-up on a restricted instance.
    fn refuse_if_restricted(&self) -> Result<(), Error> {
        match self.settings.current().sign_up.mode {
            SignUpMode::Public => Ok(()),
            SignUpMode::Restricted => Err(Error::SignUpRestricted),
        }
    }

    /// Reads a verification strategy: `email_code` or `phone_code`, on.
    fn verification_strategy(&self, raw: Option<&str>) -> Result<Verifiable, Error> {
        let raw = raw
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::param_nil("strategy"))?;
        let address = match Strategy::parse(raw) {
            Some(Strategy::EmailCode) => Verifiable::EmailAddress,
            Some(Strategy::PhoneCode) => Verifiable::PhoneNumber,
            Some(other) => return Err(Error::StrategyNotSupported(other)),
            None => {
                return Err(Error::invalid(
                    "strategy",
                    Problem::NotFirstFactor(crate::model::truncate(raw)),
                ));
            }
        };
        if !self
            .settings
            .current()
            .strategies
            .allows(&address.strategy())
        {
            return Err(Error::StrategyNotEnabled(address.strategy()));
        }
        Ok(address)
    }

    /// Reads and checks `fields` against the settings and the sign-up they
    /// change (if it exists yet): every value parsed, every field one the
    /// instance collects, addresses checked against the accounts, and the
    /// password against the rules, hashed (off the runtime's threads) last.
    async fn check_change(
        &self,
        current: Option<&SignUp>,
        fields: SignUpFields,
    ) -> Result<CheckedChange, Error> {
        let collected = |field: SignUpField| -> Result<(), Error> {
            match self.settings.current().sign_up_requirement(field) {
                Requirement::Off => Err(Error::invalid(field.as_str(), Problem::NotCollected)),
                _ => Ok(()),
            }
        };
        let text = |value: Option<String>| value.map(|v| v.trim().to_owned());
        let mut change = SignUpChange::default();
        let mut identifiers = Vec::new();
        let mut taken = Vec::new();
        for (value, field, slot) in [
            (
                fields.email_address,
                SignUpField::EmailAddress,
                &mut change.email_address,
            ),
            (
                fields.phone_number,
                SignUpField::PhoneNumber,
                &mut change.phone_number,
            ),
            (fields.username, SignUpField::Username, &mut change.username),
        ] {
            let Some(raw) = text(value) else { continue };
            *slot = Some(if raw.is_empty() {
                None
            } else {
                collected(field)?;
                let identifier = match field {
                    SignUpField::EmailAddress => Identifier::Email(EmailAddress::parse(&raw)?),
                    SignUpField::PhoneNumber => Identifier::Phone(PhoneNumber::parse(&raw)?),
                    _ => Identifier::Username(Username::parse(&raw)?),
                };
                let value = identifier.as_str().to_owned();
                identifiers.push(identifier);
                Some(value)
            });
        }
        for (value, field, slot) in [
            (
                fields.first_name,
                SignUpField::FirstName,
                &mut change.first_name,
            ),
            (
                fields.last_name,
                SignUpField::LastName,
                &mut change.last_name,
            ),
        ] {
            if let Some(raw) = text(value) {
                if !raw.is_empty() {
                    collected(field)?;
                }
                *slot = Some(super::users::name(Some(raw), field.as_str())?);
            }
        }
        if let Some(metadata) = fields.unsafe_metadata {
            change.unsafe_metadata =
                Some(super::users::metadata(Some(metadata), "unsafe_metadata")?);
        }
        if let Some(accepted) = fields.legal_accepted {
            change.legal_accepted = Some(accepted);
        }
        // Clerk's forms send the fields they hide as empty strings: an empty
        // password is no password given.
        let password = match fields.password.filter(|p| !p.is_empty()) {
            Some(raw) => {
                collected(SignUpField::Password)?;
                Some(Password::parse(
                    &raw,
                    self.settings.current().password_min_length,
                )?)
            }
            None => None,
        };
        let settings = self.settings.current();
        if !settings
            .restrictions
            .admit(&settings.lists, &identifiers, true)
        {
            return Err(Error::NotAllowedAccess);
        }
        // Whether each identifier given is an account's: refused, or under
        // enumeration protection, for an address the sign-up must prove,
        // accepted as any other and marked (see `SignUp::is_taken`).
        for identifier in &identifiers {
            let owner = self
                .users
                .find_by_identifier(identifier)
                .await?
                .filter(|owner| owner.holds(identifier));
            let address = Verifiable::of(identifier.kind());
            match (owner, address) {
                (Some(_), Some(address))
                    if self.settings.current().enumeration_protection
                        && self
                            .settings
                            .current()
                            .verifies_at_sign_up(identifier.kind()) =>
                {
                    taken.push((address, true));
                }
                (Some(_), _) => return Err(Error::IdentifierTaken(identifier.kind())),
                (None, Some(address)) => taken.push((address, false)),
                (None, None) => {}
            }
        }
        if let Some(password) = password {
            // The identifiers the account will have: those given now, and
            // those the sign-up gave before that this change keeps.
            let kept = current.into_iter().flat_map(|s| {
                [
                    (change.email_address.is_none(), s.email_address()),
                    (change.phone_number.is_none(), s.phone_number()),
                    (change.username.is_none(), s.username()),
                ]
                .into_iter()
                .filter_map(|(kept, value)| kept.then_some(value).flatten())
                .filter_map(|value| Identifier::parse(value).ok())
                .collect::<Vec<_>>()
            });
            let all: Vec<Identifier> = identifiers.iter().cloned().chain(kept).collect();
            if self
                .settings
                .current()
                .sign_up
                .refuses_password(password.expose(), &all)
            {
                return Err(Error::PasswordMatchesIdentifier);
            }
            change.password_digest = Some(self.hasher.hash(&password).await?);
        }
        Ok(CheckedChange { change, taken })
    }

    /// The requesting client and its sign-up with this id; another client's
    /// sign-up does not exist for it.
    async fn client_sign_up(
        &self,
        token: Option<&str>,
        id: &str,
    ) -> Result<(ClientWithSessions, SignUp), Error> {
        if let Some(steps) = &self.steps {
            let missing = || Error::NotFound(Resource::SignUp);
            let token = token.filter(|t| !t.is_empty()).ok_or_else(missing)?;
            let step = steps
                .read_sign_up_step(
                    &super::token_hash(token),
                    &SignUpId(id.to_owned()),
                    self.clock.now(),
                )
                .await?
                .ok_or_else(missing)?;
            return Ok((step.found, step.sign_up.ok_or_else(missing)?));
        }
        let found = self
            .clients
            .require_client_with_sessions(token, Resource::SignUp)
            .await?;
        let sign_up = self
            .sign_ups
            .get(&SignUpId(id.to_owned()))
            .await?
            .filter(|s| s.client_id == found.client.id)
            .ok_or(Error::NotFound(Resource::SignUp))?;
        Ok((found, sign_up))
    }

    /// Stores `sign_up` as its client's current sign-up: with `new_client`,
    /// that client too (made for this sign-up and naming it already); and
    /// deletes `previous`, the sign-up it replaces. One write where one
    /// store keeps the clients and the sign-ups.
    async fn store_new_sign_up(
        &self,
        sign_up: &SignUp,
        new_client: Option<&Client>,
        previous: Option<&SignUpId>,
        now: Timestamp,
    ) -> Result<(), Error> {
        if let Some(steps) = &self.steps {
            return Ok(steps
                .start_sign_up(sign_up, new_client.cloned(), previous.cloned(), now)
                .await?);
        }
        match new_client {
            Some(client) => {
                self.client_repo.insert_client(client).await?;
                self.sign_ups.insert(sign_up).await?;
            }
            None => {
                self.sign_ups.insert(sign_up).await?;
                self.client_repo
                    .set_current_sign_up(&sign_up.client_id, Some(sign_up.id.clone()), now)
                    .await?;
            }
        }
        if let Some(previous) = previous {
            self.sign_ups.delete(previous).await?;
        }
        Ok(())
    }

    /// Stores a changed sign-up if no other request changed it first.
    async fn replace(&self, sign_up: &mut SignUp) -> Result<(), Error> {
        let expected = sign_up.next_version();
        Ok(self.sign_ups.replace(sign_up, expected).await?)
    }

    /// Ends a step on a sign-up: stores what it `changed` (not stored yet)
    /// and completes the sign-up when it has everything it needs: marks it
    /// complete (a compare-and-set, so of two racing requests one goes on)
    /// and creates its user and first session and rotates the client's
    /// token, in one write where one store keeps them all (the step's own
    /// change with it). If completing fails (an address another sign-up
    /// took first, say), the sign-up is stored as the step left it, not
    /// complete.
    async fn finish_step(
        &self,
        mut sign_up: SignUp,
        changed: bool,
        finish: &Finish<'_>,
        now: Timestamp,
    ) -> Result<Completion, Error> {
        let required = sign_up.required_fields(&self.settings.current());
        let verify = Verifiable::proved_at_sign_up(&self.settings.current());
        if sign_up.is_phantom()
            || sign_up.awaits_provider()
            || !sign_up.is_ready(&required, &verify)
        {
            if changed {
                self.replace(&mut sign_up).await?;
            }
            return Ok(Completion::not_started(sign_up));
        }
        let Some(steps) = self.steps.clone() else {
            if changed {
                self.replace(&mut sign_up).await?;
            }
            return self.complete_one_by_one(sign_up, finish, now).await;
        };
        let mut before = sign_up.clone();
        let made = self.complete(&mut sign_up, finish, now)?;
        sign_up.next_version();
        let stored = steps
            .complete_sign_up(
                &sign_up,
                &made.user,
                &made.session,
                &finish.client.token_hash,
                &made.new_hash,
                &made.events,
            )
            .await;
        if let Err(err) = stored {
            // Nothing was stored: a racing request may have completed it
            // (answer with that); otherwise the step's own change is stored
            // on its own, and the failure answered.
            if let Some(current) = self.completed_elsewhere(&sign_up.id, now).await? {
                return Ok(Completion::not_started(current));
            }
            if changed {
                self.replace(&mut before).await?;
            }
            return Err(err.into());
        }
        Ok(self.completed(sign_up, made))
    }

    /// The sign-up as stored now if it is complete: a racing request
    /// completed it.
    async fn completed_elsewhere(
        &self,
        id: &SignUpId,
        now: Timestamp,
    ) -> Result<Option<SignUp>, Error> {
        Ok(self
            .sign_ups
            .get(id)
            .await?
            .filter(|current| current.status_at(now) == SignUpStatus::Complete))
    }

    /// [`finish_step`](Self::finish_step)'s completion of a stored sign-up
    /// where no one store keeps the sign-ups, the clients and the users:
    /// the sign-up marked complete first, then the user with its session,
    /// and the sign-up put back if that fails.
    async fn complete_one_by_one(
        &self,
        mut sign_up: SignUp,
        finish: &Finish<'_>,
        now: Timestamp,
    ) -> Result<Completion, Error> {
        let before = sign_up.clone();
        let made = self.complete(&mut sign_up, finish, now)?;
        if let Err(err) = self.replace(&mut sign_up).await {
            // A racing request may have completed it: answer with that.
            return match self.completed_elsewhere(&sign_up.id, now).await? {
                Some(current) => Ok(Completion::not_started(current)),
                None => Err(err),
            };
        }
        if let Err(err) = self
            .client_repo
            .insert_user_with_session(
                &made.user,
                &made.session,
                &finish.client.token_hash,
                &made.new_hash,
                &made.events,
            )
            .await
        {
            let mut restored = before;
            restored.set_version(sign_up.version());
            if let Err(undo) = self.replace(&mut restored).await {
                tracing::warn!(sign_up = %restored.id, error = %undo, "could not restore a sign-up");
            }
            return Err(err.into());
        }
        Ok(self.completed(sign_up, made))
    }

    /// Marks `sign_up` complete (in memory) with the user and first session
    /// it makes, the client's new token (unless it keeps its own) and the
    /// events of both: what completing it stores.
    fn complete(
        &self,
        sign_up: &mut SignUp,
        finish: &Finish<'_>,
        now: Timestamp,
    ) -> Result<Made, Error> {
        let user = self.new_user(sign_up, now);
        let session = self.new_session(sign_up, &user, finish.origin, now);
        sign_up.complete(user.id.clone(), session.id.clone(), now)?;
        let token = (!finish.keep_token).then(|| new_token(&*self.random));
        let new_hash = super::hash_after(token.as_deref(), &finish.client.token_hash);
        let events = [
            self.clients
                .events
                .user(crate::model::EventType::UserCreated, &user)?,
            self.clients.events.session_created(&session, &user)?,
        ];
        Ok(Made {
            user,
            session,
            token,
            new_hash,
            events,
        })
    }

    /// A sign-up stored complete, with what completing it made.
    fn completed(&self, sign_up: SignUp, made: Made) -> Completion {
        self.clients.events.stored();
        let Made {
            user,
            session,
            token,
            ..
        } = made;
        tracing::info!(user = %user.id, sign_up = %sign_up.id, "signed up");
        Completion {
            sign_up,
            new_token: token,
            started: Some((session, user)),
        }
    }

    /// The account a complete sign-up becomes (not yet stored). An address
    /// is verified when the sign-up proved it; one the instance did not ask
    /// to prove is kept unverified, and names nobody at sign-in until it is.
    fn new_user(&self, sign_up: &SignUp, now: Timestamp) -> User {
        let id = UserId(new_id(IdPrefix::User, &*self.random));
        let record = |prefix: IdPrefix, value: Option<&str>, verified: bool| {
            value.map(|value| IdentificationRecord {
                id: new_id(prefix, &*self.random),
                value: value.to_owned(),
                verified,
                reserved_for_second_factor: false,
                verification: None,
                created_at: now,
                updated_at: now,
            })
        };
        let email = record(
            IdPrefix::EmailAddress,
            sign_up.email_address(),
            sign_up.is_verified(Verifiable::EmailAddress),
        );
        let phone = record(
            IdPrefix::PhoneNumber,
            sign_up.phone_number(),
            sign_up.is_verified(Verifiable::PhoneNumber),
        );
        let mut user = User {
            primary_email_address_id: email.as_ref().map(|e| e.id.clone()),
            primary_phone_number_id: phone.as_ref().map(|p| p.id.clone()),
            email_addresses: email.into_iter().collect(),
            phone_numbers: phone.into_iter().collect(),
            username: sign_up.username().and_then(|u| Username::parse(u).ok()),
            password_digest: sign_up.password_digest().map(str::to_owned),
            first_name: sign_up.first_name().map(str::to_owned),
            last_name: sign_up.last_name().map(str::to_owned),
            unsafe_metadata: sign_up
                .unsafe_metadata()
                .cloned()
                .unwrap_or_else(|| serde_json::json!({})),
            legal_accepted_at: sign_up.legal_accepted_at(),
            external_accounts: sign_up
                .external_account()
                .map(|a| a.linked(new_id(IdPrefix::ExternalAccount, &*self.random), now))
                .into_iter()
                .collect(),
            last_sign_in_at: Some(now),
            ..User::blank(id.clone(), now)
        };
        user.stamp_changes(&User::blank(id, now), now);
        user
    }

    /// The first session of the user a sign-up creates (not yet stored).
    fn new_session(
        &self,
        sign_up: &SignUp,
        user: &User,
        origin: &SessionOrigin,
        now: Timestamp,
    ) -> Session {
        // The factor the visitor proved, as a sign-in would name it.
        let strategy = if let Some(account) = sign_up.external_account() {
            Strategy::OAuth(account.provider.clone())
        } else if sign_up.is_verified(Verifiable::EmailAddress) {
            Strategy::EmailCode
        } else if sign_up.is_verified(Verifiable::PhoneNumber) {
            Strategy::PhoneCode
        } else {
            Strategy::Password
        };
        let start = SessionStart {
            id: SessionId(new_ordered_id(IdPrefix::Session, now, &*self.random)),
            client_id: sign_up.client_id.clone(),
            user_id: user.id.clone(),
            first_factor_verified_at: now,
            second_factor_verified_at: None,
            origin: SessionOrigin {
                strategy: Some(strategy.name()),
                ..origin.clone()
            },
        };
        Session::started(start, self.settings.current().session_lifetime, now)
    }

    /// The answer to a step on a sign-up the step read with its client
    /// (`found`): one that completed the sign-up here gave the client a
    /// session (and, as a rule, a new token), which the answer adds to the
    /// client as read; one completed by a racing request is answered with
    /// the client read again; otherwise only the sign-up changed, and the
    /// client is as the step read it.
    async fn step_outcome(
        &self,
        done: Completion,
        found: ClientWithSessions,
        now: Timestamp,
    ) -> Result<Outcome<SignUpView>, Error> {
        if done.started.is_some() {
            let token = done.new_token.clone();
            let left = done.client_after(found, now);
            return self
                .clients
                .sign_up_outcome_from(SignUpView::at(done.sign_up, now), left, token)
                .await;
        }
        // Completed by a racing request: the client as that one left it.
        if done.sign_up.status_at(now) == SignUpStatus::Complete {
            let client = found.client.id;
            return self.outcome(done.sign_up, &client, None, now).await;
        }
        self.outcome_as_read(done.sign_up, found, now).await
    }

    /// [`outcome`](Self::outcome) for a step that changed nothing of the
    /// client: answered with the client as the step read it (`found`).
    async fn outcome_as_read(
        &self,
        sign_up: SignUp,
        found: ClientWithSessions,
        now: Timestamp,
    ) -> Result<Outcome<SignUpView>, Error> {
        self.clients
            .sign_up_outcome_from(SignUpView::at(sign_up, now), found, None)
            .await
    }

    /// The sign-up as of `now`, wrapped with its client as it is now.
    async fn outcome(
        &self,
        sign_up: SignUp,
        client: &ClientId,
        new_token: Option<String>,
        now: Timestamp,
    ) -> Result<Outcome<SignUpView>, Error> {
        self.clients
            .sign_up_outcome(SignUpView::at(sign_up, now), client, new_token)
            .await
    }
}

/// Applies a checked change and what it found of the addresses it gives.
fn apply(sign_up: &mut SignUp, checked: CheckedChange, now: Timestamp) -> Result<(), Error> {
    sign_up.apply(checked.change, now)?;
    for (address, taken) in checked.taken {
        sign_up.set_taken(address, taken);
    }
    // An address cleared is nobody's.
    for address in Verifiable::ALL {
        if !sign_up.has(address.field()) {
            sign_up.set_taken(address, false);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

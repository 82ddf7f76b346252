//! OAuth first factors: the redirect to the provider, and the callback that
//! turns what the provider vouches for into this sign-in's user.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::LiveSettings;
use super::steps::PassedStep;
use super::{Clients, Lockout, Steps, Users, hex};
use crate::error::{Error, Problem, Resource};
use crate::model::{
    AfterFirstFactor, Environment, IdPrefix, Identifier, OAuthClaim, OAuthFlow, OAuthStateError,
    ProviderAccount, SessionOrigin, SignIn, SignInId, Strategy, Timestamp, User, UserId,
    VerificationError, VerificationStatus, is_loopback_origin, new_id, origin_of, truncate,
};
use crate::ports::{
    AuthorizationRequest, ClientRepository, Clock, CodeExchange, OAuthError, OAuthProvider, Random,
    SignInStore, UserRepository,
};

/// What the provider sends back to `/v1/oauth_callback`.
#[derive(Debug, Default, Clone)]
pub struct OAuthCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// The client token the browser's cookie carries, if any.
    pub cookie_token: Option<String>,
    /// The browser's address and User-Agent, kept on a session it starts.
    pub origin: SessionOrigin,
}

/// Where the callback sends the browser, the client token a cookie browser
/// holds from now on when its sign-in completed, and why the OAuth factor
/// failed if it did (the browser's URL says so, for the client to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRedirect {
    pub location: String,
    pub new_token: Option<String>,
    pub failure: Option<Error>,
}

/// How long a client has to claim an OAuth callback.
const CLAIM_LIFETIME: crate::model::Duration = crate::model::Duration::minutes(5);

/// OAuth first factors: the start (for [`SignIns`](super::SignIns)), the
/// provider's callback, and the client's claim of its result.
#[derive(Clone)]
pub struct OAuth {
    pub(super) providers: OAuthProviders,
    pub(super) clients: Clients,
    pub(super) steps: Steps,
    pub(super) lockout: Lockout,
    /// Linking and refreshing external accounts.
    pub(super) user_admin: Users,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) sign_ins: Arc<dyn SignInStore>,
    pub(super) client_repo: Arc<dyn ClientRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) settings: LiveSettings,
}

impl OAuth {
    /// Checks what starting an OAuth flow needs before anything is written:
    /// the provider, and redirect URLs on allowed origins.
    pub(crate) fn check_oauth_start(
        &self,
        strategy: &Strategy,
        redirect_url: Option<&str>,
        action_complete_redirect_url: Option<&str>,
    ) -> Result<(), Error> {
        let Strategy::OAuth(name) = strategy else {
            return Ok(());
        };
        self.oauth_provider(name)?;
        let redirect_url = redirect_url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::param_nil("redirect_url"))?;
        self.check_redirect_url(redirect_url, "redirect_url")?;
        if let Some(url) = action_complete_redirect_url.filter(|u| !u.is_empty()) {
            let url = on_origin_of(url, redirect_url);
            self.check_redirect_url(&url, "action_complete_redirect_url")?;
        }
        Ok(())
    }

    /// Starts an OAuth first factor on `sign_in` (in memory; the caller
    /// stores it): see [`OAuth::new_flow`].
    pub(crate) async fn start_oauth(
        &self,
        sign_in: &mut SignIn,
        strategy: Strategy,
        redirect_url: Option<String>,
        action_complete_redirect_url: Option<String>,
        client_binding: Option<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let (flow, url) = self
            .new_flow(
                &strategy,
                sign_in.id.as_str(),
                redirect_url,
                action_complete_redirect_url,
                client_binding,
                now,
            )
            .await?;
        sign_in.oauth_started(strategy, flow, url, now)
    }

    /// A new OAuth flow for the sign-in or sign-up `flow_id`: a random,
    /// single-use state naming that flow, a PKCE verifier and a nonce, and
    /// the provider's authorize URL.
    pub(crate) async fn new_flow(
        &self,
        strategy: &Strategy,
        flow_id: &str,
        redirect_url: Option<String>,
        action_complete_redirect_url: Option<String>,
        client_binding: Option<String>,
        now: Timestamp,
    ) -> Result<(OAuthFlow, String), Error> {
        let Strategy::OAuth(name) = strategy else {
            return Err(Error::internal("OAuth start for another strategy"));
        };
        let provider = self.oauth_provider(name)?;
        let redirect_url = redirect_url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::param_nil("redirect_url"))?;
        self.check_redirect_url(&redirect_url, "redirect_url")?;
        let action_complete_redirect_url = action_complete_redirect_url
            .filter(|u| !u.is_empty())
            .map(|url| on_origin_of(&url, &redirect_url));
        if let Some(url) = &action_complete_redirect_url {
            self.check_redirect_url(url, "action_complete_redirect_url")?;
        }
        let secret = self.random_token(32);
        let flow = OAuthFlow {
            state_digest: digest(&secret),
            pkce_verifier: self.random_token(48),
            nonce: self.random_token(24),
            redirect_url,
            action_complete_redirect_url,
            expire_at: now.plus(self.settings.current().oauth_flow_lifetime),
            client_binding,
        };
        let request = AuthorizationRequest {
            state: format!("{flow_id}.{secret}"),
            pkce_verifier: flow.pkce_verifier.clone(),
            nonce: flow.nonce.clone(),
            redirect_uri: self.settings.current().oauth_callback_url.clone(),
        };
        let url = provider
            .authorize_url(&request)
            .await
            .map_err(|err| provider_error(strategy, &err))?;
        Ok((flow, url))
    }

    /// `GET`/`POST /v1/oauth_callback`: checks the state, exchanges the code
    /// and finds the user; the sign-in completes, asks for its second factor,
    /// becomes transferable (no such user) or fails. A callback whose state
    /// names no waiting flow is an error; every other outcome is a redirect.
    pub async fn oauth_callback(&self, params: OAuthCallback) -> Result<CallbackRedirect, Error> {
        let origin = params.origin.clone();
        let (sign_in_id, secret) = state_parts(params.state.as_deref())?;
        let mut sign_in = self
            .sign_ins
            .get(&SignInId(sign_in_id.to_owned()))
            .await?
            .ok_or_else(state_invalid)?;
        let now = self.clock.now();
        let flow = match sign_in.take_oauth_flow(&digest(secret), now) {
            Ok(flow) => flow,
            Err(OAuthStateError::Unknown) => return Err(state_invalid()),
            Err(OAuthStateError::Expired(redirect_url)) => {
                // Stored so that the expired flow cannot be tried again.
                self.clients
                    .replace_sign_in(&mut sign_in)
                    .await
                    .map_err(|_| state_invalid())?;
                return Ok(expired(redirect_url));
            }
        };
        // Storing the taken flow is the compare-and-set that makes the state
        // single use: of racing callbacks, one gets here.
        self.clients
            .replace_sign_in(&mut sign_in)
            .await
            .map_err(|_| state_invalid())?;
        // Back where the flow began, saying why it failed, if it did.
        let back = |failure: Option<Error>| CallbackRedirect {
            location: flow.redirect_url.clone(),
            new_token: None,
            failure,
        };
        // A flow a cookie browser started finishes only in that browser.
        if !from_its_browser(&flow, params.cookie_token.as_deref()) {
            let err = Error::OAuthClientMismatch;
            self.end_oauth(sign_in, VerificationStatus::Failed, &err)
                .await;
            return Ok(back(Some(err)));
        }
        let strategy = match sign_in.first_factor_verification().map(|v| &v.strategy) {
            Some(s @ Strategy::OAuth(_)) => s.clone(),
            _ => return Err(state_invalid()),
        };
        let (user, account) = match self
            .callback_user(&sign_in, &strategy, &flow, &params)
            .await
        {
            Ok(user) => (Some(user), None),
            Err(Ended::Transferable(account)) => (None, Some(account)),
            Err(Ended::Failed(err)) => {
                self.end_oauth(sign_in, VerificationStatus::Failed, &err)
                    .await;
                return Ok(back(Some(err)));
            }
        };
        if flow.client_binding.is_none() {
            // No cookie binds the flow to a browser: the client that started
            // it claims the result with a nonce only this browser gets (a
            // provider account no user has, too: whoever claims it may sign
            // it up).
            let (claim, redirect) =
                self.claim_for(&flow, user.as_ref().map(|u| u.id.clone()), account, now);
            sign_in.oauth_awaiting_claim(claim, now);
            if let Err(err) = self.clients.replace_sign_in(&mut sign_in).await {
                tracing::warn!(sign_in = %sign_in.id, error = %err, "could not record an OAuth claim");
                return Ok(back(Some(err)));
            }
            return Ok(redirect);
        }
        let Some(user) = user else {
            // A provider account no user has: the client goes on to sign
            // the newcomer up, taking it over.
            if let Some(account) = account {
                sign_in.oauth_transferable(account, now);
                if let Err(err) = self.clients.replace_sign_in(&mut sign_in).await {
                    return Ok(back(Some(err)));
                }
            }
            return Ok(back(None));
        };
        // The browser holding the client completes it here; its token rotates.
        match self
            .complete_oauth(sign_in.clone(), &user, false, &origin, now)
            .await
        {
            Ok((complete, new_token)) => Ok(CallbackRedirect {
                location: match (complete, &flow.action_complete_redirect_url) {
                    (true, Some(url)) => url.clone(),
                    _ => flow.redirect_url.clone(),
                },
                new_token,
                failure: None,
            }),
            Err(err) => {
                self.end_oauth(sign_in, VerificationStatus::Failed, &err)
                    .await;
                Ok(back(Some(err)))
            }
        }
    }

    /// The claim of a callback's result for the client that started `flow`
    /// (the user the provider named, or the account no user has), and the
    /// redirect that hands that client the claim's nonce.
    pub(crate) fn claim_for(
        &self,
        flow: &OAuthFlow,
        user_id: Option<UserId>,
        account: Option<ProviderAccount>,
        now: Timestamp,
    ) -> (OAuthClaim, CallbackRedirect) {
        let nonce = self.random_token(32);
        let claim = OAuthClaim {
            nonce_digest: digest(&nonce),
            user_id,
            account,
            expire_at: now.plus(CLAIM_LIFETIME),
        };
        let redirect = CallbackRedirect {
            location: crate::model::with_query(&flow.redirect_url, "rotating_token_nonce", &nonce),
            new_token: None,
            failure: None,
        };
        (claim, redirect)
    }

    /// A client claims the OAuth callback of its current sign-in with the
    /// nonce the callback sent to its `redirect_url` (`rotating_token_nonce`):
    /// the first factor passes, and the sign-in completes or asks for the
    /// second factor. Returns the client's new token if it rotated.
    pub async fn claim_oauth(
        &self,
        token: Option<&str>,
        nonce: &str,
        keep_token: bool,
        origin: &SessionOrigin,
    ) -> Result<Option<String>, Error> {
        let invalid = || Error::oauth_state_invalid("rotating_token_nonce");
        let client = self.clients.find_client(token).await?.ok_or_else(invalid)?;
        let sign_in_id = client.sign_in_id.clone().ok_or_else(invalid)?;
        let mut sign_in = self
            .sign_ins
            .get(&sign_in_id)
            .await?
            .filter(|s| s.client_id == client.id)
            .ok_or_else(invalid)?;
        let now = self.clock.now();
        let claim = match sign_in.take_oauth_claim(&digest(nonce), now) {
            Ok(claim) => claim,
            Err(OAuthStateError::Unknown) => return Err(invalid()),
            Err(OAuthStateError::Expired(_)) => {
                self.clients
                    .replace_sign_in(&mut sign_in)
                    .await
                    .map_err(|_| invalid())?;
                return Err(invalid());
            }
        };
        // The claim is single use: of racing claims, one stores this.
        self.clients
            .replace_sign_in(&mut sign_in)
            .await
            .map_err(|_| invalid())?;
        let Some(user_id) = claim.user_id else {
            // The provider named no user: the claimed account waits for a
            // sign-up to take it over.
            let account = claim.account.ok_or_else(invalid)?;
            sign_in.oauth_transferable(account, now);
            self.clients.replace_sign_in(&mut sign_in).await?;
            return Ok(None);
        };
        let user = self.users.get(&user_id).await?.ok_or_else(invalid)?;
        match self
            .complete_oauth(sign_in.clone(), &user, keep_token, origin, now)
            .await
        {
            Ok((_, new_token)) => Ok(new_token),
            Err(err) => {
                self.end_oauth(sign_in, VerificationStatus::Failed, &err)
                    .await;
                Err(err)
            }
        }
    }

    /// What the provider vouches for on this callback: the account its code
    /// exchange names (after an error it reported, nothing).
    pub(crate) async fn provider_account(
        &self,
        strategy: &Strategy,
        flow: &OAuthFlow,
        params: &OAuthCallback,
    ) -> Result<ProviderAccount, Error> {
        let Strategy::OAuth(name) = strategy else {
            return Err(Error::internal("OAuth callback for another strategy"));
        };
        if let Some(error) = params.error.as_deref().filter(|e| !e.is_empty()) {
            tracing::info!(provider = %name, error = %truncate(error), "the provider answered with an error");
            return Err(if error == "access_denied" {
                Error::OAuthAccessDenied
            } else {
                Error::OAuthProviderError
            });
        }
        let code = params
            .code
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let provider = self.oauth_provider(name)?;
        let exchange = CodeExchange {
            code,
            pkce_verifier: flow.pkce_verifier.clone(),
            nonce: flow.nonce.clone(),
            redirect_uri: self.settings.current().oauth_callback_url.clone(),
        };
        let identity = provider
            .exchange(&exchange)
            .await
            .map_err(|err| provider_error(strategy, &err))?;
        // The lists judge the address the provider gives, as they judge
        // one typed in.
        let settings = self.settings.current();
        let address = identity
            .email
            .as_deref()
            .and_then(|e| crate::model::EmailAddress::parse(e).ok());
        if let Some(address) = address
            && !settings
                .restrictions
                .admit(&settings.lists, &[Identifier::Email(address)], false)
        {
            return Err(Error::NotAllowedAccess);
        }
        let tokens = match &identity.tokens {
            Some(tokens) => Some(self.seal_tokens(name, &identity.subject, tokens)?),
            None => None,
        };
        Ok(ProviderAccount {
            tokens,
            provider: name.clone(),
            subject: identity.subject,
            email: identity.email,
            email_verified: identity.email_verified,
            first_name: identity.first_name,
            last_name: identity.last_name,
            username: identity.username,
            avatar_url: identity.avatar_url,
            approved_scopes: identity.approved_scopes.join(" "),
        })
    }

    /// `tokens` as an account of `provider` keeps them: sealed under the
    /// instance key, bound to the account, with their expiry as a time.
    pub(crate) fn seal_tokens(
        &self,
        provider: &str,
        subject: &str,
        tokens: &crate::ports::ProviderTokens,
    ) -> Result<String, Error> {
        let now = self.clock.now();
        let kept = crate::model::SealedTokens {
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            // At most ten years: a provider's number is not trusted to fit.
            expires_at: tokens.expires_in_secs.map(|secs| {
                let secs = i64::try_from(secs.min(315_360_000)).unwrap_or(315_360_000);
                now.plus(crate::model::Duration::seconds(secs))
            }),
        };
        let json = serde_json::to_vec(&kept).map_err(|_| Error::internal("tokens to JSON"))?;
        self.user_admin.secrets.seal(
            &json,
            &crate::model::SealedTokens::context(provider, subject),
            &*self.random,
        )
    }

    /// The user a provider account is: the one it is linked to, or else
    /// the one user with its email address when both sides verified it and
    /// the instance links by email. Nothing is written.
    pub(crate) async fn owner_of(&self, account: &ProviderAccount) -> Result<Option<User>, Error> {
        if let Some(user) = self
            .users
            .find_by_external_account(&account.provider, &account.subject)
            .await?
        {
            return Ok(Some(user));
        }
        self.user_by_verified_email(account).await
    }

    /// The user a provider account signs in, linked (or its link's profile
    /// refreshed) as the provider reported it. `identified` is the user a
    /// sign-in already named, if any: the account must be theirs.
    pub(crate) async fn sign_in_owner(
        &self,
        account: &ProviderAccount,
        identified: Option<&UserId>,
    ) -> Result<Option<User>, Error> {
        let linked = self
            .users
            .find_by_external_account(&account.provider, &account.subject)
            .await?;
        let Some(user) = linked else {
            let Some(user) = self.user_by_verified_email(account).await? else {
                return Ok(None);
            };
            // An identified sign-in links nothing for another user, and
            // nothing is linked to a locked user.
            if identified.is_some_and(|id| *id != user.id) {
                return Err(Error::ExternalAccountMismatch);
            }
            self.lockout.refuse_if_locked(&user)?;
            return self.link(user, account).await.map(Some);
        };
        if identified.is_some_and(|id| *id != user.id) {
            return Err(Error::ExternalAccountMismatch);
        }
        self.refresh_external_account(user, account).await.map(Some)
    }

    /// Who the callback is for: the provider's account, mapped to a user.
    async fn callback_user(
        &self,
        sign_in: &SignIn,
        strategy: &Strategy,
        flow: &OAuthFlow,
        params: &OAuthCallback,
    ) -> Result<User, Ended> {
        let account = self
            .provider_account(strategy, flow, params)
            .await
            .map_err(Ended::Failed)?;
        match self.sign_in_owner(&account, sign_in.user_id()).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(Ended::Transferable(account)),
            Err(err) => Err(Ended::Failed(err)),
        }
    }

    /// The one user with this email address, if the provider verified it,
    /// the user did too, and the instance links by email.
    async fn user_by_verified_email(
        &self,
        account: &ProviderAccount,
    ) -> Result<Option<User>, Error> {
        if !self.settings.current().oauth_link_verified_emails || !account.email_verified {
            return Ok(None);
        }
        let Some(email) = account.email.as_deref() else {
            return Ok(None);
        };
        let Ok(identifier) = Identifier::parse(email) else {
            return Ok(None);
        };
        let Identifier::Email(address) = &identifier else {
            return Ok(None);
        };
        // Both sides must have verified the address: an account someone
        // registered with an address they never proved does not capture the
        // provider account of whoever owns it.
        let user = self.users.find_by_identifier(&identifier).await?;
        Ok(user.filter(|u| u.email(address).is_some_and(|e| e.verified)))
    }

    /// Links the provider account to `user`.
    async fn link(&self, user: User, account: &ProviderAccount) -> Result<User, Error> {
        let now = self.clock.now();
        let linked = account.linked(new_id(IdPrefix::ExternalAccount, &*self.random), now);
        let provider = account.provider.as_str();
        tracing::info!(user = %user.id, provider, "linked an external account by its verified email");
        self.user_admin
            .write_user(user, |mut user| {
                if user.external_account(provider, &linked.subject).is_none() {
                    user.external_accounts.push(linked.clone());
                }
                Ok(user)
            })
            .await
    }

    /// Keeps the linked account's profile as the provider last reported it.
    async fn refresh_external_account(
        &self,
        user: User,
        identity: &ProviderAccount,
    ) -> Result<User, Error> {
        let provider = identity.provider.as_str();
        let unchanged = user
            .external_account(provider, &identity.subject)
            .is_some_and(|a| {
                a.email == identity.email
                    && a.email_verified == identity.email_verified
                    && a.first_name == identity.first_name
                    && a.last_name == identity.last_name
                    && a.username == identity.username
                    && a.avatar_url == identity.avatar_url
                    && a.approved_scopes == identity.approved_scopes
                    && identity.tokens.is_none()
            });
        if unchanged {
            return Ok(user);
        }
        let now = self.clock.now();
        self.user_admin
            .write_user(user, |mut user| {
                if let Some(a) = user
                    .external_accounts
                    .iter_mut()
                    .find(|a| a.provider == provider && a.subject == identity.subject)
                {
                    a.email = identity.email.clone();
                    a.email_verified = identity.email_verified;
                    a.first_name = identity.first_name.clone();
                    a.last_name = identity.last_name.clone();
                    a.username = identity.username.clone();
                    a.avatar_url = identity.avatar_url.clone();
                    a.approved_scopes = identity.approved_scopes.clone();
                    if identity.tokens.is_some() {
                        a.tokens = identity.tokens.clone();
                    }
                    a.updated_at = now;
                }
                Ok(user)
            })
            .await
    }

    /// The provider named `user`, for the client holding the sign-in: the
    /// first factor passes, and the sign-in completes with a session on that
    /// client (rotating its token unless `keep_token`) or waits for the
    /// second factor. Returns whether it completed, and the new token.
    async fn complete_oauth(
        &self,
        mut sign_in: SignIn,
        user: &User,
        keep_token: bool,
        origin: &SessionOrigin,
        now: Timestamp,
    ) -> Result<(bool, Option<String>), Error> {
        self.lockout.refuse_if_locked(user)?;
        super::lockout::refuse_if_banned(user)?;
        let client = self
            .client_repo
            .get_client(&sign_in.client_id)
            .await?
            .ok_or(Error::NotFound(Resource::Client))?;
        self.clients.refuse_if_signed_in(&client, user).await?;
        let before = sign_in.clone();
        let session = match sign_in.oauth_passed(user, user.two_factor_enabled(), now)? {
            AfterFirstFactor::NeedsSecondFactor => None,
            AfterFirstFactor::ReadyToComplete => {
                let session = self.steps.new_session(&sign_in, user, origin, now)?;
                sign_in.complete(session.id.clone(), now)?;
                Some(session)
            }
        };
        let complete = session.is_some();
        let step = PassedStep {
            client: &client,
            sessions: None,
            before,
            session,
            user,
            password: None,
            keep_token,
            passed: None,
        };
        let outcome = self.steps.finish_step(sign_in, step, now).await?;
        Ok((complete, outcome.new_token))
    }

    /// Records how the OAuth factor ended; a failure to store it is logged
    /// (the browser is sent back either way, and the state is spent).
    async fn end_oauth(&self, mut sign_in: SignIn, status: VerificationStatus, err: &Error) {
        tracing::info!(sign_in = %sign_in.id, error = %err, "OAuth sign-in did not complete");
        let error: VerificationError = err.clone();
        sign_in.oauth_ended(status, error, self.clock.now());
        if let Err(store) = self.clients.replace_sign_in(&mut sign_in).await {
            tracing::warn!(sign_in = %sign_in.id, error = %store, "could not record the OAuth outcome");
        }
    }

    pub(crate) fn oauth_provider(&self, name: &str) -> Result<Arc<dyn OAuthProvider>, Error> {
        self.providers
            .get(name)
            .filter(|_| {
                self.settings
                    .current()
                    .strategies
                    .allows(&Strategy::OAuth(name.to_owned()))
            })
            .ok_or_else(|| Error::ProviderNotEnabled(truncate(name)))
    }

    /// A redirect target must be an http(s) URL on an allowed origin (on a
    /// development instance, loopback hosts too): no open redirects.
    fn check_redirect_url(&self, url: &str, param: &'static str) -> Result<(), Error> {
        let invalid = || Error::invalid(param, Problem::OriginNotAllowed);
        // Visible ASCII only: what goes into a Location header as it is.
        if url.len() > 2048 || !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        let origin = origin_of(url).ok_or_else(invalid)?;
        let allowed = self.settings.current().redirect_origins.contains(&origin)
            || (self.settings.current().environment == Environment::Development
                && is_loopback_origin(&origin));
        if allowed { Ok(()) } else { Err(invalid()) }
    }

    /// `bytes` random bytes, base64url: state secrets, verifiers, nonces.
    pub(crate) fn random_token(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.random.fill(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }
}

/// The flow id and the secret a callback's `state` carries.
pub(crate) fn state_parts(state: Option<&str>) -> Result<(&str, &str), Error> {
    state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::param_nil("state"))?
        .split_once('.')
        .ok_or_else(state_invalid)
}

/// Whether a callback may finish `flow`: one a cookie browser started only
/// in the browser holding that cookie; any other flow, anywhere (its
/// result then waits for a claim).
pub(crate) fn from_its_browser(flow: &OAuthFlow, cookie_token: Option<&str>) -> bool {
    let Some(binding) = &flow.client_binding else {
        return true;
    };
    cookie_token
        .map(super::token_hash)
        .is_some_and(|presented| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                presented.as_bytes(),
                binding.as_bytes(),
            ))
        })
}

/// Back where an expired flow began, saying so.
pub(crate) fn expired(redirect_url: String) -> CallbackRedirect {
    CallbackRedirect {
        location: redirect_url,
        new_token: None,
        failure: Some(Error::CodeExpired),
    }
}

/// How a callback ended without a user to sign in.
enum Ended {
    /// No user has the provider account: a sign-up may take it over.
    Transferable(ProviderAccount),
    Failed(Error),
}

pub(crate) fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// `url`, or when it is a path (`/home`, as Clerk's components send their
/// after-sign-in and after-sign-up pages), that path on the origin of
/// `base`. Anything else is left as it is, for the origin check to judge.
fn on_origin_of(url: &str, base: &str) -> String {
    let is_path = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    match origin_of(base) {
        Some(origin) if is_path => format!("{origin}{url}"),
        _ => url.to_owned(),
    }
}

fn provider_error(strategy: &Strategy, err: &OAuthError) -> Error {
    tracing::warn!(strategy = %strategy.name(), error = %err, "OAuth provider step failed");
    match err {
        OAuthError::Rejected(_) => Error::OAuthAnswerRefused,
        OAuthError::Unavailable(_) => Error::OAuthProviderUnavailable,
    }
}

pub(crate) fn state_invalid() -> Error {
    Error::oauth_state_invalid("state")
}

mod providers;

pub use providers::OAuthProviders;
pub(crate) use providers::seal_client_secret;

#[cfg(test)]
mod flow_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn origins_of_redirect_urls() {
        assert_eq!(
            origin_of("https://App.example.com/sso?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(
            origin_of("HTTPS://a.b#frag").as_deref(),
            Some("https://a.b")
        );
        for bad in [
            "/relative",
            "javascript:alert(1)",
            "https://evil.example@app.example.com/",
            "https://app.example.com\\@evil.example",
            "ftp://app.example.com",
            "https://",
            "//evil.example",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
        assert!(is_loopback_origin("http://localhost:3000"));
        assert!(is_loopback_origin("http://127.0.0.1"));
        assert!(is_loopback_origin("http://[::1]:8080"));
        assert!(!is_loopback_origin("http://localhost.evil.example"));
        assert!(!is_loopback_origin("http://127.0.0.1.evil.example"));
    }

    #[test]
    fn a_path_after_the_flow_lands_on_the_origin_of_its_redirect_url() {
        let base = "https://App.example.com/sso-callback?x=1";
        assert_eq!(on_origin_of("/", base), "https://app.example.com/");
        assert_eq!(
            on_origin_of("/home?a=b", base),
            "https://app.example.com/home?a=b"
        );
        // Scheme-relative and backslash forms are not paths: they stay, and
        // the origin check refuses them.
        for other in [
            "//evil.example/x",
            "/\\evil.example",
            "https://elsewhere.example/",
        ] {
            assert_eq!(on_origin_of(other, base), other, "{other}");
        }
        assert_eq!(on_origin_of("/home", "not a url"), "/home");
    }
}

//! OAuth flow records kept with a sign-in (the redirect waiting for its
//! callback, the claim waiting for its client) and the transitions that use them.

use serde::{Deserialize, Serialize};

use super::{
    AfterFirstFactor, SignIn, SignInStatus, Strategy, Verification, VerificationError,
    VerificationStatus,
};
use crate::error::{Error, Problem};
use crate::model::{ExternalAccount, Timestamp, User, UserId};

/// An account at an identity provider as the provider vouched for it, not
/// (yet) any user's: what a transfer or an OAuth sign-up makes a user of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAccount {
    /// The provider's name as in `oauth_<provider>`.
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// Space-separated, as OAuth writes scopes.
    pub approved_scopes: String,
    /// The tokens the provider issued, sealed under the instance key.
    #[serde(default)]
    pub tokens: Option<String>,
}

/// A provider's tokens as they are kept, sealed (see
/// [`ExternalAccount::tokens`]): the access token, the refresh token if any,
/// and when the access token expires if the provider said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<Timestamp>,
}

impl SealedTokens {
    /// What the sealed tokens of `provider`'s account `subject` are bound
    /// to: a sealed blob copied to another account does not open.
    pub fn context(provider: &str, subject: &str) -> String {
        format!("oauth-tokens:{provider}:{subject}")
    }
}

impl ProviderAccount {
    /// The external account of a user this becomes, with `id`.
    pub fn linked(&self, id: String, now: Timestamp) -> ExternalAccount {
        ExternalAccount {
            id,
            provider: self.provider.clone(),
            subject: self.subject.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            username: self.username.clone(),
            avatar_url: self.avatar_url.clone(),
            approved_scopes: self.approved_scopes.clone(),
            tokens: self.tokens.clone(),
            created_at: now,
            updated_at: now,
        }
    }
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
    /// The user the provider named; `None` when it named no user and
    /// `account` waits for a sign-up instead.
    pub user_id: Option<UserId>,
    /// The provider's account, when it is no user's yet.
    #[serde(default)]
    pub account: Option<ProviderAccount>,
    pub expire_at: Timestamp,
}

/// Why a callback's `state` (or a claim's nonce) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthStateError {
    /// No flow waits: never started, already used, or another state.
    Unknown,
    /// The flow's time is over; it is gone now. Carries its redirect URL.
    Expired(String),
}

/// The OAuth records of a sign-in or a sign-up, and the verification they
/// settle: what the callback and the claim take, once.
pub(crate) struct OAuthParts<'a> {
    pub flow: &'a mut Option<OAuthFlow>,
    pub claim: &'a mut Option<OAuthClaim>,
    pub verification: Option<&'a mut Verification>,
    pub updated_at: &'a mut Timestamp,
}

impl OAuthParts<'_> {
    /// Takes the waiting flow if `state_digest` is its state's, in constant
    /// time. Single use: afterwards no flow waits (the caller stores the
    /// change with a compare-and-set, so one of racing callbacks wins). An
    /// expired flow is gone too, its verification expired; the error
    /// carries its redirect URL.
    pub(crate) fn take_flow(
        self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<OAuthFlow, OAuthStateError> {
        let matches = self.flow.as_ref().is_some_and(|flow| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                flow.state_digest.as_bytes(),
                state_digest.as_bytes(),
            ))
        });
        let flow = self
            .flow
            .take_if(|_| matches)
            .ok_or(OAuthStateError::Unknown)?;
        *self.updated_at = now;
        if now >= flow.expire_at {
            if let Some(v) = self.verification {
                v.status = VerificationStatus::Expired;
                v.external_url = None;
            }
            return Err(OAuthStateError::Expired(flow.redirect_url));
        }
        Ok(flow)
    }

    /// A callback's result now waits for the client to claim it with the
    /// nonce whose digest `claim` holds.
    pub(crate) fn await_claim(self, claim: OAuthClaim, now: Timestamp) {
        if let Some(v) = self.verification {
            v.external_url = None;
        }
        *self.claim = Some(claim);
        *self.updated_at = now;
    }

    /// Takes the waiting claim if `nonce_digest` is its nonce's, in constant
    /// time; single use, like the state.
    pub(crate) fn take_claim(
        self,
        nonce_digest: &str,
        now: Timestamp,
    ) -> Result<OAuthClaim, OAuthStateError> {
        let matches = self.claim.as_ref().is_some_and(|claim| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                claim.nonce_digest.as_bytes(),
                nonce_digest.as_bytes(),
            ))
        });
        let claim = self
            .claim
            .take_if(|_| matches)
            .ok_or(OAuthStateError::Unknown)?;
        *self.updated_at = now;
        if now >= claim.expire_at {
            if let Some(v) = self.verification {
                v.status = VerificationStatus::Expired;
            }
            return Err(OAuthStateError::Expired(String::new()));
        }
        Ok(claim)
    }
}

impl SignIn {
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
        self.oauth_parts().take_flow(state_digest, now)
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
            return Err(Error::invalid(
                "strategy",
                Problem::ProviderAccountOfAnotherUser,
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
        self.oauth_parts().await_claim(claim, now);
    }

    /// Takes the waiting claim if `nonce_digest` is its nonce's, in constant
    /// time. Single use, like the state.
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
            verification: self.first_factor_verification.as_mut(),
            updated_at: &mut self.updated_at,
        }
    }

    /// The provider named no user: `account` waits for a sign-up to take it
    /// over (`signUp.create({ transfer: true })`), and the verification says
    /// so (`transferable`, `external_account_not_found`).
    pub fn oauth_transferable(&mut self, account: ProviderAccount, now: Timestamp) {
        self.oauth_ended(
            VerificationStatus::Transferable,
            Error::ExternalAccountNotFound,
            now,
        );
        self.transfer = Some(account);
    }

    /// The provider account a sign-up may take over, while the sign-in is
    /// open and its OAuth factor ended transferable.
    pub fn transferable_account(&self, now: Timestamp) -> Option<&ProviderAccount> {
        let open = matches!(
            self.status_at(now),
            SignInStatus::NeedsIdentifier | SignInStatus::NeedsFirstFactor
        );
        let transferable = self
            .first_factor_verification
            .as_ref()
            .is_some_and(|v| v.status == VerificationStatus::Transferable);
        self.transfer.as_ref().filter(|_| open && transferable)
    }

    /// A sign-in made for `user` from a sign-up whose provider account is
    /// theirs (`signIn.create({ transfer: true })`): the provider's word is
    /// its first factor, as on an OAuth callback.
    pub fn transferred(
        &mut self,
        user: &User,
        strategy: Strategy,
        needs_second_factor: bool,
        now: Timestamp,
    ) -> Result<AfterFirstFactor, Error> {
        self.expect_status(now, &[SignInStatus::NeedsIdentifier])?;
        self.first_factor_verification = Some(Verification {
            strategy: strategy.clone(),
            status: VerificationStatus::Unverified,
            attempts: 0,
            expire_at: Some(now),
            code: None,
            external_url: None,
            error: None,
        });
        self.user_id = Some(user.id.clone());
        self.status = SignInStatus::NeedsFirstFactor;
        self.first_factor_passed(strategy, needs_second_factor, now)
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
}

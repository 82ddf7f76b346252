//! `/v1/me/external_accounts`: a signed-in user connects an account at an
//! identity provider through the same OAuth redirect (and the same state,
//! PKCE and browser binding) as a sign-in, or disconnects one.
//!
//! The flow is kept as a sign-in of the user in the flow store, under an
//! `eac_` id: the id the provider account gets once the callback links it.
//! A connection is finished only in the browser that started it (its client
//! cookie), so nobody can link their own provider account to someone else's
//! user by sending them an authorize link.

use super::Outcome;
use super::addresses::keep_a_way_in;
use super::me::Account;
use super::oauth::{digest, expired, from_its_browser, state_invalid, state_parts};
use crate::error::{Error, Problem, Resource};
use crate::model::{
    IdPrefix, OAuthStateError, SignIn, SignInId, Strategy, Timestamp, User, new_id, truncate,
};
use crate::service::{CallbackRedirect, OAuthCallback};

/// An account being connected, as `POST /v1/me/external_accounts` answers:
/// where the browser goes to approve it.
#[derive(Debug, Clone)]
pub struct PendingConnection {
    pub id: String,
    pub provider: String,
    pub external_url: String,
    pub expire_at: Timestamp,
    pub created_at: Timestamp,
}

/// `POST /v1/me/external_accounts`.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub strategy: Option<String>,
    pub redirect_url: Option<String>,
    /// Whether the request came from a browser that holds its client by
    /// cookie: a connection needs one.
    pub bind_to_cookie: bool,
}

impl Account {
    /// Starts connecting a provider account to the signed-in user.
    pub async fn connect_external_account(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        params: Connect,
    ) -> Result<Outcome<PendingConnection>, Error> {
        let raw = params
            .strategy
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::param_nil("strategy"))?;
        let strategy = match Strategy::parse(&raw) {
            Some(s @ Strategy::OAuth(_)) => s,
            _ => {
                return Err(Error::invalid(
                    "strategy",
                    Problem::NotFirstFactor(truncate(&raw)),
                ));
            }
        };
        self.oauth
            .check_oauth_start(&strategy, params.redirect_url.as_deref(), None)?;
        let (client, user) = self.me(token, session_id).await?;
        // Only a browser's cookie binds the callback to the one who started
        // it: without one, a link sent to someone else would connect their
        // provider account to this user.
        if !params.bind_to_cookie {
            return Err(Error::StrategyNotSupported(strategy));
        }
        let binding = client.token_hash.clone();
        let now = self.clock.now();
        let id = new_id(IdPrefix::ExternalAccount, &*self.random);
        let mut carrier = SignIn::new(
            SignInId(id.clone()),
            client.id.clone(),
            now,
            &self.settings.current(),
        );
        carrier.identify(user.id.as_str().to_owned(), &user, now)?;
        let (flow, url) = self
            .oauth
            .new_flow(
                &strategy,
                &id,
                params.redirect_url,
                None,
                Some(binding),
                now,
            )
            .await?;
        let expire_at = flow.expire_at;
        carrier.oauth_started(strategy.clone(), flow, url.clone(), now)?;
        self.sign_ins.insert(&carrier).await?;
        let Strategy::OAuth(provider) = strategy else {
            return Err(Error::internal("a connection for another strategy"));
        };
        let pending = PendingConnection {
            id,
            provider,
            external_url: url,
            expire_at,
            created_at: now,
        };
        self.clients.outcome(pending, &client.id, None).await
    }

    /// `/v1/oauth_callback` for a connection: the provider's account is
    /// linked to the user who started it, unless another user has it. The
    /// browser goes back to the flow's `redirect_url` either way, told of a
    /// failure.
    pub async fn connection_callback(
        &self,
        params: OAuthCallback,
    ) -> Result<CallbackRedirect, Error> {
        let (flow_id, secret) = state_parts(params.state.as_deref())?;
        let mut carrier = self
            .sign_ins
            .get(&SignInId(flow_id.to_owned()))
            .await?
            .ok_or_else(state_invalid)?;
        let now = self.clock.now();
        let flow = match carrier.take_oauth_flow(&digest(secret), now) {
            Ok(flow) => flow,
            Err(OAuthStateError::Unknown) => return Err(state_invalid()),
            Err(OAuthStateError::Expired(redirect_url)) => {
                self.sign_ins.delete(&carrier.id).await?;
                return Ok(expired(redirect_url));
            }
        };
        // Storing the taken flow is the compare-and-set that makes the state
        // single use: of racing callbacks, one gets past it.
        self.clients
            .replace_sign_in(&mut carrier)
            .await
            .map_err(|_| state_invalid())?;
        self.sign_ins.delete(&carrier.id).await?;
        let back = |failure: Option<Error>| CallbackRedirect {
            location: flow.redirect_url.clone(),
            new_token: None,
            failure,
        };
        if !from_its_browser(&flow, params.cookie_token.as_deref()) {
            return Ok(back(Some(Error::OAuthClientMismatch)));
        }
        let (Some(user_id), Some(strategy)) = (
            carrier.user_id().cloned(),
            carrier
                .first_factor_verification()
                .map(|v| v.strategy.clone()),
        ) else {
            return Err(state_invalid());
        };
        let account = match self.oauth.provider_account(&strategy, &flow, &params).await {
            Ok(account) => account,
            Err(err) => return Ok(back(Some(err))),
        };
        match self.oauth.owner_of(&account).await? {
            Some(owner) if owner.id != user_id => {
                return Ok(back(Some(Error::ExternalAccountTaken)));
            }
            _ => {}
        }
        let Some(user) = self.users.get(&user_id).await? else {
            return Ok(back(Some(Error::NotFound(Resource::User))));
        };
        let linked = account.linked(carrier.id.as_str().to_owned(), now);
        let written = self
            .user_admin
            .write_user(user, |mut user| {
                if user
                    .external_account(&linked.provider, &linked.subject)
                    .is_none()
                {
                    user.external_accounts.push(linked.clone());
                }
                Ok(user)
            })
            .await;
        match written {
            Ok(user) => {
                tracing::info!(user = %user.id, provider = %linked.provider, "connected an external account");
                Ok(back(None))
            }
            Err(err) => Ok(back(Some(err))),
        }
    }

    /// `DELETE /v1/me/external_accounts/{id}`: a sensitive change, and not
    /// the user's last way in.
    pub async fn disconnect_external_account(
        &self,
        token: Option<&str>,
        session_id: Option<&str>,
        id: &str,
    ) -> Result<Outcome<String>, Error> {
        let (client, user, session) = self.me_with_session(token, session_id).await?;
        if !user.external_accounts.iter().any(|a| a.id == id) {
            return Err(Error::NotFound(Resource::ExternalAccount));
        }
        self.require_recent_verification(&user, &session)?;
        let settings = self.settings.current().clone();
        self.user_admin
            .write_user(user, |mut user: User| {
                let before = user.clone();
                let len = user.external_accounts.len();
                user.external_accounts.retain(|a| a.id != id);
                if user.external_accounts.len() == len {
                    return Err(Error::NotFound(Resource::ExternalAccount));
                }
                keep_a_way_in(&before, &user, &settings, "external_account_id")?;
                Ok(user)
            })
            .await?;
        self.clients.outcome(id.to_owned(), &client.id, None).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::model::{Client, SessionId, SessionStatus};
    use crate::service::test_support::{Mocks, TOKEN, client, session, user};

    #[tokio::test]
    async fn without_a_cookie_to_bind_the_callback_nothing_is_started() {
        let mut m = Mocks::new();
        m.settings.strategies.oauth_providers = vec!["github".into()];
        m.settings.redirect_origins = vec!["https://app.example".into()];
        let mut provider = crate::ports::MockOAuthProvider::new();
        provider.expect_name().return_const("github".to_owned());
        provider.expect_authorize_url().never();
        m.oauth.push(provider);
        m.clients.expect_find_client_by_token_hash().returning(|_| {
            Ok(Some(Client {
                last_active_session_id: Some(SessionId("sess_1".into())),
                ..client()
            }))
        });
        m.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![session(SessionStatus::Active)]));
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m.sign_ins.expect_insert().never();
        let err = m
            .services()
            .account
            .connect_external_account(
                Some(TOKEN),
                None,
                Connect {
                    strategy: Some("oauth_github".into()),
                    redirect_url: Some("https://app.example/profile".into()),
                    bind_to_cookie: false,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::StrategyNotSupported(Strategy::OAuth("github".into()))
        );
    }
}

//! `GET /v1/users/{id}/oauth_access_tokens/{provider}` (Backend API): the
//! tokens a provider issued for a user's linked accounts, opened for the
//! application's server, refreshed first when the access token has expired
//! and the provider gave a refresh token.

use super::me::Account;
use crate::error::Error;
use crate::model::{Duration, ExternalAccount, SealedTokens, Strategy, Timestamp, User};

/// How long before its expiry an access token is refreshed: one that would
/// lapse while the application's server uses it is no use.
const REFRESH_MARGIN: Duration = Duration::seconds(30);

/// One linked account's access token.
#[derive(Debug, Clone)]
pub struct AccessTokenView {
    pub external_account_id: String,
    pub provider: String,
    pub provider_user_id: String,
    pub token: String,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<String>,
}

impl Account {
    /// The access tokens of `user_id`'s accounts at `provider` (`oauth_x` or
    /// `x`): those the provider gave tokens for.
    pub async fn provider_access_tokens(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Vec<AccessTokenView>, Error> {
        let name = match Strategy::parse(provider) {
            Some(Strategy::OAuth(name)) => name,
            _ => provider.to_owned(),
        };
        let mut user = self.user_admin.get_user(user_id).await?;
        let mut views = Vec::new();
        let accounts: Vec<ExternalAccount> = user
            .external_accounts
            .iter()
            .filter(|a| a.provider == name && a.tokens.is_some())
            .cloned()
            .collect();
        for account in accounts {
            let Some(sealed) = &account.tokens else {
                continue;
            };
            let context = SealedTokens::context(&account.provider, &account.subject);
            let mut tokens = open_tokens(&self.secrets, sealed, &context)?;
            let now = self.clock.now();
            let lapsing = tokens
                .expires_at
                .is_some_and(|at| at <= now.plus(REFRESH_MARGIN));
            if let (true, Some(refresh)) = (lapsing, tokens.refresh_token.clone()) {
                (user, tokens) = self.refresh_tokens(user, &account, &refresh).await?;
            }
            views.push(AccessTokenView {
                external_account_id: account.id.clone(),
                provider: account.provider.clone(),
                provider_user_id: account.subject.clone(),
                token: tokens.access_token,
                expires_at: tokens.expires_at,
                scopes: account
                    .approved_scopes
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            });
        }
        Ok(views)
    }

    /// New tokens from the provider for `account`, stored (sealed) on the
    /// user before they are handed out.
    async fn refresh_tokens(
        &self,
        user: User,
        account: &ExternalAccount,
        refresh_token: &str,
    ) -> Result<(User, SealedTokens), Error> {
        let provider = self.oauth.oauth_provider(&account.provider)?;
        let fresh = provider.refresh(refresh_token).await.map_err(|err| {
            tracing::warn!(provider = %account.provider, error = %err, "refreshing a provider's token failed");
            match err {
                crate::ports::OAuthError::Rejected(_) => Error::OAuthAnswerRefused,
                crate::ports::OAuthError::Unavailable(_) => Error::OAuthProviderUnavailable,
            }
        })?;
        let sealed = self
            .oauth
            .seal_tokens(&account.provider, &account.subject, &fresh)?;
        let now = self.clock.now();
        let user = self
            .user_admin
            .write_user(user, |mut user| {
                if let Some(a) = user
                    .external_accounts
                    .iter_mut()
                    .find(|a| a.id == account.id)
                {
                    a.tokens = Some(sealed.clone());
                    a.updated_at = now;
                }
                Ok(user)
            })
            .await?;
        let context = SealedTokens::context(&account.provider, &account.subject);
        Ok((user, open_tokens(&self.secrets, &sealed, &context)?))
    }
}

fn open_tokens(
    secrets: &crate::secrets::SecretBox,
    sealed: &str,
    context: &str,
) -> Result<SealedTokens, Error> {
    serde_json::from_slice(&secrets.open(sealed, context)?)
        .map_err(|_| Error::internal("stored provider tokens are not JSON"))
}

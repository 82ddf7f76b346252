//! Operators: the users who may open the dashboard. Granting and revoking
//! are audited with their actor; the first operator of an instance comes
//! from a one-time setup token (printed at start while there is none) or
//! from the command line. The dashboard's form tokens are keyed here, under
//! the instance key, so that no inbound adapter holds the key itself.

use std::sync::{Arc, Mutex, PoisonError};

use subtle::ConstantTimeEq;

use crate::error::{Error, Problem, Resource};
use crate::model::{AuditAction, EmailAddress, Identifier, User, UserId};
use crate::ports::{Clock, Operator, OperatorStore, Random, Revoked, UserRepository};
use crate::secrets::SecretBox;

use super::Audit;

/// Operators shown at most on one page (the role is for a few people).
pub const MAX_LISTED_OPERATORS: u32 = 500;

/// An operator with the user they are (`None` if the user was deleted
/// between the two reads).
#[derive(Debug, Clone)]
pub struct OperatorView {
    pub operator: Operator,
    pub user: Option<User>,
}

/// Granting, revoking and checking the operator role.
#[derive(Clone)]
pub struct Operators {
    pub(super) store: Arc<dyn OperatorStore>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) audit: Audit,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    /// This process's first-run token, while it has one.
    pub(super) setup_token: Arc<Mutex<Option<String>>>,
}

impl Operators {
    pub async fn is_operator(&self, user_id: &str) -> Result<bool, Error> {
        Ok(self.store.is_operator(&UserId(user_id.to_owned())).await?)
    }

    pub async fn count(&self) -> Result<u64, Error> {
        Ok(self.store.count().await?)
    }

    /// Every operator, oldest grant first, with their users.
    pub async fn list(&self) -> Result<Vec<OperatorView>, Error> {
        let operators = self.store.list(MAX_LISTED_OPERATORS).await?;
        let mut views = Vec::with_capacity(operators.len());
        for operator in operators {
            let user = self.users.get(&operator.user_id).await?;
            views.push(OperatorView { operator, user });
        }
        Ok(views)
    }

    /// Makes the user an operator, granted by the request's operator (if
    /// any). Returns whether the role is new.
    pub async fn grant(&self, user_id: &str) -> Result<bool, Error> {
        let user = self.user(user_id).await?;
        let operator = Operator {
            user_id: user.id.clone(),
            granted_at: self.clock.now(),
            granted_by: super::current_request().operator,
        };
        let granted = self.store.grant(&operator).await.map_err(not_found)?;
        if granted {
            self.audit
                .record(AuditAction::OperatorGranted, Some(&user.id.0), &[])
                .await;
        }
        Ok(granted)
    }

    /// [`Self::grant`] to the user with this email address.
    pub async fn grant_by_email(&self, email: &str) -> Result<(User, bool), Error> {
        let user = self.user_by_email(email).await?;
        let granted = self.grant(&user.id.0).await?;
        Ok((user, granted))
    }

    /// Takes the role away. The last operator keeps it: an instance
    /// without one could only be set up again.
    pub async fn revoke(&self, user_id: &str) -> Result<(), Error> {
        match self.store.revoke(&UserId(user_id.to_owned())).await? {
            Revoked::Revoked => {
                self.audit
                    .record(AuditAction::OperatorRevoked, Some(user_id), &[])
                    .await;
                Ok(())
            }
            Revoked::NotOperator => Err(Error::NotFound(Resource::Record)),
            Revoked::LastOperator => Err(Error::invalid("user_id", Problem::LastOperator)),
        }
    }

    /// [`Self::revoke`] for the user with this email address.
    pub async fn revoke_by_email(&self, email: &str) -> Result<User, Error> {
        let user = self.user_by_email(email).await?;
        self.revoke(&user.id.0).await?;
        Ok(user)
    }

    /// A new first-run token for this process when the instance has no
    /// operator (to be shown to whoever runs it), else `None`.
    pub async fn issue_setup_token(&self) -> Result<Option<String>, Error> {
        if self.store.count().await? > 0 {
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes);
        let token = super::hex(&bytes);
        *self.lock_token() = Some(token.clone());
        Ok(Some(token))
    }

    /// Whether `token` is this process's first-run token and the instance
    /// still has no operator. Spends nothing.
    pub async fn setup_token_matches(&self, token: &str) -> Result<bool, Error> {
        let matches = self
            .lock_token()
            .as_deref()
            .is_some_and(|kept| bool::from(kept.as_bytes().ct_eq(token.as_bytes())));
        Ok(matches && self.store.count().await? == 0)
    }

    /// Spends the first-run token to make `user_id` the instance's first
    /// operator. A wrong or spent token, or an instance that already has
    /// an operator, is `CodeIncorrect` and changes nothing.
    pub async fn complete_setup(&self, token: &str, user_id: &str) -> Result<(), Error> {
        let taken = {
            let mut kept = self.lock_token();
            match kept.as_deref() {
                Some(k) if bool::from(k.as_bytes().ct_eq(token.as_bytes())) => kept.take(),
                _ => None,
            }
        };
        let Some(taken) = taken else {
            return Err(Error::CodeIncorrect);
        };
        let operator = Operator {
            user_id: UserId(user_id.to_owned()),
            granted_at: self.clock.now(),
            granted_by: None,
        };
        match self.store.grant_first(&operator).await {
            Ok(true) => {
                self.audit
                    .record(
                        AuditAction::OperatorGranted,
                        Some(user_id),
                        &[("via", "setup")],
                    )
                    .await;
                Ok(())
            }
            // Another replica's setup (or the command line) came first.
            Ok(false) => Err(Error::CodeIncorrect),
            Err(err) => {
                // Not spent: the store never took it.
                *self.lock_token() = Some(taken);
                Err(not_found(err))
            }
        }
    }

    /// The dashboard's form token for a session: a keyed digest of its id.
    pub fn form_token(&self, session_id: &str) -> String {
        self.secrets.digest("latch/dashboard-form", session_id)
    }

    /// Whether `token` is [`Self::form_token`] of the session, compared in
    /// constant time.
    pub fn form_token_matches(&self, session_id: &str, token: &str) -> bool {
        let expected = self.form_token(session_id);
        bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }

    async fn user(&self, user_id: &str) -> Result<User, Error> {
        self.users
            .get(&UserId(user_id.to_owned()))
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    async fn user_by_email(&self, email: &str) -> Result<User, Error> {
        let email = EmailAddress::parse(email)?;
        self.users
            .find_by_identifier(&Identifier::Email(email))
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    fn lock_token(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.setup_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A user gone between the read and the grant.
fn not_found(err: crate::error::StoreError) -> Error {
    match err {
        crate::error::StoreError::NotFound => Error::NotFound(Resource::User),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::model::{Actor, RequestContext};
    use crate::service::test_support::Mocks;

    /// Services whose operator store holds none until a first grant.
    fn with_first_grant(granted: Arc<AtomicU64>) -> crate::service::Services {
        let mut mocks = Mocks::new();
        let count = granted.clone();
        mocks
            .operators
            .expect_count()
            .returning(move || Ok(count.load(Ordering::SeqCst)));
        mocks.operators.expect_grant_first().returning(move |_| {
            Ok(granted
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok())
        });
        mocks.services()
    }

    #[tokio::test]
    async fn the_setup_token_is_spent_once_and_a_wrong_one_spends_nothing() {
        let services = with_first_grant(Arc::default());
        let operators = &services.operators;
        let token = operators.issue_setup_token().await.unwrap().unwrap();
        assert_eq!(token.len(), 64);
        assert!(operators.setup_token_matches(&token).await.unwrap());
        assert!(!operators.setup_token_matches("0").await.unwrap());
        assert_eq!(
            operators.complete_setup("wrong", "user_1").await,
            Err(Error::CodeIncorrect)
        );
        operators.complete_setup(&token, "user_1").await.unwrap();
        assert_eq!(
            operators.complete_setup(&token, "user_2").await,
            Err(Error::CodeIncorrect),
            "single use"
        );
        assert!(!operators.setup_token_matches(&token).await.unwrap());
        assert_eq!(
            operators.issue_setup_token().await.unwrap(),
            None,
            "no token once an operator exists"
        );
    }

    #[tokio::test]
    async fn a_token_is_refused_once_another_replica_made_the_first_operator() {
        let granted = Arc::new(AtomicU64::new(0));
        let services = with_first_grant(granted.clone());
        let token = services
            .operators
            .issue_setup_token()
            .await
            .unwrap()
            .unwrap();
        granted.store(1, Ordering::SeqCst);
        assert!(
            !services
                .operators
                .setup_token_matches(&token)
                .await
                .unwrap()
        );
        assert_eq!(
            services.operators.complete_setup(&token, "user_1").await,
            Err(Error::CodeIncorrect)
        );
    }

    #[tokio::test]
    async fn a_grant_names_the_operator_who_made_it() {
        let mut mocks = Mocks::new();
        mocks.users.expect_get().returning(|id| {
            Ok(Some(User::blank(
                id.clone(),
                crate::service::test_support::NOW,
            )))
        });
        mocks
            .operators
            .expect_grant()
            .withf(|op| {
                op.user_id.0 == "user_new" && op.granted_by == Some(UserId("user_op".into()))
            })
            .times(1)
            .returning(|_| Ok(true));
        let services = mocks.services();
        let context = RequestContext::of_request(Actor::Frontend, None, None)
            .by_operator(UserId("user_op".into()));
        let granted = crate::service::in_request(context, services.operators.grant("user_new"))
            .await
            .unwrap();
        assert!(granted);
    }

    #[tokio::test]
    async fn the_last_operator_cannot_be_revoked() {
        let mut mocks = Mocks::new();
        mocks
            .operators
            .expect_revoke()
            .returning(|_| Ok(Revoked::LastOperator));
        let services = mocks.services();
        assert_eq!(
            services.operators.revoke("user_op").await,
            Err(Error::invalid("user_id", Problem::LastOperator))
        );
    }

    #[test]
    fn form_tokens_are_bound_to_their_session() {
        let services = Mocks::new().services();
        let operators = &services.operators;
        let token = operators.form_token("sess_1");
        assert!(operators.form_token_matches("sess_1", &token));
        assert!(!operators.form_token_matches("sess_2", &token));
        assert!(!operators.form_token_matches("sess_1", ""));
        assert_ne!(token, operators.form_token("sess_2"));
    }
}

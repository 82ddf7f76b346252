//! Reverification (`/v1/client/sessions/{id}/verify`): a signed-in user
//! proves their factors again, so that a sensitive change of their account
//! (a new password, removing an address or a second factor) goes through.
//!
//! Little is kept between the steps: a factor that passes sets the
//! session's time for it to now, and what is still needed follows from those
//! times and the reverification window (a second factor for a user who has
//! one, else the first). A code sent for the first factor waits in the flow
//! store under an id derived from the session's, with the sign-in code rules.

use super::Outcome;
use super::me::Account;
use super::second_factors::{backup_code_passes, totp_passes};
use crate::error::{Error, Problem};
use crate::model::{
    FactorSlot, Session, SessionId, SignIn, SignInId, Strategy, User, Verification,
    VerificationStatus, truncate,
};

/// The level a reverification was started at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReverificationAsked {
    FirstFactor,
    SecondFactor,
    MultiFactor,
}

impl ReverificationAsked {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "first_factor" => Some(Self::FirstFactor),
            "second_factor" => Some(Self::SecondFactor),
            "multi_factor" => Some(Self::MultiFactor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstFactor => "first_factor",
            Self::SecondFactor => "second_factor",
            Self::MultiFactor => "multi_factor",
        }
    }
}

/// What a reverification still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReverificationStatus {
    NeedsFirstFactor,
    NeedsSecondFactor,
    Complete,
}

/// A reverification as the API shows it.
#[derive(Debug, Clone)]
pub struct ReverificationView {
    pub level: ReverificationAsked,
    pub status: ReverificationStatus,
    pub user: User,
    pub session: super::SessionView,
    pub first_factor: Option<Verification>,
    pub second_factor: Option<Verification>,
}

impl Account {
    /// `POST /v1/client/sessions/{id}/verify`: starts at `level`; a second
    /// factor is asked only of a user who has one.
    pub async fn start_reverification(
        &self,
        token: Option<&str>,
        session_id: &str,
        level: Option<String>,
    ) -> Result<Outcome<ReverificationView>, Error> {
        let raw = level
            .filter(|l| !l.is_empty())
            .ok_or_else(|| Error::param_nil("level"))?;
        let asked = ReverificationAsked::parse(&raw)
            .ok_or_else(|| Error::invalid("level", Problem::NotReverificationLevel))?;
        let (client, user, session) = self.me_with_session(token, Some(session_id)).await?;
        let asked = if self.has_second_factor(&user) {
            asked
        } else {
            ReverificationAsked::FirstFactor
        };
        let status = match asked {
            ReverificationAsked::SecondFactor => ReverificationStatus::NeedsSecondFactor,
            _ => ReverificationStatus::NeedsFirstFactor,
        };
        let view = self.view(asked, status, user, session, None, None);
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST .../verify/prepare_first_factor`: a code to one of the user's
    /// verified addresses (`email_code`, `phone_code`), under the sign-in
    /// code rules. The code waits in the flow store, under an id derived
    /// from the session's, until it is attempted or abandoned.
    pub async fn prepare_reverification(
        &self,
        token: Option<&str>,
        session_id: &str,
        strategy: Option<String>,
        target_id: Option<String>,
    ) -> Result<Outcome<ReverificationView>, Error> {
        let strategy = self.strategy_param(strategy)?;
        let (client, user, session) = self.me_with_session(token, Some(session_id)).await?;
        if !matches!(strategy, Strategy::EmailCode | Strategy::PhoneCode)
            || !self.settings.current().strategies.allows(&strategy)
        {
            return Err(Error::StrategyNotForUser(strategy));
        }
        let now = self.clock.now();
        let id = carrier_id(&session.id);
        let stored = self
            .sign_ins
            .get(&id)
            .await?
            .filter(|c| c.abandon_at > now && c.user_id() == Some(&user.id));
        let existed = stored.is_some();
        let mut carrier = match stored {
            Some(carrier) => carrier,
            None => {
                let mut carrier = SignIn::new(id, client.id.clone(), now, &self.settings.current());
                carrier.identify(user.id.as_str().to_owned(), &user, now)?;
                carrier
            }
        };
        // Only verified addresses receive a code.
        let offered = proved_only(&user);
        self.codes
            .send_code(
                FactorSlot::First,
                &mut carrier,
                &offered,
                strategy,
                target_id.as_deref(),
                now,
            )
            .await?;
        if existed {
            self.clients.replace_sign_in(&mut carrier).await?;
        } else {
            self.sign_ins.insert(&carrier).await?;
        }
        let first = carrier.first_factor_verification().cloned();
        let view = self.view(
            ReverificationAsked::FirstFactor,
            ReverificationStatus::NeedsFirstFactor,
            user,
            session,
            first,
            None,
        );
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST .../verify/attempt_first_factor`: the password, or the code
    /// prepared for the session, checked under the lockout rule as any
    /// other.
    pub async fn reverify_first_factor(
        &self,
        token: Option<&str>,
        session_id: &str,
        strategy: Option<String>,
        password: Option<String>,
        code: Option<String>,
    ) -> Result<Outcome<ReverificationView>, Error> {
        let strategy = self.strategy_param(strategy)?;
        let (client, user, session) = self.me_with_session(token, Some(session_id)).await?;
        let passed_with = strategy.clone();
        match strategy {
            Strategy::Password => {
                let digest = user
                    .password_digest
                    .clone()
                    .filter(|_| self.settings.current().strategies.password)
                    .ok_or(Error::StrategyNotForUser(Strategy::Password))?;
                self.check_password(&user, digest, password, "password")
                    .await?;
            }
            Strategy::EmailCode | Strategy::PhoneCode => {
                let id = carrier_id(&session.id);
                let now = self.clock.now();
                let mut carrier = self
                    .sign_ins
                    .get(&id)
                    .await?
                    .filter(|c| c.abandon_at > now && c.user_id() == Some(&user.id))
                    .ok_or_else(|| {
                        Error::invalid("code", Problem::NotPrepared(strategy.clone()))
                    })?;
                let check = self.codes.check_code(
                    FactorSlot::First,
                    &mut carrier,
                    &strategy,
                    code,
                    super::codes::StorePass::Here,
                );
                let what =
                    super::audit::Check::new(super::audit::Stage::Verification, strategy.clone());
                self.lockout.guarded(&user, what, check).await?;
                // Spent: the code proves nothing twice.
                self.sign_ins.delete(&id).await?;
            }
            other => return Err(Error::StrategyNotForUser(other)),
        }
        let now = self.clock.now();
        self.client_repo
            .reverify_session(&session.id, true, false, now)
            .await?;
        let session = self.reread(&session.id, session.clone()).await?;
        let status = if self.require_recent_verification(&user, &session).is_ok() {
            ReverificationStatus::Complete
        } else {
            ReverificationStatus::NeedsSecondFactor
        };
        let level = if self.has_second_factor(&user) {
            ReverificationAsked::SecondFactor
        } else {
            ReverificationAsked::FirstFactor
        };
        let passed = Some(passed(passed_with));
        let view = self.view(level, status, user, session, passed, None);
        self.clients.outcome(view, &client.id, None).await
    }

    /// `POST .../verify/attempt_second_factor`: a TOTP or backup code.
    pub async fn reverify_second_factor(
        &self,
        token: Option<&str>,
        session_id: &str,
        strategy: Option<String>,
        code: Option<String>,
    ) -> Result<Outcome<ReverificationView>, Error> {
        let strategy = self.strategy_param(strategy)?;
        let (client, user, session) = self.me_with_session(token, Some(session_id)).await?;
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        let now = self.clock.now();
        let check = async {
            match strategy.clone() {
                Strategy::Totp if self.settings.current().strategies.totp => {
                    totp_passes(&*self.users, &self.secrets, &user, &code, now).await
                }
                Strategy::BackupCode if self.settings.current().strategies.backup_code => {
                    backup_code_passes(&*self.users, &self.secrets, &user, &code, now).await
                }
                other => Err(Error::StrategyNotForUser(other)),
            }
        };
        let what = super::audit::Check::new(super::audit::Stage::Verification, strategy.clone());
        self.lockout.guarded(&user, what, check).await?;
        self.client_repo
            .reverify_session(&session.id, false, true, now)
            .await?;
        let session = self.reread(&session.id, session.clone()).await?;
        // A second factor meets the requirement on its own.
        let status = ReverificationStatus::Complete;
        let passed = Some(passed(strategy));
        let view = self.view(
            ReverificationAsked::SecondFactor,
            status,
            user,
            session,
            None,
            passed,
        );
        self.clients.outcome(view, &client.id, None).await
    }

    fn strategy_param(&self, strategy: Option<String>) -> Result<Strategy, Error> {
        let raw = strategy
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::param_nil("strategy"))?;
        Strategy::parse(&raw)
            .ok_or_else(|| Error::invalid("strategy", Problem::NotFirstFactor(truncate(&raw))))
    }

    /// Whether the user has a second factor this instance takes.
    pub(super) fn has_second_factor(&self, user: &User) -> bool {
        let on = &self.settings.current().strategies;
        (on.totp && user.totp_enabled()) || (on.backup_code && user.backup_code_enabled())
    }

    async fn reread(&self, id: &SessionId, fallback: Session) -> Result<Session, Error> {
        Ok(self.client_repo.get_session(id).await?.unwrap_or(fallback))
    }

    fn view(
        &self,
        level: ReverificationAsked,
        status: ReverificationStatus,
        user: User,
        session: Session,
        first_factor: Option<Verification>,
        second_factor: Option<Verification>,
    ) -> ReverificationView {
        let now = self.clock.now();
        ReverificationView {
            level,
            status,
            session: super::SessionView::at(session, user.clone(), now),
            user,
            first_factor,
            second_factor,
        }
    }
}

/// Where the code of `session`'s reverification waits in the flow store.
fn carrier_id(session: &SessionId) -> SignInId {
    SignInId(format!("rvf_{}", session.as_str()))
}

/// `user` with only its verified addresses, and no phone kept for the
/// second factor: where a first-factor code may go.
fn proved_only(user: &User) -> User {
    let mut offered = user.clone();
    offered.email_addresses.retain(|e| e.verified);
    offered
        .phone_numbers
        .retain(|p| p.verified && !p.reserved_for_second_factor);
    offered
}

/// A factor that just passed.
fn passed(strategy: Strategy) -> Verification {
    Verification {
        strategy,
        status: VerificationStatus::Verified,
        attempts: 1,
        expire_at: None,
        code: None,
        external_url: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::model::{Client, SessionStatus};
    use crate::service::test_support::{Mocks, TOKEN, client, session, user};

    fn signed_in(right_password: bool) -> Mocks {
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
        m.clients
            .expect_get_session()
            .returning(|_| Ok(Some(session(SessionStatus::Active))));
        m.users.expect_get().returning(|_| Ok(Some(user())));
        m.passwords_match(right_password);
        m
    }

    #[tokio::test]
    async fn a_right_password_reverifies_the_first_factor_and_a_wrong_one_nothing() {
        let mut m = signed_in(true);
        m.clients
            .expect_reverify_session()
            .withf(|id, first, second, _| id.as_str() == "sess_1" && *first && !*second)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let out = m
            .services()
            .account
            .reverify_first_factor(
                Some(TOKEN),
                "sess_1",
                Some("password".into()),
                Some("pw".into()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(out.response.status, ReverificationStatus::Complete);

        let mut m = signed_in(false);
        m.clients.expect_reverify_session().never();
        let err = m
            .services()
            .account
            .reverify_first_factor(
                Some(TOKEN),
                "sess_1",
                Some("password".into()),
                Some("pw".into()),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err, Error::PasswordIncorrect);
    }

    #[tokio::test]
    async fn another_sessions_id_or_an_unknown_level_starts_nothing() {
        let m = signed_in(true);
        let account = m.services().account;
        let err = account
            .start_reverification(Some(TOKEN), "sess_other", Some("first_factor".into()))
            .await
            .unwrap_err();
        assert_eq!(err, Error::NotSignedIn);
        let err = account
            .start_reverification(Some(TOKEN), "sess_1", Some("sideways".into()))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::invalid("level", Problem::NotReverificationLevel)
        );
    }
}

//! The second factor of a sign-in: a phone or email code, a TOTP code, or a
//! backup code. No session exists until it passes.

use super::codes::code_incorrect;
use super::sign_ins::{not_yet_supported, truncate};
use super::steps::PassedStep;
use super::{Outcome, SignInView, SignIns};
use crate::error::{Error, Problem};
use crate::model::{
    FactorSlot, SessionOrigin, SignIn, Strategy, Timestamp, TotpSecret, User,
    normalize_backup_code, offered_user, supported_second_factors,
};
use crate::ports::ClientWithSessions;

/// `POST /v1/client/sign_ins/{id}/prepare_second_factor`.
#[derive(Debug, Default, Clone)]
pub struct PrepareSecondFactor {
    pub strategy: Option<String>,
    pub phone_number_id: Option<String>,
    pub email_address_id: Option<String>,
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`.
#[derive(Debug, Default, Clone)]
pub struct AttemptSecondFactor {
    pub strategy: Option<String>,
    pub code: Option<String>,
    /// As in [`super::CreateSignIn::keep_token`].
    pub keep_token: bool,
    /// As in [`super::CreateSignIn::origin`].
    pub origin: SessionOrigin,
}

impl SignIns {
    /// Sends a code for `phone_code` (to a number reserved for the second
    /// factor) or `email_code`; TOTP and backup codes need no preparation.
    pub async fn prepare_second_factor(
        &self,
        token: Option<&str>,
        id: &str,
        params: PrepareSecondFactor,
    ) -> Result<Outcome<SignInView>, Error> {
        let (found, mut sign_in, strategy, user, now) = self
            .second_factor_step(token, id, params.strategy.as_deref())
            .await?;
        let target = match strategy {
            Strategy::PhoneCode => params.phone_number_id,
            Strategy::EmailCode => params.email_address_id,
            other => {
                return Err(Error::invalid(
                    "strategy",
                    Problem::NeedsNoPreparation(other.clone()),
                ));
            }
        };
        let offered = offered_user(&sign_in, &user, &self.settings.current());
        self.codes
            .send_code(
                FactorSlot::Second,
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

    /// Checks the second factor and, when it passes, completes the sign-in
    /// with a new session. A wrong code counts against the sign-in and the
    /// user's lockout.
    pub async fn attempt_second_factor(
        &self,
        token: Option<&str>,
        id: &str,
        params: AttemptSecondFactor,
    ) -> Result<Outcome<SignInView>, Error> {
        let (found, mut sign_in, strategy, user, now) = self
            .second_factor_step(token, id, params.strategy.as_deref())
            .await?;
        super::clients::refuse_if_among(&found.sessions, &user, now)?;
        let ClientWithSessions { client, sessions } = found;
        let code = params
            .code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::param_nil("code"))?;
        if matches!(strategy, Strategy::Totp | Strategy::BackupCode) {
            // Each attempt is counted on the sign-in before it is evaluated,
            // with a compare-and-set, so parallel guesses cannot exceed the
            // limit; past it the sign-in must start again.
            if !sign_in.reserve_attempt(
                FactorSlot::Second,
                &strategy,
                self.settings.current().max_code_attempts,
                now,
            )? {
                return Err(Error::SecondFactorAttemptsExhausted);
            }
            self.clients.replace_sign_in(&mut sign_in).await?;
        }
        let check = async {
            match &strategy {
                Strategy::PhoneCode | Strategy::EmailCode => {
                    self.refuse_if_target_withdrawn(
                        FactorSlot::Second,
                        &sign_in,
                        &user,
                        &strategy,
                    )?;
                    // Stored by `finish_step` below when it passes.
                    self.codes
                        .check_code(
                            FactorSlot::Second,
                            &mut sign_in,
                            &strategy,
                            Some(code),
                            super::codes::StorePass::ByCaller,
                        )
                        .await
                }
                Strategy::Totp => self.check_totp(&user, &code, now).await,
                Strategy::BackupCode => self.check_backup_code(&user, &code, now).await,
                other => Err(not_yet_supported(other)),
            }
        };
        let what = super::audit::Check::new(super::audit::Stage::SecondFactor, strategy.clone());
        let ((), passed) = self.lockout.guarded_passing(&user, what, check).await?;
        // A ban or lock that lands while this attempt is evaluated still
        // holds: the session's start reads the user's standing in its own
        // write and ends a session it refuses, as for a first factor. The
        // attempt is settled in that write where it can be, after it if not.
        let passed_ref = passed.as_ref();
        let result = async {
            let before = sign_in.clone();
            sign_in.second_factor_passed(strategy, now)?;
            let session = self
                .steps
                .new_session(&sign_in, &user, &params.origin, now)?;
            sign_in.complete(session.id.clone(), now)?;
            let step = PassedStep {
                client: &client,
                sessions: Some(&sessions),
                before,
                session: Some(session),
                user: &user,
                password: None,
                keep_token: params.keep_token,
                passed: passed_ref,
            };
            self.steps.finish_step(sign_in, step, now).await
        }
        .await;
        self.lockout.settle(passed).await;
        result
    }

    async fn check_totp(&self, user: &User, code: &str, now: Timestamp) -> Result<(), Error> {
        totp_passes(&*self.users, &self.secrets, user, code, now).await
    }

    async fn check_backup_code(
        &self,
        user: &User,
        code: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        backup_code_passes(&*self.users, &self.secrets, user, code, now).await
    }

    /// What every second-factor step starts with: the client's sign-in,
    /// waiting for its second factor; the strategy, one this user has on this
    /// instance; and the user, not locked.
    async fn second_factor_step(
        &self,
        token: Option<&str>,
        id: &str,
        strategy: Option<&str>,
    ) -> Result<(ClientWithSessions, SignIn, Strategy, User, Timestamp), Error> {
        let (client, sign_in, user) = self.clients.sign_in_step(token, id).await?;
        let raw = strategy
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::param_nil("strategy"))?;
        let strategy = Strategy::parse(raw)
            .filter(Strategy::is_second_factor)
            .ok_or_else(|| Error::invalid("strategy", Problem::NotSecondFactor(truncate(raw))))?;
        let now = self.clock.now();
        sign_in.ready_for_second_factor(now)?;
        let user = user
            .filter(|_| !sign_in.is_phantom())
            .ok_or(Error::IdentifierNotFound)?;
        self.lockout.refuse_if_locked(&user)?;
        let first = sign_in.first_factor_verification().map(|v| &v.strategy);
        // Only verified addresses are second factors.
        let offered = offered_user(&sign_in, &user, &self.settings.current());
        if !supported_second_factors(&offered, &self.settings.current(), first)
            .iter()
            .any(|f| f.strategy == strategy)
        {
            return Err(strategy_for_user_invalid(&strategy));
        }
        Ok((client, sign_in, strategy, user, now))
    }
}

/// A TOTP code of the current step or one either side, not used before.
pub(super) async fn totp_passes(
    users: &dyn crate::ports::UserRepository,
    secrets: &crate::secrets::SecretBox,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let sealed = user
        .totp_secret
        .as_deref()
        .ok_or_else(|| strategy_for_user_invalid(&Strategy::Totp))?;
    let secret = TotpSecret::from_bytes(secrets.open(sealed, user.id.as_str())?);
    let step = secret.matching_step(code, now).ok_or_else(code_incorrect)?;
    // Recording the step is the compare-and-set: of two uses of one code,
    // only the first is accepted.
    if !users.use_totp_step(&user.id, step).await? {
        tracing::info!(user = %user.id, "a TOTP code was used again");
        return Err(code_incorrect());
    }
    Ok(())
}

/// A backup code the user still has; using it removes it.
pub(super) async fn backup_code_passes(
    users: &dyn crate::ports::UserRepository,
    secrets: &crate::secrets::SecretBox,
    user: &User,
    code: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let code = normalize_backup_code(code).ok_or_else(code_incorrect)?;
    let digest = secrets.digest(user.id.as_str(), &code);
    if !users.consume_backup_code(&user.id, &digest, now).await? {
        return Err(code_incorrect());
    }
    tracing::info!(user = %user.id, left = user.backup_codes.len().saturating_sub(1), "backup code used");
    Ok(())
}

/// The strategy is off, or not the user's.
fn strategy_for_user_invalid(strategy: &Strategy) -> Error {
    Error::StrategyNotForUser(strategy.clone())
}

#[cfg(test)]
mod tests;

//! The audit log: security events recorded as they happen, with the request
//! behind them ([`super::current_request`]), and read by operators.
//!
//! Recording never fails or slows the use case it describes: an entry is
//! queued in memory and written by the audit writer beside the server
//! (`latch_api::jobs`), many to a transaction, moments later; reading the log
//! writes what is queued first. Entries hold plain facts only (strategies,
//! reasons, ids, paths), never a password, code, token or key.

use std::sync::Arc;

use crate::error::{Error, Problem};
use crate::model::{
    AuditAction, AuditEntry, AuditQuery, Duration, IdPrefix, Strategy, Timestamp, User,
    new_ordered_id,
};
use crate::ports::{AuditLog, Clock, Random};

/// Where a checked factor stands in the flow it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// A sign-in's first factor.
    SignIn,
    /// A sign-in's second factor.
    SecondFactor,
    /// A signed-in user proving a factor again.
    Verification,
}

/// What a guarded check is: its stage, its strategy (when known before it
/// runs), and whether its user is a stand-in of enumeration protection.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub stage: Stage,
    pub strategy: Option<Strategy>,
    pub stand_in: bool,
}

impl Check {
    pub fn new(stage: Stage, strategy: Strategy) -> Self {
        Self {
            stage,
            strategy: Some(strategy),
            stand_in: false,
        }
    }

    /// A check whose strategy is decided while it runs.
    pub fn any(stage: Stage) -> Self {
        Self {
            stage,
            strategy: None,
            stand_in: false,
        }
    }

    pub fn of_stand_in(self, stand_in: bool) -> Self {
        Self { stand_in, ..self }
    }
}

/// Entries queued at most; past this, the request that adds one writes the
/// queue itself (a store too slow for the writer slows requests rather than
/// growing memory).
const MAX_QUEUED: usize = 10_000;

/// Records security events and reads them back.
#[derive(Clone)]
pub struct Audit {
    pub(super) log: Arc<dyn AuditLog>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    /// How long entries are kept.
    pub(super) keep: Duration,
    /// Entries recorded and not written yet, oldest first.
    pub(super) queued: Arc<std::sync::Mutex<Vec<AuditEntry>>>,
    /// Rung on every entry queued: the writer writes at once.
    pub(super) wake: Arc<tokio::sync::Notify>,
}

impl Audit {
    /// Appends an entry about `user_id` for the current request.
    pub(crate) async fn record(
        &self,
        action: AuditAction,
        user_id: Option<&str>,
        detail: &[(&str, &str)],
    ) {
        let request = super::current_request();
        let mut detail: std::collections::BTreeMap<String, String> = detail
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // A dashboard request names the operator who made it.
        if let Some(operator) = &request.operator {
            detail.insert("operator".to_owned(), operator.0.clone());
        }
        let at = self.clock.now();
        let entry = AuditEntry {
            id: new_ordered_id(IdPrefix::AuditEntry, at, &*self.random),
            at,
            action,
            actor: request.actor,
            user_id: user_id.map(str::to_owned),
            client_ip: request.client_ip,
            user_agent: request.user_agent,
            detail,
        };
        let full = {
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            queued.push(entry);
            queued.len() >= MAX_QUEUED
        };
        if full {
            self.write_queued().await;
        } else {
            self.wake.notify_one();
        }
    }

    /// Writes every queued entry, in one transaction. Entries the store
    /// refuses are queued again for the next write (up to `MAX_QUEUED` in all;
    /// beyond, the oldest are dropped and logged).
    pub async fn write_queued(&self) {
        let batch = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return;
        }
        if let Err(err) = self.log.append(&batch).await {
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            let mut kept = batch;
            kept.append(&mut queued);
            let dropped = kept.len().saturating_sub(MAX_QUEUED);
            kept.drain(..dropped);
            *queued = kept;
            tracing::warn!(error = %err, queued = queued.len(), dropped, "audit entries not written yet");
        }
    }

    /// Waits until an entry is queued in this process (at once if one was
    /// since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The outcome of a guarded factor check: a failure (with its reason),
    /// or a second factor or verification that passed. A first factor that
    /// passes is recorded when its session starts.
    pub(crate) async fn checked(&self, user: &User, check: &Check, outcome: Result<(), &Error>) {
        let strategy = check
            .strategy
            .as_ref()
            .map_or_else(|| "code".to_owned(), Strategy::name);
        let strategy = strategy.as_str();
        let user_id = (!check.stand_in).then_some(user.id.as_str());
        let account = if check.stand_in { "none" } else { "exists" };
        match (check.stage, outcome) {
            (Stage::SignIn, Ok(())) => {}
            (Stage::SecondFactor, Ok(())) => {
                self.record(
                    AuditAction::SecondFactorPassed,
                    user_id,
                    &[("strategy", strategy)],
                )
                .await
            }
            (Stage::Verification, Ok(())) => {
                self.record(
                    AuditAction::VerificationPassed,
                    user_id,
                    &[("strategy", strategy)],
                )
                .await
            }
            (stage, Err(err)) => {
                let action = match stage {
                    Stage::SignIn => AuditAction::SignInFailed,
                    Stage::SecondFactor => AuditAction::SecondFactorFailed,
                    Stage::Verification => AuditAction::VerificationFailed,
                };
                let detail = [
                    ("strategy", strategy),
                    ("reason", reason(err)),
                    ("account", account),
                ];
                self.record(action, user_id, &detail).await
            }
        }
    }

    /// `backend.write`: a Backend API request that may change something,
    /// with its method, path (no query) and status.
    pub async fn backend_write(&self, method: &str, path: &str, status: u16) {
        let status = status.to_string();
        let user = path
            .split('/')
            .find(|segment| IdPrefix::User.names(segment));
        self.record(
            AuditAction::BackendWrite,
            user,
            &[("method", method), ("path", path), ("status", &status)],
        )
        .await
    }

    /// `dashboard.write`: a dashboard request that may change something,
    /// with its method, path and status (the operator is the request's).
    pub async fn dashboard_write(&self, method: &str, path: &str, status: u16) {
        let status = status.to_string();
        let user = path
            .split('/')
            .find(|segment| IdPrefix::User.names(segment));
        self.record(
            AuditAction::DashboardWrite,
            user,
            &[("method", method), ("path", path), ("status", &status)],
        )
        .await
    }

    /// Entries matching `query`, newest first, with the cursor of each;
    /// `limit` 1..=500 (default 50).
    pub async fn query(&self, mut query: AuditQuery) -> Result<Vec<(i64, AuditEntry)>, Error> {
        if let (Some(since), Some(until)) = (query.since, query.until)
            && until <= since
        {
            return Err(Error::invalid("until", Problem::EmptyTimeRange));
        }
        query.limit = match query.limit {
            0 => 50,
            n => n.min(500),
        };
        // What this process recorded is in what it reads.
        self.write_queued().await;
        Ok(self.log.query(&query).await?)
    }

    /// Removes entries older than the retention.
    pub async fn purge(&self) -> Result<u64, Error> {
        let before = Timestamp(self.clock.now().0.saturating_sub(self.keep.0));
        Ok(self.log.purge(before).await?)
    }
}

/// A failure's reason, as entries name it.
fn reason(err: &Error) -> &'static str {
    match err {
        Error::PasswordIncorrect => "password_incorrect",
        Error::CodeIncorrect => "code_incorrect",
        Error::CodeExpired => "code_expired",
        Error::CodeAttemptsExhausted | Error::SecondFactorAttemptsExhausted => "attempts_exhausted",
        Error::UserLocked { .. } => "user_locked",
        Error::UserBanned => "user_banned",
        Error::AccountBusy => "account_busy",
        Error::StrategyNotForUser(_) | Error::StrategyNotEnabled(_) => "strategy_not_allowed",
        Error::InvalidParam { .. } | Error::MissingParam(_) => "invalid_input",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::error::StoreError;
    use crate::ports::{FreshRandom, MockAuditLog, MockClock};
    use crate::service::test_support::NOW;

    fn audit(log: MockAuditLog) -> Audit {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Audit {
            log: Arc::new(log),
            clock: Arc::new(clock),
            random: Arc::new(FreshRandom),
            keep: Duration::days(90),
            queued: Arc::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    #[tokio::test]
    async fn entries_are_queued_then_written_together_and_kept_when_the_store_fails() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let keep = written.clone();
        let mut log = MockAuditLog::new();
        let mut calls = 0;
        log.expect_append().times(2).returning(move |entries| {
            calls += 1;
            if calls == 1 {
                return Err(StoreError::Unavailable("down".into()));
            }
            keep.lock()
                .unwrap()
                .extend(entries.iter().map(|e| e.action));
            Ok(())
        });
        let a = audit(log);
        a.record(
            AuditAction::SignInFailed,
            Some("user_1"),
            &[("reason", "password_incorrect")],
        )
        .await;
        a.record(AuditAction::UserLocked, Some("user_1"), &[]).await;
        assert!(
            written.lock().unwrap().is_empty(),
            "recording writes nothing"
        );
        a.write_queued().await; // refused: kept
        a.write_queued().await; // written, in order, in one append
        assert_eq!(
            *written.lock().unwrap(),
            [AuditAction::SignInFailed, AuditAction::UserLocked]
        );
        a.write_queued().await; // nothing left: no append
    }
}

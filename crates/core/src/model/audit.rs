//! The audit log: an append-only record of security events, for operators.
//! An entry says what happened, to whom, when, from where and by whom; it
//! never holds a secret (no password, code, token or key).

use std::collections::BTreeMap;

use super::request::Actor;
use super::time::Timestamp;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    SignInSucceeded,
    SignInFailed,
    SecondFactorPassed,
    SecondFactorFailed,
    /// A signed-in user proved a factor again (reverification, or the
    /// current password before changing it).
    VerificationPassed,
    VerificationFailed,
    UserLocked,
    UserUnlocked,
    UserBanned,
    UserUnbanned,
    PasswordChanged,
    PasswordReset,
    SecondFactorAdded,
    SecondFactorRemoved,
    SessionRevoked,
    RateLimitHit,
    /// A write through the Backend API (its method, path and status).
    BackendWrite,
    /// The runtime settings changed (the new version, the paths changed).
    SettingsChanged,
    /// An entry was added to or removed from the allowlist or blocklist.
    RestrictionListChanged,
    /// A user was made an operator.
    OperatorGranted,
    /// A user's operator role was taken away.
    OperatorRevoked,
    /// A write through the dashboard (its method, path and status).
    DashboardWrite,
    /// The Backend API's secret key was replaced (the old one's overlap).
    SecretKeyRotated,
}

impl AuditAction {
    pub const ALL: [Self; 23] = [
        Self::SignInSucceeded,
        Self::SignInFailed,
        Self::SecondFactorPassed,
        Self::SecondFactorFailed,
        Self::VerificationPassed,
        Self::VerificationFailed,
        Self::UserLocked,
        Self::UserUnlocked,
        Self::UserBanned,
        Self::UserUnbanned,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::SecondFactorAdded,
        Self::SecondFactorRemoved,
        Self::SessionRevoked,
        Self::RateLimitHit,
        Self::BackendWrite,
        Self::SettingsChanged,
        Self::RestrictionListChanged,
        Self::OperatorGranted,
        Self::OperatorRevoked,
        Self::DashboardWrite,
        Self::SecretKeyRotated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInSucceeded => "sign_in.succeeded",
            Self::SignInFailed => "sign_in.failed",
            Self::SecondFactorPassed => "second_factor.passed",
            Self::SecondFactorFailed => "second_factor.failed",
            Self::VerificationPassed => "verification.passed",
            Self::VerificationFailed => "verification.failed",
            Self::UserLocked => "user.locked",
            Self::UserUnlocked => "user.unlocked",
            Self::UserBanned => "user.banned",
            Self::UserUnbanned => "user.unbanned",
            Self::PasswordChanged => "password.changed",
            Self::PasswordReset => "password.reset",
            Self::SecondFactorAdded => "second_factor.added",
            Self::SecondFactorRemoved => "second_factor.removed",
            Self::SessionRevoked => "session.revoked",
            Self::RateLimitHit => "rate_limit.hit",
            Self::BackendWrite => "backend.write",
            Self::SettingsChanged => "settings.changed",
            Self::RestrictionListChanged => "restriction_list.changed",
            Self::OperatorGranted => "operator.granted",
            Self::OperatorRevoked => "operator.revoked",
            Self::DashboardWrite => "dashboard.write",
            Self::SecretKeyRotated => "secret_key.rotated",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One entry, as written and read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    pub action: AuditAction,
    pub actor: Actor,
    /// The user it is about, when it is about one.
    pub user_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Plain facts (`strategy`, `reason`, `session_id`, `path`, …); never a
    /// secret.
    pub detail: BTreeMap<String, String>,
}

/// Filters for reading the log; newest first, after `before` (a cursor: the
/// `seq` of the last entry of the previous page).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub actions: Vec<AuditAction>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub before: Option<i64>,
    pub limit: u32,
}

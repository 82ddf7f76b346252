//! Delivery of one-time codes by email or SMS.

use async_trait::async_trait;
#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

/// Where a code goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeDestination {
    Email(String),
    Sms(String),
}

/// Why a code is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    SignIn,
    ResetPassword,
    /// Proving an address given at sign-up.
    SignUp,
    /// No code: someone tried to sign up with an address that already
    /// belongs to an account (sent under enumeration protection in place of
    /// a code; the message's `code` is empty).
    SignUpAttemptNotice,
}

impl CodePurpose {
    /// The purpose's name in `snake_case`, as receivers and stored messages
    /// spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::ResetPassword => "reset_password",
            Self::SignUp => "sign_up",
            Self::SignUpAttemptNotice => "sign_up_attempt_notice",
        }
    }

    /// The purpose named by [`CodePurpose::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::SignIn,
            Self::ResetPassword,
            Self::SignUp,
            Self::SignUpAttemptNotice,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// One code to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMessage {
    pub destination: CodeDestination,
    pub code: String,
    pub purpose: CodePurpose,
    pub expires_in_minutes: i64,
}

/// A delivery that failed; the text is for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code delivery failed: {0}")]
pub struct SendError(pub String);

/// Sends one-time codes. Returning `Ok` MUST mean the message was handed to
/// the delivery channel; on `Err` the caller keeps no code as valid.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait CodeSender: Send + Sync {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError>;
}

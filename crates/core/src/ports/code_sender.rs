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

//! Codes written to the log instead of delivered.

use async_trait::async_trait;
use latch_core::ports::{CodeDestination, CodeMessage, CodeSender, SendError};

/// The embedded default: writes each message to the log, for development.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleCodeSender;

#[async_trait]
impl CodeSender for ConsoleCodeSender {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError> {
        let to = match &message.destination {
            CodeDestination::Email(address) => address.as_str(),
            CodeDestination::Sms(number) => number.as_str(),
        };
        tracing::info!(
            target: "latch::codes",
            to,
            code = %message.code,
            purpose = ?message.purpose,
            expires_in_minutes = message.expires_in_minutes,
            "one-time code (console sender)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latch_core::ports::CodePurpose;

    #[tokio::test]
    async fn accepts_every_destination() {
        for destination in [
            CodeDestination::Email("ada@example.com".into()),
            CodeDestination::Sms("+15555550100".into()),
        ] {
            let message = CodeMessage {
                destination,
                code: "424242".into(),
                purpose: CodePurpose::SignIn,
                expires_in_minutes: 10,
            };
            assert_eq!(ConsoleCodeSender.send(&message).await, Ok(()));
        }
    }
}

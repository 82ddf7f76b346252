//! A code sender for in-process tests: it keeps what it was asked to send,
//! so a test can read the code a user would have received.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use latch_core::ports::{CodeDestination, CodeMessage, CodeSender, SendError};

#[derive(Debug, Default)]
pub struct RecordingCodeSender {
    sent: Mutex<Vec<CodeMessage>>,
    failing: AtomicBool,
}

impl RecordingCodeSender {
    /// The last code sent to this email address or phone number.
    pub fn last_code_to(&self, to: &str) -> Option<String> {
        self.last_message_to(to).map(|m| m.code)
    }

    /// The last message sent to this email address or phone number.
    pub fn last_message_to(&self, to: &str) -> Option<CodeMessage> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .rev()
            .find(|m| match &m.destination {
                CodeDestination::Email(a) | CodeDestination::Sms(a) => a == to,
            })
            .cloned()
    }

    /// How many messages were sent.
    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// From now on, every delivery fails (or succeeds again).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl CodeSender for RecordingCodeSender {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SendError("the test receiver refuses deliveries".to_owned()));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

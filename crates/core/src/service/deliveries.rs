//! Deliveries off the request path: a request puts a one-time code on the
//! outbox (sealed) and answers; a worker claims due deliveries under a lease,
//! hands them to the code sender, and retries with backoff until the last
//! attempt, after which the delivery is dead. Payloads are wiped once
//! delivered or dead, and operators list what is pending or dead.

use std::sync::Arc;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use crate::error::{Error, StoreError};
use crate::model::{Duration, IdPrefix, Timestamp, new_ordered_id};
use crate::ports::{
    ClaimedDelivery, Clock, CodeDestination, CodeMessage, CodePurpose, CodeSender, DeliveryCounts,
    DeliveryRecord, DeliveryStatus, Lease, NewDelivery, Outbox, Random, WebhookStore,
};
use crate::secrets::SecretBox;

/// The kind of a one-time code's delivery.
pub const CODE_KIND: &str = "code";

/// How the queue retries; `Default` is the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// How long a claimed delivery is held by its worker: longer than any
    /// sender's timeout, so that no other worker sends it meanwhile.
    pub lease: Duration,
    /// Deliveries claimed and sent at once by one worker.
    pub batch: u32,
    /// How long delivered and dead deliveries stay listed.
    pub keep_finished: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            first_retry: Duration::seconds(5),
            max_retry: Duration::minutes(2),
            lease: Duration::seconds(60),
            batch: 16,
            keep_finished: Duration::days(7),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self.first_retry.0.saturating_mul(1i64 << doublings);
        Duration(wait.min(self.max_retry.0))
    }
}

/// What one round of deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: u32,
    /// Failed, to be tried again.
    pub retrying: u32,
    /// Failed for the last time (or expired before they could be sent).
    pub dead: u32,
}

impl DeliveryRound {
    fn add(&mut self, status: DeliveryStatus) {
        match status {
            DeliveryStatus::Delivered => self.delivered += 1,
            DeliveryStatus::Pending => self.retrying += 1,
            DeliveryStatus::Dead => self.dead += 1,
        }
    }
}

/// The outbox and the worker that empties it.
#[derive(Clone)]
pub struct Deliveries {
    pub(super) outbox: Arc<dyn Outbox>,
    pub(super) sender: Arc<dyn CodeSender>,
    /// Where a code's event goes when Latch does not send the code itself.
    pub(super) webhook_store: Arc<dyn WebhookStore>,
    pub(super) events: super::Events,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) policy: DeliveryPolicy,
    /// Rung on every enqueue, so this process's worker starts at once.
    pub(super) wake: Arc<tokio::sync::Notify>,
}

/// A code's message as it is sealed in the outbox.
#[derive(Serialize, Deserialize)]
struct CodePayload {
    email: Option<String>,
    sms: Option<String>,
    code: String,
    /// Messages queued before purposes had names say only this.
    #[serde(default)]
    reset_password: bool,
    /// [`CodePurpose::as_str`].
    #[serde(default)]
    purpose: Option<String>,
    expires_in_minutes: i64,
}

impl Deliveries {
    /// Puts `message` on the outbox, sealed, to be sent before `expire_at`.
    /// One insert: what a request waits for, whatever the receiver does.
    pub(crate) async fn enqueue_code(
        &self,
        message: &CodeMessage,
        expire_at: Timestamp,
    ) -> Result<(), Error> {
        let id = new_ordered_id(IdPrefix::Delivery, self.clock.now(), &*self.random);
        let deliver = self.events.settings.current().deliver_code_messages;
        let event = self.events.message(&id, message, deliver)?;
        if !deliver {
            // The application sends it, from the event.
            self.webhook_store
                .append_events(std::slice::from_ref(&event))
                .await?;
            self.events.stored();
            return Ok(());
        }
        let (email, sms) = match &message.destination {
            CodeDestination::Email(a) => (Some(a.clone()), None),
            CodeDestination::Sms(n) => (None, Some(n.clone())),
        };
        let payload = CodePayload {
            email,
            sms,
            code: message.code.clone(),
            reset_password: message.purpose == CodePurpose::ResetPassword,
            purpose: Some(message.purpose.as_str().to_owned()),
            expires_in_minutes: message.expires_in_minutes,
        };
        let plain = serde_json::to_vec(&payload).map_err(|_| Error::internal("code payload"))?;
        let now = self.clock.now();
        let delivery = NewDelivery {
            payload: self
                .secrets
                .seal(&plain, &seal_context(CODE_KIND, &id), &*self.random)?,
            id,
            kind: CODE_KIND.to_owned(),
            max_attempts: self.policy.max_attempts.max(1),
            due_at: now,
            expire_at: Some(expire_at),
            created_at: now,
        };
        self.outbox
            .enqueue(&delivery, std::slice::from_ref(&event))
            .await?;
        self.wake.notify_one();
        self.events.stored();
        Ok(())
    }

    /// Waits until something is put on the outbox in this process (at once
    /// if something was since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Claims and sends every due delivery, a batch at a time (each batch
    /// sent concurrently), until none is left; failures are logged and
    /// scheduled again or, after the last attempt, dead.
    pub async fn deliver_due(&self) -> Result<DeliveryRound, Error> {
        let mut round = DeliveryRound::default();
        // Bounded, so a queue refilled as fast as it drains still lets the
        // caller's loop breathe.
        for _ in 0..64 {
            let now = self.clock.now();
            let mut token = [0u8; 16];
            self.random.fill(&mut token);
            let lease = Lease {
                token: super::hex(&token),
                until: now.plus(self.policy.lease),
            };
            let claimed = self
                .outbox
                .claim_due(now, &lease, self.policy.batch.max(1))
                .await?;
            let full = claimed.len() >= self.policy.batch.max(1) as usize;
            for status in join_all(claimed.into_iter().map(|d| self.deliver(d, &lease.token))).await
            {
                round.add(status);
            }
            if !full {
                break;
            }
        }
        Ok(round)
    }

    /// One attempt of one claimed delivery; the status it is left in.
    async fn deliver(&self, delivery: ClaimedDelivery, lease: &str) -> DeliveryStatus {
        let now = self.clock.now();
        // The channel is the sealed message's; one never opened has none.
        let (channel, outcome) = if delivery.expire_at.is_some_and(|at| at <= now) {
            let why = "expired before it could be delivered".to_owned();
            ("unknown", Err((why, false)))
        } else {
            match self.open(&delivery) {
                Ok(message) => {
                    let channel = match message.destination {
                        CodeDestination::Email(_) => "email",
                        CodeDestination::Sms(_) => "sms",
                    };
                    let sent = self.sender.send(&message).await;
                    (channel, sent.map_err(|err| (err.0, true)))
                }
                Err(why) => ("unknown", Err((why, false))),
            }
        };
        let now = self.clock.now();
        let will_retry = |retry: bool| retry && delivery.attempts < delivery.max_attempts;
        crate::metrics::code_delivery(
            channel,
            match &outcome {
                Ok(()) => "sent",
                Err((_, retry)) if will_retry(*retry) => "retry",
                Err(_) => "failed",
            },
        );
        let stored = match &outcome {
            Ok(()) => self
                .outbox
                .complete(&delivery.id, lease, now)
                .await
                .map(|()| DeliveryStatus::Delivered),
            Err((why, retry)) => {
                let retry_at = retry
                    .then(|| now.plus(self.policy.backoff(delivery.attempts)))
                    .filter(|_| delivery.attempts < delivery.max_attempts);
                let status = self
                    .outbox
                    .fail(&delivery.id, lease, &cut(why), retry_at, now)
                    .await;
                if let Ok(status) = status {
                    let next_in_secs = retry_at.map(|at| at.since(now).as_secs());
                    tracing::warn!(
                        delivery = %delivery.id,
                        kind = %delivery.kind,
                        attempt = delivery.attempts,
                        max_attempts = delivery.max_attempts,
                        status = status.as_str(),
                        next_in_secs,
                        error = %why,
                        "delivery failed"
                    );
                }
                status
            }
        };
        match stored {
            Ok(status) => status,
            Err(err) => {
                // The lease ran out and another worker holds it, or the store
                // failed: the delivery stays pending and its lease decides.
                if !matches!(err, StoreError::Conflict) {
                    tracing::warn!(delivery = %delivery.id, error = %err, "delivery outcome not recorded");
                }
                DeliveryStatus::Pending
            }
        }
    }

    /// The message sealed in a claimed delivery.
    fn open(&self, delivery: &ClaimedDelivery) -> Result<CodeMessage, String> {
        if delivery.kind != CODE_KIND {
            return Err(format!(
                "no worker for deliveries of kind {:?}",
                delivery.kind
            ));
        }
        let plain = self
            .secrets
            .open(
                &delivery.payload,
                &seal_context(&delivery.kind, &delivery.id),
            )
            .map_err(|_| "the payload cannot be opened with this instance's key".to_owned())?;
        let payload: CodePayload = serde_json::from_slice(&plain)
            .map_err(|_| "the payload is not a code message".to_owned())?;
        let destination = match (payload.email, payload.sms) {
            (Some(address), None) => CodeDestination::Email(address),
            (None, Some(number)) => CodeDestination::Sms(number),
            _ => return Err("the payload names no single destination".to_owned()),
        };
        Ok(CodeMessage {
            destination,
            code: payload.code,
            purpose: match payload.purpose.as_deref() {
                Some(name) => CodePurpose::parse(name)
                    .ok_or_else(|| format!("the payload names an unknown purpose {name:?}"))?,
                None if payload.reset_password => CodePurpose::ResetPassword,
                None => CodePurpose::SignIn,
            },
            expires_in_minutes: payload.expires_in_minutes,
        })
    }

    /// Up to `limit` deliveries in `status` (any when `None`), newest first,
    /// without their payloads: what operators look at.
    pub async fn list(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, Error> {
        Ok(self.outbox.list(status, limit.clamp(1, 1000)).await?)
    }

    /// How many deliveries are pending, delivered and dead.
    pub async fn counts(&self) -> Result<DeliveryCounts, Error> {
        Ok(self.outbox.counts().await?)
    }

    /// Removes delivered and dead deliveries older than the policy keeps.
    pub async fn purge_finished(&self) -> Result<u64, Error> {
        let before = Timestamp(
            self.clock
                .now()
                .0
                .saturating_sub(self.policy.keep_finished.0),
        );
        Ok(self.outbox.purge_finished(before).await?)
    }
}

/// What a payload is sealed for: only this delivery opens it.
fn seal_context(kind: &str, id: &str) -> String {
    format!("outbox/{kind}/{id}")
}

/// An error text short enough to store.
fn cut(text: &str) -> String {
    text.chars().take(500).collect()
}

#[cfg(test)]
pub(crate) mod tests;

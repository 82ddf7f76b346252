//! Webhooks: endpoints and their signing secrets, the worker that delivers
//! each event's messages off the request path, and what operators see and
//! replay.
//!
//! Requests are signed as Svix signs them, which is what Clerk's SDKs
//! verify: `svix-id` (the event's id), `svix-timestamp` (Unix seconds) and
//! `svix-signature`, `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the secret's decoded bytes.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::events::event_context;
use crate::error::{Error, Problem, Resource, StoreError};
use crate::model::{
    Duration, EventType, IdPrefix, MessageStatus, Timestamp, WebhookAttempt, WebhookEndpoint,
    WebhookMessage, new_id, new_ordered_id,
};
use crate::ports::{
    AttemptOutcome, ClaimedMessage, Clock, Lease, MessageQuery, Random, WebhookSender, WebhookStore,
};
use crate::secrets::SecretBox;

/// How webhooks are retried and kept; `Default` is the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// The wait after each failed attempt, in order; a message has one more
    /// attempt than there are waits. The default is Svix's: 5 s, 5 min,
    /// 30 min, 2 h, 5 h, 10 h, 10 h (about 28 hours in all).
    pub retry_waits: Vec<Duration>,
    /// How long a claimed message is held by its worker: longer than the
    /// sender's timeout, so that no other worker sends it meanwhile.
    pub lease: Duration,
    /// Messages claimed and sent at once by one worker.
    pub batch: u32,
    /// An endpoint whose attempts have all failed for this long is disabled.
    pub disable_after: Duration,
    /// How long events (and their finished messages) are kept.
    pub keep_events: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            retry_waits: vec![
                Duration::seconds(5),
                Duration::minutes(5),
                Duration::minutes(30),
                Duration::hours(2),
                Duration::hours(5),
                Duration::hours(10),
                Duration::hours(10),
            ],
            lease: Duration::seconds(60),
            batch: 32,
            disable_after: Duration::days(5),
            keep_events: Duration::days(30),
        }
    }
}

impl WebhookPolicy {
    /// When a message that just failed its `attempts`-th attempt is tried
    /// again, if it is.
    fn retry_at(&self, attempts: u32, now: Timestamp) -> Option<Timestamp> {
        let index = usize::try_from(attempts.max(1) - 1).ok()?;
        self.retry_waits.get(index).map(|wait| now.plus(*wait))
    }
}

/// An endpoint to create.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// Set for an endpoint from configuration, so that it keeps its id.
    pub id: Option<String>,
    pub url: String,
    pub description: Option<String>,
    /// Names of the types it receives; none for every type.
    pub event_types: Vec<String>,
    /// `whsec_…`; a new one when none is given.
    pub secret: Option<String>,
}

/// A change to an endpoint; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// What one round of deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookRound {
    pub delivered: u32,
    pub retrying: u32,
    pub failed: u32,
}

/// Longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// The webhook endpoints and their worker.
#[derive(Clone)]
pub struct Webhooks {
    pub(super) store: Arc<dyn WebhookStore>,
    pub(super) sender: Arc<dyn WebhookSender>,
    pub(super) secrets: Arc<SecretBox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) policy: WebhookPolicy,
    /// Rung whenever this process stores events.
    pub(super) wake: Arc<tokio::sync::Notify>,
    /// Whether any endpoint is enabled, as last seen: while none is, stored
    /// events do not wake the worker (its poll still runs, and looks again).
    pub(super) active: Arc<std::sync::atomic::AtomicBool>,
}

impl Webhooks {
    /// Creates an endpoint; returns it and its signing secret.
    pub async fn create_endpoint(
        &self,
        new: NewEndpoint,
    ) -> Result<(WebhookEndpoint, String), Error> {
        let url = self.target(&new.url)?;
        let event_types = parse_event_types(&new.event_types)?;
        let description = parse_description(new.description.as_deref().unwrap_or(""))?;
        let secret = match new.secret {
            Some(secret) => parse_secret(&secret)?,
            None => self.new_secret(),
        };
        let id = new
            .id
            .unwrap_or_else(|| new_id(IdPrefix::WebhookEndpoint, &*self.random));
        let now = self.clock.now();
        let endpoint = WebhookEndpoint {
            sealed_secret: self.seal_secret(&id, &secret)?,
            id,
            url,
            description,
            event_types,
            disabled: false,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_endpoint(&endpoint).await?;
        self.active
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok((endpoint, secret))
    }

    /// Makes the store hold exactly the endpoints of `configured` among
    /// those created from configuration (ids given), creating or updating
    /// each; endpoints created through the admin API are left alone. An
    /// endpoint whose URL, secret or types changed is enabled again.
    pub async fn configure(&self, configured: Vec<NewEndpoint>) -> Result<(), Error> {
        for new in configured {
            let Some(id) = new.id.clone() else {
                return Err(Error::param_nil("id"));
            };
            let Some(existing) = self.store.get_endpoint(&id).await? else {
                match self.create_endpoint(new).await {
                    // A replica starting at the same time made it first.
                    Ok(_) | Err(Error::Conflict) => continue,
                    Err(err) => return Err(err),
                }
            };
            let url = self.target(&new.url)?;
            let event_types = parse_event_types(&new.event_types)?;
            let description = parse_description(new.description.as_deref().unwrap_or(""))?;
            let secret = match new.secret {
                Some(secret) => parse_secret(&secret)?,
                None => self.secret_of(&existing)?,
            };
            let same = existing.url == url
                && existing.event_types == event_types
                && existing.description == description
                && self.secret_of(&existing)? == secret;
            if !same {
                let endpoint = WebhookEndpoint {
                    url,
                    event_types,
                    description,
                    sealed_secret: self.seal_secret(&id, &secret)?,
                    disabled: false,
                    disabled_reason: None,
                    failing_since: None,
                    updated_at: self.clock.now(),
                    ..existing
                };
                self.store.update_endpoint(&endpoint).await?;
            }
        }
        Ok(())
    }

    pub async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, Error> {
        Ok(self.store.list_endpoints().await?)
    }

    pub async fn endpoint(&self, id: &str) -> Result<WebhookEndpoint, Error> {
        self.store
            .get_endpoint(id)
            .await?
            .ok_or(Error::NotFound(Resource::WebhookEndpoint))
    }

    pub async fn update_endpoint(
        &self,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint, Error> {
        let mut endpoint = self.endpoint(id).await?;
        if let Some(url) = &patch.url {
            endpoint.url = self.target(url)?;
        }
        if let Some(types) = &patch.event_types {
            endpoint.event_types = parse_event_types(types)?;
        }
        if let Some(description) = &patch.description {
            endpoint.description = parse_description(description)?;
        }
        if let Some(disabled) = patch.disabled {
            endpoint.disabled = disabled;
            endpoint.disabled_reason = None;
            if !disabled {
                endpoint.failing_since = None;
            }
        }
        endpoint.updated_at = self.clock.now();
        self.store.update_endpoint(&endpoint).await?;
        if !endpoint.disabled {
            self.active
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(endpoint)
    }

    pub async fn delete_endpoint(&self, id: &str) -> Result<(), Error> {
        if self.store.delete_endpoint(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(Resource::WebhookEndpoint))
        }
    }

    /// The endpoint's signing secret.
    pub async fn secret(&self, id: &str) -> Result<String, Error> {
        let endpoint = self.endpoint(id).await?;
        self.secret_of(&endpoint)
    }

    /// Gives the endpoint a new signing secret (or `secret`); returns it.
    /// Messages sent from now on are signed with it.
    pub async fn rotate_secret(&self, id: &str, secret: Option<String>) -> Result<String, Error> {
        let mut endpoint = self.endpoint(id).await?;
        let secret = match secret {
            Some(secret) => parse_secret(&secret)?,
            None => self.new_secret(),
        };
        endpoint.sealed_secret = self.seal_secret(id, &secret)?;
        endpoint.updated_at = self.clock.now();
        self.store.update_endpoint(&endpoint).await?;
        Ok(secret)
    }

    /// Recent messages, newest first.
    pub async fn messages(
        &self,
        endpoint_id: Option<&str>,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<WebhookMessage>, Error> {
        if let Some(id) = endpoint_id {
            self.endpoint(id).await?;
        }
        Ok(self
            .store
            .list_messages(&MessageQuery {
                endpoint_id: endpoint_id.map(str::to_owned),
                status,
                limit: limit.clamp(1, 500),
            })
            .await?)
    }

    pub async fn message(
        &self,
        event_id: &str,
        endpoint_id: &str,
    ) -> Result<WebhookMessage, Error> {
        self.store
            .get_message(event_id, endpoint_id)
            .await?
            .ok_or(Error::NotFound(Resource::WebhookMessage))
    }

    /// The attempts of one message, newest first.
    pub async fn attempts(
        &self,
        event_id: &str,
        endpoint_id: &str,
    ) -> Result<Vec<WebhookAttempt>, Error> {
        self.message(event_id, endpoint_id).await?;
        Ok(self.store.list_attempts(event_id, endpoint_id, 100).await?)
    }

    /// Sends one message again, now, whatever became of it.
    pub async fn replay(&self, event_id: &str, endpoint_id: &str) -> Result<WebhookMessage, Error> {
        match self
            .store
            .replay_message(event_id, endpoint_id, self.clock.now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::WebhookMessage)),
            Err(err) => return Err(err.into()),
        }
        self.wake.notify_one();
        self.message(event_id, endpoint_id).await
    }

    /// Sends the endpoint again what failed or never reached it in
    /// `[since, until)`; returns how many messages that is.
    pub async fn replay_range(
        &self,
        endpoint_id: &str,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<u64, Error> {
        let endpoint = self.endpoint(endpoint_id).await?;
        let now = self.clock.now();
        let until = until.unwrap_or(Timestamp(now.0.saturating_add(1)));
        if until <= since {
            return Err(Error::invalid("until", Problem::EmptyTimeRange));
        }
        let types: Vec<String> = endpoint
            .event_types
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        let n = self
            .store
            .replay_range(endpoint_id, &types, since, until, now)
            .await?;
        self.wake.notify_one();
        Ok(n)
    }

    /// Waits until this process stores an event or replays a message (at
    /// once if it did since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Claims and sends every due message, a batch at a time (each batch
    /// sent concurrently), until none is left.
    pub async fn deliver_due(&self) -> Result<WebhookRound, Error> {
        let mut round = WebhookRound::default();
        let batch = self.policy.batch.max(1);
        for _ in 0..64 {
            let now = self.clock.now();
            let mut token = [0u8; 16];
            self.random.fill(&mut token);
            let lease = Lease {
                token: super::hex(&token),
                until: now.plus(self.policy.lease),
            };
            let claimed = self.store.claim_messages(now, &lease, batch).await?;
            if claimed.is_empty() && round == WebhookRound::default() {
                // Nothing to send: is there anyone to send to at all?
                let any = self
                    .store
                    .list_endpoints()
                    .await?
                    .iter()
                    .any(|e| !e.disabled);
                self.active.store(any, std::sync::atomic::Ordering::Relaxed);
            }
            let full = claimed.len() >= batch as usize;
            for outcome in
                join_all(claimed.into_iter().map(|m| self.deliver(m, &lease.token))).await
            {
                match outcome {
                    Some(AttemptOutcome::Delivered) => round.delivered += 1,
                    Some(AttemptOutcome::RetryAt(_)) => round.retrying += 1,
                    Some(AttemptOutcome::Failed) => round.failed += 1,
                    None => {}
                }
            }
            if !full {
                break;
            }
        }
        Ok(round)
    }

    /// One attempt of one claimed message; what became of it, if recorded.
    async fn deliver(&self, message: ClaimedMessage, lease: &str) -> Option<AttemptOutcome> {
        let started = self.clock.now();
        let (status_code, error) = match self.request(&message, started) {
            Ok((headers, body)) => {
                let response = self.sender.post(&message.url, &headers, &body).await;
                (response.status, response.error)
            }
            Err(why) => (None, Some(why)),
        };
        let now = self.clock.now();
        let mut attempt = WebhookAttempt {
            id: new_ordered_id(IdPrefix::WebhookAttempt, now, &*self.random),
            event_id: message.event_id.clone(),
            endpoint_id: message.endpoint_id.clone(),
            status_code,
            error,
            duration_ms: now.since(started).0,
            at: now,
        };
        if !attempt.succeeded() && attempt.error.is_none() {
            attempt.error = Some(match status_code {
                Some(code) => format!("the endpoint answered {code}"),
                None => "no answer".to_owned(),
            });
        }
        let outcome = if attempt.succeeded() {
            AttemptOutcome::Delivered
        } else {
            match self.policy.retry_at(message.attempts, now) {
                Some(at) => AttemptOutcome::RetryAt(at),
                None => AttemptOutcome::Failed,
            }
        };
        crate::metrics::webhook_attempt(match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::Failed => "failed",
        });
        if !attempt.succeeded() {
            tracing::warn!(
                event = %message.event_id,
                endpoint = %message.endpoint_id,
                attempt = message.attempts,
                status = ?status_code,
                error = attempt.error.as_deref().unwrap_or(""),
                "webhook attempt failed"
            );
        }
        let disable_before = Timestamp(now.0.saturating_sub(self.policy.disable_after.0));
        let reason = format!(
            "every attempt failed for {} hours",
            self.policy.disable_after.0 / 3_600_000
        );
        match self
            .store
            .record_attempt(&attempt, lease, outcome, disable_before, &reason)
            .await
        {
            Ok(()) => Some(outcome),
            Err(err) => {
                if !matches!(err, StoreError::Conflict) {
                    tracing::warn!(event = %message.event_id, error = %err, "webhook attempt not recorded");
                }
                None
            }
        }
    }

    /// The signed request for a claimed message: its headers and body.
    fn request(
        &self,
        message: &ClaimedMessage,
        now: Timestamp,
    ) -> Result<(Vec<(String, String)>, String), String> {
        let body = self
            .secrets
            .open(&message.sealed_body, &event_context(&message.event_id))
            .map_err(|_| "the event cannot be opened with this instance's key".to_owned())?;
        let body = String::from_utf8(body).map_err(|_| "the event is not text".to_owned())?;
        let secret = self
            .secrets
            .open(
                &message.sealed_secret,
                &secret_context(&message.endpoint_id),
            )
            .map_err(|_| {
                "the signing secret cannot be opened with this instance's key".to_owned()
            })?;
        let secret = String::from_utf8(secret).map_err(|_| "the secret is not text".to_owned())?;
        let timestamp = now.secs().to_string();
        let signature = sign(&secret, &message.event_id, &timestamp, &body)
            .ok_or_else(|| "the signing secret is not valid".to_owned())?;
        let headers = vec![
            ("svix-id".to_owned(), message.event_id.clone()),
            ("svix-timestamp".to_owned(), timestamp),
            ("svix-signature".to_owned(), format!("v1,{signature}")),
        ];
        Ok((headers, body))
    }

    /// Removes events past their keeping time with their finished messages.
    pub async fn purge(&self) -> Result<u64, Error> {
        let before = Timestamp(self.clock.now().0.saturating_sub(self.policy.keep_events.0));
        Ok(self.store.purge_events(before).await?)
    }

    /// `url` as an endpoint's: well formed, and not refused by the sender.
    fn target(&self, url: &str) -> Result<String, Error> {
        let url = parse_url(url)?;
        match self.sender.refuses(&url) {
            None => Ok(url),
            Some(why) => {
                tracing::info!(%url, %why, "webhook endpoint refused");
                Err(Error::invalid("url", Problem::WebhookTargetNotAllowed))
            }
        }
    }

    fn new_secret(&self) -> String {
        let mut key = [0u8; 24];
        self.random.fill(&mut key);
        format!("whsec_{}", STANDARD.encode(key))
    }

    fn seal_secret(&self, id: &str, secret: &str) -> Result<String, Error> {
        self.secrets
            .seal(secret.as_bytes(), &secret_context(id), &*self.random)
    }

    fn secret_of(&self, endpoint: &WebhookEndpoint) -> Result<String, Error> {
        let plain = self
            .secrets
            .open(&endpoint.sealed_secret, &secret_context(&endpoint.id))?;
        String::from_utf8(plain).map_err(|_| Error::internal("webhook secret"))
    }
}

/// What an endpoint's secret is sealed for.
fn secret_context(endpoint_id: &str) -> String {
    format!("webhook-secret/{endpoint_id}")
}

/// The base64 signature of `{id}.{timestamp}.{body}` under `secret`
/// (`whsec_` and base64); `None` for a secret that does not decode.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &str) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

fn parse_url(url: &str) -> Result<String, Error> {
    let url = url.trim();
    let bad = || Error::invalid("url", Problem::NotWebhookUrl);
    if url.chars().count() > MAX_URL_CHARS {
        return Err(Error::invalid(
            "url",
            Problem::TooLong {
                max_chars: MAX_URL_CHARS,
            },
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty()
        || authority.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(url.to_owned())
}

fn parse_event_types(names: &[String]) -> Result<Vec<EventType>, Error> {
    let mut types = Vec::new();
    for name in names {
        let t = EventType::parse(name.trim()).ok_or_else(|| {
            Error::invalid(
                "event_types",
                Problem::UnknownEventType(crate::model::truncate(name)),
            )
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

fn parse_description(text: &str) -> Result<String, Error> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            Problem::TooLong {
                max_chars: MAX_DESCRIPTION_CHARS,
            },
        ));
    }
    Ok(text.to_owned())
}

fn parse_secret(secret: &str) -> Result<String, Error> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .ok_or(Error::invalid("secret", Problem::NotWebhookSecret))?;
    if !(24..=64).contains(&key.len()) {
        return Err(Error::invalid("secret", Problem::NotWebhookSecret));
    }
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests;

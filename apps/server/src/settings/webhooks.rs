//! `[webhooks]`: the endpoints configured here, how requests to every
//! endpoint are bounded, and how messages are retried and kept.

use std::time::Duration;

use anyhow::bail;

use latch_core::model::{Duration as Span, Environment};
use latch_core::service::{NewEndpoint, WebhookPolicy};
use latch_http::webhooks::WebhookSenderConfig;

use super::raw::WebhooksSection;

/// Webhooks as configured.
#[derive(Clone)]
pub struct Webhooks {
    pub sender: WebhookSenderConfig,
    pub policy: WebhookPolicy,
    /// Endpoints of `[webhooks.endpoints.<name>]`, with ids made from their names.
    pub endpoints: Vec<NewEndpoint>,
}

impl Webhooks {
    pub fn parse(w: &WebhooksSection, environment: Environment) -> anyhow::Result<Self> {
        let allow_private_targets = match w.private_targets.as_str() {
            "auto" => environment == Environment::Development,
            "allow" => true,
            "forbid" => false,
            other => bail!(
                "webhooks.private_targets: {other:?} must be \"auto\", \"allow\" or \"forbid\""
            ),
        };
        if !(1..=300).contains(&w.timeout_secs) {
            bail!("webhooks.timeout_secs must be between 1 and 300");
        }
        if !(1..=10_240).contains(&w.max_response_kib) {
            bail!("webhooks.max_response_kib must be between 1 and 10240");
        }
        if w.retry_waits_secs.len() > 20
            || w.retry_waits_secs
                .iter()
                .any(|s| !(1..=604_800).contains(s))
        {
            bail!("webhooks.retry_waits_secs: at most 20 waits, each between 1 second and 7 days");
        }
        if w.disable_after_hours < 1 {
            bail!("webhooks.disable_after_hours must be at least 1");
        }
        if w.keep_events_days < 1 {
            bail!("webhooks.keep_events_days must be at least 1");
        }
        let timeout = Duration::from_secs(w.timeout_secs);
        let policy = WebhookPolicy {
            retry_waits: w
                .retry_waits_secs
                .iter()
                .map(|s| Span::seconds(*s))
                .collect(),
            // Longer than any request may take, so no other worker sends a
            // message while one is still waiting for its answer.
            lease: Span::seconds(i64::try_from(w.timeout_secs).unwrap_or(300) * 2 + 30),
            disable_after: Span(w.disable_after_hours.saturating_mul(3_600_000)),
            keep_events: Span::days(w.keep_events_days),
            ..WebhookPolicy::default()
        };
        let mut endpoints = Vec::new();
        for (name, e) in &w.endpoints {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!("webhooks.endpoints.{name}: a name is 1 to 64 of a-z, 0-9 and _");
            }
            endpoints.push(NewEndpoint {
                id: Some(format!("ep_config_{name}")),
                url: e.url.clone(),
                description: Some(e.description.clone()),
                event_types: e.event_types.clone(),
                secret: (!e.secret.is_empty()).then(|| e.secret.clone()),
            });
        }
        Ok(Self {
            sender: WebhookSenderConfig {
                timeout,
                max_response_bytes: w.max_response_kib * 1024,
                allow_private_targets,
            },
            policy,
            endpoints,
        })
    }
}

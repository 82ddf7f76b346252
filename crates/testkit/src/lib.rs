//! `latch-testkit`: what every Latch adapter is tested with.
//!
//! - Port contract tests, written once and run against every adapter that
//!   implements the port: [`user_repository_contract`],
//!   [`client_repository_contract`], [`sign_in_store_contract`],
//!   [`sign_up_store_contract`], [`instance_store_contract`],
//!   [`counters_contract`], [`outbox_contract`], [`webhook_store_contract`],
//!   [`audit_log_contract`], [`settings_store_contract`],
//!   [`operator_store_contract`] and
//!   [`oauth::oauth_provider_contract`]; [`flow_kinds_apart_contract`] for
//!   a flow store that keeps both sign-ins and sign-ups. The two flow
//!   contracts share their rules (`flow_store`), written once over the kind
//!   of flow. Each store contract takes a fresh, empty store (one call, one
//!   store); each panics with a message naming the broken rule.
//! - [`ManualClock`]: a clock tests move forward instead of sleeping.
//! - [`fixtures`]: builders for test data with fixed ids and timestamps.
//! - [`RecordingCodeSender`]: keeps the codes it is asked to send.
//! - [`receiver`]: a webhook receiver on loopback that keeps what it gets.
//! - [`smtp`]: a real SMTP server on loopback (aiosmtpd, installed by
//!   `smtp/setup.sh`) and a private CA for its TLS modes.
//! - [`oauth`]: identity providers on loopback for the OAuth adapters: a
//!   GitHub-style OAuth 2.0 provider, an OpenID Connect issuer that serves
//!   crafted id_tokens, and a certified OpenID Connect provider
//!   (`oidc-provider` under Node, installed by `oidc/setup.sh`).
//!
//! Depends on `latch-core` only among Latch crates; adapters take it as a
//! dev-dependency. It is test code: assertions and panics are its job.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_log;
mod client_repository;
mod clock;
mod codes;
mod counters;
pub mod fixtures;
mod flow_store;
mod instance_store;
pub mod oauth;
pub mod openapi;
mod operators;
mod outbox;
mod process;
pub mod receiver;
pub mod services;
mod session_start;
mod settings_store;
mod sign_in_steps;
mod sign_in_store;
mod sign_up_steps;
mod sign_up_store;
pub mod smtp;
mod user_repository;
mod webhooks;

pub use audit_log::audit_log_contract;
pub use client_repository::client_repository_contract;
pub use clock::ManualClock;
pub use codes::RecordingCodeSender;
pub use counters::counters_contract;
pub use flow_store::flow_kinds_apart_contract;
pub use instance_store::instance_store_contract;
pub use operators::{operator_first_grant_race, operator_store_contract};
pub use outbox::outbox_contract;
pub use settings_store::settings_store_contract;
pub use sign_in_steps::sign_in_steps_contract;
pub use sign_in_store::sign_in_store_contract;
pub use sign_up_steps::sign_up_steps_contract;
pub use sign_up_store::sign_up_store_contract;
pub use user_repository::user_repository_contract;
pub use webhooks::{WebhookHandles, webhook_store_contract};

//! Ports: the traits through which the core reaches the outside world. One file
//! per port; each states the contract every adapter MUST keep, and each has a
//! contract test in `latch-testkit`. Mocks (`MockX`) exist in tests and with
//! the `mocks` feature.

mod audit_log;
mod client_repository;
mod clock;
mod code_sender;
mod counters;
mod event_format;
mod instance_store;
mod oauth_provider;
mod operators;
mod outbox;
mod password_hasher;
mod random;
mod readiness;
mod settings_store;
mod sign_in_steps;
mod sign_in_store;
mod sign_up_steps;
mod sign_up_store;
mod user_repository;
mod webhooks;

pub use audit_log::AuditLog;
pub use client_repository::{ClientRepository, ClientWithSessions, DigestUpgrade, SessionQuery};
pub use clock::Clock;
pub use code_sender::{CodeDestination, CodeMessage, CodePurpose, CodeSender, SendError};
pub use counters::{Counters, WindowCount};
pub use event_format::{EventFormat, EventSubject};
pub use instance_store::InstanceStore;
pub use oauth_provider::{
    AuthorizationRequest, CodeExchange, ExternalIdentity, OAuthError, OAuthProvider,
    OAuthProviderFactory, ProviderClient, ProviderTokens,
};
pub use operators::{Operator, OperatorStore, Revoked};
pub use outbox::{
    ClaimedDelivery, DeliveryCounts, DeliveryRecord, DeliveryStatus, Lease, NewDelivery, Outbox,
};
pub use password_hasher::PasswordHasher;
pub use random::Random;
pub use readiness::Readiness;
pub use settings_store::{SettingsStore, SettingsVersion};
pub use sign_in_steps::{SignInStep, SignInSteps};
pub use sign_in_store::SignInStore;
pub use sign_up_steps::{SignUpStep, SignUpSteps};
pub use sign_up_store::SignUpStore;
pub use user_repository::{AttemptSlot, PassedAttempt, UserQuery, UserRepository};
pub use webhooks::{
    AttemptOutcome, ClaimedMessage, MessageQuery, WebhookResponse, WebhookSender, WebhookStore,
};

#[cfg(any(test, feature = "mocks"))]
pub use operators::MockOperatorStore;
#[cfg(test)]
pub(crate) use random::FreshRandom;
#[cfg(any(test, feature = "mocks"))]
pub use {
    audit_log::MockAuditLog, client_repository::MockClientRepository, clock::MockClock,
    code_sender::MockCodeSender, counters::MockCounters, instance_store::MockInstanceStore,
    oauth_provider::MockOAuthProvider, outbox::MockOutbox, password_hasher::MockPasswordHasher,
    random::MockRandom, settings_store::MockSettingsStore, sign_in_steps::MockSignInSteps,
    sign_in_store::MockSignInStore, sign_up_steps::MockSignUpSteps, sign_up_store::MockSignUpStore,
    user_repository::MockUserRepository, webhooks::MockWebhookSender, webhooks::MockWebhookStore,
};

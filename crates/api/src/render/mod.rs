//! Clerk's JSON shapes for the domain objects, one typed shape per resource.
//!
//! Each resource is a `Serialize` struct built in one function, and every
//! answer that shows the resource goes through that function: a field added
//! to a shape is present everywhere the resource appears, and a field left out
//! of a struct literal does not compile. `Option` fields serialize as `null`
//! unless the schema lets Clerk leave the key out. Timestamps are Unix
//! milliseconds.

pub mod activity;
mod client;
mod environment;
mod event;
mod session;
mod sign_in;
mod sign_up;
mod user;

pub use environment::environment;
pub use event::ClerkEvents;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use latch_core::model::{IdentificationRecord, User};
use latch_core::model::{InstanceSettings, Timestamp};
use latch_core::service::{ClientSnapshot, SessionView, SignInView, SignUpView};

use crate::ApiState;
use crate::http::ApiRequest;
use crate::last_tokens::Minted;

/// Which API a user is rendered for: the Backend API also shows private
/// metadata.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Frontend,
    Backend,
}

/// What rendering needs beyond the domain values: the settings, the
/// Frontend API's URL (which default avatars come from), the table of
/// places, and, when the answer goes to the client that owns its sessions,
/// the state that mints the token its last active session carries, with
/// that token's `azp`.
#[derive(Clone)]
pub struct Renderer<'a> {
    issuer: &'a str,
    geoip: Option<&'a crate::geoip::GeoIp>,
    /// The settings in force when the answer began.
    settings: Arc<InstanceSettings>,
    /// Set for a client's own answers: the state that mints, and the page
    /// that asked (or the Frontend API itself).
    minting: Option<(&'a ApiState, &'a str)>,
}

impl<'a> Renderer<'a> {
    /// A renderer that mints no tokens: for the Backend API, and for
    /// answers that carry no sessions.
    pub fn new(state: &'a ApiState) -> Self {
        Self::of_parts(
            &state.config.issuer,
            state.config.geoip.as_deref(),
            state.services.settings(),
        )
    }

    /// A renderer from its parts alone, minting no tokens: what events are
    /// written with, before any state exists.
    pub fn of_parts(
        issuer: &'a str,
        geoip: Option<&'a crate::geoip::GeoIp>,
        settings: Arc<InstanceSettings>,
    ) -> Self {
        Self {
            issuer,
            geoip,
            settings,
            minting: None,
        }
    }

    /// A renderer for a client's own Frontend API answer: the client's last
    /// active session carries a fresh token (`last_active_token`), so the
    /// SDK needs no separate token request. The token's `azp` is the
    /// request's `Origin`, or the Frontend API itself when it has none.
    pub fn for_client(state: &'a ApiState, req: &'a ApiRequest) -> Self {
        let azp = req.header("origin").unwrap_or(&state.config.issuer);
        Self {
            minting: Some((state, azp)),
            ..Self::new(state)
        }
    }

    /// The Frontend API's public URL.
    fn frontend_url(&self) -> &'a str {
        self.issuer
    }

    /// The table of places by address, when one is configured.
    fn geoip(&self) -> Option<&'a crate::geoip::GeoIp> {
        self.geoip
    }

    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    pub fn client(&self, snapshot: &ClientSnapshot) -> Value {
        to_value(client::Client::of(self, snapshot))
    }

    /// The client as JSON text, written straight from its shape (no
    /// intermediate tree): for `GET /v1/client`, the hottest read.
    pub fn client_text(&self, snapshot: &ClientSnapshot) -> String {
        serde_json::to_string(&client::Client::of(self, snapshot))
            .unwrap_or_else(|_| "null".to_owned())
    }

    pub fn sign_in(&self, view: &SignInView) -> Value {
        to_value(sign_in::SignIn::of(self, view))
    }

    pub fn sign_up(&self, view: &SignUpView) -> Value {
        to_value(sign_up::SignUp::of(self, view))
    }

    /// A session as the Frontend API shows it, with its user (and its
    /// token, in a client's own answer).
    pub fn session(&self, view: &SessionView) -> Value {
        to_value(session::FrontendSession::of(
            self,
            view,
            Some(view.session.updated_at),
        ))
    }

    /// One of the signed-in user's sessions, with where it started.
    pub fn active_session(&self, view: &SessionView) -> Value {
        to_value(session::ActiveSession::of(view, self.geoip()))
    }

    /// A session as a client shows it, without a token (another client's).
    pub fn session_without_token(&self, view: &SessionView) -> Value {
        to_value(session::FrontendSession::of(self, view, None))
    }

    /// A session as the Backend API shows it.
    pub fn backend_session(&self, view: &SessionView) -> Value {
        to_value(session::BackendSession::of(view, self.geoip()))
    }

    /// `now` decides whether the user shows as locked out.
    pub fn user(&self, u: &User, audience: Audience, now: Timestamp) -> Value {
        to_value(user::UserJson::of(self, u, audience, now))
    }

    /// A phone number of `user`.
    pub fn phone_number(&self, u: &User, record: &IdentificationRecord) -> Value {
        to_value(user::Identification::phone(u, record))
    }

    /// Clerk's `SessionReverification`: what the session must still verify
    /// and with what, and the session.
    pub fn reverification(&self, v: &latch_core::service::ReverificationView) -> Value {
        use latch_core::service::ReverificationStatus as S;
        let on = &self.settings().strategies;
        let mut first = Vec::new();
        if on.password && v.user.has_password() {
            first.push(serde_json::json!({ "strategy": "password" }));
        }
        // A code to each verified address that signs in.
        let primary = |id: &str, kind: Option<&String>| Some(id) == kind.map(String::as_str);
        if on.email_code {
            for e in v.user.email_addresses.iter().filter(|e| e.verified) {
                first.push(serde_json::json!({
                    "strategy": "email_code",
                    "email_address_id": e.id,
                    "safe_identifier": e.value,
                    "primary": primary(&e.id, v.user.primary_email_address_id.as_ref()),
                }));
            }
        }
        if on.phone_code {
            let phones = v.user.phone_numbers.iter();
            for p in phones.filter(|p| p.verified && !p.reserved_for_second_factor) {
                first.push(serde_json::json!({
                    "strategy": "phone_code",
                    "phone_number_id": p.id,
                    "safe_identifier": p.value,
                    "primary": primary(&p.id, v.user.primary_phone_number_id.as_ref()),
                }));
            }
        }
        let mut second = Vec::new();
        if on.totp && v.user.totp_enabled() {
            second.push(serde_json::json!({ "strategy": "totp" }));
        }
        if on.backup_code && v.user.backup_code_enabled() {
            second.push(serde_json::json!({ "strategy": "backup_code" }));
        }
        let verification = |f: &Option<latch_core::model::Verification>| {
            f.as_ref()
                .map_or(Value::Null, |f| to_value(sign_in::VerificationJson::of(f)))
        };
        serde_json::json!({
            "object": "session_reverification",
            "level": v.level.as_str(),
            "status": match v.status {
                S::NeedsFirstFactor => "needs_first_factor",
                S::NeedsSecondFactor => "needs_second_factor",
                S::Complete => "complete",
            },
            "supported_first_factors": first,
            "supported_second_factors": second,
            "first_factor_verification": verification(&v.first_factor),
            "second_factor_verification": verification(&v.second_factor),
            "session": self.session_without_token(&v.session),
        })
    }

    /// An external account being connected.
    pub fn pending_connection(&self, p: &latch_core::service::PendingConnection) -> Value {
        to_value(user::ExternalAccountJson::pending(p))
    }

    /// An email address of a user.
    pub fn email_address(&self, record: &IdentificationRecord) -> Value {
        to_value(user::Identification::email(record))
    }

    /// An address of `view`'s user, as its kind is drawn.
    pub fn address(&self, view: &latch_core::service::AddressView) -> Value {
        match view.kind {
            latch_core::service::AddressKind::Email => self.email_address(&view.record),
            latch_core::service::AddressKind::Phone => self.phone_number(&view.user, &view.record),
        }
    }

    /// Every address of `kind` of `u`, in order.
    pub fn addresses(&self, u: &User, kind: latch_core::service::AddressKind) -> Value {
        let list = match kind {
            latch_core::service::AddressKind::Email => &u.email_addresses,
            latch_core::service::AddressKind::Phone => &u.phone_numbers,
        };
        Value::Array(
            list.iter()
                .map(|r| match kind {
                    latch_core::service::AddressKind::Email => self.email_address(r),
                    latch_core::service::AddressKind::Phone => self.phone_number(u, r),
                })
                .collect(),
        )
    }

    /// A session token for `view`, when this renderer mints them and the
    /// session is active: one issued no earlier than `changed_at` (the
    /// client's last change).
    fn token(&self, view: &SessionView, changed_at: Timestamp) -> Option<session::Token> {
        let (state, azp) = self.minting?;
        let lifetime = self.settings().session_token_lifetime;
        let claims = latch_core::service::SessionTokenClaims::of(view, lifetime)?;
        let jwt =
            state
                .last_tokens
                .get_or_mint(&view.session.id, azp, view.now, changed_at, || {
                    let jwt = state
                        .keys
                        .session_token(&claims, &state.config.issuer, azp)
                        .map_err(
                            |err| tracing::warn!(error = %err, "could not mint last_active_token"),
                        )
                        .ok()?;
                    Some(Minted {
                        jwt,
                        issued_at: claims.issued_at,
                        expires_at: claims.expires_at,
                    })
                })?;
        Some(session::Token {
            object: "token",
            jwt,
        })
    }
}

/// A typed shape as JSON. Serializing these structs cannot fail (string
/// keys, no maps with other keys), so `Null` is never actually produced.
fn to_value(shape: impl Serialize) -> Value {
    serde_json::to_value(shape).unwrap_or(Value::Null)
}

/// Milliseconds of an optional time.
fn millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(|t| t.millis())
}

//! A client: a browser or device, with its sessions, sign-in and sign-up.

use serde::Serialize;

use latch_core::service::ClientSnapshot;

use super::Renderer;
use super::session::FrontendSession;
use super::sign_in::SignIn;
use super::sign_up::SignUp;

/// Clerk's `Client`.
#[derive(Serialize)]
pub(super) struct Client<'a> {
    object: &'static str,
    id: &'a str,
    sessions: Vec<FrontendSession<'a>>,
    sign_in: Option<SignIn<'a>>,
    sign_up: Option<SignUp<'a>>,
    last_active_session_id: Option<&'a str>,
    last_authentication_strategy: Option<&'a str>,
    cookie_expires_at: Option<i64>,
    captcha_bypass: bool,
    created_at: i64,
    updated_at: i64,
}

impl<'a> Client<'a> {
    pub(super) fn of(r: &Renderer<'_>, snapshot: &'a ClientSnapshot) -> Self {
        let c = &snapshot.client;
        let last_active = c.last_active_session_id.as_ref();
        Self {
            object: "client",
            id: c.id.as_str(),
            sessions: snapshot
                .sessions
                .iter()
                .map(|view| {
                    let token_after =
                        (last_active == Some(&view.session.id)).then_some(c.updated_at);
                    FrontendSession::of(r, view, token_after)
                })
                .collect(),
            sign_in: snapshot.sign_in.as_ref().map(|view| SignIn::of(r, view)),
            sign_up: snapshot.sign_up.as_ref().map(|view| SignUp::of(r, view)),
            last_active_session_id: last_active.map(|s| s.as_str()),
            last_authentication_strategy: c.last_authentication_strategy.as_deref(),
            cookie_expires_at: None,
            captcha_bypass: false,
            created_at: c.created_at.millis(),
            updated_at: c.updated_at.millis(),
        }
    }
}

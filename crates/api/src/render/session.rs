//! A session: as its client sees it (with its user), and as the Backend API
//! lists it (with where it started).

use serde::Serialize;

use latch_core::model::{Session, SessionStatus, Timestamp};
use latch_core::service::SessionView;

use super::activity::{Activity, LatestActivity};
use super::user::{PublicUserData, UserJson};
use super::{Audience, Renderer};
use crate::geoip::GeoIp;

/// Clerk's `Token`: a session token.
#[derive(Serialize)]
pub(super) struct Token {
    pub object: &'static str,
    pub jwt: String,
}

/// Clerk's Frontend API `Session`.
#[derive(Serialize)]
pub(super) struct FrontendSession<'a> {
    object: &'static str,
    id: &'a str,
    status: &'static str,
    expire_at: i64,
    abandon_at: i64,
    last_active_at: i64,
    last_active_token: Option<Token>,
    last_active_organization_id: Option<&'a str>,
    actor: Option<()>,
    tasks: Option<()>,
    user: UserJson<'a>,
    public_user_data: PublicUserData<'a>,
    /// Minutes since the first and the second factor passed; -1 for none.
    factor_verification_age: [i64; 2],
    created_at: i64,
    updated_at: i64,
}

impl<'a> FrontendSession<'a> {
    /// `token_after`: whether this session carries a fresh token (the client's
    /// last active session, in the client's own answers), and the last change
    /// it may not be older than.
    pub(super) fn of(
        r: &Renderer<'_>,
        view: &'a SessionView,
        token_after: Option<Timestamp>,
    ) -> Self {
        let (s, u, now) = (&view.session, &view.user, view.now);
        Self {
            object: "session",
            id: s.id.as_str(),
            status: view.status.as_str(),
            expire_at: s.expire_at.millis(),
            abandon_at: s.expire_at.millis(),
            last_active_at: s.last_active_at.millis(),
            last_active_token: token_after.and_then(|at| r.token(view, at)),
            last_active_organization_id: None,
            actor: None,
            tasks: None,
            user: UserJson::of(r, u, Audience::Frontend, now),
            public_user_data: PublicUserData::of(r, u),
            factor_verification_age: [
                now.since(s.first_factor_verified_at).0 / 60_000,
                s.second_factor_verified_at
                    .map_or(-1, |t| now.since(t).0 / 60_000),
            ],
            created_at: s.created_at.millis(),
            updated_at: s.updated_at.millis(),
        }
    }
}

/// Clerk's Backend API `Session`.
#[derive(Serialize)]
pub(super) struct BackendSession<'a> {
    object: &'static str,
    id: &'a str,
    user_id: &'a str,
    client_id: &'a str,
    actor: Option<()>,
    status: &'static str,
    last_active_organization_id: Option<&'a str>,
    last_active_at: i64,
    /// Where the session started; `null` for a session from before Latch
    /// kept it.
    latest_activity: Option<LatestActivity<'a>>,
    expire_at: i64,
    abandon_at: i64,
    updated_at: i64,
    created_at: i64,
    tasks: Option<()>,
}

impl<'a> BackendSession<'a> {
    pub(super) fn of(view: &'a SessionView, geoip: Option<&'a GeoIp>) -> Self {
        Self::of_session(&view.session, view.status, geoip)
    }

    /// The session with the status it has, without its user.
    pub(super) fn of_session(
        s: &'a Session,
        status: SessionStatus,
        geoip: Option<&'a GeoIp>,
    ) -> Self {
        let origin = &s.origin;
        let known = origin.ip_address.is_some() || origin.user_agent.is_some();
        Self {
            object: "session",
            id: s.id.as_str(),
            user_id: s.user_id.as_str(),
            client_id: s.client_id.as_str(),
            actor: None,
            status: status.as_str(),
            last_active_organization_id: None,
            last_active_at: s.last_active_at.millis(),
            // The session's own id names its one activity: where it started.
            latest_activity: known.then(|| {
                LatestActivity::of(&Activity {
                    id: s.id.as_str(),
                    ip_address: origin.ip_address.as_deref(),
                    user_agent: origin.user_agent.as_deref(),
                    place: geoip
                        .zip(origin.ip_address.as_deref())
                        .and_then(|(table, ip)| table.locate(ip)),
                })
            }),
            expire_at: s.expire_at.millis(),
            abandon_at: s.expire_at.millis(),
            updated_at: s.updated_at.millis(),
            created_at: s.created_at.millis(),
            tasks: None,
        }
    }
}

/// Clerk's `ActiveSession` (`GET /v1/me/sessions/active`): one of the user's
/// sessions, on any client, with where it started (device, browser, address).
#[derive(Serialize)]
pub(super) struct ActiveSession<'a> {
    object: &'static str,
    id: &'a str,
    status: &'static str,
    expire_at: i64,
    abandon_at: i64,
    last_active_at: i64,
    last_active_token: Option<()>,
    actor: Option<()>,
    tasks: Option<()>,
    latest_activity: Option<LatestActivity<'a>>,
}

impl<'a> ActiveSession<'a> {
    pub(super) fn of(view: &'a SessionView, geoip: Option<&'a GeoIp>) -> Self {
        let backend = BackendSession::of(view, geoip);
        let s = &view.session;
        Self {
            object: "session",
            id: s.id.as_str(),
            status: view.status.as_str(),
            expire_at: s.expire_at.millis(),
            abandon_at: s.expire_at.millis(),
            last_active_at: s.last_active_at.millis(),
            last_active_token: None,
            actor: None,
            tasks: None,
            latest_activity: backend.latest_activity,
        }
    }
}

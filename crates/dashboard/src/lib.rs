//! `latch-dashboard`: the operators' dashboard, server-rendered HTML under
//! `/dashboard`, mounted on Latch's listener (or a listener of its own)
//! through `latch_api::pages`.
//!
//! - `auth`: the dashboard's cookie and the operator behind it, sign-in
//!   through the core's own sign-in use cases, sign-out, the checks every
//!   form passes (same origin, session-bound token), the first-run setup.
//! - `users`: find, view, create, edit, lock, ban, delete users and
//!   revoke their sessions.
//! - `screens`: sessions by user, the audit log, webhooks and their
//!   messages, operators.
//! - `html`: the layout, the stylesheet and script it serves itself, the
//!   headers of every answer.
//!
//! Depends on `latch-core` (the use cases) and `latch-api` (the request
//! and response types, client addresses, the wording of errors) only
//! among Latch crates; it reaches storage only through the core's
//! services.
//!
//! Invariants:
//! - Nothing but an operator's active session opens a screen: every
//!   request loads the client its cookie names, and the session's user
//!   must hold the operator role at that moment.
//! - Every change is a `POST` from this origin (`Sec-Fetch-Site:
//!   same-origin`, or an `Origin` naming it) carrying the form token of the
//!   operator's session (a keyed digest of its id), answered with a
//!   redirect; each is written to the audit log with the operator as its
//!   actor (`dashboard.write`, beside the entries the use case writes).
//! - Every answer carries a strict Content-Security-Policy (its own
//!   stylesheet and script only), `nosniff`, `no-referrer` and `no-store`;
//!   every value shown is escaped.
//! - An operator of a production instance signs in with a second factor;
//!   on a development instance a password alone is accepted.

#![forbid(unsafe_code)]

mod auth;
mod html;
mod keys;
mod screens;
mod settings;
mod users;

use std::sync::Arc;

use latch_api::ApiState;
use latch_api::client_ip::client_ip;
use latch_api::http::{ApiRequest, ApiResponse};
use latch_api::pages::{PageFuture, Pages};
use latch_core::model::{Actor, RequestContext};
use latch_core::service::in_request;
use warp::http::{Method, StatusCode};

use crate::auth::{Signed, Standing};
use crate::html::{Chrome, escape, page, redirect};

/// The path every dashboard page is under.
pub const PREFIX: &str = "/dashboard";

/// The dashboard, as pages latch-api mounts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dashboard;

impl Dashboard {
    /// The dashboard, ready for `ApiState::with_pages` or `only_pages`.
    pub fn pages() -> Arc<dyn Pages> {
        Arc::new(Self)
    }
}

impl Pages for Dashboard {
    fn prefix(&self) -> &'static str {
        PREFIX
    }

    fn handle<'a>(&'a self, state: &'a ApiState, req: &'a ApiRequest) -> PageFuture<'a> {
        Box::pin(handle(state, req))
    }
}

/// Every dashboard request: the request's context set, then its page.
async fn handle(state: &ApiState, req: &ApiRequest) -> ApiResponse {
    let context = RequestContext::of_request(
        Actor::Frontend,
        client_ip(req, &state.config.trusted_proxies).map(|ip| ip.to_string()),
        req.header("user-agent"),
    );
    in_request(context.clone(), Box::pin(route(state, req, context))).await
}

/// The path's segments under `/dashboard`.
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix(PREFIX)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

async fn route(state: &ApiState, req: &ApiRequest, context: RequestContext) -> ApiResponse {
    let segments = segments(&req.path);
    let read = auth::is_read(req);
    let post = req.method == Method::POST;
    // Pages anyone may see: the assets, sign-in, the first run.
    match (segments.as_slice(), read, post) {
        (["assets", "dashboard.css"], true, _) => {
            return html::asset("text/css; charset=utf-8", html::CSS);
        }
        (["assets", "dashboard.js"], true, _) => {
            return html::asset("text/javascript; charset=utf-8", html::JS);
        }
        (["sign-in"], true, _) => return auth::sign_in_page_with_note(req),
        (["sign-in"], _, true) => return auth::sign_in(state, req).await,
        (["sign-in", "factor"], true, _) => {
            return match auth::standing(state, req).await {
                Ok(Standing::AwaitingSecondFactor { .. }) => auth::factor_page(None),
                Ok(_) => redirect("/dashboard/sign-in"),
                Err(err) => auth::failure(err),
            };
        }
        (["sign-in", "factor"], _, true) => return auth::attempt_factor(state, req).await,
        (["setup"], true, _) => {
            return match state.services.operators.count().await {
                Ok(0) => auth::setup_page(None, ""),
                Ok(_) => redirect("/dashboard"),
                Err(err) => auth::failure(err),
            };
        }
        (["setup"], _, true) => return auth::setup(state, req).await,
        _ => {}
    }
    let signed = match auth::standing(state, req).await {
        Ok(Standing::Operator(signed)) => signed,
        Ok(Standing::NotOperator { token }) => {
            return auth::refuse_non_operator(state, req, &token).await;
        }
        Ok(Standing::Nobody | Standing::AwaitingSecondFactor { .. }) => {
            return match state.services.operators.count().await {
                Ok(0) if segments.is_empty() => auth::first_run_page(),
                Ok(_) | Err(_) => redirect("/dashboard/sign-in"),
            };
        }
        Err(err) => return auth::failure(err),
    };
    let context = context.by_operator(signed.user.id.clone());
    in_request(
        context,
        Box::pin(operator_route(state, req, &signed, &segments)),
    )
    .await
}

/// A signed-in operator's request. Every `POST` passes the form checks
/// first and is audited after, whatever its outcome.
async fn operator_route(
    state: &ApiState,
    req: &ApiRequest,
    signed: &Signed,
    segments: &[&str],
) -> ApiResponse {
    let read = auth::is_read(req);
    if req.method == Method::POST {
        if let Err(why) = auth::check_form(state, req, signed) {
            return auth::forged(why);
        }
        if segments == ["sign-out"] {
            return auth::sign_out(state, req, signed).await;
        }
        let response = write(state, req, signed, segments).await;
        state
            .services
            .audit
            .dashboard_write(req.method.as_str(), &req.path, response.status.as_u16())
            .await;
        return response;
    }
    if !read {
        return not_found(signed, StatusCode::METHOD_NOT_ALLOWED);
    }
    let s = Screen { state, req, signed };
    match segments {
        [] => redirect("/dashboard/users"),
        ["users"] => users::list(&s).await,
        ["users", "new"] => users::new_page(&s, None, &users::NewUserForm::default()),
        ["users", id] => users::show(&s, id).await,
        ["users", id, "delete"] => users::confirm_delete(&s, id).await,
        ["sessions"] => screens::sessions(&s).await,
        ["audit"] => screens::audit(&s).await,
        ["webhooks"] => screens::webhooks(&s).await,
        ["webhooks", id] => screens::endpoint(&s, id).await,
        ["webhooks", id, "messages", event] => screens::message(&s, id, event).await,
        ["operators"] => screens::operators(&s).await,
        ["settings"] => settings::show(&s).await,
        ["keys"] => keys::show(&s),
        _ => not_found(signed, StatusCode::NOT_FOUND),
    }
}

/// The changes, each a form's `POST`.
async fn write(
    state: &ApiState,
    req: &ApiRequest,
    signed: &Signed,
    segments: &[&str],
) -> ApiResponse {
    let s = Screen { state, req, signed };
    match segments {
        ["users"] => users::create(&s).await,
        ["users", id] => users::edit(&s, id).await,
        ["users", id, action @ ("lock" | "unlock" | "ban" | "unban")] => {
            users::standing(&s, id, action).await
        }
        ["users", id, "delete"] => users::delete(&s, id).await,
        ["users", id, "sessions", session, "revoke"] => {
            users::revoke_session(&s, id, session).await
        }
        ["webhooks", id, "messages", event, "replay"] => screens::replay(&s, id, event).await,
        ["operators"] => screens::grant(&s).await,
        ["operators", id, "revoke"] => screens::revoke(&s, id).await,
        ["settings"] => settings::save(&s).await,
        ["keys", "rotate"] => keys::rotate(&s).await,
        ["settings", "lists", list] => settings::add_entry(&s, list).await,
        ["settings", "lists", list, id, "remove"] => settings::remove_entry(&s, list, id).await,
        _ => not_found(signed, StatusCode::NOT_FOUND),
    }
}

/// What a screen is drawn for.
pub(crate) struct Screen<'a> {
    pub state: &'a ApiState,
    pub req: &'a ApiRequest,
    pub signed: &'a Signed,
}

impl Screen<'_> {
    /// A page of this screen, with the navigation and the operator.
    pub fn page(&self, status: StatusCode, current: &str, title: &str, body: &str) -> ApiResponse {
        let who = self.signed.name();
        let chrome = Chrome {
            who: &who,
            csrf: &self.signed.csrf,
            current,
        };
        let flash = self.req.query_param("done").and_then(flash);
        page(status, title, Some(&chrome), flash, body)
    }

    /// A query parameter, bounded.
    pub fn query(&self, name: &str) -> String {
        self.req
            .query_param(name)
            .filter(|v| v.len() <= 256)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// A form field, bounded.
    pub fn field(&self, name: &str) -> String {
        self.req
            .param(name)
            .ok()
            .flatten()
            .filter(|v| v.len() <= 1024)
            .unwrap_or_default()
    }

    /// The page of a failed read or change: the error in words.
    pub fn error(&self, current: &str, err: latch_core::error::Error) -> ApiResponse {
        use latch_core::error::Error;
        let status = match &err {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unavailable | Error::Internal(_) => return auth::failure(err),
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let text = auth::wording(err);
        self.page(
            status,
            current,
            "Not done",
            &format!(
                r#"<p class="error" role="alert">{}</p><p><a href="/dashboard{current}">Back</a></p>"#,
                escape(&text)
            ),
        )
    }
}

/// The note a redirect after a change asks for (`?done=`): a fixed
/// sentence per key, so nothing a link carries is shown as text.
fn flash(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "User created.",
        "saved" => "Changes saved.",
        "lock" => "User locked: they cannot sign in until unlocked.",
        "unlock" => "User unlocked.",
        "ban" => "User banned: every session of theirs was revoked.",
        "unban" => "User unbanned.",
        "deleted" => "User deleted.",
        "revoked" => "Session revoked.",
        "replayed" => "Message queued to be sent again.",
        "granted" => "Operator role granted.",
        "operator_revoked" => "Operator role revoked.",
        "settings_saved" => {
            "Settings saved: in force here now, and on every replica within seconds."
        }
        "listed" => "Added to the list.",
        "rotated" => {
            "New secret key made: give it to your servers before the old one's overlap ends."
        }
        "unlisted" => "Removed from the list.",
        _ => return None,
    })
}

fn not_found(signed: &Signed, status: StatusCode) -> ApiResponse {
    let who = signed.name();
    let chrome = Chrome {
        who: &who,
        csrf: &signed.csrf,
        current: "",
    };
    page(
        status,
        "Not found",
        Some(&chrome),
        None,
        r#"<p>There is no such page in the dashboard.</p><p><a href="/dashboard/users">Users</a></p>"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_under_the_prefix() {
        assert!(segments("/dashboard").is_empty());
        assert!(segments("/dashboard/").is_empty());
        assert_eq!(segments("/dashboard/users/user_1"), ["users", "user_1"]);
    }

    #[test]
    fn notes_are_fixed_sentences() {
        assert_eq!(
            flash("lock"),
            Some("User locked: they cannot sign in until unlocked.")
        );
        assert_eq!(flash("<script>"), None);
    }
}

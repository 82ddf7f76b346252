//! Users: search, one user's page, creating, editing, locking, banning,
//! deleting, and revoking a session, all through the core's `Users`,
//! `Sessions` and `Audit` services.

use std::fmt::Write as _;

use latch_api::http::ApiResponse;
use latch_api::render::activity::Agent;
use latch_core::error::Error;
use latch_core::model::{AuditQuery, SessionStatus, User, UserPatch};
use latch_core::ports::{SessionQuery, UserQuery};
use latch_core::service::{CreateUser, SessionView};
use warp::http::StatusCode;

use crate::Screen;
use crate::auth::csrf;
use crate::html::{button_form, escape, query, redirect, when};

/// Users listed on one page.
const PAGE: u32 = 50;

/// How a search names users: by the form of what was typed.
pub(crate) fn user_query(text: &str) -> UserQuery {
    let text = text.trim();
    let mut query = UserQuery::default();
    if text.is_empty() {
    } else if text.starts_with("user_") {
        query.user_ids.push(text.to_owned());
    } else if text.contains('@') {
        query.email_addresses.push(text.to_owned());
    } else if text.starts_with('+') {
        query.phone_numbers.push(text.to_owned());
    } else {
        query.usernames.push(text.to_owned());
    }
    query
}

/// The user a search names, if exactly one (for screens that take a user
/// by email address or id).
pub(crate) async fn find_one(s: &Screen<'_>, text: &str) -> Result<Option<User>, Error> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let page = s
        .state
        .services
        .users
        .list_users(user_query(text), Some(2))
        .await?;
    Ok(match page.users.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// Up to `limit` of `user`'s active sessions, newest first.
pub(crate) async fn active_sessions(
    s: &Screen<'_>,
    user: &User,
    limit: u32,
) -> Result<latch_core::service::SessionsPage, Error> {
    let query = SessionQuery {
        user_id: Some(user.id.0.clone()),
        status: Some(SessionStatus::Active),
        ..SessionQuery::default()
    };
    s.state
        .services
        .sessions
        .list_sessions(query, Some(limit))
        .await
}

/// A user's name, or their first address, or their id.
pub(crate) fn label(user: &User) -> String {
    let named = [&user.first_name, &user.last_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if !named.is_empty() {
        return named;
    }
    primary_email(user)
        .or_else(|| user.username.as_ref().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| user.id.0.clone())
}

fn primary_email(user: &User) -> Option<String> {
    user.email_addresses
        .iter()
        .find(|e| Some(&e.id) == user.primary_email_address_id.as_ref())
        .or_else(|| user.email_addresses.first())
        .map(|e| e.value.clone())
}

/// The tags of a user's standing.
fn standing_tags(s: &Screen<'_>, user: &User) -> String {
    let now = s.state.now();
    let mut tags = String::new();
    if user.banned {
        tags.push_str(r#"<span class="tag bad">banned</span>"#);
    }
    if user.locked_until.is_some_and(|until| until > now) {
        tags.push_str(r#"<span class="tag bad">locked</span>"#);
    }
    if crate::auth::has_second_factor(user) {
        tags.push_str(r#"<span class="tag good">2FA</span>"#);
    }
    tags
}

/// `GET /dashboard/users?q=`: newest first, or those a search names.
pub(crate) async fn list(s: &Screen<'_>) -> ApiResponse {
    let q = s.query("q");
    let offset: u32 = s.query("offset").parse().unwrap_or(0).min(100_000);
    // The list finds users by any part of an identifier, a name or an id.
    let mut user_query = UserQuery {
        query: Some(q.trim().to_lowercase()).filter(|t| !t.is_empty()),
        ..UserQuery::default()
    };
    user_query.offset = offset;
    let services = &s.state.services;
    let (page, total) = match (
        services
            .users
            .list_users(user_query.clone(), Some(PAGE))
            .await,
        services.users.count_users(user_query).await,
    ) {
        (Ok(page), Ok(total)) => (page, total),
        (Err(err), _) | (_, Err(err)) => return s.error("/users", err),
    };
    let mut body = format!(
        r#"<form class="filters" method="get" action="/dashboard/users" role="search">
<label>Email, phone, username, name or id (or a part of one)<input name="q" value="{q}" placeholder="ann@example.com, +1555, ann, user_…"></label>
<button type="submit">Search</button> <a href="/dashboard/users/new">New user</a>
</form>
<p class="muted">{total} user{plural}{matching}</p>"#,
        q = escape(&q),
        plural = if total == 1 { "" } else { "s" },
        matching = if q.is_empty() { "" } else { " matching" },
    );
    if page.users.is_empty() {
        body.push_str(r#"<p class="card">No user found.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th>User</th><th>Email</th><th>Phone</th><th>Username</th><th>Created</th><th>Last sign-in</th></tr></thead><tbody>"#);
        for user in &page.users {
            let _ = write!(
                body,
                r#"<tr><td><a href="/dashboard/users/{id}">{name}</a> {tags}<br><code class="muted">{id}</code></td><td>{email}</td><td>{phone}</td><td>{username}</td><td>{created}</td><td>{last}</td></tr>"#,
                id = escape(&user.id.0),
                name = escape(&label(user)),
                tags = standing_tags(s, user),
                email = escape(&primary_email(user).unwrap_or_default()),
                phone = escape(
                    &user
                        .phone_numbers
                        .iter()
                        .find(|p| !p.reserved_for_second_factor)
                        .map(|p| p.value.clone())
                        .unwrap_or_default()
                ),
                username = escape(user.username.as_ref().map(|u| u.as_str()).unwrap_or("")),
                created = when(user.created_at),
                last = user.last_sign_in_at.map(when).unwrap_or_default(),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    let shown = u64::from(offset) + page.users.len() as u64;
    let mut pager = String::new();
    if offset > 0 {
        let previous = offset.saturating_sub(PAGE).to_string();
        let _ = write!(
            pager,
            r#"<a href="/dashboard/users{}">Newer</a> "#,
            escape(&query(&[("q", &q), ("offset", &previous)]))
        );
    }
    if shown < total {
        let next = (offset + PAGE).to_string();
        let _ = write!(
            pager,
            r#"<a href="/dashboard/users{}">Older</a>"#,
            escape(&query(&[("q", &q), ("offset", &next)]))
        );
    }
    if !pager.is_empty() {
        let _ = write!(body, r#"<p class="actions">{pager}</p>"#);
    }
    s.page(StatusCode::OK, "/users", "Users", &body)
}

/// The fields of the new-user form, kept when it is refused.
#[derive(Debug, Default)]
pub(crate) struct NewUserForm {
    email: String,
    phone: String,
    username: String,
    first_name: String,
    last_name: String,
}

/// `GET /dashboard/users/new`, or the form again with what was refused.
pub(crate) fn new_page(s: &Screen<'_>, error: Option<&str>, form: &NewUserForm) -> ApiResponse {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"{error}<div class="card"><form class="stack" method="post" action="/dashboard/users">{csrf}
<label>Email address<input name="email" type="email" value="{email}"></label>
<label>Phone number (E.164)<input name="phone" value="{phone}" placeholder="+15550001111"></label>
<label>Username<input name="username" value="{username}"></label>
<label>Password<input name="password" type="password" autocomplete="new-password"></label>
<label>First name<input name="first_name" value="{first}"></label>
<label>Last name<input name="last_name" value="{last}"></label>
<button type="submit">Create user</button>
</form></div>"#,
        csrf = csrf(s.signed),
        email = escape(&form.email),
        phone = escape(&form.phone),
        username = escape(&form.username),
        first = escape(&form.first_name),
        last = escape(&form.last_name),
    );
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    s.page(status, "/users", "New user", &body)
}

/// `POST /dashboard/users`.
pub(crate) async fn create(s: &Screen<'_>) -> ApiResponse {
    let form = NewUserForm {
        email: s.field("email").trim().to_owned(),
        phone: s.field("phone").trim().to_owned(),
        username: s.field("username").trim().to_owned(),
        first_name: s.field("first_name").trim().to_owned(),
        last_name: s.field("last_name").trim().to_owned(),
    };
    let password = s.field("password");
    let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let params = CreateUser {
        email_addresses: some(&form.email).into_iter().collect(),
        phone_numbers: some(&form.phone).into_iter().collect(),
        username: some(&form.username),
        password: some(&password),
        first_name: some(&form.first_name),
        last_name: some(&form.last_name),
        ..CreateUser::default()
    };
    match s.state.services.users.create_user(params).await {
        Ok(user) => redirect(&format!("/dashboard/users/{}?done=created", user.id.0)),
        Err(err @ (Error::Unavailable | Error::Internal(_))) => crate::auth::failure(err),
        Err(err) => new_page(s, Some(&crate::auth::wording(err)), &form),
    }
}

/// `GET /dashboard/users/{id}`.
pub(crate) async fn show(s: &Screen<'_>, id: &str) -> ApiResponse {
    let services = &s.state.services;
    let user = match services.users.get_user(id).await {
        Ok(user) => user,
        Err(err) => return s.error("/users", err),
    };
    let sessions = active_sessions(s, &user, 50).await;
    let audit = services
        .audit
        .query(AuditQuery {
            user_id: Some(user.id.0.clone()),
            limit: 20,
            ..AuditQuery::default()
        })
        .await;
    let operator = services.operators.is_operator(&user.id.0).await;
    let (sessions, audit, operator) = match (sessions, audit, operator) {
        (Ok(sessions), Ok(audit), Ok(operator)) => (sessions, audit, operator),
        (Err(err), _, _) | (_, Err(err), _) | (_, _, Err(err)) => return s.error("/users", err),
    };
    let token = &s.signed.csrf;
    let uid = escape(&user.id.0);
    let now = s.state.now();
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<p><code>{uid}</code> {tags}{op}</p>"#,
        tags = standing_tags(s, &user),
        op = if operator {
            r#"<span class="tag">operator</span>"#
        } else {
            ""
        }
    );
    // Actions on the account.
    let base = format!("/users/{}", user.id.0);
    let locked = user.locked_until.is_some_and(|until| until > now);
    let mut actions = String::new();
    actions.push_str(&if locked {
        button_form(
            &format!("{base}/unlock"),
            token,
            "Unlock",
            "secondary",
            None,
        )
    } else {
        button_form(
            &format!("{base}/lock"),
            token,
            "Lock",
            "secondary",
            Some("Lock this user? They cannot sign in until unlocked."),
        )
    });
    actions.push_str(&if user.banned {
        button_form(&format!("{base}/unban"), token, "Unban", "secondary", None)
    } else {
        button_form(
            &format!("{base}/ban"),
            token,
            "Ban",
            "danger",
            Some("Ban this user? Every session of theirs is revoked."),
        )
    });
    if operator {
        actions.push_str(&button_form(
            &format!("/operators/{}/revoke", user.id.0),
            token,
            "Revoke operator role",
            "secondary",
            Some("Take the operator role away from this user?"),
        ));
    } else {
        let _ = write!(
            actions,
            r#"<form class="inline" method="post" action="/dashboard/operators" data-confirm="Make this user an operator of the dashboard?">{csrf}<input type="hidden" name="user_id" value="{uid}"><button type="submit" class="secondary">Make operator</button></form>"#,
            csrf = csrf(s.signed),
        );
    }
    let _ = write!(
        actions,
        r#"<a href="/dashboard/users/{uid}/delete">Delete…</a>"#
    );
    let _ = write!(body, r#"<div class="actions">{actions}</div>"#);

    // Profile and edit form.
    let _ = write!(
        body,
        r#"<h2>Profile</h2><div class="card"><form class="stack" method="post" action="/dashboard/users/{uid}">{csrf}
<label>First name<input name="first_name" value="{first}"></label>
<label>Last name<input name="last_name" value="{last}"></label>
<label>Username<input name="username" value="{username}"></label>
<button type="submit">Save</button>
</form></div>
<div class="card"><dl>
<dt>Created</dt><dd>{created}</dd>
<dt>Last sign-in</dt><dd>{last_sign_in}</dd>
<dt>Password</dt><dd>{password}</dd>
<dt>Failed attempts</dt><dd>{failed}</dd>
<dt>Locked until</dt><dd>{locked_until}</dd>
<dt>External id</dt><dd>{external}</dd>
</dl></div>"#,
        csrf = csrf(s.signed),
        first = escape(user.first_name.as_deref().unwrap_or("")),
        last = escape(user.last_name.as_deref().unwrap_or("")),
        username = escape(user.username.as_ref().map(|u| u.as_str()).unwrap_or("")),
        created = when(user.created_at),
        last_sign_in = user
            .last_sign_in_at
            .map(when)
            .unwrap_or_else(|| "never".into()),
        password = match (&user.password_digest, user.password_updated_at) {
            (None, _) => "none".to_owned(),
            (Some(_), Some(at)) => format!("set, changed {}", when(at)),
            (Some(_), None) => "set".to_owned(),
        },
        failed = user.failed_attempts,
        locked_until = match user.locked_until {
            Some(until) if until > now && until.0 >= i64::MAX / 2 => "until unlocked".to_owned(),
            Some(until) if until > now => when(until),
            _ => "not locked".to_owned(),
        },
        external = escape(user.external_id.as_deref().unwrap_or("")),
    );

    // Identifiers.
    body.push_str(r#"<h2>Identifiers</h2><div class="scroll"><table><thead><tr><th>Kind</th><th>Value</th><th>Verified</th><th></th></tr></thead><tbody>"#);
    for email in &user.email_addresses {
        let primary = Some(&email.id) == user.primary_email_address_id.as_ref();
        let _ = write!(
            body,
            r#"<tr><td>Email</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&email.value),
            yes_no(email.verified),
            if primary { "primary" } else { "" }
        );
    }
    for phone in &user.phone_numbers {
        let primary = Some(&phone.id) == user.primary_phone_number_id.as_ref();
        let role = match (primary, phone.reserved_for_second_factor) {
            (_, true) => "second factor",
            (true, false) => "primary",
            _ => "",
        };
        let _ = write!(
            body,
            r#"<tr><td>Phone</td><td>{}</td><td>{}</td><td>{role}</td></tr>"#,
            escape(&phone.value),
            yes_no(phone.verified),
        );
    }
    if let Some(username) = &user.username {
        let _ = write!(
            body,
            r#"<tr><td>Username</td><td>{}</td><td></td><td></td></tr>"#,
            escape(username.as_str())
        );
    }
    body.push_str("</tbody></table></div>");

    // Second factors.
    let _ = write!(
        body,
        r#"<h2>Second factors</h2><div class="card"><dl>
<dt>Authenticator app</dt><dd>{totp}</dd>
<dt>Backup codes</dt><dd>{backup}</dd>
<dt>SMS</dt><dd>{sms}</dd>
</dl></div>"#,
        totp = if user.totp_secret.is_some() {
            "on"
        } else {
            "off"
        },
        backup = if user.backup_codes.is_empty() {
            "none".to_owned()
        } else {
            format!("{} left", user.backup_codes.len())
        },
        sms = if user
            .phone_numbers
            .iter()
            .any(|p| p.reserved_for_second_factor && p.verified)
        {
            "on"
        } else {
            "off"
        },
    );

    // Connected accounts.
    body.push_str("<h2>Connected accounts</h2>");
    if user.external_accounts.is_empty() {
        body.push_str(r#"<p class="muted">None.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th>Provider</th><th>Email</th><th>Subject</th></tr></thead><tbody>"#);
        for account in &user.external_accounts {
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{}{}</td><td><code>{}</code></td></tr>"#,
                escape(&account.provider),
                escape(account.email.as_deref().unwrap_or("")),
                if account.email_verified {
                    " (verified)"
                } else {
                    ""
                },
                escape(&account.subject),
            );
        }
        body.push_str("</tbody></table></div>");
    }

    // Sessions.
    let _ = write!(body, "<h2>Active sessions ({})</h2>", sessions.total_count);
    body.push_str(&sessions_table(s, &sessions.sessions, false));

    // Recent audit entries.
    let _ = write!(
        body,
        r#"<h2>Recent audit entries</h2><p><a href="/dashboard/audit?user={uid}">All entries of this user</a></p>"#
    );
    body.push_str(&crate::screens::audit_table(&audit));

    s.page(StatusCode::OK, "/users", &label(&user), &body)
}

fn yes_no(value: bool) -> &'static str {
    if value {
        r#"<span class="tag good">verified</span>"#
    } else {
        r#"<span class="tag bad">unverified</span>"#
    }
}

/// A table of sessions with their device, address and a revoke button.
pub(crate) fn sessions_table(s: &Screen<'_>, sessions: &[SessionView], with_user: bool) -> String {
    if sessions.is_empty() {
        return r#"<p class="muted">No active session.</p>"#.to_owned();
    }
    let mut out = String::from(r#"<div class="scroll"><table><thead><tr>"#);
    if with_user {
        out.push_str("<th>User</th>");
    }
    out.push_str("<th>Session</th><th>Device</th><th>IP address</th><th>Started</th><th>Last active</th><th>Expires</th><th></th></tr></thead><tbody>");
    for view in sessions {
        let session = &view.session;
        let agent = session
            .origin
            .user_agent
            .as_deref()
            .map(Agent::parse)
            .unwrap_or_default();
        let device = [
            agent.browser.as_ref().map(|b| match &b.version {
                Some(v) => format!("{} {v}", b.name),
                None => b.name.to_owned(),
            }),
            agent.device.map(|d| d.name().to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" on ");
        let own = session.id.as_str() == s.signed.session_id;
        out.push_str("<tr>");
        if with_user {
            let _ = write!(
                out,
                r#"<td><a href="/dashboard/users/{}">{}</a></td>"#,
                escape(&view.user.id.0),
                escape(&label(&view.user))
            );
        }
        let _ = write!(
            out,
            r#"<td><code>{sid}</code>{own}</td><td>{device}</td><td>{ip}</td><td>{started}</td><td>{active}</td><td>{expires}</td><td>{revoke}</td></tr>"#,
            sid = escape(session.id.as_str()),
            own = if own {
                r#" <span class="tag">this dashboard</span>"#
            } else {
                ""
            },
            device = escape(if device.is_empty() {
                "unknown"
            } else {
                &device
            }),
            ip = escape(session.origin.ip_address.as_deref().unwrap_or("")),
            started = when(session.created_at),
            active = when(session.last_active_at),
            expires = when(session.expire_at),
            revoke = if view.status == SessionStatus::Active {
                button_form(
                    &format!(
                        "/users/{}/sessions/{}/revoke",
                        view.user.id.0,
                        session.id.as_str()
                    ),
                    &s.signed.csrf,
                    "Revoke",
                    "secondary",
                    Some("Revoke this session? Its device is signed out."),
                )
            } else {
                escape(view.status.as_str())
            },
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// `POST /dashboard/users/{id}`: names and username.
pub(crate) async fn edit(s: &Screen<'_>, id: &str) -> ApiResponse {
    let optional = |v: String| {
        let v = v.trim().to_owned();
        Some((!v.is_empty()).then_some(v))
    };
    let patch = UserPatch {
        first_name: optional(s.field("first_name")),
        last_name: optional(s.field("last_name")),
        username: optional(s.field("username")),
        ..UserPatch::default()
    };
    match s.state.services.users.update_user(id, patch).await {
        Ok(user) => redirect(&format!("/dashboard/users/{}?done=saved", user.id.0)),
        Err(err) => s.error("/users", err),
    }
}

/// `POST /dashboard/users/{id}/{lock,unlock,ban,unban}`.
pub(crate) async fn standing(s: &Screen<'_>, id: &str, action: &str) -> ApiResponse {
    if matches!(action, "lock" | "ban") && id == s.signed.user.id.0 {
        return s.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/users",
            "Not done",
            r#"<p class="error" role="alert">You cannot lock or ban your own account from the dashboard.</p>"#,
        );
    }
    let users = &s.state.services.users;
    let done = match action {
        "lock" => users.lock_user(id).await,
        "unlock" => users.unlock_user(id).await,
        "ban" => users.ban_user(id).await,
        _ => users.unban_user(id).await,
    };
    match done {
        Ok(user) => redirect(&format!("/dashboard/users/{}?done={action}", user.id.0)),
        Err(err) => s.error("/users", err),
    }
}

/// `GET /dashboard/users/{id}/delete`: the confirmation.
pub(crate) async fn confirm_delete(s: &Screen<'_>, id: &str) -> ApiResponse {
    let user = match s.state.services.users.get_user(id).await {
        Ok(user) => user,
        Err(err) => return s.error("/users", err),
    };
    let own = user.id == s.signed.user.id;
    let body = if own {
        r#"<p class="error">You cannot delete your own account from the dashboard.</p>"#.to_owned()
    } else {
        format!(
            r#"<div class="card"><p>Delete <strong>{name}</strong> (<code>{uid}</code>)? Their identifiers, second factors, connected accounts and sessions go with them, and applications are told (<code>user.deleted</code>). This cannot be undone.</p>
<form class="stack" method="post" action="/dashboard/users/{uid}/delete">{csrf}<input type="hidden" name="confirm" value="delete">
<button type="submit" class="danger">Delete this user</button></form>
<p><a href="/dashboard/users/{uid}">Cancel</a></p></div>"#,
            name = escape(&label(&user)),
            uid = escape(&user.id.0),
            csrf = csrf(s.signed),
        )
    };
    s.page(StatusCode::OK, "/users", "Delete user", &body)
}

/// `POST /dashboard/users/{id}/delete`, from its confirmation only.
pub(crate) async fn delete(s: &Screen<'_>, id: &str) -> ApiResponse {
    if s.field("confirm") != "delete" {
        return redirect(&format!("/dashboard/users/{}/delete", escape(id)));
    }
    if id == s.signed.user.id.0 {
        return s.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/users",
            "Not done",
            r#"<p class="error">You cannot delete your own account from the dashboard.</p>"#,
        );
    }
    match s.state.services.users.delete_user(id).await {
        Ok(()) => redirect("/dashboard/users?done=deleted"),
        Err(err) => s.error("/users", err),
    }
}

/// `POST /dashboard/users/{id}/sessions/{session}/revoke`.
pub(crate) async fn revoke_session(s: &Screen<'_>, id: &str, session: &str) -> ApiResponse {
    let sessions = &s.state.services.sessions;
    // The session must be the named user's: a link cannot be pointed at
    // another user's session by editing the path.
    match sessions.get_session(session).await {
        Ok(view) if view.user.id.0 == id => {}
        Ok(_) => {
            return s.error(
                "/users",
                Error::NotFound(latch_core::error::Resource::Session),
            );
        }
        Err(err) => return s.error("/users", err),
    }
    match sessions.revoke_session(session).await {
        Ok(_) => {
            let back = if s.field("back") == "sessions" {
                format!("/dashboard/sessions?user={id}&done=revoked")
            } else {
                format!("/dashboard/users/{id}?done=revoked")
            };
            redirect(&back)
        }
        Err(err) => s.error("/users", err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_read_by_its_form() {
        assert_eq!(user_query("user_2abc").user_ids, ["user_2abc"]);
        assert_eq!(
            user_query(" ann@example.com ").email_addresses,
            ["ann@example.com"]
        );
        assert_eq!(user_query("+15550001111").phone_numbers, ["+15550001111"]);
        assert_eq!(user_query("ann").usernames, ["ann"]);
        assert_eq!(user_query(""), UserQuery::default());
    }
}

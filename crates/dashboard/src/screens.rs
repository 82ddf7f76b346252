//! The other screens: sessions by user, the audit log with its filters,
//! webhooks (endpoints, their messages, a message's attempts, replays),
//! operators (grant, revoke).

use std::fmt::Write as _;

use latch_api::http::ApiResponse;
use latch_core::error::Error;
use latch_core::model::{AuditAction, AuditEntry, AuditQuery, Timestamp};
use warp::http::StatusCode;

use crate::Screen;
use crate::auth::csrf;
use crate::html::{button_form, escape, parse_day, query, redirect, when};
use crate::users::{active_sessions, find_one, label, sessions_table};

/// Active sessions shown when no user is named.
const ACTIVE_PAGE: u32 = 50;

/// Audit entries on one page.
const AUDIT_PAGE: u32 = 50;

/// `GET /dashboard/sessions?user=`: one user's active sessions, or the
/// instance's most recent ones.
pub(crate) async fn sessions(s: &Screen<'_>) -> ApiResponse {
    let who = s.query("user");
    let mut body = format!(
        r#"<form class="filters" method="get" action="/dashboard/sessions" role="search">
<label>User (email, phone, username or id)<input name="user" value="{who}"></label>
<button type="submit">Show sessions</button>
</form>"#,
        who = escape(&who)
    );
    if who.is_empty() {
        let page = match s.state.services.sessions.active_now(ACTIVE_PAGE).await {
            Ok(page) => page,
            Err(err) => return s.error("/sessions", err),
        };
        let _ = write!(
            body,
            r#"<h2>Active now: {}</h2><p class="muted">The {} most recent; name a user for all of theirs.</p>"#,
            page.total_count, ACTIVE_PAGE
        );
        body.push_str(&sessions_table(s, &page.sessions, true));
        return s.page(StatusCode::OK, "/sessions", "Sessions", &body);
    }
    let user = match find_one(s, &who).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            body.push_str(r#"<p class="card">No user found.</p>"#);
            return s.page(StatusCode::OK, "/sessions", "Sessions", &body);
        }
        Err(err) => return s.error("/sessions", err),
    };
    let page = active_sessions(s, &user, 100).await;
    let page = match page {
        Ok(page) => page,
        Err(err) => return s.error("/sessions", err),
    };
    let _ = write!(
        body,
        r#"<h2><a href="/dashboard/users/{}">{}</a>: {} active</h2>"#,
        escape(&user.id.0),
        escape(&label(&user)),
        page.total_count
    );
    body.push_str(&sessions_table(s, &page.sessions, true));
    s.page(StatusCode::OK, "/sessions", "Sessions", &body)
}

/// `GET /dashboard/audit?action=&user=&since=&until=&before=`.
pub(crate) async fn audit(s: &Screen<'_>) -> ApiResponse {
    let action = s.query("action");
    let who = s.query("user");
    let since = s.query("since");
    let until = s.query("until");
    let before = s.query("before");
    let mut problems = Vec::new();
    let mut filter = AuditQuery {
        limit: AUDIT_PAGE,
        ..AuditQuery::default()
    };
    if !action.is_empty() {
        match AuditAction::parse(&action) {
            Some(a) => filter.actions.push(a),
            None => problems.push("The action is not one the log records."),
        }
    }
    if !who.is_empty() {
        match find_one(s, &who).await {
            Ok(Some(user)) => filter.user_id = Some(user.id.0),
            // An id of a deleted user still names its entries.
            Ok(None) if who.starts_with("user_") => filter.user_id = Some(who.clone()),
            Ok(None) => problems.push("No user found for that filter."),
            Err(err) => return s.error("/audit", err),
        }
    }
    for (text, slot, next_day, name) in [
        (&since, &mut filter.since, false, "From"),
        (&until, &mut filter.until, true, "To"),
    ] {
        if text.is_empty() {
            continue;
        }
        match parse_day(text) {
            // "To" includes its whole day.
            Some(day) if next_day => *slot = Some(Timestamp(day.0 + 86_400_000)),
            Some(day) => *slot = Some(day),
            None => problems.push(if name == "From" {
                "The start date is not a date (YYYY-MM-DD)."
            } else {
                "The end date is not a date (YYYY-MM-DD)."
            }),
        }
    }
    if !before.is_empty() {
        match before.parse::<i64>() {
            Ok(cursor) if cursor > 0 => filter.before = Some(cursor),
            _ => problems.push("The page cursor is not valid."),
        }
    }
    let mut options = String::from(r#"<option value="">Any</option>"#);
    for a in AuditAction::ALL {
        let selected = if a.as_str() == action {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            r#"<option value="{0}"{selected}>{0}</option>"#,
            a.as_str()
        );
    }
    let mut body = format!(
        r#"<form class="filters" method="get" action="/dashboard/audit" role="search">
<label>Action<select name="action">{options}</select></label>
<label>User<input name="user" value="{who}" placeholder="email or user_…"></label>
<label>From<input name="since" type="date" value="{since}"></label>
<label>To<input name="until" type="date" value="{until}"></label>
<button type="submit">Filter</button>
</form>"#,
        who = escape(&who),
        since = escape(&since),
        until = escape(&until),
    );
    if !problems.is_empty() {
        for p in &problems {
            let _ = write!(body, r#"<p class="error" role="alert">{}</p>"#, escape(p));
        }
        return s.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/audit",
            "Audit log",
            &body,
        );
    }
    let entries = match s.state.services.audit.query(filter).await {
        Ok(entries) => entries,
        Err(err) => return s.error("/audit", err),
    };
    body.push_str(&audit_table(&entries));
    if entries.len() == AUDIT_PAGE as usize
        && let Some((cursor, _)) = entries.last()
    {
        let cursor = cursor.to_string();
        let _ = write!(
            body,
            r#"<p class="actions"><a href="/dashboard/audit{}">Older entries</a></p>"#,
            escape(&query(&[
                ("action", &action),
                ("user", &who),
                ("since", &since),
                ("until", &until),
                ("before", &cursor)
            ]))
        );
    }
    s.page(StatusCode::OK, "/audit", "Audit log", &body)
}

/// A table of audit entries, newest first.
pub(crate) fn audit_table(entries: &[(i64, AuditEntry)]) -> String {
    if entries.is_empty() {
        return r#"<p class="muted">No entry.</p>"#.to_owned();
    }
    let mut out = String::from(
        r#"<div class="scroll"><table><thead><tr><th>When (UTC)</th><th>Action</th><th>Actor</th><th>User</th><th>IP address</th><th>Detail</th></tr></thead><tbody>"#,
    );
    for (_, e) in entries {
        let detail = e
            .detail
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let user = e
            .user_id
            .as_deref()
            .map(|id| {
                format!(
                    r#"<a href="/dashboard/users/{0}"><code>{0}</code></a>"#,
                    escape(id)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{user}</td><td>{}</td><td class="mono">{detail}</td></tr>"#,
            when(e.at),
            escape(e.action.as_str()),
            escape(e.actor.as_str()),
            escape(e.client_ip.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// `GET /dashboard/webhooks`: the endpoints.
pub(crate) async fn webhooks(s: &Screen<'_>) -> ApiResponse {
    let endpoints = match s.state.services.webhooks.list_endpoints().await {
        Ok(endpoints) => endpoints,
        Err(err) => return s.error("/webhooks", err),
    };
    let mut body = String::new();
    if endpoints.is_empty() {
        body.push_str(r#"<p class="card">No endpoint. Endpoints are added in the configuration (<code>[[webhooks.endpoints]]</code>) or through the Backend API.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th>Endpoint</th><th>URL</th><th>Events</th><th>State</th></tr></thead><tbody>"#);
        for e in &endpoints {
            let events = if e.event_types.is_empty() {
                "all".to_owned()
            } else {
                e.event_types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let state = match (&e.disabled, &e.disabled_reason, e.failing_since) {
                (true, Some(reason), _) => format!(
                    r#"<span class="tag bad">disabled</span> {}"#,
                    escape(reason)
                ),
                (true, None, _) => r#"<span class="tag bad">disabled</span>"#.to_owned(),
                (false, _, Some(since)) => format!(
                    r#"<span class="tag bad">failing since {}</span>"#,
                    when(since)
                ),
                (false, _, None) => r#"<span class="tag good">enabled</span>"#.to_owned(),
            };
            let _ = write!(
                body,
                r#"<tr><td><a href="/dashboard/webhooks/{id}"><code>{id}</code></a><br>{desc}</td><td class="mono">{url}</td><td>{events}</td><td>{state}</td></tr>"#,
                id = escape(&e.id),
                desc = escape(&e.description),
                url = escape(&e.url),
                events = escape(&events),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    s.page(StatusCode::OK, "/webhooks", "Webhooks", &body)
}

/// `GET /dashboard/webhooks/{id}`: an endpoint's recent messages.
pub(crate) async fn endpoint(s: &Screen<'_>, id: &str) -> ApiResponse {
    let hooks = &s.state.services.webhooks;
    let endpoint = match hooks.endpoint(id).await {
        Ok(endpoint) => endpoint,
        Err(err) => return s.error("/webhooks", err),
    };
    let messages = match hooks.messages(Some(id), None, 100).await {
        Ok(messages) => messages,
        Err(err) => return s.error("/webhooks", err),
    };
    let eid = escape(&endpoint.id);
    let mut body = format!(
        r#"<p class="mono">{}</p><h2>Recent messages</h2>"#,
        escape(&endpoint.url)
    );
    if messages.is_empty() {
        body.push_str(r#"<p class="muted">No message yet.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th>Event</th><th>Type</th><th>Status</th><th>Attempts</th><th>Last answer</th><th>Created</th><th></th></tr></thead><tbody>"#);
        for m in &messages {
            let answer = match (m.last_status_code, &m.last_error) {
                (Some(code), _) => code.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => String::new(),
            };
            let _ = write!(
                body,
                r#"<tr><td><a href="/dashboard/webhooks/{eid}/messages/{ev}"><code>{ev}</code></a></td><td>{ty}</td><td>{status}</td><td>{attempts}</td><td>{answer}</td><td>{created}</td><td>{replay}</td></tr>"#,
                ev = escape(&m.event_id),
                ty = escape(&m.event_type),
                status = escape(m.status.as_str()),
                attempts = m.attempts,
                answer = escape(&answer),
                created = when(m.created_at),
                replay = button_form(
                    &format!("/webhooks/{}/messages/{}/replay", endpoint.id, m.event_id),
                    &s.signed.csrf,
                    "Replay",
                    "secondary",
                    None
                ),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    s.page(
        StatusCode::OK,
        "/webhooks",
        &format!("Endpoint {}", endpoint.id),
        &body,
    )
}

/// `GET /dashboard/webhooks/{id}/messages/{event}`: a message's attempts.
pub(crate) async fn message(s: &Screen<'_>, id: &str, event: &str) -> ApiResponse {
    let hooks = &s.state.services.webhooks;
    let (message, attempts) = match (
        hooks.message(event, id).await,
        hooks.attempts(event, id).await,
    ) {
        (Ok(m), Ok(a)) => (m, a),
        (Err(err), _) | (_, Err(err)) => return s.error("/webhooks", err),
    };
    let mut body = format!(
        r#"<div class="card"><dl><dt>Event</dt><dd><code>{ev}</code></dd><dt>Type</dt><dd>{ty}</dd><dt>Status</dt><dd>{status}</dd><dt>Next attempt</dt><dd>{due}</dd></dl></div><div class="actions">{replay}<a href="/dashboard/webhooks/{eid}">Back to the endpoint</a></div><h2>Attempts</h2>"#,
        ev = escape(&message.event_id),
        ty = escape(&message.event_type),
        status = escape(message.status.as_str()),
        due = when(message.due_at),
        eid = escape(&message.endpoint_id),
        replay = button_form(
            &format!(
                "/webhooks/{}/messages/{}/replay",
                message.endpoint_id, message.event_id
            ),
            &s.signed.csrf,
            "Replay",
            "secondary",
            None
        ),
    );
    if attempts.is_empty() {
        body.push_str(r#"<p class="muted">Not attempted yet.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th>When (UTC)</th><th>Outcome</th><th>Status code</th><th>Error</th><th>Duration</th></tr></thead><tbody>"#);
        for a in &attempts {
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td></tr>"#,
                when(a.at),
                if a.succeeded() {
                    r#"<span class="tag good">delivered</span>"#
                } else {
                    r#"<span class="tag bad">failed</span>"#
                },
                a.status_code.map(|c| c.to_string()).unwrap_or_default(),
                escape(a.error.as_deref().unwrap_or("")),
                a.duration_ms,
            );
        }
        body.push_str("</tbody></table></div>");
    }
    s.page(StatusCode::OK, "/webhooks", "Message", &body)
}

/// `POST /dashboard/webhooks/{id}/messages/{event}/replay`.
pub(crate) async fn replay(s: &Screen<'_>, id: &str, event: &str) -> ApiResponse {
    match s.state.services.webhooks.replay(event, id).await {
        Ok(m) => redirect(&format!(
            "/dashboard/webhooks/{}/messages/{}?done=replayed",
            m.endpoint_id, m.event_id
        )),
        Err(err) => s.error("/webhooks", err),
    }
}

/// `GET /dashboard/operators`.
pub(crate) async fn operators(s: &Screen<'_>) -> ApiResponse {
    let operators = match s.state.services.operators.list().await {
        Ok(operators) => operators,
        Err(err) => return s.error("/operators", err),
    };
    let mut body = String::from(
        r#"<div class="scroll"><table><thead><tr><th>Operator</th><th>Granted</th><th>By</th><th></th></tr></thead><tbody>"#,
    );
    for view in &operators {
        let op = &view.operator;
        let name = view
            .user
            .as_ref()
            .map(label)
            .unwrap_or_else(|| op.user_id.0.clone());
        let by = match &op.granted_by {
            Some(by) => format!(
                r#"<a href="/dashboard/users/{0}"><code>{0}</code></a>"#,
                escape(&by.0)
            ),
            None => "Latch (command line or setup)".to_owned(),
        };
        let revoke = if operators.len() > 1 {
            button_form(
                &format!("/operators/{}/revoke", op.user_id.0),
                &s.signed.csrf,
                "Revoke",
                "secondary",
                Some("Take the operator role away from this user?"),
            )
        } else {
            r#"<span class="muted">last operator</span>"#.to_owned()
        };
        let _ = write!(
            body,
            r#"<tr><td><a href="/dashboard/users/{id}">{name}</a><br><code class="muted">{id}</code></td><td>{at}</td><td>{by}</td><td>{revoke}</td></tr>"#,
            id = escape(&op.user_id.0),
            name = escape(&name),
            at = when(op.granted_at),
        );
    }
    body.push_str("</tbody></table></div>");
    let _ = write!(
        body,
        r#"<h2>Grant the role</h2><div class="card"><form class="stack" method="post" action="/dashboard/operators">{csrf}
<label>User (email, phone, username or id)<input name="user" required></label>
<button type="submit">Make operator</button>
</form></div>"#,
        csrf = csrf(s.signed)
    );
    s.page(StatusCode::OK, "/operators", "Operators", &body)
}

/// `POST /dashboard/operators`: the user named by `user_id` or `user`.
pub(crate) async fn grant(s: &Screen<'_>) -> ApiResponse {
    let named = match s.field("user_id") {
        id if !id.is_empty() => id,
        _ => s.field("user"),
    };
    let user = match find_one(s, &named).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return s.error(
                "/operators",
                Error::NotFound(latch_core::error::Resource::User),
            );
        }
        Err(err) => return s.error("/operators", err),
    };
    match s.state.services.operators.grant(&user.id.0).await {
        Ok(_) => redirect("/dashboard/operators?done=granted"),
        Err(err) => s.error("/operators", err),
    }
}

/// `POST /dashboard/operators/{id}/revoke`. An operator who revokes their
/// own role is signed out of the dashboard at their next request.
pub(crate) async fn revoke(s: &Screen<'_>, id: &str) -> ApiResponse {
    match s.state.services.operators.revoke(id).await {
        Ok(()) => redirect("/dashboard/operators?done=operator_revoked"),
        Err(err) => s.error("/operators", err),
    }
}

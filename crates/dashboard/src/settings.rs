//! Settings > User management: every runtime setting, grouped as Clerk's
//! dashboard groups them, in one form over the settings document; a refusal
//! is shown next to the field it names, with what was typed kept. Below it,
//! the allowlist and the blocklist.
//!
//! The form is drawn from the document itself (a group per top-level key,
//! a field per setting), so a setting added to the document appears here
//! with no change to this file; only its label and its choices, where it
//! has some, are written down.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use warp::http::StatusCode;

use latch_api::http::ApiResponse;
use latch_core::error::{Error, Problem};
use latch_core::model::{AccessList, ListEntry};
use latch_core::service::SettingsView;

use crate::Screen;
use crate::html::{button_form, csrf_field, escape, redirect, when};

/// The groups in the order the screen shows them, with their titles.
const GROUPS: &[(&str, &str)] = &[
    ("email_address", "Email address"),
    ("phone_number", "Phone number"),
    ("username", "Username"),
    ("password", "Password"),
    ("personal_information", "Personal information"),
    ("multi_factor", "Multi-factor"),
    ("sso", "SSO connections"),
    ("sign_up", "Sign-up"),
    ("restrictions", "Restrictions"),
    ("attack_protection", "Attack protection"),
    ("sessions", "Sessions"),
    ("rate_limits", "Rate limits"),
];

/// Where a setting stands in its group: the switch that turns a thing on
/// first, then how it is used, then its numbers; the rest after, by name.
fn rank(key: &str) -> usize {
    const ORDER: &[&str] = &[
        "enabled",
        "used_for_sign_in",
        "sign_in_with_code",
        "required",
        "verify_at_sign_up",
        "min_length",
        "may_match_identifier",
        "mode",
        "legal_consent_required",
        "totp",
        "backup_code",
        "phone_code",
        "email_code",
        "allowlist",
        "blocklist",
        "allowlist_blocklist_disabled_on_sign_in",
        "block_email_subaddresses",
        "lockout_attempts",
        "lockout_duration_secs",
        "max_code_attempts",
        "enumeration_protection",
        "lifetime_secs",
        "token_lifetime_secs",
        "reverification_window_secs",
        "requests",
        "window_secs",
        "client_id",
        "client_secret",
        "scopes",
    ];
    ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len())
}

/// Settings whose value is one of a few words.
fn choices(path: &str) -> Option<&'static [&'static str]> {
    match path {
        "personal_information.first_name" | "personal_information.last_name" => {
            Some(&["off", "optional", "required"])
        }
        "sign_up.mode" => Some(&["public", "restricted"]),
        _ => None,
    }
}

/// A setting's label: a few written out, the rest from its key.
fn label(path: &str) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    let fixed = match key {
        "enabled" => "On",
        "used_for_sign_in" => "Used for sign-in",
        "required" => "Required at sign-up",
        "verify_at_sign_up" => "Verified at sign-up",
        "sign_in_with_code" => "Codes (sign in with a code; verify by code)",
        "phone_code" => "SMS code",
        "email_code" => "Email code",
        "totp" => "Authenticator app (TOTP)",
        "backup_code" => "Backup codes",
        "min_length" => "Minimum length",
        "may_match_identifier" => "May equal an identifier",
        "legal_consent_required" => "Legal consent required",
        "allowlist" => "Allowlist on",
        "blocklist" => "Blocklist on",
        "allowlist_blocklist_disabled_on_sign_in" => "Lists apply to sign-ups only",
        "block_email_subaddresses" => "Refuse email subaddresses (name+tag@) at sign-up",
        "lockout_attempts" => "Failed attempts before lockout (0: off)",
        "lockout_duration_secs" => "Lockout duration (seconds)",
        "max_code_attempts" => "Wrong codes before a code is burned",
        "enumeration_protection" => "Enumeration protection",
        "lifetime_secs" => "Session lifetime (seconds)",
        "token_lifetime_secs" => "Session token lifetime (seconds)",
        "reverification_window_secs" => "Reverification window (seconds)",
        "delete_self_enabled" => "Users may delete their account",
        "requests" => "Requests (0: off)",
        "window_secs" => "Window (seconds)",
        "client_id" => "Client ID",
        "client_secret" => "Client secret (leave empty to keep it)",
        "scopes" => "Scopes (space-separated; empty: the provider's defaults)",
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            return chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
        }
    };
    fixed.to_owned()
}

/// A write-only setting: a provider's client secret.
fn is_secret(path: &str) -> bool {
    path.ends_with(".client_secret")
}

/// Whether `path` is pinned by one of `pins` (itself or a group above it).
fn pinned(pins: &[String], path: &str) -> bool {
    pins.iter().any(|pin| {
        path == pin
            || path
                .strip_prefix(pin.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// A refusal to show: the field it names (if one of the form's) and why.
struct Refusal {
    path: Option<String>,
    text: String,
}

/// What the form shows: the document's values, or those just typed.
struct Form<'a> {
    values: &'a Value,
    pins: &'a [String],
    refusal: Option<&'a Refusal>,
}

impl Form<'_> {
    fn field(&self, out: &mut String, path: &str, value: &Value) {
        let name = escape(path);
        let locked = pinned(self.pins, path);
        let disabled = if locked { " disabled" } else { "" };
        let error = self
            .refusal
            .filter(|r| r.path.as_deref() == Some(path))
            .map(|r| {
                format!(
                    r#"<span class="error field-error" id="err-{name}" role="alert">{}</span>"#,
                    escape(&r.text)
                )
            });
        let described = if error.is_some() {
            format!(r#" aria-invalid="true" aria-describedby="err-{name}""#)
        } else {
            String::new()
        };
        let note = if locked {
            r#" <span class="tag">pinned by the configuration file</span>"#
        } else {
            ""
        };
        let label = escape(&label(path));
        match value {
            Value::Bool(on) => {
                let checked = if *on { " checked" } else { "" };
                let _ = write!(
                    out,
                    r#"<label class="check"><input type="checkbox" name="{name}" value="true"{checked}{disabled}{described}> {label}{note}</label>"#
                );
            }
            Value::String(current) if let Some(options) = choices(path) => {
                let options: String = options
                    .iter()
                    .map(|option| {
                        let selected = if option == current { " selected" } else { "" };
                        format!(r#"<option value="{option}"{selected}>{option}</option>"#)
                    })
                    .collect();
                let _ = write!(
                    out,
                    r#"<label>{label}{note}<select name="{name}"{disabled}{described}>{options}</select></label>"#
                );
            }
            // Write-only: never shown, kept when left empty.
            Value::String(_) if is_secret(path) => {
                let _ = write!(
                    out,
                    r#"<label>{label}{note}<input type="password" name="{name}" value="" autocomplete="new-password" placeholder="unchanged"{disabled}{described}></label>"#
                );
            }
            Value::String(current) => {
                let _ = write!(
                    out,
                    r#"<label>{label}{note}<input name="{name}" value="{value}" spellcheck="false"{disabled}{described}></label>"#,
                    value = escape(current)
                );
            }
            // A list of words (a provider's scopes), space-separated.
            Value::Array(items) => {
                let words: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                let _ = write!(
                    out,
                    r#"<label>{label}{note}<input name="{name}" value="{value}" spellcheck="false"{disabled}{described}></label>"#,
                    value = escape(&words.join(" "))
                );
            }
            other => {
                let shown = match other {
                    Value::Number(n) => n.to_string(),
                    _ => other.to_string(),
                };
                let _ = write!(
                    out,
                    r#"<label>{label}{note}<input name="{name}" value="{value}" inputmode="numeric"{disabled}{described}></label>"#,
                    value = escape(&shown)
                );
            }
        }
        if let Some(error) = error {
            out.push_str(&error);
        }
    }

    /// The fields under `value` (an object), named from `prefix`; nested
    /// objects (a provider, a rate limit) become fieldsets of their own.
    fn fields(&self, out: &mut String, prefix: &str, value: &Value) {
        let Value::Object(map) = value else {
            return;
        };
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by_key(|key| (rank(key), (*key).clone()));
        for key in keys {
            let value = &map[key];
            let path = format!("{prefix}.{key}");
            if value.is_object() {
                let _ = write!(
                    out,
                    r#"<fieldset class="sub"><legend>{}</legend>"#,
                    escape(&label(&path))
                );
                self.fields(out, &path, value);
                out.push_str("</fieldset>");
            } else {
                self.field(out, &path, value);
            }
        }
    }
}

/// The page: the form (with `refusal` beside its field, or above it), then
/// the lists.
async fn render(
    s: &Screen<'_>,
    view: &SettingsView,
    shown: &Value,
    refusal: Option<&Refusal>,
    status: StatusCode,
) -> ApiResponse {
    let mut body = String::new();
    if let Some(r) = refusal {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">Not saved: {}</p>"#,
            escape(&r.text)
        );
    }
    let _ = write!(
        body,
        r#"<p class="muted">Version {version}. A change is checked as a whole and is in force on every replica within seconds.</p>
<form method="post" action="/dashboard/settings" class="settings">{csrf}<input type="hidden" name="version" value="{version}">"#,
        version = view.version,
        csrf = csrf_field(&s.signed.csrf),
    );
    let form = Form {
        values: shown,
        pins: &view.pinned,
        refusal,
    };
    for (group, title) in GROUPS {
        let Some(value) = form.values.get(*group) else {
            continue;
        };
        if value.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        let _ = write!(
            body,
            r#"<fieldset class="card" id="{group}"><legend>{title}</legend>"#
        );
        form.fields(&mut body, group, value);
        body.push_str("</fieldset>");
    }
    body.push_str(
        r#"<div class="actions"><button type="submit">Save changes</button></div></form>"#,
    );
    body.push_str(&lists(s).await);
    s.page(status, "/settings", "Settings: user management", &body)
}

/// Both lists, each with its entries and a form to add one.
async fn lists(s: &Screen<'_>) -> String {
    let mut out = String::new();
    for (list, title, name) in [
        (AccessList::Allow, "Allowlist", "allow"),
        (AccessList::Block, "Blocklist", "block"),
    ] {
        let _ = write!(out, r#"<h2 id="{name}list">{title}</h2>"#);
        match s.state.services.instance.entries(list).await {
            Ok(entries) => out.push_str(&entries_table(s, name, &entries)),
            Err(err) => {
                let _ = write!(
                    out,
                    r#"<p class="error">{}</p>"#,
                    escape(&crate::auth::wording(err))
                );
            }
        }
        let _ = write!(
            out,
            r#"<form class="filters" method="post" action="/dashboard/settings/lists/{name}">{csrf}<label>Email address, phone number or domain<input name="identifier" required></label><button type="submit">Add to the {lower}</button></form>"#,
            csrf = csrf_field(&s.signed.csrf),
            lower = title.to_lowercase(),
        );
    }
    out
}

fn entries_table(s: &Screen<'_>, name: &str, entries: &[ListEntry]) -> String {
    if entries.is_empty() {
        return r#"<p class="muted">No entries.</p>"#.to_owned();
    }
    let mut out = String::from(
        r#"<div class="scroll"><table><thead><tr><th>Identifier</th><th>Kind</th><th>Added</th><th></th></tr></thead><tbody>"#,
    );
    for e in entries {
        let remove = button_form(
            &format!("/settings/lists/{name}/{}/remove", e.id),
            &s.signed.csrf,
            "Remove",
            "secondary",
            None,
        );
        let _ = write!(
            out,
            r#"<tr><td><code>{identifier}</code></td><td>{kind}</td><td>{at}</td><td>{remove}</td></tr>"#,
            identifier = escape(&e.identifier),
            kind = e.kind.as_str().replace('_', " "),
            at = when(e.created_at),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// `GET /dashboard/settings`.
pub(crate) async fn show(s: &Screen<'_>) -> ApiResponse {
    let view = s.state.services.instance.view();
    let shown = serde_json::to_value(&view.document).unwrap_or(Value::Null);
    render(s, &view, &shown, None, StatusCode::OK).await
}

/// The patch the form posts: every setting of the document that is not
/// pinned, read from its field (a checkbox not sent is off). A number that
/// does not read is refused at its field.
fn patch_of(
    s: &Screen<'_>,
    prefix: &str,
    value: &Value,
    pins: &[String],
) -> Result<Value, Refusal> {
    let Value::Object(map) = value else {
        return Ok(Value::Null);
    };
    let mut out = Map::new();
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if pinned(pins, &path) {
            continue;
        }
        let read = match value {
            Value::Object(_) => patch_of(s, &path, value, pins)?,
            Value::Bool(_) => Value::Bool(s.field(&path) == "true"),
            Value::Number(_) => {
                let typed = s.field(&path);
                let number: i64 = typed.trim().parse().map_err(|_| Refusal {
                    path: Some(path.clone()),
                    text: format!("{} must be a whole number.", label(&path)),
                })?;
                Value::from(number)
            }
            Value::Array(_) => s
                .field(&path)
                .split_whitespace()
                .map(|word| Value::String(word.to_owned()))
                .collect(),
            _ => Value::String(s.field(&path)),
        };
        out.insert(key.clone(), read);
    }
    Ok(Value::Object(out))
}

/// `POST /dashboard/settings`: the whole form, as one change over the
/// version it was drawn from.
pub(crate) async fn save(s: &Screen<'_>) -> ApiResponse {
    let instance = &s.state.services.instance;
    let view = instance.view();
    let document = serde_json::to_value(&view.document).unwrap_or(Value::Null);
    let patch = match patch_of(s, "", &document, &view.pinned) {
        Ok(patch) => patch,
        Err(refusal) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(s, &view, &document, Some(&refusal), status).await;
        }
    };
    let expected = s.field("version").parse::<u64>().ok();
    match instance.update(&patch, expected).await {
        Ok(_) => redirect("/dashboard/settings?done=settings_saved"),
        Err(err) => {
            let path = match &err {
                Error::InvalidParam {
                    param,
                    problem: Problem::Setting(_),
                } => Some(param.to_string()),
                _ => None,
            };
            let stale = matches!(err, Error::SettingsVersionStale { .. });
            let refusal = Refusal {
                path,
                text: crate::auth::wording(err),
            };
            if stale {
                // Another change came first: show what is in force now.
                let view = instance.view();
                let latest = serde_json::to_value(&view.document).unwrap_or(Value::Null);
                return render(s, &view, &latest, Some(&refusal), StatusCode::CONFLICT).await;
            }
            let mut shown = document;
            merge(&mut shown, &patch);
            render(
                s,
                &view,
                &shown,
                Some(&refusal),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `patch` laid over `target`, key by key.
fn merge(target: &mut Value, patch: &Value) {
    if let (Value::Object(target), Value::Object(patch)) = (target, patch) {
        for (key, value) in patch {
            match target.get_mut(key) {
                Some(slot) if slot.is_object() => merge(slot, value),
                Some(slot) => *slot = value.clone(),
                None => {}
            }
        }
    }
}

fn list_named(name: &str) -> Option<AccessList> {
    match name {
        "allow" => Some(AccessList::Allow),
        "block" => Some(AccessList::Block),
        _ => None,
    }
}

/// `POST /dashboard/settings/lists/{allow|block}`.
pub(crate) async fn add_entry(s: &Screen<'_>, name: &str) -> ApiResponse {
    let Some(list) = list_named(name) else {
        return s.error(
            "/settings",
            Error::NotFound(latch_core::error::Resource::ListEntry),
        );
    };
    match s
        .state
        .services
        .instance
        .add_entry(list, &s.field("identifier"))
        .await
    {
        Ok(_) => redirect(&format!("/dashboard/settings?done=listed#{name}list")),
        Err(err) => s.error("/settings", err),
    }
}

/// `POST /dashboard/settings/lists/{allow|block}/{id}/remove`.
pub(crate) async fn remove_entry(s: &Screen<'_>, name: &str, id: &str) -> ApiResponse {
    let Some(list) = list_named(name) else {
        return s.error(
            "/settings",
            Error::NotFound(latch_core::error::Resource::ListEntry),
        );
    };
    match s.state.services.instance.remove_entry(list, id).await {
        Ok(()) => redirect(&format!("/dashboard/settings?done=unlisted#{name}list")),
        Err(err) => s.error("/settings", err),
    }
}

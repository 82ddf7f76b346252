//! The pages' frame: the layout every page shares, the stylesheet and the
//! one small script (both served by the dashboard itself), the headers
//! every answer carries, and the little formatting the screens share.

use std::fmt::Write as _;

use latch_api::http::ApiResponse;
use latch_core::model::Timestamp;
use warp::http::{HeaderValue, StatusCode, header};

pub(crate) use latch_api::home::escape;

/// The policy of every dashboard answer: its own stylesheet and script,
/// pictures inline at most, forms to itself, never framed.
pub(crate) const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HTML: &str = "text/html; charset=utf-8";

/// The screens in the navigation, by path under `/dashboard` and label.
pub(crate) const NAV: [(&str, &str); 7] = [
    ("/users", "Users"),
    ("/sessions", "Sessions"),
    ("/audit", "Audit log"),
    ("/webhooks", "Webhooks"),
    ("/operators", "Operators"),
    ("/settings", "Settings"),
    ("/keys", "API keys"),
];

/// What a page shows of the operator signed in to it.
pub(crate) struct Chrome<'a> {
    /// The operator's name or address.
    pub who: &'a str,
    /// The form token of their session.
    pub csrf: &'a str,
    /// The screen the page belongs to (a `NAV` path).
    pub current: &'a str,
}

/// A whole page: `body` is HTML the caller built (every value in it
/// escaped); `chrome` is `None` on pages shown before sign-in.
pub(crate) fn page(
    status: StatusCode,
    title: &str,
    chrome: Option<&Chrome<'_>>,
    flash: Option<&str>,
    body: &str,
) -> ApiResponse {
    let mut html = String::with_capacity(body.len() + 2048);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · Latch dashboard</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<script src="/dashboard/assets/dashboard.js" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="/dashboard">Latch</a>"#,
        title = escape(title)
    );
    if let Some(chrome) = chrome {
        html.push_str(r#"<nav aria-label="Screens">"#);
        for (path, label) in NAV {
            let current = if path == chrome.current {
                r#" aria-current="page""#
            } else {
                ""
            };
            let _ = write!(html, r#"<a href="/dashboard{path}"{current}>{label}</a>"#);
        }
        let _ = write!(
            html,
            r#"</nav><form class="signout" method="post" action="/dashboard/sign-out">{csrf}<span>{who}</span> <button type="submit" class="link">Sign out</button></form>"#,
            csrf = csrf_field(chrome.csrf),
            who = escape(chrome.who),
        );
    }
    html.push_str("</header>\n<main>\n");
    if let Some(flash) = flash {
        let _ = write!(
            html,
            r#"<p class="flash" role="status">{}</p>"#,
            escape(flash)
        );
    }
    let _ = writeln!(html, "<h1>{}</h1>", escape(title));
    html.push_str(body);
    html.push_str("\n</main>\n</body>\n</html>\n");
    secured(ApiResponse::content(status, HTML, html))
}

/// A form's hidden token field.
pub(crate) fn csrf_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        escape(token)
    )
}

/// A form of one button that posts to `action` (under `/dashboard`).
/// `confirm`, when given, is asked by the page's script first.
pub(crate) fn button_form(
    action: &str,
    csrf: &str,
    label: &str,
    class: &str,
    confirm: Option<&str>,
) -> String {
    let confirm = confirm
        .map(|c| format!(r#" data-confirm="{}""#, escape(c)))
        .unwrap_or_default();
    format!(
        r#"<form class="inline" method="post" action="/dashboard{action}"{confirm}>{csrf}<button type="submit" class="{class}">{label}</button></form>"#,
        action = escape(action),
        csrf = csrf_field(csrf),
        label = escape(label),
        class = escape(class),
    )
}

/// `303 See Other` to `location` (a path on this origin): every form is
/// answered with a redirect, so a reload never posts again.
pub(crate) fn redirect(location: &str) -> ApiResponse {
    secured(ApiResponse::empty(StatusCode::SEE_OTHER).with_header(header::LOCATION, location))
}

/// The headers every dashboard answer carries, whatever else it says.
pub(crate) fn secured(mut response: ApiResponse) -> ApiResponse {
    let h = &mut response.headers;
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A static asset: cached for a while (its content changes only with a
/// new build), with the same policy as the pages.
pub(crate) fn asset(content_type: &'static str, text: &'static str) -> ApiResponse {
    let mut response = secured(ApiResponse::content(
        StatusCode::OK,
        content_type,
        text.to_owned(),
    ));
    response.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    response
}

/// A timestamp as `YYYY-MM-DD HH:MM` in UTC.
pub(crate) fn when(at: Timestamp) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ` read as `YYYY-MM-DD HH:MM`.
    at.rfc3339()
        .get(..16)
        .unwrap_or_default()
        .replacen('T', " ", 1)
}

/// `YYYY-MM-DD` (a UTC day) as the timestamp of its midnight.
pub(crate) fn parse_day(text: &str) -> Option<Timestamp> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // A day past the month's end (02-31) is refused rather than moved on.
    let midnight = Timestamp(days * 86_400_000);
    midnight
        .rfc3339()
        .starts_with(&format!("{y:04}-{m:02}-{d:02}T"))
        .then_some(midnight)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A query string of `pairs`, for links that keep a screen's filters.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// The stylesheet: plain CSS, one column on a phone, wider tables scroll
/// sideways in their own box.
pub(crate) const CSS: &str = r#":root{--fg:#1f2328;--muted:#59636e;--bg:#f6f7f9;--card:#fff;--line:#d8dee4;--accent:#4f36c9;--danger:#b42318;--ok:#14532d}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1f1b3a;color:#fff}
header.top a{color:#e6e1ff;text-decoration:none}
header.top .brand{font-weight:700;color:#fff;margin-right:.5rem}
header.top nav{display:flex;flex-wrap:wrap;gap:.25rem .9rem;flex:1}
header.top nav a[aria-current]{color:#fff;border-bottom:2px solid #a99bff}
header.top .signout{display:flex;align-items:center;gap:.4rem;font-size:.9rem}
header.top .signout .link{color:#e6e1ff}
main{max-width:70rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);white-space:nowrap}
tr:last-child td{border-bottom:0}
code,.mono{font:.85em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
form.stack{display:grid;gap:.75rem;max-width:28rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end;margin:0 0 1rem}
form.inline{display:inline}
label{display:grid;gap:.2rem;font-weight:600;font-size:.9rem}
input,select{font:inherit;padding:.45rem .55rem;border:1px solid var(--line);border-radius:6px;background:#fff;min-width:0}
button{font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}
button.danger{background:var(--danger);border-color:var(--danger)}
button.link{background:none;border:0;padding:0;color:var(--accent);text-decoration:underline}
.actions{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.5rem 0 1rem}
.flash{background:#e7f6ec;border:1px solid #a7dcb8;color:var(--ok);padding:.6rem .8rem;border-radius:6px}
.error{background:#fdecea;border:1px solid #f4b4ad;color:var(--danger);padding:.6rem .8rem;border-radius:6px}
.tag{display:inline-block;font-size:.78rem;padding:0 .5em;border-radius:1em;background:#eceaf9;color:#3b2a99;margin-right:.25rem}
.tag.bad{background:#fdecea;color:var(--danger)}
.tag.good{background:#e7f6ec;color:var(--ok)}
.muted{color:var(--muted)}
form.settings{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr))}
form.settings .actions{grid-column:1/-1}
fieldset{display:grid;gap:.6rem;align-content:start;margin:0;min-width:0}
fieldset legend{font-weight:700;padding:0 .3rem}
fieldset.sub{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
label.check{display:flex;gap:.5rem;align-items:center;font-weight:400}
.field-error{display:block;font-size:.85rem;padding:.3rem .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dt{color:var(--muted)}dd{margin:0;word-break:break-word}
@media (max-width:40rem){main{padding:.75rem}.scroll table{min-width:52rem}td{white-space:nowrap}td.mono{white-space:normal;min-width:22rem}dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}header.top nav{order:3;flex-basis:100%}}
"#;

/// The one script: asks before the forms that say so (`data-confirm`),
/// and moves the cursor to a page's first field.
pub(crate) const JS: &str = r#""use strict";
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("DOMContentLoaded", () => {
  const first = document.querySelector("main form.stack input:not([type=hidden])");
  if (first) first.focus();
});
"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn days_read_and_print_as_utc() {
        assert_eq!(when(Timestamp(0)), "1970-01-01 00:00");
        assert_eq!(when(Timestamp(1_700_000_000_000)), "2023-11-14 22:13");
        assert_eq!(parse_day("2024-02-29"), Some(Timestamp(1_709_164_800_000)));
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2023-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
        assert_eq!(parse_day(""), None);
    }

    #[test]
    fn every_page_carries_the_policy_and_escapes_its_title() {
        let response = page(StatusCode::OK, "<b>", None, None, "");
        let text = response.text.unwrap_or_default();
        assert!(text.contains("&lt;b&gt;"));
        assert!(!text.contains("<b>"));
        assert_eq!(
            response
                .headers
                .get(header::CONTENT_SECURITY_POLICY)
                .unwrap(),
            POLICY
        );
        assert_eq!(
            response.headers.get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }
}

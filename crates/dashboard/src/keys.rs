//! API keys: the publishable key, the secret key (shown on request), and
//! its rotation with an overlap, during which the replaced key still works.

use std::fmt::Write as _;

use warp::http::StatusCode;

use latch_api::http::ApiResponse;
use latch_core::model::Duration;

use crate::Screen;
use crate::html::{csrf_field, escape, redirect, when};

/// The overlaps offered, in hours.
const OVERLAPS: [(i64, &str); 5] = [
    (0, "none: refuse the old key at once"),
    (1, "1 hour"),
    (24, "24 hours"),
    (72, "3 days"),
    (168, "7 days"),
];

/// `sk_live_abc…wxyz`: enough to tell keys apart, not to use one.
fn masked(key: &str) -> String {
    let (prefix, rest) = key.split_at(key.rfind('_').map_or(0, |i| i + 1));
    let skip = rest.chars().count().saturating_sub(4);
    let tail: String = rest.chars().skip(skip).collect();
    format!("{prefix}…{tail}")
}

/// `GET /dashboard/keys`.
pub(crate) fn show(s: &Screen<'_>) -> ApiResponse {
    let keys = &s.state.services.secret_keys;
    let ring = keys.ring();
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<div class="card"><dl>
<dt>Publishable key</dt><dd><code>{publishable}</code></dd>
<dt>Secret key</dt><dd><code>{masked}</code> <details><summary>Show</summary><code>{secret}</code></details></dd>"#,
        publishable = escape(&s.state.config.publishable_key),
        masked = escape(&masked(&ring.current)),
        secret = escape(&ring.current),
    );
    if let Some((previous, until)) = &ring.previous {
        let state = if s.state.now() < *until {
            format!("still accepted until {} UTC", when(*until))
        } else {
            "no longer accepted".to_owned()
        };
        let _ = write!(
            body,
            r#"<dt>Replaced key</dt><dd><code>{}</code> <span class="muted">{state}</span></dd>"#,
            escape(&masked(previous))
        );
    }
    body.push_str("</dl></div>");
    if keys.rotatable() {
        let options: String = OVERLAPS
            .iter()
            .map(|(hours, label)| {
                let selected = if *hours == 24 { " selected" } else { "" };
                format!(r#"<option value="{hours}"{selected}>{label}</option>"#)
            })
            .collect();
        let _ = write!(
            body,
            r#"<h2>Rotate the secret key</h2><div class="card"><form class="stack" method="post" action="/dashboard/keys/rotate" data-confirm="Make a new secret key? Servers must be given it before the overlap ends.">{csrf}
<label>Keep accepting the old key for<select name="overlap_hours">{options}</select></label>
<button type="submit">Rotate</button></form></div>"#,
            csrf = csrf_field(&s.signed.csrf),
        );
    } else {
        body.push_str(
            r#"<p class="card muted">The secret key is set in the configuration file (instance.secret_key): it is changed there.</p>"#,
        );
    }
    s.page(StatusCode::OK, "/keys", "API keys", &body)
}

/// `POST /dashboard/keys/rotate`.
pub(crate) async fn rotate(s: &Screen<'_>) -> ApiResponse {
    let Some(hours) = s
        .field("overlap_hours")
        .parse::<i64>()
        .ok()
        .filter(|h| OVERLAPS.iter().any(|(offered, _)| offered == h))
    else {
        return s.error(
            "/keys",
            latch_core::error::Error::invalid(
                "overlap",
                latch_core::error::Problem::OutOfRange { min: 0, max: 168 },
            ),
        );
    };
    let key = s.state.new_secret_key();
    match s
        .state
        .services
        .secret_keys
        .rotate(&key, Duration::hours(hours))
        .await
    {
        Ok(()) => redirect("/dashboard/keys?done=rotated"),
        Err(err) => s.error("/keys", err),
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn a_masked_key_keeps_its_prefix_and_last_four() {
        assert_eq!(masked("sk_live_abcdefghwxyz"), "sk_live_…wxyz");
        assert_eq!(masked("sk_test_ab"), "sk_test_…ab");
        assert_eq!(masked("plain"), "…lain");
    }
}

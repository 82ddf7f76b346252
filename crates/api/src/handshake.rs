//! Clerk's handshake, which the server-side SDKs (`@clerk/nextjs`'s
//! middleware, `@clerk/express`, `@clerk/backend`'s `authenticateRequest`)
//! send a page load through when its cookies cannot tell who is signed in:
//! the browser comes to `GET /v1/client/handshake`, Latch reads its client
//! (the `__client` cookie, or a development browser), and sends it back to
//! the page with cookie directives for the application's own domain: a
//! fresh `__session` and `__client_uat` for the signed-in session, or both
//! cleared. The directives travel sealed in a nonce the application's server
//! redeems once through the Backend API (`format=nonce`, what the SDKs ask
//! for), or in a JWT signed with the instance key (`format=token`).

use openssl::sha::sha1;
use serde_json::{Value, json};
use warp::http::{StatusCode, header};

use latch_core::model::{Environment, origin_of, random_base62, with_query};
use latch_core::service::{ClientSnapshot, SessionTokenClaims, SessionView};

use crate::ApiState;
use crate::error::ApiError;
use crate::fapi::CLIENT_COOKIE;
use crate::http::{ApiRequest, ApiResponse};

/// Cookies the directives set live this long (seconds), as clerk-js's own.
const ONE_YEAR_SECS: i64 = 365 * 24 * 60 * 60;

/// `GET /v1/client/handshake`: a redirect back to the application's page
/// (an allowed origin) carrying the directives; a bad request is an error,
/// and redirects nowhere.
pub(crate) async fn handshake(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let redirect_url = req
        .query_param("redirect_url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::param_nil("redirect_url"))?;
    let origin = origin_of(redirect_url)
        .filter(|origin| allowed(state, origin))
        .filter(|_| {
            redirect_url.bytes().all(|b| b.is_ascii_graphic()) && redirect_url.len() <= 4096
        })
        .ok_or_else(|| {
            ApiError::param_value_invalid(
                "redirect_url",
                "redirect_url must be an http(s) URL on an origin this instance allows.",
            )
        })?;
    let by_token = match req.query_param("format").unwrap_or("nonce") {
        "nonce" => false,
        "token" => true,
        _ => {
            return Err(ApiError::param_value_invalid(
                "format",
                "format must be nonce or token.",
            ));
        }
    };
    let development = state.services.settings().environment == Environment::Development;
    // The browser's client: its cookie, else (development) the development
    // browser the application's cookies name.
    let db_jwt = req
        .query_param("__clerk_db_jwt")
        .filter(|t| development && !t.is_empty());
    let mut snapshot = None;
    for token in [req.cookie(CLIENT_COOKIE)?, db_jwt] {
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            snapshot = state.services.clients.get_client(Some(token)).await?;
            if snapshot.is_some() {
                break;
            }
        }
    }
    let session = snapshot
        .as_ref()
        .and_then(|s| chosen_session(s, req.query_param("__session")));
    // The shared domain, when the page is on it (a browser refuses a cookie
    // for a domain its page is not on).
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let cookies = Cookies {
        suffix: &state.cookie_suffix,
        secure: redirect_url.starts_with("https://"),
        domain: state
            .config
            .cookie_domain
            .as_deref()
            .filter(|d| host == *d || host.ends_with(&format!(".{d}"))),
    };
    let mut directives = Vec::new();
    match (session, &snapshot) {
        (Some(view), Some(snapshot)) => {
            let lifetime = state.services.settings().session_token_lifetime;
            let claims = SessionTokenClaims::of(view, lifetime)
                .ok_or_else(|| ApiError::from(latch_core::Error::SessionInactive))?;
            let jwt = state
                .keys
                .session_token(&claims, &state.config.issuer, &origin)?;
            // Never later than the token: the SDK refuses a token issued
            // before the client's last change.
            let uat = (snapshot.client.updated_at.millis() / 1000).min(claims.issued_at.secs());
            cookies.set(&mut directives, "__session", &jwt, false);
            cookies.set(&mut directives, "__client_uat", &uat.to_string(), true);
        }
        _ => {
            cookies.clear(&mut directives, "__session");
            cookies.set(&mut directives, "__client_uat", "0", true);
        }
    }
    if development {
        // The server-side SDKs want a development browser on development
        // instances; the token only names one when clerk-js runs in that
        // mode, else any value does (it is never read as a client's).
        let dev_browser = db_jwt
            .map(str::to_owned)
            .unwrap_or_else(|| format!("dvb_{}", random_base62(27, &*state.random)));
        cookies.set(&mut directives, "__clerk_db_jwt", &dev_browser, false);
    }
    let (name, value) = if by_token {
        let jwt = state.keys.sign(&json!({ "handshake": directives }))?;
        ("__clerk_handshake", jwt)
    } else {
        let nonce = state.services.handshakes.issue(directives)?;
        ("__clerk_handshake_nonce", nonce)
    };
    tracing::debug!(
        reason = req.query_param("__clerk_hs_reason").unwrap_or("-"),
        signed_in = session.is_some(),
        "handshake"
    );
    Ok(ApiResponse::empty(StatusCode::TEMPORARY_REDIRECT)
        .with_header(header::LOCATION, &with_query(redirect_url, name, &value))
        .with_header(header::CACHE_CONTROL, "no-store"))
}

/// `GET /v1/clients/handshake_payload?nonce=`: the directives of a nonce,
/// once, for the application's server (the secret key).
pub(crate) async fn payload(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let nonce = req
        .query_param("nonce")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::param_nil("nonce"))?;
    let directives = state.services.handshakes.redeem(nonce).await?;
    Ok(ApiResponse::ok(json!({ "directives": directives })))
}

/// `__client_uat` (and its suffixed twin) for a Frontend API answer to a
/// browser: on the shared `server.cookie_domain` if one is set, else the
/// Frontend API host's.
pub(crate) fn client_uat_cookies(state: &ApiState, uat: i64) -> Vec<String> {
    let config = &state.config;
    let cookies = Cookies {
        suffix: &state.cookie_suffix,
        secure: config.secure_cookies,
        domain: config.cookie_domain.as_deref(),
    };
    let mut out = Vec::with_capacity(2);
    cookies.set(&mut out, "__client_uat", &uat.to_string(), true);
    out
}

/// Whether the handshake may send the browser to `origin`: one the Frontend
/// API takes requests from, or one OAuth may redirect to.
pub(crate) fn allowed(state: &ApiState, origin: &str) -> bool {
    state.config.allows_origin(origin)
        || state
            .services
            .settings()
            .redirect_origins
            .iter()
            .any(|o| o == origin)
}

/// The session the directives are for: the one the application's current
/// `__session` token names, if it is still one of this client's active
/// sessions, else the client's last active one. (The token is not trusted:
/// it only chooses among the client's own sessions.)
fn chosen_session<'a>(
    snapshot: &'a ClientSnapshot,
    current: Option<&str>,
) -> Option<&'a SessionView> {
    let named = current.and_then(session_id_of);
    let by_id = |id: &str| {
        snapshot
            .sessions
            .iter()
            .find(|v| v.session.id.as_str() == id)
    };
    named
        .as_deref()
        .and_then(by_id)
        .or_else(|| {
            snapshot
                .client
                .last_active_session_id
                .as_ref()
                .and_then(|id| by_id(id.as_str()))
        })
        .or_else(|| snapshot.sessions.first())
}

/// The `sid` claim of a JWT, read without verifying it.
fn session_id_of(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sid")?.as_str().map(str::to_owned)
}

/// The suffix Clerk's SDKs append to their cookie names so that two
/// instances on one domain do not share cookies: the first 8 characters of
/// the URL-safe base64 SHA-1 of the publishable key.
pub fn cookie_suffix(publishable_key: &str) -> String {
    use base64::Engine as _;
    let digest = sha1(publishable_key.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(digest)
        .chars()
        .take(8)
        .collect()
}

/// How the directives write cookies: each name twice (plain and suffixed),
/// `Path=/`, `SameSite=Lax`, never `HttpOnly` (clerk-js rewrites them).
struct Cookies<'a> {
    suffix: &'a str,
    secure: bool,
    /// For `__client_uat` only: the others are the page's host's.
    domain: Option<&'a str>,
}

impl Cookies<'_> {
    fn set(&self, out: &mut Vec<String>, name: &str, value: &str, shared: bool) {
        self.write(out, name, value, ONE_YEAR_SECS, shared);
    }

    fn clear(&self, out: &mut Vec<String>, name: &str) {
        self.write(out, name, "", 0, false);
    }

    fn write(&self, out: &mut Vec<String>, name: &str, value: &str, max_age: i64, shared: bool) {
        let mut attributes = format!("; Path=/; Max-Age={max_age}; SameSite=Lax");
        if let Some(domain) = self.domain.filter(|_| shared) {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        if self.secure {
            attributes.push_str("; Secure");
        }
        out.push(format!("{name}={value}{attributes}"));
        out.push(format!("{name}_{}={value}{attributes}", self.suffix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_suffix_is_clerks() {
        // The value Clerk's own SDKs compute for this key.
        assert_eq!(
            cookie_suffix("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k"),
            "naoXFJnI"
        );
    }

    #[test]
    fn the_session_id_of_a_token_is_read_and_garbage_names_none() {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!("{}.{}.sig", b64("{}"), b64(r#"{"sid":"sess_1"}"#));
        assert_eq!(session_id_of(&jwt).as_deref(), Some("sess_1"));
        for bad in ["", "a.b.c", "x", &format!("a.{}.c", b64("[1]"))] {
            assert_eq!(session_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn directives_write_both_names_and_the_domain_only_where_shared() {
        let cookies = Cookies {
            suffix: "sfx",
            secure: true,
            domain: Some("example.com"),
        };
        let mut out = Vec::new();
        cookies.set(&mut out, "__client_uat", "12", true);
        cookies.clear(&mut out, "__session");
        assert_eq!(
            out,
            [
                "__client_uat=12; Path=/; Max-Age=31536000; SameSite=Lax; Domain=example.com; Secure",
                "__client_uat_sfx=12; Path=/; Max-Age=31536000; SameSite=Lax; Domain=example.com; Secure",
                "__session=; Path=/; Max-Age=0; SameSite=Lax; Secure",
                "__session_sfx=; Path=/; Max-Age=0; SameSite=Lax; Secure",
            ]
        );
        assert!(out.iter().all(|c| !c.contains("HttpOnly")));
    }
}

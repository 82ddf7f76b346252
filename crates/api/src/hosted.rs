//! Hosted pages, as Clerk's Account Portal: `/sign-in`, `/sign-up` and
//! `/user` served by Latch itself, each mounting the prebuilt screen of
//! `@clerk/ui` (served under `/npm/...`) with the instance's own key, so an
//! application with no sign-in page of its own sends its visitors here.
//! After signing in or up, the browser goes back to the `redirect_url` the
//! application gave (on an allowed origin), where the handshake signs it in
//! on the application.

use warp::http::{HeaderValue, StatusCode, header};

use latch_core::model::origin_of;

use crate::ApiState;
use crate::home::escape;
use crate::http::{ApiRequest, ApiResponse};

/// What the pages may load and reach: the bundles and the Frontend API on
/// this origin, pictures from anywhere over https (providers' avatars), and
/// the styles the screens inject.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; worker-src 'self' blob:; \
     connect-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; \
     font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The script that mounts the page's screen once clerk-js and the screens
/// are loaded; it reads what to mount from the page's `#latch-hosted`.
pub(crate) const MOUNT_JS: &str = r#""use strict";
(async () => {
  const host = document.getElementById("latch-hosted");
  const d = host.dataset;
  const clerk = window.Clerk;
  await clerk.load({
    ui: { ClerkUI: window.__internal_ClerkUICtor },
    signInUrl: d.signInUrl,
    signUpUrl: d.signUpUrl,
    allowedRedirectOrigins: d.redirectUrl ? [new URL(d.redirectUrl).origin] : undefined,
  });
  const after = d.redirectUrl || d.home;
  const go = { forceRedirectUrl: after, signInForceRedirectUrl: after, signUpForceRedirectUrl: after };
  if (d.component === "sign-in") clerk.mountSignIn(host, { ...go, signUpUrl: d.signUpUrl });
  else if (d.component === "sign-up") clerk.mountSignUp(host, { ...go, signInUrl: d.signInUrl });
  else if (clerk.user) clerk.mountUserProfile(host);
  else window.location.assign(d.signInUrl + "?redirect_url=" + encodeURIComponent(window.location.href));
})();
"#;

/// Which screen a hosted page mounts.
#[derive(Clone, Copy)]
pub(crate) enum Screen {
    SignIn,
    SignUp,
    UserProfile,
}

impl Screen {
    fn name(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::SignUp => "sign-up",
            Self::UserProfile => "user",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::SignIn => "Sign in",
            Self::SignUp => "Sign up",
            Self::UserProfile => "Your account",
        }
    }
}

/// `GET /sign-in`, `/sign-up`, `/user`: the page. A `redirect_url` that is
/// not on an allowed origin is dropped (the page then goes home after).
pub(crate) fn page(state: &ApiState, req: &ApiRequest, screen: Screen) -> ApiResponse {
    let settings = state.services.settings();
    let own = own_origin(state, req);
    // Back to an allowed origin, or to another of these pages (`/user`
    // sends a signed-out browser to sign in first).
    let redirect_url = req
        .query_param("redirect_url")
        .filter(|url| url.len() <= 2048 && url.bytes().all(|b| b.is_ascii_graphic()))
        .filter(|url| {
            origin_of(url).is_some_and(|o| {
                o == own.to_ascii_lowercase() || crate::handshake::allowed(state, &o)
            })
        })
        .unwrap_or("");
    let display = &settings.display;
    let home = if display.home_url.is_empty() {
        "/"
    } else {
        display.home_url.as_str()
    };
    let name = escape(&display.application_name);
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {name}</title>
</head>
<body>
<main id="latch-hosted" data-component="{component}" data-redirect-url="{redirect}" data-home="{home}" data-sign-in-url="/sign-in" data-sign-up-url="/sign-up"></main>
<script src="/npm/@clerk/clerk-js@6/dist/clerk.browser.js" data-clerk-publishable-key="{key}" data-clerk-proxy-url="{proxy}" crossorigin="anonymous"></script>
<script src="/npm/@clerk/ui@1/dist/ui.browser.js" crossorigin="anonymous"></script>
<script src="/hosted/mount.js" defer></script>
</body>
</html>
"#,
        title = screen.title(),
        component = screen.name(),
        redirect = escape(redirect_url),
        home = escape(home),
        key = escape(&state.config.publishable_key),
        proxy = escape(&own),
    );
    let mut response = ApiResponse::content(StatusCode::OK, "text/html; charset=utf-8", html);
    response.headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// `GET /hosted/mount.js`.
pub(crate) fn mount_js() -> ApiResponse {
    let mut response = ApiResponse::content(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        MOUNT_JS.to_owned(),
    );
    response.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The origin the browser reached Latch at: where clerk-js finds the
/// Frontend API from these pages. HTTPS when Latch serves it, or when a
/// proxy the operator runs says it took the request over HTTPS.
fn own_origin(state: &ApiState, req: &ApiRequest) -> String {
    let scheme = crate::client_ip::request_scheme(&state.config, req);
    let host = req
        .header("host")
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

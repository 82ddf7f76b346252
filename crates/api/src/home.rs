//! `GET /`: what someone who opens the Frontend API's URL in a browser sees,
//! a small page saying what this server is, which instance it is and what
//! it serves, rather than a JSON 404.
//!
//! The page is static HTML: no script, no form, no picture, and its one
//! stylesheet is allowed by its hash alone, so its policy keeps the API's
//! `default-src 'none'`. The only value it shows from the configuration,
//! the Frontend API's URL, is escaped.

use std::sync::LazyLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use warp::http::{Method, StatusCode, header};

use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};
use crate::scripts;

const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The page's stylesheet, allowed by its hash in [`POLICY`].
const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1f2328;background:#fafafa}\
main{max-width:44rem;margin:3rem auto;padding:0 1.25rem}\
h1{margin:0 0 .25rem;font-size:2rem}\
h2{font-size:1.1rem;margin-top:2rem}\
code{font:.9em ui-monospace,monospace;background:#eef0f2;padding:.1em .3em;border-radius:4px}\
.tag{display:inline-block;font-size:.8rem;padding:.1em .6em;border-radius:1em;background:#e8e3ff;color:#3b2a99}\
.production{background:#dcf5e3;color:#14532d}\
li{margin:.35rem 0}a{color:#5b3cd6}";

/// The page's `Content-Security-Policy`: nothing but its own stylesheet.
static POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

/// `GET`/`HEAD /`.
pub fn page(state: &ApiState, req: &ApiRequest) -> ApiResponse {
    let environment = state.services.settings().environment.as_str();
    let html = render(environment, &state.config.issuer);
    let response = if req.method == Method::HEAD {
        ApiResponse::empty(StatusCode::OK)
            .with_header(header::CONTENT_TYPE, CONTENT_TYPE)
            .with_header(header::CONTENT_LENGTH, &html.len().to_string())
    } else {
        ApiResponse::content(StatusCode::OK, CONTENT_TYPE, html)
    };
    response.with_header(header::CONTENT_SECURITY_POLICY, &POLICY)
}

/// The page of an instance in `environment` whose Frontend API is at `url`.
pub fn render(environment: &str, url: &str) -> String {
    let url = escape(url);
    let mut bundles = String::new();
    for package in scripts::packages() {
        let path = format!(
            "/npm/{}@{}/dist/{}",
            package.name,
            package.major(),
            package.entry
        );
        bundles.push_str(&format!(
            "<li><a href=\"{path}\"><code>{path}</code></a>: {} {} (also as <code>@{}</code>), with the chunks it loads from its folder</li>\n",
            package.name, package.version, package.version
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Latch · {environment} instance</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Latch</h1>
<p><span class="tag {environment}">{environment} instance</span></p>
<p>This is Latch, an authentication server that speaks Clerk's Frontend API and Backend API, so that apps built with Clerk's SDKs and components sign their users in here.</p>
<p>Frontend API: <code>{url}</code></p>
<h2>What this server serves</h2>
<ul>
<li>Clerk's Frontend API under <code>/v1/</code>, for clerk-js and Clerk's SDKs in browsers and apps; the instance's settings: <a href="/v1/environment"><code>/v1/environment</code></a></li>
<li>Clerk's Backend API under <code>/v1/</code>, for servers holding the secret key</li>
<li><a href="/.well-known/jwks.json"><code>/.well-known/jwks.json</code></a>: the public keys that session tokens are signed with</li>
{bundles}<li><a href="/healthz"><code>/healthz</code></a>: the health check</li>
</ul>
<h2>Hosted pages</h2>
<ul>
<li><a href="/sign-in">Sign in</a>, <a href="/sign-up">sign up</a> and <a href="/user">your account</a>: Clerk's prebuilt screens with this instance's settings, for apps without pages of their own (<code>?redirect_url=</code> sends the browser back to an allowed origin)</li>
</ul>
<p>Documentation: the README of the Latch repository.</p>
</main>
</body>
</html>
"#
    )
}

/// `text` as HTML text or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_the_instance_and_escapes_its_url() {
        let html = render("production", "https://clerk.example.com/<x>\"");
        assert!(html.contains("production instance"), "{html}");
        assert!(html.contains("https://clerk.example.com/&lt;x&gt;&quot;"));
        assert!(!html.contains("<x>"));
        assert!(!html.contains("<script"));
        assert!(html.contains("/npm/@clerk/clerk-js@6/dist/clerk.browser.js"));
        assert!(html.contains("/npm/@clerk/ui@1/dist/ui.browser.js"));
    }

    #[test]
    fn the_policy_allows_the_stylesheet_by_its_hash_and_nothing_else() {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        assert!(POLICY.contains(&format!("style-src 'sha256-{hash}'")));
        assert!(POLICY.starts_with("default-src 'none';"));
        assert!(!POLICY.contains("script"));
        assert!(!POLICY.contains("unsafe"));
    }
}

//! What a browser does between Latch's redirect to a provider and the
//! callback: follow redirects by hand (reqwest, redirects off), keep cookies,
//! and answer the login and consent pages of `oidc-provider`'s development
//! interactions. It stops at the first redirect to the authorize request's
//! own `redirect_uri` and hands back that URL's parameters.

use std::collections::BTreeMap;

use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// Where the provider sent the browser back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub url: String,
    pub params: Vec<(String, String)>,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn code(&self) -> Option<String> {
        self.param("code")
    }

    pub fn state(&self) -> Option<String> {
        self.param("state")
    }

    pub fn error(&self) -> Option<String> {
        self.param("error")
    }
}

/// A page that was neither a redirect nor a login or consent form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub url: String,
    pub status: u16,
    pub body: String,
}

/// Follows `authorize_url` to its callback, logging in as `login` and
/// consenting when asked.
pub async fn sign_in(authorize_url: &str, login: &str) -> Result<Callback, Stopped> {
    let start = Url::parse(authorize_url).expect("an authorize URL");
    let redirect_uri = start
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("the authorize URL has a redirect_uri");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    let mut url = start;
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        let mut request = match form.take() {
            Some(fields) => client.post(url.clone()).form(&fields),
            None => client.get(url.clone()),
        };
        if !cookies.is_empty() {
            let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(COOKIE, header.join("; "));
        }
        let response = request.send().await.expect("the provider answers");
        for value in response.headers().get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                cookies.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .expect("a redirect has a Location");
            let next = url.join(location).expect("a valid Location");
            if next.as_str().starts_with(&redirect_uri) {
                return Ok(Callback {
                    url: next.to_string(),
                    params: next.query_pairs().into_owned().collect(),
                });
            }
            url = next;
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        let prompt = attribute_after(&body, "name=\"prompt\" value=\"");
        let action = attribute_after(&body, "action=\"");
        match (prompt.as_deref(), action) {
            (Some("login"), Some(action)) => {
                url = url.join(&action).expect("a form action");
                form = Some(vec![
                    ("prompt".into(), "login".into()),
                    ("login".into(), login.to_owned()),
                    ("password".into(), "any password".into()),
                ]);
            }
            (Some("consent"), Some(action)) => {
                url = url.join(&action).expect("a form action");
                form = Some(vec![("prompt".into(), "consent".into())]);
            }
            _ => {
                return Err(Stopped {
                    url: url.to_string(),
                    status: status.as_u16(),
                    body,
                });
            }
        }
    }
    panic!("more than 20 steps from {authorize_url} without reaching the callback");
}

/// The value of the attribute whose opening text is `opening`.
fn attribute_after(html: &str, opening: &str) -> Option<String> {
    let start = html.find(opening)? + opening.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

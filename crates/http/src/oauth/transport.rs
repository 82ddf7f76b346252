//! The one HTTP client every provider request goes through, and how its
//! failures become [`OAuthError`]s.
//!
//! Redirects are never followed, every request has the provider's timeout,
//! and response bodies are read up to [`MAX_BODY`] bytes. The token endpoint
//! is reached through `oauth2`, which takes this client as its
//! [`AsyncHttpClient`]; for it, responses are normalised so that `oauth2`
//! sees what RFC 6749 describes: a form-encoded body (which some providers
//! answer, GitHub when it ignores `Accept`) is turned into the same JSON
//! object, and a non-2xx answer without an OAuth `error` member becomes a
//! transport error that keeps its status.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::http::{self, HeaderValue, StatusCode, header::CONTENT_TYPE};
use oauth2::{
    AsyncHttpClient, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse,
    RequestTokenError, StandardRevocableToken, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use latch_core::ports::OAuthError;

/// The largest response body read from a provider (discovery documents,
/// key sets, tokens and profiles are a few kilobytes).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// Why a request got no usable response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// The request failed in transit: connect, TLS, timeout, I/O.
    #[error("{0}")]
    Send(String),
    /// The provider answered a non-2xx status without an OAuth error body.
    #[error("answered HTTP {0}")]
    Status(StatusCode),
    #[error("answered a body over {MAX_BODY} bytes")]
    TooLarge,
}

impl TransportError {
    fn send(error: reqwest::Error) -> Self {
        // The URL is dropped: some carry query parameters, and none are
        // needed to tell what failed.
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else if error.is_body() || error.is_decode() {
            "reading the response failed"
        } else {
            "request failed"
        };
        let error = error.without_url();
        Self::Send(format!("{kind} ({error})"))
    }

    /// `what` names the endpoint ("token endpoint", "user API").
    pub(crate) fn into_oauth(self, what: &str) -> OAuthError {
        match self {
            Self::Status(status) if status.is_client_error() => {
                OAuthError::Rejected(format!("{what} answered HTTP {status}"))
            }
            other => OAuthError::Unavailable(format!("{what}: {other}")),
        }
    }
}

/// A response read in full.
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The body as JSON of type `T` after a 2xx; a 4xx is the provider
    /// refusing, anything else is the provider failing.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(self, what: &str) -> Result<T, OAuthError> {
        if !self.status.is_success() {
            return Err(TransportError::Status(self.status).into_oauth(what));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| OAuthError::Unavailable(format!("{what}: unreadable response ({e})")))
    }
}

/// reqwest, configured for identity providers.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            // GitHub's API refuses requests without one.
            .user_agent(concat!("latch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends the request and reads the body, whatever the status.
    pub(crate) async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, TransportError> {
        let request = request.build().map_err(TransportError::send)?;
        self.execute(request).await
    }

    async fn execute(&self, request: reqwest::Request) -> Result<Fetched, TransportError> {
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(TransportError::send)?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(TransportError::TooLarge);
        }
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(TransportError::send)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(TransportError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            content_type,
            body,
        })
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(TransportError::send)?;
            let fetched = normalize(self.execute(request).await?)?;
            let mut response = http::Response::new(fetched.body);
            *response.status_mut() = fetched.status;
            if let Some(value) = fetched
                .content_type
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                response.headers_mut().insert(CONTENT_TYPE, value);
            }
            Ok(response)
        })
    }
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// What `oauth2` is given: form bodies as JSON, and non-2xx answers without
/// an OAuth error body as [`TransportError::Status`].
fn normalize(mut fetched: Fetched) -> Result<Fetched, TransportError> {
    if is_form(fetched.content_type.as_deref())
        && let Some(json) = form_to_json(&fetched.body)
    {
        fetched.body = json;
        fetched.content_type = Some("application/json".to_owned());
    }
    if !fetched.status.is_success() && oauth_error_code(&fetched.body).is_none() {
        return Err(TransportError::Status(fetched.status));
    }
    Ok(fetched)
}

/// A form-encoded body as a JSON object; `expires_in` style fields become
/// numbers, as RFC 6749 has them in JSON.
fn form_to_json(body: &[u8]) -> Option<Vec<u8>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    if pairs.is_empty() {
        return None;
    }
    let mut object = Map::new();
    for (key, value) in pairs {
        let value = match value.parse::<u64>() {
            Ok(n) if key.ends_with("expires_in") => Value::from(n),
            _ => Value::String(value),
        };
        object.insert(key, value);
    }
    serde_json::to_vec(&Value::Object(object)).ok()
}

/// The `error` code of an OAuth error body (JSON or form), cleaned for logs.
pub(crate) fn oauth_error_code(body: &[u8]) -> Option<String> {
    let code = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object.get("error")?.as_str()?.to_owned(),
        Ok(_) => return None,
        Err(_) => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "error")?
                .1
        }
    };
    Some(log_safe(&code))
}

/// Provider-sent text as it may appear in a log line: printable ASCII,
/// at most as many characters as any echoed input.
pub(crate) fn log_safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(latch_core::model::ECHO_MAX_CHARS)
        .collect()
}

/// The token response, with the OpenID Connect `id_token` kept as the raw
/// string: it is parsed and checked by the OIDC provider, and a bad one is a
/// rejection, not an unreadable response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

pub(crate) type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An `oauth2` client with its authorize and token endpoints set.
pub(crate) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How a failed code redemption is reported.
pub(crate) fn token_error(
    error: RequestTokenError<TransportError, BasicErrorResponse>,
) -> OAuthError {
    const WHAT: &str = "token endpoint";
    match error {
        RequestTokenError::ServerResponse(response) => OAuthError::Rejected(format!(
            "{WHAT} refused: {}",
            log_safe(response.error().as_ref())
        )),
        RequestTokenError::Request(transport) => transport.into_oauth(WHAT),
        // GitHub answers its errors with 200, so they land here.
        RequestTokenError::Parse(_, body) => match oauth_error_code(&body) {
            Some(code) => OAuthError::Rejected(format!("{WHAT} refused: {code}")),
            None => OAuthError::Unavailable(format!("{WHAT}: unreadable response")),
        },
        RequestTokenError::Other(message) => {
            OAuthError::Unavailable(format!("{WHAT}: {}", log_safe(&message)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fetched(status: u16, content_type: &str, body: &str) -> Fetched {
        Fetched {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: Some(content_type.to_owned()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn form_bodies_become_json_with_numeric_lifetimes() {
        let out = normalize(fetched(
            200,
            "application/x-www-form-urlencoded; charset=utf-8",
            "access_token=abc&token_type=bearer&expires_in=3600&scope=a%2Cb",
        ))
        .unwrap();
        let doc: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(doc["access_token"], "abc");
        assert_eq!(doc["expires_in"], 3600);
        assert_eq!(doc["scope"], "a,b");
        assert_eq!(out.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn error_bodies_keep_their_status_and_other_failures_become_transport_errors() {
        let out = normalize(fetched(
            400,
            "application/json",
            r#"{"error":"invalid_grant"}"#,
        ));
        assert_eq!(out.unwrap().status, StatusCode::BAD_REQUEST);
        let out = normalize(fetched(
            401,
            "application/x-www-form-urlencoded",
            "error=invalid_client",
        ))
        .unwrap();
        assert_eq!(
            oauth_error_code(&out.body).as_deref(),
            Some("invalid_client")
        );
        assert!(matches!(
            normalize(fetched(502, "text/html", "<h1>bad gateway</h1>")),
            Err(TransportError::Status(StatusCode::BAD_GATEWAY))
        ));
    }

    #[test]
    fn client_errors_are_rejections_and_server_errors_unavailability() {
        assert!(matches!(
            TransportError::Status(StatusCode::UNAUTHORIZED).into_oauth("user API"),
            OAuthError::Rejected(_)
        ));
        assert!(matches!(
            TransportError::Status(StatusCode::SERVICE_UNAVAILABLE).into_oauth("user API"),
            OAuthError::Unavailable(_)
        ));
    }

    #[test]
    fn error_codes_are_cleaned_for_logs() {
        let body = format!(r#"{{"error":"bad\n{}"}}"#, "x".repeat(200));
        let code = oauth_error_code(body.as_bytes()).unwrap();
        assert!(code.starts_with("bad"));
        assert!(!code.contains('\n'));
        assert_eq!(code.len(), 64);
        assert_eq!(oauth_error_code(b"[1,2]"), None);
        assert_eq!(oauth_error_code(b"<html>"), None);
    }
}

//! The authorization code flow with PKCE, shared by both provider kinds:
//! building the authorize URL and redeeming the code, through `oauth2`.

use std::borrow::Cow;

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenUrl,
};

use latch_core::ports::{AuthorizationRequest, CodeExchange, OAuthError, ProviderTokens};

use oauth2::TokenResponse as _;

use super::transport::{Http, OAuthClient, TokenResponse, token_error};

/// Where and how to run the flow.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub authorize: AuthUrl,
    pub token: TokenUrl,
    pub auth_type: AuthType,
}

pub(crate) fn client(
    client_id: &str,
    secret: Option<String>,
    endpoints: &Endpoints,
) -> OAuthClient {
    let client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(endpoints.authorize.clone())
        .set_token_uri(endpoints.token.clone())
        .set_auth_type(endpoints.auth_type.clone());
    match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret)),
        None => client,
    }
}

/// RFC 7636: 43 to 128 characters from the unreserved set.
fn verifier(value: &str) -> Result<PkceCodeVerifier, OAuthError> {
    let valid = (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if valid {
        Ok(PkceCodeVerifier::new(value.to_owned()))
    } else {
        Err(OAuthError::Rejected(
            "the PKCE verifier is not 43 to 128 unreserved characters".into(),
        ))
    }
}

fn redirect(uri: &str) -> Result<RedirectUrl, OAuthError> {
    RedirectUrl::new(uri.to_owned())
        .map_err(|_| OAuthError::Rejected("the redirect_uri is not a URL".into()))
}

/// The provider's authorize URL: `response_type=code`, client id, redirect
/// URI, scopes, state and the S256 challenge, plus `extra` parameters.
pub(crate) fn authorize_url(
    client: &OAuthClient,
    request: &AuthorizationRequest,
    scopes: &[String],
    extra: &[(&str, &str)],
) -> Result<String, OAuthError> {
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&verifier(&request.pkce_verifier)?);
    let state = request.state.clone();
    let mut builder = client
        .authorize_url(move || CsrfToken::new(state))
        .set_redirect_uri(Cow::Owned(redirect(&request.redirect_uri)?))
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(challenge);
    for (name, value) in extra {
        builder = builder.add_extra_param(*name, *value);
    }
    let (url, _) = builder.url();
    Ok(url.into())
}

/// Redeems the code at the token endpoint with the PKCE verifier.
pub(crate) async fn redeem(
    http: &Http,
    client: &OAuthClient,
    exchange: &CodeExchange,
) -> Result<TokenResponse, OAuthError> {
    if exchange.code.is_empty() {
        return Err(OAuthError::Rejected("no authorization code".into()));
    }
    client
        .exchange_code(AuthorizationCode::new(exchange.code.clone()))
        .set_pkce_verifier(verifier(&exchange.pkce_verifier)?)
        .set_redirect_uri(Cow::Owned(redirect(&exchange.redirect_uri)?))
        .request_async(http)
        .await
        .map_err(token_error)
}

/// What a token response issued, kept for the application's server.
pub(crate) fn tokens(response: &TokenResponse) -> ProviderTokens {
    ProviderTokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        expires_in_secs: response.expires_in().map(|d| d.as_secs()),
    }
}

/// The `refresh_token` grant at the token endpoint. A provider that sends
/// no new refresh token keeps the one it was given.
pub(crate) async fn refresh(
    http: &Http,
    client: &OAuthClient,
    refresh_token: &str,
) -> Result<ProviderTokens, OAuthError> {
    if refresh_token.is_empty() {
        return Err(OAuthError::Rejected("no refresh token".into()));
    }
    let response = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
        .request_async(http)
        .await
        .map_err(token_error)?;
    let mut tokens = tokens(&response);
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = Some(refresh_token.to_owned());
    }
    Ok(tokens)
}

/// The scopes a token response granted: the ones it names, or, when it
/// names none, the ones asked for (OAuth 2.0 leaves `scope` out when it
/// grants exactly what was asked). GitHub separates them with commas rather
/// than spaces; both are read.
pub(crate) fn granted_scopes(response: &TokenResponse, requested: &[String]) -> Vec<String> {
    match response.scopes() {
        Some(granted) => granted
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => requested.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oauth2::url::Url;

    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            authorize: AuthUrl::new("https://idp.example.com/authorize?prompt=login".into())
                .unwrap(),
            token: TokenUrl::new("https://idp.example.com/token".into()).unwrap(),
            auth_type: AuthType::BasicAuth,
        }
    }

    #[test]
    fn the_authorize_url_carries_the_s256_challenge_and_never_the_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let request = AuthorizationRequest {
            state: "st4te".into(),
            pkce_verifier: verifier.into(),
            nonce: "n0nce".into(),
            redirect_uri: "https://latch.example.com/v1/oauth_callback".into(),
        };
        let client = client("client-1", Some("secret".into()), &endpoints());
        let url = authorize_url(
            &client,
            &request,
            &["openid".into(), "email".into()],
            &[("nonce", "n0nce")],
        )
        .unwrap();
        let url = Url::parse(&url).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("prompt"),
            Some("login"),
            "the endpoint's own query stays"
        );
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("client-1"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://latch.example.com/v1/oauth_callback")
        );
        assert_eq!(get("scope"), Some("openid email"));
        assert_eq!(get("state"), Some("st4te"));
        assert_eq!(get("nonce"), Some("n0nce"));
        // RFC 7636 appendix B.
        assert_eq!(
            get("code_challenge"),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert!(!url.as_str().contains(verifier));
        assert!(!url.as_str().contains("secret"));
    }

    #[test]
    fn verifiers_outside_rfc_7636_are_refused() {
        assert!(verifier(&"a".repeat(43)).is_ok());
        assert!(verifier(&"a".repeat(128)).is_ok());
        assert!(verifier(&"a".repeat(42)).is_err());
        assert!(verifier(&"a".repeat(129)).is_err());
        assert!(verifier(&format!("{}+", "a".repeat(43))).is_err());
    }

    #[test]
    fn granted_scopes_are_the_ones_named_or_else_the_ones_asked() {
        let requested = vec!["read:user".to_owned(), "user:email".to_owned()];
        let response = |body: &str| -> TokenResponse { serde_json::from_str(body).unwrap() };
        let narrowed =
            response(r#"{"access_token":"a","token_type":"bearer","scope":"read:user"}"#);
        assert_eq!(granted_scopes(&narrowed, &requested), ["read:user"]);
        let commas = response(
            r#"{"access_token":"a","token_type":"bearer","scope":"read:user,user:email"}"#,
        );
        assert_eq!(granted_scopes(&commas, &[]), ["read:user", "user:email"]);
        let silent = response(r#"{"access_token":"a","token_type":"bearer"}"#);
        assert_eq!(granted_scopes(&silent, &requested), requested);
    }
}

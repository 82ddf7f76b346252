//! The user APIs of OAuth 2.0 providers without OpenID Connect, mapped to
//! an [`ExternalIdentity`]. Each is called with the access token as a bearer
//! token in a header, never in the URL.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use latch_core::ports::{ExternalIdentity, OAuthError};

use super::non_empty;
use super::transport::Http;

const WHAT: &str = "user API";

/// Which user API, and how its answer maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// `GET /user` and `GET /user/emails`: the primary email, verified as
    /// GitHub says.
    GitHub,
    /// Graph `GET /me`: Facebook returns only confirmed emails, so an email
    /// is verified.
    Facebook,
    /// `GET /2/users/me`: no email.
    Twitter,
    /// `GET /users/@me`: the email is verified when `verified` is true.
    Discord,
}

/// A provider's user id, a JSON number (GitHub) or string (the others).
#[derive(Deserialize)]
#[serde(untagged)]
enum UserId {
    Number(u64),
    Text(String),
}

impl UserId {
    fn subject(&self) -> Result<String, OAuthError> {
        let subject = match self {
            Self::Number(n) => n.to_string(),
            Self::Text(s) => s.trim().to_owned(),
        };
        if subject.is_empty() {
            Err(OAuthError::Rejected(format!("{WHAT}: empty user id")))
        } else {
            Ok(subject)
        }
    }
}

fn url(api_base: &str, path: &str) -> String {
    format!("{}{path}", api_base.trim_end_matches('/'))
}

impl Profile {
    /// The identity behind `access_token`. `client_secret` signs Facebook's
    /// `appsecret_proof`.
    pub(crate) async fn identity(
        self,
        http: &Http,
        api_base: &str,
        access_token: &str,
        client_secret: Option<&str>,
    ) -> Result<ExternalIdentity, OAuthError> {
        match self {
            Self::GitHub => github(http, api_base, access_token).await,
            Self::Facebook => facebook(http, api_base, access_token, client_secret).await,
            Self::Twitter => twitter(http, api_base, access_token).await,
            Self::Discord => discord(http, api_base, access_token).await,
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &Http,
    request: reqwest::RequestBuilder,
) -> Result<T, OAuthError> {
    http.fetch(request)
        .await
        .map_err(|e| e.into_oauth(WHAT))?
        .json(WHAT)
}

#[derive(Deserialize)]
struct GitHubUser {
    id: UserId,
    login: Option<String>,
    name: Option<String>,
    /// The public profile email, if the user set one.
    email: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

fn github_get(http: &Http, url: &str, access_token: &str) -> reqwest::RequestBuilder {
    http.get(url)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .bearer_auth(access_token)
}

async fn github(
    http: &Http,
    api_base: &str,
    access_token: &str,
) -> Result<ExternalIdentity, OAuthError> {
    let user: GitHubUser = get_json(
        http,
        github_get(http, &url(api_base, "/user"), access_token),
    )
    .await?;
    let fetched = http
        .fetch(github_get(
            http,
            &url(api_base, "/user/emails"),
            access_token,
        ))
        .await
        .map_err(|e| e.into_oauth(WHAT))?;
    // Without the `user:email` scope (or, for a GitHub App, the email
    // permission) the list is refused; the sign-in goes on without it.
    let emails: Vec<GitHubEmail> = match fetched.status.as_u16() {
        403 | 404 => Vec::new(),
        _ => fetched.json(WHAT)?,
    };
    let (email, email_verified) = match emails.iter().find(|e| e.primary) {
        Some(primary) => (non_empty(Some(primary.email.clone())), primary.verified),
        None => {
            let public = non_empty(user.email.clone());
            let verified = public
                .as_ref()
                .is_some_and(|p| emails.iter().any(|e| e.verified && e.email == *p));
            (public, verified)
        }
    };
    let (first_name, last_name) = split_name(user.name.as_deref());
    Ok(ExternalIdentity {
        tokens: None,
        subject: user.id.subject()?,
        email_verified: email.is_some() && email_verified,
        email,
        first_name,
        last_name,
        username: non_empty(user.login),
        avatar_url: non_empty(user.avatar_url),
        approved_scopes: Vec::new(),
    })
}

/// GitHub has one name field; its first word is taken as the first name.
fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return (None, None);
    };
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) => (
            Some(first.to_owned()),
            non_empty(Some(rest.trim().to_owned())),
        ),
        None => (Some(name.to_owned()), None),
    }
}

#[derive(Deserialize)]
struct FacebookUser {
    id: UserId,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    picture: Option<FacebookPicture>,
}

#[derive(Deserialize)]
struct FacebookPicture {
    data: Option<FacebookPictureData>,
}

#[derive(Deserialize)]
struct FacebookPictureData {
    url: Option<String>,
    #[serde(default)]
    is_silhouette: bool,
}

/// Graph API's `appsecret_proof`: hex HMAC-SHA256 of the token under the
/// app secret, so a stolen token is useless without the secret.
fn appsecret_proof(secret: &str, access_token: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(access_token.as_bytes());
    Some(
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

async fn facebook(
    http: &Http,
    api_base: &str,
    access_token: &str,
    client_secret: Option<&str>,
) -> Result<ExternalIdentity, OAuthError> {
    let mut request = http
        .get(&url(api_base, "/me"))
        .query(&[("fields", "id,first_name,last_name,email,picture")])
        .bearer_auth(access_token);
    if let Some(proof) = client_secret.and_then(|s| appsecret_proof(s, access_token)) {
        request = request.query(&[("appsecret_proof", proof)]);
    }
    let user: FacebookUser = get_json(http, request).await?;
    let email = non_empty(user.email);
    let avatar_url = user
        .picture
        .and_then(|p| p.data)
        .filter(|d| !d.is_silhouette)
        .and_then(|d| non_empty(d.url));
    Ok(ExternalIdentity {
        tokens: None,
        subject: user.id.subject()?,
        email_verified: email.is_some(),
        email,
        first_name: non_empty(user.first_name),
        last_name: non_empty(user.last_name),
        username: None,
        avatar_url,
        approved_scopes: Vec::new(),
    })
}

#[derive(Deserialize)]
struct TwitterAnswer {
    data: Option<TwitterUser>,
}

#[derive(Deserialize)]
struct TwitterUser {
    id: UserId,
    username: Option<String>,
    profile_image_url: Option<String>,
}

async fn twitter(
    http: &Http,
    api_base: &str,
    access_token: &str,
) -> Result<ExternalIdentity, OAuthError> {
    let request = http
        .get(&url(api_base, "/2/users/me"))
        .query(&[("user.fields", "profile_image_url")])
        .bearer_auth(access_token);
    let answer: TwitterAnswer = get_json(http, request).await?;
    let user = answer
        .data
        .ok_or_else(|| OAuthError::Rejected(format!("{WHAT}: no user in the answer")))?;
    Ok(ExternalIdentity {
        tokens: None,
        subject: user.id.subject()?,
        email: None,
        email_verified: false,
        // X has a display name only, not a first and last name.
        first_name: None,
        last_name: None,
        username: non_empty(user.username),
        avatar_url: non_empty(user.profile_image_url),
        approved_scopes: Vec::new(),
    })
}

#[derive(Deserialize)]
struct DiscordUser {
    id: UserId,
    username: Option<String>,
    avatar: Option<String>,
    email: Option<String>,
    #[serde(default)]
    verified: bool,
}

async fn discord(
    http: &Http,
    api_base: &str,
    access_token: &str,
) -> Result<ExternalIdentity, OAuthError> {
    let request = http
        .get(&url(api_base, "/users/@me"))
        .bearer_auth(access_token);
    let user: DiscordUser = get_json(http, request).await?;
    let subject = user.id.subject()?;
    let email = non_empty(user.email);
    // Discord serves avatars from its CDN by user id and image hash.
    let avatar_url = non_empty(user.avatar)
        .filter(|hash| hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(|hash| format!("https://cdn.discordapp.com/avatars/{subject}/{hash}.png"));
    Ok(ExternalIdentity {
        tokens: None,
        email_verified: email.is_some() && user.verified,
        email,
        first_name: None,
        last_name: None,
        username: non_empty(user.username),
        avatar_url,
        subject,
        approved_scopes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_names_split_at_the_first_space() {
        assert_eq!(
            split_name(Some(" Ann  Marie Lee ")),
            (Some("Ann".into()), Some("Marie Lee".into()))
        );
        assert_eq!(split_name(Some("Ann")), (Some("Ann".into()), None));
        assert_eq!(split_name(Some("  ")), (None, None));
        assert_eq!(split_name(None), (None, None));
    }

    #[test]
    fn the_appsecret_proof_is_the_hex_hmac_of_the_token() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog").as_deref(),
            Some("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        );
    }

    #[test]
    fn user_ids_are_numbers_or_strings_and_never_empty() {
        let id: UserId = serde_json::from_str("583231").unwrap_or(UserId::Text(String::new()));
        assert_eq!(id.subject().ok().as_deref(), Some("583231"));
        let id: UserId = serde_json::from_str("\"1234\"").unwrap_or(UserId::Number(0));
        assert_eq!(id.subject().ok().as_deref(), Some("1234"));
        assert!(UserId::Text(" ".into()).subject().is_err());
    }
}

//! Building providers from configuration: what is refused up front.

use latch_http::{AppleClientKey, ClientSecret, ConfigError, ProviderConfig, ProviderKind, oauth};

fn build(config: &ProviderConfig) -> Result<String, ConfigError> {
    oauth::provider(config).map(|p| p.name())
}

fn with_secret(name: &str, kind: ProviderKind) -> ProviderConfig {
    let mut config = ProviderConfig::new(name, kind, "client-1");
    config.client_secret = ClientSecret::Shared("secret".into());
    config
}

#[test]
fn every_preset_builds_from_a_client_id_and_secret() {
    for kind in ProviderKind::ALL {
        if kind == ProviderKind::Oidc {
            continue;
        }
        assert_eq!(
            build(&with_secret(kind.as_str(), kind)),
            Ok(kind.as_str().to_owned())
        );
    }
    let mut custom = with_secret("custom_acme", ProviderKind::Oidc);
    custom.issuer_url = Some("https://idp.acme.example".into());
    assert_eq!(build(&custom), Ok("custom_acme".into()));
}

#[test]
fn misconfigurations_are_refused() {
    let oidc = with_secret("custom_acme", ProviderKind::Oidc);
    assert_eq!(build(&oidc), Err(ConfigError::MissingIssuer));

    let mut insecure = oidc.clone();
    insecure.issuer_url = Some("http://idp.acme.example".into());
    assert_eq!(
        build(&insecure),
        Err(ConfigError::InsecureUrl {
            field: "issuer_url"
        })
    );

    let mut api_for_oidc = with_secret("google", ProviderKind::Google);
    api_for_oidc.api_base_url = Some("https://api.example.com".into());
    assert!(matches!(
        build(&api_for_oidc),
        Err(ConfigError::NotApplicable {
            field: "api_base_url",
            ..
        })
    ));

    let mut issuer_for_github = with_secret("github", ProviderKind::GitHub);
    issuer_for_github.issuer_url = Some("https://github.com".into());
    assert!(matches!(
        build(&issuer_for_github),
        Err(ConfigError::NotApplicable {
            field: "issuer_url",
            ..
        })
    ));

    let no_secret = ProviderConfig::new("github", ProviderKind::GitHub, "client-1");
    assert_eq!(
        build(&no_secret),
        Err(ConfigError::MissingClientSecret(ProviderKind::GitHub))
    );
    let apple = ProviderConfig::new("apple", ProviderKind::Apple, "client-1");
    assert_eq!(
        build(&apple),
        Err(ConfigError::MissingClientSecret(ProviderKind::Apple))
    );
    // X allows public clients.
    let public_x = ProviderConfig::new("twitter", ProviderKind::Twitter, "client-1");
    assert_eq!(build(&public_x), Ok("twitter".into()));

    let mut key_for_google = ProviderConfig::new("google", ProviderKind::Google, "client-1");
    key_for_google.client_secret = ClientSecret::AppleKey(AppleClientKey {
        team_id: "T".into(),
        key_id: "K".into(),
        private_key_pem: "x".into(),
    });
    assert_eq!(
        build(&key_for_google),
        Err(ConfigError::AppleKeyNotApplicable(ProviderKind::Google))
    );
    let mut bad_key = key_for_google.clone();
    bad_key.name = "apple".into();
    bad_key.kind = ProviderKind::Apple;
    assert!(matches!(
        build(&bad_key),
        Err(ConfigError::InvalidAppleKey(_))
    ));

    let bad_name = with_secret("Google!", ProviderKind::Google);
    assert!(matches!(build(&bad_name), Err(ConfigError::InvalidName(_))));
    let mut no_id = with_secret("google", ProviderKind::Google);
    no_id.client_id = " ".into();
    assert_eq!(build(&no_id), Err(ConfigError::MissingClientId));
    let mut zero = with_secret("google", ProviderKind::Google);
    zero.timeout = std::time::Duration::ZERO;
    assert_eq!(build(&zero), Err(ConfigError::InvalidTimeout));
    let mut scopes = with_secret("google", ProviderKind::Google);
    scopes.scopes = Some(vec!["email profile".into()]);
    assert_eq!(build(&scopes), Err(ConfigError::InvalidScopes));
}

//! Sign in with Apple's client secret: a short-lived ES256 JWT signed with
//! the team's `.p8` key, made afresh for each token request.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use serde_json::json;

use latch_core::ports::OAuthError;

use super::config::{AppleClientKey, ConfigError};

/// How long each secret is valid (Apple allows up to six months).
const LIFETIME_SECS: u64 = 300;

pub(crate) struct AppleSecretSigner {
    team_id: String,
    key_id: String,
    client_id: String,
    audience: String,
    key: openssl::ec::EcKey<Private>,
}

impl AppleSecretSigner {
    /// `audience` is Apple's issuer, `https://appleid.apple.com`.
    pub(crate) fn new(
        key: &AppleClientKey,
        client_id: &str,
        audience: &str,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidAppleKey(reason.to_owned());
        if key.team_id.trim().is_empty() || key.key_id.trim().is_empty() {
            return Err(invalid("team_id and key_id are required"));
        }
        let pkey = PKey::private_key_from_pem(key.private_key_pem.as_bytes())
            .map_err(|_| invalid("not a PEM private key"))?;
        let ec = pkey.ec_key().map_err(|_| invalid("not an EC key"))?;
        if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(invalid("not a P-256 key"));
        }
        ec.check_key()
            .map_err(|_| invalid("the key fails its own check"))?;
        Ok(Self {
            team_id: key.team_id.clone(),
            key_id: key.key_id.clone(),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            key: ec,
        })
    }

    /// A client secret valid from now.
    pub(crate) fn secret(&self) -> Result<String, OAuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        self.secret_at(now)
    }

    pub(crate) fn secret_at(&self, now: u64) -> Result<String, OAuthError> {
        let fail = |_| OAuthError::Unavailable("signing the Apple client secret failed".into());
        let header = json!({ "alg": "ES256", "kid": self.key_id, "typ": "JWT" });
        let claims = json!({
            "iss": self.team_id,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "aud": self.audience,
            "sub": self.client_id,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let digest = hash(MessageDigest::sha256(), signing_input.as_bytes()).map_err(fail)?;
        let signature = EcdsaSig::sign(&digest, &self.key).map_err(fail)?;
        // JWS wants r and s as two 32-byte big-endian numbers, not DER.
        let mut raw = signature.r().to_vec_padded(32).map_err(fail)?;
        raw.extend(signature.s().to_vec_padded(32).map_err(fail)?);
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(raw)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::PKey;

    use super::*;

    fn p8(curve: Nid) -> String {
        let group = EcGroup::from_curve_name(curve).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap()
    }

    fn key(pem: String) -> AppleClientKey {
        AppleClientKey {
            team_id: "TEAM123456".into(),
            key_id: "KEY1234567".into(),
            private_key_pem: pem,
        }
    }

    #[test]
    fn the_secret_is_an_es256_jwt_apple_can_check() {
        let signer = AppleSecretSigner::new(
            &key(p8(Nid::X9_62_PRIME256V1)),
            "com.example.web",
            "https://appleid.apple.com",
        )
        .unwrap();
        let secret = signer.secret_at(1_700_000_000).unwrap();
        let parts: Vec<&str> = secret.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY1234567");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["aud"], "https://appleid.apple.com");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_000 + LIFETIME_SECS);

        let raw = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(raw.len(), 64);
        let r = openssl::bn::BigNum::from_slice(&raw[..32]).unwrap();
        let s = openssl::bn::BigNum::from_slice(&raw[32..]).unwrap();
        let sig = EcdsaSig::from_private_components(r, s).unwrap();
        let public = EcKey::public_key_from_der(&signer.key.public_key_to_der().unwrap()).unwrap();
        let digest = hash(
            MessageDigest::sha256(),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
        )
        .unwrap();
        assert!(sig.verify(&digest, &public).unwrap());
    }

    #[test]
    fn unusable_keys_are_refused_when_configured() {
        let refused = |k: AppleClientKey| {
            matches!(
                AppleSecretSigner::new(&k, "id", "https://appleid.apple.com"),
                Err(ConfigError::InvalidAppleKey(_))
            )
        };
        assert!(refused(key("not a key".into())));
        assert!(refused(key(p8(Nid::SECP384R1))));
        let mut no_team = key(p8(Nid::X9_62_PRIME256V1));
        no_team.team_id = String::new();
        assert!(refused(no_team));
    }
}

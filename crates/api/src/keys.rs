//! The instance's RSA signing key, session tokens (RS256 JWTs) and the JWKS.
//!
//! Signing goes through OpenSSL, whose RSA private-key operations are blinded;
//! the pure-Rust `rsa` crate is avoided for its known timing side channel.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use latch_core::Error;
use latch_core::ports::InstanceStore;
use latch_core::service::SessionTokenClaims;

const STORE_KEY: &str = "session_signing_key_pem";

/// The key that signs session tokens, with its public half as a JWK.
pub struct SigningKeys {
    kid: String,
    private: PKey<Private>,
    jwk: Value,
    public_pem: String,
    header_b64: String,
}

impl SigningKeys {
    /// Loads the stored key, or generates an RSA-2048 key and stores it so that
    /// tokens stay verifiable across restarts (and replicas agree on one key).
    pub async fn load_or_create(store: &dyn InstanceStore) -> Result<Self, Error> {
        let pem = match store.get(STORE_KEY).await? {
            Some(pem) => pem,
            None => {
                let fresh = generate_pem()?;
                store.get_or_insert(STORE_KEY, &fresh).await?
            }
        };
        Self::from_pem(&pem)
    }

    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let rsa = Rsa::private_key_from_pem(pem.as_bytes())
            .map_err(|_| Error::internal("signing key PEM"))?;
        let n = B64.encode(rsa.n().to_vec());
        let e = B64.encode(rsa.e().to_vec());
        let public_der = rsa
            .public_key_to_der()
            .map_err(|_| Error::internal("public key DER"))?;
        let public_pem = String::from_utf8(
            rsa.public_key_to_pem()
                .map_err(|_| Error::internal("public key PEM"))?,
        )
        .map_err(|_| Error::internal("public key PEM"))?;
        let kid = format!("ins_{}", &B64.encode(Sha256::digest(&public_der))[..27]);
        let private = PKey::from_rsa(rsa).map_err(|_| Error::internal("signing key"))?;
        let header_b64 =
            B64.encode(json!({ "alg": "RS256", "kid": kid, "typ": "JWT" }).to_string());
        let jwk = json!({ "use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256", "n": n, "e": e });
        Ok(Self {
            kid,
            private,
            jwk,
            public_pem,
            header_b64,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key in PEM (SPKI), for `verifyToken({ jwtKey })`.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// `{ "keys": [ ... ] }`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// A session token with Clerk's claims: `azp`, `exp`, `fva`, `iat`, `iss`,
    /// `nbf`, `sid`, `sub`, `v`.
    pub fn session_token(
        &self,
        claims: &SessionTokenClaims,
        issuer: &str,
        azp: &str,
    ) -> Result<String, Error> {
        let iat = claims.issued_at.secs();
        let payload = json!({
            "azp": azp,
            "exp": claims.expires_at.secs(),
            "fva": claims.factor_ages_minutes,
            "iat": iat,
            "iss": issuer,
            // A little slack for verifiers whose clocks run behind.
            "nbf": iat - 10,
            "sid": claims.session_id.as_str(),
            "sub": claims.user_id,
            "v": 2,
        });
        self.sign(&payload)
    }

    /// A JWT of `payload`, signed RS256 with the instance key (the header
    /// names its `kid`, as `/v1/jwks` lists it).
    pub fn sign(&self, payload: &Value) -> Result<String, Error> {
        let signing_input = format!("{}.{}", self.header_b64, B64.encode(payload.to_string()));
        let mut signer = Signer::new(MessageDigest::sha256(), &self.private)
            .map_err(|_| Error::internal("signer"))?;
        signer
            .update(signing_input.as_bytes())
            .map_err(|_| Error::internal("signer"))?;
        let signature = signer
            .sign_to_vec()
            .map_err(|_| Error::internal("signer"))?;
        Ok(format!("{signing_input}.{}", B64.encode(signature)))
    }
}

fn generate_pem() -> Result<String, Error> {
    let rsa = Rsa::generate(2048).map_err(|_| Error::internal("RSA key generation"))?;
    let pem = rsa
        .private_key_to_pem()
        .map_err(|_| Error::internal("RSA key PEM"))?;
    String::from_utf8(pem).map_err(|_| Error::internal("RSA key PEM"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use latch_core::model::{SessionId, Timestamp};
    use openssl::sign::Verifier;

    #[test]
    fn tokens_verify_with_the_public_key_and_carry_clerk_claims() {
        let keys = SigningKeys::from_pem(&generate_pem().unwrap()).unwrap();
        let claims = SessionTokenClaims {
            session_id: SessionId("sess_1".into()),
            user_id: "user_1".into(),
            issued_at: Timestamp(1_700_000_000_000),
            expires_at: Timestamp(1_700_000_060_000),
            factor_ages_minutes: [0, -1],
        };
        let jwt = keys
            .session_token(&claims, "https://latch.example", "http://localhost:3000")
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], keys.kid());
        let payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        let mut names: Vec<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["azp", "exp", "fva", "iat", "iss", "nbf", "sid", "sub", "v"]
        );
        assert_eq!(
            payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
            60
        );
        let public = PKey::public_key_from_pem(keys.public_pem().as_bytes()).unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier
            .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
            .unwrap();
        assert!(verifier.verify(&B64.decode(parts[2]).unwrap()).unwrap());
        // A tampered payload does not verify.
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier
            .update(format!("{}.{}x", parts[0], parts[1]).as_bytes())
            .unwrap();
        assert!(!verifier.verify(&B64.decode(parts[2]).unwrap()).unwrap());
        let jwk = &keys.jwks()["keys"][0];
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(B64.decode(jwk["n"].as_str().unwrap()).unwrap().len(), 256);
    }
}

//! The instance's encryption key at work: TOTP secrets are sealed at rest
//! (XChaCha20-Poly1305, bound to their user) and backup codes are kept as
//! keyed digests (HMAC-SHA256), so a copy of the database alone reveals
//! neither.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;
use crate::ports::Random;

/// The format tag of sealed values, so that a later format can coexist.
const SEALED_PREFIX: &str = "v1.";
const NONCE_LEN: usize = 24;

/// Holds the two keys derived from the instance's encryption key.
#[derive(Clone)]
pub struct SecretBox {
    seal_key: [u8; 32],
    digest_key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// Derives the sealing and digest keys from a 32-byte master key.
    pub fn new(master: &[u8; 32]) -> Self {
        Self {
            seal_key: derive(master, b"latch/seal/v1"),
            digest_key: derive(master, b"latch/digest/v1"),
        }
    }

    /// Reads a master key written as base64 (standard or URL-safe, padded or
    /// not) of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(trimmed.replace('+', "-").replace('/', "_"))
            .map_err(|_| "the encryption key is not valid base64".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the encryption key must be 32 bytes (44 base64 characters)".to_owned())?;
        Ok(Self::new(&key))
    }

    /// A fresh master key from `random`, base64 encoded.
    pub fn generate_key(random: &dyn Random) -> String {
        let mut key = [0u8; 32];
        random.fill(&mut key);
        URL_SAFE_NO_PAD.encode(key)
    }

    /// Encrypts `plaintext` for `context` (the owner's id): only the same
    /// context opens it.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &str,
        random: &dyn Random,
    ) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.seal_key).into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing a secret failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts what [`seal`](Self::seal) made for the same context. Fails on
    /// another key, another context or any altered byte.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, Error> {
        let unreadable = || Error::internal("a sealed secret cannot be opened with this key");
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(unreadable)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| unreadable())?;
        if bytes.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        XChaCha20Poly1305::new((&self.seal_key).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| unreadable())
    }

    /// A keyed digest of `value` for `context`, hex encoded.
    pub fn digest(&self, context: &str, value: &str) -> String {
        let mut mac = hmac_sha256(&self.digest_key);
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        crate::service::hex(&mac.finalize().into_bytes())
    }
}

/// HMAC-SHA256 under a 32-byte key (zero-padded to the block, as HMAC does).
fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_sha256(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::FreshRandom;

    fn sbox(byte: u8) -> SecretBox {
        SecretBox::new(&[byte; 32])
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let b = sbox(1);
        let sealed = b.seal(b"JBSWY3DPEHPK3PXP", "user_1", &FreshRandom).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(b.open(&sealed, "user_1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(b.open(&sealed, "user_2").is_err(), "another user's context");
        assert!(sbox(2).open(&sealed, "user_1").is_err(), "another key");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            b.open(std::str::from_utf8(&altered).unwrap(), "user_1")
                .is_err()
        );
        assert!(b.open("v1.", "user_1").is_err());
        assert!(b.open("plain", "user_1").is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let b = sbox(1);
        let one = b.seal(b"same", "u", &FreshRandom).unwrap();
        let two = b.seal(b"same", "u", &FreshRandom).unwrap();
        assert_ne!(one, two);
    }

    #[test]
    fn digests_depend_on_key_context_and_value() {
        let d = sbox(1).digest("user_1", "abcd1234");
        assert_eq!(d.len(), 64);
        assert_eq!(d, sbox(1).digest("user_1", "abcd1234"));
        assert_ne!(d, sbox(2).digest("user_1", "abcd1234"));
        assert_ne!(d, sbox(1).digest("user_2", "abcd1234"));
        assert_ne!(d, sbox(1).digest("user_1", "abcd1235"));
    }

    #[test]
    fn keys_are_read_from_base64_of_32_bytes() {
        let key = SecretBox::generate_key(&FreshRandom);
        assert!(SecretBox::from_base64(&key).is_ok());
        let standard = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(SecretBox::from_base64(&standard).is_ok());
        assert!(SecretBox::from_base64("c2hvcnQ").is_err());
        assert!(SecretBox::from_base64("not base64 at all!").is_err());
    }
}

//! The instance's API keys as Clerk's SDKs read them: the publishable key
//! (`pk_test_`/`pk_live_` + base64 of `host$`) and the Backend API secret key
//! (`sk_test_`/`sk_live_` + random base62).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use latch_core::error::StoreError;
use latch_core::model::{Environment, random_base62};
use latch_core::ports::{InstanceStore, Random};

/// Random base62 characters after a secret key's prefix: about 285 bits.
const SECRET_KEY_RANDOM_CHARS: usize = 48;

/// The publishable key of an instance of `environment` whose Frontend API is
/// reached at `frontend_host`.
pub fn publishable_key(environment: Environment, frontend_host: &str) -> String {
    let encoded = STANDARD.encode(format!("{frontend_host}$"));
    format!("{}{encoded}", publishable_prefix(environment))
}

/// The environment and Frontend API host a publishable key names, as Clerk's
/// SDKs decode it; `None` for anything else.
pub fn decode_publishable_key(key: &str) -> Option<(Environment, String)> {
    let (environment, encoded) = [Environment::Development, Environment::Production]
        .into_iter()
        .find_map(|env| Some((env, key.strip_prefix(publishable_prefix(env))?)))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let host = decoded.strip_suffix('$')?;
    Some((environment, host.to_owned()))
}

fn publishable_prefix(environment: Environment) -> &'static str {
    match environment {
        Environment::Development => "pk_test_",
        Environment::Production => "pk_live_",
    }
}

/// A fresh secret key for `environment`.
pub fn generate_secret_key(environment: Environment, random: &dyn Random) -> String {
    let prefix = match environment {
        Environment::Development => "sk_test_",
        Environment::Production => "sk_live_",
    };
    format!("{prefix}{}", random_base62(SECRET_KEY_RANDOM_CHARS, random))
}

/// The secret key stored for `environment`, or a fresh one stored now. The
/// first writer wins, so replicas starting together agree on one key.
pub async fn load_or_create_secret_key(
    store: &dyn InstanceStore,
    environment: Environment,
    random: &dyn Random,
) -> Result<String, StoreError> {
    let name = match environment {
        Environment::Development => "secret_key_development",
        Environment::Production => "secret_key_production",
    };
    store
        .get_or_insert(name, &generate_secret_key(environment, random))
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU8, Ordering};

    use super::*;

    /// Bytes that differ on every call, enough to tell two keys apart.
    struct Counting(AtomicU8);

    impl Random for Counting {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            buf.iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = n.wrapping_mul(7).wrapping_add(i as u8));
        }
    }

    #[test]
    fn publishable_keys_encode_the_host_with_a_dollar_and_decode_back() {
        let key = publishable_key(Environment::Development, "clerk.example.com");
        assert_eq!(key, "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k");
        let decoded = STANDARD
            .decode(key.strip_prefix("pk_test_").unwrap())
            .unwrap();
        assert_eq!(decoded, b"clerk.example.com$");
        for environment in [Environment::Development, Environment::Production] {
            let key = publishable_key(environment, "auth.latch.example");
            assert_eq!(
                decode_publishable_key(&key),
                Some((environment, "auth.latch.example".to_owned()))
            );
        }
        assert!(publishable_key(Environment::Production, "a.b").starts_with("pk_live_"));
    }

    #[test]
    fn keys_that_are_not_publishable_keys_do_not_decode() {
        for key in [
            "",
            "sk_test_Y2xlcmsuZXhhbXBsZS5jb20k",
            "pk_test_not base64",
            // base64 of "clerk.example.com", without the dollar.
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20=",
        ] {
            assert_eq!(decode_publishable_key(key), None, "{key}");
        }
    }

    #[test]
    fn secret_keys_carry_the_environment_prefix_and_48_random_characters() {
        let random = Counting(AtomicU8::new(0));
        let dev = generate_secret_key(Environment::Development, &random);
        let live = generate_secret_key(Environment::Production, &random);
        for (key, prefix) in [(&dev, "sk_test_"), (&live, "sk_live_")] {
            let rest = key.strip_prefix(prefix).unwrap();
            assert_eq!(rest.len(), 48, "{key}");
            assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        }
        assert_ne!(
            dev.strip_prefix("sk_test_"),
            live.strip_prefix("sk_live_"),
            "each key is fresh"
        );
    }
}

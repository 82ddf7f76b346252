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

/// The fewest random characters after the prefix of a secret key that a
/// production instance accepts.
pub const PRODUCTION_SECRET_KEY_MIN_CHARS: usize = 32;

/// Why a configured secret key must not guard an instance of `environment`,
/// if it must not. Production refuses a development (`sk_test_`) key and a
/// key whose random part is short or plainly not random: fewer than
/// [`PRODUCTION_SECRET_KEY_MIN_CHARS`] characters, fewer than 8 distinct
/// ones, less than 128 bits by its length and alphabet, or one piece
/// repeated. A key `latch keys` generates always passes.
pub fn secret_key_problem(key: &str, environment: Environment) -> Option<String> {
    if environment != Environment::Production {
        return None;
    }
    let Some(random) = key.strip_prefix("sk_live_") else {
        return Some("a production instance needs an sk_live_ key, not a development one".into());
    };
    let chars: Vec<char> = random.chars().collect();
    if chars.len() < PRODUCTION_SECRET_KEY_MIN_CHARS {
        return Some(format!(
            "a production key needs at least {PRODUCTION_SECRET_KEY_MIN_CHARS} random characters after sk_live_"
        ));
    }
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Length x log2(alphabet seen): what the key could hold at best.
    let bits = chars.len() as f64 * (distinct.len() as f64).log2();
    let repeated = (1..=chars.len() / 2).any(|period| {
        chars.len().is_multiple_of(period) && chars.chunks(period).all(|c| c == &chars[..period])
    });
    if distinct.len() < 8 || bits < 128.0 || repeated {
        return Some(
            "the production key's random part is not random enough; `latch keys` makes one".into(),
        );
    }
    None
}

/// Where the secret key of `environment` is stored in the instance store.
pub fn secret_key_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Development => "secret_key_development",
        Environment::Production => "secret_key_production",
    }
}

/// The secret key stored for `environment`, or a fresh one stored now. The
/// first writer wins, so replicas starting together agree on one key.
pub async fn load_or_create_secret_key(
    store: &dyn InstanceStore,
    environment: Environment,
    random: &dyn Random,
) -> Result<String, StoreError> {
    store
        .get_or_insert(
            secret_key_name(environment),
            &generate_secret_key(environment, random),
        )
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
    fn production_refuses_development_short_and_low_entropy_keys() {
        let live = generate_secret_key(Environment::Production, &Counting(AtomicU8::new(0)));
        assert_eq!(secret_key_problem(&live, Environment::Production), None);
        // `openssl rand -hex 32` and -base64 32 (no padding) pass too.
        let hex = format!(
            "sk_live_{}",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(secret_key_problem(&hex, Environment::Production), None);
        let b64 = "sk_live_n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg";
        assert_eq!(secret_key_problem(b64, Environment::Production), None);
        for (label, key) in [
            (
                "a development key",
                "sk_test_n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg".to_owned(),
            ),
            (
                "short",
                format!(
                    "sk_live_{}",
                    &"n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg"[..31]
                ),
            ),
            ("one character", format!("sk_live_{}", "a".repeat(48))),
            (
                "few characters",
                format!("sk_live_{}", "abcabcabcbbbacca".repeat(3)),
            ),
            (
                "a piece repeated",
                format!("sk_live_{}", "0123456789abcdefghij".repeat(2)),
            ),
            (
                "no prefix",
                "n4bQgYhMfWWaLqgxVrQFaOTxsrC4Is0V1sFbDwCgg".to_owned(),
            ),
        ] {
            assert!(
                secret_key_problem(&key, Environment::Production).is_some(),
                "{label}: {key}"
            );
        }
        // Development takes what it is given (its own rules are the settings').
        let dev = format!("sk_test_{}", "a".repeat(24));
        assert_eq!(secret_key_problem(&dev, Environment::Development), None);
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

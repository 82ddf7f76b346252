//! argon2id password hashing on the blocking pool, behind a bound.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::model::Password;
use crate::ports::{PasswordHasher, Random};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// OWASP's first recommended argon2id setting.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// argon2id hasher. At most `workers` hashes run at once, each on tokio's
/// blocking pool, so password checks never stall the runtime's threads and
/// never oversubscribe the CPU.
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    random: Arc<dyn Random>,
    /// Verified against when there is no real digest, so unknown users cost the same.
    dummy_digest: String,
}

impl Argon2Hasher {
    pub fn new(
        settings: Argon2Settings,
        workers: usize,
        random: Arc<dyn Random>,
    ) -> Result<Self, Error> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|_| Error::internal("argon2 parameters"))?;
        let mut hasher = Self {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            random,
            dummy_digest: String::new(),
        };
        let mut pepper = [0u8; 24];
        hasher.random.fill(&mut pepper);
        hasher.dummy_digest =
            hash_blocking(&hasher.params, &hex(&pepper), &salt(&*hasher.random)?)?;
        Ok(hasher)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::internal("hash pool closed"))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|_| Error::internal("hash task"))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn salt(random: &dyn Random) -> Result<SaltString, Error> {
    let mut bytes = [0u8; 16];
    random.fill(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(|_| Error::internal("salt"))
}

fn hash_blocking(params: &Params, password: &str, salt: &SaltString) -> Result<String, Error> {
    argon2(params)
        .hash_password(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::internal("argon2 hash"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, Error> {
        let params = self.params.clone();
        let salt = salt(&*self.random)?;
        let password = password.expose().to_owned();
        self.run(move || hash_blocking(&params, &password, &salt))
            .await?
    }

    async fn verify(&self, password: &str, digest: Option<String>) -> Result<bool, Error> {
        let real = digest.is_some();
        let digest = digest.unwrap_or_else(|| self.dummy_digest.clone());
        let password = password.to_owned();
        let params = self.params.clone();
        let matched = self
            .run(move || {
                let Ok(parsed) = PasswordHash::new(&digest) else {
                    return false;
                };
                // Digests carry their own parameters; the default ones only
                // matter for hashing.
                argon2(&params)
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .await?;
        Ok(real && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::OsRandom;

    fn hasher() -> Argon2Hasher {
        // Small parameters keep the unit test quick; production uses the defaults.
        let settings = Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        Argon2Hasher::new(settings, 2, Arc::new(OsRandom)).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hasher();
        let pw = Password::parse("correct horse battery", 8).unwrap();
        let digest = h.hash(&pw).await.unwrap();
        assert!(digest.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            h.verify("correct horse battery", Some(digest.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("correct horse batterx", Some(digest.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("anything", Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn no_digest_never_verifies() {
        let h = hasher();
        assert!(!h.verify("", None).await.unwrap());
        assert!(!h.verify("whatever", None).await.unwrap());
    }

    #[test]
    fn default_parameters_are_owasp() {
        assert_eq!(
            Argon2Settings::default(),
            Argon2Settings {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }
}

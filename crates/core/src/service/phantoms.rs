//! Enumeration protection. With `enumeration_protection` on, an identifier
//! that names no account is given a stand-in user, derived from the
//! identifier under the instance's key, so that the sign-in looks like a
//! real one (the same factors, the same ids on every request) and fails at
//! its factor as a wrong password or code does: the stand-in's password
//! digest is of a secret nobody knows, and its codes are never sent.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::model::{IdPrefix, Identifier, Password, User, UserId, identifier_only, new_id};
use crate::ports::{PasswordHasher, Random};
use crate::secrets::SecretBox;

/// The stand-ins of enumeration protection.
#[derive(Clone)]
pub(crate) struct Phantoms {
    secrets: Arc<SecretBox>,
    hasher: Arc<dyn PasswordHasher>,
    random: Arc<dyn Random>,
    /// See [`Phantoms::phantom_digest`]: made on first use.
    digest: Arc<tokio::sync::OnceCell<String>>,
}

impl Phantoms {
    pub(crate) fn new(
        secrets: Arc<SecretBox>,
        hasher: Arc<dyn PasswordHasher>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            secrets,
            hasher,
            random,
            digest: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The stand-in for `identifier` (normalised), the same on every call
    /// and every replica sharing the instance's key. It is what a real
    /// account shows before its first factor ([`identifier_only`]), with
    /// ids derived from the identifier and a password nobody knows.
    pub(crate) async fn phantom_user(&self, identifier: &str) -> Result<User, Error> {
        let parsed = Identifier::parse(identifier)?;
        let seed = self.secrets.digest("phantom-user", identifier);
        let ids = SeededRandom::new(&seed);
        let user_id = UserId(new_id(IdPrefix::User, &ids));
        let record_id = match parsed {
            Identifier::Email(_) => Some(new_id(IdPrefix::EmailAddress, &ids)),
            Identifier::Phone(_) => Some(new_id(IdPrefix::PhoneNumber, &ids)),
            Identifier::Username(_) => None,
        };
        Ok(User {
            password_digest: Some(self.phantom_digest().await?),
            ..identifier_only(user_id, &parsed, record_id)
        })
    }

    /// A digest with today's parameters of a password nobody knows, made
    /// once per process: checking a password against it costs what checking
    /// a real one does.
    async fn phantom_digest(&self) -> Result<String, Error> {
        self.digest
            .get_or_try_init(|| async {
                let mut secret = [0u8; 32];
                self.random.fill(&mut secret);
                let password = Password::parse(&super::hex(&secret), 1)?;
                self.hasher.hash(&password).await
            })
            .await
            .cloned()
    }
}

/// A deterministic stream of bytes from a seed (SHA-256 in counter mode),
/// for ids that must come out the same from the same identifier.
struct SeededRandom {
    seed: Vec<u8>,
    counter: Mutex<u64>,
}

impl SeededRandom {
    fn new(seed: &str) -> Self {
        Self {
            seed: seed.as_bytes().to_vec(),
            counter: Mutex::new(0),
        }
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut counter = self
            .counter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for chunk in buf.chunks_mut(32) {
            let block = Sha256::new()
                .chain_update(&self.seed)
                .chain_update(counter.to_be_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
            *counter += 1;
        }
    }
}
